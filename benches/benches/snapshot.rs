//! Snapshot encoding: wire bytes and encode time per client, tickwire's delta against a naive
//! full-state encoding, in four scenarios.
//!
//! - `arena-100`: 100 bot-like players wandering and turning on the "open" map at 30 Hz.
//! - `crowd-900`: 900 wandering NPCs on the "open" map at 60 Hz (Fiedler's 901-cube scene).
//! - `idle-900`: 900 entities that do not move (the "at rest" case).
//! - `bodies-900`: 900 rigid bodies in 3D (position, velocity, smallest-three quaternion), a
//!   third tumbling, 60 Hz: a bench-only record the engine knows only through its `Record`
//!   trait, to show the delta container is general on the hot path.
//!
//! Each snapshot is a spectator's view (every entity) delta-encoded against the view from 2 ticks
//! earlier, a typical acknowledgement age on loopback. The naive baseline sends every entity in
//! full with f32 fields, as plain bincode (fixed-int encoding) of a `Vec` of structs would.
//!
//! Before measuring, the bench replays 300 snapshots per scenario, checks that every delta decodes
//! back to the exact view (it panics otherwise: a bench must not measure a broken encoder), and
//! prints a table of sizes: the real wire size of the `Snapshot` message (bincode envelope,
//! checksum and all), bytes per entity, and kbit/s per client including WebSocket framing. It
//! writes the same figures to `target/tickwire-bench/snapshot.json`. Criterion then times the
//! delta encode alone, the delta plus its message envelope (what the room does per client), and
//! the naive encode, in the same run so their ratio holds on a noisy machine.
//!
//! Run: `cargo bench -p tickwire-benches --bench snapshot` (add a criterion filter such as
//! `-- crowd-900` to time one scenario; the size table is always printed).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use serde_json::json;
use tickwire_benches::scenarios::{
    ACK_AGE, BenchRecord, SNAPSHOTS, Scenario, arena_100, bodies_900, crowd_900, encoded_message,
    idle_900, snapshot_message,
};
use tickwire_benches::{kbit_per_s, median_of_runs, write_report, ws_frame_len};
use tickwire_protocol::bits::BitWriter;
use tickwire_protocol::{decode_server, delta, encode_server};

fn main() {
    let arena = [arena_100(), crowd_900(), idle_900()];
    let bodies = bodies_900();
    let mut figures: Vec<Figures> = arena.iter().map(Figures::measure).collect();
    figures.push(Figures::measure(&bodies));
    print_table(&figures);
    write_report(
        "snapshot",
        &json!({
            "snapshots_per_scenario": SNAPSHOTS,
            "ack_age_ticks": ACK_AGE,
            "websocket_framing": "server-to-client unmasked: 2-byte header below 126 bytes, 4 below 65536, else 10",
            "scenarios": figures.iter().map(Figures::to_json).collect::<Vec<_>>(),
        }),
    );

    let mut criterion = tickwire_benches::criterion();
    for scenario in &arena {
        bench_scenario(&mut criterion, scenario);
    }
    bench_scenario(&mut criterion, &bodies);
    criterion.final_summary();
}

/// Everything the report says about one scenario.
struct Figures {
    name: &'static str,
    description: &'static str,
    naive_layout: &'static str,
    rate: u32,
    entities: f64,
    /// Entities in both views whose record differs from the baseline's prediction, per
    /// snapshot (turning, tumbling, hit: what the delta has to mention).
    changed: f64,
    delta_body: f64,
    delta_message: f64,
    delta_frame: f64,
    full_message: f64,
    naive_message: f64,
    naive_frame: f64,
    delta_encode: Duration,
    delta_snapshot: Duration,
    /// The view checksum alone (part of `delta_snapshot`).
    checksum: Duration,
    naive_encode: Duration,
}

