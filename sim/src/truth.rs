//! True time in the simulation, and what UTC says about it.
//!
//! The simulation's master clock is **physical time** `tau`: integer
//! nanoseconds of SI seconds, counted so that `tau` equals POSIX UTC
//! (nanoseconds since 1970-01-01, 86 400 s a day) before any leap second
//! of the run. Every event happens at a `tau`; every host's local counter
//! is a function of `tau` (see [`crate::oscillator`]).
//!
//! **Truth** at `tau` is the UTC the system promises to bound, as POSIX
//! nanoseconds. Without a leap second it is `tau` itself. Across a leap
//! second it is the set `tt_core::leap` defines, for a leap at POSIX
//! midnight `N`:
//!
//! ```text
//! inserted   tau < N: {tau}     N <= tau < N + 1 s: [tau - 1 s, tau]     tau >= N + 1 s: {tau - 1 s}
//! deleted    tau < N - 1 s: {tau}                                        tau >= N - 1 s: {tau + 1 s}
//! ```
//!
//! An interval handed out at `tau` is right when it holds the whole set:
//! `earliest <= lower(tau)` and `upper(tau) <= latest`.

use tt_core::leap::{LeapKind, LeapSecond};
use tt_core::{Interval, NANOS_PER_SEC};

/// Nanoseconds in a second, as the simulation writes them.
pub const SECOND: i64 = NANOS_PER_SEC;

/// What UTC is at a physical instant: `[lower, upper]`, a single instant
/// except within an inserted leap second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TruthSet {
    /// The lowest POSIX reading that is right, ns.
    pub lower: i64,
    /// The highest POSIX reading that is right, ns.
    pub upper: i64,
}

impl TruthSet {
    /// Whether `interval` holds the whole set.
    pub fn inside(&self, interval: &Interval) -> bool {
        interval.earliest().unix_nanos() <= self.lower
            && self.upper <= interval.latest().unix_nanos()
    }

    /// How far the set sticks out of `interval`, ns (0 when inside):
    /// negative when truth lies below the interval, positive above.
    pub fn miss_ns(&self, interval: &Interval) -> i64 {
        let below = interval.earliest().unix_nanos() - self.lower;
        let above = self.upper - interval.latest().unix_nanos();
        if below > 0 {
            -below
        } else if above > 0 {
            above
        } else {
            0
        }
    }
}

/// UTC over the run: POSIX time with at most one leap second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Utc {
    /// The run's leap second, if any.
    pub leap: Option<LeapSecond>,
}

impl Utc {
    /// Truth at physical instant `tau`; see the module documentation.
    pub fn truth(&self, tau: i64) -> TruthSet {
        let point = |t| TruthSet { lower: t, upper: t };
        let Some(leap) = self.leap else {
            return point(tau);
        };
        let midnight = leap.midnight.unix_nanos();
        match leap.kind {
            LeapKind::Inserted if tau < midnight => point(tau),
            LeapKind::Inserted if tau < midnight + SECOND => TruthSet {
                lower: tau - SECOND,
                upper: tau,
            },
            LeapKind::Inserted => point(tau - SECOND),
            LeapKind::Deleted if tau < midnight - SECOND => point(tau),
            LeapKind::Deleted => point(tau + SECOND),
        }
    }

    /// The POSIX label a GPS receiver, as gpsd reports it, gives the
    /// second that starts at physical instant `tau` (a whole second).
    ///
    /// gpsd turns the receiver's `23:59:60` into a POSIX time by the
    /// calendar arithmetic of `timegm`, which makes it the following
    /// midnight; the real midnight one second later gets the same label.
    pub fn label(&self, tau: i64) -> i64 {
        let Some(leap) = self.leap else {
            return tau;
        };
        let midnight = leap.midnight.unix_nanos();
        match leap.kind {
            LeapKind::Inserted if tau <= midnight => tau,
            LeapKind::Inserted => tau - SECOND,
            LeapKind::Deleted if tau < midnight - SECOND => tau,
            LeapKind::Deleted => tau + SECOND,
        }
    }
}

