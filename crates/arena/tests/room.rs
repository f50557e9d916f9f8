//! In-memory tests of the room core running the arena: the engine's harness (a Room plus
//! virtual clients that decode what the room sends with the real client-side Replica), with no
//! sockets and no clock.

use tickwire_arena::wire::kind;
use tickwire_arena::{ArenaGame, ArenaSettings, InputCmd, Map, Rules};
use tickwire_net::Game;
use tickwire_net::harness::Harness;
use tickwire_net::room::{ClientId, JoinError, RoomSettings};
use tickwire_protocol::{Hello, Input, quant};
use tickwire_sim::NetId;

/// A harness around an arena room on a built-in map.
fn harness(settings: RoomSettings, map: &str) -> Harness<ArenaGame> {
    arena(settings, map, 0, 40.0)
}

/// The same with NPCs and a view radius.
fn arena(settings: RoomSettings, map: &str, npcs: usize, view_radius: f32) -> Harness<ArenaGame> {
    let arena = ArenaSettings {
        npcs,
        view_radius,
        ..ArenaSettings::new(Map::builtin(map).expect("builtin map"), Rules::default())
    };
    let game = ArenaGame::new(&arena, settings.tick_rate, 1);
    Harness::new(settings, game)
}

fn hello(name: &str, spectate: bool) -> Hello {
    tickwire_net::harness::hello::<ArenaGame>(name, spectate)
}

fn east() -> InputCmd {
    InputCmd {
        move_x: 127,
        move_y: 0,
        aim: 0,
        buttons: 0,
        view_age: 0,
    }
}

#[test]
fn welcome_then_snapshots_every_tick() {
    let mut harness = harness(RoomSettings::default(), "arena");
    harness.join("ann", false);
    harness.join("bob", false);
    for _ in 0..30 {
        harness.step(east());
    }
    for client in &harness.clients {
        assert_eq!(client.replica.decoded(), 30);
        let players = client
            .replica
            .view()
            .iter()
            .filter(|state| state.kind == kind::PLAYER)
            .count();
        assert_eq!(players, 2);
        // With instant acks only the first snapshot is full.
        assert_eq!(client.full_snapshots, 1);
        assert!(
            client.last_input_acked >= 29,
            "acked {}",
            client.last_input_acked
        );
    }
}

#[test]
fn each_input_applied_once_in_order() {
    let mut harness = harness(RoomSettings::default(), "arena");
    let index = harness.join("ann", false);
    let id = harness.clients[index].id;
    // The same three inputs, resent redundantly, then a duplicate-only message.
    let cmds = vec![east(); 3];
    harness.room.handle_input(
        id,
        &Input {
            ack_tick: 0,
            first_seq: 1,
            cmds: cmds.clone(),
        },
    );
    harness.room.handle_input(
        id,
        &Input {
            ack_tick: 0,
            first_seq: 1,
            cmds: cmds.clone(),
        },
    );
    harness.room.handle_input(
        id,
        &Input {
            ack_tick: 0,
            first_seq: 2,
            cmds: cmds[..2].to_vec(),
        },
    );
    for expected in 1..=3 {
        harness.room.tick();
        assert_eq!(harness.room.last_applied(id), Some(expected));
    }
    // Nothing new: the last input repeats, the sequence does not move.
    harness.room.tick();
    assert_eq!(harness.room.last_applied(id), Some(3));
    let stats = harness.room.input_stats();
    assert_eq!(stats.applied, 3);
    assert_eq!(stats.duplicates, 5);
    assert!(stats.repeated >= 1);
}

#[test]
fn extra_inputs_never_move_a_player_faster() {
    let mut harness = harness(RoomSettings::default(), "open");
    let index = harness.join("speedy", false);
    let id = harness.clients[index].id;
    let entity = harness.clients[index].joined.entity.unwrap().0;
    let dt = 1.0 / 30.0;
    let max_step = Rules::default().player_max_speed * dt + 0.01;
    let mut seq = 1;
    let mut previous = None;
    for _ in 0..120 {
        // Eight fresh inputs every tick: far more than one per tick.
        harness.room.handle_input(
            id,
            &Input {
                ack_tick: 0,
                first_seq: seq,
                cmds: vec![east(); 8],
            },
        );
        seq += 8;
        harness.room.tick();
        let entity = harness
            .room
            .game()
            .world()
            .entity(NetId(entity))
            .expect("entity");
        if let Some(previous) = previous {
            let moved = entity.pos.distance(previous);
            assert!(
                moved <= max_step,
                "moved {moved} m in one tick (max {max_step})"
            );
        }
        previous = Some(entity.pos);
    }
    // It did catch up on some of the backlog, but never more than a few per tick; the rest
    // was dropped and counted.
    let stats = harness.room.input_stats();
    assert!(stats.applied <= 120 * 3, "applied {}", stats.applied);
    assert!(stats.dropped > 0);
}

