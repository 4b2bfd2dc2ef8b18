//! A timestamp oracle: commit timestamps by Spanner's rules, read
//! timestamps, and a safe time.
//!
//! # Layout of a commit timestamp
//!
//! A commit timestamp is an `i64` of nanoseconds since the Unix epoch whose
//! low [`NODE_BITS`] (10) bits are the node id of the oracle that assigned
//! it:
//!
//! ```text
//!  bits 63..10                                | bits 9..0
//!  the instant, in units of 1024 ns           | node id, 0 to 1023
//! ```
//!
//! It is still an instant, read as a whole: `s` nanoseconds after the epoch,
//! with a resolution of 1.024 us per node. Two oracles with different node
//! ids can never assign the same value, because the low bits differ.
//!
//! # Rules
//!
//! For a commit asked for when the time source says `[earliest, latest]`,
//! the oracle assigns the smallest `s` that
//!
//! 1. is at least `latest` (Spanner's start rule: the commit's timestamp is
//!    not before true time when it was asked for),
//! 2. is larger than every timestamp this oracle assigned before (strictly
//!    increasing, whatever the source does),
//! 3. is larger than every safe time this oracle handed out (so the promise
//!    of [`TimestampOracle::safe_time`] holds even if the source steps
//!    back), and
//! 4. has the oracle's node id in its low 10 bits.
//!
//! Rounding up to the node's slot: with `slot = latest` with its low 10
//! bits cleared (the multiple of 1024 at or below it), `slot + node` is the
//! candidate if it is at least `latest`, else `slot + 1024 + node`. Either
//! way `latest <= s <= latest + 1023`: the node id costs at most 1.023 us.
//! Rules 2 and 3 then raise `s` to the next slot of this node above the
//! previous timestamp or the promised safe time.
//!
//! [`TimestampOracle::commit`] then commit-waits: it returns only once the
//! source shows `earliest > s`, so when a commit is acknowledged its
//! timestamp is surely in the past, and any transaction that starts after
//! the acknowledgement, anywhere, gets a larger timestamp (rule 1).
//!
//! # Reads
//!
//! A read-only transaction reads at `t_read = now().latest`
//! ([`TimestampOracle::read_timestamp`]): every commit acknowledged before
//! the read began has `s < t_read`, since its commit-wait ended with
//! `s < earliest <= true time <= t_read`.
//!
//! [`TimestampOracle::safe_time`] is the largest instant at or below which
//! no commit of this oracle will be assigned from now on:
//! `max(last assigned, now().earliest - 1 ns)`. Every later assignment is
//! above the last one (rule 2) and at least the `latest` of a reading taken
//! after this one, so at least true time now, which is at least
//! `earliest`; rule 3 makes this hold even for a source that steps back.
//! A snapshot read at `t` may be served from this oracle's commits once
//! `safe_time() >= t` and every commit already assigned at or below `t` has
//! been applied.

use crate::{TimeError, TimeSource};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use tt_core::Timestamp;

/// The number of low bits of a commit timestamp that hold the node id.
pub const NODE_BITS: u32 = 10;

/// The largest node id.
pub const MAX_NODE: u16 = (1 << NODE_BITS) - 1;

/// The spacing of one node's timestamps, in nanoseconds.
const SLOT_NS: i64 = 1 << NODE_BITS;
const NODE_MASK: i64 = SLOT_NS - 1;

/// Why the oracle could not do what was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OracleError {
    /// The node id does not fit in the low 10 bits.
    NodeOutOfRange {
        /// The node id given.
        node: u16,
    },
    /// The time source gave no interval, or its commit-wait failed.
    Time(TimeError),
    /// No timestamp is left: the next one would pass the end of `i64`
    /// nanoseconds (the year 2262).
    Exhausted,
}

impl fmt::Display for OracleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OracleError::NodeOutOfRange { node } => write!(
                f,
                "node id {node} is out of range: commit timestamps have 10 bits for it, 0 to \
                 {MAX_NODE}"
            ),
            OracleError::Time(error) => write!(f, "no time to assign timestamps from: {error}"),
            OracleError::Exhausted => write!(
                f,
                "no commit timestamp is left: the next would pass the end of 64-bit nanoseconds \
                 (year 2262); is the time source sane?"
            ),
        }
    }
}

impl std::error::Error for OracleError {}

/// A commit timestamp: nanoseconds since the Unix epoch, with the node id
/// of the oracle that assigned it in the low 10 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitTimestamp(i64);

impl CommitTimestamp {
    /// The commit timestamp whose raw value is `unix_ns` (for one read back
    /// from storage).
    pub const fn from_unix_nanos(unix_ns: i64) -> CommitTimestamp {
        CommitTimestamp(unix_ns)
    }

    /// Nanoseconds since the Unix epoch, node id included.
    pub const fn unix_nanos(self) -> i64 {
        self.0
    }

    /// The instant.
    pub const fn timestamp(self) -> Timestamp {
        Timestamp::from_unix_nanos(self.0)
    }

    /// The node id of the oracle that assigned it.
    pub const fn node(self) -> u16 {
        (self.0 & NODE_MASK) as u16
    }
}

impl fmt::Display for CommitTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (node {})", self.timestamp(), self.node())
    }
}

/// What the oracle remembers between calls.
#[derive(Debug)]
struct Assigned {
    /// The last commit timestamp assigned, if any.
    last: Option<i64>,
    /// The largest safe time handed out (`i64::MIN` before the first).
    promised_safe: i64,
}

