//! tickwire's room directory on Redis: many `tickwire serve` processes, one directory.
//!
//! [`RedisDirectory`] implements [`tickwire_net::directory::Directory`] with one Lua script per
//! operation (src/lua/, each bounded in work and atomic in Redis), on Redis's own clock (`TIME`),
//! through the `redis` crate's reconnecting connection manager. Redis is never on the tick path:
//! it is touched on matchmaking, seat redemption, leaving, heartbeats and reaping only. The
//! scripts compute their keys from a prefix, so they need one Redis (with replicas or Sentinel
//! if you like), not a sharded Redis Cluster.

pub mod testing;

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, Script};
use tickwire_net::directory::{
    Capacity, Directory, DirectoryError, Liveness, MatchError, MatchRequest, NodeEntry, NodeSpec,
    Placement, Reaped, RedeemError, Redeemed, RoomEntry,
};

/// The scripts, each with the shared prelude in front.
macro_rules! script {
    ($file:literal) => {
        concat!(
            include_str!("lua/prelude.lua"),
            include_str!(concat!("lua/", $file))
        )
    };
}

struct Scripts {
    register: Script,
    heartbeat: Script,
    matchmake: Script,
    redeem: Script,
    leave: Script,
    claim: Script,
    deregister: Script,
    reap: Script,
    rooms: Script,
    nodes: Script,
}

impl Scripts {
    fn new() -> Scripts {
        Scripts {
            register: Script::new(script!("register.lua")),
            heartbeat: Script::new(script!("heartbeat.lua")),
            matchmake: Script::new(script!("matchmake.lua")),
            redeem: Script::new(script!("redeem.lua")),
            leave: Script::new(script!("leave.lua")),
            claim: Script::new(script!("claim.lua")),
            deregister: Script::new(script!("deregister.lua")),
            reap: Script::new(script!("reap.lua")),
            rooms: Script::new(script!("rooms.lua")),
            nodes: Script::new(script!("nodes.lua")),
        }
    }
}

/// A room directory in Redis.
pub struct RedisDirectory {
    connection: ConnectionManager,
    prefix: String,
    scripts: Scripts,
}

impl std::fmt::Debug for RedisDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisDirectory")
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// How long one directory call may take before it counts as failed (Redis down or stuck).
pub const CALL_TIMEOUT: Duration = Duration::from_millis(800);

