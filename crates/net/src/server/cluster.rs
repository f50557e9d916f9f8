//! This server as one node of a cluster: its place in the room directory (registration,
//! heartbeats, reaping, eviction and claims), seats (minted for matchmaking, checked and
//! redeemed at the Hello), and the leaves it reports. The directory is touched on matchmaking,
//! seat redemption, leaving, heartbeats and reaping only; never by a room's tick.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::driver::RoomCmd;
use super::lobby::lock;
use super::{Shared, now_ms};
use crate::close_reason::CloseReason;
use crate::directory::{
    Capacity, Directory, DirectoryError, Liveness, MatchError, MatchRequest, NodeSpec, Placement,
    RedeemError, Redeemed, RoomEntry,
};
use crate::game::Game;
use crate::seat::{self, SeatError};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`Directory`] behind a pointer: the server holds any backend without being generic over it
/// (a directory call happens per join, never per tick, so the box costs nothing that matters).
pub trait DynDirectory: Send + Sync + std::fmt::Debug + 'static {
    /// [`Directory::register`].
    fn register<'a>(
        &'a self,
        node: &'a NodeSpec,
        ttl_ms: u64,
    ) -> BoxFuture<'a, Result<u64, DirectoryError>>;
    /// [`Directory::heartbeat`].
    fn heartbeat<'a>(
        &'a self,
        node: &'a str,
        epoch: u64,
        ttl_ms: u64,
        draining: bool,
    ) -> BoxFuture<'a, Result<Liveness, DirectoryError>>;
    /// [`Directory::matchmake`].
    fn matchmake<'a>(
        &'a self,
        request: &'a MatchRequest,
    ) -> BoxFuture<'a, Result<Placement, MatchError>>;
    /// [`Directory::redeem`].
    fn redeem<'a>(
        &'a self,
        node: &'a str,
        seat: &'a str,
    ) -> BoxFuture<'a, Result<Redeemed, RedeemError>>;
    /// [`Directory::leave`].
    fn leave<'a>(
        &'a self,
        node: &'a str,
        room: &'a str,
        spectate: bool,
    ) -> BoxFuture<'a, Result<(), DirectoryError>>;
    /// [`Directory::claim`].
    fn claim<'a>(
        &'a self,
        node: &'a str,
        epoch: u64,
        room: &'a RoomEntry,
    ) -> BoxFuture<'a, Result<bool, DirectoryError>>;
    /// [`Directory::deregister`].
    fn deregister<'a>(&'a self, node: &'a str) -> BoxFuture<'a, Result<(), DirectoryError>>;
    /// [`Directory::reap`].
    fn reap(&self, limit: u32) -> BoxFuture<'_, Result<crate::directory::Reaped, DirectoryError>>;
    /// [`Directory::rooms`].
    fn rooms(&self) -> BoxFuture<'_, Result<Vec<RoomEntry>, DirectoryError>>;
    /// [`Directory::nodes`].
    fn nodes(&self) -> BoxFuture<'_, Result<Vec<crate::directory::NodeEntry>, DirectoryError>>;
}

