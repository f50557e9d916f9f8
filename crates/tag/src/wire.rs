//! Tag's wire types: its [`Schema`] ([`Tag`]), the record snapshots carry for each runner
//! ([`Runner`]) and how it is delta-coded, the command ([`TagInput`]), the setup sent in the
//! Welcome ([`TagSetup`]), the stats row ([`TagStats`]) and the events ([`TagEvent`]).
//! docs/protocol/tag.md, docs/PROTOCOL.md's tag appendix, gives every bit.

use serde::{Deserialize, Serialize};
use tickwire_protocol::bits::{BitReader, BitWriter};
use tickwire_protocol::delta::predict;
use tickwire_protocol::quant::{POS_BITS, POS_MAX, VEL_MAX};
use tickwire_protocol::{
    Checksum, Command, DeltaError, Record, Schema, StatsRow, ValidationError, Wire, check_len,
    limits, no_control,
};

/// Tag's wire vocabulary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tag;

impl Schema for Tag {
    const NAME: &'static str = "tag";
    const VERSION: u16 = 1;
    type Setup = TagSetup;
    type Input = TagInput;
    type Record = Runner;
    type Stats = TagStats;
    type Event = TagEvent;
}

/// A player's command for one tick: which way to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagInput {
    /// -127..=127 maps to -1.0..=1.0 (-128 counts as -127); positive is +x.
    pub move_x: i8,
    /// Same scale as `move_x`; positive is +y.
    pub move_y: i8,
}

impl Wire for TagInput {}

impl Command for TagInput {}

/// What a client needs before the first snapshot: the field and the movement rules, so it can
/// draw the field and predict its own runner exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TagSetup {
    /// Field width in meters (x runs from 0 to `width`).
    pub width: f32,
    /// Field height in meters (y runs from 0 to `height`).
    pub height: f32,
    /// Every runner's radius in meters; two runners touch when their circles overlap.
    pub radius: f32,
    /// Top speed in m/s.
    pub speed: f32,
    /// Acceleration (and braking) in m/s².
    pub accel: f32,
}

/// The largest field side a position on the wire can reach, in meters.
pub const FIELD_MAX: f32 = POS_MAX as f32 / 256.0;

impl Wire for TagSetup {
    fn validate(&self) -> Result<(), ValidationError> {
        let numbers = [self.width, self.height, self.radius, self.speed, self.accel];
        let fits = numbers
            .iter()
            .all(|value| value.is_finite() && *value > 0.0)
            && self.width <= FIELD_MAX
            && self.height <= FIELD_MAX
            && 2.0 * self.radius < self.width.min(self.height);
        if fits {
            Ok(())
        } else {
            Err(ValidationError::Invalid {
                field: "setup",
                why: "non-finite or non-positive numbers, or runners too big for the field",
            })
        }
    }
}

/// Bits of [`Runner::flags`].
pub mod flags {
    /// This runner is "it".
    pub const IT: u8 = 1;
    /// This runner just passed "it" on and cannot be tagged back yet.
    pub const IMMUNE: u8 = 2;
    /// Every defined flag bit.
    pub const ALL: u8 = IT | IMMUNE;
}

const FLAG_BITS: u32 = 2;
const MASK_BITS: u32 = 3;
const MASK_POS: u32 = 1;
const MASK_VEL: u32 = 2;
const MASK_FLAGS: u32 = 4;
/// Exp-Golomb orders: a position residual is usually 0 or ±1, a velocity change small, a
/// velocity sent in full up to a few hundred units.
const K_POS: u32 = 0;
const K_VEL: u32 = 1;
const K_FULL_VEL: u32 = 4;

/// One runner as snapshots carry it: position and velocity quantized to the 1/256 m grid
/// (see [`tickwire_protocol::quant`]), and its flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Runner {
    /// Network id: the runner's player id (never 0).
    pub id: u32,
    /// X in 1/256 m, 0..=[`POS_MAX`].
    pub x: u32,
    /// Y in 1/256 m, 0..=[`POS_MAX`].
    pub y: u32,
    /// X velocity in 1/256 m per tick, within ±[`VEL_MAX`].
    pub vx: i32,
    /// Y velocity in 1/256 m per tick, within ±[`VEL_MAX`].
    pub vy: i32,
    /// Bits from [`flags`].
    pub flags: u8,
}

