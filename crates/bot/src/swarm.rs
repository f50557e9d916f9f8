//! The swarm load tester: many bots from one process, one report.
//!
//! [`run_swarm`] starts [`SwarmOptions::bots`] bots of one game at a steady ramp rate. Each is the
//! same client and [`Brain`](crate::Brain) as `tickwire bot`: a [`Client`] driven by the bot's own
//! play loop,
//! with a per-bot [`Probe`] attached. Once every bot has connected or failed, and a warm-up has
//! passed, the swarm measures a fixed window: snapshot arrivals and intervals, input-to-ack
//! latency, payload bytes and errors on the client side, and the server's tick duration
//! histogram, CPU time and memory from its `/metrics`, scraped at both ends of the window. Then it
//! closes every connection and returns a [`SwarmReport`].
//!
//! Hot path: a bot records into its own [`Probe`] (plain counters, two small HdrHistograms and a
//! ring of input send times). The shared [`SwarmStats`] gets a few relaxed atomic adds per bot
//! and second, for the live progress line; a probe's histograms are merged into the totals once,
//! when its bot ends. No lock is taken per message.
//!
//! It does not start a server, and it measures only what a client sees plus what the server
//! publishes at `/metrics`.

use std::collections::BTreeMap;
use std::fmt;
use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tickwire_net::client::ABNORMAL_CLOSE;
use tickwire_net::metrics::ProcessStats;
use tickwire_net::{Client, ClientError};
use tickwire_protocol::close;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, interval, sleep, sleep_until, timeout, timeout_at};

use crate::floor::{FloorOptions, FloorReport, run_floor};
use crate::{BotGame, BotOptions, Figures, play_with_probe};

/// What a swarm run does.
#[derive(Clone, Debug)]
pub struct SwarmOptions {
    /// Server WebSocket URL, ws://HOST:PORT/PATH. `/metrics` is scraped from the same HOST:PORT.
    pub url: String,
    /// Bots to run.
    pub bots: usize,
    /// Spread the bots over this many rooms named `swarm-0`, `swarm-1`, ...: bot i joins
    /// `swarm-{i % rooms}`. None: send no room name and let the server match them.
    pub rooms: Option<usize>,
    /// Length of the measured window.
    pub duration: Duration,
    /// Wait between the end of the ramp-up and the start of the measured window.
    pub warmup: Duration,
    /// New connections started per second during the ramp-up.
    pub ramp_per_s: f64,
    /// Per-bot deadline for the WebSocket handshake and for the Welcome.
    pub connect_timeout: Duration,
    /// Brain seed of bot 0; bot i uses `seed + i`.
    pub seed: u64,
    /// Draw a live progress line on stderr (only when stderr is a terminal).
    pub progress: bool,
    /// Soak mode: each bot plays for a random time in this range, leaves, and a fresh bot
    /// takes its place, for the whole run (joins and leaves never stop).
    pub soak: Option<(Duration, Duration)>,
    /// After the bots stop, measure the kernel's floor for the same traffic (as many
    /// connections, the measured message sizes, the same tick rate) for this long, so the
    /// report quotes the server's and the swarm's CPU as ratios to it. None: no floor.
    pub floor: Option<Duration>,
}

impl Default for SwarmOptions {
    fn default() -> Self {
        SwarmOptions {
            url: "ws://127.0.0.1:7700/ws".into(),
            bots: 100,
            rooms: None,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            ramp_per_s: 200.0,
            soak: None,
            floor: None,
            connect_timeout: Duration::from_secs(10),
            seed: 1,
            progress: false,
        }
    }
}

impl SwarmOptions {
    /// Checks every option; [`run_swarm`] calls it first.
    pub fn validate(&self) -> Result<(), SwarmError> {
        let check = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(SwarmError::InvalidOption(what.to_string()))
            }
        };
        check(self.bots >= 1, "bots must be at least 1")?;
        check(self.rooms != Some(0), "rooms must be at least 1")?;
        check(!self.duration.is_zero(), "duration must be positive")?;
        check(
            self.ramp_per_s.is_finite() && self.ramp_per_s > 0.0,
            "ramp must be a positive number of connections per second",
        )?;
        check(
            !self.connect_timeout.is_zero(),
            "connect timeout must be positive",
        )?;
        metrics_authority(&self.url)?;
        Ok(())
    }
}

/// Why a swarm could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SwarmError {
    /// An option is out of range.
    #[error("invalid swarm option: {0}")]
    InvalidOption(String),
    /// The URL is not ws://HOST:PORT/PATH.
    #[error("invalid server url {url:?}: expected ws://HOST:PORT/PATH")]
    Url {
        /// The URL given.
        url: String,
    },
}

/// What a swarm run measured, written as JSON by `tickwire swarm --report`.
///
/// Client-side figures (snapshots, intervals, latency, bytes, snapshot errors) count only inside
/// the measured window, which starts `warmup_s` after the last bot connected or failed.
/// Connection outcomes (`connected`, `connect_failures`, `disconnects`) cover the whole run.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
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
    /// Bots that did not.
    pub connect_failures: u64,
    /// Why they did not, with counts: a close-code name (e.g. `room_full`) or the error text.
    pub connect_failure_reasons: BTreeMap<String, u64>,
    /// Connections that ended before the swarm closed them, by close-code name (`abnormal` when
    /// the connection dropped without a close frame).
    pub disconnects: BTreeMap<String, u64>,
    /// Connections started per second during the ramp-up.
    pub ramp_per_s: f64,
    /// Seconds from the first connection attempt until every bot had connected or failed.
    pub ramp_s: f64,
    /// Seconds waited after the ramp-up before the measured window opened.
    pub warmup_s: f64,
    /// Length of the measured window in seconds.
    pub duration_s: f64,
    /// Bots connected when the measured window opened.
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
    /// How to read this report.
    pub notes: Vec<String>,
}

