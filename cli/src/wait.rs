//! `tt-cli wait-until TIME`: commit-wait from the shell. Returns once true
//! time is surely past TIME (`now().earliest > TIME`) and prints the
//! interval it returned with.
//!
//! TIME is RFC 3339 (`2026-12-04T16:00:00.5Z`, or with an offset such as
//! `+01:00`; up to nine fraction digits) or Unix nanoseconds after `@`
//! (`@1796400000000000000`). A leap second (`:60`) is refused: true time
//! here is UTC nanoseconds since the epoch without leap seconds, which has
//! no instant to name it by.
//!
//! The wait uses the TrueTime handle: the timeslave's shared-memory record
//! (`--shm`, by default `/run/truetime/timeslave.shm`) or, where there is
//! no record, its socket (`--socket`); with `--address`, gRPC over TCP.

use crate::format::{interval_line, utc};
use serde_json::json;
use std::path::Path;
use tt_client::{TrueTime, TrueTimeError};
use tt_core::shm::ShmError;
use tt_core::{Interval, Timestamp};

const NANOS_PER_SECOND: i64 = 1_000_000_000;
/// How far ahead TIME may lie unless `--max-wait` says otherwise: a day.
pub const DEFAULT_MAX_WAIT_S: u64 = 86_400;
const SECONDS_PER_DAY: i64 = 86_400;
/// The years whose every instant fits in `i64` nanoseconds are 1678 to
/// 2261; 1677 and 2262 are partly in range and checked to the nanosecond.
const YEARS: std::ops::RangeInclusive<i64> = 1677..=2262;

/// Parses TIME (see the module documentation).
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    if let Some(nanos) = text.strip_prefix('@') {
        return nanos
            .parse::<i64>()
            .map(Timestamp::from_unix_nanos)
            .map_err(|_| {
                format!("`{text}`: after `@` give Unix nanoseconds, such as @1796400000000000000")
            });
    }
    parse_rfc3339(text).map_err(|why| {
        format!("`{text}` is not a time: {why} (give RFC 3339 such as 2026-12-04T16:00:00.5Z, or @UNIX_NANOSECONDS)")
    })
}

fn leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to `year-month-day` (negative before it), by
/// adding up whole years, then the months of the year, then the days.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year_length = |y: i64| if leap_year(y) { 366 } else { 365 };
    let mut days: i64 = if year >= 1970 {
        (1970..year).map(year_length).sum()
    } else {
        -(year..1970).map(year_length).sum::<i64>()
    };
    days += (1..month).map(|m| days_in_month(year, m)).sum::<i64>();
    days + day - 1
}

