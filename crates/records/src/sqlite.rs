//! The SQLite backend: one database file, one connection behind a mutex.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use tickwire_net::results::{
    LeaderboardRow, MatchResult, MatchStore, PlayerResult, StoreError, StoredMatch,
};

use crate::{
    LEADERBOARD_QUERY, MATCH_COLUMNS, MIGRATIONS, MatchRow, check_schema_version, listing_query,
    player_result, player_rows,
};

/// How long a call waits for another connection's lock on the file (a backup, a shell, a
/// second process opening it) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Match results in an SQLite file; see the crate docs.
pub struct SqliteStore {
    path: PathBuf,
    /// The one connection; a call holds it for its whole transaction.
    connection: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it and its parent directories if needed) the database at `path`, or a
    /// private in-memory one for `:memory:`, and applies the schema's migrations.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref();
        let in_memory = path == Path::new(":memory:");
        let open_failed = |what: &str| {
            let path = path.display().to_string();
            let what = what.to_owned();
            move |error: rusqlite::Error| StoreError(format!("sqlite {path}: {what}: {error}"))
        };
        if !in_memory
            && let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|error| {
                StoreError(format!("sqlite: creating {}: {error}", parent.display()))
            })?;
        }
        let mut connection = Connection::open(path).map_err(open_failed("open"))?;
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(open_failed("busy timeout"))?;
        // The journal mode is a property of the file; every open sets it, the first one for
        // good. An in-memory database keeps its own ("memory").
        let journal_mode: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(open_failed("journal mode"))?;
        if !in_memory && !journal_mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError(format!(
                "sqlite {}: journal mode is {journal_mode:?}, not WAL",
                path.display()
            )));
        }
        connection
            .execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .map_err(open_failed("pragmas"))?;
        migrate(&mut connection).map_err(|StoreError(error)| {
            StoreError(format!("sqlite {}: {error}", path.display()))
        })?;
        Ok(SqliteStore {
            path: path.to_owned(),
            connection: Mutex::new(connection),
        })
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        // A call that panicked left no transaction open (rusqlite rolls back on drop), so the
        // connection is still good.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Applies the missing migrations in one `BEGIN IMMEDIATE` transaction (the file's write lock
/// for the whole check, so concurrent opens take turns).
fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let migration_failed = |what: &'static str| move |error| StoreError(format!("{what}: {error}"));
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(migration_failed("migrations: begin"))?;
    transaction
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY,
                applied_unix_ms INTEGER NOT NULL
            )",
        )
        .map_err(migration_failed("migrations: schema_migrations"))?;
    let current: i64 = transaction
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |row| row.get(0),
        )
        .map_err(migration_failed("migrations: current version"))?;
    check_schema_version(current)?;
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        transaction
            .execute_batch(migration.sqlite)
            .map_err(|error| StoreError(format!("migration {}: {error}", migration.version)))?;
        transaction
            .execute(
                "INSERT INTO schema_migrations (version, applied_unix_ms) VALUES (?1, ?2)",
                params![migration.version, unix_ms_now()],
            )
            .map_err(migration_failed("migrations: recording the version"))?;
    }
    transaction
        .commit()
        .map_err(migration_failed("migrations: commit"))
}

fn unix_ms_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}

fn failed(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |error| StoreError(format!("sqlite {what}: {error}"))
}

