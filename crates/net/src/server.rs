//! The tokio driver: accepts connections on one port (HTTP routes and the /ws WebSocket), keeps
//! the lobby of rooms, runs each room on its own task at its fixed tick, and moves bytes between
//! sockets and rooms.
//!
//! Tasks: one accept loop; one task per room, which owns its [`Room`] and wakes once per tick;
//! one task per connection, which decodes frames into the room's bounded inbox and writes what the
//! room leaves in its [`Outbox`]. A room never waits on a socket: snapshots are latest-wins and
//! reliable messages have a bounded queue. A panic inside a room ends that room only.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tickwire_protocol::limits::CLIENT_MSG_MAX;
use tickwire_protocol::{
    ClientMsg, Hello, Input, PROTOCOL_VERSION, Schema, ServerMsg, close, decode_client,
    encode_server,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior, sleep_until, timeout, timeout_at};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::{debug, error, info, warn};

use crate::auth;
use crate::config::{ConfigError, ServerConfig};
use crate::game::Game;
use crate::http;
use crate::metrics::Metrics;
use crate::room::{ClientId, Departed, JoinError, Room, RoomSettings, SessionToken, TransmitKind};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration (or its map) is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The wire types and command of a server's game.
type Wire<G> = <G as Game>::Wire;
type Cmd<G> = <Wire<G> as Schema>::Input;

/// A bound, not yet running server for the game `G`.
#[derive(Debug)]
pub struct Server<G: Game> {
    listener: TcpListener,
    shared: Arc<Shared<G>>,
    shutdown: watch::Sender<bool>,
}

/// State every task of one server shares.
#[derive(Debug)]
struct Shared<G: Game> {
    config: ServerConfig,
    /// The game's settings, checked and loaded once; every room is made from them.
    settings: G::Settings,
    /// Player seats per room: the config's, capped by the game's own limit.
    max_players: usize,
    lobby: Mutex<Lobby<G>>,
    metrics: Arc<Metrics>,
    next_client: AtomicU64,
    /// Open connections per source address, for the per-IP cap.
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    /// Flips to true once: every connection then says goodbye and closes.
    shutdown: watch::Receiver<bool>,
}

/// The rooms, the seats taken in each, and the live sessions. Seats are reserved here, under
/// one lock, before a connection joins a room, so two joiners never both take the last seat and
/// a room is never removed while someone is on the way in. Seats are given back by the room
/// task when the room says a player is gone for good.
#[derive(Debug)]
struct Lobby<G: Game> {
    rooms: BTreeMap<String, RoomEntry<G>>,
    /// Resume token -> room holding that player.
    sessions: HashMap<SessionToken, String>,
    /// Signed session tokens in use, with how many live connections use each (more than one
    /// only while a resume replaces the connection that held it).
    auth_in_use: HashMap<String, usize>,
    next_room: u64,
    rooms_created: u64,
}

impl<G: Game> Default for Lobby<G> {
    fn default() -> Self {
        Lobby {
            rooms: BTreeMap::new(),
            sessions: HashMap::new(),
            auth_in_use: HashMap::new(),
            next_room: 0,
            rooms_created: 0,
        }
    }
}

#[derive(Debug)]
struct RoomEntry<G: Game> {
    /// Unique per room ever created, so a seat is never given back to a newer room that
    /// happens to have the same name.
    id: u64,
    inbox: mpsc::Sender<RoomCmd<G>>,
    players: usize,
    spectators: usize,
    stats: Arc<RoomStats>,
}

/// Figures a room task publishes for /api/rooms.
#[derive(Debug, Default)]
pub struct RoomStats {
    /// The room's tick.
    pub tick: AtomicU32,
    /// Duration of recent ticks in nanoseconds (a ring, for a p99).
    recent_ns: Mutex<VecDeque<u64>>,
}

impl RoomStats {
    fn record(&self, tick: u32, nanos: u64) {
        self.tick.store(tick, Relaxed);
        if let Ok(mut recent) = self.recent_ns.lock() {
            if recent.len() >= 256 {
                recent.pop_front();
            }
            recent.push_back(nanos);
        }
    }

    /// The 99th percentile of the recent tick durations, in milliseconds.
    pub fn tick_p99_ms(&self) -> f64 {
        let Ok(recent) = self.recent_ns.lock() else {
            return 0.0;
        };
        if recent.is_empty() {
            return 0.0;
        }
        let mut sorted: Vec<u64> = recent.iter().copied().collect();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 * 0.99).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[index] as f64 / 1e6
    }
}

/// What connection tasks tell a room task.
#[derive(Debug)]
enum RoomCmd<G: Game> {
    Join {
        client: ClientId,
        hello: Hello,
        token: SessionToken,
        outbox: Arc<Outbox>,
        reply: oneshot::Sender<Result<(), JoinError>>,
    },
    Resume {
        client: ClientId,
        token: SessionToken,
        outbox: Arc<Outbox>,
        reply: oneshot::Sender<Result<(), JoinError>>,
    },
    /// The client said goodbye (or was kicked): its player leaves now.
    Leave {
        client: ClientId,
    },
    /// The connection dropped: the player is held for the resume window.
    Disconnect {
        client: ClientId,
    },
    Input {
        client: ClientId,
        input: Input<Cmd<G>>,
    },
    Chat {
        client: ClientId,
        text: String,
    },
    /// Test-only fault injection: panic inside the room's task.
    #[cfg(feature = "fault-injection")]
    Panic,
    /// Test-only fault injection: block the room's task this long (an overloaded tick).
    #[cfg(feature = "fault-injection")]
    Stall(Duration),
}

/// What a room leaves for one connection's writer. Snapshots: latest wins. Reliable messages:
/// in order, at most `reliable_max`; overflowing means the client is too slow and is closed.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    state: Mutex<OutboxState>,
    notify: Notify,
}

#[derive(Debug, Default)]
struct OutboxState {
    snapshot: Option<Bytes>,
    reliable: VecDeque<Bytes>,
    close: Option<(u16, &'static str)>,
}

impl Outbox {
    /// Returns whether an unsent snapshot was replaced.
    fn push(&self, kind: TransmitKind, bytes: Bytes, reliable_max: usize) -> bool {
        let mut replaced = false;
        {
            let Ok(mut state) = self.state.lock() else {
                return false;
            };
            match kind {
                TransmitKind::Snapshot => replaced = state.snapshot.replace(bytes).is_some(),
                TransmitKind::Reliable if state.reliable.len() >= reliable_max => {
                    state
                        .close
                        .get_or_insert((close::TOO_SLOW, "too slow: message queue overflowed"));
                }
                TransmitKind::Reliable => state.reliable.push_back(bytes),
            }
        }
        self.notify.notify_one();
        replaced
    }