/// Quantiles of a client-side HdrHistogram (microsecond resolution, 2 significant digits), in
/// milliseconds. All zero when `count` is 0.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
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
}

/// Quantiles estimated from a Prometheus histogram's bucket counts, in milliseconds: each is the
/// upper bound of the bucket the quantile falls in (null when that bucket is `+Inf`).
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct BucketQuantiles {
    /// Bucket bound at or above the median.
    pub p50: Option<f64>,
    /// Bucket bound at or above the 99th percentile.
    pub p99: Option<f64>,
    /// Upper bound of the highest non-empty bucket.
    pub max: Option<f64>,
}

/// Runs a swarm: ramp up, warm up, measure, stop every bot, report.
///
/// Bots that fail to connect or get disconnected are counted in the report, not returned as
/// errors; only invalid options are.
pub async fn run_swarm<G: BotGame>(
    options: SwarmOptions,
) -> Result<SwarmReport<G::Figures>, SwarmError> {
    options.validate()?;
    let authority = metrics_authority(&options.url)?;
    let stats = Arc::new(SwarmStats::new());
    let (phase, phase_rx) = watch::channel(Phase::Ramp);
    let progress = (options.progress && std::io::stderr().is_terminal())
        .then(|| spawn_progress(options.bots, Arc::clone(&stats), phase_rx));

    // Ramp-up: bot i starts i / ramp seconds after the first.
    let ramp_started = Instant::now();
    let mut bots: Vec<JoinHandle<BotOutcome<G::Figures>>> = Vec::with_capacity(options.bots);
    for index in 0..options.bots {
        sleep_until(ramp_started + Duration::from_secs_f64(index as f64 / options.ramp_per_s))
            .await;
        let bot_options = BotOptions {
            url: options.url.clone(),
            name: format!("swarm-{index}"),
            room: options
                .rooms
                .map(|rooms| format!("swarm-{}", index % rooms)),
            spectate: false,
            duration: None,
            seed: options.seed.wrapping_add(index as u64),
            chat: Vec::new(),
            connect_timeout: options.connect_timeout,
            ..BotOptions::default()
        };
        bots.push(tokio::spawn(swarm_slot::<G>(
            bot_options,
            Arc::clone(&stats),
            options.soak,
        )));
    }
    // Every connection attempt ends within its connect timeout (a task that died early is
    // counted when it is joined below).
    while stats.connected.load(Relaxed) + stats.connect_failures.load(Relaxed) < options.bots as u64
        && !bots.iter().all(JoinHandle::is_finished)
    {
        sleep(Duration::from_millis(20)).await;
    }
    let ramp_s = ramp_started.elapsed().as_secs_f64();

    let mut report = SwarmReport::<G::Figures> {
        game: G::NAME.to_string(),
        url: options.url.clone(),
        bots: options.bots,
        rooms: options.rooms,
        ramp_per_s: options.ramp_per_s,
        ramp_s: round3(ramp_s),
        warmup_s: options.warmup.as_secs_f64(),
        ..SwarmReport::default()
    };
    let mut window_s = 0.0;
    let mut scrapes = None;
    if stats.connected_now.load(Relaxed) > 0 {
        phase.send_replace(Phase::Warmup(Instant::now() + options.warmup));
        sleep(options.warmup).await;

        let start_sample = scrape_metrics(&authority).await;
        let start_scraped = Instant::now();
        let swarm_start = ProcessStats::read();
        let pressure_start = cpu_pressure_stall_us();
        report.bots_in_window = stats.connected_now.load(Relaxed);
        stats.measuring.store(true, Relaxed);
        let window_started = Instant::now();
        phase.send_replace(Phase::Measuring(window_started + options.duration));
        sleep(options.duration).await;
        stats.measuring.store(false, Relaxed);
        window_s = window_started.elapsed().as_secs_f64();
        if let (Some(start), Some(end)) = (pressure_start, cpu_pressure_stall_us()) {
            report.host_cpu_pressure =
                Some(round3(end.saturating_sub(start) as f64 / 1e6 / window_s));
        }
        if let (Some(start), Some(end)) = (swarm_start, ProcessStats::read()) {
            report.swarm_cpu_cores = Some(round3((end.cpu_seconds - start.cpu_seconds) / window_s));
            report.swarm_rss_bytes = Some(end.rss_bytes);
        }
        let end_sample = scrape_metrics(&authority).await;
        let between_scrapes_s = start_scraped.elapsed().as_secs_f64();
        scrapes = Some((start_sample, end_sample, between_scrapes_s));
    } else {
        report
            .notes
            .push("no bot connected: nothing was measured".into());
        report.server_metrics_error = Some("not scraped: no bot connected".into());
    }

    // Stop: every bot closes its connection; a bot that hangs is abandoned after a deadline.
    phase.send_replace(Phase::Stopping);
    stats.stop.send_replace(true);
    let deadline = Instant::now() + Duration::from_secs(5);
    for bot in bots {
        let abort = bot.abort_handle();
        match timeout_at(deadline, bot).await {
            Ok(Ok(BotOutcome::ConnectFailed(reason))) => {
                *report.connect_failure_reasons.entry(reason).or_default() += 1;
            }
            Ok(Ok(BotOutcome::Played {
                disconnect,
                figures,
            })) => {
                if let Some(reason) = disconnect {
                    *report.disconnects.entry(reason.to_string()).or_default() += 1;
                }
                report.game_figures.merge(&figures);
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "a swarm bot task failed");
                report.unfinished_bots += 1;
            }
            Err(_) => {
                abort.abort();
                report.unfinished_bots += 1;
            }
        }
    }
    if let Some((bar, task)) = progress {
        task.abort();
        bar.finish_and_clear();
    }

    fill_client_figures(&mut report, &stats, window_s);
    if let Some((start, end, between_scrapes_s)) = scrapes {
        fill_server_figures(&mut report, start, end, between_scrapes_s);
    }
    report.notes.push(format!(
        "the measured window opened {} s after every bot had connected or failed (warm-up) and \
         lasted {} s; client figures count only inside it",
        report.warmup_s, report.duration_s
    ));
    report.notes.push(
        "server_tick_ms values are upper bounds of tickwire_tick_duration_seconds buckets, from \
         the bucket deltas between the scrapes at the start and end of the window"
            .into(),
    );
    if let Some(duration) = options.floor
        && report.bots_in_window > 0
    {
        fill_floor(&mut report, duration).await;
    }
    Ok(report)
}

