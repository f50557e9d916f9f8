//! The arena on the server: [`ArenaGame`] implements the engine's [`Game`] around the
//! simulation's [`World`], its configuration table (`[arena]` in server.toml) and its view rule
//! (a circle around the player's body).

use std::cell::Cell;
use std::path::Path;

use serde::Deserialize;
use tickwire_net::game::{Game, Seat, Targeted, View, Viewer};
use tickwire_net::web::Asset;
use tickwire_protocol::quant;
use tickwire_sim::{PlayerId, Simulation, TickInput, Vec2};

use crate::convert;
use crate::input::PlayerInput;
use crate::map::Map;
use crate::rules::Rules;
use crate::wire::{Arena, ArenaSetup, EntityState, GameEvent, InputCmd, MoveRules, ScoreEntry};
use crate::world::{Event, World};

/// Most NPCs a room may be configured with.
pub const NPCS_MAX: usize = 4096;

/// The `[arena]` table of the server's config file, as written (every key optional).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArenaConfig {
    /// A built-in map name (`arena`, `open`) or a path to a map file.
    pub map: String,
    /// Wandering NPCs added to every room.
    pub npcs: usize,
    /// A player sees the entities within this many meters of its own body.
    pub view_radius: f32,
    /// Game tuning (`[arena.rules]`).
    pub rules: Rules,
}

impl Default for ArenaConfig {
    fn default() -> Self {
        ArenaConfig {
            map: "arena".into(),
            npcs: 0,
            view_radius: 40.0,
            rules: Rules::default(),
        }
    }
}

/// The arena's settings, checked and with the map loaded, shared by every room.
#[derive(Clone, Debug)]
pub struct ArenaSettings {
    /// The map every room is played on.
    pub map: Map,
    /// The rules (sanitized by the world).
    pub rules: Rules,
    /// NPCs per room.
    pub npcs: usize,
    /// View radius in meters.
    pub view_radius: f32,
}

impl ArenaSettings {
    /// Settings for tests and tools: a map and rules, no NPCs, the default view radius.
    pub fn new(map: Map, rules: Rules) -> ArenaSettings {
        ArenaSettings {
            map,
            rules,
            npcs: 0,
            view_radius: ArenaConfig::default().view_radius,
        }
    }
}

/// One room's arena: the world, plus what the engine asks of a game.
#[derive(Debug)]
pub struct ArenaGame {
    world: World,
    view_radius: f32,
    /// Bumped whenever the score table changes (joins, leaves, kills).
    stats_version: u64,
    /// This tick's folded inputs, one per player, as the world takes them.
    inputs: Vec<(PlayerId, PlayerInput)>,
    /// This tick's simulation events.
    sim_events: Vec<Event>,
    /// The box around every entity, worked out on the first view after a change (every
    /// `&mut self` method clears it): a view whose circle holds the box is everything.
    bounds: Cell<Option<(Vec2, Vec2)>>,
}

impl ArenaGame {
    /// The simulation (tests and tools).
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The simulation, to change by hand (tests and benches: add NPCs, move a player).
    pub fn world_mut(&mut self) -> &mut World {
        self.bounds.set(None);
        &mut self.world
    }

    /// The box around every entity now.
    fn bounds(&self) -> (Vec2, Vec2) {
        if let Some(bounds) = self.bounds.get() {
            return bounds;
        }
        let mut bounds = (Vec2::splat(f32::INFINITY), Vec2::splat(f32::NEG_INFINITY));
        for entity in self.world.entities() {
            bounds = (bounds.0.min(entity.pos), bounds.1.max(entity.pos));
        }
        self.bounds.set(Some(bounds));
        bounds
    }

    /// The events of the last step, as the simulation reported them (richer than the wire's).
    pub fn sim_events(&self) -> &[Event] {
        &self.sim_events
    }
}

impl Simulation for ArenaGame {
    type Input = InputCmd;
    type Event = Targeted<GameEvent>;

    fn tick(&self) -> u32 {
        self.world.tick()
    }

    /// Folds each player's commands of this tick into one world input (the last movement and
    /// aim win; a button pressed in any of them counts; the last command's rewind), steps the
    /// world, and reports kills and hitscan shots to everyone.
    fn step(&mut self, inputs: &[TickInput<InputCmd>], events: &mut Vec<Targeted<GameEvent>>) {
        self.bounds.set(None);
        self.inputs.clear();
        let mut index = 0;
        while index < inputs.len() {
            let player = inputs[index].player;
            let mut merged = InputCmd::default();
            let mut rewind = 0;
            while index < inputs.len() && inputs[index].player == player {
                let input = &inputs[index];
                merged = InputCmd {
                    buttons: merged.buttons | input.input.buttons,
                    ..input.input
                };
                rewind = input.rewind;
                index += 1;
            }
            // The world wants the rewind as a view age (it caps it at its maximum rewind).
            merged.view_age = rewind.min(255) as u8;
            self.inputs
                .push((player, convert::input_from_wire(&merged)));
        }
        self.sim_events.clear();
        self.world.step(&self.inputs, &mut self.sim_events);
        for event in &self.sim_events {
            match event {
                Event::Killed { victim, killer } => {
                    self.stats_version += 1;
                    events.push(Targeted::everyone(GameEvent::Killed {
                        killer: killer.map_or(0, |p| p.0),
                        victim: victim.0,
                    }));
                }
                Event::HitscanFired {
                    shooter,
                    from,
                    to,
                    hit,
                } => events.push(
                    // A tracer: worth drawing only at once, so a client that fell behind
                    // skips it (kills stay reliable).
                    Targeted::everyone(GameEvent::Shot {
                        shooter: shooter.0,
                        from_x: quant::pos_to_wire(from.x),
                        from_y: quant::pos_to_wire(from.y),
                        to_x: quant::pos_to_wire(to.x),
                        to_y: quant::pos_to_wire(to.y),
                        hit: hit.map_or(0, |id| id.0),
                    })
                    .transient(),
                ),
                _ => {}
            }
        }
    }

