//! Scenario tests of the world through its public API: determinism, combat, collisions and the
//! exact constant-velocity stepping the wire relies on.

use std::collections::BTreeSet;
use std::f32::consts::TAU;

use tickwire_arena::{
    BUTTON_FIRE, BUTTON_HITSCAN, Entity, EntityKind, Event, Map, PlayerInput, Rules, World,
};
use tickwire_sim::{NetId, PlayerId, Vec2, snap};

/// A tiny xorshift generator for test inputs, independent of the world's own RNG.
struct TestRng(u64);

impl TestRng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn map(text: &str) -> Map {
    Map::from_toml_str("test", text).expect("test map is valid")
}

/// A 40 x 10 m corridor with a 5 cm thick wall across it at x = 20.
fn thin_wall_map() -> Map {
    map("width = 40.0\nheight = 10.0\nspawns = [[5.0, 5.0]]\n\
         [[walls]]\nmin = [20.0, 0.0]\nmax = [20.05, 10.0]")
}

fn step(world: &mut World, inputs: &[(PlayerId, PlayerInput)]) -> Vec<Event> {
    let mut events = Vec::new();
    world.step(inputs, &mut events);
    events
}

fn body(world: &World, player: PlayerId) -> Entity {
    let net_id = world.player(player).expect("player exists").entity;
    world.entity(net_id).expect("player has a body").clone()
}

fn projectiles(world: &World) -> Vec<Entity> {
    world
        .entities()
        .filter(|entity| matches!(entity.kind, EntityKind::Projectile { .. }))
        .cloned()
        .collect()
}

/// Runs the determinism scenario and returns the state hash after every tick plus all events.
fn run_scenario(seed: u64, ticks: u32) -> (Vec<u64>, Vec<Event>) {
    let mut world = World::new(Map::builtin("arena").unwrap(), Rules::default(), 30, seed);
    let mut players: Vec<PlayerId> = (0..8).map(|n| world.add_player(&format!("p{n}"))).collect();
    for _ in 0..20 {
        world.add_npc();
    }
    let mut input_rng = TestRng(0x9e37_79b9_7f4a_7c15);
    let mut hashes = vec![world.state_hash()];
    let mut all_events = Vec::new();
    let mut inputs = Vec::new();
    for tick in 0..ticks {
        if tick == 1000 {
            assert!(world.remove_player(players.remove(3)));
        }
        if tick == 1500 {
            players.push(world.add_player("late"));
        }
        inputs.clear();
        for &player in &players {
            // Change input on about a tenth of the ticks; otherwise the last one repeats.
            if input_rng.unit() < 0.1 {
                let angle = input_rng.unit() * TAU;
                let mut buttons = 0;
                if input_rng.unit() < 0.5 {
                    buttons |= BUTTON_FIRE;
                }
                if input_rng.unit() < 0.3 {
                    buttons |= BUTTON_HITSCAN;
                }
                let input = PlayerInput {
                    move_dir: Vec2::from_angle(angle) * input_rng.unit(),
                    aim: input_rng.unit() * TAU,
                    buttons,
                    // Beyond the default maximum rewind (8 ticks at 30 Hz) now and then.
                    view_age: (input_rng.next() % 12) as u8,
                };
                inputs.push((player, input));
            }
        }
        world.step(&inputs, &mut all_events);
        hashes.push(world.state_hash());
    }
    (hashes, all_events)
}

