// The per-tick input schedule: one command per server tick, numbered, sent with the snapshot
// acknowledgement and resent until the server reports it applied (Snapshot.last_input), at most
// INPUTS_PER_MSG_MAX per message, at a message rate inside the server's budget. Game-agnostic:
// commands are whatever the game's sampling returns; the schedule only numbers, keeps and sends
// them.

import { LIMITS } from "./protocol.js";

/** Input messages per second at most (the server's default budget is 90 messages a second). */
export const MESSAGES_PER_S_MAX = 60;
/** Commands kept for resending; the oldest unacknowledged ones beyond this are forgotten. */
export const PENDING_MAX = 64;

export class InputSchedule {
  /**
   * `withViewAge(cmd, age)` returns the command with its view age set (the game's
   * Command::with_view_age; the default leaves the command as it is).
   */
  constructor(withViewAge = (cmd) => cmd) {
    this.withViewAge = withViewAge;
    /** The next sequence number; it continues across resumed connections. */
    this.nextSeq = 1;
    /** Commands not yet applied by the server: {seq, cmd, viewTick}, oldest first. */
    this.pending = [];
    this.sendEvery = 1;
    this.ticksSinceSend = 0;
    this.lastAckSent = 0;
    /** A resumed session waits for a snapshot to learn which command the server applied last. */
    this.waitForSnapshot = false;
  }

  /**
   * A Welcome arrived: a fresh player numbers from 1, a resumed one numbers on from where the
   * server stands (known at its first snapshot). Commands of the previous connection are dropped.
   */
  handleWelcome(tickRate, resumed) {
    if (!resumed) this.nextSeq = 1;
    this.pending = [];
    this.sendEvery = Math.max(1, Math.ceil(tickRate / MESSAGES_PER_S_MAX));
    this.ticksSinceSend = 0;
    this.lastAckSent = 0;
    this.waitForSnapshot = resumed;
  }

  /** A snapshot reported the last command the server applied: stop resending up to it. */
  handleSnapshot(lastInput) {
    if (this.waitForSnapshot) {
      this.nextSeq = Math.max(this.nextSeq, lastInput + 1);
      this.waitForSnapshot = false;
    }
    while (this.pending.length > 0 && this.pending[0].seq <= lastInput) this.pending.shift();
  }

  /** Whether a command may be sampled this tick (a resumed session waits for its snapshot). */
  ready() {
    return !this.waitForSnapshot;
  }

  /**
   * One tick of a player: numbers `cmd`, sampled while others were shown at `viewTick`, and
   * returns {seq, message}: the Input message to send this tick (null on ticks that send
   * nothing). Each message turns every command's view tick into a view age relative to its own
   * ack_tick, so resends stay correct as the acknowledgement moves on.
   */
  handleCommand(cmd, viewTick, ackTick) {
    const seq = this.nextSeq;
    this.nextSeq += 1;
    this.pending.push({ seq, cmd, viewTick });
    while (this.pending.length > PENDING_MAX) this.pending.shift();
    this.ticksSinceSend += 1;
    // One message per tick; above 60 Hz one every few ticks (each carries the unacknowledged
    // commands anyway), so the message rate stays inside the server's default budget.
    if (this.ticksSinceSend < this.sendEvery) return { seq, message: null };
    this.ticksSinceSend = 0;
    const resend = this.pending.slice(-LIMITS.INPUTS_PER_MSG_MAX);
    const cmds = resend.map((entry) =>
      this.withViewAge(entry.cmd, Math.min(255, Math.max(0, ackTick - entry.viewTick))),
    );
    this.lastAckSent = ackTick;
    return { seq, message: { Input: { ack_tick: ackTick, first_seq: resend[0].seq, cmds } } };
  }

  /**
   * One tick of a spectator (or of a player with nothing to send): an acknowledgement-only
   * Input when there is something new to acknowledge, else null.
   */
  handleIdle(ackTick) {
    this.ticksSinceSend += 1;
    if (ackTick === 0 || ackTick === this.lastAckSent || this.ticksSinceSend < this.sendEvery) return null;
    this.ticksSinceSend = 0;
    this.lastAckSent = ackTick;
    return { Input: { ack_tick: ackTick, first_seq: 0, cmds: [] } };
  }
}
