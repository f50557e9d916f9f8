//! The swarm's report: what it measured, how it is summed from the shards, and its human
//! summary.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::SwarmStats;
use super::metrics::{MetricsSample, bucket_quantiles};
use super::probe::Tally;
use crate::ErrorQuantiles;
use crate::floor::FloorReport;

/// What a swarm run measured, written as JSON by `tickwire swarm --report`.
///
/// Client-side figures (snapshots, intervals, latency, bytes, snapshot errors) count only inside
/// the measured window, which starts `warmup_s` after the last bot connected or failed.
/// Connection outcomes (`connected`, `connect_failures`, `disconnects`) cover the whole run.
///
/// Reports of swarms run at the same time (from several machines against one cluster) combine
/// into one with `tickwire swarm-merge` ([`super::merge::merge_reports`]): the latency
/// histograms travel in the report (`buckets`) so they merge exactly.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SwarmReport<F> {
    /// The game played.
    pub game: String,
    /// Server URL.
    pub url: String,
    /// Bots started.
    pub bots: usize,
    /// Rooms the bots were spread over (None: the server matched them).
    pub rooms: Option<usize>,
    /// Bots that got a Welcome.
    pub connected: u64,
    /// Through matchmakers: each matchmaking request's time (None without).
    pub matchmake_ms: Option<Quantiles>,
    /// Through matchmakers: connections by the node URL they were sent to.
    pub bots_per_node: BTreeMap<String, u64>,
    /// Through matchmakers: for each session a node ended early (drain 1012, node lost), the
    /// time until that bot played again after matchmaking anew (None without matchmakers).
    pub rejoin_ms: Option<Quantiles>,
    /// Bots that did not. Through matchmakers, failed attempts: each is retried (a bot may
    /// fail several times and then connect), so compare `disconnects` with `rejoin_ms.count`
    /// for sessions lost and not played again by the end.
    pub connect_failures: u64,
    /// Why they did not, with counts: a close-code name (e.g. `room_full`) or the error text.
    pub connect_failure_reasons: BTreeMap<String, u64>,
    /// Connections that ended before the swarm closed them, by close-code name (`abnormal` when
    /// the connection dropped without a close frame); slow bots' are in `slow`.
    pub disconnects: BTreeMap<String, u64>,
    /// Connections started per second during the ramp-up.
    pub ramp_per_s: f64,
    /// Seconds from the first connection attempt until every bot had connected or failed.
    pub ramp_s: f64,
    /// Seconds waited after the ramp-up before the measured window opened.
    pub warmup_s: f64,
    /// Length of the measured window in seconds.
    pub duration_s: f64,
    /// When the measured window opened, in milliseconds since the Unix epoch (this machine's
    /// clock).
    pub window_started_unix_ms: Option<u64>,
    /// Bots connected when the measured window opened (slow bots are counted in `slow`).
    pub bots_in_window: u64,
    /// The server's tick rate (from the Welcome).
    pub tick_rate: u32,
    /// The server sends a snapshot every this many ticks (from the Welcome).
    pub snapshot_every_ticks: u32,
    /// Snapshots received in the window, by all bots.
    pub snapshots_received: u64,
    /// tick_rate / snapshot_every_ticks x bots_in_window x duration_s.
    pub snapshots_expected: u64,
    /// Snapshots that did not apply (bad delta, missing baseline, checksum mismatch).
    pub snapshot_errors: u64,
    /// Time between consecutive snapshots at one bot.
    pub snapshot_interval_ms: Quantiles,
    /// Input sequence numbers the bots sent in the window (compare with
    /// `input_ack_latency_ms.count`, the ones acknowledged in it).
    pub inputs_sent: u64,
    /// Time from sending input sequence S to the first snapshot whose last_input >= S.
    pub input_ack_latency_ms: Quantiles,
    /// WebSocket payload bytes received per bot and second.
    pub bytes_in_per_bot_per_s: f64,
    /// WebSocket payload bytes sent per bot and second.
    pub bytes_out_per_bot_per_s: f64,
    /// Server tick duration quantiles over the window, from `tickwire_tick_duration_seconds`.
    /// These are bucket upper bounds (null: above the highest finite bucket).
    pub server_tick_ms: Option<BucketQuantiles>,
    /// Room ticks the server ran in the window (all rooms).
    pub server_ticks: Option<u64>,
    /// Mean server tick duration over the window.
    pub server_tick_ms_mean: Option<f64>,
    /// Server CPU seconds (user + system) used between the two scrapes.
    pub server_cpu_s: Option<f64>,
    /// server_cpu_s per second between the two scrapes.
    pub server_cpu_cores: Option<f64>,
    /// Server resident memory at the end of the window.
    pub server_rss_bytes: Option<u64>,
    /// Soak mode: bot sessions that ended by themselves and were replaced during the window.
    pub soak_sessions: Option<u64>,
    /// Server open file descriptors at the start and the end of the window.
    pub server_fds_start: Option<u64>,
    /// See `server_fds_start`.
    pub server_fds: Option<u64>,
    /// Server runtime tasks alive at the start and the end of the window.
    pub server_tasks_start: Option<u64>,
    /// See `server_tasks_start`.
    pub server_tasks: Option<u64>,
    /// Server resident memory at the start of the window.
    pub server_rss_bytes_start: Option<u64>,
    /// Why the server figures above are null, when they are.
    pub server_metrics_error: Option<String>,
    /// CPU cores this swarm process used during the window (is the load generator the limit?).
    pub swarm_cpu_cores: Option<f64>,
    /// Resident memory of this swarm process at the end of the window.
    pub swarm_rss_bytes: Option<u64>,
    /// Share of the window during which some runnable task on this host waited for a CPU
    /// (Linux PSI, /proc/pressure/cpu "some"). Near 0 on a quiet machine; high means every figure
    /// above is inflated by CPU contention, whoever caused it.
    pub host_cpu_pressure: Option<f64>,
    /// Bots that had not ended a few seconds after being told to stop (their window figures are
    /// missing from this report).
    pub unfinished_bots: u64,
    /// The game's figures, summed over every bot session of the run (not only the window).
    pub game_figures: F,
    /// The kernel's floor for this run's traffic, measured right after the bots stopped (with
    /// `--floor`): see [`crate::floor`].
    pub floor: Option<FloorReport>,
    /// `server_cpu_cores / floor.server_cores`: how many times the floor the server costs.
    pub server_vs_floor: Option<f64>,
    /// `swarm_cpu_cores / floor.client_cores`: how many times the client side of the floor the
    /// load generator costs.
    pub swarm_vs_floor: Option<f64>,
    /// Threads the swarm ran its bots on.
    pub shards: usize,
    /// The bots that ran prediction and interpolation (`--sample`): their prediction figures,
    /// over the whole run. None when no bot predicted.
    pub sample: Option<SampleReport>,
    /// The slow bots (`--slow-fraction`), whose figures are kept out of the ones above. None
    /// without slow bots.
    pub slow: Option<SlowReport>,
    /// How to read this report.
    pub notes: Vec<String>,
}

