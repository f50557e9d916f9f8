//! Snapshot deltas: a viewer's view at one tick, encoded against the view it acknowledged.
//!
//! A view is a slice of [`Record`]s sorted by id. The body of a [`crate::Snapshot`] describes the
//! current view relative to a baseline view (empty for a full snapshot), in three sections,
//! bit-packed with [`crate::bits`]:
//!
//! 1. removed: entities in the baseline that left the view, by id only;
//! 2. entered: entities new to the view, in full ([`Record::write_full`]);
//! 3. changed: entities in both whose record differs from the baseline's *prediction*
//!    ([`Record::advance`]), with only what differs ([`Record::write_changes`]).
//!
//! This module owns the container (ids, counts, order, padding) and is the same for every game;
//! each game's record codes its own fields. Entities that match their prediction are not
//! mentioned at all, so a game whose records predict well (steady motion) pays nothing for them.
//! docs/PROTOCOL.md gives the exact bit layout.

use crate::bits::{BitReader, BitWriter, BitsError};
use crate::limits::VIEW_ENTITIES_MAX;
use crate::schema::Record;

/// Exp-Golomb order of the section counts.
const K_COUNT: u32 = 0;
/// Exp-Golomb order of id gaps (removed and entered sections).
const K_ID_GAP: u32 = 2;
/// Exp-Golomb order of index gaps (changed section).
const K_INDEX_GAP: u32 = 0;

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
pub fn encode<R: Record>(baseline: &[R], current: &[R], elapsed: u32, out: &mut BitWriter) {
    debug_assert!(is_sorted(baseline) && is_sorted(current));
    // One merge pass sorts everything into the three sections (each needs its count first);
    // the buffers hold indices, so they serve every record type, and are per thread and
    // reused, so encoding allocates nothing in steady state.
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
            Merge::Removed(base) => removed.push(base.id()),
            Merge::Entered(at) => entered.push(at as u32),
            Merge::Kept(base, cur, (base_at, cur_at)) => {
                let mask = cur.changes(base, elapsed);
                if mask != 0 {
                    changed.push(Changed {
                        kept_index,
                        mask,
                        base: base_at as u32,
                        cur: cur_at as u32,
                    });
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
        for &index in entered.iter() {
            let record = &current[index as usize];
            out.write_golomb(record.id() - previous_id - 1, K_ID_GAP);
            previous_id = record.id();
            record.write_full(out);
        }

        out.write_golomb(changed.len() as u32, K_COUNT);
        let mut next_index = 0u32; // one past the previous changed index
        for change in changed.iter() {
            out.write_golomb(change.kept_index - next_index, K_INDEX_GAP);
            next_index = change.kept_index + 1;
            current[change.cur as usize].write_changes(
                &baseline[change.base as usize],
                elapsed,
                change.mask,
                out,
            );
        }
    });
}

/// A kept entity that differs from its prediction: its index among the kept ones, its change
/// mask, and where it is in the baseline and the current view.
#[derive(Clone, Copy)]
struct Changed {
    kept_index: u32,
    mask: u32,
    base: u32,
    cur: u32,
}

/// Reusable buffers for [`encode`]: the removed ids, the entered records' indices, and the
/// changed entities.
#[derive(Default)]
struct EncodeScratch {
    removed: Vec<u32>,
    entered: Vec<u32>,
    changed: Vec<Changed>,
}

thread_local! {
    static ENCODE_SCRATCH: std::cell::RefCell<EncodeScratch> = std::cell::RefCell::default();
}

