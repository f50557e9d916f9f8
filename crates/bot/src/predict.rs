//! Client-side prediction of the own entity, and interpolation of everyone else, for any game.
//!
//! [`Predictor`] runs the game's [`Prediction`] on the commands the server has not yet
//! acknowledged, starting from the last authoritative state, so the own entity responds at
//! once; each snapshot corrects it (reconciliation) and the error of each acknowledged
//! prediction is measured. [`Interpolator`] keeps recent views and finds, for any entity, the
//! two records around a render time a little in the past ([`Sample`]); the game turns those
//! into a position, so others move smoothly whatever the jitter.

use std::collections::VecDeque;

use tickwire_protocol::{Record, Schema, Welcome};

use crate::game::Prediction;

/// Commands remembered for replay at most (older ones are dropped: the server is far behind).
const PENDING_MAX: usize = 128;
/// Prediction errors kept at most (about 36 minutes at 30 Hz). When full, every other one is
/// dropped and from then on only every other new one is kept (and so on), so a bot that runs
/// for days keeps an evenly thinned sample in bounded memory.
const ERRORS_KEPT_MAX: usize = 1 << 16;

/// Predicts the own entity from unacknowledged commands, with a game's [`Prediction`].
#[derive(Debug)]
pub struct Predictor<G: Schema, P: Prediction<G>> {
    prediction: P,
    /// Commands sent and not yet acknowledged, with the state predicted after each.
    pending: VecDeque<Pending<G, P::State>>,
    /// The predicted state after the newest command.
    state: Option<P::State>,
    errors: ThinnedSample,
    corrections: u64,
    /// Whether the server alone decided the own entity in the last snapshot.
    following: bool,
}

#[derive(Debug)]
struct Pending<G: Schema, S> {
    seq: u32,
    input: G::Input,
    /// The prediction after this command (None: made before any snapshot, or while following
    /// the server).
    predicted: Option<S>,
}

impl<G: Schema, P: Prediction<G>> Predictor<G, P> {
    /// A predictor for the session a Welcome describes; None when the game predicts nothing.
    pub fn new(welcome: &Welcome<G::Setup>) -> Option<Predictor<G, P>> {
        Some(Predictor {
            prediction: P::new(welcome)?,
            pending: VecDeque::new(),
            state: None,
            errors: ThinnedSample::new(ERRORS_KEPT_MAX),
            corrections: 0,
            following: false,
        })
    }

    /// Applies a new command at once (it is what the player just did): `input` exactly as
    /// sent, so the prediction sees what the server will see.
    pub fn handle_input(&mut self, seq: u32, input: &G::Input) {
        // Before the first snapshot there is nothing to predict from, but the command is kept:
        // the first reconciliation replays it.
        let predicted = self.state.map(|state| {
            let next = self.prediction.step(state, input);
            self.state = Some(next);
            next
        });
        self.pending.push_back(Pending {
            seq,
            input: *input,
            predicted,
        });
        while self.pending.len() > PENDING_MAX {
            self.pending.pop_front();
        }
    }

    /// Reconciles with a snapshot: `own` is the authoritative record, after the server applied
    /// commands up to `last_input`. Records the prediction error for that command and replays
    /// the commands after it.
    pub fn handle_snapshot(&mut self, own: &G::Record, last_input: u32) {
        let authoritative = self.prediction.state(own);
        // What the server alone decides (death, respawn: a teleport) is followed without
        // counting errors or corrections, on the snapshot that ends it too.
        let following = self.prediction.follows_server(own);
        let was_following = std::mem::replace(&mut self.following, following);
        if following || was_following {
            self.state = Some(if following {
                self.forget(last_input);
                for pending in &mut self.pending {
                    pending.predicted = None;
                }
                authoritative
            } else {
                self.reconcile(authoritative, last_input)
            });
            return;
        }
        let before = self.state;
        // The error of the prediction made for exactly this command.
        if let Some(predicted) = self
            .pending
            .iter()
            .find(|pending| pending.seq == last_input)
            .and_then(|pending| pending.predicted)
        {
            self.errors
                .record(self.prediction.error(&predicted, &authoritative));
        }
        let state = self.reconcile(authoritative, last_input);
        self.state = Some(state);
        if let Some(before) = before
            && self.prediction.error(&before, &state) > self.prediction.correction_threshold()
        {
            self.corrections += 1;
        }
    }

    /// Drops the inputs the server has applied (up to `last_input`).
    fn forget(&mut self, last_input: u32) {
        while self
            .pending
            .front()
            .is_some_and(|pending| pending.seq <= last_input)
        {
            self.pending.pop_front();
        }
    }

