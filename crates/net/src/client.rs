//! A tokio WebSocket client: connect, say Hello, get Welcome, then exchange messages. Bots, the
//! swarm and the end-to-end tests are built on it.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tickwire_protocol::limits::SERVER_MSG_MAX;
use tickwire_protocol::{
    ClientMsg, DecodeError, Hello, Schema, ServerMsg, Welcome, close, decode_server, encode_client,
};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How a connection ended, as the server said it (or as we saw it).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CloseInfo {
    /// The close code (see tickwire_protocol::close); 1006 if the connection just dropped.
    pub code: u16,
    /// The reason text.
    pub reason: String,
}

/// What went wrong on a client connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Could not connect or upgrade.
    #[error("cannot connect to {url}: {message}")]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        message: String,
    },
    /// The connection was closed.
    #[error("connection closed: {} ({}) {}", .0.code, close::name(.0.code), .0.reason)]
    Closed(CloseInfo),
    /// The server sent something the protocol does not allow.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The server sent bytes that do not decode.
    #[error("undecodable server message: {0}")]
    Decode(#[from] DecodeError),
    /// No answer in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
}

/// Code used when the connection ended without a close frame.
pub const ABNORMAL_CLOSE: u16 = 1006;

/// A connected, welcomed client of a game `G`.
#[derive(Debug)]
pub struct Client<G: Schema> {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Set by `connect` before it returns the client.
    welcome: Option<Welcome<G::Setup>>,
    encoded: Vec<u8>,
    bytes_received: u64,
    bytes_sent: u64,
    /// Set once the server sent an Error message, so the close that follows carries it.
    server_error: Option<CloseInfo>,
}

/// Redirects a connecting client follows at most (one is the usual: seatless Hello, then the
/// owner).
pub const REDIRECTS_MAX: usize = 3;

/// How one connection attempt ended.
enum Connected<G: Schema> {
    Welcomed(Box<Client<G>>),
    Redirected { to: String, seat: String },
}

impl<G: Schema> Client<G> {
    /// Connects to `url` (ws://host:port/ws), sends `hello` and waits for the Welcome.
    pub async fn connect(
        url: &str,
        hello: Hello,
        connect_timeout: Duration,
    ) -> Result<Client<G>, ClientError> {
        Client::connect_with_tls(url, hello, connect_timeout, None).await
    }

    /// [`Client::connect`], with this TLS configuration for a `wss://` URL (a private
    /// certificate authority, say); `None` trusts the usual public authorities (webpki-roots).
    /// A cluster node that does not own the room answers with a `Redirect`: the client follows
    /// it (at most [`REDIRECTS_MAX`] times), presenting the seat it was given.
    pub async fn connect_with_tls(
        url: &str,
        mut hello: Hello,
        connect_timeout: Duration,
        tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    ) -> Result<Client<G>, ClientError> {
        let mut url = url.to_string();
        for _ in 0..=REDIRECTS_MAX {
            match Client::connect_once(&url, hello.clone(), connect_timeout, tls.clone()).await? {
                Connected::Welcomed(client) => return Ok(*client),
                Connected::Redirected { to, seat } => {
                    url = to;
                    hello.seat = Some(seat);
                }
            }
        }
        Err(ClientError::Protocol(format!(
            "more than {REDIRECTS_MAX} redirects (last to {url})"
        )))
    }

