//! Which leap seconds to expect: the IERS `leap-seconds.list` (shipped by
//! tzdata as `/usr/share/zoneinfo/leap-seconds.list`), and what to assume
//! past the date the list is known to be good until.
//!
//! The list gives every leap second so far and, in its `#@` line, the
//! instant until which no other will happen. Past that instant a leap may
//! come at the end of any June or December (the IERS announces them for
//! those dates first, six months ahead) and nobody has told us which way,
//! so there the schedule widens the interval by one second on both sides
//! around each of those midnights. Applied with [`LeapPolicy`]'s window:
//!
//! ```text
//! known leap L in the list, W_L = [L - before, L + after]:
//!     inserted: [E - 1 s, A]   deleted: [E, A + 1 s]      if [E, A] meets W_L
//! any June 30 / December 31 midnight M after the list's expiry:
//!     [E - 1 s, A + 1 s]                                    if [E, A] meets W_M
//! ```
//!
//! An out-of-date list (or none at all: then every such midnight is
//! unknown) costs a second twice a year for the length of the window, never
//! a wrong interval.

use crate::leap::{LeapKind, LeapPolicy, LeapSecond};
use crate::{Interval, Timestamp, NANOS_PER_SEC};
use std::fmt;

/// Seconds from 1900-01-01 (NTP's epoch, the list's) to 1970-01-01.
const NTP_TO_UNIX_S: i64 = 2_208_988_800;

/// The leap seconds known, and until when the knowledge holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeapSchedule {
    leaps: Vec<LeapSecond>,
    known_until: Timestamp,
}

/// Why a leap-seconds list could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeapListError {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for LeapListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for LeapListError {}

impl LeapSchedule {
    /// Knows nothing: every June and December midnight is treated as a
    /// possible leap second of either kind.
    pub fn unknown() -> Self {
        LeapSchedule {
            leaps: Vec::new(),
            known_until: Timestamp::from_unix_nanos(i64::MIN),
        }
    }

    /// Reads the text of an IERS/NIST `leap-seconds.list`: data lines
    /// `NTP-seconds TAI-UTC [# comment]`, each the instant from which
    /// TAI - UTC holds, and the expiry line `#@ NTP-seconds`. A rise of
    /// TAI - UTC is an inserted second, a fall a deleted one. Without an
    /// expiry line nothing is known past the last entry.
    pub fn parse(text: &str) -> Result<Self, LeapListError> {
        let mut leaps = Vec::new();
        let mut expiry: Option<i64> = None;
        let mut last_offset: Option<i64> = None;
        let mut last_instant: i64 = i64::MIN;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let bad = |message: String| LeapListError { line, message };
            if let Some(rest) = raw.strip_prefix("#@") {
                let ntp: i64 = rest
                    .trim()
                    .parse()
                    .map_err(|_| bad(format!("expiry `{}` is not a number", rest.trim())))?;
                expiry = Some(ntp.saturating_sub(NTP_TO_UNIX_S));
                continue;
            }
            let data = raw.split('#').next().unwrap_or("").trim();
            if data.is_empty() {
                continue;
            }
            let mut fields = data.split_whitespace();
            let (Some(instant), Some(offset)) = (fields.next(), fields.next()) else {
                return Err(bad(format!("`{data}` is not `NTP-seconds TAI-UTC`")));
            };
            let instant: i64 = instant
                .parse()
                .map_err(|_| bad(format!("`{instant}` is not a number of seconds")))?;
            let offset: i64 = offset
                .parse()
                .map_err(|_| bad(format!("`{offset}` is not a number of seconds")))?;
            let unix = instant.saturating_sub(NTP_TO_UNIX_S);
            if unix <= last_instant {
                return Err(bad("entries are not in increasing order".to_string()));
            }
            if let Some(previous) = last_offset {
                let kind = match offset - previous {
                    1 => LeapKind::Inserted,
                    -1 => LeapKind::Deleted,
                    other => {
                        return Err(bad(format!(
                            "TAI - UTC changes by {other} s; a leap second changes it by one"
                        )))
                    }
                };
                leaps.push(LeapSecond {
                    midnight: Timestamp::from_parts(unix, 0),
                    kind,
                });
            }
            last_offset = Some(offset);
            last_instant = unix;
        }
        if last_offset.is_none() {
            return Err(LeapListError {
                line: text.lines().count().max(1),
                message: "no entries: not a leap-seconds list".to_string(),
            });
        }
        let known_until = expiry.unwrap_or(last_instant).max(last_instant);
        Ok(LeapSchedule {
            leaps,
            known_until: Timestamp::from_parts(known_until, 0),
        })
    }

    /// Until when the list says no other leap second will happen.
    pub fn known_until(&self) -> Timestamp {
        self.known_until
    }

    /// `interval` widened for every leap second near it; see the module
    /// documentation. `before_ns` and `after_ns` are the window around
    /// each midnight, as in [`LeapPolicy`].
    pub fn apply(&self, interval: Interval, before_ns: i64, after_ns: i64) -> Interval {
        let mut widened = interval;
        for leap in &self.leaps {
            let policy = LeapPolicy {
                leap: *leap,
                before_ns,
                after_ns,
            };
            widened = policy.apply(widened);
        }
        // Possible leaps nobody has told us about: June and December
        // midnights after the list's expiry that the window brings near.
        let reach = interval.widened(after_ns, before_ns);
        let first = reach.earliest().max(self.known_until);
        if first > reach.latest() {
            return widened;
        }
        let mut lower = 0;
        let mut upper = 0;
        for midnight in half_year_midnights(first, reach.latest()) {
            if midnight > self.known_until {
                lower += NANOS_PER_SEC;
                upper += NANOS_PER_SEC;
            }
        }
        widened.widened(lower, upper)
    }
}

