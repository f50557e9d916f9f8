//! Cards: a real-time card game with hidden hands, written on tickwire's engine without changing
//! it. Two to four players race to empty their hands onto shared piles at the same time: a card
//! goes on a pile whose top is one rank above or below it, and the first to play every card
//! wins the round.
//!
//! It is the arena's opposite on every axis the engine cares about: discrete actions instead of
//! continuous movement (two plays in one tick are each applied or refused, never merged), no
//! avatar (players have no entity), secrets (a card in a hand is an entity only its owner's view
//! lists; spectators and opponents never receive it), a setup without a map, its own stats row,
//! and events with an audience (a refused play is told to its player alone).
//!
//! - [`wire`]: [`Cards`], the game's [`Schema`](tickwire_protocol::Schema), and its records.
//! - [`CardsGame`]: the rules and the engine's [`Game`](tickwire_net::Game).
//! - [`client`]: the bot's brain and report figures.
//! - The browser module (crates/cards/web), served by the binary next to the engine's page.

pub mod client;
mod game;
pub mod web;
pub mod wire;

pub use game::{CardsConfig, CardsGame, CardsSettings, DECK, MAX_PLAYERS, fits};
pub use wire::{CardRecord, Cards, CardsEvent, CardsInput, CardsSetup, CardsStats};
