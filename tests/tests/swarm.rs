//! The swarm load tester against a real server on loopback: its report's counts add up.

use std::sync::LazyLock;
use std::time::Duration;

use tickwire_arena::Arena;
use tickwire_arena::client::ArenaFigures;
use tickwire_bot::swarm::{SwarmOptions, SwarmReport, run_swarm};
use tickwire_tests::start_server;
use tokio::sync::Mutex;

/// The servers of these tests share this test process, and so its file descriptor count, which
/// the soak test compares at both ends of its window: the swarms run one at a time.
static ONE_SWARM_AT_A_TIME: LazyLock<Mutex<()>> = LazyLock::new(|| Mutex::new(()));

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swarm_of_50_bots_reports_consistent_counts() {
    let _one_at_a_time = ONE_SWARM_AT_A_TIME.lock().await;
    let server = start_server(|_| {}).await;
    let options = SwarmOptions {
        url: server.url.clone(),
        bots: 50,
        rooms: Some(2),
        duration: Duration::from_secs(3),
        warmup: Duration::from_millis(500),
        ramp_per_s: 500.0,
        ..SwarmOptions::default()
    };
    let report = run_swarm::<Arena>(options).await.expect("valid options");
    server.stop().await;
    check_report(&report, 50);
}

/// Soak mode: bots keep leaving and joining; the server's descriptors and tasks come back to
/// where they were (leaks over time are the thing a soak finds).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_churns_sessions_without_leaking() {
    let _one_at_a_time = ONE_SWARM_AT_A_TIME.lock().await;
    let server = start_server(|_| {}).await;
    let options = SwarmOptions {
        url: server.url.clone(),
        bots: 20,
        rooms: Some(2),
        duration: Duration::from_secs(4),
        warmup: Duration::from_millis(1500),
        ramp_per_s: 200.0,
        soak: Some((Duration::from_millis(500), Duration::from_millis(1500))),
        ..SwarmOptions::default()
    };
    let report = run_swarm::<Arena>(options).await.expect("valid options");
    server.stop().await;
    let json = serde_json::to_string_pretty(&report).expect("report serializes");
    assert!(
        report.soak_sessions.unwrap_or(0) >= 20,
        "sessions churned: {json}"
    );
    assert!(report.connected > 40, "{json}");
    assert!(report.disconnects.is_empty(), "{json}");
    // Within a few of each other: bots may be mid-join at either scrape.
    let (fds_start, fds_end) = (report.server_fds_start.unwrap(), report.server_fds.unwrap());
    assert!(
        fds_end <= fds_start + 6,
        "descriptors {fds_start} -> {fds_end}: {json}"
    );
    let (tasks_start, tasks_end) = (
        report.server_tasks_start.unwrap(),
        report.server_tasks.unwrap(),
    );
    assert!(
        tasks_end <= tasks_start + 6,
        "tasks {tasks_start} -> {tasks_end}: {json}"
    );
}

/// Slow readers and the prediction sample: the slow bots' figures are kept apart, they read no
/// more than their budget allows, and the sample's prediction figures are reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_bots_are_reported_apart_and_a_sample_predicts() {
    let _one_at_a_time = ONE_SWARM_AT_A_TIME.lock().await;
    let server = start_server(|_| {}).await;
    let options = SwarmOptions {
        url: server.url.clone(),
        bots: 20,
        rooms: Some(2),
        duration: Duration::from_secs(3),
        warmup: Duration::from_millis(500),
        ramp_per_s: 500.0,
        shards: Some(2),
        sample: 3,
        slow_fraction: 0.25,
        slow_bytes_per_s: 1_000,
        ..SwarmOptions::default()
    };
    let report = run_swarm::<Arena>(options).await.expect("valid options");
    server.stop().await;
    let json = serde_json::to_string_pretty(&report).expect("report serializes");
    assert_eq!(report.connected, 20, "{json}");
    assert_eq!(report.shards, 2, "{json}");
    assert_eq!(report.bots_in_window, 15, "{json}");
    assert!(report.disconnects.is_empty(), "{json}");
    assert_eq!(report.snapshot_errors, 0, "{json}");
    assert!(
        report.snapshots_received * 2 >= report.snapshots_expected,
        "the normal bots get their snapshots: {json}"
    );
    let slow = report.slow.as_ref().expect("a slow section");
    assert_eq!((slow.bots, slow.bots_in_window), (5, 5), "{json}");
    assert_eq!(slow.bytes_per_s, 1_000, "{json}");
    // The read budget bounds what they decode: the rate plus a small burst and what was
    // buffered when the window opened.
    assert!(slow.bytes_in_per_bot_per_s <= 2_000.0, "{json}");
    assert!(slow.snapshots_received > 0, "{json}");
    let sample = report.sample.as_ref().expect("a prediction sample");
    assert_eq!(sample.bots, 3, "{json}");
}

