//! Graceful overload, in memory: a client that falls behind gets fewer snapshots, never bigger
//! ones, and the clients that keep up do not notice it. The same room is run twice with the
//! same commands (the game is deterministic), once with every client healthy and once with some
//! made slow, and what the healthy ones received is compared byte for byte.

use tickwire_arena::{ArenaGame, ArenaSettings, BUTTON_HITSCAN, GameEvent, InputCmd, Map, Rules};
use tickwire_net::Game;
use tickwire_net::harness::{Harness, VirtualClient};
use tickwire_net::room::RoomSettings;
use tickwire_protocol::ServerMsg;

const PLAYERS: usize = 20;
const TICKS: u32 = 600;

/// A room like the load test's: players and NPCs all in view of each other.
fn room(settings: RoomSettings) -> Harness<ArenaGame> {
    let arena = ArenaSettings {
        npcs: 60,
        view_radius: 1000.0,
        ..ArenaSettings::new(
            Map::builtin("arena").expect("builtin map"),
            Rules::default(),
        )
    };
    let game = ArenaGame::new(&arena, settings.tick_rate, 7);
    let mut harness = Harness::new(settings, game);
    for index in 0..PLAYERS {
        harness.join(&format!("p{index}"), false);
    }
    harness
}

fn command(tick: u32) -> InputCmd {
    InputCmd {
        move_x: ((tick / 20) % 3) as i8 * 60 - 60,
        move_y: ((tick / 33) % 3) as i8 * 60 - 60,
        aim: (tick * 977) as u16,
        buttons: u8::from(tick.is_multiple_of(9)),
        view_age: 0,
    }
}

/// Runs `TICKS` ticks, every player sending the same command each tick; `setup` shapes the
/// clients' links first. Returns the harness and how many clients the room gave up on.
fn run(
    settings: RoomSettings,
    setup: impl Fn(&mut Harness<ArenaGame>),
) -> (Harness<ArenaGame>, usize) {
    let mut harness = room(settings);
    harness.delay = 1;
    setup(&mut harness);
    let mut too_slow = 0;
    for tick in 0..TICKS {
        // Everyone fires projectiles; player 0, never made slow, also fires the hitscan weapon,
        // whose shots are transient events. (A hitscan is aimed at what its shooter saw, so a
        // slow shooter would change the game between the two runs.)
        for index in 0..PLAYERS {
            let mut cmd = command(tick);
            if index == 0 && tick.is_multiple_of(7) {
                cmd.buttons |= BUTTON_HITSCAN;
            }
            harness.send(index, vec![cmd]);
        }
        harness.tick();
        while harness.room.poll_too_slow().is_some() {
            too_slow += 1;
        }
    }
    (harness, too_slow)
}

/// Snapshots sent to a client and still waiting for its link.
fn snapshots_waiting(client: &VirtualClient<ArenaGame>) -> usize {
    client
        .in_flight
        .iter()
        .filter(|(_, msg, _)| matches!(msg, ServerMsg::Snapshot(_)))
        .count()
}

/// The kills and the number of shots a client heard.
fn kills_and_shots(client: &VirtualClient<ArenaGame>) -> (Vec<(u32, GameEvent)>, usize) {
    let kills = client
        .events
        .iter()
        .filter(|(_, event)| matches!(event, GameEvent::Killed { .. }))
        .cloned()
        .collect();
    let shots = client
        .events
        .iter()
        .filter(|(_, event)| matches!(event, GameEvent::Shot { .. }))
        .count();
    (kills, shots)
}

/// Snapshot bytes per second a client received over the run.
fn bytes_per_s(harness: &Harness<ArenaGame>, index: usize) -> f64 {
    harness.clients[index].snapshot_bytes as f64 / (f64::from(TICKS) / 30.0)
}

