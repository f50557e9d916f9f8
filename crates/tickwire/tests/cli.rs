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
