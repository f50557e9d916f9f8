//! The room core, sans-IO: one game, its players and spectators, their input queues and their
//! snapshot baselines. No sockets, no clock: the driver calls it. Generic over the [`Game`]; it
//! never looks inside the game's types.
//!
//! Call order: `handle_*` for whatever arrived (joins, leaves, inputs, chat, pings) at any time;
//! [`Room::tick`] once per fixed step; then drain what it produced with
//! [`Room::drain_transmits`] (each message's bytes borrowed from the room's output buffer, no
//! copy) or [`Room::poll_transmit`] (one owned [`Transmit`] at a time) and hand each to its
//! client's writer. A room never waits for anyone: what it produces is bytes in a queue, and the
//! driver decides how they travel.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use tickwire_protocol::bits::BitWriter;
use tickwire_protocol::json::{self, Format, JsonSnapshot};
use tickwire_protocol::limits::{
    BASELINE_AGE_MAX, CLIENT_BASELINES, EVENTS_MAX, JSON_SERVER_MSG_MAX,
};
use tickwire_protocol::{
    ChatBroadcast, Command, Events, Hello, Input, PROTOCOL_VERSION, Record, Schema, ServerMsg,
    Snapshot, StatsRow, Welcome, delta, encode_server,
};
use tickwire_sim::{NetId, PlayerId, TickInput};

use crate::game::{Game, Targeted, View, Viewer};
use crate::journal::Journal;
use crate::pace::{Decision, Pace, PaceSettings};

/// A connection's identity inside a room (the driver picks it; unique per process).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

/// A secret that lets a player take its seat back after a dropped connection. The driver
/// makes it from OS randomness; the room only stores and compares it.
pub type SessionToken = [u8; 16];

/// How a room runs.
#[derive(Clone, Debug)]
pub struct RoomSettings {
    /// Simulation ticks per second.
    pub tick_rate: u32,
    /// A snapshot every this many ticks.
    pub snapshot_interval: u32,
    /// Player seats.
    pub max_players: usize,
    /// Spectator seats.
    pub max_spectators: usize,
    /// Most snapshot frames kept as delta baselines. A frame is kept only while some client
    /// may still acknowledge it, so this bounds what slow clients can hold, not what the room
    /// usually keeps.
    pub history: u32,
    /// Ticks a dropped player's entity and score are kept, waiting for it to resume.
    pub resume_grace_ticks: u32,
    /// Ticks a client may go without acknowledging a snapshot before it is dropped as too slow
    /// (it stopped reading, or never acknowledges). 0 disables the check.
    pub ack_timeout_ticks: u32,
    /// Each client's snapshot byte budget per second (0: unlimited); see [`crate::pace`].
    pub client_bytes_per_s: u32,
    /// Slow a client's snapshot rate down while its acknowledgements come back late (see
    /// [`crate::pace`]); off, every client gets every snapshot tick's snapshot (within the
    /// byte budget).
    pub pace_by_acks: bool,
    /// A JSON-mode client gets a whole-view snapshot every this many ticks (a multiple of
    /// `snapshot_interval`; 0 is taken as 1), within the same byte budget.
    pub json_snapshot_interval: u32,
}

impl Default for RoomSettings {
    fn default() -> Self {
        RoomSettings {
            tick_rate: 30,
            snapshot_interval: 1,
            max_players: 32,
            max_spectators: 8,
            history: 128,
            resume_grace_ticks: 15 * 30,
            ack_timeout_ticks: 10 * 30,
            client_bytes_per_s: 128 * 1024,
            pace_by_acks: true,
            json_snapshot_interval: 3,
        }
    }
}

/// Which queue a [`Transmit`] belongs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransmitKind {
    /// The snapshot of `tick`: a newer one replaces an unsent older one (then tell the room
    /// with [`Room::handle_snapshot_unsent`]).
    Snapshot {
        /// The tick it shows.
        tick: u32,
    },
    /// A reliable message: delivered in order, never dropped.
    Reliable,
}

/// One encoded message for one client.
#[derive(Clone, Debug)]
pub struct Transmit {
    /// Recipient.
    pub to: ClientId,
    /// Snapshot (latest wins) or reliable (in order).
    pub kind: TransmitKind,
    /// One whole encoded [`ServerMsg`], ready to be one binary frame.
    pub bytes: Bytes,
}

/// Why a join was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// Every player seat is taken.
    #[error("room is full")]
    RoomFull,
    /// Every spectator seat is taken.
    #[error("room has no free spectator seat")]
    SpectatorsFull,
    /// This client is already in the room.
    #[error("already joined")]
    AlreadyJoined,
    /// The resume token names no player held by this room (never issued, or expired).
    #[error("no session to resume: it expired or never existed")]
    UnknownSession,
}

/// What a successful join gave the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Joined {
    /// The player (None for a spectator).
    pub player: Option<PlayerId>,
    /// The player's entity (None for a spectator).
    pub entity: Option<NetId>,
    /// On a resume, the client whose connection held the session until now (the driver closes
    /// it as replaced).
    pub replaced: Option<ClientId>,
}

/// Someone who left the room for good: their seat can be given to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Departed {
    /// Whether it was a spectator seat.
    pub spectator: bool,
    /// The session token that is no longer valid (players only).
    pub token: Option<SessionToken>,
    /// The player was held for a resume when it was removed (its grace window ran out).
    pub was_detached: bool,
}

/// Counters a room keeps about the inputs it was sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InputStats {
    /// Inputs applied.
    pub applied: u64,
    /// Inputs ignored as duplicates or already applied.
    pub duplicates: u64,
    /// Inputs dropped: too far ahead, or the queue was full.
    pub dropped: u64,
    /// Ticks where a player had no new input and its last one was repeated.
    pub repeated: u64,
    /// Chat lines dropped by the chat limits.
    pub chat_dropped: u64,
}

/// Counters a room keeps about the snapshots it decided to send (see [`crate::pace`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnapshotStats {
    /// Snapshots queued.
    pub sent: u64,
    /// Of those, full snapshots (no baseline).
    pub full: u64,
    /// Snapshot ticks a client skipped because its acknowledgements fell behind.
    pub paced: u64,
    /// Snapshot ticks a client skipped because it was over its byte budget.
    pub over_budget: u64,
    /// Ticks a client that fell behind was not sent that tick's transient events.
    pub events_skipped: u64,
}

/// Chat lines a client may send per second; more are dropped. Every line becomes a reliable
/// message for everyone in the room, so chat is what could flood the others' queues.
const CHAT_PER_SECOND: u32 = 4;
/// Chat lines relayed per tick in the whole room, far under any client's reliable queue.
const CHAT_PER_TICK: u32 = 8;

/// Inputs queued per client at most (a client sending faster than the tick rate is cut here).
const INPUT_QUEUE_MAX: usize = 32;
/// Inputs further ahead of the last applied than this are dropped.
const SEQ_WINDOW: u32 = 1024;
/// Queued inputs above which a client is considered ahead and catches up.
const JITTER_TARGET: usize = 3;
/// Most inputs consumed for one player in one tick. Inputs set intent; the world still steps
/// once, so consuming several can never move a player faster.
const INPUTS_PER_TICK_MAX: usize = 3;

