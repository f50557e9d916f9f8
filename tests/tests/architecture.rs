//! Architecture checks over the whole workspace: the dependency direction (engine crates never
//! depend on a game, and the fixed-tick and protocol crates know no runtime), and every game's
//! simulation sources avoid what would break determinism.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The engine's crates: they must work for any game, so none may name one.
const ENGINE: &[&str] = &[
    "tickwire-sim",
    "tickwire-protocol",
    "tickwire-net",
    "tickwire-cluster",
    "tickwire-bot",
];
/// The games in this workspace.
const GAMES: &[&str] = &["tickwire-arena", "tickwire-cards", "tickwire-tag"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

/// The packages `package` depends on (normal and dev edges, transitively), from `cargo tree`.
fn dependencies(package: &str, edges: &str) -> Vec<String> {
    let output = Command::new(env!("CARGO"))
        .current_dir(root())
        .args([
            "tree",
            "--offline",
            "--locked",
            "-p",
            package,
            "-e",
            edges,
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn engine_crates_never_depend_on_a_game() {
    for engine in ENGINE {
        let deps = dependencies(engine, "normal,dev");
        for game in GAMES {
            assert!(
                !deps.iter().any(|dep| dep == game),
                "{engine} depends on the game {game}: the boundary is wrong"
            );
        }
    }
}

#[test]
fn sim_and_protocol_know_no_runtime() {
    for package in ["tickwire-sim", "tickwire-protocol"] {
        let deps = dependencies(package, "normal");
        for runtime in ["tokio", "tokio-tungstenite", "tungstenite", "mio"] {
            assert!(
                !deps.iter().any(|dep| dep == runtime),
                "{package} depends on {runtime}"
            );
        }
    }
}

/// Names whose presence in a simulation source would break determinism or its IO boundary.
const FORBIDDEN: &[(&str, &str)] = &[
    ("Instant", "a simulation never reads the wall clock"),
    ("SystemTime", "a simulation never reads the wall clock"),
    ("thread_rng", "randomness comes from the game's seeded RNG"),
    ("RandomState", "hashes and orders are seed-independent"),
    (
        "HashMap",
        "iteration order must not depend on a random hasher",
    ),
    (
        "HashSet",
        "iteration order must not depend on a random hasher",
    ),
    ("tokio", "a simulation knows nothing of async runtimes"),
];

/// Every game's simulation sources: what its `step` runs.
const SIMULATION_SOURCES: &[&str] = &[
    "crates/arena/src/world.rs",
    "crates/arena/src/physics.rs",
    "crates/arena/src/map.rs",
    "crates/arena/src/rules.rs",
    "crates/arena/src/walls.rs",
    "crates/arena/src/input.rs",
    "crates/arena/src/game.rs",
    "crates/cards/src/game.rs",
];

#[test]
fn game_simulations_avoid_nondeterminism_and_io() {
    let mut sources: Vec<PathBuf> = SIMULATION_SOURCES
        .iter()
        .map(|path| root().join(path))
        .collect();
    // The guide's game keeps its whole simulation in one file too.
    let tag = root().join("crates/tag/src/game.rs");
    if tag.exists() {
        sources.push(tag);
    }
    for path in sources {
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
        for (name, reason) in FORBIDDEN {
            assert!(
                !text.contains(name),
                "{} mentions {name}: {reason}",
                path.display()
            );
        }
    }
}
