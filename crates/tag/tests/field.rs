//! Tag in the engine's in-memory harness: scripted players chase each other through the real
//! room, and every check reads what the clients decoded.

use tickwire_net::Game;
use tickwire_net::harness::Harness;
use tickwire_net::room::RoomSettings;
use tickwire_protocol::{ServerMsg, decode_server, quant};
use tickwire_sim::{PlayerId, Simulation, Vec2};
use tickwire_tag::wire::flags;
use tickwire_tag::{Runner, TagConfig, TagEvent, TagGame, TagInput, motion_of};

const TICK_RATE: u32 = 30;

/// A room of tag with `players` joined, not stepped yet.
fn field(players: usize, seed: u64, config: &TagConfig) -> Harness<TagGame> {
    let config = TagGame::configure(config.clone()).expect("a valid config");
    let game = TagGame::new(&config, TICK_RATE, seed);
    let mut harness = Harness::new(RoomSettings::default(), game);
    for index in 0..players {
        harness.join(&format!("p{index}"), false);
    }
    harness
}

/// The player id of client `index`.
fn player(harness: &Harness<TagGame>, index: usize) -> u32 {
    harness.clients[index].joined.player.expect("a player").0
}

/// Runner `id` as client `index` last decoded it.
fn runner(harness: &Harness<TagGame>, index: usize, id: u32) -> Runner {
    *harness.clients[index]
        .replica
        .entity(id)
        .expect("the runner is in view")
}

/// The client index of "it", as client 0 sees it.
fn it_index(harness: &Harness<TagGame>) -> usize {
    (0..harness.clients.len())
        .find(|&index| runner(harness, 0, player(harness, index)).flags & flags::IT != 0)
        .expect("someone is it")
}

/// Full speed from `from` toward `to`.
fn toward(from: Vec2, to: Vec2) -> TagInput {
    let direction = (to - from).normalize_or_zero();
    TagInput {
        move_x: quant::axis_to_wire(direction.x),
        move_y: quant::axis_to_wire(direction.y),
    }
}

/// One tick in which client `chaser` runs at client `target` (as the chaser sees it) and
/// everyone else stands still.
fn chase_tick(harness: &mut Harness<TagGame>, chaser: usize, target: usize) {
    let me = motion_of(&runner(harness, chaser, player(harness, chaser))).0;
    let them = motion_of(&runner(harness, chaser, player(harness, target))).0;
    for index in 0..harness.clients.len() {
        let cmd = if index == chaser {
            toward(me, them)
        } else {
            TagInput::default()
        };
        harness.send(index, vec![cmd]);
    }
    harness.tick();
}

/// Every tag client `index` heard, as (tick, from, to).
fn tags_heard(harness: &Harness<TagGame>, index: usize) -> Vec<(u32, u32, u32)> {
    harness.clients[index]
        .events
        .iter()
        .filter_map(|(tick, event)| match event {
            TagEvent::Tagged { from, to } => Some((*tick, *from, *to)),
            TagEvent::Chosen { .. } => None,
        })
        .collect()
}

/// Steps until the first tag and returns (the tagger's index, the tagged one's, the tick).
fn chase_until_tagged(harness: &mut Harness<TagGame>) -> (usize, usize, u32) {
    harness.step(TagInput::default());
    let chaser = it_index(harness);
    let target = (chaser + 1) % harness.clients.len();
    for _ in 0..TICK_RATE * 20 {
        chase_tick(harness, chaser, target);
        if let Some(&(tick, _, _)) = tags_heard(harness, 0).first() {
            return (chaser, target, tick);
        }
    }
    panic!("no tag in 20 seconds of chasing");
}

#[test]
fn touching_a_runner_passes_it_on() {
    let mut harness = field(2, 3, &TagConfig::default());
    let (chaser, target, _) = chase_until_tagged(&mut harness);
    let (from, to) = (player(&harness, chaser), player(&harness, target));
    for index in 0..2 {
        let heard: Vec<(u32, u32)> = tags_heard(&harness, index)
            .iter()
            .map(|&(_, from, to)| (from, to))
            .collect();
        assert_eq!(heard, [(from, to)], "client {index}");
    }
    // Both clients' views agree: the tagged runner is it, the tagger is immune.
    assert_eq!(runner(&harness, 1, to).flags, flags::IT);
    assert_eq!(runner(&harness, 1, from).flags, flags::IMMUNE);
    // The stats table counts the tag.
    let tags: Vec<(u32, u32)> = harness.clients[0]
        .replica
        .scores()
        .iter()
        .map(|row| (row.player, row.tags))
        .collect();
    assert!(
        tags.contains(&(from, 1)) && tags.contains(&(to, 0)),
        "{tags:?}"
    );
}

#[test]
fn the_tagger_cannot_be_tagged_back_until_its_immunity_ends() {
    let mut harness = field(2, 3, &TagConfig::default());
    let (old_it, new_it, tagged_at) = chase_until_tagged(&mut harness);
    let immunity = harness.room.game().immunity_ticks();
    assert_eq!(immunity, TICK_RATE, "one second at 30 Hz");
    // The two still touch; the new "it" keeps running at the old one, who stands still.
    for _ in 0..immunity + 5 {
        chase_tick(&mut harness, new_it, old_it);
    }
    let tags = tags_heard(&harness, 0);
    assert_eq!(tags.len(), 2, "{tags:?}");
    let (tagged_back_at, from, to) = tags[1];
    assert_eq!(
        (from, to),
        (player(&harness, new_it), player(&harness, old_it))
    );
    assert!(
        tagged_back_at - tagged_at >= immunity,
        "tagged back after {} ticks",
        tagged_back_at - tagged_at
    );
    // They were touching all along, so it happened the first tick it was allowed.
    assert_eq!(tagged_back_at - tagged_at, immunity);
}

