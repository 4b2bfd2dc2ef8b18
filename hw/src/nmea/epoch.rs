//! From sentences to labelled seconds: the epoch assembler. Pure: each
//! sentence comes in with the local instant it arrived at, and at most one
//! sample per second of the receiver's time goes out.
//!
//! # Where a label comes from
//!
//! * RMC with status `A`: its date and time.
//! * ZDA: its date and time, only while the receiver's last word on its fix
//!   (RMC status, GGA quality, GNS mode), no more than [`FIX_MEMORY_NS`]
//!   old, was "fix". ZDA has no validity field; a receiver without a fix
//!   sends its free-running clock in it. So a receiver that sends ZDA and
//!   nothing with a fix flag gives no labels at all: a known limit, for
//!   timing receivers configured that way.
//! * GGA or GNS with a fix: its time of day, on the date of the last dated
//!   sentence (RMC `A`, or ZDA taken), the day chosen by
//!   [`date_for_time_of_day`]; without one, [`Rejection::NoDate`].
//!
//! Every label then passes the date floor ([`apply_date_floor`]).
//!
//! # One label per second, from the first sentence that carries it
//!
//! A receiver sends its report of second `S` as a burst of sentences right
//! after `S`. The sample is taken at the first sentence of the burst that
//! yields a label; later ones of the same second (same whole second of the
//! label) are [`Step::Repeat`]. The first is the right one: every later
//! sentence of the burst waited behind the earlier ones on the serial line,
//! for a time that varies with their lengths (satellite counts, empty or
//! full position fields), so its delay after `S` is larger and less
//! certain. The first sentence's delay is the receiver's computation time
//! plus one sentence's transmission, and that is what a delay range
//! measured at the start of the burst describes. gpsd latches its TOFF
//! stamp at the same place.
//!
//! When the first sentence of a burst cannot label the second (a GGA
//! before any date, a ZDA in front of the fix sentences), a later one does,
//! and `max_delay` must cover how far into the burst that sentence comes.

use super::parse::{
    parse_sentence, Date, NoFixReason, ParseOptions, Reason, Rejection, Sentence, TimeOfDay,
};
use super::{NmeaConfig, WeekRollover};
use tt_core::{Drift, Interval, LocalInstant, Sample, Timestamp, NANOS_PER_SEC};

/// 1024 GPS weeks in days: the step of the 10-bit week counter.
pub const WEEK_ROLLOVER_DAYS: i64 = 1024 * 7;

/// How long the receiver's last word on its fix stays good for a ZDA, in
/// local nanoseconds: the fix sentence of the same burst or of the one
/// before (1 s apart), with room for a long burst.
pub const FIX_MEMORY_NS: i64 = 2 * NANOS_PER_SEC;

const NANOS_PER_DAY: i64 = 86_400 * NANOS_PER_SEC;

/// The drift bound used to carry a date from one sentence to a later one
/// (the local timebase's default bound).
const DATE_CARRY_DRIFT: Drift = Drift::DEFAULT;

/// A labelled second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    /// The time the receiver gave, after the date floor.
    pub label: Timestamp,
    /// Talker id of the sentence it came from, e.g. `*b"GN"`.
    pub talker: [u8; 2],
    /// Its type: "RMC", "ZDA", "GGA" or "GNS".
    pub sentence: &'static str,
    /// The date as the receiver gave it, if the week-rollover correction
    /// moved it forward by 1024 weeks.
    pub rollover_corrected_from: Option<Date>,
    /// At `sample.local` (the arrival), true time lay in
    /// `sample.interval`.
    pub sample: Sample,
}

/// What one frame amounts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The first sentence of a new second: a sample.
    Taken(Taken),
    /// A sentence of a second already labelled.
    Repeat,
    /// A sentence with no time in it for us (GSV, VTG, proprietary, ...).
    Ignored,
    /// Refused, and counted.
    Rejected(Rejection),
}

/// How many frames were refused, per [`Reason`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    by_reason: [u64; Reason::ALL.len()],
}

