//! Leap seconds: the one policy, widening.
//!
//! Truth is UTC as POSIX nanoseconds, 86 400 s to every day, so a leap
//! second has no value of its own. Let `N` be the POSIX instant of the
//! midnight that ends a day with a leap second, and `tau` the instant in
//! seconds of physical time (SI seconds, counted so that `tau = POSIX`
//! before the leap).
//!
//! * **Inserted** (`23:59:59`, `23:59:60`, `00:00:00`): after the leap,
//!   POSIX time is `tau - 1 s`. During the inserted second, `tau` in
//!   `[N, N + 1 s)`, clocks disagree on what to show: the kernel repeats
//!   `23:59:59` (`tau - 1 s`), others hold at `N` or run on into the next
//!   day (`tau`). True time then is the whole set `[tau - 1 s, tau]`, and
//!   an interval is right only if it holds all of it:
//!
//!   ```text
//!   tau <  N          truth = tau
//!   N <= tau < N + 1  truth = [tau - 1 s, tau]
//!   tau >= N + 1      truth = tau - 1 s
//!   ```
//!
//!   Both ends of that set are non-decreasing except for the lower end
//!   stepping back at `N`, and the upper end at a later instant is never
//!   below the lower end at an earlier one, which is what commit-wait
//!   needs: a timestamp `s` waited out (`earliest > s`) stays below every
//!   later `latest`.
//! * **Deleted** (`23:59:58`, `00:00:00`): POSIX time jumps one second
//!   forward at `tau = N - 1 s` and is `tau + 1 s` from then on; nothing is
//!   ambiguous, but everything carried across the jump is a second behind.
//!
//! An interval measured before the leap and carried across it on a local
//! oscillator follows `tau`; after an inserted second truth is a second
//! lower, after a deleted one a second higher. So the policy: **every
//! interval that comes near a scheduled leap is widened by one second on
//! the side truth moves to** (below for an inserted second, above for a
//! deleted one), as [`LeapPolicy::apply`] states exactly. Nothing is
//! smeared, and outside the window nothing changes.
//!
//! The window must cover every interval that can be carried across the
//! leap: before it, at least the longest anyone downstream carries an
//! interval (a slave's holdover plus one poll round, which is also how long
//! its shared-memory record stays valid); after it, at least one second
//! plus the longest a master carries a source's sample. A source must label
//! the inserted second either `23:59:60` (drivers refuse that label) or as
//! the following midnight onward (gpsd's normalisation), never by repeating
//! `23:59:59`, or its samples taken in that second miss the upper end of
//! truth.
//!
//! Where the knowledge comes from: a leap second is announced by the
//! source (GPS broadcasts it weeks ahead; PTP's `leap61`/`leap59` flags in
//! the last twelve hours), so it is the master that applies the policy to
//! the interval it answers with.

use crate::{Interval, Timestamp, NANOS_PER_SEC};

/// Whether a leap second adds or removes a second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeapKind {
    /// `23:59:60` is inserted: the day has 86 401 s.
    Inserted,
    /// `23:59:59` is skipped: the day has 86 399 s.
    Deleted,
}

/// A leap second at the end of a UTC day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeapSecond {
    /// The POSIX instant of the midnight that ends the day with the leap
    /// (`00:00:00` of the next day).
    pub midnight: Timestamp,
    /// Inserted or deleted.
    pub kind: LeapKind,
}

/// The widening policy around one leap second; see the module
/// documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeapPolicy {
    /// The leap.
    pub leap: LeapSecond,
    /// How long before the leap (POSIX nanoseconds before `midnight`)
    /// intervals are widened.
    pub before_ns: i64,
    /// How long after the leap (POSIX nanoseconds after `midnight`)
    /// intervals are widened.
    pub after_ns: i64,
}

impl LeapPolicy {
    /// Widens `interval` if it comes near the leap.
    ///
    /// With `W = [midnight - before_ns, midnight + after_ns]`: an interval
    /// `[E, A]` that shares a point with `W` becomes
    ///
    /// ```text
    /// inserted:  [E - 1 s, A]
    /// deleted:   [E, A + 1 s]
    /// ```
    ///
    /// and any other is returned as it is.
    ///
    /// ```
    /// use tt_core::leap::{LeapKind, LeapPolicy, LeapSecond};
    /// use tt_core::{Interval, Timestamp};
    /// let midnight = 1_798_761_600 * 1_000_000_000; // 2027-01-01T00:00:00Z
    /// let policy = LeapPolicy {
    ///     leap: LeapSecond { midnight: Timestamp::from_unix_nanos(midnight), kind: LeapKind::Inserted },
    ///     before_ns: 600_000_000_000,
    ///     after_ns: 10_000_000_000,
    /// };
    /// let near = Interval::from_unix_nanos(midnight - 5, midnight + 5).unwrap();
    /// assert_eq!(policy.apply(near).earliest().unix_nanos(), midnight - 5 - 1_000_000_000);
    /// let far = Interval::from_unix_nanos(0, 10).unwrap();
    /// assert_eq!(policy.apply(far), far);
    /// ```
    pub fn apply(&self, interval: Interval) -> Interval {
        if !interval.overlaps(&self.window()) {
            return interval;
        }
        match self.leap.kind {
            LeapKind::Inserted => interval.widened(NANOS_PER_SEC, 0),
            LeapKind::Deleted => interval.widened(0, NANOS_PER_SEC),
        }
    }

