//! Tag's rules and its server side: [`TagGame`] implements the engine's [`Simulation`] and
//! [`Game`]. The whole simulation is in this file.
//!
//! Runners move on a rectangular field with acceleration and a top speed. One runner is "it";
//! when "it" touches another runner (their circles overlap), that runner is "it" instead, and
//! the one who tagged it cannot be tagged back for a short while. Everyone sees the whole
//! field.

use std::collections::BTreeMap;

use serde::Deserialize;
use tickwire_net::game::{Game, Seat, Targeted, View, Viewer};
use tickwire_net::web::Asset;
use tickwire_protocol::quant;
use tickwire_sim::hash::Fnv64;
use tickwire_sim::rng::Pcg32;
use tickwire_sim::{NetId, POS_GRID, PlayerId, Simulation, TickInput, Vec2, snap};

use crate::wire::{Runner, Tag, TagEvent, TagInput, TagSetup, TagStats, flags};

/// The `[tag]` table of the server's config file, as written (every key optional).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TagConfig {
    /// Field width in meters, 4 to 1000.
    pub width: f32,
    /// Field height in meters, 4 to 1000.
    pub height: f32,
    /// Runner radius in meters, 0.1 to 5 (and at most a quarter of the shorter side).
    pub radius: f32,
    /// Top speed in m/s, 0.5 to 50.
    pub speed: f32,
    /// Acceleration and braking in m/s², 1 to 1000.
    pub accel: f32,
    /// Seconds a runner who passed "it" on cannot be tagged back, 0 to 60.
    pub immunity_s: f32,
}

impl Default for TagConfig {
    fn default() -> Self {
        TagConfig {
            width: 20.0,
            height: 15.0,
            radius: 0.5,
            speed: 5.0,
            accel: 25.0,
            immunity_s: 1.0,
        }
    }
}

/// The movement rules in the units the simulation steps in: meters, and meters per tick for
/// velocities, every value on the 1/256 m grid. The server and every predicting client build
/// it from the same [`TagSetup`] and tick rate, so they move runners identically.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Motion {
    /// The lowest coordinates a runner's center reaches (one radius from the edges).
    pub min: Vec2,
    /// The highest coordinates a runner's center reaches.
    pub max: Vec2,
    /// Top speed: the longest step a runner takes in a tick.
    pub top_step: f32,
    /// How much a runner's step may change from one tick to the next.
    pub accel_step: f32,
}

impl Motion {
    /// The rules of a field described by `setup`, stepped `tick_rate` times a second.
    pub fn new(setup: &TagSetup, tick_rate: u32) -> Motion {
        let dt = 1.0 / tick_rate.max(1) as f32;
        let on_grid = |meters: f32| snap(Vec2::splat(meters)).x;
        Motion {
            min: snap(Vec2::splat(setup.radius)),
            max: snap(Vec2::new(
                setup.width - setup.radius,
                setup.height - setup.radius,
            )),
            top_step: on_grid(setup.speed * dt),
            accel_step: on_grid(setup.accel * dt * dt).max(POS_GRID),
        }
    }
}

/// One tick of a runner's movement: its velocity turns toward the command's direction at top
/// speed, by at most `accel_step`, and the runner moves by it, staying on the field. `pos` and
/// `vel` (meters, meters per tick) are on the grid, and so are the results: grid values add
/// exactly, so a runner at a steady velocity moves by exactly the same step every tick.
pub fn move_runner(motion: &Motion, pos: Vec2, vel: Vec2, input: TagInput) -> (Vec2, Vec2) {
    let wanted = Vec2::new(
        quant::axis_from_wire(input.move_x),
        quant::axis_from_wire(input.move_y),
    );
    let target = snap(wanted.clamp_length_max(1.0) * motion.top_step);
    let change = target - vel;
    let vel = if change.length() <= motion.accel_step {
        target
    } else {
        snap(vel + change * (motion.accel_step / change.length()))
    };
    let moved = pos + vel;
    let pos = moved.clamp(motion.min, motion.max);
    // A runner that reached an edge stops along that axis.
    let vel = Vec2::new(
        if pos.x == moved.x { vel.x } else { 0.0 },
        if pos.y == moved.y { vel.y } else { 0.0 },
    );
    (pos, vel)
}

