//! Seats from a cluster's matchmaker: short-lived, single-use, signed with the cluster's shared
//! secret, so the node a seat names can refuse a forged, foreign or stale one before it asks the
//! directory anything.
//!
//! Format (ASCII): `s1.<seat id>.<node>.<room as lowercase hex>.<spectate 0/1>.<expiry, unix
//! ms>.<signature>`, where the seat id is 32 lowercase hex digits and the signature the lowercase
//! hex HMAC-SHA256, keyed with the secret, of the text before the last dot (docs/PROTOCOL.md,
//! section 16).

use hmac::{KeyInit, Mac};

use crate::auth::{hex, sign, unhex};

/// What a seat says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seat {
    /// The directory's key for the reservation: 32 lowercase hex digits.
    pub id: String,
    /// The node that owns the room.
    pub node: String,
    /// The room.
    pub room: String,
    /// A spectator seat.
    pub spectate: bool,
    /// Unix time (milliseconds) after which the seat is refused.
    pub expires_at_ms: u64,
}

/// Why a seat was refused (before the directory is asked).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SeatError {
    /// Not a seat in the s1 format.
    #[error("malformed seat")]
    Malformed,
    /// The signature does not match: forged, or signed with another cluster's secret.
    #[error("seat signature is invalid")]
    BadSignature,
    /// The seat names another node.
    #[error("the seat is for another node")]
    WrongNode,
    /// Its expiry has passed.
    #[error("seat expired")]
    Expired,
}

/// Whether a node id can travel in a seat: 1-64 of `A-Z a-z 0-9 - _`.
pub fn valid_node_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// A fresh seat id from OS randomness.
pub fn new_id() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    Some(hex(&bytes))
}

/// Signs a seat.
pub fn mint(secret: &[u8], seat: &Seat) -> String {
    let body = format!(
        "s1.{}.{}.{}.{}.{}",
        seat.id,
        seat.node,
        hex(seat.room.as_bytes()),
        u8::from(seat.spectate),
        seat.expires_at_ms
    );
    let signature = hex(&sign(secret, body.as_bytes()));
    format!("{body}.{signature}")
}

/// Checks a seat's format and signature, that it names `node`, and that it has not expired at
/// `now_ms` (unix milliseconds).
pub fn verify(secret: &[u8], text: &str, node: &str, now_ms: u64) -> Result<Seat, SeatError> {
    let (body, signature) = text.rsplit_once('.').ok_or(SeatError::Malformed)?;
    let signature = unhex(signature).ok_or(SeatError::Malformed)?;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).map_err(|_| SeatError::BadSignature)?;
    mac.update(body.as_bytes());
    // verify_slice compares in constant time.
    mac.verify_slice(&signature)
        .map_err(|_| SeatError::BadSignature)?;
    let parts: Vec<&str> = body.split('.').collect();
    let ["s1", id, seat_node, room, spectate, expires] = parts.as_slice() else {
        return Err(SeatError::Malformed);
    };
    let seat = Seat {
        id: id.to_string(),
        node: seat_node.to_string(),
        room: unhex(room)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(SeatError::Malformed)?,
        spectate: match *spectate {
            "0" => false,
            "1" => true,
            _ => return Err(SeatError::Malformed),
        },
        expires_at_ms: expires.parse().map_err(|_| SeatError::Malformed)?,
    };
    if seat.node != node {
        return Err(SeatError::WrongNode);
    }
    if seat.expires_at_ms <= now_ms {
        return Err(SeatError::Expired);
    }
    Ok(seat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"cluster secret";

    fn seat() -> Seat {
        Seat {
            id: "00112233445566778899aabbccddeeff".into(),
            node: "node-b".into(),
            room: "lobby-2".into(),
            spectate: false,
            expires_at_ms: 5_000,
        }
    }

    #[test]
    fn mint_then_verify_and_every_refusal() {
        let text = mint(SECRET, &seat());
        assert!(
            text.starts_with("s1.00112233445566778899aabbccddeeff.node-b.6c6f626279"),
            "{text}"
        );
        assert_eq!(verify(SECRET, &text, "node-b", 4_999), Ok(seat()));
        assert_eq!(
            verify(SECRET, &text, "node-a", 1),
            Err(SeatError::WrongNode)
        );
        assert_eq!(
            verify(SECRET, &text, "node-b", 5_000),
            Err(SeatError::Expired)
        );
        assert_eq!(
            verify(b"another cluster", &text, "node-b", 1),
            Err(SeatError::BadSignature)
        );
        let moved = text.replace(".node-b.", ".node-c.");
        assert_eq!(
            verify(SECRET, &moved, "node-c", 1),
            Err(SeatError::BadSignature)
        );
        assert_eq!(
            verify(SECRET, "nope", "node-b", 1),
            Err(SeatError::Malformed)
        );
    }

    proptest! {
        #[test]
        fn any_text_never_panics_and_only_a_minted_seat_verifies(
            text in "\\PC{0,200}|s1\\.[0-9a-f]{32}\\.[a-z-]{1,8}\\.[0-9a-f]{0,20}\\.[01]\\.[0-9]{1,14}\\.[0-9a-f]{0,70}",
        ) {
            if let Ok(seat) = verify(SECRET, &text, &text_node(&text), 0) {
                prop_assert_eq!(mint(SECRET, &seat), text);
            }
        }

        #[test]
        fn changing_any_character_refuses_it(
            index in any::<prop::sample::Index>(),
            replacement in "[ -~]",
        ) {
            let text = mint(SECRET, &seat());
            let at = index.index(text.len());
            prop_assume!(text[at..at + 1] != replacement);
            let mut changed = text.clone();
            changed.replace_range(at..at + 1, &replacement);
            prop_assert!(verify(SECRET, &changed, "node-b", 1).is_err());
        }
    }

    /// The node a text claims, so the property test reaches the signature check.
    fn text_node(text: &str) -> String {
        text.split('.').nth(2).unwrap_or("").to_string()
    }
}
