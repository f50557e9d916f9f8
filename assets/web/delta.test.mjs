// Tests for bit I/O (bits.js), the delta container (delta.js) and the replica (replica.js) with
// a small test record, the twin of the Rust container tests' Dot (crates/protocol/src/delta.rs).
// The arena's record runs against the golden vectors in crates/arena/web/wire.test.mjs.
// Run: node --test assets/web/*.test.mjs
import assert from "node:assert/strict";
import { test } from "node:test";

import { BitReader, BitWriter, unzigzag, zigzag } from "./bits.js";
import { Checksum, checksum, decodeDelta, encodeDelta, predict, rangeError } from "./delta.js";
import { ProtocolError } from "./protocol.js";
import { Replica } from "./replica.js";

const POS_MAX = (1 << 16) - 1;
const VEL_MAX = 1 << 10;

/** A position with a velocity on one axis, a kind and a color, coded like a moving entity. */
const DOT = {
  continues: (cur, base) => cur.kind === base.kind,
  writeFull(dot, out) {
    out.write(dot.kind, 2);
    out.write(dot.x, 16);
    out.writeSignedGolomb(dot.vx, 3);
    out.write(dot.color, 8);
  },
  readFull: (id, input) => ({ id, kind: input.read(2), x: input.read(16), vx: input.readSignedGolomb(3), color: input.read(8) }),
  changes(cur, base, elapsed) {
    let mask = 0;
    if (predict(base.x, base.vx, cur.vx, elapsed) !== cur.x) mask |= 1;
    if (base.vx !== cur.vx) mask |= 2;
    if (base.color !== cur.color) mask |= 4;
    return mask;
  },
  writeChanges(cur, base, elapsed, mask, out) {
    out.write(mask, 3);
    if (mask & 2) out.writeSignedGolomb(cur.vx - base.vx, 1);
    if (mask & 1) out.writeSignedGolomb(cur.x - predict(base.x, base.vx, cur.vx, elapsed), 0);
    if (mask & 4) out.write(cur.color, 8);
  },
  readChanges(base, elapsed, input) {
    const next = { ...base };
    const mask = input.read(3);
    if (mask & 2) next.vx = base.vx + input.readSignedGolomb(1);
    let x = predict(base.x, base.vx, next.vx, elapsed);
    if (mask & 1) x += input.readSignedGolomb(0);
    if (x < 0 || x > POS_MAX) throw rangeError(base.id);
    next.x = x;
    if (mask & 4) next.color = input.read(8);
    return next;
  },
  advance(dot, elapsed) {
    const x = predict(dot.x, dot.vx, dot.vx, elapsed);
    if (x < 0 || x > POS_MAX) throw rangeError(dot.id);
    return x === dot.x ? dot : { ...dot, x };
  },
  isValid: (dot) => dot.id !== 0 && dot.kind <= 3 && dot.x <= POS_MAX && Math.abs(dot.vx) <= VEL_MAX,
  checksum(dot, sum) {
    sum.word(dot.id);
    sum.word(dot.x);
    sum.word(dot.vx);
    sum.word(dot.kind | (dot.color << 8));
  },
};
const SCHEMA = { record: DOT, stats: { player: (row) => row.player } };

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
  const fields = Array.from({ length: 500 }, () => ({
    value: Math.floor(random() * 4294967296),
    count: Math.floor(random() * 33),
    signed: Math.floor(random() * 4294967296) - 2147483648,
    k: Math.floor(random() * 8),
  }));
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
  assertProtocolError(() => reader.read(9), /bit stream ended/);
});

function randomView(random) {
  const int = (min, max) => min + Math.floor(random() * (max - min + 1));
  const ids = [...new Set(Array.from({ length: int(0, 40) }, () => int(1, 300)))].sort((a, b) => a - b);
  return ids.map((id) => ({ id, kind: int(0, 3), x: int(0, POS_MAX), vx: int(-VEL_MAX, VEL_MAX), color: int(0, 255) }));
}

