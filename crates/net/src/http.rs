//! Just enough HTTP/1.1 for one port: read a bounded request head, answer a GET, or upgrade to
//! WebSocket. Every connection carries one request and is then closed or upgraded.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Largest request head accepted (bytes).
pub const HEAD_MAX: usize = 8 * 1024;
const HEADERS_MAX: usize = 32;

/// A parsed request head.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method, e.g. GET.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Query string (after `?`), if any.
    pub query: Option<String>,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
}

/// Why a request head could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeadError {
    /// The peer closed before a whole head arrived.
    #[error("connection closed before the request was complete")]
    Closed,
    /// The head is larger than [`HEAD_MAX`].
    #[error("request head larger than {HEAD_MAX} bytes")]
    TooLarge,
    /// Not HTTP.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// Socket error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Request {
    /// A header's value by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether this is a WebSocket upgrade request.
    pub fn is_websocket_upgrade(&self) -> bool {
        let has_token = |name: &str, token: &str| {
            self.header(name).is_some_and(|value| {
                value
                    .split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        };
        self.method == "GET"
            && has_token("upgrade", "websocket")
            && has_token("connection", "upgrade")
    }
}

/// Reads one request head. Returns it and any bytes that arrived after it.
pub async fn read_head<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<(Request, Vec<u8>), HeadError> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(HeadError::Closed);
        }
        buffer.extend_from_slice(&chunk[..read]);
        let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buffer) {
            Ok(httparse::Status::Complete(length)) => {
                let full_path = request.path.unwrap_or("/");
                let (path, query) = match full_path.split_once('?') {
                    Some((path, query)) => (path.to_string(), Some(query.to_string())),
                    None => (full_path.to_string(), None),
                };
                let parsed = Request {
                    method: request.method.unwrap_or("").to_string(),
                    path,
                    query,
                    headers: request
                        .headers
                        .iter()
                        .map(|header| {
                            (
                                header.name.to_ascii_lowercase(),
                                String::from_utf8_lossy(header.value).into_owned(),
                            )
                        })
                        .collect(),
                };
                let rest = buffer[length..].to_vec();
                return Ok((parsed, rest));
            }
            Ok(httparse::Status::Partial) if buffer.len() >= HEAD_MAX => {
                return Err(HeadError::TooLarge);
            }
            Ok(httparse::Status::Partial) => continue,
            Err(error) => return Err(HeadError::Malformed(error.to_string())),
        }
    }
}

/// Writes a whole HTTP response and flushes it; the connection is to be closed after.
pub async fn respond<S: tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await
}

/// Validates a WebSocket upgrade and writes the 101 answer. On a bad upgrade, answers 400 and
/// returns the reason.
pub async fn accept_upgrade<S: tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    request: &Request,
) -> Result<(), String> {
    let key = match (
        request.header("sec-websocket-key"),
        request.header("sec-websocket-version"),
    ) {
        (Some(key), Some("13")) => key.trim().to_string(),
        _ => {
            let reason = "WebSocket upgrade needs Sec-WebSocket-Key and Sec-WebSocket-Version: 13";
            let _ = respond(stream, "400 Bad Request", "text/plain", reason.as_bytes()).await;
            return Err(reason.to_string());
        }
    };
    let accept = derive_accept_key(key.as_bytes());
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|error| error.to_string())?;
    stream.flush().await.map_err(|error| error.to_string())
}
