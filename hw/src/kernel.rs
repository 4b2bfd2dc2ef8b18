//! The kernel clock source: what the kernel itself says of the wall clock's
//! error, as an NTP or PTP daemon keeps it.
//!
//! `adjtimex(2)` with `modes = 0` only reads. Among what it returns:
//!
//! * `maxerror` (µs): the maximum error of `CLOCK_REALTIME` against true
//!   time. The disciplining daemon sets it (ntpd and chronyd from the root
//!   distance of RFC 5905: root delay / 2 + root dispersion) and the kernel
//!   adds 500 µs every second after (`MAXFREQ`, 500 ppm, in
//!   `second_overflow()`, kernel/time/ntp.c), so it stays a bound while the
//!   daemon is silent. At 16 s (`NTP_PHASE_LIMIT`) the kernel gives up and
//!   sets `STA_UNSYNC`.
//! * `esterror` (µs): the daemon's estimate of the error; a statistic, not
//!   a bound, so it is only logged.
//! * `status`: `STA_UNSYNC` set means no daemon vouches for the clock.
//! * the return value: the clock state; `TIME_ERROR` means unsynchronized,
//!   `TIME_OOP` a leap second in progress.
//!
//! The sample is in [`kernel_interval`].

use crate::{Health, SourceCell};
use std::fmt;
use std::io;
use std::time::Duration;
use tt_clock::ClockPair;
use tt_core::{Interval, Sample};

/// One `adjtimex` read, the fields this source uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelReading {
    /// The return value: the clock state (`TIME_OK`, `TIME_ERROR`, ...).
    pub state: i32,
    /// `status` bits (`STA_UNSYNC`, ...).
    pub status: i32,
    /// Maximum error, µs.
    pub maxerror_us: i64,
    /// Estimated error, µs.
    pub esterror_us: i64,
}

impl KernelReading {
    /// Whether the kernel marks the clock unsynchronized.
    pub fn unsynchronized(&self) -> bool {
        self.status & libc::STA_UNSYNC != 0 || self.state == libc::TIME_ERROR
    }
}

/// Why the kernel clock gives no sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoSample {
    /// `STA_UNSYNC` or `TIME_ERROR`.
    Unsynchronized,
    /// `TIME_OOP`: the wall clock is inside an inserted leap second, where
    /// the same Unix time names two instants.
    LeapSecond,
    /// A negative `maxerror`.
    ImplausibleMaxError(i64),
}

impl fmt::Display for NoSample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoSample::Unsynchronized => write!(
                f,
                "kernel clock is unsynchronized (no NTP/PTP daemon disciplines it)"
            ),
            NoSample::LeapSecond => {
                write!(
                    f,
                    "kernel clock is inside a leap second; no sample until it ends"
                )
            }
            NoSample::ImplausibleMaxError(us) => {
                write!(f, "kernel reports a negative maximum error ({us} us)")
            }
        }
    }
}

/// The sample the kernel clock gives, from two readings taken around one
/// clock pair (`before`, then `pair`, then `after`).
///
/// With `R` the pair's wall-clock reading, `s` its spread (local after -
/// local before, ns) and `m = max(maxerror_before, maxerror_after) * 1000`
/// ns, at the pair's local midpoint:
///
/// ```text
/// earliest = R - m - s
/// latest   = R + m + s
/// ```
///
/// `maxerror` bounds |wall clock - true time| (adjtimex(2); RFC 5905's
/// root distance as the daemon set it, grown by the kernel at 500 ppm). It
/// is a step
/// function (the kernel adds 500 µs once a second), so a single read before
/// or after the pair could miss a step; the larger of the two reads around
/// it bounds the error at the pair, since between daemon updates maxerror
/// only grows and an update makes it smaller. `s` covers the wall-clock
/// read lying anywhere between the two local reads. If either read is
/// unsynchronized, or in a leap second, there is no sample.
pub fn kernel_interval(
    before: &KernelReading,
    pair: &ClockPair,
    after: &KernelReading,
) -> Result<Sample, NoSample> {
    for reading in [before, after] {
        if reading.unsynchronized() {
            return Err(NoSample::Unsynchronized);
        }
        if reading.state == libc::TIME_OOP {
            return Err(NoSample::LeapSecond);
        }
        if reading.maxerror_us < 0 {
            return Err(NoSample::ImplausibleMaxError(reading.maxerror_us));
        }
    }
    let maxerror_ns = before
        .maxerror_us
        .max(after.maxerror_us)
        .saturating_mul(1_000);
    let radius_ns = maxerror_ns.saturating_add(pair.spread_ns().saturating_abs());
    let local = pair
        .local_before
        .saturating_add_nanos(pair.local_after.nanos_since(pair.local_before) / 2);
    let interval = Interval::around(
        tt_core::Timestamp::from_unix_nanos(pair.realtime_ns),
        radius_ns,
    );
    Ok(Sample::new(local, interval))
}

