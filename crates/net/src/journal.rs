//! Match logs: a room's match kept as its inputs, so anyone can re-simulate it and check every
//! state hash (docs/RECORDING.md has the format).
//!
//! A log holds what [`Game`](crate::Game)'s contract says determines a game: the constructor's
//! arguments (the game's config table, tick rate and seed, in the [`Header`]), every join and
//! leave, every step's commands in the order the game received them, and the state hash after
//! steps. This module is sans-IO: [`Journal`] appends records to a buffer the server's recorder
//! compresses and writes; [`Reader`] parses a decompressed log back; [`crate::replay`] runs one.
//!
//! Records (after the header, one tag byte each; numbers are LEB128 varints):
//! - `JOIN player name`, `LEAVE player`: between steps, as the room called the game.
//! - `STEP n (player flags [seq] [rewind] [input])*n`: one step's commands. Each command is
//!   coded against the same player's previous one: flag bit 0 means "seq is the previous + 1",
//!   bit 1 "same rewind", bit 2 "same command", bit 3 "the command's encoding, byte by byte
//!   minus the previous one's" (when both are as long); whatever is not the same follows (the
//!   command in the protocol's own encoding, or that difference). Players mostly repeat
//!   themselves or change a little, which is what keeps logs small.
//! - `CHECK lo16`: the low 16 bits of the state hash after this step (every step, so a replay
//!   names the first tick that differs).
//! - `HASH u64`: the whole state hash after this step (every `hash_every` steps).
//! - `END reason`: the match ended (a log without it was cut short: a crash, a kill, the size
//!   cap).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tickwire_protocol::{DecodeError, decode_value, encode_value};
use tickwire_sim::{PlayerId, TickInput};

/// The first bytes of a match log file; a raw deflate stream of the records follows.
pub const MAGIC: &[u8; 8] = b"TWMATCH\x01";

/// The log format's version, in the header.
pub const FORMAT_VERSION: u16 = 1;

const TAG_HEADER: u8 = 1;
const TAG_JOIN: u8 = 2;
const TAG_LEAVE: u8 = 3;
const TAG_STEP: u8 = 4;
const TAG_CHECK: u8 = 5;
const TAG_HASH: u8 = 6;
const TAG_END: u8 = 7;

const SAME_SEQ: u8 = 1;
const SAME_REWIND: u8 = 2;
const SAME_INPUT: u8 = 4;
const DELTA_INPUT: u8 = 8;

/// Longest header, name or reason a reader accepts.
const TEXT_MAX: usize = 1 << 20;
/// Most commands one step may hold in a log a reader accepts.
const STEP_INPUTS_MAX: usize = 1 << 16;

/// What a log starts with: what the game was built from, and where the match ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// [`FORMAT_VERSION`] of the writer.
    pub format: u16,
    /// The game's name ([`tickwire_protocol::Schema::NAME`]).
    pub game: String,
    /// The game's schema version.
    pub schema: u16,
    /// The room's name.
    pub room: String,
    /// The seed the room's game was built with.
    pub seed: u64,
    /// Steps per second.
    pub tick_rate: u32,
    /// The game's config table as the server had it (TOML; empty: the game's defaults).
    pub game_config: String,
    /// When the room was created, in milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// A whole state hash is logged every this many steps.
    pub hash_every: u32,
    /// The server that wrote it (`tickwire 0.1.0`).
    pub server: String,
}

/// The previous command of one player, which the next is coded against.
#[derive(Clone, Debug, Default)]
struct Previous {
    seq: u32,
    rewind: u32,
    input: Vec<u8>,
}

/// Appends a match's records to a buffer (sans-IO); see the module.
#[derive(Debug)]
pub struct Journal {
    buf: Vec<u8>,
    previous: HashMap<u32, Previous>,
    hash_every: u32,
    scratch: Vec<u8>,
    steps: u64,
}