/// Assigns commit timestamps for one node; see the [module](self) for the
/// rules. Thread-safe.
///
/// ```
/// # use std::sync::Arc;
/// # use tt_client::{TimeError, TimeSource};
/// # use tt_core::{Interval, Timestamp};
/// # struct Moving;
/// # impl TimeSource for Moving {
/// #     fn now(&self) -> Result<Interval, TimeError> {
/// #         let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
/// #         Ok(Interval::around(Timestamp::from_unix_nanos(t.as_nanos() as i64), 100_000))
/// #     }
/// # }
/// # fn main() -> Result<(), tt_client::oracle::OracleError> {
/// use tt_client::oracle::TimestampOracle;
/// let source: Arc<dyn TimeSource> = Arc::new(Moving); // in production, the TrueTime handle
/// let oracle = TimestampOracle::new(5, source.clone())?;
/// let s = oracle.commit()?; // returns once s is surely in the past
/// assert_eq!(s.node(), 5);
/// assert!(source.now().unwrap().earliest() > s.timestamp());
/// assert!(oracle.read_timestamp()? > s.timestamp());
/// # Ok(()) }
/// ```
pub struct TimestampOracle {
    node: u16,
    source: Arc<dyn TimeSource>,
    assigned: Mutex<Assigned>,
}

impl TimestampOracle {
    /// An oracle for node `node` (0 to 1023; unique among the oracles whose
    /// timestamps may meet) reading time from `source`.
    pub fn new(node: u16, source: Arc<dyn TimeSource>) -> Result<TimestampOracle, OracleError> {
        if node > MAX_NODE {
            return Err(OracleError::NodeOutOfRange { node });
        }
        Ok(TimestampOracle {
            node,
            source,
            assigned: Mutex::new(Assigned {
                last: None,
                promised_safe: i64::MIN,
            }),
        })
    }

    /// The node id in every timestamp assigned here.
    pub fn node(&self) -> u16 {
        self.node
    }

    /// Assigns a commit timestamp without waiting: for a caller that
    /// overlaps the commit-wait with other work, and then must not
    /// acknowledge the commit before `source.wait_until_after(s)` returns.
    /// [`TimestampOracle::commit`] does both.
    pub fn assign(&self) -> Result<CommitTimestamp, OracleError> {
        // The lock is held across the reading so that assignments and safe
        // times are ordered: one reading, one decision, one at a time.
        let mut assigned = self.lock();
        let interval = self.source.now().map_err(OracleError::Time)?;

        let mut s = self.slot_at_or_above(interval.latest().unix_nanos())?;
        if let Some(last) = assigned.last {
            s = s.max(last.checked_add(SLOT_NS).ok_or(OracleError::Exhausted)?);
        }
        if assigned.promised_safe != i64::MIN {
            let above = assigned.promised_safe.checked_add(1);
            s = s.max(self.slot_at_or_above(above.ok_or(OracleError::Exhausted)?)?);
        }
        assigned.last = Some(s);
        Ok(CommitTimestamp(s))
    }

    /// Assigns a commit timestamp and commit-waits: returns only once the
    /// source shows `earliest > s`, so the commit may be acknowledged.
    pub fn commit(&self) -> Result<CommitTimestamp, OracleError> {
        let s = self.assign()?;
        let after = self
            .source
            .wait_until_after(s.timestamp())
            .map_err(OracleError::Time)?;
        // Acknowledging early would break external consistency silently;
        // the source's promise is checked rather than trusted.
        if after.earliest() <= s.timestamp() {
            return Err(OracleError::Time(TimeError::Unavailable(format!(
                "the time source's commit-wait for {} returned with earliest {}, not after it",
                s.timestamp(),
                after.earliest()
            ))));
        }
        Ok(s)
    }

    /// The timestamp for a read-only transaction starting now:
    /// `now().latest`, at or above every commit acknowledged before.
    pub fn read_timestamp(&self) -> Result<Timestamp, OracleError> {
        Ok(self.source.now().map_err(OracleError::Time)?.latest())
    }

    /// The largest instant at or below which this oracle will assign no
    /// commit timestamp from now on: `max(last assigned, now().earliest -
    /// 1 ns)`; see the [module](self).
    pub fn safe_time(&self) -> Result<Timestamp, OracleError> {
        let mut assigned = self.lock();
        let interval = self.source.now().map_err(OracleError::Time)?;
        let below_now = interval.earliest().unix_nanos().saturating_sub(1);
        let safe = assigned
            .last
            .map_or(below_now, |last| last.max(below_now))
            .max(assigned.promised_safe);
        assigned.promised_safe = safe;
        Ok(Timestamp::from_unix_nanos(safe))
    }

    /// The smallest value at or above `at_least` with this node id in its
    /// low bits.
    fn slot_at_or_above(&self, at_least: i64) -> Result<i64, OracleError> {
        // Clearing the low bits of a two's complement value rounds it down,
        // negative values included.
        let candidate = (at_least & !NODE_MASK) | i64::from(self.node);
        if candidate >= at_least {
            Ok(candidate)
        } else {
            candidate.checked_add(SLOT_NS).ok_or(OracleError::Exhausted)
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Assigned> {
        // The state is two integers written together after every check:
        // a panic elsewhere cannot leave it half-updated.
        self.assigned.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for TimestampOracle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimestampOracle")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_bits_hold_1024_nodes() {
        assert_eq!(MAX_NODE, 1023);
        assert_eq!(CommitTimestamp::from_unix_nanos(2048 + 1023).node(), 1023);
        // -24 is -1024 + 1000: the low bits of a negative value still name
        // the node.
        assert_eq!(CommitTimestamp::from_unix_nanos(-24).node(), 1000);
    }
}
