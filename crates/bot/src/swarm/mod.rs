//! The swarm load tester: many bots from one process, one report.
//!
//! [`run_swarm`] starts [`SwarmOptions::bots`] bots of one game at a steady ramp rate. Each is
//! the same client as `tickwire bot` (the same [`Session`](crate::session::Session): every
//! snapshot decoded through the replica with its checksum, every tick an input with the newest
//! acknowledgement and the unacknowledged commands), but not the same driver: the bots are
//! spread over [`SwarmOptions::shards`] threads ([`shard`]), each running its bots'
//! non-blocking sockets with mio, its own WebSocket upgrade ([`upgrade`]) and the engine's
//! sans-IO frame codec, one read per readiness and one write per bot per tick. Prediction and
//! interpolation, which change nothing on the wire, run for a sample of the bots only
//! ([`SwarmOptions::sample`]). A fraction of the bots can be slow readers
//! ([`SwarmOptions::slow_fraction`]); their figures are reported apart.
//!
//! Once every bot has connected or failed, and a warm-up has passed, the swarm measures a fixed
//! window: snapshot arrivals and intervals, input-to-ack latency, payload bytes and errors on
//! the client side, and the server's tick duration histogram, CPU time and memory from its
//! `/metrics`, scraped at both ends of the window. Then every bot closes its connection and the
//! swarm returns a [`SwarmReport`].
//!
//! Hot path: a bot records into its shard's tallies ([`probe`]: plain counters and
//! HdrHistograms); the shared [`SwarmStats`] gets a few relaxed atomic adds per shard a few
//! times a second, for the live progress line; a shard's tallies are merged into the report once,
//! when it ends. No lock is taken per message, and no task or channel stands between a socket
//! and its bot.
//!
//! It does not start a server, and it measures only what a client sees plus what the server
//! publishes at `/metrics`.

mod budget;
mod merge;
mod metrics;
mod probe;
mod report;
mod shard;
mod upgrade;

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::net::ToSocketAddrs as _;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use tickwire_net::client::ABNORMAL_CLOSE;
use tickwire_net::metrics::ProcessStats;
use tickwire_protocol::close;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, interval, sleep, timeout_at};

pub use merge::merge_reports;
pub use report::{BucketQuantiles, Quantiles, SampleReport, SlowReport, SwarmReport};

