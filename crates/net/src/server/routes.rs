//! The plain HTTP routes on the game's port: health, metrics, the rooms listing, and the
//! browser page (the engine's core, then the game's module).

use std::sync::atomic::Ordering::Relaxed;

use tickwire_protocol::Schema;
use tracing::debug;

use super::Shared;
use super::lobby::lock;
use crate::game::Game;
use crate::http;

/// Answers one plain HTTP request and returns (the connection then closes).
pub(crate) async fn serve_http<G: Game, S: tokio::io::AsyncWrite + Unpin>(
    shared: &Shared<G>,
    stream: &mut S,
    request: &http::Request,
) {
    if request.method != "GET" {
        let _ = http::respond(stream, "405 Method Not Allowed", "text/plain", b"only GET").await;
        return;
    }
    let result = match request.path.as_str() {
        "/healthz" => http::respond(stream, "200 OK", "text/plain", b"ok\n").await,
        "/metrics" => {
            let mut body = shared.metrics.render();
            if let Some(cluster) = shared.cluster.get() {
                cluster.render_metrics(&mut body);
            }
            if let Some(recorder) = &shared.recorder {
                recorder.metrics.render(&mut body);
            }
            http::respond(
                stream,
                "200 OK",
                "text/plain; version=0.0.4",
                body.as_bytes(),
            )
            .await
        }
        "/api/rooms" if request.query.as_deref() == Some("scope=cluster") => {
            match cluster_json(shared, true).await {
                Ok(body) => {
                    http::respond(stream, "200 OK", "application/json", body.as_bytes()).await
                }
                Err((status, why)) => {
                    http::respond(stream, status, "text/plain", why.as_bytes()).await
                }
            }
        }
        "/api/rooms" => {
            let body = rooms_json(shared);
            http::respond(stream, "200 OK", "application/json", body.as_bytes()).await
        }
        "/api/nodes" => match cluster_json(shared, false).await {
            Ok(body) => http::respond(stream, "200 OK", "application/json", body.as_bytes()).await,
            Err((status, why)) => http::respond(stream, status, "text/plain", why.as_bytes()).await,
        },
        path if path == "/api/leaderboard" || path.starts_with("/api/matches") => {
            match shared.results_permits.try_acquire() {
                Err(_) => {
                    let body = serde_json::json!({ "error": "busy: try again in a moment" });
                    let body = body.to_string();
                    http::respond(
                        stream,
                        "503 Service Unavailable",
                        "application/json",
                        body.as_bytes(),
                    )
                    .await
                }
                Ok(_permit) if path.starts_with("/api/matches/") && path.ends_with("/replay") => {
                    match replay_file(shared, path).await {
                        Ok((name, bytes)) => http::respond_download(stream, &name, &bytes).await,
                        Err((status, why)) => {
                            let body = serde_json::json!({ "error": why }).to_string();
                            http::respond(stream, status, "application/json", body.as_bytes()).await
                        }
                    }
                }
                Ok(_permit) => {
                    let (status, body) = results_json(shared, request).await;
                    http::respond(stream, status, "application/json", body.as_bytes()).await
                }
            }
        }
        path => match crate::web::asset(path, G::web_assets()) {
            Some(asset) => http::respond(stream, "200 OK", asset.content_type, asset.body).await,
            None => http::respond(stream, "404 Not Found", "text/plain", b"not found\n").await,
        },
    };
    if let Err(error) = result {
        debug!(%error, "http response failed");
    }
}

/// Matches listed at most by one `/api/matches` or `/api/leaderboard` answer.
const RESULTS_LIMIT_MAX: u32 = 100;

/// A query string's value for `key` (no percent-decoding: the values used here are names,
/// numbers and game names).
fn query<'a>(request: &'a http::Request, key: &str) -> Option<&'a str> {
    request
        .query
        .as_deref()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == key)
        .map(|(_, value)| value)
}

