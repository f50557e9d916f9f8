//! The kernel's floor: the per-message traffic of a game server on loopback TCP with nothing
//! else in the way (tickwire-bot's `floor` module), so every server and load-generator figure
//! can be quoted as a ratio to it, measured on the same machine.
//!
//! For 500 and 1,000 connections at 30 Hz: one thread writes a 239-byte frame (the arena-100
//! snapshot of the `fanout` bench with its WebSocket header) to each connection and reads once
//! from it every tick; another thread does the client side (one read, one 36-byte write). Prints
//! each side's CPU cores and the server's microseconds per client per tick, and writes
//! `target/tickwire-bench/floor.json`.
//!
//! Run: `cargo bench -p tickwire-benches --bench floor` (about 15 s). `tickwire swarm --floor`
//! measures the same floor for its own run's traffic right after its window.

use std::time::Duration;

use serde_json::json;
use tickwire_benches::write_report;
use tickwire_bot::floor::{FloorOptions, run_floor};

fn main() {
    let mut rows = Vec::new();
    println!("\nkernel floor: one write + one read per connection per tick, loopback, 30 Hz\n");
    println!(
        "{:>8} {:>8} {:>6} | {:>12} {:>14} {:>10} | {:>12} {:>14} | {:>9}",
        "clients",
        "down B",
        "up B",
        "server cores",
        "per 1,000",
        "µs/client",
        "client cores",
        "per 1,000",
        "delivered"
    );
    for clients in [500, 1000] {
        let options = FloorOptions {
            clients,
            tick_rate: 30,
            down_bytes: 239,
            up_bytes: 36,
            duration: Duration::from_secs(5),
        };
        match run_floor(&options) {
            Ok(report) => {
                println!(
                    "{:>8} {:>8} {:>6} | {:>12.3} {:>14.3} {:>10.2} | {:>12.3} {:>14.3} | {:>9.3}",
                    report.clients,
                    report.down_bytes,
                    report.up_bytes,
                    report.server_cores,
                    report.server_cores_per_1000,
                    report.server_us_per_client_tick,
                    report.client_cores,
                    report.client_cores_per_1000,
                    report.delivered
                );
                rows.push(serde_json::to_value(&report).expect("a report serializes"));
            }
            Err(error) => eprintln!("floor with {clients} clients failed: {error}"),
        }
    }
    println!();
    write_report(
        "floor",
        &json!({
            "what": "one thread writes down_bytes to every loopback connection and reads once from it per tick; another thread does the client side; CPU from /proc/thread-self/schedstat",
            "runs": rows,
        }),
    );
}
