//! gpsd's JSON reports, as far as a time source needs them, and the exact
//! (integer) parsing of the times they carry.
//!
//! What comes from `gpsd_proto` and what does not:
//!
//! * TPV: `gpsd_proto::Tpv` gives `mode` and `time` (a string we parse
//!   ourselves, below). It has no `rtime`, so that one field is read by
//!   [`TpvTiming`] from the same line, as raw digits.
//! * VERSION: `gpsd_proto::Version`.
//! * TOFF: `gpsd_proto` has no type for it; [`Toff`] is ours.
//! * PPS: `gpsd_proto::Pps` holds seconds and nanoseconds as `f32`, whose
//!   24-bit mantissa cannot even hold today's Unix second exactly, let
//!   alone the nanoseconds; [`Pps`] is ours, with integers.
//! * DEVICE: `gpsd_proto::Device` wants `bps` in a `u16` (gpsd reports
//!   115200 and more) and `activated` as a string (gpsd 3.22 sends `0`
//!   when a device closes), so it fails on real traffic; DEVICE carries
//!   nothing a time source needs and is not parsed at all.
//! * WATCH: `gpsd_proto::ENABLE_WATCH_CMD` asks for neither `pps` nor
//!   `timing`; [`WATCH_COMMAND`] asks for both.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::fmt;
use tt_core::NANOS_PER_SEC;

/// What the client sends after connecting: JSON reports, PPS and TOFF
/// messages (`pps`), and receipt stamps on TPV (`timing`, which adds
/// `rtime`).
pub const WATCH_COMMAND: &str =
    "?WATCH={\"enable\":true,\"json\":true,\"pps\":true,\"timing\":true};\r\n";

/// The longest line accepted from gpsd, in bytes. gpsd's own reports stay
/// far below this (its largest JSON buffer is a few KiB); anything longer
/// is not gpsd talking.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Only the `class` of a report, to pick the type for the rest.
#[derive(Deserialize)]
pub(crate) struct Envelope<'a> {
    #[serde(borrow)]
    pub class: std::borrow::Cow<'a, str>,
}

/// The `rtime` of a TPV, kept as the digits gpsd printed so that no
/// nanosecond is lost to a float.
#[derive(Deserialize)]
pub(crate) struct TpvTiming<'a> {
    #[serde(borrow)]
    pub rtime: Option<&'a RawValue>,
}

/// A TOFF report: the serial time of a second (`real`) and the wall clock
/// when gpsd latched it (`clock`), each as seconds and nanoseconds.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub(crate) struct Toff {
    pub real_sec: i64,
    pub real_nsec: i64,
    pub clock_sec: i64,
    pub clock_nsec: i64,
}

/// A PPS report: `real` is the true time of the edge (the top of a second,
/// as gpsd labels it), `clock` the wall clock when the kernel saw the
/// edge, `precision` an NTP-style log2 of seconds (gpsd 3.22 sends -20,
/// or -10 for a USB device; older versions omit it).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub(crate) struct Pps {
    pub real_sec: i64,
    pub real_nsec: i64,
    pub clock_sec: i64,
    pub clock_nsec: i64,
    pub precision: Option<i32>,
}

/// Why a time field could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeFieldError {
    /// Not of the form gpsd prints; the text says what was expected.
    Format(&'static str),
    /// A field out of its range (month 13, minute 61, ...).
    Range(&'static str),
    /// A second labelled `:60`: a leap second, which this source does not
    /// label (see [`parse_iso8601_utc`]).
    LeapSecond,
    /// Does not fit in `i64` nanoseconds since the epoch.
    Overflow,
}

impl fmt::Display for TimeFieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeFieldError::Format(what) => write!(f, "malformed time: expected {what}"),
            TimeFieldError::Range(what) => write!(f, "time field out of range: {what}"),
            TimeFieldError::LeapSecond => write!(f, "time labels a leap second (:60)"),
            TimeFieldError::Overflow => write!(f, "time outside the years 1677..2262"),
        }
    }
}

