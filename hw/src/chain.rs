//! A serial time source checked against itself.
//!
//! A serial sample rests on one assumption: the sentence for second `T`
//! reached the program that stamped it between `T + min_delay` and
//! `T + max_delay`. A stamping program that stalls breaks it without a
//! trace: gpsd stopped for 300 ms reads the sentence from the terminal's
//! buffer 300 ms late, stamps it then, and the sample `[T + min, T + max]`
//! sits at an instant 300 ms after the one it belongs to: narrow and wrong.
//! Our own reader of a serial port can be descheduled the same way.
//!
//! Consecutive samples of one receiver must agree with each other: the
//! previous sample, carried forward to the new one's instant with a drift
//! bound, holds truth there too if it was right. So:
//!
//! ```text
//! C     = previous.at(L_new, rho_carry)       (tt_core::Sample::at)
//! N     = the new sample's interval at L_new
//! if C and N do not overlap:  one of them is wrong; publish nothing, and
//!                             start a new chain at N
//! else:                       publish hull(C, N) at L_new, once the chain
//!                             holds two samples
//! ```
//!
//! The hull holds truth if either sample was right, so a single stall
//! shorter than `max_delay - min_delay`, which the overlap test cannot see,
//! is still covered by the sample before it; a longer one fails the test
//! and is not published, and neither is the sample after it (which then
//! disagrees with the stalled one): the source is silent for about two
//! seconds and comes back by itself. A chain's first sample is held until a
//! second agrees with it, so a stall at start-up cannot pass either.
//! What this cannot catch is a stamping delay that is the same for every
//! sentence: that is a delay range configured wrong for the host, and only
//! other sources (the intersection, peer masters) can show it.
//!
//! `rho_carry` is 500 ppm, above any local timebase bound a master is
//! configured with (200 ppm by default): carrying with a larger bound only
//! widens `C`.

use tt_core::{Drift, Interval, Sample};

/// The drift bound the previous sample is carried forward with.
pub const CARRY_DRIFT: Drift = Drift::from_ppm(500);

/// Samples a chain must hold before it publishes.
const SAMPLES_BEFORE_PUBLISHING: u32 = 2;

/// What to do with a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Publish this sample (the hull of the new one and the previous one
    /// carried forward, at the new one's instant).
    Publish(Sample),
    /// The chain is new; wait for a second sample to agree.
    Hold,
    /// The sample disagrees with the previous one carried forward: one of
    /// them is wrong; publish nothing.
    Inconsistent {
        /// The previous sample carried to the new one's instant.
        carried: Interval,
        /// The new sample's interval.
        new: Interval,
    },
}

/// The last sample of a source and how many agreed in a row.
#[derive(Clone, Debug, Default)]
pub struct SampleChain {
    previous: Option<Sample>,
    agreeing: u32,
}

impl SampleChain {
    /// An empty chain.
    pub fn new() -> Self {
        SampleChain::default()
    }

    /// Forgets everything: after a loss of fix or of the connection, the
    /// next sample starts a new chain.
    pub fn reset(&mut self) {
        self.previous = None;
        self.agreeing = 0;
    }