impl Counts {
    /// Refusals for `reason`.
    pub fn get(&self, reason: Reason) -> u64 {
        self.by_reason[reason.index()]
    }

    /// All refusals.
    pub fn total(&self) -> u64 {
        self.by_reason.iter().sum()
    }

    fn add(&mut self, reason: Reason) {
        let slot = &mut self.by_reason[reason.index()];
        *slot = slot.saturating_add(1);
    }
}

/// The date of the last dated sentence, and where it was.
#[derive(Clone, Copy, Debug)]
struct DateAnchor {
    /// The label it gave, before the date floor: date + time of day, ns.
    label_ns: i64,
    arrival: LocalInstant,
}

/// The assembler's state: one per device, kept across reconnections only
/// if the caller wants (a reopened device may be another receiver, so the
/// serial source starts a new one).
#[derive(Debug)]
pub struct Assembler {
    parse: ParseOptions,
    min_delay_ns: i64,
    max_delay_ns: i64,
    floor_ns: i64,
    week_rollover: WeekRollover,
    /// The receiver's last word on its fix, and when.
    fix: Option<(bool, LocalInstant)>,
    anchor: Option<DateAnchor>,
    /// The whole second of the last label taken.
    last_second: Option<i64>,
    counts: Counts,
}

impl Assembler {
    /// An assembler for a receiver configured by `config` (which should
    /// have passed [`NmeaConfig::validate`]; an inverted delay range is
    /// used as its hull).
    pub fn new(config: &NmeaConfig) -> Self {
        Assembler {
            parse: ParseOptions {
                require_checksum: config.require_checksum,
            },
            min_delay_ns: config.min_delay_ns.min(config.max_delay_ns),
            max_delay_ns: config.max_delay_ns.max(config.min_delay_ns),
            floor_ns: config.date_floor_unix_s.saturating_mul(NANOS_PER_SEC),
            week_rollover: config.week_rollover,
            fix: None,
            anchor: None,
            last_second: None,
            counts: Counts::default(),
        }
    }

    /// Refusals so far.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Handles one frame of the stream.
    pub fn on_frame(&mut self, frame: super::frame::Frame<'_>) -> Step {
        use super::frame::Frame;
        match frame {
            Frame::Sentence { bytes, arrival } => self.on_sentence(bytes, arrival),
            Frame::Noise { len } => self.reject(Rejection::BinaryNoise { len }),
            Frame::TooLong { len } => self.reject(Rejection::TooLong { len }),
            Frame::Truncated { len } => self.reject(Rejection::Truncated {
                what: format!("a new sentence began after {len} bytes, before a line end"),
            }),
        }
    }

    /// Handles one sentence (`line` without its line end) that began to
    /// arrive in the read that returned at `arrival`.
    pub fn on_sentence(&mut self, line: &[u8], arrival: LocalInstant) -> Step {
        let sentence = match parse_sentence(line, self.parse) {
            Ok(sentence) => sentence,
            Err(rejection) => return self.reject(rejection),
        };
        match sentence {
            Sentence::Other => Step::Ignored,
            Sentence::NoFix(reason) => {
                self.fix = Some((false, arrival));
                self.reject(Rejection::NoFix(reason))
            }
            Sentence::Rmc { talker, time, date } => {
                self.fix = Some((true, arrival));
                self.dated(talker, "RMC", date, time, arrival)
            }
            Sentence::Zda { talker, time, date } => {
                let fix_now = matches!(self.fix, Some((true, at))
                    if (0..=FIX_MEMORY_NS).contains(&arrival.nanos_since(at)));
                if !fix_now {
                    return self.reject(Rejection::NoFix(NoFixReason::ZdaWithoutFix));
                }
                self.dated(talker, "ZDA", date, time, arrival)
            }
            Sentence::Gga { talker, time } => {
                self.fix = Some((true, arrival));
                self.undated(talker, "GGA", time, arrival)
            }
            Sentence::Gns { talker, time } => {
                self.fix = Some((true, arrival));
                self.undated(talker, "GNS", time, arrival)
            }
        }
    }

