//! Per-client snapshot pacing: a client that falls behind gets fewer snapshots, never bigger
//! ones, and every client stays inside a byte budget.
//!
//! Three limits decide whether a client gets this snapshot tick's snapshot:
//!
//! - **Its window**: while it keeps up, a round trip's worth of snapshots (plus
//!   [`QUEUE_LOW_MS`] of slack) may be on their way unacknowledged, as far as it has earned
//!   them (two at the start, one more per acknowledgement); once it falls behind, one.
//!   A client that takes in snapshots slower than they are made (a slow link, a busy machine)
//!   is then sent the next one when it acknowledges the last: the sending is clocked by its
//!   acknowledgements, and what waits for it is never more than one snapshot, however slow it
//!   is (so what it is sent is as fresh as its link allows). A snapshot no longer counts as on
//!   its way once it waited longer than the client's patience: twice its newest
//!   acknowledgement delay, doubled each time one expires (up to [`PATIENCE_MAX_MS`]), so a
//!   snapshot that is merely slow on a slow link is not taken for lost and sent again behind.
//! - **Its rate**, from how late its acknowledgements come back. Each acknowledgement gives a
//!   sample: ticks from sending a snapshot to hearing it acknowledged. The lowest sample of the
//!   last few seconds, taken while the client kept up, is the link's own round trip (a sample
//!   taken while behind measures the link's rate, not its length); anything above it is
//!   queueing (the
//!   client, its link or the machine is behind). While the queueing delay (or the age of the
//!   oldest unacknowledged snapshot, when no acknowledgement comes at all) is above
//!   [`QUEUE_HIGH_MS`], the snapshot interval doubles, at most once per round trip; while it is
//!   below [`QUEUE_LOW_MS`] it halves again, once per round trip. So a
//!   falling-behind client drains its queue instead of building it, and a client that keeps up
//!   gets every snapshot.
//! - **Its byte budget**, a token bucket of `bytes_per_s` that holds a quarter of a second. A
//!   snapshot goes only while the bucket is not in debt, so a full snapshot larger than the
//!   bucket still goes when the bucket is full and is paid for by the snapshots after it.
//!
//! Fewer snapshots means each delta spans more ticks, but its baseline is still one the client
//! acknowledged (the room keeps the frames its clients may still acknowledge), so bytes per
//! second fall with the rate instead of turning into full snapshots: the feedback loop where
//! late acknowledgements make bigger snapshots that make acknowledgements later cannot start.
//!
//! All time is in ticks, passed in; nothing here reads a clock. Ticks are u32 and not expected
//! to wrap (4.5 years at 30 Hz): arithmetic saturates rather than panics if they do.

/// Queueing delay above which a client's snapshot interval doubles.
pub const QUEUE_HIGH_MS: u32 = 150;
/// Queueing delay below which a client's snapshot interval shrinks again.
pub const QUEUE_LOW_MS: u32 = 50;
/// Longest interval the rate limit sets between two snapshots, in milliseconds (a client
/// whose acknowledgements take longer still waits for them: its window is one snapshot).
pub const INTERVAL_MAX_MS: u32 = 500;
/// How long the lowest acknowledgement delay is remembered as the link's own round trip.
pub const BASE_WINDOW_MS: u32 = 5_000;
/// Before the first acknowledgement the round trip is unknown: a snapshot may wait this much
/// longer for it before the client counts as falling behind.
pub const FIRST_ACK_MS: u32 = 1_000;
/// Longest a snapshot is waited for before it no longer counts as on its way, in milliseconds.
pub const PATIENCE_MAX_MS: u32 = 5_000;

/// The fixed numbers a room's clients are paced with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PaceSettings {
    /// Ticks between snapshot ticks (the room's `snapshot_interval`).
    pub slot_ticks: u32,
    /// Most snapshot ticks between two snapshots to one client (1: no pacing by
    /// acknowledgements, only the byte budget).
    pub interval_max: u32,
    /// Queueing delay, in ticks, that doubles the interval.
    pub high_ticks: u32,
    /// Queueing delay, in ticks, under which the interval shrinks.
    pub low_ticks: u32,
    /// Extra wait, in ticks, allowed before the first acknowledgement.
    pub first_ack_ticks: u32,
    /// Longest wait, in ticks, for a snapshot's acknowledgement ([`PATIENCE_MAX_MS`]).
    pub patience_max_ticks: u32,
    /// Ticks a round-trip minimum is remembered (two windows of this).
    pub base_window_ticks: u32,
    /// Bytes added to the bucket per tick (0: no byte budget).
    pub bytes_per_tick: f64,
    /// Bytes the bucket holds.
    pub burst_bytes: f64,
}

