//! Match results end to end: a real server with a SQLite store (tickwire-records) and a records
//! directory; bots play; the finished match is listed by /api/matches with its players and
//! scores, ranked by /api/leaderboard, and its log downloads from /api/matches/ID/replay and
//! replays; a second server on the same database adds to the same leaderboard; a graceful stop
//! in the middle of a match still stores it and ends its log.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tickwire_arena::{Arena, ArenaGame};
use tickwire_bot::{BotOptions, run_bot};
use tickwire_net::replay::Replayer;
use tickwire_net::results::MatchStore;
use tickwire_tests::{TestServer, http_get, start_game_server_with};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickwire-results-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

async fn server(dir: &std::path::Path, store: &Arc<dyn MatchStore>) -> TestServer {
    let records = dir.join("records");
    let store = Arc::clone(store);
    start_game_server_with::<ArenaGame>(
        move |config| config.record_dir = records,
        move |server| server.with_match_store(store),
    )
    .await
}

async fn play(url: &str, names: &[&str], seconds: f64) {
    let bots: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(index, name)| {
            tokio::spawn(run_bot::<Arena>(BotOptions {
                url: url.to_string(),
                name: name.to_string(),
                room: Some("duel".into()),
                duration: Some(Duration::from_secs_f64(seconds)),
                seed: index as u64 + 1,
                ..BotOptions::default()
            }))
        })
        .collect();
    for bot in bots {
        bot.await.expect("bot task").expect("plays");
    }
}

async fn json(server: &TestServer, path: &str) -> serde_json::Value {
    let (status, body) = http_get(server.addr, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

/// Waits until the server lists `count` matches.
async fn matches(server: &TestServer, count: usize) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let listed = json(server, "/api/matches").await;
        if listed.as_array().map(Vec::len) == Some(count) {
            return listed;
        }
        assert!(tokio::time::Instant::now() < deadline, "{listed}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_matches_are_listed_ranked_and_replayable() {
    let dir = temp_dir("listed");
    let store = tickwire_records::open(&format!("sqlite:{}", dir.join("results.db").display()))
        .expect("opens");
    let first = server(&dir, &store).await;
    play(&first.url, &["ann", "bob", "cat"], 3.0).await;
    let listed = matches(&first, 1).await;
    let played = &listed[0];
    assert_eq!(played["game"], "arena");
    assert_eq!(played["room"], "duel");
    assert_eq!(played["end"], "empty");
    assert!(played["ticks"].as_u64().unwrap_or(0) >= 80, "{played}");
    // In join order (the bots connect at once, so any order).
    let mut names: Vec<&str> = played["players"]
        .as_array()
        .expect("players")
        .iter()
        .map(|player| player["name"].as_str().expect("a name"))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["ann", "bob", "cat"]);
    for player in played["players"].as_array().expect("players") {
        // The score is the game's (arena: kills), from the player's last stats row.
        assert_eq!(player["score"], player["stats"]["kills"], "{player}");
    }
    let id = played["id"].as_i64().expect("an id");
    assert_eq!(&json(&first, &format!("/api/matches/{id}")).await, played);
    assert_eq!(http_get(first.addr, "/api/matches/999").await.0, 404);
    assert_eq!(http_get(first.addr, "/api/matches?limit=1000").await.0, 400);

    // The log downloads and replays, every hash matching.
    let replay = played["replay"].as_str().expect("a replay file");
    let on_disk = std::fs::read(dir.join("records").join(replay)).expect("the log");
    let downloaded = http_download(&first, &format!("/api/matches/{id}/replay")).await;
    assert_eq!(downloaded, on_disk);
    let verified = Replayer::<ArenaGame>::open(&downloaded)
        .expect("opens")
        .verify()
        .expect("replays");
    assert_eq!(verified.joins, 3);
    first.stop().await;

    // A second server on the same database: one leaderboard over both.
    let second = server(&dir, &store).await;
    play(&second.url, &["ann", "bob"], 2.0).await;
    let listed = matches(&second, 2).await;
    assert!(
        listed[0]["id"].as_i64() > listed[1]["id"].as_i64(),
        "newest first"
    );
    let board = json(&second, "/api/leaderboard").await;
    let rows = board.as_array().expect("rows");
    assert_eq!(rows.len(), 3, "{board}");
    let ann = rows.iter().find(|row| row["name"] == "ann").expect("ann");
    assert_eq!(ann["matches"], 2, "{board}");
    // Ranked by wins, then total score, then name.
    let key = |row: &serde_json::Value| {
        (
            -row["wins"].as_i64().unwrap_or(0),
            -row["total_score"].as_i64().unwrap_or(0),
            row["name"].as_str().unwrap_or("").to_string(),
        )
    };
    assert!(
        rows.windows(2).all(|pair| key(&pair[0]) <= key(&pair[1])),
        "{board}"
    );
    second.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_stores_the_match_in_progress() {
    let dir = temp_dir("stopped");
    let store = tickwire_records::open(&format!("sqlite:{}", dir.join("results.db").display()))
        .expect("opens");
    let server = server(&dir, &store).await;
    let url = server.url.clone();
    let bots = tokio::spawn(async move { play(&url, &["ann", "bob"], 30.0).await });
    // Both playing, then the server stops under them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while json(&server, "/api/rooms").await[0]["players"] != 2 {
        assert!(tokio::time::Instant::now() < deadline, "two players in");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.stop().await;
    bots.await.expect("the bots end");
    let stored = store.matches(None, None, 10).expect("reads");
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].result.end, "shutdown");
    assert_eq!(stored[0].result.players.len(), 2);
    assert!(
        stored[0]
            .result
            .players
            .iter()
            .all(|player| !player.left_early)
    );
    let log = dir
        .join("records")
        .join(stored[0].result.replay.as_deref().expect("recorded"));
    let verified = Replayer::<ArenaGame>::open(&std::fs::read(log).expect("the log"))
        .expect("opens")
        .verify()
        .expect("replays");
    assert_eq!(verified.end.as_deref(), Some("shutdown"));
    assert!(!verified.truncated);
    let _ = std::fs::remove_dir_all(dir);
}