    fn reject(&mut self, rejection: Rejection) -> Step {
        self.counts.add(rejection.reason());
        Step::Rejected(rejection)
    }

    fn dated(
        &mut self,
        talker: [u8; 2],
        sentence: &'static str,
        date: Date,
        time: TimeOfDay,
        arrival: LocalInstant,
    ) -> Step {
        let label_ns = date
            .days
            .saturating_mul(NANOS_PER_DAY)
            .saturating_add(time.ns);
        self.anchor = Some(DateAnchor { label_ns, arrival });
        self.take(talker, sentence, date, time, arrival)
    }

    fn undated(
        &mut self,
        talker: [u8; 2],
        sentence: &'static str,
        time: TimeOfDay,
        arrival: LocalInstant,
    ) -> Step {
        let Some(anchor) = self.anchor else {
            return self.reject(Rejection::NoDate);
        };
        let slack_ns = (self.max_delay_ns - self.min_delay_ns).saturating_add(NANOS_PER_SEC);
        let Some(date) = date_for_time_of_day(
            anchor.label_ns,
            arrival.nanos_since(anchor.arrival),
            time.ns,
            slack_ns,
        ) else {
            return self.reject(Rejection::NoDate);
        };
        self.anchor = Some(DateAnchor {
            label_ns: date
                .days
                .saturating_mul(NANOS_PER_DAY)
                .saturating_add(time.ns),
            arrival,
        });
        self.take(talker, sentence, date, time, arrival)
    }

    fn take(
        &mut self,
        talker: [u8; 2],
        sentence: &'static str,
        date: Date,
        time: TimeOfDay,
        arrival: LocalInstant,
    ) -> Step {
        let (label_ns, corrected) =
            match apply_date_floor(date, time, self.floor_ns, self.week_rollover) {
                Ok(taken) => taken,
                Err(rejection) => return self.reject(rejection),
            };
        let second = label_ns.div_euclid(NANOS_PER_SEC);
        if self.last_second == Some(second) {
            return Step::Repeat;
        }
        self.last_second = Some(second);
        let interval =
            sample_interval(label_ns, time.inexact, self.min_delay_ns, self.max_delay_ns);
        Step::Taken(Taken {
            label: Timestamp::from_unix_nanos(label_ns),
            talker,
            sentence,
            rollover_corrected_from: corrected.then_some(date),
            sample: Sample::new(arrival, interval),
        })
    }
}

/// The interval of a labelled second at its arrival instant.
///
/// The sentence labelled `T` began to arrive in a read of the device that
/// returned at local instant `L` (read right after `read()` returned the
/// bytes holding its `$`). The configured delay range says that the first
/// byte of that sentence reached the host between `T + min_delay` and
/// `T + max_delay` of true time, and `L` is no earlier than that. So, in
/// ns:
///
/// ```text
/// earliest = T + min_delay
/// latest   = T + max_delay + e        (e = 1 if T was rounded down from
///                                      more than 9 decimals, else 0)
/// ```
///
/// The lower end holds at `L` because true time only grows after the byte
/// arrived. The upper end needs `max_delay` to cover, besides the
/// receiver's own delay: the byte time at the line's baud rate (10 bits per
/// byte: 1.04 ms at 9600 baud), a USB adapter's latency timer (1 to 16 ms
/// on FTDI chips), and how long the bytes sat in the kernel's buffer before
/// this process read them (its wake-up latency; longer if the host is
/// overloaded). The reading thread does nothing but read, so that last term
/// is a scheduling delay, normally well under a millisecond. There is no
/// wall-clock stamp to map: `L` is our own read of the local timebase,
/// which is tighter than gpsd's `CLOCK_REALTIME` stamps.
pub fn sample_interval(
    label_ns: i64,
    inexact: bool,
    min_delay_ns: i64,
    max_delay_ns: i64,
) -> Interval {
    let earliest = label_ns.saturating_add(min_delay_ns);
    let latest = label_ns
        .saturating_add(max_delay_ns)
        .saturating_add(i64::from(inexact));
    Interval::from_unix_nanos(earliest, latest)
        .expect("min_delay <= max_delay (Assembler::new keeps them in order)")
}

