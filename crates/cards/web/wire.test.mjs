// The card game's wire module (wire.js) through the core's codec, against the Rust side: the
// golden vectors (crates/cards/tests/golden/vectors.json: every message decodes and re-encodes
// byte for byte, every snapshot body turns its baseline into its view with a matching checksum)
// and the constants crates/cards/tests/web_twins.rs writes (tests/twins/constants.json).
// Run: node --test crates/cards/web/*.test.mjs
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { KIND, NAME, PHASE, RANK_MAX, REFUSAL, SLOT_MAX, SUIT_MAX, VERSION, record, schema } from "./wire.js";
import { ProtocolError, Replica, checksum, createCodec, decodeDelta, encodeDelta } from "./tickwire.js";

const codec = createCodec(schema);
const read = (path) => JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8"));
const vectors = read("../tests/golden/vectors.json");
const twins = read("../tests/twins/constants.json");
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

test("the card game's constants are the Rust ones", () => {
  assert.equal(NAME, twins.name);
  assert.equal(VERSION, twins.schema_version);
  assert.equal(schema.name, twins.name);
  assert.equal(schema.version, twins.schema_version);
  assert.equal(RANK_MAX, twins.rank_max);
  assert.equal(SUIT_MAX, twins.suit_max);
  assert.equal(SLOT_MAX, twins.slot_max);
  assert.deepEqual({ ...KIND }, twins.wire.kind);
  assert.deepEqual({ ...PHASE }, twins.wire.phase);
  assert.deepEqual({ ...REFUSAL }, twins.wire.refusal);
});

test("the setup and stats rows are checked like the Rust Wire::validate", () => {
  const welcome = vectors.find((vector) => vector.name === "welcome").message;
  for (const [sample, expected] of twins.validation.setup) {
    const message = structuredClone(welcome);
    Object.assign(message.Welcome.setup, sample);
    if (expected === null) codec.encodeServer(message);
    else assertProtocolError(() => codec.encodeServer(message), new RegExp(`^${escape(expected)}$`));
  }
  const snapshot = vectors.find((vector) => vector.name === "snapshot_full").message;
  for (const [name, expected] of twins.validation.stats_name) {
    const message = structuredClone(snapshot);
    message.Snapshot.scores[0].name = name;
    message.Snapshot.body = Uint8Array.from(message.Snapshot.body);
    if (expected === null) codec.encodeServer(message);
    else assertProtocolError(() => codec.encodeServer(message), new RegExp(`^${escape(expected)}$`));
  }
  // Decoding refuses the same: a Welcome whose setup has no pile.
  const bytes = unhex(vectors.find((vector) => vector.name === "welcome").hex);
  const setupAt = bytes.length - 1 - 16 - 4; // piles, hand_size, max_players, stall_ticks (1 byte)
  assert.equal(bytes[setupAt], welcome.Welcome.setup.piles);
  bytes[setupAt] = 0;
  assertProtocolError(() => codec.decodeServer(bytes), /^setup is invalid/);
});