impl Record for Runner {
    #[inline]
    fn id(&self) -> u32 {
        self.id
    }

    #[inline]
    fn write_full(&self, out: &mut BitWriter) {
        out.write(self.x, POS_BITS);
        out.write(self.y, POS_BITS);
        out.write_signed_golomb(self.vx, K_FULL_VEL);
        out.write_signed_golomb(self.vy, K_FULL_VEL);
        out.write(self.flags as u32, FLAG_BITS);
    }

    #[inline]
    fn read_full(id: u32, input: &mut BitReader<'_>) -> Result<Self, DeltaError> {
        let runner = Runner {
            id,
            x: input.read(POS_BITS)?,
            y: input.read(POS_BITS)?,
            vx: input.read_signed_golomb(K_FULL_VEL)?,
            vy: input.read_signed_golomb(K_FULL_VEL)?,
            flags: input.read(FLAG_BITS)? as u8,
        };
        if runner.is_valid() {
            Ok(runner)
        } else {
            Err(DeltaError::Range(id))
        }
    }

    /// The position is compared with its prediction from the baseline ([`predict`]), not with
    /// the baseline itself: a runner at a steady velocity matches it exactly and costs nothing.
    #[inline]
    fn changes(&self, base: &Self, elapsed: u32) -> u32 {
        let mut mask = 0;
        if predict(base.x, base.vx, self.vx, elapsed) != self.x as i64
            || predict(base.y, base.vy, self.vy, elapsed) != self.y as i64
        {
            mask |= MASK_POS;
        }
        if (self.vx, self.vy) != (base.vx, base.vy) {
            mask |= MASK_VEL;
        }
        if self.flags != base.flags {
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
            // Residuals fit in i32: positions are below 2^20 and a prediction moves at most
            // VEL_MAX * 255 (< 2^24) away.
            let x = predict(base.x, base.vx, self.vx, elapsed);
            let y = predict(base.y, base.vy, self.vy, elapsed);
            out.write_signed_golomb((self.x as i64 - x) as i32, K_POS);
            out.write_signed_golomb((self.y as i64 - y) as i32, K_POS);
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
        let mut next = *base;
        let range = || DeltaError::Range(base.id);
        let mask = input.read(MASK_BITS)?;
        if mask & MASK_VEL != 0 {
            let dx = input.read_signed_golomb(K_VEL)?;
            let dy = input.read_signed_golomb(K_VEL)?;
            next.vx = base.vx.checked_add(dx).ok_or_else(range)?;
            next.vy = base.vy.checked_add(dy).ok_or_else(range)?;
        }
        let mut x = predict(base.x, base.vx, next.vx, elapsed);
        let mut y = predict(base.y, base.vy, next.vy, elapsed);
        if mask & MASK_POS != 0 {
            x += input.read_signed_golomb(K_POS)? as i64;
            y += input.read_signed_golomb(K_POS)? as i64;
        }
        next.x = u32::try_from(x).map_err(|_| range())?;
        next.y = u32::try_from(y).map_err(|_| range())?;
        if mask & MASK_FLAGS != 0 {
            next.flags = input.read(FLAG_BITS)? as u8;
        }
        if next.is_valid() {
            Ok(next)
        } else {
            Err(range())
        }
    }

    /// Moves a runner the delta does not mention along its steady velocity.
    #[inline]
    fn advance(&mut self, elapsed: u32) -> Result<(), DeltaError> {
        let x = predict(self.x, self.vx, self.vx, elapsed);
        let y = predict(self.y, self.vy, self.vy, elapsed);
        let range = || DeltaError::Range(self.id);
        self.x = u32::try_from(x)
            .ok()
            .filter(|x| *x <= POS_MAX)
            .ok_or_else(range)?;
        self.y = u32::try_from(y)
            .ok()
            .filter(|y| *y <= POS_MAX)
            .ok_or_else(range)?;
        Ok(())
    }

    #[inline]
    fn is_valid(&self) -> bool {
        // `contains` rather than `abs`, which overflows on i32::MIN (a value a hostile body
        // can carry).
        let velocity = -VEL_MAX..=VEL_MAX;
        self.id != 0
            && self.x <= POS_MAX
            && self.y <= POS_MAX
            && velocity.contains(&self.vx)
            && velocity.contains(&self.vy)
            && self.flags & !flags::ALL == 0
    }

    /// Six words: id, x, y, vx and vy (as two's complement), flags.
    #[inline]
    fn checksum(&self, sum: &mut Checksum) {
        for word in [
            self.id,
            self.x,
            self.y,
            self.vx as u32,
            self.vy as u32,
            self.flags as u32,
        ] {
            sum.word(word);
        }
    }
}

/// One player's row of the stats table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagStats {
    /// Player id.
    pub player: u32,
    /// Display name.
    pub name: String,
    /// Whole seconds spent as "it" (whole seconds, so the row changes once a second at most).
    pub it_seconds: u32,
    /// Times this player tagged someone.
    pub tags: u32,
}