impl RedisDirectory {
    /// Connects to `url` (`redis://host:port`, `redis+unix:///path/to/socket`); keys start with
    /// `prefix:`. The connection reconnects by itself; a call made while Redis is away fails
    /// within [`CALL_TIMEOUT`].
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisDirectory, DirectoryError> {
        let client = redis::Client::open(url).map_err(|error| DirectoryError(error.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(|error| DirectoryError(error.to_string()))?;
        Ok(RedisDirectory {
            connection,
            prefix: prefix.to_string(),
            scripts: Scripts::new(),
        })
    }

    /// Runs a script with the prefix and `args`; its reply is a list of strings.
    async fn run(&self, script: &Script, args: &[&str]) -> Result<Vec<String>, DirectoryError> {
        let mut invocation = script.prepare_invoke();
        invocation.arg(&self.prefix);
        for arg in args {
            invocation.arg(*arg);
        }
        let mut connection = self.connection.clone();
        let reply = tokio::time::timeout(CALL_TIMEOUT, invocation.invoke_async(&mut connection))
            .await
            .map_err(|_| DirectoryError("no answer from Redis in time".into()))?
            .map_err(|error| DirectoryError(error.to_string()))?;
        Vec::<String>::from_redis_value(reply).map_err(|error| DirectoryError(error.to_string()))
    }
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, DirectoryError> {
    text.parse()
        .map_err(|_| DirectoryError(format!("unexpected reply from Redis: {text:?}")))
}

fn unexpected(reply: &[String]) -> DirectoryError {
    DirectoryError(format!("unexpected reply from Redis: {reply:?}"))
}

impl Directory for RedisDirectory {
    async fn register(&self, node: &NodeSpec, ttl_ms: u64) -> Result<u64, DirectoryError> {
        let reply = self
            .run(
                &self.scripts.register,
                &[
                    &node.id,
                    &node.url,
                    &node.room_cap.to_string(),
                    &ttl_ms.to_string(),
                ],
            )
            .await?;
        number(reply.first().ok_or_else(|| unexpected(&reply))?)
    }

    async fn heartbeat(
        &self,
        node: &str,
        epoch: u64,
        ttl_ms: u64,
        draining: bool,
    ) -> Result<Liveness, DirectoryError> {
        let reply = self
            .run(
                &self.scripts.heartbeat,
                &[
                    node,
                    &epoch.to_string(),
                    &ttl_ms.to_string(),
                    if draining { "1" } else { "0" },
                ],
            )
            .await?;
        match reply.first().map(String::as_str) {
            Some("alive") => Ok(Liveness::Alive),
            Some("evicted") => Ok(Liveness::Evicted),
            _ => Err(unexpected(&reply)),
        }
    }

    async fn matchmake(&self, request: &MatchRequest) -> Result<Placement, MatchError> {
        let reply = self
            .run(
                &self.scripts.matchmake,
                &[
                    request.room.as_deref().unwrap_or(""),
                    if request.spectate { "1" } else { "0" },
                    &request.seat,
                    &request.seat_ttl_ms.to_string(),
                    &request.capacity.players.to_string(),
                    &request.capacity.spectators.to_string(),
                ],
            )
            .await?;
        match reply.as_slice() {
            [status, node, url, room, created, epoch] if status == "ok" => Ok(Placement {
                node: node.clone(),
                url: url.clone(),
                room: room.clone(),
                created: created == "1",
                epoch: number(epoch)?,
            }),
            [status] if status == "full" => Err(MatchError::RoomFull),
            [status] if status == "nonode" => Err(MatchError::NoNode),
            [status] if status == "closing" => Err(MatchError::Closing),
            [status] if status == "dup" => {
                Err(DirectoryError("seat id already in use".into()).into())
            }
            _ => Err(unexpected(&reply).into()),
        }
    }

    async fn redeem(&self, node: &str, seat: &str) -> Result<Redeemed, RedeemError> {
        let reply = self.run(&self.scripts.redeem, &[node, seat]).await?;
        match reply.as_slice() {
            [status, room, spectate] if status == "ok" => Ok(Redeemed {
                room: room.clone(),
                spectate: spectate == "1",
            }),
            [status] if status == "unknown" => Err(RedeemError::Unknown),
            [status] if status == "wrong" => Err(RedeemError::WrongNode),
            _ => Err(unexpected(&reply).into()),
        }
    }

    async fn leave(&self, node: &str, room: &str, spectate: bool) -> Result<(), DirectoryError> {
        self.run(
            &self.scripts.leave,
            &[node, room, if spectate { "1" } else { "0" }],
        )
        .await
        .map(drop)
    }

    async fn claim(
        &self,
        node: &str,
        epoch: u64,
        room: &RoomEntry,
    ) -> Result<bool, DirectoryError> {
        let reply = self
            .run(
                &self.scripts.claim,
                &[
                    node,
                    &epoch.to_string(),
                    &room.name,
                    &room.players.to_string(),
                    &room.spectators.to_string(),
                    &room.capacity.players.to_string(),
                    &room.capacity.spectators.to_string(),
                ],
            )
            .await?;
        match reply.first().map(String::as_str) {
            Some("1") => Ok(true),
            Some("0") => Ok(false),
            Some("stale") => Err(DirectoryError(
                "not registered with this epoch: register again".into(),
            )),
            _ => Err(unexpected(&reply)),
        }
    }

    async fn deregister(&self, node: &str) -> Result<(), DirectoryError> {
        self.run(&self.scripts.deregister, &[node]).await.map(drop)
    }

    async fn reap(&self, limit: u32) -> Result<Reaped, DirectoryError> {
        let reply = self.run(&self.scripts.reap, &[&limit.to_string()]).await?;
        match reply.as_slice() {
            [nodes, rooms, seats] => Ok(Reaped {
                nodes: number(nodes)?,
                rooms: number(rooms)?,
                seats: number(seats)?,
            }),
            _ => Err(unexpected(&reply)),
        }
    }

    async fn rooms(&self) -> Result<Vec<RoomEntry>, DirectoryError> {
        let reply = self.run(&self.scripts.rooms, &[]).await?;
        reply
            .chunks(8)
            .map(|row| match row {
                [name, node, players, spectators, rp, rs, cp, cs] => Ok(RoomEntry {
                    name: name.clone(),
                    node: node.clone(),
                    players: number(players)?,
                    spectators: number(spectators)?,
                    reserved_players: number(rp)?,
                    reserved_spectators: number(rs)?,
                    capacity: Capacity {
                        players: number(cp)?,
                        spectators: number(cs)?,
                    },
                }),
                _ => Err(unexpected(row)),
            })
            .collect()
    }

    async fn nodes(&self) -> Result<Vec<NodeEntry>, DirectoryError> {
        let reply = self.run(&self.scripts.nodes, &[]).await?;
        reply
            .chunks(7)
            .map(|row| match row {
                [id, url, rooms, cap, epoch, deadline, draining] => Ok(NodeEntry {
                    id: id.clone(),
                    url: url.clone(),
                    rooms: number(rooms)?,
                    room_cap: number(cap)?,
                    epoch: number(epoch)?,
                    deadline_in_ms: number(deadline)?,
                    draining: draining == "1",
                }),
                _ => Err(unexpected(row)),
            })
            .collect()
    }
}