#[test]
fn a_tenth_made_slow_leaves_the_others_untouched() {
    let slow = [3, 11]; // a tenth of 20
    let healthy = RoomSettings::default();
    let (baseline, _) = run(healthy.clone(), |_| {});
    let unloaded = bytes_per_s(&baseline, 3);
    // A downlink of a third of what the client gets when it keeps up.
    let link = (unloaded / 3.0 / 30.0) as u32;
    let (mixed, too_slow) = run(healthy, |harness| {
        for &index in &slow {
            harness.clients[index].link_bytes_per_tick = Some(link);
        }
    });
    assert_eq!(
        too_slow, 0,
        "nobody is dropped: the slow ones still acknowledge"
    );

    for index in (0..PLAYERS).filter(|index| !slow.contains(index)) {
        let (before, after) = (&baseline.clients[index], &mixed.clients[index]);
        // Every tick's snapshot once the first (full) one was acknowledged, the same bytes as
        // when nobody was slow.
        assert!(
            before.snapshot_ticks[1..]
                .windows(2)
                .all(|pair| pair[1] == pair[0] + 1),
            "client {index} got every tick's snapshot"
        );
        assert!(
            before.snapshots >= TICKS - 2,
            "client {index}: {}",
            before.snapshots
        );
        assert_eq!(
            after.snapshot_ticks, before.snapshot_ticks,
            "client {index}"
        );
        assert_eq!(
            after.snapshot_bytes, before.snapshot_bytes,
            "client {index}"
        );
        assert_eq!(after.full_snapshots, 1, "client {index}");
        assert_eq!(after.events, before.events, "client {index}");
    }
    for &index in &slow {
        let client = &mixed.clients[index];
        // Fewer snapshots, never full ones after the first, and the link keeps up with them:
        // what waits for it is a few snapshots, not an ever-growing backlog.
        assert!(
            client.snapshots < TICKS / 2,
            "slow client got {}",
            client.snapshots
        );
        assert!(
            client.snapshots >= TICKS / 15 / 2,
            "but at least the floor rate"
        );
        assert_eq!(client.full_snapshots, 1, "slow client {index}");
        assert!(
            snapshots_waiting(client) <= 2,
            "backlog of {}",
            snapshots_waiting(client)
        );
        assert!(bytes_per_s(&mixed, index) <= unloaded / 3.0 * 1.05);
        assert!(client.snapshot_bytes_sent as f64 <= baseline.clients[index].snapshot_bytes as f64);
        // Every kill, in order (events are reliable; some may still be on the link), but the
        // shots, transient, only while it kept up.
        let (kills, shots) = kills_and_shots(client);
        let (all_kills, all_shots) = kills_and_shots(&baseline.clients[index]);
        assert!(
            !all_kills.is_empty() && all_shots > 0,
            "the run has kills and shots: {} kills, {all_shots} shots",
            all_kills.len()
        );
        assert_eq!(kills[..], all_kills[..kills.len()], "slow client {index}");
        assert!(kills.len() * 2 >= all_kills.len(), "slow client {index}");
        assert!(
            shots * 2 < all_shots,
            "slow client {index} heard {shots} of {all_shots} shots"
        );
    }
}

#[test]
fn without_pacing_a_slow_client_falls_behind_until_it_is_dropped() {
    // The contrast that shows the test above measures something: with every snapshot sent,
    // the slow link's backlog only grows, its acknowledgements age out into full snapshots, and
    // the room gives up on it as too slow.
    let settings = RoomSettings {
        pace_by_acks: false,
        ..RoomSettings::default()
    };
    let (baseline, _) = run(settings.clone(), |_| {});
    let link = (bytes_per_s(&baseline, 3) / 3.0 / 30.0) as u32;
    let (mixed, too_slow) = run(settings, |harness| {
        harness.clients[3].link_bytes_per_tick = Some(link)
    });
    assert!(too_slow > 0, "the slow client was given up on");
    let client = &mixed.clients[3];
    assert!(
        client.full_snapshots > 1,
        "full snapshots: {}",
        client.full_snapshots
    );
}

#[test]
fn when_every_client_falls_behind_the_room_sends_fewer_snapshots_not_more_bytes() {
    // Overload: after a calm start, no client can take in what it is sent any more (the
    // machine is short of CPU, so every bot reads at a half or a third of the pace). Each gets
    // fewer snapshots; the bytes the room sends it stay near the unloaded figure instead of
    // multiplying into full snapshots and an ever-longer backlog.
    let settings = RoomSettings::default();
    let (unloaded, _) = run(settings.clone(), |_| {});
    let calm = bytes_per_s(&unloaded, 0) / 30.0;
    let shape = |harness: &mut Harness<ArenaGame>| {
        for (index, client) in harness.clients.iter_mut().enumerate() {
            let share = if index % 2 == 0 { 2.0 } else { 3.0 };
            client.link_bytes_per_tick = Some((calm / share) as u32);
        }
    };
    let (loaded, too_slow) = run(settings, shape);
    assert_eq!(too_slow, 0, "nobody is dropped");
    for index in 0..PLAYERS {
        let sent = |harness: &Harness<ArenaGame>| harness.clients[index].snapshot_bytes_sent as f64;
        let (before, after) = (sent(&unloaded), sent(&loaded));
        assert!(
            after <= before * 1.5,
            "client {index}: {after} bytes sent against {before}"
        );
        let client = &loaded.clients[index];
        assert_eq!(client.full_snapshots, 1, "client {index}");
        assert!(
            client.snapshots < TICKS / 2,
            "client {index} got {}",
            client.snapshots
        );
        assert!(
            snapshots_waiting(client) <= 2,
            "client {index}: backlog {}",
            snapshots_waiting(client)
        );
    }

    // The same overload without pacing: backlogs grow until the room gives up on the clients.
    let settings = RoomSettings {
        pace_by_acks: false,
        ..RoomSettings::default()
    };
    let (_, too_slow) = run(settings, shape);
    assert!(too_slow > 0, "clients given up on");
}

#[test]
fn a_client_that_stops_acknowledging_is_still_dropped() {
    let settings = RoomSettings {
        ack_timeout_ticks: 90,
        ..RoomSettings::default()
    };
    let mut harness = room(settings);
    harness.clients[5].link_delay = Some(10_000);
    let mut dropped = Vec::new();
    for tick in 0..200 {
        harness.step(command(tick));
        while let Some(client) = harness.room.poll_too_slow() {
            dropped.push((tick, client));
        }
    }
    let id = harness.clients[5].id;
    assert_eq!(dropped.first().map(|(_, client)| *client), Some(id));
    assert!(dropped.iter().all(|(_, client)| *client == id));
    let (tick, _) = dropped[0];
    assert!((89..=92).contains(&tick), "dropped at tick {tick}");
}