/// The prediction figures of the bots that predicted.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SampleReport {
    /// Bot sessions that predicted (a soak replaces bots, so this can exceed `--sample`).
    pub bots: u64,
    /// Distance between each acknowledged command's prediction and the server's state (the
    /// game's unit), over all their sessions.
    pub prediction_error_m: ErrorQuantiles,
    /// Predictions corrected by more than the game's threshold.
    pub corrections: u64,
}

/// What the slow bots saw in the window.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SlowReport {
    /// Slow bots started.
    pub bots: usize,
    /// Slow bots connected when the window opened.
    pub bots_in_window: u64,
    /// Bytes a second each slow bot read from its socket at most.
    pub bytes_per_s: u64,
    /// Snapshots they received in the window.
    pub snapshots_received: u64,
    /// Snapshots received per slow bot and second.
    pub snapshots_per_bot_per_s: f64,
    /// WebSocket payload bytes received per slow bot and second.
    pub bytes_in_per_bot_per_s: f64,
    /// Time between consecutive snapshots at one slow bot.
    pub snapshot_interval_ms: Quantiles,
    /// Time from sending an input to the first snapshot acknowledging it.
    pub input_ack_latency_ms: Quantiles,
    /// Their connections that ended before the swarm closed them, by close-code name.
    pub disconnects: BTreeMap<String, u64>,
}

impl SlowReport {
    /// Fills the window figures from the slow bots' tally.
    pub(super) fn fill(
        &mut self,
        tally: &Tally,
        disconnects: BTreeMap<String, u64>,
        window_s: f64,
    ) {
        self.snapshots_received = tally.snapshots;
        let bot_seconds = self.bots_in_window as f64 * window_s;
        if bot_seconds > 0.0 {
            self.snapshots_per_bot_per_s = round3(tally.snapshots as f64 / bot_seconds);
            self.bytes_in_per_bot_per_s = round3(tally.bytes_in as f64 / bot_seconds);
        }
        self.snapshot_interval_ms = quantiles(&tally.interval_us);
        self.input_ack_latency_ms = quantiles(&tally.latency_us);
        self.disconnects = disconnects;
    }
}

