//! A bench-only 3D record, to show the engine's delta container is general on the hot path: a
//! body with a position and velocity in three dimensions (the position predicted from the
//! velocity, as the arena's) and an orientation quaternion in smallest-three form, tumbling.
//!
//! Nothing in the engine knows this type; it only implements [`Record`] (and a [`Schema`] around
//! it, so its snapshots travel in the same envelope as any game's).

use glam::{Quat, Vec3};
use serde::{Deserialize, Serialize};
use tickwire_protocol::bits::{BitReader, BitWriter};
use tickwire_protocol::delta::predict;
use tickwire_protocol::{Checksum, Command, DeltaError, Record, Schema, StatsRow, Wire};

use crate::Rng;

/// Position units per meter (as the arena's: 1/256 m).
const UNITS_PER_M: f32 = 256.0;
/// Bits of a full position coordinate (0..4096 m).
const POS_BITS: u32 = 20;
/// Largest position coordinate in units.
const POS_MAX: u32 = (1 << POS_BITS) - 1;
/// Largest velocity magnitude per axis, in units per tick.
const VEL_MAX: i32 = 1 << 16;
/// Bits of each of the three smallest quaternion components.
const ROT_COMPONENT_BITS: u32 = 10;
/// The smallest three components lie in [-1/√2, 1/√2].
const ROT_RANGE: f32 = std::f32::consts::FRAC_1_SQRT_2;

const MASK_BITS: u32 = 3;
const MASK_POS: u32 = 1;
const MASK_VEL: u32 = 2;
const MASK_ROT: u32 = 4;
const K_POS: u32 = 0;
const K_VEL: u32 = 1;
const K_FULL_VEL: u32 = 4;
const K_ROT: u32 = 2;

/// A rigid body in 3D, quantized.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body3 {
    /// Network id.
    pub id: u32,
    /// Position in 1/256 m, each 0..=POS_MAX.
    pub pos: [u32; 3],
    /// Velocity in 1/256 m per tick.
    pub vel: [i32; 3],
    /// Orientation, smallest three: bits 30..32 the index of the largest component (dropped,
    /// taken positive), then three 10-bit components.
    pub rotation: u32,
}

impl Body3 {
    fn component(&self, index: u32) -> i32 {
        ((self.rotation >> (index * ROT_COMPONENT_BITS)) & ((1 << ROT_COMPONENT_BITS) - 1)) as i32
    }

    fn largest(&self) -> u32 {
        self.rotation >> 30
    }
}

/// Packs a unit quaternion into smallest-three form.
pub fn pack_rotation(rotation: Quat) -> u32 {
    let rotation = rotation.normalize();
    let mut components = rotation.to_array();
    let largest = (0..4)
        .max_by(|&a, &b| components[a].abs().total_cmp(&components[b].abs()))
        .unwrap_or(0);
    if components[largest] < 0.0 {
        components.iter_mut().for_each(|c| *c = -*c);
    }
    let steps = ((1 << ROT_COMPONENT_BITS) - 1) as f32;
    let mut packed = (largest as u32) << 30;
    let mut slot = 0;
    for (index, component) in components.iter().enumerate() {
        if index == largest {
            continue;
        }
        let unit = (component / ROT_RANGE * 0.5 + 0.5).clamp(0.0, 1.0);
        packed |= ((unit * steps).round() as u32) << (slot * ROT_COMPONENT_BITS);
        slot += 1;
    }
    packed
}

fn in_range(pos: i64) -> bool {
    (0..=POS_MAX as i64).contains(&pos)
}

impl Record for Body3 {
    #[inline]
    fn id(&self) -> u32 {
        self.id
    }

    #[inline]
    fn write_full(&self, out: &mut BitWriter) {
        for axis in 0..3 {
            out.write(self.pos[axis], POS_BITS);
        }
        for axis in 0..3 {
            out.write_signed_golomb(self.vel[axis], K_FULL_VEL);
        }
        out.write(self.rotation, 32);
    }

    #[inline]
    fn read_full(id: u32, input: &mut BitReader<'_>) -> Result<Self, DeltaError> {
        let mut body = Body3 {
            id,
            ..Body3::default()
        };
        for axis in 0..3 {
            body.pos[axis] = input.read(POS_BITS)?;
        }
        for axis in 0..3 {
            body.vel[axis] = input.read_signed_golomb(K_FULL_VEL)?;
        }
        body.rotation = input.read(32)?;
        Ok(body)
    }

