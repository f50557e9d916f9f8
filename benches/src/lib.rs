//! Shared scenario builders for tickwire's criterion benches (`benches/benches/*.rs`).
//!
//! The bench targets measure; this library builds what they measure: seeded wandering inputs for
//! bot-like players ([`Wanderers`]), hand-made maps of any size ([`field_map`]), the naive
//! full-state encoding the snapshot bench compares against ([`naive`]), WebSocket framing
//! arithmetic ([`ws_frame_len`]), and the JSON reports under `target/tickwire-bench/`
//! ([`write_report`]).
//!
//! It deliberately holds no timing loops and no criterion code: each bench target owns its
//! measurements, so a number in a report can be traced to one file.

use std::f32::consts::TAU;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tickwire_arena::{Arena, BUTTON_FIRE, Map, PlayerInput, Wall, World};
use tickwire_protocol::Hello;
use tickwire_sim::{PlayerId, Vec2};

pub mod bodies;
pub mod scenarios;

/// A small seeded random source (SplitMix64), so every scenario is the same on every run.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform float in `[low, high)`.
    pub fn range_f32(&mut self, low: f32, high: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        low + (high - low) * unit
    }

    /// A uniform integer in `[low, high]`.
    pub fn range_u32(&mut self, low: u32, high: u32) -> u32 {
        let span = u64::from(high.saturating_sub(low)) + 1;
        low + (self.next_u64() % span) as u32
    }
}

/// Bot-like players: each walks in one direction for 1-3 s, then turns, aiming where it goes.
///
/// A player near the map's edge turns back toward the middle, so the crowd keeps moving instead
/// of piling up against the edges. With firing on, each player holds fire in bursts (0.5-1 s on,
/// 1.5-3 s off), which keeps a steady population of projectiles, hits, kills and respawns.
#[derive(Debug)]
pub struct Wanderers {
    rng: Rng,
    tick_rate: u32,
    fire: bool,
    agents: Vec<Agent>,
}

#[derive(Debug)]
struct Agent {
    player: PlayerId,
    input: PlayerInput,
    /// Ticks until the next turn.
    turn_ticks: u32,
    /// Ticks until the fire button flips.
    fire_ticks: u32,
    /// Whether the input changed on the last [`Wanderers::step`].
    changed: bool,
}

impl Wanderers {
    /// Wanderers for `players`, seeded by `seed`, in a world stepping `tick_rate` times a second.
    pub fn new(seed: u64, players: &[PlayerId], tick_rate: u32, fire: bool) -> Wanderers {
        let mut rng = Rng::new(seed);
        let agents = players
            .iter()
            .map(|&player| Agent {
                player,
                input: PlayerInput::default(),
                turn_ticks: 0,
                // Stagger the bursts so the whole crowd does not fire on the same tick.
                fire_ticks: rng.range_u32(1, 3 * tick_rate),
                changed: false,
            })
            .collect();
        Wanderers {
            rng,
            tick_rate,
            fire,
            agents,
        }
    }

    /// Advances every agent by one tick, turning those whose time is up (reads their positions
    /// from `world`).
    pub fn step(&mut self, world: &World) {
        let rate = self.tick_rate as f32;
        let center = world.map().center();
        let margin = 0.15 * world.map().width.min(world.map().height);
        let (width, height) = (world.map().width, world.map().height);
        for agent in &mut self.agents {
            agent.changed = false;
            agent.turn_ticks = agent.turn_ticks.saturating_sub(1);
            if agent.turn_ticks == 0 {
                let position = world
                    .player(agent.player)
                    .and_then(|player| world.entity(player.entity))
                    .map(|entity| entity.pos)
                    .unwrap_or(center);
                let random = Vec2::from_angle(self.rng.range_f32(0.0, TAU));
                let near_edge = position.x < margin
                    || position.y < margin
                    || position.x > width - margin
                    || position.y > height - margin;
                let direction = if near_edge {
                    ((center - position).normalize_or_zero() + random * 0.7).normalize_or(random)
                } else {
                    random
                };
                agent.input.move_dir = direction;
                agent.input.aim = direction.to_angle().rem_euclid(TAU);
                let seconds = self.rng.range_f32(1.0, 3.0);
                agent.turn_ticks = ((seconds * rate) as u32).max(1);
                agent.changed = true;
            }
            if self.fire {
                agent.fire_ticks = agent.fire_ticks.saturating_sub(1);
                if agent.fire_ticks == 0 {
                    let firing = agent.input.buttons & BUTTON_FIRE != 0;
                    agent.input.buttons ^= BUTTON_FIRE;
                    let seconds = if firing {
                        self.rng.range_f32(1.5, 3.0)
                    } else {
                        self.rng.range_f32(0.5, 1.0)
                    };
                    agent.fire_ticks = ((seconds * rate) as u32).max(1);
                    agent.changed = true;
                }
            }
        }
    }

