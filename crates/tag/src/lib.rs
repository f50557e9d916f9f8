//! Tag: a real-time game of tag on tickwire's engine, and the game docs/GUIDE.md builds step by
//! step. Runners move on a rectangular field; one of them is "it", and touching another runner
//! makes that runner "it" instead. The one who tagged cannot be tagged back for a short while.
//!
//! It is the smallest complete game on the engine's traits, in one crate:
//!
//! - [`wire`]: [`Tag`], the game's [`Schema`](tickwire_protocol::Schema), and its [`Runner`]
//!   record with its delta coding (a runner at a steady velocity costs nothing).
//! - [`TagGame`]: the whole simulation and the engine's [`Game`](tickwire_net::Game), in one
//!   file (src/game.rs), with [`move_runner`], the movement rule server and clients share.
//! - [`client`]: the bot's brain, own-runner prediction and report figures.
//! - [`web`]: the browser module's files (none yet).

pub mod client;
mod game;
pub mod web;
pub mod wire;

pub use game::{Motion, TagConfig, TagGame, motion_of, move_runner};
pub use wire::{Runner, Tag, TagEvent, TagInput, TagSetup, TagStats};
