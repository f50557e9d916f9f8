//! The arena's wire types: its [`Schema`] ([`Arena`]), the entity record snapshots carry
//! ([`EntityState`]) and how it is delta-coded, the input command ([`InputCmd`]), the setup sent
//! in the Welcome ([`ArenaSetup`]: the map and the movement rules), the score row
//! ([`ScoreEntry`]) and the events ([`GameEvent`]). docs/protocol/arena.md, docs/PROTOCOL.md's
//! arena appendix, gives every bit.

use serde::{Deserialize, Serialize};
use tickwire_protocol::bits::{BitReader, BitWriter};
use tickwire_protocol::delta::predict;
use tickwire_protocol::quant::{AIM_BITS, AIM_STEPS, POS_BITS, POS_MAX, VEL_MAX};
use tickwire_protocol::{
    Checksum, Command, DeltaError, Record, Schema, StatsRow, ValidationError, Wire, check_len,
    limits, no_control,
};

/// The arena shooter's wire vocabulary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Arena;

impl Schema for Arena {
    const NAME: &'static str = "arena";
    const VERSION: u16 = 1;
    type Setup = ArenaSetup;
    type Input = InputCmd;
    type Record = EntityState;
    type Stats = ScoreEntry;
    type Event = GameEvent;
}

/// Most walls a map sent in the Welcome may have.
pub const WALLS_MAX: usize = 1024;

/// Entity kind codes on the wire.
pub mod kind {
    /// A player's avatar.
    pub const PLAYER: u8 = 0;
    /// A projectile.
    pub const PROJECTILE: u8 = 1;
    /// A server-controlled non-player entity.
    pub const NPC: u8 = 2;
    /// Highest valid kind code.
    pub const MAX: u8 = NPC;
}

/// Entity flag bits on the wire.
pub mod flags {
    /// The entity is alive (players and NPCs; projectiles always set it).
    pub const ALIVE: u8 = 1;
    /// Every defined flag bit.
    pub const ALL: u8 = ALIVE;
}

/// Button bits of [`InputCmd::buttons`].
pub mod buttons {
    /// Fire the projectile weapon.
    pub const FIRE: u8 = 1;
    /// Fire the hitscan weapon.
    pub const HITSCAN: u8 = 2;
}

const KIND_BITS: u32 = 2;
const HEALTH_BITS: u32 = 8;
const FLAG_BITS: u32 = 2;
const MASK_BITS: u32 = 5;
const MASK_POS: u32 = 1;
const MASK_VEL: u32 = 2;
const MASK_AIM: u32 = 4;
const MASK_HEALTH: u32 = 8;
const MASK_FLAGS: u32 = 16;
/// Exp-Golomb orders per field, chosen from measured residual sizes.
const K_POS: u32 = 0;
const K_VEL: u32 = 1;
const K_AIM: u32 = 2;
const K_FULL_VEL: u32 = 4;

/// One entity as the wire sees it: every field quantized (see [`tickwire_protocol::quant`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EntityState {
    /// Network id (never 0).
    pub id: u32,
    /// Kind code from [`kind`].
    pub kind: u8,
    /// X in 1/256 m, 0..=[`POS_MAX`].
    pub x: u32,
    /// Y in 1/256 m, 0..=[`POS_MAX`].
    pub y: u32,
    /// X velocity in 1/256 m per tick, within ±[`VEL_MAX`].
    pub vx: i32,
    /// Y velocity in 1/256 m per tick, within ±[`VEL_MAX`].
    pub vy: i32,
    /// Aim in 1/1024 turns, 0..1024.
    pub aim: u16,
    /// Health points.
    pub health: u8,
    /// Flag bits from [`flags`].
    pub flags: u8,
}

/// `-VEL_MAX..=VEL_MAX`, written without `abs`, which overflows on `i32::MIN` (a value a hostile
/// or corrupt body can carry).
#[inline]
fn velocity_in_range(v: i32) -> bool {
    (-VEL_MAX..=VEL_MAX).contains(&v)
}