impl PaceSettings {
    /// The settings for a room ticking at `tick_rate` with a snapshot every `snapshot_interval`
    /// ticks, and a budget of `bytes_per_s` per client (0: unlimited).
    pub fn new(tick_rate: u32, snapshot_interval: u32, bytes_per_s: u32) -> PaceSettings {
        let tick_rate = tick_rate.max(1);
        let slot_ticks = snapshot_interval.max(1);
        let ticks = |ms: u32| (ms * tick_rate).div_ceil(1000).max(1);
        PaceSettings {
            slot_ticks,
            interval_max: (ticks(INTERVAL_MAX_MS) / slot_ticks).max(1),
            high_ticks: ticks(QUEUE_HIGH_MS),
            low_ticks: ticks(QUEUE_LOW_MS),
            first_ack_ticks: ticks(FIRST_ACK_MS),
            patience_max_ticks: ticks(PATIENCE_MAX_MS),
            base_window_ticks: ticks(BASE_WINDOW_MS),
            bytes_per_tick: f64::from(bytes_per_s) / f64::from(tick_rate),
            burst_bytes: f64::from(bytes_per_s) / 4.0,
        }
    }
}

/// What [`Pace::poll`] decided for this snapshot tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send the snapshot.
    Send,
    /// Not this tick: the client's acknowledgements fell behind, so it gets fewer snapshots.
    Paced,
    /// Not this tick: the client is over its byte budget.
    OverBudget,
}

/// One client's pacing state.
#[derive(Clone, Debug)]
pub struct Pace {
    /// Snapshot ticks between two snapshots (1: every one).
    interval: u32,
    /// Tick of the last snapshot sent.
    last_sent: Option<u32>,
    /// The lowest acknowledgement delay of the current and the previous window.
    min_current: Option<u32>,
    min_previous: Option<u32>,
    /// The lowest acknowledgement delay taken while behind, of the same two windows: the round
    /// trip once no sample taken while keeping up is left (the link's round trip grew).
    behind_current: Option<u32>,
    behind_previous: Option<u32>,
    window_start: u32,
    /// The newest acknowledgement delay.
    last_sample: u32,
    /// No further change of the interval before this tick (one round trip after the last).
    hold_until: u32,
    /// The byte bucket (negative: in debt).
    tokens: f64,
    /// Tick of a full snapshot sent and not yet acknowledged.
    full_unacked: Option<u32>,
    /// Ticks a snapshot is waited for before it no longer counts as on its way: twice the
    /// newest acknowledgement delay, doubled each time the oldest one waits longer.
    patience: u32,
    /// The newest snapshot given up on (the oldest on its way waited for longer than the
    /// patience): it and those before it no longer count as on their way.
    expired_through: Option<u32>,
    /// The window the client has earned so far (the window is at most this and at most a
    /// round trip's worth): from two snapshots at the start, or one after it fell behind, one
    /// more per acknowledgement up to `threshold`, then one more per window's worth of them,
    /// as TCP's slow start and congestion avoidance grow theirs, never more than one past the
    /// round trip's worth. A round trip measured on a slow link is mostly the link's queue,
    /// and a round trip's worth sent at once would bury it; a fast link earns its window
    /// within a few round trips.
    earned: f64,
    /// Half the window it had when it last fell behind (none yet: unbounded).
    threshold: f64,
}

