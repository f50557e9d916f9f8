//! Golden vectors: fixed arena messages and their exact bytes, kept in `tests/golden/vectors.json`.
//!
//! The file pins the wire format (the engine's envelope with the arena's types inside) for every
//! other implementation (the browser's JavaScript codec reads it too), so a change to the bytes
//! fails here first. When the change is intended (and the protocol or schema version bumped),
//! regenerate the file with `TICKWIRE_BLESS=1 cargo test -p tickwire-arena --test golden` and
//! review the diff.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;
use tickwire_arena::wire::{
    Arena, ArenaSetup, EntityState, GameEvent, InputCmd, MapInfo, MoveRules, ScoreEntry, flags,
    kind,
};
use tickwire_protocol::bits::BitWriter;
use tickwire_protocol::{
    ChatBroadcast, Events, Hello, Input, PROTOCOL_VERSION, Snapshot, Welcome, decode_client,
    decode_server, delta, encode_client, encode_server,
};

type ClientMsg = tickwire_protocol::ClientMsg<Arena>;
type ServerMsg = tickwire_protocol::ServerMsg<Arena>;

#[test]
fn golden_vectors_match_the_wire_format() {
    let vectors = vectors();
    let expected = render(&vectors);
    let path = vectors_path();

    if std::env::var_os("TICKWIRE_BLESS").is_some_and(|value| value == "1") {
        std::fs::create_dir_all(path.parent().expect("the path has a parent"))
            .expect("create tests/golden");
        std::fs::write(&path, &expected).expect("write the golden vectors");
        eprintln!(
            "blessed {} golden vectors into {}",
            vectors.len(),
            path.display()
        );
    }

    let actual = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}\n{}", path.display(), BLESS_HINT));
    if actual != expected {
        let file: Vec<Value> = serde_json::from_str(&actual).unwrap_or_default();
        let mut differing = Vec::new();
        for vector in &vectors {
            let stored = file.iter().find(|entry| entry["name"] == vector.name);
            let rendered: Value =
                serde_json::from_str(&render(std::slice::from_ref(vector))).expect("valid JSON");
            if stored != Some(&rendered[0]) {
                differing.push(vector.name);
            }
        }
        panic!(
            "the wire format changed: the encoder no longer produces {} \
             (vectors that differ or are missing: {differing:?}).\n{}",
            path.display(),
            BLESS_HINT
        );
    }
    // The bytes are what the encoder makes; now check that they also decode to their message
    // and that every snapshot body turns its baseline into its view.
    check_file(&actual);
}

const BLESS_HINT: &str = "If the change is intended, bump PROTOCOL_VERSION, update \
    docs/PROTOCOL.md and assets/web/protocol.js, then regenerate the vectors with \
    `TICKWIRE_BLESS=1 cargo test -p tickwire-arena --test golden` and review the diff.";

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/vectors.json")
}

/// One golden vector: a message, its bytes, and for snapshots the views the body relates.
struct Vector {
    name: &'static str,
    message: Message,
    /// For snapshots: the view the body is relative to (empty for a full snapshot) and the view
    /// it decodes to.
    views: Option<(Vec<EntityState>, Vec<EntityState>)>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Message {
    Client(ClientMsg),
    Server(ServerMsg),
}

impl Message {
    fn direction(&self) -> &'static str {
        match self {
            Message::Client(_) => "client",
            Message::Server(_) => "server",
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        match self {
            Message::Client(msg) => encode_client(msg, &mut bytes),
            Message::Server(msg) => encode_server(msg, &mut bytes),
        }
        bytes
    }
}

fn entity_from_json(value: &Value) -> EntityState {
    serde_json::from_value(value.clone())
        .unwrap_or_else(|error| panic!("entity {value} does not parse: {error}"))
}

/// Renders the vectors as JSON, one key per line and one entity per line, so diffs are readable.
fn render(vectors: &[Vector]) -> String {
    let mut out = String::from("[\n");
    for (index, vector) in vectors.iter().enumerate() {
        out.push_str("  {\n");
        let _ = writeln!(out, "    \"name\": {},", compact(vector.name));
        let _ = writeln!(
            out,
            "    \"direction\": {},",
            compact(vector.message.direction())
        );
        let _ = write!(
            out,
            "    \"hex\": {},\n    \"message\": {}",
            compact(&hex(&vector.message.encode())),
            compact(&vector.message)
        );
        if let Some((baseline, view)) = &vector.views {
            for (key, states) in [("baseline", baseline), ("view", view)] {
                let _ = write!(out, ",\n    \"{key}\": [");
                for (position, state) in states.iter().enumerate() {
                    let separator = if position == 0 { "" } else { "," };
                    let _ = write!(out, "{separator}\n      {}", compact(state));
                }
                out.push_str(if states.is_empty() { "]" } else { "\n    ]" });
            }
        }
        out.push_str(if index + 1 == vectors.len() {
            "\n  }\n"
        } else {
            "\n  },\n"
        });
    }
    out.push_str("]\n");
    out
}

fn compact<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("serializable")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).expect("hex digit"))
        .collect()
}

