//! Tag end to end over loopback: a real server, bots that chase and flee, and a spectator.

use std::time::Duration;

use tickwire_bot::{BotOptions, run_bot};
use tickwire_tag::{Tag, TagGame};
use tickwire_tests::start_game_server;

fn bot(url: &str, name: &str, seconds: f64, seed: u64) -> BotOptions {
    BotOptions {
        url: url.to_string(),
        name: name.into(),
        room: Some("field".into()),
        duration: Some(Duration::from_secs_f64(seconds)),
        seed,
        ..BotOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_chase_each_other_and_predict_their_runners() {
    // A small field, so the bots catch each other within seconds.
    let server = start_game_server::<TagGame>(|config| {
        config.games.insert(
            "tag".into(),
            toml::toml! { width = 10.0
            height = 8.0 },
        );
    })
    .await;
    let seconds = 8.0;
    let players: Vec<_> = (1..=3)
        .map(|seed| tokio::spawn(run_bot::<Tag>(bot(&server.url, "runner", seconds, seed))))
        .collect();
    let watcher = tokio::spawn(run_bot::<Tag>(BotOptions {
        spectate: true,
        ..bot(&server.url, "watcher", seconds, 9)
    }));
    for player in players {
        let report = player.await.unwrap().expect("joins");
        assert_eq!(report.snapshot_errors, 0, "{report:?}");
        assert!(report.disconnect_reason.is_none(), "{report:?}");
        assert!(report.snapshots_per_s > 20.0, "{report:?}");
        assert_eq!(report.entities_seen_max, 3, "{report:?}");
        // Own-runner prediction replays the server's movement rule: a real network's jitter
        // can make the server fold two commands into one tick now and then, but most
        // predictions land exactly.
        assert_eq!(report.prediction_error_m.p50, 0.0, "{report:?}");
    }
    // Whether a chase ends in a tag within a few seconds is up to the bots; the rules of tagging
    // are checked exactly in crates/tag/tests/field.rs.
    let watcher = watcher.await.unwrap().expect("watches");
    assert_eq!(watcher.snapshot_errors, 0, "{watcher:?}");
    assert_eq!(watcher.game.tags, 0, "a spectator tags nobody");
    server.stop().await;
}