use crate::floor::{FloorOptions, run_floor};
use crate::predict;
use crate::{BotGame, ErrorQuantiles, Figures};
use metrics::{cpu_pressure_stall_us, metrics_authority};
use probe::Tally;
use report::{fill_client_figures, fill_server_figures, round3};
use shard::{ShardConfig, ShardOutcome, SlotPlan, Target, run_shard};

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
    /// Threads the bots are spread over (bot i runs on shard i % shards). None: one per
    /// available CPU.
    pub shards: Option<usize>,
    /// Bots that run own-entity prediction and interpolation, as a player's client does (the
    /// first this many bots that are not slow); the report's `sample` section has their
    /// prediction figures. The others aim at the newest view.
    pub sample: usize,
    /// Share of the bots (0..=1, spread evenly over the bots and so over the rooms) that read
    /// at most `slow_bytes_per_s` from their sockets, like players on a slow downlink. Their
    /// figures are in the report's `slow` section, not in the main client figures.
    pub slow_fraction: f64,
    /// How many bytes a second a slow bot reads.
    pub slow_bytes_per_s: u64,
    /// A cluster's matchmakers (`http://HOST:PORT` of any nodes): each bot asks one (in turn)
    /// for a seat and joins the node it names; every node's /metrics is scraped (their CPU and
    /// memory summed). Empty: every bot connects to `url`.
    pub matchmakers: Vec<String>,
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
            shards: None,
            sample: 10,
            slow_fraction: 0.0,
            slow_bytes_per_s: 2_000,
            matchmakers: Vec::new(),
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
        check(self.shards != Some(0), "shards must be at least 1")?;
        check(
            (0.0..=1.0).contains(&self.slow_fraction),
            "the slow fraction must be between 0 and 1",
        )?;
        check(
            self.slow_fraction == 0.0 || self.slow_bytes_per_s > 0,
            "slow bots must read a positive number of bytes per second",
        )?;
        check(
            self.matchmakers.iter().all(|url| {
                url.strip_prefix("http://")
                    .is_some_and(|rest| !rest.is_empty())
            }),
            "matchmakers must be http://HOST:PORT",
        )?;
        check(
            self.matchmakers.is_empty() || self.soak.is_none(),
            "soak mode does not go through matchmakers",
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

/// Runs a swarm: ramp up, warm up, measure, stop every bot, report.
///
/// Bots that fail to connect or get disconnected are counted in the report, not returned as
/// errors; only invalid options are.
pub async fn run_swarm<G: BotGame>(
    options: SwarmOptions,
) -> Result<SwarmReport<G::Figures>, SwarmError> {
    options.validate()?;
    let authority = metrics_authority(&options.url)?;
    let target = target(&options.url, &authority);
    let matchmaker_authorities: Vec<String> = options
        .matchmakers
        .iter()
        .map(|url| {
            url.strip_prefix("http://")
                .unwrap_or(url)
                .trim_end_matches('/')
                .to_string()
        })
        .collect();
    // The servers whose /metrics are summed: every matchmaker node, or the one server.
    let scraped: Vec<String> = if matchmaker_authorities.is_empty() {
        vec![authority.clone()]
    } else {
        matchmaker_authorities.clone()
    };
    let mut matchmaking = report::new_histogram::<u64>();
    let mut rejoins = report::new_histogram::<u64>();
    let stats = Arc::new(SwarmStats::new());
    let (phase, phase_rx) = watch::channel(Phase::Ramp);
    let progress = (options.progress && std::io::stderr().is_terminal())
        .then(|| spawn_progress(options.bots, Arc::clone(&stats), phase_rx));

    // Ramp-up: bot i starts i / ramp seconds after the first, on shard i % shards.
    let ramp_started = Instant::now();
    let shard_count = options.shards.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let plans = plan_slots(&options, ramp_started.into_std(), shard_count);
    let slow_bots = plans.iter().flatten().filter(|slot| slot.slow).count();
    let config = Arc::new(ShardConfig {
        target,
        matchmakers: matchmaker_authorities.clone(),
        rooms: options.rooms,
        connect_timeout: options.connect_timeout,
        soak: options.soak,
        slow_bytes_per_s: options.slow_bytes_per_s,
    });
    let shards: Vec<_> = plans
        .into_iter()
        .enumerate()
        .map(|(index, plan)| spawn_shard::<G>(index, plan, Arc::clone(&config), Arc::clone(&stats)))
        .collect();
    // Every connection attempt ends within its connect timeout (a shard that died early is
    // counted when it is joined below).
    while stats.connected.load(Relaxed) + stats.connect_failures.load(Relaxed) < options.bots as u64
        && stats.shards_running.load(Relaxed) > 0
    {
        sleep(Duration::from_millis(20)).await;
    }
    let ramp_s = ramp_started.elapsed().as_secs_f64();

    let mut report = SwarmReport::<G::Figures> {
        game: G::NAME.to_string(),
        // Through matchmakers, the "server" is every node they name.
        url: if options.matchmakers.is_empty() {
            options.url.clone()
        } else {
            format!("matchmakers {}", options.matchmakers.join(","))
        },
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

        let start_sample = metrics::scrape_all(&scraped).await;
        let start_scraped = Instant::now();
        let swarm_start = ProcessStats::read();
        let pressure_start = cpu_pressure_stall_us();
        let slow_in_window = stats.slow_connected_now.load(Relaxed);
        report.bots_in_window = stats.connected_now.load(Relaxed) - slow_in_window;
        if slow_bots > 0 {
            report.slow = Some(SlowReport {
                bots: slow_bots,
                bots_in_window: slow_in_window,
                bytes_per_s: options.slow_bytes_per_s,
                ..SlowReport::default()
            });
        }
        stats.measuring.store(true, Relaxed);
        let window_started = Instant::now();
        report.window_started_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|since| since.as_millis() as u64);
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
        let end_sample = metrics::scrape_all(&scraped).await;
        let between_scrapes_s = start_scraped.elapsed().as_secs_f64();
        scrapes = Some((start_sample, end_sample, between_scrapes_s));
    } else {
        report
            .notes
            .push("no bot connected: nothing was measured".into());
        report.server_metrics_error = Some("not scraped: no bot connected".into());
    }

    // Stop: every bot closes its connection; a shard that hangs is abandoned after a deadline.
    phase.send_replace(Phase::Stopping);
    stats.stop.store(true, Relaxed);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut normal = Tally::default();
    let mut slow = Tally::default();
    let mut sample = shard::SampleTotals::default();
    let mut slow_disconnects = BTreeMap::new();
    for (bots, outcome) in shards {
        let outcome = match timeout_at(deadline, outcome).await {
            Ok(Ok(Ok(outcome))) => outcome,
            Ok(Ok(Err(error))) => {
                tracing::warn!(%error, "a swarm shard failed");
                report.unfinished_bots += bots as u64;
                continue;
            }
            Ok(Err(_)) => {
                tracing::warn!("a swarm shard panicked");
                report.unfinished_bots += bots as u64;
                continue;
            }
            Err(_) => {
                report.unfinished_bots += bots as u64;
                continue;
            }
        };
        let ShardOutcome {
            connect_failure_reasons,
            disconnects,
            slow_disconnects: slow_ones,
            figures,
            normal: shard_normal,
            slow: shard_slow,
            sample: shard_sample,
            matchmake_us,
            nodes,
            rejoin_us,
        } = outcome;
        for us in matchmake_us {
            let _ = matchmaking.record(us);
        }
        for us in rejoin_us {
            let _ = rejoins.record(us);
        }
        add_counts(&mut report.bots_per_node, nodes);
        add_counts(&mut report.connect_failure_reasons, connect_failure_reasons);
        add_counts(&mut report.disconnects, disconnects);
        add_counts(&mut slow_disconnects, slow_ones);
        report.game_figures.merge(&figures);
        normal.merge(&shard_normal);
        slow.merge(&shard_slow);
        sample.sessions += shard_sample.sessions;
        sample.errors.extend(shard_sample.errors);
        sample.max_error = sample.max_error.max(shard_sample.max_error);
        sample.corrections += shard_sample.corrections;
    }
    if let Some((bar, task)) = progress {
        task.abort();
        bar.finish_and_clear();
    }

    if !options.matchmakers.is_empty() {
        report.matchmake_ms = Some(report::quantiles(&matchmaking));
        report.rejoin_ms = Some(report::quantiles(&rejoins));
    }
    fill_client_figures(&mut report, &stats, &normal, window_s);
    report.shards = shard_count;
    if let Some(slow_report) = &mut report.slow {
        slow_report.fill(&slow, slow_disconnects, window_s);
    }
    if sample.sessions > 0 {
        let (p50, p99, _) = predict::quantiles(&sample.errors);
        report.sample = Some(SampleReport {
            bots: sample.sessions,
            prediction_error_m: ErrorQuantiles {
                p50,
                p99,
                max: sample.max_error,
            },
            corrections: sample.corrections,
        });
    }
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
    let slow_in_window = report.slow.as_ref().map_or(0, |slow| slow.bots_in_window);
    let options = FloorOptions {
        clients: (report.bots_in_window + slow_in_window) as usize,
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

/// Spreads the bots over the shards: bot i starts i / ramp seconds after `start` on shard
/// i % shards; slow bots are spread evenly; the sample is the first bots that are not slow.
fn plan_slots(
    options: &SwarmOptions,
    start: std::time::Instant,
    shards: usize,
) -> Vec<Vec<SlotPlan>> {
    let shards = shards.max(1);
    let mut plans = vec![Vec::new(); shards];
    let mut sampled = 0;
    for bot in 0..options.bots {
        // Bots counted room by room (bot i joins room i % rooms): bot i is slow when the
        // running count of slow bots, position x fraction, steps at its position. Counting in
        // join order instead would put every slow bot in one room whenever the step and the
        // room count share a factor (a tenth of the bots over 5 or 10 rooms).
        let position = match options.rooms {
            Some(rooms) => {
                let (room, in_room) = (bot % rooms, bot / rooms);
                let (per_room, extra) = (options.bots / rooms, options.bots % rooms);
                room * per_room + room.min(extra) + in_room
            }
            None => bot,
        };
        let slow = ((position + 1) as f64 * options.slow_fraction).floor()
            > (position as f64 * options.slow_fraction).floor();
        let sample = !slow && sampled < options.sample;
        if sample {
            sampled += 1;
        }
        plans[bot % shards].push(SlotPlan {
            bot,
            seed: options.seed.wrapping_add(bot as u64),
            start: start + Duration::from_secs_f64(bot as f64 / options.ramp_per_s),
            slow,
            sample,
        });
    }
    plans
}

/// Starts shard `index` on its own thread; returns its bot count and where its outcome arrives.
fn spawn_shard<G: BotGame>(
    index: usize,
    plan: Vec<SlotPlan>,
    config: Arc<ShardConfig>,
    stats: Arc<SwarmStats>,
) -> (
    usize,
    oneshot::Receiver<std::io::Result<ShardOutcome<G::Figures>>>,
) {
    let bots = plan.len();
    let (sender, receiver) = oneshot::channel();
    stats.shards_running.fetch_add(1, Relaxed);
    let running = ShardRunning(Arc::clone(&stats));
    let spawned = std::thread::Builder::new()
        .name(format!("swarm-shard-{index}"))
        .spawn(move || {
            let _running = running;
            let _ = sender.send(run_shard::<G>(config, plan, stats));
        });
    if let Err(error) = spawned {
        // The sender went down with the closure: the receiver reports the shard as failed.
        tracing::warn!(%error, "cannot start a swarm shard thread");
    }
    (bots, receiver)
}

/// Counts a shard as running while it lives, even if it panics.
struct ShardRunning(Arc<SwarmStats>);

impl Drop for ShardRunning {
    fn drop(&mut self) {
        self.0.shards_running.fetch_sub(1, Relaxed);
    }
}

/// Adds counts by reason.
fn add_counts(total: &mut BTreeMap<String, u64>, part: BTreeMap<String, u64>) {
    for (reason, count) in part {
        *total.entry(reason).or_default() += count;
    }
}

/// Where a ws:// URL's bots connect: its address (resolved once, here), Host and path.
fn target(url: &str, authority: &str) -> Target {
    let rest = url.strip_prefix("ws://").unwrap_or(url);
    let path = match rest.find('/') {
        Some(slash) => rest[slash..].to_string(),
        None => "/".to_string(),
    };
    let addr = authority
        .to_socket_addrs()
        .map_err(|error| format!("IO error: {error}"))
        .and_then(|mut addrs| {
            addrs
                .next()
                .ok_or_else(|| format!("IO error: {authority} has no address"))
        });
    Target {
        addr,
        host: authority.to_string(),
        path,
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

/// What every shard of one swarm shares: relaxed counters for the live progress line, the
/// measuring and stop flags.
#[derive(Debug)]
pub(crate) struct SwarmStats {
    /// Time zero of the run; probes keep times as microseconds since it.
    epoch: std::time::Instant,
    /// True while the measured window is open; shards count window figures only while it is.
    measuring: AtomicBool,
    /// Flips to true once, at the end of the window: every shard then closes its connections
    /// and ends.
    stop: AtomicBool,
    /// Shard threads that have not ended.
    shards_running: AtomicU64,
    /// Bots that got a Welcome.
    connected: AtomicU64,
    /// Bots that did not.
    connect_failures: AtomicU64,
    /// Bots connected now, slow ones included.
    connected_now: AtomicU64,
    /// Slow bots connected now.
    slow_connected_now: AtomicU64,
    /// Connections that ended before the swarm stopped them.
    disconnects: AtomicU64,
    /// Soak mode: sessions that ended by themselves (and were replaced) inside the window.
    soak_sessions: AtomicU64,
    /// From the first Welcome.
    tick_rate: AtomicU32,
    /// From the first Welcome.
    snapshot_every_ticks: AtomicU32,
    /// Snapshots received at any time (for the progress line), added by shards periodically.
    live_snapshots: AtomicU64,
    /// Snapshot errors at any time (for the progress line).
    live_snapshot_errors: AtomicU64,
    /// Recent input-to-ack latencies in microseconds, added by shards in batches; the progress
    /// line reads its p99 and resets it.
    live_latency: Mutex<Histogram<u64>>,
}

impl SwarmStats {
    fn new() -> SwarmStats {
        SwarmStats {
            epoch: std::time::Instant::now(),
            measuring: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            shards_running: AtomicU64::new(0),
            connected: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            connected_now: AtomicU64::new(0),
            slow_connected_now: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            soak_sessions: AtomicU64::new(0),
            tick_rate: AtomicU32::new(0),
            snapshot_every_ticks: AtomicU32::new(0),
            live_snapshots: AtomicU64::new(0),
            live_snapshot_errors: AtomicU64::new(0),
            live_latency: Mutex::new(report::new_histogram()),
        }
    }

    /// `now` in microseconds since the epoch.
    fn now_us(&self, now: std::time::Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_micros() as u64
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
#[cfg(test)]
mod tests {
    use super::*;

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
        let zero_shards = SwarmOptions {
            shards: Some(0),
            ..SwarmOptions::default()
        };
        assert!(zero_shards.validate().is_err());
        let too_slow = SwarmOptions {
            slow_fraction: 1.5,
            ..SwarmOptions::default()
        };
        assert!(too_slow.validate().is_err());
    }

    #[test]
    fn slots_spread_over_shards_with_slow_bots_even_and_a_normal_sample() {
        let options = SwarmOptions {
            bots: 20,
            ramp_per_s: 10.0,
            sample: 3,
            slow_fraction: 0.25,
            ..SwarmOptions::default()
        };
        let start = std::time::Instant::now();
        let plans = plan_slots(&options, start, 3);
        assert_eq!(
            plans.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![7, 7, 6]
        );
        let mut slots: Vec<SlotPlan> = plans.into_iter().flatten().collect();
        slots.sort_by_key(|slot| slot.bot);
        let slow: Vec<usize> = slots.iter().filter(|s| s.slow).map(|s| s.bot).collect();
        assert_eq!(slow, vec![3, 7, 11, 15, 19]);
        let sampled: Vec<usize> = slots.iter().filter(|s| s.sample).map(|s| s.bot).collect();
        assert_eq!(sampled, vec![0, 1, 2]);
        assert_eq!(slots[5].start, start + Duration::from_millis(500));
        assert_eq!(slots[5].seed, options.seed + 5);
    }

    #[test]
    fn slow_bots_are_spread_over_the_rooms() {
        for (bots, rooms) in [(500, 5), (1000, 10), (23, 4)] {
            let options = SwarmOptions {
                bots,
                rooms: Some(rooms),
                slow_fraction: 0.1,
                ..SwarmOptions::default()
            };
            let plans = plan_slots(&options, std::time::Instant::now(), 2);
            let mut per_room = vec![0; rooms];
            for slot in plans.iter().flatten().filter(|slot| slot.slow) {
                per_room[slot.bot % rooms] += 1;
            }
            assert_eq!(
                per_room.iter().sum::<usize>(),
                bots / 10,
                "{bots} over {rooms}"
            );
            let (least, most) = (per_room.iter().min(), per_room.iter().max());
            assert!(
                most.unwrap() - least.unwrap() <= 1,
                "{bots} bots over {rooms} rooms: {per_room:?}"
            );
        }
    }

    #[test]
    fn the_target_is_the_urls_address_host_and_path() {
        let target = target("ws://127.0.0.1:7700/ws", "127.0.0.1:7700");
        assert_eq!(target.addr, Ok("127.0.0.1:7700".parse().unwrap()));
        assert_eq!(
            (target.host.as_str(), target.path.as_str()),
            ("127.0.0.1:7700", "/ws")
        );
        assert_eq!(super::target("ws://127.0.0.1:1", "127.0.0.1:1").path, "/");
    }
}
