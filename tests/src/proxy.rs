//! A fault-injecting TCP proxy for end-to-end tests: put it between a client and the real server
//! to add latency and jitter, stall one direction, black-hole a connection or reset it.
//!
//! [`FaultProxy::start`] listens on 127.0.0.1 port 0 and forwards every accepted connection to an
//! upstream address. The [`Faults`] set with [`FaultProxy::set`] apply live to every current and
//! future connection; [`FaultProxy::reset_all`] aborts every connection with a TCP RST.
//!
//! It works on bytes, not WebSocket frames: it knows nothing of the protocol, so what it does to a
//! stream is what a network could do to it (delay, stall, silence, reset), never reordering or
//! corrupting bytes within a direction.
//!
//! Each connection runs two pump tasks, one per direction. A pump reads chunks from its side,
//! stamps each with the time it is due (read time plus latency plus jitter, never earlier than the
//! chunk before it), keeps them in a bounded queue and writes them to the other side when due.
//! A small supervisor task per connection waits for both pumps and decides how the connection
//! ends: quietly after both directions saw end-of-stream, or with a reset on both sides after
//! [`FaultProxy::reset_all`], after an error on either side, or when the proxy is dropped.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

/// Faults the proxy injects. The default is a transparent proxy.
///
/// Changes made with [`FaultProxy::set`] take effect at once on every connection. Delays are
/// decided when a chunk is read: changing `latency` or `jitter` affects bytes read afterwards, not
/// bytes already waiting in the delay queue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// One-way delay added in both directions: each chunk is delivered `latency` after the proxy
    /// read it, in order. A round trip through the proxy gains at least twice this.
    pub latency: Duration,
    /// Extra random delay of 0..`jitter` per chunk, on top of `latency`. Bytes are never reordered
    /// within a direction (TCP semantics): a chunk's delivery time is the later of the previous
    /// chunk's delivery time and its read time + latency + its random jitter.
    pub jitter: Duration,
    /// Stop reading from the upstream (server) side. The server's writes then back up in the
    /// kernel's socket buffers until its writes block, as with a client that stops reading. Bytes
    /// already read still reach the client; reading resumes when this is cleared.
    pub stall_to_client: bool,
    /// Silently drop everything in both directions, including bytes still in the delay queue,
    /// while both TCP connections stay open: a dead peer or half-open connection. End-of-stream
    /// is held back too (it is passed on only once this is cleared). Dropped bytes are gone, so
    /// clearing it resumes the stream mid-message.
    pub blackhole: bool,
    /// Forward client-to-server bytes one at a time with this pause between bytes (slowloris).
    /// The pause counts from each byte's write; latency and jitter still apply to each chunk.
    pub trickle_to_server: Option<Duration>,
}

/// A TCP proxy on 127.0.0.1 that forwards each accepted connection to an upstream address while
/// injecting [`Faults`].
///
/// Dropping it stops accepting and resets every proxied connection.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    /// The faults every pump reads live; pumps wake on every change.
    faults: watch::Sender<Faults>,
    /// A generation counter: each [`FaultProxy::reset_all`] bumps it, and every connection alive
    /// at that moment resets. Its drop (with the proxy) ends every connection.
    resets: watch::Sender<u64>,
    /// The accept loop; aborted on drop.
    accept_task: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1 port 0 and forwards every connection to `upstream`.
    ///
    /// Panics if it cannot bind (this is test infrastructure). A connection whose upstream
    /// connect fails is closed at once.
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fault proxy binds 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("bound listener has an address");
        let (faults, faults_rx) = watch::channel(Faults::default());
        let (resets, resets_rx) = watch::channel(0u64);
        let accept_task = tokio::spawn(accept_loop(listener, upstream, faults_rx, resets_rx));
        FaultProxy {
            addr,
            faults,
            resets,
            accept_task,
        }
    }

    /// The proxy's listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The WebSocket URL of the proxied server: `ws://{addr}/ws`.
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Replaces the faults; applies to all current and future connections at once.
    pub fn set(&self, faults: Faults) {
        self.faults.send_replace(faults);
    }

    /// Aborts every connection proxied so far with a TCP RST on both sides (SO_LINGER 0, then
    /// close). Returns at once; the resets follow within moments. Later connections are not
    /// affected.
    pub fn reset_all(&self) {
        self.resets
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Dropping `resets` with self ends every connection; stop creating new ones.
        self.accept_task.abort();
    }
}

