//! One NMEA 0183 sentence, checked and taken apart. Pure: bytes in, a
//! [`Sentence`] or a [`Rejection`] out.
//!
//! # Framing and checksum
//!
//! `$` + address (talker id + sentence type, e.g. `GNRMC`) + `,`-separated
//! fields + `*` + two hexadecimal digits. The checksum is the XOR of every
//! byte strictly between `$` and `*`. NMEA allows 82 characters with CR LF;
//! receivers overshoot (NMEA 4.1 fields, long proprietary sentences), so
//! lines up to [`MAX_SENTENCE_BYTES`] are read and longer ones refused.
//!
//! A sentence without `*XX` is refused unless the source is configured to
//! take it ([`ParseOptions::require_checksum`] = false). Some receivers never
//! send one (the HP 58534A timing receiver, for one); a sentence without a
//! checksum has no protection against a flipped bit on the line, so it is
//! an opt-in for such receivers only.
//!
//! # What is taken
//!
//! The talker id is any two letters (GP, GN, GL, GA, GB, BD, ...); time
//! sentences mean the same whichever constellation speaks. Proprietary
//! sentences (`$P...`) and every type other than RMC, ZDA, GGA and GNS are
//! [`Sentence::Other`].
//!
//! * RMC: time, status (`A` valid, `V` invalid), ..., date `ddmmyy` (field
//!   9); from NMEA 2.3 a mode letter in field 12 (`N` = no fix).
//! * ZDA: time, day, month, four-digit year (local zone fields ignored:
//!   the time is UTC).
//! * GGA: time, ..., fix quality (field 6): 1..=5 are GNSS fixes (GPS,
//!   differential, PPS, RTK, float RTK); 0 is no fix, and 6 (dead
//!   reckoning), 7 (manual input) and 8 (simulator) do not come from the
//!   sky, so they count as no fix too. A fix from 0 satellites used (field
//!   7 all zeros) is no fix either.
//! * GNS: time, ..., mode (field 6): one letter per constellation; a fix
//!   if any is `A`, `D`, `P`, `R` or `F`; all of `N`, `E`, `M`, `S` is no
//!   fix; so is 0 satellites used (field 7).
//!
//! # Times and dates
//!
//! A time field is `hhmmss` with any number of decimals, converted to
//! integer nanoseconds; digits past the ninth decimal make the time inexact
//! ([`TimeOfDay::inexact`]), which the interval rounds outward. Second 60
//! (an inserted leap second) is refused: it has no Unix time of its own.
//!
//! A two-digit RMC year `yy` is `19yy` for `80..=99` and `20yy` for
//! `00..=79`: GPS time starts in 1980, so no receiver reports an earlier
//! year, and the rule holds until 2079. A date 1024 weeks early (the week
//! rollover bug) is the assembler's business, not the parser's.

use std::fmt;

/// The longest sentence read, in bytes without the line end. NMEA's own
/// limit is 82 with CR LF; this leaves room for receivers that exceed it.
pub const MAX_SENTENCE_BYTES: usize = 256;

/// Nanoseconds in one second.
const NANOS_PER_SEC: i64 = 1_000_000_000;

/// How strict the parser is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    /// Refuse sentences without `*XX` (default). Set to false only for a
    /// receiver that never sends a checksum.
    pub require_checksum: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            require_checksum: true,
        }
    }
}

/// A time of day, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeOfDay {
    /// Nanoseconds since midnight, rounded down: `0..86_400e9`.
    pub ns: i64,
    /// The field had non-zero digits past the ninth decimal, so the true
    /// time of day lies in `(ns, ns + 1)`.
    pub inexact: bool,
}

/// A calendar date, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// Days since 1970-01-01.
    pub days: i64,
}

