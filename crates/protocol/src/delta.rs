//! Snapshot deltas: a player's view at one tick, encoded against the view it acknowledged.
//!
//! A view is a list of [`EntityState`]s sorted by id. The body of a [`crate::Snapshot`] describes
//! the current view relative to a baseline view (empty for a full snapshot), in three sections,
//! bit-packed with [`crate::bits`]:
//!
//! 1. removed: entities in the baseline that left the view, by id only;
//! 2. entered: entities new to the view, in full (kind and every field);
//! 3. changed: entities in both whose state differs from the baseline's *prediction*, with only
//!    the fields that differ.
//!
//! The prediction carries a moving entity forward: its position is predicted from the baseline
//! position plus the average of the baseline and current velocities times the ticks elapsed, so
//! an entity moving at a steady velocity costs nothing at all, and one that turns costs only the
//! small residual. Entities that match the prediction are not mentioned. docs/PROTOCOL.md gives
//! the exact bit layout.

use crate::bits::{BitReader, BitWriter, BitsError};
use crate::limits::VIEW_ENTITIES_MAX;
use crate::quant::{AIM_BITS, AIM_STEPS, POS_BITS, POS_MAX, VEL_MAX};

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
const K_COUNT: u32 = 0;
const K_ID_GAP: u32 = 2;
const K_INDEX_GAP: u32 = 0;
const K_POS: u32 = 0;
const K_VEL: u32 = 1;
const K_AIM: u32 = 2;
const K_FULL_VEL: u32 = 4;

/// One entity as the wire sees it: every field quantized (see [`crate::quant`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
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

impl EntityState {
    /// Whether every field is within the wire's ranges.
    pub fn is_valid(&self) -> bool {
        self.id != 0
            && self.kind <= kind::MAX
            && self.x <= POS_MAX
            && self.y <= POS_MAX
            && velocity_in_range(self.vx)
            && velocity_in_range(self.vy)
            && (self.aim as u32) < AIM_STEPS
            && self.flags & !flags::ALL == 0
    }
}

/// `-VEL_MAX..=VEL_MAX`, written without `abs`, which overflows on `i32::MIN` (a value a hostile
/// or corrupt body can carry).
fn velocity_in_range(v: i32) -> bool {
    (-VEL_MAX..=VEL_MAX).contains(&v)
}

/// Why a delta body did not apply to its baseline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeltaError {
    /// The bit stream ended early or held a malformed code.
    #[error(transparent)]
    Bits(#[from] BitsError),
    /// A count is larger than the baseline or the view limit allows.
    #[error("{section} count {count} exceeds {max}")]
    Count {
        /// Which section.
        section: &'static str,
        /// The count read.
        count: u32,
        /// The most allowed.
        max: usize,
    },
    /// A removed id is not in the baseline, or an entered id already is.
    #[error("entity id {0} does not fit the baseline")]
    Id(u32),
    /// A decoded field is out of range.
    #[error("entity {0} has an out-of-range field")]
    Range(u32),
    /// Non-zero bits after the last field (more than padding).
    #[error("trailing bits after the delta")]
    Trailing,
    /// The reconstructed view does not match the checksum the server computed.
    #[error("checksum mismatch: server {expected:#010x}, client {actual:#010x}")]
    Checksum {
        /// The server's checksum.
        expected: u32,
        /// The client's.
        actual: u32,
    },
}

