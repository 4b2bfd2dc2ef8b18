//! One connection's worth of gpsd reports turned into samples, without I/O:
//! each line comes in with the [`ClockPair`] read as it was received, and
//! goes out as [`Outcome`]s.
//!
//! # What gpsd 3.22 sends (seen with gpsfake)
//!
//! With `?WATCH={"enable":true,"json":true,"pps":true,"timing":true};` and
//! an NMEA log played by gpsfake, gpsd 3.22 sends, per second with a fix:
//!
//! ```text
//! {"class":"TOFF","device":"/dev/pts/1","real_sec":2046014367, "real_nsec":0,"clock_sec":1796399348,"clock_nsec":785139827}
//! {"class":"TPV","device":"/dev/pts/1","mode":3,"time":"2034-11-01T17:19:27.000Z","ept":0.005,...,"rtime": 1796399349.030306956,"sor": 0.000000000,...}
//! ```
//!
//! The TOFF comes first: gpsd latches it (`clock` = its `CLOCK_REALTIME`
//! then) when the first sentence carrying the second's time is decoded,
//! and sends it at once. The TPV follows when the receiver's reporting
//! cycle ends, a few sentences later (0.26 s later in that log, at 20 ms
//! per sentence), with `rtime` = gpsd's wall clock at that later moment.
//! gpsd sends a TOFF only once it has had a fix and only for a second newer
//! than the last one it latched, so not for every TPV (not for the 2 Hz
//! half-seconds, not for repeated TPVs of one second), and for some
//! receivers not at all: for firefly-II (RMC and ZDA each second, every GGA
//! with a bad checksum) gpsd 3.22 sent TPVs but no TOFF. gpsfake has no PPS
//! line, so no PPS message was seen; the PPS format is gpsd's
//! `{"class":"PPS","device":...,"real_sec":S,"real_nsec":0,"clock_sec":C,
//! "clock_nsec":N,"precision":-20}` (`qErr` may follow).
//!
//! # How samples are made
//!
//! * **Serial time.** A TPV with `mode >= 2` and a `time` labels the second
//!   `T`; the instant the sentence arrived is the held TOFF's `clock` if
//!   that TOFF labels the same fix (it is the earlier, tighter stamp), else
//!   the TPV's `rtime`. See [`serial_interval`] for the bound.
//! * **PPS.** An edge labelled `real` is taken only when a serial fix within
//!   2 s (before or after it) labels the same second and its interval,
//!   carried to the edge, overlaps the edge's. See [`pps_interval`].
//! * **No fix.** A TPV with `mode < 2` or without `time` ends the fix:
//!   nothing is taken until the next good TPV.

use super::messages::{
    self, parse_decimal_seconds, parse_iso8601_utc, sec_nsec_to_nanos, Envelope, TimeFieldError,
    TpvTiming, MAX_LINE_BYTES,
};
use super::wall::{ClockStep, LocalStamp, WallError, WallMap};
use super::GpsdConfig;
use std::fmt;
use tt_clock::ClockPair;
use tt_core::{Drift, Interval, Sample, Timestamp, NANOS_PER_SEC};

/// 1024 GPS weeks in seconds: the step of the 10-bit week counter.
pub const GPS_WEEK_ROLLOVER_S: i64 = 1024 * 7 * 86_400;

/// 2017-01-01T00:00:00Z in Unix seconds. gpsd 3.22 moves any NMEA date
/// before it forward by 1024 weeks.
pub const GPSD_ERA_START_UNIX_S: i64 = 1_483_228_800;

/// How far apart (local time) a PPS edge and the serial fix confirming it
/// may be.
pub const PPS_MATCH_WINDOW_NS: i64 = 2 * NANOS_PER_SEC;

/// The drift bound used to carry a serial interval to a PPS edge for the
/// consistency check (the local timebase's default bound).
const CHECK_DRIFT: Drift = Drift::DEFAULT;

/// How a TOFF and a TPV are matched: their times of the fix must be this
/// close (gpsd prints TPV time to the millisecond, TOFF in nanoseconds).
const TOFF_MATCH_NS: i64 = 1_000_000;

/// Where the arrival instant of a serial sample came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArrivalStamp {
    /// The TOFF message's `clock` for the same fix.
    Toff,
    /// The TPV's own `rtime`.
    Rtime,
}

