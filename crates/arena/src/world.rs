//! The world: every entity and player, and the fixed step that advances them.

use slotmap::DenseSlotMap;
use tickwire_sim::grid::SpatialGrid;
use tickwire_sim::hash::Fnv64;
use tickwire_sim::history::{Hitbox, HitboxHistory};
use tickwire_sim::rng::Pcg32;
use tickwire_sim::{NetId, PlayerId, Vec2, snap};

use crate::input::{BUTTON_FIRE, BUTTON_HITSCAN, PlayerInput, wrap_angle};
use crate::map::Map;
use crate::physics::{move_body, segment_hits_circle, segment_hits_walls, slide_move};
use crate::rules::Rules;
use crate::walls::WallGrid;

/// Longest player name kept, in characters; [`World::add_player`] truncates longer ones.
pub const MAX_NAME_CHARS: usize = 32;

/// Gap between a shooter's circle and a new projectile's circle, in meters.
const MUZZLE_GAP: f32 = 0.01;
/// Random points tried when looking for a free spot for an NPC before falling back to a spawn.
const FREE_POINT_ATTEMPTS: u32 = 32;
/// The NetId index is compacted once more than one entry in this many is stale.
const COMPACT_FRACTION: usize = 8;

slotmap::new_key_type! {
    /// An entity's key in the world's slotmap; internal only (the wire uses [`NetId`]).
    struct EntityKey;
}

/// What an entity is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntityKind {
    /// The body of a player.
    Player(PlayerId),
    /// A projectile, with the player who fired it (who may have left since).
    Projectile {
        /// The shooter.
        owner: PlayerId,
    },
    /// A wandering non-player character.
    Npc,
}

/// Something in the world that has a position: a player's body, a projectile or an NPC.
#[derive(Clone, Debug, PartialEq)]
pub struct Entity {
    /// Stable id for the wire.
    pub net_id: NetId,
    /// What it is.
    pub kind: EntityKind,
    /// Center, in meters, always a multiple of [`POS_GRID`](crate::POS_GRID).
    pub pos: Vec2,
    /// Velocity, in m/s; constant-velocity entities advance by exactly `snap(vel * dt)` a tick.
    pub vel: Vec2,
    /// Facing, in radians in `[0, TAU)`: the aim for players, the direction of travel otherwise.
    pub aim: f32,
    /// Remaining health (projectiles keep 0).
    pub health: u8,
    /// False while dead and waiting to respawn (dead entities neither collide nor get hit).
    pub alive: bool,
    /// Collision radius, in meters.
    pub radius: f32,
}

/// A participant, with a score.
#[derive(Clone, Debug, PartialEq)]
pub struct Player {
    /// The player's id.
    pub id: PlayerId,
    /// Display name, at most [`MAX_NAME_CHARS`] characters.
    pub name: String,
    /// The player's body; exists for as long as the player does.
    pub entity: NetId,
    /// Entities this player killed (players and NPCs).
    pub kills: u32,
    /// Times this player died.
    pub deaths: u32,
    /// The input applied each tick until a newer one arrives (already sanitized).
    pub input: PlayerInput,
    /// Ticks left before respawning while dead; 0 while alive.
    pub respawn_ticks: u32,
    /// Ticks left before the weapon can fire again; 0 when ready.
    pub fire_cooldown_ticks: u32,
    /// Ticks left before the hitscan weapon can fire again; 0 when ready.
    pub hitscan_cooldown_ticks: u32,
    /// The body's key; the body exists for as long as the player does.
    body: EntityKey,
}

/// Something that happened during a step, for scores, effects and logs.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A player fired a new projectile.
    Fired {
        /// The shooter.
        player: PlayerId,
        /// The new projectile entity.
        projectile: NetId,
    },
    /// A projectile or hitscan shot hit a living player or NPC.
    Hit {
        /// The entity hit.
        target: NetId,
        /// The shooter (`None` is reserved for damage nobody caused; the current
        /// rules have none).
        by: Option<PlayerId>,
        /// Health taken (less than the rule's damage when the target had less left).
        damage: u8,
    },
    /// A player or NPC died.
    Killed {
        /// The entity that died.
        victim: NetId,
        /// Who fired the fatal projectile or hitscan shot.
        killer: Option<PlayerId>,
    },
    /// A dead player came back at a spawn point with full health.
    Respawned {
        /// The player.
        player: PlayerId,
    },
    /// A dead NPC came back at a free point with full health.
    NpcRespawned {
        /// The NPC's entity.
        npc: NetId,
    },
    /// A player fired the hitscan weapon (see [`World::step`]); a [`Event::Hit`] (and maybe a
    /// [`Event::Killed`]) follows when `hit` is set.
    HitscanFired {
        /// The shooter's body.
        shooter: NetId,
        /// Where the ray starts: the shooter's center moved out by its radius along the aim (the
        /// obstacle's point instead when a wall or the map's edge is closer than that).
        from: Vec2,
        /// Where the ray stops: the point where it meets the target's (rewound) circle, else
        /// the first wall or map edge, else the end of its range.
        to: Vec2,
        /// The entity hit, if any.
        hit: Option<NetId>,
    },
}

/// A player's two weapons, each with its own button and cooldown.
#[derive(Clone, Copy, Debug)]
enum Weapon {
    Projectile,
    Hitscan,
}

/// Per-entity state the wire never sees.
#[derive(Clone, Debug, PartialEq)]
enum Brain {
    /// Players keep their state in [`Player`].
    Player {
        /// Position of the player in the world's player table (a u32 keeps a slot small).
        player: u32,
    },
    Projectile {
        /// Moves left before it disappears.
        ticks_left: u32,
    },
    Npc {
        /// Unit walking direction.
        direction: Vec2,
        /// Ticks left before picking a new direction.
        turn_ticks: u32,
        /// Ticks left before respawning while dead; 0 while alive.
        respawn_ticks: u32,
    },
}

#[derive(Clone, Debug)]
struct Slot {
    entity: Entity,
    brain: Brain,
}

/// Durations from [`Rules`], converted once into whole ticks.
#[derive(Clone, Copy, Debug)]
struct TickDurations {
    fire_cooldown: u32,
    hitscan_cooldown: u32,
    /// The most a hitscan shot rewinds its targets.
    max_rewind: u32,
    respawn: u32,
    projectile_lifetime: u32,
    npc_turn_min: u32,
    npc_turn_max: u32,
}

