//! Scenario tests of the hitscan weapon: range, walls, cooldown, kills, and lag compensation
//! (targets rewound by the shooter's `view_age`, bounded by the maximum rewind).

use std::f32::consts::TAU;

use tickwire_arena::{BUTTON_HITSCAN, Event, Map, PlayerInput, Rules, World};
use tickwire_sim::{NetId, PlayerId, Vec2};

/// What one hitscan shot did, from its [`Event::HitscanFired`] and the [`Event::Hit`] after it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Shot {
    from: Vec2,
    to: Vec2,
    hit: Option<NetId>,
    damage: Option<u8>,
}

/// Two players on an open 40 x 10 m map (or the given one), one of them shooting at the other.
struct Duel {
    world: World,
    shooter: PlayerId,
    target: PlayerId,
}

impl Duel {
    /// A duel on `map_text` (whose first two spawns the players take) after one quiet step, so
    /// the hitbox history holds a record.
    fn new(map_text: &str, rules: Rules) -> Duel {
        let map = Map::from_toml_str("test", map_text).expect("test map is valid");
        let mut world = World::new(map, rules, 30, 1);
        let shooter = world.add_player("shooter");
        let target = world.add_player("target");
        world.step(&[], &mut Vec::new());
        Duel {
            world,
            shooter,
            target,
        }
    }

    fn pos(&self, player: PlayerId) -> Vec2 {
        let net_id = self.world.player(player).expect("player exists").entity;
        self.world.entity(net_id).expect("player has a body").pos
    }

    fn target_id(&self) -> NetId {
        self.world
            .player(self.target)
            .expect("target exists")
            .entity
    }

    /// The input that fires the hitscan weapon at `point` with the given `view_age`.
    fn aim_at(&self, point: Vec2, view_age: u8) -> PlayerInput {
        PlayerInput {
            aim: (point - self.pos(self.shooter)).to_angle().rem_euclid(TAU) % TAU,
            buttons: BUTTON_HITSCAN,
            view_age,
            ..Default::default()
        }
    }

    /// Steps once with `input` for the shooter; returns the events.
    fn step(&mut self, input: PlayerInput) -> Vec<Event> {
        let mut events = Vec::new();
        self.world.step(&[(self.shooter, input)], &mut events);
        events
    }

    /// Steps once with `input` and returns the shot it fired, checking the events around it.
    fn shoot(&mut self, input: PlayerInput) -> Shot {
        let events = self.step(input);
        check_one_shot(&self.world, self.shooter, &events).expect("the shooter fired")
    }
}

/// The single hitscan shot of `shooter` in `events`, if any; checks that a hit is followed by a
/// matching [`Event::Hit`].
fn check_one_shot(world: &World, shooter: PlayerId, events: &[Event]) -> Option<Shot> {
    let shooter_body = world.player(shooter).expect("shooter exists").entity;
    let mut shots = events
        .iter()
        .enumerate()
        .filter_map(|(index, event)| match *event {
            Event::HitscanFired {
                shooter: fired_by,
                from,
                to,
                hit,
            } if fired_by == shooter_body => Some((index, from, to, hit)),
            _ => None,
        });
    let (index, from, to, hit) = shots.next()?;
    assert!(shots.next().is_none(), "two shots in one step: {events:?}");
    let damage = hit.map(|target| match events.get(index + 1) {
        Some(&Event::Hit {
            target: hit_target,
            by,
            damage,
        }) => {
            assert_eq!((hit_target, by), (target, Some(shooter)));
            damage
        }
        other => panic!("a hit shot must be followed by its Hit event, got {other:?}"),
    });
    if hit.is_none() {
        assert!(
            !events.iter().any(|e| matches!(e, Event::Hit { .. })),
            "{events:?}"
        );
    }
    Some(Shot {
        from,
        to,
        hit,
        damage,
    })
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-3
}

const OPEN: &str = "width = 40.0\nheight = 10.0\nspawns = [[5.0, 5.0], [15.0, 5.0]]";

#[test]
fn stationary_target_in_range_is_hit() {
    let mut duel = Duel::new(OPEN, Rules::default());
    let target_pos = duel.pos(duel.target);
    let shooter_pos = duel.pos(duel.shooter);
    let shot = duel.shoot(duel.aim_at(target_pos, 0));
    assert_eq!(shot.hit, Some(duel.target_id()));
    assert_eq!(shot.damage, Some(20));
    // From the shooter's circle to the target's circle.
    assert!(close(shot.from.distance(shooter_pos), 0.51), "{shot:?}");
    assert!(close(shot.to.distance(target_pos), 0.5), "{shot:?}");
    assert!(close(shot.to.distance(shooter_pos), 9.5), "{shot:?}");
    let target = duel.world.entity(duel.target_id()).unwrap();
    assert_eq!(target.health, 80);
}

