//! tickwire's networking: the sans-IO room core, the tokio WebSocket server around it, and a tokio
//! client for bots and tests.
//!
//! - [`game::Game`] is the boundary: what a game implements (on top of tickwire-sim's
//!   `Simulation`) so the engine can run it. Everything here is generic over it.
//! - [`room::Room`] is the heart: one game, its players' input queues and their snapshot
//!   baselines. It takes commands and `tick()` calls and yields encoded messages; it has no
//!   sockets and no clock, so most behaviour is tested in memory.
//! - [`server::Server`] accepts connections on one port (/ws for players; /healthz, /metrics and
//!   /api/rooms over plain HTTP), keeps the lobby of rooms and runs each room on its own task at
//!   its fixed tick.
//! - [`client::Client`] connects, says Hello and exchanges messages; bots build on it.
//!
//! It does not decide game rules (each game's crate) or wire formats (tickwire-protocol).

pub mod auth;
pub mod client;
pub mod close_reason;
pub mod config;
pub mod connection;
pub mod directory;
pub mod game;
pub mod harness;
pub mod http;
pub mod journal;
pub mod metrics;
pub mod pace;
pub mod replay;
pub mod results;
pub mod room;
pub mod seat;
pub mod server;
pub mod tls;
pub mod web;
pub mod ws;

pub use client::{Client, ClientError, CloseInfo};
pub use config::{ConfigError, ServerConfig};
pub use game::{Audience, Game, Seat, Targeted, View, Viewer};
pub use room::{ClientId, Room, RoomSettings, SnapshotStats};
#[cfg(feature = "fault-injection")]
pub use server::ServerControl;
pub use server::{Server, ServerError};
pub use tickwire_protocol::close::name as close_name;
pub use tickwire_protocol::validate_name;
