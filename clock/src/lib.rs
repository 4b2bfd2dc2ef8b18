//! Clock reads: the only place truetime calls `clock_gettime`.
//!
//! The local timebase is `CLOCK_BOOTTIME`: monotonic, never stepped or
//! slewed by time daemons (its rate is the raw oscillator's, adjusted only
//! by the kernel's frequency correction), and it keeps counting while the
//! machine is suspended. The wall clock (`CLOCK_REALTIME`) is read only to
//! convert other programs' wall-clock stamps into the local timebase.
#![deny(missing_docs)]

use tt_core::LocalInstant;

/// Something that tells the local instant. The daemons use [`Boottime`];
/// simulations and tests supply their own.
pub trait LocalClock: Send + Sync {
    /// The current local instant.
    fn now(&self) -> LocalInstant;
}

/// The host's `CLOCK_BOOTTIME`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Boottime;

impl LocalClock for Boottime {
    #[inline]
    fn now(&self) -> LocalInstant {
        LocalInstant::from_nanos(read(libc::CLOCK_BOOTTIME))
    }
}

/// Reads `CLOCK_BOOTTIME` in nanoseconds.
#[inline]
pub fn boottime() -> LocalInstant {
    Boottime.now()
}

/// Reads `CLOCK_REALTIME` in nanoseconds since the Unix epoch, as the
/// kernel keeps it (which other daemons may step or slew).
pub fn realtime_ns() -> i64 {
    read(libc::CLOCK_REALTIME)
}

/// A wall-clock reading and a local reading taken back to back, with the
/// local timebase read on both sides so the pair's own uncertainty is
/// known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockPair {
    /// `CLOCK_REALTIME` in nanoseconds since the epoch.
    pub realtime_ns: i64,
    /// The local instant read just before the wall clock.
    pub local_before: LocalInstant,
    /// The local instant read just after the wall clock.
    pub local_after: LocalInstant,
}

impl ClockPair {
    /// Reads local, wall, local, in that order.
    pub fn read() -> Self {
        let local_before = boottime();
        let realtime_ns = realtime_ns();
        let local_after = boottime();
        ClockPair {
            realtime_ns,
            local_before,
            local_after,
        }
    }

    /// `realtime - local`, taken at the midpoint of the two local reads:
    /// the offset that maps the local timebase onto the wall clock.
    pub fn wall_minus_local_ns(&self) -> i64 {
        let mid = self.local_before.nanos() / 2 + self.local_after.nanos() / 2;
        self.realtime_ns.saturating_sub(mid)
    }

    /// How far apart the two local reads were, in nanoseconds: the pair's
    /// own uncertainty.
    pub fn spread_ns(&self) -> i64 {
        self.local_after.nanos_since(self.local_before)
    }
}

#[inline]
fn read(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call, and
    // the clock ids used here exist on every Linux since 2.6.39.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(
        rc, 0,
        "clock_gettime({clock}) failed: the kernel lacks this clock"
    );
    #[allow(clippy::useless_conversion)] // time_t and c_long are i32 on some targets
    let secs = i64::from(ts.tv_sec);
    #[allow(clippy::useless_conversion)]
    let nanos = i64::from(ts.tv_nsec);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boottime_is_monotonic_and_realtime_is_recent() {
        let a = boottime();
        let b = boottime();
        assert!(b >= a);
        // 2020-01-01T00:00:00Z: any host running this is later.
        assert!(realtime_ns() > 1_577_836_800 * 1_000_000_000);
        let pair = ClockPair::read();
        assert!(pair.spread_ns() >= 0);
    }
}
