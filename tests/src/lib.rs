//! Shared helpers for the end-to-end tests in tests/tests/: a real server of any game on
//! 127.0.0.1 port 0 (the arena unless a test asks for another), raw WebSocket peers, and small
//! HTTP requests.

pub mod proxy;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tickwire_arena::{Arena, ArenaGame};
use tickwire_net::{Game, Server, ServerConfig, ServerControl};
use tickwire_protocol::{Hello, ServerMsg, decode_server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A server running in this process until stopped (or dropped with the runtime).
#[derive(Debug)]
pub struct TestServer<G: Game = ArenaGame> {
    /// ws://127.0.0.1:PORT/ws
    pub url: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// Fault injection into the running server.
    pub control: ServerControl<G>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// Starts an arena server with the default configuration on a free port, after `edit` adjusts
/// it.
pub async fn start_server(edit: impl FnOnce(&mut ServerConfig)) -> TestServer {
    start_game_server::<ArenaGame>(edit).await
}

/// Starts a server of game `G` with the default configuration on a free port, after `edit`
/// adjusts it.
pub async fn start_game_server<G: Game>(edit: impl FnOnce(&mut ServerConfig)) -> TestServer<G> {
    start_game_server_with::<G>(edit, |server| server).await
}

/// [`start_game_server`], with `wrap` adding to the server before it runs (a match store, say).
pub async fn start_game_server_with<G: Game>(
    edit: impl FnOnce(&mut ServerConfig),
    wrap: impl FnOnce(Server<G>) -> Server<G>,
) -> TestServer<G> {
    let mut config = ServerConfig {
        addr: "127.0.0.1:0".parse().expect("valid address"),
        game: <G::Wire as tickwire_protocol::Schema>::NAME.to_string(),
        // Tests that record say where; the rest leave no files behind.
        record_dir: std::path::PathBuf::new(),
        ..ServerConfig::default()
    };
    edit(&mut config);
    let server = wrap(Server::<G>::bind(config).await.expect("server binds"));
    let addr = server.local_addr();
    let url = server.url();
    let control = server.control();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(3),
    ));
    TestServer {
        url,
        addr,
        control,
        stop: Some(stop),
        task,
    }
}

/// Starts an arena server as a node of a cluster on `directory` (short timings: a 200 ms
/// heartbeat, a 700 ms lifetime, 2 s seats), its public URL its own.
pub async fn start_cluster_node(
    directory: std::sync::Arc<dyn tickwire_net::server::cluster::DynDirectory>,
    node_id: &str,
    secret: &[u8],
    edit: impl FnOnce(&mut tickwire_net::server::cluster::ClusterOptions),
) -> TestServer {
    start_cluster_node_with(directory, node_id, secret, edit, |config| {
        // Every test client matchmakes from 127.0.0.1.
        config.matchmake_rate = 1e6;
        config.matchmake_burst = 1e6;
    })
    .await
}

/// [`start_cluster_node`] with the server's config edited too.
pub async fn start_cluster_node_with(
    directory: std::sync::Arc<dyn tickwire_net::server::cluster::DynDirectory>,
    node_id: &str,
    secret: &[u8],
    edit: impl FnOnce(&mut tickwire_net::server::cluster::ClusterOptions),
    edit_config: impl FnOnce(&mut ServerConfig),
) -> TestServer {
    let mut config = ServerConfig {
        addr: "127.0.0.1:0".parse().expect("valid address"),
        record_dir: std::path::PathBuf::new(),
        ..ServerConfig::default()
    };
    edit_config(&mut config);
    let server = Server::<ArenaGame>::bind(config)
        .await
        .expect("server binds");
    let mut options = tickwire_net::server::cluster::ClusterOptions::new(
        node_id.to_string(),
        server.url(),
        secret.to_vec(),
    );
    options.heartbeat = Duration::from_millis(200);
    options.ttl = Duration::from_millis(700);
    options.seat_ttl = Duration::from_secs(2);
    options.drain_timeout = Duration::from_secs(1);
    edit(&mut options);
    let server = server
        .with_cluster(directory, options)
        .expect("cluster options are valid");
    let addr = server.local_addr();
    let url = server.url();
    let control = server.control();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(3),
    ));
    TestServer {
        url,
        addr,
        control,
        stop: Some(stop),
        task,
    }
}

