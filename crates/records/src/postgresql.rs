//! The PostgreSQL backend: the sync `postgres` client on a thread of its own.
//!
//! The sync client runs a small tokio runtime of its own inside every call, which panics on a
//! thread that is already running async code (and dropping it there panics too). So the client
//! lives on a thread the store owns, and the trait's calls are jobs sent to it: the store works
//! the same from tokio's blocking pool, from an async worker and from a plain thread, and the
//! jobs take turns like the SQLite backend's calls.

use std::str::FromStr;
use std::sync::mpsc;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls};
use tickwire_net::results::{
    LeaderboardRow, MatchResult, MatchStore, PlayerResult, StoreError, StoredMatch,
};

use crate::{
    LEADERBOARD_QUERY, MATCH_COLUMNS, MIGRATIONS, MatchRow, check_schema_version, listing_query,
    player_result, player_rows,
};

/// How long connecting may take when the connection string does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The transaction advisory lock that serializes migrations across processes ("tickwir").
const MIGRATION_LOCK: i64 = 0x0074_6963_6b77_6972;

/// A call for the client's thread.
type Job = Box<dyn FnOnce(&mut Session) + Send>;

/// Match results in PostgreSQL; see the crate docs.
pub struct PostgresStore {
    /// Where the client's thread takes calls; dropping the store ends that thread.
    jobs: mpsc::Sender<Job>,
    /// Hosts and database, for Debug (never the password).
    target: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects with a `postgres://` / `postgresql://` URL or a key=value string and applies the
    /// schema's migrations.
    pub fn connect(params: &str) -> Result<PostgresStore, StoreError> {
        let mut config = Config::from_str(params)
            .map_err(|error| StoreError(format!("postgres connection string: {error}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("tickwire");
        }
        let target = describe(&config);
        let (jobs, job_queue) = mpsc::channel::<Job>();
        let (opened_sender, opened) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("tickwire-records-postgres".to_owned())
            .spawn(move || {
                let mut session = Session {
                    config,
                    client: None,
                };
                let migrated = session.run("migrations", migrate);
                let ok = migrated.is_ok();
                let _ = opened_sender.send(migrated);
                if ok {
                    for job in job_queue {
                        job(&mut session);
                    }
                }
            })
            .map_err(|error| StoreError(format!("postgres: starting its thread: {error}")))?;
        opened
            .recv()
            .map_err(|_| StoreError("postgres: its thread stopped".to_owned()))??;
        Ok(PostgresStore { jobs, target })
    }

    /// Runs `call` on the client's thread and waits for its answer.
    fn call<T: Send + 'static>(
        &self,
        call: impl FnOnce(&mut Session) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (answer_sender, answer) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |session| {
            let _ = answer_sender.send(call(session));
        });
        let stopped = || StoreError("postgres: its thread stopped".to_owned());
        self.jobs.send(job).map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }
}

/// The client's thread's state: how to connect, and the connection when there is one.
struct Session {
    config: Config,
    /// None before the first call and after a broken connection; the next call connects.
    client: Option<Client>,
}

/// Why one attempt of a call failed.
enum Failure {
    /// The server or the connection failed. `retry_safe`: nothing can have been stored yet, so
    /// the call may run again on a new connection if this one broke.
    Postgres {
        error: postgres::Error,
        retry_safe: bool,
    },
    /// What was read back cannot be a result (or a result cannot be written); not retried.
    Data(StoreError),
}