impl Journal {
    /// A journal whose first record is `header`.
    pub fn new(header: &Header) -> Journal {
        let mut journal = Journal {
            buf: Vec::with_capacity(4096),
            previous: HashMap::new(),
            hash_every: header.hash_every.max(1),
            scratch: Vec::with_capacity(64),
            steps: 0,
        };
        journal.buf.push(TAG_HEADER);
        // Invariant: a Header always serializes.
        let json = serde_json::to_vec(header).expect("a header serializes");
        put_bytes(&mut journal.buf, &json);
        journal
    }

    /// A player joined (between steps) and the game gave it `player`.
    pub fn join(&mut self, player: PlayerId, name: &str) {
        self.buf.push(TAG_JOIN);
        put_varint(&mut self.buf, u64::from(player.0));
        put_bytes(&mut self.buf, name.as_bytes());
    }

    /// A player left for good (between steps).
    pub fn leave(&mut self, player: PlayerId) {
        self.buf.push(TAG_LEAVE);
        put_varint(&mut self.buf, u64::from(player.0));
        self.previous.remove(&player.0);
    }

    /// One step's commands, in the order the game receives them.
    pub fn step<I: Serialize>(&mut self, inputs: &[TickInput<I>]) {
        self.buf.push(TAG_STEP);
        put_varint(&mut self.buf, inputs.len() as u64);
        for input in inputs {
            self.scratch.clear();
            encode_value(&input.input, &mut self.scratch);
            let previous = self.previous.entry(input.player.0).or_default();
            let mut flags = 0;
            if input.seq == previous.seq.wrapping_add(1) {
                flags |= SAME_SEQ;
            }
            if input.rewind == previous.rewind {
                flags |= SAME_REWIND;
            }
            if self.scratch == previous.input {
                flags |= SAME_INPUT;
            }
            put_varint(&mut self.buf, u64::from(input.player.0));
            let flags_at = self.buf.len();
            self.buf.push(flags);
            if flags & SAME_SEQ == 0 {
                put_varint(&mut self.buf, u64::from(input.seq));
            }
            if flags & SAME_REWIND == 0 {
                put_varint(&mut self.buf, u64::from(input.rewind));
            }
            if flags & SAME_INPUT == 0 {
                if previous.input.len() == self.scratch.len() {
                    // Small changes (an aim turned a little) become small bytes, which
                    // compress better than the values themselves.
                    self.buf[flags_at] |= DELTA_INPUT;
                    self.buf.extend(
                        self.scratch
                            .iter()
                            .zip(&previous.input)
                            .map(|(now, before)| now.wrapping_sub(*before)),
                    );
                } else {
                    self.buf.extend_from_slice(&self.scratch);
                }
                std::mem::swap(&mut previous.input, &mut self.scratch);
            }
            previous.seq = input.seq;
            previous.rewind = input.rewind;
        }
        self.steps += 1;
    }

    /// After a step: its check (the low 16 bits of `check`, the game's
    /// [`check_hash`](tickwire_sim::Simulation::check_hash)), and every `hash_every` steps the
    /// whole hash (`whole` is called only then).
    pub fn hashed(&mut self, check: u64, whole: impl FnOnce() -> u64) {
        self.buf.push(TAG_CHECK);
        self.buf.extend_from_slice(&(check as u16).to_le_bytes());
        if self.steps.is_multiple_of(u64::from(self.hash_every)) {
            self.buf.push(TAG_HASH);
            self.buf.extend_from_slice(&whole().to_le_bytes());
        }
    }

    /// The match ended.
    pub fn end(&mut self, reason: &str) {
        self.buf.push(TAG_END);
        put_bytes(&mut self.buf, reason.as_bytes());
    }

    /// The records appended since the last call.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.buf, Vec::with_capacity(4096))
    }

    /// Bytes waiting to be taken.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// One record of a log, as a [`Reader`] returns it.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry<I> {
    /// The log's first record.
    Header(Header),
    /// A join: the player id the game gave, and the name.
    Join(PlayerId, String),
    /// A leave.
    Leave(PlayerId),
    /// One step's commands.
    Step(Vec<TickInput<I>>),
    /// The low 16 bits of the state hash after the last step.
    Check(u16),
    /// The whole state hash after the last step.
    Hash(u64),
    /// The match ended, and why.
    End(String),
}

