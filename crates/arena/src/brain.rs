//! A simple game brain: wander, chase the nearest visible player, shoot when aimed.

use std::f32::consts::{PI, TAU};

use tickwire_protocol::quant;
use tickwire_sim::Vec2;

use crate::input::{BUTTON_FIRE, PlayerInput};
use crate::wire::{EntityState, flags, kind};

/// Distance (m) the brain likes to keep from its target.
const PREFERRED_RANGE: f32 = 7.0;
/// Farthest target (m) worth shooting at.
const FIRE_RANGE: f32 = 22.0;
/// How far off (radians) the server-side aim may be from the target and still fire.
const AIM_TOLERANCE: f32 = 0.2;
/// Projectile speed assumed for leading moving targets (m/s).
const LEAD_SPEED: f32 = 20.0;

/// One bot's decision state. Deterministic for a given seed and sequence of views.
#[derive(Debug, Clone)]
pub struct Brain {
    rng: u64,
    wander: Vec2,
    wander_ticks_left: u32,
    strafe_sign: f32,
    strafe_ticks_left: u32,
    stuck_ticks: u32,
    last_position: Option<Vec2>,
}

impl Brain {
    /// A brain seeded for reproducible behaviour.
    pub fn new(seed: u64) -> Brain {
        let mut brain = Brain {
            rng: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
            wander: Vec2::X,
            wander_ticks_left: 0,
            strafe_sign: 1.0,
            strafe_ticks_left: 0,
            stuck_ticks: 0,
            last_position: None,
        };
        brain.wander = brain.random_direction();
        brain
    }

    /// Chooses this tick's input from the newest view. `own` is the bot's entity id, `dt` the
    /// tick length in seconds; `seen` says where an entity is shown (interpolated), and the
    /// brain aims there.
    pub fn decide(
        &mut self,
        own: u32,
        view: &[EntityState],
        dt: f32,
        tick_rate: u32,
        seen: &dyn Fn(&EntityState) -> Vec2,
    ) -> PlayerInput {
        let Some(me) = view.iter().find(|state| state.id == own) else {
            return PlayerInput::default();
        };
        let position = position_of(me);
        if me.flags & flags::ALIVE == 0 {
            self.last_position = None;
            return PlayerInput::default();
        }

        // Stuck against a wall: pick a new way.
        if let Some(last) = self.last_position {
            if position.distance(last) < 0.01 {
                self.stuck_ticks += 1;
            } else {
                self.stuck_ticks = 0;
            }
        }
        self.last_position = Some(position);
        if self.stuck_ticks > tick_rate / 3 {
            self.wander = self.random_direction();
            self.wander_ticks_left = tick_rate;
            self.stuck_ticks = 0;
        }

        let target = view
            .iter()
            .filter(|state| {
                state.id != own && state.kind == kind::PLAYER && state.flags & flags::ALIVE != 0
            })
            .min_by(|a, b| {
                let da = position_of(a).distance_squared(position);
                let db = position_of(b).distance_squared(position);
                da.total_cmp(&db).then(a.id.cmp(&b.id))
            });

        match target {
            Some(target) => self.fight(me, position, target, seen(target), dt, tick_rate),
            None => self.roam(tick_rate),
        }
    }

