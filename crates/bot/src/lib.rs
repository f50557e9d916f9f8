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
pub mod matchmaker;
pub mod predict;
pub mod session;
pub mod swarm;
#[cfg(test)]
mod test_game;

use std::time::Duration;

use serde::Serialize;
use tickwire_net::client::ABNORMAL_CLOSE;
use tickwire_net::{Client, ClientError, CloseInfo};
use tickwire_protocol::Hello;
use tokio::time::{Instant, MissedTickBehavior, interval, sleep_until};
use tokio_tungstenite::tungstenite::Message;

pub use game::{BotGame, Brain, Context, Figures, NoPrediction, Prediction};
pub use session::{Session, SessionOptions};

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
    /// TLS for a `wss://` URL (a private certificate authority, say); None trusts the usual
    /// public authorities.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// A cluster's matchmakers (`http://HOST:PORT` of any nodes): the bot asks them for a seat
    /// instead of connecting to `url`, and asks again (with backoff) whenever its session ends
    /// early (a node drained, died or was restarted).
    pub matchmakers: Vec<String>,
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
            tls: None,
            matchmakers: Vec::new(),
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
    /// Sessions after the first (through matchmakers: each time the last one ended early).
    pub rejoins: u64,
    /// Matchmaking requests or seated connections that failed (each retried).
    pub matchmake_failures: u64,
    /// How the connection ended when it did not end by itself: the close code and reason.
    pub disconnect_reason: Option<CloseInfo>,
    /// The game's own figures.
    #[serde(flatten)]
    pub game: F,
}

/// Quantiles of a sample.
#[derive(Clone, Copy, Debug, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct ErrorQuantiles {
    /// Median.
    pub p50: f32,
    /// 99th percentile.
    pub p99: f32,
    /// Largest.
    pub max: f32,
}

/// Connects, plays game `G` until the duration ends or the server closes, and reports. With
/// matchmakers, plays through them until the duration ends ([`matchmaker::play_matchmade`]).
pub async fn run_bot<G: BotGame>(
    options: BotOptions,
) -> Result<BotReport<G::Figures>, ClientError> {
    if !options.matchmakers.is_empty() {
        return matchmaker::play_matchmade::<G>(&options).await;
    }
    let client = Client::<G>::connect_with_tls(
        &options.url,
        options.hello::<G>(),
        options.connect_timeout,
        options.tls.clone(),
    )
    .await?;
    Ok(play(client, &options).await)
}

/// Plays on an already welcomed connection: the [`Session`] does the playing, this loop moves
/// its messages and ticks over the tokio client, and closes politely when the duration ends.
/// Prediction and interpolation are on, as in a player's client.
pub async fn play<G: BotGame>(
    mut client: Client<G>,
    options: &BotOptions,
) -> BotReport<G::Figures> {
    let session_options = SessionOptions {
        seed: options.seed,
        spectate: options.spectate,
        predict: true,
        chat: options.chat.clone(),
        duration: options.duration,
    };
    let mut session = Session::<G>::new(client.welcome().clone(), session_options, now());
    session.handle_handshake(client.bytes_sent(), client.bytes_received());
    let tick_rate = session.welcome().tick_rate.max(1);
    let mut ticker = interval(Duration::from_secs_f64(1.0 / f64::from(tick_rate)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut encoded = Vec::new();
    loop {
        let received_before = client.bytes_received();
        let wake = session.poll_timeout();
        tokio::select! {
            received = client.recv() => match received {
                Ok(msg) => {
                    let wire_bytes = client.bytes_received() - received_before;
                    session.handle_message(msg, wire_bytes as usize, now());
                }
                Err(error) => {
                    session.handle_close(close_info(error));
                    break;
                }
            },
            _ = ticker.tick(), if session.wants_input() => {
                encoded.clear();
                if session.poll_input(now(), &mut encoded).is_some()
                    && let Err(error) = send(&mut client, &encoded).await
                {
                    session.handle_close(close_info(error));
                    break;
                }
            }
            _ = sleep_until(wake.map_or_else(Instant::now, Instant::from_std)), if wake.is_some() => {
                if session.is_expired(now()) {
                    client.close().await;
                    break;
                }
                encoded.clear();
                if session.poll_chat(now(), &mut encoded)
                    && let Err(error) = send(&mut client, &encoded).await
                {
                    session.handle_close(close_info(error));
                    break;
                }
            }
        }
    }
    session.report(now())
}

/// The driver's clock, as the session takes it (tokio's, so paused-time tests work).
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Sends one encoded client message as a binary frame.
async fn send<G: BotGame>(client: &mut Client<G>, encoded: &[u8]) -> Result<(), ClientError> {
    client
        .send_raw(Message::Binary(encoded.to_vec().into()))
        .await
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
