//! The snapshot bench's seeded scenarios: runs of consecutive spectator views, one per tick, of
//! any record type ([`BenchRecord`]: the arena's `EntityState`, and the bench-only 3D body).
//!
//! Shared by the `snapshot` bench (which measures them) and this crate's tests (which pin their
//! total wire bytes, so a change that makes snapshots bigger fails `cargo test`).

use tickwire_arena::{Arena, EntityState, Rules, World, convert};
use tickwire_protocol::bits::BitWriter;
use tickwire_protocol::{Record, Schema, ServerMsg, Snapshot, delta, encode_server};
use tickwire_sim::PlayerId;

use crate::bodies::{self, Bodies, Body3};
use crate::naive::{self, NaiveEntity};
use crate::{Wanderers, open_map};

/// A record the snapshot bench can measure: the schema its snapshots travel in, and the naive
/// full-state encoding it is compared with (f32 fields, fixed-width integers).
pub trait BenchRecord: Record {
    /// The schema whose envelope carries it.
    type Wire: Schema<Record = Self>;
    /// The record as a naive server would hold it.
    type Naive: Copy;
    /// What the naive encoding is, in one line (for the report).
    const NAIVE_LAYOUT: &'static str;
    /// The naive form, for a tick of `dt` seconds.
    fn to_naive(&self, dt: f32) -> Self::Naive;
    /// Appends the naive encoding of a whole view.
    fn encode_naive(view: &[Self::Naive], out: &mut Vec<u8>);
    /// Bytes of the naive encoding of `count` records.
    fn naive_len(count: usize) -> usize;
}

impl BenchRecord for EntityState {
    type Wire = Arena;
    type Naive = NaiveEntity;
    const NAIVE_LAYOUT: &'static str = "bincode fixed-int layout of Vec<{id u32, kind u8, x y vx vy f32, aim f32, health u8, flags u8}>: 8 + 27 bytes per entity";

    fn to_naive(&self, dt: f32) -> NaiveEntity {
        NaiveEntity::from_state(self, dt)
    }

    fn encode_naive(view: &[NaiveEntity], out: &mut Vec<u8>) {
        naive::encode(view, out);
    }

    fn naive_len(count: usize) -> usize {
        naive::encoded_len(count)
    }
}

impl BenchRecord for Body3 {
    type Wire = Bodies;
    type Naive = Body3;
    const NAIVE_LAYOUT: &'static str = "bincode fixed-int layout of Vec<{id u32, position 3 x f32, velocity 3 x f32, quaternion 4 x f32}>: 8 + 44 bytes per body";

    fn to_naive(&self, _: f32) -> Body3 {
        *self
    }

    /// The quaternion is written from its packed form as four f32 (their values do not change
    /// the size, only the work, which is the same as writing stored floats).
    fn encode_naive(view: &[Body3], out: &mut Vec<u8>) {
        out.reserve(Self::naive_len(view.len()));
        out.extend_from_slice(&(view.len() as u64).to_le_bytes());
        for body in view {
            out.extend_from_slice(&body.id.to_le_bytes());
            for axis in 0..3 {
                out.extend_from_slice(&(body.pos[axis] as f32 / 256.0).to_le_bytes());
            }
            for axis in 0..3 {
                out.extend_from_slice(&(body.vel[axis] as f32).to_le_bytes());
            }
            for shift in [0, 10, 20, 30] {
                out.extend_from_slice(&(((body.rotation >> shift) & 1023) as f32).to_le_bytes());
            }
        }
    }

    fn naive_len(count: usize) -> usize {
        8 + bodies::NAIVE_BYTES * count
    }
}

/// Snapshots replayed per scenario.
pub const SNAPSHOTS: usize = 300;
/// Ticks between the baseline and the snapshot (the acknowledgement age).
pub const ACK_AGE: u32 = 2;

/// A run of consecutive views, one per tick, ready to encode.
#[derive(Debug)]
pub struct Scenario<R: BenchRecord = EntityState> {
    /// Short name (`arena-100`, ...).
    pub name: &'static str,
    /// One line for the report.
    pub description: &'static str,
    /// Ticks (and snapshots) per second.
    pub rate: u32,
    /// Tick of `frames[0]`.
    pub first_tick: u32,
    /// `SNAPSHOTS + ACK_AGE` consecutive spectator views, sorted by id.
    pub frames: Vec<Vec<R>>,
    /// The same views as the naive server holds them.
    pub naive_frames: Vec<Vec<R::Naive>>,
}

impl<R: BenchRecord> Scenario<R> {
    fn new(
        name: &'static str,
        description: &'static str,
        rate: u32,
        first_tick: u32,
        frames: Vec<Vec<R>>,
    ) -> Scenario<R> {
        let dt = 1.0 / rate as f32;
        let naive_frames = frames
            .iter()
            .map(|frame| frame.iter().map(|record| record.to_naive(dt)).collect())
            .collect();
        Scenario {
            name,
            description,
            rate,
            first_tick,
            frames,
            naive_frames,
        }
    }

    /// The (baseline, current) views of snapshot `index` (0..SNAPSHOTS).
    pub fn pair(&self, index: usize) -> (&[R], &[R]) {
        let current = index + ACK_AGE as usize;
        (&self.frames[index], &self.frames[current])
    }

    /// The tick snapshot `index` describes.
    pub fn tick_of(&self, index: usize) -> u32 {
        self.first_tick + index as u32 + ACK_AGE
    }

