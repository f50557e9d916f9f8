//! Architecture checks: the simulation stays deterministic and IO-free by construction.

use std::path::Path;

/// Names whose presence in the simulation's source would break determinism or its IO boundary.
const FORBIDDEN: &[(&str, &str)] = &[
    ("Instant", "the sim never reads the wall clock"),
    ("SystemTime", "the sim never reads the wall clock"),
    (
        "thread_rng",
        "the sim's randomness comes from its seeded RNG",
    ),
    (
        "RandomState",
        "the sim's hashes and orders are seed-independent",
    ),
    (
        "HashMap",
        "iteration order must not depend on a random hasher",
    ),
    (
        "HashSet",
        "iteration order must not depend on a random hasher",
    ),
    ("tokio", "the sim knows nothing of async runtimes"),
];

#[test]
fn sim_sources_avoid_nondeterminism_and_io() {
    let source_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut checked = 0;
    for entry in std::fs::read_dir(&source_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|extension| extension != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (name, reason) in FORBIDDEN {
            assert!(
                !text.contains(name),
                "{} mentions {name}: {reason}",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 5,
        "expected the sim's source files in {}",
        source_dir.display()
    );
}

#[test]
fn sim_depends_on_no_runtime_or_network_crate() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    for name in ["tokio", "bincode", "tungstenite", "rand"] {
        assert!(
            !manifest
                .lines()
                .any(|line| line.trim_start().starts_with(name)),
            "the sim must not depend on {name}"
        );
    }
}
