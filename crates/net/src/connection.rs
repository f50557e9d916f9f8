//! One player's connection after the handshake, sans-IO: the bytes read and not yet decoded, the
//! frames waiting to be written, the message budget, the heartbeat, the stall deadline and the
//! goodbye. The room's driver owns a `Connection` per client next to its socket and calls it
//! once per tick; time is passed in, so deadlines, floods and stalls are tested without sockets
//! or sleeping.
//!
//! Call order each tick: [`Connection::fill_from`] (one read), then [`Connection::poll_message`]
//! until it returns `Ok(None)` (each binary message for the room), then
//! [`Connection::queue_reliable`] / [`Connection::queue_snapshot`] for what the room sends,
//! [`Connection::poll_timeout`] (heartbeat, idle and stall deadlines), and
//! [`Connection::flush_to`] (one write). [`Connection::close`] says goodbye (an Error message and
//! a close frame after whatever reliable messages are already queued), half-closes once that is
//! written, and keeps reading and discarding for a bounded time and byte count, so the peer reads
//! the code even when it was still writing; [`Connection::is_done`] tells when to drop the socket.
//!
//! Outgoing messages keep the room's rules: reliable messages in order, at most
//! `reliable_max` waiting (more closes the client as too slow); a snapshot waiting for the
//! socket is replaced by a newer one (latest wins); a partly written frame is always finished.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use tickwire_protocol::json::Format;
use tickwire_protocol::limits::{CLIENT_MSG_MAX, JSON_CLIENT_MSG_MAX};

use crate::close_reason::CloseReason;
use crate::ws::{self, Decoder, FrameError, Incoming, Side};

/// The input buffer: room for the largest client message and its frame header, and then some
/// (a tick's inputs are tens of bytes). What does not fit waits in the kernel.
const INPUT_CAP: usize = 2048;
const _: () = assert!(INPUT_CAP >= CLIENT_MSG_MAX + ws::HEADER_MAX);
/// The input buffer of a JSON-mode connection (its messages spell out field names).
const JSON_INPUT_CAP: usize = 8192;
const _: () = assert!(JSON_INPUT_CAP >= JSON_CLIENT_MSG_MAX + ws::HEADER_MAX);
/// Bytes read and discarded per call by a closing connection.
const DISCARD_CHUNK: usize = 4096;
/// How long a closing connection keeps reading (and discarding) so the peer reads the close.
pub const LINGER: Duration = Duration::from_secs(2);
/// How many bytes a closing connection reads and discards at most.
pub const LINGER_BYTES: usize = 256 * 1024;

/// The limits a connection enforces.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Messages per second on average.
    pub msg_rate: f64,
    /// Message burst.
    pub msg_burst: f64,
    /// Time between server pings.
    pub ping_interval: Duration,
    /// Silence (no frame at all) after which the client is closed.
    pub idle_timeout: Duration,
    /// Time a write may wait on the socket before the client is dropped.
    pub stall_timeout: Duration,
    /// Reliable messages waiting at most.
    pub reliable_max: usize,
}

/// What a tick's read found.
#[derive(Debug, PartialEq, Eq)]
pub enum Read0 {
    /// Bytes arrived (how many).
    Bytes(usize),
    /// Nothing to read now.
    Nothing,
}

/// A player's connection state.
#[derive(Debug)]
pub struct Connection {
    limits: Limits,
    /// Binary frames, or text frames in JSON mode (both ways).
    format: Format,
    /// The opcode of the messages this connection sends.
    opcode: u8,
    decoder: Decoder,
    /// Bytes read, valid up to `filled`; consumed by the decoder up to `consumed`. Allocated
    /// once (and zeroed once): a read fills it in place.
    input: Box<[u8]>,
    filled: usize,
    consumed: usize,
    /// Bytes handed to the socket, from `written` on.
    out: Vec<u8>,
    written: usize,
    /// Reliable frames waiting for `out` to drain, in order, and how many.
    reliable: Vec<u8>,
    reliable_count: usize,
    /// The newest snapshot frame waiting for `out` to drain (empty: none), and its tick.
    snapshot: Vec<u8>,
    snapshot_tick: u32,
    budget: RateBudget,
    last_heard: Instant,
    next_ping: Instant,
    /// Since when bytes have been waiting for the socket.
    stalled_since: Option<Instant>,
    closing: Option<Closing>,
    /// Counters for the room's metrics, taken with [`Connection::take_counts`].
    counts: Counts,
}