    /// Total bytes of the `SNAPSHOTS` Snapshot messages a spectator receives, as deltas against
    /// the view `ACK_AGE` ticks earlier and as full snapshots.
    pub fn total_bytes(&self) -> (usize, usize) {
        let mut bits = BitWriter::default();
        let mut encoded = Vec::new();
        let (mut deltas, mut fulls) = (0, 0);
        for index in 0..SNAPSHOTS {
            let (base, current) = self.pair(index);
            let tick = self.tick_of(index);
            bits.clear();
            delta::encode(base, current, ACK_AGE, &mut bits);
            deltas += encoded_message(tick, ACK_AGE, current, bits.as_bytes(), &mut encoded);
            bits.clear();
            delta::encode(&[], current, 0, &mut bits);
            fulls += encoded_message(tick, 0, current, bits.as_bytes(), &mut encoded);
        }
        (deltas, fulls)
    }
}

/// 100 wandering players on the open map at 30 Hz, after a 5 s warm-up.
pub fn arena_100() -> Scenario {
    let rate = 30;
    let mut world = World::new(open_map(), Rules::default(), rate, 100);
    let players: Vec<PlayerId> = (0..100)
        .map(|index| world.add_player(&format!("bot{index}")))
        .collect();
    let mut wanderers = Wanderers::new(101, &players, rate, false);
    let frames = record(&mut world, Some(&mut wanderers), 5 * rate as usize);
    let first_tick = world.tick() - frames.len() as u32 + 1;
    Scenario::new(
        "arena-100",
        "100 players wandering (turn every 1-3 s), 30 Hz",
        rate,
        first_tick,
        frames,
    )
}

/// 900 wandering NPCs on the open map at 60 Hz, after a 3 s warm-up.
pub fn crowd_900() -> Scenario {
    let rate = 60;
    let mut world = World::new(open_map(), Rules::default(), rate, 900);
    for _ in 0..900 {
        world.add_npc();
    }
    let frames = record(&mut world, None, 3 * rate as usize);
    let first_tick = world.tick() - frames.len() as u32 + 1;
    Scenario::new(
        "crowd-900",
        "900 NPCs wandering (turn every 1-3 s), 60 Hz",
        rate,
        first_tick,
        frames,
    )
}

/// 900 rigid bodies in 3D at 60 Hz, flying straight between turns, a third of them tumbling
/// (their orientation changes every tick): the bench-only [`Body3`] record.
pub fn bodies_900() -> Scenario<Body3> {
    let rate = 60;
    let frames = bodies::tumbling(
        900,
        rate,
        3 * rate as usize + SNAPSHOTS + ACK_AGE as usize,
        900,
    );
    let frames = frames[3 * rate as usize..].to_vec();
    Scenario::new(
        "bodies-900",
        "900 3D bodies (position, velocity, smallest-three quaternion), a third tumbling, 60 Hz",
        rate,
        3 * rate + 1,
        frames,
    )
}

/// 900 entities at rest (the crowd's first view with every velocity zeroed), 60 Hz.
pub fn idle_900() -> Scenario {
    let crowd = crowd_900();
    let mut still = crowd.frames[0].clone();
    for state in &mut still {
        state.vx = 0;
        state.vy = 0;
    }
    let frames = vec![still; SNAPSHOTS + ACK_AGE as usize];
    Scenario::new(
        "idle-900",
        "900 entities at rest, 60 Hz",
        crowd.rate,
        crowd.first_tick,
        frames,
    )
}

/// Steps `world` through `warm_up` ticks, then records `SNAPSHOTS + ACK_AGE` quantized views.
fn record(
    world: &mut World,
    mut wanderers: Option<&mut Wanderers>,
    warm_up: usize,
) -> Vec<Vec<EntityState>> {
    let mut inputs = Vec::new();
    let mut events = Vec::new();
    let mut frames = Vec::new();
    for tick in 0..warm_up + SNAPSHOTS + ACK_AGE as usize {
        if let Some(wanderers) = wanderers.as_deref_mut() {
            wanderers.step(world);
            wanderers.changed_inputs(&mut inputs);
        }
        events.clear();
        world.step(&inputs, &mut events);
        if tick >= warm_up {
            let mut frame = Vec::new();
            convert::world_to_wire(world, &mut frame);
            frames.push(frame);
        }
    }
    frames
}

/// The message a spectator receives for `view`, encoded against a baseline `age` ticks old.
pub fn snapshot_message<R: BenchRecord>(
    tick: u32,
    age: u32,
    view: &[R],
    body: &[u8],
) -> ServerMsg<R::Wire> {
    ServerMsg::Snapshot(Snapshot {
        tick,
        baseline_age: age as u8,
        // A spectator has no inputs; a player's sequence number adds 1-3 varint bytes.
        last_input: 0,
        checksum: delta::checksum(view),
        // Scores ride along only when they change; they are not entity data.
        scores: Vec::new(),
        scores_removed: Vec::new(),
        body: body.to_vec(),
    })
}

/// Encodes the Snapshot message for `body` into `encoded` (cleared first); returns its length.
pub fn encoded_message<R: BenchRecord>(
    tick: u32,
    age: u32,
    view: &[R],
    body: &[u8],
    encoded: &mut Vec<u8>,
) -> usize {
    let msg = snapshot_message(tick, age, view, body);
    encoded.clear();
    encode_server(&msg, encoded);
    encoded.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire size of every scenario, pinned: a change that makes snapshots bigger (or,
    /// unexpectedly, smaller) fails here, and the numbers are updated on purpose.
    #[test]
    fn snapshot_bytes_are_pinned() {
        for (scenario, expected) in [
            (arena_100(), (25_009, 309_781)),
            (crowd_900(), (32_889, 2_599_324)),
            (idle_900(), (4_364, 2_536_964)),
        ] {
            assert_eq!(scenario.total_bytes(), expected, "{}", scenario.name);
        }
    }
}
