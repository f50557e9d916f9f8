//! Golden vectors: fixed arena messages and their exact bytes, kept in `tests/golden/vectors.json`
//! by the engine's golden-vector machinery (`tickwire_protocol::golden`).
//!
//! The file pins the wire format (the engine's envelope with the arena's types inside) for every
//! other implementation (the browser's JavaScript codec reads it too), so a change to the bytes
//! fails here first. When the change is intended (and the protocol or schema version bumped),
//! regenerate the file with `TICKWIRE_BLESS=1 cargo test -p tickwire-arena --test golden` and
//! review the diff.

use std::path::PathBuf;

use tickwire_arena::wire::{
    Arena, ArenaSetup, EntityState, GameEvent, InputCmd, MapInfo, MoveRules, ScoreEntry, flags,
    kind,
};
use tickwire_protocol::golden::{self, Vector, client, server, snapshot};
use tickwire_protocol::{ChatBroadcast, Events, Hello, Input, PROTOCOL_VERSION, Welcome};

type ClientMsg = tickwire_protocol::ClientMsg<Arena>;
type ServerMsg = tickwire_protocol::ServerMsg<Arena>;

#[test]
fn golden_vectors_match_the_wire_format() {
    golden::check(
        &vectors(),
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/vectors.json"),
        "TICKWIRE_BLESS=1 cargo test -p tickwire-arena --test golden",
    );
}

fn player(id: u32, x: u32, y: u32, vx: i32, vy: i32, aim: u16, health: u8) -> EntityState {
    EntityState {
        id,
        kind: kind::PLAYER,
        x,
        y,
        vx,
        vy,
        aim,
        health,
        flags: flags::ALIVE,
    }
}