/// The whole game state and its fixed step.
///
/// Players collide with walls, the map's edges and each other; NPCs collide with walls and
/// edges only (they neither block nor are blocked by bodies); projectiles stop at the first wall
/// or living body (other than their owner's) on their path.
///
/// Call order: [`World::new`], then any mix of [`World::add_player`], [`World::remove_player`],
/// [`World::add_npc`] and [`World::step`] (one call per tick), reading state with the getters in
/// between. Given the same seed and the same calls, two worlds stay identical bit for bit
/// ([`World::state_hash`] proves it cheaply).
#[derive(Debug)]
pub struct World {
    map: Map,
    rules: Rules,
    tick_rate: u32,
    dt: f32,
    /// Steps done so far.
    tick: u32,
    durations: TickDurations,
    rng: Pcg32,
    /// Every entity, by key. Dense: the slots themselves are contiguous, which measured a little
    /// faster than a `SlotMap` with 100,000 entities. Key reuse depends only on the sequence of
    /// inserts and removals, so keys are as deterministic as everything else; only the rare
    /// relinking of players iterates the map itself, and its order does not matter there.
    slots: DenseSlotMap<EntityKey, Slot>,
    /// Every entity's key, sorted by NetId, so phases walk the entities in NetId order and
    /// [`World::entity`] finds one by binary search. Removing an entity leaves its entry stale
    /// (its key no longer in `slots`) until more than one entry in [`COMPACT_FRACTION`] is;
    /// the end of a step then compacts the index.
    index: Vec<(NetId, EntityKey)>,
    /// Number of stale entries in `index`.
    stale: usize,
    /// No projectile has a lower position in `index` (projectiles get the newest ids, so they
    /// gather at its end and flying them skips the bodies before).
    projectiles_from: usize,
    /// Every player, sorted by PlayerId; each knows its body's key and each body its player's
    /// position.
    players: Vec<Player>,
    next_player_id: u32,
    next_net_id: u32,
    /// Keys of the live entities by position; kept up to date as entities move, so it is
    /// current whenever no `&mut self` method is running.
    grid: SpatialGrid<EntityKey>,
    /// Keys of the living players' bodies by position, rebuilt after movement for separating
    /// players, which then need not wade through NPCs and projectiles.
    player_grid: SpatialGrid<EntityKey>,
    /// Reused for grid query results.
    nearby: Vec<EntityKey>,
    /// The map's walls by cell, built once, so movement tests only nearby walls.
    walls: Option<WallGrid>,
    /// Hitboxes of players and NPCs at the end of each of the last `max_rewind + 1` steps, for
    /// lag-compensated hitscan.
    history: HitboxHistory,
}

impl World {
    /// Creates an empty world on `map` (repaired if it breaks a [`Map::validate`] rule), with
    /// `rules` (sanitized) at `tick_rate` steps per second (clamped to 1..=1000), its random
    /// choices driven by `seed`.
    pub fn new(map: Map, rules: Rules, tick_rate: u32, seed: u64) -> World {
        let map = map.repaired();
        let rules = rules.sanitized();
        let tick_rate = tick_rate.clamp(1, 1000);
        let ticks = |seconds: f32| (seconds * tick_rate as f32).ceil() as u32;
        let durations = TickDurations {
            fire_cooldown: ticks(rules.fire_cooldown_s),
            hitscan_cooldown: ticks(rules.hitscan_cooldown_s),
            max_rewind: ticks(rules.max_rewind_s),
            respawn: ticks(rules.respawn_delay_s).max(1),
            projectile_lifetime: ticks(rules.projectile_lifetime_s).max(1),
            npc_turn_min: ticks(rules.npc_turn_min_s).max(1),
            npc_turn_max: ticks(rules.npc_turn_max_s).max(1),
        };
        let grid = SpatialGrid::new(map.width, map.height);
        let player_grid = SpatialGrid::new(map.width, map.height);
        let walls = WallGrid::new(&map);
        let history = HitboxHistory::new(durations.max_rewind as usize + 1);
        World {
            map,
            rules,
            tick_rate,
            dt: 1.0 / tick_rate as f32,
            tick: 0,
            durations,
            rng: Pcg32::new(seed),
            slots: DenseSlotMap::with_key(),
            index: Vec::new(),
            stale: 0,
            projectiles_from: usize::MAX,
            players: Vec::new(),
            next_player_id: 1,
            next_net_id: 1,
            grid,
            player_grid,
            nearby: Vec::new(),
            walls,
            history,
        }
    }

    /// The map (after any repair [`World::new`] made).
    pub fn map(&self) -> &Map {
        &self.map
    }

    /// The rules in force (after [`Rules::sanitized`]).
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Number of steps done, starting at 0 (wraps after 2^32 steps).
    pub fn tick(&self) -> u32 {
        self.tick
    }

    /// Length of one step, in seconds: `1 / tick_rate`.
    pub fn dt(&self) -> f32 {
        self.dt
    }

    /// Steps per second.
    pub fn tick_rate(&self) -> u32 {
        self.tick_rate
    }

    /// The most ticks a hitscan shot rewinds its targets: `ceil(max_rewind_s * tick_rate)`
    /// (a larger [`PlayerInput::view_age`] is clamped to this).
    pub fn max_rewind_ticks(&self) -> u32 {
        self.durations.max_rewind
    }

