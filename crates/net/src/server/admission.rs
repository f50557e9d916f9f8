//! Admission: every accepted TCP connection takes a slot under the caps (in total and per
//! address) for as long as it lives, or is refused at once with HTTP 503.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::timeout;
use tracing::debug;

use super::Shared;
use super::handshake::handle_connection;
use super::lobby::lock;
use crate::game::Game;
use crate::http;

/// Connections an address may open past its cap for the plain HTTP routes only, so an
/// operator's /metrics scrape or health check still gets through from a busy address.
const HTTP_ONLY_PER_IP: usize = 4;

/// Admits a connection under the caps (or refuses it at once) and spawns its handshake.
pub(crate) fn accept<G: Game>(shared: &Arc<Shared<G>>, stream: TcpStream, peer: SocketAddr) {
    let metrics = &shared.metrics;
    metrics.connections_total.fetch_add(1, Relaxed);
    match ConnectionSlot::take(shared, peer.ip()) {
        Some(slot) => {
            tokio::spawn(handle_connection(Arc::clone(shared), stream, peer, slot));
        }
        None => {
            metrics.refused_connections.fetch_add(1, Relaxed);
            debug!(%peer, "refused: connection cap");
            tokio::spawn(async move {
                let mut stream = stream;
                let _ = timeout(
                    Duration::from_secs(1),
                    http::respond(
                        &mut stream,
                        "503 Service Unavailable",
                        "text/plain",
                        b"server full: too many connections\n",
                    ),
                )
                .await;
            });
        }
    }
}

/// One admitted connection, counted globally and per address for as long as it lives: it moves
/// with the socket from the handshake into the room's task and is dropped with the socket.
#[derive(Debug)]
pub(crate) struct ConnectionSlot<G: Game> {
    shared: Arc<Shared<G>>,
    ip: IpAddr,
    /// Past the per-address cap: may use the HTTP routes, not the WebSocket.
    pub(crate) http_only: bool,
}

impl<G: Game> ConnectionSlot<G> {
    fn take(shared: &Arc<Shared<G>>, ip: IpAddr) -> Option<ConnectionSlot<G>> {
        let config = &shared.config;
        let mut per_ip = lock(&shared.per_ip);
        if shared.metrics.connections_open.load(Relaxed) as usize >= config.max_connections {
            return None;
        }
        let count = per_ip.entry(ip).or_insert(0);
        if *count >= config.max_connections_per_ip + HTTP_ONLY_PER_IP {
            return None;
        }
        let http_only = *count >= config.max_connections_per_ip;
        *count += 1;
        shared.metrics.connections_open.fetch_add(1, Relaxed);
        Some(ConnectionSlot {
            shared: Arc::clone(shared),
            ip,
            http_only,
        })
    }
}

impl<G: Game> Drop for ConnectionSlot<G> {
    fn drop(&mut self) {
        let mut per_ip = lock(&self.shared.per_ip);
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
        self.shared.metrics.connections_open.fetch_sub(1, Relaxed);
    }
}