    async fn connect_once(
        url: &str,
        hello: Hello,
        connect_timeout: Duration,
        tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    ) -> Result<Connected<G>, ClientError> {
        let config = WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .write_buffer_size(0)
            .max_message_size(Some(SERVER_MSG_MAX))
            .max_frame_size(Some(SERVER_MSG_MAX));
        let connect = tokio_tungstenite::connect_async_tls_with_config(
            url,
            Some(config),
            true,
            tls.map(tokio_tungstenite::Connector::Rustls),
        );
        let (ws, _response) = match timeout(connect_timeout, connect).await {
            Ok(Ok(connected)) => connected,
            Ok(Err(error)) => {
                return Err(ClientError::Connect {
                    url: url.to_string(),
                    message: error.to_string(),
                });
            }
            Err(_) => return Err(ClientError::Timeout("the WebSocket handshake")),
        };
        let mut client = Client {
            ws,
            welcome: None,
            encoded: Vec::new(),
            bytes_received: 0,
            bytes_sent: 0,
            server_error: None,
        };
        client.send(&ClientMsg::Hello(hello)).await?;
        let first = match timeout(connect_timeout, client.recv()).await {
            Ok(result) => result?,
            Err(_) => return Err(ClientError::Timeout("Welcome")),
        };
        match first {
            ServerMsg::Welcome(welcome) => {
                client.welcome = Some(welcome);
                Ok(Connected::Welcomed(Box::new(client)))
            }
            ServerMsg::Redirect { url, seat, .. } => Ok(Connected::Redirected { to: url, seat }),
            ServerMsg::Error { code, reason } => {
                Err(ClientError::Closed(CloseInfo { code, reason }))
            }
            other => Err(ClientError::Protocol(format!(
                "expected Welcome, got {other:?}"
            ))),
        }
    }

    /// The server's Welcome.
    pub fn welcome(&self) -> &Welcome<G::Setup> {
        // Invariant: `connect` only returns a client once the Welcome arrived.
        self.welcome.as_ref().expect("connect stores the Welcome")
    }

    /// Sends one message and flushes it.
    pub async fn send(&mut self, msg: &ClientMsg<G>) -> Result<(), ClientError> {
        self.encoded.clear();
        encode_client(msg, &mut self.encoded);
        self.send_raw(Message::Binary(self.encoded.clone().into()))
            .await
    }

    /// Sends any WebSocket message as is (tests use it to send garbage).
    pub async fn send_raw(&mut self, message: Message) -> Result<(), ClientError> {
        if let Message::Binary(bytes) = &message {
            self.bytes_sent += bytes.len() as u64;
        }
        let result = self.ws.send(message).await;
        result.map_err(|error| self.closed_error(&error.to_string()))
    }

    /// Waits for the next server message. A server `Error` message is returned as a message; the
    /// close that follows it comes back as [`ClientError::Closed`].
    pub async fn recv(&mut self) -> Result<ServerMsg<G>, ClientError> {
        loop {
            let frame = self.ws.next().await;
            let bytes = match frame {
                Some(Ok(Message::Binary(bytes))) => bytes,
                Some(Ok(Message::Close(frame))) => {
                    let info = match frame {
                        Some(frame) => CloseInfo {
                            code: frame.code.into(),
                            reason: frame.reason.to_string(),
                        },
                        None => CloseInfo {
                            code: close::NORMAL,
                            reason: String::new(),
                        },
                    };
                    return Err(ClientError::Closed(info));
                }
                Some(Ok(Message::Text(_))) => {
                    return Err(ClientError::Protocol("server sent a text frame".into()));
                }
                Some(Ok(_)) => continue,
                Some(Err(error)) => return Err(self.closed_error(&error.to_string())),
                None => return Err(self.closed_error("connection ended")),
            };
            self.bytes_received += bytes.len() as u64;
            let msg = decode_server(&bytes)?;
            if let ServerMsg::Error { code, reason } = &msg {
                self.server_error = Some(CloseInfo {
                    code: *code,
                    reason: reason.clone(),
                });
            }
            return Ok(msg);
        }
    }

    /// Closes the connection politely (code 1000).
    pub async fn close(&mut self) {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        };
        let _ = timeout(Duration::from_secs(2), async {
            let _ = self.ws.close(Some(frame)).await;
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }

    /// Payload bytes received so far.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// Payload bytes sent so far.
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent
    }

    fn closed_error(&self, message: &str) -> ClientError {
        ClientError::Closed(self.server_error.clone().unwrap_or(CloseInfo {
            code: ABNORMAL_CLOSE,
            reason: message.to_string(),
        }))
    }
}