    /// Adds a player (name truncated to [`MAX_NAME_CHARS`]) whose body appears, alive and at full
    /// health, at a spawn point chosen at random among the unoccupied ones.
    pub fn add_player(&mut self, name: &str) -> PlayerId {
        let id = PlayerId(self.next_player_id);
        // Four billion joins would be needed to wrap; ids stay unique among current players.
        self.next_player_id = self.next_player_id.wrapping_add(1).max(1);
        let pos = self.pick_spawn();
        let net_id = self.allocate_net_id();
        let entity = Entity {
            net_id,
            kind: EntityKind::Player(id),
            pos,
            vel: Vec2::ZERO,
            aim: 0.0,
            health: self.rules.player_max_health,
            alive: true,
            radius: self.rules.player_radius,
        };
        // Ids only grow, so the player normally goes last; after a wrap it is slotted in and
        // the links between players and bodies are rebuilt.
        let position = self.players.partition_point(|player| player.id < id);
        let body = self.insert_entity(
            entity,
            Brain::Player {
                player: position as u32,
            },
        );
        self.players.insert(
            position,
            Player {
                id,
                name: name.chars().take(MAX_NAME_CHARS).collect(),
                entity: net_id,
                kills: 0,
                deaths: 0,
                input: PlayerInput::default(),
                respawn_ticks: 0,
                fire_cooldown_ticks: 0,
                hitscan_cooldown_ticks: 0,
                body,
            },
        );
        if position + 1 != self.players.len() {
            self.relink_players();
        }
        id
    }

    /// Removes a player and its body; its projectiles keep flying (and keep their owner).
    /// Returns false if there was no such player.
    pub fn remove_player(&mut self, id: PlayerId) -> bool {
        let Some(position) = self.player_position(id) else {
            return false;
        };
        let player = self.players.remove(position);
        self.remove_entity(player.body);
        // The players after it moved down one place: tell their bodies.
        for (index, later) in self.players.iter().enumerate().skip(position) {
            if let Some(slot) = self.slots.get_mut(later.body) {
                slot.brain = Brain::Player {
                    player: index as u32,
                };
            }
        }
        true
    }

    /// The player with this id, if it is in the world.
    pub fn player(&self, id: PlayerId) -> Option<&Player> {
        self.player_position(id)
            .map(|position| &self.players[position])
    }

    /// Every player, in PlayerId order.
    pub fn players(&self) -> impl Iterator<Item = &Player> {
        self.players.iter()
    }

    /// Number of players.
    pub fn player_count(&self) -> usize {
        self.players.len()
    }

    /// Adds a wandering NPC at a random free point; returns its entity id.
    pub fn add_npc(&mut self) -> NetId {
        let pos = self.pick_free_point(self.rules.npc_radius);
        let net_id = self.allocate_net_id();
        let (direction, turn_ticks) = self.pick_npc_heading(None);
        let entity = Entity {
            net_id,
            kind: EntityKind::Npc,
            pos,
            vel: direction * self.rules.npc_speed,
            aim: angle_of(direction),
            health: self.rules.npc_health,
            alive: true,
            radius: self.rules.npc_radius,
        };
        self.insert_entity(
            entity,
            Brain::Npc {
                direction,
                turn_ticks,
                respawn_ticks: 0,
            },
        );
        net_id
    }

    /// The entity with this id, if it exists.
    pub fn entity(&self, id: NetId) -> Option<&Entity> {
        let key = self.index[self.find(id).ok()?].1;
        self.slots.get(key).map(|slot| &slot.entity)
    }

    /// Every entity, in NetId order.
    pub fn entities(&self) -> impl Iterator<Item = &Entity> {
        self.live_slots().map(|(_, slot)| &slot.entity)
    }

    /// Number of entities (player bodies, projectiles and NPCs).
    pub fn entity_count(&self) -> usize {
        self.slots.len()
    }

    /// Calls `f` for every entity whose center lies within `radius` of `center` (uses the spatial
    /// grid; results in a deterministic order). A NaN or negative radius or a non-finite center
    /// matches nothing.
    pub fn for_each_within(&self, center: Vec2, radius: f32, mut f: impl FnMut(&Entity)) {
        if !center.is_finite() || radius.is_nan() || radius < 0.0 {
            return;
        }
        let radius_squared = radius * radius;
        let reach = Vec2::splat(radius);
        self.grid
            .for_each_in_rect(center - reach, center + reach, |key, pos| {
                // The grid's copy of the position is the entity's (every move relocates).
                if pos.distance_squared(center) <= radius_squared
                    && let Some(slot) = self.slots.get(key)
                {
                    f(&slot.entity);
                }
            });
    }

    /// Advances one fixed step.
    ///
    /// `inputs` sets the input of the named players for this and later ticks; players not named
    /// keep their previous input (so a missing input repeats the last one). Unknown player ids
    /// are ignored; when a player is named twice the last input wins. Inputs are sanitized.
    /// Pushes this tick's events into `events` (does not clear it first). Cannot fail or panic.
    ///
    /// Order within a step: respawns, player movement, NPC movement, player separation,
    /// projectile flight and hits, hitscan shots, firing (new projectiles first move on the next
    /// step), and last a record of every player's and NPC's hitbox into the position history.
    ///
    /// Hitscan shots are resolved after this step's movement and projectile hits, in PlayerId
    /// order: every living player holding [`BUTTON_HITSCAN`](crate::BUTTON_HITSCAN) whose
    /// hitscan cooldown is 0 fires (the cooldown restarts even if the shot is blocked). The ray
    /// starts at the shooter's position after this step's movement, moved out by its radius
    /// along its aim, and reaches `hitscan_range` further, stopping at the first wall or map
    /// edge. Targets (other players' bodies and NPCs) are tested not where they are now but
    /// where the history says they were. The history is recorded at the end of each step, so
    /// inside a step that started at `tick() == t`, the record 0 ticks ago holds the positions
    /// at the end of the previous step (tick `t`, what the latest snapshot showed), and rewind
    /// `r` uses the record for tick `t - r`. `r` is `min(view_age, max_rewind_ticks())` when
    /// `lag_compensation` is on, else 0; when the history does not reach back to `t - r` (a
    /// young world) its oldest record is used. A target counts only if that record has it
    /// alive and it still exists and is alive now (projectiles and earlier shots of this step
    /// may have killed it). The nearest target whose rewound circle the ray meets before the
    /// obstacle is hit (ties go to the lower NetId): it takes `hitscan_damage` to its current
    /// state, with the same kill, score and respawn rules as a projectile. Entities added between
    /// steps appear in the history only at the end of the next step, so a shot in a world's
    /// first step finds no target.
    pub fn step(&mut self, inputs: &[(PlayerId, PlayerInput)], events: &mut Vec<Event>) {
        for &(id, input) in inputs {
            if let Some(position) = self.player_position(id) {
                self.players[position].input = input.sanitized();
            }
        }

        self.respawn_dead(events);
        self.move_players();
        self.move_npcs();
        self.separate_players();
        self.fly_projectiles(events);
        self.fire_hitscans(events);
        self.fire_weapons(events);

        if self.stale * COMPACT_FRACTION > self.index.len() {
            self.compact();
        }
        self.record_history();
        self.tick = self.tick.wrapping_add(1);
    }