/// Encodes `current` against `baseline` (both sorted by id, strictly increasing; an empty
/// baseline gives a full snapshot), `elapsed` ticks apart, appending to `out`.
pub fn encode(
    baseline: &[EntityState],
    current: &[EntityState],
    elapsed: u32,
    out: &mut BitWriter,
) {
    debug_assert!(is_sorted(baseline) && is_sorted(current));
    // One merge pass sorts everything into the three sections (each needs its count first);
    // the buffers are per thread and reused, so encoding allocates nothing in steady state.
    ENCODE_SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let EncodeScratch {
            removed,
            entered,
            changed,
        } = &mut *scratch;
        removed.clear();
        entered.clear();
        changed.clear();
        let mut kept_index = 0u32;
        merge(baseline, current, |step| match step {
            Merge::Removed(base) => removed.push(base.id),
            Merge::Entered(cur) => entered.push(*cur),
            Merge::Kept(base, cur) => {
                let mask = change_mask(base, cur, elapsed);
                if mask != 0 {
                    changed.push((kept_index, mask, *base, *cur));
                }
                kept_index += 1;
            }
        });

        out.write_golomb(removed.len() as u32, K_COUNT);
        let mut previous_id = 0u32;
        for &id in removed.iter() {
            out.write_golomb(id - previous_id - 1, K_ID_GAP);
            previous_id = id;
        }

        out.write_golomb(entered.len() as u32, K_COUNT);
        let mut previous_id = 0u32;
        for cur in entered.iter() {
            out.write_golomb(cur.id - previous_id - 1, K_ID_GAP);
            previous_id = cur.id;
            write_full(cur, out);
        }

        out.write_golomb(changed.len() as u32, K_COUNT);
        let mut next_index = 0u32; // one past the previous changed index
        for (index, mask, base, cur) in changed.iter() {
            out.write_golomb(index - next_index, K_INDEX_GAP);
            next_index = index + 1;
            write_changes(base, cur, elapsed, *mask, out);
        }
    });
}

/// Reusable buffers for [`encode`]: the removed ids, the entered states, and the changed
/// entities with their index among the kept ones and their change mask.
#[derive(Default)]
struct EncodeScratch {
    removed: Vec<u32>,
    entered: Vec<EntityState>,
    changed: Vec<(u32, u32, EntityState, EntityState)>,
}

thread_local! {
    static ENCODE_SCRATCH: std::cell::RefCell<EncodeScratch> = std::cell::RefCell::default();
}

/// Decodes a delta `body` against `baseline` (sorted by id), `elapsed` ticks apart, into
/// `out` (cleared first). The result is sorted by id and every field is in range.
pub fn decode(
    baseline: &[EntityState],
    elapsed: u32,
    body: &[u8],
    out: &mut Vec<EntityState>,
) -> Result<(), DeltaError> {
    out.clear();
    let mut reader = BitReader::new(body);

    // Removed: walk the baseline, dropping the listed ids; what is left is the kept list, which
    // goes into `out` for now.
    let removed = reader.read_golomb(K_COUNT)?;
    if removed as usize > baseline.len() {
        return Err(DeltaError::Count {
            section: "removed",
            count: removed,
            max: baseline.len(),
        });
    }
    let mut next_base = 0usize;
    let mut previous_id = 0u32;
    for _ in 0..removed {
        let id = read_next_id(&mut reader, previous_id)?;
        while next_base < baseline.len() && baseline[next_base].id < id {
            out.push(baseline[next_base]);
            next_base += 1;
        }
        if next_base == baseline.len() || baseline[next_base].id != id {
            return Err(DeltaError::Id(id));
        }
        next_base += 1;
        previous_id = id;
    }
    out.extend_from_slice(&baseline[next_base..]);
    let kept = out.len();

    // Entered: appended after the kept entities for now, merged into order at the end.
    let entered = reader.read_golomb(K_COUNT)?;
    if entered as usize > VIEW_ENTITIES_MAX.saturating_sub(kept) {
        return Err(DeltaError::Count {
            section: "entered",
            count: entered,
            max: VIEW_ENTITIES_MAX.saturating_sub(kept),
        });
    }
    let mut previous_id = 0u32;
    for _ in 0..entered {
        let id = read_next_id(&mut reader, previous_id)?;
        previous_id = id;
        let state = read_full(id, &mut reader)?;
        out.push(state);
    }

    // Changed: indices into the kept list.
    let changed = reader.read_golomb(K_COUNT)?;
    if changed as usize > kept {
        return Err(DeltaError::Count {
            section: "changed",
            count: changed,
            max: kept,
        });
    }
    // Kept entities not listed moved exactly as predicted: advance them on the way past.
    let mut index = 0usize;
    for _ in 0..changed {
        let gap = reader.read_golomb(K_INDEX_GAP)? as usize;
        let target = index.checked_add(gap).ok_or(DeltaError::Count {
            section: "changed index",
            count: gap as u32,
            max: kept,
        })?;
        if target >= kept {
            return Err(DeltaError::Count {
                section: "changed index",
                count: target as u32,
                max: kept,
            });
        }
        for state in &mut out[index..target] {
            advance(state, elapsed)?;
        }
        let base = out[target];
        out[target] = read_changes(&base, elapsed, &mut reader)?;
        index = target + 1;
    }
    for state in &mut out[index..kept] {
        advance(state, elapsed)?;
    }

    // Padding only: fewer than 8 bits, all zero.
    let rest = reader.remaining();
    if rest >= 8 || (rest > 0 && reader.read(rest as u32)? != 0) {
        return Err(DeltaError::Trailing);
    }

    // Merge the entered entities (sorted among themselves) into the kept ones (sorted).
    if entered > 0 {
        if kept > 0 {
            out.sort_unstable_by_key(|state| state.id);
        }
        if out.windows(2).any(|pair| pair[0].id == pair[1].id) {
            let duplicate = out
                .windows(2)
                .find(|pair| pair[0].id == pair[1].id)
                .map_or(0, |pair| pair[0].id);
            return Err(DeltaError::Id(duplicate));
        }
    }
    Ok(())
}

