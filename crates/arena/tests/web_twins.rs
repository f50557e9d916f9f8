//! The arena's twins in its browser module (crates/arena/web): values and behaviour both sides
//! must agree on, written by this test from the Rust definitions into `tests/twins/*.json`,
//! which the JavaScript tests compare against.
//!
//! - `constants.json`: the game's name and schema version, the entity kinds, flags and input
//!   buttons, WALLS_MAX (web/wire.test.mjs);
//! - `movement.json`: traces of [`move_player`] (the map, rules, tick rate and commands of each,
//!   and every step's position and velocity as f32 bits) over varied commands, walls, map edges
//!   and extreme rules, plus samples of rule sanitizing; web/movement.test.mjs replays them
//!   through the JavaScript port and requires bit-for-bit equality.
//!
//! When a value changes on purpose, regenerate with
//! `TICKWIRE_BLESS=1 cargo test -p tickwire-arena --test web_twins`, update the JavaScript side,
//! and review the diff.

use std::path::PathBuf;

use serde_json::{Value, json};
use tickwire_arena::client::rules_from_wire;
use tickwire_arena::convert::{input_from_wire, map_from_info, map_info};
use tickwire_arena::wire::{WALLS_MAX, buttons, flags, kind};
use tickwire_arena::{
    Arena, BUTTON_FIRE, BUTTON_HITSCAN, InputCmd, KNOWN_BUTTONS, Map, MapInfo, MoveRules,
    move_player,
};
use tickwire_protocol::Schema;
use tickwire_sim::Vec2;

#[test]
fn constants_match_the_committed_twin() {
    check_twin("constants.json", &render(&constants()));
}

#[test]
fn movement_trace_matches_the_committed_twin() {
    check_twin("movement.json", &render(&movement()));
}

/// The constants of each module of wire.rs the browser mirrors, by name.
fn wire_modules() -> Vec<(&'static str, Vec<(&'static str, u8)>)> {
    vec![
        (
            "kind",
            vec![
                ("PLAYER", kind::PLAYER),
                ("PROJECTILE", kind::PROJECTILE),
                ("NPC", kind::NPC),
                ("MAX", kind::MAX),
            ],
        ),
        ("flags", vec![("ALIVE", flags::ALIVE), ("ALL", flags::ALL)]),
        (
            "buttons",
            vec![("FIRE", buttons::FIRE), ("HITSCAN", buttons::HITSCAN)],
        ),
    ]
}

/// The lists above are written by hand; this keeps them complete: every `pub const` inside
/// `pub mod kind`, `flags` and `buttons` of wire.rs must be listed.
#[test]
fn every_wire_constant_has_a_twin() {
    let source = include_str!("../src/wire.rs");
    for (module, listed) in wire_modules() {
        let start = source
            .find(&format!("pub mod {module} {{"))
            .unwrap_or_else(|| panic!("wire.rs has no `pub mod {module}`"));
        let body = &source[start..];
        let body = &body[..body.find("\n}").expect("the module ends")];
        let mut declared: Vec<&str> = body
            .lines()
            .filter_map(|line| line.trim().strip_prefix("pub const "))
            .filter_map(|rest| rest.split(':').next())
            .collect();
        declared.sort_unstable();
        let mut names: Vec<&str> = listed.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        assert_eq!(declared, names, "wire.rs `mod {module}`");
    }
    // The simulation's button bits are the wire's.
    assert_eq!(BUTTON_FIRE, buttons::FIRE);
    assert_eq!(BUTTON_HITSCAN, buttons::HITSCAN);
    assert_eq!(KNOWN_BUTTONS, buttons::FIRE | buttons::HITSCAN);
}

fn constants() -> Value {
    let mut modules = serde_json::Map::new();
    for (module, values) in wire_modules() {
        let values: serde_json::Map<String, Value> = values
            .into_iter()
            .map(|(name, value)| (name.to_string(), json!(value)))
            .collect();
        modules.insert(module.to_string(), Value::Object(values));
    }
    json!({
        "name": Arena::NAME,
        "schema_version": Arena::VERSION,
        "walls_max": WALLS_MAX,
        "wire": modules,
    })
}

// ---------------------------------------------------------------------------------------------
// Movement traces.

/// One trace: a map, rules and tick rate, a start, and the commands to apply.
struct Trace {
    name: &'static str,
    map: MapInfo,
    rules: MoveRules,
    tick_rate: u32,
    start: (Vec2, Vec2),
    commands: Vec<(i8, i8)>,
}

