//! A swarm shard: one thread that runs many bots over non-blocking sockets, with no runtime and
//! no task per bot.
//!
//! The shard starts its bots at their ramp times, connects, upgrades to WebSocket itself
//! ([`super::upgrade`]), says Hello, and once the Welcome arrives hands each bot's messages to
//! its [`Session`]. Reading follows readiness (mio, edge-triggered): a snapshot is decoded and
//! its acknowledgement timed when it arrives, not at the next tick. Writing follows the tick:
//! every tick each bot's input (and a pong, when one is due) goes out in one write; what the
//! kernel does not take waits in the bot's outbox for the next tick, or for the socket to become
//! writable again. Buffers are the bot's and reused: a read buffer that grows to the largest
//! message seen, an outbox, and the shard's one encoding buffer.
//!
//! A slow bot reads through a [`ReadBudget`] and keeps a small socket receive buffer, so what it
//! does not read backs up to the server as over a slow downlink; its figures are kept apart.

use std::collections::BTreeMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use tickwire_net::CloseInfo;
use tickwire_net::client::ABNORMAL_CLOSE;
use tickwire_net::ws::{self, Decoder, Incoming, Side, opcode};
use tickwire_protocol::limits::SERVER_MSG_MAX;
use tickwire_protocol::{ClientMsg, Hello, ServerMsg, close, decode_server, encode_client};
use tokio_tungstenite::tungstenite::handshake::client::generate_key;

use super::budget::ReadBudget;
use super::probe::{Live, Probe, Recorder, Tally};
use super::upgrade::{self, UpgradeError};
use super::{SwarmStats, close_reason};
use crate::matchmaker::Backoff;
use crate::session::{Received, Session, SessionOptions};
use crate::{BotGame, Figures};

/// Where the bots connect.
#[derive(Clone, Debug)]
pub(super) struct Target {
    /// The server's address, or why the URL's host did not resolve (every bot then fails with
    /// it).
    pub(super) addr: Result<SocketAddr, String>,
    /// HOST:PORT, for the Host header.
    pub(super) host: String,
    /// The request path (`/ws`).
    pub(super) path: String,
}

/// What every shard of one swarm shares.
#[derive(Debug)]
pub(super) struct ShardConfig {
    pub(super) target: Target,
    /// A cluster's matchmakers (HOST:PORT): each connection asks one (in turn) for a seat and
    /// goes where it says, instead of to `target`.
    pub(super) matchmakers: Vec<String>,
    pub(super) rooms: Option<usize>,
    pub(super) connect_timeout: Duration,
    pub(super) soak: Option<(Duration, Duration)>,
    pub(super) slow_bytes_per_s: u64,
}

/// One bot slot a shard runs: a single bot, or in soak mode a bot replaced by a fresh one each
/// time it leaves.
#[derive(Clone, Copy, Debug)]
pub(super) struct SlotPlan {
    /// The bot's index in the swarm (its name, room and seed follow from it).
    pub(super) bot: usize,
    /// The bot's brain seed.
    pub(super) seed: u64,
    /// When its first connection starts.
    pub(super) start: Instant,
    /// Reads through a read budget.
    pub(super) slow: bool,
    /// Runs prediction and interpolation.
    pub(super) sample: bool,
}

/// What a shard hands back when it ends.
#[derive(Debug, Default)]
pub(super) struct ShardOutcome<F> {
    /// Bots that got no Welcome, by reason.
    pub(super) connect_failure_reasons: BTreeMap<String, u64>,
    /// Normal bots' sessions the server ended, by close-code name.
    pub(super) disconnects: BTreeMap<String, u64>,
    /// Slow bots' sessions the server ended, by close-code name.
    pub(super) slow_disconnects: BTreeMap<String, u64>,
    /// The game's figures, summed over every session.
    pub(super) figures: F,
    /// Window figures of the normal bots.
    pub(super) normal: Tally,
    /// Window figures of the slow bots.
    pub(super) slow: Tally,
    /// The predicting sample's figures.
    pub(super) sample: SampleTotals,
    /// With matchmakers: each matchmaking request's time, in microseconds.
    pub(super) matchmake_us: Vec<u64>,
    /// With matchmakers: connections by the node URL the matchmaker named.
    pub(super) nodes: BTreeMap<String, u64>,
    /// With matchmakers: for each session the server ended early (drain, node lost), the time
    /// until the bot's next Welcome, in microseconds.
    pub(super) rejoin_us: Vec<u64>,
}

/// Prediction figures of the sampled sessions.
#[derive(Debug, Default)]
pub(super) struct SampleTotals {
    /// Sessions that predicted.
    pub(super) sessions: u64,
    /// Their prediction errors (each session's thinned sample).
    pub(super) errors: Vec<f32>,
    /// The largest error.
    pub(super) max_error: f32,
    /// Corrections above the game's threshold.
    pub(super) corrections: u64,
}

