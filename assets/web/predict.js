// Client-side prediction of the own entity, for any game (the browser's twin of the bot's
// Predictor, crates/bot/src/predict.rs).
//
// The Predictor runs the game's prediction rules on the commands the server has not yet applied,
// starting from the last authoritative state, so the own entity responds at once; each snapshot
// corrects it (reconciliation), and the error of each acknowledged prediction is measured. The
// game supplies the rules as a prediction object (README.md: `prediction(welcome)`):
//   state(record, predicted)  the authoritative state in the own record; `predicted` is what this
//                             client predicted for the same command (or undefined), which a game
//                             whose records are rounded may return when it rounds to the record
//   step(state, cmd)          one tick of the rules: `state` after `cmd`
//   error(a, b)               how far apart two states are (meters, or the game's unit)
//   correctionThreshold       errors above it count as corrections (default 0.05)
//   followsServer(record)     true while the server alone decides (dead, respawning): the state
//                             follows the record and commands are not replayed (default false)

/** Commands remembered for replay at most (older ones are dropped: the server is far behind). */
const PENDING_MAX = 128;
/** Prediction errors kept (the newest) for the status line and the test hook. */
const ERRORS_KEPT = 300;

export class Predictor {
  constructor(prediction) {
    this.prediction = prediction;
    /** Commands sent and not yet applied: {seq, cmd, predicted} (predicted: the state after it). */
    this.pending = [];
    /** The predicted state after the newest command (null before the first snapshot). */
    this.current = null;
    /** Whether the server alone decided the own entity in the last snapshot. */
    this.following = false;
    /** The newest prediction errors, one per applied command that was predicted. */
    this.errors = [];
    /** Corrections larger than the game's threshold. */
    this.corrections = 0;
  }

  /** The predicted state after the newest command (null before the first snapshot). */
  state() {
    return this.current;
  }

  /**
   * Applies a new command at once (what the player just did), exactly as sent. Returns
   * {before, after}: the predicted state before and after it (both null before the first
   * snapshot; equal while following the server).
   */
  handleInput(seq, cmd) {
    const before = this.current;
    // Before the first snapshot there is nothing to predict from, but the command is kept: the
    // first reconciliation replays it. While the server decides, nothing moves.
    let predicted;
    if (before !== null && !this.following) {
      this.current = this.prediction.step(before, cmd);
      predicted = this.current;
    }
    this.pending.push({ seq, cmd, predicted });
    while (this.pending.length > PENDING_MAX) this.pending.shift();
    return { before, after: this.current };
  }

  /**
   * Reconciles with a snapshot: `own` is the authoritative record, after the server applied
   * commands up to `lastInput`. Records the prediction error for that command and replays the
   * commands after it. Returns {before, after, following}: the prediction before and after (the
   * difference is the correction), and whether the server alone decides now.
   */
  handleSnapshot(own, lastInput) {
    const before = this.current;
    const mine = this.pending.find((pending) => pending.seq === lastInput)?.predicted;
    const authoritative = this.prediction.state(own, mine);
    const following = this.prediction.followsServer?.(own) ?? false;
    const wasFollowing = this.following;
    this.following = following;
    if (following || wasFollowing) {
      // What the server alone decides (death, respawn: a teleport) is followed without counting
      // errors or corrections, on the snapshot that ends it too.
      if (following) {
        this.forget(lastInput);
        for (const pending of this.pending) pending.predicted = undefined;
        this.current = authoritative;
      } else {
        this.current = this.reconcile(authoritative, lastInput);
      }
      return { before, after: this.current, following };
    }
    if (mine !== undefined) {
      this.errors.push(this.prediction.error(mine, authoritative));
      if (this.errors.length > ERRORS_KEPT) this.errors.shift();
    }
    this.current = this.reconcile(authoritative, lastInput);
    if (before !== null && this.prediction.error(before, this.current) > (this.prediction.correctionThreshold ?? 0.05)) {
      this.corrections += 1;
    }
    return { before, after: this.current, following };
  }

  /** Drops the commands the server has applied (up to `lastInput`). */
  forget(lastInput) {
    while (this.pending.length > 0 && this.pending[0].seq <= lastInput) this.pending.shift();
  }

  /** Replays the commands after `lastInput` on the authoritative state; returns the result. */
  reconcile(authoritative, lastInput) {
    this.forget(lastInput);
    let state = authoritative;
    for (const pending of this.pending) {
      state = this.prediction.step(state, pending.cmd);
      pending.predicted = state;
    }
    return state;
  }
}
