// Tests for the core's codec (protocol.js): the envelope with a small test game's types inside,
// the schema language against the Rust codec's bytes (crates/protocol/tests/twins/codec.json),
// validation and hostile input. The arena's module runs the golden vectors
// (crates/arena/web/wire.test.mjs). Run: node --test assets/web/*.test.mjs
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  LIMITS,
  PROTOCOL_VERSION,
  ProtocolError,
  RESUME_TOKEN_LEN,
  checkLen,
  createCodec,
  decodeValueBytes,
  encodeValueBytes,
  invalid,
  noControl,
  utf8Length,
} from "./protocol.js";

/** The test game of crates/protocol/src/schema.rs (test_game), as a browser schema. */
const TEST_SCHEMA = {
  name: "test",
  version: 7,
  setup: {
    type: ["struct", [["width", "f32"]]],
    validate(setup) {
      if (!(Number.isFinite(setup.width) && setup.width > 0)) throw invalid("width", "not a positive number");
    },
  },
  input: {
    type: ["struct", [["x", "i8"], ["view_age", "u8"]]],
    idle: () => ({ x: 0, view_age: 0 }),
    withViewAge: (cmd, viewAge) => ({ ...cmd, view_age: viewAge }),
  },
  stats: {
    type: ["struct", [["player", "u32"], ["name", "string"], ["points", "u32"]]],
    validate(row) {
      checkLen("name", utf8Length(row.name), LIMITS.NAME_MAX);
      noControl("name", row.name);
    },
  },
  event: {
    type: ["enum", [["Scored", ["struct", [["player", "u32"]]]], ["Said", ["struct", [["text", "string"]]]]]],
  },
  record: null,
};
const codec = createCodec(TEST_SCHEMA);

/** The probe game of crates/protocol/tests/web_twins.rs: one type of every shape. */
const SUIT = ["enum", [
  ["Hearts", "unit"],
  ["Spades", "unit"],
  ["Wild", "u8"],
  ["Pair", ["tuple", ["i32", "u16"]]],
  ["Named", ["struct", [["name", "string"], ["rank", "u8"]]]],
]];
const PROBE_SCHEMA = {
  name: "probe",
  version: 1,
  setup: {
    type: ["struct", [
      ["small", "i16"],
      ["signed", "i32"],
      ["wide", "i64"],
      ["big", "u64"],
      ["ratio", "f64"],
      ["pair", ["tuple", ["u8", "string"]]],
      ["trump", SUIT],
      ["maybe", ["option", "i32"]],
      ["hand", ["vec", SUIT]],
      ["corners", ["array", 2, "i16"]],
      ["flag", "bool"],
    ]],
  },
  input: { type: ["struct", [["card", ["option", "u16"]], ["delta", "i8"]]], idle: () => ({ card: null, delta: 0 }) },
  stats: { type: ["struct", [["player", "u32"], ["points", "i32"]]] },
  event: { type: SUIT },
  record: null,
};
const probe = JSON.parse(
  readFileSync(new URL("../../crates/protocol/tests/twins/codec.json", import.meta.url), "utf8"),
);

function unhex(text) {
  return Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

function hex(bytes) {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** A decoded message as serde_json would print it: byte buffers as arrays of numbers. */
function plain(value) {
  if (value instanceof Uint8Array) return Array.from(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, plain(item)]));
  }
  return value;
}

