//! The card game in the engine's in-memory harness: whole rounds played by simple scripted
//! players, the secrecy of hands checked on every byte other clients receive, and determinism.

use std::collections::BTreeSet;

use tickwire_cards::wire::{kind, phase};
use tickwire_cards::{CardRecord, Cards, CardsEvent, CardsGame, CardsInput, CardsSettings, fits};
use tickwire_net::Game;
use tickwire_net::harness::Harness;
use tickwire_net::room::RoomSettings;
use tickwire_protocol::{Replica, ServerMsg, decode_server};
use tickwire_sim::{PlayerId, Simulation};

const TICK_RATE: u32 = 30;

fn table(players: usize, spectators: usize, seed: u64) -> Harness<CardsGame> {
    let game = CardsGame::new(&CardsSettings::default(), TICK_RATE, seed);
    let mut harness = Harness::new(RoomSettings::default(), game);
    for index in 0..players {
        harness.join(&format!("p{index}"), false);
    }
    for index in 0..spectators {
        harness.join(&format!("s{index}"), true);
    }
    harness
}

/// A scripted player: every `patience` ticks, the first card of its hand that fits a pile.
fn choose(replica: &Replica<Cards>, tick: u32, patience: u32) -> CardsInput {
    if !tick.is_multiple_of(patience) {
        return CardsInput::default();
    }
    let view = replica.view();
    let piles: Vec<&CardRecord> = view.iter().filter(|r| r.kind == kind::PILE).collect();
    view.iter()
        .filter(|r| r.kind == kind::HAND)
        .find_map(|card| {
            piles
                .iter()
                .find(|pile| fits(card.rank, pile.rank))
                .map(|pile| CardsInput {
                    card: card.id,
                    pile: pile.slot,
                })
        })
        .unwrap_or_default()
}

/// One tick: every player sends its choice, the room ticks, messages are delivered.
fn play_tick(harness: &mut Harness<CardsGame>, tick: u32) {
    for index in 0..harness.clients.len() {
        let client = &harness.clients[index];
        let cmds = if client.spectator {
            Vec::new()
        } else {
            // Different speeds, so the players race each other.
            vec![choose(&client.replica, tick, 2 + index as u32)]
        };
        harness.send(index, cmds);
    }
    harness.tick();
    assert!(harness.room.game().cards_conserved(), "tick {tick}");
}

#[test]
fn scripted_players_finish_rounds() {
    let mut harness = table(3, 1, 11);
    for tick in 0..TICK_RATE * 90 {
        play_tick(&mut harness, tick);
    }
    let game = harness.room.game();
    assert!(game.rounds() >= 2, "rounds {}", game.rounds());
    // Everyone (the spectator too) heard every round start and end, and the table agrees.
    let spectator = harness.clients.last().unwrap();
    let ended = spectator
        .events
        .iter()
        .filter(|(_, event)| matches!(event, CardsEvent::RoundEnded { winner } if *winner != 0))
        .count();
    assert!(ended >= 1, "{:?}", spectator.events);
    let won: u32 = spectator
        .replica
        .scores()
        .iter()
        .map(|row| row.rounds_won)
        .sum();
    assert_eq!(won as usize, ended);
    // Every landed play was heard by everyone, with the card that is now public.
    let played = spectator
        .events
        .iter()
        .filter(|(_, event)| matches!(event, CardsEvent::Played { .. }))
        .count();
    let total: u32 = spectator
        .replica
        .scores()
        .iter()
        .map(|row| row.played)
        .sum();
    assert_eq!(played, total as usize);
}

/// Decodes every byte an opponent and a spectator receive and finds no card of another hand:
/// no hand record but the receiver's own, no id that was ever in another hand, no event about
/// another player's hand but the public Played.
#[test]
fn no_client_ever_receives_another_players_hand() {
    let mut harness = table(3, 1, 5);
    harness.keep_bytes = true;
    let players: Vec<PlayerId> = harness
        .clients
        .iter()
        .filter_map(|client| client.joined.player)
        .collect();
    // Every hand card id each player ever held, and every (tick, holder) pair.
    let mut held_by: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); players.len()];
    for tick in 0..TICK_RATE * 60 {
        play_tick(&mut harness, tick);
        for (index, &player) in players.iter().enumerate() {
            held_by[index].extend(harness.room.game().hand(player).iter().map(|card| card.0));
        }
    }
    assert!(harness.room.game().rounds() >= 1);

    for (index, client) in harness.clients.iter().enumerate() {
        // Replay this client's bytes from the start with a fresh replica.
        let mut replica = Replica::<Cards>::default();
        let mut hand_records = 0;
        for bytes in &client.received_bytes {
            match decode_server::<Cards>(bytes).expect("every byte decodes") {
                ServerMsg::Snapshot(snapshot) => {
                    replica.handle_snapshot(&snapshot).expect("applies");
                    for record in replica.view() {
                        if record.kind != kind::HAND {
                            continue;
                        }
                        hand_records += 1;
                        assert!(
                            !client.spectator,
                            "a spectator received hand card {record:?}"
                        );
                        for (other, ids) in held_by.iter().enumerate() {
                            if other != index {
                                assert!(
                                    !ids.contains(&record.id),
                                    "client {index} received card {} of player {other}",
                                    record.id
                                );
                            }
                        }
                        assert!(held_by[index].contains(&record.id));
                    }
                    // The public stats say how many cards others hold, never which.
                    for row in &snapshot.scores {
                        assert!(row.hand as usize <= CardsSettings::default().hand_size as usize);
                    }
                }
                ServerMsg::Events(events) => {
                    for event in &events.events {
                        if let CardsEvent::Refused { card, .. } = event {
                            assert!(
                                !client.spectator && held_by[index].contains(card)
                                    || !held_by.iter().any(|ids| ids.contains(card)),
                                "client {index} heard a refusal about card {card}"
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        if !client.spectator {
            assert!(hand_records > 0, "player {index} saw its own hand");
        }
    }
}

#[test]
fn same_seed_same_plays_same_table() {
    let run = |seed| {
        let mut harness = table(2, 0, seed);
        let mut hashes = Vec::new();
        for tick in 0..TICK_RATE * 20 {
            play_tick(&mut harness, tick);
            hashes.push(harness.room.game().state_hash());
        }
        hashes
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}

#[test]
fn the_table_counts_down_only_with_two_players() {
    let mut harness = table(1, 0, 1);
    for tick in 0..TICK_RATE * 5 {
        play_tick(&mut harness, tick);
    }
    let table_phase = |harness: &Harness<CardsGame>| {
        harness.clients[0]
            .replica
            .view()
            .iter()
            .find(|r| r.kind == kind::TABLE)
            .map(|r| r.slot)
    };
    assert_eq!(table_phase(&harness), Some(phase::WAITING));
    assert_eq!(harness.room.game().rounds(), 0);
    harness.join("second", false);
    for tick in 0..TICK_RATE * 5 {
        play_tick(&mut harness, tick);
    }
    assert_eq!(harness.room.game().rounds(), 1);
    assert_eq!(table_phase(&harness), Some(phase::PLAYING));
}
