//! A room's task: the room and every one of its clients' sockets, on one task, woken once per
//! tick by its own timer.
//!
//! Each tick, in order: the commands that arrived (joins and resumes, each bringing its socket);
//! one read per client, whose messages go straight into the room (inputs, chat, pings); the
//! room's tick; the room's output into each client's connection (latest-wins snapshots, a
//! bounded reliable queue); deadlines (heartbeat, idle, stall); one write per client; and the
//! goodbyes in progress. That is the kernel floor's shape (one write and one read per client per
//! tick) plus the room's own work: no task per connection, no channel per message, no timer per
//! client, no cross-thread wake-up per message. Sockets are non-blocking and outside tokio's
//! reactor: nothing wakes this task but its tick.
//!
//! A panic in the room ends only this room: its clients get 1011, its seats and sessions leave
//! the lobby with it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tickwire_protocol::json::{self, Format};
use tickwire_protocol::{ClientMsg, Hello, ServerMsg, decode_client, encode_server};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until};
use tracing::{debug, error, info, warn};

use super::Shared;
use super::admission::ConnectionSlot;
use super::handshake::AuthGuard;
use super::lobby::{RoomStats, lock, release_seat_locked};
use super::recorder::{self, Recording};
use crate::close_reason::CloseReason;
use crate::connection::{Connection, Counts, Limits};
use crate::game::Game;
use crate::replay::{Log, check_hashes};
use crate::room::{
    ClientId, Cmd, Departed, JoinError, Room, SessionToken, SnapshotStats, TransmitKind,
};
use crate::tls::Socket;

/// The game's wire types.
type Wire<G> = <G as Game>::Wire;

/// What the lobby and the handshakes tell a room's task.
#[derive(Debug)]
pub(crate) enum RoomCmd<G: Game> {
    /// A new player or spectator, with its connection.
    Join {
        client: ClientId,
        hello: Hello,
        token: SessionToken,
        handoff: Handoff<G>,
        reply: oneshot::Sender<Result<(), JoinError>>,
    },
    /// A connection taking a held (or live) session back.
    Resume {
        client: ClientId,
        token: SessionToken,
        handoff: Handoff<G>,
        reply: oneshot::Sender<Result<(), JoinError>>,
    },
    /// Close every session with this reason (the room moved to another node).
    Close(CloseReason),
    /// Test-only fault injection: panic inside the room's task.
    #[cfg(feature = "fault-injection")]
    Panic,
    /// Test-only fault injection: block the room's task this long (an overloaded tick).
    #[cfg(feature = "fault-injection")]
    Stall(Duration),
}

impl<G: Game> RoomCmd<G> {
    /// The connection a command carries, when it was never delivered.
    pub(crate) fn into_handoff(self) -> Option<Handoff<G>> {
        match self {
            RoomCmd::Join { handoff, .. } | RoomCmd::Resume { handoff, .. } => Some(handoff),
            _ => None,
        }
    }
}

/// A connection leaving the handshake for its room: the socket (non-blocking, out of tokio's
/// reactor), the bytes the client sent after its Hello, and what the connection holds for as
/// long as it lives (its admission slot, its session token).
#[derive(Debug)]
pub(crate) struct Handoff<G: Game> {
    pub(crate) socket: Socket,
    pub(crate) initial: Vec<u8>,
    /// Binary or JSON, as the handshake found.
    pub(crate) format: Format,
    pub(crate) peer: SocketAddr,
    pub(crate) name: String,
    pub(crate) slot: ConnectionSlot<G>,
    pub(crate) auth: Option<AuthGuard<G>>,
}

/// One client of the room.
#[derive(Debug)]
struct Client<G: Game> {
    id: ClientId,
    socket: Socket,
    state: Connection,
    peer: SocketAddr,
    name: String,
    _slot: ConnectionSlot<G>,
    _auth: Option<AuthGuard<G>>,
}