    /// Deterministic 64-bit FNV-1a hash of the whole state: tick, RNG, id counters, every
    /// entity's fields (floats by their bits) and hidden timers in NetId order, every player's
    /// name, score, timers and current input in PlayerId order, and the hitbox history.
    pub fn state_hash(&self) -> u64 {
        let mut hasher = self.current_hasher();
        self.history.hash_into(&mut hasher);
        hasher.finish()
    }

    /// [`World::state_hash`] without the hitbox history: the history holds only earlier ticks'
    /// hitboxes, which their own checks covered (a match log's check after every tick).
    pub fn check_hash(&self) -> u64 {
        self.current_hasher().finish()
    }

    /// The hash of everything but the hitbox history, not yet finished.
    fn current_hasher(&self) -> Fnv64 {
        let mut hasher = Fnv64::new();
        hasher.u32(self.tick);
        hasher.u32(self.tick_rate);
        hasher.u64(self.rng.state());
        hasher.u32(self.next_player_id);
        hasher.u32(self.next_net_id);
        hasher.u64(self.entity_count() as u64);
        for (_, slot) in self.live_slots() {
            let entity = &slot.entity;
            hasher.u32(entity.net_id.0);
            match entity.kind {
                EntityKind::Player(id) => {
                    hasher.u8(0);
                    hasher.u32(id.0);
                }
                EntityKind::Projectile { owner } => {
                    hasher.u8(1);
                    hasher.u32(owner.0);
                }
                EntityKind::Npc => hasher.u8(2),
            }
            for value in [
                entity.pos.x,
                entity.pos.y,
                entity.vel.x,
                entity.vel.y,
                entity.aim,
                entity.radius,
            ] {
                hasher.f32(value);
            }
            hasher.u8(entity.health);
            hasher.u8(u8::from(entity.alive));
            match slot.brain {
                Brain::Player { .. } => hasher.u8(0),
                Brain::Projectile { ticks_left } => {
                    hasher.u8(1);
                    hasher.u32(ticks_left);
                }
                Brain::Npc {
                    direction,
                    turn_ticks,
                    respawn_ticks,
                } => {
                    hasher.u8(2);
                    hasher.f32(direction.x);
                    hasher.f32(direction.y);
                    hasher.u32(turn_ticks);
                    hasher.u32(respawn_ticks);
                }
            }
        }
        hasher.u64(self.players.len() as u64);
        for player in &self.players {
            hasher.u32(player.id.0);
            hasher.u64(player.name.len() as u64);
            hasher.bytes(player.name.as_bytes());
            hasher.u32(player.entity.0);
            hasher.u32(player.kills);
            hasher.u32(player.deaths);
            hasher.u32(player.respawn_ticks);
            hasher.u32(player.fire_cooldown_ticks);
            hasher.u32(player.hitscan_cooldown_ticks);
            hasher.f32(player.input.move_dir.x);
            hasher.f32(player.input.move_dir.y);
            hasher.f32(player.input.aim);
            hasher.u8(player.input.buttons);
            hasher.u8(player.input.view_age);
        }
        hasher
    }

    // ---- step phases ----

    /// Counts down dead players and NPCs, bringing back those whose time is up.
    fn respawn_dead(&mut self, events: &mut Vec<Event>) {
        // Players, in PlayerId order.
        for position in 0..self.players.len() {
            let player = &mut self.players[position];
            if player.respawn_ticks == 0 {
                continue;
            }
            player.respawn_ticks -= 1;
            if player.respawn_ticks > 0 {
                continue;
            }
            let (id, body) = (player.id, player.body);
            let spawn = self.pick_spawn();
            let Some(slot) = self.slots.get_mut(body) else {
                continue;
            };
            let entity = &mut slot.entity;
            entity.pos = spawn;
            entity.vel = Vec2::ZERO;
            entity.health = self.rules.player_max_health;
            entity.alive = true;
            self.grid.relocate(body, spawn);
            events.push(Event::Respawned { player: id });
        }
        // NPCs, in NetId order.
        for position in 0..self.index.len() {
            let key = self.index[position].1;
            let Some(Slot {
                entity,
                brain: Brain::Npc { respawn_ticks, .. },
            }) = self.slots.get_mut(key)
            else {
                continue;
            };
            if entity.alive || *respawn_ticks == 0 {
                continue;
            }
            *respawn_ticks -= 1;
            if *respawn_ticks > 0 {
                continue;
            }
            let net_id = entity.net_id;
            let pos = self.pick_free_point(self.rules.npc_radius);
            let (direction, turn_ticks) = self.pick_npc_heading(None);
            let Some(slot) = self.slots.get_mut(key) else {
                continue;
            };
            slot.entity.pos = pos;
            slot.entity.vel = direction * self.rules.npc_speed;
            slot.entity.aim = angle_of(direction);
            slot.entity.health = self.rules.npc_health;
            slot.entity.alive = true;
            slot.brain = Brain::Npc {
                direction,
                turn_ticks,
                respawn_ticks: 0,
            };
            self.grid.relocate(key, pos);
            events.push(Event::NpcRespawned { npc: net_id });
        }
    }

    fn move_players(&mut self) {
        for player in &mut self.players {
            player.fire_cooldown_ticks = player.fire_cooldown_ticks.saturating_sub(1);
            player.hitscan_cooldown_ticks = player.hitscan_cooldown_ticks.saturating_sub(1);
            let Some(slot) = self.slots.get_mut(player.body) else {
                continue;
            };
            let entity = &mut slot.entity;
            entity.aim = player.input.aim;
            if !entity.alive {
                continue;
            }
            // The rules and the input are already sanitized: this is `move_player`, bit for bit.
            let (pos, vel) = move_body(
                &self.rules,
                &self.map,
                self.walls.as_ref(),
                self.dt,
                entity.pos,
                entity.vel,
                &player.input,
            );
            entity.pos = pos;
            entity.vel = vel;
            self.grid.relocate(player.body, pos);
        }
    }