/// FNV-1a (32 bit) over 32-bit words, six per entity in order: id, x, y, vx, vy (as two's
/// complement u32), and `aim | health << 16 | kind << 24 | flags << 28`. Each word is folded in
/// whole: `hash = (hash ^ word) * 16777619 (mod 2^32)`, starting from 2166136261. Every step is
/// a bijection of the hash, so any single differing field changes the result.
pub fn checksum(view: &[EntityState]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for state in view {
        let packed = state.aim as u32
            | (state.health as u32) << 16
            | (state.kind as u32) << 24
            | (state.flags as u32) << 28;
        for word in [
            state.id,
            state.x,
            state.y,
            state.vx as u32,
            state.vy as u32,
            packed,
        ] {
            hash = (hash ^ word).wrapping_mul(0x0100_0193);
        }
    }
    hash
}

/// Predicted position coordinate: base + floor((base_vel + cur_vel) * elapsed / 2).
#[inline]
fn predict(base_pos: u32, base_vel: i32, cur_vel: i32, elapsed: u32) -> i64 {
    // An arithmetic shift is floor division by two, negative numbers included.
    base_pos as i64 + (((base_vel as i64 + cur_vel as i64) * elapsed as i64) >> 1)
}

/// Reads the next id of a section: ids are strictly increasing, sent as the gap minus one.
fn read_next_id(reader: &mut BitReader<'_>, previous_id: u32) -> Result<u32, DeltaError> {
    let gap = reader.read_golomb(K_ID_GAP)?;
    previous_id
        .checked_add(gap)
        .and_then(|id| id.checked_add(1))
        .ok_or(DeltaError::Id(u32::MAX))
}

/// Moves an unlisted entity along its steady velocity.
fn advance(state: &mut EntityState, elapsed: u32) -> Result<(), DeltaError> {
    let x = predict(state.x, state.vx, state.vx, elapsed);
    let y = predict(state.y, state.vy, state.vy, elapsed);
    if !(0..=POS_MAX as i64).contains(&x) || !(0..=POS_MAX as i64).contains(&y) {
        return Err(DeltaError::Range(state.id));
    }
    state.x = x as u32;
    state.y = y as u32;
    Ok(())
}