#[test]
fn a_wall_in_between_blocks_the_shot() {
    let map = format!("{OPEN}\n[[walls]]\nmin = [9.5, 0.0]\nmax = [10.5, 10.0]");
    let mut duel = Duel::new(&map, Rules::default());
    let target_pos = duel.pos(duel.target);
    let shooter_pos = duel.pos(duel.shooter);
    let shot = duel.shoot(duel.aim_at(target_pos, 0));
    assert_eq!(shot.hit, None);
    let wall_face = if shooter_pos.x < 10.0 { 9.5 } else { 10.5 };
    assert!(
        close(shot.to.x, wall_face) && close(shot.to.y, 5.0),
        "{shot:?}"
    );
    assert_eq!(duel.world.entity(duel.target_id()).unwrap().health, 100);
}

#[test]
fn a_player_against_a_wall_shoots_nowhere() {
    let map = "width = 40.0\nheight = 10.0\nspawns = [[5.0, 5.0], [15.0, 5.0]]\n\
               [[walls]]\nmin = [0.0, 0.0]\nmax = [4.5, 10.0]\n\
               [[walls]]\nmin = [15.5, 0.0]\nmax = [40.0, 10.0]";
    let mut duel = Duel::new(map, Rules::default());
    let shooter_pos = duel.pos(duel.shooter);
    // Aim away from the target, straight into the wall the shooter touches.
    let into_wall = shooter_pos + Vec2::new(if shooter_pos.x < 10.0 { -1.0 } else { 1.0 }, 0.0);
    let shot = duel.shoot(duel.aim_at(into_wall, 0));
    assert_eq!(shot.hit, None);
    assert_eq!(shot.from, shot.to);
    assert!(close(shot.to.distance(shooter_pos), 0.5), "{shot:?}");
}

#[test]
fn out_of_range_misses_and_the_ray_ends_at_its_range() {
    let rules = Rules {
        hitscan_range: 5.0,
        ..Rules::default()
    };
    let mut duel = Duel::new(OPEN, rules);
    let target_pos = duel.pos(duel.target);
    let shooter_pos = duel.pos(duel.shooter);
    let shot = duel.shoot(duel.aim_at(target_pos, 0));
    assert_eq!(shot.hit, None);
    assert!(close(shot.to.distance(shooter_pos), 5.51), "{shot:?}");
    assert!(close(shot.to.distance(shot.from), 5.0), "{shot:?}");
}

#[test]
fn the_ray_stops_at_the_map_edge() {
    let mut duel = Duel::new(OPEN, Rules::default());
    let shooter_pos = duel.pos(duel.shooter);
    let shot = duel.shoot(duel.aim_at(shooter_pos + Vec2::Y, 0));
    assert_eq!(shot.hit, None);
    assert!(
        close(shot.to.y, 10.0) && close(shot.to.x, shooter_pos.x),
        "{shot:?}"
    );
}

#[test]
fn cooldown_is_respected() {
    let mut duel = Duel::new(OPEN, Rules::default());
    let hold = duel.aim_at(duel.pos(duel.target), 0);
    // 0.5 s at 30 Hz: one shot every 15 ticks.
    let mut shot_ticks = Vec::new();
    for tick in 0..45 {
        let events = duel.step(hold);
        if let Some(shot) = check_one_shot(&duel.world, duel.shooter, &events) {
            assert_eq!(shot.hit, Some(duel.target_id()));
            shot_ticks.push(tick);
        }
    }
    assert_eq!(shot_ticks, vec![0, 15, 30]);
    assert_eq!(duel.world.entity(duel.target_id()).unwrap().health, 40);
}

#[test]
fn the_first_step_has_no_history_to_hit() {
    let map = Map::from_toml_str("test", OPEN).unwrap();
    let mut world = World::new(map, Rules::default(), 30, 1);
    let shooter = world.add_player("shooter");
    let target = world.add_player("target");
    let body = |world: &World, player: PlayerId| {
        let net_id = world.player(player).unwrap().entity;
        world.entity(net_id).unwrap().pos
    };
    let aim = (body(&world, target) - body(&world, shooter))
        .to_angle()
        .rem_euclid(TAU)
        % TAU;
    let input = PlayerInput {
        aim,
        buttons: BUTTON_HITSCAN,
        ..Default::default()
    };
    let mut events = Vec::new();
    world.step(&[(shooter, input)], &mut events);
    let shot = check_one_shot(&world, shooter, &events).expect("fired");
    assert_eq!(shot.hit, None);
}