    fn close(&self, code: u16, reason: &'static str) {
        if let Ok(mut state) = self.state.lock() {
            state.close.get_or_insert((code, reason));
        }
        self.notify.notify_one();
    }

    /// Moves everything pending into `reliable`; returns the snapshot and any close request.
    fn take(&self, reliable: &mut VecDeque<Bytes>) -> (Option<Bytes>, Option<(u16, &'static str)>) {
        let Ok(mut state) = self.state.lock() else {
            return (None, Some((close::INTERNAL_ERROR, "internal error")));
        };
        std::mem::swap(&mut state.reliable, reliable);
        (state.snapshot.take(), state.close.take())
    }
}

/// A handle for tests to reach into a running server (built only with the `fault-injection`
/// feature; never part of the wire protocol).
#[cfg(feature = "fault-injection")]
#[derive(Debug)]
pub struct ServerControl<G: Game>(Arc<Shared<G>>);

#[cfg(feature = "fault-injection")]
impl<G: Game> Clone for ServerControl<G> {
    fn clone(&self) -> Self {
        ServerControl(Arc::clone(&self.0))
    }
}

#[cfg(feature = "fault-injection")]
impl<G: Game> ServerControl<G> {
    /// Makes the named room's task panic. Returns whether the room exists.
    pub fn inject_room_panic(&self, room: &str) -> bool {
        let inbox = match self.0.lobby.lock() {
            Ok(lobby) => lobby.rooms.get(room).map(|entry| entry.inbox.clone()),
            Err(_) => None,
        };
        inbox.is_some_and(|inbox| inbox.try_send(RoomCmd::Panic).is_ok())
    }

    /// Blocks the named room's task for `duration` (as an overloaded tick would). Returns
    /// whether the room exists.
    pub fn inject_room_stall(&self, room: &str, duration: Duration) -> bool {
        let inbox = match self.0.lobby.lock() {
            Ok(lobby) => lobby.rooms.get(room).map(|entry| entry.inbox.clone()),
            Err(_) => None,
        };
        inbox.is_some_and(|inbox| inbox.try_send(RoomCmd::Stall(duration)).is_ok())
    }
}

impl<G: Game> Server<G> {
    /// Checks the config and the game's settings (loading what they name), then binds the
    /// configured address.
    pub async fn bind(config: ServerConfig) -> Result<Server<G>, ServerError> {
        config.validate()?;
        let settings =
            G::configure(config.game_config::<G>()?).map_err(|message| ConfigError::Game {
                game: G::Wire::NAME,
                message,
            })?;
        let max_players = G::max_players(&settings).map_or(config.max_players_per_room, |cap| {
            cap.min(config.max_players_per_room)
        });
        let listener =
            TcpListener::bind(config.addr)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.addr,
                    source,
                })?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        Ok(Server {
            listener,
            shared: Arc::new(Shared {
                config,
                settings,
                max_players,
                lobby: Mutex::new(Lobby::default()),
                metrics: Arc::new(Metrics::default()),
                next_client: AtomicU64::new(1),
                per_ip: Mutex::new(HashMap::new()),
                shutdown: shutdown_rx,
            }),
            shutdown,
        })
    }

    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        // Invariant: a bound TcpListener always has a local address.
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// The WebSocket URL players connect to.
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.local_addr())
    }

    /// A handle for tests to inject faults.
    #[cfg(feature = "fault-injection")]
    pub fn control(&self) -> ServerControl<G> {
        ServerControl(Arc::clone(&self.shared))
    }

    /// Serves until `stop` completes, then tells every player the server is shutting down,
    /// waits up to `grace` for their connections to drain and close, and returns.
    pub async fn run(self, stop: impl Future<Output = ()>, grace: Duration) {
        let Server {
            listener,
            shared,
            shutdown,
        } = self;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => accept(&shared, stream, peer),
                    Err(error) => {
                        // Usually out of file descriptors: back off instead of spinning.
                        warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        drop(listener);
        info!("shutting down: closing every connection");
        let _ = shutdown.send(true);
        let deadline = Instant::now() + grace;
        while shared.metrics.connections_open.load(Relaxed) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = shared.metrics.connections_open.load(Relaxed);
        if left > 0 {
            warn!(left, "grace period over with connections still open");
        }
    }
}

/// Admits a connection under the caps (or refuses it at once) and spawns its task.
fn accept<G: Game>(shared: &Arc<Shared<G>>, stream: TcpStream, peer: SocketAddr) {
    let metrics = &shared.metrics;
    metrics.connections_total.fetch_add(1, Relaxed);
    let slot = ConnectionSlot::take(shared, peer.ip());
    match slot {
        Some(slot) => {
            tokio::spawn(handle_connection(Arc::clone(shared), stream, peer, slot));
        }
        None => {
            metrics.refused_connections.fetch_add(1, Relaxed);
            debug!(%peer, "refused: connection cap");
            tokio::spawn(async move {
                let mut stream = stream;
                let _ = timeout(
                    Duration::from_secs(1),
                    http::respond(
                        &mut stream,
                        "503 Service Unavailable",
                        "text/plain",
                        b"server full: too many connections\n",
                    ),
                )
                .await;
            });
        }
    }
}

/// One admitted connection, counted globally and per IP for as long as it lives.
#[derive(Debug)]
struct ConnectionSlot<G: Game> {
    shared: Arc<Shared<G>>,
    ip: IpAddr,
    /// Past the per-IP cap: may use the HTTP routes, not /ws.
    http_only: bool,
}