impl From<postgres::Error> for Failure {
    fn from(error: postgres::Error) -> Failure {
        Failure::Postgres {
            error,
            retry_safe: true,
        }
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Failure {
        Failure::Data(error)
    }
}

impl Session {
    /// Runs `attempt` on the connection (connecting first if there is none); if the connection
    /// turns out broken and the failure is retry-safe, connects again and runs it once more.
    fn run<T>(
        &mut self,
        what: &str,
        mut attempt: impl FnMut(&mut Client) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        let mut retried = false;
        loop {
            let client = match &mut self.client {
                Some(client) => client,
                None => {
                    let client = self.config.connect(NoTls).map_err(|error| {
                        StoreError(format!("postgres {what}: connecting: {}", explain(&error)))
                    })?;
                    self.client.insert(client)
                }
            };
            let (error, retry_safe) = match attempt(client) {
                Ok(value) => return Ok(value),
                Err(Failure::Data(error)) => return Err(error),
                Err(Failure::Postgres { error, retry_safe }) => (error, retry_safe),
            };
            let broken = client.is_closed() || connection_lost(&error);
            if broken {
                self.client = None;
            }
            if broken && retry_safe && !retried {
                retried = true;
                continue;
            }
            let lost = if broken && !retry_safe {
                " (the connection broke after the commit was sent: the match may be stored)"
            } else {
                ""
            };
            return Err(StoreError(format!(
                "postgres {what}: {}{lost}",
                explain(&error)
            )));
        }
    }
}

/// The connection is gone: closed, reset (an I/O error), or the server said it is ending the
/// session (terminated, shutting down) or that the connection failed.
fn connection_lost(error: &postgres::Error) -> bool {
    let io_error = std::error::Error::source(error)
        .is_some_and(|source| source.downcast_ref::<std::io::Error>().is_some());
    if error.is_closed() || io_error {
        return true;
    }
    // Class 08: connection exception; 57P: operator intervention that ends the session
    // (admin_shutdown when terminated, crash_shutdown, cannot_connect_now).
    error
        .code()
        .map(SqlState::code)
        .is_some_and(|code| code.starts_with("08") || code.starts_with("57P"))
}

/// The error with what the server said (the client's own message for a server error is only
/// "db error") or what it was caused by.
fn explain(error: &postgres::Error) -> String {
    if let Some(server) = error.as_db_error() {
        return format!(
            "{} {}: {}",
            server.severity(),
            server.code().code(),
            server.message()
        );
    }
    let mut explained = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        explained.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    explained
}

/// Hosts and database of `config`, without the credentials.
fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    format!(
        "{}/{}",
        hosts.join(","),
        config.get_dbname().unwrap_or("(default)")
    )
}

/// Applies the missing migrations in one transaction that holds [`MIGRATION_LOCK`] throughout.
fn migrate(client: &mut Client) -> Result<(), Failure> {
    let mut transaction = client.transaction()?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    transaction.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )?;
    let current: i64 = transaction
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
            &[],
        )?
        .try_get(0)?;
    check_schema_version(current)?;
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        transaction
            .batch_execute(migration.postgres)
            .map_err(|error| {
                StoreError(format!(
                    "postgres migration {}: {}",
                    migration.version,
                    explain(&error)
                ))
            })?;
        transaction.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&migration.version],
        )?;
    }
    transaction.commit()?;
    Ok(())
}

