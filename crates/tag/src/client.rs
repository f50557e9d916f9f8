//! Tag on the client: a bot brain, prediction of the own runner, and the game's part of the bot
//! report.

use serde::{Deserialize, Serialize};
use tickwire_bot::{BotGame, Brain, Context, Figures, Prediction};
use tickwire_protocol::{Welcome, quant};
use tickwire_sim::Vec2;
use tickwire_sim::rng::Pcg32;

use crate::game::{Motion, motion_of, move_runner};
use crate::wire::{Runner, Tag, TagEvent, TagInput, TagSetup, flags};

impl BotGame for Tag {
    type Brain = TagBrain;
    type Prediction = TagPrediction;
    type Figures = TagFigures;
}

/// Tag's figures in a bot report (top-level keys of its JSON), summed over a swarm.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TagFigures {
    /// Times the bot tagged someone (its stats row at the end).
    pub tags: u64,
    /// Times the bot was tagged (Tagged events naming it).
    pub tagged: u64,
    /// Whole seconds the bot spent as "it" (its stats row at the end).
    pub it_seconds: u64,
    /// Tags the bot heard of, its own included.
    pub tags_heard: u64,
}

impl Figures for TagFigures {
    fn merge(&mut self, other: &Self) {
        self.tags += other.tags;
        self.tagged += other.tagged;
        self.it_seconds += other.it_seconds;
        self.tags_heard += other.tags_heard;
    }
}

/// Runs from "it" when it comes within this many meters.
const FLEE_DISTANCE_M: f32 = 6.0;
/// Runs away from edges closer than this many meters while fleeing (a cornered runner is
/// caught).
const EDGE_MARGIN_M: f32 = 3.0;
/// The chaser aims where its target will be when it gets there, at most this many ticks ahead.
const LEAD_TICKS: f32 = 20.0;

/// Chases the nearest runner it may tag while it is "it"; otherwise runs from "it" when it
/// comes close, and wanders about the field when it does not.
#[derive(Debug)]
pub struct TagBrain {
    rng: Pcg32,
    player: u32,
    field: Vec2,
    /// Top speed in meters per tick.
    top_step: f32,
    /// Where the bot wanders to while nobody chases it.
    wander_to: Vec2,
    /// Tagged events naming the bot, and all of them.
    tagged: u64,
    tags_heard: u64,
}

impl TagBrain {
    /// Toward the nearest runner that may be tagged, aiming where it will be when the bot gets
    /// there.
    fn chase(&self, view: &[Runner], own: u32, me: Vec2) -> Vec2 {
        let target = view
            .iter()
            .filter(|runner| runner.id != own && runner.flags & flags::IMMUNE == 0)
            .map(motion_of)
            .min_by(|a, b| a.0.distance(me).total_cmp(&b.0.distance(me)));
        let Some((pos, vel)) = target else {
            return Vec2::ZERO;
        };
        let ticks = (pos.distance(me) / self.top_step).min(LEAD_TICKS);
        pos + vel * ticks - me
    }

    /// Away from the chaser, and away from the edges it would be cornered against.
    fn flee(&self, me: Vec2, chaser: Vec2) -> Vec2 {
        let mut away = (me - chaser).normalize_or_zero();
        let near = |distance: f32| (1.0 - distance / EDGE_MARGIN_M).max(0.0);
        away.x += near(me.x) - near(self.field.x - me.x);
        away.y += near(me.y) - near(self.field.y - me.y);
        away
    }

    /// Toward a random point of the field, a new one once there.
    fn wander(&mut self, me: Vec2) -> Vec2 {
        if me.distance(self.wander_to) < 1.0 {
            self.wander_to = Vec2::new(
                self.rng.range_f32(0.0, self.field.x),
                self.rng.range_f32(0.0, self.field.y),
            );
        }
        self.wander_to - me
    }
}

impl Brain<Tag> for TagBrain {
    fn new(seed: u64, welcome: &Welcome<TagSetup>) -> TagBrain {
        let field = Vec2::new(welcome.setup.width, welcome.setup.height);
        TagBrain {
            rng: Pcg32::new(seed),
            player: welcome.player,
            field,
            top_step: welcome.setup.speed / f32::from(welcome.tick_rate.max(1)),
            wander_to: field / 2.0,
            tagged: 0,
            tags_heard: 0,
        }
    }

    fn decide(&mut self, context: &Context<'_, Tag>) -> TagInput {
        let view = context.view();
        let Some(own) = view.iter().find(|runner| runner.id == context.own) else {
            return TagInput::default();
        };
        let me = motion_of(own).0;
        let it = view.iter().find(|runner| runner.flags & flags::IT != 0);
        let direction = match it.map(|it| (it.id, motion_of(it).0)) {
            Some((id, _)) if id == own.id => self.chase(view, own.id, me),
            Some((_, chaser)) if chaser.distance(me) < FLEE_DISTANCE_M => self.flee(me, chaser),
            _ => self.wander(me),
        };
        let direction = direction.normalize_or_zero();
        TagInput {
            move_x: quant::axis_to_wire(direction.x),
            move_y: quant::axis_to_wire(direction.y),
        }
    }

    fn handle_events(&mut self, _tick: u32, events: &[TagEvent]) {
        for event in events {
            if let TagEvent::Tagged { to, .. } = event {
                self.tags_heard += 1;
                if *to == self.player {
                    self.tagged += 1;
                }
            }
        }
    }

    fn figures(&self, context: &Context<'_, Tag>) -> TagFigures {
        let row = context
            .scores()
            .iter()
            .find(|row| row.player == context.player);
        TagFigures {
            tags: row.map_or(0, |row| row.tags.into()),
            tagged: self.tagged,
            it_seconds: row.map_or(0, |row| row.it_seconds.into()),
            tags_heard: self.tags_heard,
        }
    }
}

/// Predicts the own runner with the simulation's own movement rule, [`move_runner`], and the
/// [`Motion`] the server uses, built from the Welcome's setup.
#[derive(Debug)]
pub struct TagPrediction {
    motion: Motion,
}

impl Prediction<Tag> for TagPrediction {
    /// Position (meters) and velocity (meters per tick), on the grid.
    type State = (Vec2, Vec2);

    fn new(welcome: &Welcome<TagSetup>) -> Option<TagPrediction> {
        // A spectator has no runner to predict.
        (welcome.entity != 0).then(|| TagPrediction {
            motion: Motion::new(&welcome.setup, welcome.tick_rate.into()),
        })
    }

    fn state(&self, own: &Runner) -> (Vec2, Vec2) {
        motion_of(own)
    }

    fn step(&self, (pos, vel): (Vec2, Vec2), input: &TagInput) -> (Vec2, Vec2) {
        move_runner(&self.motion, pos, vel, *input)
    }

    fn error(&self, predicted: &(Vec2, Vec2), actual: &(Vec2, Vec2)) -> f32 {
        predicted.0.distance(actual.0)
    }
}
