//! Any text into the session-token verifier: never panics, and only a token the secret minted
//! verifies (a verified token is exactly `mint` of its claims).
//!
//! Input: the first byte splits the rest into the Hello's name and the token.

#![no_main]

use tickwire_net::auth::{mint, verify};

const SECRET: &[u8] = b"fuzz secret";

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let [split, rest @ ..] = bytes else {
        return;
    };
    let (name, token) = rest.split_at((*split as usize).min(rest.len()));
    let (Ok(name), Ok(token)) = (std::str::from_utf8(name), std::str::from_utf8(token)) else {
        return;
    };
    if let Ok(claims) = verify(SECRET, token, name, 0) {
        assert_eq!(mint(SECRET, &claims), token, "a token verified that was not minted");
        assert_eq!(claims.name, name);
    }
});