/// Checks every vector in the file on its own terms: its bytes decode to its message, the
/// message re-encodes to its bytes, and a snapshot's body turns its baseline into its view.
fn check_file(text: &str) {
    let file: Vec<Value> = serde_json::from_str(text).expect("vectors.json is a JSON array");
    assert!(!file.is_empty(), "vectors.json holds no vectors");
    for entry in &file {
        let name = entry["name"].as_str().expect("a vector has a name");
        let bytes = unhex(entry["hex"].as_str().expect("a vector has hex"));
        let message = entry["message"].clone();
        match entry["direction"].as_str() {
            Some("client") => {
                let expected: ClientMsg = serde_json::from_value(message)
                    .unwrap_or_else(|error| panic!("{name}: message is not a ClientMsg: {error}"));
                assert_eq!(
                    decode_client(&bytes),
                    Ok(expected.clone()),
                    "{name}: decode"
                );
                let mut encoded = Vec::new();
                encode_client(&expected, &mut encoded);
                assert_eq!(hex(&encoded), hex(&bytes), "{name}: encode");
            }
            Some("server") => {
                let expected: ServerMsg = serde_json::from_value(message)
                    .unwrap_or_else(|error| panic!("{name}: message is not a ServerMsg: {error}"));
                assert_eq!(
                    decode_server(&bytes),
                    Ok(expected.clone()),
                    "{name}: decode"
                );
                let mut encoded = Vec::new();
                encode_server(&expected, &mut encoded);
                assert_eq!(hex(&encoded), hex(&bytes), "{name}: encode");
                if let ServerMsg::Snapshot(snapshot) = &expected {
                    check_snapshot(name, snapshot, entry);
                }
            }
            other => panic!("{name}: direction {other:?} is neither client nor server"),
        }
    }
}

fn check_snapshot(name: &str, snapshot: &Snapshot<ScoreEntry>, entry: &Value) {
    let states = |key: &str| -> Vec<EntityState> {
        entry[key]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: snapshot vector without {key}"))
            .iter()
            .map(entity_from_json)
            .collect()
    };
    let baseline = states("baseline");
    let view = states("view");
    let mut decoded = Vec::new();
    delta::decode(
        &baseline,
        snapshot.baseline_age as u32,
        &snapshot.body,
        &mut decoded,
    )
    .unwrap_or_else(|error| panic!("{name}: body does not decode: {error}"));
    assert_eq!(decoded, view, "{name}: decoded view");
    assert_eq!(
        delta::checksum(&view),
        snapshot.checksum,
        "{name}: checksum"
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

/// A snapshot whose body encodes `view` against `baseline`, `age` ticks older.
#[allow(clippy::too_many_arguments)] // one argument per field of the vector
fn snapshot_vector(
    name: &'static str,
    tick: u32,
    last_input: u32,
    scores: Vec<ScoreEntry>,
    scores_removed: Vec<u32>,
    baseline: Vec<EntityState>,
    age: u8,
    view: Vec<EntityState>,
) -> Vector {
    let mut body = BitWriter::default();
    delta::encode(&baseline, &view, age as u32, &mut body);
    Vector {
        name,
        message: Message::Server(ServerMsg::Snapshot(Snapshot {
            tick,
            baseline_age: age,
            last_input,
            checksum: delta::checksum(&view),
            scores,
            scores_removed,
            body: body.as_bytes().to_vec(),
        })),
        views: Some((baseline, view)),
    }
}

fn client(name: &'static str, msg: ClientMsg) -> Vector {
    Vector {
        name,
        message: Message::Client(msg),
        views: None,
    }
}

fn server(name: &'static str, msg: ServerMsg) -> Vector {
    Vector {
        name,
        message: Message::Server(msg),
        views: None,
    }
}

/// The fixed list. Append rather than edit: every entry is a promise to other implementations.
fn vectors() -> Vec<Vector> {
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
        snapshot_vector(
            "snapshot_small",
            251,
            0,
            Vec::new(),
            Vec::new(),
            Vec::new(),
            0,
            vec![player(5, 256, 512, -2, 1, 3, 100)],
        ),
        snapshot_vector(
            "snapshot_empty",
            1,
            0,
            Vec::new(),
            Vec::new(),
            Vec::new(),
            0,
            Vec::new(),
        ),
        snapshot_vector(
            "snapshot_full",
            100_000,
            41,
            scores.clone(),
            Vec::new(),
            Vec::new(),
            0,
            full_view.clone(),
        ),
        snapshot_vector(
            "snapshot_delta",
            100_003,
            44,
            vec![ScoreEntry {
                kills: scores[0].kills + 1,
                ..scores[0].clone()
            }],
            vec![scores[scores.len() - 1].player],
            full_view,
            3,
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