/** A small deterministic PRNG (mulberry32), so failures reproduce. */
function prng(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function assertProtocolError(fn, pattern) {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof ProtocolError, `expected a ProtocolError, got ${error?.stack ?? error}`);
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

test("the schema language matches the Rust codec byte for byte (probe game)", () => {
  const probeCodec = createCodec(PROBE_SCHEMA);
  assert.equal(probe.game, PROBE_SCHEMA.name);
  assert.equal(probe.schema, PROBE_SCHEMA.version);
  assert.ok(probe.vectors.length >= 5);
  for (const vector of probe.vectors) {
    const [decode, encode] =
      vector.direction === "client"
        ? [probeCodec.decodeClient, probeCodec.encodeClient]
        : [probeCodec.decodeServer, probeCodec.encodeServer];
    assert.deepEqual(plain(decode(unhex(vector.hex))), vector.message, `${vector.name}: decode`);
    assert.equal(hex(encode(vector.message)), vector.hex, `${vector.name}: encode`);
  }
});

test("the probe's Hello names its game and schema", () => {
  const hello = probe.vectors.find((vector) => vector.name === "hello").message.Hello;
  const mine = createCodec(PROBE_SCHEMA).hello("probe", { spectate: true }).Hello;
  assert.deepEqual(mine, hello);
  assert.equal(mine.version, PROTOCOL_VERSION);
});

test("the Hello and Input layouts: game and schema after the version, view age after the command", () => {
  const token = new Uint8Array(RESUME_TOKEN_LEN).map((_, index) => index * 17);
  const bytes = codec.encodeClient(codec.hello("a", { resume: token, token: "t" }));
  // variant 0, version 4, "test", schema 7, "a", no room, not spectating, the token, "t", no seat.
  assert.equal(hex(bytes), "0004" + "0474657374" + "07" + "0161" + "00" + "00" + `01${hex(token)}` + "010174" + "00");
  const seated = codec.encodeClient(codec.hello("a", { seat: "s" }));
  assert.equal(hex(seated).slice(-6), "010173", "the seat comes last");
  // A Uint8Array token decodes back as a plain array (serde_json's shape).
  assert.deepEqual(codec.decodeClient(bytes).Hello.resume, Array.from(token));
  const input = { Input: { ack_tick: 1, first_seq: 1, cmds: [{ x: -1, view_age: 200 }] } };
  assert.equal(hex(codec.encodeClient(input)), "01010101" + "ffc8");
  // Events carry their tick before the list; Pong and Error follow.
  assert.equal(hex(codec.encodeServer({ Events: { tick: 300, events: [{ Scored: { player: 2 } }] } })), "03fb2c01010002");
  assert.equal(hex(codec.encodeServer({ Pong: { nonce: 0, tick: 0 } })), "040000");
  assert.equal(hex(codec.encodeServer({ Error: { code: 4011, reason: "" } })), "05fbab0f00");
  // Redirect is the last variant: url, room, seat.
  assert.equal(hex(codec.encodeServer({ Redirect: { url: "u", room: "r", seat: "s" } })), "06017501720173");
});

test("validation errors match the Rust messages", () => {
  const hello = (name, extra = {}) => codec.hello(name, extra);
  assertProtocolError(() => codec.encodeClient(hello("x".repeat(25))), /^name is 25 long, the limit is 24$/);
  assertProtocolError(() => codec.encodeClient(hello(" \t")), /^name is invalid: empty$/);
  assertProtocolError(() => codec.encodeClient(hello("a\u0007b")), /^name is invalid: control characters$/);
  assertProtocolError(() => codec.encodeClient(hello("ann", { room: "no spaces" })), /^room is invalid/);
  assertProtocolError(() => codec.encodeClient(hello("ann", { room: "" })), /^room is invalid/);
  assertProtocolError(() => codec.encodeClient(hello("ann", { room: "r".repeat(33) })), /^room is 33 long/);
  assertProtocolError(() => codec.encodeClient(hello("ann", { game: "Arena" })), /^game is invalid: must be 1-32 of a-z 0-9 - _$/);
  assertProtocolError(() => codec.encodeClient(hello("ann", { game: "" })), /^game is invalid/);
  assertProtocolError(() => codec.encodeClient(hello("ann", { game: "g".repeat(33) })), /^game is 33 long/);
  assertProtocolError(() => codec.encodeClient(hello("ann", { token: "x".repeat(257) })), /^token is 257 long, the limit is 256$/);
  codec.encodeClient(hello("ann", { token: "x".repeat(256) }));
  assertProtocolError(() => codec.encodeClient(hello("ann", { resume: [1, 2, 3] })), /exactly 16/);
  assertProtocolError(() => codec.encodeClient(hello("ann", { resume: new Array(16).fill(256) })), /u8/);
  // A name of 8 four-byte characters is 32 bytes: too long even though it is 8 characters.
  assertProtocolError(() => codec.encodeClient(hello("🚀".repeat(8))), /^name is 32 long/);
  const input = (first_seq, count) => ({ Input: { ack_tick: 0, first_seq, cmds: Array(count).fill({ x: 0, view_age: 0 }) } });
  assertProtocolError(() => codec.encodeClient(input(1, 9)), /^cmds is 9 long, the limit is 8$/);
  assertProtocolError(() => codec.encodeClient(input(0, 1)), /start at 1/);
  assertProtocolError(() => codec.encodeClient(input(0xffffffff, 1)), /overflows/);
  assertProtocolError(() => codec.encodeClient({ Input: { ack_tick: 0, first_seq: 1, cmds: [{ x: 0 }] } }), /view_age: missing/);
  assertProtocolError(() => codec.encodeClient({ Chat: { text: "a\nb" } }), /^text is invalid: control characters$/);
  assertProtocolError(() => codec.encodeClient({ Chat: { text: "x".repeat(201) } }), /^text is 201 long/);
  assertProtocolError(() => codec.encodeClient({ Ping: { nonce: -1 } }), /u32/);
  assertProtocolError(() => codec.encodeClient({ Ping: { nonce: 1 }, Chat: { text: "" } }), /one key/);
  // The same rules apply when decoding what a peer sent.
  const tooLong = codec.encodeClient(hello("x".repeat(25)), { validate: false });
  assertProtocolError(() => codec.decodeClient(tooLong), /^name is 25 long/);
});

test("server messages are validated like ServerMsg::validate, the game's parts by its hooks", () => {
  const welcome = (extra) => ({
    Welcome: {
      version: PROTOCOL_VERSION,
      player: 1,
      entity: 0,
      room: "main",
      tick_rate: 30,
      snapshot_interval: 2,
      tick: 0,
      setup: { width: 10 },
      resume_token: new Array(16).fill(0),
      resumed: false,
      ...extra,
    },
  });
  codec.encodeServer(welcome({}));
  assertProtocolError(() => codec.encodeServer(welcome({ tick_rate: 0 })), /^tick_rate is invalid: zero$/);
  assertProtocolError(() => codec.encodeServer(welcome({ snapshot_interval: 0 })), /^snapshot_interval is invalid: zero$/);
  assertProtocolError(() => codec.encodeServer(welcome({ room: "a b" })), /^room is invalid/);
  assertProtocolError(() => codec.encodeServer(welcome({ setup: { width: -1 } })), /^width is invalid: not a positive number$/);
  const snapshot = (scores) => ({
    Snapshot: { tick: 1, baseline_age: 0, last_input: 0, checksum: 0, scores, scores_removed: [], body: [0] },
  });
  assertProtocolError(() => codec.encodeServer(snapshot([{ player: 1, name: "a\tb", points: 0 }])), /^name is invalid: control/);
  assertProtocolError(
    () => codec.encodeServer(snapshot(new Array(1025).fill({ player: 1, name: "a", points: 0 }))),
    /^scores is 1025 long, the limit is 1024$/,
  );
  const said = { Said: { text: "" } };
  assertProtocolError(() => codec.encodeServer({ Events: { tick: 1, events: new Array(257).fill(said) } }), /^events is 257 long, the limit is 256$/);
  assertProtocolError(() => codec.encodeServer({ Events: { tick: 1, events: [{ Exploded: {} }] } }), /unknown variant Exploded/);
  assertProtocolError(() => codec.encodeServer({ Events: [said] }), /tick: missing/);
  assertProtocolError(() => codec.encodeServer({ Chat: { from: 0, name: "a\u0000", text: "" } }), /^name is invalid: control/);
  assertProtocolError(() => codec.encodeServer({ Error: { code: 1000, reason: "r".repeat(121) } }), /^reason is 121 long/);
});

test("decoders reject frames that are too large, truncated, trailing or malformed", () => {
  assertProtocolError(() => codec.decodeClient(new Uint8Array(LIMITS.CLIENT_MSG_MAX + 1)), /1025 bytes, the limit is 1024/);
  assertProtocolError(() => codec.decodeServer(new Uint8Array(LIMITS.SERVER_MSG_MAX + 1)), /the limit is 262144/);
  assertProtocolError(() => codec.decodeClient(new Uint8Array(0)), /truncated/);
  assertProtocolError(() => codec.decodeClient(Uint8Array.from([3, 1, 0])), /1 trailing bytes/);
  assertProtocolError(() => codec.decodeClient(Uint8Array.from([9])), /variant/);
  // Hello with spectate = 2, and with an Option tag of 2.
  const head = [0, 3, 4, ...new TextEncoder().encode("test"), 7, 1, 97];
  assertProtocolError(() => codec.decodeClient(Uint8Array.from([...head, 0, 2])), /boolean/);
  assertProtocolError(() => codec.decodeClient(Uint8Array.from([...head, 2])), /Option/);
  // Chat with invalid UTF-8, and a length prefix that claims 2^32 - 1 bytes.
  assertProtocolError(() => codec.decodeClient(Uint8Array.from([2, 2, 0xc3, 0x28])), /UTF-8/);
  assertProtocolError(() => codec.decodeClient(Uint8Array.from([2, 252, 255, 255, 255, 255, 97])), /truncated/);
  // A u16 (Hello.version) with a u32 varint tag.
  assertProtocolError(() => codec.decodeClient(Uint8Array.from([0, 252, 1, 0, 0, 0])), /varint tag 252/);
  // An event variant index past the last one.
  assertProtocolError(() => codec.decodeServer(Uint8Array.from([3, 1, 1, 2, 0])), /enum variant index 2/);
  // Non-canonical varints decode, as in bincode: Ping nonce 5 written as 251 + u16.
  assert.deepEqual(codec.decodeClient(Uint8Array.from([3, 251, 5, 0])), { Ping: { nonce: 5 } });
  // An ArrayBuffer (a WebSocket's binaryType "arraybuffer") decodes the same as a Uint8Array.
  assert.deepEqual(codec.decodeClient(Uint8Array.from([3, 5]).buffer), { Ping: { nonce: 5 } });
});

test("the schema language checks ranges and shapes when encoding", () => {
  assertProtocolError(() => encodeValueBytes("i16", 40000), /i16 must be an integer/);
  assertProtocolError(() => encodeValueBytes("u64", 2 ** 53), /u64 must be an integer/);
  assertProtocolError(() => encodeValueBytes(["tuple", ["u8", "u8"]], [1]), /exactly 2/);
  assertProtocolError(() => encodeValueBytes(SUIT, "Wild"), /carries a value/);
  assertProtocolError(() => encodeValueBytes(SUIT, "Clubs"), /unknown variant Clubs/);
  assert.equal(hex(encodeValueBytes(SUIT, "Spades")), "01");
  assert.equal(decodeValueBytes(SUIT, [1]), "Spades");
  for (const [type, value] of [["i32", -2147483648], ["i64", -(2 ** 53) + 1], ["u64", 2 ** 53 - 1], ["f64", -0.1]]) {
    assert.equal(decodeValueBytes(type, encodeValueBytes(type, value)), value, type);
  }
  // A u64 past 2^53 cannot be a JavaScript number: refused, not rounded.
  assertProtocolError(() => decodeValueBytes("u64", [253, 0, 0, 0, 0, 0, 0, 0x20, 0]), /2\^53/);
});

test("random bytes never crash or hang a decoder: only ProtocolErrors", () => {
  const random = prng(0x7ec3);
  const probeCodec = createCodec(PROBE_SCHEMA);
  let accepted = 0;
  for (let round = 0; round < 5000; round++) {
    const bytes = Uint8Array.from({ length: Math.floor(random() * 96) }, () => Math.floor(random() * 256));
    // Bias half the inputs towards valid variant tags so decoding gets past the first byte.
    if (bytes.length > 0 && round % 2 === 0) bytes[0] = round % 6;
    for (const decode of [codec.decodeClient, codec.decodeServer, probeCodec.decodeClient, probeCodec.decodeServer]) {
      try {
        decode(bytes);
        accepted += 1;
      } catch (error) {
        assert.ok(error instanceof ProtocolError, `not a ProtocolError: ${error?.stack ?? error}`);
      }
    }
  }
  assert.ok(accepted < 20000);
});

test("corrupted probe frames fail cleanly", () => {
  const random = prng(42);
  const probeCodec = createCodec(PROBE_SCHEMA);
  for (const vector of probe.vectors) {
    const bytes = unhex(vector.hex);
    const decode = vector.direction === "client" ? probeCodec.decodeClient : probeCodec.decodeServer;
    for (let round = 0; round < 200; round++) {
      const copy = bytes.slice(0, Math.max(1, Math.floor(random() * (bytes.length + 1))));
      copy[Math.floor(random() * copy.length)] ^= 1 << Math.floor(random() * 8);
      try {
        decode(copy);
      } catch (error) {
        assert.ok(error instanceof ProtocolError, `${vector.name}: ${error?.stack ?? error}`);
      }
    }
  }
});