/// What kind of sample was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TakenKind {
    /// The serial time of a second, arrival stamped as given.
    Serial(ArrivalStamp),
    /// A PPS edge.
    Pps,
}

/// A sample the source took, with the label it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    /// Serial time or PPS edge.
    pub kind: TakenKind,
    /// The time of the second the sample is about, after the date-floor
    /// rule (see [`apply_date_floor`]).
    pub label: Timestamp,
    /// Whether the date-floor rule moved the label back by 1024 weeks.
    pub rollover_undone: bool,
    /// The sample: at local instant `sample.local`, true time lay in
    /// `sample.interval`.
    pub sample: Sample,
}

/// Why an input was refused. Each is one counted rejection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// A line longer than [`MAX_LINE_BYTES`].
    Oversized {
        /// Its length in bytes (at least).
        len: usize,
    },
    /// Not UTF-8 or not JSON.
    NotJson(String),
    /// JSON, but a TPV/TOFF/PPS with missing or mistyped fields.
    Malformed {
        /// The report class.
        class: &'static str,
        /// What was wrong.
        error: String,
    },
    /// A time field that does not parse or is out of range.
    BadTime {
        /// The report class.
        class: &'static str,
        /// What was wrong.
        error: TimeFieldError,
    },
    /// A label before the receiver's date floor: it cannot be true.
    BeforeDateFloor {
        /// The label, after the rollover rule.
        label: Timestamp,
    },
    /// A TPV with neither a matching TOFF nor an `rtime`: nothing says when
    /// gpsd received it (gpsd did not honour `"timing":true`).
    NoArrivalStamp,
    /// The wall-clock stamp could not be mapped onto the local timebase.
    Wall(WallError),
    /// The wall clock stepped between two lines.
    ClockStep(ClockStep),
    /// A PPS edge while there is no fix.
    PpsWithoutFix,
    /// A PPS edge that no serial fix within 2 s confirmed.
    PpsUnconfirmed {
        /// The edge's label.
        label: Timestamp,
    },
    /// A PPS edge whose interval does not meet the serial fix's, carried
    /// to the edge: its second is mislabelled (or the delay range is).
    PpsDisagrees {
        /// The edge's label.
        label: Timestamp,
        /// The serial fix's label.
        serial_label: Timestamp,
    },
    /// A PPS precision (log2 s) too coarse to mean anything.
    PpsPrecision(i32),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Oversized { len } => write!(
                f,
                "line of {len} bytes or more from gpsd, over the {MAX_LINE_BYTES}-byte limit"
            ),
            Rejection::NotJson(e) => write!(f, "line from gpsd is not JSON: {e}"),
            Rejection::Malformed { class, error } => write!(f, "malformed {class}: {error}"),
            Rejection::BadTime { class, error } => write!(f, "{class}: {error}"),
            Rejection::BeforeDateFloor { label } => write!(
                f,
                "label {label} lies before the configured date floor; the receiver cannot \
                 report it truly"
            ),
            Rejection::NoArrivalStamp => write!(
                f,
                "TPV without rtime and without a TOFF: gpsd does not say when it received \
                 the time (is it older than 3.20?)"
            ),
            Rejection::Wall(e) => write!(f, "{e}"),
            Rejection::ClockStep(step) => write!(f, "{step}"),
            Rejection::PpsWithoutFix => write!(f, "PPS edge while the receiver has no fix"),
            Rejection::PpsUnconfirmed { label } => write!(
                f,
                "PPS edge labelled {label}: no serial fix of that second within 2 s"
            ),
            Rejection::PpsDisagrees {
                label,
                serial_label,
            } => write!(
                f,
                "PPS edge labelled {label} does not agree with the serial fix labelled \
                 {serial_label}; the edge's second is mislabelled or the delay range is wrong"
            ),
            Rejection::PpsPrecision(p) => {
                write!(f, "PPS precision 2^{p} s is implausible")
            }
        }
    }
}

