//! The rules of [`MatchStore`] as one check any backend must pass: [`check_store`], run by this
//! crate's tests on SQLite and PostgreSQL (and callable by other crates' tests on theirs).
//!
//! The leaderboard is compared with [`expected_leaderboard`], a plain-Rust model of the rules,
//! and the model itself with a table worked out by hand.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::json;
use tickwire_net::results::{LeaderboardRow, MatchResult, MatchStore, PlayerResult, StoredMatch};

/// Checks every rule against `store`, which must be empty; panics with what differs.
///
/// Records matches of two games (ties, a single-player match, negative scores, a name twice in
/// one match, names that differ only in case, floats and unicode in the stats), then reads them
/// back every way the trait allows, then records 200 matches from 8 threads at once.
pub fn check_store(store: &dyn MatchStore) {
    let recorded = check_records_and_reads(store);
    check_leaderboards(store, &recorded);
    check_concurrent_records(store);
}

/// A player with `stats` derived from the score.
fn player(name: &str, score: i64) -> PlayerResult {
    PlayerResult {
        name: name.to_owned(),
        score,
        stats: json!({ "score": score, "kills": score.unsigned_abs() % 7 }),
        left_early: false,
    }
}

fn a_match(game: &str, room: &str, players: Vec<PlayerResult>) -> MatchResult {
    MatchResult {
        game: game.to_owned(),
        room: room.to_owned(),
        started_unix_ms: 1_700_000_000_000,
        ended_unix_ms: 1_700_000_090_000,
        ticks: 5_400,
        end: "empty".to_owned(),
        replay: None,
        players,
    }
}

/// The fixed data set: matches of `arena` and `cards`, in the order they are recorded.
fn data_set() -> Vec<MatchResult> {
    let mut bob = player("bob", 7);
    bob.left_early = true;
    let mut first = a_match("arena", "first", vec![player("alice", 10), bob]);
    first.players[0].stats = json!({
        "kills": 3,
        "accuracy": 0.1 + 0.2,
        "ratio": 1.0 / 3.0,
        "tiny": 5e-324,
        "big": i64::MAX,
        "negative": -1,
        "tags": ["α", "ü", "🎯", "quote\"back\\slash"],
        "nested": { "none": null, "yes": true, "empty": {} },
    });
    first.replay = Some("2024-05-01T12-00-00-first.twlog".to_owned());
    first.end = "shutdown".to_owned();
    first.ticks = u32::MAX;
    first.started_unix_ms = -1;
    first.ended_unix_ms = i64::MAX;
    vec![
        first,
        a_match(
            "cards",
            "table",
            vec![player("carol", 3), player("dave", 3)],
        ),
        a_match(
            "arena",
            "three-way tie",
            vec![player("alice", 5), player("bob", 5), player("Zed", 5)],
        ),
        a_match("arena", "alone", vec![player("solo", 100)]),
        a_match(
            "cards",
            "Raum ü",
            vec![player("carol", 1), player("erin", 9), player("alice", 50)],
        ),
        a_match(
            "arena",
            "rejoined",
            vec![
                player("amy", 8),
                player("guest", 1),
                player("Zed", 8),
                player("guest", 2),
            ],
        ),
        a_match("arena", "case", vec![player("bea", 6), player("Bea", 6)]),
        a_match(
            "arena",
            "negative",
            vec![player("neg", -5), player("neg2", -3)],
        ),
        a_match("arena", "empty", vec![]),
    ]
}

fn check_records_and_reads(store: &dyn MatchStore) -> Vec<StoredMatch> {
    assert_eq!(
        store.matches(None, None, 100).expect("matches"),
        [],
        "the store must start empty"
    );
    let mut recorded: Vec<StoredMatch> = Vec::new();
    for result in data_set() {
        let id = store.record(&result).expect("record");
        if let Some(last) = recorded.last() {
            assert!(id > last.id, "ids ascend: {id} after {}", last.id);
        }
        recorded.push(StoredMatch { id, result });
    }

    for stored in &recorded {
        assert_eq!(
            store.get(stored.id).expect("get").as_ref(),
            Some(stored),
            "get({}) gives back what was recorded",
            stored.id
        );
    }
    let last_id = recorded.last().expect("a data set").id;
    for unknown in [last_id + 1, last_id + 1_000, 0, -1, i64::MAX] {
        assert_eq!(store.get(unknown).expect("get"), None, "get({unknown})");
    }

    let newest_first = |game: Option<&str>| -> Vec<StoredMatch> {
        recorded
            .iter()
            .rev()
            .filter(|stored| game.is_none_or(|game| stored.result.game == game))
            .cloned()
            .collect()
    };
    for game in [None, Some("arena"), Some("cards"), Some("nope")] {
        let all = newest_first(game);
        assert_eq!(
            store.matches(game, None, 1_000).expect("matches"),
            all,
            "matches({game:?}) newest first"
        );
        assert_eq!(
            store.matches(game, None, 2).expect("matches"),
            all.iter().take(2).cloned().collect::<Vec<_>>(),
            "matches({game:?}) limit 2"
        );
        assert_eq!(store.matches(game, None, 0).expect("matches"), []);
        // Paging by `before`, 2 at a time, walks the same list.
        let mut paged = Vec::new();
        let mut before = None;
        loop {
            let page = store.matches(game, before, 2).expect("matches");
            assert!(page.len() <= 2);
            let Some(last) = page.last() else { break };
            before = Some(last.id);
            paged.extend(page);
        }
        assert_eq!(paged, all, "matches({game:?}) paged by before");
        // `before` an id that is not a match of that game, and past both ends.
        let middle = recorded[4].id;
        assert_eq!(
            store.matches(game, Some(middle), 1_000).expect("matches"),
            all.iter()
                .filter(|stored| stored.id < middle)
                .cloned()
                .collect::<Vec<_>>(),
            "matches({game:?}, before {middle})"
        );
        assert_eq!(
            store
                .matches(game, Some(recorded[0].id), 1_000)
                .expect("matches"),
            []
        );
        assert_eq!(
            store.matches(game, Some(i64::MAX), 1_000).expect("matches"),
            all
        );
    }
    recorded
}

