//! The arena on the client: the bot's brain, own-player prediction and interpolation as the
//! engine's bot asks for them ([`BotGame`]), and the arena's part of the bot report.

use serde::{Deserialize, Serialize};
use tickwire_bot::predict::Sample;
use tickwire_bot::{BotGame, Brain, Context, Figures, Prediction};
use tickwire_protocol::{Welcome, quant};
use tickwire_sim::Vec2;

use crate::brain;
use crate::convert::{input_from_wire, input_to_wire, map_from_info};
use crate::map::Map;
use crate::physics::move_player;
use crate::rules::Rules;
use crate::wire::{Arena, ArenaSetup, EntityState, InputCmd, MoveRules, flags, kind};

impl BotGame for Arena {
    type Brain = ArenaBrain;
    type Prediction = ArenaPrediction;
    type Figures = ArenaFigures;
}

/// The arena's figures in a bot report (top-level keys of its JSON).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ArenaFigures {
    /// Most distinct players in one snapshot.
    pub players_seen_max: usize,
    /// Kills, from the score table at the end.
    pub kills: u32,
    /// Deaths, from the score table at the end.
    pub deaths: u32,
}

impl Figures for ArenaFigures {
    fn merge(&mut self, other: &Self) {
        self.players_seen_max = self.players_seen_max.max(other.players_seen_max);
        self.kills += other.kills;
        self.deaths += other.deaths;
    }
}

/// The bot's brain ([`brain::Brain`]) plugged into the engine's play loop.
#[derive(Debug)]
pub struct ArenaBrain {
    brain: brain::Brain,
    players_seen_max: usize,
}

impl Brain<Arena> for ArenaBrain {
    fn new(seed: u64, _: &Welcome<ArenaSetup>) -> ArenaBrain {
        ArenaBrain {
            brain: brain::Brain::new(seed),
            players_seen_max: 0,
        }
    }

    /// Aims at others where the interpolation shows them, a little in the past (or where the
    /// newest view has them, for a bot without interpolation): the server rewinds its hit test
    /// to match.
    fn decide(&mut self, context: &Context<'_, Arena>) -> InputCmd {
        let seen = |state: &EntityState| {
            context
                .interpolator
                .and_then(|interpolator| interpolator.sample(state.id, context.render_tick))
                .map_or_else(|| brain::position_of(state), position)
        };
        let input = self.brain.decide(
            context.own,
            context.view(),
            context.dt(),
            context.tick_rate,
            &seen,
        );
        input_to_wire(&input)
    }

    fn observe(&mut self, context: &Context<'_, Arena>) {
        let players = context
            .view()
            .iter()
            .filter(|state| state.kind == kind::PLAYER)
            .count();
        self.players_seen_max = self.players_seen_max.max(players);
    }

    fn figures(&self, context: &Context<'_, Arena>) -> ArenaFigures {
        let row = context
            .scores()
            .iter()
            .find(|row| row.player == context.player);
        ArenaFigures {
            players_seen_max: self.players_seen_max,
            kills: row.map_or(0, |row| row.kills),
            deaths: row.map_or(0, |row| row.deaths),
        }
    }
}

/// Where an interpolation sample puts an entity (meters): between two snapshots, or ahead of
/// the newest along its velocity.
pub fn position(sample: Sample<'_, EntityState>) -> Vec2 {
    match sample {
        Sample::At(state) => brain::position_of(state),
        Sample::Between { from, to, t } => brain::position_of(from).lerp(brain::position_of(to), t),
        Sample::Ahead(state, ticks) => {
            let velocity = Vec2::new(state.vx as f32, state.vy as f32) / quant::POS_UNITS_PER_M;
            brain::position_of(state) + velocity * ticks
        }
    }
}

/// Predicts the own player with the simulation's own movement rule, [`move_player`], against
/// the Welcome's map and movement rules.
#[derive(Debug)]
pub struct ArenaPrediction {
    map: Map,
    rules: Rules,
    dt: f32,
}

impl Prediction<Arena> for ArenaPrediction {
    /// Position and velocity, in meters and m/s.
    type State = (Vec2, Vec2);

    fn new(welcome: &Welcome<ArenaSetup>) -> Option<ArenaPrediction> {
        Some(ArenaPrediction {
            map: map_from_info(&welcome.setup.map),
            rules: rules_from_wire(&welcome.setup.rules),
            dt: 1.0 / welcome.tick_rate.max(1) as f32,
        })
    }

    fn state(&self, own: &EntityState) -> (Vec2, Vec2) {
        (
            Vec2::new(quant::pos_from_wire(own.x), quant::pos_from_wire(own.y)),
            Vec2::new(
                quant::vel_from_wire(own.vx, self.dt),
                quant::vel_from_wire(own.vy, self.dt),
            ),
        )
    }

    fn step(&self, (pos, vel): (Vec2, Vec2), cmd: &InputCmd) -> (Vec2, Vec2) {
        move_player(
            &self.rules,
            &self.map,
            self.dt,
            pos,
            vel,
            &input_from_wire(cmd),
        )
    }

    fn error(&self, predicted: &(Vec2, Vec2), actual: &(Vec2, Vec2)) -> f32 {
        predicted.0.distance(actual.0)
    }

    /// Death and respawn are the server's to decide.
    fn follows_server(&self, own: &EntityState) -> bool {
        own.flags & flags::ALIVE == 0
    }
}

/// The simulation rules from the Welcome's movement rules (other fields keep their defaults:
/// only movement is predicted).
pub fn rules_from_wire(rules: &MoveRules) -> Rules {
    Rules {
        player_radius: rules.player_radius,
        player_max_speed: rules.max_speed,
        player_accel: rules.accel,
        player_friction: rules.friction,
        ..Rules::default()
    }
}
