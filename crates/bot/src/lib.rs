//! tickwire's headless client: a bot that connects over WebSocket, plays the arena with a simple
//! brain, acknowledges every snapshot it decodes, and reports what it saw.
//!
//! It is a real client: it speaks only the wire protocol (through tickwire-net's [`Client`]) and
//! rebuilds its view from snapshot deltas with tickwire-protocol's [`Replica`], checking every
//! snapshot's checksum, so a delta bug shows up as a counted failure instead of a silent drift.
//! It never looks at server internals.
//!
//! Main entry point: [`run_bot`] with [`BotOptions`], returning a [`BotReport`]. The
//! [`swarm`] module runs many such bots from one process and measures them together.

pub mod brain;
pub mod predict;
pub mod swarm;

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;
use tickwire_net::client::ABNORMAL_CLOSE;
use tickwire_net::convert::input_to_wire;
use tickwire_net::{Client, ClientError, CloseInfo};
use tickwire_protocol::delta::kind;
use tickwire_protocol::limits::INPUTS_PER_MSG_MAX;
use tickwire_protocol::{
    ClientMsg, EntityState, Hello, Input, InputCmd, PROTOCOL_VERSION, Replica, ServerMsg,
};
use tokio::time::{Instant, MissedTickBehavior, interval, sleep_until};

pub use brain::Brain;
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
    /// The Hello this bot opens its session with.
    pub fn hello(&self) -> Hello {
        Hello {
            version: PROTOCOL_VERSION,
            name: self.name.clone(),
            room: self.room.clone(),
            spectate: self.spectate,
            resume: None,
            token: self.token.clone(),
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

/// What a bot saw, written as JSON by `tickwire bot --report`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct BotReport {
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
    /// Most distinct players in one snapshot.
    pub players_seen_max: usize,
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
    /// Kills and deaths from the score table at the end.
    pub kills: u32,
    /// Deaths.
    pub deaths: u32,
    /// Distance (m) between the predicted own position and the server's for the same input.
    pub prediction_error_m: ErrorQuantiles,
    /// Predictions corrected by more than 5 cm.
    pub corrections: u64,
    /// How the connection ended when it did not end by itself: the close code and reason.
    pub disconnect_reason: Option<CloseInfo>,
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

/// Connects, plays until the duration ends or the server closes, and reports.
pub async fn run_bot(options: BotOptions) -> Result<BotReport, ClientError> {
    let client = Client::connect(&options.url, options.hello(), options.connect_timeout).await?;
    Ok(play(client, &options).await)
}

/// Plays on an already welcomed connection.
pub async fn play(client: Client, options: &BotOptions) -> BotReport {
    play_with_probe(client, options, None).await
}

/// [`play`], telling a swarm's per-bot probe what happens (inputs sent, snapshots, bytes) and
/// stopping when the swarm says so. With no probe it is exactly `play`.
pub(crate) async fn play_with_probe(
    mut client: Client,
    options: &BotOptions,
    mut probe: Option<&mut swarm::Probe>,
) -> BotReport {
    let welcome = client.welcome().clone();
    let tick_rate = welcome.tick_rate.max(1) as u32;
    let dt = 1.0 / tick_rate as f32;
    let own = welcome.entity;
    let started = Instant::now();
    let deadline = options.duration.map(|duration| started + duration);
    let mut report = BotReport {
        room: welcome.room.clone(),
        player: welcome.player,
        tick_rate,
        ..BotReport::default()
    };
    let mut replica = Replica::default();
    let mut brain = Brain::new(options.seed);
    let mut predictor = Predictor::new(&welcome);
    let mut interpolator = Interpolator::new(tick_rate);
    // Unacknowledged inputs: (seq, cmd, the tick the bot was showing others at when sampled).
    let mut unacked: VecDeque<(u32, InputCmd, u32)> = VecDeque::new();
    let mut next_seq = 1u32;
    let mut snapshot_bytes = 0u64;
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
                                let players = view.iter().filter(|state| state.kind == kind::PLAYER).count();
                                report.players_seen_max = report.players_seen_max.max(players);
                                report.entities_seen_max = report.entities_seen_max.max(view.len());
                                while unacked.front().is_some_and(|(seq, _, _)| *seq <= snapshot.last_input) {
                                    unacked.pop_front();
                                }
                                interpolator.handle_snapshot(snapshot.tick, started.elapsed().as_secs_f64(), view);
                                if let Some(own_state) = replica.entity(own) {
                                    predictor.handle_snapshot(own_state, snapshot.last_input);
                                }
                            }
                            Err(error) => {
                                report.snapshot_errors += 1;
                                if let Some(probe) = probe.as_deref_mut() {
                                    probe.handle_snapshot_error();
                                }
                                tracing::warn!(%error, "snapshot did not apply; asking for a full one");
                                debug_assert!(
                                    !matches!(error, tickwire_protocol::ReplicaError::Delta { .. }),
                                    "delta decode failed: {error}"
                                );
                                replica.reset();
                            }
                        }
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
                let cmds: Vec<InputCmd> = if options.spectate {
                    Vec::new()
                } else {
                    // Others are seen where the interpolation shows them, a little in the past;
                    // the brain aims there and the server rewinds its hit test to match.
                    let render = interpolator.render_tick(started.elapsed().as_secs_f64());
                    let seen = |state: &EntityState| {
                        interpolator.position(state.id, render).unwrap_or_else(|| brain::position_of(state))
                    };
                    let input = brain.decide(own, replica.view(), dt, tick_rate, &seen);
                    let cmd = input_to_wire(&input);
                    predictor.handle_input(next_seq, &cmd);
                    let view_tick = render.round().max(0.0) as u32;
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
                        .map(|(_, cmd, view_tick)| InputCmd {
                            view_age: ack_tick.saturating_sub(*view_tick).min(255) as u8,
                            ..*cmd
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
    let (p50, p99, _) = predict::quantiles(predictor.errors_m());
    let max = predictor.max_error_m();
    report.prediction_error_m = ErrorQuantiles { p50, p99, max };
    report.corrections = predictor.corrections();
    if let Some(row) = replica
        .scores()
        .iter()
        .find(|row| row.player == welcome.player)
    {
        report.kills = row.kills;
        report.deaths = row.deaths;
    }
    report
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
