//! tickwire's headless client, for any game: a bot that connects over WebSocket, plays with the
//! game's brain, acknowledges every snapshot it decodes, and reports what it saw.
//!
//! It is a real client: it speaks only the wire protocol (through tickwire-net's [`Client`]) and
//! rebuilds its view from snapshot deltas with tickwire-protocol's [`Replica`], checking every
//! snapshot's checksum, so a delta bug shows up as a counted failure instead of a silent drift.
//! It never looks at server internals.
//!
//! A game plugs in through [`BotGame`] ([`game`]): a brain, optional prediction, and its figures.
//! Main entry point: [`run_bot`] with [`BotOptions`], returning a [`BotReport`]. The
//! [`swarm`] module runs many such bots from one process and measures them together.

pub mod floor;
pub mod game;
pub mod predict;
pub mod swarm;

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;
use tickwire_net::client::ABNORMAL_CLOSE;
use tickwire_net::{Client, ClientError, CloseInfo};
use tickwire_protocol::limits::INPUTS_PER_MSG_MAX;
use tickwire_protocol::{ClientMsg, Command, Hello, Input, Replica, ServerMsg, Welcome};
use tokio::time::{Instant, MissedTickBehavior, interval, sleep_until};

pub use game::{BotGame, Brain, Context, Figures, NoPrediction, Prediction};
use predict::{Interpolator, Predictor};

/// What one bot does.
#[derive(Clone, Debug)]
pub struct BotOptions {
    /// Server URL, e.g. ws://127.0.0.1:7700/ws.
    pub url: String,
    /// Display name.
    pub name: String,
    /// Room to join (None: any).
    pub room: Option<String>,
    /// Join as a spectator (sees everything, sends no game input, still acknowledges).
    pub spectate: bool,
    /// Stop after this long (None: until the server closes).
    pub duration: Option<Duration>,
    /// Seed of the brain.
    pub seed: u64,
    /// Chat lines to send, one per second from the start.
    pub chat: Vec<String>,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Session token for servers with authentication on.
    pub token: Option<String>,
}

impl BotOptions {
    /// The Hello this bot opens its session with, for game `G`.
    pub fn hello<G: BotGame>(&self) -> Hello {
        Hello {
            room: self.room.clone(),
            spectate: self.spectate,
            token: self.token.clone(),
            ..Hello::new::<G>(self.name.clone())
        }
    }
}

impl Default for BotOptions {
    fn default() -> Self {
        BotOptions {
            url: "ws://127.0.0.1:7700/ws".into(),
            name: "bot".into(),
            room: None,
            spectate: false,
            duration: None,
            seed: 1,
            chat: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            token: None,
        }
    }
}

/// What a bot saw, written as JSON by `tickwire bot --report`. The game's own figures (`F`) are
/// written next to the engine's, as top-level keys.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct BotReport<F> {
    /// Room joined.
    pub room: String,
    /// Player id (0 for a spectator).
    pub player: u32,
    /// Snapshots received and applied.
    pub snapshots: u64,
    /// Seconds from Welcome to the end.
    pub duration_s: f64,
    /// The room's tick rate.
    pub tick_rate: u32,
    /// Snapshots per second received.
    pub snapshots_per_s: f64,
    /// Most entities in one snapshot.
    pub entities_seen_max: usize,
    /// Tick of the last snapshot.
    pub last_tick: u32,
    /// Input commands sent (each sequence number once).
    pub inputs_sent: u32,
    /// Input messages sent.
    pub input_messages: u64,
    /// Newest input sequence the server said it applied.
    pub last_input_acked: u32,
    /// Chat lines received (including our own echo).
    pub chat_received: u64,
    /// Chat lines sent.
    pub chat_sent: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Average payload bytes per snapshot.
    pub bytes_per_snapshot_avg: f64,
    /// Snapshots that arrived as full snapshots (no baseline).
    pub full_snapshots: u64,
    /// Snapshots that did not apply (bad delta, missing baseline or checksum mismatch).
    pub snapshot_errors: u64,
    /// Events messages received.
    pub events_received: u64,
    /// For games that predict the own entity: the distance between the predicted state and
    /// the server's for the same command (meters, or the game's unit).
    pub prediction_error_m: ErrorQuantiles,
    /// Predictions corrected by more than the game's threshold.
    pub corrections: u64,
    /// How the connection ended when it did not end by itself: the close code and reason.
    pub disconnect_reason: Option<CloseInfo>,
    /// The game's own figures.
    #[serde(flatten)]
    pub game: F,
}