/// Runs one shard until the swarm stops and its bots have closed.
pub(super) fn run_shard<G: BotGame>(
    config: Arc<ShardConfig>,
    plan: Vec<SlotPlan>,
    stats: Arc<SwarmStats>,
) -> io::Result<ShardOutcome<G::Figures>> {
    let mut shard = Shard::<G>::new(config, plan, stats)?;
    shard.run()?;
    Ok(shard.context.outcome)
}

/// Readiness events handled per wake-up at most.
const EVENTS_MAX: usize = 1024;
/// A bot's read buffer to begin with; it grows to fit the largest message.
const INBOX_START: usize = 4 * 1024;
/// A read buffer never grows past this: a whole message of the largest size and the head of
/// the next.
const INBOX_MAX: usize = SERVER_MSG_MAX + 2 * ws::HEADER_MAX + 64 * 1024;
/// An outbox this full takes no new input (the server has stopped reading; it will drop us).
const OUTBOX_MAX: usize = 64 * 1024;
/// How long a polite close waits for the server's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// After the stop, how long the shard waits for its bots' closes before it ends anyway.
const STOP_WAIT: Duration = Duration::from_secs(3);
/// How often the shard adds its live counters to the swarm's.
const LIVE_FLUSH: Duration = Duration::from_millis(250);
/// Through matchmakers: a session that lasted this long resets the wait before the next
/// matchmake.
const SESSION_RESETS_BACKOFF_S: f64 = 5.0;
/// The shard's tick before any Welcome said the room's rate.
const TICK_RATE_UNTIL_WELCOME: u32 = 30;
/// A slow bot's socket receive buffer, in seconds of its read budget (at least 4 KiB; the
/// kernel doubles it): small, so the backlog sits at the server, not in this host's kernel.
const SLOW_RECEIVE_BUFFER_S: u64 = 2;

struct Shard<G: BotGame> {
    poll: Poll,
    bots: Vec<Bot<G>>,
    /// The next slot to start (slots are in start order).
    next_start: usize,
    context: Context<G::Figures>,
    next_tick: Instant,
    next_flush: Instant,
    /// Set at the stop: when the shard ends whatever has not closed.
    stop_deadline: Option<Instant>,
}

/// What the per-connection code needs from its shard.
struct Context<F> {
    config: Arc<ShardConfig>,
    stats: Arc<SwarmStats>,
    outcome: ShardOutcome<F>,
    live: Live,
    /// The shard's wake-up time, for everything handled in this wake-up.
    now: Instant,
    /// `now` in microseconds since the swarm's epoch.
    now_us: u64,
    measuring: bool,
    /// State of the mask-key generator (xorshift; masks need not be secret here, only varied).
    rng: u64,
    /// The one buffer every outgoing message is encoded into before framing.
    scratch: Vec<u8>,
}

struct Bot<G: BotGame> {
    plan: SlotPlan,
    /// The next session's brain seed.
    seed: u64,
    /// Soak mode's lifetime generator.
    lifetimes: u64,
    conn: Option<Conn<G>>,
    /// Through matchmakers: when to matchmake again after a failure or an early end.
    retry_at: Option<Instant>,
    /// Through matchmakers: when the last session the server ended early ended (cleared at the
    /// next Welcome).
    lost_at: Option<Instant>,
    /// Through matchmakers: the waits between attempts.
    backoff: Backoff,
    /// Through matchmakers: attempts so far (each asks the next matchmaker in turn).
    attempts: usize,
}

/// One connection and its buffers.
struct Conn<G: BotGame> {
    /// The bot's index in the swarm.
    bot: usize,
    stream: TcpStream,
    phase: Phase<G>,
    /// Deadline of the current phase (handshake, Welcome, close).
    deadline: Instant,
    slow: bool,
    /// The session to start at the Welcome.
    options: SessionOptions,
    /// Bytes received and not yet decoded are `inbox[..filled]`.
    inbox: Vec<u8>,
    filled: usize,
    /// Bytes to write, oldest first.
    outbox: Vec<u8>,
    decoder: Decoder,
    budget: Option<ReadBudget>,
    /// A slow bot stopped reading for want of budget with bytes possibly left in the socket.
    starved: bool,
    probe: Probe,
    /// Payload bytes of the Hello.
    hello_bytes: u64,
    /// Where this connection goes, and the seat its Hello presents (through a matchmaker).
    target: Target,
    seat: Option<String>,
}

enum Phase<G: BotGame> {
    /// TCP connecting.
    Connecting,
    /// Upgrade request sent with this key; waiting for 101.
    Upgrading {
        key: String,
    },
    /// Hello sent; waiting for the Welcome.
    Welcoming,
    Playing(Box<Session<G>>),
    /// Our close frame sent; waiting for the server's.
    Closing(Box<Session<G>>),
}

