//! Any bytes into `decode_client`: never panics, and whatever decodes survives a re-encode.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwire_protocol::limits::CLIENT_MSG_MAX;
use tickwire_protocol::{decode_client, encode_client};

fuzz_target!(|bytes: &[u8]| {
    let Ok(msg) = decode_client(bytes) else {
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
    let again = decode_client(&encoded).expect("a re-encoded message decodes");
    assert_eq!(again, msg, "re-encoding changed the message");
});