test("delta: random views roundtrip, whatever the baseline, without touching it", () => {
  const random = prng(99);
  for (let round = 0; round < 300; round++) {
    const baseline = randomView(random);
    const frozen = structuredClone(baseline);
    const elapsed = 1 + Math.floor(random() * 255);
    // Keep some baseline dots (as predicted, nudged, of another kind) and add new ones.
    const current = new Map();
    for (const dot of baseline) {
      const choice = Math.floor(random() * 5);
      if (choice === 0) continue;
      let next = { ...dot };
      if (choice === 2) {
        try {
          next = DOT.advance(dot, elapsed);
        } catch {
          next = { ...dot };
        }
      } else if (choice === 3) {
        next.x = Math.min(next.x + 3, POS_MAX);
        next.vx = Math.max(next.vx - 2, -VEL_MAX);
        next.color = (next.color + 1) % 256;
      } else if (choice === 4) {
        next.kind = (next.kind + 1) % 4;
      }
      current.set(dot.id, next);
    }
    for (const dot of randomView(random)) if (!current.has(dot.id)) current.set(dot.id, dot);
    const view = [...current.values()].sort((a, b) => a.id - b.id);
    assert.deepEqual(decodeDelta(DOT, baseline, elapsed, encodeDelta(DOT, baseline, view, elapsed)), view);
    assert.deepEqual(decodeDelta(DOT, [], 0, encodeDelta(DOT, [], view, 0)), view);
    assert.deepEqual(baseline, frozen);
  }
});

test("delta: records that match their prediction cost nothing", () => {
  const base = Array.from({ length: 900 }, (_, index) => ({ id: index + 1, kind: 1, x: 1000 + index * 10, vx: 17, color: 3 }));
  const cur = base.map((dot) => ({ ...dot, x: dot.x + 17 * 3 }));
  // Three zero counts: three bits, one byte.
  assert.equal(encodeDelta(DOT, base, cur, 3).length, 1);
  assert.deepEqual(decodeDelta(DOT, base, 3, Uint8Array.of(0b111)), cur);
});

test("delta: malformed bodies are refused with the Rust messages", () => {
  const base = [{ id: 5, kind: 0, x: 10, vx: 0, color: 0 }];
  const body = (write) => {
    const bits = new BitWriter();
    write(bits);
    return bits.toBytes();
  };
  // Removing two from a baseline of one; removing an id it does not hold.
  assertProtocolError(() => decodeDelta(DOT, base, 1, body((b) => b.writeGolomb(2, 0))), /^removed count 2 exceeds 1$/);
  assertProtocolError(() => decodeDelta(DOT, base, 1, body((b) => (b.writeGolomb(1, 0), b.writeGolomb(0, 2)))), /^entity id 1 does not fit/);
  // Entering an invalid record (kind 0, x 10, vx past VEL_MAX).
  const invalid = body((b) => {
    b.writeGolomb(0, 0);
    b.writeGolomb(1, 0);
    b.writeGolomb(0, 2);
    DOT.writeFull({ id: 1, kind: 0, x: 10, vx: VEL_MAX + 1, color: 0 }, b);
    b.writeGolomb(0, 0);
  });
  assertProtocolError(() => decodeDelta(DOT, [], 1, invalid), /^entity 1 has an out-of-range field$/);
  // Entering an id the baseline keeps.
  const twice = body((b) => {
    b.writeGolomb(0, 0);
    b.writeGolomb(1, 0);
    b.writeGolomb(4, 2);
    DOT.writeFull(base[0], b);
    b.writeGolomb(0, 0);
  });
  assertProtocolError(() => decodeDelta(DOT, base, 1, twice), /^entity id 5 does not fit/);
  // A changed index past the kept ones; trailing bits.
  assertProtocolError(() => decodeDelta(DOT, base, 1, body((b) => (b.writeGolomb(0, 0), b.writeGolomb(0, 0), b.writeGolomb(1, 0), b.writeGolomb(1, 0)))), /^changed index count 1 exceeds 1$/);
  assertProtocolError(() => decodeDelta(DOT, [], 0, Uint8Array.of(0b111, 0)), /^trailing bits/);
  assertProtocolError(() => decodeDelta(DOT, [], 0, Uint8Array.of(0b1111)), /^trailing bits/);
});

test("delta: random bytes never crash or hang the decoder", () => {
  const random = prng(0xd07);
  const base = randomView(random);
  for (let round = 0; round < 3000; round++) {
    const body = Uint8Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256));
    for (const [baseline, elapsed] of [[[], 0], [base, round % 256]]) {
      try {
        const view = decodeDelta(DOT, baseline, elapsed, body);
        assert.ok(view.every(DOT.isValid));
        for (let at = 1; at < view.length; at++) assert.ok(view[at - 1].id < view[at].id);
      } catch (error) {
        assert.ok(error instanceof ProtocolError, `not a ProtocolError: ${error?.stack ?? error}`);
      }
    }
  }
});