/// What one line (or the state it completes) amounts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A sample to publish.
    Taken(Taken),
    /// Kept until a later report confirms it (a TOFF waits for its TPV, a
    /// PPS edge for its serial fix). Not counted either way yet.
    Held(&'static str),
    /// The receiver has no usable time; the text says why.
    NoFix(String),
    /// A refused input.
    Rejected(Rejection),
    /// gpsd's greeting.
    Version {
        /// gpsd's release, e.g. "3.22".
        release: String,
        /// Protocol major version.
        proto_major: u8,
        /// Protocol minor version.
        proto_minor: u8,
    },
    /// gpsd answered with an ERROR report.
    GpsdError(String),
    /// A report a time source does not need (SKY, DEVICE, WATCH, ...).
    Ignored,
}

/// The date-floor rule against gpsd's week-rollover guess.
///
/// gpsd 3.22 adds 1024 weeks (619315200 s) to every NMEA date before
/// 2017-01-01, assuming no receiver still in service reports such a date.
/// A receiver cannot truly report a date before `floor_unix_s` (configured:
/// it was built, or last known right, after it). So, with `T` gpsd's time
/// and `W` = 1024 weeks:
///
/// ```text
/// if floor <= T - W < 2017-01-01:  label = T - W   (gpsd moved a possible, older date forward)
/// else:                            label = T
/// ```
///
/// Returns the label in nanoseconds and whether the rule moved it. With a
/// recent floor (2026-01-01) `T - W` is always below it and the rule never
/// fires; it does for old recordings replayed with an old floor.
pub fn apply_date_floor(gpsd_time_ns: i64, floor_unix_s: i64) -> (i64, bool) {
    let week_rollover_ns = GPS_WEEK_ROLLOVER_S * NANOS_PER_SEC;
    let floor_ns = floor_unix_s.saturating_mul(NANOS_PER_SEC);
    let era_start_ns = GPSD_ERA_START_UNIX_S * NANOS_PER_SEC;
    let earlier = gpsd_time_ns.saturating_sub(week_rollover_ns);
    if earlier >= floor_ns && earlier < era_start_ns {
        (earlier, true)
    } else {
        (gpsd_time_ns, false)
    }
}

/// The interval of a serial sample at its arrival instant.
///
/// The sentence labelled with second `T` (printed by gpsd to a resolution
/// `q`: 1 ms for `.fffZ`) arrived when gpsd stamped it, `R` on the wall
/// clock, mapped to local instant `L_R` with slack `w` by
/// [`WallMap::convert`]. The receiver's configured delay range says that
/// at arrival true time lay in `[T + min_delay, T + max_delay]`. So, all in
/// ns:
///
/// ```text
/// earliest = T + min_delay - q - w
/// latest   = T + max_delay + q + w
/// w        = ceil(g * 500e-6) + s + d        (g = R_pair - R, s = pair spread, d = offset drift)
/// ```
///
/// The delay range must cover everything between the top of the second and
/// gpsd's stamp: the receiver's own latency, the serial line at its baud
/// rate, and, when the stamp is `rtime`, the rest of the receiver's burst
/// of sentences up to the one that ends its reporting cycle.
pub fn serial_interval(
    label_ns: i64,
    resolution_ns: i64,
    config: &GpsdConfig,
    arrival: &LocalStamp,
) -> Interval {
    let slack_ns = resolution_ns.saturating_add(arrival.widen_ns);
    let earliest = label_ns
        .saturating_add(config.min_delay_ns)
        .saturating_sub(slack_ns);
    let latest = label_ns
        .saturating_add(config.max_delay_ns)
        .saturating_add(slack_ns);
    Interval::from_unix_nanos(earliest, latest)
        .expect("min_delay <= max_delay (GpsdConfig::validate) keeps the ends in order")
}

/// The bound on a PPS edge's own error, `p` in ns: the larger of the
/// configured `pps_precision_ns` and gpsd's `precision` (log2 s), rounded
/// up: `ceil(2^precision * 1e9)`.
pub fn pps_precision_ns(configured_ns: i64, gpsd_log2_s: Option<i32>) -> Result<i64, Rejection> {
    let from_gpsd = match gpsd_log2_s {
        None => 0,
        Some(p) if p > 30 => return Err(Rejection::PpsPrecision(p)),
        Some(p) if p >= 0 => NANOS_PER_SEC << p,
        // 2^-63 s and the like: far below a nanosecond, so 1 ns.
        Some(p) if p < -62 => 1,
        Some(p) => {
            let divisor = 1_i64 << (-p);
            (NANOS_PER_SEC + divisor - 1) / divisor
        }
    };
    Ok(configured_ns.max(from_gpsd))
}