impl Date {
    /// The date of `year-month-day`, if it exists (proleptic Gregorian).
    pub fn from_ymd(year: i64, month: u32, day: u32) -> Option<Date> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date {
            days: days_since_epoch(year, month, day),
        })
    }

    /// Seconds since the Unix epoch at 00:00:00 UTC of this date.
    pub fn unix_s(self) -> i64 {
        self.days.saturating_mul(86_400)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = ymd_from_days(self.days);
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

/// Which sentence said the receiver has no fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoFixReason {
    /// RMC status `V`.
    RmcStatusV,
    /// RMC mode indicator `N`.
    RmcModeN,
    /// GGA quality 0, 6, 7 or 8 (the digit).
    GgaQuality(u8),
    /// GNS mode letters none of which is a GNSS fix.
    GnsModeNoFix,
    /// GGA or GNS claiming a fix from 0 satellites.
    NoSatellites,
    /// A ZDA while the receiver's last word on its fix was "none" (or it
    /// has not said): ZDA carries no validity of its own.
    ZdaWithoutFix,
}

impl fmt::Display for NoFixReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoFixReason::RmcStatusV => write!(f, "RMC status V (invalid)"),
            NoFixReason::RmcModeN => write!(f, "RMC mode N (no fix)"),
            NoFixReason::GgaQuality(q) => write!(f, "GGA fix quality {q} (no GNSS fix)"),
            NoFixReason::GnsModeNoFix => write!(f, "GNS mode without a GNSS fix"),
            NoFixReason::NoSatellites => write!(f, "a fix claimed from 0 satellites"),
            NoFixReason::ZdaWithoutFix => {
                write!(f, "ZDA while the receiver reports no fix in RMC/GGA/GNS")
            }
        }
    }
}

/// A sentence that parsed and passed its checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sentence {
    /// RMC with status `A`.
    Rmc {
        /// Talker id, e.g. `*b"GN"`.
        talker: [u8; 2],
        /// Time of day.
        time: TimeOfDay,
        /// Date.
        date: Date,
    },
    /// ZDA (no validity field of its own).
    Zda {
        /// Talker id.
        talker: [u8; 2],
        /// Time of day.
        time: TimeOfDay,
        /// Date.
        date: Date,
    },
    /// GGA with a GNSS fix.
    Gga {
        /// Talker id.
        talker: [u8; 2],
        /// Time of day.
        time: TimeOfDay,
    },
    /// GNS with a GNSS fix.
    Gns {
        /// Talker id.
        talker: [u8; 2],
        /// Time of day.
        time: TimeOfDay,
    },
    /// RMC, GGA or GNS saying there is no fix.
    NoFix(NoFixReason),
    /// Any other sentence (GSV, VTG, proprietary, ...): no time taken.
    Other,
}

/// Why a line was refused. Each refusal is counted under its
/// [`Reason`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Longer than [`MAX_SENTENCE_BYTES`].
    TooLong {
        /// Its length in bytes (at least).
        len: usize,
    },
    /// Bytes outside any sentence, or a sentence with bytes that are not
    /// printable ASCII.
    BinaryNoise {
        /// How many bytes.
        len: usize,
    },
    /// A sentence cut short: a new `$` before its line end, or fewer fields
    /// than its type has.
    Truncated {
        /// What was missing.
        what: String,
    },
    /// No `*XX` and the source requires one.
    NoChecksum,
    /// `*XX` does not match the bytes.
    BadChecksum {
        /// The XOR of the bytes received.
        computed: u8,
        /// What the sentence said, or `None` if `XX` is not hexadecimal.
        sent: Option<u8>,
    },
    /// The receiver says it has no fix.
    NoFix(NoFixReason),
    /// A field the time needs is empty.
    EmptyField {
        /// Sentence type, e.g. "RMC".
        sentence: &'static str,
        /// Field name.
        field: &'static str,
    },
    /// A field is not what its type allows (not digits, a month 13, an
    /// hour 24, a second 61, ...).
    OutOfRange {
        /// Sentence type.
        sentence: &'static str,
        /// Field name.
        field: &'static str,
        /// The field as received (cut to 16 bytes).
        value: String,
    },
    /// Second 60: an inserted leap second, which has no Unix time.
    LeapSecond,
    /// A GGA/GNS time with no date known to go with it (none yet, or
    /// midnight may have passed since the last one).
    NoDate,
    /// A label before the configured date floor.
    BeforeDateFloor {
        /// The date as the receiver gave it.
        reported: Date,
        /// The date after adding 1024 weeks, if it is on or after the floor
        /// (refused because the configuration says so); `None` when even
        /// that is before the floor.
        correctable_to: Option<Date>,
    },
}

