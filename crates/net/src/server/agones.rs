//! Agones: the game-server lifecycle on Kubernetes, through the SDK sidecar's documented REST API
//! (`http://localhost:$AGONES_SDK_HTTP_PORT`), so no gRPC stack is needed. Built with the
//! `agones` cargo feature.
//!
//! What this server does, in order: waits for the sidecar (it may start after us) and reads its
//! address from `GET /gameserver`; marks itself `Ready` once it listens (and, in a cluster, is
//! registered in the directory); pings `/health` every second while its watchdog holds (every
//! room stepped within the last second: a stuck room stops the pings, so Agones restarts the
//! pod); keeps the `rooms` and `players` Counters equal to what it runs; `Allocate`s itself while
//! it has players, so a fleet scale-down cannot delete it mid-match; and after a graceful stop
//! (drain included) asks for `Shutdown`.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::Shared;
use super::lobby::lock;
use crate::game::Game;

/// How this server talks to its Agones sidecar.
#[derive(Clone, Debug)]
pub struct AgonesOptions {
    /// The sidecar's REST port (`AGONES_SDK_HTTP_PORT`, 9358 by default).
    pub sdk_port: u16,
    /// Time between health pings and counter updates.
    pub interval: Duration,
    /// A room whose last step is older than this stops the health pings.
    pub watchdog: Duration,
}

impl AgonesOptions {
    /// The port from `AGONES_SDK_HTTP_PORT` (9358 when unset), a 1 s interval and watchdog.
    pub fn from_env() -> AgonesOptions {
        let sdk_port = std::env::var("AGONES_SDK_HTTP_PORT")
            .ok()
            .and_then(|port| port.parse().ok())
            .unwrap_or(9358);
        AgonesOptions {
            sdk_port,
            interval: Duration::from_secs(1),
            watchdog: Duration::from_secs(1),
        }
    }
}

/// How long an Allocated server stays without players before it says Ready again.
const EMPTY_BEFORE_READY: Duration = Duration::from_secs(10);

/// One request to the sidecar; the status code and body, or why it failed.
async fn call(port: u16, method: &str, path: &str, body: &str) -> Result<(u16, String), String> {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|error| error.to_string())?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|error| error.to_string())?;
        let mut response = Vec::new();
        stream
            .take(256 * 1024)
            .read_to_end(&mut response)
            .await
            .map_err(|error| error.to_string())?;
        Ok::<_, String>(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .map_err(|_| "no answer in 2 s".to_string())??;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| "not an HTTP response".to_string())?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// A call that must succeed (2xx), with a log line when it does not.
async fn post(port: u16, path: &str, body: &str) -> bool {
    match call(port, "POST", path, body).await {
        Ok((status, _)) if (200..300).contains(&status) => true,
        Ok((status, body)) => {
            warn!(path, status, %body, "Agones sidecar refused");
            false
        }
        Err(error) => {
            debug!(path, %error, "Agones sidecar unreachable");
            false
        }
    }
}

/// Sets a Counter's count (Agones int64s travel as strings); whether the sidecar took it.
async fn set_counter(port: u16, name: &str, count: usize) -> bool {
    call(
        port,
        "PATCH",
        &format!("/v1beta1/counters/{name}"),
        &format!(r#"{{"count":"{count}"}}"#),
    )
    .await
    .is_ok_and(|(status, _)| (200..300).contains(&status))
}

/// The address and first port the GameServer has, from `GET /gameserver`.
fn address(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let status = &value["status"];
    let host = status["address"].as_str().filter(|host| !host.is_empty())?;
    let port = status["ports"].get(0)?["port"].as_u64()?;
    Some(format!("ws://{host}:{port}/ws"))
}

/// The sidecar's part of the server's life; returns after `Shutdown` was asked for (once `stop`
/// says the server has drained and closed).
pub(crate) async fn run_agones<G: Game>(
    shared: Arc<Shared<G>>,
    options: AgonesOptions,
    mut stop: watch::Receiver<bool>,
) {
    let port = options.sdk_port;
    // The sidecar may start after us: retry until it answers.
    let advertised = loop {
        if *stop.borrow() {
            return;
        }
        match call(port, "GET", "/gameserver", "").await {
            // The address comes once the GameServer is scheduled: keep asking until it has one.
            Ok((200, body)) => match address(&body) {
                Some(url) => break Some(url),
                None => debug!("the GameServer has no address yet"),
            },
            Ok((status, _)) => debug!(status, "Agones sidecar not ready"),
            Err(error) => debug!(%error, "waiting for the Agones sidecar"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.changed() => {}
        }
    };
    match &advertised {
        Some(url) => info!(%url, "Agones sidecar found; the GameServer's address"),
        None => warn!("Agones sidecar found, but the GameServer has no address yet"),
    }
    if let Some(url) = advertised {
        let _ = shared.advertised_url.set(url);
    }

    let mut ticker = tokio::time::interval(options.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ready = false;
    let mut allocated = false;
    // While Allocated, since when the server has had no players (back to Ready after a while,
    // so an empty server can be scaled down or allocated again).
    let mut empty_since: Option<tokio::time::Instant> = None;
    let mut counters: Option<(usize, usize)> = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            break;
        }
        // Ready once serving (and, in a cluster, registered in the directory).
        let registered = shared
            .cluster
            .get()
            .is_none_or(|cluster| cluster.is_registered());
        if !ready && registered {
            ready = post(port, "/ready", "{}").await;
            if ready {
                info!("Agones: Ready");
            }
        }
        let (rooms, players, healthy) = {
            let lobby = lock(&shared.lobby);
            let players = lobby.rooms.values().map(|room| room.players).sum::<usize>();
            let healthy = lobby
                .rooms
                .values()
                .all(|room| room.stats.stepped_within(options.watchdog));
            (lobby.rooms.len(), players, healthy)
        };
        if healthy {
            post(port, "/health", "{}").await;
        } else {
            warn!("Agones: a room has not stepped within the watchdog; no health ping");
        }
        if counters != Some((rooms, players))
            && set_counter(port, "rooms", rooms).await
            && set_counter(port, "players", players).await
        {
            counters = Some((rooms, players));
        }
        if players > 0 && !allocated && ready {
            allocated = post(port, "/allocate", "{}").await;
            if allocated {
                info!("Agones: Allocated (players are on this server)");
            }
        }
        if allocated {
            if players > 0 {
                empty_since = None;
            } else if empty_since
                .get_or_insert_with(tokio::time::Instant::now)
                .elapsed()
                >= EMPTY_BEFORE_READY
                && post(port, "/ready", "{}").await
            {
                info!("Agones: Ready again (no players for a while)");
                allocated = false;
                empty_since = None;
            }
        }
    }
    if post(port, "/shutdown", "{}").await {
        info!("Agones: Shutdown");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_comes_from_the_gameserver_status() {
        let body = r#"{"object_meta":{"name":"gs-1"},"status":{"state":"Scheduled","address":"10.0.0.7","ports":[{"name":"default","port":7234}]}}"#;
        assert_eq!(address(body).as_deref(), Some("ws://10.0.0.7:7234/ws"));
        assert_eq!(address(r#"{"status":{"address":""}}"#), None);
        assert_eq!(address("not json"), None);
    }
}