#[test]
fn chat_reaches_everyone_in_order() {
    let mut harness = harness(RoomSettings::default(), "arena");
    let a = harness.join("ann", false);
    harness.join("bob", false);
    harness.join("eve", true);
    let sender = harness.clients[a].id;
    for line in ["one", "two", "three"] {
        harness.room.handle_chat(sender, line);
        // A person's pace: a line every quarter of a second or slower.
        for _ in 0..8 {
            harness.step(east());
        }
    }
    for client in &harness.clients {
        assert_eq!(client.chats, ["one", "two", "three"]);
    }
}

#[test]
fn chat_flood_is_dropped_before_it_floods_everyone() {
    let mut harness = harness(RoomSettings::default(), "arena");
    let flooder = harness.join("loud", false);
    for name in ["a", "b", "c"] {
        harness.join(name, false);
    }
    let loud = harness.clients[flooder].id;
    // 150 lines at once from one client, then one line from each of 20 more in the same tick
    // would be 170 reliable messages for every player; the limits relay a handful.
    for index in 0..150 {
        harness.room.handle_chat(loud, &format!("spam {index}"));
    }
    for index in 1..4 {
        let id = harness.clients[index].id;
        harness.room.handle_chat(id, "hi");
    }
    harness.step(east());
    for client in &harness.clients {
        assert_eq!(client.chats.len(), 4, "{:?}", client.chats);
    }
    assert_eq!(harness.room.input_stats().chat_dropped, 149);
}

#[test]
fn lossy_delayed_clients_converge_exactly() {
    let settings = RoomSettings {
        history: 32,
        ..RoomSettings::default()
    };
    let mut harness = arena(settings, "arena", 60, 40.0);
    for name in ["a", "b", "c", "d"] {
        harness.join(name, false);
    }
    harness.join("watcher", true);
    harness.delay = 3;
    harness.drop_per_mille = 300;
    for tick in 0..600u32 {
        let cmd = InputCmd {
            move_x: ((tick / 20) % 3) as i8 * 60 - 60,
            move_y: ((tick / 33) % 3) as i8 * 60 - 60,
            aim: (tick * 977) as u16,
            buttons: (tick % 7 == 0) as u8 | (((tick % 11 == 0) as u8) << 1),
            view_age: (tick % 5) as u8,
        };
        harness.step(cmd);
    }
    // Every snapshot applied (the checksum inside matched the server's view each time), and
    // the clients kept up through loss and delay with deltas: full snapshots only until the
    // first acknowledgement made the round trip.
    for client in &harness.clients {
        assert!(
            client.replica.decoded() > 300,
            "decoded {}",
            client.replica.decoded()
        );
        assert!(
            client.full_snapshots <= harness.delay + 1,
            "full snapshots: {}",
            client.full_snapshots
        );
    }
    // The spectator sees every entity, exactly as the world has it.
    let watcher = harness.clients.last().unwrap();
    let world = harness.room.game().world();
    assert!(watcher.replica.view().len() >= 64);
    for state in watcher.replica.view() {
        if watcher.replica.ack_tick() == world.tick() {
            let entity = world.entity(NetId(state.id)).expect("entity exists");
            assert_eq!(state.x, quant::pos_to_wire(entity.pos.x));
        }
    }
}

#[test]
fn acknowledging_zero_asks_for_a_full_snapshot() {
    let mut harness = harness(RoomSettings::default(), "arena");
    harness.join("forgetful", false);
    // Longer than the acknowledgement timeout (10 s), which must not fire at the reset.
    for _ in 0..400 {
        harness.step(east());
    }
    assert_eq!(harness.clients[0].full_snapshots, 1);
    // The client loses its stored views (a failed snapshot, say) and acknowledges 0.
    harness.clients[0].replica.reset();
    let before = harness.clients[0].full_snapshots;
    harness.step(east());
    assert_eq!(
        harness.clients[0].full_snapshots,
        before + 1,
        "the very next snapshot is full"
    );
    // And it carries on with deltas once that one is acknowledged.
    for _ in 0..10 {
        harness.step(east());
    }
    assert_eq!(harness.clients[0].full_snapshots, before + 1);
    assert!(harness.clients[0].replica.ack_tick() >= 410);
    assert_eq!(
        harness.room.poll_too_slow(),
        None,
        "not dropped for the reset"
    );
}

