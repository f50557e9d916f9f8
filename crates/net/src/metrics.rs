//! Server-wide counters and the Prometheus text rendering of them (served at /metrics).
//!
//! Everything is a relaxed atomic: writers never wait, and a scrape sees each value as of some
//! moment during the scrape.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use tickwire_protocol::close;

/// Upper bounds (seconds) of the tick duration histogram buckets.
pub const TICK_BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.004, 0.008, 0.016, 0.033, 0.066, 0.132,
];

/// Close codes counted separately in `tickwire_disconnects_total`.
const COUNTED_CODES: [u16; 19] = [
    close::NORMAL,
    close::GOING_AWAY,
    close::PROTOCOL_ERROR,
    close::UNSUPPORTED_DATA,
    close::POLICY_VIOLATION,
    close::MESSAGE_TOO_BIG,
    close::INTERNAL_ERROR,
    close::TRY_AGAIN_LATER,
    close::VERSION_MISMATCH,
    close::BAD_HELLO,
    close::ROOM_FULL,
    close::TIMEOUT,
    close::TOO_SLOW,
    close::SESSION_REPLACED,
    close::RESUME_FAILED,
    close::AUTH_REQUIRED,
    close::AUTH_INVALID,
    close::AUTH_EXPIRED,
    close::TOKEN_IN_USE,
];

/// Server-wide metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// TCP connections accepted.
    pub connections_total: AtomicU64,
    /// Connections open now.
    pub connections_open: AtomicU64,
    /// Clients in rooms now (players and spectators).
    pub clients: AtomicU64,
    /// Players in rooms now.
    pub players: AtomicU64,
    /// Rooms open now.
    pub rooms: AtomicU64,
    /// WebSocket payload bytes received.
    pub bytes_in: AtomicU64,
    /// WebSocket payload bytes sent.
    pub bytes_out: AtomicU64,
    /// Messages received.
    pub messages_in: AtomicU64,
    /// Messages sent.
    pub messages_out: AtomicU64,
    /// Snapshots replaced by a newer one before they were sent (slow readers).
    pub snapshots_replaced: AtomicU64,
    /// Snapshots the rooms queued, and of those full ones (no baseline).
    pub snapshots_sent: AtomicU64,
    /// See `snapshots_sent`.
    pub snapshots_full: AtomicU64,
    /// Snapshot ticks a client skipped because its acknowledgements fell behind.
    pub snapshots_paced: AtomicU64,
    /// Snapshot ticks a client skipped because it was over its byte budget.
    pub snapshots_over_budget: AtomicU64,
    /// Ticks a client that fell behind was not sent that tick's transient events.
    pub events_skipped: AtomicU64,
    /// Ticks that started more than a few tick lengths late (the schedule was reset).
    pub tick_overruns: AtomicU64,
    /// Client messages dropped for exceeding the per-connection rate budget.
    pub rate_limited: AtomicU64,
    /// Connections refused at accept (connection caps).
    pub refused_connections: AtomicU64,
    /// TLS handshakes that failed or did not finish in time.
    pub tls_failures: AtomicU64,
    /// Rooms ended by a panic in their tick.
    pub room_panics: AtomicU64,
    /// Players waiting for a resume (connection dropped, seat held).
    pub players_detached: AtomicU64,
    /// Sessions resumed with a token.
    pub resumes: AtomicU64,
    /// Room ticks run.
    pub ticks: AtomicU64,
    /// Finished matches whose results were stored.
    pub matches_stored: AtomicU64,
    /// Finished matches whose results could not be stored.
    pub match_store_errors: AtomicU64,
    tick_buckets: [AtomicU64; TICK_BUCKETS.len()],
    tick_sum_ns: AtomicU64,
    disconnects: [AtomicU64; COUNTED_CODES.len() + 1],
}

impl Metrics {
    /// Records one room tick's duration.
    pub fn record_tick(&self, seconds: f64) {
        self.ticks.fetch_add(1, Relaxed);
        self.tick_sum_ns.fetch_add((seconds * 1e9) as u64, Relaxed);
        if let Some(bucket) = TICK_BUCKETS.iter().position(|&bound| seconds <= bound) {
            self.tick_buckets[bucket].fetch_add(1, Relaxed);
        }
    }

    /// Records a disconnect with its close code.
    pub fn record_disconnect(&self, code: u16) {
        let index = COUNTED_CODES
            .iter()
            .position(|&counted| counted == code)
            .unwrap_or(COUNTED_CODES.len());
        self.disconnects[index].fetch_add(1, Relaxed);
    }