    /// Pushes the inputs that changed on the last [`Wanderers::step`] into `out` (cleared
    /// first): [`World::step`] repeats a player's last input, so the rest need not be sent.
    pub fn changed_inputs(&self, out: &mut Vec<(PlayerId, PlayerInput)>) {
        out.clear();
        out.extend(
            self.agents
                .iter()
                .filter(|agent| agent.changed)
                .map(|agent| (agent.player, agent.input)),
        );
    }

    /// Every agent's current input, in the order the players were given.
    pub fn inputs(&self) -> impl Iterator<Item = (PlayerId, PlayerInput)> + '_ {
        self.agents.iter().map(|agent| (agent.player, agent.input))
    }

    /// Number of agents.
    pub fn len(&self) -> usize {
        self.agents.len()
    }

    /// Whether there are no agents.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }
}

/// A square field `side` meters wide with `pillars_per_axis`² square pillars (each 1/40 of the
/// side) on a regular lattice, and `spawns_per_axis`² spawn points on a finer lattice
/// (at most 16 per axis: 256 is the map limit). Panics if the result is not a valid map.
pub fn field_map(name: &str, side: f32, pillars_per_axis: u32, spawns_per_axis: u32) -> Map {
    let pillar_half = side / 80.0;
    let walls = (0..pillars_per_axis * pillars_per_axis)
        .map(|index| {
            let cell = side / pillars_per_axis as f32;
            let center = Vec2::new(
                (index % pillars_per_axis) as f32 * cell + cell * 0.5,
                (index / pillars_per_axis) as f32 * cell + cell * 0.5,
            );
            Wall {
                min: center - Vec2::splat(pillar_half),
                max: center + Vec2::splat(pillar_half),
            }
        })
        .collect::<Vec<_>>();
    let spawn_cell = side / spawns_per_axis as f32;
    let spawns = (0..spawns_per_axis * spawns_per_axis)
        .map(|index| {
            Vec2::new(
                (index % spawns_per_axis) as f32 * spawn_cell + spawn_cell * 0.5,
                (index / spawns_per_axis) as f32 * spawn_cell + spawn_cell * 0.5,
            )
        })
        .filter(|spawn| !walls.iter().any(|wall| wall.contains(*spawn)))
        .collect();
    let map = Map {
        name: name.to_owned(),
        width: side,
        height: side,
        walls,
        spawns,
    };
    // Invariant: the lattices above keep spawns off the pillars and everything inside the field.
    map.validate().expect("field_map builds a valid map");
    map
}

/// The builtin "open" map (200 x 200 m, no walls, 16 spawns).
pub fn open_map() -> Map {
    // Invariant: "open" is one of the builtin maps, checked by the sim crate's tests.
    Map::builtin("open").expect("the open map is built in")
}

/// A player's Hello for joining a room directly (no resume, no token).
pub fn player_hello(name: &str) -> Hello {
    Hello::new::<Arena>(name)
}

/// Bytes of one server-to-client WebSocket binary frame carrying `payload` bytes: the server
/// does not mask, so the header is 2 bytes below 126 bytes of payload, 4 below 65,536, else 10.
pub fn ws_frame_len(payload: usize) -> usize {
    let header = if payload < 126 {
        2
    } else if payload < 65_536 {
        4
    } else {
        10
    };
    header + payload
}

/// Kilobits per second for `bytes_per_message` sent `rate` times a second.
pub fn kbit_per_s(bytes_per_message: f64, rate: f64) -> f64 {
    bytes_per_message * 8.0 * rate / 1000.0
}

/// The median of `samples` (sorted in place); zero when empty.
pub fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

/// Runs `run` `runs` times, timing each call, and returns the median duration.
pub fn median_of_runs(runs: usize, mut run: impl FnMut()) -> Duration {
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect();
    median(&mut samples)
}

/// `target/tickwire-bench/` under the workspace root (created if missing).
pub fn report_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    root.join("target").join("tickwire-bench")
}

