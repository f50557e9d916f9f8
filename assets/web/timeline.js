// The timeline: which server tick to show others at (a little in the past, so there are two
// snapshots to interpolate between), the recent views to interpolate with, and events held back
// until the shown tick reaches them. Game-agnostic: a game turns the records around the render
// tick into whatever it draws.

/**
 * Estimates the server tick from snapshot arrivals and picks the render tick: (estimated tick -
 * delay), delay = 2 snapshot intervals + twice the arrival jitter, never going back in time.
 * Times are milliseconds (performance.now()).
 */
export class Timeline {
  constructor(tickRate, snapshotInterval) {
    this.tickMs = 1000 / tickRate;
    this.snapshotInterval = snapshotInterval;
    /** Server tick minus local time in ticks, filtered over arrivals (null before the first). */
    this.offset = null;
    /** Mean absolute deviation of arrivals from the filtered offset, in ticks. */
    this.jitter = 0;
    /** The current delay in ticks; follows its target smoothly so the view does not jump. */
    this.delay = 2 * snapshotInterval;
    this.lastRenderTick = -Infinity;
  }

  /** A snapshot of `tick` arrived at local time `now`. */
  handleSnapshot(tick, now) {
    const sample = tick - now / this.tickMs;
    if (this.offset === null || Math.abs(sample - this.offset) > 2 * this.snapshotInterval + 30) {
      // First snapshot, or a jump (a resumed session, a tab that slept): start over.
      this.offset = sample;
      this.jitter = 0;
      this.lastRenderTick = -Infinity;
      return;
    }
    const error = sample - this.offset;
    // Early arrivals mean our estimate lags: follow them faster than late ones (late is jitter).
    this.offset += error * (error > 0 ? 0.2 : 0.05);
    this.jitter += (Math.abs(error) - this.jitter) * 0.1;
    const target = 2 * this.snapshotInterval + 2 * this.jitter;
    this.delay += (target - this.delay) * 0.1;
  }

  /** The estimated server tick now (fractional; 0 before the first snapshot). */
  serverTick(now) {
    return this.offset === null ? 0 : now / this.tickMs + this.offset;
  }

  /** The tick to show others at: never earlier than the last one returned. */
  renderTick(now) {
    const target = this.serverTick(now) - this.delay;
    if (target > this.lastRenderTick) this.lastRenderTick = target;
    return this.lastRenderTick;
  }

  /** The interpolation delay in ticks (how far behind the estimated server tick we show). */
  delayTicks(now) {
    if (this.offset === null) return 0;
    return Math.max(0, this.serverTick(now) - Math.max(this.lastRenderTick, this.serverTick(now) - this.delay));
  }
}

/**
 * Recent decoded views, to show records as they were at a render tick (the browser's twin of
 * the bot's Interpolator). `idOf` reads a record's id (default: its `id` field).
 */
export class Frames {
  constructor(max = 64, idOf = (record) => record.id) {
    this.max = max;
    this.idOf = idOf;
    /** {tick, view, byId}, oldest first. */
    this.frames = [];
  }

  /** Keeps the view of a snapshot (an array of records sorted by id; not copied, not modified). */
  handleSnapshot(tick, view) {
    this.frames.push({ tick, view, byId: new Map(view.map((record) => [this.idOf(record), record])) });
    while (this.frames.length > this.max) this.frames.shift();
  }

  /** Forgets every view. */
  clear() {
    this.frames = [];
  }

  /** Frames held. */
  held() {
    return this.frames.length;
  }

  /**
   * Every record shown at `renderTick`: one entry per record of the frame at or before it (the
   * oldest frame when the render tick is earlier than all of them), as {from, to, t, span, ahead}:
   * - between two frames: `from` in the older, `to` in the newer (null when it left), `t` in
   *   0..1 how far along, `span` the ticks between the two frames, `ahead` 0;
   * - past the newest frame: `from` in it, `to` null, `t` 0, `span` 0, `ahead` the ticks since
   *   it (the game extrapolates, or not, and caps it);
   * - before the oldest: `from` in it, `to` null, `t` 0, `span` 0, `ahead` 0.
   * Records that appear only in the newer frame are not shown until the render tick reaches it.
   */
  sample(renderTick) {
    if (this.frames.length === 0) return [];
    let older = this.frames[0];
    let newer = null;
    for (let index = this.frames.length - 1; index >= 0; index--) {
      if (this.frames[index].tick <= renderTick) {
        older = this.frames[index];
        newer = this.frames[index + 1] ?? null;
        break;
      }
    }
    const out = [];
    if (renderTick < older.tick || newer === null) {
      const ahead = newer === null ? Math.max(renderTick - older.tick, 0) : 0;
      for (const from of older.view) out.push({ from, to: null, t: 0, span: 0, ahead });
      return out;
    }
    const span = newer.tick - older.tick;
    const t = (renderTick - older.tick) / span;
    for (const from of older.view) {
      out.push({ from, to: newer.byId.get(this.idOf(from)) ?? null, t, span, ahead: 0 });
    }
    return out;
  }
}

/**
 * Events held back until the shown tick reaches theirs, so an event is seen together with the
 * view it belongs to (another player's action, say). Entries are kept in arrival order; an
 * Events message's tick never goes back within a connection.
 */
export class EventQueue {
  constructor(max = 256) {
    /** The most events held (a hidden tab renders nothing, so nothing is taken): oldest dropped. */
    this.max = max;
    this.pending = [];
  }

  /** Holds `event` until the render tick reaches `tick`. */
  push(tick, event) {
    this.pending.push({ tick, event });
    while (this.pending.length > this.max) this.pending.shift();
  }

  /** The events now due (tick at or before `renderTick`), oldest first, removed from the queue. */
  takeDue(renderTick) {
    let due = 0;
    while (due < this.pending.length && this.pending[due].tick <= renderTick) due += 1;
    return this.pending.splice(0, due).map((entry) => entry.event);
  }

  /** Events waiting. */
  get length() {
    return this.pending.length;
  }
}