impl Wire for TagStats {
    fn validate(&self) -> Result<(), ValidationError> {
        check_len("scores.name", self.name.len(), limits::NAME_MAX)?;
        no_control("scores.name", &self.name)
    }
}

impl StatsRow for TagStats {
    fn player(&self) -> u32 {
        self.player
    }

    /// Tags made: the leaderboard ranks by them.
    fn score(&self) -> i64 {
        i64::from(self.tags)
    }

    /// Reuses the name's buffer: the client applies table changes in place.
    fn assign(&mut self, from: &Self) {
        self.player = from.player;
        self.name.clone_from(&from.name);
        self.it_seconds = from.it_seconds;
        self.tags = from.tags;
    }
}

/// Something that happened on the field. Everyone hears every event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TagEvent {
    /// Nobody was "it" (the first players arrived, or "it" left): the game chose `player`.
    Chosen {
        /// The new "it".
        player: u32,
    },
    /// `from` touched `to` and `to` is "it" now.
    Tagged {
        /// Who was "it".
        from: u32,
        /// Who is "it" now.
        to: u32,
    },
}

impl Wire for TagEvent {}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use tickwire_protocol::delta;

    use super::*;

    #[test]
    fn a_steady_runner_costs_nothing() {
        let base: Vec<Runner> = (1..=50)
            .map(|id| Runner {
                id,
                x: 1000 + id * 100,
                y: 2000,
                vx: 12,
                vy: -7,
                flags: 0,
            })
            .collect();
        let later: Vec<Runner> = base
            .iter()
            .map(|runner| Runner {
                x: runner.x + 12 * 3,
                y: runner.y - 7 * 3,
                ..*runner
            })
            .collect();
        let mut bits = BitWriter::default();
        delta::encode(&base, &later, 3, &mut bits);
        // Three empty sections: removed, entered, changed.
        assert_eq!(bits.bit_len(), 3);
    }

    fn arb_runner(id: u32) -> impl Strategy<Value = Runner> {
        (
            0..=POS_MAX,
            0..=POS_MAX,
            -VEL_MAX..=VEL_MAX,
            -VEL_MAX..=VEL_MAX,
            0..=flags::ALL,
        )
            .prop_map(move |(x, y, vx, vy, flags)| Runner {
                id,
                x,
                y,
                vx,
                vy,
                flags,
            })
    }

    fn arb_view() -> impl Strategy<Value = Vec<Runner>> {
        proptest::collection::btree_set(1u32..100, 0..20)
            .prop_flat_map(|ids| ids.into_iter().map(arb_runner).collect::<Vec<_>>())
    }

    proptest! {
        #[test]
        fn any_view_roundtrips_against_any_baseline(
            base in arb_view(),
            cur in arb_view(),
            elapsed in 0u32..=8,
        ) {
            let mut bits = BitWriter::default();
            delta::encode(&base, &cur, elapsed, &mut bits);
            let mut out = Vec::new();
            delta::decode(&base, elapsed, bits.as_bytes(), &mut out).expect("decodes");
            prop_assert_eq!(out, cur);
        }

        #[test]
        fn garbage_never_panics(
            base in arb_view(),
            body in proptest::collection::vec(any::<u8>(), 0..64),
            elapsed in 0u32..=8,
        ) {
            let mut out = Vec::new();
            if delta::decode(&base, elapsed, &body, &mut out).is_ok() {
                prop_assert!(out.iter().all(Runner::is_valid));
            }
        }
    }
}