/// How a connection ended.
enum End {
    /// No Welcome: the connect failure reason.
    Failed(String),
    /// The server ended the session, or the connection broke.
    Disconnected(CloseInfo),
    /// Our own close completed or timed out.
    Closed,
}

impl<G: BotGame> Shard<G> {
    fn new(
        config: Arc<ShardConfig>,
        plan: Vec<SlotPlan>,
        stats: Arc<SwarmStats>,
    ) -> io::Result<Shard<G>> {
        let now = Instant::now();
        let rng = plan.first().map_or(1, |slot| slot.seed) ^ 0x2545_f491_4f6c_dd1d;
        let bots = plan
            .into_iter()
            .map(|plan| Bot {
                plan,
                seed: plan.seed,
                lifetimes: plan.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
                conn: None,
                retry_at: None,
                lost_at: None,
                backoff: Backoff::new(plan.seed),
                attempts: 0,
            })
            .collect();
        Ok(Shard {
            poll: Poll::new()?,
            bots,
            next_start: 0,
            context: Context {
                config,
                now_us: stats.now_us(now),
                stats,
                outcome: ShardOutcome::default(),
                live: Live::default(),
                now,
                measuring: false,
                rng: rng | 1,
                scratch: Vec::with_capacity(1024),
            },
            next_tick: now,
            next_flush: now + LIVE_FLUSH,
            stop_deadline: None,
        })
    }

    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_MAX);
        loop {
            self.context.set_now(Instant::now());
            let now = self.context.now;
            if self.stop_deadline.is_none() && self.context.stats.stop.load(Relaxed) {
                self.begin_stop();
            }
            if let Some(deadline) = self.stop_deadline
                && (now >= deadline || self.bots.iter().all(|bot| bot.conn.is_none()))
            {
                for index in 0..self.bots.len() {
                    if self.bots[index].conn.is_some() {
                        self.end(index, End::Closed);
                    }
                }
                self.flush_live();
                return Ok(());
            }
            while self.stop_deadline.is_none()
                && self
                    .bots
                    .get(self.next_start)
                    .is_some_and(|bot| bot.plan.start <= now)
            {
                self.connect(self.next_start);
                self.next_start += 1;
            }
            if now >= self.next_tick {
                for index in 0..self.bots.len() {
                    self.tick(index);
                    // Through matchmakers: a bot whose wait is over matchmakes again.
                    let bot = &mut self.bots[index];
                    if self.stop_deadline.is_none()
                        && bot.conn.is_none()
                        && bot.retry_at.is_some_and(|at| at <= now)
                    {
                        bot.retry_at = None;
                        self.connect(index);
                    }
                }
                let rate = match self.context.stats.tick_rate.load(Relaxed) {
                    0 => TICK_RATE_UNTIL_WELCOME,
                    rate => rate,
                };
                self.next_tick += Duration::from_secs_f64(1.0 / f64::from(rate));
                if self.next_tick <= now {
                    // Behind (a stall): skip the missed ticks rather than burst them.
                    self.next_tick = now + Duration::from_secs_f64(1.0 / f64::from(rate));
                }
            }
            if now >= self.next_flush {
                self.flush_live();
                self.next_flush = now + LIVE_FLUSH;
            }
            let mut wake = self.next_tick.min(self.next_flush);
            if self.stop_deadline.is_none()
                && let Some(bot) = self.bots.get(self.next_start)
            {
                wake = wake.min(bot.plan.start);
            }
            let timeout = wake.saturating_duration_since(Instant::now());
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            }
            self.context.set_now(Instant::now());
            for event in events.iter() {
                let index = event.token().0;
                // Errors and hang-ups show up as readable (a read then says what happened).
                let readable = event.is_readable() || event.is_error() || event.is_read_closed();
                self.handle_ready(index, readable, event.is_writable());
            }
        }
    }

    /// Starts slot `index`'s next connection.
    fn connect(&mut self, index: usize) {
        let context = &mut self.context;
        let bot = &mut self.bots[index];
        let lifetime = context.config.soak.map(|(shortest, longest)| {
            let rng = &mut bot.lifetimes;
            *rng ^= *rng << 13;
            *rng ^= *rng >> 7;
            *rng ^= *rng << 17;
            let spread = longest.saturating_sub(shortest).as_secs_f64();
            shortest + Duration::from_secs_f64(spread * (*rng % 1000) as f64 / 1000.0)
        });
        if context.config.soak.is_some() {
            bot.seed = bot.seed.wrapping_add(1);
        }
        let options = SessionOptions {
            seed: bot.seed,
            spectate: false,
            predict: bot.plan.sample,
            chat: Vec::new(),
            duration: lifetime,
        };
        // Through a matchmaker: a seat and the node to take it to (a blocking request: the
        // matchmakers are on the same network, and this happens once per connection).
        let (target, seat) = if context.config.matchmakers.is_empty() {
            (context.config.target.clone(), None)
        } else {
            let matchmakers = &context.config.matchmakers;
            let matchmaker = &matchmakers[(bot.plan.bot + bot.attempts) % matchmakers.len()];
            bot.attempts += 1;
            let started = std::time::Instant::now();
            let name = format!("swarm-{}", bot.plan.bot);
            let room = context
                .config
                .rooms
                .map(|rooms| format!("swarm-{}", bot.plan.bot % rooms));
            match matchmake_blocking(
                matchmaker,
                &name,
                room.as_deref(),
                context.config.connect_timeout,
            ) {
                Ok((url, seat)) => {
                    let us = started.elapsed().as_micros() as u64;
                    context.outcome.matchmake_us.push(us.max(1));
                    *context.outcome.nodes.entry(url.clone()).or_default() += 1;
                    let authority = url
                        .strip_prefix("ws://")
                        .and_then(|rest| rest.split('/').next())
                        .unwrap_or_default()
                        .to_string();
                    (super::target(&url, &authority), Some(seat))
                }
                Err(reason) => {
                    context.fail(reason);
                    bot.retry_at = Some(context.now + bot.backoff.next_wait());
                    return;
                }
            }
        };
        let stream = match &target.addr {
            Ok(addr) => TcpStream::connect(*addr).map_err(|error| format!("IO error: {error}")),
            Err(error) => Err(error.clone()),
        };
        let registered = stream.and_then(|mut stream| {
            prepare(&stream, bot.plan.slow, context.config.slow_bytes_per_s)
                .and_then(|()| {
                    self.poll.registry().register(
                        &mut stream,
                        Token(index),
                        Interest::READABLE | Interest::WRITABLE,
                    )
                })
                .map_err(|error| format!("IO error: {error}"))?;
            Ok(stream)
        });
        let stream = match registered {
            Ok(stream) => stream,
            Err(reason) => {
                context.fail(reason);
                if !context.config.matchmakers.is_empty() {
                    bot.retry_at = Some(context.now + bot.backoff.next_wait());
                }
                return;
            }
        };
        let slow = bot.plan.slow;
        bot.conn = Some(Conn {
            bot: bot.plan.bot,
            stream,
            phase: Phase::Connecting,
            deadline: context.now + context.config.connect_timeout,
            slow,
            options,
            inbox: vec![0; INBOX_START],
            filled: 0,
            outbox: Vec::with_capacity(256),
            decoder: Decoder::new(Side::Client, SERVER_MSG_MAX),
            budget: slow.then(|| ReadBudget::new(context.config.slow_bytes_per_s, context.now)),
            starved: false,
            probe: Probe::default(),
            hello_bytes: 0,
            target,
            seat,
        });
    }

    /// A readiness event for slot `index`.
    fn handle_ready(&mut self, index: usize, readable: bool, writable: bool) {
        let bot = &mut self.bots[index];
        let Some(conn) = bot.conn.as_mut() else {
            return;
        };
        if let Some(end) = conn.handle_ready(readable, writable, &mut self.context) {
            self.end(index, end);
        } else if let Some(lost_at) = bot.lost_at
            && matches!(conn.phase, Phase::Playing(_))
        {
            // Seated again through a new matchmake after the server ended the last session.
            bot.lost_at = None;
            let us = self
                .context
                .now
                .saturating_duration_since(lost_at)
                .as_micros() as u64;
            self.context.outcome.rejoin_us.push(us.max(1));
        }
    }

    /// Slot `index`'s share of a tick: deadlines, a starved slow bot's read, the input, the
    /// write.
    fn tick(&mut self, index: usize) {
        let bot = &mut self.bots[index];
        let Some(conn) = bot.conn.as_mut() else {
            return;
        };
        let context = &mut self.context;
        let now = context.now;
        // A slow bot that ran out of budget reads again once it has some (the socket will not
        // say it is readable again until more arrives).
        if conn.starved
            && let Some(end) = conn.read(context)
        {
            self.end(index, end);
            return;
        }
        let end = match &conn.phase {
            Phase::Connecting | Phase::Upgrading { .. } if now >= conn.deadline => Some(
                End::Failed("timed out waiting for the WebSocket handshake".into()),
            ),
            Phase::Welcoming if now >= conn.deadline => {
                Some(End::Failed("timed out waiting for Welcome".into()))
            }
            Phase::Closing(_) if now >= conn.deadline => Some(End::Closed),
            Phase::Playing(_) => conn.tick(context),
            _ => None,
        };
        if let Some(end) = end {
            self.end(index, end);
        }
    }

    /// The swarm said stop: playing bots close politely, bots still connecting are dropped.
    fn begin_stop(&mut self) {
        self.stop_deadline = Some(self.context.now + STOP_WAIT);
        for bot in &mut self.bots {
            let Some(conn) = bot.conn.as_mut() else {
                continue;
            };
            match conn.phase {
                Phase::Playing(_) => {
                    if let Err(reason) = conn.begin_close(&mut self.context) {
                        tracing::debug!(%reason, "a swarm bot's close frame was not sent");
                    }
                }
                Phase::Closing(_) => {}
                _ => {
                    if let Some(mut conn) = bot.conn.take() {
                        let _ = self.poll.registry().deregister(&mut conn.stream);
                    }
                }
            }
        }
    }

    /// Slot `index`'s connection ended: count it, and in soak mode start the next one.
    fn end(&mut self, index: usize, end: End) {
        let bot = &mut self.bots[index];
        let Some(mut conn) = bot.conn.take() else {
            return;
        };
        // Best effort: a close frame answering the server's may still be waiting.
        let _ = conn.flush();
        let _ = self.poll.registry().deregister(&mut conn.stream);
        let context = &mut self.context;
        let matchmade = !context.config.matchmakers.is_empty();
        let session = match (conn.phase, end) {
            (_, End::Failed(reason)) => {
                context.fail(reason);
                if matchmade && self.stop_deadline.is_none() {
                    bot.retry_at = Some(context.now + bot.backoff.next_wait());
                }
                return;
            }
            (Phase::Playing(mut session), End::Disconnected(info)) => {
                session.handle_close(info);
                session
            }
            (Phase::Playing(session) | Phase::Closing(session), _) => session,
            // A connection without a session that did not fail: dropped at the stop.
            _ => return,
        };
        let lasted_s = session.report(context.now).duration_s;
        let ended_by_itself = context.finish(&session, bot.plan, conn.slow);
        if matchmade && !ended_by_itself && self.stop_deadline.is_none() {
            // The node drained (1012), died or dropped the bot: matchmake again, as `tickwire
            // bot --matchmaker` does. The waits grow again unless the session lasted a while
            // (a server that drops bots right after their Welcome is not hammered).
            if lasted_s >= SESSION_RESETS_BACKOFF_S {
                bot.backoff.reset();
            }
            bot.lost_at.get_or_insert(context.now);
            bot.retry_at = Some(context.now + bot.backoff.next_wait());
            return;
        }
        if ended_by_itself && context.config.soak.is_some() && self.stop_deadline.is_none() {
            if context.measuring {
                context.stats.soak_sessions.fetch_add(1, Relaxed);
            }
            self.connect(index);
        }
    }

    fn flush_live(&mut self) {
        let stats = &self.context.stats;
        let live = &mut self.context.live;
        stats
            .live_snapshots
            .fetch_add(std::mem::take(&mut live.snapshots), Relaxed);
        if live.snapshot_errors > 0 {
            stats
                .live_snapshot_errors
                .fetch_add(std::mem::take(&mut live.snapshot_errors), Relaxed);
        }
        if !live.latency_us.is_empty() {
            if let Ok(mut histogram) = stats.live_latency.lock() {
                for &latency in &live.latency_us {
                    super::report::record(&mut histogram, latency, 1);
                }
            }
            live.latency_us.clear();
        }
    }
}

