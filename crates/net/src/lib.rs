//! tickwire's networking: the sans-IO room core, the tokio WebSocket server around it, and a tokio
//! client for bots and tests.
//!
//! - [`room::Room`] is the heart: one world, its players' input queues and their snapshot
//!   baselines. It takes commands and `tick()` calls and yields encoded messages; it has no
//!   sockets and no clock, so most behaviour is tested in memory.
//! - [`server::Server`] accepts connections on one port (/ws for players; /healthz, /metrics and
//!   /api/rooms over plain HTTP), keeps the lobby of rooms and runs each room on its own task at
//!   its fixed tick.
//! - [`client::Client`] connects, says Hello and exchanges messages; bots build on it.
//! - [`convert`] is the one place where simulation types become wire types and back.
//!
//! It does not decide game rules (tickwire-sim) or wire formats (tickwire-protocol).

pub mod auth;
pub mod client;
pub mod config;
pub mod convert;
pub mod http;
pub mod metrics;
pub mod room;
pub mod server;
pub mod web;

pub use client::{Client, ClientError, CloseInfo};
pub use config::{ConfigError, ServerConfig};
pub use room::{ClientId, Room, RoomSettings};
#[cfg(feature = "fault-injection")]
pub use server::ServerControl;
pub use server::{Server, ServerError};
pub use tickwire_protocol::close::name as close_name;
pub use tickwire_protocol::validate_name;
