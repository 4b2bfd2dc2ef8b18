//! Commit-wait: return only once true time is surely past `t`, that is
//! once `now().earliest > t`, sleeping precisely instead of spinning.
//!
//! # When `earliest` passes `t`
//!
//! The record says: at local instant `L0` true time lay in `[E0, A0]`, and
//! the local clock's rate error is at most `rho` (`rho_ppb / 10^9`). At
//! `L = L0 + d`, `d >= 0` nanoseconds, [`tt_core::Sample::at`] gives
//!
//! ```text
//! earliest(L) = E0 + d - ceil(d rho)
//! ```
//!
//! (rounded down, against us). We need `earliest(L) > t`, that is, in
//! integers, `d - ceil(d rho) >= n` with `n = t - E0 + 1`. If `n <= 0`,
//! `d = 0` does. Otherwise the least such `d` is
//!
//! ```text
//! d* = ceil(n / (1 - rho)) = ceil(n * 10^9 / (10^9 - rho_ppb))
//! ```
//!
//! Why: `d*` satisfies `d* (1 - rho) >= n`, and `ceil(d* rho) < d* rho + 1`,
//! so `d* - ceil(d* rho) > d* (1 - rho) - 1 >= n - 1`; being an integer, it
//! is `>= n`. Any `d < d*` has `d (1 - rho) < n`, and `d - ceil(d rho) <=
//! d (1 - rho) < n`. So `L* = L0 + d*` is the first local instant at which
//! this record's `earliest` exceeds `t` (computed in 128-bit integers,
//! rounded up). `rho >= 1` means `earliest` never advances: an error.
//!
//! # How the wait runs
//!
//! 1. Copy the record, read the clock, compute `now()`; if `earliest > t`,
//!    return that interval. Otherwise compute `L*` from this copy.
//! 2. Until the spin window before `L*` (at most `MAX_NAP_NS` at a
//!    time), sleep with `clock_nanosleep(CLOCK_BOOTTIME, TIMER_ABSTIME)`:
//!    an absolute deadline on the very clock the record is stamped with, so
//!    neither a slow wake-up nor a suspend in between shortens the wait.
//!    The thread's timer slack is lowered to 1 ns for the sleep and put
//!    back after, so the kernel does not defer the wake-up by its default
//!    50 us.
//! 3. Go back to 1: the record may have been renewed meanwhile (a newer
//!    sample can move `L*` either way), or gone void (an error).
//! 4. Within the spin window of `L*`, spin on the clock (vDSO reads, no
//!    system call) until `L*`, then go back to 1.
//!
//! # The spin window
//!
//! A sleep ends late by the kernel's and the hypervisor's wake-up latency:
//! a few microseconds on an idle bare-metal host, 30 to 90 us in the
//! virtual machines this was measured on, milliseconds when every CPU is
//! busy. The window must cover that latency for the wait to end close to
//! `L*`, and every microsecond of it is a microsecond of a CPU spent
//! spinning. So it is learnt: every sleep measures how late it woke, and
//! [`WakeLatency`] keeps an estimate of the 99.5th percentile of those
//! lateness figures for the process. The window is that estimate plus
//! `SPIN_MARGIN_NS`, kept within `[MIN_SPIN_NS, MAX_SPIN_NS]` so that a
//! host whose wake-ups take milliseconds spins at most 250 us per wait.
//!
//! The only way out with an interval is step 1 with `earliest > t`, on an
//! interval computed exactly as `now()` computes it: the sleeps decide only
//! how long it takes, never whether it returns early.

use crate::shm::RecordMap;
use crate::truetime::{Backend, TrueTime, TrueTimeError};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tt_core::shm::{interval_from, Published};
use tt_core::{Drift, Interval, LocalInstant, Sample, Timestamp};

/// Added to the learnt wake-up latency to make the spin window,
/// nanoseconds.
const SPIN_MARGIN_NS: i64 = 5_000;

/// The shortest spin window, nanoseconds.
const MIN_SPIN_NS: i64 = 10_000;