/// The wire types of a room's game.
type Wire<G> = <G as Game>::Wire;
/// A room's game's command, record and stats row.
pub(crate) type Cmd<G> = <Wire<G> as Schema>::Input;
type Rec<G> = <Wire<G> as Schema>::Record;
type Row<G> = <Wire<G> as Schema>::Stats;
type Evt<G> = <Wire<G> as Schema>::Event;

/// A room: one game and everyone in it.
#[derive(Debug)]
pub struct Room<G: Game> {
    name: String,
    settings: RoomSettings,
    game: G,
    clients: BTreeMap<ClientId, Client<G>>,
    players: usize,
    spectators: usize,
    /// Snapshot frames (the tick's records sorted by id), oldest first, at most
    /// `settings.history`.
    frames: VecDeque<Frame<G>>,
    /// Spare frame buffers.
    spare_frames: Vec<Vec<Rec<G>>>,
    /// The stats table (sorted by player id) as of game stats version `stats_version_built`;
    /// frames share it.
    scores: Arc<Vec<Row<G>>>,
    stats_version_built: Option<u64>,
    /// Messages to send, each a range of `out_bytes` (a broadcast is encoded once and listed
    /// once per recipient).
    outgoing: VecDeque<Outgoing>,
    /// The encoded messages of `outgoing`; emptied whenever `outgoing` is.
    out_bytes: Vec<u8>,
    /// This tick's events, with their audiences.
    events: Vec<Targeted<Evt<G>>>,
    /// The commands consumed this tick, handed to the game's step.
    inputs: Vec<TickInput<Cmd<G>>>,
    scratch: Scratch<G>,
    input_stats: InputStats,
    snapshot_stats: SnapshotStats,
    pace: PaceSettings,
    /// JSON-mode clients' pacing: their own interval, the byte budget, no acknowledgements.
    json_pace: PaceSettings,
    departed: VecDeque<Departed>,
    /// Clients to disconnect as too slow.
    too_slow: VecDeque<ClientId>,
    /// Chat lines relayed since the last tick (capped by `CHAT_PER_TICK`).
    chats_this_tick: u32,
    /// The match log, when this room's match is recorded ([`Room::record`]).
    journal: Option<Journal>,
    /// Every player's result so far, in join order, when results are kept
    /// ([`Room::keep_results`]); a player's row is filled when it leaves or at the end.
    results: Option<Vec<Standing<G>>>,
    /// The match is ending for everyone ([`Room::end_match`]): nobody leaves early any more.
    ending: bool,
}

/// One player's place in the match's results.
#[derive(Debug)]
struct Standing<G: Game> {
    player: PlayerId,
    name: String,
    /// The player's last stats row, once it left (None: still playing).
    row: Option<Row<G>>,
    /// It left while others still played (the last to leave ends the match, not early).
    left_early: bool,
}

/// Players a match's results keep at most (a room that lives long with players coming and going
/// keeps the first ones).
const RESULTS_MAX: usize = 4096;

/// One message to send: to whom, which queue, and where its bytes are in `out_bytes`.
#[derive(Clone, Copy, Debug)]
struct Outgoing {
    to: ClientId,
    kind: TransmitKind,
    start: u32,
    end: u32,
}

#[derive(Debug)]
struct Frame<G: Game> {
    tick: u32,
    entities: Vec<Rec<G>>,
    /// The stats table at this tick (shared between frames while it does not change).
    scores: Arc<Vec<Row<G>>>,
}

#[derive(Debug)]
struct Scratch<G: Game> {
    ids: Vec<u32>,
    /// The current frame's ids to frame indices, for selecting listed views.
    index: IdIndex,
    /// The current view's members (see [`SentView::members`]).
    members: Vec<u64>,
    base: Vec<Rec<G>>,
    view: Vec<Rec<G>>,
    bits: BitWriter,
    /// The snapshot message being built, reused for every client.
    snapshot: Snapshot<Row<G>>,
    /// This tick's encodings of whole-frame views (spectators and players who see everything):
    /// (baseline tick, checksum, body).
    shared: Vec<(u32, u32, Vec<u8>)>,
    /// The events one client may hear, while they are encoded.
    events: Vec<Evt<G>>,
}