/// Why a log did not read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The log stops in the middle of a record (the file was cut short).
    #[error("the log is truncated")]
    Truncated,
    /// The bytes are not a log of this format.
    #[error("the log is corrupt: {0}")]
    Corrupt(String),
}

/// Reads the records of a decompressed log (the bytes after the file's magic, inflated), one at
/// a time: the reader keeps its position and each player's previous command; the bytes are
/// passed to every call (the same bytes each time).
#[derive(Debug, Default)]
pub struct Reader {
    at: usize,
    previous: HashMap<u32, Previous>,
}

impl Reader {
    /// A reader at the start of a log.
    pub fn new() -> Reader {
        Reader::default()
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.at
    }

    /// Whether the next record starts another step's part of the log (a join, a leave or a
    /// step), without reading it.
    pub fn at_step_boundary(&self, bytes: &[u8]) -> bool {
        matches!(bytes.get(self.at), Some(&(TAG_JOIN | TAG_LEAVE | TAG_STEP)))
    }

    /// The next record; None at the end of the bytes.
    pub fn next_entry<I>(&mut self, bytes: &[u8]) -> Option<Result<Entry<I>, ReadError>>
    where
        I: serde::de::DeserializeOwned,
    {
        if self.at >= bytes.len() {
            return None;
        }
        let start = self.at;
        let mut cursor = Cursor {
            bytes,
            at: self.at,
            previous: &mut self.previous,
        };
        let entry = cursor.entry();
        self.at = if entry.is_err() { start } else { cursor.at };
        Some(entry)
    }
}

/// A [`Reader`] reading one record.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
    previous: &'a mut HashMap<u32, Previous>,
}

impl<'a> Cursor<'a> {
    fn entry<I: serde::de::DeserializeOwned>(&mut self) -> Result<Entry<I>, ReadError> {
        let tag = self.byte()?;
        Ok(match tag {
            TAG_HEADER => {
                let json = self.bytes_field()?;
                let header = serde_json::from_slice(json)
                    .map_err(|error| ReadError::Corrupt(format!("header: {error}")))?;
                Entry::Header(header)
            }
            TAG_JOIN => {
                let player = self.u32()?;
                let name = self.text()?;
                Entry::Join(PlayerId(player), name)
            }
            TAG_LEAVE => {
                let player = self.u32()?;
                self.previous.remove(&player);
                Entry::Leave(PlayerId(player))
            }
            TAG_STEP => {
                let count = self.varint()? as usize;
                if count > STEP_INPUTS_MAX {
                    return Err(ReadError::Corrupt(format!("a step of {count} commands")));
                }
                let mut inputs = Vec::with_capacity(count);
                for _ in 0..count {
                    inputs.push(self.input()?);
                }
                Entry::Step(inputs)
            }
            TAG_CHECK => {
                let bytes = self.take(2)?;
                Entry::Check(u16::from_le_bytes([bytes[0], bytes[1]]))
            }
            TAG_HASH => {
                let bytes = self.take(8)?;
                let mut hash = [0; 8];
                hash.copy_from_slice(bytes);
                Entry::Hash(u64::from_le_bytes(hash))
            }
            TAG_END => Entry::End(self.text()?),
            other => return Err(ReadError::Corrupt(format!("unknown record tag {other}"))),
        })
    }

