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
    fn wait_until_after(&self, t: Timestamp) -> Result<Interval, TimeError> {
        loop {
            let interval = self.now()?;
            if interval.earliest() > t {
                return Ok(interval);
            }
            let to_go_ns = t
                .unix_nanos()
                .saturating_sub(interval.earliest().unix_nanos())
                .saturating_add(1);
            // Never spin: at least 10 us, at most 100 ms before looking again.
            let nap = u64::try_from(to_go_ns)
                .unwrap_or(0)
                .clamp(10_000, 100_000_000);
            std::thread::sleep(Duration::from_nanos(nap));
        }
    }
}
