//! The kernel's floor: what the per-message traffic of a game server costs with nothing else in
//! the way, to quote every server and load-generator figure as a ratio to it.
//!
//! [`run_floor`] opens `clients` loopback TCP connections and drives them at the game's tick
//! rate with the plainest code possible: one thread plays the server (each tick, for every
//! client, one non-blocking `write` of a snapshot-sized frame and one non-blocking `read` of an
//! input-sized one), another plays every client (one `read`, one `write`), no runtime, no
//! WebSocket, no game. Each thread's CPU time comes from the kernel's own accounting
//! (`/proc/thread-self/schedstat`), so the figures are what the traffic itself costs on this
//! machine, in the same run as the measurement they are compared with.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The traffic to reproduce.
#[derive(Clone, Debug)]
pub struct FloorOptions {
    /// Connections.
    pub clients: usize,
    /// Ticks per second.
    pub tick_rate: u32,
    /// Bytes the server writes to each client per tick (a snapshot and its WebSocket header).
    pub down_bytes: usize,
    /// Bytes each client writes per tick (an input and its header).
    pub up_bytes: usize,
    /// How long to measure (after one second of warm-up).
    pub duration: Duration,
}

impl Default for FloorOptions {
    fn default() -> Self {
        FloorOptions {
            clients: 500,
            tick_rate: 30,
            down_bytes: 237,
            up_bytes: 30,
            duration: Duration::from_secs(5),
        }
    }
}

/// What the floor cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FloorReport {
    /// Connections.
    pub clients: usize,
    /// Ticks per second.
    pub tick_rate: u32,
    /// Bytes written per client per tick by the server side and by the client side.
    pub down_bytes: usize,
    /// See `down_bytes`.
    pub up_bytes: usize,
    /// Seconds measured.
    pub duration_s: f64,
    /// CPU cores the server thread used.
    pub server_cores: f64,
    /// CPU cores the client thread used.
    pub client_cores: f64,
    /// `server_cores` scaled to 1,000 clients.
    pub server_cores_per_1000: f64,
    /// `client_cores` scaled to 1,000 clients.
    pub client_cores_per_1000: f64,
    /// Server CPU per client per tick, in microseconds.
    pub server_us_per_client_tick: f64,
    /// Share of the server's writes the kernel took whole (below 1 when the machine cannot keep
    /// up: then the floor itself is not being measured).
    pub delivered: f64,
}

/// Runs the floor: connects, warms up for a second, measures for `options.duration`.
pub fn run_floor(options: &FloorOptions) -> io::Result<FloorReport> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let count = options.clients.max(1);
    let connector = std::thread::spawn(move || -> io::Result<Vec<TcpStream>> {
        (0..count).map(|_| TcpStream::connect(addr)).collect()
    });
    let mut server_side = Vec::with_capacity(count);
    for _ in 0..count {
        let (stream, _) = listener.accept()?;
        server_side.push(stream);
    }
    let client_side = connector
        .join()
        .map_err(|_| io::Error::other("the connecting thread panicked"))??;
    for stream in server_side.iter().chain(&client_side) {
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
    }

    let tick = Duration::from_secs_f64(1.0 / options.tick_rate.max(1) as f64);
    let warmup = Duration::from_secs(1);
    let start = Instant::now() + Duration::from_millis(20);
    let measure_from = start + warmup;
    let end = measure_from + options.duration;
    let down = vec![0x5a; options.down_bytes.max(1)];
    let up = vec![0xa5; options.up_bytes.max(1)];

    let server =
        std::thread::spawn(move || pace(server_side, down, tick, start, measure_from, end));
    let client = std::thread::spawn(move || pace(client_side, up, tick, start, measure_from, end));
    let server = server
        .join()
        .map_err(|_| io::Error::other("the server thread panicked"))??;
    let client = client
        .join()
        .map_err(|_| io::Error::other("the client thread panicked"))??;

    let wall = server.wall_s.max(1e-9);
    let ticks = server.ticks.max(1) as f64;
    let per_1000 = 1000.0 / count as f64;
    Ok(FloorReport {
        clients: count,
        tick_rate: options.tick_rate,
        down_bytes: options.down_bytes,
        up_bytes: options.up_bytes,
        duration_s: round3(wall),
        server_cores: round3(server.cpu_s / wall),
        client_cores: round3(client.cpu_s / client.wall_s.max(1e-9)),
        server_cores_per_1000: round3(server.cpu_s / wall * per_1000),
        client_cores_per_1000: round3(client.cpu_s / client.wall_s.max(1e-9) * per_1000),
        server_us_per_client_tick: round3(server.cpu_s * 1e6 / (ticks * count as f64)),
        delivered: round3(server.whole_writes as f64 / (ticks * count as f64)),
    })
}

