//! The real binary with its default recording and a SQLite results file: a finished match is
//! stored and its log replays; `kill -9` in the middle of a match leaves the database
//! consistent (it opens, the finished match whole) and a log that `tickwire replay` reads up to
//! where it stops and calls truncated; the next start on the same files works.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn serve(dir: &Path, port: u16) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(["serve", "--config", "server.toml"])
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .current_dir(dir)
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tickwire serve starts");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the server listens"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn bot(port: u16, room: &str, name: &str, seconds: u32) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .args(["bot", "--url", &format!("ws://127.0.0.1:{port}/ws")])
        .args([
            "--room",
            room,
            "--name",
            name,
            "--duration",
            &seconds.to_string(),
        ])
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tickwire bot starts")
}

fn replay(file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tickwire"))
        .arg("replay")
        .arg(file)
        .env("RUST_LOG", "off")
        .output()
        .expect("tickwire replay runs")
}

fn logs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut logs: Vec<_> = std::fs::read_dir(dir.join("records"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "twmatch"))
                .collect()
        })
        .unwrap_or_default();
    logs.sort();
    logs
}

fn stored(dir: &Path) -> Vec<tickwire_net::results::StoredMatch> {
    let store = tickwire_records::open(&format!(
        "sqlite:{}",
        dir.join("records/results.db").display()
    ))
    .expect("the database opens");
    store.matches(None, None, 100).expect("reads")
}

#[test]
fn kill_9_mid_match_leaves_a_consistent_database_and_a_truncated_log() {
    let dir = std::env::temp_dir().join(format!("tickwire-records-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp dir");
    // The defaults (records/ and records/results.db next to where the server starts), with
    // the per-address caps of a test.
    std::fs::write(dir.join("server.toml"), "max_connections_per_ip = 64\n").expect("config");
    let port = free_port();
    let mut server = serve(&dir, port);

    // A short match that finishes: stored and whole.
    let mut first: Vec<Child> = ["ann", "bob"]
        .iter()
        .map(|name| bot(port, "first", name, 2))
        .collect();
    for player in &mut first {
        let _ = player.wait();
    }
    let started = Instant::now();
    while stored(&dir).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the first match is stored"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A second match, killed in the middle (after a few of its records reached the disk).
    let mut players: Vec<Child> = ["cat", "dan"]
        .iter()
        .map(|name| bot(port, "second", name, 30))
        .collect();
    std::thread::sleep(Duration::from_millis(3500));
    let status = Command::new("kill")
        .args(["-9", &server.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let _ = server.wait();
    for player in &mut players {
        let _ = player.kill();
        let _ = player.wait();
    }

    // The database opens with the first match whole, and nothing of the killed one.
    let matches = stored(&dir);
    assert_eq!(matches.len(), 1, "{matches:?}");
    assert_eq!(matches[0].result.room, "first");
    assert_eq!(matches[0].result.players.len(), 2);
    // Two logs: the first whole, the second cut short and still replaying what it holds.
    let files = logs(&dir);
    assert_eq!(files.len(), 2, "{files:?}");
    let whole = replay(&files[0]);
    assert!(whole.status.success(), "{whole:?}");
    assert!(String::from_utf8_lossy(&whole.stdout).contains("the match ended: empty"));
    let cut = replay(&files[1]);
    let text = String::from_utf8_lossy(&cut.stdout);
    assert!(cut.status.success(), "{cut:?}");
    assert!(text.contains("the log is truncated"), "{text}");
    let ticks: u32 = text
        .split("verified: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|ticks| ticks.parse().ok())
        .expect("ticks replayed");
    // At most the last hand-over (a second) and the kill's timing are missing.
    assert!(ticks >= 45, "{text}");

    // The next start on the same files works and adds to them.
    let port = free_port();
    let mut server = serve(&dir, port);
    let mut third: Vec<Child> = ["eve", "fay"]
        .iter()
        .map(|name| bot(port, "third", name, 2))
        .collect();
    for player in &mut third {
        let _ = player.wait();
    }
    let started = Instant::now();
    while stored(&dir).len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the third match is stored"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status();
    let status = server.wait().expect("the server exits");
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(dir);
}
