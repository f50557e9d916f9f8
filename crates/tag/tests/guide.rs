//! docs/GUIDE.md quotes this crate instead of paraphrasing it, and this test keeps the quotes
//! true. A fenced block whose first line is a comment naming a file of the workspace
//! (`// crates/tag/src/game.rs`, or `# crates/tag/Cargo.toml` in a TOML block) is an excerpt of
//! that file: its other lines must appear in the file verbatim, contiguous and in order, except
//! where a line `// ...` (or `# ...`) marks that something was left out. Blocks without such a
//! first line (commands, output) are not checked.

use std::path::{Path, PathBuf};

/// One quoted block of the guide.
#[derive(Debug)]
struct Excerpt {
    /// Line of the guide the block starts at (1-based), for messages.
    line: usize,
    /// The quoted file, relative to the workspace root.
    path: String,
    /// Runs of lines that must each appear contiguously in the file, in this order.
    runs: Vec<Vec<String>>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

fn guide() -> String {
    let path = root().join("docs/GUIDE.md");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// The file a block's first line names, if it names one.
fn quoted_path(first: &str) -> Option<&str> {
    let path = first
        .strip_prefix("// ")
        .or_else(|| first.strip_prefix("# "))?
        .trim();
    let looks_like_a_path = path.contains('/') || path.ends_with(".toml");
    (looks_like_a_path && !path.contains(' ')).then_some(path)
}

fn is_omission(line: &str) -> bool {
    matches!(line.trim(), "// ..." | "# ...")
}

/// Every excerpt in `markdown`, in order.
fn excerpts(markdown: &str) -> Vec<Excerpt> {
    let mut found = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        if !line.trim_start().starts_with("```") {
            continue;
        }
        let body: Vec<&str> = lines
            .by_ref()
            .map(|(_, line)| line)
            .take_while(|line| !line.trim_start().starts_with("```"))
            .collect();
        let Some(path) = body.first().and_then(|first| quoted_path(first)) else {
            continue;
        };
        let mut runs = vec![Vec::new()];
        for line in &body[1..] {
            if is_omission(line) {
                runs.push(Vec::new());
            } else {
                runs.last_mut().expect("never empty").push(line.to_string());
            }
        }
        runs.retain(|run| !run.is_empty());
        found.push(Excerpt {
            line: index + 1,
            path: path.to_string(),
            runs,
        });
    }
    found
}

/// Checks that each run of `excerpt` appears in `text`, contiguously and after the previous
/// one; the error names the first run that does not.
fn check(excerpt: &Excerpt, text: &str) -> Result<(), String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    for run in &excerpt.runs {
        let found =
            (from..lines.len()).find(|&start| lines[start..].iter().take(run.len()).eq(run.iter()));
        match found {
            Some(start) => from = start + run.len(),
            None => {
                return Err(format!(
                    "docs/GUIDE.md:{}: not in {} (in this order): {:?}",
                    excerpt.line,
                    excerpt.path,
                    run.iter().take(3).collect::<Vec<_>>()
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn every_excerpt_in_the_guide_is_in_its_file() {
    let failures: Vec<String> = excerpts(&guide())
        .iter()
        .filter_map(|excerpt| {
            let path = root().join(&excerpt.path);
            match std::fs::read_to_string(&path) {
                Ok(text) => check(excerpt, &text).err(),
                Err(error) => Some(format!(
                    "docs/GUIDE.md:{}: cannot read {}: {error}",
                    excerpt.line, excerpt.path
                )),
            }
        })
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_guide_quotes_every_part_of_the_game() {
    let quoted: Vec<String> = excerpts(&guide())
        .into_iter()
        .map(|excerpt| excerpt.path)
        .collect();
    for path in [
        "crates/tag/Cargo.toml",
        "crates/tag/src/wire.rs",
        "crates/tag/src/game.rs",
        "crates/tag/src/client.rs",
        "crates/tag/tests/field.rs",
        "crates/tag/tests/predict.rs",
        "crates/tickwire/src/main.rs",
        "assets/server.toml",
    ] {
        assert!(
            quoted.iter().any(|quoted| quoted == path),
            "the guide quotes nothing of {path}"
        );
    }
}

#[test]
fn the_check_refuses_a_changed_line_and_a_changed_order() {
    let file = "fn a() {\n    one();\n    two();\n}\n\nfn b() {}\n";
    let markdown = |body: &str| format!("text\n```rust\n// some/file.rs\n{body}```\n");
    let verdict = |body: &str| {
        let found = excerpts(&markdown(body));
        assert_eq!(found.len(), 1);
        check(&found[0], file)
    };
    assert_eq!(verdict("fn a() {\n    one();\n"), Ok(()));
    assert_eq!(verdict("fn a() {\n// ...\n}\n\nfn b() {}\n"), Ok(()));
    assert!(verdict("fn a() {\n    two();\n").is_err(), "not contiguous");
    assert!(verdict("fn a() {\n    one ();\n").is_err(), "changed");
    assert!(
        verdict("fn b() {}\n// ...\nfn a() {\n").is_err(),
        "out of order"
    );
    // A block without a path is not an excerpt.
    assert!(excerpts("```sh\ncargo test\n```\n").is_empty());
}