impl<D: Directory + std::fmt::Debug> DynDirectory for D {
    fn register<'a>(
        &'a self,
        node: &'a NodeSpec,
        ttl_ms: u64,
    ) -> BoxFuture<'a, Result<u64, DirectoryError>> {
        Box::pin(Directory::register(self, node, ttl_ms))
    }
    fn heartbeat<'a>(
        &'a self,
        node: &'a str,
        epoch: u64,
        ttl_ms: u64,
        draining: bool,
    ) -> BoxFuture<'a, Result<Liveness, DirectoryError>> {
        Box::pin(Directory::heartbeat(self, node, epoch, ttl_ms, draining))
    }
    fn matchmake<'a>(
        &'a self,
        request: &'a MatchRequest,
    ) -> BoxFuture<'a, Result<Placement, MatchError>> {
        Box::pin(Directory::matchmake(self, request))
    }
    fn redeem<'a>(
        &'a self,
        node: &'a str,
        seat: &'a str,
    ) -> BoxFuture<'a, Result<Redeemed, RedeemError>> {
        Box::pin(Directory::redeem(self, node, seat))
    }
    fn leave<'a>(
        &'a self,
        node: &'a str,
        room: &'a str,
        spectate: bool,
    ) -> BoxFuture<'a, Result<(), DirectoryError>> {
        Box::pin(Directory::leave(self, node, room, spectate))
    }
    fn claim<'a>(
        &'a self,
        node: &'a str,
        epoch: u64,
        room: &'a RoomEntry,
    ) -> BoxFuture<'a, Result<bool, DirectoryError>> {
        Box::pin(Directory::claim(self, node, epoch, room))
    }
    fn deregister<'a>(&'a self, node: &'a str) -> BoxFuture<'a, Result<(), DirectoryError>> {
        Box::pin(Directory::deregister(self, node))
    }
    fn reap(&self, limit: u32) -> BoxFuture<'_, Result<crate::directory::Reaped, DirectoryError>> {
        Box::pin(Directory::reap(self, limit))
    }
    fn rooms(&self) -> BoxFuture<'_, Result<Vec<RoomEntry>, DirectoryError>> {
        Box::pin(Directory::rooms(self))
    }
    fn nodes(&self) -> BoxFuture<'_, Result<Vec<crate::directory::NodeEntry>, DirectoryError>> {
        Box::pin(Directory::nodes(self))
    }
}

/// How this node takes part in its cluster.
#[derive(Clone)]
pub struct ClusterOptions {
    /// This node's id: 1-64 of `A-Z a-z 0-9 - _`, unique in the cluster.
    pub node_id: String,
    /// The WebSocket URL players reach this node at (`ws://host:port/ws`); empty: the address
    /// Agones gives the GameServer (with the `agones` feature).
    pub public_url: String,
    /// The cluster's shared secret, which signs seats.
    pub secret: Vec<u8>,
    /// Time between heartbeats (and reaping passes).
    pub heartbeat: Duration,
    /// A node that misses heartbeats this long counts as dead.
    pub ttl: Duration,
    /// How long a matchmade seat is held for its Hello.
    pub seat_ttl: Duration,
    /// Rooms this node may own at once.
    pub room_cap: u32,
    /// On a graceful stop, how long rooms may go on before their players are told to
    /// matchmake again.
    pub drain_timeout: Duration,
}

impl std::fmt::Debug for ClusterOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterOptions")
            .field("node_id", &self.node_id)
            .field("public_url", &self.public_url)
            .field("heartbeat", &self.heartbeat)
            .field("ttl", &self.ttl)
            .field("seat_ttl", &self.seat_ttl)
            .field("room_cap", &self.room_cap)
            .finish_non_exhaustive()
    }
}

