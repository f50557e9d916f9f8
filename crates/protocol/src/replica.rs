//! The client's side of snapshot deltas: a short history of decoded views to use as baselines.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::delta::{self, DeltaError};
use crate::limits::{BASELINE_AGE_MAX, SCORES_MAX};
use crate::msg::Snapshot;
use crate::schema::{Record, Schema, StatsRow};

/// Most decoded views a replica keeps as possible baselines.
/// One more than the protocol promises, so the newest snapshot plus
/// [`CLIENT_BASELINES`](crate::limits::CLIENT_BASELINES) before it are held.
const HISTORY_MAX: usize = crate::limits::CLIENT_BASELINES + 1;

/// Rebuilds a client's view of the world (a game's records and stats table) from a stream of
/// [`Snapshot`]s.
///
/// Feed every snapshot to [`Replica::handle_snapshot`] in arrival order; read the newest view
/// with [`Replica::view`]; put [`Replica::ack_tick`] into every [`crate::Input`] so the server
/// encodes against a baseline this replica still has. The replica drops baselines the server can
/// no longer use (older than the baseline of the newest snapshot), so it holds only a few views.
#[derive(Debug)]
pub struct Replica<G: Schema> {
    /// Decoded views, oldest first, ticks strictly increasing.
    history: VecDeque<Frame<G>>,
    /// Spare view buffers, reused to avoid allocating per snapshot.
    spare: Vec<Vec<G::Record>>,
    /// Spare score tables (their rows' buffers too), reused the same way.
    spare_scores: Vec<Vec<G::Stats>>,
    /// The score table before any snapshot, shared rather than allocated per snapshot.
    no_scores: Arc<Vec<G::Stats>>,
    decoded: u64,
}

impl<G: Schema> Default for Replica<G> {
    fn default() -> Self {
        Replica {
            history: VecDeque::new(),
            spare: Vec::new(),
            spare_scores: Vec::new(),
            no_scores: Arc::new(Vec::new()),
            decoded: 0,
        }
    }
}

/// Spare score tables kept at most (tables are shared by the frames until their rows change, so
/// only a few are ever free at once).
const SPARE_SCORES_MAX: usize = 4;

#[derive(Debug)]
struct Frame<G: Schema> {
    tick: u32,
    view: Vec<G::Record>,
    scores: Arc<Vec<G::Stats>>,
}

/// Why a snapshot could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicaError {
    /// The snapshot is relative to a tick this replica does not hold.
    #[error("snapshot {tick} is relative to tick {baseline}, which this client does not hold")]
    MissingBaseline {
        /// The snapshot's tick.
        tick: u32,
        /// The baseline it names.
        baseline: u32,
    },
    /// The snapshot is not newer than the newest one applied.
    #[error("snapshot {tick} is not newer than {newest}")]
    Stale {
        /// The snapshot's tick.
        tick: u32,
        /// The newest tick held.
        newest: u32,
    },
    /// The score rows would make a table longer than
    /// [`SCORES_MAX`](crate::limits::SCORES_MAX) (a room never holds more players).
    #[error("snapshot {tick}: score table of {rows} rows exceeds the limit")]
    ScoresOverflow {
        /// The snapshot's tick.
        tick: u32,
        /// Rows the table would have had.
        rows: usize,
    },
    /// The delta is malformed or its checksum does not match.
    #[error("snapshot {tick}: {error}")]
    Delta {
        /// The snapshot's tick.
        tick: u32,
        /// What went wrong.
        error: DeltaError,
    },
}

