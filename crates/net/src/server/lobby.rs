//! The lobby: the rooms, the seats taken in each, and the live sessions, under one lock. Seats
//! are reserved here before a connection joins a room, so two joiners never both take the last
//! seat and a room is never removed while someone is on the way in; they are given back only by
//! the room's task (when its room reports a player gone for good) or by the connection whose own
//! join failed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tickwire_protocol::Hello;
use tokio::sync::mpsc;
use tracing::info;

use super::Shared;
use super::driver::{RoomCmd, run_room};
use crate::close_reason::CloseReason;
use crate::game::Game;
use crate::room::{Room, RoomSettings, SessionToken};

/// Locks `mutex`, recovering from poisoning: the lobby's and the caps' updates leave their data
/// consistent at every step, so a panic elsewhere while holding the lock (a bug) must not turn
/// every later join, resume and route into a failure.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The rooms and sessions of one server.
#[derive(Debug)]
pub(crate) struct Lobby<G: Game> {
    pub(crate) rooms: BTreeMap<String, RoomEntry<G>>,
    /// Resume token -> room holding that player.
    pub(crate) sessions: HashMap<SessionToken, String>,
    /// Signed session tokens in use, with how many live connections use each (more than one
    /// only while a resume replaces the connection that held it).
    pub(crate) auth_in_use: HashMap<String, usize>,
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

/// One room as the lobby knows it.
#[derive(Debug)]
pub(crate) struct RoomEntry<G: Game> {
    /// Unique per room ever created, so a seat is never given back to a newer room that
    /// happens to have the same name.
    pub(crate) id: u64,
    /// The room task's command channel (bounded: joins wait for room in it).
    pub(crate) inbox: mpsc::Sender<RoomCmd<G>>,
    pub(crate) players: usize,
    pub(crate) spectators: usize,
    pub(crate) stats: Arc<RoomStats>,
}

/// Figures a room task publishes for /api/rooms.
#[derive(Debug, Default)]
pub struct RoomStats {
    /// The room's tick.
    pub tick: AtomicU32,
    /// When the room last stepped ([`stamp_ms`]; 0 before its first step).
    stepped_ms: std::sync::atomic::AtomicU64,
    /// Duration of recent ticks in nanoseconds (a ring, for a p99).
    recent_ns: Mutex<VecDeque<u64>>,
}

/// The clock room steps are stamped with (milliseconds since the first stamp).
fn stamp_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as u64
}

impl RoomStats {
    pub(crate) fn record(&self, tick: u32, nanos: u64) {
        self.tick.store(tick, Relaxed);
        self.stepped_ms.store(stamp_ms(), Relaxed);
        let mut recent = lock(&self.recent_ns);
        if recent.len() >= 256 {
            recent.pop_front();
        }
        recent.push_back(nanos);
    }

    /// Whether the room stepped within the last `window` (a room that has not stepped yet
    /// counts as having just started).
    pub fn stepped_within(&self, window: std::time::Duration) -> bool {
        let stepped = self.stepped_ms.load(Relaxed);
        stepped == 0 || stamp_ms().saturating_sub(stepped) <= window.as_millis() as u64
    }

    /// The 99th percentile of the recent tick durations, in milliseconds.
    pub fn tick_p99_ms(&self) -> f64 {
        let recent = lock(&self.recent_ns);
        if recent.is_empty() {
            return 0.0;
        }
        let mut sorted: Vec<u64> = recent.iter().copied().collect();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 * 0.99).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[index] as f64 / 1e6
    }
}

/// A seat taken in a room: the room's name, its inbox and its id.
pub(crate) type ReservedSeat<G> = (String, mpsc::Sender<RoomCmd<G>>, u64);

