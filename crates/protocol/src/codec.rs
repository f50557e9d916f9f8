//! The codec: the only place that calls bincode. Messages are bincode 2 "standard" encoding
//! (little endian, variable-length integers), one message per frame, with a byte limit on decode
//! and no trailing bytes allowed.

use bincode::config::{self, Configuration, Limit, LittleEndian, Varint};
use bincode::error::DecodeError as BincodeError;

use crate::limits::{CLIENT_MSG_MAX, SERVER_MSG_MAX};
use crate::msg::{ClientMsg, ServerMsg, ValidationError};

/// Why bytes did not decode into a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame is larger than the message limit; nothing was decoded.
    #[error("message is {len} bytes, the limit is {max}")]
    TooLarge {
        /// Frame length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes ended in the middle of a message.
    #[error("message is truncated")]
    Incomplete,
    /// The bytes are not a valid message (bad tag, bad UTF-8, a length past the limit, ...).
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A whole message decoded but bytes were left over.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// The message decoded but breaks a protocol rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// bincode's limit counts decoded sizes (a u32 length prefix claims 8 bytes, a u32 field 4), not
/// wire bytes, so it sits a fixed factor above the frame limit: it bounds what decoding may
/// allocate, while the frame length check above it bounds the input.
const CLIENT_DECODE_LIMIT: usize = 8 * CLIENT_MSG_MAX;
const SERVER_DECODE_LIMIT: usize = 8 * SERVER_MSG_MAX;

type ClientConfig = Configuration<LittleEndian, Varint, Limit<CLIENT_DECODE_LIMIT>>;
type ServerConfig = Configuration<LittleEndian, Varint, Limit<SERVER_DECODE_LIMIT>>;

fn client_config() -> ClientConfig {
    config::standard().with_limit::<CLIENT_DECODE_LIMIT>()
}

fn server_config() -> ServerConfig {
    config::standard().with_limit::<SERVER_DECODE_LIMIT>()
}

/// Appends the encoding of `msg` to `out`.
pub fn encode_client(msg: &ClientMsg, out: &mut Vec<u8>) {
    // Invariant: encoding into a Vec cannot fail for these types (no maps of unknown length,
    // no custom serializers that error).
    bincode::serde::encode_into_std_write(msg, out, client_config())
        .expect("encoding a ClientMsg into a Vec cannot fail");
}

/// Appends the encoding of `msg` to `out`.
pub fn encode_server(msg: &ServerMsg, out: &mut Vec<u8>) {
    // Invariant: as in encode_client.
    bincode::serde::encode_into_std_write(msg, out, server_config())
        .expect("encoding a ServerMsg into a Vec cannot fail");
}

/// Decodes one client message from a whole frame, then validates it.
pub fn decode_client(bytes: &[u8]) -> Result<ClientMsg, DecodeError> {
    if bytes.len() > CLIENT_MSG_MAX {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: CLIENT_MSG_MAX,
        });
    }
    let (msg, used): (ClientMsg, usize) =
        bincode::serde::decode_from_slice(bytes, client_config()).map_err(map_error)?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes(bytes.len() - used));
    }
    msg.validate()?;
    Ok(msg)
}

/// Decodes one server message from a whole frame, then validates it.
pub fn decode_server(bytes: &[u8]) -> Result<ServerMsg, DecodeError> {
    if bytes.len() > SERVER_MSG_MAX {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: SERVER_MSG_MAX,
        });
    }
    let (msg, used): (ServerMsg, usize) =
        bincode::serde::decode_from_slice(bytes, server_config()).map_err(map_error)?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes(bytes.len() - used));
    }
    msg.validate()?;
    Ok(msg)
}

/// The protocol version a Hello frame states, read without decoding the rest, so a client of
/// another version (whose Hello may not decode at all) still gets a clear version mismatch.
/// None when the frame is not a Hello.
pub fn hello_version(bytes: &[u8]) -> Option<u16> {
    // A Hello is variant 0 (one byte), then the version as a varint: one byte below 251, or
    // 251 followed by a little-endian u16.
    match bytes {
        [0, 251, low, high, ..] => Some(u16::from_le_bytes([*low, *high])),
        [0, small, ..] if *small < 251 => Some(*small as u16),
        _ => None,
    }
}