impl<G: Schema> Replica<G> {
    /// Applies one snapshot. On error the replica is unchanged, so the client can keep going (it
    /// keeps acknowledging its newest good tick, or 0 to ask for a full snapshot).
    pub fn handle_snapshot(&mut self, snapshot: &Snapshot<G::Stats>) -> Result<(), ReplicaError> {
        let tick = snapshot.tick;
        if let Some(newest) = self.history.back()
            && tick <= newest.tick
        {
            return Err(ReplicaError::Stale {
                tick,
                newest: newest.tick,
            });
        }
        let age = snapshot.baseline_age as u32;
        let mut view = self.spare.pop().unwrap_or_default();
        let base_index = if age == 0 {
            None
        } else {
            let baseline = tick.wrapping_sub(age);
            match self.history.iter().position(|frame| frame.tick == baseline) {
                Some(index) => Some(index),
                None => {
                    self.spare.push(view);
                    return Err(ReplicaError::MissingBaseline { tick, baseline });
                }
            }
        };
        let (base_view, base_scores): (&[G::Record], &Arc<Vec<G::Stats>>) = match base_index {
            Some(index) => (&self.history[index].view, &self.history[index].scores),
            None => (&[], &self.no_scores),
        };
        let result = delta::decode(base_view, age, &snapshot.body, &mut view).and_then(|()| {
            let actual = delta::checksum(&view);
            if actual == snapshot.checksum {
                Ok(())
            } else {
                Err(DeltaError::Checksum {
                    expected: snapshot.checksum,
                    actual,
                })
            }
        });
        if let Err(error) = result {
            self.spare.push(view);
            return Err(ReplicaError::Delta { tick, error });
        }
        let scores = if snapshot.scores.is_empty() && snapshot.scores_removed.is_empty() {
            Arc::clone(base_scores)
        } else {
            let mut table = self.spare_scores.pop().unwrap_or_default();
            apply_scores(
                &mut table,
                base_scores,
                &snapshot.scores,
                &snapshot.scores_removed,
            );
            // Each message is capped, but deltas could add up: refuse a table no room can have.
            if table.len() > SCORES_MAX {
                let rows = table.len();
                self.spare.push(view);
                return Err(ReplicaError::ScoresOverflow { tick, rows });
            }
            Arc::new(table)
        };

        // Baselines older than this snapshot's will never be used again: the server deltas
        // against the newest acknowledgement it has, and acknowledgements only move forward.
        let keep_from = match base_index {
            Some(index) => index,
            None => self.history.len().saturating_sub(HISTORY_MAX - 1),
        };
        for _ in 0..keep_from {
            self.recycle_oldest();
        }
        while self.history.len() >= HISTORY_MAX {
            self.recycle_oldest();
        }
        // A baseline further back than the protocol allows is useless too.
        while let Some(oldest) = self.history.front() {
            if tick.wrapping_sub(oldest.tick) > BASELINE_AGE_MAX {
                self.recycle_oldest();
            } else {
                break;
            }
        }
        self.history.push_back(Frame { tick, view, scores });
        self.decoded += 1;
        Ok(())
    }

    /// The newest view, sorted by entity id (empty before the first snapshot).
    pub fn view(&self) -> &[G::Record] {
        self.history.back().map_or(&[], |frame| &frame.view)
    }

    /// The score table as of the newest snapshot.
    pub fn scores(&self) -> &[G::Stats] {
        self.history.back().map_or(&[], |frame| &frame.scores)
    }

    /// The tick to acknowledge: the newest decoded snapshot's (0 before the first).
    pub fn ack_tick(&self) -> u32 {
        self.history.back().map_or(0, |frame| frame.tick)
    }

    /// Number of snapshots applied so far.
    pub fn decoded(&self) -> u64 {
        self.decoded
    }

    /// Number of views held as possible baselines.
    pub fn held(&self) -> usize {
        self.history.len()
    }

    /// Looks an entity up in the newest view.
    pub fn entity(&self, id: u32) -> Option<&G::Record> {
        let view = self.view();
        view.binary_search_by_key(&id, |record| record.id())
            .ok()
            .map(|index| &view[index])
    }

    /// Forgets every view, so the next acknowledgement is 0 and the server sends a full snapshot.
    pub fn reset(&mut self) {
        while !self.history.is_empty() {
            self.recycle_oldest();
        }
    }

    fn recycle_oldest(&mut self) {
        if let Some(frame) = self.history.pop_front() {
            let mut view = frame.view;
            view.clear();
            self.spare.push(view);
            // The last frame holding a table gives it back, rows and all, for reuse.
            if let Ok(table) = Arc::try_unwrap(frame.scores)
                && self.spare_scores.len() < SPARE_SCORES_MAX
            {
                self.spare_scores.push(table);
            }
        }
    }
}

