//! A small seeded generator (SplitMix64) and the draws the simulation
//! needs, all in integers, so that a seed reproduces a run bit for bit on
//! any machine.

/// SplitMix64: a 64-bit state advanced by a constant and mixed on output.
/// Fast, and good enough for simulated jitter and loss; not for secrets.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

/// The names of the streams a run draws from (see [`Rng::stream`]).
pub mod tag {
    /// Jitter and loss of messages.
    pub const NETWORK: u64 = 1;
    /// The fixed base delay of a link direction.
    pub const LINK: u64 = 2;
    /// A master's starting rate, counter and wall clock.
    pub const MASTER: u64 = 3;
    /// A master's wander.
    pub const MASTER_WANDER: u64 = 4;
    /// A slave's starting rate, counter and boot id.
    pub const SLAVE: u64 = 5;
    /// A slave's wander.
    pub const SLAVE_WANDER: u64 = 6;
    /// A receiver's serial delays and gpsd's line latencies.
    pub const GPS: u64 = 7;
    /// When a slave host's clients read.
    pub const READS: u64 = 8;
    /// When the daemons start.
    pub const STARTUP: u64 = 9;
}

/// The golden-ratio increment of SplitMix64.
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// An independent generator for the part of a run named by `tags`
    /// (a host, a link, a purpose): the same seed and tags always give the
    /// same stream, whatever else the run draws.
    pub fn stream(seed: u64, tags: &[u64]) -> Rng {
        let mut state = mix(seed ^ GAMMA);
        for &tag in tags {
            state = mix(state ^ mix(tag.wrapping_add(GAMMA)));
        }
        Rng { state }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix(self.state)
    }

    /// Uniform in `[0, n)`; 0 when `n` is 0. (Multiply-shift: the bias is
    /// below 2^-64 per draw.)
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[low, high]`, both included; `low` when `high < low`.
    pub fn range(&mut self, low: i64, high: i64) -> i64 {
        if high <= low {
            return low;
        }
        let span = (i128::from(high) - i128::from(low) + 1) as u64;
        low + self.below(span) as i64
    }

    /// True with probability `ppm` parts per million.
    pub fn chance_ppm(&mut self, ppm: u32) -> bool {
        self.below(1_000_000) < u64::from(ppm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_repeat_and_differ() {
        let a: Vec<u64> = (0..4).map(|_| Rng::stream(1, &[2, 3]).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut b = Rng::stream(1, &[2, 4]);
        let mut c = Rng::stream(2, &[2, 3]);
        let first = Rng::stream(1, &[2, 3]).next_u64();
        assert_ne!(b.next_u64(), first);
        assert_ne!(c.next_u64(), first);
    }

    #[test]
    fn ranges_stay_inside_and_reach_both_ends() {
        let mut rng = Rng::new(7);
        let mut seen = [false; 5];
        for _ in 0..1_000 {
            let x = rng.range(-2, 2);
            assert!((-2..=2).contains(&x));
            seen[(x + 2) as usize] = true;
        }
        assert_eq!(seen, [true; 5]);
        assert_eq!(rng.range(3, 3), 3);
        assert_eq!(rng.range(3, 1), 3);
        assert_eq!(rng.below(0), 0);
    }
}