    fn input<I: serde::de::DeserializeOwned>(&mut self) -> Result<TickInput<I>, ReadError> {
        let player = self.u32()?;
        let flags = self.byte()?;
        let known = SAME_SEQ | SAME_REWIND | SAME_INPUT | DELTA_INPUT;
        if flags & !known != 0 || flags & (SAME_INPUT | DELTA_INPUT) == SAME_INPUT | DELTA_INPUT {
            return Err(ReadError::Corrupt(format!("command flags {flags:#x}")));
        }
        let mut previous = self.previous.remove(&player).unwrap_or_default();
        let seq = if flags & SAME_SEQ != 0 {
            previous.seq.wrapping_add(1)
        } else {
            self.u32()?
        };
        let rewind = if flags & SAME_REWIND != 0 {
            previous.rewind
        } else {
            self.u32()?
        };
        let input = if flags & SAME_INPUT != 0 {
            decode_all(&previous.input)?
        } else if flags & DELTA_INPUT != 0 {
            let delta = self.take(previous.input.len())?;
            for (byte, change) in previous.input.iter_mut().zip(delta) {
                *byte = byte.wrapping_add(*change);
            }
            decode_all(&previous.input)?
        } else {
            let rest = &self.bytes[self.at..];
            let (input, used) = decode_value::<I>(rest).map_err(|error| match error {
                DecodeError::Incomplete => ReadError::Truncated,
                other => ReadError::Corrupt(format!("a command: {other}")),
            })?;
            previous.input.clear();
            previous.input.extend_from_slice(&rest[..used]);
            self.at += used;
            input
        };
        previous.seq = seq;
        previous.rewind = rewind;
        self.previous.insert(player, previous);
        Ok(TickInput {
            player: PlayerId(player),
            seq,
            rewind,
            input,
        })
    }

    fn byte(&mut self) -> Result<u8, ReadError> {
        Ok(self.take(1)?[0])
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], ReadError> {
        let end = self.at.checked_add(len).ok_or(ReadError::Truncated)?;
        let bytes = self.bytes.get(self.at..end).ok_or(ReadError::Truncated)?;
        self.at = end;
        Ok(bytes)
    }

    fn varint(&mut self) -> Result<u64, ReadError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ReadError::Corrupt("a number longer than 64 bits".into()))
    }

    fn u32(&mut self) -> Result<u32, ReadError> {
        let value = self.varint()?;
        u32::try_from(value).map_err(|_| ReadError::Corrupt(format!("{value} is not a u32")))
    }

    fn bytes_field(&mut self) -> Result<&'a [u8], ReadError> {
        let len = self.varint()? as usize;
        if len > TEXT_MAX {
            return Err(ReadError::Corrupt(format!("a field of {len} bytes")));
        }
        self.take(len)
    }

    fn text(&mut self) -> Result<String, ReadError> {
        let bytes = self.bytes_field()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| ReadError::Corrupt("text not UTF-8".into()))
    }
}

/// An end record alone, for a writer that ends a log itself (at the size cap).
pub fn end_record(reason: &str) -> Vec<u8> {
    let mut out = vec![TAG_END];
    put_bytes(&mut out, reason.as_bytes());
    out
}