impl MatchStore for PostgresStore {
    fn record(&self, result: &MatchResult) -> Result<i64, StoreError> {
        let result = result.clone();
        self.call(move |session| {
            let players = player_rows(&result)?;
            session.run("record", |client| {
                let mut transaction = client.transaction()?;
                let id: i64 = transaction
                    .query_one(
                        "INSERT INTO matches
                             (game, room, started_unix_ms, ended_unix_ms, ticks, end_reason, replay)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)
                         RETURNING id",
                        &[
                            &result.game,
                            &result.room,
                            &result.started_unix_ms,
                            &result.ended_unix_ms,
                            &i64::from(result.ticks),
                            &result.end,
                            &result.replay,
                        ],
                    )?
                    .try_get(0)?;
                let insert = transaction.prepare(
                    "INSERT INTO match_players
                         (match_id, position, game, name, score, stats, left_early, won)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )?;
                for (position, row) in players.iter().enumerate() {
                    let position = i32::try_from(position).map_err(|_| {
                        StoreError(format!("record: {} players are too many", players.len()))
                    })?;
                    transaction.execute(
                        &insert,
                        &[
                            &id,
                            &position,
                            &result.game,
                            &row.player.name,
                            &row.player.score,
                            &row.stats,
                            &row.player.left_early,
                            &row.won,
                        ],
                    )?;
                }
                // Once the commit is sent, a broken connection leaves the outcome unknown.
                transaction.commit().map_err(|error| Failure::Postgres {
                    error,
                    retry_safe: false,
                })?;
                Ok(id)
            })
        })
    }

    fn matches(
        &self,
        game: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<StoredMatch>, StoreError> {
        let game = game.map(str::to_owned);
        self.call(move |session| {
            session.run("matches", |client| {
                let (where_clause, limit_placeholder) =
                    listing_query(game.is_some(), before.is_some(), |n| format!("${n}"));
                let query = format!(
                    "SELECT {MATCH_COLUMNS} FROM matches {where_clause} \
                     ORDER BY id DESC LIMIT {limit_placeholder}"
                );
                let limit = i64::from(limit);
                let mut values: Vec<&(dyn postgres::types::ToSql + Sync)> = Vec::new();
                if let Some(game) = &game {
                    values.push(game);
                }
                if let Some(before) = &before {
                    values.push(before);
                }
                values.push(&limit);
                let rows: Vec<MatchRow> = client
                    .query(&query, &values)?
                    .iter()
                    .map(match_row)
                    .collect::<Result<_, _>>()?;
                // A committed match's players were committed with it, so they are all visible
                // to this second query.
                let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
                let mut players = players(client, &ids)?;
                rows.into_iter()
                    .map(|row| {
                        let of_match = players.remove(&row.id).unwrap_or_default();
                        Ok(row.with_players(of_match)?)
                    })
                    .collect()
            })
        })
    }

    fn get(&self, id: i64) -> Result<Option<StoredMatch>, StoreError> {
        self.call(move |session| {
            session.run("get", |client| {
                let query = format!("SELECT {MATCH_COLUMNS} FROM matches WHERE id = $1");
                let Some(row) = client.query_opt(&query, &[&id])? else {
                    return Ok(None);
                };
                let row = match_row(&row)?;
                let of_match = players(client, &[id])?.remove(&id).unwrap_or_default();
                Ok(Some(row.with_players(of_match)?))
            })
        })
    }

    fn leaderboard(&self, game: &str, limit: u32) -> Result<Vec<LeaderboardRow>, StoreError> {
        let game = game.to_owned();
        self.call(move |session| {
            session.run("leaderboard", |client| {
                // SUM of BIGINT is NUMERIC in PostgreSQL; the total is a BIGINT like each score.
                let query = LEADERBOARD_QUERY
                    .replace("SUM(score)", "SUM(score)::BIGINT")
                    .replace("$game", "$1")
                    .replace("$limit", "$2");
                client
                    .query(&query, &[&game, &i64::from(limit)])?
                    .iter()
                    .map(|row| {
                        let count = |column: &str| -> Result<u64, Failure> {
                            let value: i64 = row.try_get(column)?;
                            u64::try_from(value).map_err(|_| {
                                StoreError(format!("leaderboard: {column} is {value}")).into()
                            })
                        };
                        Ok(LeaderboardRow {
                            name: row.try_get("name")?,
                            matches: count("matches")?,
                            wins: count("wins")?,
                            total_score: row.try_get("total_score")?,
                            best_score: row.try_get("best_score")?,
                        })
                    })
                    .collect()
            })
        })
    }
}

// try_get rather than get: a column of an unexpected type is an error, not a panic that would
// end the client's thread.
fn match_row(row: &postgres::Row) -> Result<MatchRow, postgres::Error> {
    Ok(MatchRow {
        id: row.try_get(0)?,
        game: row.try_get(1)?,
        room: row.try_get(2)?,
        started_unix_ms: row.try_get(3)?,
        ended_unix_ms: row.try_get(4)?,
        ticks: row.try_get(5)?,
        end_reason: row.try_get(6)?,
        replay: row.try_get(7)?,
    })
}

/// The players of the matches `ids`, each match's in join order.
fn players(
    client: &mut Client,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, Vec<PlayerResult>>, Failure> {
    let mut by_match: std::collections::HashMap<i64, Vec<PlayerResult>> =
        std::collections::HashMap::new();
    if ids.is_empty() {
        return Ok(by_match);
    }
    let rows = client.query(
        "SELECT match_id, name, score, stats, left_early FROM match_players
         WHERE match_id = ANY($1) ORDER BY match_id, position",
        &[&ids],
    )?;
    for row in rows {
        let match_id: i64 = row.try_get(0)?;
        let stats: &str = row.try_get(3)?;
        let player = player_result(
            match_id,
            row.try_get(1)?,
            row.try_get(2)?,
            stats,
            row.try_get(4)?,
        )?;
        by_match.entry(match_id).or_default().push(player);
    }
    Ok(by_match)
}