#[test]
fn same_seed_and_inputs_give_the_same_world() {
    let (first_hashes, first_events) = run_scenario(7, 3000);
    let (second_hashes, second_events) = run_scenario(7, 3000);
    for (tick, (first, second)) in first_hashes.iter().zip(&second_hashes).enumerate() {
        assert_eq!(first, second, "worlds diverged at tick {tick}");
    }
    assert_eq!(first_events, second_events);

    // The scenario exercises combat, not just walking.
    let count = |wanted: fn(&Event) -> bool| first_events.iter().filter(|e| wanted(e)).count();
    assert!(count(|e| matches!(e, Event::Fired { .. })) > 100);
    assert!(count(|e| matches!(e, Event::Hit { .. })) > 10);
    assert!(count(|e| matches!(e, Event::Killed { .. })) > 0);
    assert!(count(|e| matches!(e, Event::HitscanFired { .. })) > 100);
    assert!(count(|e| matches!(e, Event::HitscanFired { hit: Some(_), .. })) > 0);

    let (other_hashes, _) = run_scenario(8, 3000);
    assert_ne!(first_hashes.last(), other_hashes.last());
}

#[test]
fn shooting_a_player_kills_it_and_it_respawns() {
    let rules = Rules::default();
    let mut world = World::new(
        map("width = 30.0\nheight = 10.0\nspawns = [[5.0, 5.0], [15.0, 5.0]]"),
        rules.clone(),
        30,
        1,
    );
    let shooter = world.add_player("shooter");
    let target = world.add_player("target");
    let target_id = world.player(target).unwrap().entity;
    let aim = wrap((body(&world, target).pos - body(&world, shooter).pos).to_angle());
    let firing = PlayerInput {
        move_dir: Vec2::ZERO,
        aim,
        buttons: BUTTON_FIRE,
        view_age: 0,
    };

    let mut hits = 0;
    let mut killed_at = None;
    for tick in 0..300 {
        let events = step(&mut world, &[(shooter, firing)]);
        for event in &events {
            match *event {
                Event::Hit {
                    target: hit,
                    by,
                    damage,
                } => {
                    assert_eq!((hit, by, damage), (target_id, Some(shooter), 25));
                    hits += 1;
                }
                Event::Killed { victim, killer } => {
                    assert_eq!((victim, killer), (target_id, Some(shooter)));
                    killed_at = Some(tick);
                }
                _ => {}
            }
        }
        if killed_at.is_some() {
            break;
        }
    }
    let killed_at = killed_at.expect("four hits kill");
    assert_eq!(hits, 4);
    assert_eq!(world.player(shooter).unwrap().kills, 1);
    assert_eq!(world.player(target).unwrap().deaths, 1);
    assert_eq!(world.player(shooter).unwrap().deaths, 0);
    let dead = body(&world, target);
    assert!(!dead.alive);
    assert_eq!(dead.health, 0);

    // Keep firing: projectiles pass through the dead body; respawn comes after the delay.
    let respawn_ticks = (rules.respawn_delay_s * 30.0).ceil() as u32;
    for tick in killed_at + 1..=killed_at + respawn_ticks {
        let events = step(&mut world, &[(shooter, firing)]);
        let respawned = events.contains(&Event::Respawned { player: target });
        assert_eq!(respawned, tick == killed_at + respawn_ticks, "tick {tick}");
        if !respawned {
            assert!(
                !events.iter().any(|e| matches!(e, Event::Hit { .. })),
                "a dead body was hit"
            );
        }
    }
    let alive = body(&world, target);
    assert!(alive.alive);
    assert_eq!(alive.health, rules.player_max_health);
    assert!(world.map().spawns.contains(&alive.pos));
}

