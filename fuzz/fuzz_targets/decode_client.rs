//! Any bytes into `decode_client` for each game: never panics, and whatever decodes survives a
//! re-encode.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwire_arena::Arena;
use tickwire_cards::Cards;
use tickwire_protocol::limits::CLIENT_MSG_MAX;
use tickwire_protocol::{Schema, decode_client, encode_client};

fuzz_target!(|bytes: &[u8]| {
    check::<Arena>(bytes);
    check::<Cards>(bytes);
});

fn check<G: Schema>(bytes: &[u8]) {
    let Ok(msg) = decode_client::<G>(bytes) else {
        return;
    };
    let mut encoded = Vec::new();
    encode_client(&msg, &mut encoded);
    // The canonical encoding is never longer than one the decoder accepted.
    assert!(
        encoded.len() <= CLIENT_MSG_MAX,
        "re-encoding is {} bytes",
        encoded.len()
    );
    let again = decode_client::<G>(&encoded).expect("a re-encoded message decodes");
    assert_eq!(again, msg, "re-encoding changed the message");
}