    /// The window `[midnight - before_ns, midnight + after_ns]` (negative
    /// lengths taken as their magnitude).
    pub fn window(&self) -> Interval {
        Interval::around(self.leap.midnight, 0).widened(self.before_ns, self.after_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = NANOS_PER_SEC;
    /// 2027-01-01T00:00:00Z.
    const MIDNIGHT: i64 = 1_798_761_600 * S;

    fn policy(kind: LeapKind) -> LeapPolicy {
        LeapPolicy {
            leap: LeapSecond {
                midnight: Timestamp::from_unix_nanos(MIDNIGHT),
                kind,
            },
            before_ns: 600 * S,
            after_ns: 10 * S,
        }
    }

    fn iv(e: i64, l: i64) -> Interval {
        Interval::from_unix_nanos(e, l).unwrap()
    }

    /// The truth set of an inserted second at physical instant `tau`.
    fn inserted_truth(tau: i64) -> (i64, i64) {
        if tau < MIDNIGHT {
            (tau, tau)
        } else if tau < MIDNIGHT + S {
            (tau - S, tau)
        } else {
            (tau - S, tau - S)
        }
    }

    #[test]
    fn the_window_edges_count() {
        let p = policy(LeapKind::Inserted);
        // Touching the window's first instant widens; one nanosecond
        // before it does not.
        let start = MIDNIGHT - 600 * S;
        assert_eq!(p.apply(iv(start - 10, start)), iv(start - 10 - S, start));
        assert_eq!(
            p.apply(iv(start - 10, start - 1)),
            iv(start - 10, start - 1)
        );
        let end = MIDNIGHT + 10 * S;
        assert_eq!(p.apply(iv(end, end + 3)), iv(end - S, end + 3));
        assert_eq!(p.apply(iv(end + 1, end + 3)), iv(end + 1, end + 3));
    }

    #[test]
    fn a_deleted_second_widens_above() {
        let p = policy(LeapKind::Deleted);
        assert_eq!(
            p.apply(iv(MIDNIGHT - 2 * S, MIDNIGHT - S)),
            iv(MIDNIGHT - 2 * S, MIDNIGHT)
        );
    }

    #[test]
    fn an_interval_carried_across_an_inserted_second_holds_truth_once_widened() {
        // A 2 ms interval centred on physical time, measured 100 s before
        // the leap and carried on a perfect oscillator: it follows tau.
        let p = policy(LeapKind::Inserted);
        for tau in [
            MIDNIGHT - 100 * S,
            MIDNIGHT - 1,
            MIDNIGHT,
            MIDNIGHT + S / 2,
            MIDNIGHT + S - 1,
            MIDNIGHT + S,
            MIDNIGHT + 5 * S,
        ] {
            let carried = iv(tau - 1_000_000, tau + 1_000_000);
            let (lower, upper) = inserted_truth(tau);
            let widened = p.apply(carried);
            assert!(
                widened.earliest().unix_nanos() <= lower && upper <= widened.latest().unix_nanos(),
                "tau {tau}: {widened} misses [{lower}, {upper}]"
            );
            // Unwidened, it is wrong from the leap on.
            let holds = carried.earliest().unix_nanos() <= lower;
            assert_eq!(holds, tau < MIDNIGHT, "tau {tau}");
        }
    }

    #[test]
    fn a_sample_labelled_as_the_next_midnight_during_the_leap_holds_truth_once_widened() {
        // gpsd normalises 23:59:60 to 00:00:00: a sentence for the
        // inserted second arrives at tau = N + 200 ms with label N and a
        // delay range of [100 ms, 300 ms]: [N + 100 ms, N + 300 ms].
        let p = policy(LeapKind::Inserted);
        let tau = MIDNIGHT + 200_000_000;
        let sample = iv(MIDNIGHT + 100_000_000, MIDNIGHT + 300_000_000);
        let (lower, upper) = inserted_truth(tau);
        assert!(!sample.contains(Timestamp::from_unix_nanos(lower)));
        let widened = p.apply(sample);
        assert!(widened.contains(Timestamp::from_unix_nanos(lower)));
        assert!(widened.contains(Timestamp::from_unix_nanos(upper)));
    }
}