#[test]
fn dead_players_cannot_fire_or_move() {
    let mut world = World::new(
        map("width = 30.0\nheight = 10.0\nspawns = [[5.0, 5.0], [15.0, 5.0]]"),
        Rules {
            projectile_damage: 255,
            ..Rules::default()
        },
        30,
        3,
    );
    let shooter = world.add_player("shooter");
    let target = world.add_player("target");
    let aim = wrap((body(&world, target).pos - body(&world, shooter).pos).to_angle());
    let fire = PlayerInput {
        aim,
        buttons: BUTTON_FIRE,
        ..Default::default()
    };
    let hold_fire = PlayerInput {
        aim: 0.0,
        buttons: BUTTON_FIRE,
        ..Default::default()
    };
    let flee = PlayerInput {
        move_dir: Vec2::Y,
        aim: 0.0,
        buttons: BUTTON_FIRE,
        view_age: 0,
    };
    let mut died = false;
    for _ in 0..40 {
        let events = step(&mut world, &[(shooter, fire), (target, hold_fire)]);
        if events.iter().any(|e| matches!(e, Event::Killed { .. })) {
            died = true;
            break;
        }
    }
    assert!(died);
    let corpse = body(&world, target);
    for _ in 0..20 {
        let events = step(
            &mut world,
            &[(shooter, PlayerInput::default()), (target, flee)],
        );
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, Event::Fired { player, .. } if *player == target)),
            "a dead player fired"
        );
    }
    let still = body(&world, target);
    assert_eq!(still.pos, corpse.pos);
    assert_eq!(still.vel, Vec2::ZERO);
    assert!(!still.alive);
}

#[test]
fn players_never_cross_a_thin_wall() {
    for tick_rate in [1, 10, 30, 60] {
        for direction in [Vec2::X, Vec2::new(1.0, 0.3).normalize()] {
            let mut world = World::new(thin_wall_map(), Rules::default(), tick_rate, 5);
            let player = world.add_player("runner");
            let radius = world.rules().player_radius;
            let run = PlayerInput {
                move_dir: direction,
                ..Default::default()
            };
            for _ in 0..(tick_rate * 8) {
                step(&mut world, &[(player, run)]);
                let pos = body(&world, player).pos;
                assert!(
                    pos.x + radius <= 20.0 + 0.001,
                    "{tick_rate} Hz: crossed the wall at {pos}"
                );
            }
            let pos = body(&world, player).pos;
            assert!(pos.x > 19.0, "{tick_rate} Hz: never reached the wall");

            // Pressed against the wall, shots toward it are blocked, never spawned beyond it.
            let shoot = PlayerInput {
                move_dir: direction,
                aim: 0.0,
                buttons: BUTTON_FIRE,
                view_age: 0,
            };
            for _ in 0..tick_rate {
                step(&mut world, &[(player, shoot)]);
                for projectile in projectiles(&world) {
                    assert!(projectile.pos.x < 20.0, "a shot passed: {projectile:?}");
                }
            }
        }
    }
}

#[test]
fn projectiles_stop_at_walls() {
    for tick_rate in [1, 10, 30, 60] {
        let mut world = World::new(thin_wall_map(), Rules::default(), tick_rate, 5);
        let player = world.add_player("shooter");
        let events = step(
            &mut world,
            &[(
                player,
                PlayerInput {
                    aim: 0.0,
                    buttons: BUTTON_FIRE,
                    ..Default::default()
                },
            )],
        );
        let Some(&Event::Fired { projectile, .. }) = events.first() else {
            panic!("{tick_rate} Hz: expected a shot, got {events:?}");
        };
        let stop = PlayerInput::default();
        let mut removed = false;
        for _ in 0..(tick_rate * 2) {
            step(&mut world, &[(player, stop)]);
            match world.entity(projectile) {
                Some(entity) => assert!(
                    entity.pos.x < 20.0,
                    "{tick_rate} Hz: projectile passed: {entity:?}"
                ),
                None => {
                    removed = true;
                    break;
                }
            }
        }
        assert!(removed, "{tick_rate} Hz: projectile still flying");
    }
}

