//! Match results behind a small trait: what a room hands over when its match ends, and what the
//! HTTP routes read back (`/api/matches`, `/api/matches/ID`, `/api/leaderboard`).
//!
//! A match is one room's life, from its creation to its close (emptied, or the server stopped).
//! Its results are each player's last stats row (taken when the player leaves, or at the end),
//! with the game's [`StatsRow::score`](tickwire_protocol::StatsRow::score). The backends live in
//! `tickwire-records` (an embedded SQLite file by default, PostgreSQL for many processes
//! sharing one leaderboard); this module has the types, the trait and the rules every backend
//! keeps:
//!
//! - [`MatchStore::record`] writes a match and its players in one transaction: after a crash
//!   the database has the whole match or none of it. It returns the match's id (ascending in
//!   the order matches were recorded by one store).
//! - A player's **win**: the match had at least two players and nobody scored more (ties all
//!   win).
//! - [`MatchStore::leaderboard`] ranks one game's players (by name) by wins, then total score,
//!   then name; [`MatchStore::matches`] lists matches newest first, optionally one game's,
//!   before an id (paging).
//! - Calls are blocking (the server runs them on tokio's blocking pool) and may fail; a failure
//!   loses nothing already stored.

use serde::{Deserialize, Serialize};

/// One player's result in a finished match.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlayerResult {
    /// The name the player joined with.
    pub name: String,
    /// The game's score for the player's last stats row.
    pub score: i64,
    /// The player's last stats row, as the game serializes it.
    pub stats: serde_json::Value,
    /// The player left (or was dropped past its resume window) before the match ended.
    pub left_early: bool,
}

/// A finished match, as a room hands it over.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchResult {
    /// The game's name (`arena`, `cards`, ...).
    pub game: String,
    /// The room's name.
    pub room: String,
    /// When the room was created and when it closed, in milliseconds since the Unix epoch.
    pub started_unix_ms: i64,
    /// See `started_unix_ms`.
    pub ended_unix_ms: i64,
    /// Ticks the room ran.
    pub ticks: u32,
    /// Why it ended: `empty` (its last player left), `shutdown` (the server stopped) or
    /// `crashed` (the game panicked; the results are its players' rows at the crash).
    pub end: String,
    /// The match's replay file name in the server's records directory, if it was recorded.
    pub replay: Option<String>,
    /// Every player who played, in the order they joined.
    pub players: Vec<PlayerResult>,
}

/// A stored match: its id and result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredMatch {
    /// The store's id for it.
    pub id: i64,
    /// What was recorded.
    #[serde(flatten)]
    pub result: MatchResult,
}

/// One line of a game's leaderboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderboardRow {
    /// The player's name.
    pub name: String,
    /// Matches played.
    pub matches: u64,
    /// Matches won (see the module's rules).
    pub wins: u64,
    /// Sum of the player's scores.
    pub total_score: i64,
    /// The player's best score in one match.
    pub best_score: i64,
}

/// Why a store call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("match store: {0}")]
pub struct StoreError(pub String);

/// Where finished matches go, and the queries the routes make. See the module's rules.
pub trait MatchStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores a finished match with its players, atomically; returns its id.
    fn record(&self, result: &MatchResult) -> Result<i64, StoreError>;

    /// Matches newest first: at most `limit`, only `game`'s when given, only ids below `before`
    /// when given.
    fn matches(
        &self,
        game: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<StoredMatch>, StoreError>;

    /// One match, if it exists.
    fn get(&self, id: i64) -> Result<Option<StoredMatch>, StoreError>;

    /// `game`'s leaderboard, at most `limit` rows.
    fn leaderboard(&self, game: &str, limit: u32) -> Result<Vec<LeaderboardRow>, StoreError>;
}
