//! The game boundary on the server: what a game implements so the engine can run it.
//!
//! A game is one crate. Its wire types implement [`Schema`] (tickwire-protocol); its server side
//! implements [`Game`], which extends the fixed-step [`Simulation`] contract (tickwire-sim) with
//! what a room needs around the step: seats, the quantized records of the tick, the stats table,
//! and who may see what. The engine is generic over `G: Game` and never names a game's type, so
//! everything on the per-tick and per-entity path is static dispatch.
//!
//! What the engine does with it, once per tick: it feeds [`Simulation::step`] every command
//! consumed this tick, takes the tick's events (each with its [`Audience`]), records
//! [`Game::records`] as the tick's frame, rebuilds the stats table when
//! [`Game::stats_version`] moved, and for each viewer asks [`Game::view`] which records it may
//! see, then delta-codes that view against the viewer's acknowledged baseline.
//!
//! Hidden information is selection, never transformation: a secret (a card in a hand) is an
//! entity that only its owner's view lists; an event about it has that owner as its audience.
//! Ids must not encode secrets: give entities ids that say nothing about their content.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use tickwire_protocol::Schema;
use tickwire_sim::{NetId, PlayerId, Simulation};

use crate::web::Asset;

/// A game the engine can run: its wire types ([`Game::Wire`]), its configuration, and its
/// server-side state with the fixed-step [`Simulation`] contract.
///
/// Call order (what a room does): [`Game::new`] once; then, between steps, any
/// [`Game::join`] and [`Game::leave`]; one [`Simulation::step`] per tick; after each snapshot
/// tick's step, [`Game::records`], [`Game::stats`] (when [`Game::stats_version`] changed) and
/// one [`Game::view`] per viewer. A game must be deterministic: the same constructor arguments,
/// joins, leaves and steps give the same [`Simulation::state_hash`].
pub trait Game:
    Simulation<
        Input = <Self::Wire as Schema>::Input,
        Event = Targeted<<Self::Wire as Schema>::Event>,
    > + Send
    + 'static
{
    /// The game's wire types.
    type Wire: Schema;
    /// The game's table in the server's config file (`[<name>]`), as written. Keys left out
    /// take the game's defaults.
    type Config: DeserializeOwned + Default + Clone + Debug + Send + Sync + 'static;
    /// The configuration checked and loaded (maps read, numbers sanitized), shared by every room.
    type Settings: Clone + Debug + Send + Sync + 'static;

    /// Checks the game's config table and loads what it names; called once at server start. The
    /// error is one line for the operator.
    fn configure(config: Self::Config) -> Result<Self::Settings, String>;

    /// A new room's game at tick 0, stepping `tick_rate` times a second, its random choices
    /// driven by `seed`.
    fn new(settings: &Self::Settings, tick_rate: u32, seed: u64) -> Self;

    /// The most players a room of this game seats, if the game has a limit (the server's
    /// `max_players_per_room` applies too).
    fn max_players(settings: &Self::Settings) -> Option<usize> {
        let _ = settings;
        None
    }

    /// What a client needs before its first snapshot (sent in every Welcome).
    fn setup(&self) -> <Self::Wire as Schema>::Setup;

    /// Seats a player (the engine has already checked there is room). `name` is valid per the
    /// protocol. Returns the new player and its avatar entity, if the game gives players one.
    fn join(&mut self, name: &str) -> Seat;

    /// Removes a player for good (it left, or its resume window ran out).
    fn leave(&mut self, player: PlayerId);

    /// Every entity's record at this tick, quantized, into `out` (cleared by the caller), sorted
    /// by id.
    fn records(&self, out: &mut Vec<<Self::Wire as Schema>::Record>);

    /// A number that changes whenever the stats table does (joins, leaves, scores).
    fn stats_version(&self) -> u64;

    /// The stats table into `out` (cleared by the caller), one row per player, sorted by player
    /// id. Everyone in the room receives it: put nothing secret in it.
    fn stats(&self, out: &mut Vec<<Self::Wire as Schema>::Stats>);

    /// Which records `viewer` may see this tick: [`View::Everything`], or [`View::Listed`]
    /// after pushing the visible ids into `ids` (given empty; any order, repeats allowed; ids
    /// with no record this tick are skipped). Viewers that see everything share one encoding
    /// per baseline, which is what keeps fan-out cheap; a game with secrets lists.
    fn view(&self, viewer: Viewer, ids: &mut Vec<u32>) -> View;

    /// The game's browser module, served by the binary next to the engine's page: at least
    /// `/game.js` (the module the page imports); see assets/web/README.md for its interface.
    fn web_assets() -> &'static [Asset] {
        &[]
    }
}

/// What joining gave a player.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seat {
    /// The player's id, unique for the room's lifetime.
    pub player: PlayerId,
    /// The player's avatar entity, if the game gives players one (its id is sent in the
    /// Welcome so the client can find and predict itself).
    pub entity: Option<NetId>,
}

/// Who is looking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Viewer {
    /// A seated player.
    Player(PlayerId),
    /// A spectator: no seat, no commands.
    Spectator,
}

/// What a viewer may see (see [`Game::view`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// Every record of the tick.
    Everything,
    /// Only the records whose ids were pushed.
    Listed,
}

/// An event with the clients that may hear it.
#[derive(Clone, Debug, PartialEq)]
pub struct Targeted<E> {
    /// Who hears it.
    pub audience: Audience,
    /// Whether a client that fell behind may miss it (see [`Targeted::transient`]).
    pub transient: bool,
    /// The event.
    pub event: E,
}

impl<E> Targeted<E> {
    /// An event for everyone in the room, spectators included.
    pub fn everyone(event: E) -> Targeted<E> {
        Targeted {
            audience: Audience::Everyone,
            transient: false,
            event,
        }
    }

    /// An event for one player only.
    pub fn player(player: PlayerId, event: E) -> Targeted<E> {
        Targeted {
            audience: Audience::Player(player),
            transient: false,
            event,
        }
    }

    /// Marks the event as transient: only worth hearing at once (a shot's tracer, a sound), so
    /// a client whose snapshots are being paced because it fell behind does not get it. Events
    /// are otherwise reliable: every one reaches every client of its audience, however slow,
    /// and a slow link's backlog grows with them. Leave the ones a client must not miss (a
    /// kill, a chat line, a card played) as they are.
    pub fn transient(mut self) -> Targeted<E> {
        self.transient = true;
        self
    }
}

/// Who hears an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Every client in the room, spectators included.
    Everyone,
    /// One player (its connection, and whoever resumes it).
    Player(PlayerId),
}

impl Audience {
    /// Whether a client with this seat (None: a spectator) hears it.
    pub fn includes(&self, player: Option<PlayerId>) -> bool {
        match self {
            Audience::Everyone => true,
            Audience::Player(only) => player == Some(*only),
        }
    }
}
