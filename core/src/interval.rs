//! Closed intervals of true time.

use crate::Timestamp;
use std::fmt;

/// A closed interval `[earliest, latest]` of true time, both ends included.
///
/// The promise of the whole system is that the interval handed out contains
/// true time; the width `latest - earliest` is the price of that promise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Interval {
    earliest: Timestamp,
    latest: Timestamp,
}

/// Why a pair of ends is not an interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntervalError {
    /// `earliest` lies after `latest`.
    Inverted {
        /// The lower end given.
        earliest: Timestamp,
        /// The upper end given.
        latest: Timestamp,
    },
}

impl fmt::Display for IntervalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntervalError::Inverted { earliest, latest } => write!(
                f,
                "interval is inverted: earliest {earliest} lies after latest {latest}"
            ),
        }
    }
}

impl std::error::Error for IntervalError {}

impl Interval {
    /// The interval `[earliest, latest]`; an error if `earliest > latest`.
    #[inline]
    pub fn new(earliest: Timestamp, latest: Timestamp) -> Result<Self, IntervalError> {
        if earliest > latest {
            return Err(IntervalError::Inverted { earliest, latest });
        }
        Ok(Interval { earliest, latest })
    }

    /// Same as [`Interval::new`] on raw nanoseconds since the epoch.
    #[inline]
    pub fn from_unix_nanos(earliest: i64, latest: i64) -> Result<Self, IntervalError> {
        Interval::new(
            Timestamp::from_unix_nanos(earliest),
            Timestamp::from_unix_nanos(latest),
        )
    }

    /// The interval `[point - radius, point + radius]` (saturating). A
    /// negative radius is taken as its magnitude.
    pub fn around(point: Timestamp, radius_ns: i64) -> Self {
        let radius = radius_ns.saturating_abs();
        Interval {
            earliest: point.saturating_add_nanos(-radius),
            latest: point.saturating_add_nanos(radius),
        }
    }

    /// The lower end: true time is not before this.
    pub const fn earliest(&self) -> Timestamp {
        self.earliest
    }

    /// The upper end: true time is not after this.
    pub const fn latest(&self) -> Timestamp {
        self.latest
    }

    /// `latest - earliest` in nanoseconds (saturating).
    pub const fn width_ns(&self) -> i64 {
        self.latest
            .unix_nanos()
            .saturating_sub(self.earliest.unix_nanos())
    }

    /// The midpoint, rounded down.
    pub const fn midpoint(&self) -> Timestamp {
        let e = self.earliest.unix_nanos() as i128;
        let l = self.latest.unix_nanos() as i128;
        Timestamp::from_unix_nanos((e + l).div_euclid(2) as i64)
    }

    /// Whether `t` lies in the interval (ends included).
    pub fn contains(&self, t: Timestamp) -> bool {
        self.earliest <= t && t <= self.latest
    }

    /// Whether the two intervals share at least one point. Touching ends
    /// count: the intervals are closed.
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.earliest <= other.latest && other.earliest <= self.latest
    }

    /// The interval widened by `lower_ns` below and `upper_ns` above (both
    /// taken as magnitudes, saturating).
    pub fn widened(&self, lower_ns: i64, upper_ns: i64) -> Interval {
        Interval {
            earliest: self
                .earliest
                .saturating_add_nanos(-lower_ns.saturating_abs()),
            latest: self.latest.saturating_add_nanos(upper_ns.saturating_abs()),
        }
    }

    /// The interval moved by `delta_ns` (saturating at each end).
    pub fn shifted(&self, delta_ns: i64) -> Interval {
        Interval {
            earliest: self.earliest.saturating_add_nanos(delta_ns),
            latest: self.latest.saturating_add_nanos(delta_ns),
        }
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {}]", self.earliest, self.latest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_inverted() {
        assert!(Interval::from_unix_nanos(2, 1).is_err());
        let point = Interval::from_unix_nanos(5, 5).expect("a point is an interval");
        assert_eq!(point.width_ns(), 0);
        assert!(point.contains(Timestamp::from_unix_nanos(5)));
    }

    #[test]
    fn touching_intervals_overlap() {
        let a = Interval::from_unix_nanos(0, 10).unwrap();
        let b = Interval::from_unix_nanos(10, 20).unwrap();
        let c = Interval::from_unix_nanos(11, 20).unwrap();
        assert!(a.overlaps(&b));
        assert!(!a.overlaps(&c));
    }

    #[test]
    fn saturates_at_range_ends() {
        let wide = Interval::around(Timestamp::from_unix_nanos(i64::MAX - 1), 10);
        assert_eq!(wide.latest().unix_nanos(), i64::MAX);
        let full = Interval::from_unix_nanos(i64::MIN, i64::MAX).unwrap();
        assert_eq!(full.width_ns(), i64::MAX);
        assert_eq!(full.midpoint().unix_nanos(), -1);
    }
}