impl Pace {
    /// A client joining at `tick`: every snapshot, a full bucket.
    pub fn new(settings: &PaceSettings, tick: u32) -> Pace {
        Pace {
            interval: 1,
            last_sent: None,
            min_current: None,
            min_previous: None,
            behind_current: None,
            behind_previous: None,
            window_start: tick,
            last_sample: 0,
            hold_until: tick,
            tokens: settings.burst_bytes,
            full_unacked: None,
            patience: settings.high_ticks + settings.first_ack_ticks,
            expired_through: None,
            earned: 2.0,
            threshold: f64::INFINITY,
        }
    }

    /// The client acknowledged the snapshot of tick `sent` at tick `now`.
    pub fn handle_ack(&mut self, settings: &PaceSettings, sent: u32, now: u32) {
        let sample = now.saturating_sub(sent);
        self.last_sample = sample;
        // Over a slow link a snapshot takes as long as its bytes need: one that waits longer
        // than the last did, with some slack, is not lost, and sending more behind it would
        // only queue them (and, with a full snapshot, copies of the same state).
        let least = self.base_delay() + settings.high_ticks + settings.first_ack_ticks;
        self.patience = least
            .max(sample.saturating_mul(2))
            .min(settings.patience_max_ticks);
        // A full snapshot's delay measures its size on the link as much as the round trip:
        // the round trip comes from deltas only.
        let was_full = self.full_unacked == Some(sent);
        if self.full_unacked.is_some_and(|full| sent >= full) {
            self.full_unacked = None;
        }
        let cap = self.round_trip_window(settings) as f64 + 1.0;
        if self.interval == 1 {
            let step = if self.earned < self.threshold {
                1.0
            } else {
                1.0 / self.earned
            };
            self.earned = (self.earned + step).min(cap);
        }
        if was_full {
            return;
        }
        if now.wrapping_sub(self.window_start) >= settings.base_window_ticks {
            self.min_previous = self.min_current.take();
            self.behind_previous = self.behind_current.take();
            self.window_start = now;
        }
        // A sample taken while the client is behind waited behind the snapshot before it, so
        // it measures the link's rate more than its length: it counts only once no sample
        // taken while keeping up is left (after two windows behind: the round trip itself
        // grew, as when a player moves to a slower network).
        let kept = if self.interval == 1 {
            &mut self.min_current
        } else {
            &mut self.behind_current
        };
        *kept = Some(kept.map_or(sample, |min| min.min(sample)));
    }

    /// The link's own round trip in ticks, as far as is known (0 before the first sample).
    pub fn base_delay(&self) -> u32 {
        self.round_trip().unwrap_or(0)
    }

    /// The lowest delay of the last windows taken while keeping up, else while behind.
    fn round_trip(&self) -> Option<u32> {
        let lowest = |a: Option<u32>, b: Option<u32>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        lowest(self.min_current, self.min_previous)
            .or_else(|| lowest(self.behind_current, self.behind_previous))
    }