/// Copies the normal bots' window figures into the report.
pub(super) fn fill_client_figures<F>(
    report: &mut SwarmReport<F>,
    stats: &SwarmStats,
    window: &Tally,
    window_s: f64,
) {
    report.connected = stats.connected.load(Relaxed);
    report.connect_failures = stats.connect_failures.load(Relaxed);
    report.tick_rate = stats.tick_rate.load(Relaxed);
    report.snapshot_every_ticks = stats.snapshot_every_ticks.load(Relaxed);
    report.duration_s = round3(window_s);
    let soak_sessions = stats.soak_sessions.load(Relaxed);
    if soak_sessions > 0 {
        report.soak_sessions = Some(soak_sessions);
    }
    report.snapshots_received = window.snapshots;
    report.snapshot_errors = window.snapshot_errors;
    report.inputs_sent = window.inputs_sent;
    if report.snapshot_every_ticks > 0 {
        let per_bot_per_s = report.tick_rate as f64 / report.snapshot_every_ticks as f64;
        report.snapshots_expected =
            (per_bot_per_s * report.bots_in_window as f64 * window_s).round() as u64;
    }
    let bot_seconds = report.bots_in_window as f64 * window_s;
    if bot_seconds > 0.0 {
        report.bytes_in_per_bot_per_s = round3(window.bytes_in as f64 / bot_seconds);
        report.bytes_out_per_bot_per_s = round3(window.bytes_out as f64 / bot_seconds);
    }
    report.snapshot_interval_ms = quantiles(&window.interval_us);
    report.input_ack_latency_ms = quantiles(&window.latency_us);
}

/// Quantiles of a client-side HdrHistogram (microsecond resolution, 2 significant digits), in
/// milliseconds, with the histogram itself. All zero when `count` is 0.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Quantiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
    /// The histogram: `[microseconds, samples]` per non-empty bucket, the value being the
    /// bucket's highest (so recording it again lands in the same bucket). Merging reports adds
    /// these, so merged quantiles are those of one histogram of every sample.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<[u64; 2]>,
}

impl Quantiles {
    /// The histogram these quantiles were read from, rebuilt from `buckets`.
    pub fn histogram(&self) -> Histogram<u64> {
        let mut histogram = new_histogram();
        for &[value, count] in &self.buckets {
            record(&mut histogram, value, count);
        }
        histogram
    }
}

/// Quantiles estimated from a Prometheus histogram's bucket counts, in milliseconds: each is the
/// upper bound of the bucket the quantile falls in (null when that bucket is `+Inf`).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct BucketQuantiles {
    /// Bucket bound at or above the median.
    pub p50: Option<f64>,
    /// Bucket bound at or above the 99th percentile.
    pub p99: Option<f64>,
    /// Upper bound of the highest non-empty bucket.
    pub max: Option<f64>,
}