/// Wraps an aim difference into -512..=511 so turning across 0 costs a small code.
#[inline]
fn wrap_aim(delta: i32) -> i32 {
    let steps = AIM_STEPS as i32;
    (delta + steps / 2).rem_euclid(steps) - steps / 2
}

impl Record for EntityState {
    #[inline]
    fn id(&self) -> u32 {
        self.id
    }

    /// Ids are never reused for another kind; if one were, it is sent afresh.
    #[inline]
    fn continues(&self, base: &Self) -> bool {
        self.kind == base.kind
    }

    #[inline]
    fn write_full(&self, out: &mut BitWriter) {
        out.write(self.kind as u32, KIND_BITS);
        out.write(self.x, POS_BITS);
        out.write(self.y, POS_BITS);
        out.write_signed_golomb(self.vx, K_FULL_VEL);
        out.write_signed_golomb(self.vy, K_FULL_VEL);
        out.write(self.aim as u32, AIM_BITS);
        out.write(self.health as u32, HEALTH_BITS);
        out.write(self.flags as u32, FLAG_BITS);
    }

    #[inline]
    fn read_full(id: u32, input: &mut BitReader<'_>) -> Result<Self, DeltaError> {
        let state = EntityState {
            id,
            kind: input.read(KIND_BITS)? as u8,
            x: input.read(POS_BITS)?,
            y: input.read(POS_BITS)?,
            vx: input.read_signed_golomb(K_FULL_VEL)?,
            vy: input.read_signed_golomb(K_FULL_VEL)?,
            aim: input.read(AIM_BITS)? as u16,
            health: input.read(HEALTH_BITS)? as u8,
            flags: input.read(FLAG_BITS)? as u8,
        };
        if state.is_valid() {
            Ok(state)
        } else {
            Err(DeltaError::Range(id))
        }
    }

    /// The position is predicted from the baseline position plus the average of the baseline
    /// and current velocities times the ticks elapsed ([`predict`]), so an entity moving at a
    /// steady velocity costs nothing and one that turns costs only the small residual.
    #[inline]
    fn changes(&self, base: &Self, elapsed: u32) -> u32 {
        let mut mask = 0;
        if predict(base.x, base.vx, self.vx, elapsed) != self.x as i64
            || predict(base.y, base.vy, self.vy, elapsed) != self.y as i64
        {
            mask |= MASK_POS;
        }
        if base.vx != self.vx || base.vy != self.vy {
            mask |= MASK_VEL;
        }
        if base.aim != self.aim {
            mask |= MASK_AIM;
        }
        if base.health != self.health {
            mask |= MASK_HEALTH;
        }
        if base.flags != self.flags {
            mask |= MASK_FLAGS;
        }
        mask
    }

    #[inline]
    fn write_changes(&self, base: &Self, elapsed: u32, mask: u32, out: &mut BitWriter) {
        out.write(mask, MASK_BITS);
        if mask & MASK_VEL != 0 {
            out.write_signed_golomb(self.vx - base.vx, K_VEL);
            out.write_signed_golomb(self.vy - base.vy, K_VEL);
        }
        if mask & MASK_POS != 0 {
            // Residuals fit in i32: positions are < 2^20 and the prediction moves at most
            // VEL_MAX * 255 (< 2^24) away.
            out.write_signed_golomb(
                (self.x as i64 - predict(base.x, base.vx, self.vx, elapsed)) as i32,
                K_POS,
            );
            out.write_signed_golomb(
                (self.y as i64 - predict(base.y, base.vy, self.vy, elapsed)) as i32,
                K_POS,
            );
        }
        if mask & MASK_AIM != 0 {
            out.write_signed_golomb(wrap_aim(self.aim as i32 - base.aim as i32), K_AIM);
        }
        if mask & MASK_HEALTH != 0 {
            out.write(self.health as u32, HEALTH_BITS);
        }
        if mask & MASK_FLAGS != 0 {
            out.write(self.flags as u32, FLAG_BITS);
        }
    }

