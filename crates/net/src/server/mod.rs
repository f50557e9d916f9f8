//! The tokio driver, split by job:
//!
//! - this module: [`Server`] (bind, the accept loop, graceful shutdown) and the state every task
//!   of one server shares;
//! - `admission`: the connection caps, a slot per connection for as long as it lives;
//! - `handshake`: the HTTP request, the upgrade and origin check, the Hello, the session token,
//!   the seat, and the hand-off of the socket to its room (or the refusal's goodbye);
//! - `lobby`: rooms, seats and sessions under one lock;
//! - `driver`: a room's task, which owns the room and its clients' sockets and does all their
//!   IO once per tick;
//! - `routes`: the plain HTTP routes;
//! - `fault`: test-only fault injection.
//!
//! Tasks: one accept loop; one short-lived task per connection until it is in a room (or
//! refused, or an HTTP request answered); one task per room. Nothing else runs per client: a
//! room's task reads and writes every one of its sockets itself, once per tick.

mod admission;
#[cfg(feature = "agones")]
pub mod agones;
pub mod cluster;
mod driver;
#[cfg(feature = "fault-injection")]
mod fault;
mod handshake;
mod lobby;
mod recorder;
mod routes;
mod stream;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tickwire_protocol::Schema;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

#[cfg(feature = "fault-injection")]
pub use fault::ServerControl;
pub use lobby::RoomStats;

use crate::config::{ConfigError, ServerConfig};
use crate::game::Game;
use crate::metrics::Metrics;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration (or the game's settings) is unusable.
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

/// A bound, not yet running server for the game `G`.
#[derive(Debug)]
pub struct Server<G: Game> {
    listener: TcpListener,
    shared: Arc<Shared<G>>,
    shutdown: watch::Sender<bool>,
}

/// State every task of one server shares.
#[derive(Debug)]
pub(crate) struct Shared<G: Game> {
    pub(crate) config: ServerConfig,
    /// The game's settings, checked and loaded once; every room is made from them.
    pub(crate) settings: G::Settings,
    /// Player seats per room: the config's, capped by the game's own limit.
    pub(crate) max_players: usize,
    pub(crate) lobby: Mutex<lobby::Lobby<G>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) next_client: AtomicU64,
    /// Open connections per source address, for the per-address cap.
    pub(crate) per_ip: Mutex<HashMap<IpAddr, usize>>,
    /// Flips to true once: every room then says goodbye to its clients and ends.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// TLS for every connection, when the config's `[tls]` names a certificate.
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    /// This server's place in a cluster (set once, before it runs).
    pub(crate) cluster: std::sync::OnceLock<cluster::Cluster>,
    /// The address players reach this server at, when an orchestrator (Agones) gave one.
    pub(crate) advertised_url: std::sync::OnceLock<String>,
    /// The Agones sidecar to report to (set once, before it runs).
    #[cfg(feature = "agones")]
    pub(crate) agones: std::sync::OnceLock<agones::AgonesOptions>,
    /// Writes every room's match log, when `record_dir` is set.
    pub(crate) recorder: Option<recorder::Recorder>,
    /// Where finished matches' results go (set once, before it runs).
    pub(crate) match_store: std::sync::OnceLock<Arc<dyn crate::results::MatchStore>>,
    /// Room tasks still running (each writes its match's results before it ends).
    pub(crate) room_tasks: AtomicU64,
    /// A recorded match this server replays for spectators instead of running games (set once,
    /// before it runs).
    pub(crate) replay: std::sync::OnceLock<ReplaySource>,
    /// Results queries and log downloads in progress at most (past it: 503), so a flood of
    /// them neither piles up store calls nor holds many logs in memory.
    pub(crate) results_permits: tokio::sync::Semaphore,
}

/// Results queries and log downloads served at once at most.
const RESULTS_AT_ONCE: usize = 4;