    /// Whether the client gets this snapshot tick's snapshot. `unacked` lists the ticks of the
    /// snapshots sent to it after the newest one it acknowledged, oldest first. Call once per
    /// snapshot tick, in tick order.
    ///
    /// A snapshot the driver replaced before sending is taken off that list
    /// ([`crate::room::Room::handle_snapshot_unsent`]); as a last resort, once the oldest one
    /// has waited longer than the client's patience (twice its newest acknowledgement delay,
    /// at least the round trip plus [`QUEUE_HIGH_MS`] plus [`FIRST_ACK_MS`]), none of those on
    /// their way counts against the window any more, so a snapshot lost any other way cannot
    /// close it for good. Each time that happens the patience doubles, up to
    /// [`PATIENCE_MAX_MS`], as a TCP retransmission timer backs off.
    pub fn poll(
        &mut self,
        settings: &PaceSettings,
        now: u32,
        unacked: impl Iterator<Item = u32> + Clone,
    ) -> Decision {
        let oldest_unacked = unacked.clone().next();
        let waiting = oldest_unacked.map_or(0, |sent| now.saturating_sub(sent));
        let counted = unacked.filter(|&sent| self.expired_through.is_none_or(|e| sent > e));
        let mut in_flight = counted.clone().count();
        if counted
            .clone()
            .next()
            .is_some_and(|oldest| now.saturating_sub(oldest) > self.patience)
        {
            // The oldest waited too long: every one on its way is given up on for good (as a
            // retransmission timeout gives up on the whole flight), and the next ones get
            // twice the patience.
            self.expired_through = counted.last();
            // A full snapshot given up on no longer holds the next one back.
            if self
                .full_unacked
                .is_some_and(|full| self.expired_through.is_some_and(|e| full <= e))
            {
                self.full_unacked = None;
            }
            self.patience = (self.patience * 2).min(settings.patience_max_ticks);
            in_flight = 0;
        }
        if settings.bytes_per_tick > 0.0 {
            let refill = settings.bytes_per_tick * f64::from(settings.slot_ticks);
            self.tokens = (self.tokens + refill).min(settings.burst_bytes);
        }
        // The delay now: the newest sample, or longer if a snapshot has waited longer than that
        // for its acknowledgement (a client that stopped acknowledging gives no samples).
        let delay = self.last_sample.max(waiting);
        let queueing = delay.saturating_sub(self.base_delay());
        let high = self.high_ticks(settings);
        if now >= self.hold_until {
            let round_trip = self.base_delay() + settings.high_ticks;
            if queueing > high && self.interval < settings.interval_max {
                if self.interval == 1 {
                    // The window was too much for the link: earn it back from one, as TCP
                    // does after a loss, rather than sending a round trip's worth again at once
                    // (on a slow link whose round trip was measured long, that is seconds of
                    // snapshots queued behind each other).
                    let had = self.window(settings).min(64) as f64;
                    self.threshold = (had / 2.0).max(2.0);
                    self.earned = 1.0;
                }
                self.interval = (self.interval * 2).min(settings.interval_max);
                self.hold_until =
                    now.saturating_add(round_trip + self.interval * settings.slot_ticks);
            } else if queueing < settings.low_ticks && self.interval > 1 {
                self.interval /= 2;
                self.hold_until =
                    now.saturating_add(self.base_delay() + self.interval * settings.slot_ticks);
            }
        }
        let due = self
            .last_sent
            .is_none_or(|last| now.wrapping_sub(last) >= self.interval * settings.slot_ticks);
        if !due || in_flight >= self.window(settings) {
            Decision::Paced
        } else if settings.bytes_per_tick > 0.0 && self.tokens < 0.0 {
            Decision::OverBudget
        } else {
            Decision::Send
        }
    }

    /// Whether a full snapshot (one with no baseline) should wait: another full one is on its
    /// way and not overdue (waited for less than the client's patience). Sending a full
    /// snapshot every tick until the first is acknowledged would bury a slow link under
    /// copies of the same state.
    pub fn full_in_flight(&self, settings: &PaceSettings, now: u32) -> bool {
        settings.interval_max > 1
            && self
                .full_unacked
                .is_some_and(|full| now.saturating_sub(full) <= self.patience)
    }

    /// A round trip's worth of snapshots and some slack; two until the round trip is measured.
    fn round_trip_window(&self, settings: &PaceSettings) -> usize {
        if self.round_trip().is_none() {
            return 2;
        }
        let ticks = self.base_delay() + settings.low_ticks + 1;
        ticks.div_ceil(settings.slot_ticks) as usize
    }

    /// Snapshots that may be unacknowledged at once: a round trip's worth and some slack while
    /// the client keeps up (as much of that as it has earned); one once it fell behind; two
    /// until its round trip is measured.
    fn window(&self, settings: &PaceSettings) -> usize {
        if settings.interval_max == 1 {
            return usize::MAX;
        }
        if self.interval > 1 {
            return 1;
        }
        self.round_trip_window(settings)
            .min(self.earned as usize)
            .max(1)
    }

    /// Queueing delay that counts as falling behind: the round trip is unknown before the
    /// first acknowledgement, so a snapshot may wait longer for that one.
    fn high_ticks(&self, settings: &PaceSettings) -> u32 {
        if self.round_trip().is_none() {
            settings.high_ticks + settings.first_ack_ticks
        } else {
            settings.high_ticks
        }
    }

    /// A snapshot of `bytes` went to the client at tick `now`; `full` when it had no baseline.
    pub fn handle_sent(&mut self, settings: &PaceSettings, now: u32, bytes: usize, full: bool) {
        self.last_sent = Some(now);
        if full {
            self.full_unacked = Some(now);
        }
        if settings.bytes_per_tick > 0.0 {
            self.tokens -= bytes as f64;
        }
    }

