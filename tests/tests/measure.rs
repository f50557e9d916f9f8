//! Measurements for the README and release notes, not checks: run with
//! `cargo test --release -p tickwire-tests --test measure -- --ignored --nocapture`.

use std::time::Duration;

use tickwire_arena::Arena;
use tickwire_arena::client::ArenaFigures;
use tickwire_bot::{BotOptions, BotReport, run_bot};
use tickwire_tests::proxy::{FaultProxy, Faults};
use tickwire_tests::start_server;

async fn duel(
    latency_ms: u64,
    jitter_ms: u64,
    seconds: f64,
) -> (BotReport<ArenaFigures>, BotReport<ArenaFigures>) {
    let server = start_server(|_| {}).await;
    let proxy = FaultProxy::start(server.addr).await;
    proxy.set(Faults {
        latency: Duration::from_millis(latency_ms),
        jitter: Duration::from_millis(jitter_ms),
        ..Faults::default()
    });
    let options = |url: String, name: &str, seed| BotOptions {
        url,
        name: name.into(),
        room: Some("measure".into()),
        duration: Some(Duration::from_secs_f64(seconds)),
        seed,
        ..BotOptions::default()
    };
    let near = tokio::spawn(run_bot::<Arena>(options(server.url.clone(), "near", 1)));
    let far = tokio::spawn(run_bot::<Arena>(options(proxy.url(), "far", 2)));
    let far = far.await.unwrap().unwrap();
    let near = near.await.unwrap().unwrap();
    server.stop().await;
    (near, far)
}

/// Prediction error and corrections of a bot on a direct link and one behind 100 ms each way
/// (steady, then with up to 30 ms of jitter).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check: run with --ignored --nocapture"]
async fn prediction_with_and_without_latency() {
    for (latency, jitter) in [(0, 0), (100, 0), (100, 30)] {
        let (near, far) = duel(latency, jitter, 20.0).await;
        let label = format!("{latency}+-{jitter} ms each way");
        for (label, report) in [("direct", &near), (label.as_str(), &far)] {
            println!(
                "{label:>16}: prediction error p50 {:.4} m, p99 {:.4} m, max {:.4} m; corrections {} in {} inputs; {:.1} snapshots/s, {:.1} B/snapshot",
                report.prediction_error_m.p50,
                report.prediction_error_m.p99,
                report.prediction_error_m.max,
                report.corrections,
                report.inputs_sent,
                report.snapshots_per_s,
                report.bytes_per_snapshot_avg
            );
        }
    }
}
