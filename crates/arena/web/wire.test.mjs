// The arena's wire module (wire.js) through the core's codec, against the Rust side: the golden
// vectors (crates/arena/tests/golden/vectors.json: every message decodes and re-encodes byte for
// byte, every snapshot body turns its baseline into its view with a matching checksum) and the
// constants crates/arena/tests/web_twins.rs writes (tests/twins/constants.json).
// Run: node --test crates/arena/web/*.test.mjs
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { BUTTONS, FLAGS, KIND, NAME, VERSION, WALLS_MAX, record, schema } from "./wire.js";
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

/** The JSON message with its f32 fields rounded to f32, as the decoder returns them. */
function expectedMessage(vector) {
  const message = structuredClone(vector.message);
  if (message.Welcome) {
    const { map, rules } = message.Welcome.setup;
    map.width = Math.fround(map.width);
    map.height = Math.fround(map.height);
    map.walls = map.walls.map((wall) => wall.map(Math.fround));
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

function assertProtocolError(fn, pattern) {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof ProtocolError, `expected a ProtocolError, got ${error?.stack ?? error}`);
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

test("the arena's constants are the Rust ones", () => {
  assert.equal(NAME, twins.name);
  assert.equal(VERSION, twins.schema_version);
  assert.equal(schema.name, twins.name);
  assert.equal(schema.version, twins.schema_version);
  assert.equal(WALLS_MAX, twins.walls_max);
  assert.deepEqual({ ...KIND }, twins.wire.kind);
  assert.deepEqual({ ...FLAGS }, twins.wire.flags);
  assert.deepEqual({ ...BUTTONS }, twins.wire.buttons);
});

test("the golden vectors cover every message variant, the game's name and every event", () => {
  const variants = new Set(vectors.map((vector) => `${vector.direction}:${Object.keys(vector.message)[0]}`));
  for (const name of ["Hello", "Input", "Chat", "Ping"]) assert.ok(variants.has(`client:${name}`), name);
  for (const name of ["Welcome", "Snapshot", "Chat", "Events", "Pong", "Error"]) {
    assert.ok(variants.has(`server:${name}`), name);
  }
  const hello = vectors.find((vector) => vector.name === "hello").message.Hello;
  assert.deepEqual(codec.hello("ann").Hello, hello);
  const events = vectors.find((vector) => vector.name === "events").message.Events;
  assert.ok(events.tick > 0);
  for (const [variant] of schema.event.type[1]) assert.ok(events.events.some((event) => variant in event), variant);
});

test("client vectors: the same bytes and the same message", () => {
  for (const vector of clientVectors) {
    assert.equal(hex(codec.encodeClient(vector.message)), vector.hex, `${vector.name}: encode`);
    assert.deepEqual(plain(codec.decodeClient(unhex(vector.hex))), vector.message, `${vector.name}: decode`);
  }
});

test("server vectors: the same message and the same bytes", () => {
  for (const vector of serverVectors) {
    const message = expectedMessage(vector);
    assert.deepEqual(plain(codec.decodeServer(unhex(vector.hex))), message, `${vector.name}: decode`);
    assert.equal(hex(codec.encodeServer(message)), vector.hex, `${vector.name}: encode`);
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
  // The delta carries only the changed row and the removed player's id.
  const [ann] = full.Snapshot.scores;
  assert.deepEqual(replica.scores(), [{ ...ann, kills: ann.kills + 1 }]);
  assert.equal(replica.entity(300).x, 39940);
  assert.equal(replica.entity(7), undefined);
  const corrupt = { ...delta.Snapshot, tick: delta.Snapshot.tick + 1, baseline_age: 4 };
  assertProtocolError(() => replica.handleSnapshot(corrupt), /checksum mismatch|out-of-range|trailing|does not fit/);
  assert.deepEqual(replica.view(), deltaVector.view);
});

test("the setup and score rows are checked like the Rust Wire::validate", () => {
  const welcome = structuredClone(vectors.find((vector) => vector.name === "welcome").message);
  const withSetup = (change) => {
    const message = structuredClone(welcome);
    change(message.Welcome.setup);
    return message;
  };
  codec.encodeServer(welcome);
  assertProtocolError(() => codec.encodeServer(withSetup((s) => (s.map.walls[0] = [5, 0, 1, 1]))), /^map is invalid: non-finite or inverted geometry$/);
  assertProtocolError(() => codec.encodeServer(withSetup((s) => (s.map.width = Infinity))), /^map is invalid/);
  assertProtocolError(() => codec.encodeServer(withSetup((s) => (s.map.height = 0))), /^map is invalid/);
  assertProtocolError(() => codec.encodeServer(withSetup((s) => (s.map.walls = new Array(1025).fill([0, 0, 1, 1])))), /^map.walls is 1025 long, the limit is 1024$/);
  assertProtocolError(() => codec.encodeServer(withSetup((s) => (s.map.name = "m".repeat(33)))), /^map.name is 33 long/);
  assertProtocolError(() => codec.encodeServer(withSetup((s) => (s.rules.player_radius = 0))), /^rules is invalid: non-finite, negative or zero radius$/);
  assertProtocolError(() => codec.encodeServer(withSetup((s) => (s.rules.accel = -1))), /^rules is invalid/);
  assertProtocolError(() => codec.encodeServer(withSetup((s) => (s.rules.friction = NaN))), /^rules is invalid/);
  const snapshot = structuredClone(vectors.find((vector) => vector.name === "snapshot_full").message);
  snapshot.Snapshot.scores[0].name = "a\u0001";
  assertProtocolError(() => codec.encodeServer(snapshot), /^scores.name is invalid: control characters$/);
  snapshot.Snapshot.scores[0].name = "n".repeat(25);
  assertProtocolError(() => codec.encodeServer(snapshot), /^scores.name is 25 long, the limit is 24$/);
  // Decoding refuses the same: Welcome.resumed must be a proper boolean too.
  const bytes = unhex(vectors.find((vector) => vector.name === "welcome").hex);
  bytes[bytes.length - 1] = 2;
  assertProtocolError(() => codec.decodeServer(bytes), /boolean/);
});

test("entity records: random views roundtrip through the JS encoder and decoder", () => {
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
    const current = new Map();
    for (const state of baseline) {
      const choice = int(0, 4);
      if (choice === 0) continue;
      let next = { ...state };
      if (choice === 2) {
        try {
          next = record.advance(state, elapsed);
        } catch {
          next = { ...state };
        }
      } else if (choice === 3) {
        next.x = Math.min(next.x + 3, 1048575);
        next.aim = (next.aim + 1000) % 1024;
        next.health = (next.health + 231) % 256;
        next.flags ^= 1;
      } else if (choice === 4) {
        next.kind = (next.kind + 1) % 3;
      }
      current.set(state.id, next);
    }
    for (const state of randomView()) if (!current.has(state.id)) current.set(state.id, state);
    const view = [...current.values()].sort((a, b) => a.id - b.id);
    assert.deepEqual(decodeDelta(record, baseline, elapsed, encodeDelta(record, baseline, view, elapsed)), view);
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
        if (message.Snapshot) decodeDelta(record, vector.baseline ?? [], message.Snapshot.baseline_age, message.Snapshot.body);
      } catch (error) {
        assert.ok(error instanceof ProtocolError, `${vector.name}: ${error?.stack ?? error}`);
      }
    }
  }
  for (let round = 0; round < 3000; round++) {
    const body = Uint8Array.from({ length: Math.floor(random() * 96) }, () => Math.floor(random() * 256));
    try {
      const view = decodeDelta(record, round % 2 ? baseline : [], round % 256, body);
      assert.ok(view.every(record.isValid));
    } catch (error) {
      assert.ok(error instanceof ProtocolError, `not a ProtocolError: ${error?.stack ?? error}`);
    }
  }
});