/// The longest spin window, nanoseconds: the most CPU a wait spends
/// spinning, however late the host's wake-ups are.
const MAX_SPIN_NS: i64 = 250_000;

/// Every sleep's lateness, for the whole process.
static WAKE_LATENCY: WakeLatency = WakeLatency::new();

/// The longest single sleep, nanoseconds: the record is looked at again at
/// least this often, so a renewed record is used and a void one noticed.
const MAX_NAP_NS: i64 = 100_000_000;

/// For gRPC, the rate bound used to plan the next look at the server
/// (200 ppm). Planning only: a server with a wider bound makes the wait
/// take one more round trip, never end early.
const PLAN_DRIFT: Drift = Drift::DEFAULT;

/// In the async wait, the last stretch before `L*` handed to a blocking
/// thread, nanoseconds: tokio's timer has millisecond resolution.
const ASYNC_HANDOVER_NS: i64 = 2_000_000;

/// The first local instant at which `sample`, carried forward with
/// `drift`, has `earliest > t`: `L0 + ceil(n * 10^9 / (10^9 - rho_ppb))`,
/// `n = t - E0 + 1`, or `L0` if `n <= 0` (see the module documentation).
/// `None` if `rho >= 100 %` or the instant does not fit in an `i64`.
pub fn first_instant_after(sample: Sample, drift: Drift, t: Timestamp) -> Option<LocalInstant> {
    const BILLION: u128 = 1_000_000_000;
    let ppb = u128::from(drift.ppb());
    if ppb >= BILLION {
        // `earliest` does not advance, whatever `t` is: even one already
        // passed at `L0` is not passed later.
        return None;
    }
    let needed_ns =
        i128::from(t.unix_nanos()) - i128::from(sample.interval.earliest().unix_nanos()) + 1;
    if needed_ns <= 0 {
        return Some(sample.local);
    }
    // Both factors are below 2^65 and 2^30: the product fits in 128 bits.
    let needed_ns = needed_ns.unsigned_abs();
    let span_ns = (needed_ns * BILLION).div_ceil(BILLION - ppb);
    let span_ns = i64::try_from(span_ns).ok()?;
    let local = sample.local.nanos().checked_add(span_ns)?;
    Some(LocalInstant::from_nanos(local))
}

/// One look at the record: done, or the local instant to look again at.
enum Step {
    Done(Interval),
    Until(LocalInstant),
}

/// Step 1 of the module documentation on the shared-memory record.
fn step(map: &RecordMap, t: Timestamp) -> Result<Step, TrueTimeError> {
    let published = map.read()?;
    let now = tt_clock::boottime();
    let interval = interval_from(published, now, map.boot())?;
    if interval.earliest() > t {
        return Ok(Step::Done(interval));
    }
    let Published::Synchronized { sample, drift, .. } = published else {
        // interval_from gives an interval only for a synchronized record.
        return Err(TrueTimeError::Record(
            tt_core::shm::ShmError::Unsynchronized,
        ));
    };
    let target = first_instant_after(sample, drift, t).ok_or_else(|| {
        TrueTimeError::CannotWait(format!(
            "with a drift bound of {} ppb, earliest never passes {t}",
            drift.ppb()
        ))
    })?;
    Ok(Step::Until(
        target.min(now.saturating_add_nanos(MAX_NAP_NS)),
    ))
}

/// Steps 2 and 4: sleep until the spin window before `wake`, or, when
/// already that close, spin until `wake`.
fn pause_until(wake: LocalInstant) {
    let window_ns = WAKE_LATENCY.spin_window_ns();
    let left_ns = wake.nanos_since(tt_clock::boottime());
    if left_ns > window_ns {
        let deadline = wake.saturating_add_nanos(-window_ns);
        if sleep::until(deadline) {
            WAKE_LATENCY.observe(tt_clock::boottime().nanos_since(deadline));
        }
        return;
    }
    while tt_clock::boottime() < wake {
        std::hint::spin_loop();
    }
}

