//! tickwire's fixed-tick simulation crate: the contract a game's simulation implements, and the
//! deterministic toolkit games build on.
//!
//! - [`Simulation`]: the fixed-step contract. A game's state advances only through
//!   [`Simulation::step`], which takes every command consumed this tick ([`TickInput`]s, in
//!   order) and pushes the tick's events. The same commands applied to the same state give the
//!   same state, bit for bit, which [`Simulation::state_hash`] proves cheaply; replays and the
//!   determinism tests rely on it.
//! - The toolkit: a seeded RNG ([`rng::Pcg32`]), a stable state hash ([`hash::Fnv64`]),
//!   position snapping to a power-of-two grid ([`snap`], so a wire delta can predict motion
//!   exactly), a uniform spatial grid for neighbour queries ([`grid::SpatialGrid`]), and a ring
//!   of past hitboxes for lag compensation ([`history::HitboxHistory`]).
//! - Identities: [`PlayerId`] and [`NetId`].
//!
//! What it deliberately does not do: no networking, no async runtime, no wall clock, no thread
//! RNG, no wire types, and no game rules: each game is its own crate (the arena shooter is
//! `tickwire-arena`).
//!
//! A game's simulation, driven as the room drives it:
//!
//! ```
//! use tickwire_sim::{PlayerId, Simulation, TickInput};
//!
//! /// Counts presses; the simplest deterministic game.
//! #[derive(Default)]
//! struct Counter {
//!     tick: u32,
//!     presses: u64,
//! }
//!
//! impl Simulation for Counter {
//!     type Input = bool;
//!     type Event = PlayerId;
//!
//!     fn tick(&self) -> u32 {
//!         self.tick
//!     }
//!
//!     fn step(&mut self, inputs: &[TickInput<bool>], events: &mut Vec<PlayerId>) {
//!         for input in inputs.iter().filter(|input| input.input) {
//!             self.presses += 1;
//!             events.push(input.player);
//!         }
//!         self.tick += 1;
//!     }
//!
//!     fn state_hash(&self) -> u64 {
//!         let mut hasher = tickwire_sim::hash::Fnv64::new();
//!         hasher.u32(self.tick);
//!         hasher.u64(self.presses);
//!         hasher.finish()
//!     }
//! }
//!
//! let mut game = Counter::default();
//! let mut events = Vec::new();
//! let press = TickInput { player: PlayerId(1), seq: 1, rewind: 0, input: true };
//! game.step(&[press], &mut events);
//! assert_eq!((game.tick(), events), (1, vec![PlayerId(1)]));
//! ```

pub mod grid;
pub mod hash;
pub mod history;
pub mod rng;

pub use glam::Vec2;

/// The fixed-step contract every game's simulation implements.
///
/// Call order: build the state (each game has its own constructor), then one
/// [`Simulation::step`] per tick, reading state in between. Players join and leave between
/// steps (through the game's own methods). Nothing else may change the state, so a recorded
/// match (the constructor's arguments, the joins and leaves, and every step's inputs) replays
/// to the same hashes.
pub trait Simulation {
    /// One player's command for one tick, as the rules take it.
    type Input;
    /// Something that happened during a step.
    type Event;

    /// Steps done so far (0 before the first).
    fn tick(&self) -> u32;

    /// Advances one fixed step. `inputs` holds every command consumed this tick, grouped by
    /// player and in sequence order within a player; the game folds several commands of one
    /// player as its rules say (buttons pressed in any, the last movement, every card played).
    /// Pushes this tick's events into `events` (without clearing it). Cannot fail or panic:
    /// invalid commands are clamped or refused as data.
    fn step(&mut self, inputs: &[TickInput<Self::Input>], events: &mut Vec<Self::Event>);

    /// A hash of the whole state, stable across runs and builds (see [`hash::Fnv64`]).
    fn state_hash(&self) -> u64;

    /// The hash a match log checks after every step (its low 16 bits), so a replay names the
    /// first step that differs. By default the whole [`Simulation::state_hash`]; a game may
    /// leave out state that is only a record of earlier steps' state (a history of past
    /// positions for lag compensation), which those steps' checks already covered, to keep
    /// recording cheap. The whole hash is still logged every few steps.
    fn check_hash(&self) -> u64 {
        self.state_hash()
    }
}