fn decode_all<I: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<I, ReadError> {
    match decode_value::<I>(bytes) {
        Ok((input, _)) => Ok(input),
        Err(error) => Err(ReadError::Corrupt(format!("a repeated command: {error}"))),
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Compresses a log's records as a file stores them: the magic, then one raw deflate stream,
/// flushed (a sync flush) at every [`FileWriter::write`] so a log cut short by a crash still
/// inflates up to its last write.
#[derive(Debug)]
pub struct FileWriter<W: std::io::Write> {
    encoder: flate2::write::DeflateEncoder<W>,
}

impl<W: std::io::Write> FileWriter<W> {
    /// Writes the magic to `out` and starts the stream.
    pub fn new(mut out: W) -> std::io::Result<FileWriter<W>> {
        out.write_all(MAGIC)?;
        Ok(FileWriter {
            encoder: flate2::write::DeflateEncoder::new(out, flate2::Compression::default()),
        })
    }

    /// Compresses `records` and pushes them out (a sync flush: whole bytes a reader can
    /// inflate).
    pub fn write(&mut self, records: &[u8]) -> std::io::Result<()> {
        use std::io::Write as _;
        self.encoder.write_all(records)?;
        self.encoder.flush()
    }

    /// Compressed bytes written so far, the magic included.
    pub fn written(&self) -> u64 {
        self.encoder.total_out() + MAGIC.len() as u64
    }

    /// Ends the stream; returns the output.
    pub fn finish(self) -> std::io::Result<W> {
        self.encoder.finish()
    }
}

/// A log inflates to at most this many bytes per byte of file (logs this server writes
/// compress two to ten times), and never past [`INFLATED_MAX`]: a crafted stream cannot make a
/// reader allocate without bound.
const INFLATE_RATIO_MAX: usize = 256;
/// The most a log inflates to, whatever its size.
pub const INFLATED_MAX: usize = 4 << 30;

/// A log file's records, inflated. The second value says the stream stopped early (a file cut
/// short, as by a crash): what inflated before that is returned. A stream that is corrupt
/// rather than cut, or inflates past its bound, is an error.
pub fn inflate(file: &[u8]) -> Result<(Vec<u8>, bool), ReadError> {
    use std::io::Read as _;
    let Some(stream) = file.strip_prefix(MAGIC.as_slice()) else {
        return Err(ReadError::Corrupt(
            "not a tickwire match log (wrong magic)".into(),
        ));
    };
    let limit = stream
        .len()
        .saturating_mul(INFLATE_RATIO_MAX)
        .clamp(1 << 20, INFLATED_MAX);
    let mut decoder = flate2::read::DeflateDecoder::new(stream);
    let mut out = Vec::with_capacity(stream.len().saturating_mul(4).min(limit));
    let mut chunk = vec![0; 64 * 1024];
    loop {
        match decoder.read(&mut chunk) {
            Ok(0) => return Ok((out, false)),
            Ok(read) => {
                if out.len() + read > limit {
                    return Err(ReadError::Corrupt(format!(
                        "the log inflates past {limit} bytes: not a log a server wrote"
                    )));
                }
                out.extend_from_slice(&chunk[..read]);
            }
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Ok((out, true));
            }
            Err(error) => {
                return Err(ReadError::Corrupt(format!(
                    "the compressed stream is damaged after {} bytes: {error}",
                    out.len()
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            format: FORMAT_VERSION,
            game: "test".into(),
            schema: 1,
            room: "r".into(),
            seed: 7,
            tick_rate: 30,
            game_config: String::new(),
            started_unix_ms: 1,
            hash_every: 2,
            server: "tickwire test".into(),
        }
    }

    fn input(player: u32, seq: u32, rewind: u32, input: (i8, u16)) -> TickInput<(i8, u16)> {
        TickInput {
            player: PlayerId(player),
            seq,
            rewind,
            input,
        }
    }

    #[test]
    fn records_read_back_as_written() {
        let mut journal = Journal::new(&header());
        journal.join(PlayerId(1), "ann");
        journal.join(PlayerId(2), "bob");
        let steps = vec![
            vec![input(1, 1, 0, (1, 300)), input(2, 5, 3, (-1, 0))],
            vec![input(1, 2, 0, (1, 300)), input(2, 7, 3, (-1, 1))],
            vec![],
            vec![
                input(2, 0, 0, (0, 0)),
                input(1, 3, 1, (1, 300)),
                input(1, 4, 1, (2, 5)),
            ],
        ];
        for (index, step) in steps.iter().enumerate() {
            journal.step(step);
            let hash = 0xabcd_0000 + index as u64;
            journal.hashed(hash, || hash);
        }
        journal.leave(PlayerId(2));
        journal.end("empty");
        let bytes = journal.take();
        assert_eq!(journal.pending(), 0);

        let mut reader = Reader::new();
        let mut read = Vec::new();
        while let Some(entry) = reader.next_entry::<(i8, u16)>(&bytes) {
            read.push(entry.expect("reads"));
        }
        let mut expected = vec![
            Entry::Header(header()),
            Entry::Join(PlayerId(1), "ann".into()),
            Entry::Join(PlayerId(2), "bob".into()),
        ];
        for (index, step) in steps.into_iter().enumerate() {
            expected.push(Entry::Step(step));
            let hash = 0xabcd_0000 + index as u64;
            expected.push(Entry::Check(hash as u16));
            if (index + 1) % 2 == 0 {
                expected.push(Entry::Hash(hash));
            }
        }
        expected.push(Entry::Leave(PlayerId(2)));
        expected.push(Entry::End("empty".into()));
        assert_eq!(read, expected);
    }

    #[test]
    fn repeated_commands_cost_two_bytes() {
        let mut journal = Journal::new(&header());
        journal.step(&[input(1, 1, 2, (5, 40_000))]);
        let before = journal.pending();
        journal.step(&[input(1, 2, 2, (5, 40_000))]);
        // Tag, count, player, flags.
        assert_eq!(journal.pending() - before, 4);
    }

    #[test]
    fn a_cut_log_is_truncated_at_a_record_and_bad_bytes_are_corrupt() {
        let mut journal = Journal::new(&header());
        journal.join(PlayerId(1), "ann");
        journal.step(&[input(1, 1, 0, (3, 3))]);
        let bytes = journal.take();
        for cut in 1..bytes.len() {
            let mut reader = Reader::new();
            let mut outcome = None;
            while let Some(entry) = reader.next_entry::<(i8, u16)>(&bytes[..cut]) {
                if let Err(error) = entry {
                    outcome = Some(error);
                    break;
                }
            }
            if let Some(error) = outcome {
                assert_eq!(error, ReadError::Truncated, "cut at {cut}");
            }
        }
        let mut reader = Reader::new();
        assert!(matches!(
            reader.next_entry::<(i8, u16)>(&[99]),
            Some(Err(ReadError::Corrupt(_)))
        ));
    }

    #[test]
    fn files_inflate_and_a_cut_file_keeps_what_was_flushed() {
        let mut journal = Journal::new(&header());
        journal.join(PlayerId(1), "ann");
        let first = journal.take();
        journal.step(&[input(1, 1, 0, (3, 3))]);
        let second = journal.take();
        let mut file = FileWriter::new(Vec::new()).expect("writes");
        file.write(&first).expect("writes");
        let flushed = file.written() as usize;
        file.write(&second).expect("writes");
        let bytes = file.finish().expect("finishes");
        let (records, cut) = inflate(&bytes).expect("inflates");
        assert!(!cut);
        assert_eq!(records, [first.clone(), second.clone()].concat());
        // Cut right after the first flush: the first records survive.
        let (records, _) = inflate(&bytes[..flushed]).expect("inflates");
        assert_eq!(records, first);
        assert!(inflate(b"nonsense").is_err());
        // Cut anywhere: what inflates is a prefix of the records, and the cut is reported.
        for cut in MAGIC.len()..bytes.len() {
            let (records, was_cut) = inflate(&bytes[..cut]).expect("a cut file inflates");
            assert!(was_cut || cut == bytes.len(), "cut at {cut}");
            assert!(
                [first.clone(), second.clone()]
                    .concat()
                    .starts_with(&records)
            );
        }
    }

    #[test]
    fn damaged_and_inflating_streams_are_refused() {
        // Damaged: a block type that does not exist (3) right after the magic.
        let mut damaged = MAGIC.to_vec();
        damaged.extend_from_slice(&[0x07, 0x00, 0x00]);
        assert!(matches!(inflate(&damaged), Err(ReadError::Corrupt(_))));
        // A bomb: 64 MiB of zeros compress to about 64 KiB, past 256 times the file.
        let mut file = FileWriter::new(Vec::new()).expect("writes");
        file.write(&vec![0; 64 << 20]).expect("writes");
        let bytes = file.finish().expect("finishes");
        assert!(bytes.len() < (64 << 20) / 256, "{} bytes", bytes.len());
        match inflate(&bytes) {
            Err(ReadError::Corrupt(why)) => assert!(why.contains("inflates past"), "{why}"),
            other => panic!(
                "expected a refusal, got {:?}",
                other.map(|(r, c)| (r.len(), c))
            ),
        }
    }
}