/// An estimate of the 99.5th percentile of how late this process's sleeps
/// wake, nanoseconds, kept by the frugal streaming rule (Ma, Muthukrishnan
/// and Sandler, "Frugal Streaming for Estimating Quantiles", 2013): each
/// observation above the estimate raises it by `UP_NS`, each one at or
/// below lowers it by `DOWN_NS`. It settles where raising and lowering
/// balance, `P(late > estimate) * UP_NS = P(late <= estimate) * DOWN_NS`,
/// that is at the quantile `q` with `1 - q = DOWN_NS / (UP_NS + DOWN_NS)
/// = 0.005`. One word, updated without locks by every waiting thread; a
/// lost update only delays the estimate by one step. It decides only how
/// long a wait sleeps before it spins, never whether it returns.
struct WakeLatency {
    estimate_ns: AtomicI64,
}

impl WakeLatency {
    /// Where the estimate starts: above the wake-up latency of a virtual
    /// machine at rest, so that the first waits of a process already end
    /// on time; on a quicker host it falls 0.1 us with every sleep.
    const INITIAL_NS: i64 = 100_000;
    /// The rise for a sleep that woke later than the estimate.
    const UP_NS: i64 = 19_900;
    /// The fall for a sleep that woke no later than the estimate.
    const DOWN_NS: i64 = 100;
    /// The estimate's ceiling: far above the longest spin window, low
    /// enough that a burst of very late wake-ups is forgotten in a few
    /// hundred sleeps.
    const CEILING_NS: i64 = 2 * MAX_SPIN_NS;

    /// An estimate at its starting value.
    const fn new() -> WakeLatency {
        WakeLatency {
            estimate_ns: AtomicI64::new(Self::INITIAL_NS),
        }
    }

    /// Takes in one sleep that woke `late_ns` after its deadline (a
    /// negative figure, a sleep cut short by a signal, counts as on time).
    fn observe(&self, late_ns: i64) {
        let estimate = self.estimate_ns.load(Ordering::Relaxed);
        let next = if late_ns > estimate {
            estimate.saturating_add(Self::UP_NS)
        } else {
            estimate.saturating_sub(Self::DOWN_NS)
        };
        self.estimate_ns
            .store(next.clamp(0, Self::CEILING_NS), Ordering::Relaxed);
    }

    /// The current estimate, nanoseconds.
    fn estimate_ns(&self) -> i64 {
        self.estimate_ns.load(Ordering::Relaxed)
    }

    /// How long before `L*` to stop sleeping and start spinning:
    /// `clamp(estimate + SPIN_MARGIN_NS, MIN_SPIN_NS, MAX_SPIN_NS)`.
    fn spin_window_ns(&self) -> i64 {
        (self.estimate_ns() + SPIN_MARGIN_NS).clamp(MIN_SPIN_NS, MAX_SPIN_NS)
    }
}

/// The spin window the process's waits use now, nanoseconds (see the
/// module documentation): what the commit-wait benchmark reports beside
/// the overshoot it measured.
pub fn spin_window_ns() -> i64 {
    WAKE_LATENCY.spin_window_ns()
}

impl TrueTime {
    /// Commit-wait: blocks until `now().earliest > t` and returns that
    /// interval. It never returns earlier; it fails if the time service
    /// does (the record turns unsynchronized or void while waiting).
    ///
    /// On shared memory it sleeps to within the spin window of the first
    /// instant it may return and spins the rest (see the module
    /// documentation); over gRPC it sleeps for the distance still to go
    /// (at the 200 ppm planning bound) and asks again.
    pub fn wait_until_after(&self, t: Timestamp) -> Result<Interval, TrueTimeError> {
        match &*self.backend {
            Backend::Shm(map) => loop {
                match step(map, t)? {
                    Step::Done(interval) => return Ok(interval),
                    Step::Until(wake) => pause_until(wake),
                }
            },
            Backend::Grpc(grpc) => loop {
                let interval = grpc.now()?;
                match grpc_plan(&interval, t) {
                    None => return Ok(interval),
                    Some(nap) => std::thread::sleep(nap),
                }
            },
        }
    }