/// The fixed list. Append rather than edit: every entry is a promise to other implementations.
fn vectors() -> Vec<Vector<Arena>> {
    // The full snapshot's view: a player, a projectile and an NPC.
    let full_view = vec![
        player(3, 5120, 2560, 12, -3, 256, 100),
        EntityState {
            id: 7,
            kind: kind::PROJECTILE,
            x: 6000,
            y: 2600,
            vx: 400,
            vy: 0,
            aim: 0,
            health: 0,
            flags: flags::ALIVE,
        },
        EntityState {
            id: 300,
            kind: kind::NPC,
            x: 40000,
            y: 30000,
            vx: -20,
            vy: 10,
            aim: 1000,
            health: 250,
            flags: flags::ALIVE,
        },
    ];
    // Three ticks later: the player turned and was hit, the projectile is gone, the NPC moved
    // exactly as predicted (so the body does not mention it), and a new player came into view.
    let delta_view = vec![
        player(3, 5120 + 40, 2560 - 12, 16, -5, 240, 75),
        EntityState {
            x: 40000 - 60,
            y: 30000 + 30,
            ..full_view[2]
        },
        player(301, 41000, 29000, 0, 0, 512, 100),
    ];
    let scores = vec![
        ScoreEntry {
            player: 1,
            entity: 3,
            name: "ann".into(),
            kills: 2,
            deaths: 0,
        },
        ScoreEntry {
            player: 2,
            entity: 301,
            name: "bob".into(),
            kills: 0,
            deaths: 7,
        },
    ];

    vec![
        client("hello", ClientMsg::Hello(Hello::new::<Arena>("ann"))),
        client(
            "hello_room_spectator",
            ClientMsg::Hello(Hello {
                room: Some("lobby-2_b".into()),
                spectate: true,
                ..Hello::new::<Arena>("Zoë 🚀")
            }),
        ),
        client(
            "input_empty",
            ClientMsg::Input(Input {
                ack_tick: 0,
                first_seq: 0,
                cmds: Vec::new(),
            }),
        ),
        client(
            "input_three_cmds",
            ClientMsg::Input(Input {
                ack_tick: 70_000,
                first_seq: 300,
                cmds: vec![
                    InputCmd {
                        move_x: -127,
                        move_y: 0,
                        aim: 0,
                        buttons: 0,
                        view_age: 0,
                    },
                    InputCmd {
                        move_x: 127,
                        move_y: -1,
                        aim: 16_384,
                        buttons: 1,
                        view_age: 0,
                    },
                    InputCmd {
                        move_x: -128,
                        move_y: 5,
                        aim: 65_535,
                        buttons: 0xff,
                        view_age: 0,
                    },
                ],
            }),
        ),
        client(
            "chat",
            ClientMsg::Chat {
                text: "gg, well played ☺".into(),
            },
        ),
        client("ping", ClientMsg::Ping { nonce: 1 }),
        client("ping_max_nonce", ClientMsg::Ping { nonce: u32::MAX }),
        server(
            "welcome",
            ServerMsg::Welcome(Welcome {
                version: PROTOCOL_VERSION,
                player: 2,
                entity: 3,
                room: "main".into(),
                tick_rate: 30,
                snapshot_interval: 2,
                tick: 123_456,
                setup: ArenaSetup {
                    map: MapInfo {
                        name: "arena".into(),
                        width: 64.0,
                        height: 48.0,
                        walls: vec![[0.0, 0.0, 64.0, 1.0], [10.5, 20.25, 12.0, 30.0]],
                    },
                    rules: MoveRules {
                        player_radius: 0.5,
                        max_speed: 6.0,
                        accel: 40.0,
                        friction: 30.0,
                    },
                },
                resume_token: [
                    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc,
                    0xfd, 0xfe, 0xff,
                ],
                resumed: false,
            }),
        ),
        server(
            "welcome_spectator",
            ServerMsg::Welcome(Welcome {
                version: PROTOCOL_VERSION,
                player: 0,
                entity: 0,
                room: "r".into(),
                tick_rate: 300,
                snapshot_interval: 255,
                tick: 250,
                setup: ArenaSetup {
                    map: MapInfo {
                        name: "".into(),
                        width: 0.5,
                        height: 4096.0,
                        walls: Vec::new(),
                    },
                    rules: MoveRules {
                        player_radius: 0.05,
                        max_speed: 0.0,
                        accel: 10_000.0,
                        friction: 0.1,
                    },
                },
                // Spectators hold no resumable session: the token is all zeros.
                resume_token: [0; 16],
                resumed: false,
            }),
        ),
        snapshot(
            "snapshot_small",
            251,
            0,
            (Vec::new(), Vec::new()),
            (Vec::new(), 0),
            vec![player(5, 256, 512, -2, 1, 3, 100)],
        ),
        snapshot(
            "snapshot_empty",
            1,
            0,
            (Vec::new(), Vec::new()),
            (Vec::new(), 0),
            Vec::new(),
        ),
        snapshot(
            "snapshot_full",
            100_000,
            41,
            (scores.clone(), Vec::new()),
            (Vec::new(), 0),
            full_view.clone(),
        ),
        snapshot(
            "snapshot_delta",
            100_003,
            44,
            (
                vec![ScoreEntry {
                    kills: scores[0].kills + 1,
                    ..scores[0].clone()
                }],
                vec![scores[scores.len() - 1].player],
            ),
            (full_view, 3),
            delta_view,
        ),
        server(
            "chat_broadcast",
            ServerMsg::Chat(ChatBroadcast {
                from: 2,
                name: "bob".into(),
                text: "hi all".into(),
            }),
        ),
        server(
            "pong",
            ServerMsg::Pong {
                nonce: 251,
                tick: 65_536,
            },
        ),
        server(
            "error_version_mismatch",
            ServerMsg::Error {
                code: tickwire_protocol::close::VERSION_MISMATCH,
                reason: "protocol version 2 is not supported, this server speaks 1".into(),
            },
        ),
        client(
            "hello_resume_token",
            ClientMsg::Hello(Hello {
                room: Some("main".into()),
                resume: Some([
                    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc,
                    0xfd, 0xfe, 0xff,
                ]),
                // Player 42, "ann", expiring at 2000000000, signed with the secret "test secret"
                // (docs/PROTOCOL.md shows how).
                token: Some(
                    "v1.42.2000000000.616e6e.\
                     abb2ef76963bee31d4adc9d37fc2ce3fdbf747ccebec0177634b93e9045ea1e9"
                        .into(),
                ),
                ..Hello::new::<Arena>("ann")
            }),
        ),
        client(
            "input_view_age",
            ClientMsg::Input(Input {
                ack_tick: 250,
                first_seq: 251,
                cmds: vec![
                    InputCmd {
                        move_x: 0,
                        move_y: 127,
                        aim: 300,
                        buttons: 2,
                        view_age: 4,
                    },
                    InputCmd {
                        move_x: -64,
                        move_y: 64,
                        aim: 49_152,
                        buttons: 3,
                        view_age: 255,
                    },
                ],
            }),
        ),
        server(
            "welcome_resumed",
            ServerMsg::Welcome(Welcome {
                version: PROTOCOL_VERSION,
                player: 2,
                entity: 3,
                room: "main".into(),
                tick_rate: 60,
                snapshot_interval: 1,
                tick: 9_000,
                setup: ArenaSetup {
                    map: MapInfo {
                        name: "open".into(),
                        width: 100.0,
                        height: 100.0,
                        walls: Vec::new(),
                    },
                    rules: MoveRules {
                        player_radius: 0.5,
                        max_speed: 6.0,
                        accel: 40.0,
                        friction: 30.0,
                    },
                },
                resume_token: [0xab; 16],
                resumed: true,
            }),
        ),
        server(
            "events",
            ServerMsg::Events(Events {
                tick: 100_003,
                events: vec![
                    GameEvent::Shot {
                        shooter: 3,
                        from_x: 5120,
                        from_y: 2560,
                        to_x: 41_000,
                        to_y: 29_000,
                        hit: 301,
                    },
                    GameEvent::Killed {
                        killer: 1,
                        victim: 301,
                    },
                    GameEvent::Shot {
                        shooter: 301,
                        from_x: 250,
                        from_y: 0,
                        to_x: 1_048_575,
                        to_y: 251,
                        hit: 0,
                    },
                    GameEvent::Killed {
                        killer: 0,
                        victim: 3,
                    },
                ],
            }),
        ),
        server(
            "events_empty",
            ServerMsg::Events(Events {
                tick: 1,
                events: Vec::new(),
            }),
        ),
        server(
            "error_session_replaced",
            ServerMsg::Error {
                code: tickwire_protocol::close::SESSION_REPLACED,
                reason: "session resumed by another connection".into(),
            },
        ),
    ]
}
