//! The card game end to end over loopback: real servers, real bots, a spectator, and every byte
//! an opponent and a spectator receive searched for another player's cards.

use std::collections::BTreeSet;
use std::time::Duration;

use tickwire_bot::{BotOptions, run_bot};
use tickwire_cards::wire::kind;
use tickwire_cards::{Cards, CardsEvent, CardsGame};
use tickwire_net::Client;
use tickwire_protocol::{ClientMsg, Hello, Input, Replica, ServerMsg};
use tickwire_tests::start_game_server;
use tokio::time::{Instant, timeout};

fn bot(url: &str, name: &str, room: &str, seconds: f64, seed: u64) -> BotOptions {
    BotOptions {
        url: url.to_string(),
        name: name.into(),
        room: Some(room.into()),
        duration: Some(Duration::from_secs_f64(seconds)),
        seed,
        ..BotOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_and_a_spectator_play_rounds() {
    let server = start_game_server::<CardsGame>(|config| {
        config.games.insert(
            "cards".into(),
            toml::toml! { countdown_s = 0.5
            break_s = 0.5 },
        );
    })
    .await;
    let seconds = 8.0;
    let spectator = BotOptions {
        spectate: true,
        ..bot(&server.url, "watcher", "table", seconds, 9)
    };
    let players: Vec<_> = (1..=3)
        .map(|seed| {
            tokio::spawn(run_bot::<Cards>(bot(
                &server.url,
                "p",
                "table",
                seconds,
                seed,
            )))
        })
        .collect();
    let watcher = tokio::spawn(run_bot::<Cards>(spectator));
    let mut landed = 0;
    for player in players {
        let report = player.await.unwrap().expect("joins");
        assert_eq!(report.snapshot_errors, 0, "{report:?}");
        assert!(report.disconnect_reason.is_none(), "{report:?}");
        assert!(report.snapshots_per_s > 20.0, "{report:?}");
        assert!(report.game.plays_sent > 0, "{report:?}");
        assert_eq!(report.game.foreign_cards_seen, 0);
        assert!(report.game.hand_max <= 5, "{report:?}");
        landed += report.game.plays_landed;
    }
    assert!(landed >= 10, "only {landed} plays landed");
    let watcher = watcher.await.unwrap().expect("watches");
    assert_eq!(watcher.snapshot_errors, 0);
    assert_eq!(watcher.game.hand_max, 0, "a spectator holds no cards");
    assert!(watcher.game.rounds_started >= 1, "{watcher:?}");
    server.stop().await;
}

/// Reads a client's messages until `deadline`, applying snapshots; returns its hand card ids
/// seen (own records of kind HAND) and every message as decoded.
async fn listen(
    client: &mut Client<Cards>,
    deadline: Instant,
    play: bool,
) -> (BTreeSet<u32>, Vec<ServerMsg<Cards>>) {
    let mut replica = Replica::<Cards>::default();
    let mut own = BTreeSet::new();
    let mut seen = Vec::new();
    let mut seq = 1;
    while let Ok(Ok(msg)) = timeout(deadline - Instant::now(), client.recv()).await {
        if let ServerMsg::Snapshot(snapshot) = &msg {
            replica.handle_snapshot(snapshot).expect("applies");
            own.extend(
                replica
                    .view()
                    .iter()
                    .filter(|r| r.kind == kind::HAND)
                    .map(|r| r.id),
            );
            // Acknowledge (and, as a player, try a card now and then).
            let mut cmds = Vec::new();
            if play && snapshot.tick % 7 == 0 {
                let view = replica.view();
                let fit = view
                    .iter()
                    .filter(|r| r.kind == kind::HAND)
                    .find_map(|card| {
                        view.iter()
                            .filter(|r| r.kind == kind::PILE)
                            .find(|pile| tickwire_cards::fits(card.rank, pile.rank))
                            .map(|pile| tickwire_cards::CardsInput {
                                card: card.id,
                                pile: pile.slot,
                            })
                    });
                cmds.extend(fit);
            }
            let input = Input {
                ack_tick: replica.ack_tick(),
                first_seq: if cmds.is_empty() { 0 } else { seq },
                cmds,
            };
            seq += input.cmds.len() as u32;
            if client.send(&ClientMsg::Input(input)).await.is_err() {
                break;
            }
        }
        seen.push(msg);
    }
    (own, seen)
}

/// Every message an opponent and a spectator receive, decoded and searched: no hand record of
/// another player, no refusal about another player's card.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opponents_and_spectators_never_receive_a_hand() {
    let server = start_game_server::<CardsGame>(|config| {
        config
            .games
            .insert("cards".into(), toml::toml! { countdown_s = 0.2 });
    })
    .await;
    let connect = |name: &str, spectate: bool| {
        let hello = Hello {
            room: Some("secret".into()),
            spectate,
            ..Hello::new::<Cards>(name)
        };
        Client::<Cards>::connect(&server.url, hello, Duration::from_secs(5))
    };
    let mut alice = connect("alice", false).await.expect("joins");
    let mut bob = connect("bob", false).await.expect("joins");
    let mut eve = connect("eve", true).await.expect("watches");
    let deadline = Instant::now() + Duration::from_secs(5);
    let (a, b, e) = tokio::join!(
        listen(&mut alice, deadline, true),
        listen(&mut bob, deadline, true),
        listen(&mut eve, deadline, false),
    );
    let (alice_cards, _) = a;
    let (bob_cards, bob_msgs) = b;
    let (eve_cards, eve_msgs) = e;
    assert!(
        !alice_cards.is_empty() && !bob_cards.is_empty(),
        "cards were dealt"
    );
    assert!(
        alice_cards.is_disjoint(&bob_cards),
        "bob received alice's cards: {:?}",
        alice_cards.intersection(&bob_cards).collect::<Vec<_>>()
    );
    assert!(
        eve_cards.is_empty(),
        "the spectator received hand cards {eve_cards:?}"
    );
    for msg in bob_msgs.iter().chain(&eve_msgs) {
        if let ServerMsg::Events(events) = msg {
            for event in &events.events {
                if let CardsEvent::Refused { card, .. } = event {
                    assert!(
                        !alice_cards.contains(card),
                        "heard about alice's card {card}"
                    );
                }
            }
        }
    }
    assert!(
        eve_msgs
            .iter()
            .any(|msg| matches!(msg, ServerMsg::Events(events) if events.events.iter().any(|e| matches!(e, CardsEvent::Played { .. })))),
        "the spectator saw cards land on the piles"
    );
    server.stop().await;
}

/// A client of another game, or of another version of this game's types, is refused before
/// anything else with close code 4011 and a reason that names both.
#[tokio::test]
async fn a_client_of_another_game_or_schema_is_refused() {
    let arena = tickwire_tests::start_server(|_| {}).await;
    let refused = Client::<Cards>::connect(
        &arena.url,
        Hello::new::<Cards>("lost"),
        Duration::from_secs(5),
    )
    .await
    .expect_err("an arena server refuses a cards client");
    let tickwire_net::ClientError::Closed(info) = refused else {
        panic!("expected a close, got {refused:?}");
    };
    assert_eq!(info.code, tickwire_protocol::close::GAME_MISMATCH);
    assert!(
        info.reason.contains("arena") && info.reason.contains("cards"),
        "{}",
        info.reason
    );
    arena.stop().await;

    let cards = start_game_server::<CardsGame>(|_| {}).await;
    let old = Hello {
        schema: 0,
        ..Hello::new::<Cards>("old")
    };
    let refused = Client::<Cards>::connect(&cards.url, old, Duration::from_secs(5))
        .await
        .expect_err("another schema version is refused");
    let tickwire_net::ClientError::Closed(info) = refused else {
        panic!("expected a close, got {refused:?}");
    };
    assert_eq!(info.code, tickwire_protocol::close::GAME_MISMATCH);
    assert!(info.reason.contains("schema 0"), "{}", info.reason);
    cards.stop().await;
}