    #[inline]
    fn changes(&self, base: &Self, elapsed: u32) -> u32 {
        let mut mask = 0;
        if (0..3).any(|axis| {
            predict(base.pos[axis], base.vel[axis], self.vel[axis], elapsed)
                != self.pos[axis] as i64
        }) {
            mask |= MASK_POS;
        }
        if base.vel != self.vel {
            mask |= MASK_VEL;
        }
        if base.rotation != self.rotation {
            mask |= MASK_ROT;
        }
        mask
    }

    #[inline]
    fn write_changes(&self, base: &Self, elapsed: u32, mask: u32, out: &mut BitWriter) {
        out.write(mask, MASK_BITS);
        if mask & MASK_VEL != 0 {
            for axis in 0..3 {
                out.write_signed_golomb(self.vel[axis] - base.vel[axis], K_VEL);
            }
        }
        if mask & MASK_POS != 0 {
            for axis in 0..3 {
                let predicted = predict(base.pos[axis], base.vel[axis], self.vel[axis], elapsed);
                out.write_signed_golomb((self.pos[axis] as i64 - predicted) as i32, K_POS);
            }
        }
        if mask & MASK_ROT != 0 {
            // Same largest component: three small residuals. Otherwise the whole rotation.
            if self.largest() == base.largest() {
                out.write_bit(true);
                for index in 0..3 {
                    out.write_signed_golomb(self.component(index) - base.component(index), K_ROT);
                }
            } else {
                out.write_bit(false);
                out.write(self.rotation, 32);
            }
        }
    }

    #[inline]
    fn read_changes(
        base: &Self,
        elapsed: u32,
        input: &mut BitReader<'_>,
    ) -> Result<Self, DeltaError> {
        let range = || DeltaError::Range(base.id);
        let mut next = *base;
        let mask = input.read(MASK_BITS)?;
        if mask & MASK_VEL != 0 {
            for axis in 0..3 {
                next.vel[axis] = base.vel[axis]
                    .checked_add(input.read_signed_golomb(K_VEL)?)
                    .filter(|v| (-VEL_MAX..=VEL_MAX).contains(v))
                    .ok_or_else(range)?;
            }
        }
        for axis in 0..3 {
            let mut pos = predict(base.pos[axis], base.vel[axis], next.vel[axis], elapsed);
            if mask & MASK_POS != 0 {
                pos += input.read_signed_golomb(K_POS)? as i64;
            }
            if !in_range(pos) {
                return Err(range());
            }
            next.pos[axis] = pos as u32;
        }
        if mask & MASK_ROT != 0 {
            if input.read_bit()? {
                let mut rotation = base.rotation & (3 << 30);
                for index in 0..3 {
                    let component = base
                        .component(index)
                        .checked_add(input.read_signed_golomb(K_ROT)?)
                        .filter(|c| (0..1 << ROT_COMPONENT_BITS).contains(c))
                        .ok_or_else(range)?;
                    rotation |= (component as u32) << (index * ROT_COMPONENT_BITS);
                }
                next.rotation = rotation;
            } else {
                next.rotation = input.read(32)?;
            }
        }
        Ok(next)
    }

    #[inline]
    fn advance(&mut self, elapsed: u32) -> Result<(), DeltaError> {
        for axis in 0..3 {
            let pos = predict(self.pos[axis], self.vel[axis], self.vel[axis], elapsed);
            if !in_range(pos) {
                return Err(DeltaError::Range(self.id));
            }
            self.pos[axis] = pos as u32;
        }
        Ok(())
    }

    #[inline]
    fn is_valid(&self) -> bool {
        self.id != 0
            && self.pos.iter().all(|&p| p <= POS_MAX)
            && self.vel.iter().all(|v| (-VEL_MAX..=VEL_MAX).contains(v))
        // Bits 30..32 hold 0..=3; bits 30 below are the three components.
    }

    #[inline]
    fn checksum(&self, sum: &mut Checksum) {
        sum.word(self.id);
        for axis in 0..3 {
            sum.word(self.pos[axis]);
            sum.word(self.vel[axis] as u32);
        }
        sum.word(self.rotation);
    }
}

/// The schema the 3D bodies travel in (bench only): no setup, no commands, no stats, no events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bodies;

/// Nothing: the setup, command, stats row and event of a schema that needs none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nothing;

impl Wire for Nothing {}
impl Command for Nothing {}
impl StatsRow for Nothing {
    fn player(&self) -> u32 {
        0
    }
}

impl Schema for Bodies {
    const NAME: &'static str = "bodies";
    const VERSION: u16 = 1;
    type Setup = Nothing;
    type Input = Nothing;
    type Record = Body3;
    type Stats = Nothing;
    type Event = Nothing;
}