impl<F: Figures> Context<F> {
    fn set_now(&mut self, now: Instant) {
        self.now = now;
        self.now_us = self.stats.now_us(now);
        self.measuring = self.stats.measuring.load(Relaxed);
    }

    /// A fresh mask key.
    fn mask(&mut self) -> [u8; 4] {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng as u32).to_le_bytes()
    }

    fn recorder(&mut self, slow: bool) -> Recorder<'_> {
        Recorder {
            tally: if slow {
                &mut self.outcome.slow
            } else {
                &mut self.outcome.normal
            },
            live: &mut self.live,
            measuring: self.measuring,
            now_us: self.now_us,
        }
    }

    /// A bot got no Welcome.
    fn fail(&mut self, reason: String) {
        tracing::debug!(%reason, "swarm bot could not connect");
        self.stats.connect_failures.fetch_add(1, Relaxed);
        *self
            .outcome
            .connect_failure_reasons
            .entry(reason)
            .or_default() += 1;
    }

    /// A session ended: its figures join the shard's. Returns whether it ended by itself (no
    /// disconnect reason).
    fn finish<G: BotGame<Figures = F>>(
        &mut self,
        session: &Session<G>,
        plan: SlotPlan,
        slow: bool,
    ) -> bool {
        let report = session.report(self.now);
        self.outcome.figures.merge(&report.game);
        if plan.sample
            && let Some(predictor) = session.predictor()
        {
            let sample = &mut self.outcome.sample;
            sample.sessions += 1;
            sample.errors.extend_from_slice(predictor.errors());
            sample.max_error = sample.max_error.max(predictor.max_error());
            sample.corrections += predictor.corrections();
        }
        self.stats.connected_now.fetch_sub(1, Relaxed);
        if slow {
            self.stats.slow_connected_now.fetch_sub(1, Relaxed);
        }
        let Some(info) = report.disconnect_reason else {
            return true;
        };
        self.stats.disconnects.fetch_add(1, Relaxed);
        let disconnects = if slow {
            &mut self.outcome.slow_disconnects
        } else {
            &mut self.outcome.disconnects
        };
        *disconnects
            .entry(close_reason(info.code).to_string())
            .or_default() += 1;
        false
    }
}