/// Largest chunk read at once.
const READ_CHUNK: usize = 16 * 1024;
/// Most bytes a pump holds in its delay queue before it stops reading, so a stalled or slow
/// destination pushes back on the source as TCP would.
const QUEUE_MAX: usize = 1024 * 1024;

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    faults: watch::Receiver<Faults>,
    mut resets: watch::Receiver<u64>,
) {
    let mut connection_index: u64 = 0;
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(_) => {
                // Out of file descriptors or similar: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        connection_index += 1;
        // A new connection must not see resets issued before it existed.
        resets.borrow_and_update();
        let connection_resets = resets.clone();
        let connection_faults = faults.clone();
        let seed = connection_index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            run_connection(client, server, connection_faults, connection_resets, seed).await;
        });
    }
}

/// How one pump ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PumpEnd {
    /// Its source ended and the end-of-stream was passed on.
    Eof,
    /// Reading or writing failed (a reset or error on either side).
    Failed,
    /// The supervisor or the proxy told it to stop.
    Stopped,
}

/// Which way a pump moves bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    ToServer,
    ToClient,
}

/// What a pump hands back: its two socket halves (so the supervisor can reset the sockets) and
/// how it ended.
type Pumped = (OwnedReadHalf, OwnedWriteHalf, PumpEnd);

async fn run_connection(
    client: TcpStream,
    server: TcpStream,
    faults: watch::Receiver<Faults>,
    mut resets: watch::Receiver<u64>,
    seed: u64,
) {
    // Small writes (a trickled byte, a delayed chunk) must leave when the pump says, not when
    // Nagle's algorithm allows.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Tells both pumps to stop and hand their halves back.
    let (stop, stop_rx) = watch::channel(false);
    let mut to_server = tokio::spawn(pump(
        client_read,
        server_write,
        Direction::ToServer,
        faults.clone(),
        stop_rx.clone(),
        XorShift::new(seed),
    ));
    let mut to_client = tokio::spawn(pump(
        server_read,
        client_write,
        Direction::ToClient,
        faults,
        stop_rx,
        XorShift::new(seed ^ 0xD1B5_4A32_D192_ED03),
    ));

    let mut to_server_done: Option<Option<Pumped>> = None;
    let mut to_client_done: Option<Option<Pumped>> = None;
    let mut reset = false;
    while to_server_done.is_none() || to_client_done.is_none() {
        tokio::select! {
            joined = &mut to_server, if to_server_done.is_none() => {
                let pumped = joined.ok();
                if !matches!(pumped, Some((_, _, PumpEnd::Eof))) {
                    reset = true;
                }
                to_server_done = Some(pumped);
            }
            joined = &mut to_client, if to_client_done.is_none() => {
                let pumped = joined.ok();
                if !matches!(pumped, Some((_, _, PumpEnd::Eof))) {
                    reset = true;
                }
                to_client_done = Some(pumped);
            }
            // Ok: reset_all was called. Err: the proxy was dropped. Either way, reset.
            _ = resets.changed(), if !reset => reset = true,
        }
        if reset {
            stop.send_replace(true);
        }
    }

    let (Some(Some(to_server)), Some(Some(to_client))) = (to_server_done, to_client_done) else {
        // A pump panicked and its halves are gone; drop what is left.
        return;
    };
    let (client_read, server_write, _) = to_server;
    let (server_read, client_write, _) = to_client;
    if reset {
        // Reunited streams close without the FIN a dropped write half would send first, so
        // the peers see only the RST.
        for stream in [
            client_read.reunite(client_write),
            server_read.reunite(server_write),
        ]
        .into_iter()
        .flatten()
        {
            let _ = stream.set_zero_linger();
            drop(stream);
        }
    }
}

