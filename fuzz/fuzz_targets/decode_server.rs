//! Any bytes into `decode_server` for each game: never panics, a decoded arena message holds only
//! finite floats, and whatever decodes survives a re-encode (fuzz/checks/decode_server.rs).

#![no_main]

#[path = "../checks/decode_server.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| check::check(bytes));
