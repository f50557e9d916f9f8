//! Card-game snapshot delta bodies against a valid baseline: decoding never panics; what decodes
//! is sorted by id with every record valid, and encoding it again decodes back to it.
//!
//! Input layout: one byte for the baseline length (mod 33), then one 8-byte record per baseline
//! entity (fields clamped into range), then the delta body.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwire_cards::CardRecord;
use tickwire_cards::wire::{RANK_MAX, SLOT_MAX, SUIT_MAX, kind};
use tickwire_protocol::bits::BitWriter;
use tickwire_protocol::{Record, delta};

const RECORD: usize = 8;

fuzz_target!(|data: &[u8]| {
    let [count, rest @ ..] = data else {
        return;
    };
    let count = (*count as usize % 33).min(rest.len() / RECORD);
    let (records, body) = rest.split_at(count * RECORD);
    let baseline = baseline_from(records);

    let mut view = Vec::new();
    if delta::decode(&baseline, 1, body, &mut view).is_err() {
        return;
    }
    assert!(view.windows(2).all(|pair| pair[0].id < pair[1].id));
    assert!(view.iter().all(CardRecord::is_valid), "{view:?}");
    let mut writer = BitWriter::default();
    delta::encode(&baseline, &view, 1, &mut writer);
    let mut again = Vec::new();
    delta::decode(&baseline, 1, writer.as_bytes(), &mut again).expect("a re-encoded view decodes");
    assert_eq!(again, view, "re-encoding changed the view");
});

/// A valid baseline from 8-byte records: id gap (1), kind (1), slot (1), rank (1), count (4).
fn baseline_from(records: &[u8]) -> Vec<CardRecord> {
    let mut previous_id = 0u32;
    records
        .chunks_exact(RECORD)
        .map(|record| {
            previous_id += 1 + record[0] as u32;
            let kind = record[1] % (kind::MAX + 1);
            let rank = record[3] % (RANK_MAX + 1);
            CardRecord {
                id: previous_id,
                kind,
                slot: record[2] % (SLOT_MAX + 1),
                rank: if kind == kind::HAND { rank.max(1) } else { rank },
                suit: (record[3] >> 4) % (SUIT_MAX + 1),
                count: u32::from_le_bytes([record[4], record[5], record[6], record[7]]),
            }
        })
        .collect()
}