const DEFAULT_RULES: MoveRules = MoveRules {
    player_radius: 0.5,
    max_speed: 6.0,
    accel: 40.0,
    friction: 30.0,
};

fn map(name: &str, width: f32, height: f32, walls: &[[f32; 4]]) -> MapInfo {
    MapInfo {
        name: name.into(),
        width,
        height,
        walls: walls.to_vec(),
    }
}

/// Commands held for a while each, from a small PRNG: full axes, -128, partial and diagonal
/// values, and idle stretches (friction).
fn commands(seed: u32, count: usize) -> Vec<(i8, i8)> {
    const AXES: [i8; 9] = [127, -127, -128, 0, 0, 90, -64, 1, 127];
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let hold = 1 + (next() % 25) as usize;
        let command = if next() % 6 == 0 {
            (0, 0)
        } else {
            (AXES[(next() % 9) as usize], AXES[(next() % 9) as usize])
        };
        out.extend(std::iter::repeat_n(command, hold.min(count - out.len())));
    }
    out
}

fn traces() -> Vec<Trace> {
    let walled = map(
        "walled",
        40.0,
        30.0,
        &[
            [10.0, 5.0, 12.0, 25.0],
            [20.0, 14.0, 35.0, 16.0],
            [25.0, 0.0, 26.0, 8.0],
        ],
    );
    // The old fixed pattern (the frozen hash this trace replaces), then a random stretch.
    let mut walled_commands: Vec<(i8, i8)> = (0..600)
        .map(|step| {
            if (step / 45) % 7 == 6 {
                (0, 0)
            } else {
                (
                    [127, 0, -127, 90, 127][(step / 20) % 5],
                    [0, 127, -64, -128][(step / 15) % 4],
                )
            }
        })
        .collect();
    walled_commands.extend(commands(7, 400));
    vec![
        Trace {
            name: "walled_30hz",
            map: walled,
            rules: DEFAULT_RULES,
            tick_rate: 30,
            start: (Vec2::new(5.0, 5.0), Vec2::ZERO),
            commands: walled_commands,
        },
        Trace {
            name: "arena_60hz",
            map: map_info(&Map::builtin("arena").expect("arena is built in")),
            rules: DEFAULT_RULES,
            tick_rate: 60,
            start: (Vec2::new(4.0, 4.0), Vec2::ZERO),
            commands: commands(42, 900),
        },
        Trace {
            // Tiny and fast: many sub-steps, thin walls, corners.
            name: "fast_small_20hz",
            map: map(
                "thin",
                30.0,
                20.0,
                &[
                    [5.0, 0.0, 5.25, 15.0],
                    [10.0, 5.0, 10.125, 20.0],
                    [15.0, 9.0, 25.0, 9.5],
                ],
            ),
            rules: MoveRules {
                player_radius: 0.05,
                max_speed: 100.0,
                accel: 10_000.0,
                friction: 10_000.0,
            },
            tick_rate: 20,
            start: (Vec2::new(2.0, 2.0), Vec2::ZERO),
            commands: commands(99, 600),
        },
        Trace {
            // A body wider than the map: it is held at the map's middle on that axis.
            name: "big_radius_30hz",
            map: map("narrow", 7.0, 50.0, &[[0.0, 20.0, 3.0, 21.0]]),
            rules: MoveRules {
                player_radius: 4.0,
                max_speed: 9.5,
                accel: 3.25,
                friction: 0.5,
            },
            tick_rate: 30,
            start: (Vec2::new(3.5, 10.0), Vec2::new(0.0, 9.0)),
            commands: commands(5, 300),
        },
        Trace {
            // Garbage in: non-finite start, out-of-range rules (sanitized to their bounds or
            // defaults).
            name: "garbage_128hz",
            map: map("open", 200.0, 200.0, &[]),
            rules: MoveRules {
                player_radius: f32::NAN,
                max_speed: -3.0,
                accel: f32::INFINITY,
                friction: 1e9,
            },
            tick_rate: 128,
            start: (Vec2::new(f32::NAN, 1.0), Vec2::new(f32::INFINITY, 0.0)),
            commands: commands(3, 300),
        },
    ]
}

fn bits(value: f32) -> u32 {
    value.to_bits()
}

fn rules_bits(rules: &MoveRules) -> Value {
    json!([
        bits(rules.player_radius),
        bits(rules.max_speed),
        bits(rules.accel),
        bits(rules.friction)
    ])
}