/// Reads the kernel's clock state without changing it (`modes = 0`).
pub fn read_kernel_clock() -> io::Result<KernelReading> {
    // SAFETY: `timex` is plain data for which all-zero bytes are a valid
    // value (and `modes = 0` asks for a read only); the pointer is to a
    // live, exclusively borrowed local that outlives the call.
    let (state, t) = unsafe {
        let mut t: libc::timex = std::mem::zeroed();
        let state = libc::adjtimex(&mut t);
        (state, t)
    };
    if state < 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::useless_conversion)] // c_long is i32 on some targets
    Ok(KernelReading {
        state,
        status: t.status,
        maxerror_us: i64::from(t.maxerror),
        esterror_us: i64::from(t.esterror),
    })
}

/// One poll: read, pair, read.
fn poll() -> io::Result<(Result<Sample, NoSample>, KernelReading)> {
    let before = read_kernel_clock()?;
    let pair = ClockPair::read();
    let after = read_kernel_clock()?;
    Ok((kernel_interval(&before, &pair, &after), after))
}

/// Runs the kernel clock source forever, polling every `poll_interval`.
pub async fn run(poll_interval: Duration, cell: SourceCell) {
    use tracing::Instrument;
    let name = cell.snapshot().name;
    poll_forever(poll_interval, cell)
        .instrument(tracing::info_span!("kernel", source = %name))
        .await
}