fn change_mask(base: &EntityState, cur: &EntityState, elapsed: u32) -> u32 {
    let mut mask = 0;
    if predict(base.x, base.vx, cur.vx, elapsed) != cur.x as i64
        || predict(base.y, base.vy, cur.vy, elapsed) != cur.y as i64
    {
        mask |= MASK_POS;
    }
    if base.vx != cur.vx || base.vy != cur.vy {
        mask |= MASK_VEL;
    }
    if base.aim != cur.aim {
        mask |= MASK_AIM;
    }
    if base.health != cur.health {
        mask |= MASK_HEALTH;
    }
    if base.flags != cur.flags {
        mask |= MASK_FLAGS;
    }
    mask
}

fn write_changes(
    base: &EntityState,
    cur: &EntityState,
    elapsed: u32,
    mask: u32,
    out: &mut BitWriter,
) {
    out.write(mask, MASK_BITS);
    if mask & MASK_VEL != 0 {
        out.write_signed_golomb(cur.vx - base.vx, K_VEL);
        out.write_signed_golomb(cur.vy - base.vy, K_VEL);
    }
    if mask & MASK_POS != 0 {
        // Residuals fit in i32: positions are < 2^20 and the prediction moves at most
        // VEL_MAX * 255 (< 2^24) away.
        out.write_signed_golomb(
            (cur.x as i64 - predict(base.x, base.vx, cur.vx, elapsed)) as i32,
            K_POS,
        );
        out.write_signed_golomb(
            (cur.y as i64 - predict(base.y, base.vy, cur.vy, elapsed)) as i32,
            K_POS,
        );
    }
    if mask & MASK_AIM != 0 {
        out.write_signed_golomb(wrap_aim(cur.aim as i32 - base.aim as i32), K_AIM);
    }
    if mask & MASK_HEALTH != 0 {
        out.write(cur.health as u32, HEALTH_BITS);
    }
    if mask & MASK_FLAGS != 0 {
        out.write(cur.flags as u32, FLAG_BITS);
    }
}

fn read_changes(
    base: &EntityState,
    elapsed: u32,
    reader: &mut BitReader<'_>,
) -> Result<EntityState, DeltaError> {
    let mut cur = *base;
    let mask = reader.read(MASK_BITS)?;
    let range = || DeltaError::Range(base.id);
    if mask & MASK_VEL != 0 {
        cur.vx = base
            .vx
            .checked_add(reader.read_signed_golomb(K_VEL)?)
            .ok_or_else(range)?;
        cur.vy = base
            .vy
            .checked_add(reader.read_signed_golomb(K_VEL)?)
            .ok_or_else(range)?;
        if !velocity_in_range(cur.vx) || !velocity_in_range(cur.vy) {
            return Err(range());
        }
    }
    let mut x = predict(base.x, base.vx, cur.vx, elapsed);
    let mut y = predict(base.y, base.vy, cur.vy, elapsed);
    if mask & MASK_POS != 0 {
        x += reader.read_signed_golomb(K_POS)? as i64;
        y += reader.read_signed_golomb(K_POS)? as i64;
    }
    if !(0..=POS_MAX as i64).contains(&x) || !(0..=POS_MAX as i64).contains(&y) {
        return Err(range());
    }
    cur.x = x as u32;
    cur.y = y as u32;
    if mask & MASK_AIM != 0 {
        let delta = reader.read_signed_golomb(K_AIM)?;
        cur.aim = (base.aim as i32)
            .wrapping_add(delta)
            .rem_euclid(AIM_STEPS as i32) as u16;
    }
    if mask & MASK_HEALTH != 0 {
        cur.health = reader.read(HEALTH_BITS)? as u8;
    }
    if mask & MASK_FLAGS != 0 {
        cur.flags = reader.read(FLAG_BITS)? as u8;
        if cur.flags & !flags::ALL != 0 {
            return Err(range());
        }
    }
    Ok(cur)
}

fn write_full(state: &EntityState, out: &mut BitWriter) {
    out.write(state.kind as u32, KIND_BITS);
    out.write(state.x, POS_BITS);
    out.write(state.y, POS_BITS);
    out.write_signed_golomb(state.vx, K_FULL_VEL);
    out.write_signed_golomb(state.vy, K_FULL_VEL);
    out.write(state.aim as u32, AIM_BITS);
    out.write(state.health as u32, HEALTH_BITS);
    out.write(state.flags as u32, FLAG_BITS);
}