    /// Commit-wait for async code (needs a tokio runtime): as
    /// [`TrueTime::wait_until_after`], awaiting tokio's timer for the bulk
    /// of the wait and finishing the last `ASYNC_HANDOVER_NS` (2 ms) on a
    /// blocking thread, where the precise sleep and spin run. Tokio's
    /// timer does not count time suspended; a suspend can only make the
    /// wait longer.
    pub async fn wait_until_after_async(&self, t: Timestamp) -> Result<Interval, TrueTimeError> {
        match &*self.backend {
            Backend::Shm(map) => loop {
                let wake = match step(map, t)? {
                    Step::Done(interval) => return Ok(interval),
                    Step::Until(wake) => wake,
                };
                let left_ns = wake.nanos_since(tt_clock::boottime());
                if left_ns <= ASYNC_HANDOVER_NS {
                    let handle = self.clone();
                    return tokio::task::spawn_blocking(move || handle.wait_until_after(t))
                        .await
                        .map_err(|e| {
                            TrueTimeError::CannotWait(format!("the waiting thread failed: {e}"))
                        })?;
                }
                let nap_ns = left_ns - ASYNC_HANDOVER_NS;
                tokio::time::sleep(Duration::from_nanos(nap_ns.unsigned_abs())).await;
            },
            Backend::Grpc(grpc) => loop {
                let interval = grpc.now_async().await?;
                match grpc_plan(&interval, t) {
                    None => return Ok(interval),
                    Some(nap) => tokio::time::sleep(nap).await,
                }
            },
        }
    }
}

/// Over gRPC: `None` if `interval.earliest > t`, else how long to sleep
/// before asking again: the local time `earliest` needs to pass `t` at the
/// planning bound, `ceil(n / (1 - rho))` for `n = t - earliest + 1`, at
/// least 10 us and at most `MAX_NAP_NS`.
fn grpc_plan(interval: &Interval, t: Timestamp) -> Option<Duration> {
    if interval.earliest() > t {
        return None;
    }
    let at_earliest = Sample::new(LocalInstant::from_nanos(0), *interval);
    let span_ns =
        first_instant_after(at_earliest, PLAN_DRIFT, t).map_or(MAX_NAP_NS, |local| local.nanos());
    Some(Duration::from_nanos(
        span_ns.clamp(10_000, MAX_NAP_NS).unsigned_abs(),
    ))
}

/// The system calls of the wait: `clock_nanosleep` and the timer slack.
mod sleep {
    use std::time::Duration;
    use tt_core::LocalInstant;

    /// Sleeps until `CLOCK_BOOTTIME` reaches `deadline` (or a signal
    /// interrupts; the caller looks at the clock again either way), with
    /// this thread's timer slack at 1 ns for the duration. True if the
    /// sleep was `clock_nanosleep`'s and ran to its deadline, so that how
    /// late it woke says something about the host's wake-ups.
    pub fn until(deadline: LocalInstant) -> bool {
        let slack = TimerSlack::lowered();
        let nanos = deadline.nanos().max(0);
        let deadline_ts = libc::timespec {
            tv_sec: nanos / 1_000_000_000,
            tv_nsec: nanos % 1_000_000_000,
        };
        // SAFETY: `deadline_ts` is a valid timespec for the call; the
        // remaining-time pointer may be null with TIMER_ABSTIME.
        let rc = unsafe {
            libc::clock_nanosleep(
                libc::CLOCK_BOOTTIME,
                libc::TIMER_ABSTIME,
                &deadline_ts,
                std::ptr::null_mut(),
            )
        };
        if rc != 0 && rc != libc::EINTR {
            // A kernel that cannot sleep on CLOCK_BOOTTIME: a relative
            // sleep on the monotonic clock. It may end early if the host
            // was suspended; the caller re-checks the clock and record.
            let left_ns = deadline.nanos_since(tt_clock::boottime()).max(0);
            std::thread::sleep(Duration::from_nanos(left_ns.unsigned_abs()));
        }
        drop(slack);
        rc == 0
    }