    /// Judges `sample` against the chain (see the module documentation)
    /// and makes it the chain's latest.
    pub fn admit(&mut self, sample: Sample) -> Admission {
        let Some(previous) = self.previous.replace(sample) else {
            self.agreeing = 1;
            return Admission::Hold;
        };
        let carried = previous.at(sample.local, CARRY_DRIFT);
        if !carried.overlaps(&sample.interval) {
            self.agreeing = 1;
            return Admission::Inconsistent {
                carried,
                new: sample.interval,
            };
        }
        self.agreeing = self.agreeing.saturating_add(1);
        if self.agreeing < SAMPLES_BEFORE_PUBLISHING {
            return Admission::Hold;
        }
        let hull = Interval::new(
            carried.earliest().min(sample.interval.earliest()),
            carried.latest().max(sample.interval.latest()),
        )
        .expect("the hull of two intervals is ordered");
        Admission::Publish(Sample::new(sample.local, hull))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tt_core::{LocalInstant, NANOS_PER_SEC};

    const MS: i64 = 1_000_000;
    /// The local timebase and true time run together here; true time at
    /// local 0 is 1000 s.
    const T0: i64 = 1_000 * NANOS_PER_SEC;

    /// The sample a receiver gives for second `second` (relative to T0)
    /// when its sentence is stamped `stamp_ms` after the second, with a
    /// delay range of 49 to 70 ms.
    fn serial(second: i64, stamp_ms: i64) -> Sample {
        let label = T0 + second * NANOS_PER_SEC;
        Sample::new(
            LocalInstant::from_nanos(second * NANOS_PER_SEC + stamp_ms * MS),
            Interval::from_unix_nanos(label + 49 * MS, label + 70 * MS).unwrap(),
        )
    }

    fn truth_at(sample: &Sample) -> tt_core::Timestamp {
        tt_core::Timestamp::from_unix_nanos(T0 + sample.local.nanos())
    }

    #[test]
    fn the_first_sample_waits_for_a_second() {
        let mut chain = SampleChain::new();
        assert_eq!(chain.admit(serial(0, 50)), Admission::Hold);
        assert!(matches!(chain.admit(serial(1, 50)), Admission::Publish(_)));
    }

    #[test]
    fn a_long_stall_is_refused_and_the_chain_recovers() {
        let mut chain = SampleChain::new();
        chain.admit(serial(0, 50));
        assert!(matches!(chain.admit(serial(1, 50)), Admission::Publish(_)));
        // gpsd stalls 290 ms: the sentence of second 2 is stamped at 340 ms.
        // Carried from second 1, truth is at least 2 s + 49 ms + 290 ms -
        // 500 ppm of 1.29 s: past the new sample's 70 ms.
        let stalled = serial(2, 340);
        assert!(!stalled.interval.contains(truth_at(&stalled)));
        assert!(matches!(
            chain.admit(stalled),
            Admission::Inconsistent { .. }
        ));
        // The next sentence is on time but disagrees with the stalled one.
        assert!(matches!(
            chain.admit(serial(3, 50)),
            Admission::Inconsistent { .. }
        ));
        // Then two agree again.
        let Admission::Publish(back) = chain.admit(serial(4, 50)) else {
            panic!("the chain did not recover");
        };
        assert!(back.interval.contains(truth_at(&back)));
    }

    #[test]
    fn a_short_stall_is_covered_by_the_hull() {
        let mut chain = SampleChain::new();
        chain.admit(serial(0, 50));
        chain.admit(serial(1, 50));
        // A 20.5 ms stall: stamped at 70.5 ms, just past the range, so the
        // new sample alone misses truth by 0.5 ms, yet it still overlaps the
        // previous one carried forward.
        let stalled = serial(2, 70);
        let stalled = Sample::new(stalled.local.saturating_add_nanos(MS / 2), stalled.interval);
        assert!(!stalled.interval.contains(truth_at(&stalled)));
        let Admission::Publish(published) = chain.admit(stalled) else {
            panic!("a stall inside the range width is not refused");
        };
        assert!(published.interval.contains(truth_at(&published)));
        // The hull: its lower end is the new sample's, its upper end the
        // carried one's, which lies 20.5 ms (the late stamp) plus 500 ppm of
        // the 1.0205 s between the stamps above the new sample's upper end.
        let carry_ns = CARRY_DRIFT.error_over(NANOS_PER_SEC + 20 * MS + MS / 2);
        assert_eq!(
            published.interval.width_ns(),
            21 * MS + 20 * MS + MS / 2 + carry_ns
        );
    }

    #[test]
    fn steady_samples_cost_only_the_carry() {
        let mut chain = SampleChain::new();
        chain.admit(serial(0, 50));
        let Admission::Publish(published) = chain.admit(serial(1, 50)) else {
            panic!("two steady samples are published");
        };
        assert_eq!(
            published.interval.width_ns(),
            21 * MS + 2 * CARRY_DRIFT.error_over(NANOS_PER_SEC)
        );
    }

    #[test]
    fn reset_starts_a_new_chain() {
        let mut chain = SampleChain::new();
        chain.admit(serial(0, 50));
        chain.admit(serial(1, 50));
        chain.reset();
        assert_eq!(chain.admit(serial(5, 50)), Admission::Hold);
    }
}