impl ClusterOptions {
    /// Defaults: a 1 s heartbeat, a 3 s lifetime, 10 s seats, 1,000 rooms, a 30 s drain.
    pub fn new(node_id: String, public_url: String, secret: Vec<u8>) -> ClusterOptions {
        ClusterOptions {
            node_id,
            public_url,
            secret,
            heartbeat: Duration::from_secs(1),
            ttl: Duration::from_secs(3),
            seat_ttl: Duration::from_secs(10),
            room_cap: 1000,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Counters of the node's cluster work, for /metrics.
#[derive(Debug, Default)]
pub(crate) struct ClusterMetrics {
    directory_calls: AtomicU64,
    directory_errors: AtomicU64,
    matchmakes: AtomicU64,
    matchmakes_full: AtomicU64,
    matchmakes_unavailable: AtomicU64,
    redirects: AtomicU64,
    seats_redeemed: AtomicU64,
    redeem_calls: AtomicU64,
    seats_refused: AtomicU64,
    seats_expired: AtomicU64,
    heartbeat_failures: AtomicU64,
    evictions: AtomicU64,
    rooms_lost: AtomicU64,
    reaped_nodes: AtomicU64,
    reaped_rooms: AtomicU64,
    reaped_seats: AtomicU64,
    leaves_dropped: AtomicU64,
    pub(crate) listings_read: AtomicU64,
    matchmakes_limited: AtomicU64,
}

/// A cluster node's shared state.
#[derive(Debug)]
pub(crate) struct Cluster {
    pub(crate) directory: Arc<dyn DynDirectory>,
    pub(crate) options: ClusterOptions,
    /// The epoch of the current registration (0: not registered).
    epoch: AtomicU64,
    pub(crate) draining: AtomicBool,
    pub(crate) metrics: ClusterMetrics,
    leaves: mpsc::Sender<(String, bool)>,
    leaves_rx: Mutex<Option<mpsc::Receiver<(String, bool)>>>,
    /// The last `/api/rooms?scope=cluster` and `/api/nodes` answers (see [`Listing`]).
    pub(crate) room_listing: Listing,
    pub(crate) node_listing: Listing,
    /// Seat requests per address (see [`Cluster::admit_matchmake`]).
    matchmake_budgets: Mutex<Budgets>,
}

/// Token buckets by address, and one shared by the addresses past the table's size.
#[derive(Debug)]
struct Budgets {
    by_address: HashMap<IpAddr, (f64, tokio::time::Instant)>,
    overflow: (f64, tokio::time::Instant),
    pruned: tokio::time::Instant,
}

/// Addresses whose matchmaking budget is remembered at most; past it, full budgets are forgotten
/// (at most once a second), and new addresses beyond that share one budget.
const MATCHMAKE_ADDRESSES_MAX: usize = 65_536;

/// The address a budget is kept for: IPv4 (IPv4-mapped IPv6 too) as is, IPv6 by its /64 (one
/// host usually has a whole /64).
fn budget_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::V6(segments.into())
        }
        v4 => v4,
    }
}

/// A cluster-wide listing as last read from the directory, shared by every request within
/// [`LISTING_FRESH`]: the listing scripts walk every room or node, so a flood of requests must
/// not turn into a flood of them. One request reads at a time; the others wait for it and take
/// its answer.
#[derive(Debug, Default)]
pub(crate) struct Listing(tokio::sync::Mutex<Option<(tokio::time::Instant, Arc<str>)>>);

/// How long a listing is served from memory before the directory is read again.
pub(crate) const LISTING_FRESH: Duration = Duration::from_secs(1);

impl Listing {
    /// The cached listing when fresh, else `read`'s (cached on success).
    pub(crate) async fn get<E>(
        &self,
        read: impl Future<Output = Result<String, E>>,
    ) -> Result<Arc<str>, E> {
        let mut cached = self.0.lock().await;
        if let Some((at, body)) = cached.as_ref()
            && at.elapsed() < LISTING_FRESH
        {
            return Ok(Arc::clone(body));
        }
        let body: Arc<str> = read.await?.into();
        *cached = Some((tokio::time::Instant::now(), Arc::clone(&body)));
        Ok(body)
    }
}

/// Leaves waiting to be reported at most (past it they are counted and dropped; the directory
/// then over-counts that room until it empties or the node re-registers).
const LEAVES_MAX: usize = 65_536;
/// Dead nodes and expired seats one reaping pass removes at most.
const REAP_LIMIT: u32 = 200;

impl Cluster {
    pub(crate) fn new(directory: Arc<dyn DynDirectory>, options: ClusterOptions) -> Cluster {
        let (leaves, leaves_rx) = mpsc::channel(LEAVES_MAX);
        Cluster {
            directory,
            options,
            epoch: AtomicU64::new(0),
            draining: AtomicBool::new(false),
            metrics: ClusterMetrics::default(),
            leaves,
            leaves_rx: Mutex::new(Some(leaves_rx)),
            room_listing: Listing::default(),
            node_listing: Listing::default(),
            matchmake_budgets: Mutex::new(Budgets {
                by_address: HashMap::new(),
                overflow: (0.0, tokio::time::Instant::now()),
                pruned: tokio::time::Instant::now(),
            }),
        }
    }