#[test]
fn expired_baseline_gets_a_full_snapshot() {
    let settings = RoomSettings {
        history: 8,
        ..RoomSettings::default()
    };
    let mut harness = harness(settings, "arena");
    harness.join("slow", false);
    harness.step(east());
    let first_ack = harness.clients[0].replica.ack_tick();
    assert_eq!(first_ack, 1);
    // The client stops acknowledging for longer than the history holds.
    harness.delay = 1000;
    for _ in 0..20 {
        harness.step(east());
    }
    harness.delay = 0;
    // Its acks still name tick 1, now too old; it is sent a full snapshot, which applies.
    let client = &mut harness.clients[0];
    let before = client.full_snapshots;
    client.in_flight.clear();
    harness.room.handle_input(
        client.id,
        &Input {
            ack_tick: first_ack,
            first_seq: 0,
            cmds: vec![],
        },
    );
    // Its next snapshot (pacing may hold it a few ticks: it fell behind) is a full one.
    for _ in 0..30 {
        if harness.clients[0].full_snapshots > before {
            break;
        }
        harness.room.tick();
        harness.deliver();
    }
    let client = &harness.clients[0];
    assert_eq!(client.full_snapshots, before + 1);
}

#[test]
fn baselines_older_than_the_client_holds_are_not_used() {
    // The room keeps 64 snapshots, but a client holds only the newest 32 it decoded. (Without
    // pacing, so that the room sends it more than 32 while it does not acknowledge.)
    let settings = RoomSettings {
        pace_by_acks: false,
        ..RoomSettings::default()
    };
    let mut harness = harness(settings, "arena");
    harness.join("lagging", false);
    harness.step(east());
    let first_ack = harness.clients[0].replica.ack_tick();
    harness.delay = 1000;
    for _ in 0..40 {
        harness.step(east());
    }
    let client = &mut harness.clients[0];
    client.in_flight.clear();
    let before = client.full_snapshots;
    harness.room.handle_input(
        client.id,
        &Input {
            ack_tick: first_ack,
            first_seq: 0,
            cmds: vec![],
        },
    );
    harness.delay = 0;
    harness.room.tick();
    harness.deliver();
    assert_eq!(harness.clients[0].full_snapshots, before + 1);
}

#[test]
fn resumed_player_continues_its_input_sequence() {
    let mut harness = harness(RoomSettings::default(), "arena");
    let index = harness.join("ann", false);
    let old = harness.clients[index].id;
    let entity = harness.clients[index].joined.entity.unwrap().0;
    harness.room.handle_input(
        old,
        &Input {
            ack_tick: 0,
            first_seq: 1,
            cmds: vec![east(); 5],
        },
    );
    for _ in 0..5 {
        harness.room.tick();
    }
    assert_eq!(harness.room.last_applied(old), Some(5));
    // The connection drops; the player is held, then resumed by a new connection.
    harness.room.handle_disconnect(old);
    assert!(harness.room.is_detached(old));
    let token = [old.0 as u8; 16];
    let new = ClientId(77);
    let joined = harness.room.handle_resume(new, &token).expect("resumes");
    assert_eq!(joined.entity.map(|e| e.0), Some(entity));
    assert_eq!(joined.replaced, None);
    // While held, the player stopped (the drop did not use up a sequence number).
    harness.room.tick();
    let held = harness
        .room
        .game()
        .world()
        .entity(NetId(entity))
        .unwrap()
        .vel;
    assert!(
        held.length() < Rules::default().player_max_speed,
        "slowing down: {held}"
    );
    // The client resends 4..=8: 4 and 5 were applied before the drop and are not applied again;
    // 6, 7 and 8 are applied once each, its own inputs.
    let applied_before = harness.room.input_stats().applied;
    harness.room.handle_input(
        new,
        &Input {
            ack_tick: 0,
            first_seq: 4,
            cmds: vec![east(); 5],
        },
    );
    for expected in 6..=8 {
        harness.room.tick();
        assert_eq!(harness.room.last_applied(new), Some(expected));
    }
    assert_eq!(harness.room.input_stats().applied - applied_before, 3);
    // A second resume with the same token while `new` is attached replaces it.
    let joined = harness
        .room
        .handle_resume(ClientId(78), &token)
        .expect("replaces");
    assert_eq!(joined.replaced, Some(new));
}