#[test]
fn constant_velocity_advances_by_an_exact_step() {
    let mut world = World::new(Map::builtin("open").unwrap(), Rules::default(), 30, 11);
    let player = world.add_player("walker");
    for _ in 0..20 {
        world.add_npc();
    }
    let walk = PlayerInput {
        move_dir: Vec2::new(0.6, 0.8),
        aim: 1.0,
        buttons: 0,
        view_age: 0,
    };
    // Accelerate first.
    for _ in 0..10 {
        step(&mut world, &[(player, walk)]);
    }
    let start = body(&world, player);
    let expected_step = snap(start.vel * world.dt());
    assert_ne!(expected_step, Vec2::ZERO);
    let mut previous: Vec<Entity> = world.entities().cloned().collect();
    let mut checked_npc_steps = 0;
    for n in 1..=60u32 {
        step(&mut world, &[(player, walk)]);
        let now = body(&world, player);
        assert_eq!(now.vel, start.vel);
        // What the wire predicts: base + n * snap(vel * dt), bit for bit.
        assert_eq!(now.pos, start.pos + expected_step * n as f32);
        for before in &previous {
            let Some(after) = world.entity(before.net_id) else {
                continue;
            };
            if before.kind == EntityKind::Npc && after.vel == before.vel {
                assert_eq!(after.pos - before.pos, snap(before.vel * world.dt()));
                checked_npc_steps += 1;
            }
        }
        previous = world.entities().cloned().collect();
    }
    assert!(checked_npc_steps > 500);
}

#[test]
fn projectiles_fly_at_an_exact_step() {
    let mut world = World::new(Map::builtin("open").unwrap(), Rules::default(), 30, 2);
    let player = world.add_player("shooter");
    let events = step(
        &mut world,
        &[(
            player,
            PlayerInput {
                aim: 0.7,
                buttons: BUTTON_FIRE,
                ..Default::default()
            },
        )],
    );
    let Some(&Event::Fired { projectile, .. }) = events.first() else {
        panic!("expected a shot");
    };
    let base = world.entity(projectile).unwrap().clone();
    let expected_step = snap(base.vel * world.dt());
    for n in 1..30u32 {
        step(&mut world, &[(player, PlayerInput::default())]);
        let now = world.entity(projectile).expect("still flying");
        assert_eq!(now.pos, base.pos + expected_step * n as f32);
    }
}

#[test]
fn overlapping_players_are_pushed_apart() {
    let mut world = World::new(
        map("width = 20.0\nheight = 20.0\nspawns = [[10.0, 10.0]]"),
        Rules::default(),
        30,
        4,
    );
    let first = world.add_player("a");
    let second = world.add_player("b");
    assert_eq!(body(&world, first).pos, body(&world, second).pos);
    for _ in 0..10 {
        step(&mut world, &[]);
    }
    let distance = body(&world, first).pos.distance(body(&world, second).pos);
    assert!(
        distance >= 2.0 * world.rules().player_radius - 0.01,
        "{distance}"
    );
}

#[test]
fn for_each_within_matches_brute_force() {
    let mut world = World::new(Map::builtin("arena").unwrap(), Rules::default(), 30, 9);
    for n in 0..10 {
        world.add_player(&format!("p{n}"));
    }
    for _ in 0..200 {
        world.add_npc();
    }
    for _ in 0..30 {
        step(&mut world, &[]);
    }
    let mut rng = TestRng(42);
    for _ in 0..100 {
        let center = Vec2::new(rng.unit() * 70.0 - 5.0, rng.unit() * 50.0 - 5.0);
        let radius = rng.unit() * 20.0;
        let mut found = BTreeSet::new();
        world.for_each_within(center, radius, |entity| {
            assert!(found.insert(entity.net_id), "visited twice");
        });
        let expected: BTreeSet<NetId> = world
            .entities()
            .filter(|entity| entity.pos.distance_squared(center) <= radius * radius)
            .map(|entity| entity.net_id)
            .collect();
        assert_eq!(found, expected);
    }
    let mut count = 0;
    world.for_each_within(Vec2::ZERO, f32::NAN, |_| count += 1);
    world.for_each_within(Vec2::NAN, 10.0, |_| count += 1);
    assert_eq!(count, 0);
    world.for_each_within(Vec2::ZERO, f32::INFINITY, |_| count += 1);
    assert_eq!(count, world.entity_count());
}