/// The interval of a PPS edge at its local instant.
///
/// gpsd labels the edge `real` (the top of a second) and stamps it `C` on
/// the wall clock (the kernel's PPS timestamp), mapped to `L_C` with slack
/// `w` by [`WallMap::convert`]. The edge is within `p`
/// ([`pps_precision_ns`]) of the top of the second, so at `L_C`, in ns:
///
/// ```text
/// earliest = real - p - w
/// latest   = real + p + w
/// ```
pub fn pps_interval(label_ns: i64, precision_ns: i64, edge: &LocalStamp) -> Interval {
    let radius = precision_ns.saturating_add(edge.widen_ns);
    Interval::around(Timestamp::from_unix_nanos(label_ns), radius)
}

#[derive(Clone, Copy, Debug)]
struct HeldToff {
    /// gpsd's `real`, before the date-floor rule, ns.
    real_ns: i64,
    arrival: LocalStamp,
}

/// The per-connection state. Create one per connection, feed it every line.
#[derive(Debug)]
pub struct Session {
    config: GpsdConfig,
    wall: WallMap,
    has_fix: bool,
    held_toff: Option<HeldToff>,
    last_serial: Option<Taken>,
    held_pps: Option<Taken>,
}

impl Session {
    /// A session for a connection opened just after `pair` was read.
    /// `config` must have passed [`GpsdConfig::validate`].
    pub fn new(config: GpsdConfig, pair: ClockPair) -> Self {
        let mut wall = WallMap::new();
        // The first pair has nothing to be compared with.
        let _ = wall.observe(pair);
        Session {
            config,
            wall,
            has_fix: false,
            held_toff: None,
            last_serial: None,
            held_pps: None,
        }
    }

    /// Handles one line (without its newline), received just before `pair`
    /// was read.
    pub fn on_line(&mut self, line: &[u8], pair: ClockPair) -> Vec<Outcome> {
        let mut out = Vec::with_capacity(1);
        if let Err(step) = self.wall.observe(pair) {
            out.push(Outcome::Rejected(Rejection::ClockStep(step)));
        }
        self.expire_held_pps(&pair, &mut out);

        if line.len() > MAX_LINE_BYTES {
            out.push(Outcome::Rejected(Rejection::Oversized { len: line.len() }));
            return out;
        }
        let text = match std::str::from_utf8(line) {
            Ok(text) => text.trim(),
            Err(e) => {
                out.push(Outcome::Rejected(Rejection::NotJson(e.to_string())));
                return out;
            }
        };
        if text.is_empty() {
            out.push(Outcome::Ignored);
            return out;
        }
        let envelope: Envelope = match serde_json::from_str(text) {
            Ok(envelope) => envelope,
            Err(e) => {
                out.push(Outcome::Rejected(Rejection::NotJson(e.to_string())));
                return out;
            }
        };

        match envelope.class.as_ref() {
            "TPV" => self.on_tpv(text, &pair, &mut out),
            "TOFF" => out.push(self.on_toff(text, &pair)),
            "PPS" => self.on_pps(text, &pair, &mut out),
            "VERSION" => out.push(match serde_json::from_str::<gpsd_proto::Version>(text) {
                Ok(v) => Outcome::Version {
                    release: v.release,
                    proto_major: v.proto_major,
                    proto_minor: v.proto_minor,
                },
                Err(_) => Outcome::Ignored,
            }),
            "ERROR" => {
                #[derive(serde::Deserialize)]
                struct GpsdErrorReport {
                    message: Option<String>,
                }
                let message = serde_json::from_str::<GpsdErrorReport>(text)
                    .ok()
                    .and_then(|e| e.message)
                    .unwrap_or_else(|| text.to_string());
                out.push(Outcome::GpsdError(message));
            }
            _ => out.push(Outcome::Ignored),
        }
        out
    }