fn check_leaderboards(store: &dyn MatchStore, recorded: &[StoredMatch]) {
    let row = |name: &str, matches, wins, total_score, best_score| LeaderboardRow {
        name: name.to_owned(),
        matches,
        wins,
        total_score,
        best_score,
    };
    // Worked out by hand from data_set(): alice's 50 in cards does not count in arena; "guest"
    // twice in one match is one match; "Bea" ranks before "bea" (bytes, not a locale); the
    // single-player match and the empty one give no win.
    let arena = vec![
        row("alice", 2, 2, 15, 10),
        row("Zed", 2, 2, 13, 8),
        row("bob", 2, 1, 12, 7),
        row("amy", 1, 1, 8, 8),
        row("Bea", 1, 1, 6, 6),
        row("bea", 1, 1, 6, 6),
        row("neg2", 1, 1, -3, -3),
        row("solo", 1, 0, 100, 100),
        row("guest", 1, 0, 3, 2),
        row("neg", 1, 0, -5, -5),
    ];
    let cards = vec![
        row("alice", 1, 1, 50, 50),
        row("carol", 2, 1, 4, 3),
        row("dave", 1, 1, 3, 3),
        row("erin", 1, 0, 9, 9),
    ];
    let results: Vec<MatchResult> = recorded.iter().map(|s| s.result.clone()).collect();
    assert_eq!(expected_leaderboard(&results, "arena", 100), arena);
    assert_eq!(expected_leaderboard(&results, "cards", 100), cards);

    assert_eq!(store.leaderboard("arena", 100).expect("leaderboard"), arena);
    assert_eq!(store.leaderboard("cards", 100).expect("leaderboard"), cards);
    assert_eq!(
        store.leaderboard("arena", 3).expect("leaderboard"),
        arena[..3]
    );
    assert_eq!(store.leaderboard("arena", 0).expect("leaderboard"), []);
    assert_eq!(store.leaderboard("nope", 100).expect("leaderboard"), []);
}

/// 8 threads record 25 matches each at once: 200 distinct ids, ascending in each thread's
/// order, every match whole, and the leaderboard of all of them.
fn check_concurrent_records(store: &dyn MatchStore) {
    const THREADS: usize = 8;
    const EACH: usize = 25;
    let game = "concurrent";
    let by_thread: Vec<Vec<StoredMatch>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                scope.spawn(move || {
                    let mut recorded: Vec<StoredMatch> = Vec::new();
                    for index in 0..EACH {
                        let mut players = vec![
                            player(&format!("thread{thread}"), index as i64),
                            player("everyone", (thread * index % 5) as i64),
                        ];
                        if index % 3 == 0 {
                            players.push(player(&format!("third{}", index % 4), 3));
                        }
                        let result = a_match(game, &format!("t{thread}-{index}"), players);
                        let id = store.record(&result).expect("record");
                        if let Some(last) = recorded.last() {
                            assert!(id > last.id, "ids ascend: {id} after {}", last.id);
                        }
                        recorded.push(StoredMatch { id, result });
                    }
                    recorded
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a recording thread"))
            .collect()
    });
    let mut all: Vec<StoredMatch> = by_thread.into_iter().flatten().collect();
    let ids: HashSet<i64> = all.iter().map(|stored| stored.id).collect();
    assert_eq!(ids.len(), THREADS * EACH, "distinct ids");
    all.sort_by_key(|stored| std::cmp::Reverse(stored.id));
    assert_eq!(
        store.matches(Some(game), None, 1_000).expect("matches"),
        all,
        "every concurrent match whole, newest first"
    );
    let results: Vec<MatchResult> = all.iter().map(|stored| stored.result.clone()).collect();
    let expected = expected_leaderboard(&results, game, 100);
    assert_eq!(expected.len(), THREADS + 1 + 4);
    assert_eq!(store.leaderboard(game, 100).expect("leaderboard"), expected);
}

/// The leaderboard of `game` by the rules, computed in plain Rust from `results`.
pub fn expected_leaderboard(
    results: &[MatchResult],
    game: &str,
    limit: u32,
) -> Vec<LeaderboardRow> {
    #[derive(Default)]
    struct Tally {
        matches: BTreeSet<usize>,
        wins: BTreeSet<usize>,
        total_score: i64,
        best_score: Option<i64>,
    }
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    for (index, result) in results.iter().enumerate() {
        if result.game != game {
            continue;
        }
        let top = result.players.iter().map(|p| p.score).max();
        for player in &result.players {
            let tally = tallies.entry(&player.name).or_default();
            tally.matches.insert(index);
            if result.players.len() >= 2 && Some(player.score) == top {
                tally.wins.insert(index);
            }
            tally.total_score += player.score;
            tally.best_score = Some(
                tally
                    .best_score
                    .map_or(player.score, |b| b.max(player.score)),
            );
        }
    }
    let mut rows: Vec<LeaderboardRow> = tallies
        .into_iter()
        .map(|(name, tally)| LeaderboardRow {
            name: name.to_owned(),
            matches: tally.matches.len() as u64,
            wins: tally.wins.len() as u64,
            total_score: tally.total_score,
            best_score: tally.best_score.unwrap_or_default(),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.wins
            .cmp(&a.wins)
            .then(b.total_score.cmp(&a.total_score))
            .then(a.name.cmp(&b.name))
    });
    rows.truncate(limit as usize);
    rows
}
