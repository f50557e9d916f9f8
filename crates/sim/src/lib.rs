//! tickwire's game simulation: a deterministic, IO-free top-down 2D arena shooter.
//!
//! This crate owns the rules of the reference game: players move, aim, shoot projectiles and a
//! lag-compensated hitscan weapon, take damage, die and respawn; wandering NPCs populate the
//! arena; maps describe the arena's size, walls and spawn points. Units are meters and seconds,
//! vectors are [`Vec2`].
//!
//! What it deliberately does not do: no networking, no async runtime, no wall clock, no thread
//! RNG, no file IO except [`Map::load`], and no wire types. The same inputs applied to the same
//! state give the same state, bit for bit: the world owns a seeded RNG, iterates in id order, and
//! snaps every position to [`POS_GRID`] so the wire can predict positions exactly.
//!
//! Main types:
//! - [`World`]: all the game state and the fixed-step [`World::step`].
//! - [`Map`] (loaded from TOML, see `assets/maps/`) and [`Rules`] (tunable numbers).
//! - [`Entity`], [`Player`], [`Event`]: what a caller observes after each step.
//! - [`move_player`]: the movement rule, shared with client-side prediction.
//!
//! How to drive it:
//!
//! ```
//! use tickwire_sim::{Map, PlayerInput, Rules, Vec2, World};
//!
//! let map = Map::builtin("arena").expect("arena is built in");
//! let mut world = World::new(map, Rules::default(), 30, 42);
//! let player = world.add_player("alice");
//! let mut events = Vec::new();
//! let input = PlayerInput { move_dir: Vec2::X, aim: 0.0, buttons: 0, view_age: 0 };
//! for _ in 0..30 {
//!     events.clear();
//!     world.step(&[(player, input)], &mut events);
//! }
//! assert_eq!(world.tick(), 30);
//! ```

mod grid;
mod hash;
mod history;
mod input;
mod map;
mod physics;
mod rng;
mod rules;
mod walls;
mod world;

pub use glam::Vec2;

pub use input::{BUTTON_FIRE, BUTTON_HITSCAN, KNOWN_BUTTONS, PlayerInput};
pub use map::{
    MAX_MAP_SIZE, MAX_MAP_TEXT_BYTES, MAX_SPAWNS, MAX_WALLS, MIN_MAP_SIZE, Map, MapError, Wall,
};
pub use physics::move_player;
pub use rules::{MAX_HITSCAN_RANGE, MAX_REWIND_S, Rules};
pub use world::{Entity, EntityKind, Event, MAX_NAME_CHARS, Player, World};

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
