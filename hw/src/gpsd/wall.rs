//! Turning another program's wall-clock stamp into an instant of the local
//! timebase, with a bound on what the wall clock may have done meanwhile.
//!
//! gpsd stamps what it sees with `CLOCK_REALTIME`, which a time daemon may
//! slew or step. The kernel caps a slew at 500 ppm (`MAXFREQ` in
//! `include/linux/timex.h`, the frequency limit of the kernel clock model
//! of RFC 1589; adjtimex(2)), the bound used here. We
//! read a [`ClockPair`] (local, wall, local) as each line arrives and map
//! the stamp through it.

use std::collections::VecDeque;
use std::fmt;
use tt_clock::ClockPair;
use tt_core::{Drift, LocalInstant, NANOS_PER_SEC};

/// The fastest a time daemon slews the wall clock: 500 ppm.
pub const MAX_SLEW: Drift = Drift::from_ppm(500);

/// A stamp older than this (wall-clock gap to our pair) is stale: gpsd
/// stamped something it sat on, or the wall clock stepped forward.
pub const MAX_STAMP_AGE_NS: i64 = 2 * NANOS_PER_SEC;

/// An offset change above what slewing explains, plus this much, is a step.
pub const STEP_SLACK_NS: i64 = 1_000_000;

/// After a step, stamps may have been taken on either side of it; nothing
/// is converted for this long (local time), which is longer than
/// [`MAX_STAMP_AGE_NS`] so that every stamp from before the step is gone.
pub const STEP_EMBARGO_NS: i64 = 3 * NANOS_PER_SEC;

/// How much offset history is kept (local time): longer than the oldest
/// stamp accepted, so a pair from before any accepted stamp is held.
const HISTORY_NS: i64 = 3 * NANOS_PER_SEC;

/// Pairs closer than this (local time) share one history entry, which
/// bounds the history to `HISTORY_NS / MERGE_NS` entries.
const MERGE_NS: i64 = 10_000_000;

/// A wall-clock stamp mapped onto the local timebase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalStamp {
    /// The local instant of the stamp.
    pub local: LocalInstant,
    /// How far true time at `local` may differ from true time at the
    /// stamped event because of the mapping, in nanoseconds (add it to both
    /// ends of an interval). See [`WallMap::convert`].
    pub widen_ns: i64,
    /// Wall-clock nanoseconds from the stamp to our pair.
    pub gap_ns: i64,
}

/// Why a stamp was not mapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WallError {
    /// The stamp lies after our later reading of the same clock.
    FromTheFuture {
        /// Stamp minus our wall-clock reading, ns.
        ahead_ns: i64,
    },
    /// The stamp is older than [`MAX_STAMP_AGE_NS`].
    Stale {
        /// Our wall-clock reading minus the stamp, ns.
        age_ns: i64,
    },
    /// The wall clock stepped recently; see [`STEP_EMBARGO_NS`].
    RecentStep,
    /// No pair was read before the stamped event, so a step between the
    /// two cannot be ruled out.
    NoEarlierPair,
}

impl fmt::Display for WallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WallError::FromTheFuture { ahead_ns } => write!(
                f,
                "stamp lies {ahead_ns} ns after our own later wall-clock reading \
                 (gpsd on another host, or the wall clock stepped back)"
            ),
            WallError::Stale { age_ns } => write!(
                f,
                "stamp is {} ms old, more than {} ms (stale, or the wall clock stepped)",
                age_ns / 1_000_000,
                MAX_STAMP_AGE_NS / 1_000_000
            ),
            WallError::RecentStep => write!(
                f,
                "the wall clock stepped less than {} s ago; stamps are not trusted yet",
                STEP_EMBARGO_NS / NANOS_PER_SEC
            ),
            WallError::NoEarlierPair => {
                write!(f, "no clock reading from before the stamped event")
            }
        }
    }
}

/// A step of the wall clock, seen between two pairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockStep {
    /// Change of `realtime - local` between the two pairs, ns.
    pub change_ns: i64,
    /// The most slewing (plus [`STEP_SLACK_NS`]) could explain, ns.
    pub allowed_ns: i64,
}