/// The position and velocity a record carries, as the simulation holds them: exact, since
/// both are on the grid (clients predict from this).
pub fn motion_of(runner: &Runner) -> (Vec2, Vec2) {
    let pos = Vec2::new(
        quant::pos_from_wire(runner.x),
        quant::pos_from_wire(runner.y),
    );
    let vel = Vec2::new(runner.vx as f32, runner.vy as f32) / quant::POS_UNITS_PER_M;
    (pos, vel)
}

/// What the Welcome tells clients: the field and the movement rules.
fn setup_of(config: &TagConfig) -> TagSetup {
    TagSetup {
        width: config.width,
        height: config.height,
        radius: config.radius,
        speed: config.speed,
        accel: config.accel,
    }
}

/// Meters on the grid to wire units (exact: the value is a whole number of units).
fn units(meters: f32) -> i32 {
    (meters * quant::POS_UNITS_PER_M).round() as i32
}

/// One room's game of tag.
#[derive(Debug)]
pub struct TagGame {
    config: TagConfig,
    /// The movement rules, exactly as clients build them from the setup.
    motion: Motion,
    /// Ticks a runner who passed "it" on cannot be tagged back.
    immunity_ticks: u32,
    tick_rate: u32,
    tick: u32,
    rng: Pcg32,
    /// Every runner on the field, in player id order (the order is part of the rules: ties go
    /// to the lower id).
    players: BTreeMap<PlayerId, Player>,
    /// Who is "it": None until the next step when nobody is (no players yet, or "it" left).
    it: Option<PlayerId>,
    next_player: u32,
    /// Bumped whenever the stats table changes.
    stats_version: u64,
}

/// One runner.
#[derive(Clone, Debug)]
struct Player {
    name: String,
    /// Meters, on the grid.
    pos: Vec2,
    /// Meters per tick, on the grid: the step the runner took in the last tick.
    vel: Vec2,
    /// The newest command, held until the next one arrives.
    input: TagInput,
    /// This runner cannot be tagged before this tick.
    immune_until: u32,
    /// Ticks spent as "it".
    it_ticks: u32,
    /// Times this runner tagged someone.
    tags: u32,
}

impl TagGame {
    /// Who is "it" (tests and tools; clients read the [`flags::IT`] flag).
    pub fn it(&self) -> Option<PlayerId> {
        self.it
    }

    /// Ticks a runner who passed "it" on cannot be tagged back.
    pub fn immunity_ticks(&self) -> u32 {
        self.immunity_ticks
    }

    /// Nobody is "it": choose a runner at random.
    fn choose_it(&mut self, events: &mut Vec<Targeted<TagEvent>>) {
        if self.players.is_empty() {
            return;
        }
        let index = self.rng.below(self.players.len() as u32) as usize;
        // Invariant: `below` returns less than the number of players.
        let chosen = *self.players.keys().nth(index).expect("index below len");
        self.it = Some(chosen);
        events.push(Targeted::everyone(TagEvent::Chosen { player: chosen.0 }));
    }

    /// "It" tags the nearest runner it touches that is not immune (ties go to the lower
    /// player id); the tagger cannot be tagged back for a while.
    fn tag(&mut self, events: &mut Vec<Targeted<TagEvent>>) {
        let Some(it) = self.it else { return };
        let Some(chaser) = self.players.get(&it) else {
            return;
        };
        let reach = 2.0 * self.config.radius;
        let mut nearest: Option<(f32, PlayerId)> = None;
        for (&id, runner) in &self.players {
            let distance = runner.pos.distance_squared(chaser.pos);
            let touching = id != it && distance < reach * reach;
            let immune = runner.immune_until > self.tick;
            if touching && !immune && nearest.is_none_or(|(best, _)| distance < best) {
                nearest = Some((distance, id));
            }
        }
        let Some((_, tagged)) = nearest else { return };
        // Invariant: `it` was found above.
        let chaser = self.players.get_mut(&it).expect("found above");
        chaser.tags += 1;
        chaser.immune_until = self.tick.saturating_add(self.immunity_ticks);
        self.it = Some(tagged);
        self.stats_version += 1;
        events.push(Targeted::everyone(TagEvent::Tagged {
            from: it.0,
            to: tagged.0,
        }));
    }