#[tokio::test]
async fn swarm_rejects_bad_options() {
    let options = SwarmOptions {
        bots: 0,
        ..SwarmOptions::default()
    };
    assert!(run_swarm::<Arena>(options).await.is_err());
    let options = SwarmOptions {
        url: "http://127.0.0.1:1/ws".into(),
        ..SwarmOptions::default()
    };
    assert!(run_swarm::<Arena>(options).await.is_err());
}

/// Counts, not timings: the machine is noisy.
fn check_report(report: &SwarmReport<ArenaFigures>, bots: u64) {
    let json = serde_json::to_string_pretty(report).expect("report serializes");
    assert_eq!(report.connected, bots, "{json}");
    assert_eq!(report.connect_failures, 0, "{json}");
    assert!(report.disconnects.is_empty(), "{json}");
    assert_eq!(report.unfinished_bots, 0, "{json}");
    assert_eq!(report.bots_in_window, bots, "{json}");
    assert!(report.duration_s >= 3.0, "{json}");
    assert!(
        report.tick_rate > 0 && report.snapshot_every_ticks > 0,
        "{json}"
    );
    assert!(
        report.input_ack_latency_ms.count > 0,
        "acks advance: {json}"
    );
    assert!(report.snapshot_interval_ms.count > 0, "{json}");
    assert!(report.snapshots_received > 0, "{json}");
    assert!(
        report.snapshots_received * 2 >= report.snapshots_expected,
        "at least half the expected snapshots: {json}"
    );
    assert!(
        report.snapshots_received <= report.snapshots_expected * 3 / 2,
        "not wildly more snapshots than the tick rate allows: {json}"
    );
    assert_eq!(report.snapshot_errors, 0, "{json}");
    assert!(report.bytes_in_per_bot_per_s > 0.0, "{json}");
    assert!(report.bytes_out_per_bot_per_s > 0.0, "{json}");
    assert_eq!(report.server_metrics_error, None, "{json}");
    assert!(report.server_cpu_s.is_some(), "{json}");
    assert!(report.server_cpu_cores.is_some(), "{json}");
    assert!(report.server_rss_bytes.is_some_and(|rss| rss > 0), "{json}");
    assert!(report.server_rss_bytes_start.is_some(), "{json}");
    assert!(report.server_ticks.is_some_and(|ticks| ticks > 0), "{json}");
    let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    for key in [
        "bots",
        "connected",
        "connect_failures",
        "disconnects",
        "duration_s",
        "warmup_s",
        "tick_rate",
        "snapshots_received",
        "snapshots_expected",
        "snapshot_interval_ms",
        "input_ack_latency_ms",
        "bytes_in_per_bot_per_s",
        "bytes_out_per_bot_per_s",
        "snapshot_errors",
        "server_tick_ms",
        "server_cpu_s",
        "server_cpu_cores",
        "server_rss_bytes",
        "server_rss_bytes_start",
    ] {
        assert!(value.get(key).is_some(), "report lacks {key}: {json}");
    }
}
