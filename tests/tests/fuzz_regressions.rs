//! Every input the fuzzers ever crashed on (fuzz/regressions/<target>/) replayed through the same
//! check the fuzz target runs (fuzz/checks/), on stable Rust: fuzz/run.sh replays them too, but
//! only where nightly and cargo-fuzz are installed.

use std::fs;
use std::path::{Path, PathBuf};

#[path = "../../fuzz/checks/decode_server.rs"]
mod decode_server;
#[path = "../../fuzz/checks/delta.rs"]
mod delta;

/// A fuzz target's check: panics on an input that breaks its rules.
type Check = fn(&[u8]);

/// The regression targets and their checks; a directory under fuzz/regressions/ without an entry
/// here fails `every_regression_directory_is_replayed`.
const CHECKS: [(&str, Check); 2] = [
    ("decode_server", decode_server::check),
    ("delta", delta::check),
];

fn regressions() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions")
}

/// The saved inputs of one target, by file name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut inputs: Vec<(String, Vec<u8>)> = fs::read_dir(regressions().join(target))
        .expect("the target's regression directory")
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).expect("a saved input"))
        })
        .collect();
    inputs.sort();
    inputs
}

#[test]
fn every_saved_crash_input_passes_its_check() {
    for (target, check) in CHECKS {
        let inputs = inputs(target);
        assert!(!inputs.is_empty(), "{target}: no saved inputs");
        for (name, bytes) in inputs {
            let outcome = std::panic::catch_unwind(|| check(&bytes));
            assert!(
                outcome.is_ok(),
                "fuzz/regressions/{target}/{name} fails its check"
            );
        }
    }
}

#[test]
fn every_regression_directory_is_replayed() {
    for entry in fs::read_dir(regressions()).expect("fuzz/regressions") {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            CHECKS.iter().any(|(target, _)| *target == name),
            "fuzz/regressions/{name} has no check in tests/tests/fuzz_regressions.rs: move the \
             target's body into fuzz/checks/{name}.rs and list it in CHECKS"
        );
    }
}