fn movement() -> Value {
    let traces: Vec<Value> = traces()
        .into_iter()
        .map(|trace| {
            for value in std::iter::once([trace.map.width, trace.map.height, 0.0, 0.0])
                .chain(trace.map.walls.iter().copied())
                .flatten()
            {
                // A JSON number is read as an f64 and rounded to f32 on the other side: check
                // that this gives back the same f32 (serde_json writes the shortest form).
                let text = serde_json::to_string(&value).expect("finite");
                let read: f64 = text.parse().expect("a number");
                assert_eq!((read as f32).to_bits(), value.to_bits(), "{}: {text}", trace.name);
            }
            let map = map_from_info(&trace.map);
            let rules = rules_from_wire(&trace.rules);
            let dt = 1.0 / trace.tick_rate as f32;
            let (mut pos, mut vel) = trace.start;
            let steps: Vec<Value> = trace
                .commands
                .iter()
                .map(|&(move_x, move_y)| {
                    let cmd = InputCmd {
                        move_x,
                        move_y,
                        ..InputCmd::default()
                    };
                    (pos, vel) = move_player(&rules, &map, dt, pos, vel, &input_from_wire(&cmd));
                    json!([move_x, move_y, bits(pos.x), bits(pos.y), bits(vel.x), bits(vel.y)])
                })
                .collect();
            json!({
                "name": trace.name,
                "map": trace.map,
                "rules_bits": rules_bits(&trace.rules),
                "tick_rate": trace.tick_rate,
                "dt_bits": bits(dt),
                "start_bits": [bits(trace.start.0.x), bits(trace.start.0.y), bits(trace.start.1.x), bits(trace.start.1.y)],
                "steps": steps,
            })
        })
        .collect();

    // Welcome rules as the simulation sanitizes them (what the browser's sanitizeRules mirrors).
    let samples = [
        DEFAULT_RULES,
        MoveRules {
            player_radius: 0.0,
            max_speed: 1e6,
            accel: -1.0,
            friction: f32::NAN,
        },
        MoveRules {
            player_radius: f32::INFINITY,
            max_speed: f32::NEG_INFINITY,
            accel: 10_000.5,
            friction: 0.25,
        },
        MoveRules {
            player_radius: 4.5,
            max_speed: 100.000_01,
            accel: 0.0,
            friction: 10_001.0,
        },
    ];
    let sanitize: Vec<Value> = samples
        .iter()
        .map(|rules| {
            let sanitized = rules_from_wire(rules).sanitized();
            json!({
                "in": rules_bits(rules),
                "out": [
                    bits(sanitized.player_radius),
                    bits(sanitized.player_max_speed),
                    bits(sanitized.player_accel),
                    bits(sanitized.player_friction),
                ],
            })
        })
        .collect();
    json!({ "traces": traces, "sanitize": sanitize })
}

// ---------------------------------------------------------------------------------------------
// Writing and checking the files.

/// JSON for readable diffs: a container whose one-line form is short stays on one line, longer
/// ones get a line per item.
fn render(value: &Value) -> String {
    let mut out = String::new();
    render_into(value, 0, &mut out);
    out.push('\n');
    out
}

fn render_into(value: &Value, depth: usize, out: &mut String) {
    let compact = value.to_string();
    let indent = |depth: usize| "  ".repeat(depth);
    match value {
        Value::Array(items) if compact.len() > 100 => {
            out.push_str("[\n");
            for (index, item) in items.iter().enumerate() {
                out.push_str(&indent(depth + 1));
                render_into(item, depth + 1, out);
                out.push_str(if index + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&indent(depth));
            out.push(']');
        }
        Value::Object(fields) if compact.len() > 100 => {
            out.push_str("{\n");
            for (index, (key, item)) in fields.iter().enumerate() {
                out.push_str(&indent(depth + 1));
                out.push_str(&Value::String(key.clone()).to_string());
                out.push_str(": ");
                render_into(item, depth + 1, out);
                out.push_str(if index + 1 < fields.len() {
                    ",\n"
                } else {
                    "\n"
                });
            }
            out.push_str(&indent(depth));
            out.push('}');
        }
        _ => out.push_str(&compact),
    }
}

fn check_twin(file: &str, expected: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/twins")
        .join(file);
    if std::env::var_os("TICKWIRE_BLESS").is_some_and(|value| value == "1") {
        std::fs::create_dir_all(path.parent().expect("the path has a parent"))
            .expect("create tests/twins");
        std::fs::write(&path, expected).expect("write the twin");
        eprintln!("blessed {}", path.display());
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "{} is not what the Rust side renders now. If the change is intended, update the \
         JavaScript side (crates/arena/web), regenerate with \
         `TICKWIRE_BLESS=1 cargo test -p tickwire-arena --test web_twins`, and review the diff.",
        path.display()
    );
}