/// One side's measured window.
struct Side {
    cpu_s: f64,
    wall_s: f64,
    ticks: u64,
    whole_writes: u64,
}

/// Every tick, for every stream: one non-blocking write of `message`, one non-blocking read.
fn pace(
    mut streams: Vec<TcpStream>,
    message: Vec<u8>,
    tick: Duration,
    start: Instant,
    measure_from: Instant,
    end: Instant,
) -> io::Result<Side> {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut next = start;
    let mut measuring: Option<(Instant, u64)> = None;
    let (mut ticks, mut whole_writes) = (0u64, 0u64);
    loop {
        let now = Instant::now();
        if now < next {
            std::thread::sleep(next - now);
        }
        let now = Instant::now();
        if now >= end {
            break;
        }
        if measuring.is_none() && now >= measure_from {
            measuring = Some((now, thread_cpu_ns()));
        }
        for stream in &mut streams {
            match stream.write(&message) {
                Ok(written) if written == message.len() => {
                    if measuring.is_some() {
                        whole_writes += 1;
                    }
                }
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
            match stream.read(&mut buffer) {
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
        }
        if measuring.is_some() {
            ticks += 1;
        }
        next += tick;
    }
    let (from, cpu_from) = measuring.unwrap_or((end, thread_cpu_ns()));
    Ok(Side {
        cpu_s: thread_cpu_ns().saturating_sub(cpu_from) as f64 / 1e9,
        wall_s: from.elapsed().as_secs_f64(),
        ticks,
        whole_writes,
    })
}

/// CPU time this thread has used, in nanoseconds: the scheduler's own count
/// (`/proc/thread-self/schedstat`), or the coarser user + system ticks of `stat` when that is
/// missing. Linux only; elsewhere 0 (the floor then reports no CPU).
pub fn thread_cpu_ns() -> u64 {
    if let Ok(text) = std::fs::read_to_string("/proc/thread-self/schedstat")
        && let Some(ns) = text.split_whitespace().next().and_then(|v| v.parse().ok())
    {
        return ns;
    }
    std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|text| {
            // Fields after the command's closing parenthesis; utime and stime are the 12th
            // and 13th of those, in clock ticks (100 per second on Linux).
            let rest = &text[text.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) * 10_000_000)
        })
        .unwrap_or(0)
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_moves_every_message_and_counts_cpu() {
        let report = run_floor(&FloorOptions {
            clients: 20,
            duration: Duration::from_millis(300),
            ..FloorOptions::default()
        })
        .expect("loopback works");
        assert_eq!(report.clients, 20);
        assert!(report.delivered > 0.9, "{report:?}");
        // Some CPU was used on Linux; the figure is measured, not asserted beyond that.
        if cfg!(target_os = "linux") {
            assert!(report.server_cores > 0.0, "{report:?}");
        }
    }

    #[test]
    fn thread_cpu_time_grows_with_work() {
        let before = thread_cpu_ns();
        let mut sum = 0u64;
        for value in 0..20_000_000u64 {
            sum = sum.wrapping_add(value * value);
        }
        std::hint::black_box(sum);
        if cfg!(target_os = "linux") {
            assert!(thread_cpu_ns() > before);
        }
    }
}
