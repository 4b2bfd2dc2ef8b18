//! NMEA 0183 sentences as a GPS receiver sends them once a second: RMC, GGA
//! and ZDA, formatted from a UTC label. Pure functions, no I/O.
//!
//! A sentence is `$` + talker id + sentence type + `,`-separated fields +
//! `*` + checksum + CR LF. The checksum is the XOR of every byte strictly
//! between `$` and `*`, written as two upper-case hexadecimal digits.
//!
//! Field layouts (NMEA 0183 version 2.3, the one gpsd and most receivers
//! speak):
//! - RMC, 12 fields: time, status (A valid / V invalid), latitude, N/S,
//!   longitude, E/W, speed over ground in knots, course over ground in
//!   degrees, date `ddmmyy`, magnetic variation, E/W, mode (A autonomous /
//!   N no fix).
//! - GGA, 14 fields: time, latitude, N/S, longitude, E/W, quality (0 no fix,
//!   1 GPS fix), satellites used, HDOP, altitude, `M`, geoid separation, `M`,
//!   age of differential data, differential station id.
//! - ZDA, 6 fields: time, day, month, four-digit year, local zone hours,
//!   local zone minutes.
//!
//! Times are written `hhmmss.ss` (centiseconds), dates in UTC.

use std::fmt;
use std::str::FromStr;

/// The two letters before the sentence type: which constellation the
/// receiver says the sentence comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Talker {
    /// GPS alone.
    Gp,
    /// Several constellations combined (GNSS).
    Gn,
    /// GLONASS.
    Gl,
    /// Galileo.
    Ga,
    /// BeiDou, NMEA 4.11 spelling.
    Gb,
    /// BeiDou, older spelling.
    Bd,
}

impl Talker {
    /// The two letters as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Talker::Gp => "GP",
            Talker::Gn => "GN",
            Talker::Gl => "GL",
            Talker::Ga => "GA",
            Talker::Gb => "GB",
            Talker::Bd => "BD",
        }
    }
}

impl FromStr for Talker {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_uppercase().as_str() {
            "GP" => Ok(Talker::Gp),
            "GN" => Ok(Talker::Gn),
            "GL" => Ok(Talker::Gl),
            "GA" => Ok(Talker::Ga),
            "GB" => Ok(Talker::Gb),
            "BD" => Ok(Talker::Bd),
            _ => Err(format!(
                "unknown talker id {text:?}; use one of GP, GN, GL, GA, GB, BD"
            )),
        }
    }
}

/// Whether the simulated receiver has a position fix. It always knows the
/// time and date (a receiver that has decoded one satellite's navigation
/// message does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fix {
    /// A 3D fix at the fixed position 45°00.0000' N, 7°00.0000' E, 250 m.
    Fixed,
    /// No fix: RMC status V, GGA quality 0, position fields empty.
    NoFix,
}

/// A UTC instant broken into the calendar fields NMEA writes, truncated to
/// centiseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcLabel {
    /// Four-digit year, 1970..=9999.
    pub year: u16,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
    /// 0..=59 (this simulator never labels a leap second).
    pub second: u8,
    /// Hundredths of a second, 0..=99.
    pub centis: u8,
}

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

impl UtcLabel {
    /// The label of `unix_ns` nanoseconds after 1970-01-01T00:00:00Z,
    /// truncated (not rounded) to the centisecond. `None` before 1970,
    /// which this simulator does not label.
    pub fn from_unix_ns(unix_ns: i64) -> Option<Self> {
        if unix_ns < 0 {
            return None;
        }
        let seconds = unix_ns / NANOS_PER_SECOND;
        let centis = (unix_ns % NANOS_PER_SECOND) / 10_000_000;
        let days = seconds / SECONDS_PER_DAY;
        let of_day = seconds % SECONDS_PER_DAY;
        let (year, month, day) = civil_from_days(days)?;
        Some(UtcLabel {
            year,
            month,
            day,
            hour: u8::try_from(of_day / 3600).ok()?,
            minute: u8::try_from(of_day % 3600 / 60).ok()?,
            second: u8::try_from(of_day % 60).ok()?,
            centis: u8::try_from(centis).ok()?,
        })
    }

    /// `hhmmss.ss`.
    pub fn time_field(&self) -> String {
        format!(
            "{:02}{:02}{:02}.{:02}",
            self.hour, self.minute, self.second, self.centis
        )
    }

    /// `ddmmyy`, the RMC date.
    pub fn date_field(&self) -> String {
        format!("{:02}{:02}{:02}", self.day, self.month, self.year % 100)
    }
}

