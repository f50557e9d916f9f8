//! WebSocket frames (RFC 6455 section 5), sans-IO: a decoder that takes a peer's frames out of a
//! byte buffer and reassembles fragmented messages, and an encoder that writes frames.
//!
//! The server's room driver and the swarm's shards run it straight on their sockets, one read and
//! one write per connection per tick, instead of a WebSocket library with a task per connection.
//! Every limit holds before anything is buffered: a frame whose header announces more than the
//! message limit is refused from its header alone; control frames are at most 125 bytes and never
//! fragmented; a server requires masked frames and a client unmasked ones. Errors carry the close
//! code the peer should hear.

use std::ops::Range;

/// Frame opcodes.
pub mod opcode {
    /// The next fragment of a message.
    pub const CONTINUATION: u8 = 0x0;
    /// A text message (UTF-8).
    pub const TEXT: u8 = 0x1;
    /// A binary message.
    pub const BINARY: u8 = 0x2;
    /// Close, with an optional code and reason.
    pub const CLOSE: u8 = 0x8;
    /// Ping; the peer answers with a pong carrying the same payload.
    pub const PING: u8 = 0x9;
    /// Pong.
    pub const PONG: u8 = 0xA;
}

/// Largest payload of a control frame (close, ping, pong).
pub const CONTROL_MAX: usize = 125;
/// Longest frame header: 2 bytes, 8 of extended length, 4 of mask.
pub const HEADER_MAX: usize = 14;

/// Which side of the connection decodes: a server reads masked frames, a client unmasked ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Decodes what clients send (masked).
    Server,
    /// Decodes what servers send (unmasked).
    Client,
}

/// Why a peer's bytes are not valid WebSocket frames, with the close code to answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A frame breaks the framing rules (close 1002).
    #[error("websocket protocol error: {0}")]
    Protocol(&'static str),
    /// A message is larger than the limit (close 1009); found from the frame header, before its
    /// payload is read.
    #[error("message larger than {max} bytes")]
    TooBig {
        /// The limit.
        max: usize,
    },
    /// A text message is not valid UTF-8 (close 1007).
    #[error("text message is not valid UTF-8")]
    InvalidUtf8,
}

impl FrameError {
    /// The close code for this error.
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::Protocol(_) => 1002,
            FrameError::TooBig { .. } => 1009,
            FrameError::InvalidUtf8 => 1007,
        }
    }
}

