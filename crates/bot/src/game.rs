//! The game boundary on the client: what a game implements so the bot and the swarm can play it.
//!
//! The engine's play logic ([`crate::session::Session`]) decodes every snapshot through the
//! [`Replica`], acknowledges, resends unacknowledged commands, and measures; the game brings a
//! [`Brain`] that picks each tick's command, optional own-entity [`Prediction`], and the game's
//! part of the bot report ([`Figures`]). All static dispatch: a bot is compiled for one game.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tickwire_protocol::{Replica, Schema, Welcome};

use crate::predict::Interpolator;

/// A game the headless bot can play.
pub trait BotGame: Schema {
    /// Picks the bot's commands.
    type Brain: Brain<Self>;
    /// Predicts the bot's own entity ([`NoPrediction`] for a game without one).
    type Prediction: Prediction<Self>;
    /// The game's figures in a bot report, and summed over a swarm.
    type Figures: Figures;
}

/// What a brain sees when it decides: the newest decoded view and everything around it.
#[derive(Debug)]
pub struct Context<'a, G: Schema> {
    /// The bot's player id (0 for a spectator).
    pub player: u32,
    /// The bot's own entity (0 when it has none).
    pub own: u32,
    /// The room's tick rate.
    pub tick_rate: u32,
    /// The decoded view and stats table of the newest snapshot.
    pub replica: &'a Replica<G>,
    /// Recent views, to place other entities where a player would see them. None for a bot
    /// that does not interpolate (most bots of a swarm): it sees others in the newest view.
    pub interpolator: Option<&'a Interpolator<G::Record>>,
    /// The (fractional) tick the brain sees others at: the interpolator's render tick, or the
    /// newest view's tick without one. The engine turns it into each command's view age for
    /// lag compensation.
    pub render_tick: f64,
}

impl<G: Schema> Context<'_, G> {
    /// The newest view, sorted by id.
    pub fn view(&self) -> &[G::Record] {
        self.replica.view()
    }

    /// The newest stats table, sorted by player id.
    pub fn scores(&self) -> &[G::Stats] {
        self.replica.scores()
    }

    /// Seconds per tick.
    pub fn dt(&self) -> f32 {
        1.0 / self.tick_rate.max(1) as f32
    }
}

/// A bot's decision-maker. Deterministic for a given seed and sequence of views.
pub trait Brain<G: BotGame>: Send + Sized {
    /// A brain for the session a Welcome describes, seeded for reproducible play.
    fn new(seed: u64, welcome: &Welcome<G::Setup>) -> Self;

    /// This tick's command (the idle command, `Default`, when there is nothing to do).
    fn decide(&mut self, context: &Context<'_, G>) -> G::Input;

    /// Called after every snapshot that applied, spectators included (for figures).
    fn observe(&mut self, context: &Context<'_, G>) {
        let _ = context;
    }

    /// Events the bot heard, with the tick they happened in.
    fn handle_events(&mut self, tick: u32, events: &[G::Event]) {
        let _ = (tick, events);
    }

    /// The game's figures at the end of the session.
    fn figures(&self, context: &Context<'_, G>) -> G::Figures;
}

/// A game's part of the bot report: serialized next to the engine's figures, summed over the
/// bots of a swarm with [`Figures::merge`], and read back when swarm reports are merged.
pub trait Figures:
    Serialize + DeserializeOwned + Default + Clone + Debug + PartialEq + Send + 'static
{
    /// Adds another bot's figures to these (sums for counts, maxima for maxima).
    fn merge(&mut self, other: &Self);
}

/// Own-entity prediction: run the game's rules on the commands the server has not yet
/// acknowledged, from the last authoritative state, so the player's own entity responds at
/// once (the engine's [`crate::predict::Predictor`] does the bookkeeping).
pub trait Prediction<G: Schema>: Sized + Send {
    /// What is predicted (a position and velocity, say).
    type State: Copy + Debug + Send;

    /// A predictor for the session a Welcome describes; None when there is nothing to predict.
    fn new(welcome: &Welcome<G::Setup>) -> Option<Self>;

    /// The authoritative state in a record of the own entity.
    fn state(&self, record: &G::Record) -> Self::State;

    /// One tick of the rules: `state` after `input`.
    fn step(&self, state: Self::State, input: &G::Input) -> Self::State;

    /// How far apart two states are (meters, or the game's unit).
    fn error(&self, predicted: &Self::State, actual: &Self::State) -> f32;

    /// Errors above this count as corrections.
    fn correction_threshold(&self) -> f32 {
        0.05
    }

    /// When the server alone decides (the entity is dead, respawning, teleported): follow it
    /// without counting errors.
    fn follows_server(&self, record: &G::Record) -> bool {
        let _ = record;
        false
    }
}

/// [`Prediction`] for a game that does not predict (never built).
#[derive(Debug)]
pub struct NoPrediction;

impl<G: Schema> Prediction<G> for NoPrediction {
    type State = ();

    fn new(_: &Welcome<G::Setup>) -> Option<Self> {
        None
    }

    fn state(&self, _: &G::Record) {}

    fn step(&self, (): (), _: &G::Input) {}

    fn error(&self, (): &(), (): &()) -> f32 {
        0.0
    }
}
