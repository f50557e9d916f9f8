//! The tokio driver: accepts connections on one port (HTTP routes and the /ws WebSocket), keeps
//! the lobby of rooms, runs each room on its own task at its fixed tick, and moves bytes between
//! sockets and rooms.
//!
//! Tasks: one accept loop; one task per room, which owns its [`Room`] and wakes once per tick;
//! one task per connection, which decodes frames into the room's bounded inbox and writes what the
//! room leaves in its [`Outbox`]. A room never waits on a socket: snapshots are latest-wins and
//! reliable messages have a bounded queue.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tickwire_protocol::limits::CLIENT_MSG_MAX;
use tickwire_protocol::{
    ClientMsg, Hello, Input, PROTOCOL_VERSION, ServerMsg, close, decode_client, encode_server,
};
use tickwire_sim::Map;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until, timeout, timeout_at};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::{debug, info, warn};

use crate::config::{ConfigError, ServerConfig};
use crate::http;
use crate::metrics::Metrics;
use crate::room::{ClientId, JoinError, Room, RoomSettings, TransmitKind};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration (or its map) is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
}

/// State every task of one server shares.
#[derive(Debug)]
struct Shared {
    config: ServerConfig,
    map: Map,
    lobby: Mutex<Lobby>,
    metrics: Arc<Metrics>,
    next_client: AtomicU64,
    /// Flips to true once: every connection then says goodbye and closes.
    shutdown: watch::Receiver<bool>,
}

/// The rooms, and the seats taken in each. Seats are reserved here, under one lock, before a
/// connection joins a room, so two joiners never both take the last seat and a room is never
/// removed while someone is on the way in.
#[derive(Debug, Default)]
struct Lobby {
    rooms: BTreeMap<String, RoomEntry>,
    next_room: u64,
    rooms_created: u64,
}

#[derive(Debug)]
struct RoomEntry {
    inbox: mpsc::Sender<RoomCmd>,
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
enum RoomCmd {
    Join {
        client: ClientId,
        hello: Hello,
        outbox: Arc<Outbox>,
        reply: oneshot::Sender<Result<(), JoinError>>,
    },
    Leave {
        client: ClientId,
    },
    Input {
        client: ClientId,
        input: Input,
    },
    Chat {
        client: ClientId,
        text: String,
    },
    Ping {
        client: ClientId,
        nonce: u32,
    },
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

    /// Moves everything pending into `reliable` / returns the snapshot and any close request.
    fn take(&self, reliable: &mut VecDeque<Bytes>) -> (Option<Bytes>, Option<(u16, &'static str)>) {
        let Ok(mut state) = self.state.lock() else {
            return (None, Some((close::INTERNAL_ERROR, "internal error")));
        };
        std::mem::swap(&mut state.reliable, reliable);
        (state.snapshot.take(), state.close.take())
    }
}

impl Server {
    /// Loads the map and binds the configured address.
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        config.validate()?;
        let map = config.load_map()?;
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
                map,
                lobby: Mutex::new(Lobby::default()),
                metrics: Arc::new(Metrics::default()),
                next_client: AtomicU64::new(1),
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

