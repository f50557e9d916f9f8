//! Server configuration: assets/server.toml is the default and the documentation of every key.
//!
//! The engine's keys sit at the top level; each game's settings sit in a table named after the
//! game (`[arena]`, `[cards]`, ...), which the engine hands, as written, to the game it runs
//! ([`ServerConfig::game_config`]). One file can configure several games; `game` says which
//! one `tickwire serve` runs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tickwire_protocol::Schema;

use crate::game::Game;

/// The built-in default configuration (every key, documented).
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../../../assets/server.toml");

/// Everything `tickwire serve` can be told. Defaults come from assets/server.toml.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The game `tickwire serve` runs (a name from `tickwire serve --help`).
    pub game: String,
    /// Address to listen on.
    pub addr: SocketAddr,
    /// Simulation ticks per second (10..=128).
    pub tick_rate: u32,
    /// A snapshot every this many ticks (1..=16).
    pub snapshot_interval: u32,
    /// Player seats per room.
    pub max_players_per_room: usize,
    /// Spectator seats per room.
    pub max_spectators_per_room: usize,
    /// Rooms at once.
    pub max_rooms: usize,
    /// Most snapshot frames kept per room as delta baselines (2..=256).
    pub history: u32,
    /// Each client's snapshot byte budget per second (0: unlimited).
    pub client_bytes_per_s: u32,
    /// Slow the snapshot rate of a client whose acknowledgements come back late.
    pub pace_snapshots: bool,
    /// Whole-view snapshots per second for a JSON-mode client (0 < rate <= tick_rate).
    pub json_snapshot_rate: f64,
    /// Base RNG seed.
    pub seed: u64,
    /// Handshake deadline in seconds.
    pub handshake_timeout_s: f64,
    /// Stall deadline in seconds.
    pub stall_timeout_s: f64,
    /// Reliable messages queued per client at most.
    pub reliable_queue_max: usize,
    /// Room inbox capacity in messages.
    pub room_inbox: usize,
    /// Seconds a dropped player is held for resuming.
    pub resume_grace_s: f64,
    /// Connection cap, total.
    pub max_connections: usize,
    /// Connection cap per source IP.
    pub max_connections_per_ip: usize,
    /// Messages per second per connection, on average.
    pub msg_rate: f64,
    /// Message burst per connection.
    pub msg_burst: f64,
    /// In a cluster: seats one address may ask for per second (`POST /api/matchmake` and
    /// seatless Hellos), on average.
    pub matchmake_rate: f64,
    /// In a cluster: seats one address may ask for at once.
    pub matchmake_burst: f64,
    /// Seconds between server pings.
    pub ping_interval_s: f64,
    /// Seconds of silence after which a peer is closed.
    pub idle_timeout_s: f64,
    /// Shared secret for session tokens; empty disables authentication.
    pub auth_secret: String,
    /// Allowed browser origins; empty allows any.
    pub allowed_origins: Vec<String>,
    /// Where each room's match log goes (one file per match); empty: no recording.
    pub record_dir: PathBuf,
    /// A match log stops growing past this many megabytes (the rest of that match is not
    /// recorded; the log says so).
    pub record_max_file_mb: f64,
    /// Match logs older than this many days are deleted (0: kept for ever).
    pub record_keep_days: f64,
    /// The oldest match logs are deleted while all of them take more than this many megabytes
    /// (0: no limit).
    pub record_max_total_mb: f64,
    /// A whole state hash goes into the log every this many ticks (a 16-bit check goes in
    /// after every tick).
    pub record_hash_every: u32,
    /// Where match results and the leaderboard are stored: `sqlite:PATH` or
    /// `postgres://...`; empty: not stored. Opened by the binary (tickwire-records).
    pub results_db: String,
    /// TLS from the binary (`[tls]`): off unless both paths are set.
    pub tls: TlsConfig,
    /// Each game's table (`[arena]`, ...), as written: every top-level table of the file but
    /// the engine's own (`[tls]`).
    #[serde(skip)]
    pub games: BTreeMap<String, toml::Table>,
}

