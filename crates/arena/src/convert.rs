//! The one place where the simulation's types meet the wire's: world entities become quantized
//! [`EntityState`]s, wire inputs become [`PlayerInput`]s, the map becomes [`MapInfo`].

use tickwire_protocol::quant;
use tickwire_sim::Vec2;

use crate::input::{KNOWN_BUTTONS, PlayerInput};
use crate::map::{Map, Wall};
use crate::wire::{EntityState, InputCmd, MapInfo, ScoreEntry, flags, kind};
use crate::world::{Entity, EntityKind, Player, World};

/// Quantizes one entity for the wire; `dt` is the room's tick length in seconds.
pub fn entity_to_wire(entity: &Entity, dt: f32) -> EntityState {
    EntityState {
        id: entity.net_id.0,
        kind: match entity.kind {
            EntityKind::Player(_) => kind::PLAYER,
            EntityKind::Projectile { .. } => kind::PROJECTILE,
            EntityKind::Npc => kind::NPC,
        },
        x: quant::pos_to_wire(entity.pos.x),
        y: quant::pos_to_wire(entity.pos.y),
        vx: quant::vel_to_wire(entity.vel.x, dt),
        vy: quant::vel_to_wire(entity.vel.y, dt),
        aim: quant::aim_to_wire(entity.aim),
        health: entity.health,
        flags: if entity.alive { flags::ALIVE } else { 0 },
    }
}

/// Quantizes every entity of the world into `out` (cleared first), sorted by id.
pub fn world_to_wire(world: &World, out: &mut Vec<EntityState>) {
    out.clear();
    let dt = world.dt();
    out.extend(world.entities().map(|entity| entity_to_wire(entity, dt)));
    out.sort_unstable_by_key(|state| state.id);
}

/// Turns a wire input into the simulation's input (the sim sanitizes it again).
pub fn input_from_wire(cmd: &InputCmd) -> PlayerInput {
    PlayerInput {
        move_dir: Vec2::new(
            quant::axis_from_wire(cmd.move_x),
            quant::axis_from_wire(cmd.move_y),
        ),
        aim: quant::input_aim_from_wire(cmd.aim),
        buttons: cmd.buttons & KNOWN_BUTTONS,
        view_age: cmd.view_age,
    }
}

/// Quantizes a client's intended input the way the server will see it.
pub fn input_to_wire(input: &PlayerInput) -> InputCmd {
    InputCmd {
        move_x: quant::axis_to_wire(input.move_dir.x),
        move_y: quant::axis_to_wire(input.move_dir.y),
        aim: quant::input_aim_to_wire(input.aim),
        buttons: input.buttons,
        view_age: input.view_age,
    }
}

/// The map's geometry for the Welcome message.
pub fn map_info(map: &Map) -> MapInfo {
    MapInfo {
        name: map.name.clone(),
        width: map.width,
        height: map.height,
        walls: map
            .walls
            .iter()
            .map(|wall| [wall.min.x, wall.min.y, wall.max.x, wall.max.y])
            .collect(),
    }
}

/// One score-table row for a player.
pub fn score_entry(player: &Player) -> ScoreEntry {
    ScoreEntry {
        player: player.id.0,
        entity: player.entity.0,
        name: player.name.clone(),
        kills: player.kills,
        deaths: player.deaths,
    }
}

/// Rebuilds a simulation map from a Welcome's map (clients use it to predict movement).
pub fn map_from_info(info: &MapInfo) -> Map {
    Map {
        name: info.name.clone(),
        width: info.width,
        height: info.height,
        walls: info
            .walls
            .iter()
            .map(|[min_x, min_y, max_x, max_y]| Wall {
                min: Vec2::new(*min_x, *min_y),
                max: Vec2::new(*max_x, *max_y),
            })
            .collect(),
        spawns: Vec::new(),
    }
}