#[test]
fn ids_are_never_reused_and_projectiles_outlive_their_owner() {
    let mut world = World::new(Map::builtin("open").unwrap(), Rules::default(), 30, 6);
    let first = world.add_player("first");
    assert_eq!(first, PlayerId(1));
    let first_body = world.player(first).unwrap().entity;
    assert_eq!(first_body, NetId(1));
    let events = step(
        &mut world,
        &[(
            first,
            PlayerInput {
                buttons: BUTTON_FIRE,
                ..Default::default()
            },
        )],
    );
    let Some(&Event::Fired { projectile, .. }) = events.first() else {
        panic!("expected a shot");
    };
    assert!(world.remove_player(first));
    assert!(!world.remove_player(first));
    assert!(world.entity(first_body).is_none());
    assert_eq!(
        world.entity(projectile).unwrap().kind,
        EntityKind::Projectile { owner: first }
    );
    step(&mut world, &[(first, PlayerInput::default())]);
    assert!(world.entity(projectile).is_some(), "still flying");

    let second = world.add_player("second");
    assert_eq!(second, PlayerId(2));
    assert!(world.player(second).unwrap().entity > projectile);
    let npc = world.add_npc();
    assert!(npc > world.player(second).unwrap().entity);
    assert_eq!(world.player_count(), 1);
    assert_eq!(
        world.players().map(|p| p.id).collect::<Vec<_>>(),
        vec![second]
    );
    let ids: Vec<NetId> = world.entities().map(|e| e.net_id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "entities() is in NetId order");
    assert_eq!(ids.len(), world.entity_count());
}

#[test]
fn npcs_wander_die_and_respawn() {
    let mut world = World::new(
        map("width = 30.0\nheight = 10.0\nspawns = [[5.0, 5.0]]"),
        Rules {
            npc_speed: 0.0,
            ..Rules::default()
        },
        30,
        12,
    );
    let shooter = world.add_player("hunter");
    let npc = world.add_npc();
    let mut killed = false;
    let mut respawned = false;
    for _ in 0..600 {
        let npc_pos = world.entity(npc).unwrap().pos;
        let aim = wrap((npc_pos - body(&world, shooter).pos).to_angle());
        let input = PlayerInput {
            aim,
            buttons: BUTTON_FIRE,
            ..Default::default()
        };
        for event in step(&mut world, &[(shooter, input)]) {
            match event {
                Event::Killed { victim, killer } => {
                    assert_eq!((victim, killer), (npc, Some(shooter)));
                    killed = true;
                }
                Event::NpcRespawned { npc: which } => {
                    assert_eq!(which, npc);
                    assert!(killed);
                    respawned = true;
                }
                _ => {}
            }
        }
        if respawned {
            break;
        }
    }
    assert!(respawned);
    assert_eq!(world.player(shooter).unwrap().kills, 1);
    let npc_entity = world.entity(npc).unwrap();
    assert!(npc_entity.alive);
    assert_eq!(npc_entity.health, world.rules().npc_health);
}

#[test]
fn missing_inputs_repeat_and_unknown_players_are_ignored() {
    let mut world = World::new(Map::builtin("open").unwrap(), Rules::default(), 30, 13);
    let player = world.add_player("p");
    let walk = PlayerInput {
        move_dir: Vec2::X,
        aim: 1.0,
        buttons: 0,
        view_age: 0,
    };
    step(&mut world, &[(player, walk), (PlayerId(99), walk)]);
    let after_one = body(&world, player).pos;
    step(&mut world, &[]);
    assert!(body(&world, player).pos.x > after_one.x);
    assert_eq!(world.player(player).unwrap().input, walk);
    assert_eq!(world.tick(), 2);
}

fn wrap(angle: f32) -> f32 {
    angle.rem_euclid(TAU) % TAU
}
