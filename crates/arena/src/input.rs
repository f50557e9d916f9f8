//! A player's input for one tick, and how untrusted input is made safe.

use std::f32::consts::TAU;

use tickwire_sim::Vec2;

/// Button bit: fire the projectile weapon (held down fires again after each cooldown).
pub const BUTTON_FIRE: u8 = 1;

/// Button bit: fire the hitscan weapon (held down fires again after each cooldown); see
/// [`World::step`](crate::World::step) for how its ray is resolved.
pub const BUTTON_HITSCAN: u8 = 2;

/// Every button bit the simulation understands; [`PlayerInput::sanitized`] clears the others.
pub const KNOWN_BUTTONS: u8 = BUTTON_FIRE | BUTTON_HITSCAN;

/// What a player wants to do this tick.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PlayerInput {
    /// Desired movement direction; its length (at most 1) scales the target speed.
    pub move_dir: Vec2,
    /// Aim angle in radians, counterclockwise from +x, in `[0, TAU)` once sanitized.
    pub aim: f32,
    /// Held buttons, a combination of `BUTTON_*` bits.
    pub buttons: u8,
    /// How many ticks in the past the player saw the other entities when it sampled this input
    /// (its interpolation delay); 0 means "as of the latest snapshot". The hitscan weapon tests
    /// its targets where they were this many ticks ago, bounded by the world's maximum rewind.
    /// Any value is accepted; the bound is applied when a shot is resolved.
    pub view_age: u8,
}

impl PlayerInput {
    /// Returns a copy that is safe to simulate, whatever the sender put in it.
    ///
    /// Non-finite components become 0; each `move_dir` axis is clamped to `[-1, 1]` and its
    /// length to at most 1; `aim` is wrapped into `[0, TAU)`; unknown button bits are cleared;
    /// `view_age` is kept as is.
    pub fn sanitized(self) -> Self {
        let axis = |value: f32| {
            if value.is_finite() {
                value.clamp(-1.0, 1.0)
            } else {
                0.0
            }
        };
        let mut move_dir = Vec2::new(axis(self.move_dir.x), axis(self.move_dir.y));
        let length_squared = move_dir.length_squared();
        if length_squared > 1.0 {
            move_dir /= length_squared.sqrt();
            // Dividing by the rounded length can leave it one ulp above 1.
            if move_dir.length_squared() > 1.0 {
                move_dir *= 1.0 - f32::EPSILON;
            }
        }
        PlayerInput {
            move_dir,
            aim: wrap_angle(self.aim),
            buttons: self.buttons & KNOWN_BUTTONS,
            view_age: self.view_age,
        }
    }

    /// Whether every bit of `button` is held.
    pub fn pressed(&self, button: u8) -> bool {
        self.buttons & button == button
    }
}

/// Wraps an angle into `[0, TAU)`; non-finite angles become 0.
pub(crate) fn wrap_angle(angle: f32) -> f32 {
    if !angle.is_finite() {
        return 0.0;
    }
    let wrapped = angle.rem_euclid(TAU);
    // rem_euclid of a tiny negative angle rounds up to exactly TAU.
    if (0.0..TAU).contains(&wrapped) {
        wrapped
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitized_clears_garbage() {
        let input = PlayerInput {
            move_dir: Vec2::new(f32::NAN, f32::INFINITY),
            aim: f32::NEG_INFINITY,
            buttons: 0xff,
            view_age: 200,
        }
        .sanitized();
        assert_eq!(input.move_dir, Vec2::ZERO);
        assert_eq!(input.aim, 0.0);
        assert_eq!(input.buttons, BUTTON_FIRE | BUTTON_HITSCAN);
        assert_eq!(input.view_age, 200);
    }

    #[test]
    fn sanitized_clamps_length_and_wraps_aim() {
        let input = PlayerInput {
            move_dir: Vec2::new(1e30, 1e30),
            aim: -1e-10,
            buttons: 0,
            view_age: 0,
        }
        .sanitized();
        assert!(input.move_dir.length() <= 1.0);
        assert!(input.move_dir.x > 0.7);
        assert!((0.0..TAU).contains(&input.aim));
        assert_eq!(
            PlayerInput {
                aim: 3.0 * TAU + 1.0,
                ..Default::default()
            }
            .sanitized()
            .aim,
            (3.0 * TAU + 1.0).rem_euclid(TAU)
        );
    }

    #[test]
    fn sanitized_keeps_valid_input() {
        let input = PlayerInput {
            move_dir: Vec2::new(0.5, -0.5),
            aim: 1.5,
            buttons: BUTTON_FIRE | BUTTON_HITSCAN,
            view_age: 7,
        };
        assert_eq!(input.sanitized(), input);
    }
}
