//! Optional session tokens: a game's own backend signs who may play, the server checks it.
//!
//! Format (ASCII): `v1.<player_id>.<expiry_unix_seconds>.<name as lowercase hex>.<signature>`,
//! where the signature is the lowercase hex HMAC-SHA256, keyed with the shared secret, of the
//! text before the last dot. The Hello's name must equal the token's name.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a valid token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// The backend's id for the player.
    pub player_id: u64,
    /// The player's name.
    pub name: String,
    /// Unix time (seconds) after which the token is refused.
    pub expires_at: u64,
}

/// Why a token was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is not in the v1 format.
    #[error("malformed token")]
    Malformed,
    /// The signature does not match (forged or signed with another secret).
    #[error("token signature is invalid")]
    BadSignature,
    /// The expiry time has passed.
    #[error("token expired")]
    Expired,
    /// The token was issued for another name.
    #[error("token is for another name")]
    WrongName,
}

/// Signs a token.
pub fn mint(secret: &[u8], claims: &Claims) -> String {
    let body = format!(
        "v1.{}.{}.{}",
        claims.player_id,
        claims.expires_at,
        hex(claims.name.as_bytes())
    );
    let signature = hex(&sign(secret, body.as_bytes()));
    format!("{body}.{signature}")
}

/// Checks a token's format, signature and expiry at `now` (unix seconds), and that it was
/// issued for `name`.
pub fn verify(secret: &[u8], token: &str, name: &str, now: u64) -> Result<Claims, TokenError> {
    let (body, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let signature = unhex(signature).ok_or(TokenError::Malformed)?;
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| TokenError::BadSignature)?;
    mac.update(body.as_bytes());
    // verify_slice compares in constant time.
    mac.verify_slice(&signature)
        .map_err(|_| TokenError::BadSignature)?;
    let mut parts = body.split('.');
    let (Some("v1"), Some(player_id), Some(expires_at), Some(name_hex), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(TokenError::Malformed);
    };
    let claims = Claims {
        player_id: player_id.parse().map_err(|_| TokenError::Malformed)?,
        expires_at: expires_at.parse().map_err(|_| TokenError::Malformed)?,
        name: unhex(name_hex)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(TokenError::Malformed)?,
    };
    if claims.expires_at <= now {
        return Err(TokenError::Expired);
    }
    if claims.name != name {
        return Err(TokenError::WrongName);
    }
    Ok(claims)
}

/// [`verify`] at the current time.
pub fn verify_now(secret: &[u8], token: &str, name: &str) -> Result<Claims, TokenError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    verify(secret, token, name, now)
}

pub(crate) fn sign(secret: &[u8], body: &[u8]) -> Vec<u8> {
    // Invariant: HMAC accepts keys of any length.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2)
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_minted_token_verifies_to_its_claims(
            secret in proptest::collection::vec(any::<u8>(), 0..80),
            player_id in any::<u64>(),
            name in "\\PC{0,24}",
            now in 0u64..u64::MAX - 1,
            lifetime in 1u64..1_000_000,
        ) {
            let claims = Claims { player_id, name, expires_at: now.saturating_add(lifetime) };
            let token = mint(&secret, &claims);
            prop_assert_eq!(verify(&secret, &token, &claims.name, now), Ok(claims));
        }

        #[test]
        fn any_text_never_panics_and_only_a_minted_token_verifies(
            token in "\\PC{0,200}|v1\\.[0-9]{1,20}\\.[0-9]{1,20}\\.[0-9a-f]{0,20}\\.[0-9a-f]{0,70}",
            name in "\\PC{0,8}",
        ) {
            if let Ok(claims) = verify(SECRET, &token, &name, 0) {
                prop_assert_eq!(mint(SECRET, &claims), token);
            }
        }

        #[test]
        fn changing_any_character_of_a_token_refuses_it(
            index in any::<prop::sample::Index>(),
            replacement in "[ -~]",
        ) {
            let token = mint(SECRET, &claims());
            let at = index.index(token.len());
            prop_assume!(token[at..at + 1] != replacement);
            let mut changed = token.clone();
            changed.replace_range(at..at + 1, &replacement);
            prop_assert!(verify(SECRET, &changed, "ann", 1_000).is_err());
        }
    }

    const SECRET: &[u8] = b"test secret";

    fn claims() -> Claims {
        Claims {
            player_id: 42,
            name: "ann".into(),
            expires_at: 2_000,
        }
    }

    #[test]
    fn mint_then_verify() {
        let token = mint(SECRET, &claims());
        assert!(token.starts_with("v1.42.2000.616e6e."));
        assert_eq!(verify(SECRET, &token, "ann", 1_000), Ok(claims()));
    }

    #[test]
    fn refusals() {
        let token = mint(SECRET, &claims());
        assert_eq!(
            verify(SECRET, &token, "ann", 2_000),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(SECRET, &token, "bob", 1_000),
            Err(TokenError::WrongName)
        );
        assert_eq!(
            verify(b"other", &token, "ann", 1_000),
            Err(TokenError::BadSignature)
        );
        let forged = token.replace("v1.42.", "v1.43.");
        assert_eq!(
            verify(SECRET, &forged, "ann", 1_000),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            verify(SECRET, "garbage", "ann", 1_000),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            verify(SECRET, "a.zz", "ann", 1_000),
            Err(TokenError::Malformed)
        );
    }
}