/// Milliseconds since the Unix epoch, by this machine's clock (seats' expiry, matches' start
/// and end).
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// The match a replaying server shows: the log's records (inflated once), its header, and how
/// fast.
#[derive(Debug)]
pub(crate) struct ReplaySource {
    pub(crate) records: Arc<[u8]>,
    /// The log file stopped early.
    pub(crate) cut: bool,
    pub(crate) header: crate::journal::Header,
    pub(crate) speed: f64,
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
        let tls = match config.tls.files() {
            Some((cert, key)) => Some(crate::tls::server_config(cert, key)?),
            None => None,
        };
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
        let recorder = if config.record_dir.as_os_str().is_empty() {
            None
        } else {
            let mb = |value: f64| (value * 1024.0 * 1024.0) as u64;
            let limits = recorder::Limits {
                max_file_bytes: mb(config.record_max_file_mb),
                keep: (config.record_keep_days > 0.0)
                    .then(|| Duration::from_secs_f64(config.record_keep_days * 86_400.0)),
                max_total_bytes: (config.record_max_total_mb > 0.0)
                    .then(|| mb(config.record_max_total_mb)),
            };
            Some(
                recorder::Recorder::start(config.record_dir.clone(), limits).map_err(|error| {
                    ServerError::Config(ConfigError::Invalid(format!(
                        "record_dir {}: {error}",
                        config.record_dir.display()
                    )))
                })?,
            )
        };
        let (shutdown, shutdown_rx) = watch::channel(false);
        Ok(Server {
            listener,
            shared: Arc::new(Shared {
                config,
                settings,
                max_players,
                lobby: Mutex::new(lobby::Lobby::default()),
                metrics: Arc::new(Metrics::default()),
                next_client: AtomicU64::new(1),
                per_ip: Mutex::new(HashMap::new()),
                shutdown: shutdown_rx,
                tls,
                cluster: std::sync::OnceLock::new(),
                advertised_url: std::sync::OnceLock::new(),
                #[cfg(feature = "agones")]
                agones: std::sync::OnceLock::new(),
                recorder,
                match_store: std::sync::OnceLock::new(),
                room_tasks: AtomicU64::new(0),
                replay: std::sync::OnceLock::new(),
                results_permits: tokio::sync::Semaphore::new(RESULTS_AT_ONCE),
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

    /// The WebSocket URL players connect to (`/` works too): `wss://` when TLS is on.
    pub fn url(&self) -> String {
        let scheme = if self.shared.tls.is_some() {
            "wss"
        } else {
            "ws"
        };
        format!("{scheme}://{}/ws", self.local_addr())
    }

    /// Makes this server a node of a cluster around `directory` (call before [`Server::run`]):
    /// it registers and heartbeats, matchmakes (`POST /api/matchmake` and seatless Hellos,
    /// redirecting to the owning node), redeems seats, reports leaves, and drains on a graceful
    /// stop. Fails when the options are unusable.
    pub fn with_cluster(
        self,
        directory: Arc<dyn cluster::DynDirectory>,
        options: cluster::ClusterOptions,
    ) -> Result<Server<G>, ServerError> {
        let invalid = |what: &str| ServerError::Config(ConfigError::Invalid(what.to_string()));
        if !crate::seat::valid_node_id(&options.node_id) {
            return Err(invalid("the node id must be 1-64 of A-Z a-z 0-9 - _"));
        }
        if options.secret.len() < 16 {
            return Err(invalid(
                "the cluster secret must be at least 16 bytes (TICKWIRE_CLUSTER_SECRET)",
            ));
        }
        let url = &options.public_url;
        let from_agones = url.is_empty() && cfg!(feature = "agones");
        if !from_agones
            && (!(url.starts_with("ws://") || url.starts_with("wss://"))
                || url.len() > tickwire_protocol::limits::URL_MAX)
        {
            return Err(invalid(
                "the public URL must be ws://HOST:PORT/ws or wss://... (at most 256 bytes)",
            ));
        }
        if options.ttl <= options.heartbeat {
            return Err(invalid("the node TTL must be longer than the heartbeat"));
        }
        // The directory must never place more rooms here than the lobby can open.
        let mut options = options;
        options.room_cap = options
            .room_cap
            .min(self.shared.config.max_rooms.min(u32::MAX as usize) as u32);
        let _ = self
            .shared
            .cluster
            .set(cluster::Cluster::new(directory, options));
        Ok(self)
    }

    /// Stores every finished match's results in `store` (call before [`Server::run`]), and
    /// answers `/api/matches`, `/api/matches/ID` and `/api/leaderboard` from it.
    pub fn with_match_store(self, store: Arc<dyn crate::results::MatchStore>) -> Server<G> {
        let _ = self.shared.match_store.set(store);
        self
    }

    /// Makes this server replay a recorded match (a match log's bytes) for spectators instead
    /// of running games (call before [`Server::run`]): a spectator's Hello, for any room, joins
    /// the match's room, which is built from the log and stepped by its commands at `speed`
    /// times the recorded rate, checking every state hash; players are refused. When the log
    /// ends (or its replay diverges) the spectators are told why (1000) and the room closes;
    /// the next spectator starts the replay again. Fails when the log is not this game's.
    pub fn with_replay(
        self,
        file: Vec<u8>,
        speed: f64,
    ) -> Result<Server<G>, crate::replay::ReplayError> {
        let (records, cut) = crate::journal::inflate(&file)?;
        drop(file);
        let records: Arc<[u8]> = records.into();
        let (header, _) = crate::replay::Log::<<G::Wire as Schema>::Input>::from_inflated(
            Arc::clone(&records),
            cut,
        )?;
        crate::replay::build_game::<G>(&header)?;
        if !(speed.is_finite() && (0.01..=100.0).contains(&speed)) {
            return Err(crate::replay::ReplayError::Config(
                "the replay speed must be 0.01 to 100".into(),
            ));
        }
        let _ = self.shared.replay.set(ReplaySource {
            records,
            cut,
            header,
            speed,
        });
        Ok(self)
    }

    /// Reports this server's lifecycle to its Agones sidecar (call before [`Server::run`]):
    /// Ready, health pings gated on a watchdog, Counters, Allocate while it has players,
    /// Shutdown after a graceful stop.
    #[cfg(feature = "agones")]
    pub fn with_agones(self, options: agones::AgonesOptions) -> Server<G> {
        let _ = self.shared.agones.set(options);
        self
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
        let (node_stop, node_stopped) = watch::channel(false);
        #[cfg(feature = "agones")]
        let (agones_stop, agones_stopped) = watch::channel(false);
        #[cfg(feature = "agones")]
        let agones = shared.agones.get().cloned().map(|options| {
            tokio::spawn(agones::run_agones(
                Arc::clone(&shared),
                options,
                agones_stopped,
            ))
        });
        let node = shared
            .cluster
            .get()
            .is_some()
            .then(|| tokio::spawn(cluster::run_node(Arc::clone(&shared), node_stopped)));
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => admission::accept(&shared, stream, peer),
                    Err(error) => {
                        // Usually out of file descriptors: back off instead of spinning.
                        warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        if let Some(cluster) = shared.cluster.get() {
            // Drain: no new seats from the next heartbeat on; rooms may finish (new connections
            // are still accepted, for the seats already handed out and for resumes) until they
            // are empty or the drain timeout passes.
            cluster.start_draining().await;
            info!("draining: no new seats; waiting for rooms to empty and seats to be used");
            let deadline = Instant::now() + cluster.options.drain_timeout;
            let accept = async {
                loop {
                    match listener.accept().await {
                        Ok((stream, peer)) => admission::accept(&shared, stream, peer),
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
            };
            // Done when no room is left and no seat handed out for one is still to come
            // (the directory's word, asked twice a second; without an answer, the rooms alone).
            let empty = async {
                let mut seats_checked = Instant::now();
                let mut seats_out = cluster.outstanding_seats().await.unwrap_or(0);
                while Instant::now() < deadline {
                    if seats_checked.elapsed() >= Duration::from_millis(500) {
                        seats_out = cluster.outstanding_seats().await.unwrap_or(0);
                        seats_checked = Instant::now();
                    }
                    if lobby::lock(&shared.lobby).rooms.is_empty() && seats_out == 0 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            };
            tokio::select! {
                _ = accept => {}
                _ = empty => {}
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
        // Every room ends its match: its log closed, its results stored.
        let deadline = Instant::now() + Duration::from_secs(5);
        while shared.room_tasks.load(Relaxed) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if shared.recorder.is_some() {
            let shared = Arc::clone(&shared);
            let _ = tokio::task::spawn_blocking(move || {
                if let Some(recorder) = &shared.recorder {
                    recorder.flush(Duration::from_secs(5));
                }
            })
            .await;
        }
        if let Some(node) = node {
            let _ = node_stop.send(true);
            let _ = tokio::time::timeout(Duration::from_secs(3), node).await;
        }
        #[cfg(feature = "agones")]
        if let Some(agones) = agones {
            let _ = agones_stop.send(true);
            let _ = tokio::time::timeout(Duration::from_secs(3), agones).await;
        }
    }
}
