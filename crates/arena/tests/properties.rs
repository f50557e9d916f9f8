//! Property tests: whatever players send, the world stays finite, inside the map, and players
//! move no faster than the rules allow.

use std::f32::consts::TAU;

use proptest::prelude::*;
use tickwire_arena::{Event, KNOWN_BUTTONS, Map, PlayerInput, Rules, World, move_player};
use tickwire_sim::{PlayerId, Vec2};

/// Floats that include the nasty ones: NaN, infinities, huge, tiny and ordinary values.
fn any_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => -2.0f32..2.0,
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(f32::MAX),
        1 => Just(-1e30f32),
        1 => Just(f32::MIN_POSITIVE),
        2 => proptest::num::f32::ANY,
    ]
}

fn any_input() -> impl Strategy<Value = PlayerInput> {
    (any_f32(), any_f32(), any_f32(), any::<u8>(), any::<u8>()).prop_map(
        |(x, y, aim, buttons, view_age)| PlayerInput {
            move_dir: Vec2::new(x, y),
            aim,
            buttons,
            view_age,
        },
    )
}

/// Asserts that every entity is finite, inside the map and facing a wrapped angle.
fn check_world_sane(world: &World) {
    let map = world.map();
    for entity in world.entities() {
        assert!(
            entity.pos.is_finite() && entity.vel.is_finite(),
            "{entity:?}"
        );
        assert!(map.contains(entity.pos), "outside the map: {entity:?}");
        assert!((0.0..TAU).contains(&entity.aim), "aim: {entity:?}");
        assert!(entity.radius.is_finite() && entity.radius > 0.0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sanitized_inputs_are_safe(input in any_input()) {
        let clean = input.sanitized();
        prop_assert!(clean.move_dir.is_finite());
        prop_assert!(clean.move_dir.x.abs() <= 1.0 && clean.move_dir.y.abs() <= 1.0);
        prop_assert!(clean.move_dir.length_squared() <= 1.0);
        prop_assert!((0.0..TAU).contains(&clean.aim));
        prop_assert_eq!(clean.buttons & !KNOWN_BUTTONS, 0);
        prop_assert_eq!(clean.sanitized(), clean);
    }

    #[test]
    fn garbage_inputs_never_break_the_world(
        tick_rate in prop_oneof![Just(1u32), Just(10), Just(30), Just(60), 0u32..2000],
        seed in any::<u64>(),
        ticks in proptest::collection::vec(proptest::collection::vec(any_input(), 3), 1..60),
    ) {
        let mut world = World::new(Map::builtin("arena").unwrap(), Rules::default(), tick_rate, seed);
        let players: Vec<PlayerId> = (0..3).map(|n| world.add_player(&format!("p{n}"))).collect();
        for _ in 0..3 {
            world.add_npc();
        }
        check_world_sane(&world);
        let mut events = Vec::new();
        for tick_inputs in &ticks {
            let inputs: Vec<(PlayerId, PlayerInput)> =
                players.iter().copied().zip(tick_inputs.iter().copied()).collect();
            world.step(&inputs, &mut events);
            check_world_sane(&world);
        }
    }

    #[test]
    fn players_move_no_faster_than_max_speed(
        tick_rate in prop_oneof![Just(1u32), Just(10), Just(30), Just(60)],
        seed in any::<u64>(),
        inputs in proptest::collection::vec(any_input(), 1..80),
    ) {
        let mut world = World::new(Map::builtin("arena").unwrap(), Rules::default(), tick_rate, seed);
        let player = world.add_player("solo");
        let body = world.player(player).unwrap().entity;
        let limit = world.rules().player_max_speed * world.dt() + 0.01;
        let mut events = Vec::new();
        for input in inputs {
            let before = world.entity(body).unwrap().pos;
            events.clear();
            world.step(&[(player, input)], &mut events);
            let after = world.entity(body).unwrap();
            let respawned = events.iter().any(|e| matches!(e, Event::Respawned { .. }));
            prop_assert!(
                respawned || after.pos.distance(before) <= limit,
                "moved {} > {limit} from {before} to {}", after.pos.distance(before), after.pos
            );
            prop_assert!(after.vel.length() <= world.rules().player_max_speed * 1.0001);
        }
    }

    #[test]
    fn move_player_is_total(
        pos in (any_f32(), any_f32()),
        vel in (any_f32(), any_f32()),
        dt in any_f32(),
        input in any_input(),
    ) {
        let map = Map::builtin("arena").unwrap();
        let (pos, vel) = move_player(
            &Rules::default(),
            &map,
            dt,
            Vec2::new(pos.0 * 100.0, pos.1 * 100.0),
            Vec2::new(vel.0, vel.1),
            &input,
        );
        prop_assert!(pos.is_finite() && vel.is_finite());
        prop_assert!(map.contains(pos));
    }

    #[test]
    fn map_parsing_never_panics(text in ".{0,200}") {
        let _ = Map::from_toml_str("fuzz", &text);
    }

    #[test]
    fn map_shaped_garbage_never_panics(
        width in any_f32(),
        height in any_f32(),
        spawn in (any_f32(), any_f32()),
        wall in (any_f32(), any_f32(), any_f32(), any_f32()),
    ) {
        let text = format!(
            "width = {}\nheight = {}\nspawns = [[{}, {}]]\n[[walls]]\nmin = [{}, {}]\nmax = [{}, {}]",
            toml_float(width * 100.0), toml_float(height * 100.0),
            toml_float(spawn.0 * 100.0), toml_float(spawn.1 * 100.0),
            toml_float(wall.0 * 100.0), toml_float(wall.1 * 100.0),
            toml_float(wall.2 * 100.0), toml_float(wall.3 * 100.0),
        );
        if let Ok(map) = Map::from_toml_str("fuzz", &text) {
            prop_assert!(map.validate().is_ok());
            // A valid map always makes a world that can run.
            let mut world = World::new(map, Rules::default(), 30, 0);
            let player = world.add_player("p");
            world.add_npc();
            let mut events = Vec::new();
            for _ in 0..5 {
                world.step(&[(player, PlayerInput { move_dir: Vec2::X, aim: 0.0, buttons: 1, view_age: 0 })], &mut events);
            }
            check_world_sane(&world);
        }
    }
}

/// Formats a float as TOML does (`nan`, `inf`, `-inf`, or a decimal with a point).
fn toml_float(value: f32) -> String {
    if value.is_nan() {
        "nan".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "inf" } else { "-inf" }.to_owned()
    } else {
        format!("{value:?}")
    }
}
