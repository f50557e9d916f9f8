//! tickwire's wire protocol: the bytes players and the server exchange, and nothing else.
//!
//! This crate defines every message ([`ClientMsg`], [`ServerMsg`]), the one codec that turns them
//! into bytes and back ([`codec`], the only module that calls bincode), the quantized entity state
//! the wire carries ([`EntityState`], [`quant`]), and the bit-packed snapshot delta ([`delta`]) with
//! its client-side counterpart ([`Replica`]), which rebuilds a player's view from deltas.
//!
//! It deliberately knows nothing of the game rules (tickwire-sim) or of sockets and tokio: it is pure
//! data in, data out, so it can be tested exhaustively and reimplemented in another language from
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
pub mod limits;
pub mod msg;
pub mod quant;
mod replica;

pub use codec::{
    DecodeError, decode_client, decode_server, encode_client, encode_server, hello_version,
};
pub use delta::{DeltaError, EntityState};
pub use msg::*;
pub use replica::{Replica, ReplicaError};

/// The protocol version a client states in [`Hello`]; a server refuses any other.
pub const PROTOCOL_VERSION: u16 = 2;
