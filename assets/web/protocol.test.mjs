// Tests for protocol.js against the Rust codec's golden vectors. Run: node --test assets/web/
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  BUTTONS,
  BitReader,
  BitWriter,
  CLOSE,
  CLOSE_CODES,
  LIMITS,
  PROTOCOL_VERSION,
  ProtocolError,
  RESUME_TOKEN_LEN,
  Replica,
  aimToWire,
  axisFromWire,
  axisToWire,
  checksum,
  closeMessage,
  closeName,
  decodeClient,
  decodeDelta,
  decodeServer,
  encodeClient,
  encodeDelta,
  encodeServer,
  inputAimToWire,
  posFromWire,
  posToWire,
  velToWire,
  zigzag,
  unzigzag,
} from "./protocol.js";

const vectors = JSON.parse(
  readFileSync(new URL("../../crates/protocol/tests/golden/vectors.json", import.meta.url), "utf8"),
);
const clientVectors = vectors.filter((vector) => vector.direction === "client");
const serverVectors = vectors.filter((vector) => vector.direction === "server");
const snapshotVectors = serverVectors.filter((vector) => "Snapshot" in vector.message);

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

/** The JSON message with its f32 fields rounded to f32, as the decoder returns them. */
function expectedMessage(vector) {
  const message = structuredClone(vector.message);
  if (message.Welcome) {
    const map = message.Welcome.map;
    map.width = Math.fround(map.width);
    map.height = Math.fround(map.height);
    map.walls = map.walls.map((wall) => wall.map(Math.fround));
    const rules = message.Welcome.rules;
    for (const key of Object.keys(rules)) rules[key] = Math.fround(rules[key]);
  }
  return message;
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

function randomBytes(random, length) {
  return Uint8Array.from({ length }, () => Math.floor(random() * 256));
}

function assertProtocolError(fn, pattern) {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof ProtocolError, `expected a ProtocolError, got ${error?.stack ?? error}`);
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

test("the golden vectors cover every message variant", () => {
  const variants = new Set(vectors.map((vector) => `${vector.direction}:${Object.keys(vector.message)[0]}`));
  for (const name of ["Hello", "Input", "Chat", "Ping"]) assert.ok(variants.has(`client:${name}`), name);
  for (const name of ["Welcome", "Snapshot", "Chat", "Events", "Pong", "Error"]) {
    assert.ok(variants.has(`server:${name}`), name);
  }
});

test("the golden vectors cover every new field and event variant", () => {
  const byName = (name) => vectors.find((vector) => vector.name === name)?.message;
  const hello = byName("hello_resume_token").Hello;
  assert.equal(hello.resume.length, RESUME_TOKEN_LEN);
  assert.match(hello.token, /^v1\./);
  const cmds = byName("input_view_age").Input.cmds;
  assert.ok(cmds.some((cmd) => cmd.view_age !== 0));
  assert.ok(cmds.some((cmd) => cmd.buttons & BUTTONS.HITSCAN));
  const events = byName("events").Events;
  assert.ok(events.some((event) => "Killed" in event));
  assert.ok(events.some((event) => "Shot" in event));
  assert.equal(byName("welcome_resumed").Welcome.resumed, true);
  assert.equal(byName("welcome").Welcome.resume_token.length, RESUME_TOKEN_LEN);
});

test("client vectors: JS encodes the same bytes and decodes the same message", () => {
  for (const vector of clientVectors) {
    assert.equal(hex(encodeClient(vector.message)), vector.hex, `${vector.name}: encode`);
    assert.deepEqual(plain(decodeClient(unhex(vector.hex))), vector.message, `${vector.name}: decode`);
  }
});

test("server vectors: JS decodes the same message and encodes the same bytes", () => {
  for (const vector of serverVectors) {
    const message = expectedMessage(vector);
    const decoded = decodeServer(unhex(vector.hex));
    assert.deepEqual(plain(decoded), message, `${vector.name}: decode`);
    assert.equal(hex(encodeServer(message)), vector.hex, `${vector.name}: encode`);
    // An ArrayBuffer (a WebSocket's binaryType "arraybuffer") decodes the same.
    assert.deepEqual(plain(decodeServer(unhex(vector.hex).buffer)), message, `${vector.name}: ArrayBuffer`);
  }
});

test("snapshot vectors: bodies turn their baseline into their view, checksums match", () => {
  assert.ok(snapshotVectors.length >= 2);
  for (const vector of snapshotVectors) {
    const snapshot = decodeServer(unhex(vector.hex)).Snapshot;
    const view = decodeDelta(vector.baseline, snapshot.baseline_age, snapshot.body);
    assert.deepEqual(view, vector.view, `${vector.name}: view`);
    assert.equal(checksum(view), snapshot.checksum, `${vector.name}: checksum`);
    assert.equal(
      hex(encodeDelta(vector.baseline, vector.view, snapshot.baseline_age)),
      hex(snapshot.body),
      `${vector.name}: JS delta encoder`,
    );
  }
});

test("decodeDelta does not modify its baseline", () => {
  const vector = snapshotVectors.find((candidate) => candidate.baseline.length > 0);
  const baseline = structuredClone(vector.baseline);
  const snapshot = decodeServer(unhex(vector.hex)).Snapshot;
  decodeDelta(baseline, snapshot.baseline_age, snapshot.body);
  assert.deepEqual(baseline, vector.baseline);
});

test("the replica follows the golden snapshots", () => {
  const full = decodeServer(unhex(vectors.find((vector) => vector.name === "snapshot_full").hex));
  const deltaVector = vectors.find((vector) => vector.name === "snapshot_delta");
  const delta = decodeServer(unhex(deltaVector.hex));
  const replica = new Replica();
  assert.equal(replica.ackTick(), 0);
  // A delta before its baseline is refused and changes nothing.
  assertProtocolError(() => replica.handleSnapshot(delta), /does not hold/);
  replica.handleSnapshot(full);
  assert.equal(replica.ackTick(), full.Snapshot.tick);
  replica.handleSnapshot(delta.Snapshot);
  assert.deepEqual(replica.view(), deltaVector.view);
  assert.equal(replica.ackTick(), delta.Snapshot.tick);
  // The delta carries only the changed row and the removed player's id.
  const [ann] = full.Snapshot.scores;
  assert.deepEqual(replica.scores(), [{ ...ann, kills: ann.kills + 1 }]);
  assert.equal(replica.entity(300).x, 39940);
  assert.equal(replica.entity(7), undefined);
  assert.equal(replica.decoded, 2);
  // Stale and corrupt snapshots are refused and leave the replica as it was.
  assertProtocolError(() => replica.handleSnapshot(delta), /not newer/);
  const corrupt = { ...delta.Snapshot, tick: delta.Snapshot.tick + 1, baseline_age: 4 };
  assertProtocolError(() => replica.handleSnapshot(corrupt), /checksum mismatch|out-of-range|trailing|does not fit/);
  assert.deepEqual(replica.view(), deltaVector.view);
  replica.reset();
  assert.equal(replica.ackTick(), 0);
});

test("the replica prunes baselines older than the one in use", () => {
  const npc = (id, x) => ({ id, kind: 2, x, y: 100, vx: 1, vy: 0, aim: 0, health: 100, flags: 1 });
  const snapshot = (tick, base, view) => ({
    tick,
    baseline_age: base ? tick - base[0] : 0,
    last_input: 0,
    checksum: checksum(view),
    scores: [],
    scores_removed: [],
    body: encodeDelta(base ? base[1] : [], view, base ? tick - base[0] : 0),
  });
  const v1 = [npc(1, 10), npc(2, 20)];
  const v2 = [npc(1, 11), npc(3, 5)];
  const v3 = [npc(1, 12), npc(3, 6)];
  const replica = new Replica();
  replica.handleSnapshot(snapshot(1, null, v1));
  replica.handleSnapshot(snapshot(2, [1, v1], v2));
  replica.handleSnapshot(snapshot(3, [2, v2], v3));
  assert.deepEqual(replica.view(), v3);
  assert.equal(replica.held(), 2);
  assertProtocolError(() => replica.handleSnapshot(snapshot(4, [1, v1], v3)), /relative to tick 1/);
});

test("new fields encode where the Rust layout puts them", () => {
  // Hello: resume and token come after spectate, as Options.
  const token = new Uint8Array(RESUME_TOKEN_LEN).map((_, index) => index * 17);
  const hello = { Hello: { version: PROTOCOL_VERSION, name: "a", room: null, spectate: false, resume: token, token: "t" } };
  const bytes = encodeClient(hello);
  assert.equal(hex(bytes), `00${"02"}01610000` + `01${hex(token)}` + `010174`);
  // A Uint8Array token decodes back as a plain array (serde_json's shape).
  assert.deepEqual(decodeClient(bytes).Hello.resume, Array.from(token));
  // InputCmd.view_age is one raw byte after buttons.
  const input = { Input: { ack_tick: 1, first_seq: 1, cmds: [{ move_x: 0, move_y: 0, aim: 0, buttons: 2, view_age: 200 }] } };
  assert.equal(hex(encodeClient(input)), "01010101000000" + "02c8");
  // Events is variant 3; Pong and Error moved to 4 and 5.
  assert.equal(hex(encodeServer({ Events: [{ Killed: { killer: 1, victim: 2 } }] })), "0301000102");
  assert.equal(hex(encodeServer({ Pong: { nonce: 0, tick: 0 } })), "040000");
  assert.equal(hex(encodeServer({ Error: { code: 4005, reason: "" } })), "05fba50f00");
});

test("new fields are checked like the Rust side", () => {
  const hello = (extra) => ({ Hello: { version: 1, name: "ann", room: null, spectate: false, resume: null, token: null, ...extra } });
  assertProtocolError(() => encodeClient(hello({ token: "x".repeat(257) })), /^token is 257 long, the limit is 256$/);
  encodeClient(hello({ token: "x".repeat(256) }));
  assertProtocolError(() => encodeClient(hello({ resume: [1, 2, 3] })), /exactly 16/);
  assertProtocolError(() => encodeClient(hello({ resume: new Array(16).fill(256) })), /u8/);
  assertProtocolError(() => encodeClient({ Hello: { version: 1, name: "ann", room: null, spectate: false } }), /resume: missing/);
  const cmd = { move_x: 0, move_y: 0, aim: 0, buttons: 0 };
  assertProtocolError(() => encodeClient({ Input: { ack_tick: 0, first_seq: 1, cmds: [cmd] } }), /view_age: missing/);
  const killed = { Killed: { killer: 0, victim: 1 } };
  assertProtocolError(() => encodeServer({ Events: new Array(257).fill(killed) }), /^events is 257 long, the limit is 256$/);
  assertProtocolError(() => encodeServer({ Events: [{ Exploded: {} }] }), /unknown variant Exploded/);
  assertProtocolError(() => encodeServer({ Events: [{ Killed: { killer: 0, victim: 1 }, Shot: {} }] }), /one key/);
  // Decoding: an event variant index past Shot, a truncated event, a resume tag of 2.
  assertProtocolError(() => decodeServer(Uint8Array.from([3, 1, 2, 0, 0])), /enum variant index 2/);
  assertProtocolError(() => decodeServer(Uint8Array.from([3, 1, 1, 0, 0])), /truncated/);
  assertProtocolError(() => decodeClient(Uint8Array.from([0, 1, 1, 97, 0, 0, 2])), /Option/);
  // Welcome.resumed must be a proper boolean.
  const welcome = unhex(vectors.find((vector) => vector.name === "welcome").hex);
  welcome[welcome.length - 1] = 2;
  assertProtocolError(() => decodeServer(welcome), /boolean/);
});

test("validation errors match the Rust messages", () => {
  const hello = (name, room = null) => ({ Hello: { version: 1, name, room, spectate: false, resume: null, token: null } });
  assertProtocolError(() => encodeClient(hello("x".repeat(25))), /^name is 25 long, the limit is 24$/);
  assertProtocolError(() => encodeClient(hello(" \t")), /^name is invalid: empty$/);
  assertProtocolError(() => encodeClient(hello("a\u0007b")), /^name is invalid: control characters$/);
  assertProtocolError(() => encodeClient(hello("ann", "no spaces")), /^room is invalid/);
  assertProtocolError(() => encodeClient(hello("ann", "")), /^room is invalid/);
  assertProtocolError(() => encodeClient(hello("ann", "r".repeat(33))), /^room is 33 long/);
  // A name of 8 four-byte characters is 32 bytes: too long even though it is 8 characters.
  assertProtocolError(() => encodeClient(hello("🚀".repeat(8))), /^name is 32 long/);
  const cmd = { move_x: 0, move_y: 0, aim: 0, buttons: 0, view_age: 0 };
  const input = (first_seq, count) => ({ Input: { ack_tick: 0, first_seq, cmds: Array(count).fill(cmd) } });
  assertProtocolError(() => encodeClient(input(1, 9)), /^cmds is 9 long, the limit is 8$/);
  assertProtocolError(() => encodeClient(input(0, 1)), /start at 1/);
  assertProtocolError(() => encodeClient(input(0xffffffff, 1)), /overflows/);
  assertProtocolError(() => encodeClient({ Chat: { text: "a\nb" } }), /^text is invalid: control characters$/);
  assertProtocolError(() => encodeClient({ Chat: { text: "x".repeat(201) } }), /^text is 201 long/);
  assertProtocolError(() => encodeClient({ Ping: { nonce: -1 } }), /u32/);
  assertProtocolError(() => encodeClient({ Ping: { nonce: 1 }, Chat: { text: "" } }), /one key/);
  // The same rules apply when decoding what a peer sent.
  const tooLong = encodeClient(hello("x".repeat(25)), { validate: false });
  assertProtocolError(() => decodeClient(tooLong), /^name is 25 long/);
});

test("decoders reject frames that are too large, truncated, trailing or malformed", () => {
  assertProtocolError(() => decodeClient(new Uint8Array(LIMITS.CLIENT_MSG_MAX + 1)), /1025 bytes, the limit is 1024/);
  assertProtocolError(() => decodeClient(new Uint8Array(0)), /truncated/);
  const ping = unhex(vectors.find((vector) => vector.name === "ping").hex);
  assertProtocolError(() => decodeClient(Uint8Array.from([...ping, 0])), /1 trailing bytes/);
  assertProtocolError(() => decodeClient(Uint8Array.from([9])), /variant/);
  // Hello with spectate = 2.
  assertProtocolError(() => decodeClient(Uint8Array.from([0, 1, 1, 97, 0, 2])), /boolean/);
  // Hello with an Option tag of 2.
  assertProtocolError(() => decodeClient(Uint8Array.from([0, 1, 1, 97, 2])), /Option/);
  // Chat with invalid UTF-8.
  assertProtocolError(() => decodeClient(Uint8Array.from([2, 2, 0xc3, 0x28])), /UTF-8/);
  // Chat whose length prefix claims 2^32 - 1 bytes.
  assertProtocolError(() => decodeClient(Uint8Array.from([2, 252, 255, 255, 255, 255, 97])), /truncated/);
  // A u16 (Hello.version) with a u32 varint tag.
  assertProtocolError(() => decodeClient(Uint8Array.from([0, 252, 1, 0, 0, 0])), /varint tag 252/);
  // Non-canonical varints decode, as in bincode: Ping nonce 5 written as 251 + u16.
  assert.deepEqual(decodeClient(Uint8Array.from([3, 251, 5, 0])), { Ping: { nonce: 5 } });
});

test("random bytes never crash or hang a decoder: only ProtocolErrors", () => {
  const random = prng(0x7ec3);
  const baseline = vectors.find((vector) => vector.name === "snapshot_delta").baseline;
  let accepted = 0;
  for (let round = 0; round < 5000; round++) {
    const bytes = randomBytes(random, Math.floor(random() * 96));
    // Bias half the inputs towards valid variant tags so decoding gets past the first byte.
    if (bytes.length > 0 && round % 2 === 0) bytes[0] = round % 6;
    for (const decode of [
      () => decodeClient(bytes),
      () => decodeServer(bytes),
      () => decodeDelta([], 0, bytes),
      () => decodeDelta(baseline, round % 256, bytes),
    ]) {
      try {
        decode();
        accepted += 1;
      } catch (error) {
        assert.ok(error instanceof ProtocolError, `not a ProtocolError: ${error?.stack ?? error}`);
      }
    }
  }
  assert.ok(accepted < 20000);
});

test("corrupted golden frames fail cleanly", () => {
  const random = prng(42);
  for (const vector of vectors) {
    const bytes = unhex(vector.hex);
    const decode = vector.direction === "client" ? decodeClient : decodeServer;
    for (let round = 0; round < 200; round++) {
      const copy = bytes.slice(0, Math.max(1, Math.floor(random() * (bytes.length + 1))));
      copy[Math.floor(random() * copy.length)] ^= 1 << Math.floor(random() * 8);
      try {
        const message = decode(copy);
        if (message.Snapshot) {
          try {
            decodeDelta(vector.baseline ?? [], message.Snapshot.baseline_age, message.Snapshot.body);
          } catch (error) {
            assert.ok(error instanceof ProtocolError, String(error));
          }
        }
      } catch (error) {
        assert.ok(error instanceof ProtocolError, `${vector.name}: ${error?.stack ?? error}`);
      }
    }
  }
});

test("bits: exp-Golomb sizes, zigzag and roundtrips", () => {
  const sizes = [
    [0, 0, 1],
    [1, 0, 3],
    [0xffffffff, 0, 65],
    [0, 2, 3],
    [0xffffffff, 4, 61],
  ];
  for (const [value, k, bits] of sizes) {
    const writer = new BitWriter();
    writer.writeGolomb(value, k);
    assert.equal(writer.bitLength(), bits, `golomb(${value}, k=${k})`);
    assert.equal(new BitReader(writer.toBytes()).readGolomb(k), value);
  }
  assert.deepEqual([0, -1, 1, -2, 2147483647, -2147483648].map(zigzag), [0, 1, 2, 3, 4294967294, 4294967295]);
  assert.deepEqual([0, 1, 2, 3, 4294967294, 4294967295].map(unzigzag), [0, -1, 1, -2, 2147483647, -2147483648]);

  const random = prng(7);
  const fields = Array.from({ length: 500 }, () => {
    const count = Math.floor(random() * 33);
    return {
      value: Math.floor(random() * 4294967296),
      count,
      signed: Math.floor(random() * 4294967296) - 2147483648,
      k: Math.floor(random() * 8),
    };
  });
  const writer = new BitWriter();
  for (const { value, count, signed, k } of fields) {
    writer.write(value, count);
    writer.writeGolomb(value, k);
    writer.writeSignedGolomb(signed, k);
  }
  const reader = new BitReader(writer.toBytes());
  for (const { value, count, signed, k } of fields) {
    assert.equal(reader.read(count), value % 2 ** count);
    assert.equal(reader.readGolomb(k), value);
    assert.equal(reader.readSignedGolomb(k), signed);
  }
  assert.ok(reader.remaining() < 8);
});

test("delta: random views roundtrip through the JS encoder and decoder", () => {
  const random = prng(99);
  const int = (min, max) => min + Math.floor(random() * (max - min + 1));
  const randomView = () => {
    const ids = [...new Set(Array.from({ length: int(0, 40) }, () => int(1, 300)))].sort((a, b) => a - b);
    return ids.map((id) => ({
      id,
      kind: int(0, 2),
      x: int(0, 1048575),
      y: int(0, 1048575),
      vx: int(-65536, 65536),
      vy: int(-65536, 65536),
      aim: int(0, 1023),
      health: int(0, 255),
      flags: int(0, 1),
    }));
  };
  for (let round = 0; round < 200; round++) {
    const baseline = randomView();
    const elapsed = int(1, 255);
    // Keep some baseline entities, moved exactly as predicted or nudged, and add new ones.
    const current = new Map();
    for (const state of baseline) {
      const choice = int(0, 3);
      if (choice === 0) continue;
      const next = { ...state };
      if (choice === 2) {
        const x = state.x + state.vx * elapsed;
        const y = state.y + state.vy * elapsed;
        if (x >= 0 && x <= 1048575 && y >= 0 && y <= 1048575) Object.assign(next, { x, y });
      } else if (choice === 3) {
        next.x = Math.min(next.x + 3, 1048575);
        next.aim = (next.aim + 1000) % 1024;
        next.health = (next.health + 231) % 256;
      }
      current.set(state.id, next);
    }
    for (const state of randomView()) if (!current.has(state.id)) current.set(state.id, state);
    const view = [...current.values()].sort((a, b) => a.id - b.id);
    const body = encodeDelta(baseline, view, elapsed);
    assert.deepEqual(decodeDelta(baseline, elapsed, body), view);
  }
});

test("quantization matches quant.rs", () => {
  for (const units of [0, 1, 255, 256, 12345, 1048575]) assert.equal(posToWire(posFromWire(units)), units);
  assert.equal(posToWire(NaN), 0);
  assert.equal(posToWire(-5), 0);
  assert.equal(posToWire(1e9), 1048575);
  assert.equal(aimToWire(0), 0);
  assert.equal(aimToWire(2 * Math.PI), 0);
  assert.equal(aimToWire(-Math.PI / 2), 768);
  assert.equal(inputAimToWire(Math.PI), 32768);
  assert.equal(aimToWire(Infinity), 0);
  assert.equal(axisToWire(2), 127);
  assert.equal(axisToWire(-2), -127);
  assert.equal(axisFromWire(-128), -1);
  // f32::round rounds halves away from zero: -0.5 units per tick is -1.
  assert.equal(velToWire(-0.5 / 256 / (1 / 32), 1 / 32), -1);
  assert.equal(velToWire(0.5 / 256 / (1 / 32), 1 / 32), 1);
});

test("close codes have names and messages", () => {
  assert.equal(closeName(CLOSE.VERSION_MISMATCH), "version_mismatch");
  assert.equal(closeName(CLOSE.TOO_SLOW), "too_slow");
  assert.equal(closeName(CLOSE.SESSION_REPLACED), "session_replaced");
  assert.equal(closeName(4006), "resume_failed");
  assert.equal(closeName(4007), "auth_required");
  assert.equal(closeName(4008), "auth_invalid");
  assert.equal(closeName(4009), "auth_expired");
  assert.equal(closeName(CLOSE.TOKEN_IN_USE), "token_in_use");
  assert.equal(closeName(4999), "other");
  assert.equal(CLOSE_CODES.length, Object.keys(CLOSE).length);
  for (const { code, name, message } of CLOSE_CODES) {
    assert.equal(closeName(code), name);
    assert.ok(closeMessage(code).length > 0 && message.length > 0);
  }
  assert.match(closeMessage(4999), /4999/);
});