    /// Replays the commands after `last_input` on the authoritative state; returns the new
    /// predicted state.
    fn reconcile(&mut self, authoritative: P::State, last_input: u32) -> P::State {
        self.forget(last_input);
        let mut state = authoritative;
        for pending in &mut self.pending {
            state = self.prediction.step(state, &pending.input);
            pending.predicted = Some(state);
        }
        state
    }

    /// The predicted state after the newest command (None before the first snapshot).
    pub fn state(&self) -> Option<P::State> {
        self.state
    }

    /// The game's prediction rules.
    pub fn prediction(&self) -> &P {
        &self.prediction
    }

    /// Prediction errors measured so far, one per acknowledged command that was predicted (an
    /// evenly thinned sample of them after [`ERRORS_KEPT_MAX`]).
    pub fn errors(&self) -> &[f32] {
        &self.errors.kept
    }

    /// The largest prediction error measured (0 before any).
    pub fn max_error(&self) -> f32 {
        self.errors.max
    }

    /// Corrections larger than the game's threshold.
    pub fn corrections(&self) -> u64 {
        self.corrections
    }
}

/// A bounded, evenly thinned sample of a long series: the `n`-th value is kept while
/// `n % stride == 0`, and the stride doubles (dropping every other kept value) whenever the
/// sample is full. The maximum is exact.
#[derive(Debug)]
struct ThinnedSample {
    kept: Vec<f32>,
    cap: usize,
    stride: u64,
    seen: u64,
    max: f32,
}

impl ThinnedSample {
    fn new(cap: usize) -> ThinnedSample {
        ThinnedSample {
            kept: Vec::new(),
            cap: cap.max(2),
            stride: 1,
            seen: 0,
            max: 0.0,
        }
    }

    fn record(&mut self, value: f32) {
        self.max = self.max.max(value);
        self.seen += 1;
        if !self.seen.is_multiple_of(self.stride) {
            return;
        }
        if self.kept.len() >= self.cap {
            // Kept values are those at stride, 2 x stride, ...: keep the even multiples.
            let mut position = 0;
            self.kept.retain(|_| {
                position += 1;
                position % 2 == 0
            });
            self.stride *= 2;
            if !self.seen.is_multiple_of(self.stride) {
                return;
            }
        }
        self.kept.push(value);
    }
}