impl MatchStore for SqliteStore {
    fn record(&self, result: &MatchResult) -> Result<i64, StoreError> {
        let players = player_rows(result)?;
        let mut connection = self.connection();
        // IMMEDIATE: take the write lock at BEGIN, where the busy timeout applies, rather than
        // at the first insert.
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed("record: begin"))?;
        transaction
            .execute(
                "INSERT INTO matches
                     (game, room, started_unix_ms, ended_unix_ms, ticks, end_reason, replay)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    result.game,
                    result.room,
                    result.started_unix_ms,
                    result.ended_unix_ms,
                    result.ticks,
                    result.end,
                    result.replay,
                ],
            )
            .map_err(failed("record: match"))?;
        let id = transaction.last_insert_rowid();
        {
            let mut insert = transaction
                .prepare_cached(
                    "INSERT INTO match_players
                         (match_id, position, game, name, score, stats, left_early, won)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(failed("record: players"))?;
            for (position, row) in players.iter().enumerate() {
                insert
                    .execute(params![
                        id,
                        position as i64,
                        result.game,
                        row.player.name,
                        row.player.score,
                        row.stats,
                        row.player.left_early,
                        row.won,
                    ])
                    .map_err(failed("record: player"))?;
            }
        }
        transaction.commit().map_err(failed("record: commit"))?;
        Ok(id)
    }

    fn matches(
        &self,
        game: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<StoredMatch>, StoreError> {
        let (where_clause, limit_placeholder) =
            listing_query(game.is_some(), before.is_some(), |n| format!("?{n}"));
        let query = format!(
            "SELECT {MATCH_COLUMNS} FROM matches {where_clause} ORDER BY id DESC LIMIT {limit_placeholder}"
        );
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(game) = game {
            values.push(game.to_owned().into());
        }
        if let Some(before) = before {
            values.push(before.into());
        }
        values.push(i64::from(limit).into());
        let mut connection = self.connection();
        // One read transaction: the matches and their players from one snapshot.
        let transaction = connection.transaction().map_err(failed("matches: begin"))?;
        let rows = {
            let mut statement = transaction
                .prepare_cached(&query)
                .map_err(failed("matches"))?;
            statement
                .query_map(rusqlite::params_from_iter(values), match_row)
                .map_err(failed("matches"))?
                .collect::<Result<Vec<MatchRow>, _>>()
                .map_err(failed("matches"))?
        };
        rows.into_iter()
            .map(|row| {
                let players = players(&transaction, row.id)?;
                row.with_players(players)
            })
            .collect()
    }

    fn get(&self, id: i64) -> Result<Option<StoredMatch>, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(failed("get: begin"))?;
        let row = transaction
            .prepare_cached(&format!(
                "SELECT {MATCH_COLUMNS} FROM matches WHERE id = ?1"
            ))
            .and_then(|mut statement| statement.query_row([id], match_row).optional())
            .map_err(failed("get"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let players = players(&transaction, id)?;
        row.with_players(players).map(Some)
    }

    fn leaderboard(&self, game: &str, limit: u32) -> Result<Vec<LeaderboardRow>, StoreError> {
        let query = LEADERBOARD_QUERY
            .replace("$game", "?1")
            .replace("$limit", "?2");
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(&query)
            .map_err(failed("leaderboard"))?;
        statement
            .query_map(params![game, i64::from(limit)], |row| {
                let count = |column: usize| -> rusqlite::Result<u64> {
                    let value: i64 = row.get(column)?;
                    u64::try_from(value)
                        .map_err(|_| rusqlite::Error::IntegralValueOutOfRange(column, value))
                };
                Ok(LeaderboardRow {
                    name: row.get(0)?,
                    matches: count(1)?,
                    wins: count(2)?,
                    total_score: row.get(3)?,
                    best_score: row.get(4)?,
                })
            })
            .map_err(failed("leaderboard"))?
            .collect::<Result<_, _>>()
            .map_err(failed("leaderboard"))
    }
}

fn match_row(row: &Row<'_>) -> rusqlite::Result<MatchRow> {
    Ok(MatchRow {
        id: row.get(0)?,
        game: row.get(1)?,
        room: row.get(2)?,
        started_unix_ms: row.get(3)?,
        ended_unix_ms: row.get(4)?,
        ticks: row.get(5)?,
        end_reason: row.get(6)?,
        replay: row.get(7)?,
    })
}

/// A match's players in join order.
fn players(connection: &Connection, match_id: i64) -> Result<Vec<PlayerResult>, StoreError> {
    let mut statement = connection
        .prepare_cached(
            "SELECT name, score, stats, left_early FROM match_players
             WHERE match_id = ?1 ORDER BY position",
        )
        .map_err(failed("players"))?;
    let rows = statement
        .query_map([match_id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, bool>(3)?,
            ))
        })
        .map_err(failed("players"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(failed("players"))?;
    rows.into_iter()
        .map(|(name, score, stats, left_early)| {
            player_result(match_id, name, score, &stats, left_early)
        })
        .collect()
}