fn read_full(id: u32, reader: &mut BitReader<'_>) -> Result<EntityState, DeltaError> {
    let state = EntityState {
        id,
        kind: reader.read(KIND_BITS)? as u8,
        x: reader.read(POS_BITS)?,
        y: reader.read(POS_BITS)?,
        vx: reader.read_signed_golomb(K_FULL_VEL)?,
        vy: reader.read_signed_golomb(K_FULL_VEL)?,
        aim: reader.read(AIM_BITS)? as u16,
        health: reader.read(HEALTH_BITS)? as u8,
        flags: reader.read(FLAG_BITS)? as u8,
    };
    if state.is_valid() {
        Ok(state)
    } else {
        Err(DeltaError::Range(id))
    }
}

/// Wraps an aim difference into -512..=511 so turning across 0 costs a small code.
fn wrap_aim(delta: i32) -> i32 {
    let steps = AIM_STEPS as i32;
    (delta + steps / 2).rem_euclid(steps) - steps / 2
}

enum Merge<'a> {
    Removed(&'a EntityState),
    Entered(&'a EntityState),
    Kept(&'a EntityState, &'a EntityState),
}

fn merge<'a>(
    baseline: &'a [EntityState],
    current: &'a [EntityState],
    mut f: impl FnMut(Merge<'a>),
) {
    let (mut b, mut c) = (0, 0);
    while b < baseline.len() || c < current.len() {
        match (baseline.get(b), current.get(c)) {
            (Some(base), Some(cur)) if base.id == cur.id => {
                // Ids are never reused for another kind; if one were, send it afresh.
                if base.kind == cur.kind {
                    f(Merge::Kept(base, cur));
                } else {
                    f(Merge::Removed(base));
                    f(Merge::Entered(cur));
                }
                b += 1;
                c += 1;
            }
            (Some(base), Some(cur)) if base.id < cur.id => {
                f(Merge::Removed(base));
                b += 1;
            }
            (Some(base), None) => {
                f(Merge::Removed(base));
                b += 1;
            }
            (_, Some(cur)) => {
                f(Merge::Entered(cur));
                c += 1;
            }
            (None, None) => unreachable!("loop condition"),
        }
    }
}

fn is_sorted(view: &[EntityState]) -> bool {
    view.windows(2).all(|pair| pair[0].id < pair[1].id)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn prediction_floors_like_the_documented_formula() {
        for (sum, elapsed) in [(-3i32, 1u32), (-1, 1), (1, 1), (3, 3), (-7, 5), (0, 9)] {
            let expected = 100 + ((sum as i64) * elapsed as i64).div_euclid(2);
            assert_eq!(predict(100, sum, 0, elapsed), expected);
        }
    }

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
            let mut bits = crate::bits::BitWriter::default();
            bits.write_golomb(0, K_COUNT); // removed
            bits.write_golomb(1, K_COUNT); // entered
            bits.write_golomb(0, K_ID_GAP); // id 1
            bits.write(kind::PLAYER as u32, KIND_BITS);
            bits.write(10, POS_BITS);
            bits.write(10, POS_BITS);
            bits.write_signed_golomb(vx, K_FULL_VEL);
            bits.write_signed_golomb(vy, K_FULL_VEL);
            bits.write(0, AIM_BITS);
            bits.write(100, HEALTH_BITS);
            bits.write(0, FLAG_BITS);
            bits.write_golomb(0, K_COUNT); // changed
            let mut out = Vec::new();
            assert_eq!(
                decode(&[], 1, bits.as_bytes(), &mut out),
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
        let mut bits = crate::bits::BitWriter::default();
        bits.write_golomb(0, K_COUNT); // removed
        bits.write_golomb(0, K_COUNT); // entered
        bits.write_golomb(1, K_COUNT); // changed
        bits.write_golomb(0, K_INDEX_GAP);
        bits.write(MASK_VEL, MASK_BITS);
        bits.write_signed_golomb(i32::MIN + VEL_MAX, K_VEL);
        bits.write_signed_golomb(0, K_VEL);
        // Zero ticks elapsed, so the prediction cannot leave the map: only the velocity check
        // can refuse this (even in release builds, where abs() would have wrapped).
        let mut out = Vec::new();
        assert_eq!(
            decode(&[base], 0, bits.as_bytes(), &mut out),
            Err(DeltaError::Range(7))
        );
        assert!(!velocity_in_range(i32::MIN));
    }

    fn arb_state(id: u32) -> impl Strategy<Value = EntityState> {
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
                        0 => continue, // removed
                        1 => {}        // unchanged
                        2 => {
                            // Exactly as predicted (steady velocity), if it stays in range.
                            let x = predict(state.x, state.vx, state.vx, elapsed);
                            let y = predict(state.y, state.vy, state.vy, elapsed);
                            if (0..=POS_MAX as i64).contains(&x)
                                && (0..=POS_MAX as i64).contains(&y)
                            {
                                next.x = x as u32;
                                next.y = y as u32;
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

    fn roundtrip(base: &[EntityState], cur: &[EntityState], elapsed: u32) -> Vec<EntityState> {
        let mut writer = BitWriter::default();
        encode(base, cur, elapsed, &mut writer);
        let mut out = Vec::new();
        decode(base, elapsed, writer.as_bytes(), &mut out).expect("decodes");
        out
    }

    proptest! {
        #[test]
        fn decode_inverts_encode((base, cur, elapsed) in arb_pair()) {
            prop_assert_eq!(roundtrip(&base, &cur, elapsed), cur);
        }

        #[test]
        fn full_snapshots_roundtrip(cur in arb_view()) {
            prop_assert_eq!(roundtrip(&[], &cur, 0), cur);
        }

        #[test]
        fn any_baseline_reconstructs_the_same_view(base_a in arb_view(), base_b in arb_view(), cur in arb_view(), elapsed in 0u32..=255) {
            prop_assert_eq!(roundtrip(&base_a, &cur, elapsed), roundtrip(&base_b, &cur, elapsed));
        }

        #[test]
        fn garbage_never_panics(base in arb_view(), body in proptest::collection::vec(any::<u8>(), 0..128), elapsed in 0u32..=255) {
            let mut out = Vec::new();
            if decode(&base, elapsed, &body, &mut out).is_ok() {
                prop_assert!(out.iter().all(EntityState::is_valid));
                prop_assert!(is_sorted(&out));
            }
        }
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
        encode(&base, &cur, 3, &mut writer);
        // Three zero counts: three bits, one byte.
        assert_eq!(writer.as_bytes().len(), 1);
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
        body.write_golomb(0, K_COUNT); // removed
        body.write_golomb(0, K_COUNT); // entered
        body.write_golomb(1, K_COUNT); // changed
        body.write_golomb(0, K_INDEX_GAP);
        body.write(MASK_AIM, MASK_BITS);
        body.write_signed_golomb(i32::MAX, K_AIM);
        let mut out = Vec::new();
        decode(&base, 1, body.as_bytes(), &mut out).expect("decodes");
        assert_eq!(out[0].aim as i64, (1000 + i32::MAX as i64).rem_euclid(1024));
    }

    #[test]
    fn checksum_is_order_and_field_sensitive() {
        let a = EntityState {
            id: 1,
            health: 5,
            ..Default::default()
        };
        let b = EntityState {
            id: 2,
            health: 5,
            ..Default::default()
        };
        assert_ne!(checksum(&[a, b]), checksum(&[b, a]));
        assert_ne!(checksum(&[a]), checksum(&[EntityState { health: 6, ..a }]));
        assert_eq!(checksum(&[]), 0x811c_9dc5);
    }
}