/// Writes into `table` the baseline's table without the removed rows, with the changed rows put
/// in (sorted by player id; a changed row wins over a removal of the same player).
///
/// `base` is always sorted with unique players (it is an earlier result). When `changed` and
/// `removed` are too, as the server sends them, one merge pass writes over `table`'s existing
/// rows, reusing their name buffers, so a score change allocates nothing in steady state.
fn apply_scores<S: StatsRow>(table: &mut Vec<S>, base: &[S], changed: &[S], removed: &[u32]) {
    if !changed
        .windows(2)
        .all(|pair| pair[0].player() < pair[1].player())
        || !removed.windows(2).all(|pair| pair[0] < pair[1])
    {
        *table = apply_scores_unordered(base, changed, removed);
        return;
    }
    let mut len = 0;
    let mut put = |row: &S| {
        match table.get_mut(len) {
            Some(slot) => slot.assign(row),
            None => table.push(row.clone()),
        }
        len += 1;
    };
    let mut changed = changed.iter().peekable();
    let mut removed = removed.iter().peekable();
    for row in base {
        let player = row.player();
        while let Some(new) = changed.next_if(|new| new.player() < player) {
            put(new);
        }
        while removed.next_if(|&&gone| gone < player).is_some() {}
        let is_removed = removed.next_if(|&&gone| gone == player).is_some();
        if let Some(new) = changed.next_if(|new| new.player() == player) {
            put(new);
        } else if !is_removed {
            put(row);
        }
    }
    changed.for_each(put);
    table.truncate(len);
}