impl<G: BotGame> Conn<G> {
    /// Readiness: finish connecting, flush the outbox, read and handle what arrived.
    fn handle_ready<F: Figures>(
        &mut self,
        readable: bool,
        writable: bool,
        context: &mut Context<F>,
    ) -> Option<End> {
        if let Phase::Connecting = self.phase {
            match connected(&self.stream) {
                Ok(false) => return None,
                Ok(true) => {
                    let key = generate_key();
                    let target = &self.target;
                    upgrade::write_request(&target.host, &target.path, &key, &mut self.outbox);
                    self.phase = Phase::Upgrading { key };
                    self.deadline = context.now + context.config.connect_timeout;
                }
                Err(error) => return Some(End::Failed(format!("IO error: {error}"))),
            }
            if let Err(reason) = self.flush() {
                return Some(self.broken(reason));
            }
        } else if writable
            && !self.outbox.is_empty()
            && let Err(reason) = self.flush()
        {
            return Some(self.broken(reason));
        }
        if readable {
            return self.read(context);
        }
        None
    }

    /// A tick while playing: the close or the input, then one write.
    fn tick<F: Figures>(&mut self, context: &mut Context<F>) -> Option<End> {
        let Phase::Playing(session) = &mut self.phase else {
            return None;
        };
        let stopping = context.stats.stop.load(Relaxed);
        if stopping || session.is_expired(context.now) {
            return self
                .begin_close(context)
                .err()
                .map(|reason| self.broken(reason));
        }
        if self.outbox.len() <= OUTBOX_MAX {
            context.scratch.clear();
            if let Some(sent) = session.poll_input(context.now, &mut context.scratch) {
                let mask = context.mask();
                ws::encode_frame(
                    opcode::BINARY,
                    &context.scratch,
                    Some(mask),
                    &mut self.outbox,
                );
                let payload = context.scratch.len() as u64;
                let mut recorder = context.recorder(self.slow);
                if recorder.measuring {
                    recorder.tally.bytes_out += payload;
                }
                if let Some(seq) = sent.seq {
                    self.probe.handle_input_sent(seq, &mut recorder);
                }
            }
        }
        self.flush().err().map(|reason| self.broken(reason))
    }