/// `/api/matches[?game=G&before=ID&limit=N]`, `/api/matches/ID` and
/// `/api/leaderboard[?game=G&limit=N]` from the match store.
async fn results_json<G: Game>(
    shared: &Shared<G>,
    request: &http::Request,
) -> (&'static str, String) {
    let error = |status, why: String| (status, serde_json::json!({ "error": why }).to_string());
    let Some(store) = shared.match_store.get() else {
        return error(
            "404 Not Found",
            "this server stores no results (results_db is empty)".into(),
        );
    };
    let limit = match query(request, "limit").map(str::parse::<u32>) {
        None => 20,
        Some(Ok(limit)) if (1..=RESULTS_LIMIT_MAX).contains(&limit) => limit,
        Some(_) => {
            return error(
                "400 Bad Request",
                format!("limit must be 1 to {RESULTS_LIMIT_MAX}"),
            );
        }
    };
    let game = query(request, "game").map(str::to_string);
    let store = std::sync::Arc::clone(store);
    let path = request.path.clone();
    let this_game = <G::Wire as Schema>::NAME;
    let answer = if path == "/api/leaderboard" {
        let game = game.unwrap_or_else(|| this_game.to_string());
        tokio::task::spawn_blocking(move || {
            store
                .leaderboard(&game, limit)
                .map(|rows| serde_json::to_string(&rows))
        })
        .await
    } else if path == "/api/matches" {
        let before = match query(request, "before").map(str::parse::<i64>) {
            None => None,
            Some(Ok(before)) => Some(before),
            Some(Err(_)) => return error("400 Bad Request", "before must be a match id".into()),
        };
        tokio::task::spawn_blocking(move || {
            store
                .matches(game.as_deref(), before, limit)
                .map(|matches| serde_json::to_string(&matches))
        })
        .await
    } else {
        let Ok(id) = path["/api/matches/".len()..].parse::<i64>() else {
            return error("404 Not Found", "no such match".into());
        };
        let found = tokio::task::spawn_blocking(move || store.get(id)).await;
        match found {
            Ok(Ok(None)) => return error("404 Not Found", format!("no match {id}")),
            Ok(Ok(Some(found))) => Ok(Ok(serde_json::to_string(&found))),
            Ok(Err(why)) => Ok(Err(why)),
            Err(join) => Err(join),
        }
    };
    match answer {
        Ok(Ok(Ok(body))) => ("200 OK", body),
        Ok(Ok(Err(why))) => error("500 Internal Server Error", why.to_string()),
        Ok(Err(why)) => error("503 Service Unavailable", why.to_string()),
        Err(_) => error("500 Internal Server Error", "the store call failed".into()),
    }
}

/// `/api/matches/ID/replay`: the match's log file, from `record_dir`.
async fn replay_file<G: Game>(
    shared: &Shared<G>,
    path: &str,
) -> Result<(String, Vec<u8>), (&'static str, String)> {
    let not_found = |why: String| ("404 Not Found", why);
    let store = shared
        .match_store
        .get()
        .ok_or_else(|| not_found("this server stores no results (results_db is empty)".into()))?;
    let id = path
        .trim_start_matches("/api/matches/")
        .trim_end_matches("/replay")
        .parse::<i64>()
        .map_err(|_| not_found("no such match".into()))?;
    let store = std::sync::Arc::clone(store);
    let found = tokio::task::spawn_blocking(move || store.get(id))
        .await
        .map_err(|_| {
            (
                "500 Internal Server Error",
                "the store call failed".to_string(),
            )
        })?
        .map_err(|why| ("503 Service Unavailable", why.to_string()))?
        .ok_or_else(|| not_found(format!("no match {id}")))?;
    let name = found
        .result
        .replay
        .ok_or_else(|| not_found(format!("match {id} was not recorded")))?;
    // Only a plain file name of this server's logs is served.
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.')
        && name.ends_with(&format!(".{}", super::recorder::EXTENSION));
    let dir = &shared.config.record_dir;
    if !plain || dir.as_os_str().is_empty() {
        return Err(not_found(format!("match {id}'s log is not on this server")));
    }
    let file = dir.join(&name);
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(file))
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| not_found(format!("match {id}'s log is not on this server ({name})")))?;
    Ok((name, bytes))
}

/// The cluster's rooms (`rooms`) or nodes, as the directory has them.
async fn cluster_json<G: Game>(
    shared: &Shared<G>,
    rooms: bool,
) -> Result<String, (&'static str, String)> {
    let cluster = shared.cluster.get().ok_or((
        "404 Not Found",
        "this server is not part of a cluster\n".to_string(),
    ))?;
    let listing = if rooms {
        &cluster.room_listing
    } else {
        &cluster.node_listing
    };
    let body = listing.get(read_listing::<G>(cluster, rooms)).await?;
    Ok(body.to_string())
}

/// Reads the cluster's rooms or nodes from the directory, as JSON.
async fn read_listing<G: Game>(
    cluster: &super::cluster::Cluster,
    rooms: bool,
) -> Result<String, (&'static str, String)> {
    cluster
        .metrics
        .listings_read
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let unavailable =
        |error: crate::directory::DirectoryError| ("503 Service Unavailable", format!("{error}\n"));
    let value = if rooms {
        let rooms = cluster.directory.rooms().await.map_err(unavailable)?;
        serde_json::Value::Array(
            rooms
                .into_iter()
                .map(|room| {
                    serde_json::json!({
                        "id": room.name,
                        "node": room.node,
                        "game": <G::Wire as Schema>::NAME,
                        "players": room.players,
                        "spectators": room.spectators,
                        "reserved": room.reserved_players + room.reserved_spectators,
                        "max_players": room.capacity.players,
                    })
                })
                .collect(),
        )
    } else {
        let nodes = cluster.directory.nodes().await.map_err(unavailable)?;
        serde_json::Value::Array(
            nodes
                .into_iter()
                .map(|node| {
                    serde_json::json!({
                        "id": node.id,
                        "url": node.url,
                        "rooms": node.rooms,
                        "room_cap": node.room_cap,
                        "epoch": node.epoch,
                        "deadline_in_ms": node.deadline_in_ms,
                        "draining": node.draining,
                        "this_node": node.id == cluster.options.node_id,
                    })
                })
                .collect(),
        )
    };
    Ok(value.to_string())
}