    fn move_npcs(&mut self) {
        let speed = self.rules.npc_speed;
        for position in 0..self.index.len() {
            let key = self.index[position].1;
            let Some(Slot {
                entity,
                brain:
                    Brain::Npc {
                        direction,
                        turn_ticks,
                        ..
                    },
            }) = self.slots.get_mut(key)
            else {
                continue;
            };
            if !entity.alive {
                continue;
            }
            let mut turned = false;
            if *turn_ticks == 0 {
                (*direction, *turn_ticks) = pick_heading(&mut self.rng, &self.durations, None);
                turned = true;
            }
            *turn_ticks -= 1;
            let vel = *direction * speed;
            let slide = slide_move(
                &self.map,
                self.walls.as_ref(),
                entity.radius,
                entity.pos,
                snap(vel * self.dt),
                vel,
            );
            entity.pos = slide.pos;
            if let Some(normal) = slide.normal {
                // Bumped into a wall: walk away from it in a new random direction.
                (*direction, *turn_ticks) =
                    pick_heading(&mut self.rng, &self.durations, Some(normal));
                turned = true;
            }
            // A living NPC's velocity and facing always follow its direction (set together on
            // creation, respawn and every turn), so they only change when it turns.
            if turned {
                entity.vel = *direction * speed;
                entity.aim = angle_of(*direction);
            }
            self.grid.relocate(key, slide.pos);
        }
    }

    /// Pushes overlapping living players apart, half each, pair by pair in PlayerId order.
    fn separate_players(&mut self) {
        let reach = 4.0 * self.rules.player_radius;
        self.player_grid
            .clear(self.players.iter().map(|player| player.body));
        for player in &self.players {
            if let Some(slot) = self.slots.get(player.body)
                && slot.entity.alive
            {
                self.player_grid.insert(player.body, slot.entity.pos);
            }
        }
        for position in 0..self.players.len() {
            let body = self.players[position].body;
            let Some(slot) = self.slots.get(body) else {
                continue;
            };
            let center = slot.entity.pos;
            if !slot.entity.alive {
                continue;
            }
            self.nearby.clear();
            let nearby = &mut self.nearby;
            self.player_grid.for_each_in_rect(
                center - Vec2::splat(reach),
                center + Vec2::splat(reach),
                |other, _| nearby.push(other),
            );
            for index in 0..self.nearby.len() {
                let other_body = self.nearby[index];
                // Each pair once: from the player with the lower id (the table is sorted by
                // id). Only living players are in the grid, and nobody dies meanwhile.
                let Some([mine, theirs]) = self.slots.get_disjoint_mut([body, other_body]) else {
                    continue;
                };
                let Brain::Player {
                    player: other_position,
                } = theirs.brain
                else {
                    continue;
                };
                if other_position as usize <= position {
                    continue;
                }
                let offset = theirs.entity.pos - mine.entity.pos;
                let distance = offset.length();
                let overlap = mine.entity.radius + theirs.entity.radius - distance;
                if overlap <= 0.0 {
                    continue;
                }
                // Coincident centers: separate along x, the lower id to the left.
                let normal = if distance > 1e-6 {
                    offset / distance
                } else {
                    Vec2::X
                };
                let push = snap(normal * (overlap * 0.5));
                if push == Vec2::ZERO {
                    continue;
                }
                for (entity, step) in [(&mut mine.entity, -push), (&mut theirs.entity, push)] {
                    let slide = slide_move(
                        &self.map,
                        self.walls.as_ref(),
                        entity.radius,
                        entity.pos,
                        step,
                        entity.vel,
                    );
                    entity.pos = slide.pos;
                    entity.vel = slide.vel;
                }
                let (mine_pos, theirs_pos) = (mine.entity.pos, theirs.entity.pos);
                self.grid.relocate(body, mine_pos);
                self.grid.relocate(other_body, theirs_pos);
            }
        }
    }

    /// Moves every projectile along its path, stopping it at the first wall or body it touches.
    fn fly_projectiles(&mut self, events: &mut Vec<Event>) {
        let projectile_radius = self.rules.projectile_radius;
        let body_reach = self.rules.player_radius.max(self.rules.npc_radius) + projectile_radius;
        for position in self.projectiles_from.min(self.index.len())..self.index.len() {
            let key = self.index[position].1;
            let Some(Slot {
                entity,
                brain: Brain::Projectile { ticks_left },
            }) = self.slots.get(key)
            else {
                continue;
            };
            let EntityKind::Projectile { owner } = entity.kind else {
                continue;
            };
            let start = entity.pos;
            let delta = snap(entity.vel * self.dt);
            let ticks_left = ticks_left.saturating_sub(1);
            let end = start + delta;

            let wall_fraction = self.segment_hits_walls(start, delta, projectile_radius);
            let mut best: Option<(f32, NetId, EntityKey)> = None;
            let slots = &self.slots;
            let (low, high) = (
                start.min(end) - Vec2::splat(body_reach),
                start.max(end) + Vec2::splat(body_reach),
            );
            // Bodies centered well outside the swept rectangle cannot be hit; the slack keeps
            // rounding at its border from ever mattering.
            let (near_low, near_high) = (low - Vec2::splat(0.01), high + Vec2::splat(0.01));
            self.grid
                .for_each_in_rect(low, high, |target_key, target_pos| {
                    if target_pos.cmplt(near_low).any() || target_pos.cmpgt(near_high).any() {
                        return;
                    }
                    let Some(Slot { entity: target, .. }) = slots.get(target_key) else {
                        return;
                    };
                    let hittable = match target.kind {
                        EntityKind::Player(id) => id != owner,
                        EntityKind::Npc => true,
                        EntityKind::Projectile { .. } => false,
                    };
                    if !hittable || !target.alive {
                        return;
                    }
                    let Some(fraction) = segment_hits_circle(
                        start,
                        delta,
                        target.pos,
                        target.radius + projectile_radius,
                    ) else {
                        return;
                    };
                    // The nearest hit, the lower NetId on a tie: independent of visiting order.
                    let better = match best {
                        None => true,
                        Some((best_fraction, best_id, _)) => {
                            fraction < best_fraction
                                || (fraction == best_fraction && target.net_id < best_id)
                        }
                    };
                    if better {
                        best = Some((fraction, target.net_id, target_key));
                    }
                });

            match (best, wall_fraction) {
                (Some((fraction, _, target_key)), wall)
                    if wall.is_none_or(|wall_fraction| fraction < wall_fraction) =>
                {
                    self.remove_entity(key);
                    self.damage(target_key, owner, self.rules.projectile_damage, events);
                }
                (_, Some(_)) => self.remove_entity(key),
                _ if ticks_left == 0 || !self.map.contains(end) => self.remove_entity(key),
                _ => {
                    if let Some(slot) = self.slots.get_mut(key) {
                        slot.entity.pos = end;
                        slot.brain = Brain::Projectile { ticks_left };
                    }
                    self.grid.relocate(key, end);
                }
            }
        }
    }