/// Decodes a delta `body` against `baseline` (sorted by id), `elapsed` ticks apart, into
/// `out` (cleared first). The result is sorted by id and every record is valid.
pub fn decode<R: Record>(
    baseline: &[R],
    elapsed: u32,
    body: &[u8],
    out: &mut Vec<R>,
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
        while next_base < baseline.len() && baseline[next_base].id() < id {
            out.push(baseline[next_base]);
            next_base += 1;
        }
        if next_base == baseline.len() || baseline[next_base].id() != id {
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
        let record = R::read_full(id, &mut reader)?;
        if record.id() != id || !record.is_valid() {
            return Err(DeltaError::Range(id));
        }
        out.push(record);
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
        for record in &mut out[index..target] {
            record.advance(elapsed)?;
        }
        let base = out[target];
        let record = R::read_changes(&base, elapsed, &mut reader)?;
        if record.id() != base.id() || !record.is_valid() {
            return Err(DeltaError::Range(base.id()));
        }
        out[target] = record;
        index = target + 1;
    }
    for record in &mut out[index..kept] {
        record.advance(elapsed)?;
    }

    // Padding only: fewer than 8 bits, all zero.
    let rest = reader.remaining();
    if rest >= 8 || (rest > 0 && reader.read(rest as u32)? != 0) {
        return Err(DeltaError::Trailing);
    }

    // Merge the entered entities (sorted among themselves) into the kept ones (sorted).
    if entered > 0 {
        if kept > 0 {
            out.sort_unstable_by_key(|record| record.id());
        }
        if let Some(pair) = out.windows(2).find(|pair| pair[0].id() == pair[1].id()) {
            return Err(DeltaError::Id(pair[0].id()));
        }
    }
    Ok(())
}

/// The snapshot checksum: 32-bit FNV-1a over the 32-bit words each record feeds it
/// ([`Record::checksum`]), in view order. Each word is folded in whole:
/// `hash = (hash ^ word) * 16777619 (mod 2^32)`, starting from 2166136261. Every step is a
/// bijection of the hash, so any single differing word changes the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checksum(u32);

impl Default for Checksum {
    fn default() -> Self {
        Checksum(0x811c_9dc5)
    }
}

impl Checksum {
    /// Folds one word in.
    #[inline]
    pub fn word(&mut self, word: u32) {
        self.0 = (self.0 ^ word).wrapping_mul(0x0100_0193);
    }

    /// The checksum so far.
    pub fn value(&self) -> u32 {
        self.0
    }
}

/// The checksum of a whole view (see [`Checksum`]).
pub fn checksum<R: Record>(view: &[R]) -> u32 {
    let mut sum = Checksum::default();
    for record in view {
        record.checksum(&mut sum);
    }
    sum.value()
}

/// A toolkit helper for moving records: the predicted position coordinate
/// `base + floor((base_vel + cur_vel) * elapsed / 2)`, the average of the two velocities
/// applied over the elapsed ticks. Exact for an entity whose velocity did not change.
#[inline]
pub fn predict(base_pos: u32, base_vel: i32, cur_vel: i32, elapsed: u32) -> i64 {
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

/// One step of the merge of a baseline and a current view: a removed baseline record, where an
/// entered record is in the current view, or a kept pair with where each is in its view.
enum Merge<'a, R> {
    Removed(&'a R),
    Entered(usize),
    Kept(&'a R, &'a R, (usize, usize)),
}

#[inline]
fn merge<'a, R: Record>(baseline: &'a [R], current: &'a [R], mut f: impl FnMut(Merge<'a, R>)) {
    let (mut b, mut c) = (0, 0);
    while b < baseline.len() || c < current.len() {
        match (baseline.get(b), current.get(c)) {
            (Some(base), Some(cur)) if base.id() == cur.id() => {
                if cur.continues(base) {
                    f(Merge::Kept(base, cur, (b, c)));
                } else {
                    f(Merge::Removed(base));
                    f(Merge::Entered(c));
                }
                b += 1;
                c += 1;
            }
            (Some(base), Some(cur)) if base.id() < cur.id() => {
                f(Merge::Removed(base));
                b += 1;
            }
            (Some(base), None) => {
                f(Merge::Removed(base));
                b += 1;
            }
            (_, Some(_)) => {
                f(Merge::Entered(c));
                c += 1;
            }
            (None, None) => unreachable!("loop condition"),
        }
    }
}

fn is_sorted<R: Record>(view: &[R]) -> bool {
    view.windows(2).all(|pair| pair[0].id() < pair[1].id())
}