/// The kind of a [`Rejection`], for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// [`Rejection::TooLong`].
    TooLong,
    /// [`Rejection::BinaryNoise`].
    BinaryNoise,
    /// [`Rejection::Truncated`].
    Truncated,
    /// [`Rejection::NoChecksum`].
    NoChecksum,
    /// [`Rejection::BadChecksum`].
    BadChecksum,
    /// [`Rejection::NoFix`].
    NoFix,
    /// [`Rejection::EmptyField`].
    EmptyField,
    /// [`Rejection::OutOfRange`].
    OutOfRange,
    /// [`Rejection::LeapSecond`].
    LeapSecond,
    /// [`Rejection::NoDate`].
    NoDate,
    /// [`Rejection::BeforeDateFloor`].
    BeforeDateFloor,
}

impl Reason {
    /// Every reason, in a fixed order (the index of [`Reason::index`]).
    pub const ALL: [Reason; 11] = [
        Reason::TooLong,
        Reason::BinaryNoise,
        Reason::Truncated,
        Reason::NoChecksum,
        Reason::BadChecksum,
        Reason::NoFix,
        Reason::EmptyField,
        Reason::OutOfRange,
        Reason::LeapSecond,
        Reason::NoDate,
        Reason::BeforeDateFloor,
    ];

    /// The position of this reason in [`Reason::ALL`].
    pub fn index(self) -> usize {
        Reason::ALL
            .iter()
            .position(|r| *r == self)
            .expect("ALL lists every reason")
    }

    /// A short name for logs, kebab-case.
    pub fn name(self) -> &'static str {
        match self {
            Reason::TooLong => "too-long",
            Reason::BinaryNoise => "binary-noise",
            Reason::Truncated => "truncated",
            Reason::NoChecksum => "no-checksum",
            Reason::BadChecksum => "bad-checksum",
            Reason::NoFix => "no-fix",
            Reason::EmptyField => "empty-field",
            Reason::OutOfRange => "out-of-range",
            Reason::LeapSecond => "leap-second",
            Reason::NoDate => "no-date",
            Reason::BeforeDateFloor => "before-date-floor",
        }
    }
}

impl Rejection {
    /// The counted kind.
    pub fn reason(&self) -> Reason {
        match self {
            Rejection::TooLong { .. } => Reason::TooLong,
            Rejection::BinaryNoise { .. } => Reason::BinaryNoise,
            Rejection::Truncated { .. } => Reason::Truncated,
            Rejection::NoChecksum => Reason::NoChecksum,
            Rejection::BadChecksum { .. } => Reason::BadChecksum,
            Rejection::NoFix(_) => Reason::NoFix,
            Rejection::EmptyField { .. } => Reason::EmptyField,
            Rejection::OutOfRange { .. } => Reason::OutOfRange,
            Rejection::LeapSecond => Reason::LeapSecond,
            Rejection::NoDate => Reason::NoDate,
            Rejection::BeforeDateFloor { .. } => Reason::BeforeDateFloor,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::TooLong { len } => write!(
                f,
                "line of {len} bytes or more, over the {MAX_SENTENCE_BYTES}-byte limit"
            ),
            Rejection::BinaryNoise { len } => {
                write!(f, "{len} bytes of noise (not a printable NMEA sentence)")
            }
            Rejection::Truncated { what } => write!(f, "sentence cut short: {what}"),
            Rejection::NoChecksum => write!(
                f,
                "sentence without checksum (set require-checksum = false only for a receiver \
                 that never sends one)"
            ),
            Rejection::BadChecksum { computed, sent } => match sent {
                Some(sent) => write!(
                    f,
                    "checksum mismatch: sentence says {sent:02X}, its bytes give {computed:02X}"
                ),
                None => write!(f, "checksum is not two hexadecimal digits"),
            },
            Rejection::NoFix(reason) => write!(f, "no fix: {reason}"),
            Rejection::EmptyField { sentence, field } => {
                write!(f, "{sentence} with an empty {field} field")
            }
            Rejection::OutOfRange {
                sentence,
                field,
                value,
            } => write!(f, "{sentence} {field} field {value:?} is out of range"),
            Rejection::LeapSecond => write!(
                f,
                "time of day 23:59:60 (a leap second) has no Unix time; not taken"
            ),
            Rejection::NoDate => write!(
                f,
                "time of day without a date: no valid RMC/ZDA yet, or midnight may have \
                 passed since the last"
            ),
            Rejection::BeforeDateFloor {
                reported,
                correctable_to,
            } => match correctable_to {
                Some(corrected) => write!(
                    f,
                    "date {reported} lies before the date floor (1024 weeks later would be \
                     {corrected}); refused as week-rollover = \"refuse\" says"
                ),
                None => write!(
                    f,
                    "date {reported} lies before the date floor, and 1024 weeks later still \
                     does; refused"
                ),
            },
        }
    }
}

