//! The `decode_server` fuzz target's check, shared by the target and by the stable test that
//! replays fuzz/regressions/decode_server/ (tests/tests/fuzz_regressions.rs): any bytes into
//! `decode_server` for each game never panic, a decoded arena message holds only finite floats,
//! and whatever decodes survives a re-encode.

use tickwire_arena::Arena;
use tickwire_cards::Cards;
use tickwire_protocol::limits::SERVER_MSG_MAX;
use tickwire_protocol::{Schema, ServerMsg, decode_server, encode_server};

/// The check: panics when `bytes` breaks a rule above.
pub fn check(bytes: &[u8]) {
    if let Some(msg) = roundtrip::<Arena>(bytes) {
        check_arena(&msg);
    }
    roundtrip::<Cards>(bytes);
}

/// Non-finite values must be refused at the decoder, never handed to the client's prediction.
fn check_arena(msg: &ServerMsg<Arena>) {
    if let ServerMsg::Welcome(welcome) = msg {
        let rules = &welcome.setup.rules;
        let map = &welcome.setup.map;
        let floats = [
            map.width,
            map.height,
            rules.player_radius,
            rules.max_speed,
            rules.accel,
            rules.friction,
        ];
        assert!(
            floats
                .iter()
                .chain(map.walls.iter().flatten())
                .all(|v| v.is_finite()),
            "a decoded Welcome holds a non-finite float: {welcome:?}"
        );
    }
}

/// Whatever decodes survives a re-encode.
fn roundtrip<G: Schema>(bytes: &[u8]) -> Option<ServerMsg<G>> {
    let msg = decode_server::<G>(bytes).ok()?;
    let mut encoded = Vec::new();
    encode_server(&msg, &mut encoded);
    assert!(
        encoded.len() <= SERVER_MSG_MAX,
        "re-encoding is {} bytes",
        encoded.len()
    );
    let again = decode_server::<G>(&encoded).expect("a re-encoded message decodes");
    assert_eq!(again, msg, "re-encoding changed the message");
    Some(msg)
}