    /// The client's current interval, in snapshot ticks.
    pub fn interval(&self) -> u32 {
        self.interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> PaceSettings {
        PaceSettings::new(30, 1, 0)
    }

    /// A client whose acknowledgements come back `delay(now)` ticks after each snapshot:
    /// returns the ticks it got snapshots on.
    fn run(settings: &PaceSettings, ticks: u32, delay: impl Fn(u32) -> u32) -> Vec<u32> {
        let mut pace = Pace::new(settings, 0);
        let mut sent: Vec<u32> = Vec::new();
        let mut acked = 0;
        for now in 1..=ticks {
            // Acknowledgements that arrived by now.
            while let Some(&tick) = sent.iter().find(|&&tick| tick > acked) {
                if tick + delay(tick) > now {
                    break;
                }
                acked = tick;
                pace.handle_ack(settings, tick, tick + delay(tick));
            }
            let unacked = sent.iter().copied().filter(|&tick| tick > acked);
            if pace.poll(settings, now, unacked) == Decision::Send {
                pace.handle_sent(settings, now, 200, false);
                sent.push(now);
            }
        }
        sent
    }

    #[test]
    fn a_client_that_keeps_up_gets_every_snapshot() {
        for delay in [0, 1, 3, 9] {
            let sent = run(&settings(), 300, |_| delay);
            // Two in flight at first, one more per acknowledgement (doubling each round trip):
            // within four round trips, every one.
            let start = 4 * (delay + 1);
            let settled: Vec<u32> = sent.iter().copied().filter(|&t| t > start).collect();
            assert_eq!(
                settled.len() as u32,
                300 - start,
                "round trip of {delay} ticks"
            );
        }
    }

    #[test]
    fn a_client_falling_behind_gets_fewer_snapshots_then_recovers() {
        let settings = settings();
        // Acknowledgements take 2 ticks, then 30 (the client stalls) from tick 100 to 200.
        let sent = run(&settings, 400, |tick| {
            if (100..200).contains(&tick) { 30 } else { 2 }
        });
        let during = sent.iter().filter(|&&t| (130..200).contains(&t)).count();
        let after = sent.iter().filter(|&&t| (300..400).contains(&t)).count();
        assert!(
            during <= 70 / 4,
            "backed off to at most every 4th tick: {during}"
        );
        assert!(
            during >= 70 / 32,
            "still one snapshot per round trip of 30 ticks: {during}"
        );
        let late: Vec<_> = sent.iter().filter(|&&t| t >= 200).collect();
        assert_eq!(
            after, 100,
            "back to every snapshot once it keeps up: {late:?}"
        );
    }

    #[test]
    fn a_link_slower_than_the_patience_gets_one_snapshot_per_acknowledgement() {
        let settings = settings();
        // Acknowledgements take 2 ticks, then 90 (3 s: each snapshot waits behind the last on
        // a slow downlink) from tick 100 on. Snapshots sent while one is on its way would queue
        // behind it and make the next acknowledgement later still.
        let sent = run(&settings, 500, |tick| if tick < 100 { 2 } else { 90 });
        let late: Vec<u32> = sent.iter().copied().filter(|&t| t >= 250).collect();
        for pair in late.windows(2) {
            assert!(
                pair[1] - pair[0] >= 90,
                "a snapshot sent before the last was acknowledged: {late:?}"
            );
        }
        assert!(
            late.len() >= 2,
            "still clocked by acknowledgements: {late:?}"
        );
    }

    #[test]
    fn after_falling_behind_the_window_is_earned_back_not_reopened_at_once() {
        // A link that carries one snapshot per 10 ticks, in order: each waits for those before
        // it, so a round trip measured on it is mostly waiting, and reopening a round trip's
        // worth of window at once would queue a dozen snapshots (seconds) again.
        let settings = settings();
        let mut pace = Pace::new(&settings, 0);
        // (tick sent, tick its acknowledgement arrives)
        let mut sent: Vec<(u32, u32)> = Vec::new();
        let (mut link_free, mut acked, mut most_queued, mut most_at_first) = (0, 0, 0, 0);
        for now in 1..=900 {
            for &(tick, ack_at) in &sent {
                if tick > acked && ack_at == now {
                    acked = tick;
                    pace.handle_ack(&settings, tick, now);
                }
            }
            let unacked = sent.iter().map(|&(tick, _)| tick).filter(|&t| t > acked);
            if pace.poll(&settings, now, unacked) == Decision::Send {
                pace.handle_sent(&settings, now, 1000, false);
                let delivered = link_free.max(now) + 10;
                link_free = delivered;
                sent.push((now, delivered + 1));
            }
            let queued = sent.iter().filter(|&&(_, ack_at)| ack_at > now + 1).count();
            if now > 300 {
                most_queued = most_queued.max(queued);
            } else {
                most_at_first = most_at_first.max(queued);
            }
        }
        let late = sent.iter().filter(|&&(tick, _)| tick > 300).count();
        assert!(
            most_queued <= 3,
            "{most_queued} snapshots queued on the link"
        );
        // Nor at the start, before it ever fell behind: the window is earned from two.
        assert!(most_at_first <= 4, "{most_at_first} queued at first");
        assert!(
            late >= 600 / 10 / 2,
            "the link is kept busy: {late} snapshots"
        );
    }

    #[test]
    fn a_round_trip_that_grows_for_good_is_measured_again() {
        // 33 ms for 10 s, then 400 ms for good (the player moved to a slower network): after
        // a few seconds behind, the longer round trip is the link's own, and every snapshot
        // flows again.
        let sent = run(&settings(), 1200, |tick| if tick < 300 { 1 } else { 12 });
        let last = sent.iter().filter(|&&t| t > 900).count();
        assert!(last >= 280, "{last} of the last 300 snapshots");
    }

    #[test]
    fn a_client_that_stops_acknowledging_is_slowed_to_the_floor_rate() {
        let settings = settings();
        let mut pace = Pace::new(&settings, 0);
        let mut sent = Vec::new();
        pace.handle_ack(&settings, 0, 1);
        for now in 1..=120 {
            if pace.poll(&settings, now, sent.iter().copied()) == Decision::Send {
                pace.handle_sent(&settings, now, 200, false);
                sent.push(now);
            }
        }
        assert_eq!(pace.interval(), settings.interval_max);
        let last_second = sent.iter().filter(|&&t| t > 90).count();
        assert!(
            last_second <= 2,
            "about two snapshots a second: {last_second}"
        );
    }

    #[test]
    fn the_byte_budget_holds_and_lets_a_big_snapshot_through() {
        // 3,000 bytes per second at 30 Hz: 100 bytes per tick, a bucket of 750.
        let settings = PaceSettings::new(30, 1, 3_000);
        let mut pace = Pace::new(&settings, 0);
        let mut bytes = 0;
        let (mut sent, mut over_budget) = (0, 0);
        for now in 1..=300 {
            let decision = pace.poll(&settings, now, std::iter::empty());
            over_budget += u32::from(decision == Decision::OverBudget);
            if decision == Decision::Send {
                // A full snapshot first (bigger than the bucket), then 200-byte deltas.
                let size = if sent == 0 { 5_000 } else { 200 };
                pace.handle_sent(&settings, now, size, sent == 0);
                bytes += size;
                sent += 1;
            }
        }
        assert!(sent > 1, "the big snapshot went, and later ones too");
        // Ten seconds of budget, plus what one snapshot may overdraw and the starting bucket.
        assert!(bytes <= 30_000 + 5_000 + 750, "{bytes} bytes");
        assert!(over_budget > 0);
    }

    #[test]
    fn settings_follow_the_tick_rate() {
        let at30 = PaceSettings::new(30, 1, 0);
        assert_eq!(
            (at30.high_ticks, at30.low_ticks, at30.interval_max),
            (5, 2, 15)
        );
        let at60 = PaceSettings::new(60, 2, 0);
        assert_eq!(
            (at60.high_ticks, at60.interval_max, at60.slot_ticks),
            (9, 15, 2)
        );
    }
}