impl<G: Game> ConnectionSlot<G> {
    fn take(shared: &Arc<Shared<G>>, ip: IpAddr) -> Option<ConnectionSlot<G>> {
        let config = &shared.config;
        let Ok(mut per_ip) = shared.per_ip.lock() else {
            return None;
        };
        if shared.metrics.connections_open.load(Relaxed) as usize >= config.max_connections {
            return None;
        }
        let count = per_ip.entry(ip).or_insert(0);
        if *count >= config.max_connections_per_ip + HTTP_ONLY_PER_IP {
            return None;
        }
        let http_only = *count >= config.max_connections_per_ip;
        *count += 1;
        shared.metrics.connections_open.fetch_add(1, Relaxed);
        Some(ConnectionSlot {
            shared: Arc::clone(shared),
            ip,
            http_only,
        })
    }
}

/// Connections an address may open past its cap for the plain HTTP routes only, so an
/// operator's /metrics scrape or health check still gets through from a busy address.
const HTTP_ONLY_PER_IP: usize = 4;

impl<G: Game> Drop for ConnectionSlot<G> {
    fn drop(&mut self) {
        if let Ok(mut per_ip) = self.shared.per_ip.lock()
            && let Some(count) = per_ip.get_mut(&self.ip)
        {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
        self.shared.metrics.connections_open.fetch_sub(1, Relaxed);
    }
}

/// Bytes one socket read may fill (tungstenite keeps this much per connection).
const READ_BUFFER_BYTES: usize = 512;

fn websocket_config() -> WebSocketConfig {
    // tungstenite's defaults (64 MiB messages, 128 KiB buffers, unbounded write buffer) are not
    // for thousands of untrusted peers: small buffers, messages capped at the protocol's limit.
    // The read buffer is what one read fills; a tick's input is about 30 bytes, and a larger
    // message (at most 1 KiB) grows the buffer to fit it (it does not shrink back).
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        // Messages fed in one tick (snapshot, events, pongs) go out in one write at the flush.
        .write_buffer_size(8 * 1024)
        .max_write_buffer_size(512 * 1024)
        .max_message_size(Some(CLIENT_MSG_MAX))
        .max_frame_size(Some(CLIENT_MSG_MAX))
}

type Socket = WebSocketStream<TcpStream>;

async fn handle_connection<G: Game>(
    shared: Arc<Shared<G>>,
    mut stream: TcpStream,
    peer: SocketAddr,
    slot: ConnectionSlot<G>,
) {
    let _ = stream.set_nodelay(true);
    let deadline = Instant::now() + shared.config.handshake_timeout();

    let (request, rest) = match timeout_at(deadline, http::read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        Ok(Err(error)) => {
            debug!(%peer, %error, "bad request");
            let _ = timeout(
                Duration::from_secs(1),
                http::respond(
                    &mut stream,
                    "400 Bad Request",
                    "text/plain",
                    error.to_string().as_bytes(),
                ),
            )
            .await;
            return;
        }
        Err(_) => {
            debug!(%peer, "request head not received in time");
            shared.metrics.record_disconnect(close::TIMEOUT);
            return;
        }
    };

    if request.path != "/ws" {
        let _ = timeout_at(deadline, serve_http(&shared, &mut stream, &request)).await;
        return;
    }
    if slot.http_only {
        shared.metrics.refused_connections.fetch_add(1, Relaxed);
        debug!(%peer, "refused: per-address connection cap");
        let _ = http::respond(
            &mut stream,
            "503 Service Unavailable",
            "text/plain",
            b"server full: too many connections from this address\n",
        )
        .await;
        return;
    }
    if !request.is_websocket_upgrade() {
        let _ = http::respond(
            &mut stream,
            "426 Upgrade Required",
            "text/plain",
            b"/ws speaks WebSocket only",
        )
        .await;
        return;
    }
    if let Some(origin) = request.header("origin")
        && !shared.config.allowed_origins.is_empty()
        && !shared
            .config
            .allowed_origins
            .iter()
            .any(|allowed| allowed == origin)
    {
        debug!(%peer, %origin, "origin refused");
        let _ = http::respond(
            &mut stream,
            "403 Forbidden",
            "text/plain",
            b"origin not allowed\n",
        )
        .await;
        return;
    }
    match timeout_at(deadline, http::accept_upgrade(&mut stream, &request)).await {
        Ok(Ok(())) => {}
        Ok(Err(reason)) => {
            debug!(%peer, %reason, "bad upgrade");
            return;
        }
        Err(_) => return,
    }
    // The request's headers are not needed past the upgrade: free them for the session.
    drop(request);
    let mut ws =
        WebSocketStream::from_partially_read(stream, rest, Role::Server, Some(websocket_config()))
            .await;

    // The Hello must arrive before the same deadline.
    let hello = match timeout_at(deadline, ws.next()).await {
        Err(_) => {
            close_ws(
                &shared,
                &mut ws,
                close::TIMEOUT,
                "no Hello before the handshake deadline",
            )
            .await;
            return;
        }
        Ok(frame) => match first_hello(&shared, frame) {
            Ok(hello) => hello,
            Err((code, reason)) => {
                debug!(%peer, code, %reason, "refused");
                close_ws(&shared, &mut ws, code, &reason).await;
                return;
            }
        },
    };
    let _auth = match authenticate(&shared, &hello) {
        Ok(guard) => guard,
        Err((code, reason)) => {
            debug!(%peer, code, %reason, "authentication refused");
            close_ws(&shared, &mut ws, code, &reason).await;
            return;
        }
    };

    let client = ClientId(shared.next_client.fetch_add(1, Relaxed));
    let outbox = Arc::new(Outbox::default());
    let (room_name, inbox) = match join(&shared, client, &hello, &outbox).await {
        Ok(joined) => joined,
        Err((code, reason)) => {
            close_ws(&shared, &mut ws, code, &reason).await;
            return;
        }
    };
    info!(%peer, room = %room_name, name = %hello.name, spectate = hello.spectate, resumed = hello.resume.is_some(), "joined");
    shared.metrics.clients.fetch_add(1, Relaxed);

    let end = session(&shared, &mut ws, client, &room_name, &inbox, &outbox).await;

    shared.metrics.clients.fetch_sub(1, Relaxed);
    let goodbye = if end.hold_player {
        RoomCmd::Disconnect { client }
    } else {
        RoomCmd::Leave { client }
    };
    let _ = inbox.send(goodbye).await;
    drop(inbox);
    info!(%peer, room = %room_name, name = %hello.name, code = end.code, reason = %end.reason, "left");
    if end.send_close {
        close_ws(&shared, &mut ws, end.code, &end.reason).await;
    } else {
        shared.metrics.record_disconnect(end.code);
    }
}

/// Checks the session token when authentication is on; the guard frees the token when the
/// connection ends.
fn authenticate<G: Game>(
    shared: &Arc<Shared<G>>,
    hello: &Hello,
) -> Result<Option<AuthGuard<G>>, (u16, String)> {
    let Some(secret) = shared.config.auth_secret() else {
        return Ok(None);
    };
    let token = hello.token.as_deref().ok_or((
        close::AUTH_REQUIRED,
        "this server requires a session token".to_string(),
    ))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    match auth::verify(secret, token, &hello.name, now) {
        Ok(_) => {}
        Err(auth::TokenError::Expired) => {
            return Err((close::AUTH_EXPIRED, "session token expired".into()));
        }
        Err(error) => {
            return Err((
                close::AUTH_INVALID,
                format!("session token refused: {error}"),
            ));
        }
    }
    let Ok(mut lobby) = shared.lobby.lock() else {
        return Err((close::INTERNAL_ERROR, "internal error".into()));
    };
    // A resume takes the session over from the connection it replaces, token included.
    let uses = lobby.auth_in_use.entry(token.to_string()).or_insert(0);
    if *uses > 0 && hello.resume.is_none() {
        return Err((
            close::TOKEN_IN_USE,
            "session token already in use by another connection".into(),
        ));
    }
    *uses += 1;
    Ok(Some(AuthGuard {
        shared: Arc::clone(shared),
        token: token.to_string(),
    }))
}

#[derive(Debug)]
struct AuthGuard<G: Game> {
    shared: Arc<Shared<G>>,
    token: String,
}

impl<G: Game> Drop for AuthGuard<G> {
    fn drop(&mut self) {
        if let Ok(mut lobby) = self.shared.lobby.lock()
            && let Some(uses) = lobby.auth_in_use.get_mut(&self.token)
        {
            *uses -= 1;
            if *uses == 0 {
                lobby.auth_in_use.remove(&self.token);
            }
        }
    }
}

/// Joins (or resumes) a room; returns its name and inbox, or the close code and reason.
async fn join<G: Game>(
    shared: &Arc<Shared<G>>,
    client: ClientId,
    hello: &Hello,
    outbox: &Arc<Outbox>,
) -> Result<(String, mpsc::Sender<RoomCmd<G>>), (u16, String)> {
    let (reply, joined) = oneshot::channel();
    if let Some(token) = hello.resume {
        let found = match shared.lobby.lock() {
            Ok(lobby) => lobby.sessions.get(&token).and_then(|name| {
                let entry = lobby.rooms.get(name)?;
                Some((name.clone(), entry.inbox.clone()))
            }),
            Err(_) => None,
        };
        let Some((name, inbox)) = found else {
            return Err((
                close::RESUME_FAILED,
                "no session to resume: it expired or never existed".into(),
            ));
        };
        let resume = RoomCmd::Resume {
            client,
            token,
            outbox: Arc::clone(outbox),
            reply,
        };
        let result = match inbox.send(resume).await {
            Ok(()) => joined.await.unwrap_or(Err(JoinError::UnknownSession)),
            Err(_) => Err(JoinError::UnknownSession),
        };
        return match result {
            Ok(()) => {
                shared.metrics.resumes.fetch_add(1, Relaxed);
                Ok((name, inbox))
            }
            Err(error) => Err((close::RESUME_FAILED, error.to_string())),
        };
    }

    let (name, inbox, room_id) =
        reserve_seat(shared, hello).map_err(|(code, reason)| (code, reason.to_string()))?;
    let mut token = SessionToken::default();
    if getrandom::fill(&mut token).is_err() {
        release_seat(shared, &name, room_id, hello.spectate);
        return Err((
            close::INTERNAL_ERROR,
            "internal error: no randomness".into(),
        ));
    }
    // Registered before the room hears of the player, so its departure always finds it.
    if !hello.spectate
        && let Ok(mut lobby) = shared.lobby.lock()
    {
        lobby.sessions.insert(token, name.clone());
    }
    let join = RoomCmd::Join {
        client,
        hello: hello.clone(),
        token,
        outbox: Arc::clone(outbox),
        reply,
    };
    let result = match inbox.send(join).await {
        Ok(()) => joined.await.unwrap_or(Err(JoinError::RoomFull)),
        Err(_) => Err(JoinError::RoomFull),
    };
    match result {
        Ok(()) => Ok((name, inbox)),
        Err(error) => {
            if let Ok(mut lobby) = shared.lobby.lock() {
                lobby.sessions.remove(&token);
            }
            release_seat(shared, &name, room_id, hello.spectate);
            Err((close::ROOM_FULL, error.to_string()))
        }
    }
}

type Frame = Option<Result<Message, WsError>>;

/// Checks that the first frame is a valid Hello of our protocol version and game.
fn first_hello<G: Game>(shared: &Shared<G>, frame: Frame) -> Result<Hello, (u16, String)> {
    let bytes = match frame {
        Some(Ok(Message::Binary(bytes))) => bytes,
        Some(Ok(Message::Text(_))) => {
            return Err((
                close::UNSUPPORTED_DATA,
                "text frames are not supported; send binary".into(),
            ));
        }
        Some(Err(error)) => return Err(ws_error_close(&error)),
        Some(Ok(_)) | None => return Err((close::BAD_HELLO, "expected Hello".into())),
    };
    shared
        .metrics
        .bytes_in
        .fetch_add(bytes.len() as u64, Relaxed);
    shared.metrics.messages_in.fetch_add(1, Relaxed);
    // Read the version first: a Hello of another version may not decode as ours at all.
    if let Some(version) = tickwire_protocol::hello_version(&bytes)
        && version != PROTOCOL_VERSION
    {
        return Err((
            close::VERSION_MISMATCH,
            format!("protocol version mismatch: client {version}, server {PROTOCOL_VERSION}"),
        ));
    }
    // Then the game: a client of another game may not even decode as this one.
    let game = G::Wire::NAME;
    let schema = G::Wire::VERSION;
    if let Some((client_game, client_schema)) = tickwire_protocol::hello_game(&bytes)
        && (client_game != game || client_schema != schema)
    {
        return Err((
            close::GAME_MISMATCH,
            format!(
                "wrong game: this server runs {game} (schema {schema}), the client speaks {} \
                 (schema {client_schema})",
                truncate(&client_game, tickwire_protocol::limits::GAME_NAME_MAX)
            ),
        ));
    }
    match decode_client::<Wire<G>>(&bytes) {
        Ok(ClientMsg::Hello(hello)) if hello.version != PROTOCOL_VERSION => Err((
            close::VERSION_MISMATCH,
            format!(
                "protocol version mismatch: client {}, server {}",
                hello.version, PROTOCOL_VERSION
            ),
        )),
        Ok(ClientMsg::Hello(hello)) => Ok(hello),
        Ok(_) => Err((close::BAD_HELLO, "the first message must be Hello".into())),
        Err(tickwire_protocol::DecodeError::Invalid(error)) => {
            Err((close::BAD_HELLO, format!("bad Hello: {error}")))
        }
        Err(error) => Err((
            close::PROTOCOL_ERROR,
            format!("undecodable message: {error}"),
        )),
    }
}

fn ws_error_close(error: &WsError) -> (u16, String) {
    match error {
        WsError::Capacity(_) => (
            close::MESSAGE_TOO_BIG,
            format!("message larger than {CLIENT_MSG_MAX} bytes"),
        ),
        other => (close::PROTOCOL_ERROR, format!("websocket error: {other}")),
    }
}

/// How a session ended.
#[derive(Debug)]
struct SessionEnd {
    code: u16,
    reason: String,
    /// Hold the player for a resume (the connection dropped) instead of removing it.
    hold_player: bool,
    /// Whether to send a close frame (not when the peer closed or the socket is dead).
    send_close: bool,
}

impl SessionEnd {
    /// The server ends the session: tell the peer why; the player leaves.
    fn kick(code: u16, reason: impl Into<String>) -> SessionEnd {
        SessionEnd {
            code,
            reason: reason.into(),
            hold_player: false,
            send_close: true,
        }
    }