/// Parses one sentence: `line` without its line end (a trailing CR is
/// tolerated and ignored).
pub fn parse_sentence(line: &[u8], options: ParseOptions) -> Result<Sentence, Rejection> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > MAX_SENTENCE_BYTES {
        return Err(Rejection::TooLong { len: line.len() });
    }
    if line.iter().any(|&b| !(0x20..=0x7e).contains(&b)) {
        return Err(Rejection::BinaryNoise { len: line.len() });
    }
    let Some(body) = line.strip_prefix(b"$") else {
        return Err(Rejection::BinaryNoise { len: line.len() });
    };
    let body = check_checksum(body, options)?;

    let mut fields = body.split(|&b| b == b',');
    let address = fields.next().unwrap_or_default();
    if address.first() == Some(&b'P') {
        return Ok(Sentence::Other);
    }
    if address.len() != 5 || !address.iter().all(u8::is_ascii_uppercase) {
        return Ok(Sentence::Other);
    }
    let talker = [address[0], address[1]];
    let fields: Fields = fields.collect();
    match &address[2..] {
        b"RMC" => parse_rmc(talker, &fields),
        b"ZDA" => parse_zda(talker, &fields),
        b"GGA" => parse_gga(talker, &fields),
        b"GNS" => parse_gns(talker, &fields),
        _ => Ok(Sentence::Other),
    }
}

/// The fields after the address (field 1 of the standard is index 0).
type Fields<'a> = Vec<&'a [u8]>;

/// Checks `*XX` on `body` (the bytes after `$`) and returns the part before
/// it.
fn check_checksum(body: &[u8], options: ParseOptions) -> Result<&[u8], Rejection> {
    let star = body.iter().rposition(|&b| b == b'*');
    let Some(star) = star else {
        return if options.require_checksum {
            Err(Rejection::NoChecksum)
        } else {
            Ok(body)
        };
    };
    let (covered, tail) = (&body[..star], &body[star + 1..]);
    let computed = covered.iter().fold(0u8, |sum, &b| sum ^ b);
    let sent = match tail {
        [high, low] => hex_digit(*high)
            .zip(hex_digit(*low))
            .map(|(h, l)| (h << 4) | l),
        _ => None,
    };
    if sent == Some(computed) {
        Ok(covered)
    } else {
        Err(Rejection::BadChecksum { computed, sent })
    }
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

/// Field `index` (0-based after the address), or a truncation.
fn field<'a>(fields: &Fields<'a>, index: usize, sentence: &str) -> Result<&'a [u8], Rejection> {
    fields
        .get(index)
        .copied()
        .ok_or_else(|| Rejection::Truncated {
            what: format!(
                "{sentence} has {} fields, needs at least {}",
                fields.len(),
                index + 1
            ),
        })
}

fn out_of_range(sentence: &'static str, field: &'static str, value: &[u8]) -> Rejection {
    let shown = &value[..value.len().min(16)];
    Rejection::OutOfRange {
        sentence,
        field,
        value: String::from_utf8_lossy(shown).into_owned(),
    }
}

fn non_empty<'a>(
    value: &'a [u8],
    sentence: &'static str,
    field: &'static str,
) -> Result<&'a [u8], Rejection> {
    if value.is_empty() {
        Err(Rejection::EmptyField { sentence, field })
    } else {
        Ok(value)
    }
}

