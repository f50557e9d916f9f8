// Snapshot deltas (crates/protocol/src/delta.rs): a viewer's view at one tick, encoded against
// the view it acknowledged, for any game's records.
//
// A view is an array of records sorted by id. A snapshot body describes the current view
// relative to a baseline view (empty for a full snapshot) in three sections, bit-packed with
// bits.js: removed (ids only), entered (whole records), changed (only what differs from the
// baseline's prediction). This module owns the container (ids, counts, order, padding); the
// game's record codec (`schema.record`, the twin of the Rust `Record` trait; README.md) codes the
// fields. Records are treated as immutable: the codec returns new records and never changes a
// baseline's.

import { BitReader, BitWriter } from "./bits.js";
import { LIMITS, ProtocolError } from "./protocol.js";

/** Exp-Golomb order of the section counts. */
const K_COUNT = 0;
/** Exp-Golomb order of id gaps (removed and entered sections). */
const K_ID_GAP = 2;
/** Exp-Golomb order of index gaps (changed section). */
const K_INDEX_GAP = 0;

/** A delta error (DeltaError in Rust), with its message. */
export function deltaError(message) {
  return new ProtocolError("delta", message);
}

/** DeltaError::Range: a record decoded a field out of its range. For record codecs. */
export function rangeError(id) {
  return deltaError(`entity ${id} has an out-of-range field`);
}

/** DeltaError::Id. */
function idError(id) {
  return deltaError(`entity id ${id} does not fit the baseline`);
}

function countError(section, count, max) {
  return deltaError(`${section} count ${count} exceeds ${max}`);
}

/**
 * A toolkit helper for moving records (delta::predict): the predicted position coordinate
 * base + floor((baseVel + curVel) * elapsed / 2), the average of the two velocities applied over
 * the elapsed ticks. Exact for an entity whose velocity did not change.
 */
export function predict(basePos, baseVel, curVel, elapsed) {
  return basePos + Math.floor(((baseVel + curVel) * elapsed) / 2);
}

/** The record codec's optional parts filled in with the Rust trait's defaults. */
function codec(record) {
  return {
    id: record.id ?? ((value) => value.id),
    continues: record.continues ?? (() => true),
    advance: record.advance ?? ((value) => value),
  };
}

function readNextId(reader, previousId) {
  const id = previousId + reader.readGolomb(K_ID_GAP) + 1;
  if (id > 0xffffffff) throw idError(0xffffffff);
  return id;
}

/**
 * Decodes a snapshot body against `baseline` (records sorted by id; empty for a full snapshot),
 * `elapsed` ticks apart (the snapshot's baseline_age), with the game's `record` codec. Returns a
 * new view sorted by id in which every record is valid; the baseline is not modified. Throws a
 * ProtocolError on any malformed body.
 */
export function decodeDelta(record, baseline, elapsed, body) {
  const { id: idOf, advance } = codec(record);
  const reader = new BitReader(body);
  const out = [];

  // Removed: walk the baseline, dropping the listed ids; what is left is the kept list.
  const removed = reader.readGolomb(K_COUNT);
  if (removed > baseline.length) throw countError("removed", removed, baseline.length);
  let nextBase = 0;
  let previousId = 0;
  for (let count = 0; count < removed; count++) {
    const id = readNextId(reader, previousId);
    while (nextBase < baseline.length && idOf(baseline[nextBase]) < id) out.push(baseline[nextBase++]);
    if (nextBase === baseline.length || idOf(baseline[nextBase]) !== id) throw idError(id);
    nextBase += 1;
    previousId = id;
  }
  while (nextBase < baseline.length) out.push(baseline[nextBase++]);
  const kept = out.length;

  // Entered: appended after the kept records for now, merged into order at the end.
  const entered = reader.readGolomb(K_COUNT);
  const enterMax = Math.max(0, LIMITS.VIEW_ENTITIES_MAX - kept);
  if (entered > enterMax) throw countError("entered", entered, enterMax);
  previousId = 0;
  for (let count = 0; count < entered; count++) {
    const id = readNextId(reader, previousId);
    previousId = id;
    const value = record.readFull(id, reader);
    if (idOf(value) !== id || !record.isValid(value)) throw rangeError(id);
    out.push(value);
  }

  // Changed: indices into the kept list. Kept records not listed moved exactly as predicted.
  const changed = reader.readGolomb(K_COUNT);
  if (changed > kept) throw countError("changed", changed, kept);
  let index = 0;
  for (let count = 0; count < changed; count++) {
    const target = index + reader.readGolomb(K_INDEX_GAP);
    if (target >= kept) throw countError("changed index", target, kept);
    for (; index < target; index++) out[index] = advance(out[index], elapsed);
    const base = out[target];
    const value = record.readChanges(base, elapsed, reader);
    if (idOf(value) !== idOf(base) || !record.isValid(value)) throw rangeError(idOf(base));
    out[target] = value;
    index = target + 1;
  }
  for (; index < kept; index++) out[index] = advance(out[index], elapsed);

  // Padding only: fewer than 8 bits, all zero.
  const rest = reader.remaining();
  if (rest >= 8 || (rest > 0 && reader.read(rest) !== 0)) throw deltaError("trailing bits after the delta");

  if (entered > 0) {
    if (kept > 0) out.sort((a, b) => idOf(a) - idOf(b));
    for (let at = 1; at < out.length; at++) {
      if (idOf(out[at - 1]) === idOf(out[at])) throw idError(idOf(out[at]));
    }
  }
  return out;
}