impl fmt::Display for ClockStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the wall clock stepped by {} us (slewing explains at most {} us)",
            self.change_ns / 1_000,
            self.allowed_ns / 1_000
        )
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    first_local_ns: i64,
    last_local_ns: i64,
    min_offset_ns: i64,
    max_offset_ns: i64,
}

/// The recent history of `realtime - local` offsets, fed one [`ClockPair`]
/// per received line.
#[derive(Clone, Debug, Default)]
pub struct WallMap {
    history: VecDeque<Entry>,
    last: Option<ClockPair>,
    embargo_until_ns: Option<i64>,
}

fn local_mid_ns(pair: &ClockPair) -> i64 {
    let before = pair.local_before.nanos();
    before.saturating_add(pair.local_after.nanos_since(pair.local_before) / 2)
}

fn offset_ns(pair: &ClockPair) -> i64 {
    pair.realtime_ns.saturating_sub(local_mid_ns(pair))
}

impl WallMap {
    /// An empty map: feed it a pair (e.g. one read on connecting) before
    /// the first stamp.
    pub fn new() -> Self {
        WallMap::default()
    }

    /// Records a pair and checks it against the previous one.
    ///
    /// With `Δoffset` the change of `realtime - local` and `Δlocal` the
    /// local time between the two pairs, slewing explains at most
    /// `ceil(|Δlocal| * 500e-6) + STEP_SLACK_NS + spread_prev + spread_now`;
    /// more is a step. On a step the history restarts from this pair and no
    /// stamp is converted for [`STEP_EMBARGO_NS`].
    pub fn observe(&mut self, pair: ClockPair) -> Result<(), ClockStep> {
        let now_local = local_mid_ns(&pair);
        let offset = offset_ns(&pair);
        let mut result = Ok(());

        if let Some(prev) = self.last {
            let elapsed_ns = now_local.saturating_sub(local_mid_ns(&prev));
            let change_ns = offset.saturating_sub(offset_ns(&prev));
            let allowed_ns = MAX_SLEW
                .error_over(elapsed_ns)
                .saturating_add(STEP_SLACK_NS)
                .saturating_add(prev.spread_ns().saturating_abs())
                .saturating_add(pair.spread_ns().saturating_abs());
            if change_ns.saturating_abs() > allowed_ns {
                self.history.clear();
                self.embargo_until_ns = Some(now_local.saturating_add(STEP_EMBARGO_NS));
                result = Err(ClockStep {
                    change_ns,
                    allowed_ns,
                });
            }
        }
        self.last = Some(pair);

        match self.history.back_mut() {
            Some(entry) if now_local.saturating_sub(entry.first_local_ns) < MERGE_NS => {
                entry.last_local_ns = entry.last_local_ns.max(now_local);
                entry.min_offset_ns = entry.min_offset_ns.min(offset);
                entry.max_offset_ns = entry.max_offset_ns.max(offset);
            }
            _ => self.history.push_back(Entry {
                first_local_ns: now_local,
                last_local_ns: now_local,
                min_offset_ns: offset,
                max_offset_ns: offset,
            }),
        }
        // Keep one entry older than the horizon: it precedes every stamp
        // that can still be accepted.
        let horizon = now_local.saturating_sub(HISTORY_NS);
        while self.history.len() > 1 && self.history[1].last_local_ns <= horizon {
            self.history.pop_front();
        }
        result
    }