async fn poll_forever(poll_interval: Duration, cell: SourceCell) {
    let mut ticker = tokio::time::interval(poll_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut good = false;
    loop {
        ticker.tick().await;
        match poll() {
            Ok((Ok(sample), reading)) => {
                let width_us = sample.interval.width_ns() / 1_000;
                cell.publish(
                    sample,
                    format!(
                        "maxerror {} us, esterror {} us",
                        reading.maxerror_us, reading.esterror_us
                    ),
                );
                if !good {
                    good = true;
                    tracing::info!(
                        maxerror_us = reading.maxerror_us,
                        esterror_us = reading.esterror_us,
                        "kernel clock synchronized"
                    );
                }
                tracing::debug!(
                    width_us,
                    maxerror_us = reading.maxerror_us,
                    esterror_us = reading.esterror_us,
                    "kernel sample"
                );
            }
            Ok((Err(no_sample), reading)) => {
                good = false;
                let detail = no_sample.to_string();
                if cell.lose(Health::NoData, detail.clone()) {
                    tracing::info!(
                        reason = %detail,
                        status = reading.status,
                        state = reading.state,
                        maxerror_us = reading.maxerror_us,
                        "no time from the kernel clock"
                    );
                }
            }
            Err(e) => {
                good = false;
                let detail = format!("adjtimex failed: {e}; is it blocked by a sandbox?");
                if cell.lose(Health::Down, detail.clone()) {
                    tracing::info!(error = %e, "cannot read the kernel clock state");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tt_core::LocalInstant;

    fn synced(maxerror_us: i64) -> KernelReading {
        KernelReading {
            state: libc::TIME_OK,
            status: libc::STA_PLL,
            maxerror_us,
            esterror_us: 3,
        }
    }

    fn pair() -> ClockPair {
        ClockPair {
            realtime_ns: 1_790_000_000_000_000_000,
            local_before: LocalInstant::from_nanos(5_000),
            local_after: LocalInstant::from_nanos(5_200),
        }
    }

    #[test]
    fn synchronized_clock_gives_maxerror_around_the_reading() {
        let sample = kernel_interval(&synced(1_500), &pair(), &synced(2_000)).unwrap();
        // The larger maxerror (2000 us) plus the 200 ns spread, each side,
        // at the midpoint of the local reads.
        assert_eq!(sample.local, LocalInstant::from_nanos(5_100));
        assert_eq!(
            sample.interval.earliest().unix_nanos(),
            1_790_000_000_000_000_000 - 2_000_000 - 200
        );
        assert_eq!(
            sample.interval.latest().unix_nanos(),
            1_790_000_000_000_000_000 + 2_000_000 + 200
        );
    }

    #[test]
    fn unsynchronized_gives_nothing() {
        let mut unsync = synced(100);
        unsync.status |= libc::STA_UNSYNC;
        assert_eq!(
            kernel_interval(&synced(100), &pair(), &unsync),
            Err(NoSample::Unsynchronized)
        );
        let mut error = synced(100);
        error.state = libc::TIME_ERROR;
        assert_eq!(
            kernel_interval(&error, &pair(), &synced(100)),
            Err(NoSample::Unsynchronized)
        );
        let mut leap = synced(100);
        leap.state = libc::TIME_OOP;
        assert_eq!(
            kernel_interval(&synced(100), &pair(), &leap),
            Err(NoSample::LeapSecond)
        );
        assert_eq!(
            kernel_interval(&synced(-1), &pair(), &synced(100)),
            Err(NoSample::ImplausibleMaxError(-1))
        );
        assert_eq!(
            NoSample::Unsynchronized.to_string(),
            "kernel clock is unsynchronized (no NTP/PTP daemon disciplines it)"
        );
    }

    /// The real system call on this host. Whatever the host's state, the
    /// reading must be self-consistent, and the pure part must agree with
    /// it: a sample exactly when the kernel says synchronized, and then
    /// one that contains the wall clock's own reading.
    #[test]
    fn reads_this_hosts_kernel_clock() {
        let (result, reading) = poll().expect("adjtimex(modes = 0) is allowed to anyone");
        assert!(reading.maxerror_us >= 0, "{reading:?}");
        assert!(reading.state >= 0, "{reading:?}");
        match result {
            Ok(sample) => {
                assert!(!reading.unsynchronized(), "{reading:?}");
                assert!(sample.interval.width_ns() >= 2 * reading.maxerror_us * 1_000);
            }
            Err(NoSample::Unsynchronized) => assert!(reading.unsynchronized(), "{reading:?}"),
            Err(other) => panic!("unexpected {other:?} from {reading:?}"),
        }
    }

    #[tokio::test]
    async fn run_reports_the_hosts_state_into_the_cell() {
        let cell = SourceCell::new("kernel", "kernel");
        let task = tokio::spawn(run(Duration::from_millis(10), cell.clone()));
        let mut state = cell.snapshot();
        for _ in 0..300 {
            if state.health != Health::Starting {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            state = cell.snapshot();
        }
        task.abort();
        let reading = read_kernel_clock().unwrap();
        if reading.unsynchronized() {
            assert_eq!(state.health, Health::NoData);
            assert_eq!(
                state.detail,
                "kernel clock is unsynchronized (no NTP/PTP daemon disciplines it)"
            );
            assert!(state.last.is_none());
        } else {
            assert_eq!(state.health, Health::Good);
            assert!(state.last.is_some());
        }
    }
}