    /// The connection failed under us: hold the player for a resume.
    fn dropped(code: u16, reason: impl Into<String>, send_close: bool) -> SessionEnd {
        SessionEnd {
            code,
            reason: reason.into(),
            hold_player: true,
            send_close,
        }
    }
}

/// A token bucket for inbound messages.
#[derive(Debug)]
struct RateBudget {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
    /// Messages dropped in the current one-second window.
    dropped_in_window: f64,
    window_start: Instant,
}

impl RateBudget {
    fn new(rate: f64, burst: f64) -> RateBudget {
        let now = Instant::now();
        RateBudget {
            tokens: burst,
            rate,
            burst,
            last: now,
            dropped_in_window: 0.0,
            window_start: now,
        }
    }

    /// Whether a message may pass; Err when the abuse is sustained (over twice the rate for a
    /// whole second).
    fn admit(&mut self) -> Result<bool, ()> {
        let now = Instant::now();
        self.tokens = (self.tokens + (now - self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if now - self.window_start >= Duration::from_secs(1) {
            self.window_start = now;
            self.dropped_in_window = 0.0;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(true);
        }
        self.dropped_in_window += 1.0;
        if self.dropped_in_window > self.rate {
            return Err(());
        }
        Ok(false)
    }
}

/// Runs a joined client until it leaves or must be closed.
async fn session<G: Game>(
    shared: &Shared<G>,
    ws: &mut Socket,
    client: ClientId,
    room: &str,
    inbox: &mpsc::Sender<RoomCmd<G>>,
    outbox: &Outbox,
) -> SessionEnd {
    let config = &shared.config;
    let metrics = &shared.metrics;
    let mut shutdown = shared.shutdown.clone();
    let mut reliable = VecDeque::new();
    let mut budget = RateBudget::new(config.msg_rate, config.msg_burst);
    let mut last_heard = Instant::now();
    let mut pinger = tokio::time::interval_at(
        Instant::now() + config.ping_interval(),
        config.ping_interval(),
    );
    pinger.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            frame = ws.next() => {
                last_heard = Instant::now();
                let bytes = match frame {
                    Some(Ok(Message::Binary(bytes))) => bytes,
                    Some(Ok(Message::Text(_))) => {
                        return SessionEnd::kick(close::UNSUPPORTED_DATA, "text frames are not supported; send binary");
                    }
                    Some(Ok(Message::Close(_))) => {
                        return SessionEnd { code: close::NORMAL, reason: "client left".into(), hold_player: false, send_close: false };
                    }
                    Some(Ok(_)) => continue, // pings are answered by tungstenite; pongs just count as life
                    Some(Err(WsError::Capacity(_))) => {
                        return SessionEnd::kick(close::MESSAGE_TOO_BIG, format!("message larger than {CLIENT_MSG_MAX} bytes"));
                    }
                    Some(Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake))) => {
                        return SessionEnd::dropped(1006, "connection lost", false);
                    }
                    Some(Err(WsError::Protocol(error))) => {
                        return SessionEnd::kick(close::PROTOCOL_ERROR, format!("websocket protocol error: {error}"));
                    }
                    Some(Err(error)) => return SessionEnd::dropped(1006, format!("connection lost: {error}"), false),
                    None => return SessionEnd::dropped(1006, "connection lost", false),
                };
                metrics.bytes_in.fetch_add(bytes.len() as u64, Relaxed);
                metrics.messages_in.fetch_add(1, Relaxed);
                match budget.admit() {
                    Ok(true) => {}
                    Ok(false) => {
                        metrics.rate_limited.fetch_add(1, Relaxed);
                        continue;
                    }
                    Err(()) => return SessionEnd::kick(close::POLICY_VIOLATION, "message rate limit exceeded"),
                }
                let cmd = match decode_client::<Wire<G>>(&bytes) {
                    Ok(ClientMsg::Input(input)) => RoomCmd::Input { client, input },
                    Ok(ClientMsg::Chat { text }) => RoomCmd::Chat { client, text },
                    Ok(ClientMsg::Ping { nonce }) => {
                        // Answered here, not by the room: a round trip should not wait for a tick.
                        let tick = shared.lobby.lock().ok().and_then(|lobby| {
                            lobby.rooms.get(room).map(|entry| entry.stats.tick.load(Relaxed))
                        });
                        let mut pong = Vec::new();
                        encode_server(&ServerMsg::<Wire<G>>::Pong { nonce, tick: tick.unwrap_or(0) }, &mut pong);
                        outbox.push(TransmitKind::Reliable, pong.into(), config.reliable_queue_max);
                        continue;
                    }
                    Ok(ClientMsg::Hello(_)) => return SessionEnd::kick(close::PROTOCOL_ERROR, "Hello sent twice"),
                    Err(error) => return SessionEnd::kick(close::PROTOCOL_ERROR, format!("undecodable message: {error}")),
                };
                // Never wait on a busy room: drop and count instead.
                if let Err(mpsc::error::TrySendError::Full(_)) = inbox.try_send(cmd) {
                    metrics.inbox_dropped.fetch_add(1, Relaxed);
                }
            }
            _ = outbox.notify.notified() => {
                let (snapshot, close_request) = outbox.take(&mut reliable);
                if let Some((code, reason)) = close_request {
                    // A client that fell behind on reliable messages is held for a resume like
                    // any dropped connection; other closes (replaced, room crashed, dropped by
                    // the room) have no player left to hold.
                    if code == close::TOO_SLOW {
                        return SessionEnd::dropped(code, reason, true);
                    }
                    return SessionEnd::kick(code, reason);
                }
                let write = async {
                    for bytes in reliable.drain(..).chain(snapshot) {
                        metrics.bytes_out.fetch_add(bytes.len() as u64, Relaxed);
                        metrics.messages_out.fetch_add(1, Relaxed);
                        ws.feed(Message::Binary(bytes)).await?;
                    }
                    ws.flush().await
                };
                match timeout(config.stall_timeout(), write).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => return SessionEnd::dropped(1006, format!("write failed: {error}"), false),
                    Err(_) => return SessionEnd::dropped(close::TOO_SLOW, "too slow: stalled past the deadline", false),
                }
            }
            _ = pinger.tick() => {
                if last_heard.elapsed() >= config.idle_timeout() {
                    return SessionEnd::dropped(close::TIMEOUT, "no traffic from the client: timed out", true);
                }
                let ping = async {
                    ws.feed(Message::Ping(Bytes::new())).await?;
                    ws.flush().await
                };
                match timeout(config.stall_timeout(), ping).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => return SessionEnd::dropped(1006, format!("write failed: {error}"), false),
                    Err(_) => return SessionEnd::dropped(close::TOO_SLOW, "too slow: stalled past the deadline", false),
                }
            }
            _ = shutdown.changed() => return SessionEnd::kick(close::GOING_AWAY, "server shutting down"),
        }
    }
}

