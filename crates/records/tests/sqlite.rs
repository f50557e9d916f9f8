//! The SQLite backend: the conformance suite, its URL forms, migrations, and a writer killed
//! mid-stream.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tickwire_net::results::{MatchResult, MatchStore, PlayerResult};
use tickwire_records::{SCHEMA_VERSION, SqliteStore, conformance, open};

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tickwire-records-{}-{}-{test}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn applied_versions(path: &Path) -> Vec<i64> {
    let connection = rusqlite::Connection::open(path).expect("open");
    let mut statement = connection
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .expect("schema_migrations");
    statement
        .query_map([], |row| row.get(0))
        .expect("versions")
        .collect::<Result<_, _>>()
        .expect("versions")
}

#[test]
fn sqlite_passes_the_conformance_suite() {
    let dir = TempDir::new("conformance");
    let store = open(&format!("sqlite:{}", dir.path("records.db").display())).expect("open");
    conformance::check_store(store.as_ref());
}

#[test]
fn sqlite_in_memory_passes_the_conformance_suite() {
    let store = open("sqlite::memory:").expect("open");
    conformance::check_store(store.as_ref());
}

#[test]
fn sqlite_url_forms_create_parent_directories_and_set_wal() {
    let dir = TempDir::new("urls");
    let nested = dir.path("a/b/c/records.db");
    for url in [
        format!("sqlite:{}", nested.display()),
        format!("sqlite://{}", nested.display()),
    ] {
        let store = open(&url).expect("open");
        store
            .record(&one_match("arena", 2))
            .expect("record through the URL's store");
    }
    let connection = rusqlite::Connection::open(&nested).expect("open");
    let mode: String = connection
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .expect("journal mode");
    assert_eq!(mode, "wal");
    let count: i64 = connection
        .query_row("SELECT COUNT(*) FROM matches", [], |row| row.get(0))
        .expect("count");
    assert_eq!(count, 2, "both URLs named the same file");
}

#[test]
fn sqlite_migrations_apply_once_and_concurrent_opens_agree() {
    let dir = TempDir::new("migrations");
    let path = dir.path("records.db");
    // Eight opens of a new file at once: each migration applied once, every open works.
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                let store = SqliteStore::open(&path).expect("a concurrent open");
                store.record(&one_match("arena", 2)).expect("record");
            });
        }
    });
    let expected: Vec<i64> = (1..=SCHEMA_VERSION).collect();
    assert_eq!(applied_versions(&path), expected);
    // Reopening changes nothing and keeps the data.
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(applied_versions(&path), expected);
    assert_eq!(store.matches(None, None, 100).expect("matches").len(), 8);
}

#[test]
fn sqlite_refuses_a_newer_schema() {
    let dir = TempDir::new("newer");
    let path = dir.path("records.db");
    drop(SqliteStore::open(&path).expect("open"));
    let newer = SCHEMA_VERSION + 1;
    rusqlite::Connection::open(&path)
        .expect("open")
        .execute(
            "INSERT INTO schema_migrations (version, applied_unix_ms) VALUES (?1, 0)",
            [newer],
        )
        .expect("a newer version");
    let error = open(&format!("sqlite:{}", path.display())).unwrap_err();
    assert!(
        error
            .0
            .contains(&format!("version {newer}, newer than this tickwire knows")),
        "{error}"
    );
}

#[test]
fn other_url_schemes_are_refused() {
    let error = open("mysql://root:secret@db/records").unwrap_err();
    assert!(error.0.contains("sqlite:PATH"), "{error}");
    assert!(!error.0.contains("secret"), "{error}");
}

/// A match of `players` players, each with a score; `ticks` says how many were written, so a
/// reader can tell a whole match from a partial one.
fn one_match(game: &str, players: usize) -> MatchResult {
    MatchResult {
        game: game.to_owned(),
        room: "room".to_owned(),
        started_unix_ms: 1,
        ended_unix_ms: 2,
        ticks: players as u32,
        end: "empty".to_owned(),
        replay: None,
        players: (0..players)
            .map(|index| PlayerResult {
                name: format!("p{index}"),
                score: index as i64,
                stats: serde_json::json!({ "padding": "x".repeat(200) }),
                left_early: false,
            })
            .collect(),
    }
}

/// The environment variable that turns `crash_writer` into the child's writing loop.
const CRASH_DB: &str = "TICKWIRE_RECORDS_CRASH_DB";

/// Run by `sqlite_survives_a_writer_killed_mid_stream` in a child process (this test binary,
/// run again); passes at once otherwise.
#[test]
fn crash_writer() {
    let Some(path) = std::env::var_os(CRASH_DB) else {
        return;
    };
    let store = SqliteStore::open(path).expect("open");
    // Bounded in case nobody kills it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut index = 0usize;
    while Instant::now() < deadline {
        let players = 1 + index % 6;
        let id = store.record(&one_match("crash", players)).expect("record");
        println!("recorded {id} {players}");
        index += 1;
    }
}

#[test]
fn sqlite_survives_a_writer_killed_mid_stream() {
    let dir = TempDir::new("crash");
    let path = dir.path("records.db");
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", "crash_writer", "--nocapture", "--test-threads=1"])
        .env(CRASH_DB, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the writer starts");
    let stdout = child.stdout.take().expect("the writer's stdout");
    let mut acknowledged: Vec<(i64, usize)> = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a line");
        if let Some(rest) = line.strip_prefix("recorded ") {
            let (id, players) = rest.split_once(' ').expect("id and players");
            acknowledged.push((id.parse().expect("id"), players.parse().expect("players")));
        }
        if acknowledged.len() == 300 {
            break;
        }
    }
    assert_eq!(acknowledged.len(), 300, "the writer wrote 300 matches");
    let killed = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = child.wait().expect("the writer ends");
    assert!(!status.success(), "killed, not finished: {status}");

    let store = SqliteStore::open(&path).expect("opens after the crash");
    assert_eq!(
        applied_versions(&path),
        (1..=SCHEMA_VERSION).collect::<Vec<_>>()
    );
    let stored = store
        .matches(Some("crash"), None, u32::MAX)
        .expect("matches");
    assert!(
        stored.len() >= acknowledged.len(),
        "every acknowledged match kept"
    );
    for stored in &stored {
        assert_eq!(
            stored.result.players.len(),
            stored.result.ticks as usize,
            "match {} whole",
            stored.id
        );
    }
    for (id, players) in acknowledged {
        let stored = store.get(id).expect("get").expect("an acknowledged match");
        assert_eq!(stored.result.players.len(), players);
    }
    // And it takes new matches.
    store
        .record(&one_match("crash", 2))
        .expect("record after the crash");
}
