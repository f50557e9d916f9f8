// The client's side of snapshot deltas (crates/protocol/src/replica.rs): a short history of
// decoded views to use as baselines, and the stats table they carry.

import { checksum, decodeDelta } from "./delta.js";
import { LIMITS, ProtocolError } from "./protocol.js";

/**
 * Most decoded views a replica keeps as possible baselines: the newest snapshot plus the
 * CLIENT_BASELINES before it (the server never encodes against an older one).
 */
export const HISTORY_MAX = LIMITS.CLIENT_BASELINES + 1;

const hex = (value) => `0x${(value >>> 0).toString(16).padStart(8, "0")}`;

/**
 * Rebuilds a client's view of the world (a game's records and stats table) from a stream of
 * snapshots, with the game's schema (its `record` codec and `stats.player`).
 *
 * Feed every snapshot to handleSnapshot in arrival order; read the newest view with view(); put
 * ackTick() into every Input so the server encodes against a baseline this replica still holds.
 * On error a snapshot is rejected (a ProtocolError is thrown) and the replica is unchanged.
 */
export class Replica {
  constructor(schema) {
    this.record = schema.record;
    this.idOf = schema.record.id ?? ((value) => value.id);
    this.playerOf = schema.stats.player ?? ((row) => row.player);
    /** Decoded frames {tick, view, scores}, oldest first, ticks strictly increasing. */
    this.history = [];
    /** Number of snapshots applied so far. */
    this.decoded = 0;
  }

  /** Applies one snapshot: the inner object ({tick, baseline_age, ...}) or {Snapshot: {...}}. */
  handleSnapshot(snapshot) {
    const snap = snapshot.Snapshot ?? snapshot;
    const tick = snap.tick;
    const newest = this.history[this.history.length - 1];
    if (newest && tick <= newest.tick) {
      throw new ProtocolError("replica", `snapshot ${tick} is not newer than ${newest.tick}`);
    }
    const age = snap.baseline_age;
    let baseIndex = -1;
    if (age !== 0) {
      const baselineTick = (tick - age) >>> 0;
      baseIndex = this.history.findIndex((frame) => frame.tick === baselineTick);
      if (baseIndex < 0) {
        throw new ProtocolError(
          "replica",
          `snapshot ${tick} is relative to tick ${baselineTick}, which this client does not hold`,
        );
      }
    }
    const base = baseIndex >= 0 ? this.history[baseIndex] : { view: [], scores: [] };
    let view;
    try {
      view = decodeDelta(this.record, base.view, age, snap.body);
    } catch (error) {
      throw new ProtocolError("replica", `snapshot ${tick}: ${error.message}`);
    }
    const actual = checksum(this.record, view);
    if (actual !== snap.checksum >>> 0) {
      throw new ProtocolError(
        "replica",
        `snapshot ${tick}: checksum mismatch: server ${hex(snap.checksum)}, client ${hex(actual)}`,
      );
    }
    let scores = base.scores;
    if (snap.scores.length > 0 || snap.scores_removed.length > 0) {
      scores = this.applyScores(base.scores, snap.scores, snap.scores_removed);
      // Each message is capped, but deltas could add up: refuse a table no room can have.
      if (scores.length > LIMITS.SCORES_MAX) {
        throw new ProtocolError("replica", `snapshot ${tick}: score table of ${scores.length} rows exceeds the limit`);
      }
    }

    // Baselines older than this snapshot's will never be used again: the server deltas against
    // the newest acknowledgement it has, and acknowledgements only move forward.
    const keepFrom = baseIndex >= 0 ? baseIndex : Math.max(0, this.history.length - (HISTORY_MAX - 1));
    this.history.splice(0, keepFrom);
    while (this.history.length >= HISTORY_MAX) this.history.shift();
    // A baseline further back than the protocol allows is useless too.
    while (this.history.length > 0 && ((tick - this.history[0].tick) >>> 0) > LIMITS.BASELINE_AGE_MAX) {
      this.history.shift();
    }
    this.history.push({ tick, view, scores });
    this.decoded += 1;
  }

  /** The baseline's table without the removed rows, with the changed rows put in (they win). */
  applyScores(base, changed, removed) {
    const changedIds = new Set(changed.map(this.playerOf));
    const removedIds = new Set(removed);
    const table = base.filter((row) => !removedIds.has(this.playerOf(row)) && !changedIds.has(this.playerOf(row)));
    table.push(...changed);
    table.sort((a, b) => this.playerOf(a) - this.playerOf(b));
    return table;
  }

  /** The newest view, sorted by id (empty before the first snapshot). Do not modify it. */
  view() {
    return this.history.length ? this.history[this.history.length - 1].view : [];
  }

  /** The stats table as of the newest snapshot, sorted by player id. */
  scores() {
    return this.history.length ? this.history[this.history.length - 1].scores : [];
  }

  /** The tick to acknowledge: the newest decoded snapshot's (0 before the first). */
  ackTick() {
    return this.history.length ? this.history[this.history.length - 1].tick : 0;
  }

  /** Number of views held as possible baselines. */
  held() {
    return this.history.length;
  }

  /** Looks a record up by id in the newest view (undefined when absent). */
  entity(id) {
    const view = this.view();
    let low = 0;
    let high = view.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.idOf(view[middle]) < id) low = middle + 1;
      else high = middle;
    }
    return low < view.length && this.idOf(view[low]) === id ? view[low] : undefined;
  }

  /** Forgets every view, so the next acknowledgement is 0 and the server sends a full snapshot. */
  reset() {
    this.history = [];
  }
}