    #[inline]
    fn read_changes(
        base: &Self,
        elapsed: u32,
        input: &mut BitReader<'_>,
    ) -> Result<Self, DeltaError> {
        let mut cur = *base;
        let mask = input.read(MASK_BITS)?;
        let range = || DeltaError::Range(base.id);
        if mask & MASK_VEL != 0 {
            cur.vx = base
                .vx
                .checked_add(input.read_signed_golomb(K_VEL)?)
                .ok_or_else(range)?;
            cur.vy = base
                .vy
                .checked_add(input.read_signed_golomb(K_VEL)?)
                .ok_or_else(range)?;
            if !velocity_in_range(cur.vx) || !velocity_in_range(cur.vy) {
                return Err(range());
            }
        }
        let mut x = predict(base.x, base.vx, cur.vx, elapsed);
        let mut y = predict(base.y, base.vy, cur.vy, elapsed);
        if mask & MASK_POS != 0 {
            x += input.read_signed_golomb(K_POS)? as i64;
            y += input.read_signed_golomb(K_POS)? as i64;
        }
        if !(0..=POS_MAX as i64).contains(&x) || !(0..=POS_MAX as i64).contains(&y) {
            return Err(range());
        }
        cur.x = x as u32;
        cur.y = y as u32;
        if mask & MASK_AIM != 0 {
            let delta = input.read_signed_golomb(K_AIM)?;
            cur.aim = (base.aim as i32)
                .wrapping_add(delta)
                .rem_euclid(AIM_STEPS as i32) as u16;
        }
        if mask & MASK_HEALTH != 0 {
            cur.health = input.read(HEALTH_BITS)? as u8;
        }
        if mask & MASK_FLAGS != 0 {
            cur.flags = input.read(FLAG_BITS)? as u8;
            if cur.flags & !flags::ALL != 0 {
                return Err(range());
            }
        }
        Ok(cur)
    }

    /// Moves an unlisted entity along its steady velocity.
    #[inline]
    fn advance(&mut self, elapsed: u32) -> Result<(), DeltaError> {
        let x = predict(self.x, self.vx, self.vx, elapsed);
        let y = predict(self.y, self.vy, self.vy, elapsed);
        if !(0..=POS_MAX as i64).contains(&x) || !(0..=POS_MAX as i64).contains(&y) {
            return Err(DeltaError::Range(self.id));
        }
        self.x = x as u32;
        self.y = y as u32;
        Ok(())
    }

    #[inline]
    fn is_valid(&self) -> bool {
        self.id != 0
            && self.kind <= kind::MAX
            && self.x <= POS_MAX
            && self.y <= POS_MAX
            && velocity_in_range(self.vx)
            && velocity_in_range(self.vy)
            && (self.aim as u32) < AIM_STEPS
            && self.flags & !flags::ALL == 0
    }

    /// Six words per entity: id, x, y, vx, vy (as two's complement u32), and
    /// `aim | health << 16 | kind << 24 | flags << 28`.
    #[inline]
    fn checksum(&self, sum: &mut Checksum) {
        let packed = self.aim as u32
            | (self.health as u32) << 16
            | (self.kind as u32) << 24
            | (self.flags as u32) << 28;
        for word in [
            self.id,
            self.x,
            self.y,
            self.vx as u32,
            self.vy as u32,
            packed,
        ] {
            sum.word(word);
        }
    }
}

/// One tick's worth of player intent, quantized on the client so client and server agree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputCmd {
    /// Horizontal movement, -127..=127 maps to -1.0..=1.0 (-128 is treated as -127); positive
    /// is +x (east; the browser draws it to the right).
    pub move_x: i8,
    /// Vertical movement, same scale as `move_x`; positive is +y (north: the browser draws the
    /// map's y axis growing upwards).
    pub move_y: i8,
    /// Aim angle: 0..=65535 maps to [0, 2π), counterclockwise from +x (east) with +y north (the
    /// browser draws the map's y axis growing upwards), so a quarter turn, 16384, aims at +y.
    pub aim: u16,
    /// Button bits from [`buttons`]. Unknown bits are ignored.
    pub buttons: u8,
    /// How many ticks before the message's `ack_tick` the client was showing other entities
    /// when it sampled this input (its interpolation delay, rounded). The server rewinds
    /// hitscan targets by this much (bounded by its maximum rewind).
    pub view_age: u8,
}