#[test]
fn room_full_and_spectator_seats() {
    let settings = RoomSettings {
        max_players: 2,
        max_spectators: 1,
        ..RoomSettings::default()
    };
    let mut harness = harness(settings, "arena");
    harness.join("a", false);
    harness.join("b", false);
    assert_eq!(
        harness
            .room
            .handle_join(ClientId(99), &hello("c", false), [99; 16]),
        Err(JoinError::RoomFull)
    );
    harness.join("watcher", true);
    assert_eq!(
        harness
            .room
            .handle_join(ClientId(98), &hello("w2", true), [98; 16]),
        Err(JoinError::SpectatorsFull)
    );
    assert!(harness.room.handle_leave(harness.clients[0].id));
    assert_eq!(harness.room.player_count(), 1);
    assert!(
        harness
            .room
            .handle_join(ClientId(99), &hello("c", false), [99; 16])
            .is_ok()
    );
}

#[test]
fn players_see_only_what_is_near() {
    let mut harness = arena(RoomSettings::default(), "open", 300, 20.0);
    harness.join("ann", false);
    harness.join("eve", true);
    for _ in 0..10 {
        harness.step(east());
    }
    let player = &harness.clients[0];
    let me = player
        .replica
        .entity(player.joined.entity.unwrap().0)
        .expect("sees itself");
    let (mx, my) = (quant::pos_from_wire(me.x), quant::pos_from_wire(me.y));
    for state in player.replica.view() {
        let (x, y) = (quant::pos_from_wire(state.x), quant::pos_from_wire(state.y));
        let distance = ((x - mx).powi(2) + (y - my).powi(2)).sqrt();
        assert!(
            distance <= 20.0 + 0.01,
            "entity {} at {distance} m",
            state.id
        );
    }
    let spectator = &harness.clients[1];
    assert!(spectator.replica.view().len() > player.replica.view().len());
    assert_eq!(
        spectator.replica.view().len(),
        harness.room.game().world().entity_count()
    );
}

mod hostile_inputs {
    use proptest::prelude::*;

    use super::*;

    fn arb_cmd() -> impl Strategy<Value = InputCmd> {
        (
            any::<i8>(),
            any::<i8>(),
            any::<u16>(),
            any::<u8>(),
            any::<u8>(),
        )
            .prop_map(|(move_x, move_y, aim, buttons, view_age)| InputCmd {
                move_x,
                move_y,
                aim,
                buttons,
                view_age,
            })
    }