/// Takes a seat in the named room (or the fullest room with one free), creating the room if
/// needed.
pub(crate) fn reserve_seat<G: Game>(
    shared: &Arc<Shared<G>>,
    hello: &Hello,
) -> Result<ReservedSeat<G>, CloseReason> {
    let config = &shared.config;
    let mut lobby = lock(&shared.lobby);
    let has_seat = |entry: &RoomEntry<G>| {
        if hello.spectate {
            entry.spectators < config.max_spectators_per_room
        } else {
            entry.players < shared.max_players
        }
    };
    // A replaying server has one room, the recorded match's, for spectators only.
    let requested = match shared.replay.get() {
        Some(_) if !hello.spectate => {
            return Err(CloseReason::BadHello(
                "this server replays a recorded match: join as a spectator".into(),
            ));
        }
        Some(replay) => Some(replay.header.room.clone()),
        None => hello.room.clone(),
    };
    let name = match &requested {
        Some(name) => match lobby.rooms.get(name) {
            Some(entry) if has_seat(entry) => name.clone(),
            Some(_) => return Err(CloseReason::RoomFull("room is full".into())),
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
) -> Result<String, CloseReason> {
    let config = &shared.config;
    if lobby.rooms.len() >= config.max_rooms {
        return Err(CloseReason::NoRoomForARoom);
    }
    let settings = RoomSettings {
        tick_rate: config.tick_rate,
        snapshot_interval: config.snapshot_interval,
        max_players: shared.max_players,
        max_spectators: config.max_spectators_per_room,
        history: config.history,
        resume_grace_ticks: config.resume_grace_ticks(),
        ack_timeout_ticks: (config.stall_timeout_s * config.tick_rate as f64).round() as u32,
        client_bytes_per_s: config.client_bytes_per_s,
        pace_by_acks: config.pace_snapshots,
        json_snapshot_interval: config.json_snapshot_interval(),
    };
    let seed = config.seed.wrapping_add(lobby.rooms_created);
    let room_id = lobby.rooms_created;
    lobby.rooms_created += 1;
    let (game, settings, replay) = match shared.replay.get() {
        None => (
            G::new(&shared.settings, config.tick_rate, seed),
            settings,
            None,
        ),
        Some(source) => {
            // The recorded match's game, from its log (checked when the replay was set).
            let (header, log) =
                crate::replay::Log::from_inflated(Arc::clone(&source.records), source.cut)
                    .map_err(|_| CloseReason::Internal("the replay's log does not read"))?;
            let game = crate::replay::build_game::<G>(&header)
                .map_err(|_| CloseReason::Internal("the replay's game does not build"))?;
            let settings = RoomSettings {
                tick_rate: header.tick_rate,
                ..settings
            };
            (game, settings, Some(log))
        }
    };
    let mut room = Room::new(name.clone(), settings, game);
    let started_unix_ms = super::now_ms();
    let recording = shared
        .recorder
        .as_ref()
        .filter(|_| replay.is_none())
        .map(|recorder| {
            let header = crate::journal::Header {
                format: crate::journal::FORMAT_VERSION,
                game: <G::Wire as tickwire_protocol::Schema>::NAME.to_string(),
                schema: <G::Wire as tickwire_protocol::Schema>::VERSION,
                room: name.clone(),
                seed,
                tick_rate: config.tick_rate,
                game_config: config.game_table_text::<G>(),
                started_unix_ms,
                hash_every: config.record_hash_every,
                server: concat!("tickwire ", env!("CARGO_PKG_VERSION")).to_string(),
            };
            room.record(crate::journal::Journal::new(&header));
            recorder.begin(&name, started_unix_ms)
        });
    if shared.match_store.get().is_some() && replay.is_none() {
        room.keep_results();
    }
    let (inbox, commands) = mpsc::channel(config.room_inbox);
    let stats = Arc::new(RoomStats::default());
    shared.room_tasks.fetch_add(1, Relaxed);
    tokio::spawn(run_room(
        Arc::clone(shared),
        room,
        room_id,
        commands,
        Arc::clone(&stats),
        super::driver::Match {
            started_unix_ms,
            recording,
            replay,
        },
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
pub(crate) fn release_seat<G: Game>(shared: &Shared<G>, name: &str, room_id: u64, spectate: bool) {
    let mut lobby = lock(&shared.lobby);
    release_seat_locked(shared, &mut lobby, name, room_id, spectate);
}

pub(crate) fn release_seat_locked<G: Game>(
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
    if let Some(cluster) = shared.cluster.get() {
        cluster.report_leave(name, spectate);
    }
    if entry.players == 0 && entry.spectators == 0 {
        lobby.rooms.remove(name);
        shared.metrics.rooms.fetch_sub(1, Relaxed);
        info!(room = %name, "room removed");
    }
}
