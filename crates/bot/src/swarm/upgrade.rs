//! The client side of the WebSocket opening handshake (RFC 6455 section 4.1), sans-IO: the
//! HTTP/1.1 upgrade request a shard writes, and the check of the server's answer (status 101,
//! `Upgrade: websocket`, `Connection: Upgrade`, and the `Sec-WebSocket-Accept` derived from the
//! request's key).

use std::fmt::Write as _;

use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Largest response head read before giving up.
pub(crate) const RESPONSE_HEAD_MAX: usize = 8 * 1024;
/// Headers read from a response at most.
const HEADERS_MAX: usize = 32;

/// Why the server's answer is not an accepted upgrade. The texts follow tungstenite's, so the
/// swarm's connect failure reasons read as they did with the tokio client.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UpgradeError {
    /// Not an HTTP response.
    #[error("HTTP error: malformed response: {0}")]
    Malformed(String),
    /// A response head longer than [`RESPONSE_HEAD_MAX`].
    #[error("HTTP error: response head larger than {RESPONSE_HEAD_MAX} bytes")]
    TooLarge,
    /// A status other than 101 (a full server's 503, say).
    #[error("HTTP error: {code} {reason}")]
    Status {
        /// The status code.
        code: u16,
        /// The reason phrase.
        reason: String,
    },
    /// 101 without the upgrade headers.
    #[error("WebSocket protocol error: the response does not upgrade to websocket")]
    NotUpgrade,
    /// The accept key is not the one derived from our key.
    #[error("WebSocket protocol error: Sec-WebSocket-Accept key mismatch")]
    AcceptMismatch,
}

/// Appends the upgrade request for `path` on `host` (HOST:PORT) with the client's `key` (16
/// random bytes in base64) to `out`.
pub(crate) fn write_request(host: &str, path: &str, key: &str, out: &mut Vec<u8>) {
    let mut head = String::with_capacity(192);
    // Invariant: writing to a String cannot fail.
    let _ = write!(
        head,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    out.extend_from_slice(head.as_bytes());
}

/// Checks the server's answer to a request made with `key`: `Ok(None)` while the head is
/// incomplete, `Ok(Some(length))` once it is whole and accepts the upgrade (the WebSocket stream
/// starts after `length` bytes), or why it does not.
pub(crate) fn parse_response(bytes: &[u8], key: &str) -> Result<Option<usize>, UpgradeError> {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut response = httparse::Response::new(&mut headers);
    let length = match response.parse(bytes) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) if bytes.len() >= RESPONSE_HEAD_MAX => {
            return Err(UpgradeError::TooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(UpgradeError::Malformed(error.to_string())),
    };
    let code = response.code.unwrap_or(0);
    if code != 101 {
        return Err(UpgradeError::Status {
            code,
            reason: response.reason.unwrap_or("").to_string(),
        });
    }
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
            .map(|header| String::from_utf8_lossy(header.value))
    };
    let has_token = |name: &str, token: &str| {
        header(name).is_some_and(|value| {
            value
                .split(',')
                .any(|part| part.trim().eq_ignore_ascii_case(token))
        })
    };
    if !has_token("upgrade", "websocket") || !has_token("connection", "upgrade") {
        return Err(UpgradeError::NotUpgrade);
    }
    let expected = derive_accept_key(key.as_bytes());
    match header("sec-websocket-accept") {
        Some(accept) if accept.trim() == expected => Ok(Some(length)),
        _ => Err(UpgradeError::AcceptMismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6455's own example key and accept value.
    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    #[test]
    fn the_request_names_path_host_key_and_version() {
        let mut out = Vec::new();
        write_request("127.0.0.1:7700", "/ws", KEY, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:7700\r\n"));
        assert!(text.contains("Upgrade: websocket\r\nConnection: Upgrade\r\n"));
        assert!(text.contains(&format!("Sec-WebSocket-Key: {KEY}\r\n")));
        assert!(text.ends_with("Sec-WebSocket-Version: 13\r\n\r\n"));
    }

    #[test]
    fn an_accepting_answer_is_checked_and_measured() {
        let head = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        );
        let mut bytes = head.clone().into_bytes();
        bytes.extend_from_slice(&[0x82, 0x01, 0x00]);
        assert_eq!(parse_response(&bytes, KEY), Ok(Some(head.len())));
        // Any prefix of the head is incomplete, not an error.
        for cut in 0..head.len() {
            assert_eq!(parse_response(&bytes[..cut], KEY), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn refusals_and_bad_answers_say_why() {
        let refused = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
        let error = parse_response(refused, KEY).unwrap_err();
        assert_eq!(error.to_string(), "HTTP error: 503 Service Unavailable");
        let wrong_key = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                         Connection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n";
        assert_eq!(
            parse_response(wrong_key.as_bytes(), KEY),
            Err(UpgradeError::AcceptMismatch)
        );
        let no_upgrade = format!("HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n");
        assert_eq!(
            parse_response(no_upgrade.as_bytes(), KEY),
            Err(UpgradeError::NotUpgrade)
        );
        assert!(matches!(
            parse_response(b"SSH-2.0-OpenSSH\r\n\r\n", KEY),
            Err(UpgradeError::Malformed(_))
        ));
        let endless = vec![b'a'; RESPONSE_HEAD_MAX];
        let mut head = b"HTTP/1.1 101 OK\r\nX: ".to_vec();
        head.extend_from_slice(&endless);
        assert_eq!(parse_response(&head, KEY), Err(UpgradeError::TooLarge));
    }
}