fn rooms_json<G: Game>(shared: &Shared<G>) -> String {
    let lobby = lock(&shared.lobby);
    let rooms: Vec<serde_json::Value> = lobby
        .rooms
        .iter()
        .map(|(name, entry)| {
            serde_json::json!({
                "id": name,
                "game": <G::Wire as Schema>::NAME,
                "players": entry.players,
                "spectators": entry.spectators,
                "max_players": shared.max_players,
                "tick": entry.stats.tick.load(Relaxed),
                "tick_rate": shared.config.tick_rate,
                "tick_p99_ms": entry.stats.tick_p99_ms(),
            })
        })
        .collect();
    serde_json::Value::Array(rooms).to_string()
}

/// The largest matchmaking request body.
const MATCHMAKE_BODY_MAX: usize = 1024;

/// `POST /api/matchmake` with `{"name": ..., "room": ... (optional), "spectate": ...
/// (optional)}`: reserves a seat through the directory and answers where to go with it,
/// `{"url", "room", "seat", "expires_in_ms"}` (docs/PROTOCOL.md, section 16).
pub(crate) async fn matchmake<G: Game, S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    shared: &Shared<G>,
    stream: &mut S,
    request: &http::Request,
    mut body: Vec<u8>,
    ip: std::net::IpAddr,
) {
    use tokio::io::AsyncReadExt;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Ask {
        name: String,
        #[serde(default)]
        room: Option<String>,
        #[serde(default)]
        spectate: bool,
        /// The session token, when the server requires one (as in the Hello).
        #[serde(default)]
        token: Option<String>,
    }

    let answer = |status: &'static str, value: serde_json::Value| (status, value.to_string());
    let error =
        |status: &'static str, why: String| answer(status, serde_json::json!({ "error": why }));
    let (status, text) = 'answer: {
        let Some(cluster) = shared.cluster.get() else {
            break 'answer error(
                "404 Not Found",
                "this server is not part of a cluster".into(),
            );
        };
        // The same gates as the WebSocket: the browser Origin allow-list, then (below) the
        // session token when authentication is on.
        if let Some(origin) = request.header("origin")
            && !shared.config.origin_allowed(origin)
        {
            break 'answer error("403 Forbidden", "origin not allowed".into());
        }
        let Some(length) = request
            .header("content-length")
            .and_then(|value| value.trim().parse::<usize>().ok())
        else {
            break 'answer error("411 Length Required", "send a Content-Length".into());
        };
        if length > MATCHMAKE_BODY_MAX {
            break 'answer error(
                "413 Content Too Large",
                format!("the body is at most {MATCHMAKE_BODY_MAX} bytes"),
            );
        }
        while body.len() < length {
            let mut chunk = [0u8; 1024];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(read) => body.extend_from_slice(&chunk[..read]),
            }
        }
        body.truncate(length);
        let ask: Ask = match serde_json::from_slice(&body) {
            Ok(ask) => ask,
            Err(why) => break 'answer error("400 Bad Request", format!("bad request body: {why}")),
        };
        if let Err(why) = tickwire_protocol::validate_name(&ask.name) {
            break 'answer error("400 Bad Request", why.to_string());
        }
        if let Some(room) = &ask.room
            && let Err(why) = tickwire_protocol::validate_room(room)
        {
            break 'answer error("400 Bad Request", why.to_string());
        }
        if let Some(secret) = shared.config.auth_secret() {
            let verified = ask
                .token
                .as_deref()
                .map(|token| crate::auth::verify_now(secret, token, &ask.name));
            match verified {
                Some(Ok(_)) => {}
                Some(Err(why)) => break 'answer error("401 Unauthorized", why.to_string()),
                None => {
                    break 'answer error("401 Unauthorized", "this server requires a token".into());
                }
            }
        }
        if cluster.draining.load(Relaxed) {
            break 'answer error("503 Service Unavailable", "this node is draining".into());
        }
        let config = &shared.config;
        if !cluster.admit_matchmake(ip, config.matchmake_rate, config.matchmake_burst) {
            break 'answer error(
                "429 Too Many Requests",
                "too many seat requests from this address: wait and try again".into(),
            );
        }
        let capacity = crate::directory::Capacity {
            players: shared.max_players as u32,
            spectators: shared.config.max_spectators_per_room as u32,
        };
        match cluster.matchmake(ask.room, ask.spectate, capacity).await {
            Ok((placement, seat)) => answer(
                "200 OK",
                serde_json::json!({
                    "url": placement.url,
                    "room": placement.room,
                    "seat": seat,
                    "node": placement.node,
                    "expires_in_ms": cluster.options.seat_ttl.as_millis() as u64,
                }),
            ),
            Err(crate::directory::MatchError::RoomFull) => {
                error("409 Conflict", "room is full".into())
            }
            Err(why) => error("503 Service Unavailable", why.to_string()),
        }
    };
    if let Err(error) = http::respond(stream, status, "application/json", text.as_bytes()).await {
        debug!(%error, "http response failed");
    }
}
