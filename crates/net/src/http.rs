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

/// Parses a request head from the start of `buffer`: the request and the head's length in
/// bytes when it is complete, None when more bytes are needed. A head that is not complete
/// within [`HEAD_MAX`] bytes, or is complete but longer, is refused. Never panics, whatever the
/// bytes.
pub fn parse_head(buffer: &[u8]) -> Result<Option<(Request, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(buffer) {
        Ok(httparse::Status::Complete(length)) if length > HEAD_MAX => Err(HeadError::TooLarge),
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
            Ok(Some((parsed, length)))
        }
        Ok(httparse::Status::Partial) if buffer.len() >= HEAD_MAX => Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(error) => Err(HeadError::Malformed(error.to_string())),
    }
}

/// Reads one request head (at most [`HEAD_MAX`] bytes). Returns it with any bytes read past
/// its end (a client may send its first WebSocket frame right behind the upgrade request).
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
        if let Some((request, length)) = parse_head(&buffer)? {
            return Ok((request, buffer[length..].to_vec()));
        }
    }
}

/// Writes a `200 OK` with `body` as a file download named `name` (a plain file name).
pub async fn respond_download<S: tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    name: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await
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
    subprotocol: Option<&str>,
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
    let protocol = subprotocol
        .map(|protocol| format!("Sec-WebSocket-Protocol: {protocol}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{protocol}\r\n"
    );
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|error| error.to_string())?;
    stream.flush().await.map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A well-formed request head: method, path, optional query, headers (token names, visible
    /// ASCII values), as a client would send it.
    fn well_formed()
    -> impl Strategy<Value = (String, String, Option<String>, Vec<(String, String)>)> {
        (
            prop::sample::select(vec!["GET", "POST", "HEAD", "OPTIONS"]),
            "/[a-z0-9/._-]{0,40}",
            proptest::option::of("[a-z0-9=&%.-]{0,40}"),
            proptest::collection::vec(
                ("[A-Za-z][A-Za-z0-9-]{0,20}", "[!-~]([ !-~]{0,40}[!-~])?"),
                0..HEADERS_MAX,
            ),
        )
            .prop_map(|(method, path, query, headers)| (method.to_string(), path, query, headers))
    }

    fn head_text(
        method: &str,
        path: &str,
        query: &Option<String>,
        headers: &[(String, String)],
    ) -> String {
        let mut text = format!("{method} {path}");
        if let Some(query) = query {
            text.push('?');
            text.push_str(query);
        }
        text.push_str(" HTTP/1.1\r\n");
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        text
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic_and_a_complete_head_lies_inside_them(
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            if let Ok(Some((_, length))) = parse_head(&bytes) {
                prop_assert!(length <= bytes.len() && length <= HEAD_MAX);
            }
        }

        #[test]
        fn a_well_formed_head_parses_to_its_parts_however_it_arrives(
            (method, path, query, headers) in well_formed(),
            body in proptest::collection::vec(any::<u8>(), 0..64),
            split in any::<prop::sample::Index>(),
        ) {
            let text = head_text(&method, &path, &query, &headers);
            let mut bytes = text.clone().into_bytes();
            bytes.extend_from_slice(&body);
            let (request, length) = parse_head(&bytes).unwrap().expect("complete");
            prop_assert_eq!(length, text.len());
            prop_assert_eq!(&request.method, &method);
            prop_assert_eq!(&request.path, &path);
            prop_assert_eq!(&request.query, &query);
            let lowered: Vec<(String, String)> = headers
                .iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
                .collect();
            prop_assert_eq!(&request.headers, &lowered);
            // Any prefix shorter than the head asks for more bytes.
            let cut = split.index(text.len());
            prop_assert!(matches!(parse_head(&bytes[..cut]), Ok(None)));
        }

        #[test]
        fn a_head_longer_than_the_limit_is_refused(
            filler in 1usize..4 * HEAD_MAX,
            complete in any::<bool>(),
        ) {
            let mut text = format!("GET / HTTP/1.1\r\nX-Filler: {}\r\n", "a".repeat(HEAD_MAX + filler));
            if complete {
                text.push_str("\r\n");
            }
            prop_assert!(matches!(parse_head(text.as_bytes()), Err(HeadError::TooLarge)));
        }
    }

    #[test]
    fn upgrade_detection_reads_token_lists() {
        let text =
            "GET / HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n\r\n";
        let (request, _) = parse_head(text.as_bytes()).unwrap().unwrap();
        assert!(request.is_websocket_upgrade());
        let plain = "GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n";
        let (request, _) = parse_head(plain.as_bytes()).unwrap().unwrap();
        assert!(!request.is_websocket_upgrade());
    }
}
