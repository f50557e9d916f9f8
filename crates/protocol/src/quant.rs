//! Quantization: how continuous values become the small integers the wire carries.
//!
//! Both sides quantize the same way (the client quantizes its own inputs before sending them), so a
//! client predicting with the server's rules sees exactly what the server sees.

use std::f32::consts::TAU;

/// Position units per meter: positions travel as multiples of 1/256 m (about 4 mm).
pub const POS_UNITS_PER_M: f32 = 256.0;
/// Bits of a full position coordinate: 0..2^20 units covers 0..4096 m.
pub const POS_BITS: u32 = 20;
/// Largest position coordinate in units.
pub const POS_MAX: u32 = (1 << POS_BITS) - 1;
/// Largest velocity magnitude per axis, in position units per tick.
pub const VEL_MAX: i32 = 1 << 16;
/// Bits of an entity's aim angle in snapshots (1024 steps per turn, about 0.35 degrees).
pub const AIM_BITS: u32 = 10;
/// Aim steps per turn in snapshots.
pub const AIM_STEPS: u32 = 1 << AIM_BITS;

/// Meters to position units, rounded and clamped to 0..=POS_MAX (non-finite becomes 0).
pub fn pos_to_wire(meters: f32) -> u32 {
    if !meters.is_finite() {
        return 0;
    }
    (meters * POS_UNITS_PER_M)
        .round()
        .clamp(0.0, POS_MAX as f32) as u32
}

/// Position units to meters.
pub fn pos_from_wire(units: u32) -> f32 {
    units as f32 / POS_UNITS_PER_M
}

/// Velocity (m/s) to position units per tick of `dt` seconds, rounded and clamped to ±VEL_MAX.
pub fn vel_to_wire(meters_per_s: f32, dt: f32) -> i32 {
    let units = meters_per_s * dt * POS_UNITS_PER_M;
    if !units.is_finite() {
        return 0;
    }
    units.round().clamp(-(VEL_MAX as f32), VEL_MAX as f32) as i32
}

/// Position units per tick back to m/s.
pub fn vel_from_wire(units_per_tick: i32, dt: f32) -> f32 {
    units_per_tick as f32 / POS_UNITS_PER_M / dt
}

/// Radians to a snapshot aim step (0..AIM_STEPS).
pub fn aim_to_wire(radians: f32) -> u16 {
    angle_to_steps(radians, AIM_STEPS) as u16
}

/// A snapshot aim step to radians in [0, 2π).
pub fn aim_from_wire(steps: u16) -> f32 {
    (steps as u32 % AIM_STEPS) as f32 / AIM_STEPS as f32 * TAU
}

/// Radians to an input aim (0..=65535 for a full turn).
pub fn input_aim_to_wire(radians: f32) -> u16 {
    angle_to_steps(radians, 1 << 16) as u16
}

/// An input aim to radians in [0, 2π).
pub fn input_aim_from_wire(aim: u16) -> f32 {
    aim as f32 / 65536.0 * TAU
}

/// A movement axis in -1..=1 to -127..=127 (non-finite becomes 0).
pub fn axis_to_wire(value: f32) -> i8 {
    if !value.is_finite() {
        return 0;
    }
    (value.clamp(-1.0, 1.0) * 127.0).round() as i8
}

/// -127..=127 to -1..=1 (-128 is treated as -127).
pub fn axis_from_wire(value: i8) -> f32 {
    value.max(-127) as f32 / 127.0
}

fn angle_to_steps(radians: f32, steps: u32) -> u32 {
    if !radians.is_finite() {
        return 0;
    }
    let turns = (radians / TAU).rem_euclid(1.0);
    ((turns * steps as f32).round() as u32) % steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_roundtrip_on_the_grid() {
        for units in [0, 1, 255, 256, 12345, POS_MAX] {
            assert_eq!(pos_to_wire(pos_from_wire(units)), units);
        }
        assert_eq!(pos_to_wire(f32::NAN), 0);
        assert_eq!(pos_to_wire(-5.0), 0);
        assert_eq!(pos_to_wire(1e9), POS_MAX);
    }

    #[test]
    fn angles_wrap() {
        assert_eq!(aim_to_wire(0.0), 0);
        assert_eq!(aim_to_wire(TAU), 0);
        assert_eq!(aim_to_wire(-TAU / 4.0), 768);
        assert_eq!(input_aim_to_wire(TAU / 2.0), 32768);
        assert_eq!(aim_to_wire(f32::INFINITY), 0);
    }

    #[test]
    fn axes_clamp() {
        assert_eq!(axis_to_wire(2.0), 127);
        assert_eq!(axis_to_wire(-2.0), -127);
        assert_eq!(axis_from_wire(-128), -1.0);
    }
}