    fn on_tpv(&mut self, text: &str, pair: &ClockPair, out: &mut Vec<Outcome>) {
        let malformed = |e: serde_json::Error| {
            Outcome::Rejected(Rejection::Malformed {
                class: "TPV",
                error: e.to_string(),
            })
        };
        let tpv: gpsd_proto::Tpv = match serde_json::from_str(text) {
            Ok(tpv) => tpv,
            Err(e) => return out.push(malformed(e)),
        };
        let timing: TpvTiming = match serde_json::from_str(text) {
            Ok(timing) => timing,
            Err(e) => return out.push(malformed(e)),
        };

        let has_fix = matches!(tpv.mode, gpsd_proto::Mode::Fix2d | gpsd_proto::Mode::Fix3d);
        let time = match (&tpv.time, has_fix) {
            (Some(time), true) => time,
            (None, true) => {
                return self.lose_fix("gpsd reports a fix but no time yet", out);
            }
            (_, false) => {
                return self.lose_fix("the receiver has no fix (TPV mode below 2)", out);
            }
        };
        let parsed = match parse_iso8601_utc(time) {
            Ok(parsed) => parsed,
            Err(error) => {
                return out.push(Outcome::Rejected(Rejection::BadTime {
                    class: "TPV",
                    error,
                }))
            }
        };
        let (label_ns, rollover_undone) =
            apply_date_floor(parsed.unix_ns, self.config.date_floor_unix_s);
        if label_ns < self.config.date_floor_unix_s.saturating_mul(NANOS_PER_SEC) {
            return out.push(Outcome::Rejected(Rejection::BeforeDateFloor {
                label: Timestamp::from_unix_nanos(label_ns),
            }));
        }

        let toff = self
            .held_toff
            .filter(|t| t.real_ns.abs_diff(parsed.unix_ns) < TOFF_MATCH_NS.unsigned_abs());
        let (arrival, stamp) = match (toff, timing.rtime) {
            (Some(toff), _) => (toff.arrival, ArrivalStamp::Toff),
            (None, Some(raw)) => {
                let rtime_ns = match parse_decimal_seconds(raw.get()) {
                    Ok(ns) => ns,
                    Err(error) => {
                        return out.push(Outcome::Rejected(Rejection::BadTime {
                            class: "TPV",
                            error,
                        }))
                    }
                };
                match self.wall.convert(rtime_ns, pair) {
                    Ok(arrival) => (arrival, ArrivalStamp::Rtime),
                    Err(e) => return out.push(Outcome::Rejected(Rejection::Wall(e))),
                }
            }
            (None, None) => return out.push(Outcome::Rejected(Rejection::NoArrivalStamp)),
        };

        let interval = serial_interval(label_ns, parsed.resolution_ns, &self.config, &arrival);
        let taken = Taken {
            kind: TakenKind::Serial(stamp),
            label: Timestamp::from_unix_nanos(label_ns),
            rollover_undone,
            sample: Sample::new(arrival.local, interval),
        };
        self.has_fix = true;
        self.last_serial = Some(taken);
        out.push(Outcome::Taken(taken));

        if let Some(pps) = self.held_pps {
            if let Some(outcome) = confirm_pps(&pps, &taken) {
                self.held_pps = None;
                out.push(outcome);
            }
        }
    }

    fn on_toff(&mut self, text: &str, pair: &ClockPair) -> Outcome {
        let toff: messages::Toff = match serde_json::from_str(text) {
            Ok(toff) => toff,
            Err(e) => {
                return Outcome::Rejected(Rejection::Malformed {
                    class: "TOFF",
                    error: e.to_string(),
                })
            }
        };
        let times = sec_nsec_to_nanos(toff.real_sec, toff.real_nsec)
            .and_then(|real| Ok((real, sec_nsec_to_nanos(toff.clock_sec, toff.clock_nsec)?)));
        let (real_ns, clock_ns) = match times {
            Ok(times) => times,
            Err(error) => {
                return Outcome::Rejected(Rejection::BadTime {
                    class: "TOFF",
                    error,
                })
            }
        };
        match self.wall.convert(clock_ns, pair) {
            Ok(arrival) => {
                self.held_toff = Some(HeldToff { real_ns, arrival });
                Outcome::Held("TOFF kept until the TPV of the same fix confirms it")
            }
            Err(e) => {
                self.held_toff = None;
                Outcome::Rejected(Rejection::Wall(e))
            }
        }
    }