fn map_error(error: BincodeError) -> DecodeError {
    match error {
        BincodeError::UnexpectedEnd { .. } => DecodeError::Incomplete,
        other => DecodeError::Malformed(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::msg::*;

    fn arb_name() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 ]{0,23}[a-z]"
    }

    fn arb_cmd() -> impl Strategy<Value = InputCmd> {
        (
            any::<i8>(),
            any::<i8>(),
            any::<u16>(),
            any::<u8>(),
            any::<u8>(),
        )
            .prop_map(|(move_x, move_y, aim, buttons, view_age)| InputCmd {
                move_x,
                move_y,
                aim,
                buttons,
                view_age,
            })
    }

    fn arb_client() -> impl Strategy<Value = ClientMsg> {
        prop_oneof![
            (
                any::<u16>(),
                arb_name(),
                proptest::option::of("[a-zA-Z0-9_-]{1,32}"),
                any::<bool>()
            )
                .prop_map(|(version, name, room, spectate)| ClientMsg::Hello(Hello {
                    version,
                    name,
                    room,
                    spectate,
                    resume: spectate.then_some([7; 16]),
                    token: spectate.then(|| "v1.abc".to_string()),
                })),
            (
                any::<u32>(),
                1u32..u32::MAX - 8,
                proptest::collection::vec(arb_cmd(), 0..=8)
            )
                .prop_map(|(ack_tick, first_seq, cmds)| ClientMsg::Input(Input {
                    ack_tick,
                    first_seq,
                    cmds
                })),
            "[ -~]{0,200}".prop_map(|text| ClientMsg::Chat { text }),
            any::<u32>().prop_map(|nonce| ClientMsg::Ping { nonce }),
        ]
    }

    fn arb_server() -> impl Strategy<Value = ServerMsg> {
        let score = (
            any::<u32>(),
            any::<u32>(),
            arb_name(),
            any::<u32>(),
            any::<u32>(),
        )
            .prop_map(|(player, entity, name, kills, deaths)| ScoreEntry {
                player,
                entity,
                name,
                kills,
                deaths,
            });
        prop_oneof![
            (
                any::<u32>(),
                any::<u32>(),
                "[a-z]{1,32}",
                1u16..,
                1u8..,
                any::<u32>(),
                proptest::collection::vec(proptest::array::uniform4(0f32..1e4), 0..16).prop_map(
                    |walls| walls
                        .into_iter()
                        .map(|[a, b, c, d]| [a.min(c), b.min(d), a.max(c), b.max(d)])
                        .collect::<Vec<_>>()
                )
            )
                .prop_map(
                    |(player, entity, room, tick_rate, snapshot_interval, tick, walls)| {
                        ServerMsg::Welcome(Welcome {
                            version: crate::PROTOCOL_VERSION,
                            player,
                            entity,
                            room,
                            tick_rate,
                            snapshot_interval,
                            tick,
                            map: MapInfo {
                                name: "arena".into(),
                                width: 60.0,
                                height: 40.0,
                                walls,
                            },
                            rules: MoveRules {
                                player_radius: 0.5,
                                max_speed: 6.0,
                                accel: 40.0,
                                friction: 30.0,
                            },
                            resume_token: [tick as u8; 16],
                            resumed: tick % 2 == 0,
                        })
                    }
                ),
            (
                any::<u32>(),
                any::<u8>(),
                any::<u32>(),
                any::<u32>(),
                proptest::collection::vec(score, 0..8),
                proptest::collection::vec(any::<u32>(), 0..4),
                proptest::collection::vec(any::<u8>(), 0..256)
            )
                .prop_map(
                    |(tick, baseline_age, last_input, checksum, scores, scores_removed, body)| {
                        ServerMsg::Snapshot(Snapshot {
                            tick,
                            baseline_age,
                            last_input,
                            checksum,
                            scores,
                            scores_removed,
                            body,
                        })
                    }
                ),
            (any::<u32>(), arb_name(), "[ -~]{0,200}")
                .prop_map(|(from, name, text)| ServerMsg::Chat(ChatBroadcast { from, name, text })),
            (any::<u32>(), any::<u32>()).prop_map(|(nonce, tick)| ServerMsg::Pong { nonce, tick }),
            proptest::collection::vec((any::<u32>(), any::<u32>(), any::<bool>()), 0..8).prop_map(
                |rows| {
                    ServerMsg::Events(
                        rows.into_iter()
                            .map(|(a, b, shot)| {
                                if shot {
                                    GameEvent::Shot {
                                        shooter: a,
                                        from_x: b,
                                        from_y: a,
                                        to_x: b,
                                        to_y: a,
                                        hit: b,
                                    }
                                } else {
                                    GameEvent::Killed {
                                        killer: a,
                                        victim: b,
                                    }
                                }
                            })
                            .collect(),
                    )
                }
            ),
            (any::<u16>(), "[ -~]{0,120}")
                .prop_map(|(code, reason)| ServerMsg::Error { code, reason }),
        ]
    }

    proptest! {
        #[test]
        fn client_roundtrip(msg in arb_client()) {
            let mut bytes = Vec::new();
            encode_client(&msg, &mut bytes);
            prop_assert!(bytes.len() <= CLIENT_MSG_MAX);
            prop_assert_eq!(decode_client(&bytes), Ok(msg));
        }

        #[test]
        fn server_roundtrip(msg in arb_server()) {
            let mut bytes = Vec::new();
            encode_server(&msg, &mut bytes);
            prop_assert_eq!(decode_server(&bytes), Ok(msg));
        }

        #[test]
        fn client_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = decode_client(&bytes);
        }

        #[test]
        fn server_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = decode_server(&bytes);
        }

        #[test]
        fn trailing_bytes_rejected(msg in arb_client(), extra in 1u8..) {
            let mut bytes = Vec::new();
            encode_client(&msg, &mut bytes);
            bytes.push(extra);
            prop_assert!(decode_client(&bytes).is_err());
        }
    }

    #[test]
    fn huge_length_prefix_is_rejected_without_allocating() {
        // Chat tag (2), then a string length of 2^32 - 1 (varint tag 252 + u32).
        let bytes = [2u8, 252, 0xff, 0xff, 0xff, 0xff, b'a'];
        assert!(matches!(
            decode_client(&bytes),
            Err(DecodeError::Malformed(_)) | Err(DecodeError::Incomplete)
        ));
    }

    #[test]
    fn frames_just_under_the_limit_decode() {
        let msg = ServerMsg::Snapshot(Snapshot {
            body: vec![0xAB; SERVER_MSG_MAX - 16],
            ..Snapshot::default()
        });
        let mut bytes = Vec::new();
        encode_server(&msg, &mut bytes);
        assert!(bytes.len() <= SERVER_MSG_MAX);
        assert_eq!(decode_server(&bytes), Ok(msg));
    }

    #[test]
    fn welcome_with_non_finite_rules_is_rejected() {
        // Found by the decode_server fuzz target: friction = NaN.
        let bytes = [
            0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x04, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0xfe, 0xff, 0xff, 0xff, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00,
            0xff, 0xff, 0x2b, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        assert!(decode_server(&bytes).is_err());
    }

    #[test]
    fn hello_version_is_read_from_any_hello() {
        for version in [0u16, 1, 250, 251, 300, u16::MAX] {
            let mut bytes = Vec::new();
            encode_client(
                &ClientMsg::Hello(Hello {
                    version,
                    name: "a".into(),
                    room: None,
                    spectate: false,
                    resume: None,
                    token: None,
                }),
                &mut bytes,
            );
            assert_eq!(hello_version(&bytes), Some(version));
        }
        let mut ping = Vec::new();
        encode_client(&ClientMsg::Ping { nonce: 0 }, &mut ping);
        assert_eq!(hello_version(&ping), None);
    }

    #[test]
    fn oversize_frame_is_rejected() {
        let bytes = vec![0u8; CLIENT_MSG_MAX + 1];
        assert_eq!(
            decode_client(&bytes),
            Err(DecodeError::TooLarge {
                len: CLIENT_MSG_MAX + 1,
                max: CLIENT_MSG_MAX
            })
        );
    }

    #[test]
    fn example_hello_bytes() {
        let msg = ClientMsg::Hello(Hello {
            version: 1,
            name: "ann".into(),
            room: None,
            spectate: false,
            resume: None,
            token: None,
        });
        let mut bytes = Vec::new();
        encode_client(&msg, &mut bytes);
        assert_eq!(bytes, [0, 1, 3, b'a', b'n', b'n', 0, 0, 0, 0]);
    }
}