/// Writes `report` as pretty JSON to `target/tickwire-bench/<name>.json` and says where. A
/// bench that cannot write its report says so on stderr and carries on measuring.
pub fn write_report(name: &str, report: &serde_json::Value) {
    let dir = report_dir();
    let path = dir.join(format!("{name}.json"));
    let result = std::fs::create_dir_all(&dir).and_then(|()| {
        let text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
        std::fs::write(&path, text + "\n")
    });
    match result {
        Ok(()) => println!("wrote {}\n", path.display()),
        Err(error) => eprintln!("cannot write {}: {error}", path.display()),
    }
}

/// The criterion settings every bench uses (short runs for a small shared machine), with the
/// command line's options applied.
pub fn criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args()
}

/// The naive baseline the snapshot bench compares against: every entity in full, every tick,
/// with f32 fields, laid out the way a plain serializer would.
pub mod naive {
    use tickwire_arena::EntityState;
    use tickwire_protocol::quant;

    /// One entity as a naive server would send it (a plain struct with a serde derive would look
    /// exactly like this).
    #[derive(Clone, Copy, Debug, Default, PartialEq)]
    pub struct NaiveEntity {
        /// Network id.
        pub id: u32,
        /// Kind code.
        pub kind: u8,
        /// Position in meters.
        pub x: f32,
        /// Position in meters.
        pub y: f32,
        /// Velocity in m/s.
        pub vx: f32,
        /// Velocity in m/s.
        pub vy: f32,
        /// Aim in radians.
        pub aim: f32,
        /// Health points.
        pub health: u8,
        /// Flag bits.
        pub flags: u8,
    }

    /// Bytes per entity: id 4 + kind 1 + x, y, vx, vy 4 x 4 + aim 4 + health 1 + flags 1.
    pub const ENTITY_BYTES: usize = 27;
    /// The Vec's length prefix: a u64 with fixed-int encoding.
    pub const LEN_PREFIX_BYTES: usize = 8;

    impl NaiveEntity {
        /// The entity a naive server holds for this wire state (`dt` = tick length in seconds).
        pub fn from_state(state: &EntityState, dt: f32) -> NaiveEntity {
            NaiveEntity {
                id: state.id,
                kind: state.kind,
                x: quant::pos_from_wire(state.x),
                y: quant::pos_from_wire(state.y),
                vx: quant::vel_from_wire(state.vx, dt),
                vy: quant::vel_from_wire(state.vy, dt),
                aim: quant::aim_from_wire(state.aim),
                health: state.health,
                flags: state.flags,
            }
        }
    }

    /// Appends `entities` to `out` as plain bincode with fixed-int encoding (little endian)
    /// would write a `Vec<NaiveEntity>`: a u64 length, then each struct's fields in order at
    /// their natural width, no padding. Written by hand because only tickwire-protocol calls
    /// bincode; the bytes are the same.
    pub fn encode(entities: &[NaiveEntity], out: &mut Vec<u8>) {
        out.reserve(LEN_PREFIX_BYTES + ENTITY_BYTES * entities.len());
        out.extend_from_slice(&(entities.len() as u64).to_le_bytes());
        for entity in entities {
            out.extend_from_slice(&entity.id.to_le_bytes());
            out.push(entity.kind);
            out.extend_from_slice(&entity.x.to_le_bytes());
            out.extend_from_slice(&entity.y.to_le_bytes());
            out.extend_from_slice(&entity.vx.to_le_bytes());
            out.extend_from_slice(&entity.vy.to_le_bytes());
            out.extend_from_slice(&entity.aim.to_le_bytes());
            out.push(entity.health);
            out.push(entity.flags);
        }
    }

    /// Encoded size of `count` entities.
    pub fn encoded_len(count: usize) -> usize {
        LEN_PREFIX_BYTES + ENTITY_BYTES * count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_layout_is_27_bytes_per_entity() {
        let entities = vec![naive::NaiveEntity::default(); 3];
        let mut out = Vec::new();
        naive::encode(&entities, &mut out);
        assert_eq!(out.len(), naive::encoded_len(3));
        assert_eq!(out.len(), 8 + 27 * 3);
    }

    #[test]
    fn websocket_headers_grow_at_126_and_65536() {
        assert_eq!(ws_frame_len(125), 127);
        assert_eq!(ws_frame_len(126), 130);
        assert_eq!(ws_frame_len(65_535), 65_539);
        assert_eq!(ws_frame_len(65_536), 65_546);
    }

    #[test]
    fn field_maps_are_valid() {
        for side in [200.0, 640.0, 4096.0] {
            let map = field_map("field", side, 4, 16);
            assert_eq!(map.walls.len(), 16);
            assert_eq!(map.spawns.len(), 256);
        }
    }
}
