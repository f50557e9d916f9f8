//! Match results and leaderboards for tickwire: the two backends of
//! [`tickwire_net::results::MatchStore`], chosen by a URL with [`open`].
//!
//! - **SQLite** ([`SqliteStore`], the default): one embedded database file, for one server
//!   process. WAL journal, `synchronous=NORMAL` (a committed match survives the process being
//!   killed; an OS crash may lose the last few), a busy timeout (other processes, such as a
//!   backup or an `sqlite3` shell, may read it meanwhile), foreign keys on. One connection behind
//!   a mutex: calls from many threads take turns.
//! - **PostgreSQL** ([`PostgresStore`]): many server processes sharing one leaderboard. The sync
//!   `postgres` client, no TLS (a Unix socket or a trusted network). Its client lives on a thread
//!   the store owns and calls are handed to it, so the store may be opened, called and dropped
//!   anywhere, inside tokio's blocking pool or even on an async worker (where it blocks that
//!   worker, as every call of a [`MatchStore`] does). A call that finds the connection broken
//!   (the server restarted, the session was terminated) connects again and retries once, except
//!   a `record` whose commit was already sent: whether that match was stored is unknown, so it
//!   fails rather than risk storing it twice.
//!
//! This crate does not serve HTTP, decide when a match ends, or delete matches; it stores what
//! [`MatchStore::record`] is given and answers the three queries by the rules in
//! [`tickwire_net::results`].
//!
//! # URLs
//!
//! - `sqlite:PATH` or `sqlite://PATH`: a file, relative to the working directory or absolute
//!   (`sqlite:///var/lib/tickwire/records.db`); missing parent directories are created.
//!   `sqlite::memory:` is a private in-memory database (tests).
//! - `postgres://...` or `postgresql://...`: a PostgreSQL connection URL, e.g.
//!   `postgresql://tickwire:secret@db.internal/tickwire` or, on a Unix socket,
//!   `postgresql://tickwire@/tickwire?host=/run/postgresql`.
//! - A PostgreSQL key=value string: `host=/run/postgresql user=tickwire dbname=tickwire`.
//!
//! Anything else is refused with one line naming these forms.
//!
//! # Schema
//!
//! `matches` has a row per recorded match (`id` ascending, `game`, `room`, `started_unix_ms`,
//! `ended_unix_ms`, `ticks`, `end_reason`, `replay`); `match_players` a row per player of a match
//! (`match_id` referencing it, `position` in join order, `name`, `score`, `stats` as JSON text,
//! `left_early`), plus two columns written with the match so the leaderboard is one grouped scan
//! of an index on (`game`, `name`): the match's `game` and whether the player `won` (decided when
//! the match is recorded, by the rule in [`tickwire_net::results`]). Matches are listed through an
//! index on `matches` (`game`, `id`). On PostgreSQL, names and games use the "C" collation so
//! both backends order names by their bytes. A name that appears twice in one match (a player
//! who left and joined again) counts one match, won if either entry won; its scores both add to
//! the total.
//!
//! # Migrations
//!
//! The schema is an ordered list of migrations, version 1, 2, ...; the `schema_migrations` table
//! lists those applied. Opening a store applies the missing ones, in order, in one transaction
//! that holds a lock for the whole check (SQLite `BEGIN IMMEDIATE`, a PostgreSQL transaction
//! advisory lock), so concurrent opens of a new database apply each migration once and reopening
//! changes nothing. A released migration is never edited: a schema change is a new migration
//! with the next version, written for both backends. A database whose version is newer than
//! [`SCHEMA_VERSION`] (written by a newer tickwire) is refused rather than misread.
//!
//! # Testing
//!
//! [`conformance::check_store`] runs the rules against any empty store; this crate's tests run
//! it on both backends, PostgreSQL through [`testing::PostgresServer`] (a throwaway server from
//! Debian's `postgresql` package, skipped with one loud line when it is not installed, unless
//! `TICKWIRE_REQUIRE_POSTGRES` is set).

pub mod conformance;
mod postgresql;
mod sqlite;
pub mod testing;

use std::sync::Arc;

use tickwire_net::results::{MatchResult, MatchStore, PlayerResult, StoreError, StoredMatch};

pub use crate::postgresql::PostgresStore;
pub use crate::sqlite::SqliteStore;

/// Opens the store `url` names (see the module's URL forms), applying the schema's migrations.
pub fn open(url: &str) -> Result<Arc<dyn MatchStore>, StoreError> {
    match Target::parse(url)? {
        Target::Sqlite(path) => Ok(Arc::new(SqliteStore::open(path)?)),
        Target::Postgres(params) => Ok(Arc::new(PostgresStore::connect(params)?)),
    }
}