/// A time read from an ISO 8601 field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsoTime {
    /// Nanoseconds since the Unix epoch, UTC.
    pub unix_ns: i64,
    /// The value of one unit in the last printed digit, in nanoseconds
    /// (1 ms for gpsd's `.fffZ`, 1 s without a fraction). The value the
    /// printer started from lies less than this away from `unix_ns`,
    /// whether it truncated or rounded.
    pub resolution_ns: i64,
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` (UTC) into nanoseconds since the
/// Unix epoch, exactly: digits become integers, no float is involved.
///
/// A second `:60` (a leap second) is refused with
/// [`TimeFieldError::LeapSecond`] rather than folded onto a neighbouring
/// second: a label that could mean either of two instants one second apart
/// is not used for a bound.
pub fn parse_iso8601_utc(text: &str) -> Result<IsoTime, TimeFieldError> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return Err(TimeFieldError::Format("YYYY-MM-DDTHH:MM:SSZ"));
    }
    let sep = |i: usize, c: u8| -> Result<(), TimeFieldError> {
        if b[i] == c {
            Ok(())
        } else {
            Err(TimeFieldError::Format("YYYY-MM-DDTHH:MM:SSZ"))
        }
    };
    let year = digits(&b[0..4])?;
    sep(4, b'-')?;
    let month = digits(&b[5..7])?;
    sep(7, b'-')?;
    let day = digits(&b[8..10])?;
    sep(10, b'T')?;
    let hour = digits(&b[11..13])?;
    sep(13, b':')?;
    let minute = digits(&b[14..16])?;
    sep(16, b':')?;
    let second = digits(&b[17..19])?;

    let rest = &b[19..];
    let (fraction, fraction_digits, tail) = match rest.first() {
        Some(b'.') => {
            let len = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            (fraction_nanos(&rest[1..1 + len])?, len, &rest[1 + len..])
        }
        _ => (0, 0, rest),
    };
    if tail != b"Z" {
        return Err(TimeFieldError::Format("a 'Z' (UTC) at the end"));
    }

    if !(1..=12).contains(&month) {
        return Err(TimeFieldError::Range("month"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(TimeFieldError::Range("day of month"));
    }
    if hour > 23 {
        return Err(TimeFieldError::Range("hour"));
    }
    if minute > 59 {
        return Err(TimeFieldError::Range("minute"));
    }
    if second == 60 {
        return Err(TimeFieldError::LeapSecond);
    }
    if second > 59 {
        return Err(TimeFieldError::Range("second"));
    }

    let days = days_since_epoch(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second;
    let unix_ns = secs
        .checked_mul(NANOS_PER_SEC)
        .and_then(|ns| ns.checked_add(fraction))
        .ok_or(TimeFieldError::Overflow)?;
    // fraction_nanos admits at most 9 digits, so the exponent is 0..=9.
    let resolution_ns = 10_i64.pow(9 - fraction_digits as u32);
    Ok(IsoTime {
        unix_ns,
        resolution_ns,
    })
}

/// Parses a non-negative decimal `SECONDS[.f{1,9}]` (gpsd's `rtime`, which
/// it prints with nine decimals) into nanoseconds, exactly.
pub fn parse_decimal_seconds(text: &str) -> Result<i64, TimeFieldError> {
    let b = text.trim().as_bytes();
    let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if int_len == 0 || int_len > 12 {
        return Err(TimeFieldError::Format(
            "decimal seconds such as 1700000000.123456789",
        ));
    }
    let secs = digits(&b[..int_len])?;
    let rest = &b[int_len..];
    let fraction = match rest.first() {
        None => 0,
        Some(b'.') => fraction_nanos(&rest[1..])?,
        Some(_) => {
            return Err(TimeFieldError::Format(
                "decimal seconds such as 1700000000.123456789",
            ))
        }
    };
    secs.checked_mul(NANOS_PER_SEC)
        .and_then(|ns| ns.checked_add(fraction))
        .ok_or(TimeFieldError::Overflow)
}

/// Seconds and nanoseconds (as in TOFF and PPS) to nanoseconds since the
/// epoch; the nanosecond part must be in `0..1e9`.
pub fn sec_nsec_to_nanos(sec: i64, nsec: i64) -> Result<i64, TimeFieldError> {
    if !(0..NANOS_PER_SEC).contains(&nsec) {
        return Err(TimeFieldError::Range("nanoseconds outside 0..999999999"));
    }
    sec.checked_mul(NANOS_PER_SEC)
        .and_then(|ns| ns.checked_add(nsec))
        .ok_or(TimeFieldError::Overflow)
}

/// 1..=9 digits after a decimal point, as nanoseconds (right-padded).
fn fraction_nanos(b: &[u8]) -> Result<i64, TimeFieldError> {
    if b.is_empty() || b.len() > 9 {
        return Err(TimeFieldError::Format(
            "1 to 9 digits after the decimal point",
        ));
    }
    let mut nanos = digits(b)?;
    for _ in b.len()..9 {
        nanos *= 10;
    }
    Ok(nanos)
}

/// ASCII digits to an integer; at most 18 of them, so it cannot overflow.
fn digits(b: &[u8]) -> Result<i64, TimeFieldError> {
    if b.is_empty() || b.len() > 18 || !b.iter().all(u8::is_ascii_digit) {
        return Err(TimeFieldError::Format("digits"));
    }
    Ok(b.iter().fold(0, |acc, c| acc * 10 + i64::from(c - b'0')))
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given date of the proleptic Gregorian
/// calendar (year 0..=9999 here, as four digits allow).
fn days_since_epoch(year: i64, month: i64, day: i64) -> i64 {
    // Count whole years from year 0 with leap days, then whole months of
    // the year, then days; subtract the same count for 1970-01-01.
    fn days_from_year_zero(year: i64, month: i64, day: i64) -> i64 {
        let leap_days_before = |y: i64| {
            if y == 0 {
                0
            } else {
                let p = y - 1;
                p / 4 - p / 100 + p / 400 + 1 // year 0 is a leap year
            }
        };
        let mut days = year * 365 + leap_days_before(year);
        for m in 1..month {
            days += days_in_month(year, m);
        }
        days + day - 1
    }
    days_from_year_zero(year, month, day) - days_from_year_zero(1970, 1, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix_ns(text: &str) -> i64 {
        parse_iso8601_utc(text).expect("valid time").unix_ns
    }

    #[test]
    fn iso8601_exact_values() {
        // Epoch and a few dates whose Unix seconds are known by reckoning:
        // 2000-01-01 is 10957 days after 1970-01-01 (30 years, 7 leap days).
        assert_eq!(unix_ns("1970-01-01T00:00:00Z"), 0);
        assert_eq!(
            unix_ns("2000-01-01T00:00:00.000Z"),
            10_957 * 86_400 * NANOS_PER_SEC
        );
        // 2017-01-01: gpsd's era boundary, 1483228800 s.
        assert_eq!(
            unix_ns("2017-01-01T00:00:00Z"),
            1_483_228_800 * NANOS_PER_SEC
        );
        // 2000-02-29 exists (2000 is divisible by 400), 1900-02-29 does not.
        assert_eq!(
            unix_ns("2000-03-01T00:00:00Z") - unix_ns("2000-02-28T00:00:00Z"),
            2 * 86_400 * NANOS_PER_SEC
        );
        assert_eq!(
            parse_iso8601_utc("1900-02-29T00:00:00Z"),
            Err(TimeFieldError::Range("day of month"))
        );
        // Fractions are exact to the nanosecond, shorter ones right-padded.
        let base = unix_ns("2019-03-28T16:45:17Z");
        assert_eq!(unix_ns("2019-03-28T16:45:17.99Z") - base, 990_000_000);
        assert_eq!(unix_ns("2019-03-28T16:45:17.000000001Z") - base, 1);
        // One day after 2019-03-28T00:00:00Z (1553731200) is 1553817600.
        assert_eq!(
            unix_ns("2019-03-29T00:00:00Z"),
            1_553_817_600 * NANOS_PER_SEC
        );
    }

    #[test]
    fn iso8601_resolution_follows_the_digits() {
        let resolution = |text| parse_iso8601_utc(text).unwrap().resolution_ns;
        assert_eq!(resolution("2019-03-28T16:45:17Z"), NANOS_PER_SEC);
        assert_eq!(resolution("2019-03-28T16:45:17.990Z"), 1_000_000);
        assert_eq!(resolution("2019-03-28T16:45:17.5Z"), 100_000_000);
        assert_eq!(resolution("2019-03-28T16:45:17.123456789Z"), 1);
    }

    #[test]
    fn iso8601_refuses_what_gpsd_does_not_print() {
        for bad in [
            "",
            "2019-03-28T16:45:17",
            "2019-03-28 16:45:17Z",
            "2019-03-28T16:45:17+00:00",
            "2019-03-28T16:45:17.Z",
            "2019-03-28T16:45:17.1234567890Z",
            "2019-3-28T16:45:17Z",
            "2019-13-01T00:00:00Z",
            "2019-04-31T00:00:00Z",
            "2019-03-28T24:00:00Z",
            "2019-03-28T16:60:00Z",
            "2019-03-28T16:45:61Z",
            "+019-03-28T16:45:17Z",
            "2019-03-28T16:45:17ZZ",
        ] {
            assert!(parse_iso8601_utc(bad).is_err(), "accepted {bad:?}");
        }
        assert_eq!(
            parse_iso8601_utc("2016-12-31T23:59:60Z"),
            Err(TimeFieldError::LeapSecond)
        );
    }

    #[test]
    fn decimal_seconds_are_exact() {
        assert_eq!(
            parse_decimal_seconds("1796399348.498554720"),
            Ok(1_796_399_348 * NANOS_PER_SEC + 498_554_720)
        );
        // f64 would round this one: 1796399348.000000001 is not representable.
        assert_eq!(
            parse_decimal_seconds("1796399348.000000001"),
            Ok(1_796_399_348 * NANOS_PER_SEC + 1)
        );
        assert_eq!(parse_decimal_seconds("  12.5 "), Ok(12_500_000_000));
        assert_eq!(parse_decimal_seconds("7"), Ok(7 * NANOS_PER_SEC));
        for bad in [
            "",
            "-1.0",
            "1e9",
            "1.",
            "1.0000000001",
            "abc",
            "1.2.3",
            "9999999999999.0",
        ] {
            assert!(parse_decimal_seconds(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn sec_nsec_checks_range() {
        assert_eq!(sec_nsec_to_nanos(2, 5), Ok(2 * NANOS_PER_SEC + 5));
        assert!(sec_nsec_to_nanos(2, NANOS_PER_SEC).is_err());
        assert!(sec_nsec_to_nanos(2, -1).is_err());
        assert_eq!(
            sec_nsec_to_nanos(i64::MAX / 2, 0),
            Err(TimeFieldError::Overflow)
        );
    }
}
