//! Golden vectors of the card game: its messages and their exact bytes, kept in
//! `tests/golden/vectors.json` by the engine's golden-vector machinery. The browser module's
//! JavaScript codec and docs/protocol/cards.md are checked against the same file. Regenerate
//! after an intended change (with the schema version bumped) with
//! `TICKWIRE_BLESS=1 cargo test -p tickwire-cards --test golden`.

use std::path::PathBuf;

use tickwire_cards::wire::{kind, phase, refusal};
use tickwire_cards::{CardRecord, Cards, CardsEvent, CardsInput, CardsSetup, CardsStats};
use tickwire_protocol::golden::{self, Vector, client, server, snapshot};
use tickwire_protocol::{Events, Hello, Input, PROTOCOL_VERSION, Welcome};

type ClientMsg = tickwire_protocol::ClientMsg<Cards>;
type ServerMsg = tickwire_protocol::ServerMsg<Cards>;

#[test]
fn golden_vectors_match_the_wire_format() {
    golden::check(
        &vectors(),
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/vectors.json"),
        "TICKWIRE_BLESS=1 cargo test -p tickwire-cards --test golden",
    );
}

fn record(id: u32, kind: u8, slot: u8, rank: u8, suit: u8, count: u32) -> CardRecord {
    CardRecord {
        id,
        kind,
        slot,
        rank,
        suit,
        count,
    }
}

fn row(player: u32, name: &str, hand: u8, draw: u8, played: u32, rounds_won: u32) -> CardsStats {
    CardsStats {
        player,
        name: name.into(),
        hand,
        draw,
        in_round: true,
        played,
        rounds_won,
    }
}

/// The fixed list. Append rather than edit: every entry is a promise to other implementations.
fn vectors() -> Vec<Vector<Cards>> {
    // A player's full view mid-round: the table, two piles, and three cards of its own hand.
    let full = vec![
        record(1, kind::TABLE, phase::PLAYING, 0, 0, 0),
        record(2, kind::PILE, 0, 7, 2, 4),
        record(3, kind::PILE, 1, 12, 0, 9),
        record(40, kind::HAND, 0, 8, 1, 0),
        record(41, kind::HAND, 1, 1, 3, 0),
        record(44, kind::HAND, 3, 13, 0, 0),
    ];
    // One tick later: the 8 went on pile 0 and a freshly drawn card (a new id) took its slot.
    let after_play = vec![
        record(1, kind::TABLE, phase::PLAYING, 0, 0, 0),
        record(2, kind::PILE, 0, 8, 1, 5),
        record(3, kind::PILE, 1, 12, 0, 9),
        record(41, kind::HAND, 1, 1, 3, 0),
        record(44, kind::HAND, 3, 13, 0, 0),
        record(45, kind::HAND, 0, 5, 2, 0),
    ];
    vec![
        client("hello", ClientMsg::Hello(Hello::new::<Cards>("ann"))),
        client(
            "input_play",
            ClientMsg::Input(Input {
                ack_tick: 300,
                first_seq: 12,
                cmds: vec![CardsInput::default(), CardsInput { card: 40, pile: 0 }],
            }),
        ),
        server(
            "welcome",
            ServerMsg::Welcome(Welcome {
                version: PROTOCOL_VERSION,
                player: 2,
                entity: 0,
                room: "table-1".into(),
                tick_rate: 30,
                snapshot_interval: 1,
                tick: 299,
                setup: CardsSetup {
                    piles: 2,
                    hand_size: 5,
                    max_players: 4,
                    stall_ticks: 90,
                },
                resume_token: [0x5a; 16],
                resumed: false,
            }),
        ),
        snapshot(
            "snapshot_full",
            300,
            11,
            (
                vec![row(1, "bob", 5, 14, 3, 0), row(2, "ann", 3, 0, 6, 1)],
                Vec::new(),
            ),
            (Vec::new(), 0),
            full.clone(),
        ),
        snapshot(
            "snapshot_delta",
            301,
            13,
            (vec![row(2, "ann", 3, 0, 7, 1)], Vec::new()),
            (full, 1),
            after_play,
        ),
        server(
            "events_played",
            ServerMsg::Events(Events {
                tick: 301,
                events: vec![CardsEvent::Played {
                    player: 2,
                    pile: 0,
                    rank: 8,
                    suit: 1,
                }],
            }),
        ),
        server(
            "events_refused",
            ServerMsg::Events(Events {
                tick: 302,
                events: vec![
                    CardsEvent::Refused {
                        card: 44,
                        pile: 1,
                        reason: refusal::NOT_ADJACENT,
                    },
                    CardsEvent::Flipped,
                ],
            }),
        ),
        server(
            "events_round",
            ServerMsg::Events(Events {
                tick: 9_000,
                events: vec![
                    CardsEvent::RoundEnded { winner: 2 },
                    CardsEvent::RoundStarted { round: 4 },
                ],
            }),
        ),
    ]
}
