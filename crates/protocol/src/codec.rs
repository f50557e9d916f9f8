//! The codec: the only place that calls bincode. Messages are bincode 2 "standard" encoding
//! (little endian, variable-length integers), one message per frame, with a byte limit on decode
//! and no trailing bytes allowed. Every function is generic over the game's [`Schema`]; the
//! envelope's bytes are the same for every game.

use bincode::config::{self, Configuration, Limit, LittleEndian, Varint};
use bincode::error::DecodeError as BincodeError;

use crate::limits::{CLIENT_MSG_MAX, SERVER_MSG_MAX};
use crate::msg::{ClientMsg, ServerMsg, ValidationError};
use crate::schema::Schema;

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
pub fn encode_client<G: Schema>(msg: &ClientMsg<G>, out: &mut Vec<u8>) {
    // Invariant: encoding into a Vec cannot fail for these types (no maps of unknown length,
    // no custom serializers that error; a game's types are plain serde data).
    bincode::serde::encode_into_std_write(msg, out, client_config())
        .expect("encoding a ClientMsg into a Vec cannot fail");
}

/// Appends the encoding of `msg` to `out`.
pub fn encode_server<G: Schema>(msg: &ServerMsg<G>, out: &mut Vec<u8>) {
    // Invariant: as in encode_client.
    bincode::serde::encode_into_std_write(msg, out, server_config())
        .expect("encoding a ServerMsg into a Vec cannot fail");
}

/// Decodes one client message from a whole frame, then validates it.
pub fn decode_client<G: Schema>(bytes: &[u8]) -> Result<ClientMsg<G>, DecodeError> {
    if bytes.len() > CLIENT_MSG_MAX {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: CLIENT_MSG_MAX,
        });
    }
    let (msg, used): (ClientMsg<G>, usize) =
        bincode::serde::decode_from_slice(bytes, client_config()).map_err(map_error)?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes(bytes.len() - used));
    }
    msg.validate()?;
    Ok(msg)
}

/// Decodes one server message from a whole frame, then validates it.
pub fn decode_server<G: Schema>(bytes: &[u8]) -> Result<ServerMsg<G>, DecodeError> {
    if bytes.len() > SERVER_MSG_MAX {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: SERVER_MSG_MAX,
        });
    }
    let (msg, used): (ServerMsg<G>, usize) =
        bincode::serde::decode_from_slice(bytes, server_config()).map_err(map_error)?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes(bytes.len() - used));
    }
    msg.validate()?;
    Ok(msg)
}

/// Appends the encoding of one value of a game's wire types (an input, say) to `out`, as it
/// travels inside messages. Match logs store commands this way.
pub fn encode_value<T: serde::Serialize>(value: &T, out: &mut Vec<u8>) {
    // Invariant: as in encode_client.
    bincode::serde::encode_into_std_write(value, out, client_config())
        .expect("encoding a value into a Vec cannot fail");
}

/// Decodes one value written by [`encode_value`] from the start of `bytes` (within the client
/// message limits); returns it and the bytes it used.
pub fn decode_value<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> Result<(T, usize), DecodeError> {
    bincode::serde::decode_from_slice(bytes, client_config()).map_err(map_error)
}

/// The protocol version a Hello frame states, read without decoding the rest, so a client of
/// another version (whose Hello may not decode at all) still gets a clear version mismatch.
/// None when the frame is not a Hello.
pub fn hello_version(bytes: &[u8]) -> Option<u16> {
    let mut reader = Peek(bytes);
    if reader.byte()? != 0 {
        return None;
    }
    reader.varint_u16()
}

/// The game name and schema version a Hello frame of this protocol version states, read
/// without decoding the rest (a client of another game may send commands this server cannot
/// decode, and deserves a clear "wrong game" rather than "bad Hello"). None when the frame is
/// not a Hello or ends early; the name is not checked here.
pub fn hello_game(bytes: &[u8]) -> Option<(String, u16)> {
    let mut reader = Peek(bytes);
    if reader.byte()? != 0 {
        return None;
    }
    reader.varint_u16()?;
    // A string is a varint length then UTF-8; a game name is short, so its length fits in
    // one byte (anything longer is not a game name this server could run anyway).
    let len = reader.byte()?;
    if len >= 251 {
        return None;
    }
    let name = String::from_utf8_lossy(reader.take(len as usize)?).into_owned();
    let schema = reader.varint_u16()?;
    Some((name, schema))
}