fn parse_rmc(talker: [u8; 2], fields: &Fields) -> Result<Sentence, Rejection> {
    const RMC: &str = "RMC";
    // Status first: an invalid RMC is "no fix", whatever else is empty.
    match field(fields, 1, RMC)? {
        b"A" => {}
        b"V" => return Ok(Sentence::NoFix(NoFixReason::RmcStatusV)),
        b"" => {
            return Err(Rejection::EmptyField {
                sentence: RMC,
                field: "status",
            })
        }
        other => return Err(out_of_range(RMC, "status", other)),
    }
    if fields.get(11).copied() == Some(b"N") {
        return Ok(Sentence::NoFix(NoFixReason::RmcModeN));
    }
    let time = parse_time(field(fields, 0, RMC)?, RMC)?;
    let date = parse_ddmmyy(field(fields, 8, RMC)?)?;
    Ok(Sentence::Rmc { talker, time, date })
}

fn parse_zda(talker: [u8; 2], fields: &Fields) -> Result<Sentence, Rejection> {
    const ZDA: &str = "ZDA";
    let time = parse_time(field(fields, 0, ZDA)?, ZDA)?;
    let day = parse_number(field(fields, 1, ZDA)?, 2, 2, ZDA, "day")?;
    let month = parse_number(field(fields, 2, ZDA)?, 2, 2, ZDA, "month")?;
    let year_field = field(fields, 3, ZDA)?;
    let year = parse_number(year_field, 4, 4, ZDA, "year")?;
    // GPS time begins in 1980; past 2200 a label (even moved 1024 weeks on
    // by the week-rollover rule) would not fit the i64 nanoseconds that
    // end in 2262.
    if !(1980..=2200).contains(&year) {
        return Err(out_of_range(ZDA, "year", year_field));
    }
    let date = Date::from_ymd(year, month as u32, day as u32).ok_or_else(|| {
        let text = format!("{day:02}.{month:02}.{year}");
        out_of_range(ZDA, "date", text.as_bytes())
    })?;
    Ok(Sentence::Zda { talker, time, date })
}

fn parse_gga(talker: [u8; 2], fields: &Fields) -> Result<Sentence, Rejection> {
    const GGA: &str = "GGA";
    let quality = non_empty(field(fields, 5, GGA)?, GGA, "quality")?;
    match quality {
        [b'1'..=b'5'] => {}
        [digit @ (b'0' | b'6'..=b'8')] => {
            return Ok(Sentence::NoFix(NoFixReason::GgaQuality(digit - b'0')))
        }
        other => return Err(out_of_range(GGA, "quality", other)),
    }
    if uses_no_satellites(fields.get(6).copied()) {
        return Ok(Sentence::NoFix(NoFixReason::NoSatellites));
    }
    let time = parse_time(field(fields, 0, GGA)?, GGA)?;
    Ok(Sentence::Gga { talker, time })
}

fn parse_gns(talker: [u8; 2], fields: &Fields) -> Result<Sentence, Rejection> {
    const GNS: &str = "GNS";
    let mode = non_empty(field(fields, 5, GNS)?, GNS, "mode")?;
    if !mode.iter().all(|b| {
        matches!(
            b,
            b'N' | b'A' | b'D' | b'P' | b'R' | b'F' | b'E' | b'M' | b'S'
        )
    }) {
        return Err(out_of_range(GNS, "mode", mode));
    }
    if !mode
        .iter()
        .any(|b| matches!(b, b'A' | b'D' | b'P' | b'R' | b'F'))
    {
        return Ok(Sentence::NoFix(NoFixReason::GnsModeNoFix));
    }
    if uses_no_satellites(fields.get(6).copied()) {
        return Ok(Sentence::NoFix(NoFixReason::NoSatellites));
    }
    let time = parse_time(field(fields, 0, GNS)?, GNS)?;
    Ok(Sentence::Gns { talker, time })
}

/// Whether a satellites-used field says 0. A position or time solution
/// needs at least one satellite, so "fix, 0 satellites" is no fix (a
/// Hemisphere receiver sends GGA quality 1 with `00` while it has none).
/// An empty field says nothing and is not held against the fix.
fn uses_no_satellites(field: Option<&[u8]>) -> bool {
    matches!(field, Some(digits) if !digits.is_empty() && digits.iter().all(|&d| d == b'0'))
}