/// The midnights that end June 30 and December 31 (UTC) within
/// `[from, to]`.
fn half_year_midnights(from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
    let mut found = Vec::new();
    let from_s = from.unix_nanos().div_euclid(NANOS_PER_SEC);
    let to_s = to.unix_nanos().div_euclid(NANOS_PER_SEC);
    let (from_year, _) = year_and_day(from_s);
    let (to_year, _) = year_and_day(to_s);
    for year in from_year..=to_year.saturating_add(1) {
        for (y, m) in [(year, 7), (year + 1, 1)] {
            let midnight_s = days_from_civil(y, m, 1) * 86_400;
            if (from_s..=to_s).contains(&midnight_s) {
                found.push(Timestamp::from_parts(midnight_s, 0));
            }
        }
    }
    found.sort_unstable();
    found.dedup();
    found
}

/// The year of a Unix second (and its day number, unused).
fn year_and_day(unix_s: i64) -> (i64, i64) {
    let days = unix_s.div_euclid(86_400);
    // Civil-from-days (proleptic Gregorian), year only.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, days)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = NANOS_PER_SEC;
    /// 2017-01-01T00:00:00Z, the last leap second so far (inserted).
    const JAN_2017: i64 = 1_483_228_800;
    /// 2027-01-01T00:00:00Z.
    const JAN_2027: i64 = 1_798_761_600;
    /// 2026-07-01T00:00:00Z.
    const JUL_2026: i64 = 1_782_864_000;

    /// The end of the real list: 2015-07-01 (35 s), 2017-01-01 (37 s),
    /// expiring 2026-06-28 (NTP 3991593600, as tzdata 2025b ships it).
    const LIST: &str = "#\tcomment\n\
        #@\t3991593600\n\
        3644697600\t36\t# 1 Jul 2015\n\
        3692217600\t37\t# 1 Jan 2017\n\
        #h\t49db2447 571e5e1b\n";

    fn point(unix_s: i64) -> Interval {
        Interval::from_unix_nanos(unix_s * S, unix_s * S).unwrap()
    }

    #[test]
    fn the_list_gives_leaps_and_expiry() {
        let schedule = LeapSchedule::parse(LIST).unwrap();
        // NTP 3692217600 - 2208988800 = 1483228800.
        assert_eq!(
            schedule.leaps,
            vec![LeapSecond {
                midnight: Timestamp::from_parts(JAN_2017, 0),
                kind: LeapKind::Inserted
            }]
        );
        // 3991593600 - 2208988800 = 1782604800 = 2026-06-28T00:00:00Z.
        assert_eq!(
            schedule.known_until(),
            Timestamp::from_parts(1_782_604_800, 0)
        );
    }

    #[test]
    fn a_known_leap_widens_below_only_near_it() {
        let schedule = LeapSchedule::parse(LIST).unwrap();
        let near = schedule.apply(point(JAN_2017 - 5), 600 * S, 10 * S);
        assert_eq!(near, point(JAN_2017 - 5).widened(S, 0));
        let far = schedule.apply(point(JAN_2017 + 3600), 600 * S, 10 * S);
        assert_eq!(far, point(JAN_2017 + 3600));
    }

    #[test]
    fn past_the_expiry_june_and_december_midnights_widen_both_ways() {
        let schedule = LeapSchedule::parse(LIST).unwrap();
        // The list expired 2026-06-28: 2026-07-01 and 2027-01-01 are open.
        for midnight in [JUL_2026, JAN_2027] {
            let near = schedule.apply(point(midnight - 5), 600 * S, 10 * S);
            assert_eq!(near, point(midnight - 5).widened(S, S));
        }
        // 2026-12-04, a month from any such midnight: untouched.
        let december = 1_796_342_400;
        assert_eq!(
            schedule.apply(point(december), 600 * S, 10 * S),
            point(december)
        );
        // Before the expiry nothing unknown: 2026-01-01 is covered by the
        // list, which says there was no leap.
        let jan_2026 = 1_767_225_600;
        assert_eq!(
            schedule.apply(point(jan_2026), 600 * S, 10 * S),
            point(jan_2026)
        );
    }

    #[test]
    fn without_a_list_every_half_year_is_open() {
        let schedule = LeapSchedule::unknown();
        let near = schedule.apply(point(JAN_2027 + 3), 600 * S, 10 * S);
        assert_eq!(near, point(JAN_2027 + 3).widened(S, S));
        assert_eq!(
            schedule.apply(point(JAN_2027 + 11), 600 * S, 10 * S),
            point(JAN_2027 + 11)
        );
    }

    #[test]
    fn bad_lists_are_refused_with_their_line() {
        assert_eq!(
            LeapSchedule::parse("").unwrap_err().message,
            "no entries: not a leap-seconds list"
        );
        let err = LeapSchedule::parse("3644697600 36\n3692217600 39\n").unwrap_err();
        assert_eq!(err.line, 2);
        let err = LeapSchedule::parse("#@ soon\n3644697600 36\n").unwrap_err();
        assert_eq!(err.line, 1);
        let err = LeapSchedule::parse("3692217600 37\n3644697600 36\n").unwrap_err();
        assert_eq!(err.line, 2);
    }
}
