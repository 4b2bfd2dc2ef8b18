//! Text for people: UTC dates from Unix nanoseconds, milliseconds with
//! three decimals, and the lines `tt-cli` prints. Integer arithmetic only.

use tt_core::Interval;

const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// Days from 0000-03-01 to 1970-01-01 in the proleptic Gregorian calendar.
const MARCH_ZERO_TO_EPOCH_DAYS: i64 = 719_468;
/// Days in 400 Gregorian years: 400 * 365 + 97 leap days.
const DAYS_PER_400_YEARS: i64 = 146_097;
/// Days in a century that does not end on a leap year: 100 * 365 + 24.
const DAYS_PER_SHORT_CENTURY: i64 = 36_524;
/// Days in four years with their leap day: 4 * 365 + 1.
const DAYS_PER_4_YEARS: i64 = 1_461;
/// Month lengths from March on. Counting years from March puts February,
/// and its leap day, last, so no month after it depends on the leap rule.
const MONTHS_FROM_MARCH: [i64; 12] = [31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31, 29];

/// The Gregorian date `(year, month 1-12, day 1-31)` of the day `days`
/// after 1970-01-01 (negative: before it).
///
/// Years are counted from March 1 so that the leap day closes a year. A
/// 400-year cycle then splits into three centuries of 36 524 days and a
/// last one of 36 525 (its final year ends on a Feb 29 of a year divisible
/// by 400); a century into four-year groups of 1 461 days, where only the
/// group ending a short century is a day shorter; a group into three years
/// of 365 days and a last of 366.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let from_march_zero = days + MARCH_ZERO_TO_EPOCH_DAYS;
    let cycle = from_march_zero.div_euclid(DAYS_PER_400_YEARS);
    let mut rest = from_march_zero.rem_euclid(DAYS_PER_400_YEARS);

    let century = (rest / DAYS_PER_SHORT_CENTURY).min(3);
    rest -= century * DAYS_PER_SHORT_CENTURY;
    let group = rest / DAYS_PER_4_YEARS;
    rest -= group * DAYS_PER_4_YEARS;
    let year_in_group = (rest / 365).min(3);
    rest -= year_in_group * 365;
    let march_year = cycle * 400 + century * 100 + group * 4 + year_in_group;

    // `rest` is now the day of the March-based year, 0 = March 1.
    let mut month_index = 0;
    for length in MONTHS_FROM_MARCH {
        if rest < length {
            break;
        }
        rest -= length;
        month_index += 1;
    }
    // Indexes 0..=9 are March..December; 10 and 11 are January and
    // February of the next calendar year.
    let (month, year) = if month_index < 10 {
        (month_index + 3, march_year)
    } else {
        (month_index - 9, march_year + 1)
    };
    (year, month as u32, rest as u32 + 1)
}