impl Figures {
    /// Replays every snapshot of the scenario, checking each delta round trip, and times the
    /// encoders (median of 7 passes over all snapshots).
    fn measure<R: BenchRecord>(scenario: &Scenario<R>) -> Figures {
        let mut bits = BitWriter::default();
        let mut encoded = Vec::new();
        let mut totals = [0usize; 7];
        for index in 0..SNAPSHOTS {
            let (base, current) = scenario.pair(index);
            let tick = scenario.tick_of(index);

            bits.clear();
            delta::encode(base, current, ACK_AGE, &mut bits);
            check_round_trip(scenario, tick, base, ACK_AGE, bits.as_bytes(), current);
            let body = bits.as_bytes().len();
            let message = encoded_message(tick, ACK_AGE, current, bits.as_bytes(), &mut encoded);

            bits.clear();
            delta::encode(&[], current, 0, &mut bits);
            check_round_trip(scenario, tick, &[], 0, bits.as_bytes(), current);
            let full = encoded_message(tick, 0, current, bits.as_bytes(), &mut encoded);

            encoded.clear();
            R::encode_naive(
                &scenario.naive_frames[index + ACK_AGE as usize],
                &mut encoded,
            );
            assert_eq!(encoded.len(), R::naive_len(current.len()));
            let naive_message = encoded.len();

            let changed = changed_records(base, current);
            for (total, value) in totals.iter_mut().zip([
                current.len(),
                changed,
                body,
                message,
                ws_frame_len(message),
                full,
                ws_frame_len(naive_message),
            ]) {
                *total += value;
            }
        }
        let average = |total: usize| total as f64 / SNAPSHOTS as f64;
        let naive_message = R::naive_len(scenario.frames[ACK_AGE as usize].len()) as f64;

        let per_snapshot = |total: Duration| total / SNAPSHOTS as u32;
        let delta_encode = per_snapshot(median_of_runs(7, || {
            for index in 0..SNAPSHOTS {
                let (base, current) = scenario.pair(index);
                bits.clear();
                delta::encode(black_box(base), black_box(current), ACK_AGE, &mut bits);
                black_box(bits.as_bytes());
            }
        }));
        let delta_snapshot = per_snapshot(median_of_runs(7, || {
            for index in 0..SNAPSHOTS {
                let (base, current) = scenario.pair(index);
                black_box(encode_snapshot(
                    scenario.tick_of(index),
                    black_box(base),
                    black_box(current),
                    &mut bits,
                    &mut encoded,
                ));
            }
        }));
        let checksum = per_snapshot(median_of_runs(7, || {
            for index in 0..SNAPSHOTS {
                let (_, current) = scenario.pair(index);
                black_box(delta::checksum(black_box(current)));
            }
        }));
        let naive_encode = per_snapshot(median_of_runs(7, || {
            for index in 0..SNAPSHOTS {
                encoded.clear();
                R::encode_naive(
                    black_box(&scenario.naive_frames[index + ACK_AGE as usize]),
                    &mut encoded,
                );
                black_box(encoded.as_slice());
            }
        }));

        Figures {
            name: scenario.name,
            description: scenario.description,
            naive_layout: R::NAIVE_LAYOUT,
            rate: scenario.rate,
            entities: average(totals[0]),
            changed: average(totals[1]),
            delta_body: average(totals[2]),
            delta_message: average(totals[3]),
            delta_frame: average(totals[4]),
            full_message: average(totals[5]),
            naive_message,
            naive_frame: average(totals[6]),
            delta_encode,
            delta_snapshot,
            checksum,
            naive_encode,
        }
    }

    fn delta_kbit_s(&self) -> f64 {
        kbit_per_s(self.delta_frame, self.rate as f64)
    }

    fn naive_kbit_s(&self) -> f64 {
        kbit_per_s(self.naive_frame, self.rate as f64)
    }

    fn to_json(&self) -> serde_json::Value {
        let micros = |duration: Duration| duration.as_secs_f64() * 1e6;
        json!({
            "name": self.name,
            "description": self.description,
            "rate_hz": self.rate,
            "entities_in_view": self.entities,
            "entities_changed_per_snapshot": self.changed,
            "delta": {
                "body_bytes": self.delta_body,
                "message_bytes": self.delta_message,
                "bytes_per_entity": self.delta_message / self.entities,
                "websocket_frame_bytes": self.delta_frame,
                "kbit_per_s": self.delta_kbit_s(),
                "encode_us": micros(self.delta_encode),
                "encode_with_envelope_us": micros(self.delta_snapshot),
                "checksum_us": micros(self.checksum),
            },
            "full_snapshot": {
                "message_bytes": self.full_message,
                "bytes_per_entity": self.full_message / self.entities,
            },
            "naive": {
                "layout": self.naive_layout,
                "message_bytes": self.naive_message,
                "bytes_per_entity": self.naive_message / self.entities,
                "websocket_frame_bytes": self.naive_frame,
                "kbit_per_s": self.naive_kbit_s(),
                "encode_us": micros(self.naive_encode),
            },
            "naive_over_delta_bytes": self.naive_frame / self.delta_frame,
            "delta_over_naive_encode_time": self.delta_encode.as_secs_f64() / self.naive_encode.as_secs_f64(),
        })
    }
}

/// Encodes one spectator snapshot the way the room does: delta, checksum, message envelope.
/// Returns the message length.
fn encode_snapshot<R: BenchRecord>(
    tick: u32,
    base: &[R],
    current: &[R],
    bits: &mut BitWriter,
    encoded: &mut Vec<u8>,
) -> usize {
    bits.clear();
    delta::encode(base, current, ACK_AGE, bits);
    encoded_message(tick, ACK_AGE, current, bits.as_bytes(), encoded)
}