/// `digits` as a number, if it is exactly `count` ASCII digits.
fn digits(text: &str, count: usize) -> Option<i64> {
    (text.len() == count && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
    let (date, rest) = text
        .split_once(['T', 't'])
        .ok_or("no `T` between the date and the time")?;
    let mut date_parts = date.split('-');
    let (Some(year), Some(month), Some(day), None) = (
        date_parts.next().and_then(|y| digits(y, 4)),
        date_parts.next().and_then(|m| digits(m, 2)),
        date_parts.next().and_then(|d| digits(d, 2)),
        date_parts.next(),
    ) else {
        return Err("the date is not YYYY-MM-DD".to_string());
    };
    if !(1..=12).contains(&month) {
        return Err(format!("there is no month {month}"));
    }
    if !(1..=days_in_month(year, month)).contains(&day) {
        return Err(format!("{year}-{month:02} has no day {day}"));
    }
    if !YEARS.contains(&year) {
        return Err(format!(
            "the year {year} is outside {} to {}, the range of 64-bit nanoseconds",
            YEARS.start(),
            YEARS.end()
        ));
    }

    // The offset: `Z`, or `+HH:MM` / `-HH:MM`, subtracted to get UTC.
    let (clock, offset_seconds) = if let Some(clock) = rest.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else {
        let sign_at = rest
            .rfind(['+', '-'])
            .ok_or("no zone: end with Z for UTC, or an offset such as +01:00")?;
        let (clock, zone) = rest.split_at(sign_at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (Some(hours), Some(minutes)) = zone[1..]
            .split_once(':')
            .map_or((None, None), |(h, m)| (digits(h, 2), digits(m, 2)))
        else {
            return Err(format!("the offset `{zone}` is not +HH:MM or -HH:MM"));
        };
        if hours > 23 || minutes > 59 {
            return Err(format!("the offset `{zone}` is out of range"));
        }
        (clock, sign * (hours * 3600 + minutes * 60))
    };

    let (whole, fraction) = match clock.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (clock, None),
    };
    let mut clock_parts = whole.split(':');
    let (Some(hour), Some(minute), Some(second), None) = (
        clock_parts.next().and_then(|h| digits(h, 2)),
        clock_parts.next().and_then(|m| digits(m, 2)),
        clock_parts.next().and_then(|s| digits(s, 2)),
        clock_parts.next(),
    ) else {
        return Err("the time of day is not HH:MM:SS".to_string());
    };
    if second == 60 {
        return Err(
            "a leap second has no instant in UTC nanoseconds since the epoch; give :59.999999999 \
             or the next second"
                .to_string(),
        );
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(format!(
            "{hour:02}:{minute:02}:{second:02} is not a time of day"
        ));
    }
    let nanos = match fraction {
        None => 0,
        Some(f) if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) => {
            return Err("the fraction of a second must be 1 to 9 digits".to_string())
        }
        // Pad to nine digits: ".5" is 500 000 000 ns.
        Some(f) => format!("{f:0<9}")
            .parse::<i64>()
            .map_err(|e| e.to_string())?,
    };

    let seconds = i128::from(days_from_civil(year, month, day)) * i128::from(SECONDS_PER_DAY)
        + i128::from(hour * 3600 + minute * 60 + second)
        - i128::from(offset_seconds);
    let total = seconds * i128::from(NANOS_PER_SECOND) + i128::from(nanos);
    i64::try_from(total)
        .map(Timestamp::from_unix_nanos)
        .map_err(|_| "the instant is outside the range of 64-bit nanoseconds".to_string())
}

/// What `wait-until` ends with: the text to print and the exit status, or
/// an error line (exit 2).
pub struct Outcome {
    /// The line (or JSON object) for stdout, or the error for stderr.
    pub text: String,
    /// 0 waited, 1 the service is unsynchronized, 2 any other error.
    pub status: u8,
}

/// Opens the handle (`address` over TCP if given, else the record at
/// `shm` or the socket), waits until true time is past `when`, and says
/// how it went. A `when` more than `max_wait_s` seconds past the current
/// `latest` is refused before waiting.
pub fn run(
    shm: &Path,
    socket: &str,
    address: Option<&str>,
    when: &str,
    max_wait_s: u64,
    json: bool,
) -> Outcome {
    let error = |text: String| Outcome { text, status: 2 };
    let t = match parse_time(when) {
        Ok(t) => t,
        Err(why) => return error(why),
    };
    let opened = match address {
        Some(address) => TrueTime::open_socket(address),
        None => TrueTime::open_with(shm, socket),
    };
    let tt = match opened {
        Ok(tt) => tt,
        Err(e) => return error(e.to_string()),
    };
    if let Ok(now) = tt.now() {
        let ahead_ns = i128::from(t.unix_nanos()) - i128::from(now.latest().unix_nanos());
        if ahead_ns > i128::from(max_wait_s) * i128::from(NANOS_PER_SECOND) {
            return error(format!(
                "{} is {} s ahead of now ({}), more than --max-wait {max_wait_s} s; give a \
                 larger --max-wait to wait that long",
                utc(t.unix_nanos()),
                ahead_ns / i128::from(NANOS_PER_SECOND),
                utc(now.latest().unix_nanos())
            ));
        }
    }
    match tt.wait_until_after(t) {
        Ok(interval) => Outcome {
            text: render(&interval, t, json),
            status: 0,
        },
        Err(
            e @ (TrueTimeError::Unsynchronized(_)
            | TrueTimeError::Record(ShmError::Unsynchronized | ShmError::Void { .. })),
        ) => Outcome {
            text: format!("{} ({})", e, tt.transport()),
            status: 1,
        },
        Err(e) => error(format!("{e} ({})", tt.transport())),
    }
}

