//! Measurements on a shard's hot path: a [`Probe`] per bot (the send times of its recent inputs,
//! its last snapshot's arrival) records into the shard's [`Tally`] of window figures and its
//! [`Live`] counters for the progress line. Plain fields and two histograms per tally: nothing is
//! shared between threads per message; a shard adds its live counters to the swarm's atomics a
//! few times a second, and hands its tallies over once, when it ends.

use hdrhistogram::Histogram;

use super::report::{merge, new_histogram, record};

/// Input send times kept per bot, indexed by sequence number modulo this. An input acknowledged
/// this many inputs or more after it was sent (about 8.5 s at 30 Hz: a slow bot's backlog can
/// be seconds long) is not timed.
const SENT_RING: usize = 256;
/// Samples above this (microseconds) are recorded as this; keeps histograms bounded.
const SAMPLE_MAX_US: u64 = 60_000_000;

/// Window figures of a group of bots (a shard's normal bots, or its slow ones).
#[derive(Debug)]
pub(crate) struct Tally {
    /// Snapshots received.
    pub(crate) snapshots: u64,
    /// Snapshots that did not apply.
    pub(crate) snapshot_errors: u64,
    /// Input sequence numbers sent.
    pub(crate) inputs_sent: u64,
    /// WebSocket payload bytes received.
    pub(crate) bytes_in: u64,
    /// WebSocket payload bytes sent.
    pub(crate) bytes_out: u64,
    /// Input-to-acknowledgement latency, microseconds.
    pub(crate) latency_us: Histogram<u64>,
    /// Time between consecutive snapshots at one bot, microseconds.
    pub(crate) interval_us: Histogram<u64>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            snapshots: 0,
            snapshot_errors: 0,
            inputs_sent: 0,
            bytes_in: 0,
            bytes_out: 0,
            latency_us: new_histogram(),
            interval_us: new_histogram(),
        }
    }
}

impl Tally {
    /// Adds another tally to this one.
    pub(crate) fn merge(&mut self, other: &Tally) {
        self.snapshots += other.snapshots;
        self.snapshot_errors += other.snapshot_errors;
        self.inputs_sent += other.inputs_sent;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        merge(&mut self.latency_us, &other.latency_us);
        merge(&mut self.interval_us, &other.interval_us);
    }
}

/// What a shard has seen since it last added to the swarm's live counters.
#[derive(Debug, Default)]
pub(crate) struct Live {
    /// Snapshots received.
    pub(crate) snapshots: u64,
    /// Snapshots that did not apply.
    pub(crate) snapshot_errors: u64,
    /// Input-to-acknowledgement latencies, microseconds.
    pub(crate) latency_us: Vec<u64>,
}

/// Where a probe records: the window figures (while the window is open) and the live counters.
#[derive(Debug)]
pub(crate) struct Recorder<'a> {
    /// The bot's group's window figures.
    pub(crate) tally: &'a mut Tally,
    /// The shard's live counters.
    pub(crate) live: &'a mut Live,
    /// Whether the measured window is open.
    pub(crate) measuring: bool,
    /// Now, in microseconds since the swarm's epoch.
    pub(crate) now_us: u64,
}

/// One bot session's timing state: when each recent input was sent, how far acknowledgements
/// have come, when the last snapshot arrived.
#[derive(Debug)]
pub(crate) struct Probe {
    /// (sequence, send time in µs) of the last inputs sent, at `seq % SENT_RING`.
    sent: [(u32, u64); SENT_RING],
    /// Newest input sequence a snapshot acknowledged so far.
    acked_through: u32,
    last_snapshot_us: Option<u64>,
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            sent: [(0, 0); SENT_RING],
            acked_through: 0,
            last_snapshot_us: None,
        }
    }
}

impl Probe {
    /// The bot sent input `seq` for the first time.
    pub(crate) fn handle_input_sent(&mut self, seq: u32, recorder: &mut Recorder<'_>) {
        self.sent[seq as usize % SENT_RING] = (seq, recorder.now_us);
        if recorder.measuring {
            recorder.tally.inputs_sent += 1;
        }
    }

    /// A snapshot arrived saying the server applied inputs up to `last_input`: times every input
    /// it acknowledges for the first time.
    pub(crate) fn handle_snapshot(&mut self, last_input: u32, recorder: &mut Recorder<'_>) {
        let now = recorder.now_us;
        recorder.live.snapshots += 1;
        if recorder.measuring {
            recorder.tally.snapshots += 1;
            if let Some(last) = self.last_snapshot_us {
                record(
                    &mut recorder.tally.interval_us,
                    now.saturating_sub(last).min(SAMPLE_MAX_US),
                    1,
                );
            }
        }
        self.last_snapshot_us = Some(now);
        if last_input <= self.acked_through {
            return;
        }
        // Only the newest SENT_RING sequences can still be in the ring.
        let first = (self.acked_through + 1).max(last_input.saturating_sub(SENT_RING as u32 - 1));
        for seq in first..=last_input {
            let (sent_seq, sent_us) = self.sent[seq as usize % SENT_RING];
            if sent_seq != seq {
                continue;
            }
            let latency = now.saturating_sub(sent_us).min(SAMPLE_MAX_US);
            recorder.live.latency_us.push(latency);
            if recorder.measuring {
                record(&mut recorder.tally.latency_us, latency, 1);
            }
        }
        self.acked_through = last_input;
    }

    /// The last snapshot did not apply.
    pub(crate) fn handle_snapshot_error(&mut self, recorder: &mut Recorder<'_>) {
        recorder.live.snapshot_errors += 1;
        if recorder.measuring {
            recorder.tally.snapshot_errors += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measuring<'a>(tally: &'a mut Tally, live: &'a mut Live, now_us: u64) -> Recorder<'a> {
        Recorder {
            tally,
            live,
            measuring: true,
            now_us,
        }
    }

    #[test]
    fn probe_times_each_input_until_its_first_ack() {
        let mut tally = Tally::default();
        let mut live = Live::default();
        let mut probe = Probe::default();
        for seq in 1..=5 {
            let now_us = 1_000 * u64::from(seq);
            probe.handle_input_sent(seq, &mut measuring(&mut tally, &mut live, now_us));
        }
        probe.handle_snapshot(3, &mut measuring(&mut tally, &mut live, 40_000));
        probe.handle_snapshot(3, &mut measuring(&mut tally, &mut live, 73_000));
        probe.handle_snapshot(5, &mut measuring(&mut tally, &mut live, 106_000));
        probe.handle_snapshot_error(&mut measuring(&mut tally, &mut live, 107_000));
        assert_eq!(tally.latency_us.len(), 5);
        assert_eq!(tally.inputs_sent, 5);
        assert_eq!(tally.interval_us.len(), 2);
        assert_eq!(tally.snapshots, 3);
        assert_eq!(tally.snapshot_errors, 1);
        assert_eq!(
            live.latency_us,
            vec![39_000, 38_000, 37_000, 102_000, 101_000]
        );
        assert_eq!((live.snapshots, live.snapshot_errors), (3, 1));
    }

    #[test]
    fn outside_the_window_only_live_counters_move() {
        let mut tally = Tally::default();
        let mut live = Live::default();
        let mut probe = Probe::default();
        let mut recorder = Recorder {
            tally: &mut tally,
            live: &mut live,
            measuring: false,
            now_us: 10,
        };
        probe.handle_input_sent(1, &mut recorder);
        probe.handle_snapshot(1, &mut recorder);
        assert_eq!((tally.snapshots, tally.inputs_sent), (0, 0));
        assert!(tally.latency_us.is_empty());
        assert_eq!(live.snapshots, 1);
    }
}
