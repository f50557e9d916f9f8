//! A token bucket on a slow bot's reads: at most `bytes_per_s` bytes a second leave the socket,
//! with a small burst, so the rest waits in the kernel and TCP backs up to the server the way a
//! slow downlink does. Time is passed in.

use std::time::Instant;

/// The burst a bucket holds at most: this many seconds of its rate...
const BURST_S: f64 = 0.1;
/// ...but never less than this many bytes, so a read is never absurdly small.
const BURST_MIN: f64 = 256.0;

/// How many bytes a slow bot may read now.
#[derive(Clone, Debug)]
pub(crate) struct ReadBudget {
    bytes_per_s: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
}

impl ReadBudget {
    /// A bucket of `bytes_per_s`, full at `now`.
    pub(crate) fn new(bytes_per_s: u64, now: Instant) -> ReadBudget {
        let bytes_per_s = bytes_per_s.max(1) as f64;
        let burst = (bytes_per_s * BURST_S).max(BURST_MIN);
        ReadBudget {
            bytes_per_s,
            burst,
            tokens: burst,
            refilled: now,
        }
    }

    /// Bytes that may be read at `now` (refills for the time since the last call).
    pub(crate) fn allowance(&mut self, now: Instant) -> usize {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.refilled = self.refilled.max(now);
        self.tokens = (self.tokens + elapsed * self.bytes_per_s).min(self.burst);
        self.tokens as usize
    }

    /// `bytes` were read.
    pub(crate) fn spend(&mut self, bytes: usize) {
        self.tokens = (self.tokens - bytes as f64).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn reads_follow_the_rate_after_one_burst() {
        let start = Instant::now();
        let mut budget = ReadBudget::new(2_000, start);
        // Full at first: 256 bytes (0.1 s of 2,000 B/s is less than the minimum burst).
        assert_eq!(budget.allowance(start), 256);
        budget.spend(256);
        assert_eq!(budget.allowance(start), 0);
        // 50 ms later: 100 bytes.
        let later = start + Duration::from_millis(50);
        assert_eq!(budget.allowance(later), 100);
        budget.spend(60);
        assert_eq!(budget.allowance(later), 40);
        // A long pause refills only up to the burst.
        assert_eq!(budget.allowance(later + Duration::from_secs(60)), 256);
        // Over ten simulated seconds of reading everything allowed every tick, about the rate.
        let mut now = later + Duration::from_secs(60);
        budget.spend(256);
        let mut read = 0;
        for _ in 0..300 {
            now += Duration::from_millis(33);
            let allowed = budget.allowance(now);
            budget.spend(allowed);
            read += allowed;
        }
        assert!((19_500..=20_000).contains(&read), "{read}");
    }

    #[test]
    fn a_fast_budget_has_a_burst_of_a_tenth_of_a_second() {
        let start = Instant::now();
        let mut budget = ReadBudget::new(100_000, start);
        assert_eq!(budget.allowance(start), 10_000);
        // Time going backwards (it cannot with Instant, but a caller's stale `now`) adds nothing.
        budget.spend(10_000);
        assert_eq!(budget.allowance(start), 0);
    }
}