/// A tumbling crowd: `count` bodies in a 200 m cube, each flying straight for 1-3 s between
/// turns; a third of them spin about a fixed axis (their orientation changes every tick), the
/// rest keep theirs. Returns `ticks` consecutive views at `rate` Hz.
pub fn tumbling(count: u32, rate: u32, ticks: usize, seed: u64) -> Vec<Vec<Body3>> {
    struct Mover {
        pos: Vec3,
        vel: Vec3,
        turn_ticks: u32,
        spin: Option<(Vec3, f32)>,
        rotation: Quat,
    }
    let mut rng = Rng::new(seed);
    let dt = 1.0 / rate as f32;
    let random_unit = |rng: &mut Rng| {
        Vec3::new(
            rng.range_f32(-1.0, 1.0),
            rng.range_f32(-1.0, 1.0),
            rng.range_f32(-1.0, 1.0),
        )
        .normalize_or(Vec3::X)
    };
    let mut movers: Vec<Mover> = (0..count)
        .map(|index| Mover {
            pos: Vec3::new(
                rng.range_f32(20.0, 180.0),
                rng.range_f32(20.0, 180.0),
                rng.range_f32(20.0, 180.0),
            ),
            vel: Vec3::ZERO,
            turn_ticks: 0,
            spin: (index % 3 == 0).then(|| (random_unit(&mut rng), rng.range_f32(0.5, 3.0))),
            rotation: Quat::from_axis_angle(
                random_unit(&mut rng),
                rng.range_f32(0.0, std::f32::consts::TAU),
            ),
        })
        .collect();
    let snap = |v: f32| (v * UNITS_PER_M).round() / UNITS_PER_M;
    let mut frames = Vec::with_capacity(ticks);
    for _ in 0..ticks {
        for mover in &mut movers {
            if mover.turn_ticks == 0 {
                let toward_center = (Vec3::splat(100.0) - mover.pos).normalize_or_zero();
                let direction = (random_unit(&mut rng) + toward_center * 0.5).normalize_or(Vec3::X);
                let speed = rng.range_f32(1.0, 4.0);
                mover.vel = (direction * speed * dt * UNITS_PER_M).round() / UNITS_PER_M / dt;
                mover.turn_ticks = rng.range_u32(rate, 3 * rate);
            }
            mover.turn_ticks -= 1;
            let step = mover.vel * dt;
            mover.pos += Vec3::new(snap(step.x), snap(step.y), snap(step.z));
            if let Some((axis, speed)) = mover.spin {
                mover.rotation =
                    (Quat::from_axis_angle(axis, speed * dt) * mover.rotation).normalize();
            }
        }
        frames.push(
            movers
                .iter()
                .enumerate()
                .map(|(index, mover)| {
                    let unit = |v: f32| (v * UNITS_PER_M).round().clamp(0.0, POS_MAX as f32) as u32;
                    let per_tick = |v: f32| {
                        (v * dt * UNITS_PER_M)
                            .round()
                            .clamp(-(VEL_MAX as f32), VEL_MAX as f32) as i32
                    };
                    Body3 {
                        id: index as u32 + 1,
                        pos: [unit(mover.pos.x), unit(mover.pos.y), unit(mover.pos.z)],
                        vel: [
                            per_tick(mover.vel.x),
                            per_tick(mover.vel.y),
                            per_tick(mover.vel.z),
                        ],
                        rotation: pack_rotation(mover.rotation),
                    }
                })
                .collect(),
        );
    }
    frames
}

/// Bytes a naive full-state encoding spends per body: id u32, position and velocity 3 × f32
/// each, orientation 4 × f32.
pub const NAIVE_BYTES: usize = 4 + 12 + 12 + 16;

#[cfg(test)]
mod tests {
    use tickwire_protocol::delta;

    use super::*;

    #[test]
    fn tumbling_views_roundtrip_through_the_delta() {
        let frames = tumbling(200, 60, 40, 3);
        let mut bits = BitWriter::default();
        for pair in frames.windows(3) {
            bits.clear();
            delta::encode(&pair[0], &pair[2], 2, &mut bits);
            let mut out = Vec::new();
            delta::decode(&pair[0], 2, bits.as_bytes(), &mut out).expect("decodes");
            assert_eq!(out, pair[2]);
        }
    }

    #[test]
    fn steady_bodies_that_do_not_spin_cost_nothing() {
        let frames = tumbling(300, 60, 3, 9);
        // Only the spinning third changes between two ticks (and the few that turned).
        let mut bits = BitWriter::default();
        delta::encode(&frames[0], &frames[1], 1, &mut bits);
        let changed_bits = bits.bit_len();
        assert!(changed_bits < 100 * 60, "{changed_bits} bits");
    }
}