    /// Sends our close frame and waits for the server's.
    fn begin_close<F: Figures>(&mut self, context: &mut Context<F>) -> Result<(), String> {
        let phase = std::mem::replace(&mut self.phase, Phase::Connecting);
        self.phase = match phase {
            Phase::Playing(session) => Phase::Closing(session),
            other => other,
        };
        self.deadline = context.now + CLOSE_WAIT;
        ws::encode_close(close::NORMAL, "bye", Some(context.mask()), &mut self.outbox);
        self.flush()
    }

    /// Reads what the socket has (within a slow bot's budget) and handles it.
    fn read<F: Figures>(&mut self, context: &mut Context<F>) -> Option<End> {
        loop {
            let allowance = match &mut self.budget {
                Some(budget) => budget.allowance(context.now),
                None => usize::MAX,
            };
            if allowance == 0 {
                self.starved = true;
                return None;
            }
            if self.filled == self.inbox.len() {
                if self.inbox.len() >= INBOX_MAX {
                    return Some(self.broken("the server's message does not fit".into()));
                }
                let grown = (self.inbox.len() * 2).min(INBOX_MAX);
                self.inbox.resize(grown, 0);
            }
            let want = (self.inbox.len() - self.filled).min(allowance);
            match self
                .stream
                .read(&mut self.inbox[self.filled..self.filled + want])
            {
                Ok(0) => {
                    let reason = match self.phase {
                        Phase::Connecting | Phase::Upgrading { .. } => {
                            "IO error: connection closed during the WebSocket handshake"
                        }
                        _ => "connection ended",
                    };
                    return Some(self.broken(reason.into()));
                }
                Ok(read) => {
                    self.filled += read;
                    if let Some(budget) = &mut self.budget {
                        budget.spend(read);
                    }
                    if let Some(end) = self.handle_bytes(context) {
                        return Some(end);
                    }
                    if read < want {
                        // A short read emptied the socket; the next arrival wakes us again.
                        self.starved = false;
                        return None;
                    }
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    self.starved = false;
                    return None;
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Some(self.broken(format!("IO error: {error}"))),
            }
        }
    }

    /// Handles `inbox[..filled]`: the upgrade answer, then whole frames; keeps what is left.
    fn handle_bytes<F: Figures>(&mut self, context: &mut Context<F>) -> Option<End> {
        let mut start = 0;
        if let Phase::Upgrading { key } = &self.phase {
            match upgrade::parse_response(&self.inbox[..self.filled], key) {
                Ok(None) => return None,
                Ok(Some(head)) => start = head,
                Err(error) => return Some(End::Failed(upgrade_failure(&error))),
            }
            context.scratch.clear();
            let mut hello = hello::<G>(self.bot, context.config.rooms);
            hello.seat = self.seat.take();
            encode_client::<G>(&ClientMsg::Hello(hello), &mut context.scratch);
            self.hello_bytes = context.scratch.len() as u64;
            let mask = context.mask();
            ws::encode_frame(
                opcode::BINARY,
                &context.scratch,
                Some(mask),
                &mut self.outbox,
            );
            self.phase = Phase::Welcoming;
            self.deadline = context.now + context.config.connect_timeout;
            if let Err(reason) = self.flush() {
                return Some(self.broken(reason));
            }
        }
        let mut end = None;
        while end.is_none() {
            let decoded = self.decoder.decode(&mut self.inbox[start..self.filled]);
            let (incoming, used) = match decoded {
                Ok(decoded) => decoded,
                Err(error) => {
                    end = Some(broken(
                        &self.phase,
                        format!("WebSocket protocol error: {error}"),
                    ));
                    break;
                }
            };
            start += used;
            let Some(incoming) = incoming else {
                break;
            };
            end = handle_incoming(
                incoming,
                &mut self.phase,
                &mut self.outbox,
                &mut self.probe,
                Playing {
                    slow: self.slow,
                    options: &self.options,
                    hello_bytes: self.hello_bytes,
                },
                context,
            );
        }
        self.inbox.copy_within(start..self.filled, 0);
        self.filled -= start;
        if end.is_none() && !self.outbox.is_empty() && !matches!(self.phase, Phase::Playing(_)) {
            // Handshake-time replies (a pong) go out at once; while playing, with the input.
            if let Err(reason) = self.flush() {
                end = Some(self.broken(reason));
            }
        }
        end
    }

    /// One write of the outbox (what the kernel does not take stays).
    fn flush(&mut self) -> Result<(), String> {
        if self.outbox.is_empty() {
            return Ok(());
        }
        match self.stream.write(&self.outbox) {
            Ok(written) => {
                self.outbox.drain(..written);
                Ok(())
            }
            Err(error)
                if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) =>
            {
                Ok(())
            }
            Err(error) => Err(format!("IO error: {error}")),
        }
    }