impl Wire for InputCmd {}

impl Command for InputCmd {
    fn view_age(&self) -> u8 {
        self.view_age
    }

    fn with_view_age(self, view_age: u8) -> Self {
        InputCmd { view_age, ..self }
    }
}

/// What a client needs before the first snapshot: the map to draw and predict against, and the
/// movement rules to predict with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArenaSetup {
    /// The arena.
    pub map: MapInfo,
    /// The movement rules, so the client can predict its own movement exactly.
    pub rules: MoveRules,
}

impl Wire for ArenaSetup {
    fn validate(&self) -> Result<(), ValidationError> {
        let map = &self.map;
        check_len("map.name", map.name.len(), limits::ROOM_NAME_MAX)?;
        check_len("map.walls", map.walls.len(), WALLS_MAX)?;
        let size_ok =
            map.width.is_finite() && map.height.is_finite() && map.width > 0.0 && map.height > 0.0;
        let walls_ok = map
            .walls
            .iter()
            .all(|w| w.iter().all(|v| v.is_finite()) && w[0] <= w[2] && w[1] <= w[3]);
        if !size_ok || !walls_ok {
            return Err(ValidationError::Invalid {
                field: "map",
                why: "non-finite or inverted geometry",
            });
        }
        let rules = &self.rules;
        let rules_ok = [
            rules.player_radius,
            rules.max_speed,
            rules.accel,
            rules.friction,
        ]
        .iter()
        .all(|v| v.is_finite() && *v >= 0.0)
            && rules.player_radius > 0.0;
        if !rules_ok {
            return Err(ValidationError::Invalid {
                field: "rules",
                why: "non-finite, negative or zero radius",
            });
        }
        Ok(())
    }
}

/// The player movement rules (`move_player`), for client-side prediction.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MoveRules {
    /// Player radius in meters.
    pub player_radius: f32,
    /// Top speed in m/s.
    pub max_speed: f32,
    /// Acceleration toward the input direction in m/s².
    pub accel: f32,
    /// Deceleration without movement input in m/s².
    pub friction: f32,
}

/// The arena's geometry, enough to draw it and to predict movement against its walls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapInfo {
    /// Map name.
    pub name: String,
    /// Width in meters (x from 0 to width).
    pub width: f32,
    /// Height in meters (y from 0 to height).
    pub height: f32,
    /// Axis-aligned walls as `[min_x, min_y, max_x, max_y]`, at most [`WALLS_MAX`].
    pub walls: Vec<[f32; 4]>,
}

/// Something that happened in a tick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GameEvent {
    /// An entity was killed.
    Killed {
        /// Player id of the killer (0: none, e.g. self-inflicted).
        killer: u32,
        /// Entity id of the victim.
        victim: u32,
    },
    /// A hitscan shot, from the shooter to where it stopped (a wall, a target or its range).
    Shot {
        /// Entity id of the shooter.
        shooter: u32,
        /// Start x, in position units (1/256 m).
        from_x: u32,
        /// Start y.
        from_y: u32,
        /// End x.
        to_x: u32,
        /// End y.
        to_y: u32,
        /// Entity id hit (0: none).
        hit: u32,
    },
}

impl Wire for GameEvent {}

/// One row of the score table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreEntry {
    /// Player id.
    pub player: u32,
    /// The player's entity network id.
    pub entity: u32,
    /// Display name.
    pub name: String,
    /// Kills.
    pub kills: u32,
    /// Deaths.
    pub deaths: u32,
}

impl Wire for ScoreEntry {
    fn validate(&self) -> Result<(), ValidationError> {
        check_len("scores.name", self.name.len(), limits::NAME_MAX)?;
        no_control("scores.name", &self.name)
    }
}

impl StatsRow for ScoreEntry {
    fn player(&self) -> u32 {
        self.player
    }

    /// Kills: the leaderboard ranks by them.
    fn score(&self) -> i64 {
        i64::from(self.kills)
    }

