//! Client-side prediction of the own player, and interpolation of everyone else.
//!
//! [`Predictor`] runs tickwire-sim's `move_player` on the inputs the server has not yet
//! acknowledged, starting from the last authoritative state, so the own player moves at once;
//! each snapshot corrects it (reconciliation), and a correction is smoothed away over a few
//! frames instead of snapping. [`Interpolator`] keeps recent snapshots and places other
//! entities a little in the past, between two snapshots, so they move smoothly whatever the
//! jitter.

use std::collections::VecDeque;

use tickwire_net::convert::{input_from_wire, map_from_info};
use tickwire_protocol::delta::flags;
use tickwire_protocol::{EntityState, InputCmd, MoveRules, Welcome, quant};
use tickwire_sim::{Map, PlayerInput, Rules, Vec2, move_player};

/// A correction larger than this (meters) is counted.
pub const CORRECTION_THRESHOLD_M: f32 = 0.05;
/// Inputs remembered for replay at most (older ones are dropped: the server is far behind).
const PENDING_MAX: usize = 128;
/// Prediction errors kept at most (about 36 minutes at 30 Hz). When full, every other one is
/// dropped and from then on only every other new one is kept (and so on), so a bot that runs
/// for days keeps an evenly thinned sample in bounded memory.
const ERRORS_KEPT_MAX: usize = 1 << 16;

/// Predicts the own player's position from unacknowledged inputs.
#[derive(Debug)]
pub struct Predictor {
    map: Map,
    rules: Rules,
    dt: f32,
    /// Inputs sent and not yet acknowledged, with the position predicted after each.
    pending: VecDeque<Pending>,
    /// The predicted state after the newest input.
    state: Option<(Vec2, Vec2)>,
    /// Visual offset left by the last correction; decays toward zero.
    smoothing: Vec2,
    errors_m: ThinnedSample,
    corrections: u64,
    /// Whether the own entity was alive in the last snapshot.
    alive: bool,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    seq: u32,
    input: PlayerInput,
    /// Where the prediction put the player after this input (None: made before any snapshot).
    predicted: Option<Vec2>,
}

impl Predictor {
    /// A predictor for the room a Welcome describes.
    pub fn new(welcome: &Welcome) -> Predictor {
        Predictor {
            map: map_from_info(&welcome.map),
            rules: rules_from_wire(&welcome.rules),
            dt: 1.0 / welcome.tick_rate.max(1) as f32,
            pending: VecDeque::new(),
            state: None,
            smoothing: Vec2::ZERO,
            errors_m: ThinnedSample::new(ERRORS_KEPT_MAX),
            corrections: 0,
            alive: true,
        }
    }

    /// Applies a new input at once (it is what the player just did). `cmd` is the quantized
    /// input exactly as sent, so the prediction sees what the server will see.
    pub fn handle_input(&mut self, seq: u32, cmd: &InputCmd) {
        let input = input_from_wire(cmd);
        // Before the first snapshot there is nothing to predict from, but the input is kept:
        // the first reconciliation replays it.
        let predicted = self.state.map(|(pos, vel)| {
            let (pos, vel) = move_player(&self.rules, &self.map, self.dt, pos, vel, &input);
            self.state = Some((pos, vel));
            pos
        });
        self.pending.push_back(Pending {
            seq,
            input,
            predicted,
        });
        while self.pending.len() > PENDING_MAX {
            self.pending.pop_front();
        }
    }

