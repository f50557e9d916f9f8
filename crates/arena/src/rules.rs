//! The game's tunable numbers.

use serde::{Deserialize, Serialize};

/// Longest hitscan range [`Rules::sanitized`] keeps, in meters (more than any map's diagonal).
pub const MAX_HITSCAN_RANGE: f32 = 8192.0;
/// Longest rewind [`Rules::sanitized`] keeps, in seconds; bounds the world's position history.
pub const MAX_REWIND_S: f32 = 1.0;

/// The game's tunable numbers, in meters, seconds and hit points.
///
/// Deserializes from TOML or JSON with every key optional (missing keys keep their defaults).
/// [`World::new`](crate::World::new) applies [`Rules::sanitized`], so out-of-range values are
/// clamped rather than trusted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rules {
    /// Radius of a player's circle, in meters.
    pub player_radius: f32,
    /// Top running speed, in m/s.
    pub player_max_speed: f32,
    /// Acceleration toward the input's target velocity, in m/s².
    pub player_accel: f32,
    /// Deceleration while there is no movement input, in m/s².
    pub player_friction: f32,
    /// Health of a freshly spawned player.
    pub player_max_health: u8,
    /// Projectile speed, in m/s.
    pub projectile_speed: f32,
    /// Radius of a projectile, in meters.
    pub projectile_radius: f32,
    /// How long a projectile flies before it disappears, in seconds.
    pub projectile_lifetime_s: f32,
    /// Health a projectile takes from whatever it hits.
    pub projectile_damage: u8,
    /// Minimum time between two shots of one player, in seconds.
    pub fire_cooldown_s: f32,
    /// Time a dead player or NPC waits before respawning, in seconds.
    pub respawn_delay_s: f32,
    /// Radius of an NPC's circle, in meters.
    pub npc_radius: f32,
    /// Constant walking speed of an NPC, in m/s.
    pub npc_speed: f32,
    /// Health of a freshly spawned NPC.
    pub npc_health: u8,
    /// Shortest time an NPC keeps walking in one direction, in seconds.
    pub npc_turn_min_s: f32,
    /// Longest time an NPC keeps walking in one direction, in seconds.
    pub npc_turn_max_s: f32,
    /// Health a hitscan shot takes from whatever it hits.
    pub hitscan_damage: u8,
    /// How far a hitscan ray reaches from the shooter's circle, in meters.
    pub hitscan_range: f32,
    /// Minimum time between two hitscan shots of one player, in seconds (independent of
    /// `fire_cooldown_s`).
    pub hitscan_cooldown_s: f32,
    /// Furthest back in time hitscan targets are rewound, in seconds; the world keeps
    /// `ceil(max_rewind_s * tick_rate) + 1` ticks of position history.
    pub max_rewind_s: f32,
    /// Whether hitscan targets are tested where the shooter saw them (its input's `view_age`
    /// ticks ago) rather than where the latest snapshot showed them.
    pub lag_compensation: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            player_radius: 0.5,
            player_max_speed: 6.0,
            player_accel: 40.0,
            player_friction: 30.0,
            player_max_health: 100,
            projectile_speed: 20.0,
            projectile_radius: 0.1,
            projectile_lifetime_s: 1.5,
            projectile_damage: 25,
            fire_cooldown_s: 0.25,
            respawn_delay_s: 2.0,
            npc_radius: 0.5,
            npc_speed: 2.5,
            npc_health: 50,
            npc_turn_min_s: 1.0,
            npc_turn_max_s: 3.0,
            hitscan_damage: 20,
            hitscan_range: 30.0,
            hitscan_cooldown_s: 0.5,
            max_rewind_s: 0.25,
            lag_compensation: true,
        }
    }
}