fn render(interval: &Interval, t: Timestamp, json: bool) -> String {
    if json {
        return json!({
            "earliest_unix_ns": interval.earliest().unix_nanos(),
            "latest_unix_ns": interval.latest().unix_nanos(),
            "width_ns": interval.width_ns(),
            "waited_for_unix_ns": t.unix_nanos(),
        })
        .to_string();
    }
    format!("{}  past {}", interval_line(interval), utc(t.unix_nanos()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(text: &str) -> i64 {
        parse_time(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .unix_nanos()
    }

    #[test]
    fn instants_whose_values_are_known() {
        // The epoch; a second before it; 2000-03-01 is 951 868 800 s
        // (30 years of which 7 leap, plus Jan and Feb 2000: 10 957 + 31 +
        // 29 = 11 017 days).
        assert_eq!(ns("1970-01-01T00:00:00Z"), 0);
        assert_eq!(ns("1969-12-31T23:59:59Z"), -NANOS_PER_SECOND);
        assert_eq!(
            ns("2000-03-01T00:00:00Z"),
            11_017 * 86_400 * NANOS_PER_SECOND
        );
        assert_eq!(ns("2000-03-01T00:00:00Z"), 951_868_800 * NANOS_PER_SECOND);
        // The example in the help: 1 796 400 000.5 s.
        assert_eq!(ns("2026-12-04T16:00:00.5Z"), 1_796_400_000_500_000_000);
        assert_eq!(ns("@1796400000000000000"), 1_796_400_000_000_000_000);
        assert_eq!(
            ns("2026-12-04t16:00:00.000000001z"),
            1_796_400_000_000_000_001
        );
        // An offset names the same instant in another zone.
        assert_eq!(ns("2026-12-04T17:30:00+01:30"), ns("2026-12-04T16:00:00Z"));
        assert_eq!(ns("2026-12-04T15:00:00-01:00"), ns("2026-12-04T16:00:00Z"));
    }

    #[test]
    fn parsing_inverts_the_printed_form() {
        // format::utc is written independently (from days to a date); a
        // round trip through it checks both.
        for unix_ns in [
            0,
            -1,
            951_782_400_123_456_789, // 2000-02-29
            1_709_164_800_000_000_000,
            4_102_444_799_999_999_999, // 2099-12-31T23:59:59.999999999
            -5_000_000_000_000_000_000,
            i64::MAX,
            i64::MIN,
        ] {
            let text = utc(unix_ns);
            assert_eq!(ns(&text), unix_ns, "{text}");
        }
    }

    #[test]
    fn malformed_times_say_what_is_wrong() {
        for (text, why) in [
            ("2026-12-04", "no `T`"),
            ("2026-13-01T00:00:00Z", "no month 13"),
            ("2026-02-29T00:00:00Z", "has no day 29"),
            ("2026-12-04T24:00:00Z", "not a time of day"),
            ("2016-12-31T23:59:60Z", "leap second"),
            ("2026-12-04T16:00:00", "no zone"),
            ("2026-12-04T16:00:00+1:00", "not +HH:MM"),
            ("2026-12-04T16:00:00.Z", "1 to 9 digits"),
            ("2026-12-04T16:00:00.1234567890Z", "1 to 9 digits"),
            ("2300-01-01T00:00:00Z", "outside 1677 to 2262"),
            ("2262-04-12T00:00:00Z", "range of 64-bit"),
            ("@soon", "Unix nanoseconds"),
            ("26-12-04T16:00:00Z", "YYYY-MM-DD"),
        ] {
            let error = parse_time(text).unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
            assert!(error.contains(text), "{text}: {error}");
        }
    }
}