    /// Whether `ip` may ask for another seat now: a token bucket per address, `rate` a second
    /// with bursts of `burst`. Refusals are counted.
    pub(crate) fn admit_matchmake(&self, ip: IpAddr, rate: f64, burst: f64) -> bool {
        let now = tokio::time::Instant::now();
        let key = budget_key(ip);
        let mut guard = lock(&self.matchmake_budgets);
        let budgets = &mut *guard;
        let refill = |tokens: f64, since: tokio::time::Instant| {
            (tokens + now.saturating_duration_since(since).as_secs_f64() * rate).min(burst)
        };
        let full = budgets.by_address.len() >= MATCHMAKE_ADDRESSES_MAX;
        if full
            && !budgets.by_address.contains_key(&key)
            && now.saturating_duration_since(budgets.pruned) >= Duration::from_secs(1)
        {
            budgets.pruned = now;
            budgets
                .by_address
                .retain(|_, (tokens, since)| refill(*tokens, *since) < burst);
        }
        let (tokens, since) = if budgets.by_address.len() < MATCHMAKE_ADDRESSES_MAX
            || budgets.by_address.contains_key(&key)
        {
            budgets.by_address.entry(key).or_insert((burst, now))
        } else {
            // Past the table: every such address shares one budget.
            &mut budgets.overflow
        };
        *tokens = refill(*tokens, *since);
        *since = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            self.metrics.matchmakes_limited.fetch_add(1, Relaxed);
            false
        }
    }

    fn counted<T, E>(
        &self,
        result: Result<T, E>,
        is_directory: impl Fn(&E) -> bool,
    ) -> Result<T, E> {
        self.metrics.directory_calls.fetch_add(1, Relaxed);
        if let Err(error) = &result
            && is_directory(error)
        {
            self.metrics.directory_errors.fetch_add(1, Relaxed);
        }
        result
    }

    /// Reserves a seat for `room` (or any) and signs it: where to go, and the seat to show.
    pub(crate) async fn matchmake(
        &self,
        room: Option<String>,
        spectate: bool,
        capacity: Capacity,
    ) -> Result<(Placement, String), MatchError> {
        let id = seat::new_id().ok_or_else(|| DirectoryError("no randomness".into()))?;
        let request = MatchRequest {
            room,
            spectate,
            seat: id.clone(),
            seat_ttl_ms: self.options.seat_ttl.as_millis() as u64,
            capacity,
        };
        let result = self.directory.matchmake(&request).await;
        let placement = self
            .counted(result, |error| matches!(error, MatchError::Directory(_)))
            .inspect_err(|error| {
                let counter = match error {
                    MatchError::RoomFull => &self.metrics.matchmakes_full,
                    _ => &self.metrics.matchmakes_unavailable,
                };
                counter.fetch_add(1, Relaxed);
            })?;
        self.metrics.matchmakes.fetch_add(1, Relaxed);
        let token = seat::mint(
            &self.options.secret,
            &seat::Seat {
                id,
                node: placement.node.clone(),
                room: placement.room.clone(),
                spectate,
                expires_at_ms: now_ms() + request.seat_ttl_ms,
            },
        );
        Ok((placement, token))
    }

    /// Checks a seat (signature, node, expiry: no directory call when any fails), then redeems
    /// it in the directory.
    pub(crate) async fn redeem(&self, text: &str) -> Result<Redeemed, CloseReason> {
        let seat = match seat::verify(&self.options.secret, text, &self.options.node_id, now_ms()) {
            Ok(seat) => seat,
            Err(SeatError::Expired) => {
                self.metrics.seats_expired.fetch_add(1, Relaxed);
                return Err(CloseReason::SeatExpired);
            }
            Err(error) => {
                self.metrics.seats_refused.fetch_add(1, Relaxed);
                return Err(CloseReason::SeatInvalid(error.to_string()));
            }
        };
        self.metrics.redeem_calls.fetch_add(1, Relaxed);
        let result = self.directory.redeem(&self.options.node_id, &seat.id).await;
        match self.counted(result, |error| matches!(error, RedeemError::Directory(_))) {
            Ok(redeemed) => {
                self.metrics.seats_redeemed.fetch_add(1, Relaxed);
                Ok(redeemed)
            }
            Err(RedeemError::Directory(error)) => {
                Err(CloseReason::MatchmakingUnavailable(error.to_string()))
            }
            Err(error) => {
                self.metrics.seats_refused.fetch_add(1, Relaxed);
                Err(CloseReason::SeatInvalid(error.to_string()))
            }
        }
    }

    /// Starts draining: no new seats here, said to the directory now rather than at the next
    /// heartbeat.
    pub(crate) async fn start_draining(&self) {
        self.draining.store(true, Relaxed);
        let epoch = self.epoch.load(Relaxed);
        if epoch != 0 {
            let result = self
                .directory
                .heartbeat(
                    &self.options.node_id,
                    epoch,
                    self.options.ttl.as_millis() as u64,
                    true,
                )
                .await;
            let _ = self.counted(result, |_| true);
        }
    }

    /// Seats handed out for this node's rooms and not yet redeemed (None: the directory did
    /// not answer).
    pub(crate) async fn outstanding_seats(&self) -> Option<u32> {
        let result = self.directory.rooms().await;
        let rooms = self.counted(result, |_| true).ok()?;
        Some(
            rooms
                .iter()
                .filter(|room| room.node == self.options.node_id)
                .map(|room| room.reserved_players + room.reserved_spectators)
                .sum(),
        )
    }

    /// Whether the node is registered in the directory now.
    #[cfg_attr(not(feature = "agones"), allow(dead_code))]
    pub(crate) fn is_registered(&self) -> bool {
        self.epoch.load(Relaxed) != 0
    }

    /// A redirect was sent.
    pub(crate) fn count_redirect(&self) {
        self.metrics.redirects.fetch_add(1, Relaxed);
    }

    /// A seat in a room of this node is free again (reported to the directory by the node's
    /// task, off the room's tick).
    pub(crate) fn report_leave(&self, room: &str, spectate: bool) {
        if self.leaves.try_send((room.to_string(), spectate)).is_err() {
            self.metrics.leaves_dropped.fetch_add(1, Relaxed);
        }
    }

    /// The cluster's lines of /metrics.
    pub(crate) fn render_metrics(&self, out: &mut String) {
        let m = &self.metrics;
        let counters: [(&str, &str, &AtomicU64); 19] = [
            (
                "matchmakes_limited",
                "Seat requests refused by the per-address limit (matchmake_rate, matchmake_burst).",
                &m.matchmakes_limited,
            ),
            (
                "listings_read",
                "Cluster listings (/api/rooms?scope=cluster, /api/nodes) read from the directory; \
                 requests within a second of the last read share it.",
                &m.listings_read,
            ),
            (
                "redeem_calls",
                "Seats taken to the directory (after their signature, node and expiry passed).",
                &m.redeem_calls,
            ),
            (
                "directory_calls",
                "Directory calls made by this node.",
                &m.directory_calls,
            ),
            (
                "directory_errors",
                "Directory calls that failed (unreachable or late).",
                &m.directory_errors,
            ),
            (
                "matchmakes",
                "Seats reserved by matchmaking on this node.",
                &m.matchmakes,
            ),
            (
                "matchmakes_full",
                "Matchmakes refused: the named room was full.",
                &m.matchmakes_full,
            ),
            (
                "matchmakes_unavailable",
                "Matchmakes that failed: no node, a draining owner, or the directory.",
                &m.matchmakes_unavailable,
            ),
            (
                "redirects",
                "Hellos answered with a Redirect to the owning node.",
                &m.redirects,
            ),
            (
                "seats_redeemed",
                "Seats redeemed at a Hello.",
                &m.seats_redeemed,
            ),
            (
                "seats_refused",
                "Seats refused: forged, foreign, used or no longer reserved.",
                &m.seats_refused,
            ),
            (
                "seats_expired",
                "Seats refused as expired.",
                &m.seats_expired,
            ),
            (
                "heartbeat_failures",
                "Heartbeats that did not reach the directory.",
                &m.heartbeat_failures,
            ),
            (
                "evictions",
                "Times this node learned it had been evicted.",
                &m.evictions,
            ),
            (
                "rooms_lost",
                "Rooms closed because another node owned their name after an eviction.",
                &m.rooms_lost,
            ),
            (
                "reaped_nodes",
                "Dead nodes removed by this node's reaper.",
                &m.reaped_nodes,
            ),
            (
                "reaped_rooms",
                "Rooms of dead nodes removed by this node's reaper.",
                &m.reaped_rooms,
            ),
            (
                "reaped_seats",
                "Expired seats given back by this node's reaper.",
                &m.reaped_seats,
            ),
            (
                "leaves_dropped",
                "Leaves not reported (the queue was full).",
                &m.leaves_dropped,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP tickwire_cluster_{name}_total {help}\n# TYPE tickwire_cluster_{name}_total counter\ntickwire_cluster_{name}_total {}",
                value.load(Relaxed)
            );
        }
        let registered = u64::from(self.epoch.load(Relaxed) != 0);
        let _ = writeln!(
            out,
            "# HELP tickwire_cluster_registered Whether this node is registered in the directory.\n# TYPE tickwire_cluster_registered gauge\ntickwire_cluster_registered {registered}\n# HELP tickwire_cluster_draining Whether this node takes no new seats.\n# TYPE tickwire_cluster_draining gauge\ntickwire_cluster_draining {}",
            u64::from(self.draining.load(Relaxed))
        );
    }
}