impl Rules {
    /// Returns a copy with every value finite and inside a playable range.
    ///
    /// Non-finite values fall back to the default; others are clamped: radii to 0.05..=4 m
    /// (projectiles 0.01..=2 m), speeds to 0..=100 m/s (projectiles 0.1..=500 m/s), rates to
    /// 0..=10000 m/s², times to 0..=3600 s (lifetime at least 0.01 s), health at least 1,
    /// `npc_turn_max_s` at least `npc_turn_min_s` (at least 0.05 s), `hitscan_range` to
    /// 0..=[`MAX_HITSCAN_RANGE`] m and `max_rewind_s` to 0..=[`MAX_REWIND_S`] s (it sizes a
    /// buffer).
    pub fn sanitized(self) -> Rules {
        let defaults = Rules::default();
        let clamp = |value: f32, fallback: f32, min: f32, max: f32| {
            if value.is_finite() {
                value.clamp(min, max)
            } else {
                fallback
            }
        };
        let npc_turn_min_s = clamp(self.npc_turn_min_s, defaults.npc_turn_min_s, 0.05, 3600.0);
        Rules {
            player_radius: clamp(self.player_radius, defaults.player_radius, 0.05, 4.0),
            player_max_speed: clamp(self.player_max_speed, defaults.player_max_speed, 0.0, 100.0),
            player_accel: clamp(self.player_accel, defaults.player_accel, 0.0, 10_000.0),
            player_friction: clamp(
                self.player_friction,
                defaults.player_friction,
                0.0,
                10_000.0,
            ),
            player_max_health: self.player_max_health.max(1),
            projectile_speed: clamp(self.projectile_speed, defaults.projectile_speed, 0.1, 500.0),
            projectile_radius: clamp(
                self.projectile_radius,
                defaults.projectile_radius,
                0.01,
                2.0,
            ),
            projectile_lifetime_s: clamp(
                self.projectile_lifetime_s,
                defaults.projectile_lifetime_s,
                0.01,
                3600.0,
            ),
            projectile_damage: self.projectile_damage,
            fire_cooldown_s: clamp(self.fire_cooldown_s, defaults.fire_cooldown_s, 0.0, 3600.0),
            respawn_delay_s: clamp(self.respawn_delay_s, defaults.respawn_delay_s, 0.0, 3600.0),
            npc_radius: clamp(self.npc_radius, defaults.npc_radius, 0.05, 4.0),
            npc_speed: clamp(self.npc_speed, defaults.npc_speed, 0.0, 100.0),
            npc_health: self.npc_health.max(1),
            npc_turn_min_s,
            npc_turn_max_s: clamp(
                self.npc_turn_max_s,
                defaults.npc_turn_max_s,
                npc_turn_min_s,
                3600.0,
            ),
            hitscan_damage: self.hitscan_damage,
            hitscan_range: clamp(
                self.hitscan_range,
                defaults.hitscan_range,
                0.0,
                MAX_HITSCAN_RANGE,
            ),
            hitscan_cooldown_s: clamp(
                self.hitscan_cooldown_s,
                defaults.hitscan_cooldown_s,
                0.0,
                3600.0,
            ),
            max_rewind_s: clamp(self.max_rewind_s, defaults.max_rewind_s, 0.0, MAX_REWIND_S),
            lag_compensation: self.lag_compensation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_already_sane() {
        assert_eq!(Rules::default().sanitized(), Rules::default());
    }

    #[test]
    fn sanitized_repairs_bad_values() {
        let rules = Rules {
            player_radius: f32::NAN,
            player_max_speed: -3.0,
            projectile_speed: f32::INFINITY,
            npc_turn_min_s: 5.0,
            npc_turn_max_s: 1.0,
            player_max_health: 0,
            hitscan_range: -1.0,
            hitscan_cooldown_s: f32::NAN,
            max_rewind_s: 1e9,
            ..Rules::default()
        }
        .sanitized();
        assert_eq!(rules.hitscan_range, 0.0);
        assert_eq!(rules.hitscan_cooldown_s, 0.5);
        assert_eq!(rules.max_rewind_s, MAX_REWIND_S);
        assert_eq!(rules.player_radius, 0.5);
        assert_eq!(rules.player_max_speed, 0.0);
        assert_eq!(rules.projectile_speed, 20.0);
        assert_eq!(rules.npc_turn_max_s, 5.0);
        assert_eq!(rules.player_max_health, 1);
    }

    #[test]
    fn deserializes_with_defaults() {
        let rules: Rules = toml::from_str("player_max_speed = 8.0").unwrap();
        assert_eq!(rules.player_max_speed, 8.0);
        assert_eq!(rules.player_radius, Rules::default().player_radius);
        assert!(rules.lag_compensation);
        assert_eq!(rules.max_rewind_s, 0.25);
        let rules: Rules =
            toml::from_str("lag_compensation = false\nhitscan_range = 12.5").unwrap();
        assert!(!rules.lag_compensation);
        assert_eq!(rules.hitscan_range, 12.5);
        assert!(toml::from_str::<Rules>("no_such_rule = 1").is_err());
    }
}