    /// "It" spends another tick as "it".
    fn count_it_time(&mut self) {
        let Some(runner) = self.it.and_then(|it| self.players.get_mut(&it)) else {
            return;
        };
        runner.it_ticks += 1;
        // The table shows whole seconds, so it changes once a second rather than every tick.
        if runner.it_ticks % self.tick_rate == 0 {
            self.stats_version += 1;
        }
    }
}

impl Simulation for TagGame {
    type Input = TagInput;
    type Event = Targeted<TagEvent>;

    fn tick(&self) -> u32 {
        self.tick
    }

    fn step(&mut self, inputs: &[TickInput<TagInput>], events: &mut Vec<Targeted<TagEvent>>) {
        // Each player's commands come in the order sent: the newest wins, and is held until
        // the next one arrives (a tick without a command repeats the last).
        for input in inputs {
            if let Some(player) = self.players.get_mut(&input.player) {
                player.input = input.input;
            }
        }
        if self.it.is_none() {
            self.choose_it(events);
        }
        for player in self.players.values_mut() {
            (player.pos, player.vel) =
                move_runner(&self.motion, player.pos, player.vel, player.input);
        }
        self.tag(events);
        self.count_it_time();
        self.tick = self.tick.wrapping_add(1);
    }

    fn state_hash(&self) -> u64 {
        let mut hasher = Fnv64::new();
        hasher.u32(self.tick);
        hasher.u64(self.rng.state());
        hasher.u32(self.it.map_or(0, |it| it.0));
        hasher.u32(self.next_player);
        for (id, player) in &self.players {
            hasher.u32(id.0);
            hasher.u32(player.name.len() as u32);
            hasher.bytes(player.name.as_bytes());
            for value in [player.pos.x, player.pos.y, player.vel.x, player.vel.y] {
                hasher.f32(value);
            }
            hasher.u8(player.input.move_x as u8);
            hasher.u8(player.input.move_y as u8);
            hasher.u32(player.immune_until);
            hasher.u32(player.it_ticks);
            hasher.u32(player.tags);
        }
        hasher.finish()
    }
}

impl Game for TagGame {
    type Wire = Tag;
    type Config = TagConfig;
    /// The checked config is all a room needs.
    type Settings = TagConfig;

    fn configure(config: TagConfig) -> Result<TagConfig, String> {
        let ranges = [
            ("width", config.width, 4.0, 1000.0),
            ("height", config.height, 4.0, 1000.0),
            ("radius", config.radius, 0.1, 5.0),
            ("speed", config.speed, 0.5, 50.0),
            ("accel", config.accel, 1.0, 1000.0),
            ("immunity_s", config.immunity_s, 0.0, 60.0),
        ];
        for (key, value, low, high) in ranges {
            // `contains` is false for NaN too.
            if !(low..=high).contains(&value) {
                return Err(format!("tag: {key} must be {low} to {high}"));
            }
        }
        if 4.0 * config.radius > config.width.min(config.height) {
            return Err("tag: radius must be at most a quarter of the field's shorter side".into());
        }
        Ok(config)
    }

    fn new(config: &TagConfig, tick_rate: u32, seed: u64) -> TagGame {
        let tick_rate = tick_rate.max(1);
        TagGame {
            config: config.clone(),
            // The same rules a client builds from the Welcome's setup.
            motion: Motion::new(&setup_of(config), tick_rate),
            immunity_ticks: (config.immunity_s * tick_rate as f32).ceil() as u32,
            tick_rate,
            tick: 0,
            rng: Pcg32::new(seed),
            players: BTreeMap::new(),
            it: None,
            next_player: 1,
            stats_version: 0,
        }
    }

    fn setup(&self) -> TagSetup {
        setup_of(&self.config)
    }

