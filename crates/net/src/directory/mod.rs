//! The room directory: which node owns which room, which seats are promised, which nodes are
//! alive. One process needs none of this (its lobby is the whole truth); many processes share a
//! directory so a player is sent straight to the node that owns its room, and rooms are created
//! exactly once.
//!
//! The rules every backend keeps (checked by [`conformance`] against each):
//! - **The directory write is the creation.** Matchmaking picks a room (a named one, or the
//!   fullest with a free seat of the kind asked, ties by name) or places a new one on the
//!   least-loaded usable node under its room cap, and reserves a seat, in one atomic step. No
//!   node asks another to create anything; the owner builds the room when the first seat is
//!   redeemed. So two concurrent matchmakes for one name can never make two rooms.
//! - **A node is usable** while its heartbeat deadline (the directory's clock) is ahead and it is
//!   not draining. A room whose owner is not usable is never handed out; a named room whose owner
//!   died is placed afresh (at most one entry per name, always).
//! - **Occupancy moves by deltas** (a seat reserved, redeemed, released, expired), never by
//!   overwrites, so a stale report cannot re-offer a taken seat: players + spectators + reserved
//!   never exceed the room's capacity.
//! - **Epochs fence a node that stalled.** Registering gives a node a new epoch; a heartbeat with
//!   an old one (the node was reaped while it stalled) is answered `Evicted`: the node registers
//!   again and claims its rooms, keeping those nobody took and closing the others.
//! - **Reaping is idempotent and needs no leader**: any node may run it at any time; dead nodes'
//!   rooms and expired seats go, and running it from three places at once equals running it once.
//!
//! [`MemoryDirectory`] is the in-process backend; the Redis backend is the `tickwire-cluster`
//! crate. Both are driven through [`Directory`], with static dispatch.

pub mod conformance;
mod memory;

use std::future::Future;

pub use memory::MemoryDirectory;

/// A node as it registers: its id, the WebSocket URL players reach it at, and how many rooms it
/// may own at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSpec {
    /// Unique among the cluster's nodes (1-64 bytes, no whitespace).
    pub id: String,
    /// `ws://host:port/ws` (or `wss://`) as players reach it.
    pub url: String,
    /// Rooms this node may own at once.
    pub room_cap: u32,
}

/// Seats per room, by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// Player seats.
    pub players: u32,
    /// Spectator seats.
    pub spectators: u32,
}

/// One matchmaking request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchRequest {
    /// The room asked for by name; None: the fullest room with a free seat, or a new one.
    pub room: Option<String>,
    /// A spectator seat rather than a player seat.
    pub spectate: bool,
    /// The seat's id, chosen by the caller (random, 32 hex digits): the key a redemption names.
    pub seat: String,
    /// How long the seat is held for its redemption, in milliseconds.
    pub seat_ttl_ms: u64,
    /// Seats of a room created for this request.
    pub capacity: Capacity,
}

/// Where a matchmade player goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The owning node's id.
    pub node: String,
    /// Its WebSocket URL.
    pub url: String,
    /// The room.
    pub room: String,
    /// Whether this request placed the room (it did not exist, or its owner had died).
    pub created: bool,
    /// The epoch of the owner the room was placed on (a seat names it).
    pub epoch: u64,
}

/// A redeemed seat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redeemed {
    /// The room the seat is in.
    pub room: String,
    /// Whether it is a spectator seat.
    pub spectate: bool,
}

/// Why a directory operation failed for reasons of its own (the store is unreachable, a reply
/// made no sense).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("directory unavailable: {0}")]
pub struct DirectoryError(pub String);

/// Why matchmaking found no seat.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MatchError {
    /// The named room has no free seat of the kind asked.
    #[error("room is full")]
    RoomFull,
    /// No usable node is under its room cap.
    #[error("no node can take another room")]
    NoNode,
    /// The named room's node is draining (or stalled): it takes no new seats, and the name
    /// cannot be placed elsewhere while it still runs the room.
    #[error("the room's node is shutting down")]
    Closing,
    /// The directory could not answer.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// Why a seat was not redeemed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedeemError {
    /// Never issued, already redeemed, expired and reaped, or its room is gone.
    #[error("no such seat: it was used, expired or never issued")]
    Unknown,
    /// The seat is for a room another node owns.
    #[error("the seat is for another node")]
    WrongNode,
    /// The directory could not answer.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// A heartbeat's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// The node's deadline moved on.
    Alive,
    /// The node was reaped (it stalled past its deadline, or the directory lost its state):
    /// register again and claim the rooms.
    Evicted,
}