/// A small record for testing the container: a position with a velocity on one axis and a
/// kind, coded the way a moving game entity would be.
#[cfg(test)]
pub(crate) mod test_record {
    use serde::{Deserialize, Serialize};

    use super::*;

    pub const POS_MAX: u32 = (1 << 16) - 1;
    pub const VEL_MAX: i32 = 1 << 10;

    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Dot {
        pub id: u32,
        pub kind: u8,
        pub x: u32,
        pub vx: i32,
        pub color: u8,
    }

    impl Record for Dot {
        fn id(&self) -> u32 {
            self.id
        }
        fn continues(&self, base: &Self) -> bool {
            self.kind == base.kind
        }
        fn write_full(&self, out: &mut BitWriter) {
            out.write(self.kind as u32, 2);
            out.write(self.x, 16);
            out.write_signed_golomb(self.vx, 3);
            out.write(self.color as u32, 8);
        }
        fn read_full(id: u32, input: &mut BitReader<'_>) -> Result<Self, DeltaError> {
            Ok(Dot {
                id,
                kind: input.read(2)? as u8,
                x: input.read(16)?,
                vx: input.read_signed_golomb(3)?,
                color: input.read(8)? as u8,
            })
        }
        fn changes(&self, base: &Self, elapsed: u32) -> u32 {
            let mut mask = 0;
            if predict(base.x, base.vx, self.vx, elapsed) != self.x as i64 {
                mask |= 1;
            }
            if base.vx != self.vx {
                mask |= 2;
            }
            if base.color != self.color {
                mask |= 4;
            }
            mask
        }
        fn write_changes(&self, base: &Self, elapsed: u32, mask: u32, out: &mut BitWriter) {
            out.write(mask, 3);
            if mask & 2 != 0 {
                out.write_signed_golomb(self.vx - base.vx, 1);
            }
            if mask & 1 != 0 {
                let residual = self.x as i64 - predict(base.x, base.vx, self.vx, elapsed);
                out.write_signed_golomb(residual as i32, 0);
            }
            if mask & 4 != 0 {
                out.write(self.color as u32, 8);
            }
        }
        fn read_changes(
            base: &Self,
            elapsed: u32,
            input: &mut BitReader<'_>,
        ) -> Result<Self, DeltaError> {
            let mut next = *base;
            let mask = input.read(3)?;
            if mask & 2 != 0 {
                next.vx = base
                    .vx
                    .checked_add(input.read_signed_golomb(1)?)
                    .ok_or(DeltaError::Range(base.id))?;
            }
            let mut x = predict(base.x, base.vx, next.vx, elapsed);
            if mask & 1 != 0 {
                x += input.read_signed_golomb(0)? as i64;
            }
            if !(0..=POS_MAX as i64).contains(&x) {
                return Err(DeltaError::Range(base.id));
            }
            next.x = x as u32;
            if mask & 4 != 0 {
                next.color = input.read(8)? as u8;
            }
            Ok(next)
        }
        fn advance(&mut self, elapsed: u32) -> Result<(), DeltaError> {
            let x = predict(self.x, self.vx, self.vx, elapsed);
            if !(0..=POS_MAX as i64).contains(&x) {
                return Err(DeltaError::Range(self.id));
            }
            self.x = x as u32;
            Ok(())
        }
        fn is_valid(&self) -> bool {
            self.id != 0
                && self.kind <= 3
                && self.x <= POS_MAX
                && (-VEL_MAX..=VEL_MAX).contains(&self.vx)
        }
        fn checksum(&self, sum: &mut Checksum) {
            sum.word(self.id);
            sum.word(self.x);
            sum.word(self.vx as u32);
            sum.word(self.kind as u32 | (self.color as u32) << 8);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::test_record::{Dot, POS_MAX, VEL_MAX};
    use super::*;

    #[test]
    fn prediction_floors_like_the_documented_formula() {
        for (sum, elapsed) in [(-3i32, 1u32), (-1, 1), (1, 1), (3, 3), (-7, 5), (0, 9)] {
            let expected = 100 + ((sum as i64) * elapsed as i64).div_euclid(2);
            assert_eq!(predict(100, sum, 0, elapsed), expected);
        }
    }

    fn arb_dot(id: u32) -> impl Strategy<Value = Dot> {
        (0u8..=3, 0..=POS_MAX, -VEL_MAX..=VEL_MAX, any::<u8>()).prop_map(
            move |(kind, x, vx, color)| Dot {
                id,
                kind,
                x,
                vx,
                color,
            },
        )
    }

    fn arb_view() -> impl Strategy<Value = Vec<Dot>> {
        proptest::collection::btree_set(1u32..400, 0..60)
            .prop_flat_map(|ids| ids.into_iter().map(arb_dot).collect::<Vec<_>>())
    }

    /// A current view derived from a baseline: some removed, some changed, some exactly as
    /// predicted, some of another kind under the same id, some new.
    fn arb_pair() -> impl Strategy<Value = (Vec<Dot>, Vec<Dot>, u32)> {
        (
            arb_view(),
            arb_view(),
            1u32..=255,
            proptest::collection::vec(0u8..5, 60),
        )
            .prop_map(|(base, fresh, elapsed, choices)| {
                let mut cur: Vec<Dot> = Vec::new();
                for (dot, choice) in base.iter().zip(choices.iter().cycle()) {
                    let mut next = *dot;
                    match choice {
                        0 => continue,
                        1 => {}
                        2 => {
                            if next.advance(elapsed).is_err() {
                                next = *dot;
                            }
                        }
                        3 => {
                            next.x = (next.x + 3).min(POS_MAX);
                            next.vx = (next.vx - 2).max(-VEL_MAX);
                            next.color = next.color.wrapping_add(1);
                        }
                        _ => next.kind = (next.kind + 1) % 4,
                    }
                    cur.push(next);
                }
                for dot in fresh {
                    if !base.iter().any(|b| b.id == dot.id) {
                        cur.push(dot);
                    }
                }
                cur.sort_by_key(|dot| dot.id);
                (base, cur, elapsed)
            })
    }

    fn roundtrip(base: &[Dot], cur: &[Dot], elapsed: u32) -> Vec<Dot> {
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
                prop_assert!(out.iter().all(Dot::is_valid));
                prop_assert!(is_sorted(&out));
            }
        }
    }