/// Whether `year` has a 29 February.
fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for POSIX nanoseconds at or after 1970, the
/// way gpsd prints a TPV time (milliseconds, truncated).
pub fn iso8601(posix_ns: i64) -> String {
    let secs = posix_ns.div_euclid(SECOND);
    let millis = posix_ns.rem_euclid(SECOND) / 1_000_000;
    let mut days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);

    let mut year = 1970;
    loop {
        let in_year = if is_leap_year(year) { 366 } else { 365 };
        if days < in_year {
            break;
        }
        days -= in_year;
        year += 1;
    }
    let february = if is_leap_year(year) { 29 } else { 28 };
    let lengths = [31, february, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut month = 0;
    while days >= lengths[month] {
        days -= lengths[month];
        month += 1;
    }
    format!(
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        month + 1,
        days + 1,
        of_day / 3_600,
        of_day % 3_600 / 60,
        of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tt_core::Timestamp;

    /// 2027-01-01T00:00:00Z: 2026-01-01 (1 767 225 600) plus 365 days.
    const MIDNIGHT: i64 = 1_798_761_600 * SECOND;

    #[test]
    fn dates_print_as_gpsd_does() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_767_225_600 * SECOND), "2026-01-01T00:00:00.000Z");
        assert_eq!(iso8601(MIDNIGHT - 1), "2026-12-31T23:59:59.999Z");
        // 2024-02-29 is day 19 782 since 1970.
        assert_eq!(
            iso8601(19_782 * 86_400 * SECOND + 3_723 * SECOND + 45_600_000),
            "2024-02-29T01:02:03.045Z"
        );
    }

    #[test]
    fn an_inserted_second_is_a_set_then_truth_is_a_second_lower() {
        let utc = Utc {
            leap: Some(LeapSecond {
                midnight: Timestamp::from_unix_nanos(MIDNIGHT),
                kind: LeapKind::Inserted,
            }),
        };
        assert_eq!(utc.truth(MIDNIGHT - 1).lower, MIDNIGHT - 1);
        let during = utc.truth(MIDNIGHT + 250_000_000);
        assert_eq!(during.lower, MIDNIGHT - 750_000_000);
        assert_eq!(during.upper, MIDNIGHT + 250_000_000);
        assert_eq!(utc.truth(MIDNIGHT + SECOND).upper, MIDNIGHT);
        // Labels: ..59 → N - 1 s; the leap second and the real midnight
        // both N; then on.
        assert_eq!(utc.label(MIDNIGHT - SECOND), MIDNIGHT - SECOND);
        assert_eq!(utc.label(MIDNIGHT), MIDNIGHT);
        assert_eq!(utc.label(MIDNIGHT + SECOND), MIDNIGHT);
        assert_eq!(utc.label(MIDNIGHT + 2 * SECOND), MIDNIGHT + SECOND);
    }

    #[test]
    fn a_deleted_second_moves_truth_a_second_up() {
        let utc = Utc {
            leap: Some(LeapSecond {
                midnight: Timestamp::from_unix_nanos(MIDNIGHT),
                kind: LeapKind::Deleted,
            }),
        };
        assert_eq!(
            utc.truth(MIDNIGHT - SECOND - 1).lower,
            MIDNIGHT - SECOND - 1
        );
        assert_eq!(utc.truth(MIDNIGHT - SECOND).lower, MIDNIGHT);
        assert_eq!(utc.label(MIDNIGHT - SECOND), MIDNIGHT);
    }

    #[test]
    fn misses_are_signed() {
        let set = TruthSet {
            lower: 100,
            upper: 110,
        };
        let iv = |e, l| Interval::from_unix_nanos(e, l).unwrap();
        assert_eq!(set.miss_ns(&iv(100, 110)), 0);
        assert!(set.inside(&iv(100, 110)));
        assert_eq!(set.miss_ns(&iv(103, 200)), -3);
        assert_eq!(set.miss_ns(&iv(0, 105)), 5);
    }
}