#[test]
fn a_fatal_shot_kills_scores_and_respawns_like_a_projectile() {
    let rules = Rules {
        hitscan_damage: 255,
        // Fire every tick, so the shots right after the kill rewind to before it.
        hitscan_cooldown_s: 0.0,
        ..Rules::default()
    };
    let mut duel = Duel::new(OPEN, rules.clone());
    let events = duel.step(duel.aim_at(duel.pos(duel.target), 0));
    let shot = check_one_shot(&duel.world, duel.shooter, &events).unwrap();
    assert_eq!(shot.damage, Some(100));
    assert!(events.contains(&Event::Killed {
        victim: duel.target_id(),
        killer: Some(duel.shooter),
    }));
    assert_eq!(duel.world.player(duel.shooter).unwrap().kills, 1);
    assert_eq!(duel.world.player(duel.target).unwrap().deaths, 1);
    assert!(!duel.world.entity(duel.target_id()).unwrap().alive);

    // While dead the target is not hit, even where the history still shows it alive.
    let corpse = duel.pos(duel.target);
    let respawn_ticks = (rules.respawn_delay_s * 30.0).ceil() as u32;
    let mut respawned = false;
    let mut shots_at_the_corpse = 0;
    for _ in 0..respawn_ticks {
        let events = duel.step(duel.aim_at(corpse, 8));
        respawned |= events.contains(&Event::Respawned {
            player: duel.target,
        });
        if let Some(shot) = check_one_shot(&duel.world, duel.shooter, &events)
            && !respawned
        {
            assert_eq!(shot.hit, None, "a dead body was hit");
            shots_at_the_corpse += 1;
        }
    }
    assert!(respawned);
    assert_eq!(shots_at_the_corpse, respawn_ticks - 1);
}

/// With a respawn quicker than the rewind, a shot rewound to before the target's death finds it
/// alive in that record and alive now, but in another life: it must miss. The new life is hit
/// as usual.
#[test]
fn a_rewound_shot_does_not_hit_the_next_life() {
    let rules = Rules {
        hitscan_damage: 255,
        hitscan_cooldown_s: 0.0,
        respawn_delay_s: 0.0, // the shortest there is: one tick
        ..Rules::default()
    };
    let mut duel = Duel::new(OPEN, rules);
    // Two quiet records with the target alive where it stands.
    let before_death = duel.pos(duel.target);
    duel.step(PlayerInput::default());
    let events = duel.step(duel.aim_at(before_death, 0));
    assert!(events.contains(&Event::Killed {
        victim: duel.target_id(),
        killer: Some(duel.shooter),
    }));
    let events = duel.step(PlayerInput::default());
    assert!(events.contains(&Event::Respawned {
        player: duel.target
    }));
    assert!(duel.world.entity(duel.target_id()).unwrap().alive);

    // Rewound 3 records (to before the kill), aimed at where the old life stood.
    let shot = duel.shoot(duel.aim_at(before_death, 3));
    assert_eq!(shot.hit, None, "the shot at the old life hit the new one");
    assert_eq!(duel.world.entity(duel.target_id()).unwrap().health, 100);

    // A shot rewound to within the new life hits it, back to the record of the respawn itself
    // (3 records before the latest once two more steps are taken).
    duel.step(PlayerInput::default());
    duel.step(PlayerInput::default());
    let now = duel.pos(duel.target);
    let shot = duel.shoot(duel.aim_at(now, 3));
    assert_eq!(shot.hit, Some(duel.target_id()));
}

#[test]
fn npcs_are_hittable() {
    let rules = Rules {
        npc_speed: 0.0,
        hitscan_damage: 255,
        hitscan_range: 100.0,
        ..Rules::default()
    };
    let mut duel = Duel::new(OPEN, rules);
    // Nobody else to stand in the way.
    assert!(duel.world.remove_player(duel.target));
    let npc = duel.world.add_npc();
    // The NPC enters the history at the end of the next step.
    duel.step(PlayerInput::default());
    let npc_pos = duel.world.entity(npc).unwrap().pos;
    let events = duel.step(duel.aim_at(npc_pos, 0));
    let shot = check_one_shot(&duel.world, duel.shooter, &events).unwrap();
    assert_eq!((shot.hit, shot.damage), (Some(npc), Some(50)));
    assert!(events.contains(&Event::Killed {
        victim: npc,
        killer: Some(duel.shooter),
    }));
    assert_eq!(duel.world.player(duel.shooter).unwrap().kills, 1);
}

