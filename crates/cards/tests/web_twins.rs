//! The card game's twins in its browser module (crates/cards/web): values and behaviour both
//! sides must agree on, written by this test from the Rust definitions into
//! `tests/twins/constants.json`, which web/wire.test.mjs and web/table.test.mjs compare against:
//! the game's name and schema version, the record kinds, table phases and refusal codes,
//! RANK_MAX, SUIT_MAX and SLOT_MAX, which top ranks each rank [`fits`] on, and the messages
//! `Wire::validate` gives for sample setups and stats rows.
//!
//! When a value changes on purpose, regenerate with
//! `TICKWIRE_BLESS=1 cargo test -p tickwire-cards --test web_twins`, update the JavaScript side,
//! and review the diff.

use std::path::PathBuf;

use serde_json::{Value, json};
use tickwire_cards::wire::{RANK_MAX, SLOT_MAX, SUIT_MAX, kind, phase, refusal};
use tickwire_cards::{Cards, CardsSetup, CardsStats, fits};
use tickwire_protocol::{Schema, Wire};

#[test]
fn constants_match_the_committed_twin() {
    check_twin("constants.json", &render(&constants()));
}

/// The constants of each module of wire.rs the browser mirrors, by name.
fn wire_modules() -> Vec<(&'static str, Vec<(&'static str, u8)>)> {
    vec![
        (
            "kind",
            vec![
                ("TABLE", kind::TABLE),
                ("PILE", kind::PILE),
                ("HAND", kind::HAND),
                ("MAX", kind::MAX),
            ],
        ),
        (
            "phase",
            vec![
                ("WAITING", phase::WAITING),
                ("COUNTDOWN", phase::COUNTDOWN),
                ("PLAYING", phase::PLAYING),
                ("BREAK", phase::BREAK),
            ],
        ),
        (
            "refusal",
            vec![
                ("NOT_IN_HAND", refusal::NOT_IN_HAND),
                ("NOT_PLAYING", refusal::NOT_PLAYING),
                ("NO_SUCH_PILE", refusal::NO_SUCH_PILE),
                ("NOT_ADJACENT", refusal::NOT_ADJACENT),
            ],
        ),
    ]
}

/// The lists above are written by hand; this keeps them complete: every `pub const` inside
/// `pub mod kind`, `phase` and `refusal` of wire.rs must be listed, and so must every top-level
/// `pub const` (the three maxima [`constants`] writes).
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
    let mut top_level: Vec<&str> = source
        .lines()
        .filter_map(|line| line.strip_prefix("pub const "))
        .filter_map(|rest| rest.split(':').next())
        .collect();
    top_level.sort_unstable();
    assert_eq!(top_level, ["RANK_MAX", "SLOT_MAX", "SUIT_MAX"], "wire.rs");
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
    // For each card rank 1..=RANK_MAX, the pile tops 1..=RANK_MAX it may go on.
    let fits_on: Vec<Value> = (1..=RANK_MAX)
        .map(|card| {
            let tops: Vec<u8> = (1..=RANK_MAX).filter(|&top| fits(card, top)).collect();
            json!([card, tops])
        })
        .collect();
    json!({
        "name": Cards::NAME,
        "schema_version": Cards::VERSION,
        "rank_max": RANK_MAX,
        "suit_max": SUIT_MAX,
        "slot_max": SLOT_MAX,
        "wire": modules,
        "fits": fits_on,
        "validation": validation(),
    })
}

/// Sample setups and stats rows with what `Wire::validate` says of each (null: valid).
fn validation() -> Value {
    let setup = |piles, hand_size| CardsSetup {
        piles,
        hand_size,
        max_players: 4,
        stall_ticks: 90,
    };
    let row = |name: &str| CardsStats {
        player: 1,
        name: name.into(),
        ..CardsStats::default()
    };
    let verdict = |result: Result<(), _>| match result {
        Ok(()) => Value::Null,
        Err(error) => json!(format!("{error}")),
    };
    let setups: Vec<Value> = [(1, 1), (4, 8), (2, 5), (0, 5), (5, 5), (2, 0), (2, 9)]
        .into_iter()
        .map(|(piles, hand_size)| {
            json!([
                {"piles": piles, "hand_size": hand_size},
                verdict(setup(piles, hand_size).validate()),
            ])
        })
        .collect();
    let names = [
        "ann",
        "a\u{1}b",
        "twenty-four bytes long!!",
        "twenty-five bytes long!!!",
        "åååååååååååå",
        "ååååååååååååå",
    ];
    let rows: Vec<Value> = names
        .into_iter()
        .map(|name| json!([name, verdict(row(name).validate())]))
        .collect();
    json!({ "setup": setups, "stats_name": rows })
}

/// JSON written the same way every time: one line per entry, short values inline.
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
         JavaScript side (crates/cards/web), regenerate with \
         `TICKWIRE_BLESS=1 cargo test -p tickwire-cards --test web_twins`, and review the diff.",
        path.display()
    );
}