    /// Maps a wall-clock stamp `R` onto the local timebase through `pair`,
    /// which must be the pair most recently passed to [`WallMap::observe`],
    /// read after the stamped event.
    ///
    /// ```text
    /// g      = R_pair - R                       wall-clock gap, ns; refused if g < 0 or g > 2 s
    /// L_R    = L_pair - g                       L_pair: midpoint of the pair's two local reads
    /// widen  = ceil(g * 500e-6) + s + d
    /// ```
    ///
    /// * `ceil(g * 500e-6)`: over the gap the wall clock may have been
    ///   slewed by up to 500 ppm against the local timebase, so the local
    ///   time elapsed may differ from `g` by that much; true time at `L_R`
    ///   then differs from true time at the event by as much (plus the
    ///   local rate error over that difference, below a nanosecond).
    /// * `s`: the pair's spread (local after - local before); the wall read
    ///   lies somewhere between the two local reads, not surely at their
    ///   midpoint.
    /// * `d`: the largest change of `realtime - local` between this pair and
    ///   any pair of the history, which reaches back to before the event. A
    ///   step too small for [`WallMap::observe`] to call a step (below
    ///   1 ms + slew) between the event and the pair moves `L_R` by exactly
    ///   the step, and the step is at most `d`.
    ///
    /// On Linux the local timebase (`CLOCK_BOOTTIME`) and the wall clock
    /// tick at the same, daemon-adjusted rate and differ only by steps, so
    /// in practice `d` is a few tens of nanoseconds of read jitter and the
    /// 500 ppm term is pure margin.
    pub fn convert(&self, stamp_ns: i64, pair: &ClockPair) -> Result<LocalStamp, WallError> {
        let pair_local = local_mid_ns(pair);
        if let Some(until) = self.embargo_until_ns {
            if pair_local < until {
                return Err(WallError::RecentStep);
            }
        }

        let gap_ns = pair.realtime_ns.saturating_sub(stamp_ns);
        if gap_ns < 0 {
            return Err(WallError::FromTheFuture {
                ahead_ns: gap_ns.saturating_neg(),
            });
        }
        if gap_ns > MAX_STAMP_AGE_NS {
            return Err(WallError::Stale { age_ns: gap_ns });
        }
        let local_ns = pair_local.saturating_sub(gap_ns);

        let earliest_pair = self.history.front().map(|e| e.first_local_ns);
        match earliest_pair {
            Some(first) if first <= local_ns => {}
            _ => return Err(WallError::NoEarlierPair),
        }
        let offset = offset_ns(pair);
        let drift_ns = self
            .history
            .iter()
            .map(|e| {
                offset
                    .saturating_sub(e.min_offset_ns)
                    .saturating_abs()
                    .max(e.max_offset_ns.saturating_sub(offset).saturating_abs())
            })
            .max()
            .unwrap_or(0);

        let widen_ns = MAX_SLEW
            .error_over(gap_ns)
            .saturating_add(pair.spread_ns().saturating_abs())
            .saturating_add(drift_ns);
        Ok(LocalStamp {
            local: LocalInstant::from_nanos(local_ns),
            widen_ns,
            gap_ns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pair with the wall clock `offset` ahead of local, local reads at
    /// `local - spread/2` and `local + spread/2`.
    pub(crate) fn pair_at(local: i64, offset: i64, spread: i64) -> ClockPair {
        ClockPair {
            realtime_ns: local + offset,
            local_before: LocalInstant::from_nanos(local - spread / 2),
            local_after: LocalInstant::from_nanos(local + spread / 2),
        }
    }

    const OFFSET: i64 = 1_700_000_000 * NANOS_PER_SEC;

    #[test]
    fn maps_a_stamp_back_along_the_gap() {
        let mut map = WallMap::new();
        map.observe(pair_at(10 * NANOS_PER_SEC, OFFSET, 0)).unwrap();
        let pair = pair_at(11 * NANOS_PER_SEC, OFFSET, 400);
        map.observe(pair).unwrap();

        // Event 300 ms before the pair (wall clock).
        let stamp = pair.realtime_ns - 300_000_000;
        let got = map.convert(stamp, &pair).unwrap();
        assert_eq!(got.gap_ns, 300_000_000);
        assert_eq!(got.local.nanos(), 11 * NANOS_PER_SEC - 300_000_000);
        // 500 ppm of 300 ms = 150 us, plus the 400 ns spread; the offset
        // did not change, so d = 0.
        assert_eq!(got.widen_ns, 150_000 + 400);
    }

    #[test]
    fn refuses_future_and_stale_stamps() {
        let mut map = WallMap::new();
        let pair = pair_at(10 * NANOS_PER_SEC, OFFSET, 0);
        map.observe(pair).unwrap();
        assert_eq!(
            map.convert(pair.realtime_ns + 1, &pair),
            Err(WallError::FromTheFuture { ahead_ns: 1 })
        );
        let old = pair.realtime_ns - MAX_STAMP_AGE_NS - 1;
        assert!(matches!(
            map.convert(old, &pair),
            Err(WallError::Stale { .. })
        ));
        // Exactly at the limit is still accepted... but only with a pair
        // from before the event in the history.
        let at_limit = pair.realtime_ns - MAX_STAMP_AGE_NS;
        assert_eq!(map.convert(at_limit, &pair), Err(WallError::NoEarlierPair));
    }

    #[test]
    fn a_step_is_seen_and_embargoed() {
        let mut map = WallMap::new();
        map.observe(pair_at(10 * NANOS_PER_SEC, OFFSET, 0)).unwrap();
        // One second later the offset is 2 ms larger: 500 ppm explains
        // 0.5 ms, the slack 1 ms; 2 ms is a step.
        let stepped = pair_at(11 * NANOS_PER_SEC, OFFSET + 2_000_000, 0);
        let step = map.observe(stepped).unwrap_err();
        assert_eq!(step.change_ns, 2_000_000);
        assert_eq!(step.allowed_ns, 1_500_000);
        assert_eq!(
            map.convert(stepped.realtime_ns - 1_000, &stepped),
            Err(WallError::RecentStep)
        );
        // Still within the embargo 2.9 s later, out of it at 3 s.
        let later = pair_at(13_900_000_000, OFFSET + 2_000_000, 0);
        map.observe(later).unwrap();
        assert_eq!(
            map.convert(later.realtime_ns - 1_000, &later),
            Err(WallError::RecentStep)
        );
        let after = pair_at(14 * NANOS_PER_SEC, OFFSET + 2_000_000, 0);
        map.observe(after).unwrap();
        assert!(map.convert(after.realtime_ns - 1_000, &after).is_ok());
    }

    #[test]
    fn a_small_step_widens_instead() {
        let mut map = WallMap::new();
        map.observe(pair_at(10 * NANOS_PER_SEC, OFFSET, 0)).unwrap();
        // 0.8 ms over 1 s is below the 1.5 ms step threshold...
        let pair = pair_at(11 * NANOS_PER_SEC, OFFSET + 800_000, 0);
        map.observe(pair).unwrap();
        // ...so a stamp 0.5 s back gets 250 us of slew plus the 800 us the
        // offset moved, whichever side of the event the move happened.
        let got = map.convert(pair.realtime_ns - 500_000_000, &pair).unwrap();
        assert_eq!(got.widen_ns, 250_000 + 800_000);
    }

    #[test]
    fn slewing_within_500_ppm_is_not_a_step() {
        let mut map = WallMap::new();
        let mut offset = OFFSET;
        for second in 0..20 {
            // 500 ppm: 500 us per second, exactly at the limit.
            offset += 500_000;
            let pair = pair_at((10 + second) * NANOS_PER_SEC, offset, 0);
            assert_eq!(map.observe(pair), Ok(()));
        }
    }

    #[test]
    fn history_stays_bounded_and_keeps_an_anchor() {
        let mut map = WallMap::new();
        // A pair every millisecond for 10 s.
        for ms in 0..10_000 {
            map.observe(pair_at(ms * 1_000_000, OFFSET, 0)).unwrap();
        }
        assert!(map.history.len() <= (HISTORY_NS / MERGE_NS) as usize + 2);
        let last = pair_at(9_999_000_000, OFFSET, 0);
        // A stamp 2 s back still has a pair before it.
        assert!(map
            .convert(last.realtime_ns - MAX_STAMP_AGE_NS, &last)
            .is_ok());
    }
}