/// Sends an Error message and a close frame with the same code and reason, then waits briefly
/// for the peer's close.
async fn close_ws<G: Game>(shared: &Shared<G>, ws: &mut Socket, code: u16, reason: &str) {
    shared.metrics.record_disconnect(code);
    let reason: String = truncate(reason, tickwire_protocol::limits::REASON_MAX).to_string();
    let mut bytes = Vec::new();
    encode_server(
        &ServerMsg::<Wire<G>>::Error {
            code,
            reason: reason.clone(),
        },
        &mut bytes,
    );
    let goodbye = async {
        let _ = ws.feed(Message::Binary(bytes.into())).await;
        let _ = ws
            .close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: reason.into(),
            }))
            .await;
        // Read until the peer answers the close (or gives up).
        while let Some(Ok(_)) = ws.next().await {}
    };
    let _ = timeout(Duration::from_secs(2), goodbye).await;
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A seat taken in a room: the room's name, its inbox and its id.
type ReservedSeat<G> = (String, mpsc::Sender<RoomCmd<G>>, u64);

/// Takes a seat in the named room (or the fullest room with one free), creating the room if
/// needed. Returns the room's name and inbox.
fn reserve_seat<G: Game>(
    shared: &Arc<Shared<G>>,
    hello: &Hello,
) -> Result<ReservedSeat<G>, (u16, &'static str)> {
    let config = &shared.config;
    let Ok(mut lobby) = shared.lobby.lock() else {
        return Err((close::INTERNAL_ERROR, "internal error"));
    };
    let has_seat = |entry: &RoomEntry<G>| {
        if hello.spectate {
            entry.spectators < config.max_spectators_per_room
        } else {
            entry.players < shared.max_players
        }
    };
    let name = match &hello.room {
        Some(name) => match lobby.rooms.get(name) {
            Some(entry) if has_seat(entry) => name.clone(),
            Some(_) => return Err((close::ROOM_FULL, "room is full")),
            None => create_room(shared, &mut lobby, name.clone())?,
        },
        None => {
            let fullest = lobby
                .rooms
                .iter()
                .filter(|(_, entry)| has_seat(entry))
                .max_by_key(|(name, entry)| (entry.players, std::cmp::Reverse((*name).clone())))
                .map(|(name, _)| name.clone());
            match fullest {
                Some(name) => name,
                None => {
                    let mut name;
                    loop {
                        lobby.next_room += 1;
                        name = format!("room-{}", lobby.next_room);
                        if !lobby.rooms.contains_key(&name) {
                            break;
                        }
                    }
                    create_room(shared, &mut lobby, name)?
                }
            }
        }
    };
    // Invariant: `name` was found or inserted above, under this same lock.
    let entry = lobby.rooms.get_mut(&name).expect("room exists");
    if hello.spectate {
        entry.spectators += 1;
    } else {
        entry.players += 1;
    }
    Ok((name, entry.inbox.clone(), entry.id))
}