/// Panics unless `body` decodes against `base` into exactly `current`, and the whole message
/// survives the codec.
fn check_round_trip<R: BenchRecord>(
    scenario: &Scenario<R>,
    tick: u32,
    base: &[R],
    age: u32,
    body: &[u8],
    current: &[R],
) {
    let mut decoded = Vec::new();
    if let Err(error) = delta::decode(base, age, body, &mut decoded) {
        panic!(
            "{} tick {tick}: delta does not decode: {error}",
            scenario.name
        );
    }
    assert!(
        decoded == current,
        "{} tick {tick}: delta decodes to a different view",
        scenario.name
    );
    let msg = snapshot_message(tick, age, current, body);
    let mut encoded = Vec::new();
    encode_server(&msg, &mut encoded);
    match decode_server::<R::Wire>(&encoded) {
        Ok(back) => assert!(
            back == msg,
            "{} tick {tick}: message differs",
            scenario.name
        ),
        Err(error) => panic!(
            "{} tick {tick}: message does not decode: {error}",
            scenario.name
        ),
    }
}

/// Entities present in both views whose record differs from the baseline's prediction.
fn changed_records<R: BenchRecord>(base: &[R], current: &[R]) -> usize {
    current
        .iter()
        .filter(|record| {
            base.binary_search_by_key(&record.id(), |old| old.id())
                .is_ok_and(|found| record.changes(&base[found], ACK_AGE) != 0)
        })
        .count()
}

fn print_table(figures: &[Figures]) {
    println!(
        "\nsnapshot sizes and encode times per client, averaged over {SNAPSHOTS} snapshots \
         (delta vs the view {ACK_AGE} ticks earlier; message = real Snapshot bytes; kbit/s \
         includes WebSocket framing)\n"
    );
    println!(
        "{:<10} {:>4} {:>6} {:>7} | {:>8} {:>7} {:>9} {:>7} | {:>8} {:>7} {:>9} | {:>6} | {:>9} {:>9} {:>9} {:>9}",
        "scenario",
        "Hz",
        "ents",
        "changed",
        "delta B",
        "B/ent",
        "kbit/s",
        "full/ent",
        "naive B",
        "B/ent",
        "kbit/s",
        "naive/Δ",
        "Δ enc µs",
        "Δ+msg µs",
        "(cksum)",
        "naive µs",
    );
    for figure in figures {
        let micros = |duration: Duration| duration.as_secs_f64() * 1e6;
        println!(
            "{:<10} {:>4} {:>6.0} {:>7.1} | {:>8.1} {:>7.3} {:>9.1} {:>7.2} | {:>8.0} {:>7.2} {:>9.1} | {:>6.1}x | {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            figure.name,
            figure.rate,
            figure.entities,
            figure.changed,
            figure.delta_message,
            figure.delta_message / figure.entities,
            figure.delta_kbit_s(),
            figure.full_message / figure.entities,
            figure.naive_message,
            figure.naive_message / figure.entities,
            figure.naive_kbit_s(),
            figure.naive_frame / figure.delta_frame,
            micros(figure.delta_encode),
            micros(figure.delta_snapshot),
            micros(figure.checksum),
            micros(figure.naive_encode),
        );
    }
    println!();
}

/// Criterion timings for one scenario: delta encode, delta plus envelope, naive encode.
fn bench_scenario<R: BenchRecord>(criterion: &mut Criterion, scenario: &Scenario<R>) {
    let mut group = criterion.benchmark_group(format!("snapshot/{}", scenario.name));
    group.throughput(Throughput::Elements(
        scenario.frames[ACK_AGE as usize].len() as u64,
    ));
    let mut bits = BitWriter::default();
    let mut encoded = Vec::new();

    let mut index = 0;
    group.bench_function("delta-encode", |bencher| {
        bencher.iter(|| {
            index = (index + 1) % SNAPSHOTS;
            let (base, current) = scenario.pair(index);
            bits.clear();
            delta::encode(black_box(base), black_box(current), ACK_AGE, &mut bits);
            black_box(bits.as_bytes().len())
        })
    });
    group.bench_function("delta+envelope", |bencher| {
        bencher.iter(|| {
            index = (index + 1) % SNAPSHOTS;
            let (base, current) = scenario.pair(index);
            encode_snapshot(
                scenario.tick_of(index),
                black_box(base),
                black_box(current),
                &mut bits,
                &mut encoded,
            )
        })
    });
    group.bench_function("naive-encode", |bencher| {
        bencher.iter(|| {
            index = (index + 1) % SNAPSHOTS;
            encoded.clear();
            R::encode_naive(
                black_box(&scenario.naive_frames[index + ACK_AGE as usize]),
                &mut encoded,
            );
            black_box(encoded.len())
        })
    });
    group.finish();
}
