//! Own-runner prediction against the real room: the client replays its unacknowledged commands
//! with the game's own movement rule, and lands exactly where the server puts it.

use tickwire_bot::predict::Predictor;
use tickwire_net::Game;
use tickwire_net::harness::Harness;
use tickwire_net::room::RoomSettings;
use tickwire_protocol::{ServerMsg, decode_server};
use tickwire_tag::client::TagPrediction;
use tickwire_tag::{Tag, TagConfig, TagGame, TagInput};

struct Outcome {
    errors: Vec<f32>,
    corrections: u64,
}

/// Two players on a small field (so runners hit its edges); client 0 predicts its runner while
/// snapshots take `delay` ticks to arrive. Its commands turn every 20 ticks.
fn run(delay: u32, ticks: u32) -> Outcome {
    let config = TagConfig {
        width: 6.0,
        height: 5.0,
        ..TagConfig::default()
    };
    let mut harness = Harness::new(RoomSettings::default(), TagGame::new(&config, 30, 1));
    harness.keep_bytes = true;
    harness.join("me", false);
    harness.join("other", false);
    harness.delay = delay;
    let welcome = match decode_server::<Tag>(&harness.clients[0].received_bytes[0]).unwrap() {
        ServerMsg::Welcome(welcome) => welcome,
        other => panic!("expected the Welcome, got {other:?}"),
    };
    let mut predictor = Predictor::<Tag, TagPrediction>::new(&welcome).expect("a player predicts");
    let mut seen_tick = 0;
    for tick in 0..ticks {
        let turn = (tick / 20) as usize % 6;
        let cmd = TagInput {
            move_x: [127, 0, -127, 90, -90, 0][turn],
            move_y: [0, 127, 0, 90, 40, 0][turn],
        };
        predictor.handle_input(harness.clients[0].next_seq, &cmd);
        harness.send(0, vec![cmd]);
        harness.send(1, vec![TagInput::default()]);
        harness.tick();
        let client = &harness.clients[0];
        if client.replica.ack_tick() != seen_tick {
            seen_tick = client.replica.ack_tick();
            let own = client.replica.entity(welcome.entity).expect("own runner");
            predictor.handle_snapshot(own, client.last_input_acked);
        }
    }
    Outcome {
        errors: predictor.errors().to_vec(),
        corrections: predictor.corrections(),
    }
}

#[test]
fn without_latency_prediction_is_exact() {
    let outcome = run(0, 600);
    assert!(outcome.errors.len() > 590, "{}", outcome.errors.len());
    assert!(outcome.errors.iter().all(|&error| error == 0.0));
    assert_eq!(outcome.corrections, 0);
}

#[test]
fn with_steady_latency_prediction_is_exact() {
    let outcome = run(4, 600);
    assert!(outcome.errors.len() > 580, "{}", outcome.errors.len());
    assert!(outcome.errors.iter().all(|&error| error == 0.0));
    assert_eq!(outcome.corrections, 0);
}