    #[test]
    fn records_matching_their_prediction_cost_nothing() {
        let base: Vec<Dot> = (1..=900)
            .map(|id| Dot {
                id,
                kind: 1,
                x: 1000 + id * 10,
                vx: 17,
                color: 3,
            })
            .collect();
        let cur: Vec<Dot> = base
            .iter()
            .map(|dot| Dot {
                x: dot.x + 17 * 3,
                ..*dot
            })
            .collect();
        let mut writer = BitWriter::default();
        encode(&base, &cur, 3, &mut writer);
        // Three zero counts: three bits, one byte.
        assert_eq!(writer.as_bytes().len(), 1);
    }

    #[test]
    fn an_invalid_entered_record_is_a_range_error() {
        let mut bits = BitWriter::default();
        bits.write_golomb(0, K_COUNT); // removed
        bits.write_golomb(1, K_COUNT); // entered
        bits.write_golomb(0, K_ID_GAP); // id 1
        Dot {
            id: 1,
            kind: 0,
            x: 5,
            vx: VEL_MAX + 1,
            color: 0,
        }
        .write_full(&mut bits);
        bits.write_golomb(0, K_COUNT); // changed
        let mut out = Vec::<Dot>::new();
        assert_eq!(
            decode(&[], 1, bits.as_bytes(), &mut out),
            Err(DeltaError::Range(1))
        );
    }

    #[test]
    fn checksum_is_order_and_field_sensitive() {
        let a = Dot {
            id: 1,
            color: 5,
            ..Default::default()
        };
        let b = Dot {
            id: 2,
            color: 5,
            ..Default::default()
        };
        assert_ne!(checksum(&[a, b]), checksum(&[b, a]));
        assert_ne!(checksum(&[a]), checksum(&[Dot { color: 6, ..a }]));
        assert_eq!(checksum::<Dot>(&[]), 0x811c_9dc5);
    }
}
