//! Room fan-out: one `Room::tick` with 100 and with 1,000 players, from inputs to the encoded
//! bytes of every client's snapshot, against the bare `World::step` of an identical world.
//!
//! Every tick, each virtual client sends one `Input` (a bot-like command: walk, turn every 1-3 s,
//! and in the "fire" rooms fire in bursts) acknowledging the snapshot of the tick before last (a typical loopback ack age
//! of 2 ticks, so every snapshot is a delta), the room ticks, and every `Transmit` is drained.
//! 100 players play on the "open" map (200 m square); 1,000 on a 632 m field with the same
//! density, so a player sees about as many others in both (view radius 40 m).
//!
//! Before measuring, each room plays 3 s with real clients: every message is decoded with
//! `decode_server` and applied to a `Replica`, and failures are counted (a room whose snapshots
//! do not decode would make its timings meaningless). Then the bench times a fixed number of
//! ticks with `Instant` (median of 5 runs), prints the cost per client per tick and the bytes per
//! client per tick (WebSocket framing included), and writes `target/tickwire-bench/fanout.json`.
//! Criterion then times one room tick and one bare world step (`Throughput::Elements` = players,
//! so it reports client-ticks per second).
//!
//! Rooms: `100-move`, `100-fire`, `1000-move`, `1000-fire`, and `100-crowd`: 100 players walking
//! on the small "arena" map (60 x 40 m), where nearly everyone is in everyone's view, the shape
//! of the load test's rooms (`assets/loadtest.toml`). In the "fire" rooms kills change the score
//! table, which the room then sends to every client with its next snapshot.
//!
//! Run: `cargo bench -p tickwire-benches --bench fanout` (add `-- fanout/1000-move` for one room).

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use serde_json::json;
use tickwire_arena::{
    Arena, ArenaGame, ArenaSettings, Event, InputCmd, PlayerInput, Rules, World, convert,
};
use tickwire_benches::{
    Wanderers, field_map, median_of_runs, open_map, player_hello, write_report, ws_frame_len,
};
use tickwire_net::room::TransmitKind;
use tickwire_net::{ClientId, Game, Room, RoomSettings};
use tickwire_protocol::{Input, Replica, ServerMsg, decode_server};
use tickwire_sim::PlayerId;

/// Rooms measured: players, whether they fire (kills change the score table, which rides along
/// in the next snapshot of every client), and whether they crowd the small arena map.
const ROOMS: [(usize, bool, bool); 5] = [
    (100, false, false),
    (100, true, false),
    (1_000, false, false),
    (1_000, true, false),
    (100, false, true),
];
/// Simulation and snapshot rate.
const TICK_RATE: u32 = 30;
/// Ticks played with decoding clients before timing (players spread from the spawns meanwhile).
const VERIFY_TICKS: usize = 3 * TICK_RATE as usize;
/// Timed runs for the report; the median is kept.
const RUNS: usize = 5;

fn main() {
    let mut rooms: Vec<Fanout> = ROOMS
        .into_iter()
        .map(|(players, fire, crowd)| Fanout::new(players, fire, crowd))
        .collect();
    let figures: Vec<serde_json::Value> = rooms.iter_mut().map(Fanout::measure).collect();
    write_report(
        "fanout",
        &json!({
            "tick_rate_hz": TICK_RATE,
            "view_radius_m": 40.0,
            "ack_age_ticks": 2,
            "runs": RUNS,
            "statistic": "median of the runs",
            "websocket_framing": "server-to-client unmasked: 2-byte header below 126 bytes, 4 below 65536, else 10",
            "rooms": figures,
        }),
    );

    let mut criterion = tickwire_benches::criterion();
    for room in &mut rooms {
        room.bench(&mut criterion);
    }
    criterion.final_summary();
}

/// A room full of virtual clients, and a twin world stepped with the same kind of inputs.
struct Fanout {
    players: usize,
    /// "move" (walk and turn only) or "fire" (also fire in bursts).
    mode: &'static str,
    map_name: String,
    room: Room<ArenaGame>,
    clients: Vec<VirtualClient>,
    wanderers: Wanderers,
    twin: World,
    twin_wanderers: Wanderers,
    twin_inputs: Vec<(PlayerId, PlayerInput)>,
    twin_events: Vec<Event>,
}

/// What one client sends: its input message, reused every tick.
struct VirtualClient {
    id: ClientId,
    input: Input<InputCmd>,
}

/// What one room tick sent.
#[derive(Default, Clone, Copy)]
struct Sent {
    messages: usize,
    snapshots: usize,
    /// Whole WebSocket frames: payload plus header.
    frame_bytes: usize,
}

