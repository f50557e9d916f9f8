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
            let body = shared.metrics.render();
            http::respond(
                stream,
                "200 OK",
                "text/plain; version=0.0.4",
                body.as_bytes(),
            )
            .await
        }
        "/api/rooms" => {
            let body = rooms_json(shared);
            http::respond(stream, "200 OK", "application/json", body.as_bytes()).await
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