/// `hhmmss` with an optional `.` and any number of decimals.
fn parse_time(value: &[u8], sentence: &'static str) -> Result<TimeOfDay, Rejection> {
    let value = non_empty(value, sentence, "time")?;
    let (whole, fraction) = match value.iter().position(|&b| b == b'.') {
        Some(dot) => (&value[..dot], &value[dot + 1..]),
        None => (value, &[][..]),
    };
    let digits_only = |part: &[u8]| part.iter().all(u8::is_ascii_digit);
    if whole.len() != 6 || !digits_only(whole) || !digits_only(fraction) {
        return Err(out_of_range(sentence, "time", value));
    }
    let two = |at: usize| i64::from(whole[at] - b'0') * 10 + i64::from(whole[at + 1] - b'0');
    let (hour, minute, second) = (two(0), two(2), two(4));
    if hour > 23 || minute > 59 || second > 60 {
        return Err(out_of_range(sentence, "time", value));
    }
    if second == 60 {
        return Err(Rejection::LeapSecond);
    }

    // Nanoseconds from the first nine decimals; any further non-zero digit
    // means the true value lies above.
    let mut nanos = 0i64;
    let mut scale = NANOS_PER_SEC;
    for &digit in fraction.iter().take(9) {
        scale /= 10;
        nanos += i64::from(digit - b'0') * scale;
    }
    let inexact = fraction.iter().skip(9).any(|&d| d != b'0');
    Ok(TimeOfDay {
        ns: ((hour * 60 + minute) * 60 + second) * NANOS_PER_SEC + nanos,
        inexact,
    })
}

/// A number of `min..=max` digits.
fn parse_number(
    value: &[u8],
    min: usize,
    max: usize,
    sentence: &'static str,
    field: &'static str,
) -> Result<i64, Rejection> {
    let value = non_empty(value, sentence, field)?;
    if value.len() < min || value.len() > max || !value.iter().all(u8::is_ascii_digit) {
        return Err(out_of_range(sentence, field, value));
    }
    Ok(value
        .iter()
        .fold(0i64, |n, &d| n * 10 + i64::from(d - b'0')))
}

/// RMC's `ddmmyy`, with the century rule of the module doc.
fn parse_ddmmyy(value: &[u8]) -> Result<Date, Rejection> {
    const RMC: &str = "RMC";
    let number = parse_number(value, 6, 6, RMC, "date")?;
    let (day, month, yy) = (number / 10_000, (number / 100) % 100, number % 100);
    let year = if yy >= 80 { 1900 + yy } else { 2000 + yy };
    Date::from_ymd(year, month as u32, day as u32).ok_or_else(|| out_of_range(RMC, "date", value))
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days before `month` in a year (January = 0), leap day not counted.
const DAYS_BEFORE_MONTH: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

/// Days from 1970-01-01 to `year-month-day`. Counts the leap days of the
/// years before `year` as the multiples of 4, less those of 100, plus those
/// of 400, each taken relative to 1970 (all three counts are floor
/// divisions, so years before 1970 come out negative and right).
fn days_since_epoch(year: i64, month: u32, day: u32) -> i64 {
    let leap_days_before = |y: i64| {
        let last = y - 1;
        last.div_euclid(4) - last.div_euclid(100) + last.div_euclid(400)
    };
    let years_days = (year - 1970) * 365 + leap_days_before(year) - leap_days_before(1970);
    let month_index = (month - 1) as usize;
    let leap_day = i64::from(month > 2 && is_leap_year(year));
    years_days + DAYS_BEFORE_MONTH[month_index] + leap_day + i64::from(day) - 1
}

/// The date `(year, month, day)` of `days` after 1970-01-01, for logs.
fn ymd_from_days(days: i64) -> (i64, u32, u32) {
    // Step years, then months: a log line is not a hot path, and this
    // inverse is checked against `days_since_epoch` in the tests.
    let mut year = 1970 + days.div_euclid(366);
    while days_since_epoch(year + 1, 1, 1) <= days {
        year += 1;
    }
    while days_since_epoch(year, 1, 1) > days {
        year -= 1;
    }
    let mut month = 12;
    while days_since_epoch(year, month, 1) > days {
        month -= 1;
    }
    let day = days - days_since_epoch(year, month, 1) + 1;
    (year, month, day as u32)
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