/// What a closing connection still does.
#[derive(Debug)]
struct Closing {
    /// Stop reading (and drop the socket) at this time.
    until: Instant,
    /// Bytes discarded so far.
    discarded: usize,
    /// The write half has been shut down (everything queued was written).
    half_closed: bool,
    /// The peer closed its side (read returned 0).
    peer_done: bool,
}

/// Counters since the last [`Connection::take_counts`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Bytes read.
    pub bytes_in: u64,
    /// Messages decoded (binary, text, ping, pong, close).
    pub messages_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// Messages queued for writing.
    pub messages_out: u64,
    /// Snapshots replaced before they were written.
    pub snapshots_replaced: u64,
    /// Messages dropped by the rate budget.
    pub rate_limited: u64,
}

impl Connection {
    /// A connection opened at `now` speaking `format`, with `initial` bytes already read (after
    /// the Hello).
    pub fn new(limits: Limits, format: Format, initial: &[u8], now: Instant) -> Connection {
        let (message_max, input_cap, opcode) = match format {
            Format::Binary => (CLIENT_MSG_MAX, INPUT_CAP, ws::opcode::BINARY),
            Format::Json => (JSON_CLIENT_MSG_MAX, JSON_INPUT_CAP, ws::opcode::TEXT),
        };
        Connection {
            limits,
            format,
            opcode,
            decoder: Decoder::new(Side::Server, message_max),
            input: {
                let mut input = vec![0; input_cap.max(initial.len())].into_boxed_slice();
                input[..initial.len()].copy_from_slice(initial);
                input
            },
            filled: initial.len(),
            consumed: 0,
            out: Vec::new(),
            written: 0,
            reliable: Vec::new(),
            reliable_count: 0,
            snapshot: Vec::new(),
            snapshot_tick: 0,
            budget: RateBudget::new(limits.msg_rate, limits.msg_burst, now),
            last_heard: now,
            next_ping: now + limits.ping_interval,
            stalled_since: None,
            closing: None,
            counts: Counts::default(),
        }
    }

    /// Binary, or JSON text frames.
    pub fn format(&self) -> Format {
        self.format
    }