    /// Reuses the name's buffer: the client applies score deltas in place.
    fn assign(&mut self, from: &Self) {
        self.player = from.player;
        self.entity = from.entity;
        self.name.clone_from(&from.name);
        self.kills = from.kills;
        self.deaths = from.deaths;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use tickwire_protocol::delta;

    use super::*;

    /// Found by the `delta` fuzz target: a full record with velocity `i32::MIN` made `abs`
    /// overflow (a panic in debug, an accepted out-of-range state in release).
    #[test]
    fn extreme_velocity_in_a_full_record_is_a_range_error() {
        for (vx, vy) in [
            (i32::MIN, 0),
            (0, i32::MIN),
            (i32::MAX, 0),
            (VEL_MAX + 1, 0),
        ] {
            let mut bits = BitWriter::default();
            bits.write_golomb(0, 0); // removed
            bits.write_golomb(1, 0); // entered
            bits.write_golomb(0, 2); // id 1
            bits.write(kind::PLAYER as u32, KIND_BITS);
            bits.write(10, POS_BITS);
            bits.write(10, POS_BITS);
            bits.write_signed_golomb(vx, K_FULL_VEL);
            bits.write_signed_golomb(vy, K_FULL_VEL);
            bits.write(0, AIM_BITS);
            bits.write(100, HEALTH_BITS);
            bits.write(0, FLAG_BITS);
            bits.write_golomb(0, 0); // changed
            let mut out = Vec::<EntityState>::new();
            assert_eq!(
                delta::decode(&[], 1, bits.as_bytes(), &mut out),
                Err(DeltaError::Range(1)),
                "velocity ({vx}, {vy})"
            );
        }
    }

    /// The same overflow through a changed entity: a velocity residual that lands on `i32::MIN`.
    #[test]
    fn velocity_residual_reaching_i32_min_is_a_range_error() {
        let base = EntityState {
            id: 7,
            kind: kind::PLAYER,
            x: 1000,
            y: 1000,
            vx: -VEL_MAX,
            vy: 0,
            aim: 0,
            health: 100,
            flags: 0,
        };
        let mut bits = BitWriter::default();
        bits.write_golomb(0, 0); // removed
        bits.write_golomb(0, 0); // entered
        bits.write_golomb(1, 0); // changed
        bits.write_golomb(0, 0);
        bits.write(MASK_VEL, MASK_BITS);
        bits.write_signed_golomb(i32::MIN + VEL_MAX, K_VEL);
        bits.write_signed_golomb(0, K_VEL);
        // Zero ticks elapsed, so the prediction cannot leave the map: only the velocity check
        // can refuse this (even in release builds, where abs() would have wrapped).
        let mut out = Vec::new();
        assert_eq!(
            delta::decode(&[base], 0, bits.as_bytes(), &mut out),
            Err(DeltaError::Range(7))
        );
        assert!(!velocity_in_range(i32::MIN));
    }

    #[test]
    fn huge_aim_change_wraps_instead_of_overflowing() {
        let base = [EntityState {
            id: 1,
            aim: 1000,
            flags: flags::ALIVE,
            ..Default::default()
        }];
        let mut body = BitWriter::default();
        body.write_golomb(0, 0); // removed
        body.write_golomb(0, 0); // entered
        body.write_golomb(1, 0); // changed
        body.write_golomb(0, 0);
        body.write(MASK_AIM, MASK_BITS);
        body.write_signed_golomb(i32::MAX, K_AIM);
        let mut out = Vec::new();
        delta::decode(&base, 1, body.as_bytes(), &mut out).expect("decodes");
        assert_eq!(out[0].aim as i64, (1000 + i32::MAX as i64).rem_euclid(1024));
    }

    #[test]
    fn steady_motion_costs_almost_nothing() {
        let base: Vec<EntityState> = (1..=900)
            .map(|id| EntityState {
                id,
                kind: kind::NPC,
                x: 10_000 + id * 10,
                y: 20_000,
                vx: 17,
                vy: -9,
                aim: 100,
                health: 100,
                flags: flags::ALIVE,
            })
            .collect();
        let cur: Vec<EntityState> = base
            .iter()
            .map(|s| EntityState {
                x: s.x + 17 * 3,
                y: s.y - 9 * 3,
                ..*s
            })
            .collect();
        let mut writer = BitWriter::default();
        delta::encode(&base, &cur, 3, &mut writer);
        // Three zero counts: three bits, one byte.
        assert_eq!(writer.as_bytes().len(), 1);
    }

    #[test]
    fn checksum_is_the_documented_six_words() {
        let state = EntityState {
            id: 3,
            kind: kind::NPC,
            x: 5,
            y: 6,
            vx: -1,
            vy: 2,
            aim: 7,
            health: 9,
            flags: flags::ALIVE,
        };
        let mut hash: u32 = 0x811c_9dc5;
        for word in [3, 5, 6, u32::MAX, 2, 7 | 9 << 16 | 2 << 24 | 1 << 28] {
            hash = (hash ^ word).wrapping_mul(0x0100_0193);
        }
        assert_eq!(delta::checksum(&[state]), hash);
    }

    pub(crate) fn arb_state(id: u32) -> impl Strategy<Value = EntityState> {
        (
            0..=kind::MAX,
            0..=POS_MAX,
            0..=POS_MAX,
            -VEL_MAX..=VEL_MAX,
            -VEL_MAX..=VEL_MAX,
            0..AIM_STEPS as u16,
            any::<u8>(),
            0..=flags::ALL,
        )
            .prop_map(
                move |(kind, x, y, vx, vy, aim, health, flags)| EntityState {
                    id,
                    kind,
                    x,
                    y,
                    vx,
                    vy,
                    aim,
                    health,
                    flags,
                },
            )
    }

    fn arb_view() -> impl Strategy<Value = Vec<EntityState>> {
        proptest::collection::btree_set(1u32..400, 0..60)
            .prop_flat_map(|ids| ids.into_iter().map(arb_state).collect::<Vec<_>>())
    }

    /// A current view derived from a baseline: some removed, some moved a little or a lot, some
    /// exactly as predicted, some new.
    fn arb_pair() -> impl Strategy<Value = (Vec<EntityState>, Vec<EntityState>, u32)> {
        (
            arb_view(),
            arb_view(),
            1u32..=255,
            proptest::collection::vec(0u8..5, 60),
        )
            .prop_map(|(base, fresh, elapsed, choices)| {
                let mut cur: Vec<EntityState> = Vec::new();
                for (state, choice) in base.iter().zip(choices.iter().cycle()) {
                    let mut next = *state;
                    match choice {
                        0 => continue,
                        1 => {}
                        2 => {
                            if next.advance(elapsed).is_err() {
                                next = *state;
                            }
                        }
                        3 => {
                            next.x = (next.x + 3).min(POS_MAX);
                            next.vx = (next.vx - 2).max(-VEL_MAX);
                            next.aim = (next.aim + 1000) % AIM_STEPS as u16;
                            next.health = next.health.wrapping_sub(25);
                            next.flags ^= flags::ALIVE;
                        }
                        _ => {
                            next.y = POS_MAX - next.y;
                            next.vy = -next.vy;
                        }
                    }
                    cur.push(next);
                }
                for state in fresh {
                    if !base.iter().any(|b| b.id == state.id) {
                        cur.push(state);
                    }
                }
                cur.sort_by_key(|s| s.id);
                (base, cur, elapsed)
            })
    }

    proptest! {
        #[test]
        fn decode_inverts_encode((base, cur, elapsed) in arb_pair()) {
            let mut writer = BitWriter::default();
            delta::encode(&base, &cur, elapsed, &mut writer);
            let mut out = Vec::new();
            delta::decode(&base, elapsed, writer.as_bytes(), &mut out).expect("decodes");
            prop_assert_eq!(out, cur);
        }

        #[test]
        fn garbage_never_panics(base in arb_view(), body in proptest::collection::vec(any::<u8>(), 0..128), elapsed in 0u32..=255) {
            let mut out = Vec::new();
            if delta::decode(&base, elapsed, &body, &mut out).is_ok() {
                prop_assert!(out.iter().all(EntityState::is_valid));
            }
        }
    }
}
