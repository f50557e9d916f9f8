//! The PostgreSQL backend against a throwaway server (skipped with one loud line when
//! PostgreSQL is not installed, unless TICKWIRE_REQUIRE_POSTGRES is set): the conformance suite,
//! calls from tokio's blocking pool and from async code, URL forms, migrations, reconnecting.

use std::sync::Arc;

use tickwire_net::results::{MatchResult, MatchStore, PlayerResult};
use tickwire_records::testing::PostgresServer;
use tickwire_records::{PostgresStore, SCHEMA_VERSION, conformance, open};

fn one_match(game: &str, players: usize) -> MatchResult {
    MatchResult {
        game: game.to_owned(),
        room: "room".to_owned(),
        started_unix_ms: 1,
        ended_unix_ms: 2,
        ticks: 3,
        end: "empty".to_owned(),
        replay: None,
        players: (0..players)
            .map(|index| PlayerResult {
                name: format!("p{index}"),
                score: index as i64,
                stats: serde_json::json!({ "index": index }),
                left_early: false,
            })
            .collect(),
    }
}

fn applied_versions(server: &PostgresServer, database: &str) -> Vec<i64> {
    let mut config: postgres::Config = server.url_of(database).parse().expect("a URL");
    config.user("postgres");
    std::thread::spawn(move || {
        let mut client = config.connect(postgres::NoTls).expect("connect");
        client
            .query(
                "SELECT version FROM schema_migrations ORDER BY version",
                &[],
            )
            .expect("schema_migrations")
            .iter()
            .map(|row| row.get(0))
            .collect()
    })
    .join()
    .expect("a thread")
}

#[test]
fn postgres_passes_the_conformance_suite() {
    let Some(server) = PostgresServer::start("postgres_passes_the_conformance_suite") else {
        return;
    };
    let store = open(&server.url()).expect("open");
    conformance::check_store(store.as_ref());
}

/// How the server will call it: opened, called and dropped inside `spawn_blocking` on a
/// multi-thread runtime; also opened, called and dropped on an async worker directly (which
/// blocks that worker, but must not panic: the sync client runs a runtime of its own).
#[test]
fn postgres_works_from_tokio_blocking_pool_and_async_code() {
    let Some(server) = PostgresServer::start("postgres_works_from_tokio") else {
        return;
    };
    let url = server.url();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let store = {
            let url = url.clone();
            tokio::task::spawn_blocking(move || open(&url))
                .await
                .expect("no panic in the blocking pool")
                .expect("open")
        };
        let mut tasks = Vec::new();
        for index in 0..4 {
            let store = Arc::clone(&store);
            tasks.push(tokio::task::spawn_blocking(move || {
                let id = store.record(&one_match("arena", index + 1))?;
                store.get(id)
            }));
        }
        for task in tasks {
            let stored = task.await.expect("no panic").expect("record and get");
            assert!(stored.is_some());
        }
        let listed = {
            let store = Arc::clone(&store);
            tokio::task::spawn_blocking(move || store.matches(None, None, 10))
                .await
                .expect("no panic")
                .expect("matches")
        };
        assert_eq!(listed.len(), 4);
        // Dropped inside the blocking pool.
        tokio::task::spawn_blocking(move || drop(store))
            .await
            .expect("no panic dropping it");

        // On an async worker: open, call, drop.
        let store = tokio::spawn(async move {
            let store = open(&url).expect("open on an async worker");
            store.record(&one_match("arena", 2)).expect("record");
            let rows = store.leaderboard("arena", 10).expect("leaderboard");
            drop(store);
            rows
        })
        .await
        .expect("no panic on an async worker");
        assert!(!store.is_empty());
    });
}

#[test]
fn postgres_url_forms_migrations_and_a_newer_schema() {
    let Some(server) = PostgresServer::start("postgres_migrations") else {
        return;
    };
    // Eight opens of a new database at once: each migration applied once, all work.
    let url = server.create_database("concurrent");
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                let store = PostgresStore::connect(&url).expect("a concurrent open");
                store.record(&one_match("arena", 2)).expect("record");
            });
        }
    });
    let expected: Vec<i64> = (1..=SCHEMA_VERSION).collect();
    assert_eq!(applied_versions(&server, "concurrent"), expected);

    // The other URL forms reach the same database; reopening changes nothing.
    let key_value = format!(
        "host={} user=postgres dbname=concurrent",
        server.socket_dir().display()
    );
    let postgres_scheme = url.replacen("postgresql://", "postgres://", 1);
    for url in [key_value, postgres_scheme] {
        let store = open(&url).expect("open");
        assert_eq!(
            store.matches(None, None, 100).expect("matches").len(),
            8,
            "{url}"
        );
    }
    assert_eq!(applied_versions(&server, "concurrent"), expected);

    // A database from a newer tickwire is refused.
    let newer = SCHEMA_VERSION + 1;
    server.execute(
        "concurrent",
        &format!("INSERT INTO schema_migrations (version) VALUES ({newer})"),
    );
    let error = open(&url).unwrap_err();
    assert!(
        error
            .0
            .contains(&format!("version {newer}, newer than this tickwire knows")),
        "{error}"
    );

    // A database that is not there: an error, not a hang or a panic.
    let error = open(&server.url_of("missing")).unwrap_err();
    assert!(error.0.contains("missing"), "{error}");
}

#[test]
fn postgres_reconnects_once_after_its_session_is_terminated() {
    let Some(server) = PostgresServer::start("postgres_reconnects") else {
        return;
    };
    let store = open(&server.url()).expect("open");
    let first = store.record(&one_match("arena", 2)).expect("record");
    for call in 0..4 {
        assert!(
            server.terminate_sessions("tickwire") >= 1,
            "a session to end"
        );
        // Each kind of call finds the connection broken and retries on a new one.
        match call {
            0 => assert_eq!(store.matches(None, None, 10).expect("matches").len(), 1),
            1 => assert!(store.get(first).expect("get").is_some()),
            2 => assert_eq!(
                store.leaderboard("arena", 10).expect("leaderboard").len(),
                2
            ),
            _ => {
                let id = store.record(&one_match("arena", 3)).expect("record");
                assert!(id > first);
            }
        }
    }
    assert_eq!(store.matches(None, None, 10).expect("matches").len(), 2);
}
