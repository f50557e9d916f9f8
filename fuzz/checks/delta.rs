//! The `delta` fuzz target's check, shared by the target and by the stable test that replays
//! fuzz/regressions/delta/ (tests/tests/fuzz_regressions.rs). Arena snapshot delta bodies
//! against a valid baseline: decoding never panics; what decodes is sorted by id with every
//! field in range, and encoding it against the same baseline decodes back to it.
//!
//! Input layout: one byte for the baseline length (mod 65), one for the ticks elapsed, then one
//! 18-byte record per baseline entity (fields clamped into range), then the delta body.

use tickwire_arena::EntityState;
use tickwire_arena::wire::{flags, kind};
use tickwire_protocol::Record;
use tickwire_protocol::bits::BitWriter;
use tickwire_protocol::delta;
use tickwire_protocol::quant::{AIM_STEPS, POS_MAX, VEL_MAX};

const RECORD: usize = 18;

/// The check: panics when `data` breaks a rule above.
pub fn check(data: &[u8]) {
    let [count, elapsed, rest @ ..] = data else {
        return;
    };
    let count = (*count as usize % 65).min(rest.len() / RECORD);
    let elapsed = *elapsed as u32;
    let (records, body) = rest.split_at(count * RECORD);
    let baseline = baseline_from(records);

    let mut view = Vec::new();
    if delta::decode(&baseline, elapsed, body, &mut view).is_err() {
        return;
    }
    assert!(
        view.windows(2).all(|pair| pair[0].id < pair[1].id),
        "decoded view is not sorted by id: {view:?}"
    );
    assert!(
        view.iter().all(EntityState::is_valid),
        "decoded view holds an invalid state: {view:?}"
    );

    let mut writer = BitWriter::default();
    delta::encode(&baseline, &view, elapsed, &mut writer);
    let mut again = Vec::new();
    delta::decode(&baseline, elapsed, writer.as_bytes(), &mut again)
        .expect("a re-encoded view decodes");
    assert_eq!(again, view, "re-encoding changed the view");
}

/// Builds a valid baseline, sorted by strictly increasing id, from 18-byte records: id gap (1),
/// kind (1), x (3), y (3), vx (3), vy (3), aim (2), health (1), flags (1).
fn baseline_from(records: &[u8]) -> Vec<EntityState> {
    let mut previous_id = 0u32;
    records
        .chunks_exact(RECORD)
        .map(|record| {
            let u24 =
                |at: usize| u32::from_le_bytes([record[at], record[at + 1], record[at + 2], 0]);
            // A 24-bit value as signed, clamped to the velocity range.
            let velocity = |at: usize| ((u24(at) << 8) as i32 >> 8).clamp(-VEL_MAX, VEL_MAX);
            previous_id += 1 + record[0] as u32;
            EntityState {
                id: previous_id,
                kind: record[1] % (kind::MAX + 1),
                x: u24(2) % (POS_MAX + 1),
                y: u24(5) % (POS_MAX + 1),
                vx: velocity(8),
                vy: velocity(11),
                aim: (u16::from_le_bytes([record[14], record[15]]) as u32 % AIM_STEPS) as u16,
                health: record[16],
                flags: record[17] & flags::ALL,
            }
        })
        .inspect(|state| debug_assert!(state.is_valid()))
        .collect()
}
