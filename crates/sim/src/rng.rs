//! The world's seeded random number generator (PCG32, XSH RR variant).
//!
//! Written out here rather than taken from a crate so its output can never change under us: the
//! same seed must give the same game on every build, for replays and determinism tests.

/// A PCG32 generator: 64-bit state, 32-bit output, a fixed stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pcg32 {
    state: u64,
}

const MULTIPLIER: u64 = 6_364_136_223_846_793_005;
const INCREMENT: u64 = 1_442_695_040_888_963_407;

impl Pcg32 {
    /// A generator seeded with `seed` (the reference PCG32 seeding procedure).
    pub fn new(seed: u64) -> Pcg32 {
        let mut rng = Pcg32 { state: 0 };
        rng.next_u32();
        rng.state = rng.state.wrapping_add(seed);
        rng.next_u32();
        rng
    }

    /// The internal state, for hashing the world.
    pub fn state(&self) -> u64 {
        self.state
    }

    pub fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old.wrapping_mul(MULTIPLIER).wrapping_add(INCREMENT);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        let rotation = (old >> 59) as u32;
        xorshifted.rotate_right(rotation)
    }

    /// A uniform integer in `0..bound` (0 when `bound` is 0), by multiply-shift.
    pub fn below(&mut self, bound: u32) -> u32 {
        ((u64::from(self.next_u32()) * u64::from(bound)) >> 32) as u32
    }

    /// A uniform float in `[0, 1)` with 24 random bits.
    pub fn unit_f32(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    /// A uniform float in `[low, high)`.
    pub fn range_f32(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.unit_f32()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut first = Pcg32::new(7);
        let mut second = Pcg32::new(7);
        let mut other = Pcg32::new(8);
        let a: Vec<u32> = (0..16).map(|_| first.next_u32()).collect();
        let b: Vec<u32> = (0..16).map(|_| second.next_u32()).collect();
        let c: Vec<u32> = (0..16).map(|_| other.next_u32()).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn ranges_hold() {
        let mut rng = Pcg32::new(1);
        for _ in 0..10_000 {
            assert!(rng.below(3) < 3);
            let unit = rng.unit_f32();
            assert!((0.0..1.0).contains(&unit));
        }
        assert_eq!(rng.below(0), 0);
    }
}