/// Rules where a running player covers 2/3 m a tick at 30 Hz (3 ticks: twice its diameter) and
/// reaches full speed in one tick.
fn fast_runners() -> Rules {
    Rules {
        player_max_speed: 20.0,
        player_accel: 10_000.0,
        ..Rules::default()
    }
}

/// A shooter at rest and a target running sideways (along +y, across the line of fire) for
/// `run_ticks` steps, the target's position recorded after each (what each snapshot showed).
/// The shooter then fires once with `view_age`, aiming at where the target was `aim_ticks_ago`
/// snapshots before the latest one. Returns the shot and the point aimed at.
fn shoot_at_the_past(
    rules: Rules,
    run_ticks: usize,
    view_age: u8,
    aim_ticks_ago: usize,
) -> (Shot, Vec2, Duel) {
    let map = "width = 40.0\nheight = 40.0\nspawns = [[5.0, 10.0], [15.0, 10.0]]";
    let mut duel = Duel::new(map, rules);
    let run = PlayerInput {
        move_dir: Vec2::Y,
        ..Default::default()
    };
    // Duel::new stepped once already: that is the first snapshot.
    let mut seen = vec![duel.pos(duel.target)];
    for _ in 1..run_ticks {
        duel.world.step(&[(duel.target, run)], &mut Vec::new());
        seen.push(duel.pos(duel.target));
    }
    if seen.len() >= 3 {
        let last = seen.len() - 1;
        assert_eq!(
            seen[last] - seen[last - 1],
            seen[last - 1] - seen[last - 2],
            "constant speed"
        );
    }
    let aimed_at = seen[seen.len() - 1 - aim_ticks_ago];
    let input = duel.aim_at(aimed_at, view_age);
    let mut events = Vec::new();
    duel.world
        .step(&[(duel.shooter, input), (duel.target, run)], &mut events);
    let shot = check_one_shot(&duel.world, duel.shooter, &events).expect("fired");
    (shot, aimed_at, duel)
}

#[test]
fn lag_compensation_hits_where_the_shooter_saw_the_target() {
    let (shot, aimed_at, duel) = shoot_at_the_past(fast_runners(), 12, 3, 3);
    assert_eq!(shot.hit, Some(duel.target_id()));
    // The hit point is on the rewound circle, two meters behind the target's current one.
    assert!(close(shot.to.distance(aimed_at), 0.5), "{shot:?}");
    assert!(duel.pos(duel.target).distance(aimed_at) > 2.0);
    assert_eq!(
        duel.world.entity(duel.target_id()).unwrap().health,
        100 - 20
    );

    // Without lag compensation the same shot misses: targets are where the latest snapshot
    // showed them.
    let off = Rules {
        lag_compensation: false,
        ..fast_runners()
    };
    let (shot, _, _) = shoot_at_the_past(off.clone(), 12, 3, 3);
    assert_eq!(shot.hit, None);
    let (shot, _, duel) = shoot_at_the_past(off, 12, 3, 0);
    assert_eq!(shot.hit, Some(duel.target_id()));

    // With it on, a view age of 0 also means the latest snapshot.
    let (shot, _, _) = shoot_at_the_past(fast_runners(), 12, 0, 3);
    assert_eq!(shot.hit, None);
    let (shot, _, duel) = shoot_at_the_past(fast_runners(), 12, 0, 0);
    assert_eq!(shot.hit, Some(duel.target_id()));
}

#[test]
fn view_age_is_clamped_to_the_maximum_rewind() {
    let rules = Rules {
        max_rewind_s: 0.1,
        ..fast_runners()
    };
    let (shot, _, duel) = shoot_at_the_past(rules.clone(), 12, 6, 6);
    assert_eq!(duel.world.max_rewind_ticks(), 3);
    assert_eq!(shot.hit, None, "rewound further than the maximum");
    // Clamped to 3 ticks: the target is found where it was 3 ticks ago.
    for view_age in [3, 6, u8::MAX] {
        let (shot, _, duel) = shoot_at_the_past(rules.clone(), 12, view_age, 3);
        assert_eq!(shot.hit, Some(duel.target_id()), "view_age {view_age}");
    }
    assert_eq!(
        World::new(Map::builtin("open").unwrap(), Rules::default(), 30, 1).max_rewind_ticks(),
        8
    );
}

#[test]
fn a_young_world_rewinds_to_its_oldest_record() {
    // Three snapshots so far; a view age of 8 rewinds to the oldest.
    let (shot, _, duel) = shoot_at_the_past(fast_runners(), 3, 8, 2);
    assert_eq!(shot.hit, Some(duel.target_id()));
    let (shot, _, _) = shoot_at_the_past(fast_runners(), 3, 8, 0);
    assert_eq!(shot.hit, None);
}