    /// Reconciles with a snapshot: `own` is the authoritative state, after the server applied
    /// inputs up to `last_input`. Records the prediction error for that input and replays the
    /// inputs after it.
    pub fn handle_snapshot(&mut self, own: &EntityState, last_input: u32) {
        let authoritative = (
            Vec2::new(quant::pos_from_wire(own.x), quant::pos_from_wire(own.y)),
            Vec2::new(
                quant::vel_from_wire(own.vx, self.dt),
                quant::vel_from_wire(own.vy, self.dt),
            ),
        );
        // Death and respawn are the server's to decide: while dead, and on the snapshot that
        // brings the player back (a teleport to a spawn point), follow the server without
        // counting errors or corrections.
        let alive = own.flags & flags::ALIVE != 0;
        let was_alive = std::mem::replace(&mut self.alive, alive);
        if !alive || !was_alive {
            self.state = Some(if alive {
                self.reconcile(authoritative, last_input)
            } else {
                self.forget(last_input);
                for pending in &mut self.pending {
                    pending.predicted = None;
                }
                authoritative
            });
            self.smoothing = Vec2::ZERO;
            return;
        }
        let before = self.state.map(|(pos, _)| pos);
        // The error of the prediction made for exactly this input.
        if let Some(predicted) = self
            .pending
            .iter()
            .find(|pending| pending.seq == last_input)
            .and_then(|pending| pending.predicted)
        {
            self.errors_m.record(predicted.distance(authoritative.0));
        }
        let (pos, vel) = self.reconcile(authoritative, last_input);
        self.state = Some((pos, vel));
        if let Some(before) = before {
            let jump = before - pos;
            if jump.length() > CORRECTION_THRESHOLD_M {
                self.corrections += 1;
                // Show the old position and glide to the new one.
                self.smoothing += jump;
            }
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

    /// Replays the inputs after `last_input` on the authoritative state; returns the new
    /// predicted state.
    fn reconcile(&mut self, authoritative: (Vec2, Vec2), last_input: u32) -> (Vec2, Vec2) {
        self.forget(last_input);
        let (mut pos, mut vel) = authoritative;
        for pending in &mut self.pending {
            (pos, vel) = move_player(&self.rules, &self.map, self.dt, pos, vel, &pending.input);
            pending.predicted = Some(pos);
        }
        (pos, vel)
    }

    /// The position to show for the own player (prediction plus the fading correction), and
    /// advances the smoothing by one frame of `frame_dt` seconds.
    pub fn display_position(&mut self, frame_dt: f32) -> Option<Vec2> {
        let (pos, _) = self.state?;
        let shown = pos + self.smoothing;
        // Halve the offset every 50 ms.
        self.smoothing *= 0.5f32.powf(frame_dt / 0.05);
        if self.smoothing.length() < 0.001 {
            self.smoothing = Vec2::ZERO;
        }
        Some(shown)
    }

    /// The predicted position (no smoothing).
    pub fn position(&self) -> Option<Vec2> {
        self.state.map(|(pos, _)| pos)
    }

    /// Prediction errors measured so far, in meters, one per acknowledged input that was
    /// predicted (an evenly thinned sample of them after [`ERRORS_KEPT_MAX`]).
    pub fn errors_m(&self) -> &[f32] {
        &self.errors_m.kept
    }

    /// The largest prediction error measured, in meters (0 before any).
    pub fn max_error_m(&self) -> f32 {
        self.errors_m.max
    }

    /// Corrections larger than [`CORRECTION_THRESHOLD_M`].
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

/// The simulation rules from the Welcome's movement rules (other fields keep their defaults:
/// only movement is predicted).
pub fn rules_from_wire(rules: &MoveRules) -> Rules {
    Rules {
        player_radius: rules.player_radius,
        player_max_speed: rules.max_speed,
        player_accel: rules.accel,
        player_friction: rules.friction,
        ..Rules::default()
    }
}

/// Places other entities between past snapshots.
#[derive(Debug)]
pub struct Interpolator {
    /// Recent snapshots (tick, arrival time in seconds, view), oldest first.
    frames: VecDeque<(u32, f64, Vec<EntityState>)>,
    tick_length: f64,
    /// Running estimate of arrival jitter (seconds).
    jitter: f64,
    /// The last render tick returned, so time never goes backwards.
    last_render_tick: f64,
    /// Offset between server ticks and local time, smoothed.
    clock_offset: Option<f64>,
    /// A dropped frame's view buffer, reused for the next snapshot.
    spare: Option<Vec<EntityState>>,
}

/// Snapshots an interpolator holds at most (when nothing is rendered, nothing is dropped as
/// used up, so this is the bound).
const FRAMES_MAX: usize = 32;

impl Interpolator {
    /// An interpolator for a room with this tick rate.
    pub fn new(tick_rate: u32) -> Interpolator {
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
    pub fn handle_snapshot(&mut self, tick: u32, now: f64, view: &[EntityState]) {
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

    /// Where entity `id` is shown at `render_tick` (meters), interpolated between the two
    /// snapshots around it, or extrapolated from the newest along its velocity. `render_tick`
    /// comes from [`Interpolator::render_tick`]: snapshots older than the last one returned
    /// are dropped once used up.
    pub fn position(&self, id: u32, render_tick: f64) -> Option<Vec2> {
        let find = |view: &Vec<EntityState>| {
            view.binary_search_by_key(&id, |state| state.id)
                .ok()
                .map(|index| view[index])
        };
        let at = |state: &EntityState| {
            Vec2::new(quant::pos_from_wire(state.x), quant::pos_from_wire(state.y))
        };
        let after = self
            .frames
            .iter()
            .position(|(tick, _, _)| *tick as f64 >= render_tick);
        match after {
            Some(0) => self
                .frames
                .front()
                .and_then(|(_, _, view)| find(view))
                .map(|state| at(&state)),
            Some(index) => {
                let (tick_b, _, view_b) = &self.frames[index];
                let (tick_a, _, view_a) = &self.frames[index - 1];
                match (find(view_a), find(view_b)) {
                    (Some(a), Some(b)) => {
                        let t = ((render_tick - *tick_a as f64) / (*tick_b as f64 - *tick_a as f64))
                            as f32;
                        Some(at(&a).lerp(at(&b), t.clamp(0.0, 1.0)))
                    }
                    (None, Some(b)) => Some(at(&b)),
                    (Some(a), None) => Some(at(&a)),
                    (None, None) => None,
                }
            }
            None => {
                let (tick, _, view) = self.frames.back()?;
                let state = find(view)?;
                let ahead = (render_tick - *tick as f64) as f32;
                let velocity = Vec2::new(state.vx as f32, state.vy as f32) / quant::POS_UNITS_PER_M;
                Some(at(&state) + velocity * ahead)
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