impl Fanout {
    fn new(players: usize, fire: bool, crowd: bool) -> Fanout {
        let map = if crowd {
            tickwire_arena::Map::builtin("arena").expect("the builtin arena map")
        } else if players <= 100 {
            open_map()
        } else {
            // Same area per player as 100 on the open map (400 m²).
            let side = (400.0 * players as f32).sqrt().round();
            field_map(&format!("field-{players}"), side, 0, 16)
        };
        let settings = RoomSettings {
            tick_rate: TICK_RATE,
            max_players: players,
            ..RoomSettings::default()
        };
        let arena = ArenaSettings::new(map.clone(), Rules::default());
        let game = ArenaGame::new(&arena, TICK_RATE, players as u64);
        let mut room = Room::new("bench".to_owned(), settings, game);
        let mut clients = Vec::with_capacity(players);
        let mut player_ids = Vec::with_capacity(players);
        for index in 0..players {
            let id = ClientId(index as u64 + 1);
            let hello = player_hello(&format!("bot{index}"));
            let joined = join(&mut room, id, &hello, index);
            // Invariant: the room has a seat for every player (max_players = players).
            player_ids.push(joined.expect("the room has a seat per player"));
            clients.push(VirtualClient {
                id,
                input: Input {
                    ack_tick: 0,
                    first_seq: 0,
                    cmds: vec![InputCmd::default()],
                },
            });
        }
        while room.poll_transmit().is_some() {} // the Welcomes

        // The twin: the same map, rules, seed and join order, driven by its own wanderers.
        let mut twin = World::new(map.clone(), Rules::default(), TICK_RATE, players as u64);
        let twin_ids: Vec<PlayerId> = (0..players)
            .map(|index| twin.add_player(&format!("bot{index}")))
            .collect();
        Fanout {
            players,
            mode: match (fire, crowd) {
                (_, true) => "crowd",
                (true, false) => "fire",
                (false, false) => "move",
            },
            map_name: map.name.clone(),
            room,
            clients,
            wanderers: Wanderers::new(7, &player_ids, TICK_RATE, fire),
            twin,
            twin_wanderers: Wanderers::new(7, &twin_ids, TICK_RATE, fire),
            twin_inputs: Vec::new(),
            twin_events: Vec::new(),
        }
    }

    /// The bots decide, and every client sends its input acknowledging the tick before last.
    fn send_inputs(&mut self) {
        self.wanderers.step(self.room.game().world());
        let ack_tick = self.room.tick_number().saturating_sub(1);
        for (client, (_, input)) in self.clients.iter_mut().zip(self.wanderers.inputs()) {
            client.input.first_seq += 1;
            client.input.ack_tick = ack_tick;
            client.input.cmds[0] = convert::input_to_wire(&input);
            self.room.handle_input(client.id, &client.input);
        }
    }

    /// Feeds every client's input, ticks the room, drains what it sent.
    fn tick(&mut self) -> Sent {
        self.send_inputs();
        self.room.tick();
        let mut sent = Sent::default();
        // As the server's driver does: each message borrowed from the room's output buffer.
        self.room.drain_transmits(|_, kind, bytes| {
            sent.messages += 1;
            sent.snapshots += usize::from(matches!(kind, TransmitKind::Snapshot { .. }));
            sent.frame_bytes += ws_frame_len(bytes.len());
            black_box(bytes);
        });
        sent
    }

    /// One step of the twin world with every player's (quantized) input, as the room does.
    fn twin_step(&mut self) {
        self.twin_wanderers.step(&self.twin);
        self.twin_inputs.clear();
        self.twin_inputs
            .extend(self.twin_wanderers.inputs().map(|(player, input)| {
                (
                    player,
                    convert::input_from_wire(&convert::input_to_wire(&input)),
                )
            }));
        self.twin_events.clear();
        self.twin.step(&self.twin_inputs, &mut self.twin_events);
    }