/// The node's task: registers, heartbeats (learning of an eviction and claiming the rooms back),
/// reaps, and reports leaves, until the server stops; then deregisters.
pub(crate) async fn run_node<G: Game>(
    shared: Arc<Shared<G>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Some(cluster) = shared.cluster.get() else {
        return;
    };
    let Some(mut leaves) = lock(&cluster.leaves_rx).take() else {
        return;
    };
    let options = &cluster.options;
    // Without a public URL of its own, the node waits for the one Agones gives it.
    let url = if options.public_url.is_empty() {
        loop {
            if let Some(url) = shared.advertised_url.get() {
                break url.clone();
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = stop.changed() => {
                    if *stop.borrow() {
                        return;
                    }
                }
            }
        }
    } else {
        options.public_url.clone()
    };
    let spec = NodeSpec {
        id: options.node_id.clone(),
        url,
        room_cap: options.room_cap,
    };
    let ttl_ms = options.ttl.as_millis() as u64;
    // Leaves not yet accepted by the directory, oldest first (retried every beat).
    let mut pending: std::collections::VecDeque<(String, bool)> = std::collections::VecDeque::new();
    let mut ticker = tokio::time::interval(options.heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            Some(leave) = leaves.recv() => {
                pending.push_back(leave);
                report_leaves(cluster, &mut pending).await;
                continue;
            }
            _ = stop.changed() => {
                if *stop.borrow() {
                    break;
                }
                continue;
            }
        }
        let epoch = cluster.epoch.load(Relaxed);
        if epoch == 0 {
            register(&shared, cluster, &spec, ttl_ms, &mut leaves, &mut pending).await;
        } else {
            let draining = cluster.draining.load(Relaxed);
            let result = cluster
                .directory
                .heartbeat(&options.node_id, epoch, ttl_ms, draining)
                .await;
            match cluster.counted(result, |_| true) {
                Ok(Liveness::Alive) => {}
                Ok(Liveness::Evicted) => {
                    cluster.metrics.evictions.fetch_add(1, Relaxed);
                    warn!(node = %options.node_id, "evicted from the directory; registering again");
                    cluster.epoch.store(0, Relaxed);
                    register(&shared, cluster, &spec, ttl_ms, &mut leaves, &mut pending).await;
                }
                Err(error) => {
                    cluster.metrics.heartbeat_failures.fetch_add(1, Relaxed);
                    debug!(%error, "heartbeat failed");
                }
            }
        }
        report_leaves(cluster, &mut pending).await;
        let result = cluster.directory.reap(REAP_LIMIT).await;
        if let Ok(reaped) = cluster.counted(result, |_| true) {
            let m = &cluster.metrics;
            m.reaped_nodes.fetch_add(u64::from(reaped.nodes), Relaxed);
            m.reaped_rooms.fetch_add(u64::from(reaped.rooms), Relaxed);
            m.reaped_seats.fetch_add(u64::from(reaped.seats), Relaxed);
        }
    }
    // Leaving the directory removes the node's rooms: queued leaves no longer matter.
    let result = cluster.directory.deregister(&options.node_id).await;
    match cluster.counted(result, |_| true) {
        Ok(()) => info!(node = %options.node_id, "left the directory"),
        Err(error) => warn!(%error, "could not deregister; the directory will reap this node"),
    }
    cluster.epoch.store(0, Relaxed);
}