/// The `[tls]` table: PEM files of the certificate chain and its private key.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain (PEM), leaf first; empty: no TLS.
    pub cert: PathBuf,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1); empty: no TLS.
    pub key: PathBuf,
}

impl TlsConfig {
    /// The two paths, when TLS is on.
    pub fn files(&self) -> Option<(&Path, &Path)> {
        let set = |path: &PathBuf| !path.as_os_str().is_empty();
        (set(&self.cert) && set(&self.key)).then_some((&self.cert, &self.key))
    }
}

/// Top-level tables that belong to the engine, not to a game.
const ENGINE_TABLES: &[&str] = &["tls"];

/// Keys that were engine keys before games had their own tables, with where they live now, so
/// an old config file gets a clear error instead of "unknown field".
const MOVED_TO_ARENA: &[&str] = &["map", "npcs", "view_radius", "rules"];

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("invalid config {origin}: {message}")]
    Parse {
        /// Where the text came from.
        origin: String,
        /// What the parser said.
        message: String,
    },
    /// A value is out of its range.
    #[error("invalid config: {0}")]
    Invalid(String),
    /// The game's own table is unusable (a bad key, a map that does not load, ...).
    #[error("invalid [{game}] config: {message}")]
    Game {
        /// The game.
        game: &'static str,
        /// What is wrong, in one line.
        message: String,
    },
}

impl Default for ServerConfig {
    fn default() -> Self {
        // Invariant: the embedded default file is valid (checked by a test).
        ServerConfig::from_toml_str(DEFAULT_CONFIG_TOML, "assets/server.toml")
            .expect("the built-in assets/server.toml is valid")
    }
}

