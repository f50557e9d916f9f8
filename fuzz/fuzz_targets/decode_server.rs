//! Any bytes into `decode_server`: never panics, a decoded message holds only finite floats, and
//! whatever decodes survives a re-encode.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tickwire_protocol::limits::SERVER_MSG_MAX;
use tickwire_protocol::{ServerMsg, decode_server, encode_server};

fuzz_target!(|bytes: &[u8]| {
    let Ok(msg) = decode_server(bytes) else {
        return;
    };
    // Non-finite values must be refused at the decoder, never handed to the client's prediction.
    if let ServerMsg::Welcome(welcome) = &msg {
        let rules = &welcome.rules;
        let floats = [
            welcome.map.width,
            welcome.map.height,
            rules.player_radius,
            rules.max_speed,
            rules.accel,
            rules.friction,
        ];
        assert!(
            floats
                .iter()
                .chain(welcome.map.walls.iter().flatten())
                .all(|v| v.is_finite()),
            "a decoded Welcome holds a non-finite float: {welcome:?}"
        );
    }
    let mut encoded = Vec::new();
    encode_server(&msg, &mut encoded);
    assert!(
        encoded.len() <= SERVER_MSG_MAX,
        "re-encoding is {} bytes",
        encoded.len()
    );
    let again = decode_server(&encoded).expect("a re-encoded message decodes");
    assert_eq!(again, msg, "re-encoding changed the message");
});
