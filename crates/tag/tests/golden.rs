//! Golden vectors of tag: its messages and their exact bytes, kept in `tests/golden/vectors.json`
//! by the engine's golden-vector machinery. docs/protocol/tag.md is checked against the same
//! file. Regenerate after an intended change (with the schema version bumped) with
//! `TICKWIRE_BLESS=1 cargo test -p tickwire-tag --test golden`.

use std::path::PathBuf;

use tickwire_protocol::golden::{self, Vector, client, server, snapshot};
use tickwire_protocol::{Events, Hello, Input, PROTOCOL_VERSION, Welcome};
use tickwire_tag::wire::flags;
use tickwire_tag::{Runner, Tag, TagEvent, TagInput, TagSetup, TagStats};

type ClientMsg = tickwire_protocol::ClientMsg<Tag>;
type ServerMsg = tickwire_protocol::ServerMsg<Tag>;

#[test]
fn golden_vectors_match_the_wire_format() {
    golden::check(
        &vectors(),
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/vectors.json"),
        "TICKWIRE_BLESS=1 cargo test -p tickwire-tag --test golden",
    );
}

fn runner(id: u32, (x, y): (u32, u32), (vx, vy): (i32, i32), flags: u8) -> Runner {
    Runner {
        id,
        x,
        y,
        vx,
        vy,
        flags,
    }
}

fn row(player: u32, name: &str, it_seconds: u32, tags: u32) -> TagStats {
    TagStats {
        player,
        name: name.into(),
        it_seconds,
        tags,
    }
}

/// The fixed list. Append rather than edit: every entry is a promise to other implementations.
///
/// The vectors tell one story on the default field (20 x 15 m, 30 ticks per second, so a top
/// speed of 43 units per tick and a speed change of at most 7 units per tick). Ann (player 1)
/// opens room "park" at tick 0, sends command n for the step to tick n, and is chosen as "it"
/// in the first step. At tick 300 she runs east toward cat (3), who stands still; bob (2) runs
/// south-east and dan (4) south, both at a steady velocity. Then ann turns north (command 301)
/// and north-west (command 302), touches cat and passes "it" on, while dan leaves. The
/// positions are what `move_runner` gives.
fn vectors() -> Vec<Vector<Tag>> {
    let full = vec![
        runner(1, (2560, 1280), (43, 0), flags::IT),
        runner(2, (4096, 2816), (30, -30), 0),
        runner(3, (2872, 1340), (0, 0), 0),
        runner(4, (1024, 3200), (0, -43), 0),
    ];
    // Two ticks later: ann turned, bob ran on exactly along his velocity, cat is "it", dan left.
    let after_tag = vec![
        runner(1, (2629, 1292), (31, 7), flags::IMMUNE),
        runner(2, (4156, 2756), (30, -30), 0),
        runner(3, (2872, 1340), (0, 0), flags::IT),
    ];
    vec![
        client("hello", ClientMsg::Hello(Hello::new::<Tag>("ann"))),
        client(
            "input",
            ClientMsg::Input(Input {
                ack_tick: 300,
                first_seq: 301,
                cmds: vec![
                    TagInput {
                        move_x: 0,
                        move_y: 127,
                    },
                    TagInput {
                        move_x: -90,
                        move_y: 90,
                    },
                ],
            }),
        ),
        server(
            "welcome",
            ServerMsg::Welcome(Welcome {
                version: PROTOCOL_VERSION,
                player: 1,
                entity: 1,
                room: "park".into(),
                tick_rate: 30,
                snapshot_interval: 2,
                tick: 0,
                setup: TagSetup {
                    width: 20.0,
                    height: 15.0,
                    radius: 0.5,
                    speed: 5.0,
                    accel: 25.0,
                },
                resume_token: [
                    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c,
                    0x1d, 0x1e, 0x1f,
                ],
                resumed: false,
            }),
        ),
        snapshot(
            "snapshot_full",
            300,
            300,
            (
                vec![
                    row(1, "ann", 3, 1),
                    row(2, "bob", 2, 1),
                    row(3, "cat", 0, 0),
                    row(4, "dan", 1, 1),
                ],
                Vec::new(),
            ),
            (Vec::new(), 0),
            full.clone(),
        ),
        snapshot(
            "snapshot_delta",
            302,
            302,
            (vec![row(1, "ann", 3, 2)], vec![4]),
            (full, 2),
            after_tag,
        ),
        server(
            "events_tagged",
            ServerMsg::Events(Events {
                tick: 302,
                events: vec![TagEvent::Tagged { from: 1, to: 3 }],
            }),
        ),
        server(
            "events_chosen",
            ServerMsg::Events(Events {
                tick: 1,
                events: vec![TagEvent::Chosen { player: 1 }],
            }),
        ),
    ]
}