    /// One read from `socket` into the input buffer. A closed peer (a read of 0) is
    /// `ConnectionLost`, except while closing, where it ends the lingering read.
    pub fn fill_from(
        &mut self,
        socket: &mut impl Read,
        now: Instant,
    ) -> Result<Read0, CloseReason> {
        if self.consumed > 0 {
            self.input.copy_within(self.consumed..self.filled, 0);
            self.filled -= self.consumed;
            self.consumed = 0;
        }
        if let Some(closing) = &mut self.closing {
            // Read and discard, so the peer's late writes do not turn into a reset that would
            // destroy the close frame in flight.
            let mut sink = [0u8; DISCARD_CHUNK];
            return match socket.read(&mut sink) {
                Ok(0) => {
                    closing.peer_done = true;
                    Ok(Read0::Nothing)
                }
                Ok(read) => {
                    closing.discarded += read;
                    Ok(Read0::Bytes(read))
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => Ok(Read0::Nothing),
                Err(_) => {
                    closing.peer_done = true;
                    Ok(Read0::Nothing)
                }
            };
        }
        // A full buffer holds at least one whole message for the decoder: a flood waits in the
        // kernel, not here.
        if self.filled == self.input.len() {
            return Ok(Read0::Nothing);
        }
        let result = socket.read(&mut self.input[self.filled..]);
        let read = match result {
            Ok(read) => read,
            Err(error) => {
                return match error.kind() {
                    ErrorKind::WouldBlock => Ok(Read0::Nothing),
                    ErrorKind::Interrupted => Ok(Read0::Nothing),
                    _ => Err(CloseReason::ConnectionLost(error.to_string())),
                };
            }
        };
        self.filled += read;
        if read == 0 {
            return Err(CloseReason::ConnectionLost("connection ended".into()));
        }
        self.last_heard = now;
        self.counts.bytes_in += read as u64;
        Ok(Read0::Bytes(read))
    }

    /// The next message from the client (binary, or text in JSON mode), if a whole one has
    /// arrived. Pings are answered, pongs count as life, a close is echoed; a frame of the other
    /// kind, bad framing, an oversize message or a sustained flood is an error to close with.
    /// Messages past the rate budget are dropped.
    pub fn poll_message(&mut self, now: Instant) -> Result<Option<&[u8]>, CloseReason> {
        if self.closing.is_some() {
            return Ok(None);
        }
        let found = loop {
            let Connection {
                format,
                decoder,
                input,
                filled,
                consumed,
                reliable,
                reliable_count,
                budget,
                counts,
                ..
            } = self;
            let base = input.as_ptr() as usize;
            let input_len = *filled;
            let (item, used) = decoder
                .decode(&mut input[*consumed..*filled])
                .map_err(|error| match error {
                    FrameError::TooBig { max, .. } => CloseReason::TooBig { max },
                    FrameError::InvalidUtf8 => CloseReason::InvalidUtf8,
                    FrameError::Protocol(why) => {
                        CloseReason::Protocol(format!("websocket protocol error: {why}"))
                    }
                })?;
            *consumed += used;
            let Some(item) = item else {
                return Ok(None);
            };
            counts.messages_in += 1;
            let message = match (item, *format) {
                (Incoming::Binary(bytes), Format::Binary) => Some(bytes),
                (Incoming::Text(text), Format::Json) => Some(text.as_bytes()),
                (Incoming::Binary(_), Format::Json) => return Err(CloseReason::BinaryFrame),
                (Incoming::Text(_), Format::Binary) => return Err(CloseReason::TextFrame),
                (Incoming::Ping(payload), _) => {
                    ws::encode_frame(ws::opcode::PONG, payload, None, reliable);
                    *reliable_count += 1;
                    None
                }
                (Incoming::Pong, _) => None,
                (Incoming::Close(_), _) => return Err(CloseReason::ClientLeft),
            };
            if let Some(bytes) = message {
                match budget.admit(now) {
                    // Where the message lies: in the input (one frame) or in the decoder's
                    // reassembly buffer (fragments); found by address, so the borrow ends here.
                    Admit::Pass => {
                        let at = (bytes.as_ptr() as usize).wrapping_sub(base);
                        break if at < input_len {
                            Found::Input(at..at + bytes.len())
                        } else {
                            Found::Assembled
                        };
                    }
                    Admit::Drop => counts.rate_limited += 1,
                    Admit::Abuse => return Err(CloseReason::RateLimited),
                }
            }
        };
        Ok(Some(match found {
            Found::Input(range) => &self.input[range],
            Found::Assembled => self.decoder.assembled(),
        }))
    }

    /// Queues a reliable message (one encoded server message) after those already waiting.
    /// Returns `QueueOverflow` when more than `reliable_max` would wait.
    pub fn queue_reliable(&mut self, message: &[u8]) -> Result<(), CloseReason> {
        if self.closing.is_some() {
            return Ok(());
        }
        if self.reliable_count >= self.limits.reliable_max {
            return Err(CloseReason::QueueOverflow);
        }
        ws::encode_frame(self.opcode, message, None, &mut self.reliable);
        self.reliable_count += 1;
        self.counts.messages_out += 1;
        Ok(())
    }

    /// Queues the snapshot of `tick`, replacing one still waiting for the socket; returns the
    /// tick of the one replaced (it never left, so the room should forget it was sent).
    pub fn queue_snapshot(&mut self, message: &[u8], tick: u32) -> Option<u32> {
        if self.closing.is_some() {
            return None;
        }
        let replaced = (!self.snapshot.is_empty()).then_some(self.snapshot_tick);
        if replaced.is_some() {
            self.counts.snapshots_replaced += 1;
        }
        self.snapshot_tick = tick;
        self.snapshot.clear();
        ws::encode_frame(self.opcode, message, None, &mut self.snapshot);
        self.counts.messages_out += 1;
        replaced
    }

    /// Deadlines at `now`: queues a ping when one is due; returns `Idle` when the client has
    /// been silent past the idle timeout, `Stalled` when bytes have waited for the socket past
    /// the stall deadline.
    pub fn poll_timeout(&mut self, now: Instant) -> Result<(), CloseReason> {
        if self.closing.is_some() {
            return Ok(());
        }
        if self
            .stalled_since
            .is_some_and(|since| now.duration_since(since) >= self.limits.stall_timeout)
        {
            return Err(CloseReason::Stalled);
        }
        if now >= self.next_ping {
            if now.duration_since(self.last_heard) >= self.limits.idle_timeout {
                return Err(CloseReason::Idle);
            }
            ws::encode_frame(ws::opcode::PING, &[], None, &mut self.reliable);
            self.reliable_count += 1;
            self.next_ping = now + self.limits.ping_interval;
        }
        Ok(())
    }

    /// One write to `socket` of what is waiting: a partly written frame first; once that is
    /// done, the reliable messages in order and then the newest snapshot. While closing, shuts
    /// the write half down once everything is written.
    pub fn flush_to(&mut self, socket: &mut impl Write, now: Instant) -> Result<(), CloseReason> {
        if self.written == self.out.len() {
            self.out.clear();
            self.written = 0;
            if !self.reliable.is_empty() || !self.snapshot.is_empty() {
                // Swap buffers rather than copy when only reliable messages wait.
                std::mem::swap(&mut self.out, &mut self.reliable);
                self.reliable.clear();
                self.reliable_count = 0;
                self.out.extend_from_slice(&self.snapshot);
                self.snapshot.clear();
            }
        }
        if self.written < self.out.len() {
            match socket.write(&self.out[self.written..]) {
                Ok(wrote) => {
                    self.written += wrote;
                    self.counts.bytes_out += wrote as u64;
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => {}
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(CloseReason::ConnectionLost(error.to_string())),
            }
        }
        let waiting = self.written < self.out.len();
        if waiting {
            self.stalled_since.get_or_insert(now);
        } else {
            self.stalled_since = None;
        }
        Ok(())
    }

    /// Whether everything queued has been written.
    pub fn is_flushed(&self) -> bool {
        self.written == self.out.len() && self.reliable.is_empty() && self.snapshot.is_empty()
    }

    /// Starts the goodbye for `reason`: `error_message` (the encoded Error message) and a close
    /// frame with the same code and text after the reliable messages already waiting (an
    /// unsent snapshot is dropped); a client's own close is echoed. From then on the
    /// connection only writes what is queued, half-closes, and reads and discards until the
    /// peer closes, `LINGER` passes or `LINGER_BYTES` were read.
    pub fn close(&mut self, reason: &CloseReason, error_message: Option<&[u8]>, now: Instant) {
        if self.closing.is_some() {
            return;
        }
        self.snapshot.clear();
        if let Some(message) = error_message.filter(|_| reason.says_goodbye()) {
            ws::encode_frame(self.opcode, message, None, &mut self.reliable);
        }
        let code = if *reason == CloseReason::ClientLeft {
            tickwire_protocol::close::NORMAL
        } else {
            reason.code()
        };
        if reason.says_goodbye() || *reason == CloseReason::ClientLeft {
            ws::encode_close(code, &reason.text(), None, &mut self.reliable);
        }
        self.closing = Some(Closing {
            until: now + LINGER,
            discarded: 0,
            half_closed: false,
            peer_done: false,
        });
    }

    /// Whether the connection is closing (its goodbye is queued or sent).
    pub fn is_closing(&self) -> bool {
        self.closing.is_some()
    }

    /// While closing: once everything queued is written (and `held`, what the socket layer
    /// still holds above the kernel, is false: TLS records), shut the write half down
    /// (`shutdown`), once. Returns whether the socket can be dropped now.
    pub fn poll_close(&mut self, now: Instant, held: bool, shutdown: impl FnOnce()) -> bool {
        let flushed = self.is_flushed() && !held;
        let Some(closing) = &mut self.closing else {
            return false;
        };
        if flushed && !closing.half_closed {
            closing.half_closed = true;
            shutdown();
        }
        closing.peer_done || now >= closing.until || closing.discarded >= LINGER_BYTES
    }

    /// Whether the closing connection is finished with (see [`Connection::poll_close`]).
    pub fn is_done(&self, now: Instant) -> bool {
        self.closing.as_ref().is_some_and(|closing| {
            closing.peer_done || now >= closing.until || closing.discarded >= LINGER_BYTES
        })
    }

    /// The counters since the last call, reset.
    pub fn take_counts(&mut self) -> Counts {
        std::mem::take(&mut self.counts)
    }

    /// Bytes this connection holds in its buffers (for memory figures).
    pub fn buffered(&self) -> usize {
        self.input.len() + self.out.capacity() + self.reliable.capacity() + self.snapshot.capacity()
    }
}

/// Where a decoded message lies.
enum Found {
    Input(std::ops::Range<usize>),
    Assembled,
}

/// What the budget says of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admit {
    Pass,
    Drop,
    /// Over the rate for a whole second: close.
    Abuse,
}

/// A token bucket for inbound messages, with time passed in.
#[derive(Debug)]
struct RateBudget {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
    /// Messages dropped in the current one-second window.
    dropped_in_window: f64,
    window_start: Instant,
}

impl RateBudget {
    fn new(rate: f64, burst: f64, now: Instant) -> RateBudget {
        RateBudget {
            tokens: burst,
            rate,
            burst,
            last: now,
            dropped_in_window: 0.0,
            window_start: now,
        }
    }