/// One complete thing a peer sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A whole binary message.
    Binary(&'a [u8]),
    /// A whole text message, checked UTF-8.
    Text(&'a str),
    /// A ping with its payload (to echo in a pong).
    Ping(&'a [u8]),
    /// A pong.
    Pong,
    /// A close, with the peer's code and reason when it gave one.
    Close(Option<(u16, &'a str)>),
}

/// Where a decoded message's payload lives: in the input (a single frame) or in the decoder's
/// reassembly buffer (a fragmented message).
#[derive(Debug)]
enum Payload {
    Input(Range<usize>),
    Assembled,
}

/// Decodes frames from a byte stream and reassembles fragmented messages.
///
/// Call [`Decoder::decode`] with the bytes received and not yet consumed; it returns the next
/// complete item, if the bytes hold one, and how many bytes it used (the caller drops those from
/// its buffer: fragments of a message are consumed before the message is whole), or an error to
/// close with.
#[derive(Debug)]
pub struct Decoder {
    side: Side,
    max_message: usize,
    /// The limit for text messages (`max_message` unless set apart).
    max_text: usize,
    /// A fragmented message being reassembled, and its opcode (0 when none).
    assembled: Vec<u8>,
    assembling: u8,
}

impl Decoder {
    /// A decoder for `side` that refuses messages above `max_message` bytes.
    pub fn new(side: Side, max_message: usize) -> Decoder {
        Decoder {
            side,
            max_message,
            max_text: max_message,
            assembled: Vec::new(),
            assembling: 0,
        }
    }

    /// The same, with its own limit for text messages.
    pub fn with_text_limit(self, max_text: usize) -> Decoder {
        Decoder { max_text, ..self }
    }

    /// The last message reassembled from fragments (valid after `decode` returned it).
    pub fn assembled(&self) -> &[u8] {
        &self.assembled
    }

    /// The next complete item in `input` (unmasking it in place), if there is one, and the
    /// number of bytes used (fragments of an unfinished message are consumed and kept here, so
    /// `used` can be above 0 with no item).
    pub fn decode<'a>(
        &'a mut self,
        input: &'a mut [u8],
    ) -> Result<(Option<Incoming<'a>>, usize), FrameError> {
        let mut used = 0;
        loop {
            let Some(header) = parse_header(&input[used..], self.side)? else {
                return Ok((None, used));
            };
            let frame_len = header.header_len + header.payload_len;
            // Limits before waiting for the payload: nothing past them is ever buffered.
            let control = header.opcode >= opcode::CLOSE;
            if control {
                if !header.fin {
                    return Err(FrameError::Protocol("fragmented control frame"));
                }
                if header.payload_len > CONTROL_MAX {
                    return Err(FrameError::Protocol("control frame longer than 125 bytes"));
                }
            } else {
                let (kind, so_far) = if header.opcode == opcode::CONTINUATION {
                    (self.assembling, self.assembled.len())
                } else {
                    (header.opcode, 0)
                };
                let max = if kind == opcode::TEXT {
                    self.max_text
                } else {
                    self.max_message
                };
                if so_far + header.payload_len > max {
                    return Err(FrameError::TooBig { max });
                }
            }
            if input.len() - used < frame_len {
                return Ok((None, used));
            }
            let start = used + header.header_len;
            let payload = start..start + header.payload_len;
            if let Some(mask) = header.mask {
                for (index, byte) in input[payload.clone()].iter_mut().enumerate() {
                    *byte ^= mask[index % 4];
                }
            }
            used += frame_len;
            let whole = match header.opcode {
                opcode::CONTINUATION => {
                    if self.assembling == 0 {
                        return Err(FrameError::Protocol("continuation without a message"));
                    }
                    self.assembled.extend_from_slice(&input[payload]);
                    if !header.fin {
                        continue;
                    }
                    Some((self.assembling, Payload::Assembled))
                }
                opcode::TEXT | opcode::BINARY => {
                    if self.assembling != 0 {
                        return Err(FrameError::Protocol("new message inside a fragmented one"));
                    }
                    if !header.fin {
                        self.assembling = header.opcode;
                        self.assembled.clear();
                        self.assembled.extend_from_slice(&input[payload]);
                        continue;
                    }
                    Some((header.opcode, Payload::Input(payload)))
                }
                opcode::PING => return Ok((Some(Incoming::Ping(&input[payload])), used)),
                opcode::PONG => return Ok((Some(Incoming::Pong), used)),
                opcode::CLOSE => {
                    let close = parse_close(&input[payload])?;
                    return Ok((Some(Incoming::Close(close)), used));
                }
                _ => return Err(FrameError::Protocol("unknown opcode")),
            };
            let Some((message_opcode, payload)) = whole else {
                continue;
            };
            let bytes: &[u8] = match payload {
                Payload::Input(range) => &input[range],
                Payload::Assembled => {
                    self.assembling = 0;
                    &self.assembled
                }
            };
            let incoming = if message_opcode == opcode::TEXT {
                Incoming::Text(std::str::from_utf8(bytes).map_err(|_| FrameError::InvalidUtf8)?)
            } else {
                Incoming::Binary(bytes)
            };
            return Ok((Some(incoming), used));
        }
    }
}

/// A frame header.
#[derive(Debug)]
struct Header {
    fin: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    header_len: usize,
    payload_len: usize,
}

fn parse_header(input: &[u8], side: Side) -> Result<Option<Header>, FrameError> {
    let [first, second, rest @ ..] = input else {
        return Ok(None);
    };
    if first & 0x70 != 0 {
        return Err(FrameError::Protocol("reserved bits set"));
    }
    let masked = second & 0x80 != 0;
    match side {
        Side::Server if !masked => return Err(FrameError::Protocol("unmasked client frame")),
        Side::Client if masked => return Err(FrameError::Protocol("masked server frame")),
        _ => {}
    }
    let (payload_len, length_bytes) = match second & 0x7f {
        126 => {
            let [a, b, ..] = rest else { return Ok(None) };
            (u16::from_be_bytes([*a, *b]) as u64, 2)
        }
        127 => {
            let Some(bytes) = rest.get(..8) else {
                return Ok(None);
            };
            let mut be = [0u8; 8];
            be.copy_from_slice(bytes);
            let len = u64::from_be_bytes(be);
            if len >> 63 != 0 {
                return Err(FrameError::Protocol("frame length with its top bit set"));
            }
            (len, 8)
        }
        short => (short as u64, 0),
    };
    let mask = if masked {
        let Some(bytes) = rest.get(length_bytes..length_bytes + 4) else {
            return Ok(None);
        };
        Some([bytes[0], bytes[1], bytes[2], bytes[3]])
    } else {
        None
    };
    Ok(Some(Header {
        fin: first & 0x80 != 0,
        opcode: first & 0x0f,
        mask,
        header_len: 2 + length_bytes + if masked { 4 } else { 0 },
        // A length past usize (or past any limit) is refused by the caller's limit check.
        payload_len: usize::try_from(payload_len).unwrap_or(usize::MAX / 2),
    }))
}

/// A close frame's payload: empty, or a code (2 bytes, big endian) and a UTF-8 reason.
fn parse_close(payload: &[u8]) -> Result<Option<(u16, &str)>, FrameError> {
    match payload {
        [] => Ok(None),
        [_] => Err(FrameError::Protocol("close frame with a one-byte payload")),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !valid {
                return Err(FrameError::Protocol("invalid close code"));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| FrameError::InvalidUtf8)?;
            Ok(Some((code, reason)))
        }
    }
}

/// Appends one whole frame (FIN set) with `payload` to `out`; masked with `mask` when given
/// (clients must mask, servers must not).
pub fn encode_frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    encode_header(opcode, payload.len(), mask, out);
    match mask {
        None => out.extend_from_slice(payload),
        Some(mask) => out.extend(
            payload
                .iter()
                .enumerate()
                .map(|(index, byte)| byte ^ mask[index % 4]),
        ),
    }
}

/// Appends the header of one whole frame of `len` payload bytes (the payload follows it).
pub fn encode_header(opcode: u8, len: usize, mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    out.push(0x80 | opcode);
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if let Some(mask) = mask {
        out.extend_from_slice(&mask);
    }
}

/// Appends a close frame with `code` and `reason` (cut to fit 125 bytes at a character
/// boundary).
pub fn encode_close(code: u16, reason: &str, mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    let mut end = reason.len().min(CONTROL_MAX - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    encode_frame(opcode::CLOSE, &payload, mask, out);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

    fn masked(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(opcode, payload, Some(MASK), &mut out);
        if !fin {
            out[0] &= 0x7f;
        }
        out
    }

    /// Decodes everything in `bytes`, as owned items.
    fn all(decoder: &mut Decoder, mut bytes: Vec<u8>) -> Result<Vec<String>, FrameError> {
        let mut items = Vec::new();
        loop {
            let (item, used) = decoder.decode(&mut bytes)?;
            let item = item.map(|item| format!("{item:?}"));
            bytes.drain(..used);
            match item {
                Some(item) => items.push(item),
                None => return Ok(items),
            }
        }
    }

    #[test]
    fn whole_messages_and_control_frames() {
        let mut decoder = Decoder::new(Side::Server, 1024);
        let mut bytes = masked(opcode::BINARY, true, &[1, 2, 3]);
        bytes.extend(masked(opcode::PING, true, b"hi"));
        bytes.extend(masked(opcode::TEXT, true, "é".as_bytes()));
        let mut close = Vec::new();
        encode_close(1000, "bye", Some(MASK), &mut close);
        bytes.extend(close);
        assert_eq!(
            all(&mut decoder, bytes).unwrap(),
            [
                "Binary([1, 2, 3])",
                "Ping([104, 105])",
                "Text(\"é\")",
                "Close(Some((1000, \"bye\")))"
            ]
        );
    }

    #[test]
    fn fragments_reassemble_around_a_ping() {
        let mut decoder = Decoder::new(Side::Server, 1024);
        let mut bytes = masked(opcode::BINARY, false, &[1, 2]);
        bytes.extend(masked(opcode::PING, true, b""));
        bytes.extend(masked(opcode::CONTINUATION, false, &[3]));
        bytes.extend(masked(opcode::CONTINUATION, true, &[4, 5]));
        assert_eq!(
            all(&mut decoder, bytes).unwrap(),
            ["Ping([])", "Binary([1, 2, 3, 4, 5])"]
        );
    }

    #[test]
    fn a_partial_frame_waits_for_more_bytes() {
        let mut decoder = Decoder::new(Side::Server, 1024);
        let frame = masked(opcode::BINARY, true, &[9; 300]);
        for cut in 0..frame.len() {
            let mut part = frame[..cut].to_vec();
            assert_eq!(
                decoder.decode(&mut part).unwrap(),
                (None, 0),
                "cut at {cut}"
            );
        }
        let mut whole = frame.clone();
        let (item, used) = decoder.decode(&mut whole).unwrap();
        assert_eq!(item, Some(Incoming::Binary(&[9; 300])));
        assert_eq!(used, frame.len());
    }

    #[test]
    fn an_oversize_message_is_refused_from_its_header_alone() {
        let mut decoder = Decoder::new(Side::Server, 1024);
        // A header announcing 1 MiB, with none of the payload.
        let mut header = Vec::new();
        encode_header(opcode::BINARY, 1 << 20, Some(MASK), &mut header);
        assert_eq!(
            decoder.decode(&mut header),
            Err(FrameError::TooBig { max: 1024 })
        );
        // Exactly the limit is fine; one more byte, over two fragments, is not.
        let mut decoder = Decoder::new(Side::Server, 1024);
        assert!(
            decoder
                .decode(&mut masked(opcode::BINARY, true, &[0; 1024]))
                .unwrap()
                .0
                .is_some()
        );
        let mut bytes = masked(opcode::BINARY, false, &[0; 1000]);
        bytes.extend(masked(opcode::CONTINUATION, true, &[0; 25]));
        assert_eq!(
            all(&mut Decoder::new(Side::Server, 1024), bytes),
            Err(FrameError::TooBig { max: 1024 })
        );
        // A text limit of its own holds for text, fragments included; binary keeps its own.
        let split = || Decoder::new(Side::Server, 1024).with_text_limit(4096);
        let mut bytes = masked(opcode::TEXT, false, &[b'a'; 3000]);
        bytes.extend(masked(opcode::CONTINUATION, true, &[b'a'; 1096]));
        assert!(matches!(all(&mut split(), bytes), Ok(items) if items.len() == 1));
        let mut bytes = masked(opcode::TEXT, false, &[b'a'; 3000]);
        bytes.extend(masked(opcode::CONTINUATION, true, &[b'a'; 1097]));
        assert_eq!(
            all(&mut split(), bytes),
            Err(FrameError::TooBig { max: 4096 })
        );
        assert_eq!(
            all(&mut split(), masked(opcode::BINARY, true, &[0; 1025])),
            Err(FrameError::TooBig { max: 1024 })
        );
    }

    #[test]
    fn framing_violations_are_protocol_errors() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("unmasked", {
                let mut out = Vec::new();
                encode_frame(opcode::BINARY, &[1], None, &mut out);
                out
            }),
            ("reserved bits", {
                let mut out = masked(opcode::BINARY, true, &[1]);
                out[0] |= 0x40;
                out
            }),
            ("unknown opcode", masked(0x3, true, &[1])),
            ("fragmented ping", masked(opcode::PING, false, &[1])),
            ("long ping", masked(opcode::PING, true, &[0; 126])),
            (
                "stray continuation",
                masked(opcode::CONTINUATION, true, &[1]),
            ),
            ("one-byte close", masked(opcode::CLOSE, true, &[3])),
            (
                "close code 1005",
                masked(opcode::CLOSE, true, &1005u16.to_be_bytes()),
            ),
        ];
        for (name, bytes) in cases {
            let result = all(&mut Decoder::new(Side::Server, 1024), bytes);
            assert!(
                matches!(result, Err(FrameError::Protocol(_))),
                "{name}: {result:?}"
            );
        }
        let mut bytes = masked(opcode::TEXT, true, &[0xff]);
        assert_eq!(
            Decoder::new(Side::Server, 1024).decode(&mut bytes),
            Err(FrameError::InvalidUtf8)
        );
    }

    #[test]
    fn a_client_decodes_unmasked_server_frames() {
        let mut out = Vec::new();
        encode_frame(opcode::BINARY, &[7; 70_000], None, &mut out);
        assert_eq!(&out[..2], &[0x82, 127]);
        let mut decoder = Decoder::new(Side::Client, 1 << 20);
        let mut input = out.clone();
        let (item, used) = decoder.decode(&mut input).unwrap();
        assert!(matches!(item, Some(Incoming::Binary(bytes)) if bytes.len() == 70_000));
        assert_eq!(used, out.len());
        assert!(
            Decoder::new(Side::Client, 1024)
                .decode(&mut masked(opcode::BINARY, true, &[1]))
                .is_err()
        );
    }

    #[test]
    fn close_reasons_are_cut_at_a_character_boundary() {
        let mut out = Vec::new();
        encode_close(1001, &"é".repeat(100), None, &mut out);
        assert_eq!(out[1] as usize, out.len() - 2);
        assert!(out.len() - 2 <= CONTROL_MAX);
        let mut decoder = Decoder::new(Side::Client, 1024);
        let (item, _) = decoder.decode(&mut out).unwrap();
        assert!(matches!(item, Some(Incoming::Close(Some((1001, reason)))) if reason.len() == 122));
    }

    proptest! {
        /// Garbage never panics, and whatever decodes used no more bytes than it was given.
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            for side in [Side::Server, Side::Client] {
                let mut decoder = Decoder::new(side, 256);
                let mut input = bytes.clone();
                let mut offset = 0;
                while offset < input.len() {
                    match decoder.decode(&mut input[offset..]) {
                        Ok((item, used)) => {
                            prop_assert!(offset + used <= bytes.len());
                            offset += used;
                            if item.is_none() {
                                break;
                            }
                        }
                        Err(_) => break,
                    }
                }
            }
        }

        /// Any message, cut into any fragments and split at any byte, decodes whole.
        #[test]
        fn fragmented_messages_roundtrip(
            payload in proptest::collection::vec(any::<u8>(), 0..600),
            cuts in proptest::collection::vec(0usize..600, 0..4),
            split in 0usize..2000,
        ) {
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(payload.len())).collect();
            points.sort_unstable();
            points.dedup();
            let mut bytes = Vec::new();
            let mut previous = 0;
            let mut first = true;
            for &point in points.iter().chain(std::iter::once(&payload.len())) {
                if point < previous { continue; }
                let last = point == payload.len();
                let code = if first { opcode::BINARY } else { opcode::CONTINUATION };
                bytes.extend(masked(code, last, &payload[previous..point]));
                first = false;
                previous = point;
                if last { break; }
            }
            let mut decoder = Decoder::new(Side::Server, 1024);
            let split = split.min(bytes.len());
            let mut buffer = bytes[..split].to_vec();
            let mut fed = split;
            loop {
                let (item, used) = decoder.decode(&mut buffer).unwrap();
                let got = match item {
                    Some(Incoming::Binary(got)) => Some(got.to_vec()),
                    Some(other) => {
                        prop_assert!(false, "unexpected {:?}", other);
                        None
                    }
                    None => None,
                };
                buffer.drain(..used);
                if let Some(got) = got {
                    prop_assert_eq!(got, payload.clone());
                    break;
                }
                prop_assert!(fed < bytes.len(), "stuck with everything fed");
                buffer.push(bytes[fed]);
                fed += 1;
            }
        }
    }
}