    /// A new runner starts at a random point of the field, standing still.
    fn join(&mut self, name: &str) -> Seat {
        let player = PlayerId(self.next_player);
        self.next_player += 1;
        let (min, max) = (self.motion.min, self.motion.max);
        let spawn = Vec2::new(
            self.rng.range_f32(min.x, max.x),
            self.rng.range_f32(min.y, max.y),
        );
        self.players.insert(
            player,
            Player {
                name: name.to_string(),
                pos: snap(spawn).clamp(min, max),
                vel: Vec2::ZERO,
                input: TagInput::default(),
                immune_until: 0,
                it_ticks: 0,
                tags: 0,
            },
        );
        self.stats_version += 1;
        // The runner's record id is its player id: unique, never 0, and telling nothing secret.
        Seat {
            player,
            entity: Some(NetId(player.0)),
        }
    }

    fn leave(&mut self, player: PlayerId) {
        self.players.remove(&player);
        if self.it == Some(player) {
            // The next step chooses a new "it" among those still here.
            self.it = None;
        }
        self.stats_version += 1;
    }

    /// One record per runner. The map iterates in player id order, which is record id order,
    /// so `out` comes out sorted as the engine wants.
    fn records(&self, out: &mut Vec<Runner>) {
        out.extend(self.players.iter().map(|(&id, player)| {
            let mut bits = 0;
            if self.it == Some(id) {
                bits |= flags::IT;
            }
            if player.immune_until > self.tick {
                bits |= flags::IMMUNE;
            }
            Runner {
                id: id.0,
                x: quant::pos_to_wire(player.pos.x),
                y: quant::pos_to_wire(player.pos.y),
                vx: units(player.vel.x),
                vy: units(player.vel.y),
                flags: bits,
            }
        }));
    }

    fn stats_version(&self) -> u64 {
        self.stats_version
    }

    fn stats(&self, out: &mut Vec<TagStats>) {
        out.extend(self.players.iter().map(|(id, player)| TagStats {
            player: id.0,
            name: player.name.clone(),
            it_seconds: player.it_ticks / self.tick_rate,
            tags: player.tags,
        }));
    }

    /// Nothing on the field is secret: every viewer sees every record, and they all share one
    /// encoding per baseline.
    fn view(&self, _viewer: Viewer, _ids: &mut Vec<u32>) -> View {
        View::Everything
    }

    fn web_assets() -> &'static [Asset] {
        crate::web::ASSETS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn motion() -> Motion {
        let config = TagConfig::default();
        let game = TagGame::new(&config, 30, 1);
        game.motion
    }

    #[test]
    fn the_default_config_is_valid() {
        assert_eq!(
            TagGame::configure(TagConfig::default()),
            Ok(TagConfig::default())
        );
        let nan = TagConfig {
            speed: f32::NAN,
            ..TagConfig::default()
        };
        assert!(TagGame::configure(nan).is_err());
    }

    #[test]
    fn a_held_command_reaches_a_steady_step_on_the_grid() {
        let motion = motion();
        let right = TagInput {
            move_x: 127,
            move_y: 0,
        };
        let (mut pos, mut vel) = (Vec2::new(5.0, 5.0), Vec2::ZERO);
        let mut steps = Vec::new();
        for _ in 0..20 {
            let (next, next_vel) = move_runner(&motion, pos, vel, right);
            steps.push(next - pos);
            (pos, vel) = (next, next_vel);
            assert_eq!(snap(pos), pos);
            assert_eq!(snap(vel), vel);
        }
        // Accelerates, then moves by exactly the top step every tick.
        assert!(steps[0].x < motion.top_step);
        assert!(
            steps[10..]
                .iter()
                .all(|step| *step == Vec2::X * motion.top_step)
        );
        assert_eq!(vel, Vec2::X * motion.top_step);
    }

    #[test]
    fn an_edge_stops_a_runner_along_that_axis() {
        let motion = motion();
        let diagonal = TagInput {
            move_x: -127,
            move_y: 127,
        };
        let (mut pos, mut vel) = (Vec2::new(2.0, 5.0), Vec2::ZERO);
        for _ in 0..60 {
            (pos, vel) = move_runner(&motion, pos, vel, diagonal);
        }
        assert_eq!(pos.x, motion.min.x);
        assert_eq!(vel.x, 0.0);
        assert!(vel.y > 0.0);
    }
}