    fn on_pps(&mut self, text: &str, pair: &ClockPair, out: &mut Vec<Outcome>) {
        if !self.config.use_pps {
            return out.push(Outcome::Ignored);
        }
        let pps: messages::Pps = match serde_json::from_str(text) {
            Ok(pps) => pps,
            Err(e) => {
                return out.push(Outcome::Rejected(Rejection::Malformed {
                    class: "PPS",
                    error: e.to_string(),
                }))
            }
        };
        let times = sec_nsec_to_nanos(pps.real_sec, pps.real_nsec)
            .and_then(|real| Ok((real, sec_nsec_to_nanos(pps.clock_sec, pps.clock_nsec)?)));
        let (real_ns, clock_ns) = match times {
            Ok(times) => times,
            Err(error) => {
                return out.push(Outcome::Rejected(Rejection::BadTime {
                    class: "PPS",
                    error,
                }))
            }
        };
        if !self.has_fix {
            return out.push(Outcome::Rejected(Rejection::PpsWithoutFix));
        }
        let precision_ns = match pps_precision_ns(self.config.pps_precision_ns, pps.precision) {
            Ok(p) => p,
            Err(rejection) => return out.push(Outcome::Rejected(rejection)),
        };
        let edge = match self.wall.convert(clock_ns, pair) {
            Ok(edge) => edge,
            Err(e) => return out.push(Outcome::Rejected(Rejection::Wall(e))),
        };
        let (label_ns, rollover_undone) = apply_date_floor(real_ns, self.config.date_floor_unix_s);
        let taken = Taken {
            kind: TakenKind::Pps,
            label: Timestamp::from_unix_nanos(label_ns),
            rollover_undone,
            sample: Sample::new(edge.local, pps_interval(label_ns, precision_ns, &edge)),
        };

        if let Some(serial) = self.last_serial {
            if let Some(outcome) = confirm_pps(&taken, &serial) {
                return out.push(outcome);
            }
        }
        if let Some(previous) = self.held_pps.replace(taken) {
            out.push(Outcome::Rejected(Rejection::PpsUnconfirmed {
                label: previous.label,
            }));
        }
        out.push(Outcome::Held(
            "PPS edge kept until a serial fix of its second confirms it",
        ));
    }

    fn lose_fix(&mut self, reason: &str, out: &mut Vec<Outcome>) {
        self.has_fix = false;
        self.held_toff = None;
        self.last_serial = None;
        if let Some(pps) = self.held_pps.take() {
            out.push(Outcome::Rejected(Rejection::PpsUnconfirmed {
                label: pps.label,
            }));
        }
        out.push(Outcome::NoFix(reason.to_string()));
    }

    fn expire_held_pps(&mut self, pair: &ClockPair, out: &mut Vec<Outcome>) {
        if let Some(pps) = self.held_pps {
            let age_ns = pair.local_before.nanos_since(pps.sample.local);
            if age_ns > PPS_MATCH_WINDOW_NS {
                self.held_pps = None;
                out.push(Outcome::Rejected(Rejection::PpsUnconfirmed {
                    label: pps.label,
                }));
            }
        }
    }
}

/// Whether a serial fix confirms a PPS edge: `None` if it is not about the
/// edge's second (`|label_pps - label_serial| >= 0.5 s`, or more than 2 s
/// apart in local time), else the edge taken, or refused when the serial
/// interval carried to the edge (drift 200 ppm) does not meet the edge's.
fn confirm_pps(pps: &Taken, serial: &Taken) -> Option<Outcome> {
    let label_gap = pps.label.unix_nanos().abs_diff(serial.label.unix_nanos());
    let local_gap = pps.sample.local.nanos_since(serial.sample.local);
    if label_gap >= (NANOS_PER_SEC / 2).unsigned_abs()
        || local_gap.unsigned_abs() > PPS_MATCH_WINDOW_NS.unsigned_abs()
    {
        return None;
    }
    let serial_at_edge = serial.sample.at(pps.sample.local, CHECK_DRIFT);
    if serial_at_edge.overlaps(&pps.sample.interval) {
        Some(Outcome::Taken(*pps))
    } else {
        Some(Outcome::Rejected(Rejection::PpsDisagrees {
            label: pps.label,
            serial_label: serial.label,
        }))
    }
}