    /// Applies one shot's `amount` of damage from `owner` to the entity `target`.
    fn damage(&mut self, target: EntityKey, owner: PlayerId, amount: u8, events: &mut Vec<Event>) {
        let Some(slot) = self.slots.get_mut(target) else {
            return;
        };
        let entity = &mut slot.entity;
        let damage = amount.min(entity.health);
        entity.health -= damage;
        events.push(Event::Hit {
            target: entity.net_id,
            by: Some(owner),
            damage,
        });
        if entity.health > 0 {
            return;
        }
        entity.alive = false;
        entity.vel = Vec2::ZERO;
        events.push(Event::Killed {
            victim: entity.net_id,
            killer: Some(owner),
        });
        let victim_position = match (&entity.kind, &mut slot.brain) {
            (EntityKind::Player(_), Brain::Player { player }) => Some(*player as usize),
            (EntityKind::Npc, Brain::Npc { respawn_ticks, .. }) => {
                *respawn_ticks = self.durations.respawn;
                None
            }
            _ => None,
        };
        let mut victim_player = None;
        if let Some(position) = victim_position {
            let player = &mut self.players[position];
            player.deaths += 1;
            player.respawn_ticks = self.durations.respawn;
            victim_player = Some(player.id);
        }
        if victim_player != Some(owner)
            && let Some(killer) = self.player_position(owner)
        {
            self.players[killer].kills += 1;
        }
    }

    /// Resolves a hitscan shot for every living player holding the hitscan button with that
    /// weapon ready (see [`World::step`] for the rules).
    fn fire_hitscans(&mut self, events: &mut Vec<Event>) {
        for position in 0..self.players.len() {
            self.fire_hitscan(position, events);
        }
    }

    fn fire_hitscan(&mut self, position: usize, events: &mut Vec<Event>) {
        let Some((id, input, shooter)) = self.pull_trigger(position, Weapon::Hitscan) else {
            return;
        };
        // The history holds `max_rewind + 1` records, so its size bounds the rewind too; the
        // `min` states the rule rather than relying on that.
        let rewind = if self.rules.lag_compensation {
            u32::from(input.view_age).min(self.durations.max_rewind)
        } else {
            0
        };
        let direction = Vec2::from_angle(input.aim);
        let shooter_id = shooter.net_id;
        let center = shooter.pos;
        let muzzle_distance = shooter.radius + MUZZLE_GAP;
        let reach = muzzle_distance + self.rules.hitscan_range;

        // The first obstacle, as a distance from the shooter's center (which is never inside a
        // wall, so a wall between the center and the muzzle is found too).
        let full_ray = direction * reach;
        let obstacle_fraction = [
            self.segment_hits_walls(center, full_ray, 0.0),
            segment_leaves_map(&self.map, center, full_ray),
        ]
        .into_iter()
        .flatten()
        .reduce(f32::min);
        let stop_distance = obstacle_fraction.map_or(reach, |fraction| fraction * reach);
        if stop_distance <= muzzle_distance {
            // Pressed against a wall: the shot goes nowhere.
            let point = center + direction * stop_distance;
            events.push(Event::HitscanFired {
                shooter: shooter_id,
                from: point,
                to: point,
                hit: None,
            });
            return;
        }
        let from = center + direction * muzzle_distance;
        let ray = direction * (stop_distance - muzzle_distance);

        let mut best: Option<(f32, NetId, EntityKey)> = None;
        if let Some(record) = self.history.record(rewind) {
            let reach_radius = self.rules.player_radius.max(self.rules.npc_radius);
            let (low, high) = (
                from.min(from + ray) - Vec2::splat(reach_radius),
                from.max(from + ray) + Vec2::splat(reach_radius),
            );
            for hitbox in record {
                if !hitbox.alive
                    || hitbox.net_id == shooter_id
                    || hitbox.pos.cmplt(low).any()
                    || hitbox.pos.cmpgt(high).any()
                {
                    continue;
                }
                let Some(fraction) = segment_hits_circle(from, ray, hitbox.pos, hitbox.radius)
                else {
                    continue;
                };
                // The record is in NetId order, so on a tie the first (lower) id stays.
                if best.is_some_and(|(best_fraction, _, _)| best_fraction <= fraction) {
                    continue;
                }
                let Some(target_key) = self.live_target(hitbox.net_id) else {
                    continue;
                };
                // Alive then and alive now is not enough: it must be the same life.
                if !self.history.alive_since(hitbox.net_id, rewind) {
                    continue;
                }
                best = Some((fraction, hitbox.net_id, target_key));
            }
        }
        match best {
            Some((fraction, target_id, target_key)) => {
                events.push(Event::HitscanFired {
                    shooter: shooter_id,
                    from,
                    to: from + ray * fraction,
                    hit: Some(target_id),
                });
                self.damage(target_key, id, self.rules.hitscan_damage, events);
            }
            None => events.push(Event::HitscanFired {
                shooter: shooter_id,
                from,
                to: from + ray,
                hit: None,
            }),
        }
    }

