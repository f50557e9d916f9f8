//! tickwire's wire protocol: the bytes players and the server exchange, and nothing else.
//!
//! The engine defines an envelope ([`ClientMsg`], [`ServerMsg`]) generic over a game's
//! [`Schema`]: the game brings its setup data, its input command, its per-entity [`Record`], its
//! stats row and its events, and the engine brings everything around them: the handshake
//! (which names the game and its schema version), the one codec that turns messages into bytes
//! and back ([`codec`], the only module that calls bincode), bit I/O ([`bits`]), the snapshot
//! delta container ([`delta`]) that codes a view of records against the view a client
//! acknowledged, and its client-side counterpart ([`Replica`]), which rebuilds the view from
//! deltas. [`quant`] holds reusable quantization helpers for 2D games.
//!
//! It deliberately knows nothing of any game's rules or of sockets and tokio: it is pure data in,
//! data out, so it can be tested exhaustively and reimplemented in another language from
//! docs/PROTOCOL.md alone (the browser client is one such implementation).
//!
//! How a session goes: the client sends [`Hello`]; the server answers [`Welcome`], then one
//! [`Snapshot`] per snapshot interval; the client sends [`Input`] every tick, carrying its newest
//! decoded snapshot tick as the acknowledgement the server deltas against. Decoding never panics
//! and never allocates past [`limits`].

pub mod bits;
pub mod close;
pub mod codec;
pub mod delta;
#[cfg(feature = "golden")]
pub mod golden;
pub mod json;
pub mod limits;
pub mod msg;
pub mod quant;
mod replica;
pub mod schema;

pub use codec::{
    DecodeError, decode_client, decode_server, decode_value, encode_client, encode_server,
    encode_value, hello_game, hello_version,
};
pub use delta::{Checksum, DeltaError};
pub use msg::*;
pub use replica::{Replica, ReplicaError};
pub use schema::{Command, Record, Schema, StatsRow, Wire};

/// The protocol version a client states in [`Hello`]; a server refuses any other. Version 3
/// made the envelope generic over the game and named the game in the Hello.
pub const PROTOCOL_VERSION: u16 = 4;