#[test]
fn when_it_leaves_someone_still_here_is_it() {
    let mut harness = field(3, 5, &TagConfig::default());
    harness.step(TagInput::default());
    let leaving = it_index(&harness);
    let gone = player(&harness, leaving);
    assert!(harness.room.handle_leave(harness.clients[leaving].id));
    harness.clients.remove(leaving);
    harness.step(TagInput::default());

    let remaining = [player(&harness, 0), player(&harness, 1)];
    let chosen: Vec<u32> = harness.clients[0]
        .events
        .iter()
        .filter_map(|(_, event)| match event {
            TagEvent::Chosen { player } => Some(*player),
            TagEvent::Tagged { .. } => None,
        })
        .collect();
    assert_eq!(chosen.len(), 2, "the first choice and the new one");
    assert_eq!(chosen[0], gone);
    assert!(remaining.contains(&chosen[1]), "{chosen:?}");
    // The view no longer holds the runner that left, and exactly one runner is it.
    let view = harness.clients[0].replica.view();
    assert_eq!(view.len(), 2);
    let its: Vec<u32> = view
        .iter()
        .filter(|runner| runner.flags & flags::IT != 0)
        .map(|runner| runner.id)
        .collect();
    assert_eq!(its, [chosen[1]]);
    assert_eq!(harness.room.game().it(), Some(PlayerId(chosen[1])));
}

#[test]
fn time_as_it_is_counted_in_whole_seconds() {
    let mut harness = field(2, 1, &TagConfig::default());
    // Far apart on a big field, nobody moving: whoever is chosen stays it.
    for _ in 0..TICK_RATE * 3 + 1 {
        harness.step(TagInput::default());
    }
    let it = player(&harness, it_index(&harness));
    for row in harness.clients[1].replica.scores() {
        let expected = if row.player == it { 3 } else { 0 };
        assert_eq!(row.it_seconds, expected, "{row:?}");
    }
}

/// Every client runs one simple policy from what it decoded: "it" chases the nearest runner,
/// everyone else circles.
fn scripted_tick(harness: &mut Harness<TagGame>, tick: u32) {
    for index in 0..harness.clients.len() {
        let own = player(harness, index);
        let view = harness.clients[index].replica.view();
        let cmd = match view.iter().find(|runner| runner.id == own) {
            Some(me) if me.flags & flags::IT != 0 => {
                let here = motion_of(me).0;
                view.iter()
                    .filter(|runner| runner.id != own && runner.flags & flags::IMMUNE == 0)
                    .map(|runner| motion_of(runner).0)
                    .min_by(|a, b| a.distance(here).total_cmp(&b.distance(here)))
                    .map_or(TagInput::default(), |target| toward(here, target))
            }
            _ => {
                let angle = (tick / 10 + index as u32 * 3) as f32 * 0.7;
                TagInput {
                    move_x: quant::axis_to_wire(angle.cos()),
                    move_y: quant::axis_to_wire(angle.sin()),
                }
            }
        };
        harness.send(index, vec![cmd]);
    }
    harness.tick();
}

#[test]
fn same_seed_same_commands_same_game() {
    let small = TagConfig {
        width: 10.0,
        height: 8.0,
        ..TagConfig::default()
    };
    let run = |seed| {
        let mut harness = field(4, seed, &small);
        let mut hashes = Vec::new();
        for tick in 0..TICK_RATE * 30 {
            scripted_tick(&mut harness, tick);
            hashes.push(harness.room.game().state_hash());
        }
        (hashes, tags_heard(&harness, 0).len())
    };
    let (first, tags) = run(7);
    assert!(tags >= 3, "the run should exercise tagging: {tags} tags");
    assert_eq!(first, run(7).0);
    assert_ne!(first, run(8).0);
}

#[test]
fn runners_at_a_steady_velocity_cost_nothing() {
    let mut harness = field(3, 2, &TagConfig::default());
    harness.keep_bytes = true;
    // Everyone runs at the same slow diagonal... until the first edge; a few ticks are enough.
    let drift = TagInput {
        move_x: 10,
        move_y: 5,
    };
    for _ in 0..20 {
        harness.step(drift);
    }
    let mut bodies = Vec::new();
    for bytes in &harness.clients[0].received_bytes {
        if let ServerMsg::Snapshot(snapshot) = decode_server::<tickwire_tag::Tag>(bytes).unwrap() {
            bodies.push(snapshot.body.len());
        }
    }
    // The first snapshot is full; then the runners accelerate (a few bytes); once at their
    // steady velocity nothing is sent for them: three empty sections fit in one byte.
    assert!(bodies[0] > 10, "{bodies:?}");
    assert!(bodies[12..].iter().all(|&len| len == 1), "{bodies:?}");
}