/// `unix_ns` as RFC 3339 UTC with nanoseconds, such as
/// `2024-02-29T00:00:00.000000000Z`. Covers the whole `i64` range
/// (1677 to 2262).
pub fn utc(unix_ns: i64) -> String {
    let days = unix_ns.div_euclid(NANOS_PER_DAY);
    let of_day = unix_ns.rem_euclid(NANOS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let nanos = of_day % 1_000_000_000;
    let seconds = of_day / 1_000_000_000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// A non-negative span in milliseconds with three decimals, rounded **up**
/// to the microsecond: an uncertainty shown never looks smaller than it is.
pub fn ms_up(ns: i64) -> String {
    let us = (i128::from(ns.max(0)) + 999) / 1000;
    format!("{}.{:03}", us / 1000, us % 1000)
}

/// A signed offset in milliseconds with three decimals and a sign, rounded
/// to the nearest microsecond (halves away from zero).
pub fn ms_signed(ns: i64) -> String {
    let magnitude = (i128::from(ns).abs() + 500) / 1000;
    let sign = if ns < 0 && magnitude > 0 { '-' } else { '+' };
    format!("{sign}{}.{:03}", magnitude / 1000, magnitude % 1000)
}

/// Seconds with one decimal, rounded down, for ages.
pub fn seconds(ns: i64) -> String {
    let tenths = ns.max(0) / 100_000_000;
    format!("{}.{}", tenths / 10, tenths % 10)
}

/// The midpoint of `interval` and the radius around it that covers the
/// whole interval: `mid = floor((E + A) / 2)`, so `A - mid = ceil(w / 2)`
/// and `mid - E = floor(w / 2)`; the radius is `ceil(w / 2)`.
pub fn midpoint_and_radius(interval: &Interval) -> (i64, i64) {
    let width = i128::from(interval.width_ns());
    let radius = i64::try_from((width + 1) / 2).unwrap_or(i64::MAX);
    (interval.midpoint().unix_nanos(), radius)
}

/// `2024-02-29T00:00:00.000812000Z ± 0.812 ms  [earliest .. latest]`.
pub fn interval_line(interval: &Interval) -> String {
    let (mid, radius) = midpoint_and_radius(interval);
    format!(
        "{} ± {} ms  [{} .. {}]",
        utc(mid),
        ms_up(radius),
        utc(interval.earliest().unix_nanos()),
        utc(interval.latest().unix_nanos())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = NANOS_PER_DAY;

    #[test]
    fn dates_around_the_epoch() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        // 1970 has 365 days.
        assert_eq!(civil_from_days(365), (1971, 1, 1));
        assert_eq!(utc(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(utc(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(utc(-DAY), "1969-12-31T00:00:00.000000000Z");
    }

    #[test]
    fn leap_days() {
        // 2000-01-01 is 30 years after the epoch with 7 leap days
        // (72, 76, 80, 84, 88, 92, 96): 30 * 365 + 7 = 10 957 days.
        assert_eq!(civil_from_days(10_957), (2000, 1, 1));
        // + 31 (January) + 28 = Feb 29, a leap day (2000 is divisible by 400).
        assert_eq!(civil_from_days(10_957 + 59), (2000, 2, 29));
        assert_eq!(civil_from_days(10_957 + 60), (2000, 3, 1));
        // 2024-01-01: 54 years after the epoch with 13 leap days (1972 to
        // 2020): 54 * 365 + 13 = 19 723 days; Feb 29 is 59 days later.
        assert_eq!(civil_from_days(19_723 + 59), (2024, 2, 29));
        assert_eq!(
            utc((19_723 + 59) * DAY + 1),
            "2024-02-29T00:00:00.000000001Z"
        );
        // 2023 is not a leap year: 365 days before 2024-01-01 is 2023-01-01
        // and day 59 of 2023 is March 1.
        assert_eq!(civil_from_days(19_723 - 365 + 59), (2023, 3, 1));
    }

    #[test]
    fn century_years_that_are_not_leap() {
        // 1900-01-01 is 70 years before the epoch with 17 leap days (1904
        // to 1968): -(70 * 365 + 17) = -25 567. 1900 is not a leap year,
        // so day 59 of 1900 is March 1.
        assert_eq!(civil_from_days(-25_567), (1900, 1, 1));
        assert_eq!(civil_from_days(-25_567 + 58), (1900, 2, 28));
        assert_eq!(civil_from_days(-25_567 + 59), (1900, 3, 1));
        // 2100-01-01: 130 years, leap days 1972..=2096 are 32: 47 482.
        assert_eq!(civil_from_days(130 * 365 + 32), (2100, 1, 1));
        assert_eq!(civil_from_days(130 * 365 + 32 + 59), (2100, 3, 1));
    }

    #[test]
    fn every_day_of_a_leap_cycle_follows_the_previous_one() {
        // Walking day by day from 1600-03-01 (one 400-year cycle and then
        // some before 1970) to 2401-01-01, the date advances by exactly one
        // calendar day each time, by the month lengths with the Gregorian
        // leap rule.
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let length = |y: i64, m: u32| match m {
            2 if leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        // 1600-03-01 is 1600 March-based years after 0000-03-01, with 388
        // leap days among them (4 cycles of 97).
        let start = 1600 * 365 + 388 - MARCH_ZERO_TO_EPOCH_DAYS;
        let mut previous = civil_from_days(start);
        assert_eq!(previous, (1600, 3, 1));
        for days in start + 1..=start + 3 * DAYS_PER_400_YEARS {
            let (y, m, d) = previous;
            let expected = if d < length(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
            let got = civil_from_days(days);
            assert_eq!(got, expected, "day {days}");
            previous = got;
        }
    }

    #[test]
    fn the_ends_of_the_range() {
        // i64 nanoseconds span +-292 years around 1970.
        assert_eq!(utc(i64::MIN), "1677-09-21T00:12:43.145224192Z");
        assert_eq!(utc(i64::MAX), "2262-04-11T23:47:16.854775807Z");
    }

    #[test]
    fn milliseconds() {
        assert_eq!(ms_up(812_000), "0.812");
        // 812.001 us rounds up to 813 us.
        assert_eq!(ms_up(812_001), "0.813");
        assert_eq!(ms_up(0), "0.000");
        assert_eq!(ms_up(1), "0.001");
        assert_eq!(ms_up(12_345_678_000), "12345.678");
        assert_eq!(ms_signed(12_000), "+0.012");
        assert_eq!(ms_signed(-1_234_500), "-1.235");
        assert_eq!(ms_signed(-499), "+0.000");
        assert_eq!(ms_signed(1_499), "+0.001");
        assert_eq!(seconds(1_290_000_000), "1.2");
        assert_eq!(seconds(99_999_999), "0.0");
    }

    #[test]
    fn the_radius_covers_the_whole_interval() {
        // Odd width 3: mid = floor(11 / 2) = 5 from [4, 7], radius 2; 5 - 2
        // = 3 <= 4 and 5 + 2 = 7.
        let interval = Interval::from_unix_nanos(4, 7).unwrap();
        assert_eq!(midpoint_and_radius(&interval), (5, 2));
        let interval = Interval::from_unix_nanos(-7, -4).unwrap();
        assert_eq!(midpoint_and_radius(&interval), (-6, 2));
        let line = interval_line(
            &Interval::from_unix_nanos(1_709_164_800_000_000_000, 1_709_164_800_001_624_000)
                .unwrap(),
        );
        // 1_709_164_800 s is 19 782 days: 2024-02-29, as above.
        assert_eq!(
            line,
            "2024-02-29T00:00:00.000812000Z ± 0.812 ms  \
             [2024-02-29T00:00:00.000000000Z .. 2024-02-29T00:00:00.001624000Z]"
        );
    }
}