    fn fight(
        &mut self,
        me: &EntityState,
        position: Vec2,
        target: &EntityState,
        target_position: Vec2,
        dt: f32,
        tick_rate: u32,
    ) -> PlayerInput {
        let target_velocity = Vec2::new(
            quant::vel_from_wire(target.vx, dt),
            quant::vel_from_wire(target.vy, dt),
        );
        let distance = target_position.distance(position);
        let lead = target_position + target_velocity * (distance / LEAD_SPEED);
        let to_target = lead - position;
        let aim = to_target.y.atan2(to_target.x).rem_euclid(TAU);

        if self.strafe_ticks_left == 0 {
            self.strafe_sign = if self.next_u32() & 1 == 0 { 1.0 } else { -1.0 };
            self.strafe_ticks_left = tick_rate / 2 + self.next_u32() % tick_rate.max(1);
        }
        self.strafe_ticks_left -= 1;
        let toward = to_target.normalize_or_zero();
        let strafe = toward.perp() * self.strafe_sign;
        let move_dir = if distance > PREFERRED_RANGE + 2.0 {
            toward + strafe * 0.3
        } else if distance < PREFERRED_RANGE - 2.0 {
            -toward + strafe * 0.5
        } else {
            strafe
        };

        // Fire once the server agrees we face the target (our aim as the server last saw it).
        let server_aim = quant::aim_from_wire(me.aim);
        let off = angle_difference(server_aim, aim).abs();
        let buttons = if distance < FIRE_RANGE && off < AIM_TOLERANCE {
            BUTTON_FIRE
        } else {
            0
        };
        PlayerInput {
            move_dir: move_dir.clamp_length_max(1.0),
            aim,
            buttons,
            view_age: 0,
        }
    }

    fn roam(&mut self, tick_rate: u32) -> PlayerInput {
        if self.wander_ticks_left == 0 {
            self.wander = self.random_direction();
            self.wander_ticks_left = tick_rate + self.next_u32() % (2 * tick_rate).max(1);
        }
        self.wander_ticks_left -= 1;
        PlayerInput {
            move_dir: self.wander,
            aim: self.wander.y.atan2(self.wander.x).rem_euclid(TAU),
            buttons: 0,
            view_age: 0,
        }
    }

    fn random_direction(&mut self) -> Vec2 {
        let angle = (self.next_u32() as f32 / u32::MAX as f32) * TAU;
        Vec2::new(angle.cos(), angle.sin())
    }

    /// xorshift64*: small, seeded, good enough for a bot's whims.
    fn next_u32(&mut self) -> u32 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }
}

/// An entity's position in meters.
pub fn position_of(state: &EntityState) -> Vec2 {
    Vec2::new(quant::pos_from_wire(state.x), quant::pos_from_wire(state.y))
}

/// Signed smallest difference b - a between two angles, in (-π, π].
pub fn angle_difference(a: f32, b: f32) -> f32 {
    let diff = (b - a).rem_euclid(TAU);
    if diff > PI { diff - TAU } else { diff }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn player(id: u32, x: f32, y: f32, aim: f32) -> EntityState {
        EntityState {
            id,
            kind: kind::PLAYER,
            x: quant::pos_to_wire(x),
            y: quant::pos_to_wire(y),
            vx: 0,
            vy: 0,
            aim: quant::aim_to_wire(aim),
            health: 100,
            flags: flags::ALIVE,
        }
    }

    #[test]
    fn aims_and_fires_at_the_nearest_player() {
        let mut brain = Brain::new(7);
        // Target due east, our server-side aim already east: fire.
        let view = [
            player(1, 10.0, 10.0, 0.0),
            player(2, 20.0, 10.0, 0.0),
            player(3, 40.0, 30.0, 0.0),
        ];
        let input = brain.decide(1, &view, 1.0 / 30.0, 30, &position_of);
        assert!(
            angle_difference(input.aim, 0.0).abs() < 0.01,
            "aim {}",
            input.aim
        );
        assert_eq!(input.buttons, BUTTON_FIRE);
        // Aim is north but the target is east: turn, do not fire yet.
        let view = [player(1, 10.0, 10.0, PI / 2.0), player(2, 20.0, 10.0, 0.0)];
        assert_eq!(
            brain.decide(1, &view, 1.0 / 30.0, 30, &position_of).buttons,
            0
        );
    }

    #[test]
    fn wanders_when_alone() {
        let mut brain = Brain::new(3);
        let view = [player(1, 10.0, 10.0, 0.0)];
        let input = brain.decide(1, &view, 1.0 / 30.0, 30, &position_of);
        assert!((input.move_dir.length() - 1.0).abs() < 1e-3);
        assert_eq!(input.buttons, 0);
    }
}
