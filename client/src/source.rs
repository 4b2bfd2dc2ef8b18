//! The one thing the time-ordering tools (commit-wait, ids, timestamps)
//! need from TrueTime, as a trait, so each can be tested against a time
//! source whose behaviour the test chooses.

use std::fmt;
use std::time::Duration;
use tt_core::{Interval, Timestamp};

/// Why no interval could be had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeError {
    /// The service says it cannot vouch for any interval.
    Unsynchronized(String),
    /// The service could not be reached or read.
    Unavailable(String),
}

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeError::Unsynchronized(reason) => write!(f, "unsynchronized: {reason}"),
            TimeError::Unavailable(reason) => write!(f, "time service unavailable: {reason}"),
        }
    }
}

impl std::error::Error for TimeError {}

/// A source of `TT.now()` intervals.
pub trait TimeSource: Send + Sync {
    /// An interval that contains true time at some instant during the call.
    fn now(&self) -> Result<Interval, TimeError>;

    /// Commit-wait: returns only once true time is surely past `t`, that
    /// is with an interval read after the wait whose `earliest > t`; the
    /// interval is returned.
    ///
    /// This provided version sleeps for the distance still to go, which
    /// is at least how long true time needs to cover it at any rate within
    /// the drift bound only when the source's interval moves with true
    /// time; implementations that know their drift bound and local clock
    /// override it with a precise sleep.
    ///
    /// A source whose `earliest` moves with true time covers the first
    /// distance `D` in about `D` of the host's monotonic time. One that
    /// has not after `2 D + 1 s` is stuck (its clock stopped, or it keeps
    /// giving one answer): the wait then ends with
    /// [`TimeError::Unavailable`] instead of never.
    fn wait_until_after(&self, t: Timestamp) -> Result<Interval, TimeError> {
        let started = std::time::Instant::now();
        let mut patience = None;
        loop {
            let interval = self.now()?;
            if interval.earliest() > t {
                return Ok(interval);
            }
            let to_go_ns = u64::try_from(
                t.unix_nanos()
                    .saturating_sub(interval.earliest().unix_nanos())
                    .saturating_add(1),
            )
            .unwrap_or(0);
            let patience = *patience.get_or_insert_with(|| {
                Duration::from_nanos(to_go_ns.saturating_mul(2)) + Duration::from_secs(1)
            });
            if started.elapsed() > patience {
                return Err(TimeError::Unavailable(format!(
                    "earliest stayed at or before {t} for {patience:?}, twice the distance it \
                     had to go plus a second: the time source's clock does not advance"
                )));
            }
            // Never spin: at least 10 us, at most 100 ms before looking again.
            let nap = to_go_ns.clamp(10_000, 100_000_000);
            std::thread::sleep(Duration::from_nanos(nap));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that gives one interval for ever.
    struct Frozen(Interval);

    impl TimeSource for Frozen {
        fn now(&self) -> Result<Interval, TimeError> {
            Ok(self.0)
        }
    }

    #[test]
    fn a_source_whose_clock_stopped_ends_the_wait_with_an_error() {
        let interval = Interval::from_unix_nanos(1_000_000, 1_000_100).expect("ordered");
        let source = Frozen(interval);
        // Already past: at once.
        assert_eq!(
            source.wait_until_after(Timestamp::from_unix_nanos(999_999)),
            Ok(interval)
        );
        // 1 ms to go that never goes: an error after 2 ms + 1 s, not a
        // wait without end.
        let error = source
            .wait_until_after(Timestamp::from_unix_nanos(2_000_000))
            .expect_err("a stopped clock never passes t");
        assert!(
            matches!(&error, TimeError::Unavailable(why) if why.contains("does not advance")),
            "{error}"
        );
    }
}
