//! The binary's answers to bad input: a failing exit status and one clear `error:` line.

use std::process::{Command, Output};

fn tickwire(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .expect("the binary runs")
}

/// The `error:` lines a run printed to stderr.
fn error_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.starts_with("error:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn missing_config_file_is_one_clear_line() {
    let output = tickwire(&["serve", "--config", "/nonexistent/tickwire.toml"]);
    assert!(!output.status.success());
    let errors = error_lines(&output);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let line = &errors[0];
    assert!(
        line.contains("cannot read config file /nonexistent/tickwire.toml"),
        "{line}"
    );
    // The OS reason once, not repeated by the error chain.
    assert_eq!(line.matches("os error").count(), 1, "{line}");
}

#[test]
fn out_of_range_setting_is_refused() {
    let output = tickwire(&["serve", "--tick-rate", "0"]);
    assert!(!output.status.success());
    let errors = error_lines(&output);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("tick_rate"), "{}", errors[0]);
}

#[test]
fn swarm_that_connects_nothing_fails() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let url = format!("ws://127.0.0.1:{port}/ws");
    let output = tickwire(&[
        "swarm",
        "--url",
        &url,
        "--bots",
        "2",
        "--duration",
        "1",
        "--warmup",
        "0",
    ]);
    assert!(!output.status.success());
    let errors = error_lines(&output);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("no bot could connect"), "{}", errors[0]);
    // The summary still names why.
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(summary.contains("2 failed to connect"), "{summary}");
}

/// Two swarms at once against one server, each writing its report, then `tickwire
/// swarm-merge`: counts add up and the merged latency histogram is the sum of the two, bucket by
/// bucket (so its quantiles are those of every sample, not an average).
#[test]
fn swarm_reports_merge_exactly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "off")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the server starts");
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed().as_secs() < 10, "the server listens");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let dir = std::env::temp_dir().join(format!("tickwire-merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let url = format!("ws://127.0.0.1:{port}/ws");
    let swarms: Vec<_> = ["a", "b"]
        .iter()
        .enumerate()
        .map(|(index, name)| {
            Command::new(env!("CARGO_BIN_EXE_tickwire"))
                .args([
                    "swarm",
                    "--url",
                    &url,
                    "--bots",
                    &format!("{}", 4 + 4 * index),
                ])
                .args(["--duration", "2", "--warmup", "0.5", "--sample", "0"])
                .args(["--seed", &format!("{}", 100 * index + 1), "--report"])
                .arg(dir.join(format!("{name}.json")))
                .env("RUST_LOG", "off")
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("a swarm starts")
        })
        .collect();
    for mut swarm in swarms {
        assert!(swarm.wait().expect("the swarm ends").success());
    }
    let merged_path = dir.join("merged.json");
    let output = tickwire(&[
        "swarm-merge",
        dir.join("a.json").to_str().expect("utf-8"),
        dir.join("b.json").to_str().expect("utf-8"),
        "--report",
        merged_path.to_str().expect("utf-8"),
    ]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(output.status.success(), "{output:?}");
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).expect("a report"))
            .expect("JSON")
    };
    let (a, b, merged) = (read("a.json"), read("b.json"), read("merged.json"));
    let _ = std::fs::remove_dir_all(&dir);
    let sum = |key: &str| a[key].as_u64().unwrap_or(0) + b[key].as_u64().unwrap_or(0);
    assert_eq!(merged["bots"], 12);
    for key in [
        "connected",
        "bots_in_window",
        "snapshots_received",
        "inputs_sent",
    ] {
        assert_eq!(merged[key].as_u64(), Some(sum(key)), "{key}: {merged}");
    }
    let latency = |report: &serde_json::Value| report["input_ack_latency_ms"].clone();
    let mut buckets = std::collections::BTreeMap::<u64, u64>::new();
    for report in [&a, &b] {
        for bucket in latency(report)["buckets"].as_array().expect("buckets") {
            *buckets
                .entry(bucket[0].as_u64().expect("value"))
                .or_default() += bucket[1].as_u64().expect("count");
        }
    }
    let merged_buckets: std::collections::BTreeMap<u64, u64> = latency(&merged)["buckets"]
        .as_array()
        .expect("merged buckets")
        .iter()
        .map(|bucket| {
            (
                bucket[0].as_u64().expect("v"),
                bucket[1].as_u64().expect("n"),
            )
        })
        .collect();
    assert!(!buckets.is_empty());
    assert_eq!(merged_buckets, buckets);
    assert_eq!(
        latency(&merged)["count"].as_u64(),
        Some(buckets.values().sum::<u64>())
    );
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(summary.contains("12 bots"), "{summary}");

    // Bad input: one clear line each.
    let output = tickwire(&["swarm-merge", "/nonexistent/report.json"]);
    assert!(!output.status.success());
    let errors = error_lines(&output);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("cannot read report"), "{}", errors[0]);
}
