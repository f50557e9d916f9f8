//! The arena: a top-down 2D shooter, the reference game tickwire ships, written as a game like
//! any other on the engine's traits.
//!
//! Players move with acceleration and a top speed, aim, fire projectiles and a lag-compensated
//! hitscan weapon, take damage, die and respawn; wandering NPCs populate the map; maps describe
//! the arena's size, walls and spawn points. Units are meters and seconds.
//!
//! - The simulation ([`World`], [`Map`], [`Rules`], [`move_player`]): deterministic and IO-free,
//!   built on tickwire-sim's toolkit (seeded RNG, snapping, spatial grid, hitbox history).
//! - The wire ([`wire`]): [`Arena`], the game's [`Schema`](tickwire_protocol::Schema), and its
//!   [`EntityState`] record with its delta coding.
//! - The server side ([`ArenaGame`]): the engine's [`Game`](tickwire_net::Game) around the world.
//! - The client side ([`client`]): the bot's brain, prediction and report figures.
//! - The browser module (crates/arena/web), served by the binary next to the engine's page.
//!
//! How to drive the simulation alone:
//!
//! ```
//! use tickwire_arena::{Map, PlayerInput, Rules, World};
//! use tickwire_sim::Vec2;
//!
//! let map = Map::builtin("arena").expect("arena is built in");
//! let mut world = World::new(map, Rules::default(), 30, 42);
//! let player = world.add_player("alice");
//! let mut events = Vec::new();
//! let input = PlayerInput { move_dir: Vec2::X, aim: 0.0, buttons: 0, view_age: 0 };
//! for _ in 0..30 {
//!     events.clear();
//!     world.step(&[(player, input)], &mut events);
//! }
//! assert_eq!(world.tick(), 30);
//! ```

pub mod brain;
pub mod client;
pub mod convert;
mod game;
mod input;
mod map;
mod physics;
mod rules;
mod walls;
pub mod web;
pub mod wire;
mod world;

pub use game::{ArenaConfig, ArenaGame, ArenaSettings, NPCS_MAX};
pub use input::{BUTTON_FIRE, BUTTON_HITSCAN, KNOWN_BUTTONS, PlayerInput};
pub use map::{
    MAX_MAP_SIZE, MAX_MAP_TEXT_BYTES, MAX_SPAWNS, MAX_WALLS, MIN_MAP_SIZE, Map, MapError, Wall,
};
pub use physics::move_player;
pub use rules::{MAX_HITSCAN_RANGE, MAX_REWIND_S, Rules};
pub use wire::{
    Arena, ArenaSetup, EntityState, GameEvent, InputCmd, MapInfo, MoveRules, ScoreEntry,
};
pub use world::{Entity, EntityKind, Event, MAX_NAME_CHARS, Player, World};