test("checksum: FNV-1a over the record's words, order and field sensitive", () => {
  const a = { id: 1, kind: 0, x: 0, vx: -1, color: 5 };
  const b = { id: 2, kind: 0, x: 0, vx: 0, color: 5 };
  assert.notEqual(checksum(DOT, [a, b]), checksum(DOT, [b, a]));
  assert.notEqual(checksum(DOT, [a]), checksum(DOT, [{ ...a, color: 6 }]));
  assert.equal(checksum(DOT, []), 0x811c9dc5);
  let hash = 0x811c9dc5;
  for (const word of [1, 0, 0xffffffff, 5 << 8]) hash = Number((BigInt(hash ^ word >>> 0) * 0x01000193n) & 0xffffffffn) >>> 0;
  const sum = new Checksum();
  DOT.checksum(a, sum);
  assert.equal(sum.value(), hash >>> 0);
});

function snapshot(tick, base, view, scores = [], removed = []) {
  const age = base ? tick - base[0] : 0;
  return {
    tick,
    baseline_age: age,
    last_input: 0,
    checksum: checksum(DOT, view),
    scores,
    scores_removed: removed,
    body: encodeDelta(DOT, base ? base[1] : [], view, age),
  };
}

test("replica: deltas against held baselines, stale and unknown ones refused, nothing changed", () => {
  const dot = (id, x) => ({ id, kind: 2, x, vx: 1, color: 0 });
  const v1 = [dot(1, 10), dot(2, 20)];
  const v2 = [dot(1, 11), dot(3, 5)];
  const v3 = [dot(1, 12), dot(3, 6)];
  const replica = new Replica(SCHEMA);
  assert.equal(replica.ackTick(), 0);
  assertProtocolError(() => replica.handleSnapshot(snapshot(2, [1, v1], v2)), /relative to tick 1, which this client does not hold/);
  replica.handleSnapshot({ Snapshot: snapshot(1, null, v1) });
  replica.handleSnapshot(snapshot(2, [1, v1], v2));
  replica.handleSnapshot(snapshot(3, [2, v2], v3));
  assert.deepEqual(replica.view(), v3);
  assert.equal(replica.ackTick(), 3);
  assert.equal(replica.decoded, 3);
  // Baselines older than the one in use are dropped.
  assert.equal(replica.held(), 2);
  assertProtocolError(() => replica.handleSnapshot(snapshot(4, [1, v1], v3)), /relative to tick 1/);
  assertProtocolError(() => replica.handleSnapshot(snapshot(3, [2, v2], v3)), /not newer/);
  const corrupt = { ...snapshot(4, [3, v3], v3), checksum: 7 };
  assertProtocolError(() => replica.handleSnapshot(corrupt), /^snapshot 4: checksum mismatch: server 0x00000007, client 0x/);
  assert.deepEqual(replica.view(), v3);
  assert.equal(replica.entity(3).x, 6);
  assert.equal(replica.entity(2), undefined);
  replica.reset();
  assert.equal(replica.ackTick(), 0);
});

test("replica: the stats table follows its deltas and refuses to grow past SCORES_MAX", () => {
  const row = (player, points) => ({ player, points });
  const replica = new Replica(SCHEMA);
  replica.handleSnapshot(snapshot(1, null, [], [row(1, 0), row(2, 5), row(4, 1)]));
  // A changed row, a removed one, and a changed row that wins over its own removal.
  replica.handleSnapshot(snapshot(2, [1, []], [], [row(1, 3), row(4, 9)], [2, 4]));
  assert.deepEqual(replica.scores(), [row(1, 3), row(4, 9)]);
  // No rows: the baseline's table as it was.
  replica.handleSnapshot(snapshot(3, [2, []], []));
  assert.deepEqual(replica.scores(), [row(1, 3), row(4, 9)]);
  const many = Array.from({ length: 1023 }, (_, index) => row(100 + index, 0));
  assertProtocolError(() => replica.handleSnapshot(snapshot(4, [3, []], [], many)), /score table of 1025 rows exceeds the limit/);
  assert.equal(replica.ackTick(), 3);
});