    fn state_hash(&self) -> u64 {
        self.world.state_hash()
    }

    fn check_hash(&self) -> u64 {
        self.world.check_hash()
    }
}

impl Game for ArenaGame {
    type Wire = Arena;
    type Config = ArenaConfig;
    type Settings = ArenaSettings;

    fn configure(config: ArenaConfig) -> Result<ArenaSettings, String> {
        if config.npcs > NPCS_MAX {
            return Err(format!("npcs must be at most {NPCS_MAX}"));
        }
        if !(config.view_radius.is_finite() && config.view_radius > 0.0) {
            return Err("view_radius must be a positive number".into());
        }
        let map = match Map::builtin(&config.map) {
            Some(map) => map,
            None => Map::load(Path::new(&config.map)).map_err(|error| error.to_string())?,
        };
        Ok(ArenaSettings {
            map,
            rules: config.rules,
            npcs: config.npcs,
            view_radius: config.view_radius,
        })
    }

    fn new(settings: &ArenaSettings, tick_rate: u32, seed: u64) -> ArenaGame {
        let mut world = World::new(
            settings.map.clone(),
            settings.rules.clone(),
            tick_rate,
            seed,
        );
        for _ in 0..settings.npcs {
            world.add_npc();
        }
        ArenaGame {
            world,
            view_radius: settings.view_radius,
            stats_version: 0,
            inputs: Vec::new(),
            sim_events: Vec::new(),
            bounds: Cell::new(None),
        }
    }

    fn setup(&self) -> ArenaSetup {
        let rules = self.world.rules();
        ArenaSetup {
            map: convert::map_info(self.world.map()),
            rules: MoveRules {
                player_radius: rules.player_radius,
                max_speed: rules.player_max_speed,
                accel: rules.player_accel,
                friction: rules.player_friction,
            },
        }
    }

    fn join(&mut self, name: &str) -> Seat {
        self.bounds.set(None);
        let player = self.world.add_player(name);
        self.stats_version += 1;
        Seat {
            player,
            entity: self.world.player(player).map(|p| p.entity),
        }
    }

    fn leave(&mut self, player: PlayerId) {
        self.bounds.set(None);
        self.world.remove_player(player);
        self.stats_version += 1;
    }

    fn records(&self, out: &mut Vec<EntityState>) {
        convert::world_to_wire(&self.world, out);
    }

    fn stats_version(&self) -> u64 {
        self.stats_version
    }

    fn stats(&self, out: &mut Vec<ScoreEntry>) {
        out.extend(self.world.players().map(convert::score_entry));
    }

    /// A player sees what is within the view radius of its body (and its body); a view circle
    /// that holds the whole map sees everything, like a spectator, and so shares its encoding.
    fn view(&self, viewer: Viewer, ids: &mut Vec<u32>) -> View {
        let Viewer::Player(player) = viewer else {
            return View::Everything;
        };
        let Some(own) = self.world.player(player).map(|p| p.entity) else {
            return View::Everything;
        };
        let Some(center) = self.world.entity(own).map(|entity| entity.pos) else {
            return View::Everything;
        };
        let map = self.world.map();
        if covers_map(center, self.view_radius, (map.width, map.height))
            || covers_box(center, self.view_radius, self.bounds())
        {
            return View::Everything;
        }
        self.world
            .for_each_within(center, self.view_radius, |entity| ids.push(entity.net_id.0));
        ids.push(own.0);
        View::Listed
    }

    fn web_assets() -> &'static [Asset] {
        crate::web::ASSETS
    }
}

/// Whether the circle of `radius` around `center` contains the box `(min, max)` (all four
/// corners), so every entity inside it is in view.
fn covers_box(center: Vec2, radius: f32, (min, max): (Vec2, Vec2)) -> bool {
    let far_x = (center.x - min.x).max(max.x - center.x);
    let far_y = (center.y - min.y).max(max.y - center.y);
    far_x * far_x + far_y * far_y <= radius * radius
}

/// Whether the circle of `radius` around `center` contains the whole map (all four corners).
fn covers_map(center: Vec2, radius: f32, (width, height): (f32, f32)) -> bool {
    let far_x = center.x.max(width - center.x);
    let far_y = center.y.max(height - center.y);
    far_x * far_x + far_y * far_y <= radius * radius
}