/// A chunk waiting in a pump's delay queue.
#[derive(Debug)]
struct Chunk {
    /// When it may be written.
    due: Instant,
    bytes: Vec<u8>,
    /// How much of `bytes` has been written already.
    written: usize,
}

async fn pump(
    mut reader: OwnedReadHalf,
    mut writer: OwnedWriteHalf,
    direction: Direction,
    mut faults: watch::Receiver<Faults>,
    mut stop: watch::Receiver<bool>,
    mut rng: XorShift,
) -> Pumped {
    let mut queue: VecDeque<Chunk> = VecDeque::new();
    let mut queued_bytes = 0usize;
    // Delivery time of the newest queued chunk: later chunks never go before it.
    let mut last_due = Instant::now();
    // Trickle pacing: the earliest time the next byte may be written.
    let mut next_write = Instant::now();
    let mut source_ended = false;
    let mut buffer = vec![0u8; READ_CHUNK];

    let end = loop {
        if *stop.borrow_and_update() {
            break PumpEnd::Stopped;
        }
        let current = faults.borrow_and_update().clone();
        if current.blackhole {
            queue.clear();
            queued_bytes = 0;
        }
        if source_ended && queue.is_empty() && !current.blackhole {
            // Pass the end-of-stream on; the other direction may still be running.
            let _ = writer.shutdown().await;
            break PumpEnd::Eof;
        }
        let stalled = direction == Direction::ToClient && current.stall_to_client;
        let can_read = !source_ended && !stalled && queued_bytes < QUEUE_MAX;
        let trickle = match direction {
            Direction::ToServer => current.trickle_to_server,
            Direction::ToClient => None,
        };
        let pending = queue.front().map(|chunk| {
            let rest = &chunk.bytes[chunk.written..];
            match trickle {
                Some(_) => (chunk.due.max(next_write), &rest[..1]),
                None => (chunk.due, rest),
            }
        });

        tokio::select! {
            // Err: the supervisor is gone; stop either way.
            _ = stop.changed() => break PumpEnd::Stopped,
            changed = faults.changed() => {
                if changed.is_err() {
                    break PumpEnd::Stopped;
                }
            }
            read = reader.read(&mut buffer), if can_read => match read {
                Ok(0) => source_ended = true,
                Ok(len) => {
                    if !current.blackhole {
                        let now = Instant::now();
                        let due = (now + current.latency + rng.below(current.jitter)).max(last_due);
                        last_due = due;
                        queue.push_back(Chunk { due, bytes: buffer[..len].to_vec(), written: 0 });
                        queued_bytes += len;
                    }
                }
                Err(_) => break PumpEnd::Failed,
            },
            written = write_when_due(&mut writer, pending), if pending.is_some() => match written {
                Ok(0) | Err(_) => break PumpEnd::Failed,
                Ok(len) => {
                    queued_bytes -= len;
                    if let Some(chunk) = queue.front_mut() {
                        chunk.written += len;
                        if chunk.written == chunk.bytes.len() {
                            queue.pop_front();
                        }
                    }
                    if let Some(pause) = trickle {
                        next_write = Instant::now() + pause;
                    }
                }
            },
        }
    };
    (reader, writer, end)
}

/// Waits until `due`, then writes some of `bytes` (cancel-safe: a cancelled call wrote nothing).
/// With nothing pending it never completes.
async fn write_when_due(
    writer: &mut OwnedWriteHalf,
    pending: Option<(Instant, &[u8])>,
) -> io::Result<usize> {
    match pending {
        Some((due, bytes)) => {
            sleep_until(due).await;
            writer.write(bytes).await
        }
        None => std::future::pending().await,
    }
}

/// xorshift64: plenty for jitter, and deterministic per connection.
#[derive(Debug)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        // xorshift's state must never be zero.
        XorShift(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A random duration in 0..`max` (zero when `max` is zero).
    fn below(&mut self, max: Duration) -> Duration {
        let nanos = max.as_nanos().min(u64::MAX as u128) as u64;
        if nanos == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(self.next() % nanos)
        }
    }
}