    /// If the player at `position` holds `weapon`'s button with that weapon ready and a living
    /// body, starts the weapon's cooldown and returns the player's id, input and body.
    fn pull_trigger(
        &mut self,
        position: usize,
        weapon: Weapon,
    ) -> Option<(PlayerId, PlayerInput, Entity)> {
        let player = &mut self.players[position];
        let (button, cooldown, reload) = match weapon {
            Weapon::Projectile => (
                BUTTON_FIRE,
                &mut player.fire_cooldown_ticks,
                self.durations.fire_cooldown,
            ),
            Weapon::Hitscan => (
                BUTTON_HITSCAN,
                &mut player.hitscan_cooldown_ticks,
                self.durations.hitscan_cooldown,
            ),
        };
        if !player.input.pressed(button) || *cooldown > 0 {
            return None;
        }
        let shooter = &self.slots.get(player.body)?.entity;
        if !shooter.alive {
            return None;
        }
        *cooldown = reload;
        Some((player.id, player.input, shooter.clone()))
    }

    /// Spawns a projectile for every living player holding fire with the weapon ready.
    fn fire_weapons(&mut self, events: &mut Vec<Event>) {
        for position in 0..self.players.len() {
            self.fire_weapon(position, events);
        }
    }

    fn fire_weapon(&mut self, position: usize, events: &mut Vec<Event>) {
        let Some((id, input, shooter)) = self.pull_trigger(position, Weapon::Projectile) else {
            return;
        };
        let aim = input.aim;
        let direction = Vec2::from_angle(aim);
        let muzzle = shooter.radius + self.rules.projectile_radius + MUZZLE_GAP;
        let shooter_pos = shooter.pos;
        let spawn = snap(shooter_pos + direction * muzzle);
        // A shot from a player pressed against a wall would start on the far side of a thin
        // wall: it is blocked instead (the cooldown still applies).
        let to_spawn = spawn - shooter_pos;
        let blocked = !self.map.contains(spawn)
            || self
                .segment_hits_walls(shooter_pos, to_spawn, self.rules.projectile_radius)
                .is_some();
        if blocked {
            return;
        }
        let net_id = self.allocate_net_id();
        let projectile = Entity {
            net_id,
            kind: EntityKind::Projectile { owner: id },
            pos: spawn,
            vel: direction * self.rules.projectile_speed,
            aim,
            health: 0,
            alive: true,
            radius: self.rules.projectile_radius,
        };
        self.insert_entity(
            projectile,
            Brain::Projectile {
                ticks_left: self.durations.projectile_lifetime,
            },
        );
        events.push(Event::Fired {
            player: id,
            projectile: net_id,
        });
    }

    /// Appends the end-of-step hitboxes of every player and NPC, in NetId order, to the
    /// history (overwriting its oldest record once it is full).
    fn record_history(&mut self) {
        let record = self.history.start_record();
        record.reserve(self.slots.len());
        for slot in self
            .index
            .iter()
            .filter_map(|&(_, key)| self.slots.get(key))
        {
            let entity = &slot.entity;
            if matches!(entity.kind, EntityKind::Projectile { .. }) {
                continue;
            }
            record.push(Hitbox {
                net_id: entity.net_id,
                pos: entity.pos,
                radius: entity.radius,
                alive: entity.alive,
            });
        }
    }

    // ---- helpers ----

    /// Every live entity's key and slot, in NetId order.
    fn live_slots(&self) -> impl Iterator<Item = (EntityKey, &Slot)> {
        self.index
            .iter()
            .filter_map(|&(_, key)| Some((key, self.slots.get(key)?)))
    }

    /// The position of this id's entry in the index (live or stale), or where it would go.
    fn find(&self, net_id: NetId) -> Result<usize, usize> {
        // New ids are larger than every other: answer those without a search.
        match self.index.last() {
            None => Err(0),
            Some(&(last, _)) if last < net_id => Err(self.index.len()),
            Some(_) => self.index.binary_search_by_key(&net_id, |&(id, _)| id),
        }
    }

    fn player_position(&self, id: PlayerId) -> Option<usize> {
        self.players
            .binary_search_by_key(&id, |player| player.id)
            .ok()
    }

    /// The key of the player body or NPC with this id, if it exists and is alive.
    fn live_target(&self, net_id: NetId) -> Option<EntityKey> {
        let key = self.index[self.find(net_id).ok()?].1;
        let entity = &self.slots.get(key)?.entity;
        let hittable = !matches!(entity.kind, EntityKind::Projectile { .. });
        (hittable && entity.alive).then_some(key)
    }

    /// [`segment_hits_walls`], through the wall index when the map has one.
    fn segment_hits_walls(&self, start: Vec2, delta: Vec2, radius: f32) -> Option<f32> {
        match &self.walls {
            Some(walls) => walls.segment_hits_walls(&self.map, start, delta, radius),
            None => segment_hits_walls(&self.map, start, delta, radius),
        }
    }

    /// Removes the entity from the slotmap and the grid; its index entry goes stale.
    fn remove_entity(&mut self, key: EntityKey) {
        if self.slots.remove(key).is_some() {
            self.stale += 1;
            self.grid.remove(key);
        }
    }

    /// Drops the stale entries of the index.
    fn compact(&mut self) {
        let slots = &self.slots;
        self.index.retain(|&(_, key)| slots.contains_key(key));
        self.stale = 0;
        self.projectiles_from = self
            .index
            .iter()
            .position(|&(_, key)| {
                matches!(
                    slots.get(key),
                    Some(Slot {
                        brain: Brain::Projectile { .. },
                        ..
                    })
                )
            })
            .unwrap_or(usize::MAX);
    }

    /// Recomputes both links between players and their bodies from scratch, for the rare
    /// changes that shift the player table (a player slotted in after an id wraps around).
    fn relink_players(&mut self) {
        for (key, slot) in &mut self.slots {
            if let EntityKind::Player(id) = slot.entity.kind
                && let Ok(position) = self.players.binary_search_by_key(&id, |player| player.id)
            {
                self.players[position].body = key;
                slot.brain = Brain::Player {
                    player: position as u32,
                };
            }
        }
    }

    fn allocate_net_id(&mut self) -> NetId {
        loop {
            let candidate = NetId(self.next_net_id);
            self.next_net_id = self.next_net_id.wrapping_add(1).max(1);
            // Only after 2^32 - 1 allocations can a candidate still be in use.
            let in_use = self
                .find(candidate)
                .is_ok_and(|position| self.slots.contains_key(self.index[position].1));
            if !in_use {
                return candidate;
            }
        }
    }