/// [`apply_scores`] for a `changed` list in any order (possibly with repeats; the first row of
/// a player wins). A server never sends one; it is handled all the same.
fn apply_scores_unordered<S: StatsRow>(base: &[S], changed: &[S], removed: &[u32]) -> Vec<S> {
    let mut table: Vec<S> = base
        .iter()
        .filter(|row| {
            !removed.contains(&row.player())
                && !changed.iter().any(|new| new.player() == row.player())
        })
        .cloned()
        .collect();
    table.extend(changed.iter().cloned());
    table.sort_by_key(|row| row.player());
    table.dedup_by_key(|row| row.player());
    table
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::bits::BitWriter;
    use crate::delta::test_record::Dot;
    use crate::schema::test_game::{Row, TestGame};

    fn snapshot(tick: u32, base: Option<(u32, &[Dot])>, cur: &[Dot]) -> Snapshot<Row> {
        let mut writer = BitWriter::default();
        let (age, base_view) = match base {
            Some((base_tick, view)) => (tick - base_tick, view),
            None => (0, &[][..]),
        };
        delta::encode(base_view, cur, age, &mut writer);
        Snapshot {
            tick,
            baseline_age: age as u8,
            last_input: 0,
            checksum: delta::checksum(cur),
            scores: Vec::new(),
            scores_removed: Vec::new(),
            body: writer.as_bytes().to_vec(),
        }
    }

    fn dot(id: u32, x: u32) -> Dot {
        Dot {
            id,
            kind: 1,
            x,
            vx: 1,
            color: 9,
        }
    }

    fn row(player: u32, points: u32) -> Row {
        Row {
            player,
            name: format!("p{player}"),
            points,
        }
    }

    #[test]
    fn follows_deltas_and_prunes_old_baselines() {
        let mut replica = Replica::<TestGame>::default();
        let v1 = [dot(1, 10), dot(2, 20)];
        let v2 = [dot(1, 11), dot(3, 5)];
        let v3 = [dot(1, 12), dot(3, 6)];
        replica.handle_snapshot(&snapshot(1, None, &v1)).unwrap();
        replica
            .handle_snapshot(&snapshot(2, Some((1, &v1)), &v2))
            .unwrap();
        assert_eq!(replica.view(), &v2);
        // The server got the ack for 2: baseline 1 is dropped.
        replica
            .handle_snapshot(&snapshot(3, Some((2, &v2)), &v3))
            .unwrap();
        assert_eq!(replica.view(), &v3);
        assert_eq!(replica.held(), 2);
        assert_eq!(replica.ack_tick(), 3);
        // A delta against a dropped baseline is refused and changes nothing.
        let error = replica
            .handle_snapshot(&snapshot(4, Some((1, &v1)), &v3))
            .unwrap_err();
        assert!(matches!(
            error,
            ReplicaError::MissingBaseline { baseline: 1, .. }
        ));
        assert_eq!(replica.view(), &v3);
    }

    #[test]
    fn score_rows_follow_their_baseline() {
        let mut replica = Replica::<TestGame>::default();
        let mut full = snapshot(1, None, &[]);
        full.scores = vec![row(1, 0), row(2, 0), row(3, 0)];
        replica.handle_snapshot(&full).unwrap();
        // Player 2 scored, player 3 left, player 4 joined.
        let mut delta = snapshot(2, Some((1, &[])), &[]);
        delta.scores = vec![row(2, 1), row(4, 0)];
        delta.scores_removed = vec![3];
        replica.handle_snapshot(&delta).unwrap();
        assert_eq!(replica.scores(), &[row(1, 0), row(2, 1), row(4, 0)]);
        // Nothing changed since tick 2: the table carries over.
        replica
            .handle_snapshot(&snapshot(3, Some((2, &[])), &[]))
            .unwrap();
        assert_eq!(replica.scores(), &[row(1, 0), row(2, 1), row(4, 0)]);
    }

    fn arb_rows(players: impl Strategy<Value = Vec<u32>>) -> impl Strategy<Value = Vec<Row>> {
        players.prop_flat_map(|players| {
            let count = players.len();
            (
                Just(players),
                proptest::collection::vec(("[a-z]{0,24}", 0u32..5), count),
            )
                .prop_map(|(players, fields)| {
                    players
                        .into_iter()
                        .zip(fields)
                        .map(|(player, (name, points))| Row {
                            player,
                            name,
                            points,
                        })
                        .collect()
                })
        })
    }

    fn sorted_players() -> impl Strategy<Value = Vec<u32>> {
        proptest::collection::btree_set(0u32..40, 0..30).prop_map(|set| set.into_iter().collect())
    }

    proptest! {
        /// The in-place merge writes the same table as the general path, whatever rows the
        /// reused table held before.
        #[test]
        fn in_place_merge_matches_the_general_path(
            base in arb_rows(sorted_players()),
            changed in arb_rows(sorted_players()),
            removed in proptest::collection::vec(0u32..40, 0..8),
            stale in arb_rows(proptest::collection::vec(0u32..40, 0..30)),
        ) {
            let expected = apply_scores_unordered(&base, &changed, &removed);
            // As sent (removed sorted: the merge path) and in any order (the general path).
            let mut sorted_removed = removed.clone();
            sorted_removed.sort_unstable();
            sorted_removed.dedup();
            let mut table = stale.clone();
            apply_scores(&mut table, &base, &changed, &sorted_removed);
            prop_assert_eq!(&table, &expected);
            let mut table = stale;
            apply_scores(&mut table, &base, &changed, &removed);
            prop_assert_eq!(&table, &expected);
        }
    }

    /// A hostile server cannot grow the score table past the limit a few rows at a time.
    #[test]
    fn score_table_cannot_outgrow_the_limit() {
        let mut replica = Replica::<TestGame>::default();
        let mut full = snapshot(1, None, &[]);
        full.scores = (0..SCORES_MAX as u32)
            .map(|player| row(player, 0))
            .collect();
        replica.handle_snapshot(&full).unwrap();
        assert_eq!(replica.scores().len(), SCORES_MAX);
        let mut more = snapshot(2, Some((1, &[])), &[]);
        more.scores = vec![row(SCORES_MAX as u32, 0)];
        assert_eq!(
            replica.handle_snapshot(&more),
            Err(ReplicaError::ScoresOverflow {
                tick: 2,
                rows: SCORES_MAX + 1
            })
        );
        // Unchanged: still at tick 1 with the full table.
        assert_eq!(
            (replica.ack_tick(), replica.scores().len()),
            (1, SCORES_MAX)
        );
    }

    #[test]
    fn bad_checksum_is_caught() {
        let mut replica = Replica::<TestGame>::default();
        let mut bad = snapshot(1, None, &[dot(1, 10)]);
        bad.checksum ^= 1;
        assert!(matches!(
            replica.handle_snapshot(&bad),
            Err(ReplicaError::Delta {
                error: DeltaError::Checksum { .. },
                ..
            })
        ));
        assert_eq!(replica.ack_tick(), 0);
    }
}