    /// Serves until `stop` completes, then tells every player the server is shutting down,
    /// waits up to `grace` for their connections to close, and returns.
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
                    Ok((stream, peer)) => {
                        shared.metrics.connections_total.fetch_add(1, Relaxed);
                        tokio::spawn(handle_connection(Arc::clone(&shared), stream, peer));
                    }
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

/// Counts an open connection for as long as it lives.
struct OpenConnection<'a>(&'a Metrics);

impl<'a> OpenConnection<'a> {
    fn new(metrics: &'a Metrics) -> Self {
        metrics.connections_open.fetch_add(1, Relaxed);
        OpenConnection(metrics)
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Relaxed);
    }
}

fn websocket_config() -> WebSocketConfig {
    // tungstenite's defaults (64 MiB messages, 128 KiB buffers, unbounded write buffer) are not
    // for thousands of untrusted peers: small buffers, messages capped at the protocol's limit.
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(512 * 1024)
        .max_message_size(Some(CLIENT_MSG_MAX))
        .max_frame_size(Some(CLIENT_MSG_MAX))
}

async fn handle_connection(shared: Arc<Shared>, mut stream: TcpStream, peer: SocketAddr) {
    let _open = OpenConnection::new(&shared.metrics);
    let _ = stream.set_nodelay(true);
    let deadline = Instant::now() + shared.config.handshake_timeout();

    let (request, rest) = match timeout_at(deadline, http::read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        Ok(Err(error)) => {
            debug!(%peer, %error, "bad request");
            let _ = http::respond(
                &mut stream,
                "400 Bad Request",
                "text/plain",
                error.to_string().as_bytes(),
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
        serve_http(&shared, &mut stream, &request).await;
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
    if let Err(reason) = http::accept_upgrade(&mut stream, &request).await {
        debug!(%peer, %reason, "bad upgrade");
        return;
    }
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

    let client = ClientId(shared.next_client.fetch_add(1, Relaxed));
    let (room_name, inbox) = match reserve_seat(&shared, &hello) {
        Ok(seat) => seat,
        Err((code, reason)) => {
            close_ws(&shared, &mut ws, code, reason).await;
            return;
        }
    };
    let outbox = Arc::new(Outbox::default());
    let (reply, joined) = oneshot::channel();
    let join = RoomCmd::Join {
        client,
        hello: hello.clone(),
        outbox: Arc::clone(&outbox),
        reply,
    };
    let join_result = match inbox.send(join).await {
        Ok(()) => joined.await.unwrap_or(Err(JoinError::RoomFull)),
        Err(_) => Err(JoinError::RoomFull),
    };
    if let Err(error) = join_result {
        release_seat(&shared, &room_name, hello.spectate);
        close_ws(&shared, &mut ws, close::ROOM_FULL, &error.to_string()).await;
        return;
    }
    info!(%peer, room = %room_name, name = %hello.name, spectate = hello.spectate, "joined");
    shared.metrics.clients.fetch_add(1, Relaxed);
    if !hello.spectate {
        shared.metrics.players.fetch_add(1, Relaxed);
    }

    let (code, reason) = session(&shared, &mut ws, client, &inbox, &outbox).await;

    let _ = inbox.send(RoomCmd::Leave { client }).await;
    drop(inbox);
    release_seat(&shared, &room_name, hello.spectate);
    shared.metrics.clients.fetch_sub(1, Relaxed);
    if !hello.spectate {
        shared.metrics.players.fetch_sub(1, Relaxed);
    }
    info!(%peer, room = %room_name, name = %hello.name, code, reason = %reason, "left");
    if code == close::NORMAL {
        shared.metrics.record_disconnect(code);
    } else {
        close_ws(&shared, &mut ws, code, &reason).await;
    }
}

type Frame = Option<Result<Message, WsError>>;

/// Checks that the first frame is a valid Hello of our version.
fn first_hello(shared: &Shared, frame: Frame) -> Result<Hello, (u16, String)> {
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
    match decode_client(&bytes) {
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

/// Runs a joined client until it leaves or must be closed; returns the close code and reason.
async fn session(
    shared: &Shared,
    ws: &mut WebSocketStream<TcpStream>,
    client: ClientId,
    inbox: &mpsc::Sender<RoomCmd>,
    outbox: &Outbox,
) -> (u16, String) {
    let mut shutdown = shared.shutdown.clone();
    let mut reliable = VecDeque::new();
    let metrics = &shared.metrics;
    loop {
        tokio::select! {
            frame = ws.next() => {
                let bytes = match frame {
                    Some(Ok(Message::Binary(bytes))) => bytes,
                    Some(Ok(Message::Text(_))) => {
                        return (close::UNSUPPORTED_DATA, "text frames are not supported; send binary".into());
                    }
                    Some(Ok(Message::Close(_))) | None => return (close::NORMAL, "client left".into()),
                    Some(Ok(_)) => continue, // pings are answered by tungstenite
                    Some(Err(error)) => return ws_error_close(&error),
                };
                metrics.bytes_in.fetch_add(bytes.len() as u64, Relaxed);
                metrics.messages_in.fetch_add(1, Relaxed);
                let cmd = match decode_client(&bytes) {
                    Ok(ClientMsg::Input(input)) => RoomCmd::Input { client, input },
                    Ok(ClientMsg::Chat { text }) => RoomCmd::Chat { client, text },
                    Ok(ClientMsg::Ping { nonce }) => RoomCmd::Ping { client, nonce },
                    Ok(ClientMsg::Hello(_)) => return (close::PROTOCOL_ERROR, "Hello sent twice".into()),
                    Err(error) => return (close::PROTOCOL_ERROR, format!("undecodable message: {error}")),
                };
                // Never wait on a busy room: drop and count instead.
                if let Err(mpsc::error::TrySendError::Full(_)) = inbox.try_send(cmd) {
                    metrics.inbox_dropped.fetch_add(1, Relaxed);
                }
            }
            _ = outbox.notify.notified() => {
                let (snapshot, close_request) = outbox.take(&mut reliable);
                if let Some((code, reason)) = close_request {
                    return (code, reason.into());
                }
                let write = async {
                    for bytes in reliable.drain(..).chain(snapshot) {
                        metrics.bytes_out.fetch_add(bytes.len() as u64, Relaxed);
                        metrics.messages_out.fetch_add(1, Relaxed);
                        ws.feed(Message::Binary(bytes)).await?;
                    }
                    ws.flush().await
                };
                match timeout(shared.config.stall_timeout(), write).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => return (close::NORMAL, format!("write failed: {error}")),
                    Err(_) => return (close::TOO_SLOW, "too slow: stalled past the deadline".into()),
                }
            }
            _ = shutdown.changed() => return (close::GOING_AWAY, "server shutting down".into()),
        }
    }
}

/// Sends an Error message and a close frame with the same code and reason, then waits briefly
/// for the peer's close.
async fn close_ws(shared: &Shared, ws: &mut WebSocketStream<TcpStream>, code: u16, reason: &str) {
    shared.metrics.record_disconnect(code);
    let reason: String = truncate(reason, tickwire_protocol::limits::REASON_MAX).to_string();
    let mut bytes = Vec::new();
    encode_server(
        &ServerMsg::Error {
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

/// Takes a seat in the named room (or the fullest room with one free), creating the room if
/// needed. Returns the room's name and inbox.
fn reserve_seat(
    shared: &Shared,
    hello: &Hello,
) -> Result<(String, mpsc::Sender<RoomCmd>), (u16, &'static str)> {
    let config = &shared.config;
    let Ok(mut lobby) = shared.lobby.lock() else {
        return Err((close::INTERNAL_ERROR, "internal error"));
    };
    let has_seat = |entry: &RoomEntry| {
        if hello.spectate {
            entry.spectators < config.max_spectators_per_room
        } else {
            entry.players < config.max_players_per_room
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
    Ok((name, entry.inbox.clone()))
}

fn create_room(
    shared: &Shared,
    lobby: &mut Lobby,
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
        max_players: config.max_players_per_room,
        max_spectators: config.max_spectators_per_room,
        npcs: config.npcs,
        view_radius: config.view_radius,
        history: config.history,
        seed: config.seed.wrapping_add(lobby.rooms_created),
    };
    lobby.rooms_created += 1;
    let room = Room::new(
        name.clone(),
        settings,
        shared.map.clone(),
        config.rules.clone(),
    );
    let (inbox, commands) = mpsc::channel(config.room_inbox);
    let stats = Arc::new(RoomStats::default());
    tokio::spawn(run_room(
        room,
        commands,
        Arc::clone(&stats),
        Arc::clone(&shared.metrics),
        config.reliable_queue_max,
    ));
    shared.metrics.rooms.fetch_add(1, Relaxed);
    info!(room = %name, "room created");
    lobby.rooms.insert(
        name.clone(),
        RoomEntry {
            inbox,
            players: 0,
            spectators: 0,
            stats,
        },
    );
    Ok(name)
}

/// Frees a seat; the last one out removes the room (its task ends when its inbox closes).
fn release_seat(shared: &Shared, name: &str, spectate: bool) {
    let Ok(mut lobby) = shared.lobby.lock() else {
        return;
    };
    let Some(entry) = lobby.rooms.get_mut(name) else {
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
async fn run_room(
    mut room: Room,
    mut commands: mpsc::Receiver<RoomCmd>,
    stats: Arc<RoomStats>,
    metrics: Arc<Metrics>,
    reliable_max: usize,
) {
    let tick_length = Duration::from_secs_f64(1.0 / room.settings().tick_rate as f64);
    let mut outboxes: HashMap<ClientId, Arc<Outbox>> = HashMap::new();
    let mut next_tick = Instant::now() + tick_length;
    loop {
        // Commands are taken once per tick, not as they come: one wake-up per tick per room.
        loop {
            match commands.try_recv() {
                Ok(command) => handle_command(&mut room, &mut outboxes, command),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    debug!(room = room.name(), "room task ends");
                    return;
                }
            }
        }
        let started = Instant::now();
        room.tick();
        while let Some(transmit) = room.poll_transmit() {
            if let Some(outbox) = outboxes.get(&transmit.to)
                && outbox.push(transmit.kind, transmit.bytes, reliable_max)
            {
                metrics.snapshots_replaced.fetch_add(1, Relaxed);
            }
        }
        let elapsed = started.elapsed();
        metrics.record_tick(elapsed.as_secs_f64());
        stats.record(room.tick_number(), elapsed.as_nanos() as u64);

        // Fixed schedule; if we fell far behind (machine overloaded), restart the schedule
        // from now instead of running a burst of catch-up ticks.
        next_tick += tick_length;
        let now = Instant::now();
        if now > next_tick + tick_length * 4 {
            metrics.tick_overruns.fetch_add(1, Relaxed);
            next_tick = now + tick_length;
        }
        sleep_until(next_tick).await;
    }
}

fn handle_command(
    room: &mut Room,
    outboxes: &mut HashMap<ClientId, Arc<Outbox>>,
    command: RoomCmd,
) {
    match command {
        RoomCmd::Join {
            client,
            hello,
            outbox,
            reply,
        } => {
            let result = room.handle_join(client, &hello).map(|_| ());
            if result.is_ok() {
                outboxes.insert(client, outbox);
                // The Welcome is queued in the room: deliver it now, before the next tick.
                while let Some(transmit) = room.poll_transmit() {
                    if let Some(outbox) = outboxes.get(&transmit.to) {
                        outbox.push(transmit.kind, transmit.bytes, usize::MAX);
                    }
                }
            }
            let _ = reply.send(result);
        }
        RoomCmd::Leave { client } => {
            room.handle_leave(client);
            if let Some(outbox) = outboxes.remove(&client) {
                outbox.close(close::NORMAL, "left");
            }
        }
        RoomCmd::Input { client, input } => room.handle_input(client, &input),
        RoomCmd::Chat { client, text } => room.handle_chat(client, &text),
        RoomCmd::Ping { client, nonce } => room.handle_ping(client, nonce),
    }
}

/// The plain HTTP routes: health, metrics and the rooms listing.
async fn serve_http(shared: &Shared, stream: &mut TcpStream, request: &http::Request) {
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
        _ => http::respond(stream, "404 Not Found", "text/plain", b"not found\n").await,
    };
    if let Err(error) = result {
        debug!(%error, "http response failed");
    }
}

fn rooms_json(shared: &Shared) -> String {
    let Ok(lobby) = shared.lobby.lock() else {
        return "[]".into();
    };
    let rooms: Vec<serde_json::Value> = lobby
        .rooms
        .iter()
        .map(|(name, entry)| {
            serde_json::json!({
                "id": name,
                "players": entry.players,
                "spectators": entry.spectators,
                "max_players": shared.config.max_players_per_room,
                "tick": entry.stats.tick.load(Relaxed),
                "tick_rate": shared.config.tick_rate,
                "tick_p99_ms": entry.stats.tick_p99_ms(),
            })
        })
        .collect();
    serde_json::Value::Array(rooms).to_string()
}