/// Quantiles of a sample.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct ErrorQuantiles {
    /// Median.
    pub p50: f32,
    /// 99th percentile.
    pub p99: f32,
    /// Largest.
    pub max: f32,
}

/// Connects, plays game `G` until the duration ends or the server closes, and reports.
pub async fn run_bot<G: BotGame>(
    options: BotOptions,
) -> Result<BotReport<G::Figures>, ClientError> {
    let client =
        Client::<G>::connect(&options.url, options.hello::<G>(), options.connect_timeout).await?;
    Ok(play(client, &options).await)
}

/// Plays on an already welcomed connection.
pub async fn play<G: BotGame>(client: Client<G>, options: &BotOptions) -> BotReport<G::Figures> {
    play_with_probe(client, options, None).await
}

/// [`play`], telling a swarm's per-bot probe what happens (inputs sent, snapshots, bytes) and
/// stopping when the swarm says so. With no probe it is exactly `play`.
pub(crate) async fn play_with_probe<G: BotGame>(
    mut client: Client<G>,
    options: &BotOptions,
    mut probe: Option<&mut swarm::Probe>,
) -> BotReport<G::Figures> {
    let welcome = client.welcome().clone();
    let tick_rate = welcome.tick_rate.max(1) as u32;
    let own = welcome.entity;
    let started = Instant::now();
    let deadline = options.duration.map(|duration| started + duration);
    let mut report = BotReport {
        room: welcome.room.clone(),
        player: welcome.player,
        tick_rate,
        ..BotReport::default()
    };
    let mut replica = Replica::<G>::default();
    let mut brain = G::Brain::new(options.seed, &welcome);
    let mut predictor = Predictor::<G, G::Prediction>::new(&welcome);
    let mut interpolator = Interpolator::<G::Record>::new(tick_rate);
    // Unacknowledged commands: (seq, cmd, the tick the bot was showing others at when sampled).
    let mut unacked: VecDeque<(u32, G::Input, u32)> = VecDeque::new();
    let mut next_seq = 1u32;
    let mut snapshot_bytes = 0u64;
    let mut render_tick = 0.0;
    let mut ticker = interval(Duration::from_secs_f64(1.0 / tick_rate as f64));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut chat = options.chat.iter();
    let mut next_chat = started + Duration::from_millis(500);
    let far_future = started + Duration::from_secs(86_400 * 365);

    loop {
        let received_before = client.bytes_received();
        tokio::select! {
            received = client.recv() => {
                if let Some(probe) = probe.as_deref_mut() {
                    probe.handle_traffic(client.bytes_received(), client.bytes_sent());
                }
                match received {
                    Ok(ServerMsg::Snapshot(snapshot)) => {
                        snapshot_bytes += client.bytes_received() - received_before;
                        if let Some(probe) = probe.as_deref_mut() {
                            probe.handle_snapshot(snapshot.last_input);
                        }
                        if snapshot.baseline_age == 0 {
                            report.full_snapshots += 1;
                        }
                        match replica.handle_snapshot(&snapshot) {
                            Ok(()) => {
                                report.snapshots += 1;
                                report.last_tick = snapshot.tick;
                                report.last_input_acked = report.last_input_acked.max(snapshot.last_input);
                                let view = replica.view();
                                report.entities_seen_max = report.entities_seen_max.max(view.len());
                                while unacked.front().is_some_and(|(seq, _, _)| *seq <= snapshot.last_input) {
                                    unacked.pop_front();
                                }
                                interpolator.handle_snapshot(snapshot.tick, started.elapsed().as_secs_f64(), view);
                                if let Some(predictor) = predictor.as_mut()
                                    && let Some(own_record) = replica.entity(own)
                                {
                                    predictor.handle_snapshot(own_record, snapshot.last_input);
                                }
                                brain.observe(&context_of(&welcome, &replica, &interpolator, render_tick));
                            }
                            Err(error) => {
                                // Counted, never fatal: the bot asks for a full snapshot (ack 0)
                                // and carries on, in every build.
                                report.snapshot_errors += 1;
                                if let Some(probe) = probe.as_deref_mut() {
                                    probe.handle_snapshot_error();
                                }
                                tracing::warn!(%error, "snapshot did not apply; asking for a full one");
                                replica.reset();
                            }
                        }
                    }
                    Ok(ServerMsg::Events(events)) => {
                        report.events_received += 1;
                        brain.handle_events(events.tick, &events.events);
                    }
                    Ok(ServerMsg::Chat(_)) => report.chat_received += 1,
                    Ok(ServerMsg::Error { code, reason }) => {
                        report.disconnect_reason = Some(CloseInfo { code, reason });
                    }
                    Ok(_) => {}
                    Err(ClientError::Closed(info)) => {
                        report.disconnect_reason.get_or_insert(info);
                        break;
                    }
                    Err(error) => {
                        report.disconnect_reason.get_or_insert(CloseInfo {
                            code: ABNORMAL_CLOSE,
                            reason: error.to_string(),
                        });
                        break;
                    }
                }
            }
            _ = ticker.tick(), if !options.spectate || replica.ack_tick() != 0 => {
                let ack_tick = replica.ack_tick();
                let cmds: Vec<G::Input> = if options.spectate {
                    Vec::new()
                } else {
                    // Others are seen where the interpolation shows them, a little in the past;
                    // the brain aims there and the server rewinds its hit test to match.
                    render_tick = interpolator.render_tick(started.elapsed().as_secs_f64());
                    let cmd = brain.decide(&context_of(&welcome, &replica, &interpolator, render_tick));
                    if let Some(predictor) = predictor.as_mut() {
                        predictor.handle_input(next_seq, &cmd);
                    }
                    let view_tick = render_tick.round().max(0.0) as u32;
                    unacked.push_back((next_seq, cmd, view_tick));
                    if let Some(probe) = probe.as_deref_mut() {
                        probe.handle_input_sent(next_seq);
                    }
                    next_seq += 1;
                    report.inputs_sent += 1;
                    while unacked.len() > INPUTS_PER_MSG_MAX {
                        unacked.pop_front();
                    }
                    unacked
                        .iter()
                        .map(|(_, cmd, view_tick)| {
                            cmd.with_view_age(ack_tick.saturating_sub(*view_tick).min(255) as u8)
                        })
                        .collect()
                };
                let input = Input {
                    ack_tick,
                    first_seq: unacked.front().map_or(0, |(seq, _, _)| *seq),
                    cmds,
                };
                report.input_messages += 1;
                if let Err(error) = client.send(&ClientMsg::Input(input)).await {
                    report.disconnect_reason.get_or_insert(close_info(error));
                    break;
                }
                if let Some(probe) = probe.as_deref_mut() {
                    probe.handle_traffic(client.bytes_received(), client.bytes_sent());
                }
            }
            _ = sleep_until(next_chat), if chat.len() > 0 => {
                if let Some(text) = chat.next() {
                    if let Err(error) = client.send(&ClientMsg::Chat { text: text.clone() }).await {
                        report.disconnect_reason.get_or_insert(close_info(error));
                        break;
                    }
                    report.chat_sent += 1;
                }
                next_chat += Duration::from_secs(1);
            }
            _ = sleep_until(deadline.unwrap_or(far_future)), if deadline.is_some() => {
                client.close().await;
                break;
            }
            _ = swarm::Probe::stop_requested(probe.as_deref_mut()), if probe.is_some() => {
                client.close().await;
                break;
            }
        }
    }

    report.duration_s = started.elapsed().as_secs_f64();
    report.snapshots_per_s = report.snapshots as f64 / report.duration_s.max(1e-9);
    report.bytes_received = client.bytes_received();
    report.bytes_sent = client.bytes_sent();
    report.bytes_per_snapshot_avg = if report.snapshots > 0 {
        snapshot_bytes as f64 / report.snapshots as f64
    } else {
        0.0
    };
    if let Some(predictor) = &predictor {
        let (p50, p99, _) = predict::quantiles(predictor.errors());
        let max = predictor.max_error();
        report.prediction_error_m = ErrorQuantiles { p50, p99, max };
        report.corrections = predictor.corrections();
    }
    report.game = brain.figures(&context_of(&welcome, &replica, &interpolator, render_tick));
    report
}

/// What the brain sees now.
fn context_of<'a, G: BotGame>(
    welcome: &Welcome<G::Setup>,
    replica: &'a Replica<G>,
    interpolator: &'a Interpolator<G::Record>,
    render_tick: f64,
) -> Context<'a, G> {
    Context {
        player: welcome.player,
        own: welcome.entity,
        tick_rate: welcome.tick_rate.max(1) as u32,
        replica,
        interpolator,
        render_tick,
    }
}

fn close_info(error: ClientError) -> CloseInfo {
    match error {
        ClientError::Closed(info) => info,
        other => CloseInfo {
            code: ABNORMAL_CLOSE,
            reason: other.to_string(),
        },
    }
}