impl ServerConfig {
    /// The defaults, overridden by the keys present in `text`, then validated.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<ServerConfig, ConfigError> {
        let mut merged: toml::Table =
            DEFAULT_CONFIG_TOML
                .parse()
                .map_err(|error: toml::de::Error| ConfigError::Parse {
                    origin: "assets/server.toml".into(),
                    message: error.to_string(),
                })?;
        let overrides: toml::Table =
            text.parse()
                .map_err(|error: toml::de::Error| ConfigError::Parse {
                    origin: origin.into(),
                    message: error.message().to_string(),
                })?;
        if let Some(moved) = MOVED_TO_ARENA
            .iter()
            .find(|key| overrides.contains_key(**key))
        {
            return Err(ConfigError::Parse {
                origin: origin.into(),
                message: format!(
                    "`{moved}` is an arena setting now: move it under an [arena] table"
                ),
            });
        }
        merge_tables(&mut merged, overrides);
        // Every table at the top level is a game's; the engine's keys are all plain values.
        let games: BTreeMap<String, toml::Table> = merged
            .iter()
            .filter(|(key, _)| !ENGINE_TABLES.contains(&key.as_str()))
            .filter_map(|(key, value)| Some((key.clone(), value.as_table()?.clone())))
            .collect();
        merged.retain(|key, _| !games.contains_key(key));
        let mut config: ServerConfig =
            merged
                .try_into()
                .map_err(|error: toml::de::Error| ConfigError::Parse {
                    origin: origin.into(),
                    message: error.message().to_string(),
                })?;
        config.games = games;
        config.validate()?;
        Ok(config)
    }

    /// Whether a browser `Origin` may open the WebSocket or matchmake: any when the allow-list
    /// is empty.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.allowed_origins.is_empty()
            || self.allowed_origins.iter().any(|allowed| allowed == origin)
    }

    /// Ticks between two JSON-mode snapshots (`json_snapshot_rate` in ticks, at least 1).
    pub fn json_snapshot_interval(&self) -> u32 {
        ((self.tick_rate as f64 / self.json_snapshot_rate).round() as u32).max(1)
    }

    /// The game's table as written in the config file, as TOML text (empty without one): what
    /// a match log records so a replay builds the same game.
    pub fn game_table_text<G: Game>(&self) -> String {
        self.games
            .get(G::Wire::NAME)
            .and_then(|table| toml::to_string(table).ok())
            .unwrap_or_default()
    }

    /// The game's table, as `G::Config` (keys left out take the game's defaults).
    pub fn game_config<G: Game>(&self) -> Result<G::Config, ConfigError> {
        let name = G::Wire::NAME;
        match self.games.get(name) {
            None => Ok(G::Config::default()),
            Some(table) => {
                table
                    .clone()
                    .try_into()
                    .map_err(|error: toml::de::Error| ConfigError::Game {
                        game: name,
                        message: error.message().trim().to_string(),
                    })
            }
        }
    }

    /// The game's table for changing it by hand (command-line overrides), created if missing.
    pub fn game_table_mut(&mut self, game: &str) -> &mut toml::Table {
        self.games.entry(game.to_string()).or_default()
    }

    /// Reads a configuration file (keys left out keep their defaults).
    pub fn load(path: &Path) -> Result<ServerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        ServerConfig::from_toml_str(&text, &path.display().to_string())
    }

    /// Checks every range; call again after changing fields by hand.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let check = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::Invalid(what.to_string()))
            }
        };
        check(
            (10..=128).contains(&self.tick_rate),
            "tick_rate must be 10 to 128",
        )?;
        check(
            (1..=16).contains(&self.snapshot_interval),
            "snapshot_interval must be 1 to 16",
        )?;
        check(
            (1..=tickwire_protocol::limits::SCORES_MAX).contains(&self.max_players_per_room),
            "max_players_per_room must be 1 to 1024",
        )?;
        check(
            self.max_spectators_per_room <= 256,
            "max_spectators_per_room must be at most 256",
        )?;
        check(self.max_rooms >= 1, "max_rooms must be at least 1")?;
        check(
            tickwire_protocol::validate_game_name(&self.game).is_ok(),
            "game must be 1-32 of a-z 0-9 - _",
        )?;
        check(
            self.json_snapshot_rate * 255.0 >= self.tick_rate as f64
                && self.json_snapshot_rate <= self.tick_rate as f64,
            "json_snapshot_rate must be at least tick_rate / 255 and at most tick_rate",
        )?;
        let set = |path: &PathBuf| !path.as_os_str().is_empty();
        check(
            set(&self.tls.cert) == set(&self.tls.key),
            "[tls] needs both cert and key (or neither)",
        )?;
        check(
            (2..=256).contains(&self.history),
            "history must be 2 to 256",
        )?;
        check(
            self.handshake_timeout_s > 0.0 && self.handshake_timeout_s <= 300.0,
            "handshake_timeout_s must be in (0, 300]",
        )?;
        check(
            self.stall_timeout_s > 0.0 && self.stall_timeout_s <= 300.0,
            "stall_timeout_s must be in (0, 300]",
        )?;
        check(
            (4..=1 << 16).contains(&self.reliable_queue_max),
            "reliable_queue_max must be 4 to 65536",
        )?;
        check(
            (16..=1 << 20).contains(&self.room_inbox),
            "room_inbox must be 16 to 1048576",
        )?;
        check(
            (0.0..=3600.0).contains(&self.resume_grace_s),
            "resume_grace_s must be 0 to 3600",
        )?;
        check(
            self.max_connections >= 1,
            "max_connections must be at least 1",
        )?;
        check(
            self.max_connections_per_ip >= 1,
            "max_connections_per_ip must be at least 1",
        )?;
        check(
            self.msg_rate >= self.tick_rate as f64 && self.msg_rate.is_finite(),
            "msg_rate must be at least tick_rate (clients send an input every tick)",
        )?;
        check(
            self.msg_burst >= 1.0 && self.msg_burst.is_finite(),
            "msg_burst must be at least 1",
        )?;
        check(
            self.record_max_file_mb > 0.0 && self.record_max_file_mb.is_finite(),
            "record_max_file_mb must be a positive number",
        )?;
        check(
            self.record_keep_days >= 0.0 && self.record_keep_days.is_finite(),
            "record_keep_days must be 0 or more",
        )?;
        check(
            self.record_max_total_mb >= 0.0 && self.record_max_total_mb.is_finite(),
            "record_max_total_mb must be 0 or more",
        )?;
        check(
            (1..=100_000).contains(&self.record_hash_every),
            "record_hash_every must be 1 to 100000",
        )?;
        check(
            self.matchmake_rate > 0.0 && self.matchmake_rate.is_finite(),
            "matchmake_rate must be a positive number",
        )?;
        check(
            self.matchmake_burst >= 1.0 && self.matchmake_burst.is_finite(),
            "matchmake_burst must be at least 1",
        )?;
        check(
            self.ping_interval_s > 0.0 && self.ping_interval_s <= 300.0,
            "ping_interval_s must be in (0, 300]",
        )?;
        check(
            self.idle_timeout_s > self.ping_interval_s && self.idle_timeout_s <= 3600.0,
            "idle_timeout_s must be above ping_interval_s and at most 3600",
        )?;
        Ok(())
    }

    /// The handshake deadline.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.handshake_timeout_s)
    }

    /// Ticks a dropped player is held for resuming.
    pub fn resume_grace_ticks(&self) -> u32 {
        (self.resume_grace_s * self.tick_rate as f64).round() as u32
    }

    /// Takes the auth secret from TICKWIRE_AUTH_SECRET when set (it overrides the file), so
    /// real secrets can stay out of files.
    pub fn apply_env(&mut self) {
        if let Ok(secret) = std::env::var("TICKWIRE_AUTH_SECRET") {
            self.auth_secret = secret;
        }
    }

    /// The auth secret, if authentication is on.
    pub fn auth_secret(&self) -> Option<&[u8]> {
        (!self.auth_secret.is_empty()).then_some(self.auth_secret.as_bytes())
    }

    /// The ping interval.
    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs_f64(self.ping_interval_s)
    }

    /// The idle deadline.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.idle_timeout_s)
    }

    /// The stall deadline.
    pub fn stall_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.stall_timeout_s)
    }
}