    fn broken(&self, reason: String) -> End {
        broken(&self.phase, reason)
    }
}

/// What a connection's session needs to start at the Welcome.
struct Playing<'a> {
    slow: bool,
    options: &'a SessionOptions,
    hello_bytes: u64,
}

/// One complete thing the server sent.
fn handle_incoming<G: BotGame, F: Figures>(
    incoming: Incoming<'_>,
    phase: &mut Phase<G>,
    outbox: &mut Vec<u8>,
    probe: &mut Probe,
    playing: Playing<'_>,
    context: &mut Context<F>,
) -> Option<End> {
    let bytes = match incoming {
        Incoming::Binary(bytes) => bytes,
        Incoming::Ping(payload) => {
            let mask = context.mask();
            ws::encode_frame(opcode::PONG, payload, Some(mask), outbox);
            return None;
        }
        Incoming::Pong => return None,
        Incoming::Text(_) => {
            return Some(broken(
                phase,
                "protocol error: server sent a text frame".into(),
            ));
        }
        Incoming::Close(frame) => {
            let (code, reason) = frame.unwrap_or((close::NORMAL, ""));
            let info = CloseInfo {
                code,
                reason: reason.to_string(),
            };
            return Some(match phase {
                Phase::Closing(_) => End::Closed,
                Phase::Playing(_) => {
                    // Answer the close, as the protocol asks; best effort.
                    let mask = context.mask();
                    ws::encode_close(code, "", Some(mask), outbox);
                    End::Disconnected(info)
                }
                _ => End::Failed(close_reason(code).to_string()),
            });
        }
    };
    let wire_bytes = bytes.len();
    let msg = match decode_server::<G>(bytes) {
        Ok(msg) => msg,
        Err(error) => {
            return Some(broken(
                phase,
                format!("undecodable server message: {error}"),
            ));
        }
    };
    match phase {
        Phase::Playing(session) => {
            let now = context.now;
            let mut recorder = context.recorder(playing.slow);
            if recorder.measuring {
                recorder.tally.bytes_in += wire_bytes as u64;
            }
            if let Received::Snapshot {
                last_input,
                applied,
            } = session.handle_message(msg, wire_bytes, now)
            {
                probe.handle_snapshot(last_input, &mut recorder);
                if !applied {
                    probe.handle_snapshot_error(&mut recorder);
                }
            }
            None
        }
        Phase::Welcoming => match msg {
            ServerMsg::Welcome(welcome) => {
                let stats = &context.stats;
                stats.tick_rate.store(u32::from(welcome.tick_rate), Relaxed);
                stats
                    .snapshot_every_ticks
                    .store(u32::from(welcome.snapshot_interval), Relaxed);
                stats.connected.fetch_add(1, Relaxed);
                stats.connected_now.fetch_add(1, Relaxed);
                if playing.slow {
                    stats.slow_connected_now.fetch_add(1, Relaxed);
                }
                let mut session = Session::new(welcome, playing.options.clone(), context.now);
                session.handle_handshake(playing.hello_bytes, wire_bytes as u64);
                *phase = Phase::Playing(Box::new(session));
                *probe = Probe::default();
                None
            }
            ServerMsg::Error { code, .. } => Some(End::Failed(close_reason(code).to_string())),
            other => Some(End::Failed(format!(
                "protocol error: expected Welcome, got {other:?}"
            ))),
        },
        // While closing, what still arrives is not counted.
        _ => None,
    }
}