impl<F> fmt::Display for SwarmReport<F> {
    /// A short human summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rooms = self.rooms.map_or_else(
            || "server-matched rooms".to_string(),
            |rooms| format!("{rooms} rooms"),
        );
        writeln!(
            f,
            "swarm {}: {} bots over {rooms}; {} connected, {} failed to connect, ramp-up {:.1} s",
            self.url, self.bots, self.connected, self.connect_failures, self.ramp_s
        )?;
        for (reason, count) in &self.connect_failure_reasons {
            writeln!(f, "  connect failure: {reason} x{count}")?;
        }
        if let Some(matchmake) = &self.matchmake_ms {
            writeln!(
                f,
                "matchmaking: {} requests, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; bots per node: {}",
                matchmake.count,
                matchmake.p50,
                matchmake.p99,
                matchmake.max,
                self.bots_per_node
                    .iter()
                    .map(|(node, bots)| format!("{node} {bots}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        if let Some(rejoin) = self.rejoin_ms.as_ref().filter(|rejoin| rejoin.count > 0) {
            writeln!(
                f,
                "re-matchmade after a node ended the session: {} times, playing again after p50 \
                 {:.0} / p99 {:.0} / max {:.0} ms",
                rejoin.count, rejoin.p50, rejoin.p99, rejoin.max
            )?;
        }
        let disconnects = if self.disconnects.is_empty() {
            "none".to_string()
        } else {
            let listed: Vec<String> = self
                .disconnects
                .iter()
                .map(|(reason, count)| format!("{reason} x{count}"))
                .collect();
            listed.join(", ")
        };
        writeln!(f, "disconnects: {disconnects}")?;
        writeln!(
            f,
            "window {:.1} s after {:.1} s warm-up, {} bots at {} Hz (snapshot every {} ticks)",
            self.duration_s,
            self.warmup_s,
            self.bots_in_window,
            self.tick_rate,
            self.snapshot_every_ticks
        )?;
        let percent = if self.snapshots_expected > 0 {
            100.0 * self.snapshots_received as f64 / self.snapshots_expected as f64
        } else {
            0.0
        };
        writeln!(
            f,
            "snapshots {} of {} expected ({percent:.1}%), {} errors; interval p50 {:.1} / p99 {:.1} / max {:.1} ms",
            self.snapshots_received,
            self.snapshots_expected,
            self.snapshot_errors,
            self.snapshot_interval_ms.p50,
            self.snapshot_interval_ms.p99,
            self.snapshot_interval_ms.max
        )?;
        let latency = &self.input_ack_latency_ms;
        writeln!(
            f,
            "input->ack latency p50 {:.1} / p90 {:.1} / p99 {:.1} / max {:.1} ms ({} of {} inputs acked)",
            latency.p50, latency.p90, latency.p99, latency.max, latency.count, self.inputs_sent
        )?;
        writeln!(
            f,
            "per bot: {:.0} B/s in, {:.0} B/s out",
            self.bytes_in_per_bot_per_s, self.bytes_out_per_bot_per_s
        )?;
        if let Some(slow) = &self.slow {
            let disconnects: Vec<String> = slow
                .disconnects
                .iter()
                .map(|(reason, count)| format!("{reason} x{count}"))
                .collect();
            writeln!(
                f,
                "slow bots ({} reading {} B/s, {} in the window): {:.1} snapshots/s and {:.0} B/s \
                 each, ack p50 {:.1} / p99 {:.1} ms; disconnects: {}",
                slow.bots,
                slow.bytes_per_s,
                slow.bots_in_window,
                slow.snapshots_per_bot_per_s,
                slow.bytes_in_per_bot_per_s,
                slow.input_ack_latency_ms.p50,
                slow.input_ack_latency_ms.p99,
                if disconnects.is_empty() {
                    "none".to_string()
                } else {
                    disconnects.join(", ")
                }
            )?;
        }
        if let Some(sample) = &self.sample {
            let error = &sample.prediction_error_m;
            writeln!(
                f,
                "prediction sample ({} bots): error p50 {:.3} / p99 {:.3} / max {:.3}, {} corrections",
                sample.bots, error.p50, error.p99, error.max, sample.corrections
            )?;
        }
        if let (Some(cores), Some(rss)) = (self.swarm_cpu_cores, self.swarm_rss_bytes) {
            writeln!(
                f,
                "swarm process: {cores:.2} cores on {} shards, RSS {} MiB",
                self.shards,
                rss / (1024 * 1024)
            )?;
        }
        if let Some(pressure) = self.host_cpu_pressure {
            let warning = if pressure > 0.2 {
                " (busy machine: figures inflated by CPU contention)"
            } else {
                ""
            };
            writeln!(
                f,
                "host CPU pressure: tasks waited for a CPU {:.0}% of the window{warning}",
                pressure * 100.0
            )?;
        }
        if let Some(floor) = &self.floor {
            let ratio = |value: Option<f64>| value.map_or("-".to_string(), |r| format!("{r:.2}x"));
            writeln!(
                f,
                "floor ({} connections, {} B down / {} B up per tick): server side {:.3} cores \
                 ({:.2} per 1,000), client side {:.3} cores; server {} the floor, swarm {} the \
                 client side",
                floor.clients,
                floor.down_bytes,
                floor.up_bytes,
                floor.server_cores,
                floor.server_cores_per_1000,
                floor.client_cores,
                ratio(self.server_vs_floor),
                ratio(self.swarm_vs_floor)
            )?;
        }
        match &self.server_metrics_error {
            Some(error) => writeln!(f, "server metrics unavailable: {error}"),
            None => {
                let ms = |value: Option<f64>| value.map_or("-".to_string(), |ms| format!("{ms}"));
                let tick = self.server_tick_ms.unwrap_or_default();
                writeln!(
                    f,
                    "server: tick p50 <= {} / p99 <= {} / max <= {} ms (bucket bounds), {:.2} cores, RSS {} -> {} MiB",
                    ms(tick.p50),
                    ms(tick.p99),
                    ms(tick.max),
                    self.server_cpu_cores.unwrap_or(0.0),
                    self.server_rss_bytes_start.unwrap_or(0) / (1024 * 1024),
                    self.server_rss_bytes.unwrap_or(0) / (1024 * 1024)
                )
            }
        }
    }
}

/// Fills the server figures from the /metrics scrapes at both ends of the window.
pub(super) fn fill_server_figures<F>(
    report: &mut SwarmReport<F>,
    start: Result<MetricsSample, String>,
    end: Result<MetricsSample, String>,
    between_scrapes_s: f64,
) {
    let (start, end) = match (start, end) {
        (Ok(start), Ok(end)) => (start, end),
        (Err(error), _) | (_, Err(error)) => {
            report.server_metrics_error = Some(error);
            return;
        }
    };
    report.server_tick_ms = bucket_quantiles(&start.tick_buckets, &end.tick_buckets);
    if let (Some(count_start), Some(count_end)) = (start.tick_count, end.tick_count) {
        let ticks = count_end.saturating_sub(count_start);
        report.server_ticks = Some(ticks);
        if let (Some(sum_start), Some(sum_end)) = (start.tick_sum_s, end.tick_sum_s)
            && ticks > 0
        {
            report.server_tick_ms_mean = Some(round3((sum_end - sum_start) * 1e3 / ticks as f64));
        }
    }
    if let (Some(cpu_start), Some(cpu_end)) = (start.cpu_s, end.cpu_s) {
        let cpu_s = (cpu_end - cpu_start).max(0.0);
        report.server_cpu_s = Some(round3(cpu_s));
        report.server_cpu_cores = Some(round3(cpu_s / between_scrapes_s.max(1e-9)));
    }
    report.server_rss_bytes = end.rss_bytes;
    report.server_rss_bytes_start = start.rss_bytes;
    report.server_fds_start = start.fds;
    report.server_fds = end.fds;
    report.server_tasks_start = start.tasks;
    report.server_tasks = end.tasks;
    let mut missing = Vec::new();
    if report.server_tick_ms.is_none() && report.server_ticks.is_none() {
        missing.push("tickwire_tick_duration_seconds");
    }
    if report.server_cpu_s.is_none() {
        missing.push("process_cpu_seconds_total");
    }
    if report.server_rss_bytes.is_none() {
        missing.push("process_resident_memory_bytes");
    }
    if !missing.is_empty() {
        report.server_metrics_error = Some(format!("/metrics lacks {}", missing.join(", ")));
    }
}

pub(super) fn quantiles(histogram: &Histogram<u64>) -> Quantiles {
    if histogram.is_empty() {
        return Quantiles::default();
    }
    let ms = |us: u64| round3(us as f64 / 1e3);
    Quantiles {
        count: histogram.len(),
        p50: ms(histogram.value_at_quantile(0.50)),
        p90: ms(histogram.value_at_quantile(0.90)),
        p99: ms(histogram.value_at_quantile(0.99)),
        max: ms(histogram.max()),
        buckets: histogram
            .iter_recorded()
            .map(|bucket| [bucket.value_iterated_to(), bucket.count_at_value()])
            .collect(),
    }
}

/// An auto-resizing histogram of 2 significant digits.
pub(super) fn new_histogram<T: hdrhistogram::Counter>() -> Histogram<T> {
    // Invariant: 2 significant digits is within hdrhistogram's 0..=5.
    Histogram::new(2).expect("2 significant digits is valid")
}

/// Adds a histogram into a total.
pub(super) fn merge<T: hdrhistogram::Counter>(total: &mut Histogram<u64>, part: &Histogram<T>) {
    for bucket in part.iter_recorded() {
        record(
            total,
            bucket.value_iterated_to(),
            bucket.count_at_value().as_u64(),
        );
    }
}

/// Records `count` samples of `value`. The histograms resize themselves, so recording cannot
/// fail for the bounded values recorded here (saturating_record would clamp instead of resizing).
pub(super) fn record<T: hdrhistogram::Counter>(histogram: &mut Histogram<T>, value: u64, count: T) {
    let _ = histogram.record_n(value, count);
}

pub(super) fn round3(value: f64) -> f64 {
    (value * 1e3).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_grow_to_fit_and_merge() {
        let mut bot: Histogram<u32> = new_histogram();
        for latency_us in [20_000, 30_000, 40_000, 2_000_000] {
            record(&mut bot, latency_us, 1);
        }
        let mut total = new_histogram();
        merge(&mut total, &bot);
        merge(&mut total, &bot);
        let quantiles = quantiles(&total);
        assert_eq!(quantiles.count, 8);
        assert!((29.0..=31.0).contains(&quantiles.p50), "{quantiles:?}");
        assert!(
            (1_980.0..=2_020.0).contains(&quantiles.max),
            "{quantiles:?}"
        );
    }
}