/**
 * Encodes `current` against `baseline` (both sorted by id; an empty baseline gives a full
 * snapshot), `elapsed` ticks apart, exactly as the server does. For tests and tools.
 */
export function encodeDelta(record, baseline, current, elapsed) {
  const { id: idOf, continues } = codec(record);
  const removedList = [];
  const enteredList = [];
  const keptPairs = [];
  let b = 0;
  let c = 0;
  while (b < baseline.length || c < current.length) {
    const base = baseline[b];
    const cur = current[c];
    if (base !== undefined && cur !== undefined && idOf(base) === idOf(cur)) {
      if (continues(cur, base)) {
        keptPairs.push([base, cur]);
      } else {
        removedList.push(base);
        enteredList.push(cur);
      }
      b++;
      c++;
    } else if (base !== undefined && (cur === undefined || idOf(base) < idOf(cur))) {
      removedList.push(base);
      b++;
    } else {
      enteredList.push(cur);
      c++;
    }
  }
  const out = new BitWriter();
  out.writeGolomb(removedList.length, K_COUNT);
  let previousId = 0;
  for (const base of removedList) {
    out.writeGolomb(idOf(base) - previousId - 1, K_ID_GAP);
    previousId = idOf(base);
  }
  out.writeGolomb(enteredList.length, K_COUNT);
  previousId = 0;
  for (const cur of enteredList) {
    out.writeGolomb(idOf(cur) - previousId - 1, K_ID_GAP);
    previousId = idOf(cur);
    record.writeFull(cur, out);
  }
  const masks = keptPairs.map(([base, cur]) => record.changes(cur, base, elapsed));
  out.writeGolomb(masks.filter((mask) => mask !== 0).length, K_COUNT);
  let nextIndex = 0;
  keptPairs.forEach(([base, cur], keptIndex) => {
    const mask = masks[keptIndex];
    if (mask === 0) return;
    out.writeGolomb(keptIndex - nextIndex, K_INDEX_GAP);
    nextIndex = keptIndex + 1;
    record.writeChanges(cur, base, elapsed, mask, out);
  });
  return out.toBytes();
}

/**
 * The snapshot checksum (delta::Checksum): 32-bit FNV-1a over the 32-bit words each record
 * feeds it, in view order; each word is folded in whole.
 */
export class Checksum {
  constructor() {
    this.hash = 0x811c9dc5;
  }

  /** Folds one word in (taken modulo 2^32, so a negative i32 is its two's complement). */
  word(word) {
    this.hash = Math.imul((this.hash ^ word) >>> 0, 0x01000193) >>> 0;
  }

  /** The checksum so far. */
  value() {
    return this.hash >>> 0;
  }
}

/** The checksum of a whole view, with the game's record codec. */
export function checksum(record, view) {
  const sum = new Checksum();
  for (const value of view) record.checksum(value, sum);
  return sum.value();
}