/// How a broken connection (a dropped connection, an IO or protocol error) ends in `phase`.
fn broken<G: BotGame>(phase: &Phase<G>, reason: String) -> End {
    match phase {
        Phase::Connecting | Phase::Upgrading { .. } => End::Failed(reason),
        // As a close without a close frame, before the Welcome.
        Phase::Welcoming => End::Failed(close_reason(ABNORMAL_CLOSE).to_string()),
        Phase::Playing(_) => End::Disconnected(CloseInfo {
            code: ABNORMAL_CLOSE,
            reason,
        }),
        Phase::Closing(_) => End::Closed,
    }
}

/// A connect failure reason for a refused upgrade.
fn upgrade_failure(error: &UpgradeError) -> String {
    error.to_string()
}

/// The Hello of swarm bot `bot`.
fn hello<G: BotGame>(bot: usize, rooms: Option<usize>) -> Hello {
    Hello {
        room: rooms.map(|rooms| format!("swarm-{}", bot % rooms)),
        ..Hello::new::<G>(format!("swarm-{bot}"))
    }
}

/// Socket options: no Nagle delay (inputs are small and due now); a slow bot's small receive
/// buffer.
fn prepare(stream: &TcpStream, slow: bool, slow_bytes_per_s: u64) -> io::Result<()> {
    stream.set_nodelay(true)?;
    if slow {
        let size = (slow_bytes_per_s * SLOW_RECEIVE_BUFFER_S).max(4096);
        socket2::SockRef::from(stream).set_recv_buffer_size(size as usize)?;
    }
    Ok(())
}

/// Whether a non-blocking connect has completed (Err: it failed).
fn connected(stream: &TcpStream) -> io::Result<bool> {
    if let Some(error) = stream.take_error()? {
        return Err(error);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(error) if error.kind() == ErrorKind::NotConnected => Ok(false),
        Err(error) => Err(error),
    }
}

/// Asks the matchmaker at `authority` (HOST:PORT) for a seat, blocking: the node's WebSocket
/// URL and the seat, or why not.
fn matchmake_blocking(
    authority: &str,
    name: &str,
    room: Option<&str>,
    deadline: Duration,
) -> Result<(String, String), String> {
    use std::net::ToSocketAddrs;
    let fail = |why: String| format!("matchmaking at {authority}: {why}");
    let addr = authority
        .to_socket_addrs()
        .map_err(|error| fail(error.to_string()))?
        .next()
        .ok_or_else(|| fail("no address".into()))?;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, deadline)
        .map_err(|error| fail(error.to_string()))?;
    stream
        .set_read_timeout(Some(deadline))
        .and_then(|()| stream.set_write_timeout(Some(deadline)))
        .map_err(|error| fail(error.to_string()))?;
    let body = serde_json::json!({ "name": name, "room": room }).to_string();
    let request = format!(
        "POST /api/matchmake HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|error| fail(error.to_string()))?;
    let mut response = Vec::new();
    stream
        .take(16 * 1024)
        .read_to_end(&mut response)
        .map_err(|error| fail(error.to_string()))?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| fail("malformed response".into()))?;
    let status = head.split_whitespace().nth(1).unwrap_or("none");
    if status != "200" {
        return Err(fail(format!("HTTP {status}")));
    }
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|error| fail(error.to_string()))?;
    match (value["url"].as_str(), value["seat"].as_str()) {
        (Some(url), Some(seat)) => Ok((url.to_string(), seat.to_string())),
        _ => Err(fail("no url or seat in the answer".into())),
    }
}