fn create_room<G: Game>(
    shared: &Arc<Shared<G>>,
    lobby: &mut Lobby<G>,
    name: String,
) -> Result<String, (u16, &'static str)> {
    let config = &shared.config;
    if lobby.rooms.len() >= config.max_rooms {
        return Err((
            close::TRY_AGAIN_LATER,
            "server has no room for another room",
        ));
    }
    let settings = RoomSettings {
        tick_rate: config.tick_rate,
        snapshot_interval: config.snapshot_interval,
        max_players: shared.max_players,
        max_spectators: config.max_spectators_per_room,
        history: config.history,
        resume_grace_ticks: config.resume_grace_ticks(),
        ack_timeout_ticks: (config.stall_timeout_s * config.tick_rate as f64).round() as u32,
    };
    let seed = config.seed.wrapping_add(lobby.rooms_created);
    let room_id = lobby.rooms_created;
    lobby.rooms_created += 1;
    let game = G::new(&shared.settings, config.tick_rate, seed);
    let room = Room::new(name.clone(), settings, game);
    let (inbox, commands) = mpsc::channel(config.room_inbox);
    let stats = Arc::new(RoomStats::default());
    tokio::spawn(run_room(
        Arc::clone(shared),
        room,
        room_id,
        commands,
        Arc::clone(&stats),
    ));
    shared.metrics.rooms.fetch_add(1, Relaxed);
    info!(room = %name, "room created");
    lobby.rooms.insert(
        name.clone(),
        RoomEntry {
            id: room_id,
            inbox,
            players: 0,
            spectators: 0,
            stats,
        },
    );
    Ok(name)
}