/// Merges `overrides` into `base`: tables merge key by key (so `[arena] npcs = 5` keeps the
/// arena's other defaults), anything else replaces.
fn merge_tables(base: &mut toml::Table, overrides: toml::Table) {
    for (key, value) in overrides {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(value)) => {
                merge_tables(inner, value)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_defaults_are_valid() {
        let config = ServerConfig::default();
        assert_eq!(config.tick_rate, 30);
        assert_eq!(config.addr.port(), 7700);
        assert_eq!(config.game, "arena");
    }

    #[test]
    fn overrides_and_errors() {
        let config =
            ServerConfig::from_toml_str("tick_rate = 60\n[arena]\nnpcs = 5", "test").unwrap();
        assert_eq!((config.tick_rate, config.snapshot_interval), (60, 1));
        assert_eq!(config.games["arena"]["npcs"].as_integer(), Some(5));
        // The default file's other arena keys are kept.
        assert!(config.games["arena"].contains_key("map"));
        let moved = ServerConfig::from_toml_str("npcs = 5", "test").unwrap_err();
        assert!(moved.to_string().contains("[arena]"), "{moved}");
        let unknown = ServerConfig::from_toml_str("tick_rat = 60", "test").unwrap_err();
        assert!(unknown.to_string().contains("tick_rat"), "{unknown}");
        let range = ServerConfig::from_toml_str("tick_rate = 500", "test").unwrap_err();
        assert!(range.to_string().contains("tick_rate"), "{range}");
    }
}