/// What one reaping pass removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reaped {
    /// Dead nodes removed.
    pub nodes: u32,
    /// Their rooms removed.
    pub rooms: u32,
    /// Expired seats given back.
    pub seats: u32,
}

/// A room as the directory has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomEntry {
    /// The room's name.
    pub name: String,
    /// The owning node.
    pub node: String,
    /// Seats taken by players, spectators, and promised to seats not yet redeemed.
    pub players: u32,
    /// Spectator seats taken.
    pub spectators: u32,
    /// Player seats promised and not yet redeemed.
    pub reserved_players: u32,
    /// Spectator seats promised and not yet redeemed.
    pub reserved_spectators: u32,
    /// The room's seats.
    pub capacity: Capacity,
}

/// A node as the directory has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeEntry {
    /// Its id.
    pub id: String,
    /// Its WebSocket URL.
    pub url: String,
    /// Rooms it owns in the directory.
    pub rooms: u32,
    /// Its room cap.
    pub room_cap: u32,
    /// Its current epoch.
    pub epoch: u64,
    /// Milliseconds until its heartbeat deadline (negative: past it, not reaped yet).
    pub deadline_in_ms: i64,
    /// It takes no new seats.
    pub draining: bool,
}

/// A room directory. Every method is one atomic step of the backend (one Lua script in Redis),
/// bounded in work.
pub trait Directory: Send + Sync + 'static {
    /// Adds (or re-adds) a node with a fresh epoch and a deadline `ttl_ms` ahead; returns the
    /// epoch.
    fn register(
        &self,
        node: &NodeSpec,
        ttl_ms: u64,
    ) -> impl Future<Output = Result<u64, DirectoryError>> + Send;

    /// Moves a node's deadline `ttl_ms` ahead and records whether it is draining; `Evicted` when
    /// the node (with this epoch) is no longer in the directory.
    fn heartbeat(
        &self,
        node: &str,
        epoch: u64,
        ttl_ms: u64,
        draining: bool,
    ) -> impl Future<Output = Result<Liveness, DirectoryError>> + Send;

    /// Picks or places a room and reserves a seat in it (see the module's rules).
    fn matchmake(
        &self,
        request: &MatchRequest,
    ) -> impl Future<Output = Result<Placement, MatchError>> + Send;

    /// Turns a reserved seat into a taken one, on the node that owns its room.
    fn redeem(
        &self,
        node: &str,
        seat: &str,
    ) -> impl Future<Output = Result<Redeemed, RedeemError>> + Send;

    /// A player (or spectator) left a room `node` owns; an empty room with nothing reserved is
    /// removed.
    fn leave(
        &self,
        node: &str,
        room: &str,
        spectate: bool,
    ) -> impl Future<Output = Result<(), DirectoryError>> + Send;

    /// After an eviction: takes a room this node still runs back into the directory with its
    /// occupancy, unless another node owns that name now. Returns whether it was claimed (if
    /// not, the node closes the room: its players matchmake again); an error when the node is
    /// not registered with `epoch` (it was evicted again: register again first).
    fn claim(
        &self,
        node: &str,
        epoch: u64,
        room: &RoomEntry,
    ) -> impl Future<Output = Result<bool, DirectoryError>> + Send;

    /// Removes a node and every room it owns (a graceful exit).
    fn deregister(&self, node: &str) -> impl Future<Output = Result<(), DirectoryError>> + Send;

    /// Removes dead nodes and their rooms, and gives expired seats back, at most `limit` of each
    /// per call.
    fn reap(&self, limit: u32) -> impl Future<Output = Result<Reaped, DirectoryError>> + Send;

    /// Every room (for `/api/rooms?scope=cluster` and checks).
    fn rooms(&self) -> impl Future<Output = Result<Vec<RoomEntry>, DirectoryError>> + Send;

    /// Every node.
    fn nodes(&self) -> impl Future<Output = Result<Vec<NodeEntry>, DirectoryError>> + Send;
}
