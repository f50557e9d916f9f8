//! Prediction and interpolation against the real room, in memory, with a virtual clock and a
//! configurable one-way latency and jitter (in ticks).

use std::collections::VecDeque;

use tickwire_arena::client::{ArenaPrediction, position};
use tickwire_arena::{Arena, ArenaGame, ArenaSettings, EntityState, InputCmd, Map, Rules};
use tickwire_bot::predict::{Interpolator, Predictor, quantiles};
use tickwire_net::Game;
use tickwire_net::room::{ClientId, Room, RoomSettings};
use tickwire_protocol::{Hello, Input, Replica, decode_server};

type ServerMsg = tickwire_protocol::ServerMsg<Arena>;

struct Outcome {
    errors: Vec<f32>,
    corrections: u64,
    acked: u32,
}

/// One player whose inputs reach the room `latency` (+ up to `jitter`) ticks late and whose
/// snapshots come back as late, predicting all the while.
fn run(latency: u32, jitter: u32, ticks: u32) -> Outcome {
    let settings = ArenaSettings::new(Map::builtin("arena").unwrap(), Rules::default());
    let mut room = Room::new(
        "p".into(),
        RoomSettings::default(),
        ArenaGame::new(&settings, 30, 1),
    );
    let me = ClientId(1);
    let hello = Hello::new::<Arena>("me");
    room.handle_join(me, &hello, [1; 16]).unwrap();
    let welcome = match decode_server(&room.poll_transmit().unwrap().bytes).unwrap() {
        ServerMsg::Welcome(welcome) => welcome,
        other => panic!("{other:?}"),
    };
    let mut predictor = Predictor::<Arena, ArenaPrediction>::new(&welcome).expect("predicts");
    let mut replica = Replica::<Arena>::default();
    let mut to_server: VecDeque<(u32, Input<InputCmd>)> = VecDeque::new();
    let mut to_client: VecDeque<(u32, ServerMsg)> = VecDeque::new();
    let mut rng = 0x9e37_79b9u32;
    let mut last_arrival = 0;
    for now in 0..ticks {
        let next_seq = now + 1;
        // The client samples an input every tick.
        let phase = (now / 25) % 4;
        let cmd = InputCmd {
            move_x: [127, 0, -127, 0][phase as usize],
            move_y: [0, 127, 0, -127][phase as usize],
            aim: 0,
            buttons: 0,
            view_age: 0,
        };
        predictor.handle_input(next_seq, &cmd);
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        let delay = latency + if jitter > 0 { rng % (jitter + 1) } else { 0 };
        // TCP keeps order: a message never overtakes the one before it.
        let arrival = (now + delay).max(last_arrival);
        last_arrival = arrival;
        to_server.push_back((
            arrival,
            Input {
                ack_tick: replica.ack_tick(),
                first_seq: next_seq,
                cmds: vec![cmd],
            },
        ));

        while to_server.front().is_some_and(|(at, _)| *at <= now) {
            let (_, input) = to_server.pop_front().unwrap();
            room.handle_input(me, &input);
        }
        room.tick();
        while let Some(transmit) = room.poll_transmit() {
            to_client.push_back((now + latency, decode_server(&transmit.bytes).unwrap()));
        }
        while to_client.front().is_some_and(|(at, _)| *at <= now) {
            let (_, msg) = to_client.pop_front().unwrap();
            if let ServerMsg::Snapshot(snapshot) = msg {
                replica.handle_snapshot(&snapshot).unwrap();
                if let Some(own) = replica.entity(welcome.entity) {
                    predictor.handle_snapshot(own, snapshot.last_input);
                }
            }
        }
    }
    Outcome {
        errors: predictor.errors().to_vec(),
        corrections: predictor.corrections(),
        acked: room.last_applied(me).unwrap(),
    }
}

#[test]
fn without_latency_prediction_never_corrects() {
    let outcome = run(0, 0, 600);
    assert_eq!(outcome.corrections, 0);
    assert!(outcome.errors.len() > 500);
    // Exact but for velocity quantization: at most a grid step or two (1/256 m each).
    let (p50, p99, max) = quantiles(&outcome.errors);
    assert!(
        p50 == 0.0 && max <= 1.0 / 128.0,
        "p50 {p50} p99 {p99} max {max}"
    );
}

#[test]
fn with_steady_latency_prediction_is_exact() {
    let outcome = run(3, 0, 600);
    assert_eq!(outcome.corrections, 0);
    let (p50, p99, max) = quantiles(&outcome.errors);
    assert!(
        p50 == 0.0 && max <= 1.0 / 128.0,
        "p50 {p50} p99 {p99} max {max}"
    );
    assert!(outcome.acked > 590);
}

#[test]
fn with_jitter_corrections_stay_small() {
    let outcome = run(3, 3, 900);
    let (p50, p99, max) = quantiles(&outcome.errors);
    // Jitter makes the server repeat or merge an input now and then; the error stays within a
    // tick or two of movement (max speed 6 m/s at 30 Hz is 0.2 m per tick).
    assert_eq!(p50, 0.0, "p50 {p50} p99 {p99} max {max}");
    assert!(max <= 0.45, "p50 {p50} p99 {p99} max {max}");
    eprintln!(
        "jitter: p50 {p50} p99 {p99} max {max}, {} corrections",
        outcome.corrections
    );
    assert!(
        outcome.corrections < 900 / 6,
        "{} corrections",
        outcome.corrections
    );
}

#[test]
fn interpolation_never_goes_back_in_time() {
    let mut interpolator = Interpolator::<EntityState>::new(30);
    let tick = 1.0 / 30.0;
    let mut rng = 7u32;
    let mut last = 0.0;
    let mut now = 0.0;
    for server_tick in 1..300u32 {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        // Snapshots arrive with up to 3 ticks of jitter, sometimes in bursts.
        now = (server_tick as f64 * tick + (rng % 4) as f64 * tick).max(now);
        interpolator.handle_snapshot(server_tick, now, &[]);
        for frame in 0..3 {
            let render = interpolator.render_tick(now + frame as f64 * tick / 3.0);
            assert!(render >= last, "went back from {last} to {render}");
            last = render;
        }
    }
    assert!(last > 250.0, "render tick kept up: {last}");
}

/// Snapshots the render time has passed are dropped, so an interpolator holds a handful of
/// views rather than its cap, and interpolation is unchanged by the pruning.
#[test]
fn used_up_snapshots_are_dropped() {
    let tick = 1.0 / 30.0;
    let view = |server_tick: u32| {
        vec![EntityState {
            id: 1,
            x: 256 * server_tick, // one meter a tick
            y: 256,
            ..EntityState::default()
        }]
    };
    let mut rendered = Interpolator::new(30);
    let mut idle = Interpolator::new(30);
    for server_tick in 1..200u32 {
        let now = server_tick as f64 * tick;
        rendered.handle_snapshot(server_tick, now, &view(server_tick));
        idle.handle_snapshot(server_tick, now, &view(server_tick));
        let render = rendered.render_tick(now);
        if server_tick > 10 {
            // Two snapshot intervals behind, on the straight path between snapshots.
            let shown = rendered
                .sample(1, render)
                .map(position)
                .expect("entity is held");
            assert!(
                (shown.x - render as f32).abs() < 1e-3,
                "{shown} at {render}"
            );
            assert!(rendered.held() <= 6, "holds {}", rendered.held());
        }
    }
    // Nothing rendered, nothing used up: the cap bounds it.
    assert_eq!(idle.held(), 32);
}