/// What a room's task keeps of its match beyond the room: when it began, and its log.
#[derive(Debug)]
pub(crate) struct Match<G: Game> {
    pub(crate) started_unix_ms: u64,
    pub(crate) recording: Option<Recording>,
    /// A replay room's log: its steps drive the room instead of the clients' commands.
    pub(crate) replay: Option<Log<Cmd<G>>>,
}

/// A replay room's log, and whether its replay is over (and why).
#[derive(Debug)]
struct LiveReplay<G: Game> {
    log: Log<Cmd<G>>,
    over: Option<String>,
}

/// A room's task.
pub(crate) async fn run_room<G: Game>(
    shared: Arc<Shared<G>>,
    room: Room<G>,
    room_id: u64,
    mut commands: mpsc::Receiver<RoomCmd<G>>,
    stats: Arc<RoomStats>,
    mut game_match: Match<G>,
) {
    // Counted down however this task ends (a panic outside the tick's catch_unwind too).
    struct Running<'a>(&'a AtomicU64);
    impl Drop for Running<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Relaxed);
        }
    }
    let _running = Running(&shared.room_tasks);
    let end = run_room_ticks(
        &shared,
        room,
        room_id,
        &mut commands,
        stats,
        &mut game_match,
    )
    .await;
    if let Some((room, reason)) = end {
        end_match(&shared, room, game_match, reason).await;
    }
}

/// Ends a room's match: its log gets its end record and closes, and its results are stored
/// (waited for: a graceful stop waits for every room task).
async fn end_match<G: Game>(
    shared: &Arc<Shared<G>>,
    mut room: Room<G>,
    game_match: Match<G>,
    reason: &'static str,
) {
    let ticks = room.tick_number();
    let replay = game_match
        .recording
        .as_ref()
        .map(|recording| recording.file_name.clone());
    // The log first (its end must not wait for anything that could fail); the writer's queue
    // may be full, so this waits for room off the runtime's threads.
    if let (Some(_), Some(recording)) = (&shared.recorder, game_match.recording) {
        let journal = room.stop_recording();
        let shared = Arc::clone(shared);
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(recorder) = &shared.recorder {
                match journal {
                    Some(journal) => recorder.end(recording, journal, reason),
                    None => recorder.end_lost(recording),
                }
            }
        })
        .await;
    }
    // A crashed game's stats may panic again: then its results are lost, nothing else.
    let Ok(results) = std::panic::catch_unwind(AssertUnwindSafe(|| room.results())) else {
        warn!(room = %room.name(), "the game panicked reading its results; not stored");
        return;
    };
    let Some(store) = shared.match_store.get() else {
        return;
    };
    if results.is_empty() {
        return;
    }
    let result = crate::results::MatchResult {
        game: <G::Wire as tickwire_protocol::Schema>::NAME.to_string(),
        room: room.name().to_string(),
        started_unix_ms: game_match.started_unix_ms as i64,
        ended_unix_ms: super::now_ms() as i64,
        ticks,
        end: reason.to_string(),
        replay,
        players: results,
    };
    let store = Arc::clone(store);
    let stored = tokio::task::spawn_blocking(move || store.record(&result)).await;
    match stored {
        Ok(Ok(id)) => {
            shared.metrics.matches_stored.fetch_add(1, Relaxed);
            debug!(id, "match results stored");
        }
        Ok(Err(why)) => {
            shared.metrics.match_store_errors.fetch_add(1, Relaxed);
            warn!(%why, "match results not stored");
        }
        Err(_) => {
            shared.metrics.match_store_errors.fetch_add(1, Relaxed);
        }
    }
}