/// Where a render time falls for one entity, between the views an [`Interpolator`] holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sample<'a, R> {
    /// Between two snapshots: `from` at 0, `to` at 1, and how far along.
    Between {
        /// The record in the snapshot before.
        from: &'a R,
        /// The record in the snapshot after.
        to: &'a R,
        /// 0..=1.
        t: f32,
    },
    /// Only one record is usable (the entity entered or left in between, or the render time
    /// is before the oldest view): show it as it is.
    At(&'a R),
    /// Past the newest snapshot by this many ticks: extrapolate if the game can.
    Ahead(&'a R, f32),
}

/// Keeps recent views and places entities between them, a little in the past.
#[derive(Debug)]
pub struct Interpolator<R> {
    /// Recent snapshots (tick, arrival time in seconds, view), oldest first.
    frames: VecDeque<(u32, f64, Vec<R>)>,
    tick_length: f64,
    /// Running estimate of arrival jitter (seconds).
    jitter: f64,
    /// The last render tick returned, so time never goes backwards.
    last_render_tick: f64,
    /// Offset between server ticks and local time, smoothed.
    clock_offset: Option<f64>,
    /// A dropped frame's view buffer, reused for the next snapshot.
    spare: Option<Vec<R>>,
}

/// Snapshots an interpolator holds at most (when nothing is rendered, nothing is dropped as
/// used up, so this is the bound).
const FRAMES_MAX: usize = 32;

impl<R: Record> Interpolator<R> {
    /// An interpolator for a room with this tick rate.
    pub fn new(tick_rate: u32) -> Interpolator<R> {
        Interpolator {
            frames: VecDeque::new(),
            tick_length: 1.0 / tick_rate.max(1) as f64,
            jitter: 0.0,
            last_render_tick: 0.0,
            clock_offset: None,
            spare: None,
        }
    }

    /// Records a decoded snapshot that arrived at local time `now` (seconds).
    pub fn handle_snapshot(&mut self, tick: u32, now: f64, view: &[R]) {
        // Estimate the server clock: tick * tick_length ~ now + offset.
        let offset = tick as f64 * self.tick_length - now;
        match self.clock_offset {
            None => self.clock_offset = Some(offset),
            Some(previous) => {
                // Late arrivals show up as a smaller offset; track the deviation as jitter.
                let deviation = (previous - offset).max(0.0);
                self.jitter = self.jitter * 0.9 + deviation * 0.1;
                // Follow the earliest-arriving (least delayed) snapshots, drifting slowly.
                self.clock_offset = Some(if offset > previous {
                    offset
                } else {
                    previous * 0.99 + offset * 0.01
                });
            }
        }
        // Render time never goes back, so a frame whose successor is already behind the last
        // render tick can never be used again: drop it (keeping its buffer for the next view).
        while self.frames.len() >= 2 && (self.frames[1].0 as f64) < self.last_render_tick {
            self.spare = self.frames.pop_front().map(|(_, _, view)| view);
        }
        let mut buffer = if self.frames.len() >= FRAMES_MAX {
            self.frames
                .pop_front()
                .map(|(_, _, view)| view)
                .unwrap_or_default()
        } else {
            self.spare.take().unwrap_or_default()
        };
        buffer.clear();
        buffer.extend_from_slice(view);
        self.frames.push_back((tick, now, buffer));
    }

    /// Snapshots held: those the next render may still use, newest last.
    pub fn held(&self) -> usize {
        self.frames.len()
    }

    /// The interpolation delay in ticks: two snapshot intervals plus a jitter margin.
    pub fn delay_ticks(&self) -> f64 {
        2.0 + (2.0 * self.jitter / self.tick_length).min(6.0)
    }

    /// The server tick (fractional) to show others at, at local time `now`; never decreases.
    pub fn render_tick(&mut self, now: f64) -> f64 {
        let Some(offset) = self.clock_offset else {
            return 0.0;
        };
        let server_now = (now + offset) / self.tick_length;
        let target = server_now - self.delay_ticks();
        // Bounded extrapolation: never more than ~100 ms past the newest snapshot.
        let newest = self.frames.back().map_or(0.0, |(tick, _, _)| *tick as f64);
        let limit = newest + 0.1 / self.tick_length;
        let render = target.min(limit).max(self.last_render_tick);
        self.last_render_tick = render;
        render
    }

    /// Where entity `id` is at `render_tick`: the records around it (see [`Sample`]), or None
    /// when no held view has it. `render_tick` comes from [`Interpolator::render_tick`]:
    /// snapshots older than the last one returned are dropped once used up.
    pub fn sample(&self, id: u32, render_tick: f64) -> Option<Sample<'_, R>> {
        fn find<R: Record>(view: &[R], id: u32) -> Option<&R> {
            view.binary_search_by_key(&id, |record| record.id())
                .ok()
                .map(|index| &view[index])
        }
        let after = self
            .frames
            .iter()
            .position(|(tick, _, _)| *tick as f64 >= render_tick);
        match after {
            Some(0) => self
                .frames
                .front()
                .and_then(|(_, _, view)| find(view, id))
                .map(Sample::At),
            Some(index) => {
                let (tick_b, _, view_b) = &self.frames[index];
                let (tick_a, _, view_a) = &self.frames[index - 1];
                match (find(view_a, id), find(view_b, id)) {
                    (Some(from), Some(to)) => {
                        let t = ((render_tick - *tick_a as f64) / (*tick_b as f64 - *tick_a as f64))
                            as f32;
                        Some(Sample::Between {
                            from,
                            to,
                            t: t.clamp(0.0, 1.0),
                        })
                    }
                    (None, Some(only)) | (Some(only), None) => Some(Sample::At(only)),
                    (None, None) => None,
                }
            }
            None => {
                let (tick, _, view) = self.frames.back()?;
                let record = find(view, id)?;
                Some(Sample::Ahead(record, (render_tick - *tick as f64) as f32))
            }
        }
    }
}

/// p50, p99 and max of a sample, in its units (zeros when empty).
pub fn quantiles(sample: &[f32]) -> (f32, f32, f32) {
    if sample.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let mut sorted = sample.to_vec();
    sorted.sort_by(f32::total_cmp);
    let pick =
        |q: f64| sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1];
    (pick(0.5), pick(0.99), sorted[sorted.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinned_sample_stays_bounded_even_and_exact_at_the_max() {
        let mut sample = ThinnedSample::new(8);
        for n in 1..=1000u32 {
            sample.record(n as f32);
            assert!(sample.kept.len() <= 8);
        }
        // 1,000 values into 8 slots: stride 128, so the multiples of 128 remain.
        assert_eq!(sample.stride, 128);
        let expected: Vec<f32> = (1..=7).map(|k| (k * 128) as f32).collect();
        assert_eq!(sample.kept, expected);
        assert_eq!(sample.max, 1000.0);
        // Below the cap nothing is dropped.
        let mut small = ThinnedSample::new(8);
        for n in 1..=8u32 {
            small.record(n as f32);
        }
        assert_eq!(small.kept, (1..=8).map(|n| n as f32).collect::<Vec<_>>());
    }
}