impl<G: Game> Default for Scratch<G> {
    fn default() -> Self {
        Scratch {
            ids: Vec::new(),
            index: IdIndex::default(),
            members: Vec::new(),
            base: Vec::new(),
            view: Vec::new(),
            bits: BitWriter::default(),
            snapshot: Snapshot::default(),
            shared: Vec::new(),
            events: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct Client<G: Game> {
    name: String,
    /// Binary (delta snapshots) or JSON (whole views, no acknowledgements needed).
    format: Format,
    /// JSON mode: the tick of the last snapshot sent, standing in for an acknowledgement when
    /// the client sends none (its commands' view ticks count from it).
    json_shown: u32,
    player: Option<PlayerId>,
    entity: Option<NetId>,
    /// Received commands not yet applied, sorted by sequence number.
    /// Each with the absolute tick the client was showing others at (ack_tick - view_age).
    pending: VecDeque<(u32, Cmd<G>, u32)>,
    /// Sequence number of the last input applied (0 = none).
    last_applied: u32,
    /// Newest snapshot tick the client acknowledged (0 = none).
    acked: u32,
    /// The views sent and not yet superseded by an acknowledgement, oldest first.
    sent: VecDeque<SentView>,
    /// The session token (players only).
    token: Option<SessionToken>,
    /// Set while the connection is gone and the player waits to be resumed: the tick it left.
    detached_since: Option<u32>,
    /// The tick this connection joined (or resumed, or asked for a full snapshot with an
    /// acknowledgement of 0); acknowledgements are expected after it.
    joined_tick: u32,
    /// Set when the connection drops: the next tick stops the player (zero input).
    stand_still: bool,
    /// Tick of the last chat line relayed for this client.
    last_chat_tick: Option<u32>,
    /// Its snapshot rate and byte budget.
    pace: Pace,
}

#[derive(Debug)]
struct SentView {
    tick: u32,
    /// Which entities of that tick's frame were in the view, one bit per frame index (bit `i`
    /// of word `i / 64`): 16 bytes for a 100-entity frame, where a list of ids takes 400.
    /// `None` means every entity of the frame (spectators, views covering the map).
    members: Option<Vec<u64>>,
}

impl<G: Game> Room<G> {
    /// A new room around `game` (a game the driver made with [`Game::new`], at its tick 0).
    pub fn new(name: String, mut settings: RoomSettings, game: G) -> Room<G> {
        // The stats table has a row per player and a wire limit.
        settings.max_players = settings
            .max_players
            .min(tickwire_protocol::limits::SCORES_MAX);
        // A baseline older than the wire allows is never used: keep no more.
        settings.history = settings.history.clamp(2, BASELINE_AGE_MAX + 1);
        let mut pace = PaceSettings::new(
            settings.tick_rate,
            settings.snapshot_interval,
            settings.client_bytes_per_s,
        );
        if !settings.pace_by_acks {
            pace.interval_max = 1;
        }
        let slot = settings.snapshot_interval.max(1);
        settings.json_snapshot_interval = settings
            .json_snapshot_interval
            .max(1)
            .next_multiple_of(slot);
        let mut json_pace = PaceSettings::new(
            settings.tick_rate,
            settings.json_snapshot_interval,
            settings.client_bytes_per_s,
        );
        json_pace.interval_max = 1;
        Room {
            name,
            settings,
            game,
            clients: BTreeMap::new(),
            players: 0,
            spectators: 0,
            frames: VecDeque::new(),
            spare_frames: Vec::new(),
            scores: Arc::new(Vec::new()),
            stats_version_built: None,
            outgoing: VecDeque::new(),
            out_bytes: Vec::new(),
            events: Vec::new(),
            inputs: Vec::new(),
            scratch: Scratch::default(),
            input_stats: InputStats::default(),
            snapshot_stats: SnapshotStats::default(),
            pace,
            json_pace,
            departed: VecDeque::new(),
            too_slow: VecDeque::new(),
            chats_this_tick: 0,
            journal: None,
            results: None,
            ending: false,
        }
    }

    /// The match ends for everyone now (the server stops, the room closes): players removed
    /// from here on did not leave early.
    pub fn end_match(&mut self) {
        self.ending = true;
    }

    /// Records this room's match into `journal` from now on: every join, leave and step's
    /// commands, and the state hash after each step (see [`crate::journal`]). Call it before
    /// the first join. The driver takes the records with [`Room::journal_mut`].
    pub fn record(&mut self, journal: Journal) {
        self.journal = Some(journal);
    }

    /// The match log, when recorded.
    pub fn journal_mut(&mut self) -> Option<&mut Journal> {
        self.journal.as_mut()
    }

    /// Stops recording (the log could not be kept); returns the journal.
    pub fn stop_recording(&mut self) -> Option<Journal> {
        self.journal.take()
    }

    /// Keeps each player's last stats row for the match's results ([`Room::results`]).
    pub fn keep_results(&mut self) {
        self.results.get_or_insert_with(Vec::new);
    }

    /// The match's results so far: every player who played, in join order, with its last stats
    /// row (the current one for players still in), serialized as the game does, and its score.
    /// Empty when results are not kept.
    pub fn results(&self) -> Vec<crate::results::PlayerResult> {
        let Some(standings) = &self.results else {
            return Vec::new();
        };
        let mut rows = Vec::new();
        self.game.stats(&mut rows);
        standings
            .iter()
            .filter_map(|standing| {
                let row = standing
                    .row
                    .as_ref()
                    .or_else(|| rows.iter().find(|row| row.player() == standing.player.0))?;
                Some(crate::results::PlayerResult {
                    name: standing.name.clone(),
                    score: row.score(),
                    stats: serde_json::to_value(row).unwrap_or(serde_json::Value::Null),
                    left_early: standing.left_early,
                })
            })
            .collect()
    }

    /// Adds a client as a player (or spectator, per the Hello) and queues its Welcome. `token`
    /// becomes the player's resume token.
    pub fn handle_join(
        &mut self,
        client: ClientId,
        hello: &Hello,
        token: SessionToken,
    ) -> Result<Joined, JoinError> {
        self.handle_join_as(client, hello, token, Format::Binary)
    }

    /// [`Room::handle_join`] for a client speaking `format`.
    pub fn handle_join_as(
        &mut self,
        client: ClientId,
        hello: &Hello,
        token: SessionToken,
        format: Format,
    ) -> Result<Joined, JoinError> {
        if self.clients.contains_key(&client) {
            return Err(JoinError::AlreadyJoined);
        }
        let (player, entity) = if hello.spectate {
            if self.spectators >= self.settings.max_spectators {
                return Err(JoinError::SpectatorsFull);
            }
            self.spectators += 1;
            (None, None)
        } else {
            if self.players >= self.settings.max_players {
                return Err(JoinError::RoomFull);
            }
            self.players += 1;
            let seat = self.game.join(&hello.name);
            if let Some(journal) = &mut self.journal {
                journal.join(seat.player, &hello.name);
            }
            if let Some(results) = &mut self.results
                && results.len() < RESULTS_MAX
            {
                results.push(Standing {
                    player: seat.player,
                    name: hello.name.clone(),
                    row: None,
                    left_early: false,
                });
            }
            (Some(seat.player), seat.entity)
        };
        self.clients.insert(
            client,
            Client {
                name: hello.name.clone(),
                format,
                json_shown: 0,
                player,
                entity,
                pending: VecDeque::new(),
                last_applied: 0,
                acked: 0,
                sent: VecDeque::new(),
                token: player.map(|_| token),
                detached_since: None,
                joined_tick: self.game.tick(),
                stand_still: false,
                last_chat_tick: None,
                pace: Pace::new(
                    match format {
                        Format::Binary => &self.pace,
                        Format::Json => &self.json_pace,
                    },
                    self.game.tick(),
                ),
            },
        );
        self.queue_welcome(client, false);
        Ok(Joined {
            player,
            entity,
            replaced: None,
        })
    }

    /// Gives a held player back to a new connection: same entity, score and input sequence; a
    /// full snapshot follows. If the old connection is still attached it is replaced.
    pub fn handle_resume(
        &mut self,
        client: ClientId,
        token: &SessionToken,
    ) -> Result<Joined, JoinError> {
        self.handle_resume_as(client, token, Format::Binary)
    }

    /// [`Room::handle_resume`] for a connection speaking `format` (not necessarily the one
    /// the session spoke before).
    pub fn handle_resume_as(
        &mut self,
        client: ClientId,
        token: &SessionToken,
        format: Format,
    ) -> Result<Joined, JoinError> {
        if self.clients.contains_key(&client) {
            return Err(JoinError::AlreadyJoined);
        }
        let old = self
            .clients
            .iter()
            .find(|(_, state)| state.token.as_ref() == Some(token))
            .map(|(&id, _)| id)
            .ok_or(JoinError::UnknownSession)?;
        // Invariant: `old` was just found in the map.
        let mut state = self.clients.remove(&old).expect("found above");
        let replaced = state.detached_since.is_none().then_some(old);
        state.detached_since = None;
        state.format = format;
        state.joined_tick = self.game.tick();
        state.acked = 0;
        state.sent.clear();
        state.pace = Pace::new(
            match format {
                Format::Binary => &self.pace,
                Format::Json => &self.json_pace,
            },
            self.game.tick(),
        );
        let joined = Joined {
            player: state.player,
            entity: state.entity,
            replaced,
        };
        self.clients.insert(client, state);
        self.outgoing.retain(|transmit| transmit.to != old);
        self.queue_welcome(client, true);
        Ok(joined)
    }

    /// The snapshot of `tick` queued for `client` never left (the driver replaced it with a
    /// newer one before the socket took it): it will never be acknowledged, so it no longer
    /// counts as on its way.
    pub fn handle_snapshot_unsent(&mut self, client: ClientId, tick: u32) {
        if let Some(state) = self.clients.get_mut(&client)
            && tick > state.acked
            && let Some(index) = state.sent.iter().position(|sent| sent.tick == tick)
        {
            state.sent.remove(index);
        }
    }

    /// Removes a client for good (it said goodbye). Returns whether it was here.
    pub fn handle_leave(&mut self, client: ClientId) -> bool {
        let Some(state) = self.clients.remove(&client) else {
            return false;
        };
        self.remove_state(state);
        self.outgoing.retain(|transmit| transmit.to != client);
        true
    }

    /// A client's connection dropped without a goodbye: a player is held for the resume grace
    /// window (its entity stops and stays, its score stays), a spectator leaves.
    pub fn handle_disconnect(&mut self, client: ClientId) {
        let hold = self.settings.resume_grace_ticks > 0
            && self
                .clients
                .get(&client)
                .is_some_and(|state| state.player.is_some() && state.detached_since.is_none());
        if !hold {
            self.handle_leave(client);
            return;
        }
        let tick = self.game.tick();
        if let Some(state) = self.clients.get_mut(&client) {
            state.detached_since = Some(tick);
            state.pending.clear();
            state.sent.clear();
            state.acked = 0;
            // Stand still while nobody is at the controls (without using up a sequence
            // number: the resumed client continues its own sequence).
            state.stand_still = true;
        }
        self.outgoing.retain(|transmit| transmit.to != client);
    }

    /// Clients that stopped acknowledging snapshots for longer than the ack timeout; the driver
    /// should disconnect them (and then call `handle_leave`).
    pub fn poll_too_slow(&mut self) -> Option<ClientId> {
        self.too_slow.pop_front()
    }

    /// Seats freed since the last call (players removed, spectators gone).
    pub fn poll_departed(&mut self) -> Option<Departed> {
        self.departed.pop_front()
    }

    fn remove_state(&mut self, state: Client<G>) {
        match state.player {
            Some(player) => {
                if let Some(results) = &mut self.results
                    && let Some(standing) = results
                        .iter_mut()
                        .rev()
                        .find(|s| s.player == player && s.row.is_none())
                {
                    let mut rows = Vec::new();
                    self.game.stats(&mut rows);
                    standing.row = rows.into_iter().find(|row| row.player() == player.0);
                    standing.left_early = self.players > 1 && !self.ending;
                }
                self.game.leave(player);
                if let Some(journal) = &mut self.journal {
                    journal.leave(player);
                }
                self.players -= 1;
            }
            None => self.spectators -= 1,
        }
        self.departed.push_back(Departed {
            spectator: state.player.is_none(),
            token: state.token,
            was_detached: state.detached_since.is_some(),
        });
    }

    fn queue_welcome(&mut self, client: ClientId, resumed: bool) {
        let Some(state) = self.clients.get(&client) else {
            return;
        };
        let welcome = ServerMsg::<Wire<G>>::Welcome(Welcome {
            version: PROTOCOL_VERSION,
            player: state.player.map_or(0, |p| p.0),
            entity: state.entity.map_or(0, |e| e.0),
            room: self.name.clone(),
            tick_rate: self.settings.tick_rate as u16,
            snapshot_interval: match state.format {
                Format::Binary => self.settings.snapshot_interval,
                Format::Json => self.settings.json_snapshot_interval,
            }
            .min(255) as u8,
            tick: self.game.tick(),
            setup: self.game.setup(),
            resume_token: state.token.unwrap_or_default(),
            resumed,
        });
        self.queue_reliable(client, &welcome);
    }

    /// Queues a client's commands (each sequence number once, in order) and records its ack.
    pub fn handle_input(&mut self, client: ClientId, input: &Input<Cmd<G>>) {
        let Some(state) = self.clients.get_mut(&client) else {
            return;
        };
        let now = self.game.tick();
        // What the client was showing when it sampled its commands: its acknowledgement, or for
        // a JSON client that sends none, the last whole view it was sent.
        let shown = match state.format {
            Format::Json if input.ack_tick == 0 => state.json_shown,
            _ => input.ack_tick,
        };
        if state.format == Format::Json {
            // Nothing to pace by: JSON snapshots have no baseline.
        } else if input.ack_tick > state.acked && input.ack_tick <= now {
            state.acked = input.ack_tick;
            state.pace.handle_ack(&self.pace, input.ack_tick, now);
        } else if input.ack_tick == 0 && state.acked != 0 {
            // The client lost its stored views and asks for a full snapshot: nothing sent
            // before can be a baseline any more.
            state.acked = 0;
            state.sent.clear();
            // The acknowledgement timeout counts from here, as from a join.
            state.joined_tick = now;
        }
        if state.player.is_none() {
            return; // spectators only acknowledge
        }
        for (offset, cmd) in input.cmds.iter().enumerate() {
            let seq = input.first_seq.wrapping_add(offset as u32);
            if seq <= state.last_applied {
                self.input_stats.duplicates += 1;
                continue;
            }
            if seq - state.last_applied > SEQ_WINDOW {
                self.input_stats.dropped += 1;
                continue;
            }
            match state
                .pending
                .binary_search_by_key(&seq, |(queued, _, _)| *queued)
            {
                Ok(_) => self.input_stats.duplicates += 1,
                Err(_) if state.pending.len() >= INPUT_QUEUE_MAX => self.input_stats.dropped += 1,
                Err(position) => {
                    let view_tick = shown.saturating_sub(cmd.view_age() as u32);
                    state.pending.insert(position, (seq, *cmd, view_tick));
                }
            }
        }
    }

    /// Relays a chat line to everyone in the room (the sender too), in arrival order.
    pub fn handle_chat(&mut self, client: ClientId, text: &str) {
        let tick = self.game.tick();
        let gap = (self.settings.tick_rate / CHAT_PER_SECOND).max(1);
        let Some(state) = self.clients.get_mut(&client) else {
            return;
        };
        let too_soon = state
            .last_chat_tick
            .is_some_and(|last| tick.wrapping_sub(last) < gap);
        if too_soon || self.chats_this_tick >= CHAT_PER_TICK {
            self.input_stats.chat_dropped += 1;
            return;
        }
        state.last_chat_tick = Some(tick);
        self.chats_this_tick += 1;
        let state = &self.clients[&client];
        let msg = ServerMsg::<Wire<G>>::Chat(ChatBroadcast {
            from: state.player.map_or(0, |p| p.0),
            name: state.name.clone(),
            text: text.to_string(),
        });
        // One encoding per format in use, made when the first client of that format needs it.
        let mut encoded: [Option<(u32, u32)>; 2] = [None, None];
        for (&to, state) in self
            .clients
            .iter()
            .filter(|(_, state)| state.detached_since.is_none())
        {
            let (start, end) = *encoded[format_index(state.format)]
                .get_or_insert_with(|| encode_into(&msg, state.format, &mut self.out_bytes));
            self.outgoing.push_back(Outgoing {
                to,
                kind: TransmitKind::Reliable,
                start,
                end,
            });
        }
    }

    /// Answers a ping.
    pub fn handle_ping(&mut self, client: ClientId, nonce: u32) {
        if self.clients.contains_key(&client) {
            let msg = ServerMsg::<Wire<G>>::Pong {
                nonce,
                tick: self.game.tick(),
            };
            self.queue_reliable(client, &msg);
        }
    }

    /// Runs one fixed step: hands the consumed commands to the game's step, sends the tick's
    /// events to their audiences, expires players whose resume window ran out, and on snapshot
    /// ticks queues one snapshot per attached client.
    pub fn tick(&mut self) {
        self.chats_this_tick = 0;
        self.apply_inputs();
        self.run_step();
    }

    /// Replays a recorded join or leave (a replay room: the players are the log's, not
    /// clients; the stats table shows them).
    pub fn replay_change(
        &mut self,
        change: &crate::replay::SeatChange,
    ) -> Result<(), crate::replay::ReplayError> {
        match change {
            crate::replay::SeatChange::Join(player, name) => {
                let seat = self.game.join(name);
                crate::replay::check_join(*player, seat.player, name, self.game.tick())
            }
            crate::replay::SeatChange::Leave(player) => {
                self.game.leave(*player);
                Ok(())
            }
        }
    }

    /// [`Room::tick`] with recorded commands instead of the clients' (a replay room).
    pub fn tick_replayed(&mut self, inputs: &[TickInput<Cmd<G>>]) {
        self.chats_this_tick = 0;
        self.inputs.clear();
        self.inputs.extend_from_slice(inputs);
        self.run_step();
    }

    /// The step and what follows it, for [`Room::tick`] and [`Room::tick_replayed`].
    fn run_step(&mut self) {
        self.events.clear();
        if let Some(journal) = &mut self.journal {
            journal.step(&self.inputs);
        }
        self.game.step(&self.inputs, &mut self.events);
        if let Some(journal) = &mut self.journal {
            let game = &self.game;
            journal.hashed(game.check_hash(), || game.state_hash());
        }
        self.publish_events();
        self.expire_detached();
        let tick = self.game.tick();
        if tick.is_multiple_of(self.settings.snapshot_interval) {
            self.record_frame();
            self.queue_snapshots();
        }
    }

    /// Sends the tick's events: one Events message per client with every event it may hear
    /// (a client that fell behind, its snapshots paced, skips the transient ones). When every
    /// event is for everyone (the usual case) all clients share one encoding, or two: with and
    /// without the transient events.
    fn publish_events(&mut self) {
        if self.events.is_empty() {
            return;
        }
        let tick = self.game.tick();
        let everyone = self
            .events
            .iter()
            .all(|targeted| targeted.audience == crate::game::Audience::Everyone);
        // Shared encodings for clients keeping up and for clients behind (who differ only
        // when some event is transient).
        let mut shared: [[Option<(u32, u32)>; 2]; 2] = [[None, None], [None, None]];
        let any_transient = self.events.iter().any(|targeted| targeted.transient);
        for (&to, state) in &self.clients {
            if state.detached_since.is_some() {
                continue;
            }
            let behind = any_transient && state.pace.interval() > 1;
            if behind
                && self
                    .events
                    .iter()
                    .any(|targeted| targeted.transient && targeted.audience.includes(state.player))
            {
                self.snapshot_stats.events_skipped += 1;
            }
            let slot = &mut shared[format_index(state.format)][usize::from(behind)];
            let (start, end) = match *slot {
                Some(range) => range,
                None => {
                    let events = &mut self.scratch.events;
                    events.clear();
                    events.extend(
                        self.events
                            .iter()
                            .filter(|targeted| targeted.audience.includes(state.player))
                            .filter(|targeted| !(behind && targeted.transient))
                            .map(|targeted| targeted.event.clone()),
                    );
                    if events.is_empty() {
                        continue;
                    }
                    // A game that makes more events in a tick than one message may carry
                    // keeps the first ones (the limit is far above what a tick produces).
                    events.truncate(EVENTS_MAX);
                    let msg = ServerMsg::<Wire<G>>::Events(Events {
                        tick,
                        events: std::mem::take(events),
                    });
                    let range = encode_into(&msg, state.format, &mut self.out_bytes);
                    if let ServerMsg::Events(back) = msg {
                        self.scratch.events = back.events;
                    }
                    if everyone {
                        *slot = Some(range);
                    }
                    range
                }
            };
            self.outgoing.push_back(Outgoing {
                to,
                kind: TransmitKind::Reliable,
                start,
                end,
            });
        }
    }

    fn expire_detached(&mut self) {
        let tick = self.game.tick();
        let grace = self.settings.resume_grace_ticks;
        while let Some(expired) = self
            .clients
            .iter()
            .find(|(_, state)| {
                state
                    .detached_since
                    .is_some_and(|since| tick.wrapping_sub(since) >= grace)
            })
            .map(|(&id, _)| id)
        {
            if let Some(state) = self.clients.remove(&expired) {
                self.remove_state(state);
            }
        }
    }

    /// The next message to send, if any, as an owned copy (tests and tools; the driver uses
    /// [`Room::drain_transmits`]).
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let next = self.outgoing.pop_front()?;
        let bytes = Bytes::copy_from_slice(&self.out_bytes[next.start as usize..next.end as usize]);
        if self.outgoing.is_empty() {
            self.out_bytes.clear();
        }
        Some(Transmit {
            to: next.to,
            kind: next.kind,
            bytes,
        })
    }

    /// Hands every message to send to `send` (recipient, queue, the encoded message), in order,
    /// and empties the queue. The bytes are borrowed from the room's output buffer: no copy.
    pub fn drain_transmits(&mut self, mut send: impl FnMut(ClientId, TransmitKind, &[u8])) {
        for next in self.outgoing.drain(..) {
            send(
                next.to,
                next.kind,
                &self.out_bytes[next.start as usize..next.end as usize],
            );
        }
        self.out_bytes.clear();
    }

    /// The room's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The game's tick.
    pub fn tick_number(&self) -> u32 {
        self.game.tick()
    }

    /// Players in the room.
    pub fn player_count(&self) -> usize {
        self.players
    }

    /// Spectators in the room.
    pub fn spectator_count(&self) -> usize {
        self.spectators
    }

    /// Whether nobody is in the room.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// The game, read-only (tests and tools).
    pub fn game(&self) -> &G {
        &self.game
    }

    /// The room's settings.
    pub fn settings(&self) -> &RoomSettings {
        &self.settings
    }

    /// Snapshot counters: queued, full, and held back by pacing or the byte budget.
    pub fn snapshot_stats(&self) -> SnapshotStats {
        self.snapshot_stats
    }

    /// A client's current snapshot interval, in snapshot ticks (1: every one).
    pub fn snapshot_interval_of(&self, client: ClientId) -> Option<u32> {
        self.clients.get(&client).map(|state| state.pace.interval())
    }

    /// Snapshot frames kept now (the current one and any a client may still acknowledge).
    pub fn frames_kept(&self) -> usize {
        self.frames.len()
    }

    /// Input counters.
    pub fn input_stats(&self) -> InputStats {
        self.input_stats
    }

    /// The events of the last tick, with their audiences.
    pub fn events(&self) -> &[Targeted<Evt<G>>] {
        &self.events
    }

    /// The last input sequence applied for a client's player (0 = none).
    pub fn last_applied(&self, client: ClientId) -> Option<u32> {
        self.clients.get(&client).map(|state| state.last_applied)
    }

    /// The client currently holding a session token.
    pub fn player_by_token(&self, token: &SessionToken) -> Option<ClientId> {
        self.clients
            .iter()
            .find(|(_, state)| state.token.as_ref() == Some(token))
            .map(|(&id, _)| id)
    }

    /// Players held waiting for a resume.
    pub fn detached_count(&self) -> usize {
        self.clients
            .values()
            .filter(|state| state.detached_since.is_some())
            .count()
    }

    /// Whether a client's player is held waiting for a resume.
    pub fn is_detached(&self, client: ClientId) -> bool {
        self.clients
            .get(&client)
            .is_some_and(|state| state.detached_since.is_some())
    }

    /// The player of a client.
    pub fn player_of(&self, client: ClientId) -> Option<PlayerId> {
        self.clients.get(&client).and_then(|state| state.player)
    }

    /// Takes this tick's commands from the queues: one per player, more (up to
    /// `INPUTS_PER_TICK_MAX`) when a player is ahead; each becomes a [`TickInput`] with its
    /// rewind. The game receives all of them and folds them by its own rules.
    fn apply_inputs(&mut self) {
        self.inputs.clear();
        let now = self.game.tick();
        for state in self.clients.values_mut() {
            let Some(player) = state.player else { continue };
            if std::mem::take(&mut state.stand_still) {
                // Nobody is at the controls: the idle command, without using up a sequence
                // number (the resumed client continues its own sequence).
                self.inputs.push(TickInput {
                    player,
                    seq: 0,
                    rewind: 0,
                    input: Cmd::<G>::default(),
                });
                continue;
            }
            if state.pending.is_empty() {
                self.input_stats.repeated += 1;
                continue;
            }
            // One command per tick; more when the client is ahead, to drain its backlog.
            let take = if state.pending.len() > JITTER_TARGET {
                (state.pending.len() - JITTER_TARGET + 1).min(INPUTS_PER_TICK_MAX)
            } else {
                1
            };
            for _ in 0..take {
                // Invariant: take <= pending.len(), checked above.
                let (seq, cmd, view_tick) = state.pending.pop_front().expect("take <= pending");
                self.inputs.push(TickInput {
                    player,
                    seq,
                    // How far back from now the client's view was: it showed the absolute tick
                    // `view_tick` (the game caps the rewind at its own maximum).
                    rewind: now.saturating_sub(view_tick),
                    input: cmd,
                });
                state.last_applied = seq;
                self.input_stats.applied += 1;
            }
        }
    }

    fn record_frame(&mut self) {
        while self.frames.len() >= self.settings.history as usize {
            if let Some(old) = self.frames.pop_front() {
                self.spare_frames.push(old.entities);
            }
        }
        let mut entities = self.spare_frames.pop().unwrap_or_default();
        entities.clear();
        self.game.records(&mut entities);
        debug_assert!(
            entities.windows(2).all(|pair| pair[0].id() < pair[1].id()),
            "Game::records must be sorted by id"
        );
        let version = self.game.stats_version();
        if self.stats_version_built != Some(version) {
            let mut rows = Vec::with_capacity(self.players);
            self.game.stats(&mut rows);
            rows.sort_by_key(|row| row.player());
            self.scores = Arc::new(rows);
            self.stats_version_built = Some(version);
        }
        self.frames.push_back(Frame {
            tick: self.game.tick(),
            entities,
            scores: Arc::clone(&self.scores),
        });
    }

    fn queue_snapshots(&mut self) {
        // Invariant: record_frame ran just before.
        let current = self.frames.back().expect("a frame was just recorded");
        let tick = current.tick;
        self.scratch.shared.clear();
        for (&client_id, client) in self.clients.iter_mut() {
            if client.detached_since.is_some() {
                continue;
            }
            if client.format == Format::Json {
                Self::queue_json_snapshot(
                    &mut self.game,
                    &self.json_pace,
                    &mut self.snapshot_stats,
                    &mut self.scratch,
                    &mut self.out_bytes,
                    &mut self.outgoing,
                    current,
                    (client_id, client),
                );
                continue;
            }
            // A client that stopped acknowledging (it stopped reading, or its link is stuck)
            // gets nothing more; the driver disconnects it.
            let timeout = self.settings.ack_timeout_ticks;
            if timeout > 0 && tick.wrapping_sub(client.acked.max(client.joined_tick)) > timeout {
                if !self.too_slow.contains(&client_id) {
                    self.too_slow.push_back(client_id);
                }
                continue;
            }
            // Fewer snapshots for a client that falls behind or is over its byte budget.
            let acked = client.acked;
            let unacked = client
                .sent
                .iter()
                .map(|sent| sent.tick)
                .filter(|&sent| sent > acked);
            match client.pace.poll(&self.pace, tick, unacked) {
                Decision::Send => {}
                Decision::Paced => {
                    self.snapshot_stats.paced += 1;
                    continue;
                }
                Decision::OverBudget => {
                    self.snapshot_stats.over_budget += 1;
                    continue;
                }
            }
            let scratch = &mut self.scratch;

            // This tick's view, as the game decides: everything, or a list of ids.
            let viewer = match client.player {
                Some(player) => Viewer::Player(player),
                None => Viewer::Spectator,
            };
            // A listed view becomes bits over the frame (`scratch.members`); one that lists
            // every record of the frame is the whole frame, like `Everything`.
            scratch.ids.clear();
            let whole = match self.game.view(viewer, &mut scratch.ids) {
                View::Everything => true,
                View::Listed => {
                    scratch.index.build(tick, &current.entities);
                    let count = select_members(
                        &current.entities,
                        &mut scratch.ids,
                        &scratch.index,
                        &mut scratch.members,
                    );
                    count == current.entities.len()
                }
            };

            // The baseline: the acknowledged view, if we still have both it and its frame.
            // Only a snapshot among the newest the client still holds (it keeps
            // CLIENT_BASELINES of them) can be a baseline: a client that acks far behind,
            // because it is slow or overloaded, gets a full snapshot instead.
            let held_from = client.sent.len().saturating_sub(CLIENT_BASELINES);
            let baseline = client
                .sent
                .iter()
                .skip(held_from)
                .find(|sent| sent.tick == client.acked)
                .filter(|sent| tick - sent.tick <= BASELINE_AGE_MAX)
                .and_then(|sent| {
                    let frame = self.frames.iter().find(|frame| frame.tick == sent.tick)?;
                    Some((sent, frame))
                });
            if baseline.is_none() && client.pace.full_in_flight(&self.pace, tick) {
                self.snapshot_stats.paced += 1;
                continue;
            }
            let (baseline_age, base_scores): (u32, &[Row<G>]) = match baseline {
                Some((sent, frame)) => (tick - sent.tick, &frame.scores),
                None => (0, &[]),
            };
            let scores_unchanged =
                baseline.is_some_and(|(_, frame)| Arc::ptr_eq(&frame.scores, &current.scores));

            // Whole-frame views on the same baseline tick are the same bytes: encode those once.
            let sees_all = whole && baseline.is_none_or(|(sent, _)| sent.members.is_none());
            let base_tick = baseline.map_or(0, |(sent, _)| sent.tick);
            let cached = sees_all
                .then(|| scratch.shared.iter().position(|entry| entry.0 == base_tick))
                .flatten();
            let (checksum, body): (u32, &[u8]) = match cached {
                Some(index) => (scratch.shared[index].1, &scratch.shared[index].2),
                None => {
                    // Only now build the two views: a shared encoding needs neither.
                    if whole {
                        scratch.view.clear();
                        scratch.view.extend_from_slice(&current.entities);
                    } else {
                        members_view(&current.entities, &scratch.members, &mut scratch.view);
                    }
                    scratch.base.clear();
                    if let Some((sent, frame)) = baseline {
                        match &sent.members {
                            Some(members) => {
                                members_view(&frame.entities, members, &mut scratch.base)
                            }
                            None => scratch.base.extend_from_slice(&frame.entities),
                        }
                    }
                    scratch.bits.clear();
                    delta::encode(
                        &scratch.base,
                        &scratch.view,
                        baseline_age,
                        &mut scratch.bits,
                    );
                    let checksum = delta::checksum(&scratch.view);
                    if sees_all {
                        scratch.shared.push((
                            base_tick,
                            checksum,
                            scratch.bits.as_bytes().to_vec(),
                        ));
                        let last = scratch.shared.len() - 1;
                        (checksum, &scratch.shared[last].2)
                    } else {
                        (checksum, scratch.bits.as_bytes())
                    }
                }
            };
            let snapshot = &mut scratch.snapshot;
            snapshot.tick = tick;
            snapshot.baseline_age = baseline_age as u8;
            snapshot.last_input = client.last_applied;
            snapshot.checksum = checksum;
            snapshot.body.clear();
            snapshot.body.extend_from_slice(body);
            snapshot.scores.clear();
            snapshot.scores_removed.clear();
            if !scores_unchanged {
                diff_scores(
                    base_scores,
                    &current.scores,
                    &mut snapshot.scores,
                    &mut snapshot.scores_removed,
                );
            }
            // Moved in and out of the message so its buffers are reused, not reallocated; encoded
            // straight into the output buffer.
            let msg = ServerMsg::<Wire<G>>::Snapshot(std::mem::take(snapshot));
            let start = self.out_bytes.len() as u32;
            encode_server(&msg, &mut self.out_bytes);
            if let ServerMsg::Snapshot(back) = msg {
                scratch.snapshot = back;
            }
            let end = self.out_bytes.len() as u32;
            self.outgoing.push_back(Outgoing {
                to: client_id,
                kind: TransmitKind::Snapshot { tick },
                start,
                end,
            });
            client
                .pace
                .handle_sent(&self.pace, tick, (end - start) as usize, baseline_age == 0);
            self.snapshot_stats.sent += 1;
            if baseline_age == 0 {
                self.snapshot_stats.full += 1;
            }

            // Views older than the acknowledged one can no longer be baselines.
            let mut recycled = None;
            // A client holds the newest CLIENT_BASELINES snapshots it got: keep no more.
            while client.sent.front().is_some_and(|sent| {
                sent.tick < client.acked || client.sent.len() > CLIENT_BASELINES
            }) {
                if let Some(old) = client.sent.pop_front() {
                    recycled = old.members.or(recycled);
                }
            }
            // A whole-frame view is stored as `None`; a listed one as the bits just selected.
            let stored = (!whole).then(|| {
                let mut copy = recycled.unwrap_or_default();
                copy.clear();
                copy.extend_from_slice(&scratch.members);
                copy
            });
            client.sent.push_back(SentView {
                tick,
                members: stored,
            });
        }
        self.release_frames(tick);
    }

    /// A JSON-mode client's snapshot on its own interval and within its byte budget: the whole
    /// view it may see and the whole stats table, no baseline (so nothing to acknowledge and no
    /// frame kept for it).
    #[allow(clippy::too_many_arguments)]
    fn queue_json_snapshot(
        game: &mut G,
        pace: &PaceSettings,
        stats: &mut SnapshotStats,
        scratch: &mut Scratch<G>,
        out_bytes: &mut Vec<u8>,
        outgoing: &mut VecDeque<Outgoing>,
        current: &Frame<G>,
        (client_id, client): (ClientId, &mut Client<G>),
    ) {
        let tick = current.tick;
        if !tick.is_multiple_of(pace.slot_ticks) {
            return;
        }
        match client.pace.poll(pace, tick, std::iter::empty()) {
            Decision::Send => {}
            Decision::Paced => {
                stats.paced += 1;
                return;
            }
            Decision::OverBudget => {
                stats.over_budget += 1;
                return;
            }
        }
        let viewer = match client.player {
            Some(player) => Viewer::Player(player),
            None => Viewer::Spectator,
        };
        scratch.ids.clear();
        let entities: &[Rec<G>] = match game.view(viewer, &mut scratch.ids) {
            View::Everything => &current.entities,
            View::Listed => {
                scratch.index.build(tick, &current.entities);
                select_members(
                    &current.entities,
                    &mut scratch.ids,
                    &scratch.index,
                    &mut scratch.members,
                );
                members_view(&current.entities, &scratch.members, &mut scratch.view);
                &scratch.view
            }
        };
        let start = out_bytes.len();
        json::encode_snapshot(
            &JsonSnapshot {
                tick,
                last_input: client.last_applied,
                entities,
                scores: &current.scores,
            },
            out_bytes,
        );
        if out_bytes.len() - start > JSON_SERVER_MSG_MAX {
            // A view too large for one JSON message (thousands of records a game lets one client
            // see): not sent, counted with the snapshots skipped for size.
            out_bytes.truncate(start);
            stats.over_budget += 1;
            return;
        }
        let (start, end) = (start as u32, out_bytes.len() as u32);
        outgoing.push_back(Outgoing {
            to: client_id,
            kind: TransmitKind::Snapshot { tick },
            start,
            end,
        });
        client.json_shown = tick;
        client
            .pace
            .handle_sent(pace, tick, (end - start) as usize, true);
        stats.sent += 1;
        stats.full += 1;
    }

    /// Drops the frames no client can still acknowledge: those older than every client's
    /// oldest kept view. Clients that keep up hold one or two; a slow one holds more, up to
    /// `settings.history`.
    fn release_frames(&mut self, tick: u32) {
        let oldest_needed = self
            .clients
            .values()
            .filter_map(|client| client.sent.front().map(|sent| sent.tick))
            .min()
            .unwrap_or(tick);
        while self
            .frames
            .front()
            .is_some_and(|frame| frame.tick < oldest_needed)
        {
            if let Some(old) = self.frames.pop_front() {
                self.spare_frames.push(old.entities);
            }
        }
    }

    fn queue_reliable(&mut self, to: ClientId, msg: &ServerMsg<Wire<G>>) {
        let format = self
            .clients
            .get(&to)
            .map_or(Format::Binary, |state| state.format);
        let (start, end) = encode_into(msg, format, &mut self.out_bytes);
        self.outgoing.push_back(Outgoing {
            to,
            kind: TransmitKind::Reliable,
            start,
            end,
        });
    }
}

/// Appends `msg` in `format` to `out`; returns its range.
fn encode_into<S: Schema>(msg: &ServerMsg<S>, format: Format, out: &mut Vec<u8>) -> (u32, u32) {
    let start = out.len() as u32;
    match format {
        Format::Binary => encode_server(msg, out),
        Format::Json => json::encode_server(msg, out),
    }
    (start, out.len() as u32)
}

/// The index of a format in per-format tables.
fn format_index(format: Format) -> usize {
    match format {
        Format::Binary => 0,
        Format::Json => 1,
    }
}

/// The rows of `current` that are new or differ from `base`, and the players of `base` that
/// are gone (both tables sorted by player id).
fn diff_scores<S: StatsRow>(
    base: &[S],
    current: &[S],
    changed: &mut Vec<S>,
    removed: &mut Vec<u32>,
) {
    let (mut b, mut c) = (0, 0);
    while b < base.len() || c < current.len() {
        match (base.get(b), current.get(c)) {
            (Some(old), Some(new)) if old.player() == new.player() => {
                if old != new {
                    changed.push(new.clone());
                }
                b += 1;
                c += 1;
            }
            (Some(old), Some(new)) if old.player() < new.player() => {
                removed.push(old.player());
                b += 1;
            }
            (Some(old), None) => {
                removed.push(old.player());
                b += 1;
            }
            (_, Some(new)) => {
                changed.push(new.clone());
                c += 1;
            }
            (None, None) => break,
        }
    }
}

/// The current frame's ids mapped to their indices in the frame, rebuilt once per snapshot tick
/// when some view is listed, so selecting a view costs one lookup per listed id (no sort).
/// Used when the frame's ids are dense enough (their range at most four times the frame plus
/// 64); otherwise views are selected by sorting.
#[derive(Debug, Default)]
struct IdIndex {
    /// The tick it was built for.
    tick: Option<u32>,
    /// Whether the frame's ids were dense enough to index.
    usable: bool,
    /// The frame's first id.
    first: u32,
    /// Frame index per id from `first` on; `u32::MAX` for ids not in the frame.
    slots: Vec<u32>,
}

impl IdIndex {
    /// Indexes `frame` (sorted by id) unless it already is, for `tick`.
    fn build<R: Record>(&mut self, tick: u32, frame: &[R]) {
        if self.tick == Some(tick) {
            return;
        }
        self.tick = Some(tick);
        self.slots.clear();
        let (Some(first), Some(last)) = (frame.first(), frame.last()) else {
            self.usable = false;
            return;
        };
        let range = (last.id() - first.id()) as usize + 1;
        self.usable = range <= 4 * frame.len() + 64;
        if !self.usable {
            return;
        }
        self.first = first.id();
        self.slots.resize(range, u32::MAX);
        for (index, record) in frame.iter().enumerate() {
            self.slots[(record.id() - self.first) as usize] = index as u32;
        }
    }

    /// The frame index of `id`, if it is in the frame.
    fn get(&self, id: u32) -> Option<usize> {
        let offset = id.checked_sub(self.first)? as usize;
        let slot = *self.slots.get(offset)?;
        (slot != u32::MAX).then_some(slot as usize)
    }
}

/// Sets in `members` the frame indices (see [`SentView::members`]) of the records of `frame`
/// whose ids are in `ids` (any order, repeats allowed; ids not in the frame are ignored), with
/// `index` when it is usable; returns how many records that is.
fn select_members<R: Record>(
    frame: &[R],
    ids: &mut Vec<u32>,
    index: &IdIndex,
    members: &mut Vec<u64>,
) -> usize {
    members.clear();
    members.resize(frame.len().div_ceil(64), 0);
    let mut count = 0;
    let mut mark = |at: usize| {
        let (word, bit) = (at / 64, 1u64 << (at % 64));
        if members[word] & bit == 0 {
            members[word] |= bit;
            count += 1;
        }
    };
    if index.usable {
        for &id in ids.iter() {
            if let Some(at) = index.get(id) {
                mark(at);
            }
        }
        return count;
    }
    ids.sort_unstable();
    ids.dedup();
    if ids.len() * 8 >= frame.len() {
        // A view that is a good part of the frame: one merge pass over both sorted lists.
        let mut at = 0;
        for &id in ids.iter() {
            while at < frame.len() && frame[at].id() < id {
                at += 1;
            }
            if at < frame.len() && frame[at].id() == id {
                mark(at);
                at += 1;
            }
        }
    } else {
        // A small view of a big frame: binary search what is left of the frame.
        let mut start = 0;
        for id in ids.iter() {
            if let Ok(found) = frame[start..].binary_search_by_key(id, |record| record.id()) {
                mark(start + found);
                start += found + 1;
            }
        }
    }
    count
}

/// Fills `out` with the entities of `frame` whose indices are set in `members`.
fn members_view<R: Record>(frame: &[R], members: &[u64], out: &mut Vec<R>) {
    out.clear();
    for (word_index, &word) in members.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            let index = word_index * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if let Some(state) = frame.get(index) {
                out.push(*state);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};
    use tickwire_protocol::bits::BitReader;
    use tickwire_protocol::{Checksum, DeltaError};

    use super::*;

    /// A record with only an id, enough for view selection.
    #[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
    struct Tag(u32);

    impl Record for Tag {
        fn id(&self) -> u32 {
            self.0
        }
        fn write_full(&self, _: &mut BitWriter) {}
        fn read_full(id: u32, _: &mut BitReader<'_>) -> Result<Self, DeltaError> {
            Ok(Tag(id))
        }
        fn changes(&self, _: &Self, _: u32) -> u32 {
            0
        }
        fn write_changes(&self, _: &Self, _: u32, _: u32, _: &mut BitWriter) {}
        fn read_changes(base: &Self, _: u32, _: &mut BitReader<'_>) -> Result<Self, DeltaError> {
            Ok(*base)
        }
        fn is_valid(&self) -> bool {
            self.0 != 0
        }
        fn checksum(&self, sum: &mut Checksum) {
            sum.word(self.0);
        }
    }

    proptest! {
        /// The member bits of a view picked by ids (in any order, with repeats and ids not in
        /// the frame) rebuild exactly the frame's records with those ids, with the id index and
        /// without it (both the merge and the binary-search paths), and the count is theirs.
        #[test]
        fn member_bits_rebuild_the_selected_view(
            frame_ids in proptest::collection::btree_set(1u32..5000, 0..300),
            dense_from in 1u32..100,
            dense in 0usize..200,
            wanted in proptest::collection::vec(1u32..5000, 0..300),
        ) {
            for dense_frame in [false, true] {
                let frame: Vec<Tag> = if dense_frame {
                    (dense_from..dense_from + dense as u32).map(Tag).collect()
                } else {
                    frame_ids.iter().map(|&id| Tag(id)).collect()
                };
                let mut index = IdIndex::default();
                index.build(1, &frame);
                if dense_frame && !frame.is_empty() {
                    prop_assert!(index.usable);
                }
                let expected: Vec<Tag> =
                    frame.iter().filter(|tag| wanted.contains(&tag.0)).copied().collect();
                for use_index in [false, true] {
                    let mut ids = wanted.clone();
                    let mut members = Vec::new();
                    let index = if use_index { &index } else { &IdIndex::default() };
                    let count = select_members(&frame, &mut ids, index, &mut members);
                    let mut rebuilt = Vec::new();
                    members_view(&frame, &members, &mut rebuilt);
                    prop_assert_eq!(&rebuilt, &expected);
                    prop_assert_eq!(count, expected.len());
                }
            }
        }
    }
}