    /// Whether a message may pass at `now`; `Abuse` when more than `rate` messages were
    /// dropped within one second.
    fn admit(&mut self, now: Instant) -> Admit {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if now.saturating_duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.dropped_in_window = 0.0;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Admit::Pass;
        }
        self.dropped_in_window += 1.0;
        if self.dropped_in_window > self.rate {
            return Admit::Abuse;
        }
        Admit::Drop
    }
}

/// The Read and Write halves a test drives a connection with: bytes the client sent, bytes
/// the socket accepts per write (None: all), and what was written.
#[cfg(test)]
#[derive(Debug, Default)]
struct FakeSocket {
    incoming: Vec<u8>,
    closed: bool,
    accept: Option<usize>,
    written: Vec<u8>,
}

#[cfg(test)]
impl Read for FakeSocket {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.incoming.is_empty() {
            return if self.closed {
                Ok(0)
            } else {
                Err(std::io::Error::from(ErrorKind::WouldBlock))
            };
        }
        let count = buf.len().min(self.incoming.len());
        buf[..count].copy_from_slice(&self.incoming[..count]);
        self.incoming.drain(..count);
        Ok(count)
    }
}

#[cfg(test)]
impl Write for FakeSocket {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let count = self
            .accept
            .map_or(buf.len(), |accept| accept.min(buf.len()));
        if count == 0 && !buf.is_empty() {
            return Err(std::io::Error::from(ErrorKind::WouldBlock));
        }
        self.written.extend_from_slice(&buf[..count]);
        Ok(count)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            msg_rate: 160.0,
            msg_burst: 200.0,
            ping_interval: Duration::from_secs(4),
            idle_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(10),
            reliable_max: 64,
        }
    }

    fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        ws::encode_frame(opcode, payload, Some([1, 2, 3, 4]), &mut out);
        out
    }

    /// Every frame the client would read in `bytes`.
    fn frames(bytes: &[u8]) -> Vec<String> {
        let mut decoder = Decoder::new(Side::Client, 1 << 20);
        let mut input = bytes.to_vec();
        let mut out = Vec::new();
        loop {
            let (item, used) = decoder.decode(&mut input).expect("valid server frames");
            let item = item.map(|item| format!("{item:?}"));
            input.drain(..used);
            match item {
                Some(item) => out.push(item),
                None => return out,
            }
        }
    }

    fn drain(connection: &mut Connection, now: Instant) -> Result<Vec<Vec<u8>>, CloseReason> {
        let mut messages = Vec::new();
        while let Some(message) = connection.poll_message(now)? {
            messages.push(message.to_vec());
        }
        Ok(messages)
    }

    #[test]
    fn messages_in_pings_answered_and_writes_in_order() {
        let now = Instant::now();
        let mut socket = FakeSocket::default();
        socket
            .incoming
            .extend(client_frame(ws::opcode::BINARY, b"one"));
        socket.incoming.extend(client_frame(ws::opcode::PING, b"p"));
        socket
            .incoming
            .extend(client_frame(ws::opcode::BINARY, b"two"));
        let mut connection = Connection::new(limits(), Format::Binary, &[], now);
        assert_eq!(connection.fill_from(&mut socket, now), Ok(Read0::Bytes(25)));
        assert_eq!(
            drain(&mut connection, now),
            Ok(vec![b"one".to_vec(), b"two".to_vec()])
        );
        connection.queue_snapshot(b"old", 1);
        connection.queue_reliable(b"r1").unwrap();
        assert_eq!(connection.queue_snapshot(b"new", 2), Some(1));
        connection.flush_to(&mut socket, now).unwrap();
        // The pong and the reliable message in order, then only the newest snapshot.
        assert_eq!(
            frames(&socket.written),
            ["Pong", "Binary([114, 49])", "Binary([110, 101, 119])"]
        );
        assert_eq!(connection.take_counts().snapshots_replaced, 1);
    }

    #[test]
    fn a_partly_written_frame_is_finished_and_a_waiting_snapshot_replaced() {
        let now = Instant::now();
        let mut socket = FakeSocket {
            accept: Some(3),
            ..FakeSocket::default()
        };
        let mut connection = Connection::new(limits(), Format::Binary, &[], now);
        connection.queue_snapshot(&[1; 10], 1);
        connection.flush_to(&mut socket, now).unwrap();
        assert_eq!(socket.written.len(), 3);
        // Two newer snapshots while the first is half written: only the newest goes next.
        connection.queue_snapshot(&[2; 10], 2);
        connection.queue_snapshot(&[3; 10], 3);
        socket.accept = None;
        connection.flush_to(&mut socket, now).unwrap(); // finishes the first
        connection.flush_to(&mut socket, now).unwrap(); // then the newest
        let written = frames(&socket.written);
        assert_eq!(written.len(), 2);
        assert!(written[1].contains("[3, 3"), "{written:?}");
        assert!(connection.is_flushed());
    }

    #[test]
    fn a_stuck_socket_is_dropped_at_the_stall_deadline() {
        let now = Instant::now();
        let mut socket = FakeSocket {
            accept: Some(0),
            ..FakeSocket::default()
        };
        let mut connection = Connection::new(limits(), Format::Binary, &[], now);
        connection.queue_snapshot(&[1; 10], 1);
        connection.flush_to(&mut socket, now).unwrap();
        assert_eq!(
            connection.poll_timeout(now + Duration::from_secs(9)),
            Ok(())
        );
        assert_eq!(
            connection.poll_timeout(now + Duration::from_secs(10)),
            Err(CloseReason::Stalled)
        );
    }

    #[test]
    fn silence_past_the_idle_timeout_closes_and_traffic_keeps_it_open() {
        let start = Instant::now();
        let mut socket = FakeSocket::default();
        let mut connection = Connection::new(limits(), Format::Binary, &[], start);
        // A ping every 4 s; a pong at 6 s counts as life.
        assert_eq!(
            connection.poll_timeout(start + Duration::from_secs(4)),
            Ok(())
        );
        socket.incoming = client_frame(ws::opcode::PONG, &[]);
        connection
            .fill_from(&mut socket, start + Duration::from_secs(6))
            .unwrap();
        drain(&mut connection, start).unwrap();
        assert_eq!(
            connection.poll_timeout(start + Duration::from_secs(8)),
            Ok(())
        );
        assert_eq!(
            connection.poll_timeout(start + Duration::from_secs(12)),
            Ok(())
        );
        assert_eq!(
            connection.poll_timeout(start + Duration::from_secs(16)),
            Err(CloseReason::Idle)
        );
    }

    #[test]
    fn a_flood_is_dropped_then_closed() {
        let start = Instant::now();
        let mut connection = Connection::new(limits(), Format::Binary, &[], start);
        let mut socket = FakeSocket::default();
        let ping = client_frame(ws::opcode::BINARY, &[3, 1]);
        // 200 pass (the burst), then drops; within one second more than 160 drops is abuse.
        let mut outcome = Ok(0);
        for index in 0..600 {
            socket.incoming.extend(&ping);
            connection.fill_from(&mut socket, start).unwrap();
            match drain(&mut connection, start) {
                Ok(passed) => {
                    outcome = outcome.map(|count| count + passed.len());
                }
                Err(reason) => {
                    outcome = Err((index, reason));
                    break;
                }
            }
        }
        assert_eq!(outcome, Err((360, CloseReason::RateLimited)));
        assert_eq!(connection.take_counts().rate_limited, 160);
    }

    #[test]
    fn an_oversize_message_and_a_text_frame_close_with_their_codes() {
        let now = Instant::now();
        let mut header = Vec::new();
        ws::encode_header(ws::opcode::BINARY, 1 << 20, Some([0; 4]), &mut header);
        let mut connection = Connection::new(limits(), Format::Binary, &header, now);
        assert_eq!(
            connection.poll_message(now),
            Err(CloseReason::TooBig { max: 1024 })
        );
        let text = client_frame(ws::opcode::TEXT, b"{}");
        let mut connection = Connection::new(limits(), Format::Binary, &text, now);
        assert_eq!(connection.poll_message(now), Err(CloseReason::TextFrame));
    }

    #[test]
    fn goodbye_after_queued_messages_then_half_close_and_linger() {
        let now = Instant::now();
        let mut socket = FakeSocket::default();
        let mut connection = Connection::new(limits(), Format::Binary, &[], now);
        connection.queue_reliable(b"pong").unwrap();
        connection.queue_snapshot(b"dropped", 1);
        connection.close(&CloseReason::TooBig { max: 1024 }, Some(b"error"), now);
        connection.queue_reliable(b"too late").unwrap();
        connection.flush_to(&mut socket, now).unwrap();
        assert_eq!(
            frames(&socket.written),
            [
                "Binary([112, 111, 110, 103])",
                "Binary([101, 114, 114, 111, 114])",
                "Close(Some((1009, \"message larger than 1024 bytes\")))"
            ]
        );
        let mut shut = false;
        assert!(!connection.poll_close(now, false, || shut = true));
        assert!(shut, "the write half is shut once the goodbye is written");
        // It keeps reading and discarding what the peer still sends ...
        socket.incoming = vec![0; 5000];
        connection.fill_from(&mut socket, now).unwrap();
        assert!(!connection.is_done(now));
        // ... until the peer closes, or the linger time or byte count runs out.
        assert!(connection.is_done(now + LINGER));
        socket.closed = true;
        socket.incoming.clear();
        connection.fill_from(&mut socket, now).unwrap();
        assert!(connection.is_done(now));
    }

    #[test]
    fn a_client_close_is_echoed_and_the_reliable_queue_is_bounded() {
        let now = Instant::now();
        let mut close = Vec::new();
        ws::encode_close(1000, "bye", Some([9; 4]), &mut close);
        let mut connection = Connection::new(limits(), Format::Binary, &close, now);
        let reason = connection.poll_message(now).unwrap_err();
        assert_eq!(reason, CloseReason::ClientLeft);
        connection.close(&reason, Some(b"unused"), now);
        let mut socket = FakeSocket::default();
        connection.flush_to(&mut socket, now).unwrap();
        assert_eq!(
            frames(&socket.written),
            ["Close(Some((1000, \"client left\")))"]
        );

        let mut connection = Connection::new(limits(), Format::Binary, &[], now);
        for _ in 0..64 {
            connection.queue_reliable(b"x").unwrap();
        }
        assert_eq!(
            connection.queue_reliable(b"x"),
            Err(CloseReason::QueueOverflow)
        );
    }
}