/// Reads the start of a frame byte by byte (for [`hello_version`] and [`hello_game`]).
struct Peek<'a>(&'a [u8]);

impl<'a> Peek<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if self.0.len() < len {
            return None;
        }
        let (taken, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(taken)
    }

    /// A u16 as bincode's varint: one byte below 251, or 251 then two little-endian bytes.
    fn varint_u16(&mut self) -> Option<u16> {
        match self.byte()? {
            251 => {
                let bytes = self.take(2)?;
                Some(u16::from_le_bytes([bytes[0], bytes[1]]))
            }
            small if small < 251 => Some(small as u16),
            _ => None,
        }
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
    use crate::schema::test_game::{Cmd, Event, Row, Setup, TestGame};

    type Client = ClientMsg<TestGame>;
    type Server = ServerMsg<TestGame>;

    fn arb_name() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 ]{0,23}[a-z]"
    }

    fn arb_client() -> impl Strategy<Value = Client> {
        prop_oneof![
            (
                any::<u16>(),
                "[a-z0-9_-]{1,32}",
                any::<u16>(),
                arb_name(),
                proptest::option::of("[a-zA-Z0-9_-]{1,32}"),
                any::<bool>()
            )
                .prop_map(|(version, game, schema, name, room, spectate)| {
                    ClientMsg::Hello(Hello {
                        version,
                        game,
                        schema,
                        name,
                        room,
                        spectate,
                        resume: spectate.then_some([7; 16]),
                        token: spectate.then(|| "v1.abc".to_string()),
                        seat: (!spectate).then(|| "v1.seat".to_string()),
                    })
                }),
            (
                any::<u32>(),
                1u32..u32::MAX - 8,
                proptest::collection::vec((any::<i8>(), any::<u8>()), 0..=8)
            )
                .prop_map(|(ack_tick, first_seq, cmds)| ClientMsg::Input(Input {
                    ack_tick,
                    first_seq,
                    cmds: cmds
                        .into_iter()
                        .map(|(x, view_age)| Cmd { x, view_age })
                        .collect()
                })),
            "[ -~]{0,200}".prop_map(|text| ClientMsg::Chat { text }),
            any::<u32>().prop_map(|nonce| ClientMsg::Ping { nonce }),
        ]
    }

    fn arb_server() -> impl Strategy<Value = Server> {
        let row = (any::<u32>(), arb_name(), any::<u32>()).prop_map(|(player, name, points)| Row {
            player,
            name,
            points,
        });
        prop_oneof![
            (
                any::<u32>(),
                any::<u32>(),
                "[a-z]{1,32}",
                1u16..,
                1u8..,
                any::<u32>(),
                1f32..1e4
            )
                .prop_map(
                    |(player, entity, room, tick_rate, snapshot_interval, tick, width)| {
                        ServerMsg::Welcome(Welcome {
                            version: crate::PROTOCOL_VERSION,
                            player,
                            entity,
                            room,
                            tick_rate,
                            snapshot_interval,
                            tick,
                            setup: Setup { width },
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
                proptest::collection::vec(row, 0..8),
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
            (
                any::<u32>(),
                proptest::collection::vec((any::<u32>(), any::<bool>()), 0..8)
            )
                .prop_map(|(tick, rows)| {
                    ServerMsg::Events(Events {
                        tick,
                        events: rows
                            .into_iter()
                            .map(|(player, said)| {
                                if said {
                                    Event::Said {
                                        text: player.to_string(),
                                    }
                                } else {
                                    Event::Scored { player }
                                }
                            })
                            .collect(),
                    })
                }),
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
            prop_assert_eq!(decode_client::<TestGame>(&bytes), Ok(msg));
        }

        #[test]
        fn server_roundtrip(msg in arb_server()) {
            let mut bytes = Vec::new();
            encode_server(&msg, &mut bytes);
            prop_assert_eq!(decode_server::<TestGame>(&bytes), Ok(msg));
        }

        #[test]
        fn client_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = decode_client::<TestGame>(&bytes);
            let _ = hello_game(&bytes);
        }

        #[test]
        fn server_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = decode_server::<TestGame>(&bytes);
        }

        #[test]
        fn trailing_bytes_rejected(msg in arb_client(), extra in 1u8..) {
            let mut bytes = Vec::new();
            encode_client(&msg, &mut bytes);
            bytes.push(extra);
            prop_assert!(decode_client::<TestGame>(&bytes).is_err());
        }
    }

    #[test]
    fn huge_length_prefix_is_rejected_without_allocating() {
        // Chat tag (2), then a string length of 2^32 - 1 (varint tag 252 + u32).
        let bytes = [2u8, 252, 0xff, 0xff, 0xff, 0xff, b'a'];
        assert!(matches!(
            decode_client::<TestGame>(&bytes),
            Err(DecodeError::Malformed(_)) | Err(DecodeError::Incomplete)
        ));
    }

    #[test]
    fn frames_just_under_the_limit_decode() {
        let msg = Server::Snapshot(Snapshot {
            body: vec![0xAB; SERVER_MSG_MAX - 16],
            ..Snapshot::default()
        });
        let mut bytes = Vec::new();
        encode_server(&msg, &mut bytes);
        assert!(bytes.len() <= SERVER_MSG_MAX);
        assert_eq!(decode_server(&bytes), Ok(msg));
    }

    #[test]
    fn a_game_value_is_validated_after_decoding() {
        let msg = Server::Welcome(Welcome {
            version: crate::PROTOCOL_VERSION,
            player: 1,
            entity: 1,
            room: "r".into(),
            tick_rate: 30,
            snapshot_interval: 1,
            tick: 0,
            setup: Setup { width: f32::NAN },
            resume_token: [0; 16],
            resumed: false,
        });
        let mut bytes = Vec::new();
        encode_server(&msg, &mut bytes);
        assert!(matches!(
            decode_server::<TestGame>(&bytes),
            Err(DecodeError::Invalid(ValidationError::Invalid {
                field: "width",
                ..
            }))
        ));
    }

    #[test]
    fn hello_version_and_game_are_read_from_any_hello() {
        for version in [0u16, 1, 250, 251, 300, u16::MAX] {
            let mut hello = Hello::new::<TestGame>("a");
            hello.version = version;
            hello.schema = version;
            let mut bytes = Vec::new();
            encode_client(&Client::Hello(hello), &mut bytes);
            assert_eq!(hello_version(&bytes), Some(version));
            assert_eq!(hello_game(&bytes), Some(("test".to_string(), version)));
        }
        let mut ping = Vec::new();
        encode_client(&Client::Ping { nonce: 0 }, &mut ping);
        assert_eq!(hello_version(&ping), None);
        assert_eq!(hello_game(&ping), None);
        assert_eq!(hello_game(&[0, 3, 200, b'a']), None);
    }

    #[test]
    fn oversize_frame_is_rejected() {
        let bytes = vec![0u8; CLIENT_MSG_MAX + 1];
        assert_eq!(
            decode_client::<TestGame>(&bytes),
            Err(DecodeError::TooLarge {
                len: CLIENT_MSG_MAX + 1,
                max: CLIENT_MSG_MAX
            })
        );
    }

    #[test]
    fn example_hello_bytes() {
        let mut hello = Hello::new::<TestGame>("ann");
        hello.version = 4;
        let mut bytes = Vec::new();
        encode_client(&Client::Hello(hello), &mut bytes);
        // The variant, version, game, schema, name, then room, spectate, resume, token and seat
        // all absent or false.
        assert_eq!(
            bytes,
            [
                0, 4, 4, b't', b'e', b's', b't', 7, 3, b'a', b'n', b'n', 0, 0, 0, 0, 0
            ]
        );
    }
}