    /// Renders every metric in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let mut counter = |name: &str, help: &str, kind: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        counter(
            "tickwire_connections_total",
            "TCP connections accepted.",
            "counter",
            self.connections_total.load(Relaxed),
        );
        counter(
            "tickwire_connections_open",
            "Connections open now.",
            "gauge",
            self.connections_open.load(Relaxed),
        );
        counter(
            "tickwire_clients",
            "Clients in rooms (players and spectators).",
            "gauge",
            self.clients.load(Relaxed),
        );
        counter(
            "tickwire_players",
            "Players in rooms.",
            "gauge",
            self.players.load(Relaxed),
        );
        counter(
            "tickwire_rooms",
            "Rooms open.",
            "gauge",
            self.rooms.load(Relaxed),
        );
        counter(
            "tickwire_bytes_in_total",
            "WebSocket payload bytes received.",
            "counter",
            self.bytes_in.load(Relaxed),
        );
        counter(
            "tickwire_bytes_out_total",
            "WebSocket payload bytes sent.",
            "counter",
            self.bytes_out.load(Relaxed),
        );
        counter(
            "tickwire_messages_in_total",
            "Messages received.",
            "counter",
            self.messages_in.load(Relaxed),
        );
        counter(
            "tickwire_messages_out_total",
            "Messages sent.",
            "counter",
            self.messages_out.load(Relaxed),
        );
        counter(
            "tickwire_snapshots_replaced_total",
            "Snapshots replaced by a newer one before being sent.",
            "counter",
            self.snapshots_replaced.load(Relaxed),
        );
        counter(
            "tickwire_snapshots_sent_total",
            "Snapshots queued by the rooms.",
            "counter",
            self.snapshots_sent.load(Relaxed),
        );
        counter(
            "tickwire_snapshots_full_total",
            "Snapshots queued with no baseline (full).",
            "counter",
            self.snapshots_full.load(Relaxed),
        );
        counter(
            "tickwire_snapshots_paced_total",
            "Snapshot ticks skipped for a client whose acknowledgements fell behind.",
            "counter",
            self.snapshots_paced.load(Relaxed),
        );
        counter(
            "tickwire_snapshots_over_budget_total",
            "Snapshot ticks skipped for a client over its byte budget.",
            "counter",
            self.snapshots_over_budget.load(Relaxed),
        );
        counter(
            "tickwire_events_skipped_total",
            "Ticks a client that fell behind was not sent that tick's transient events.",
            "counter",
            self.events_skipped.load(Relaxed),
        );
        counter(
            "tickwire_rate_limited_total",
            "Client messages dropped for exceeding the per-connection rate budget.",
            "counter",
            self.rate_limited.load(Relaxed),
        );
        counter(
            "tickwire_refused_connections_total",
            "Connections refused at accept by the connection caps.",
            "counter",
            self.refused_connections.load(Relaxed),
        );
        counter(
            "tickwire_tls_failures_total",
            "TLS handshakes that failed or did not finish before the handshake deadline.",
            "counter",
            self.tls_failures.load(Relaxed),
        );
        counter(
            "tickwire_room_panics_total",
            "Rooms ended by a panic.",
            "counter",
            self.room_panics.load(Relaxed),
        );
        counter(
            "tickwire_players_detached",
            "Players whose connection dropped, held for a resume.",
            "gauge",
            self.players_detached.load(Relaxed),
        );
        counter(
            "tickwire_resumes_total",
            "Sessions resumed with a token.",
            "counter",
            self.resumes.load(Relaxed),
        );
        counter(
            "tickwire_matches_stored_total",
            "Finished matches whose results were stored.",
            "counter",
            self.matches_stored.load(Relaxed),
        );
        counter(
            "tickwire_match_store_errors_total",
            "Finished matches whose results could not be stored.",
            "counter",
            self.match_store_errors.load(Relaxed),
        );
        counter(
            "tickwire_tick_overruns_total",
            "Ticks so late that the room's schedule was reset.",
            "counter",
            self.tick_overruns.load(Relaxed),
        );

        let _ = writeln!(
            out,
            "# HELP tickwire_tick_duration_seconds Time to run one room tick (simulation and snapshot encoding).\n# TYPE tickwire_tick_duration_seconds histogram"
        );
        let mut cumulative = 0;
        for (bound, bucket) in TICK_BUCKETS.iter().zip(&self.tick_buckets) {
            cumulative += bucket.load(Relaxed);
            let _ = writeln!(
                out,
                "tickwire_tick_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.ticks.load(Relaxed);
        let _ = writeln!(
            out,
            "tickwire_tick_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "tickwire_tick_duration_seconds_sum {}",
            self.tick_sum_ns.load(Relaxed) as f64 / 1e9
        );
        let _ = writeln!(out, "tickwire_tick_duration_seconds_count {count}");

        let _ = writeln!(
            out,
            "# HELP tickwire_disconnects_total Connections closed by the server or the peer, by close code.\n# TYPE tickwire_disconnects_total counter"
        );
        for (index, counted) in self.disconnects.iter().enumerate() {
            let (code, name) = match COUNTED_CODES.get(index) {
                Some(&code) => (code.to_string(), close::name(code)),
                None => ("other".to_string(), "other"),
            };
            let _ = writeln!(
                out,
                "tickwire_disconnects_total{{code=\"{code}\",reason=\"{name}\"}} {}",
                counted.load(Relaxed)
            );
        }

        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let _ = writeln!(
                out,
                "# HELP tickwire_tasks_alive Tasks alive in the server's async runtime.\n# TYPE tickwire_tasks_alive gauge\ntickwire_tasks_alive {}",
                runtime.metrics().num_alive_tasks()
            );
        }
        if let Some(process) = ProcessStats::read() {
            let _ = writeln!(
                out,
                "# HELP process_cpu_seconds_total User and system CPU time of the server process.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {}",
                process.cpu_seconds
            );
            let _ = writeln!(
                out,
                "# HELP process_resident_memory_bytes Resident memory of the server process.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {}",
                process.rss_bytes
            );
            let _ = writeln!(
                out,
                "# HELP process_open_fds Open file descriptors of the server process.\n# TYPE process_open_fds gauge\nprocess_open_fds {}",
                process.open_fds
            );
        }
        out
    }
}

/// CPU time, resident memory and open descriptors of this process (Linux /proc; None elsewhere).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProcessStats {
    /// User + system CPU seconds.
    pub cpu_seconds: f64,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
}

impl ProcessStats {
    /// Reads the current figures.
    pub fn read() -> Option<ProcessStats> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name (which may contain spaces) start after the last ')'.
        let after = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
        let ticks_per_second = 100.0; // USER_HZ is 100 on every Linux target tickwire supports.
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let resident_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .map(|dir| dir.count() as u64)
            .unwrap_or(0);
        Some(ProcessStats {
            cpu_seconds: (utime + stime) / ticks_per_second,
            rss_bytes: resident_pages * 4096,
            open_fds,
        })
    }
}