/// Frees a seat; the last one out removes the room (its task ends when its inbox closes).
fn release_seat<G: Game>(shared: &Shared<G>, name: &str, room_id: u64, spectate: bool) {
    let Ok(mut lobby) = shared.lobby.lock() else {
        return;
    };
    release_seat_locked(shared, &mut lobby, name, room_id, spectate);
}

fn release_seat_locked<G: Game>(
    shared: &Shared<G>,
    lobby: &mut Lobby<G>,
    name: &str,
    room_id: u64,
    spectate: bool,
) {
    let Some(entry) = lobby
        .rooms
        .get_mut(name)
        .filter(|entry| entry.id == room_id)
    else {
        return;
    };
    if spectate {
        entry.spectators = entry.spectators.saturating_sub(1);
    } else {
        entry.players = entry.players.saturating_sub(1);
    }
    if entry.players == 0 && entry.spectators == 0 {
        lobby.rooms.remove(name);
        shared.metrics.rooms.fetch_sub(1, Relaxed);
        info!(room = %name, "room removed");
    }
}

/// A room's task: once per tick, drain the inbox, step, and hand the results to the writers.
/// A panic anywhere in the room ends this room only: its players are told and its seats freed.
async fn run_room<G: Game>(
    shared: Arc<Shared<G>>,
    room: Room<G>,
    room_id: u64,
    mut commands: mpsc::Receiver<RoomCmd<G>>,
    stats: Arc<RoomStats>,
) {
    let name = room.name().to_string();
    let tick_length = Duration::from_secs_f64(1.0 / room.settings().tick_rate as f64);
    let mut driver = RoomDriver {
        shared: Arc::clone(&shared),
        room,
        room_id,
        outboxes: HashMap::new(),
    };
    let mut next_tick = Instant::now() + tick_length;
    loop {
        // Commands are taken once per tick, not as they come: one wake-up per tick per room.
        let step =
            std::panic::catch_unwind(AssertUnwindSafe(|| driver.step(&mut commands, &stats)));
        match step {
            Ok(true) => {}
            Ok(false) => {
                debug!(room = %name, "room task ends");
                return;
            }
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|text| text.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                error!(room = %name, panic = %message, "room crashed; closing it");
                driver.crash();
                return;
            }
        }

        // Fixed schedule; if we fell far behind (machine overloaded), restart the schedule
        // from now instead of running a burst of catch-up ticks.
        next_tick += tick_length;
        let now = Instant::now();
        if now > next_tick + tick_length * 4 {
            shared.metrics.tick_overruns.fetch_add(1, Relaxed);
            next_tick = now + tick_length;
        }
        sleep_until(next_tick).await;
    }
}

/// A room and the writers of its clients.
struct RoomDriver<G: Game> {
    shared: Arc<Shared<G>>,
    room: Room<G>,
    room_id: u64,
    outboxes: HashMap<ClientId, Arc<Outbox>>,
}

impl<G: Game> RoomDriver<G> {
    /// Drains the inbox, ticks and routes the output. Returns false when the room is done
    /// (every sender gone: nobody in it and the lobby forgot it).
    fn step(&mut self, commands: &mut mpsc::Receiver<RoomCmd<G>>, stats: &RoomStats) -> bool {
        loop {
            match commands.try_recv() {
                Ok(command) => self.handle(command),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
            }
        }
        let started = Instant::now();
        self.room.tick();
        self.route();
        let elapsed = started.elapsed();
        self.shared.metrics.record_tick(elapsed.as_secs_f64());
        stats.record(self.room.tick_number(), elapsed.as_nanos() as u64);
        true
    }

    fn handle(&mut self, command: RoomCmd<G>) {
        match command {
            RoomCmd::Join {
                client,
                hello,
                token,
                outbox,
                reply,
            } => {
                let result = self.room.handle_join(client, &hello, token).map(|_| ());
                if result.is_ok() {
                    self.outboxes.insert(client, outbox);
                    if !hello.spectate {
                        self.shared.metrics.players.fetch_add(1, Relaxed);
                    }
                }
                let _ = reply.send(result);
                // Deliver the Welcome now, not at the next tick.
                self.route();
            }
            RoomCmd::Resume {
                client,
                token,
                outbox,
                reply,
            } => {
                let was_detached = self
                    .room
                    .player_by_token(&token)
                    .is_some_and(|old| self.room.is_detached(old));
                match self.room.handle_resume(client, &token) {
                    Ok(joined) => {
                        if let Some(old) = joined.replaced
                            && let Some(old_outbox) = self.outboxes.remove(&old)
                        {
                            old_outbox.close(
                                close::SESSION_REPLACED,
                                "session resumed by another connection",
                            );
                        }
                        if was_detached {
                            self.shared.metrics.players_detached.fetch_sub(1, Relaxed);
                        }
                        self.outboxes.insert(client, outbox);
                        let _ = reply.send(Ok(()));
                    }
                    Err(error) => {
                        let _ = reply.send(Err(error));
                    }
                }
                self.route();
            }
            RoomCmd::Leave { client } => {
                self.outboxes.remove(&client);
                self.room.handle_leave(client);
                self.route();
            }
            RoomCmd::Disconnect { client } => {
                self.outboxes.remove(&client);
                self.room.handle_disconnect(client);
                if self.room.is_detached(client) {
                    self.shared.metrics.players_detached.fetch_add(1, Relaxed);
                }
                self.route();
            }
            RoomCmd::Input { client, input } => self.room.handle_input(client, &input),
            RoomCmd::Chat { client, text } => self.room.handle_chat(client, &text),
            #[cfg(feature = "fault-injection")]
            RoomCmd::Panic => panic!("injected fault"),
            #[cfg(feature = "fault-injection")]
            RoomCmd::Stall(duration) => std::thread::sleep(duration),
        }
    }

