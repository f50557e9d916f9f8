//! A bounded ring of past hitboxes, so the hitscan weapon can test targets where a shooter saw
//! them (lag compensation).

use glam::Vec2;

use crate::NetId;
use crate::hash::Fnv64;

/// Where one hittable entity (a player's body or an NPC) was at the end of a step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hitbox {
    pub net_id: NetId,
    pub pos: Vec2,
    pub radius: f32,
    pub alive: bool,
}

/// The hitboxes of the last `capacity` steps, one record per step, each sorted by NetId.
///
/// The records' buffers are allocated once and cleared for reuse, so once every record has seen
/// the largest entity count, recording allocates nothing.
#[derive(Debug)]
pub struct HitboxHistory {
    /// A ring of records; `records[newest]` is the latest one.
    records: Vec<Vec<Hitbox>>,
    /// Index of the latest record (meaningless while `filled` is 0).
    newest: usize,
    /// How many records hold data, at most `records.len()`.
    filled: usize,
}

impl HitboxHistory {
    /// An empty history that keeps the last `capacity` records (at least one).
    pub fn new(capacity: usize) -> HitboxHistory {
        let capacity = capacity.max(1);
        HitboxHistory {
            records: (0..capacity).map(|_| Vec::new()).collect(),
            newest: capacity - 1,
            filled: 0,
        }
    }

    /// Starts a new record, overwriting the oldest one once the ring is full, and returns its
    /// (empty) buffer for the caller to fill in NetId order.
    pub fn start_record(&mut self) -> &mut Vec<Hitbox> {
        let capacity = self.records.len();
        self.newest = (self.newest + 1) % capacity;
        self.filled = (self.filled + 1).min(capacity);
        let record = &mut self.records[self.newest];
        record.clear();
        record
    }

    /// The record made `ticks_ago` records before the latest one, or the oldest one kept if the
    /// history does not reach that far; `None` before the first record.
    pub fn record(&self, ticks_ago: u32) -> Option<&[Hitbox]> {
        if self.filled == 0 {
            return None;
        }
        let capacity = self.records.len();
        let back = (ticks_ago as usize).min(self.filled - 1);
        let index = (self.newest + capacity - back) % capacity;
        Some(&self.records[index])
    }

    /// Whether `net_id` is alive in every record from `ticks_ago` (clamped as in
    /// [`HitboxHistory::record`]) to the latest: it has not died, and perhaps come back as a new
    /// life, since. A shot at an earlier life must not hit the current one.
    pub fn alive_since(&self, net_id: NetId, ticks_ago: u32) -> bool {
        if self.filled == 0 {
            return false;
        }
        let back = (ticks_ago as usize).min(self.filled - 1);
        (0..=back).all(|ago| {
            self.record(ago as u32).is_some_and(|record| {
                record
                    .binary_search_by_key(&net_id, |hitbox| hitbox.net_id)
                    .is_ok_and(|index| record[index].alive)
            })
        })
    }

    /// Feeds every record, oldest first, into `hasher`.
    pub fn hash_into(&self, hasher: &mut Fnv64) {
        hasher.u64(self.filled as u64);
        for ticks_ago in (0..self.filled).rev() {
            let Some(record) = self.record(ticks_ago as u32) else {
                continue;
            };
            hasher.u64(record.len() as u64);
            for hitbox in record {
                hasher.u32(hitbox.net_id.0);
                hasher.f32(hitbox.pos.x);
                hasher.f32(hitbox.pos.y);
                hasher.f32(hitbox.radius);
                hasher.u8(u8::from(hitbox.alive));
            }
        }
    }
}

/// The hitbox with this id in a record sorted by NetId.
pub fn find(record: &[Hitbox], net_id: NetId) -> Option<&Hitbox> {
    record
        .binary_search_by_key(&net_id, |hitbox| hitbox.net_id)
        .ok()
        .map(|index| &record[index])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hitbox(id: u32, x: f32) -> Hitbox {
        Hitbox {
            net_id: NetId(id),
            pos: Vec2::new(x, 0.0),
            radius: 0.5,
            alive: true,
        }
    }

    fn push(history: &mut HitboxHistory, x: f32) {
        history.start_record().push(hitbox(1, x));
    }

    #[test]
    fn keeps_the_latest_records_and_clamps_to_the_oldest() {
        let mut history = HitboxHistory::new(3);
        assert!(history.record(0).is_none());
        push(&mut history, 1.0);
        assert_eq!(history.record(0).unwrap()[0].pos.x, 1.0);
        assert_eq!(history.record(5).unwrap()[0].pos.x, 1.0);
        for x in 2..=5 {
            push(&mut history, x as f32);
        }
        let x = |ticks_ago| history.record(ticks_ago).unwrap()[0].pos.x;
        assert_eq!((x(0), x(1), x(2), x(3), x(100)), (5.0, 4.0, 3.0, 3.0, 3.0));
    }

    #[test]
    fn reuses_its_buffers() {
        let mut history = HitboxHistory::new(4);
        for x in 0..4 {
            let record = history.start_record();
            record.extend((0..10).map(|id| hitbox(id, x as f32)));
        }
        let buffers: Vec<*const Hitbox> = history.records.iter().map(|r| r.as_ptr()).collect();
        for x in 4..40 {
            let record = history.start_record();
            record.extend((0..10).map(|id| hitbox(id, x as f32)));
        }
        let after: Vec<*const Hitbox> = history.records.iter().map(|r| r.as_ptr()).collect();
        assert_eq!(buffers, after);
        assert_eq!(
            find(history.record(0).unwrap(), NetId(7)).unwrap().pos.x,
            39.0
        );
        assert!(find(history.record(0).unwrap(), NetId(70)).is_none());
    }
}