    /// Adds an entity whose id is not in use; returns its key.
    fn insert_entity(&mut self, entity: Entity, brain: Brain) -> EntityKey {
        let net_id = entity.net_id;
        let pos = entity.pos;
        let is_projectile = matches!(brain, Brain::Projectile { .. });
        let key = self.slots.insert(Slot { entity, brain });
        let position = match self.find(net_id) {
            // The stale entry of a recycled id (after wrapping): take its place.
            Ok(position) => {
                self.index[position].1 = key;
                self.stale -= 1;
                position
            }
            // Normally at the end; a recycled id below live ones shifts later entries up one
            // place (which keeps `projectiles_from` a lower bound).
            Err(position) => {
                self.index.insert(position, (net_id, key));
                position
            }
        };
        self.grid.insert(key, pos);
        if is_projectile {
            self.projectiles_from = self.projectiles_from.min(position);
        }
        key
    }

    /// A spawn point at random, preferring one with no living body on it.
    fn pick_spawn(&mut self) -> Vec2 {
        let count = self.map.spawns.len() as u32;
        let start = self.rng.below(count);
        let clearance = 2.0 * self.rules.player_radius.max(self.rules.npc_radius);
        for offset in 0..count {
            let spawn = self.map.spawns[((start + offset) % count) as usize];
            if !self.body_near(spawn, clearance) {
                return spawn;
            }
        }
        self.map.spawns[start as usize]
    }

    /// A random point where a circle of `radius` touches no wall and no living body; a spawn
    /// point if none is found after a few tries.
    fn pick_free_point(&mut self, radius: f32) -> Vec2 {
        let clearance = 2.0 * self.rules.player_radius.max(self.rules.npc_radius);
        for _ in 0..FREE_POINT_ATTEMPTS {
            let x = self.rng.range_f32(radius, self.map.width - radius);
            let y = self.rng.range_f32(radius, self.map.height - radius);
            let point = snap(Vec2::new(x, y));
            if !self.map.circle_blocked(point, radius) && !self.body_near(point, clearance) {
                return point;
            }
        }
        self.pick_spawn()
    }

    fn body_near(&self, point: Vec2, distance: f32) -> bool {
        let mut found = false;
        self.for_each_within(point, distance, |entity| {
            found |= entity.alive && !matches!(entity.kind, EntityKind::Projectile { .. });
        });
        found
    }

    fn pick_npc_heading(&mut self, away_from: Option<Vec2>) -> (Vec2, u32) {
        pick_heading(&mut self.rng, &self.durations, away_from)
    }
}

/// A random unit direction (pointing away from a surface with outward normal `away_from`, if
/// given) and how many ticks to keep it.
fn pick_heading(
    rng: &mut Pcg32,
    durations: &TickDurations,
    away_from: Option<Vec2>,
) -> (Vec2, u32) {
    let angle = rng.range_f32(0.0, std::f32::consts::TAU);
    let mut direction = Vec2::from_angle(angle);
    if let Some(normal) = away_from {
        let into = direction.dot(normal);
        if into < 0.0 {
            direction -= normal * (2.0 * into);
        }
        direction = direction.normalize_or(normal);
    }
    let spread = durations.npc_turn_max - durations.npc_turn_min;
    let turn_ticks = durations.npc_turn_min + rng.below(spread.saturating_add(1));
    (direction, turn_ticks.max(1))
}

/// Where along `start..start + delta` (as a fraction in `[0, 1]`) a segment starting inside the
/// map leaves it, if it does.
fn segment_leaves_map(map: &Map, start: Vec2, delta: Vec2) -> Option<f32> {
    let size = Vec2::new(map.width, map.height);
    let mut exit = 1.0f32;
    for axis in 0..2 {
        let limit = if delta[axis] > 0.0 {
            size[axis]
        } else if delta[axis] < 0.0 {
            0.0
        } else {
            continue;
        };
        exit = exit.min(((limit - start[axis]) / delta[axis]).max(0.0));
    }
    (exit < 1.0).then_some(exit)
}

/// The angle of a direction, in `[0, TAU)`.
fn angle_of(direction: Vec2) -> f32 {
    wrap_angle(direction.y.atan2(direction.x))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_map() -> Map {
        Map::from_toml_str(
            "small",
            "width = 10.0\nheight = 10.0\nspawns = [[5.0, 5.0]]",
        )
        .unwrap()
    }

    #[test]
    fn tick_rate_is_clamped() {
        let slow = World::new(small_map(), Rules::default(), 0, 1);
        assert_eq!((slow.tick_rate(), slow.dt()), (1, 1.0));
        let fast = World::new(small_map(), Rules::default(), 1_000_000, 1);
        assert_eq!(fast.tick_rate(), 1000);
    }

    #[test]
    fn hash_covers_time_and_scores() {
        let mut world = World::new(small_map(), Rules::default(), 30, 1);
        let empty = world.state_hash();
        let player = world.add_player("p");
        let joined = world.state_hash();
        assert_ne!(empty, joined);
        world.step(&[], &mut Vec::new());
        let stepped = world.state_hash();
        assert_ne!(joined, stepped);
        if let Some(record) = world.players.iter_mut().find(|record| record.id == player) {
            record.kills += 1;
        }
        assert_ne!(stepped, world.state_hash());
    }

    #[test]
    fn durations_round_up_to_whole_ticks() {
        let world = World::new(small_map(), Rules::default(), 30, 1);
        assert_eq!(world.durations.fire_cooldown, 8);
        assert_eq!(world.durations.respawn, 60);
        assert_eq!(world.durations.projectile_lifetime, 45);
        assert_eq!(
            (world.durations.npc_turn_min, world.durations.npc_turn_max),
            (30, 90)
        );
    }

    #[test]
    fn a_slot_fits_a_cache_line() {
        assert!(std::mem::size_of::<Slot>() <= 64);
    }

    #[test]
    fn names_are_truncated() {
        let mut world = World::new(small_map(), Rules::default(), 30, 1);
        let id = world.add_player(&"é".repeat(100));
        assert_eq!(
            world.player(id).unwrap().name.chars().count(),
            MAX_NAME_CHARS
        );
    }
}