/// A plain HTTP POST with a JSON body; returns the status code and the body.
pub async fn http_post(addr: SocketAddr, path: &str, body: &str) -> (u16, String) {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    http_exchange(addr, &request).await
}

impl<G: Game> TestServer<G> {
    /// Asks the server to shut down gracefully and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
    }
}

/// Sets a key of the config's `[arena]` table (`map`, `npcs`, `view_radius`).
pub fn set_arena(config: &mut ServerConfig, key: &str, value: impl Into<toml::Value>) {
    config
        .game_table_mut("arena")
        .insert(key.into(), value.into());
}

/// Sets a key of the config's `[arena.rules]` table.
pub fn set_arena_rule(config: &mut ServerConfig, key: &str, value: impl Into<toml::Value>) {
    let arena = config.game_table_mut("arena");
    let rules = arena
        .entry("rules")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(rules) = rules {
        rules.insert(key.into(), value.into());
    }
}

/// An arena Hello for the current protocol version.
pub fn hello(name: &str, room: Option<&str>) -> Hello {
    Hello {
        room: room.map(str::to_string),
        ..Hello::new::<Arena>(name)
    }
}

/// A raw WebSocket connection, for sending what a well-behaved client never would.
pub type RawSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a raw WebSocket to the server.
pub async fn raw_connect(url: &str) -> RawSocket {
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connects");
    socket
}

/// Sends one raw message.
pub async fn raw_send(socket: &mut RawSocket, message: Message) {
    socket.send(message).await.expect("sends");
}

/// Reads until the server closes; returns the close code and reason (and any Error message
/// seen before it, which must agree).
pub async fn expect_close(socket: &mut RawSocket) -> (u16, String) {
    let mut error_msg = None;
    let result = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(frame) = socket.next().await {
            match frame {
                Ok(Message::Binary(bytes)) => {
                    // An Error message is the same bytes whatever the game.
                    if let Ok(ServerMsg::Error { code, reason }) = decode_server::<Arena>(&bytes) {
                        error_msg = Some((code, reason));
                    }
                }
                Ok(Message::Text(text)) => {
                    // JSON mode: the same Error message as JSON.
                    if let Ok(serde_json::Value::Object(msg)) = serde_json::from_str(&text)
                        && let Some(error) = msg.get("Error")
                        && let (Some(code), Some(reason)) =
                            (error["code"].as_u64(), error["reason"].as_str())
                    {
                        error_msg = Some((code as u16, reason.to_string()));
                    }
                }
                Ok(Message::Close(Some(frame))) => {
                    return Some((u16::from(frame.code), frame.reason.to_string()));
                }
                Ok(Message::Close(None)) => return Some((1005, String::new())),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("server closes within 10 s")
    .expect("a close frame with a code");
    if let Some(error_msg) = error_msg {
        assert_eq!(error_msg, result, "Error message and close frame agree");
    }
    result
}

/// Reads one metric's value from /metrics (the first sample whose line starts with `name`).
pub async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let (_, body) = http_get(addr, "/metrics").await;
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .find(|line| line.starts_with(name))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("metric {name} not found in:\n{body}"))
}

/// A plain HTTP GET; returns the status code and the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    http_exchange(addr, &request).await
}

/// Sends one whole HTTP request and reads the answer to the end; its status and body.
async fn http_exchange(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    stream.write_all(request.as_bytes()).await.expect("writes");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .expect("answers in time")
        .expect("reads");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}