    /// Plays `VERIFY_TICKS` ticks decoding everything each client receives; returns the
    /// counts for the report.
    fn verify(&mut self) -> serde_json::Value {
        let mut replicas: Vec<Replica<Arena>> =
            (0..self.players).map(|_| Replica::default()).collect();
        let index_of = |id: ClientId| id.0 as usize - 1;
        let (mut snapshots, mut with_scores, mut scores_bytes, mut plain_bytes) = (0, 0, 0, 0);
        let (mut decode_errors, mut replica_errors, mut view_entities) = (0, 0, 0);
        let mut first_error = None;
        for _ in 0..VERIFY_TICKS {
            self.send_inputs();
            self.twin_step();
            self.room.tick();
            while let Some(transmit) = self.room.poll_transmit() {
                let snapshot = match decode_server::<Arena>(&transmit.bytes) {
                    Ok(ServerMsg::Snapshot(snapshot)) => snapshot,
                    Ok(_) => continue,
                    Err(error) => {
                        decode_errors += 1;
                        first_error.get_or_insert_with(|| format!("decode_server: {error}"));
                        continue;
                    }
                };
                snapshots += 1;
                if !snapshot.scores.is_empty() || !snapshot.scores_removed.is_empty() {
                    with_scores += 1;
                    scores_bytes += transmit.bytes.len();
                } else {
                    plain_bytes += transmit.bytes.len();
                }
                let replica = &mut replicas[index_of(transmit.to)];
                match replica.handle_snapshot(&snapshot) {
                    Ok(()) => view_entities += replica.view().len(),
                    Err(error) => {
                        replica_errors += 1;
                        first_error.get_or_insert_with(|| format!("replica: {error}"));
                    }
                }
            }
        }
        let plain = snapshots - with_scores;
        json!({
            "ticks": VERIFY_TICKS,
            "snapshots": snapshots,
            "decode_errors": decode_errors,
            "replica_errors": replica_errors,
            "first_error": first_error,
            "entities_in_view_avg": view_entities as f64 / (snapshots - decode_errors).max(1) as f64,
            "snapshots_with_scores": with_scores,
            "message_bytes_avg_with_scores": scores_bytes as f64 / with_scores.max(1) as f64,
            "message_bytes_avg_without_scores": plain_bytes as f64 / plain.max(1) as f64,
        })
    }

    /// Verifies, then times the room and the twin world outside criterion; prints a line and
    /// returns the JSON figures.
    fn measure(&mut self) -> serde_json::Value {
        let verification = self.verify();
        // About 30,000 client-ticks per run.
        let ticks = (30_000 / self.players).max(10);
        let mut totals = Sent::default();
        let room_time = median_of_runs(RUNS, || {
            for _ in 0..ticks {
                let sent = self.tick();
                totals.messages += sent.messages;
                totals.snapshots += sent.snapshots;
                totals.frame_bytes += sent.frame_bytes;
            }
        });
        let world_time = median_of_runs(RUNS, || {
            for _ in 0..ticks {
                self.twin_step();
            }
        });
        let client_ticks = (RUNS * ticks * self.players) as f64;
        let tick_us = room_time.as_secs_f64() * 1e6 / ticks as f64;
        let world_us = world_time.as_secs_f64() * 1e6 / ticks as f64;
        let per_client_us = tick_us / self.players as f64;
        let net_per_client_us = (tick_us - world_us) / self.players as f64;
        let bytes_per_client = totals.frame_bytes as f64 / client_ticks;
        println!(
            "fanout/{}-{:<4} {} players on {}: room tick {:>8.1} µs = {:.2} µs per client \
             (world step alone {:.1} µs; snapshots {:.2} µs per client) | {:.1} B per client per \
             tick = {:.1} kbit/s | {:.2} messages per client per tick | decode errors {} of {}",
            self.players,
            self.mode,
            self.players,
            self.map_name,
            tick_us,
            per_client_us,
            world_us,
            net_per_client_us,
            bytes_per_client,
            bytes_per_client * 8.0 * TICK_RATE as f64 / 1000.0,
            totals.messages as f64 / client_ticks,
            verification["decode_errors"],
            verification["snapshots"],
        );
        if let Some(error) = verification["first_error"].as_str() {
            println!("  first error: {error}");
        }
        json!({
            "players": self.players,
            "mode": self.mode,
            "map": self.map_name,
            "ticks_per_run": ticks,
            "room_tick_us": tick_us,
            "per_client_us": per_client_us,
            "world_step_only_us": world_us,
            "room_over_world": tick_us / world_us,
            "snapshot_work_per_client_us": net_per_client_us,
            "bytes_per_client_per_tick": bytes_per_client,
            "kbit_per_s_per_client": bytes_per_client * 8.0 * TICK_RATE as f64 / 1000.0,
            "messages_per_client_per_tick": totals.messages as f64 / client_ticks,
            "snapshots_per_client_per_tick": totals.snapshots as f64 / client_ticks,
            "verification": verification,
        })
    }

    fn bench(&mut self, criterion: &mut Criterion) {
        let mut group = criterion.benchmark_group(format!("fanout/{}-{}", self.players, self.mode));
        if self.players >= 1_000 {
            group.sample_size(10);
        }
        group.throughput(Throughput::Elements(self.players as u64));
        group.bench_function("room-tick", |bencher| bencher.iter(|| self.tick()));
        group.bench_function("world-step-only", |bencher| {
            bencher.iter(|| self.twin_step())
        });
        group.finish();
    }
}

/// Joins `client` as a player; returns its player id.
fn join(
    room: &mut Room<ArenaGame>,
    client: ClientId,
    hello: &tickwire_protocol::Hello,
    index: usize,
) -> Option<PlayerId> {
    let mut token = [0u8; 16];
    token[..8].copy_from_slice(&(index as u64).to_le_bytes());
    room.handle_join(client, hello, token).ok()?.player
}