/// One command a player sent, consumed in this tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickInput<I> {
    /// Whose command.
    pub player: PlayerId,
    /// Its sequence number (each is consumed once); 0 for the idle command the room feeds
    /// once when a player's connection drops.
    pub seq: u32,
    /// Lag compensation: how many ticks before this one the player was showing the world
    /// when it sampled the command (0 for games that do not compensate). The game caps it.
    pub rewind: u32,
    /// The command.
    pub input: I,
}

/// Positions are snapped to this grid after every move (exact in f32 for |x| < 65536).
pub const POS_GRID: f32 = 1.0 / 256.0;

/// Rounds each axis of `v` to the nearest multiple of [`POS_GRID`].
///
/// Multiplying and dividing by a power of two is exact in f32, so the only rounding is the
/// `round` itself, and the sum of two snapped values (below 65536 m) is again snapped.
pub fn snap(v: Vec2) -> Vec2 {
    Vec2::new(snap_axis(v.x), snap_axis(v.y))
}

fn snap_axis(value: f32) -> f32 {
    round_half_away(value * (1.0 / POS_GRID)) * POS_GRID
}

/// Exactly [`f32::round`] (half away from zero, signed zeros kept), without the libm call the
/// baseline x86-64 target makes for it: snapping runs several times per entity per tick.
fn round_half_away(value: f32) -> f32 {
    // From 2^23 up every f32 is an integer; NaN and infinities are returned unchanged too.
    if value.is_nan() || value.abs() >= 8_388_608.0 {
        return value;
    }
    let truncated = (value as i32) as f32;
    // Exact: the fractional part of a float below 2^23 is representable. It has the sign of
    // `value`, so a half or more moves one step away from zero. Written without branches: the
    // comparison is a coin flip for positions, and a mispredicted branch costs more than this.
    let fraction = value - truncated;
    let away = f32::from(u8::from(fraction.abs() >= 0.5));
    (truncated + away.copysign(value)).copysign(value)
}

/// Identifies a player for the lifetime of a [`World`]; assigned from 1 upwards, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlayerId(pub u32);

/// Identifies an entity on the wire; assigned from 1 upwards and not reused by a [`World`]
/// (until 2^32 - 1 entities have been created, after which ids still in use are skipped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetId(pub u32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snap_rounds_to_the_grid() {
        assert_eq!(snap(Vec2::new(0.0, 1.0)), Vec2::new(0.0, 1.0));
        assert_eq!(snap(Vec2::new(0.001, -0.003)), Vec2::new(0.0, -POS_GRID));
        assert_eq!(
            snap(Vec2::new(10.2, 3.0)).x * 256.0,
            (10.2f32 * 256.0).round()
        );
    }

    #[test]
    fn round_half_away_matches_std() {
        let mut bits = 0x1234_5678u32;
        let check = |value: f32| {
            let (ours, theirs) = (round_half_away(value), value.round());
            assert!(
                ours.to_bits() == theirs.to_bits() || (ours.is_nan() && theirs.is_nan()),
                "{value:e}: {ours:e} != {theirs:e}"
            );
        };
        for value in [
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            -1.5,
            2.5,
            0.49999997,
            -0.49999997,
            8_388_607.5,
            -8_388_607.5,
            8_388_608.0,
            1e30,
            -1e30,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            f32::MAX,
            f32::MIN,
        ] {
            check(value);
        }
        for _ in 0..1_000_000 {
            bits ^= bits << 13;
            bits ^= bits >> 17;
            bits ^= bits << 5;
            check(f32::from_bits(bits));
            check((bits >> 8) as f32 / 1024.0 - 8192.0);
        }
    }

    #[test]
    fn snapped_sums_stay_snapped() {
        let base = snap(Vec2::new(1234.567, -89.123));
        let step = snap(Vec2::new(0.2, -0.7));
        let mut pos = base;
        for _ in 0..1000 {
            let next = pos + step;
            assert_eq!(snap(next), next);
            pos = next;
        }
        assert_eq!(pos, base + step * 1000.0);
    }
}