    /// Hands queued messages to the writers, and freed seats back to the lobby.
    fn route(&mut self) {
        let reliable_max = self.shared.config.reliable_queue_max;
        while let Some(transmit) = self.room.poll_transmit() {
            if let Some(outbox) = self.outboxes.get(&transmit.to)
                && outbox.push(transmit.kind, transmit.bytes, reliable_max)
            {
                self.shared.metrics.snapshots_replaced.fetch_add(1, Relaxed);
            }
        }
        while let Some(client) = self.room.poll_too_slow() {
            if let Some(outbox) = self.outboxes.remove(&client) {
                outbox.close(close::TOO_SLOW, "too slow: stopped acknowledging snapshots");
            }
            self.room.handle_leave(client);
        }
        while let Some(departed) = self.room.poll_departed() {
            self.release(departed);
        }
    }

    fn release(&self, departed: Departed) {
        let metrics = &self.shared.metrics;
        if !departed.spectator {
            metrics.players.fetch_sub(1, Relaxed);
        }
        if departed.was_detached {
            metrics.players_detached.fetch_sub(1, Relaxed);
        }
        let Ok(mut lobby) = self.shared.lobby.lock() else {
            return;
        };
        if let Some(token) = departed.token {
            lobby.sessions.remove(&token);
        }
        release_seat_locked(
            &self.shared,
            &mut lobby,
            self.room.name(),
            self.room_id,
            departed.spectator,
        );
    }

    /// After a panic: tell every client, forget the room and its sessions.
    fn crash(&mut self) {
        let metrics = &self.shared.metrics;
        metrics.room_panics.fetch_add(1, Relaxed);
        for outbox in self.outboxes.values() {
            outbox.close(close::INTERNAL_ERROR, "room crashed; please rejoin");
        }
        let players = self.room.player_count() as u64;
        metrics
            .players
            .fetch_sub(players.min(metrics.players.load(Relaxed)), Relaxed);
        let detached = self.room.detached_count() as u64;
        metrics.players_detached.fetch_sub(
            detached.min(metrics.players_detached.load(Relaxed)),
            Relaxed,
        );
        let Ok(mut lobby) = self.shared.lobby.lock() else {
            return;
        };
        let name = self.room.name().to_string();
        lobby.sessions.retain(|_, room| *room != name);
        if lobby
            .rooms
            .get(&name)
            .is_some_and(|entry| entry.id == self.room_id)
        {
            lobby.rooms.remove(&name);
            metrics.rooms.fetch_sub(1, Relaxed);
        }
    }
}

/// The plain HTTP routes: health, metrics and the rooms listing.
async fn serve_http<G: Game>(shared: &Shared<G>, stream: &mut TcpStream, request: &http::Request) {
    if request.method != "GET" {
        let _ = http::respond(stream, "405 Method Not Allowed", "text/plain", b"only GET").await;
        return;
    }
    let result = match request.path.as_str() {
        "/healthz" => http::respond(stream, "200 OK", "text/plain", b"ok\n").await,
        "/metrics" => {
            let body = shared.metrics.render();
            http::respond(
                stream,
                "200 OK",
                "text/plain; version=0.0.4",
                body.as_bytes(),
            )
            .await
        }
        "/api/rooms" => {
            let body = rooms_json(shared);
            http::respond(stream, "200 OK", "application/json", body.as_bytes()).await
        }
        path => match crate::web::asset(path, G::web_assets()) {
            Some(asset) => http::respond(stream, "200 OK", asset.content_type, asset.body).await,
            None => http::respond(stream, "404 Not Found", "text/plain", b"not found\n").await,
        },
    };
    if let Err(error) = result {
        debug!(%error, "http response failed");
    }
}

fn rooms_json<G: Game>(shared: &Shared<G>) -> String {
    let Ok(lobby) = shared.lobby.lock() else {
        return "[]".into();
    };
    let rooms: Vec<serde_json::Value> = lobby
        .rooms
        .iter()
        .map(|(name, entry)| {
            serde_json::json!({
                "id": name,
                "game": <G::Wire as Schema>::NAME,
                "players": entry.players,
                "spectators": entry.spectators,
                "max_players": shared.max_players,
                "tick": entry.stats.tick.load(Relaxed),
                "tick_rate": shared.config.tick_rate,
                "tick_p99_ms": entry.stats.tick_p99_ms(),
            })
        })
        .collect();
    serde_json::Value::Array(rooms).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_snapshots_are_latest_wins_and_reliable_queue_is_bounded() {
        let outbox = Outbox::default();
        assert!(!outbox.push(TransmitKind::Snapshot, Bytes::from_static(b"old"), 2));
        assert!(outbox.push(TransmitKind::Snapshot, Bytes::from_static(b"new"), 2));
        outbox.push(TransmitKind::Reliable, Bytes::from_static(b"a"), 2);
        outbox.push(TransmitKind::Reliable, Bytes::from_static(b"b"), 2);
        let mut reliable = VecDeque::new();
        let (snapshot, close_request) = outbox.take(&mut reliable);
        assert_eq!(snapshot.as_deref(), Some(&b"new"[..]));
        assert_eq!(reliable, [&b"a"[..], &b"b"[..]]);
        assert_eq!(close_request, None);
        // A client that lets reliable messages pile up past the bound is closed as too slow,
        // and the queue does not grow.
        reliable.clear();
        for _ in 0..5 {
            outbox.push(TransmitKind::Reliable, Bytes::from_static(b"x"), 2);
        }
        let (_, close_request) = outbox.take(&mut reliable);
        assert_eq!(reliable.len(), 2);
        assert_eq!(close_request.map(|(code, _)| code), Some(close::TOO_SLOW));
    }

    #[test]
    fn rate_budget_drops_then_closes_sustained_floods() {
        let mut budget = RateBudget::new(10.0, 5.0);
        let admitted = (0..5).filter(|_| budget.admit() == Ok(true)).count();
        assert_eq!(admitted, 5);
        // The burst is spent: further messages are dropped, then the flood is refused.
        assert_eq!(budget.admit(), Ok(false));
        let outcome = (0..20)
            .map(|_| budget.admit())
            .find(|result| result.is_err());
        assert_eq!(outcome, Some(Err(())));
    }
}