/// The body of a GET that answers 200 with bytes.
async fn http_download(server: &TestServer, path: &str) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connects");
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("writes");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("reads");
    let head_end = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let head = String::from_utf8_lossy(&response[..head_end]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("application/octet-stream"), "{head}");
    response[head_end..].to_vec()
}

/// Two servers, each with its own store connection, on one real PostgreSQL database (what a
/// cluster of nodes does): matches on either add up to one leaderboard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_one_postgresql_leaderboard() {
    let Some(postgres) = tickwire_records::testing::PostgresServer::start("results") else {
        return;
    };
    let url = postgres.url();
    let dir = temp_dir("postgres");
    let open = || {
        let url = url.clone();
        async move {
            tokio::task::spawn_blocking(move || tickwire_records::open(&url))
                .await
                .expect("opens")
                .expect("connects to PostgreSQL")
        }
    };
    let (first_store, second_store) = (open().await, open().await);
    let first = server(&dir.join("a"), &first_store).await;
    let second = server(&dir.join("b"), &second_store).await;
    let (one, two) = (first.url.clone(), second.url.clone());
    tokio::join!(
        async move { play(&one, &["ann", "bob"], 2.0).await },
        async move { play(&two, &["ann", "cat"], 2.0).await },
    );
    let listed = matches(&first, 2).await;
    assert_eq!(
        listed,
        matches(&second, 2).await,
        "one database, one listing"
    );
    let board = json(&second, "/api/leaderboard").await;
    let ann = board
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["name"] == "ann")
        .expect("ann")
        .clone();
    assert_eq!(ann["matches"], 2, "{board}");
    first.stop().await;
    second.stop().await;
    drop((first_store, second_store));
    let _ = std::fs::remove_dir_all(dir);
}