fn is_leap_year(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// Year, month and day of the `days`-th day after 1970-01-01 (day 0),
/// counted in the proleptic Gregorian calendar. Walks whole years, then
/// whole months: a few hundred steps at most for any `i64` nanosecond
/// instant (which ends in 2262), plain to check by eye. `None` past 9999,
/// whose year NMEA cannot write.
fn civil_from_days(mut days: i64) -> Option<(u16, u8, u8)> {
    let mut year: u16 = 1970;
    loop {
        let length = if is_leap_year(year) { 366 } else { 365 };
        if days < length {
            break;
        }
        days -= length;
        year += 1;
        if year > 9999 {
            return None;
        }
    }
    let february = if is_leap_year(year) { 29 } else { 28 };
    let month_lengths = [31, february, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut month: u8 = 1;
    for length in month_lengths {
        if days < length {
            break;
        }
        days -= length;
        month += 1;
    }
    Some((year, month, u8::try_from(days + 1).ok()?))
}

/// XOR of all bytes of `body`, the part of a sentence between `$` and `*`.
pub fn checksum(body: &[u8]) -> u8 {
    body.iter().fold(0, |acc, byte| acc ^ byte)
}

/// One complete sentence: `$`, talker, `kind`, the fields, `*`, checksum,
/// CR LF.
pub fn sentence(talker: Talker, kind: &str, fields: &[&str]) -> String {
    let mut body = format!("{}{}", talker.as_str(), kind);
    for field in fields {
        body.push(',');
        body.push_str(field);
    }
    format!("${body}*{:02X}\r\n", checksum(body.as_bytes()))
}

/// The fixed position, as NMEA writes it.
const LATITUDE: &str = "4500.0000";
const LONGITUDE: &str = "00700.0000";

/// The RMC sentence for `label`.
pub fn rmc(talker: Talker, label: &UtcLabel, fix: Fix) -> String {
    let time = label.time_field();
    let date = label.date_field();
    let fields: [&str; 12] = match fix {
        Fix::Fixed => [
            &time, "A", LATITUDE, "N", LONGITUDE, "E", "0.00", "0.00", &date, "", "", "A",
        ],
        Fix::NoFix => [&time, "V", "", "", "", "", "", "", &date, "", "", "N"],
    };
    sentence(talker, "RMC", &fields)
}

/// The GGA sentence for `label`.
pub fn gga(talker: Talker, label: &UtcLabel, fix: Fix) -> String {
    let time = label.time_field();
    let fields: [&str; 14] = match fix {
        Fix::Fixed => [
            &time, LATITUDE, "N", LONGITUDE, "E", "1", "08", "0.9", "250.0", "M", "47.0", "M", "",
            "",
        ],
        Fix::NoFix => [
            &time, "", "", "", "", "0", "00", "99.99", "", "", "", "", "", "",
        ],
    };
    sentence(talker, "GGA", &fields)
}

/// The ZDA sentence for `label` (zone 00:00, as receivers send it).
pub fn zda(talker: Talker, label: &UtcLabel) -> String {
    let fields = [
        label.time_field(),
        format!("{:02}", label.day),
        format!("{:02}", label.month),
        format!("{:04}", label.year),
        "00".to_string(),
        "00".to_string(),
    ];
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    sentence(talker, "ZDA", &fields)
}

/// What a receiver sends for one second: RMC, GGA, ZDA, in that order.
pub fn second_report(talker: Talker, label: &UtcLabel, fix: Fix) -> String {
    let mut text = rmc(talker, label, fix);
    text.push_str(&gga(talker, label, fix));
    text.push_str(&zda(talker, label));
    text
}

/// A sentence taken apart: `talker` + `kind` and the fields after them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The two-letter talker id.
    pub talker: String,
    /// The sentence type, e.g. `RMC`.
    pub kind: String,
    /// The comma-separated fields after the address.
    pub fields: Vec<String>,
}

/// Why a line is not a valid sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// No leading `$` or no `*` before the checksum.
    Framing,
    /// The two characters after `*` are not hexadecimal.
    BadChecksumDigits,
    /// The checksum does not match the body.
    ChecksumMismatch {
        /// What the sentence said.
        stated: u8,
        /// What the body adds up to.
        computed: u8,
    },
    /// The address is not five letters (talker + type).
    Address,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Framing => write!(f, "not framed as $...*hh"),
            ParseError::BadChecksumDigits => write!(f, "checksum is not two hex digits"),
            ParseError::ChecksumMismatch { stated, computed } => {
                write!(f, "checksum {stated:02X} stated, {computed:02X} computed")
            }
            ParseError::Address => write!(f, "address is not talker + sentence type"),
        }
    }
}

/// Parses one sentence (with or without its CR LF) and checks its checksum.
pub fn parse(line: &str) -> Result<Parsed, ParseError> {
    let line = line.trim_end_matches(['\r', '\n']);
    let rest = line.strip_prefix('$').ok_or(ParseError::Framing)?;
    let (body, stated) = rest.rsplit_once('*').ok_or(ParseError::Framing)?;
    if stated.len() != 2 {
        return Err(ParseError::BadChecksumDigits);
    }
    let stated = u8::from_str_radix(stated, 16).map_err(|_| ParseError::BadChecksumDigits)?;
    let computed = checksum(body.as_bytes());
    if stated != computed {
        return Err(ParseError::ChecksumMismatch { stated, computed });
    }
    let mut parts = body.split(',');
    let address = parts.next().unwrap_or_default();
    if address.len() != 5 || !address.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ParseError::Address);
    }
    Ok(Parsed {
        talker: address[..2].to_string(),
        kind: address[2..].to_string(),
        fields: parts.map(str::to_string).collect(),
    })
}

#[cfg(test)]
mod tests;