/// Measures the kernel's floor for the traffic the window carried and quotes the server's and
/// the swarm's CPU against it.
async fn fill_floor<F>(report: &mut SwarmReport<F>, duration: Duration) {
    let snapshot_rate = report.tick_rate.max(1) as f64 / report.snapshot_every_ticks.max(1) as f64;
    // Payload bytes per message plus the WebSocket header: 2 bytes from the server (4 from 126
    // bytes on), 6 from a client (its frames are masked).
    let down = (report.bytes_in_per_bot_per_s / snapshot_rate).round() as usize;
    let up = (report.bytes_out_per_bot_per_s / report.tick_rate.max(1) as f64).round() as usize;
    let options = FloorOptions {
        clients: report.bots_in_window as usize,
        tick_rate: report.tick_rate.max(1),
        down_bytes: down + if down < 126 { 2 } else { 4 },
        up_bytes: up + 6,
        duration,
    };
    match tokio::task::spawn_blocking(move || run_floor(&options)).await {
        Ok(Ok(floor)) => {
            report.server_vs_floor = report
                .server_cpu_cores
                .filter(|_| floor.server_cores > 0.0)
                .map(|cores| round3(cores / floor.server_cores));
            report.swarm_vs_floor = report
                .swarm_cpu_cores
                .filter(|_| floor.client_cores > 0.0)
                .map(|cores| round3(cores / floor.client_cores));
            report.notes.push(format!(
                "the floor ran after the bots stopped: {} loopback connections at {} Hz, one \
                 non-blocking write of {} B and one read per connection per tick on one thread \
                 (the server side), the same with {} B on another (the client side)",
                floor.clients, floor.tick_rate, floor.down_bytes, floor.up_bytes
            ));
            report.floor = Some(floor);
        }
        Ok(Err(error)) => report
            .notes
            .push(format!("the floor could not run: {error}")),
        Err(error) => report
            .notes
            .push(format!("the floor could not run: {error}")),
    }
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
        if let (Some(cores), Some(rss)) = (self.swarm_cpu_cores, self.swarm_rss_bytes) {
            writeln!(
                f,
                "swarm process: {cores:.2} cores, RSS {} MiB",
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

/// What every bot of one swarm shares: relaxed counters for the live progress line, the
/// measuring flag, the stop signal, and the window totals that probes merge into as they end.
#[derive(Debug)]
pub(crate) struct SwarmStats {
    /// Time zero of the run; probes keep times as microseconds since it.
    epoch: Instant,
    /// True while the measured window is open; probes count window figures only while it is.
    measuring: AtomicBool,
    /// Flips to true once, at the end of the window: every bot then closes its connection.
    stop: watch::Sender<bool>,
    /// Bots that got a Welcome.
    connected: AtomicU64,
    /// Bots that did not.
    connect_failures: AtomicU64,
    /// Bots connected now.
    connected_now: AtomicU64,
    /// Connections that ended before the swarm stopped them.
    disconnects: AtomicU64,
    /// Soak mode: sessions that ended by themselves (and were replaced) inside the window.
    soak_sessions: AtomicU64,
    /// From the first Welcome.
    tick_rate: AtomicU32,
    /// From the first Welcome.
    snapshot_every_ticks: AtomicU32,
    /// Snapshots received at any time (for the progress line), flushed by probes periodically.
    live_snapshots: AtomicU64,
    /// Snapshot errors at any time (for the progress line).
    live_snapshot_errors: AtomicU64,
    /// Recent input-to-ack latencies in microseconds, flushed by probes in batches; the progress
    /// line reads its p99 and resets it.
    live_latency: Mutex<Histogram<u64>>,
    /// Window figures of every bot that has ended.
    window: Mutex<WindowTotals>,
}

impl SwarmStats {
    fn new() -> SwarmStats {
        SwarmStats {
            epoch: Instant::now(),
            measuring: AtomicBool::new(false),
            stop: watch::Sender::new(false),
            connected: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            connected_now: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            soak_sessions: AtomicU64::new(0),
            tick_rate: AtomicU32::new(0),
            snapshot_every_ticks: AtomicU32::new(0),
            live_snapshots: AtomicU64::new(0),
            live_snapshot_errors: AtomicU64::new(0),
            live_latency: Mutex::new(new_histogram()),
            window: Mutex::new(WindowTotals::default()),
        }
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }
}

/// Sums of the probes' window figures.
#[derive(Debug)]
struct WindowTotals {
    snapshots: u64,
    snapshot_errors: u64,
    inputs_sent: u64,
    bytes_in: u64,
    bytes_out: u64,
    latency_us: Histogram<u64>,
    interval_us: Histogram<u64>,
}

impl Default for WindowTotals {
    fn default() -> Self {
        WindowTotals {
            snapshots: 0,
            snapshot_errors: 0,
            inputs_sent: 0,
            bytes_in: 0,
            bytes_out: 0,
            latency_us: new_histogram(),
            interval_us: new_histogram(),
        }
    }
}

/// Input send times kept per bot, indexed by sequence number modulo this. An input acknowledged
/// this many inputs or more after it was sent (about 2 s at 30 Hz) is not timed.
const SENT_RING: usize = 64;
/// How often a probe adds its live counters to the shared ones (microseconds).
const LIVE_FLUSH_US: u64 = 250_000;
/// Samples above this (microseconds) are recorded as this; keeps histograms bounded.
const SAMPLE_MAX_US: u64 = 60_000_000;

/// One bot's measurements. The bot's play loop calls the `handle_*` methods as things happen;
/// [`Probe::finish`] merges the window figures into the swarm's totals once, at the end.
///
/// Memory per bot stays small: a 1 KiB ring of send times and two auto-sized histograms of
/// 2 significant digits (a few KiB for samples up to ~100 ms).
#[derive(Debug)]
pub(crate) struct Probe {
    stats: Arc<SwarmStats>,
    stop: watch::Receiver<bool>,
    /// (sequence, send time in µs) of the last inputs sent, at `seq % SENT_RING`.
    sent: [(u32, u64); SENT_RING],
    /// Newest input sequence a snapshot acknowledged so far.
    acked_through: u32,
    last_snapshot_us: Option<u64>,
    /// The client's byte counters as last seen, to count only what moved inside the window.
    bytes_received_seen: u64,
    bytes_sent_seen: u64,
    window_snapshots: u64,
    window_snapshot_errors: u64,
    window_inputs_sent: u64,
    window_bytes_in: u64,
    window_bytes_out: u64,
    latency_us: Histogram<u32>,
    interval_us: Histogram<u32>,
    live_snapshots: u64,
    live_snapshot_errors: u64,
    live_latency_us: Vec<u64>,
    next_flush_us: u64,
}

impl Probe {
    fn new(stats: Arc<SwarmStats>) -> Probe {
        let stop = stats.stop.subscribe();
        let next_flush_us = stats.now_us() + LIVE_FLUSH_US;
        Probe {
            stats,
            stop,
            sent: [(0, 0); SENT_RING],
            acked_through: 0,
            last_snapshot_us: None,
            bytes_received_seen: 0,
            bytes_sent_seen: 0,
            window_snapshots: 0,
            window_snapshot_errors: 0,
            window_inputs_sent: 0,
            window_bytes_in: 0,
            window_bytes_out: 0,
            latency_us: new_histogram(),
            interval_us: new_histogram(),
            live_snapshots: 0,
            live_snapshot_errors: 0,
            live_latency_us: Vec::new(),
            next_flush_us,
        }
    }

    /// The bot is about to send input `seq` for the first time.
    pub(crate) fn handle_input_sent(&mut self, seq: u32) {
        self.sent[seq as usize % SENT_RING] = (seq, self.stats.now_us());
        if self.measuring() {
            self.window_inputs_sent += 1;
        }
    }

    /// The client's payload byte counters now (call after every receive and send).
    pub(crate) fn handle_traffic(&mut self, bytes_received: u64, bytes_sent: u64) {
        if self.measuring() {
            self.window_bytes_in += bytes_received.saturating_sub(self.bytes_received_seen);
            self.window_bytes_out += bytes_sent.saturating_sub(self.bytes_sent_seen);
        }
        self.bytes_received_seen = bytes_received;
        self.bytes_sent_seen = bytes_sent;
    }

    /// A snapshot arrived saying the server applied inputs up to `last_input`.
    pub(crate) fn handle_snapshot(&mut self, last_input: u32) {
        let now = self.stats.now_us();
        let measuring = self.measuring();
        self.live_snapshots += 1;
        if measuring {
            self.window_snapshots += 1;
            if let Some(last) = self.last_snapshot_us {
                record(
                    &mut self.interval_us,
                    now.saturating_sub(last).min(SAMPLE_MAX_US),
                    1,
                );
            }
        }
        self.last_snapshot_us = Some(now);
        if last_input > self.acked_through {
            // Only the newest SENT_RING sequences can still be in the ring.
            let first =
                (self.acked_through + 1).max(last_input.saturating_sub(SENT_RING as u32 - 1));
            for seq in first..=last_input {
                let (sent_seq, sent_us) = self.sent[seq as usize % SENT_RING];
                if sent_seq != seq {
                    continue;
                }
                let latency = now.saturating_sub(sent_us).min(SAMPLE_MAX_US);
                self.live_latency_us.push(latency);
                if measuring {
                    record(&mut self.latency_us, latency, 1);
                }
            }
            self.acked_through = last_input;
        }
        if now >= self.next_flush_us {
            self.flush_live();
            self.next_flush_us = now + LIVE_FLUSH_US;
        }
    }

    /// The last snapshot did not apply.
    pub(crate) fn handle_snapshot_error(&mut self) {
        self.live_snapshot_errors += 1;
        if self.measuring() {
            self.window_snapshot_errors += 1;
        }
    }

    /// Completes once the swarm tells its bots to stop; never without a probe.
    pub(crate) async fn stop_requested(probe: Option<&mut Probe>) {
        match probe {
            // An error means the sender is gone, which only happens once the swarm is over.
            Some(probe) => {
                let _ = probe.stop.wait_for(|stop| *stop).await;
            }
            None => std::future::pending().await,
        }
    }

    /// Adds this bot's figures to the swarm's; called once, when the bot ends.
    fn finish(mut self) {
        self.flush_live();
        let Ok(mut window) = self.stats.window.lock() else {
            return;
        };
        window.snapshots += self.window_snapshots;
        window.snapshot_errors += self.window_snapshot_errors;
        window.inputs_sent += self.window_inputs_sent;
        window.bytes_in += self.window_bytes_in;
        window.bytes_out += self.window_bytes_out;
        merge(&mut window.latency_us, &self.latency_us);
        merge(&mut window.interval_us, &self.interval_us);
    }

    fn measuring(&self) -> bool {
        self.stats.measuring.load(Relaxed)
    }

    fn flush_live(&mut self) {
        let stats = &self.stats;
        stats
            .live_snapshots
            .fetch_add(std::mem::take(&mut self.live_snapshots), Relaxed);
        if self.live_snapshot_errors > 0 {
            stats
                .live_snapshot_errors
                .fetch_add(std::mem::take(&mut self.live_snapshot_errors), Relaxed);
        }
        if !self.live_latency_us.is_empty() {
            if let Ok(mut live) = stats.live_latency.lock() {
                for &latency in &self.live_latency_us {
                    record(&mut live, latency, 1);
                }
            }
            self.live_latency_us.clear();
        }
    }
}

/// How one bot's run ended.
#[derive(Debug)]
enum BotOutcome<F> {
    /// No Welcome: why.
    ConnectFailed(String),
    /// Played until stopped (`disconnect` None) or until the connection ended, with the game's
    /// figures (summed over the sessions of a soak slot).
    Played {
        disconnect: Option<&'static str>,
        figures: F,
    },
}

/// One bot slot: a single bot, or in soak mode a bot that plays a random while, leaves, and is
/// replaced by a fresh one until the swarm stops.
async fn swarm_slot<G: BotGame>(
    mut options: BotOptions,
    stats: Arc<SwarmStats>,
    soak: Option<(Duration, Duration)>,
) -> BotOutcome<G::Figures> {
    let Some((shortest, longest)) = soak else {
        return swarm_bot::<G>(options, stats).await;
    };
    let mut rng = options.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut total = G::Figures::default();
    loop {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let spread = longest.saturating_sub(shortest).as_secs_f64();
        let lifetime = shortest + Duration::from_secs_f64(spread * (rng % 1000) as f64 / 1000.0);
        options.duration = Some(lifetime);
        options.seed = options.seed.wrapping_add(1);
        let outcome = swarm_bot::<G>(options.clone(), Arc::clone(&stats)).await;
        let ended_by_itself = match &outcome {
            BotOutcome::Played {
                disconnect,
                figures,
            } => {
                total.merge(figures);
                disconnect.is_none()
            }
            BotOutcome::ConnectFailed(_) => false,
        };
        if *stats.stop.subscribe().borrow() || !ended_by_itself {
            return match outcome {
                BotOutcome::Played { disconnect, .. } => BotOutcome::Played {
                    disconnect,
                    figures: total,
                },
                failed => failed,
            };
        }
        if stats.measuring.load(Relaxed) {
            stats.soak_sessions.fetch_add(1, Relaxed);
        }
    }
}

/// One swarm bot: connect, then the same play loop as `tickwire bot`, with a probe attached.
async fn swarm_bot<G: BotGame>(
    options: BotOptions,
    stats: Arc<SwarmStats>,
) -> BotOutcome<G::Figures> {
    let client =
        match Client::<G>::connect(&options.url, options.hello::<G>(), options.connect_timeout)
            .await
        {
            Ok(client) => client,
            Err(error) => {
                tracing::debug!(bot = %options.name, %error, "swarm bot could not connect");
                stats.connect_failures.fetch_add(1, Relaxed);
                return BotOutcome::ConnectFailed(connect_failure_reason(&error));
            }
        };
    let welcome = client.welcome();
    stats.tick_rate.store(u32::from(welcome.tick_rate), Relaxed);
    stats
        .snapshot_every_ticks
        .store(u32::from(welcome.snapshot_interval), Relaxed);
    stats.connected_now.fetch_add(1, Relaxed);
    stats.connected.fetch_add(1, Relaxed);

    let mut probe = Probe::new(Arc::clone(&stats));
    let report = play_with_probe(client, &options, Some(&mut probe)).await;
    probe.finish();
    stats.connected_now.fetch_sub(1, Relaxed);
    let disconnect = report.disconnect_reason.map(|info| close_reason(info.code));
    if disconnect.is_some() {
        stats.disconnects.fetch_add(1, Relaxed);
    }
    BotOutcome::Played {
        disconnect,
        figures: report.game,
    }
}

/// A report key for a close code: its name, or `abnormal` when there was no close frame.
fn close_reason(code: u16) -> &'static str {
    if code == ABNORMAL_CLOSE {
        "abnormal"
    } else {
        close::name(code)
    }
}

fn connect_failure_reason(error: &ClientError) -> String {
    match error {
        ClientError::Closed(info) => close_reason(info.code).to_string(),
        ClientError::Connect { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Copies the merged client-side window figures into the report.
fn fill_client_figures<F>(report: &mut SwarmReport<F>, stats: &SwarmStats, window_s: f64) {
    report.connected = stats.connected.load(Relaxed);
    report.connect_failures = stats.connect_failures.load(Relaxed);
    report.tick_rate = stats.tick_rate.load(Relaxed);
    report.snapshot_every_ticks = stats.snapshot_every_ticks.load(Relaxed);
    report.duration_s = round3(window_s);
    let soak_sessions = stats.soak_sessions.load(Relaxed);
    if soak_sessions > 0 {
        report.soak_sessions = Some(soak_sessions);
    }
    let Ok(window) = stats.window.lock() else {
        return;
    };
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

/// Fills the server figures from the /metrics scrapes at both ends of the window.
fn fill_server_figures<F>(
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

fn quantiles(histogram: &Histogram<u64>) -> Quantiles {
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
    }
}

/// Quantiles of the samples that fell between two cumulative bucket readings (bound in seconds,
/// cumulative count), as bucket upper bounds in milliseconds. None when no sample fell between.
fn bucket_quantiles(start: &[(f64, u64)], end: &[(f64, u64)]) -> Option<BucketQuantiles> {
    let mut deltas: Vec<(f64, u64)> = end
        .iter()
        .map(|&(bound, cumulative)| {
            let before = start
                .iter()
                .find(|(start_bound, _)| *start_bound == bound)
                .map_or(0, |&(_, count)| count);
            (bound, cumulative.saturating_sub(before))
        })
        .collect();
    deltas.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = deltas.last()?.1;
    if total == 0 {
        return None;
    }
    let bound_ms = |bound: f64| bound.is_finite().then(|| round3(bound * 1e3));
    let at_quantile = |quantile: f64| {
        let rank = ((quantile * total as f64).ceil() as u64).max(1);
        deltas
            .iter()
            .find(|(_, cumulative)| *cumulative >= rank)
            .and_then(|&(bound, _)| bound_ms(bound))
    };
    let mut below = 0;
    let mut max = None;
    for &(bound, cumulative) in &deltas {
        if cumulative > below {
            max = bound_ms(bound);
        }
        below = cumulative;
    }
    Some(BucketQuantiles {
        p50: at_quantile(0.50),
        p99: at_quantile(0.99),
        max,
    })
}

/// The figures the swarm reads from one /metrics scrape.
#[derive(Debug, Default, Clone, PartialEq)]
struct MetricsSample {
    /// `tickwire_tick_duration_seconds_bucket`: (upper bound in seconds, cumulative count).
    tick_buckets: Vec<(f64, u64)>,
    tick_sum_s: Option<f64>,
    tick_count: Option<u64>,
    cpu_s: Option<f64>,
    rss_bytes: Option<u64>,
    fds: Option<u64>,
    tasks: Option<u64>,
}

/// Largest /metrics response read.
const METRICS_RESPONSE_MAX: u64 = 1024 * 1024;
/// Deadline of one /metrics scrape.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// GETs /metrics from `authority` (HOST:PORT) with a minimal HTTP/1.1 request. tickwire's server
/// answers with Content-Length and closes the connection, which is all this reads.
async fn scrape_metrics(authority: &str) -> Result<MetricsSample, String> {
    let fetch = async {
        let mut stream = TcpStream::connect(authority)
            .await
            .map_err(|error| format!("cannot connect to {authority} for /metrics: {error}"))?;
        let request =
            format!("GET /metrics HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|error| format!("cannot send the /metrics request: {error}"))?;
        let mut response = Vec::new();
        let read = (&mut stream)
            .take(METRICS_RESPONSE_MAX)
            .read_to_end(&mut response)
            .await;
        // A server that refuses the request (e.g. 503 at a connection cap) may reset the
        // connection right after answering: keep what arrived so the status can be reported.
        let read_error = read
            .err()
            .map(|error| format!("cannot read the /metrics response: {error}"));
        Ok::<_, String>((response, read_error))
    };
    let (response, read_error) = timeout(SCRAPE_TIMEOUT, fetch)
        .await
        .map_err(|_| format!("GET http://{authority}/metrics timed out"))??;
    let text = String::from_utf8_lossy(&response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Err(read_error.unwrap_or_else(|| "malformed HTTP response to GET /metrics".into()));
    };
    let status_line = head.lines().next().unwrap_or_default();
    if status_line.split_whitespace().nth(1) != Some("200") {
        return Err(format!("GET /metrics answered {status_line:?}"));
    }
    match read_error {
        Some(error) => Err(error),
        None => Ok(parse_metrics(body)),
    }
}

/// Reads the few series the swarm needs from Prometheus text; other lines are ignored.
fn parse_metrics(text: &str) -> MetricsSample {
    let mut sample = MetricsSample::default();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.trim().rsplit_once(' ') else {
            continue;
        };
        if let Some(labels) = key.strip_prefix("tickwire_tick_duration_seconds_bucket{") {
            let bound = labels
                .strip_prefix("le=\"")
                .and_then(|rest| rest.strip_suffix("\"}"));
            let bound = match bound {
                Some("+Inf") => Some(f64::INFINITY),
                Some(bound) => bound.parse().ok(),
                None => None,
            };
            if let (Some(bound), Ok(count)) = (bound, value.parse()) {
                sample.tick_buckets.push((bound, count));
            }
            continue;
        }
        match key {
            "process_open_fds" => sample.fds = value.parse().ok(),
            "tickwire_tasks_alive" => sample.tasks = value.parse().ok(),
            "tickwire_tick_duration_seconds_sum" => sample.tick_sum_s = value.parse().ok(),
            "tickwire_tick_duration_seconds_count" => sample.tick_count = value.parse().ok(),
            "process_cpu_seconds_total" => sample.cpu_s = value.parse().ok(),
            "process_resident_memory_bytes" => sample.rss_bytes = value.parse().ok(),
            _ => {}
        }
    }
    sample
}

/// Microseconds some task on this host has waited for a CPU since boot (Linux PSI; None when
/// unavailable).
fn cpu_pressure_stall_us() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/pressure/cpu").ok()?;
    let some = text.lines().find(|line| line.starts_with("some "))?;
    some.split_whitespace()
        .find_map(|field| field.strip_prefix("total="))?
        .parse()
        .ok()
}

/// HOST:PORT of a ws:// URL (port 80 when it has none).
fn metrics_authority(url: &str) -> Result<String, SwarmError> {
    let invalid = || SwarmError::Url {
        url: url.to_string(),
    };
    let rest = url.strip_prefix("ws://").ok_or_else(invalid)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(invalid());
    }
    // A port follows the last ':' unless that ':' is inside an IPv6 literal like [::1].
    let has_port = authority
        .rfind(':')
        .is_some_and(|colon| !authority[colon..].contains(']'));
    if has_port {
        Ok(authority.to_string())
    } else {
        Ok(format!("{authority}:80"))
    }
}

/// Where the run is, for the progress line.
#[derive(Clone, Copy, Debug)]
enum Phase {
    Ramp,
    Warmup(Instant),
    Measuring(Instant),
    Stopping,
}

/// Starts the live progress line on stderr: connected / target, snapshots/s, recent p99
/// input-to-ack latency, errors.
fn spawn_progress(
    bots: usize,
    stats: Arc<SwarmStats>,
    phase: watch::Receiver<Phase>,
) -> (ProgressBar, JoinHandle<()>) {
    let bar = ProgressBar::new(bots as u64);
    // Invariant: the template is a constant that indicatif accepts (exercised by every run).
    let style =
        ProgressStyle::with_template("{spinner} {elapsed:>4} {pos}/{len} bots up | {wide_msg}")
            .expect("valid progress template");
    bar.set_style(style);
    let task_bar = bar.clone();
    let task = tokio::spawn(async move {
        let mut ticker = interval(Duration::from_millis(500));
        let mut last_snapshots = 0;
        let mut last_at = Instant::now();
        loop {
            ticker.tick().await;
            let now = Instant::now();
            let snapshots = stats.live_snapshots.load(Relaxed);
            let rate = (snapshots - last_snapshots) as f64
                / now.duration_since(last_at).as_secs_f64().max(1e-3);
            last_snapshots = snapshots;
            last_at = now;
            let p99_ms = match stats.live_latency.lock() {
                Ok(mut live) if !live.is_empty() => {
                    let p99 = live.value_at_quantile(0.99) as f64 / 1e3;
                    live.reset();
                    format!("{p99:.1} ms")
                }
                _ => "-".to_string(),
            };
            let errors = stats.connect_failures.load(Relaxed)
                + stats.disconnects.load(Relaxed)
                + stats.live_snapshot_errors.load(Relaxed);
            let phase = match *phase.borrow() {
                Phase::Ramp => "ramp-up".to_string(),
                Phase::Warmup(until) => {
                    format!(
                        "warm-up {:.0}s",
                        until.saturating_duration_since(now).as_secs_f64()
                    )
                }
                Phase::Measuring(until) => format!(
                    "measuring {:.0}s left",
                    until.saturating_duration_since(now).as_secs_f64()
                ),
                Phase::Stopping => "stopping".to_string(),
            };
            task_bar.set_position(stats.connected_now.load(Relaxed));
            task_bar.set_message(format!(
                "{rate:.0} snap/s | p99 ack {p99_ms} | errors {errors} | {phase}"
            ));
        }
    });
    (bar, task)
}

/// An auto-resizing histogram of 2 significant digits.
fn new_histogram<T: hdrhistogram::Counter>() -> Histogram<T> {
    // Invariant: 2 significant digits is within hdrhistogram's 0..=5.
    Histogram::new(2).expect("2 significant digits is valid")
}

/// Adds a per-bot histogram into a total.
fn merge(total: &mut Histogram<u64>, bot: &Histogram<u32>) {
    for bucket in bot.iter_recorded() {
        record(
            total,
            bucket.value_iterated_to(),
            u64::from(bucket.count_at_value()),
        );
    }
}

/// Records `count` samples of `value`. The histograms resize themselves, so recording cannot
/// fail for the bounded values recorded here (saturating_record would clamp instead of resizing).
fn record<T: hdrhistogram::Counter>(histogram: &mut Histogram<T>, value: u64, count: T) {
    let _ = histogram.record_n(value, count);
}

fn round3(value: f64) -> f64 {
    (value * 1e3).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_of_ws_urls() {
        assert_eq!(
            metrics_authority("ws://127.0.0.1:7700/ws").unwrap(),
            "127.0.0.1:7700"
        );
        assert_eq!(
            metrics_authority("ws://example.com/ws").unwrap(),
            "example.com:80"
        );
        assert_eq!(
            metrics_authority("ws://[::1]:9000/ws").unwrap(),
            "[::1]:9000"
        );
        assert_eq!(metrics_authority("ws://[::1]/ws").unwrap(), "[::1]:80");
        assert!(metrics_authority("http://127.0.0.1:7700/ws").is_err());
        assert!(metrics_authority("ws:///ws").is_err());
    }

    #[test]
    fn metrics_text_is_parsed() {
        let text = "# HELP x\n# TYPE tickwire_tick_duration_seconds histogram\n\
            tickwire_tick_duration_seconds_bucket{le=\"0.001\"} 5\n\
            tickwire_tick_duration_seconds_bucket{le=\"0.002\"} 9\n\
            tickwire_tick_duration_seconds_bucket{le=\"+Inf\"} 10\n\
            tickwire_tick_duration_seconds_sum 0.0125\n\
            tickwire_tick_duration_seconds_count 10\n\
            process_cpu_seconds_total 1.5\n\
            process_resident_memory_bytes 1048576\n";
        let sample = parse_metrics(text);
        assert_eq!(
            sample.tick_buckets,
            vec![(0.001, 5), (0.002, 9), (f64::INFINITY, 10)]
        );
        assert_eq!(sample.tick_count, Some(10));
        assert_eq!(sample.tick_sum_s, Some(0.0125));
        assert_eq!(sample.cpu_s, Some(1.5));
        assert_eq!(sample.rss_bytes, Some(1_048_576));
    }

    #[test]
    fn bucket_quantiles_use_deltas_and_upper_bounds() {
        let start = [
            (0.001, 100),
            (0.002, 100),
            (0.004, 100),
            (f64::INFINITY, 100),
        ];
        // 98 new ticks under 1 ms, 1 under 2 ms, 1 under 4 ms.
        let end = [
            (0.001, 198),
            (0.002, 199),
            (0.004, 200),
            (f64::INFINITY, 200),
        ];
        let quantiles = bucket_quantiles(&start, &end).unwrap();
        assert_eq!(quantiles.p50, Some(1.0));
        assert_eq!(quantiles.p99, Some(2.0));
        assert_eq!(quantiles.max, Some(4.0));
        assert_eq!(bucket_quantiles(&end, &end), None);
        let overflow = [
            (0.001, 198),
            (0.002, 199),
            (0.004, 199),
            (f64::INFINITY, 200),
        ];
        assert_eq!(bucket_quantiles(&start, &overflow).unwrap().max, None);
    }

    #[test]
    fn probe_times_each_input_until_its_first_ack() {
        let stats = Arc::new(SwarmStats::new());
        stats.measuring.store(true, Relaxed);
        let mut probe = Probe::new(Arc::clone(&stats));
        for seq in 1..=5 {
            probe.handle_input_sent(seq);
        }
        probe.handle_snapshot(3);
        probe.handle_snapshot(3);
        probe.handle_snapshot(5);
        probe.handle_traffic(100, 40);
        probe.finish();
        let window = stats.window.lock().unwrap();
        assert_eq!(window.latency_us.len(), 5);
        assert_eq!(window.inputs_sent, 5);
        assert_eq!(window.interval_us.len(), 2);
        assert_eq!(window.snapshots, 3);
        assert_eq!((window.bytes_in, window.bytes_out), (100, 40));
    }

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

    #[test]
    fn options_are_checked() {
        assert!(SwarmOptions::default().validate().is_ok());
        let zero_bots = SwarmOptions {
            bots: 0,
            ..SwarmOptions::default()
        };
        assert!(zero_bots.validate().is_err());
        let zero_rooms = SwarmOptions {
            rooms: Some(0),
            ..SwarmOptions::default()
        };
        assert!(zero_rooms.validate().is_err());
        let bad_ramp = SwarmOptions {
            ramp_per_s: f64::NAN,
            ..SwarmOptions::default()
        };
        assert!(bad_ramp.validate().is_err());
    }
}