/// Reports queued leaves in order until the directory refuses one (kept for the next try).
async fn report_leaves(
    cluster: &Cluster,
    pending: &mut std::collections::VecDeque<(String, bool)>,
) {
    while let Some((room, spectate)) = pending.front() {
        let result = cluster
            .directory
            .leave(&cluster.options.node_id, room, *spectate)
            .await;
        match cluster.counted(result, |_| true) {
            Ok(()) => {
                pending.pop_front();
            }
            Err(error) => {
                debug!(%error, "leave not reported yet; retrying next beat");
                // Bounded: past the queue's size the oldest go (counted).
                while pending.len() > LEAVES_MAX {
                    pending.pop_front();
                    cluster.metrics.leaves_dropped.fetch_add(1, Relaxed);
                }
                return;
            }
        }
    }
}

/// Registers (a fresh epoch) and claims every room this node runs; rooms another node owns now
/// are closed with 1012. The lobby's counts are taken under its lock together with every leave
/// queued so far (leaves are queued under that same lock), so the claims are exact and no leave
/// is applied on top of them.
async fn register<G: Game>(
    shared: &Arc<Shared<G>>,
    cluster: &Cluster,
    spec: &NodeSpec,
    ttl_ms: u64,
    leaves: &mut mpsc::Receiver<(String, bool)>,
    pending: &mut std::collections::VecDeque<(String, bool)>,
) {
    let result = cluster.directory.register(spec, ttl_ms).await;
    let epoch = match cluster.counted(result, |_| true) {
        Ok(epoch) => epoch,
        Err(error) => {
            cluster.metrics.heartbeat_failures.fetch_add(1, Relaxed);
            debug!(%error, "registration failed; retrying");
            return;
        }
    };
    let capacity = Capacity {
        players: shared.max_players as u32,
        spectators: shared.config.max_spectators_per_room as u32,
    };
    let rooms: Vec<(RoomEntry, mpsc::Sender<RoomCmd<G>>)> = {
        let lobby = lock(&shared.lobby);
        while leaves.try_recv().is_ok() {}
        pending.clear();
        lobby
            .rooms
            .iter()
            .map(|(name, entry)| {
                (
                    RoomEntry {
                        name: name.clone(),
                        node: spec.id.clone(),
                        players: entry.players as u32,
                        spectators: entry.spectators as u32,
                        reserved_players: 0,
                        reserved_spectators: 0,
                        capacity,
                    },
                    entry.inbox.clone(),
                )
            })
            .collect()
    };
    for (room, inbox) in rooms {
        let result = cluster.directory.claim(&spec.id, epoch, &room).await;
        match cluster.counted(result, |_| true) {
            Ok(true) => {}
            Ok(false) => {
                cluster.metrics.rooms_lost.fetch_add(1, Relaxed);
                warn!(room = %room.name, "room is owned by another node now: closing it");
                let close = RoomCmd::Close(CloseReason::ServiceRestart(
                    "the room moved to another node",
                ));
                let _ = tokio::time::timeout(Duration::from_secs(1), inbox.send(close)).await;
            }
            Err(error) => {
                debug!(%error, room = %room.name, "claim failed; registering again next beat");
                return;
            }
        }
    }
    cluster.epoch.store(epoch, Relaxed);
    info!(node = %spec.id, epoch, "registered in the directory");
}