/// The schema version this code writes and reads: the number of migrations.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// What a store URL names.
#[derive(Debug, PartialEq, Eq)]
enum Target<'a> {
    /// A database file's path (or `:memory:`).
    Sqlite(&'a str),
    /// A PostgreSQL URL or key=value string, as the `postgres` crate parses it.
    Postgres(&'a str),
}

impl<'a> Target<'a> {
    fn parse(url: &'a str) -> Result<Target<'a>, StoreError> {
        let url = url.trim();
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or(url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(StoreError(format!(
                    "{url:?} names no file: write sqlite:PATH or sqlite://PATH"
                )));
            }
            return Ok(Target::Sqlite(path));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") || is_key_value(url) {
            return Ok(Target::Postgres(url));
        }
        // Only the scheme is repeated: the rest may hold a password.
        let scheme = url.split_once(':').map_or("(none)", |(scheme, _)| scheme);
        Err(StoreError(format!(
            "unsupported store URL scheme {scheme:?}: use sqlite:PATH, sqlite://PATH, \
             postgres://..., postgresql://... or a PostgreSQL key=value string \
             (host=... dbname=...)"
        )))
    }
}

/// A PostgreSQL key=value connection string: it starts with a word and `=`.
fn is_key_value(params: &str) -> bool {
    params.split_once('=').is_some_and(|(key, _)| {
        let key = key.trim();
        !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// One step of the schema, in both dialects; see the module's migration rule.
struct Migration {
    version: i64,
    sqlite: &'static str,
    postgres: &'static str,
}

/// Every migration, in order; `version` is the position plus one (checked by a test).
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    sqlite: "
        CREATE TABLE matches (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            game TEXT NOT NULL,
            room TEXT NOT NULL,
            started_unix_ms INTEGER NOT NULL,
            ended_unix_ms INTEGER NOT NULL,
            ticks INTEGER NOT NULL,
            end_reason TEXT NOT NULL,
            replay TEXT
        );
        CREATE INDEX matches_game_id ON matches (game, id);
        CREATE TABLE match_players (
            match_id INTEGER NOT NULL REFERENCES matches (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            game TEXT NOT NULL,
            name TEXT NOT NULL,
            score INTEGER NOT NULL,
            stats TEXT NOT NULL,
            left_early INTEGER NOT NULL,
            won INTEGER NOT NULL,
            PRIMARY KEY (match_id, position)
        );
        CREATE INDEX match_players_game_name ON match_players (game, name);
    ",
    postgres: r#"
        CREATE TABLE matches (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            game TEXT COLLATE "C" NOT NULL,
            room TEXT NOT NULL,
            started_unix_ms BIGINT NOT NULL,
            ended_unix_ms BIGINT NOT NULL,
            ticks BIGINT NOT NULL,
            end_reason TEXT NOT NULL,
            replay TEXT
        );
        CREATE INDEX matches_game_id ON matches (game, id);
        CREATE TABLE match_players (
            match_id BIGINT NOT NULL REFERENCES matches (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            game TEXT COLLATE "C" NOT NULL,
            name TEXT COLLATE "C" NOT NULL,
            score BIGINT NOT NULL,
            stats TEXT NOT NULL,
            left_early BOOLEAN NOT NULL,
            won BOOLEAN NOT NULL,
            PRIMARY KEY (match_id, position)
        );
        CREATE INDEX match_players_game_name ON match_players (game, name);
    "#,
}];

/// Refuses a database written by a newer tickwire.
fn check_schema_version(found: i64) -> Result<(), StoreError> {
    if found > SCHEMA_VERSION {
        return Err(StoreError(format!(
            "the database's schema is version {found}, newer than this tickwire knows \
             ({SCHEMA_VERSION}); run a newer tickwire or use another database"
        )));
    }
    Ok(())
}

/// Whether each player won: the match had at least two players and nobody scored more.
fn winners(players: &[PlayerResult]) -> Vec<bool> {
    let top = players.iter().map(|player| player.score).max();
    players
        .iter()
        .map(|player| players.len() >= 2 && Some(player.score) == top)
        .collect()
}

/// A player's row as a backend writes it: the result with its stats as JSON text and its win.
struct PlayerRow<'a> {
    player: &'a PlayerResult,
    stats: String,
    won: bool,
}

fn player_rows(result: &MatchResult) -> Result<Vec<PlayerRow<'_>>, StoreError> {
    let won = winners(&result.players);
    result
        .players
        .iter()
        .zip(won)
        .map(|(player, won)| {
            let stats = serde_json::to_string(&player.stats)
                .map_err(|error| StoreError(format!("{}'s stats as JSON: {error}", player.name)))?;
            Ok(PlayerRow { player, stats, won })
        })
        .collect()
}

/// A `matches` row as read back, before its players are attached.
struct MatchRow {
    id: i64,
    game: String,
    room: String,
    started_unix_ms: i64,
    ended_unix_ms: i64,
    ticks: i64,
    end_reason: String,
    replay: Option<String>,
}

impl MatchRow {
    fn with_players(self, players: Vec<PlayerResult>) -> Result<StoredMatch, StoreError> {
        let ticks = u32::try_from(self.ticks).map_err(|_| {
            StoreError(format!(
                "match {}: ticks {} out of range",
                self.id, self.ticks
            ))
        })?;
        Ok(StoredMatch {
            id: self.id,
            result: MatchResult {
                game: self.game,
                room: self.room,
                started_unix_ms: self.started_unix_ms,
                ended_unix_ms: self.ended_unix_ms,
                ticks,
                end: self.end_reason,
                replay: self.replay,
                players,
            },
        })
    }
}

/// A `match_players` row as read back.
fn player_result(
    match_id: i64,
    name: String,
    score: i64,
    stats: &str,
    left_early: bool,
) -> Result<PlayerResult, StoreError> {
    let stats = serde_json::from_str(stats).map_err(|error| {
        StoreError(format!(
            "match {match_id}: {name}'s stats are not JSON: {error}"
        ))
    })?;
    Ok(PlayerResult {
        name,
        score,
        stats,
        left_early,
    })
}

/// The `WHERE` clause of a `matches` listing, with the dialect's numbered `placeholder`s (the
/// game first, then the id bound, then the limit); the bound values are passed in that order.
fn listing_query(game: bool, before: bool, placeholder: fn(usize) -> String) -> (String, String) {
    let mut conditions = Vec::new();
    let mut next = 1;
    if game {
        conditions.push(format!("game = {}", placeholder(next)));
        next += 1;
    }
    if before {
        conditions.push(format!("id < {}", placeholder(next)));
        next += 1;
    }
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    (where_clause, placeholder(next))
}

/// The columns a `matches` query selects, in [`MatchRow`]'s order.
const MATCH_COLUMNS: &str =
    "id, game, room, started_unix_ms, ended_unix_ms, ticks, end_reason, replay";

/// One game's leaderboard; `$game`/`$limit` are replaced by the dialect's placeholders.
const LEADERBOARD_QUERY: &str = "
    SELECT name,
           COUNT(DISTINCT match_id) AS matches,
           COUNT(DISTINCT CASE WHEN won THEN match_id END) AS wins,
           SUM(score) AS total_score,
           MAX(score) AS best_score
    FROM match_players
    WHERE game = $game
    GROUP BY name
    ORDER BY wins DESC, total_score DESC, name ASC
    LIMIT $limit";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend() {
        assert_eq!(
            Target::parse("sqlite:records.db"),
            Ok(Target::Sqlite("records.db"))
        );
        assert_eq!(
            Target::parse("sqlite://data/r.db"),
            Ok(Target::Sqlite("data/r.db"))
        );
        assert_eq!(
            Target::parse("sqlite:///var/r.db"),
            Ok(Target::Sqlite("/var/r.db"))
        );
        assert_eq!(
            Target::parse("sqlite:/var/r.db"),
            Ok(Target::Sqlite("/var/r.db"))
        );
        assert_eq!(
            Target::parse("sqlite::memory:"),
            Ok(Target::Sqlite(":memory:"))
        );
        for postgres in [
            "postgres://u:p@host/db",
            "postgresql://u@/db?host=/run/postgresql",
            "host=/run/postgresql user=u dbname=db",
        ] {
            assert_eq!(Target::parse(postgres), Ok(Target::Postgres(postgres)));
        }
        assert!(Target::parse("sqlite:").is_err());
        assert!(Target::parse("sqlite://").is_err());
    }

    #[test]
    fn other_schemes_are_refused_in_one_line_without_the_rest_of_the_url() {
        for url in ["mysql://root:hunter2@db/x", "records.db", "", "redis://x"] {
            let StoreError(message) = Target::parse(url).unwrap_err();
            assert!(!message.contains('\n'), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
            for form in [
                "sqlite:PATH",
                "sqlite://PATH",
                "postgres://",
                "postgresql://",
            ] {
                assert!(message.contains(form), "{message}");
            }
        }
    }

    #[test]
    fn migrations_are_numbered_from_one_without_gaps() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, index as i64 + 1);
        }
        assert_eq!(SCHEMA_VERSION, MIGRATIONS.len() as i64);
        assert!(check_schema_version(SCHEMA_VERSION).is_ok());
        let StoreError(message) = check_schema_version(SCHEMA_VERSION + 1).unwrap_err();
        assert!(
            message.contains("newer than this tickwire knows"),
            "{message}"
        );
    }

    #[test]
    fn winners_need_two_players_and_the_top_score() {
        let players = |scores: &[i64]| -> Vec<PlayerResult> {
            scores
                .iter()
                .map(|&score| PlayerResult {
                    name: format!("p{score}"),
                    score,
                    stats: serde_json::Value::Null,
                    left_early: false,
                })
                .collect()
        };
        assert_eq!(winners(&players(&[])), Vec::<bool>::new());
        assert_eq!(winners(&players(&[50])), [false]);
        assert_eq!(winners(&players(&[3, 7])), [false, true]);
        assert_eq!(winners(&players(&[7, 7, 1])), [true, true, false]);
        assert_eq!(winners(&players(&[-5, -3])), [false, true]);
    }
}