    fn arb_input() -> impl Strategy<Value = Input<InputCmd>> {
        (
            any::<u32>(),
            prop_oneof![Just(0u32), 1u32..4096, any::<u32>()],
            proptest::collection::vec(arb_cmd(), 0..=8),
        )
            .prop_map(|(ack_tick, first_seq, cmds)| Input {
                ack_tick,
                first_seq,
                cmds,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Whatever a client sends through the input path (any sequence numbers, acks,
        /// values), the room never panics and the world never holds a non-finite value.
        #[test]
        fn arbitrary_inputs_never_break_the_room(script in proptest::collection::vec((0usize..3, arb_input()), 1..80)) {
            let mut harness = arena(RoomSettings::default(), "arena", 5, 40.0);
            for name in ["a", "b", "c"] {
                harness.join(name, false);
            }
            for (who, input) in &script {
                let id = harness.clients[*who].id;
                harness.room.handle_input(id, input);
                harness.room.tick();
                harness.now += 1;
                harness.deliver();
            }
            let world = harness.room.game().world();
            for entity in world.entities() {
                prop_assert!(entity.pos.is_finite() && entity.vel.is_finite() && entity.aim.is_finite());
                prop_assert!(entity.pos.x >= 0.0 && entity.pos.y >= 0.0);
                prop_assert!(entity.pos.x <= world.map().width && entity.pos.y <= world.map().height);
            }
        }
    }
}

/// A JSON-mode client gets whole views on its own interval, inside its byte budget, with no
/// acknowledgement ever sent; a binary client in the same room is unaffected.
#[test]
fn json_clients_get_whole_views_on_their_interval_within_the_byte_budget() {
    use tickwire_net::room::{Room, TransmitKind};
    use tickwire_protocol::json::Format;

    let budget = 6_000;
    let settings = RoomSettings {
        client_bytes_per_s: budget,
        json_snapshot_interval: 3,
        ..RoomSettings::default()
    };
    let arena = ArenaSettings {
        npcs: 40,
        view_radius: 1000.0,
        ..ArenaSettings::new(
            Map::builtin("arena").expect("builtin map"),
            Rules::default(),
        )
    };
    let game = ArenaGame::new(&arena, settings.tick_rate, 1);
    let mut room = Room::new("json".into(), settings, game);
    let json = ClientId(1);
    let binary = ClientId(2);
    room.handle_join_as(json, &hello("py", false), [1; 16], Format::Json)
        .expect("joins");
    room.handle_join(binary, &hello("bin", false), [2; 16])
        .expect("joins");
    let seconds = 10;
    let mut json_bytes = 0;
    let mut json_ticks = Vec::new();
    let mut entities_seen = 0;
    let mut binary_snapshots = 0;
    let mut binary_acked = 0;
    for _ in 0..30 * seconds {
        room.tick();
        // The binary client acknowledges everything at once; the JSON client never does.
        if binary_acked > 0 {
            room.handle_input(
                binary,
                &Input {
                    ack_tick: binary_acked,
                    first_seq: 0,
                    cmds: Vec::new(),
                },
            );
        }
        while let Some(transmit) = room.poll_transmit() {
            let TransmitKind::Snapshot { tick } = transmit.kind else {
                if transmit.to == json {
                    let text = std::str::from_utf8(&transmit.bytes).expect("JSON is text");
                    serde_json::from_str::<serde_json::Value>(text).expect("valid JSON");
                }
                continue;
            };
            if transmit.to == binary {
                binary_snapshots += 1;
                binary_acked = tick;
                continue;
            }
            json_bytes += transmit.bytes.len();
            json_ticks.push(tick);
            let value: serde_json::Value =
                serde_json::from_slice(&transmit.bytes).expect("valid JSON");
            let snapshot = &value["Snapshot"];
            assert_eq!(snapshot["tick"].as_u64(), Some(u64::from(tick)));
            let entities = snapshot["entities"].as_array().expect("entities");
            // The whole view: both players and every NPC (the view radius covers the map).
            assert_eq!(entities.len(), 42, "{snapshot}");
            let scores = snapshot["scores"].as_array().expect("scores");
            assert_eq!(scores.len(), 2, "{snapshot}");
            entities_seen += entities.len();
        }
    }
    assert!(entities_seen > 0);
    // On its interval only, and throttled by the budget: 42 entities is ~3.7 KB of JSON, so
    // about 1.6 a second fit in 6,000 B/s, not the 10 a second of the interval.
    assert!(
        json_ticks.iter().all(|tick| tick % 3 == 0),
        "{json_ticks:?}"
    );
    let allowed = budget as usize * seconds + budget as usize / 4 + 4_000;
    assert!(json_bytes <= allowed, "{json_bytes} > {allowed}");
    assert!(
        json_ticks.len() >= 10 && json_ticks.len() < 40,
        "{} JSON snapshots",
        json_ticks.len()
    );
    // The binary client kept its delta snapshots every tick (its own budget is the same, but
    // deltas are small).
    assert!(binary_snapshots > 250, "{binary_snapshots}");
    // Never acknowledging is not "too slow" in JSON mode.
    assert_eq!(room.poll_too_slow(), None);
}

/// A JSON client that never acknowledges still gets its commands judged against what it was
/// shown: the last whole view it was sent stands in for the acknowledgement, so its shots are
/// rewound by its own delay, not by the room's whole age.
#[test]
fn a_json_clients_commands_count_from_the_last_view_it_was_sent() {
    use tickwire_net::room::Room;
    use tickwire_protocol::json::Format;

    let settings = RoomSettings {
        json_snapshot_interval: 3,
        ..RoomSettings::default()
    };
    let arena = ArenaSettings::new(
        Map::builtin("arena").expect("builtin map"),
        Rules::default(),
    );
    let game = ArenaGame::new(&arena, settings.tick_rate, 1);
    let mut room = Room::new("json".into(), settings, game);
    let client = ClientId(1);
    let joined = room
        .handle_join_as(client, &hello("py", false), [1; 16], Format::Json)
        .expect("joins");
    for _ in 0..60 {
        room.tick();
        while room.poll_transmit().is_some() {}
    }
    // The last view went out at tick 60; the command was sampled showing it, 2 ticks back.
    let cmd = InputCmd {
        view_age: 2,
        ..east()
    };
    room.handle_input(
        client,
        &Input {
            ack_tick: 0,
            first_seq: 1,
            cmds: vec![cmd],
        },
    );
    room.tick();
    let player = room
        .game()
        .world()
        .player(joined.player.expect("a player"))
        .expect("in the world");
    // Stepping from 60, shown 60 - 2 = 58: a rewind of 2 ticks (not 60, the whole age).
    assert_eq!(player.input.view_age, 2);
}