/// Runs a room's ticks until it is done; returns the room and why its match ended.
async fn run_room_ticks<G: Game>(
    shared: &Arc<Shared<G>>,
    room: Room<G>,
    room_id: u64,
    commands: &mut mpsc::Receiver<RoomCmd<G>>,
    stats: Arc<RoomStats>,
    game_match: &mut Match<G>,
) -> Option<(Room<G>, &'static str)> {
    let name = room.name().to_string();
    // A replay plays at its speed.
    let speed = shared.replay.get().map_or(1.0, |replay| replay.speed);
    let tick_length = Duration::from_secs_f64(1.0 / (room.settings().tick_rate as f64 * speed));
    let config = &shared.config;
    let limits = Limits {
        msg_rate: config.msg_rate,
        msg_burst: config.msg_burst,
        ping_interval: config.ping_interval(),
        idle_timeout: config.idle_timeout(),
        stall_timeout: config.stall_timeout(),
        reliable_max: config.reliable_queue_max,
    };
    let mut driver = RoomDriver {
        shared: Arc::clone(shared),
        room,
        room_id,
        name: name.clone(),
        clients: BTreeMap::new(),
        closing: Vec::new(),
        limits,
        ended: Vec::new(),
        unsent: Vec::new(),
        snapshot_stats: SnapshotStats::default(),
        message: Vec::new(),
        inbox_closed: false,
        shutting_down: false,
        ended_by: None,
        replay: game_match
            .replay
            .take()
            .map(|log| LiveReplay { log, over: None }),
    };
    let mut next_tick = Instant::now() + tick_length;
    loop {
        let step = std::panic::catch_unwind(AssertUnwindSafe(|| driver.step(commands, &stats)));
        match step {
            Ok(true) => {
                driver.hand_over_records(&mut game_match.recording);
            }
            Ok(false) => {
                debug!(room = %name, "room task ends");
                // The lobby forgets a room when its last seat is freed.
                let reason = driver.ended_by.unwrap_or("shutdown");
                return Some((driver.room, reason));
            }
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|text| text.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                error!(room = %name, panic = %message, "room crashed; closing it");
                driver.crash();
                // Finish the goodbyes, then end.
                while !driver.closing.is_empty() {
                    tokio::time::sleep(tick_length).await;
                    driver.poll_closing(Instant::now().into_std());
                }
                return Some((driver.room, "crashed"));
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

/// A room and its clients' connections.
struct RoomDriver<G: Game> {
    shared: Arc<Shared<G>>,
    room: Room<G>,
    room_id: u64,
    name: String,
    clients: BTreeMap<ClientId, Client<G>>,
    /// Connections saying goodbye: no longer in the room, writing their close and reading what
    /// the peer still sends, for a bounded time.
    closing: Vec<Client<G>>,
    limits: Limits,
    /// Sessions to end after the current pass, with why.
    ended: Vec<(ClientId, CloseReason)>,
    /// Snapshots replaced before they were sent, to tell the room.
    unsent: Vec<(ClientId, u32)>,
    /// The room's snapshot counters as last added to the server's metrics.
    snapshot_stats: SnapshotStats,
    /// Reused for encoding Error messages.
    message: Vec<u8>,
    /// The lobby forgot this room: it ends once its connections are gone.
    inbox_closed: bool,
    shutting_down: bool,
    /// Why the match ended, as first seen: `empty` (the lobby forgot the room when its last
    /// seat was freed) or `shutdown`.
    ended_by: Option<&'static str>,
    /// In a replay room: the log that steps it.
    replay: Option<LiveReplay<G>>,
}

impl<G: Game> RoomDriver<G> {
    /// Every [`recorder::FLUSH_TICKS`] ticks, hands the match log's new records to the writer;
    /// when it cannot take them, the room stops recording (the log ends there).
    fn hand_over_records(&mut self, recording: &mut Option<Recording>) {
        let (Some(recorder), Some(recording)) = (&self.shared.recorder, recording.as_mut()) else {
            return;
        };
        if !self
            .room
            .tick_number()
            .is_multiple_of(recorder::FLUSH_TICKS)
        {
            return;
        }
        let Some(journal) = self.room.journal_mut() else {
            return;
        };
        if journal.pending() > 0 && !recorder.write(recording, journal) {
            self.room.stop_recording();
            warn!(room = %self.name, "the match log writer is behind; this match's log ends here");
        }
    }

    /// The room's tick: the clients' commands, or in a replay room the log's next step (its
    /// joins and leaves, its commands, its hashes checked). When the log ends or the replay
    /// diverges, every spectator is told why and the room stops stepping.
    fn tick_room(&mut self, now: std::time::Instant) {
        let Some(replay) = &mut self.replay else {
            self.room.tick();
            return;
        };
        // Over, or nobody watching yet: the match waits (the first spectator sees it from its
        // first tick).
        if let Some(over) = &replay.over {
            // A spectator that joined as the replay ended hears it at once.
            let late: Vec<ClientId> = self.clients.keys().copied().collect();
            if !late.is_empty() {
                let reason = CloseReason::ReplayOver(over.clone());
                self.ended
                    .extend(late.into_iter().map(|id| (id, reason.clone())));
                self.end_sessions(now);
            }
            return;
        }
        if self.clients.is_empty() {
            return;
        }
        let room = &mut self.room;
        let outcome = replay.log.next_step().and_then(|step| {
            let Some(step) = step else {
                return Ok(Some(
                    "the log ends here (the recording stopped early)".to_string(),
                ));
            };
            for change in &step.changes {
                room.replay_change(change)?;
            }
            if let Some(inputs) = &step.inputs {
                room.tick_replayed(inputs);
                check_hashes(&step, room.tick_number(), room.game())?;
            }
            Ok(step
                .end
                .map(|end| format!("the match ended ({end}) at tick {}", room.tick_number())))
        });
        let over = match outcome {
            Ok(None) => return,
            Ok(Some(why)) => why,
            Err(error) => {
                warn!(room = %self.name, %error, "the replay stopped");
                error.to_string()
            }
        };
        info!(room = %self.name, %over, "replay over");
        replay.over = Some(over.clone());
        let everyone: Vec<ClientId> = self.clients.keys().copied().collect();
        self.ended.extend(
            everyone
                .into_iter()
                .map(|id| (id, CloseReason::ReplayOver(over.clone()))),
        );
        self.end_sessions(now);
    }

    /// One tick. Returns false when the room is done (the lobby forgot it, or the server is
    /// shutting down, and every connection has said goodbye).
    fn step(&mut self, commands: &mut mpsc::Receiver<RoomCmd<G>>, stats: &RoomStats) -> bool {
        let started = Instant::now();
        let now = started.into_std();
        loop {
            match commands.try_recv() {
                Ok(command) => self.handle(command, now),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.inbox_closed = true;
                    self.ended_by.get_or_insert("empty");
                    break;
                }
            }
        }
        if !self.shutting_down && *self.shared.shutdown.borrow() {
            self.shutting_down = true;
            self.ended_by.get_or_insert("shutdown");
            self.room.end_match();
            let everyone: Vec<ClientId> = self.clients.keys().copied().collect();
            // A cluster node going away sends its players to matchmake again.
            let reason = if self.shared.cluster.get().is_some() {
                CloseReason::ServiceRestart("the node is shutting down")
            } else {
                CloseReason::ShuttingDown
            };
            self.ended
                .extend(everyone.into_iter().map(|id| (id, reason.clone())));
            self.end_sessions(now);
        }

        self.read(now);
        self.tick_room(now);
        self.publish_snapshot_stats();
        self.route(now);
        self.write(now);
        self.poll_closing(now);
        self.release_departed();

        let elapsed = started.elapsed();
        self.shared.metrics.record_tick(elapsed.as_secs_f64());
        stats.record(self.room.tick_number(), elapsed.as_nanos() as u64);
        let finished = self.clients.is_empty() && self.closing.is_empty();
        !(finished && (self.inbox_closed || self.shutting_down))
    }

    fn handle(&mut self, command: RoomCmd<G>, now: std::time::Instant) {
        match command {
            RoomCmd::Join {
                client,
                hello,
                token,
                handoff,
                reply,
            } => {
                let result = self
                    .room
                    .handle_join_as(client, &hello, token, handoff.format)
                    .map(|_| ());
                match &result {
                    Ok(()) => {
                        if !hello.spectate {
                            self.shared.metrics.players.fetch_add(1, Relaxed);
                        }
                        self.admit(client, handoff, hello.spectate, now);
                    }
                    Err(error) => self.refuse(
                        client,
                        handoff,
                        &CloseReason::RoomFull(error.to_string()),
                        now,
                    ),
                }
                let _ = reply.send(result);
            }
            RoomCmd::Resume {
                client,
                token,
                handoff,
                reply,
            } => {
                let was_detached = self
                    .room
                    .player_by_token(&token)
                    .is_some_and(|old| self.room.is_detached(old));
                match self.room.handle_resume_as(client, &token, handoff.format) {
                    Ok(joined) => {
                        if let Some(old) = joined.replaced
                            && let Some(mut old) = self.clients.remove(&old)
                        {
                            // The player now belongs to the new connection: only the old
                            // connection ends.
                            self.goodbye(&mut old, &CloseReason::SessionReplaced, now);
                            self.closing.push(old);
                        }
                        if was_detached {
                            self.shared.metrics.players_detached.fetch_sub(1, Relaxed);
                        }
                        self.admit(client, handoff, false, now);
                        let _ = reply.send(Ok(()));
                    }
                    Err(error) => {
                        self.refuse(
                            client,
                            handoff,
                            &CloseReason::ResumeFailed(error.to_string()),
                            now,
                        );
                        let _ = reply.send(Err(error));
                    }
                }
            }
            RoomCmd::Close(reason) => {
                self.room.end_match();
                let everyone: Vec<ClientId> = self.clients.keys().copied().collect();
                self.ended
                    .extend(everyone.into_iter().map(|id| (id, reason.clone())));
                self.end_sessions(now);
            }
            #[cfg(feature = "fault-injection")]
            RoomCmd::Panic => panic!("injected fault"),
            #[cfg(feature = "fault-injection")]
            RoomCmd::Stall(duration) => std::thread::sleep(duration),
        }
    }

    /// Takes a joined connection into the room's clients.
    fn admit(
        &mut self,
        id: ClientId,
        handoff: Handoff<G>,
        spectator: bool,
        now: std::time::Instant,
    ) {
        info!(peer = %handoff.peer, room = %self.name, name = %handoff.name, spectate = spectator, "joined");
        self.shared.metrics.clients.fetch_add(1, Relaxed);
        self.clients.insert(
            id,
            Client {
                id,
                state: Connection::new(self.limits, handoff.format, &handoff.initial, now),
                socket: handoff.socket,
                peer: handoff.peer,
                name: handoff.name,
                _slot: handoff.slot,
                _auth: handoff.auth,
            },
        );
    }

    /// Says goodbye to a connection the room did not take.
    fn refuse(
        &mut self,
        id: ClientId,
        handoff: Handoff<G>,
        reason: &CloseReason,
        now: std::time::Instant,
    ) {
        let mut client = Client {
            id,
            state: Connection::new(self.limits, handoff.format, &[], now),
            socket: handoff.socket,
            peer: handoff.peer,
            name: handoff.name,
            _slot: handoff.slot,
            _auth: handoff.auth,
        };
        self.shared.metrics.record_disconnect(reason.code());
        self.goodbye(&mut client, reason, now);
        self.closing.push(client);
    }

    /// One read per client; every whole message goes into the room.
    fn read(&mut self, now: std::time::Instant) {
        let RoomDriver {
            room,
            clients,
            ended,
            ..
        } = self;
        for client in clients.values_mut() {
            if let Err(reason) = client.state.fill_from(&mut client.socket, now) {
                ended.push((client.id, reason));
                continue;
            }
            let format = client.state.format();
            loop {
                let message = match client.state.poll_message(now) {
                    Ok(Some(message)) => message,
                    Ok(None) => break,
                    Err(reason) => {
                        ended.push((client.id, reason));
                        break;
                    }
                };
                let decoded = match format {
                    Format::Binary => decode_client::<Wire<G>>(message),
                    Format::Json => json::decode_client::<Wire<G>>(message),
                };
                match decoded {
                    Ok(ClientMsg::Input(input)) => room.handle_input(client.id, &input),
                    Ok(ClientMsg::Chat { text }) => room.handle_chat(client.id, &text),
                    Ok(ClientMsg::Ping { nonce }) => room.handle_ping(client.id, nonce),
                    Ok(ClientMsg::Hello(_)) => {
                        ended.push((client.id, CloseReason::Protocol("Hello sent twice".into())));
                        break;
                    }
                    Err(error) => {
                        ended.push((
                            client.id,
                            CloseReason::Protocol(format!("undecodable message: {error}")),
                        ));
                        break;
                    }
                }
            }
        }
        // What the room answered to the messages read (Pongs, chat) goes out before the
        // goodbye of a client that broke a rule after them: route, then end the sessions.
        self.route(now);
    }

    /// The room's output into each client's connection; clients the room dropped as too slow
    /// and seats it freed.
    fn route(&mut self, now: std::time::Instant) {
        let RoomDriver {
            room,
            clients,
            ended,
            unsent,
            ..
        } = self;
        room.drain_transmits(|to, kind, bytes| {
            let Some(client) = clients.get_mut(&to) else {
                return;
            };
            match kind {
                TransmitKind::Snapshot { tick } => {
                    if let Some(replaced) = client.state.queue_snapshot(bytes, tick) {
                        unsent.push((to, replaced));
                    }
                }
                TransmitKind::Reliable => {
                    if let Err(reason) = client.state.queue_reliable(bytes) {
                        ended.push((to, reason));
                    }
                }
            }
        });
        for (client, tick) in self.unsent.drain(..) {
            self.room.handle_snapshot_unsent(client, tick);
        }
        while let Some(id) = self.room.poll_too_slow() {
            self.ended.push((id, CloseReason::StoppedAcknowledging));
        }
        self.end_sessions(now);
    }

    /// Deadlines, then one write per client.
    fn write(&mut self, now: std::time::Instant) {
        let mut counts = Counts::default();
        for client in self.clients.values_mut() {
            // TLS records still held from earlier writes go first.
            let _ = client.socket.flush_pending();
            let result = client
                .state
                .poll_timeout(now)
                .and_then(|()| client.state.flush_to(&mut client.socket, now));
            if let Err(reason) = result {
                self.ended.push((client.id, reason));
            }
            add(&mut counts, client.state.take_counts());
        }
        self.publish(counts);
        self.end_sessions(now);
    }

    /// Ends the sessions listed in `ended`: the room holds or removes the player, and the
    /// connection says goodbye (or is dropped when it cannot).
    fn end_sessions(&mut self, now: std::time::Instant) {
        let ended = std::mem::take(&mut self.ended);
        for (id, reason) in &ended {
            let Some(mut client) = self.clients.remove(id) else {
                continue;
            };
            if reason.holds_player() {
                self.room.handle_disconnect(*id);
                if self.room.is_detached(*id) {
                    self.shared.metrics.players_detached.fetch_add(1, Relaxed);
                }
            } else {
                self.room.handle_leave(*id);
            }
            self.shared.metrics.clients.fetch_sub(1, Relaxed);
            self.shared.metrics.record_disconnect(reason.code());
            info!(peer = %client.peer, room = %self.name, name = %client.name, code = reason.code(), reason = %reason.text(), "left");
            self.publish(client.state.take_counts());
            self.goodbye(&mut client, reason, now);
            if client.state.is_closing() {
                self.closing.push(client);
            }
        }
        self.ended = ended;
        self.ended.clear();
    }

    /// Queues the goodbye (an Error message and a close frame) when the connection can still
    /// take one, and starts its lingering close.
    fn goodbye(&mut self, client: &mut Client<G>, reason: &CloseReason, now: std::time::Instant) {
        if !reason.says_goodbye() && *reason != CloseReason::ClientLeft {
            return;
        }
        self.message.clear();
        let error = ServerMsg::<Wire<G>>::Error {
            code: reason.code(),
            reason: reason.text().into_owned(),
        };
        match client.state.format() {
            Format::Binary => encode_server(&error, &mut self.message),
            Format::Json => json::encode_server(&error, &mut self.message),
        }
        client.state.close(reason, Some(&self.message), now);
    }

    /// The goodbyes in progress: write what is queued, half-close, read and discard; drop the
    /// socket once the peer closed or the linger is over.
    fn poll_closing(&mut self, now: std::time::Instant) {
        let mut counts = Counts::default();
        self.closing.retain_mut(|client| {
            let _ = client.state.fill_from(&mut client.socket, now);
            let _ = client.socket.flush_pending();
            if client.state.flush_to(&mut client.socket, now).is_err() {
                return false;
            }
            let held = client.socket.holds_unwritten();
            let socket = &mut client.socket;
            let done = client
                .state
                .poll_close(now, held, || socket.shutdown_write());
            add(&mut counts, client.state.take_counts());
            !done
        });
        self.publish(counts);
    }

    /// Seats the room freed for good go back to the lobby.
    fn release_departed(&mut self) {
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
        let mut lobby = lock(&self.shared.lobby);
        if let Some(token) = departed.token {
            lobby.sessions.remove(&token);
        }
        release_seat_locked(
            &self.shared,
            &mut lobby,
            &self.name,
            self.room_id,
            departed.spectator,
        );
    }

    /// After a panic: tell every client, forget the room and its sessions.
    fn crash(&mut self) {
        let shared = Arc::clone(&self.shared);
        let metrics = &shared.metrics;
        metrics.room_panics.fetch_add(1, Relaxed);
        let now = Instant::now().into_std();
        let clients = std::mem::take(&mut self.clients);
        for (_, mut client) in clients {
            metrics.clients.fetch_sub(1, Relaxed);
            metrics.record_disconnect(CloseReason::RoomCrashed.code());
            self.goodbye(&mut client, &CloseReason::RoomCrashed, now);
            self.closing.push(client);
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
        let mut lobby = lock(&shared.lobby);
        let name = self.name.clone();
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

    /// Adds what the room's snapshot counters gained since the last tick to the metrics.
    fn publish_snapshot_stats(&mut self) {
        let now = self.room.snapshot_stats();
        let last = std::mem::replace(&mut self.snapshot_stats, now);
        let metrics = &self.shared.metrics;
        metrics
            .snapshots_sent
            .fetch_add(now.sent - last.sent, Relaxed);
        metrics
            .snapshots_full
            .fetch_add(now.full - last.full, Relaxed);
        metrics
            .snapshots_paced
            .fetch_add(now.paced - last.paced, Relaxed);
        metrics
            .snapshots_over_budget
            .fetch_add(now.over_budget - last.over_budget, Relaxed);
        metrics
            .events_skipped
            .fetch_add(now.events_skipped - last.events_skipped, Relaxed);
    }

    /// Adds one pass's counters to the server's metrics (a few atomic adds per room per tick,
    /// not per message).
    fn publish(&self, counts: Counts) {
        let metrics = &self.shared.metrics;
        if counts == Counts::default() {
            return;
        }
        metrics.bytes_in.fetch_add(counts.bytes_in, Relaxed);
        metrics.messages_in.fetch_add(counts.messages_in, Relaxed);
        metrics.bytes_out.fetch_add(counts.bytes_out, Relaxed);
        metrics.messages_out.fetch_add(counts.messages_out, Relaxed);
        metrics
            .snapshots_replaced
            .fetch_add(counts.snapshots_replaced, Relaxed);
        metrics.rate_limited.fetch_add(counts.rate_limited, Relaxed);
    }
}

fn add(total: &mut Counts, more: Counts) {
    total.bytes_in += more.bytes_in;
    total.messages_in += more.messages_in;
    total.bytes_out += more.bytes_out;
    total.messages_out += more.messages_out;
    total.snapshots_replaced += more.snapshots_replaced;
    total.rate_limited += more.rate_limited;
}

impl<G: Game> std::fmt::Debug for RoomDriver<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomDriver")
            .field("room", &self.name)
            .field("clients", &self.clients.len())
            .field("closing", &self.closing.len())
            .finish()
    }
}
