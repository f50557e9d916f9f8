//! What recording a match costs: the same 100-player arena room (the load test's shape: 100
//! wandering players on the small "arena" map, every client acknowledging, every snapshot
//! encoded) ticked with and without a match log, in alternating timed runs.
//!
//! "With" includes everything recording does on the server: the room appending each tick's
//! commands and state hash to its journal, and every 30 ticks the hand-over compressed into the
//! log's deflate stream (on the server that runs on the writer thread; here on the same thread,
//! so it is counted). Printed and written to `target/tickwire-bench/record.json`: both tick
//! costs, the overhead, the log's bytes per player-minute for these inputs, and how fast the log
//! replays (ticks per second, times real time).
//!
//! Run: `cargo bench -p tickwire-benches --bench record`.

use std::time::{Duration, Instant};

use serde_json::json;
use tickwire_arena::{Arena, ArenaGame, ArenaSettings, InputCmd, Rules, convert};
use tickwire_benches::{Wanderers, median, player_hello, write_report};
use tickwire_net::journal::{FORMAT_VERSION, FileWriter, Header, Journal};
use tickwire_net::replay::Replayer;
use tickwire_net::{ClientId, Game, Room, RoomSettings};
use tickwire_protocol::{Input, Schema};
use tickwire_sim::Simulation as _;

const PLAYERS: usize = 100;
const TICK_RATE: u32 = 30;
/// Ticks per timed run.
const TICKS: usize = 300;
/// Timed runs of each kind (alternating).
const RUNS: usize = 7;

struct Bench {
    room: Room<ArenaGame>,
    clients: Vec<(ClientId, Input<InputCmd>)>,
    wanderers: Wanderers,
    file: Option<FileWriter<Vec<u8>>>,
}

fn header() -> Header {
    Header {
        format: FORMAT_VERSION,
        game: Arena::NAME.to_string(),
        schema: Arena::VERSION,
        room: "bench".into(),
        seed: 7,
        tick_rate: TICK_RATE,
        game_config: "map = \"arena\"".into(),
        started_unix_ms: 0,
        hash_every: 30,
        server: "bench".into(),
    }
}

impl Bench {
    fn new(record: bool) -> Bench {
        let map = tickwire_arena::Map::builtin("arena").expect("the builtin arena map");
        let settings = RoomSettings {
            tick_rate: TICK_RATE,
            max_players: PLAYERS,
            ..RoomSettings::default()
        };
        let game = ArenaGame::new(&ArenaSettings::new(map, Rules::default()), TICK_RATE, 7);
        let mut room = Room::new("bench".to_owned(), settings, game);
        let file = record.then(|| {
            room.record(Journal::new(&header()));
            FileWriter::new(Vec::new()).expect("writes to memory")
        });
        let mut clients = Vec::with_capacity(PLAYERS);
        let mut players = Vec::with_capacity(PLAYERS);
        for index in 0..PLAYERS {
            let id = ClientId(index as u64 + 1);
            let mut token = [0u8; 16];
            token[..8].copy_from_slice(&(index as u64).to_le_bytes());
            let joined = room
                .handle_join(id, &player_hello(&format!("bot{index}")), token)
                .expect("a seat per player");
            players.push(joined.player.expect("a player"));
            clients.push((
                id,
                Input {
                    ack_tick: 0,
                    first_seq: 0,
                    cmds: vec![InputCmd::default()],
                },
            ));
        }
        while room.poll_transmit().is_some() {}
        Bench {
            room,
            clients,
            wanderers: Wanderers::new(7, &players, TICK_RATE, true),
            file,
        }
    }

    fn tick(&mut self) {
        self.wanderers.step(self.room.game().world());
        let ack_tick = self.room.tick_number().saturating_sub(1);
        for ((id, input), (_, wanted)) in self.clients.iter_mut().zip(self.wanderers.inputs()) {
            input.first_seq += 1;
            input.ack_tick = ack_tick;
            input.cmds[0] = convert::input_to_wire(&wanted);
            self.room.handle_input(*id, input);
        }
        self.room.tick();
        self.room.drain_transmits(|_, _, bytes| {
            std::hint::black_box(bytes);
        });
        if let Some(file) = &mut self.file
            && self.room.tick_number().is_multiple_of(30)
            && let Some(journal) = self.room.journal_mut()
        {
            file.write(&journal.take()).expect("writes to memory");
        }
    }