function escape(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

test("the golden vectors cover every message variant, the game's name and every event", () => {
  const variants = new Set(vectors.map((vector) => `${vector.direction}:${Object.keys(vector.message)[0]}`));
  for (const name of ["Hello", "Input"]) assert.ok(variants.has(`client:${name}`), name);
  for (const name of ["Welcome", "Snapshot", "Events"]) assert.ok(variants.has(`server:${name}`), name);
  const hello = vectors.find((vector) => vector.name === "hello").message.Hello;
  assert.deepEqual(codec.hello("ann").Hello, hello);
  const heard = vectors
    .filter((vector) => "Events" in vector.message)
    .flatMap((vector) => vector.message.Events.events)
    .map((event) => (typeof event === "string" ? event : Object.keys(event)[0]));
  for (const [variant] of schema.event.type[1]) assert.ok(heard.includes(variant), variant);
  const input = vectors.find((vector) => vector.name === "input_play").message.Input;
  assert.deepEqual(input.cmds[0], schema.input.idle(), "the idle command is CardsInput::default()");
});

test("client vectors: the same bytes and the same message", () => {
  for (const vector of clientVectors) {
    assert.equal(hex(codec.encodeClient(vector.message)), vector.hex, `${vector.name}: encode`);
    assert.deepEqual(plain(codec.decodeClient(unhex(vector.hex))), vector.message, `${vector.name}: decode`);
  }
});

test("server vectors: the same message and the same bytes", () => {
  for (const vector of serverVectors) {
    assert.deepEqual(plain(codec.decodeServer(unhex(vector.hex))), vector.message, `${vector.name}: decode`);
    assert.equal(hex(codec.encodeServer(vector.message)), vector.hex, `${vector.name}: encode`);
  }
});

test("snapshot vectors: bodies turn their baseline into their view, checksums match", () => {
  assert.ok(snapshotVectors.length >= 2);
  for (const vector of snapshotVectors) {
    const snapshot = codec.decodeServer(unhex(vector.hex)).Snapshot;
    const baseline = structuredClone(vector.baseline);
    const view = decodeDelta(record, baseline, snapshot.baseline_age, snapshot.body);
    assert.deepEqual(view, vector.view, `${vector.name}: view`);
    assert.deepEqual(baseline, vector.baseline, `${vector.name}: baseline untouched`);
    assert.equal(checksum(record, view), snapshot.checksum, `${vector.name}: checksum`);
    assert.equal(
      hex(encodeDelta(record, vector.baseline, vector.view, snapshot.baseline_age)),
      hex(snapshot.body),
      `${vector.name}: JS delta encoder`,
    );
  }
});

test("the replica follows the golden snapshots", () => {
  const full = codec.decodeServer(unhex(vectors.find((vector) => vector.name === "snapshot_full").hex));
  const deltaVector = vectors.find((vector) => vector.name === "snapshot_delta");
  const delta = codec.decodeServer(unhex(deltaVector.hex));
  const replica = new Replica(schema);
  assertProtocolError(() => replica.handleSnapshot(delta), /does not hold/);
  replica.handleSnapshot(full);
  replica.handleSnapshot(delta.Snapshot);
  assert.deepEqual(replica.view(), deltaVector.view);
  assert.equal(replica.ackTick(), delta.Snapshot.tick);
  // The delta carries only the changed row.
  const [bob, ann] = full.Snapshot.scores;
  assert.deepEqual(replica.scores(), [bob, { ...ann, played: ann.played + 1 }]);
  assert.equal(replica.entity(2).count, 5, "pile 0 grew by one");
  assert.equal(replica.entity(40), undefined, "the played card left the hand");
  assert.equal(replica.entity(45).rank, 5, "the drawn card entered");
});

test("count changes wrap modulo 2^32 like the Rust i32 difference", () => {
  const base = [{ id: 2, kind: KIND.PILE, slot: 0, rank: 1, suit: 0, count: 0 }];
  for (const count of [1, 0xffffffff, 0x80000000, 0x7fffffff, 12345678]) {
    const view = [{ ...base[0], count }];
    const body = encodeDelta(record, base, view, 1);
    assert.deepEqual(decodeDelta(record, base, 1, body), view, `count ${count}`);
  }
  // 0 -> u32::MAX is a difference of -1: mask 4 and zigzag 1 at order 1, a handful of bits.
  const small = encodeDelta(record, base, [{ ...base[0], count: 0xffffffff }], 1);
  assert.ok(small.length <= 2, `${hex(small)}`);
});

test("records: random views roundtrip through the JS encoder and decoder", () => {
  const random = prng(7);
  const int = (min, max) => min + Math.floor(random() * (max - min + 1));
  const randomRecord = (id) => {
    const kind = int(0, KIND.MAX);
    const rank = int(kind === KIND.HAND ? 1 : 0, RANK_MAX);
    return { id, kind, slot: int(0, SLOT_MAX), rank, suit: int(0, SUIT_MAX), count: int(0, 2 ** 32 - 1) };
  };
  const randomView = () =>
    [...new Set(Array.from({ length: int(0, 30) }, () => int(1, 200)))].sort((a, b) => a - b).map(randomRecord);
  for (let round = 0; round < 300; round++) {
    const baseline = randomView();
    const current = new Map();
    for (const card of baseline) {
      const choice = int(0, 4);
      if (choice === 0) continue;
      const next = { ...card };
      if (choice === 2) next.count = (next.count + int(-2, 2)) >>> 0;
      if (choice === 3) next.slot = int(0, SLOT_MAX);
      if (choice === 4) Object.assign(next, randomRecord(card.id));
      current.set(card.id, next);
    }
    for (const card of randomView()) if (!current.has(card.id)) current.set(card.id, card);
    const view = [...current.values()].sort((a, b) => a.id - b.id);
    const elapsed = int(1, 255);
    assert.deepEqual(decodeDelta(record, baseline, elapsed, encodeDelta(record, baseline, view, elapsed)), view);
  }
});

test("out-of-range records are refused: kind 3, rank 14, a hand card of rank 0", () => {
  const baseline = [{ id: 16, kind: KIND.HAND, slot: 0, rank: 5, suit: 1, count: 0 }];
  for (const bad of [{ kind: 3 }, { rank: 14 }, { rank: 0 }]) {
    const view = [{ ...baseline[0], ...bad }];
    assertProtocolError(() => decodeDelta(record, [], 1, encodeDelta(record, [], view, 1)), /out-of-range/);
    if (!("kind" in bad)) {
      assertProtocolError(() => decodeDelta(record, baseline, 1, encodeDelta(record, baseline, view, 1)), /out-of-range/);
    }
  }
});

test("corrupted golden frames and random bodies fail cleanly", () => {
  const random = prng(42);
  const baseline = vectors.find((vector) => vector.name === "snapshot_delta").baseline;
  for (const vector of vectors) {
    const bytes = unhex(vector.hex);
    const decode = vector.direction === "client" ? codec.decodeClient : codec.decodeServer;
    for (let round = 0; round < 200; round++) {
      const copy = bytes.slice(0, Math.max(1, Math.floor(random() * (bytes.length + 1))));
      copy[Math.floor(random() * copy.length)] ^= 1 << Math.floor(random() * 8);
      try {
        const message = decode(copy);
        const snapshot = message.Snapshot;
        if (snapshot) decodeDelta(record, vector.baseline ?? [], snapshot.baseline_age, snapshot.body);
      } catch (error) {
        assert.ok(error instanceof ProtocolError, `${vector.name}: ${error?.stack ?? error}`);
      }
    }
  }
  for (let round = 0; round < 3000; round++) {
    const body = Uint8Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256));
    try {
      const view = decodeDelta(record, round % 2 ? baseline : [], 1 + (round % 255), body);
      assert.ok(view.every(record.isValid));
    } catch (error) {
      assert.ok(error instanceof ProtocolError, `not a ProtocolError: ${error?.stack ?? error}`);
    }
  }
});