    /// This thread's timer slack, lowered to 1 ns until dropped.
    struct TimerSlack {
        previous_ns: Option<libc::c_ulong>,
    }

    impl TimerSlack {
        fn lowered() -> TimerSlack {
            // SAFETY: PR_GET_TIMERSLACK takes no pointer; it returns the
            // calling thread's slack in nanoseconds.
            let previous = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) };
            let Ok(previous_ns) = libc::c_ulong::try_from(previous) else {
                return TimerSlack { previous_ns: None };
            };
            // SAFETY: PR_SET_TIMERSLACK takes a plain integer and changes
            // only the calling thread's slack.
            let rc = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
            TimerSlack {
                previous_ns: (rc == 0).then_some(previous_ns),
            }
        }
    }

    impl Drop for TimerSlack {
        fn drop(&mut self) {
            if let Some(previous_ns) = self.previous_ns {
                // SAFETY: as in `lowered`; puts back the value read there.
                unsafe {
                    libc::prctl(libc::PR_SET_TIMERSLACK, previous_ns, 0, 0, 0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(local: i64, earliest: i64, latest: i64) -> Sample {
        Sample::new(
            LocalInstant::from_nanos(local),
            Interval::from_unix_nanos(earliest, latest).unwrap(),
        )
    }

    /// The least `d` with `Sample::at(L0 + d).earliest > t`, by scanning:
    /// the reference the closed form must match.
    fn by_scan(sample: Sample, drift: Drift, t: i64) -> i64 {
        (0..)
            .find(|&d| {
                sample
                    .at(sample.local.saturating_add_nanos(d), drift)
                    .earliest()
                    .unix_nanos()
                    > t
            })
            .unwrap()
    }

    #[test]
    fn the_closed_form_is_the_first_instant_the_scan_finds() {
        let base = sample(1_000, 10_000, 10_050);
        for ppb in [0, 1, 200, 200_000, 333_333, 999_999, 500_000_000] {
            let drift = Drift::from_ppb(ppb);
            for t in 9_990..10_600 {
                let found = first_instant_after(base, drift, Timestamp::from_unix_nanos(t))
                    .expect("rho < 1");
                assert_eq!(
                    found.nanos() - 1_000,
                    by_scan(base, drift, t),
                    "ppb {ppb}, t {t}"
                );
            }
        }
    }

    #[test]
    fn a_long_wait_at_200_ppm_adds_the_drift() {
        // n = 1 s + 1 ns; d* = ceil(n * 10^9 / (10^9 - 200_000)) =
        // ceil(1_000_000_001 / 0.9998) = ceil(1_000_200_041.008) =
        // 1_000_200_042. Check: ceil(d* rho) = ceil(200_040.0084) = 200_041
        // and d* - 200_041 = n; one nanosecond less leaves n - 1.
        let base = sample(0, 0, 10);
        let found = first_instant_after(
            base,
            Drift::from_ppm(200),
            Timestamp::from_unix_nanos(1_000_000_000),
        )
        .unwrap();
        assert_eq!(found.nanos(), 1_000_200_042);
        let at = base.at(found, Drift::from_ppm(200));
        assert!(at.earliest().unix_nanos() > 1_000_000_000);
        let before = base.at(
            LocalInstant::from_nanos(found.nanos() - 1),
            Drift::from_ppm(200),
        );
        assert!(before.earliest().unix_nanos() <= 1_000_000_000);
    }

    #[test]
    fn a_past_instant_needs_no_wait_and_impossible_ones_are_refused() {
        let base = sample(5, 100, 200);
        assert_eq!(
            first_instant_after(base, Drift::DEFAULT, Timestamp::from_unix_nanos(99)),
            Some(LocalInstant::from_nanos(5))
        );
        assert_eq!(
            first_instant_after(
                base,
                Drift::from_ppb(1_000_000_000),
                Timestamp::from_unix_nanos(100)
            ),
            None
        );
        assert_eq!(
            first_instant_after(base, Drift::DEFAULT, Timestamp::from_unix_nanos(i64::MAX)),
            None
        );
        // At 100 % or more `earliest` falls as time goes on: an instant
        // passed at `L0` is no promise for later, so no instant is given
        // (a wait that took `L0` would loop on a record that never
        // passes `t` again).
        for ppb in [1_000_000_000, u64::MAX] {
            assert_eq!(
                first_instant_after(base, Drift::from_ppb(ppb), Timestamp::from_unix_nanos(99)),
                None
            );
        }
    }

    /// A deterministic stream of lateness figures spread evenly over
    /// `[0, span_ns)`: its 99.5th percentile is `0.995 * span_ns`.
    fn even_lateness(count: usize, span_ns: u64) -> impl Iterator<Item = i64> {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        (0..count).map(move |_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            i64::try_from(x % span_ns).unwrap()
        })
    }

    #[test]
    fn the_wake_latency_estimate_settles_at_the_99_5th_percentile() {
        // Lateness spread evenly over 0 to 400 us: p99.5 = 398 us. The
        // rule moves by 19.9 us up and 0.1 us down, so it hovers within
        // about one upward step of the percentile.
        let latency = WakeLatency::new();
        for late in even_lateness(200_000, 400_000) {
            latency.observe(late);
        }
        let estimate = latency.estimate_ns();
        assert!(
            (378_000..=418_000).contains(&estimate),
            "estimate {estimate} ns, p99.5 398 us"
        );
        assert_eq!(latency.spin_window_ns(), MAX_SPIN_NS);
        // Spread over 0 to 100 us: p99.5 = 99.5 us, a window in range.
        let latency = WakeLatency::new();
        for late in even_lateness(200_000, 100_000) {
            latency.observe(late);
        }
        let estimate = latency.estimate_ns();
        assert!(
            (89_500..=109_500).contains(&estimate),
            "estimate {estimate} ns, p99.5 99.5 us"
        );
        assert_eq!(latency.spin_window_ns(), estimate + SPIN_MARGIN_NS);
    }

    #[test]
    fn the_spin_window_stays_within_its_bounds() {
        // Wake-ups always 5 ms late (a host with every CPU busy): the
        // estimate climbs to its ceiling, the window stops at 250 us.
        let latency = WakeLatency::new();
        for _ in 0..1_000 {
            latency.observe(5_000_000);
        }
        assert_eq!(latency.estimate_ns(), WakeLatency::CEILING_NS);
        assert_eq!(latency.spin_window_ns(), MAX_SPIN_NS);
        // Then always on time (or cut short by a signal): it falls by
        // 0.1 us a sleep, to zero after CEILING / DOWN = 5000 sleeps, and
        // the window to its floor of 10 us.
        for late in [0, -3_000].into_iter().cycle().take(5_000) {
            latency.observe(late);
        }
        assert_eq!(latency.estimate_ns(), 0);
        assert_eq!(latency.spin_window_ns(), MIN_SPIN_NS);
    }

    #[test]
    fn grpc_planning_sleeps_for_the_distance_at_the_planning_bound() {
        let interval = Interval::from_unix_nanos(1_000_000, 1_000_100).unwrap();
        assert_eq!(
            grpc_plan(&interval, Timestamp::from_unix_nanos(999_999)),
            None
        );
        // n = 1 ms + 1 ns at 200 ppm: ceil(1_000_001 / 0.9998) =
        // ceil(1_000_201.04) = 1_000_202.
        assert_eq!(
            grpc_plan(&interval, Timestamp::from_unix_nanos(2_000_000)),
            Some(Duration::from_nanos(1_000_202))
        );
        // Short distances still wait 10 us; long ones at most 100 ms.
        assert_eq!(
            grpc_plan(&interval, Timestamp::from_unix_nanos(1_000_000)),
            Some(Duration::from_nanos(10_000))
        );
        assert_eq!(
            grpc_plan(&interval, Timestamp::from_unix_nanos(60_000_000_000)),
            Some(Duration::from_nanos(100_000_000))
        );
    }
}