    fn run(&mut self) -> Duration {
        let started = Instant::now();
        for _ in 0..TICKS {
            self.tick();
        }
        started.elapsed()
    }
}

fn main() {
    let mut plain = Bench::new(false);
    let mut recorded = Bench::new(true);
    // Warm up: players spread from the spawns.
    plain.run();
    recorded.run();
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        without.push(plain.run());
        with.push(recorded.run());
    }
    let per_tick_us = |runs: &mut Vec<Duration>| median(runs).as_secs_f64() * 1e6 / TICKS as f64;
    let (without_us, with_us) = (per_tick_us(&mut without), per_tick_us(&mut with));
    let overhead = with_us / without_us - 1.0;

    // Where the time goes: each part of recording alone, per tick.
    let game = recorded.room.game();
    let parts = 2_000;
    let started = Instant::now();
    for _ in 0..parts {
        std::hint::black_box(game.check_hash());
    }
    let check_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(parts);
    let started = Instant::now();
    for _ in 0..parts / 30 {
        std::hint::black_box(game.state_hash());
    }
    let whole_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(parts / 30) / 30.0;
    let inputs: Vec<_> = recorded
        .wanderers
        .inputs()
        .enumerate()
        .map(|(index, (player, input))| tickwire_sim::TickInput {
            player,
            seq: index as u32,
            rewind: 0,
            input: convert::input_to_wire(&input),
        })
        .collect();
    let mut journal = Journal::new(&header());
    let started = Instant::now();
    for round in 0..parts {
        let mut step = inputs.clone();
        for (index, input) in step.iter_mut().enumerate() {
            input.seq = round as u32;
            input.input.aim = input
                .input
                .aim
                .wrapping_add((round as u16) * 7 + index as u16);
        }
        journal.step(&step);
    }
    let step_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(parts);
    let bytes = journal.take();
    let mut sink = FileWriter::new(Vec::new()).expect("memory");
    let started = Instant::now();
    for chunk in bytes.chunks(bytes.len() / (parts as usize / 30)) {
        sink.write(chunk).expect("memory");
    }
    let compress_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(parts);
    println!(
        "record/parts per tick: check hash {check_us:.1} µs, whole hash {whole_us:.1} µs (a 30th), journal step {step_us:.1} µs (100 changed commands, incl. cloning them), compression {compress_us:.1} µs"
    );

    let ticks = recorded.room.tick_number();
    let mut file = recorded.file.take().expect("recording");
    if let Some(journal) = recorded.room.journal_mut() {
        journal.end("empty");
        file.write(&journal.take()).expect("writes");
    }
    let log = file.finish().expect("finishes");
    let player_minutes = PLAYERS as f64 * f64::from(ticks) / f64::from(TICK_RATE) / 60.0;
    let bytes_per_player_minute = log.len() as f64 / player_minutes;

    let started = Instant::now();
    let verified = Replayer::<ArenaGame>::open(&log)
        .expect("opens")
        .verify()
        .expect("every hash matches");
    let replay_s = started.elapsed().as_secs_f64();
    let replay_ticks_per_s = f64::from(verified.ticks) / replay_s;
    println!(
        "record/{PLAYERS}-crowd: room tick {without_us:.1} µs without a log, {with_us:.1} µs with \
         ({:+.1}%); log {} B for {ticks} ticks = {bytes_per_player_minute:.0} B per player-minute; \
         replay {replay_ticks_per_s:.0} ticks/s ({:.0}x real time)",
        overhead * 100.0,
        log.len(),
        replay_ticks_per_s / f64::from(TICK_RATE),
    );
    write_report(
        "record",
        &json!({
            "players": PLAYERS,
            "map": "arena",
            "ticks_per_run": TICKS,
            "runs": RUNS,
            "statistic": "median of the runs, alternating with and without",
            "room_tick_us_without_log": without_us,
            "room_tick_us_with_log": with_us,
            "overhead": overhead,
            "log_bytes": log.len(),
            "log_ticks": ticks,
            "log_bytes_per_player_minute": bytes_per_player_minute,
            "replay_ticks_per_s": replay_ticks_per_s,
            "replay_times_real_time": replay_ticks_per_s / f64::from(TICK_RATE),
        }),
    );
}