/// The date for a time of day that came without one (GGA, GNS).
///
/// The last dated sentence gave label `A` (ns since the epoch) and arrived
/// `e` local ns before this one. Both labels lie at most `max - min` of
/// delay before their arrivals, and true time advanced by `e` give or take
/// `ceil(|e| rho)` (rho = 200 ppm), so this sentence's label is near
/// `A + e`:
///
/// ```text
/// |label - (A + e)| <= (max_delay - min_delay) + ceil(|e| rho) + 1 s = w
/// ```
///
/// (the extra second allows for receivers whose labels wander by a
/// fraction of a second). Of the three candidates `day(A + e) - 1`,
/// `day(A + e)`, `day(A + e) + 1` at the given time of day, the one within
/// `w` of `A + e` is
/// the date; if none is (the receiver's clock jumped, or `e` is negative),
/// there is no date. `w` is far below half a day for any delay range the
/// configuration allows and `e` under a year, so at most one candidate
/// qualifies. This carries the date across midnight in both directions,
/// and never labels a time with a day it cannot belong to.
pub fn date_for_time_of_day(
    anchor_label_ns: i64,
    elapsed_ns: i64,
    time_of_day_ns: i64,
    slack_ns: i64,
) -> Option<Date> {
    if elapsed_ns < 0 {
        return None;
    }
    let predicted = anchor_label_ns.saturating_add(elapsed_ns);
    let window = slack_ns.saturating_add(DATE_CARRY_DRIFT.error_over(elapsed_ns));
    if window >= NANOS_PER_DAY / 2 {
        return None;
    }
    let predicted_day = predicted.div_euclid(NANOS_PER_DAY);
    (predicted_day - 1..=predicted_day + 1)
        .map(|day| {
            (
                day,
                day.saturating_mul(NANOS_PER_DAY)
                    .saturating_add(time_of_day_ns),
            )
        })
        .find(|(_, candidate)| candidate.abs_diff(predicted) <= window.unsigned_abs())
        .map(|(days, _)| Date { days })
}

/// The date-floor rule, against the GPS week-rollover bug.
///
/// A receiver with a 10-bit week counter and no later pivot reports, after
/// its 1024-week era ends, a date exactly 1024 weeks (7168 days, 619315200
/// s) early. The configured floor `F` is a date this receiver cannot truly
/// report before (it was installed, or last known right, after it). With
/// the receiver's label `T` and `W` = 1024 weeks:
///
/// ```text
/// T >= F                              -> T
/// T < F <= T + W, week-rollover = correct -> T + W   (logged as corrected)
/// T < F <= T + W, week-rollover = refuse  -> refused
/// T + W < F                           -> refused (more than one rollover, or garbage)
/// ```
///
/// The correction is right only while true time is before `F + W`: set the
/// floor within 19.6 years of today (the default, 2026-01-01, holds until
/// 2045-08). Returns the label in ns and whether it was corrected.
pub fn apply_date_floor(
    date: Date,
    time: TimeOfDay,
    floor_ns: i64,
    week_rollover: WeekRollover,
) -> Result<(i64, bool), Rejection> {
    let label_ns = date
        .days
        .saturating_mul(NANOS_PER_DAY)
        .saturating_add(time.ns);
    if label_ns >= floor_ns {
        return Ok((label_ns, false));
    }
    let corrected = Date {
        days: date.days.saturating_add(WEEK_ROLLOVER_DAYS),
    };
    let corrected_ns = label_ns.saturating_add(WEEK_ROLLOVER_DAYS * NANOS_PER_DAY);
    if corrected_ns < floor_ns {
        return Err(Rejection::BeforeDateFloor {
            reported: date,
            correctable_to: None,
        });
    }
    match week_rollover {
        WeekRollover::Correct => Ok((corrected_ns, true)),
        WeekRollover::Refuse => Err(Rejection::BeforeDateFloor {
            reported: date,
            correctable_to: Some(corrected),
        }),
    }
}

#[cfg(test)]
#[path = "epoch_tests.rs"]
mod tests;
