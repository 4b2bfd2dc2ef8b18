//! Samples and their propagation along the local timebase.

use crate::{Drift, Interval, LocalInstant, Timestamp};

/// "At local instant `local`, true time lay in `interval`."
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The local instant the interval belongs to.
    pub local: LocalInstant,
    /// Where true time lay at that instant.
    pub interval: Interval,
}

impl Sample {
    /// A sample of `interval` at local instant `local`.
    pub const fn new(local: LocalInstant, interval: Interval) -> Self {
        Sample { local, interval }
    }

    /// The interval carried to local instant `at`.
    ///
    /// With `d = at - L0` local nanoseconds and the drift bound `rho`, true
    /// time advanced by between `d - ceil(|d| rho)` and `d + ceil(|d| rho)`
    /// nanoseconds, so
    ///
    /// ```text
    /// earliest(at) = E0 + d - ceil(|d| * rho)
    /// latest(at)   = A0 + d + ceil(|d| * rho)
    /// ```
    ///
    /// The width grows by `2 ceil(|d| rho)`: 400 us per second at the
    /// default 200 ppm, the sawtooth of the Spanner paper (OSDI 2012, §3).
    /// The formula holds for `d < 0` too (carrying a sample backwards).
    /// Every end saturates rather than wraps.
    ///
    /// ```
    /// use tt_core::{Drift, Interval, LocalInstant, Sample};
    /// let s = Sample::new(LocalInstant::from_nanos(0), Interval::from_unix_nanos(100, 200).unwrap());
    /// let later = s.at(LocalInstant::from_nanos(1_000_000_000), Drift::from_ppm(200));
    /// assert_eq!(later.earliest().unix_nanos(), 100 + 1_000_000_000 - 200_000);
    /// assert_eq!(later.latest().unix_nanos(), 200 + 1_000_000_000 + 200_000);
    /// ```
    #[inline]
    pub fn at(&self, at: LocalInstant, drift: Drift) -> Interval {
        let span_ns = at.nanos_since(self.local);
        let error_ns = drift.error_over(span_ns);
        let earliest = self
            .interval
            .earliest()
            .saturating_add_nanos(span_ns)
            .saturating_add_nanos(-error_ns);
        let latest = self
            .interval
            .latest()
            .saturating_add_nanos(span_ns)
            .saturating_add_nanos(error_ns);
        Interval::new(earliest, latest).expect("widening both ends keeps earliest <= latest")
    }
}

/// The sample one poll of a master yields.
///
/// The local clock read `sent` just before the request went out and
/// `received` just after the answer came in; the master's interval
/// `master` held at some unknown instant in between. Relative to that
/// instant, `received` is at least 0 and at most `received - sent` local
/// nanoseconds later, so at `received`:
///
/// ```text
/// earliest = Em
/// latest   = Am + (L4 - L1) + ceil((L4 - L1) * rho)
/// ```
///
/// (DESIGN.md, "one poll of a master"; `L1 = sent`, `L4 = received`.) The
/// lower end takes no credit for elapsed time, which is safe: the master's
/// read could have happened at the very end. A negative round trip (a
/// counter that went backwards) is clamped to zero elapsed time on the
/// lower end and still charged in full on the upper one via its magnitude.
pub fn round_trip(
    master: Interval,
    sent: LocalInstant,
    received: LocalInstant,
    drift: Drift,
) -> Sample {
    let rtt_ns = received.nanos_since(sent).max(0);
    let upper_ns = rtt_ns.saturating_add(drift.error_over(rtt_ns));
    let latest: Timestamp = master.latest().saturating_add_nanos(upper_ns);
    let interval =
        Interval::new(master.earliest(), latest).expect("raising the upper end keeps order");
    Sample::new(received, interval)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NANOS_PER_SEC;

    fn iv(e: i64, l: i64) -> Interval {
        Interval::from_unix_nanos(e, l).unwrap()
    }

    #[test]
    fn propagation_widens_by_two_rho_per_second() {
        let s = Sample::new(LocalInstant::from_nanos(5), iv(1_000, 1_000));
        let later = s.at(
            LocalInstant::from_nanos(5 + 30 * NANOS_PER_SEC),
            Drift::from_ppm(200),
        );
        // 30 s at 200 ppm: 6 ms each side, 12 ms in all.
        assert_eq!(later.width_ns(), 12_000_000);
        assert_eq!(
            later.earliest().unix_nanos(),
            1_000 + 30 * NANOS_PER_SEC - 6_000_000
        );
    }

    #[test]
    fn propagation_backwards_also_widens() {
        let s = Sample::new(LocalInstant::from_nanos(NANOS_PER_SEC), iv(0, 0));
        let earlier = s.at(LocalInstant::from_nanos(0), Drift::from_ppm(100));
        assert_eq!(earlier.earliest().unix_nanos(), -NANOS_PER_SEC - 100_000);
        assert_eq!(earlier.latest().unix_nanos(), -NANOS_PER_SEC + 100_000);
    }

    #[test]
    fn round_trip_charges_the_upper_end_only() {
        let master = iv(1_000_000, 1_000_100);
        let s = round_trip(
            master,
            LocalInstant::from_nanos(0),
            LocalInstant::from_nanos(1_000_000),
            Drift::from_ppm(200),
        );
        assert_eq!(s.local, LocalInstant::from_nanos(1_000_000));
        assert_eq!(s.interval.earliest().unix_nanos(), 1_000_000);
        // 1 ms round trip plus 200 ppm of it (200 ns).
        assert_eq!(
            s.interval.latest().unix_nanos(),
            1_000_100 + 1_000_000 + 200
        );
    }

    #[test]
    fn round_trip_contains_truth_wherever_the_master_read() {
        // True time runs at exactly local rate plus a fixed offset here; the
        // master reads at any instant between send and receive, with an
        // exact (point) interval.
        let offset = 1_700_000_000 * NANOS_PER_SEC;
        let sent = 10_000;
        let received = 2_010_000;
        for read_at in [sent, 500_000, received] {
            let master = iv(read_at + offset, read_at + offset);
            let s = round_trip(
                master,
                LocalInstant::from_nanos(sent),
                LocalInstant::from_nanos(received),
                Drift::from_ppm(200),
            );
            assert!(s
                .interval
                .contains(Timestamp::from_unix_nanos(received + offset)));
        }
    }
}
