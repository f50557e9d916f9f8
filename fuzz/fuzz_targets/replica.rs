//! A sequence of snapshots into a `Replica`: never panics, a failed snapshot changes nothing, and
//! an applied one leaves exactly the view its baseline and body describe.
//!
//! The input is a list of operations, each starting with one byte `op`:
//! - `op & 1 == 0`: a raw frame (two length bytes, then the frame) through `decode_server`; a
//!   decoded Snapshot goes to the replica.
//! - `op & 1 == 1`: a structured snapshot more likely to get past the checks: tick step (1 byte),
//!   baseline choice (1), body length (1), body, then, unless `op & 2` asks for the checksum the
//!   body really produces, a checksum (4 bytes).
//! - `op == 0xff`: `Replica::reset`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwire_arena::{Arena, EntityState, ScoreEntry};
use tickwire_protocol::{Record, ReplicaError, ServerMsg, Snapshot, decode_server, delta};

type Replica = tickwire_protocol::Replica<Arena>;

/// Most views the fuzz target remembers (the replica holds at most 33).
const SHADOW_MAX: usize = 64;

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mut replica = Replica::default();
    // Views the replica accepted, by tick: what a baseline tick must decode against.
    let mut shadow: Vec<(u32, Vec<EntityState>)> = Vec::new();

    while let Some(op) = input.byte() {
        let (snapshot, expected_view) = if op == 0xff {
            replica.reset();
            assert_eq!(replica.ack_tick(), 0);
            assert!(replica.view().is_empty());
            continue;
        } else if op & 1 == 0 {
            let len = u16::from_le_bytes([input.byte_or_zero(), input.byte_or_zero()]) as usize;
            match decode_server::<Arena>(input.take(len)) {
                Ok(ServerMsg::Snapshot(snapshot)) => (snapshot, None),
                _ => continue,
            }
        } else {
            structured(op, &mut input, &replica, &shadow)
        };

        let ack_before = replica.ack_tick();
        let view_before = replica.view().to_vec();
        match replica.handle_snapshot(&snapshot) {
            Ok(()) => {
                let view = replica.view();
                assert_eq!(replica.ack_tick(), snapshot.tick);
                assert!(view.windows(2).all(|pair| pair[0].id < pair[1].id));
                assert!(view.iter().all(EntityState::is_valid));
                assert_eq!(delta::checksum(view), snapshot.checksum);
                assert!(replica.held() <= 33, "holds {} views", replica.held());
                // The table is sorted by player id, with one row per player, and holds every
                // row the snapshot said changed.
                let table = replica.scores();
                assert!(table.windows(2).all(|pair| pair[0].player < pair[1].player));
                for row in &snapshot.scores {
                    assert!(table.iter().any(|held| held.player == row.player));
                }
                if let Some(expected) = &expected_view {
                    assert_eq!(
                        view,
                        &expected[..],
                        "replica disagrees with a direct decode"
                    );
                }
                shadow.retain(|(tick, _)| *tick != snapshot.tick);
                shadow.push((snapshot.tick, view.to_vec()));
                if shadow.len() > SHADOW_MAX {
                    shadow.remove(0);
                }
            }
            Err(error) => {
                assert_eq!(
                    replica.ack_tick(),
                    ack_before,
                    "a failed snapshot moved the ack"
                );
                assert_eq!(
                    replica.view(),
                    &view_before[..],
                    "a failed snapshot changed the view"
                );
                // A body that decodes against the baseline the replica holds cannot fail there.
                if expected_view.is_some() {
                    assert!(
                        !matches!(error, ReplicaError::Delta { .. }),
                        "a body that decodes directly failed in the replica: {error}"
                    );
                }
            }
        }
    }
});

/// Builds a snapshot one tick step after the newest, against a remembered view (or none), and,
/// when the body decodes against that view, the view it should produce.
fn structured(
    op: u8,
    input: &mut Input<'_>,
    replica: &Replica,
    shadow: &[(u32, Vec<EntityState>)],
) -> (Snapshot<ScoreEntry>, Option<Vec<EntityState>>) {
    let tick = replica.ack_tick().wrapping_add(input.byte_or_zero() as u32);
    let choice = input.byte_or_zero();
    // Mostly a remembered view as the baseline, sometimes none (a full snapshot); `None` when
    // the age names a tick this target never saw accepted.
    let (baseline_age, baseline): (u8, Option<&[EntityState]>) =
        if shadow.is_empty() || choice.is_multiple_of(4) {
            (0, Some(&[]))
        } else {
            let (base_tick, view) = &shadow[choice as usize % shadow.len()];
            match u8::try_from(tick.wrapping_sub(*base_tick)) {
                Ok(age) if age > 0 => (age, Some(&view[..])),
                _ => (choice, None),
            }
        };
    let body_len = input.byte_or_zero() as usize;
    let body = input.take(body_len).to_vec();
    let mut expected = Vec::new();
    let decodes = baseline.is_some_and(|baseline| {
        delta::decode(baseline, baseline_age as u32, &body, &mut expected).is_ok()
    });
    let checksum = if op & 2 != 0 && decodes {
        delta::checksum(&expected)
    } else {
        u32::from_le_bytes([
            input.byte_or_zero(),
            input.byte_or_zero(),
            input.byte_or_zero(),
            input.byte_or_zero(),
        ])
    };
    let snapshot = Snapshot {
        tick,
        baseline_age,
        last_input: 0,
        checksum,
        scores: Vec::new(),
        scores_removed: if op & 4 != 0 { vec![tick] } else { Vec::new() },
        body,
    };
    let expected_view = (op & 2 != 0 && decodes).then_some(expected);
    (snapshot, expected_view)
}

/// The unread rest of the fuzzer's input.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn byte_or_zero(&mut self) -> u8 {
        self.byte().unwrap_or(0)
    }

    /// Up to `len` bytes (fewer when the input runs out).
    fn take(&mut self, len: usize) -> &'a [u8] {
        let (taken, rest) = self.0.split_at(len.min(self.0.len()));
        self.0 = rest;
        taken
    }
}
