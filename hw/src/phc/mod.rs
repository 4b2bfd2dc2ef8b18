//! The PHC source: a PTP hardware clock (`/dev/ptpN`) read against the
//! system clock, its error bound taken from what disciplines it.
//!
//! # Reading
//!
//! Each poll takes `samples` sandwiches `(sys_before, phc, sys_after)` with
//! the best method the device offers ([`sys`]: `PTP_SYS_OFFSET_EXTENDED`,
//! else `PTP_SYS_OFFSET`, else `clock_gettime`) and keeps the narrowest.
//! The system-clock reads are `CLOCK_REALTIME`; the sandwich's midpoint is
//! mapped onto the local timebase with the wall-clock mapping of the gpsd
//! source ([`crate::gpsd::wall`]). The bound is in [`phc_interval`].
//!
//! # Timescale
//!
//! A PHC disciplined by ptp4l runs on the PTP timescale (TAI); one kept by
//! other means may run UTC. The configuration says which (`timescale`),
//! and for TAI where `TAI - UTC` comes from: `utc-offset-s`, or ptp4l's
//! TIME_PROPERTIES_DATA_SET when it vouches for it (currentUtcOffsetValid);
//! if both are there and disagree the reading is refused.
//!
//! # Discipline and holdover
//!
//! `accuracy-ns` is the PHC's error bound while disciplined, as the
//! disciplining source promises it (a PTP network's budget, a GPS-fed
//! card's specification). Without `ptp4l-socket` the PHC is taken as
//! always disciplined: the bound is the operator's word. With it, the PHC
//! counts as disciplined while ptp4l reports a grandmaster, a measurement
//! at most 4 s old on the PHC's own clock, and a measured offset within
//! `accuracy-ns`; otherwise the discipline is lost, and the source either
//! holds over ([`crate::holdover`]: the reading's bound grows at the
//! oscillator's declared drift since the last disciplined reading, for at
//! most `holdover-max-s`) or gives nothing.
//!
//! In holdover nobody inserts leap seconds into the PHC nor announces them,
//! so every UTC month end passed since the loss (when a leap second may be
//! inserted, ITU-R TF.460-6) widens the interval by 1 s on each side.
//!
//! Reopening the device (after it failed) forgets the last disciplined
//! reading: a device that went away may come back reset.

pub mod sys;

pub use sys::Sandwich;

use crate::gpsd::wall::{ClockStep, WallError, WallMap, MAX_SLEW};
use crate::holdover::{months_between, Holdover, HoldoverBound, HoldoverConfig, HoldoverEnd};
use crate::ptp4l::wire::{ManagementId, TimeProperties, TimeStatusNp};
use crate::ptp4l::Ptp4lClient;
use crate::{Health, SourceCell};
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tracing::Instrument;
use tt_clock::ClockPair;
use tt_core::{Drift, Interval, Sample, Timestamp, NANOS_PER_SEC};

/// The timescale a PHC keeps (`"tai"` or `"utc"` in configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Timescale {
    /// International Atomic Time: UTC = PHC - (TAI - UTC).
    Tai,
    /// UTC itself.
    Utc,
}

/// How a PHC source is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhcConfig {
    /// The device, e.g. `/dev/ptp0`.
    pub device: PathBuf,
    /// The PHC's timescale.
    pub timescale: Timescale,
    /// `TAI - UTC` in seconds, if configured.
    pub utc_offset_s: Option<i64>,
    /// ptp4l's management socket, to learn the discipline state and the
    /// UTC offset.
    pub ptp4l_socket: Option<PathBuf>,
    /// ptp4l's PTP domain.
    pub ptp4l_domain: u8,
    /// The PHC's error bound while disciplined, ns.
    pub accuracy_ns: i64,
    /// Sandwiches per read (1 to 25).
    pub samples: u32,
    /// How often to read.
    pub poll_interval: Duration,
    /// The oscillator's holdover, if it has one worth declaring.
    pub holdover: Option<HoldoverConfig>,
    /// The local timebase's rate bound (the master's `drift-ppm`).
    pub local_drift: Drift,
}

impl PhcConfig {
    /// A configuration for `device` with the given timescale and accuracy,
    /// 5 sandwiches a second, no ptp4l, no holdover, 200 ppm.
    pub fn new(device: impl Into<PathBuf>, timescale: Timescale, accuracy_ns: i64) -> Self {
        PhcConfig {
            device: device.into(),
            timescale,
            utc_offset_s: None,
            ptp4l_socket: None,
            ptp4l_domain: 0,
            accuracy_ns,
            samples: 5,
            poll_interval: Duration::from_secs(1),
            holdover: None,
            local_drift: Drift::DEFAULT,
        }
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), String> {
        if self.device.as_os_str().is_empty() {
            return Err("the PHC device path is empty".to_string());
        }
        if self.accuracy_ns < 0 {
            return Err(format!(
                "accuracy-ns must not be negative, got {}",
                self.accuracy_ns
            ));
        }
        if self.timescale == Timescale::Tai
            && self.utc_offset_s.is_none()
            && self.ptp4l_socket.is_none()
        {
            return Err(
                "a TAI PHC needs utc-offset-s or ptp4l-socket to know TAI - UTC".to_string(),
            );
        }
        if let Some(offset) = self.utc_offset_s {
            if !(0..=1_000).contains(&offset) {
                return Err(format!(
                    "utc-offset-s = {offset} is not a plausible TAI - UTC"
                ));
            }
        }
        if self.samples == 0 || self.samples > sys::MAX_SAMPLES {
            return Err(format!(
                "samples = {} is out of range 1 to {}",
                self.samples,
                sys::MAX_SAMPLES
            ));
        }
        if self.poll_interval < Duration::from_millis(10) {
            return Err("the PHC poll interval must be at least 10 ms".to_string());
        }
        if let Some(holdover) = &self.holdover {
            holdover.validate().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// How a reading was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMethod {
    /// `PTP_SYS_OFFSET_EXTENDED`.
    SysOffsetExtended,
    /// `PTP_SYS_OFFSET`.
    SysOffset,
    /// `clock_gettime` from user space.
    ClockGettime,
}

impl fmt::Display for ReadMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReadMethod::SysOffsetExtended => "PTP_SYS_OFFSET_EXTENDED",
            ReadMethod::SysOffset => "PTP_SYS_OFFSET",
            ReadMethod::ClockGettime => "clock_gettime",
        })
    }
}

/// One read: the narrowest sandwich and how it was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    /// The narrowest sandwich.
    pub sandwich: Sandwich,
    /// The method.
    pub method: ReadMethod,
}

/// Why a device cannot be read.
#[derive(Debug)]
pub enum PhcError {
    /// The device did not open.
    Open {
        /// The device.
        device: String,
        /// The error.
        error: io::Error,
    },
    /// The file is not a PTP clock (`PTP_CLOCK_GETCAPS` failed).
    NotPtp {
        /// The device.
        device: String,
        /// The error (`ENOTTY` for any other file).
        error: io::Error,
    },
    /// A read failed (the device went away, or broke).
    Read {
        /// The device.
        device: String,
        /// The method.
        method: ReadMethod,
        /// The error.
        error: io::Error,
    },
    /// Every sandwich was inverted: the system clock went back during
    /// each.
    NoSandwich {
        /// The device.
        device: String,
    },
}

impl PhcError {
    /// The operating system's error number, where there is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            PhcError::Open { error, .. }
            | PhcError::NotPtp { error, .. }
            | PhcError::Read { error, .. } => error.raw_os_error(),
            PhcError::NoSandwich { .. } => None,
        }
    }
}

impl fmt::Display for PhcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhcError::Open { device, error } => {
                write!(f, "cannot open the PHC {device}: {error}")
            }
            PhcError::NotPtp { device, error } => write!(
                f,
                "{device} is not a PTP hardware clock (PTP_CLOCK_GETCAPS failed: {error}); \
                 is the path right?"
            ),
            PhcError::Read {
                device,
                method,
                error,
            } => write!(f, "reading the PHC {device} with {method} failed: {error}"),
            PhcError::NoSandwich { device } => write!(
                f,
                "every read of {device} had the system clock go backwards around it"
            ),
        }
    }
}

impl std::error::Error for PhcError {}

/// A clock to read in sandwiches: a PHC, or a stand-in.
pub trait PhcDevice: Send {
    /// The name for logs (the device path).
    fn name(&self) -> String;
    /// Takes `samples` sandwiches and returns the narrowest.
    fn read(&mut self, samples: u32) -> Result<Reading, PhcError>;
}

/// Whether an ioctl error means "this method is not offered here" (try
/// the next) rather than "the device failed".
fn not_offered(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::ENOTTY) | Some(libc::EOPNOTSUPP) | Some(libc::EINVAL)
    )
}

/// An open `/dev/ptpN`.
#[derive(Debug)]
pub struct PtpClock {
    file: File,
    device: String,
    method: Option<ReadMethod>,
}

impl PtpClock {
    /// Opens `path` read-only and checks that it is a PTP clock.
    pub fn open(path: &Path) -> Result<PtpClock, PhcError> {
        let device = path.display().to_string();
        let file = File::open(path).map_err(|error| PhcError::Open {
            device: device.clone(),
            error,
        })?;
        sys::clock_caps(&file).map_err(|error| PhcError::NotPtp {
            device: device.clone(),
            error,
        })?;
        Ok(PtpClock {
            file,
            device,
            method: None,
        })
    }

    /// The POSIX clock id of the open device.
    pub fn clock_id(&self) -> libc::clockid_t {
        sys::fd_to_clockid(self.file.as_raw_fd())
    }

    fn read_with(&self, method: ReadMethod, samples: u32) -> io::Result<Vec<Sandwich>> {
        match method {
            ReadMethod::SysOffsetExtended => sys::sys_offset_extended(&self.file, samples),
            ReadMethod::SysOffset => sys::sys_offset(&self.file, samples),
            ReadMethod::ClockGettime => sys::clock_sandwiches(self.clock_id(), samples),
        }
    }
}

fn best(device: &str, sandwiches: &[Sandwich], method: ReadMethod) -> Result<Reading, PhcError> {
    sys::narrowest(sandwiches)
        .map(|sandwich| Reading { sandwich, method })
        .ok_or_else(|| PhcError::NoSandwich {
            device: device.to_string(),
        })
}

impl PhcDevice for PtpClock {
    fn name(&self) -> String {
        self.device.clone()
    }

    /// Uses the method that worked before; the first time, tries
    /// `PTP_SYS_OFFSET_EXTENDED`, `PTP_SYS_OFFSET` and `clock_gettime` in
    /// that order, moving on only when the kernel says the method is not
    /// offered (`ENOTTY`, `EOPNOTSUPP`, `EINVAL`).
    fn read(&mut self, samples: u32) -> Result<Reading, PhcError> {
        let order = [
            ReadMethod::SysOffsetExtended,
            ReadMethod::SysOffset,
            ReadMethod::ClockGettime,
        ];
        let candidates: &[ReadMethod] = match &self.method {
            Some(known) => std::slice::from_ref(known),
            None => &order,
        };
        let mut last_error = None;
        for &method in candidates {
            match self.read_with(method, samples) {
                Ok(sandwiches) => {
                    self.method = Some(method);
                    return best(&self.device, &sandwiches, method);
                }
                Err(error) if self.method.is_none() && not_offered(&error) => {
                    last_error = Some((method, error));
                }
                Err(error) => {
                    return Err(PhcError::Read {
                        device: self.device.clone(),
                        method,
                        error,
                    })
                }
            }
        }
        let (method, error) = last_error.expect("the loop ran at least once and failed");
        Err(PhcError::Read {
            device: self.device.clone(),
            method,
            error,
        })
    }
}

/// A POSIX clock of the machine standing in for a PHC (`CLOCK_TAI`, say),
/// read with `clock_gettime` sandwiches: the same reading code as a PHC
/// without the ioctls.
#[derive(Clone, Debug)]
pub struct PosixClock {
    clock: libc::clockid_t,
    name: String,
}

impl PosixClock {
    /// The clock `clock`, called `name` in logs.
    pub fn new(clock: libc::clockid_t, name: impl Into<String>) -> Self {
        PosixClock {
            clock,
            name: name.into(),
        }
    }
}

impl PhcDevice for PosixClock {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn read(&mut self, samples: u32) -> Result<Reading, PhcError> {
        let sandwiches =
            sys::clock_sandwiches(self.clock, samples).map_err(|error| PhcError::Read {
                device: self.name.clone(),
                method: ReadMethod::ClockGettime,
                error,
            })?;
        best(&self.name, &sandwiches, ReadMethod::ClockGettime)
    }
}

/// The interval of true time (UTC) at the local instant of a reading.
///
/// The sandwich `(b, P, a)` (system clock `CLOCK_REALTIME` before and
/// after, PHC reading `P`) has its midpoint `m = b + (a - b) / 2` mapped to
/// local instant `L_m` with slack `w` ([`WallMap::convert`]). The PHC was
/// read at a system-clock instant within `h = ceil((a - b) / 2)` of `m`;
/// measured on the local timebase that is within `k = h + ceil(h * 500e-6)`
/// (the wall clock may be slewed 500 ppm against it), and true time moves
/// by at most `k + ceil(k * rho)` over it. With `A` the PHC's error bound
/// at the read (`accuracy-ns`, or the holdover bound) and `U = P - (TAI -
/// UTC)` for a TAI PHC (`U = P` for UTC), in ns:
///
/// ```text
/// earliest = U - A - (k + ceil(k * rho)) - w
/// latest   = U + A + (k + ceil(k * rho)) + w
/// ```
///
/// Against the plainer `U ± (A + (a - b)/2 + w)`, the rate terms add a few
/// parts per ten thousand of the half span: well under a nanosecond for
/// the microsecond sandwiches of a PHC.
pub fn phc_interval(
    utc_ns: i64,
    accuracy_ns: i64,
    span_ns: i64,
    mapping_ns: i64,
    local_drift: Drift,
) -> Interval {
    let radius = accuracy_ns
        .saturating_abs()
        .saturating_add(read_slack_ns(span_ns, local_drift))
        .saturating_add(mapping_ns.saturating_abs());
    Interval::around(Timestamp::from_unix_nanos(utc_ns), radius)
}

/// `k + ceil(k * rho)` with `k = h + ceil(h * 500e-6)`, `h = ceil(span /
/// 2)`: see [`phc_interval`].
fn read_slack_ns(span_ns: i64, local_drift: Drift) -> i64 {
    let span = span_ns.saturating_abs();
    let half = span - span / 2;
    let on_local = half.saturating_add(MAX_SLEW.error_over(half));
    on_local.saturating_add(local_drift.error_over(on_local))
}

/// What is known of the PHC's discipline at a read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Discipline {
    /// Nothing watches it: disciplined by assumption (no `ptp4l-socket`).
    Assumed,
    /// What ptp4l said.
    Ptp4l {
        /// TIME_STATUS_NP.
        time_status: TimeStatusNp,
        /// TIME_PROPERTIES_DATA_SET.
        time_properties: TimeProperties,
    },
    /// ptp4l could not be asked; why.
    Unknown(String),
}

/// How old (PHC time) ptp4l's last measurement may be for the PHC to count
/// as disciplined.
pub const MAX_INGRESS_AGE_NS: i64 = 4 * NANOS_PER_SEC;

/// Why a reading was refused. Each is one counted rejection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The sandwich could not be mapped to the local timebase.
    Wall(WallError),
    /// The configured UTC offset and ptp4l's disagree.
    UtcOffsetDisagrees {
        /// `utc-offset-s`.
        configured_s: i64,
        /// ptp4l's currentUtcOffset.
        ptp4l_s: i64,
    },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Wall(e) => write!(f, "{e}"),
            Rejection::UtcOffsetDisagrees {
                configured_s,
                ptp4l_s,
            } => write!(
                f,
                "utc-offset-s = {configured_s} but ptp4l's grandmaster says TAI - UTC = \
                 {ptp4l_s} s; one of them is wrong"
            ),
        }
    }
}

/// A sample and what it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhcTaken {
    /// The sample.
    pub sample: Sample,
    /// `TAI - UTC` used, s (0 for a UTC PHC).
    pub utc_offset_s: i64,
    /// The sandwich's span, ns.
    pub span_ns: i64,
    /// The PHC's error bound used, ns.
    pub accuracy_ns: i64,
    /// The holdover bound, when held over.
    pub holdover: Option<HoldoverBound>,
    /// Leap-second widening in holdover, ns (1 s per month end passed).
    pub leap_widening_ns: i64,
}

/// What a reading amounts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A sample.
    Taken(PhcTaken),
    /// No usable time; why.
    NoData(String),
    /// A refused reading.
    Rejected(Rejection),
}

/// The readings of one open device turned into samples, without I/O.
#[derive(Debug)]
pub struct PhcSession {
    config: PhcConfig,
    wall: WallMap,
    holdover: Holdover,
    /// `TAI - UTC` from ptp4l at the last disciplined read.
    last_utc_offset_s: Option<i64>,
    /// The UTC time of the last disciplined read, ns.
    last_disciplined_utc_ns: Option<i64>,
}

impl PhcSession {
    /// A session for a device opened just after `pair` was read.
    pub fn new(config: PhcConfig, pair: ClockPair) -> Self {
        let mut wall = WallMap::new();
        let _ = wall.observe(pair);
        let holdover = Holdover::new(config.holdover, config.local_drift);
        PhcSession {
            config,
            wall,
            holdover,
            last_utc_offset_s: None,
            last_disciplined_utc_ns: None,
        }
    }

    /// Records a pair read before a device read.
    pub fn observe(&mut self, pair: ClockPair) -> Result<(), ClockStep> {
        self.wall.observe(pair)
    }

    /// Whether the PHC is disciplined, per `discipline`, at device reading
    /// `device_ns`; `Err` says why not.
    fn disciplined(&self, discipline: &Discipline, device_ns: i64) -> Result<(), String> {
        match discipline {
            Discipline::Assumed => Ok(()),
            Discipline::Unknown(why) => Err(why.clone()),
            Discipline::Ptp4l { time_status, .. } => {
                if !time_status.gm_present {
                    return Err("ptp4l follows no grandmaster".to_string());
                }
                if time_status.ingress_time_ns == 0 {
                    return Err("ptp4l has no offset measurement".to_string());
                }
                let age = device_ns.saturating_sub(time_status.ingress_time_ns);
                if !(0..=MAX_INGRESS_AGE_NS).contains(&age) {
                    return Err(format!(
                        "ptp4l's last measurement is {} ms from the PHC's reading, not within \
                         the last {} s (is ptp4l disciplining this PHC?)",
                        age / 1_000_000,
                        MAX_INGRESS_AGE_NS / NANOS_PER_SEC
                    ));
                }
                if time_status.master_offset_ns.saturating_abs() > self.config.accuracy_ns {
                    return Err(format!(
                        "ptp4l measures the PHC {} ns from the grandmaster, beyond accuracy-ns = {}",
                        time_status.master_offset_ns, self.config.accuracy_ns
                    ));
                }
                Ok(())
            }
        }
    }

    /// `TAI - UTC` for this read.
    fn utc_offset(&mut self, discipline: &Discipline, disciplined: bool) -> Result<i64, Outcome> {
        if self.config.timescale == Timescale::Utc {
            return Ok(0);
        }
        let from_ptp4l = match discipline {
            Discipline::Ptp4l {
                time_properties, ..
            } if disciplined && time_properties.has(TimeProperties::UTC_OFFSET_VALID) => {
                Some(i64::from(time_properties.current_utc_offset_s))
            }
            _ => None,
        };
        match (self.config.utc_offset_s, from_ptp4l) {
            (Some(configured_s), Some(ptp4l_s)) if configured_s != ptp4l_s => {
                Err(Outcome::Rejected(Rejection::UtcOffsetDisagrees {
                    configured_s,
                    ptp4l_s,
                }))
            }
            (_, Some(ptp4l_s)) => {
                self.last_utc_offset_s = Some(ptp4l_s);
                Ok(ptp4l_s)
            }
            (Some(configured_s), None) => Ok(configured_s),
            (None, None) => self.last_utc_offset_s.ok_or_else(|| {
                Outcome::NoData(
                    "TAI - UTC is unknown: ptp4l does not vouch for its UTC offset and \
                     utc-offset-s is not set"
                        .to_string(),
                )
            }),
        }
    }

    /// Turns one reading into an outcome. `pair` was read just after the
    /// device read (it is observed here); `discipline` was learnt just
    /// before it.
    pub fn on_reading(
        &mut self,
        reading: &Reading,
        pair: ClockPair,
        discipline: &Discipline,
    ) -> (Outcome, Option<ClockStep>) {
        let step = self.wall.observe(pair).err();
        (self.judge(reading, &pair, discipline), step)
    }

    fn judge(&mut self, reading: &Reading, pair: &ClockPair, discipline: &Discipline) -> Outcome {
        let sandwich = reading.sandwich;
        let span_ns = sandwich.span_ns();
        let midpoint = sandwich.before_ns.saturating_add(span_ns / 2);
        let stamp = match self.wall.convert(midpoint, pair) {
            Ok(stamp) => stamp,
            Err(e) => return Outcome::Rejected(Rejection::Wall(e)),
        };
        let read_slack = read_slack_ns(span_ns, self.config.local_drift);
        let local_slack = read_slack.saturating_add(stamp.widen_ns);

        let lost = self.disciplined(discipline, sandwich.device_ns).err();
        let utc_offset_s = match self.utc_offset(discipline, lost.is_none()) {
            Ok(offset) => offset,
            Err(outcome) => return outcome,
        };
        let utc_ns = sandwich
            .device_ns
            .saturating_sub(utc_offset_s.saturating_mul(NANOS_PER_SEC));

        let (accuracy_ns, holdover, leap_widening_ns) = match &lost {
            None => {
                self.holdover.disciplined(
                    sandwich.device_ns,
                    self.config.accuracy_ns,
                    stamp.local,
                    local_slack,
                );
                self.last_disciplined_utc_ns = Some(utc_ns);
                (self.config.accuracy_ns, None, 0)
            }
            Some(why) => match self
                .holdover
                .bound(sandwich.device_ns, stamp.local, local_slack)
            {
                Ok(bound) => {
                    let months = self
                        .last_disciplined_utc_ns
                        .map_or(0, |from| months_between(from, utc_ns));
                    let leap_ns = months.saturating_mul(NANOS_PER_SEC);
                    (
                        bound.accuracy_ns.saturating_add(leap_ns),
                        Some(bound),
                        leap_ns,
                    )
                }
                Err(end) => {
                    // After a step the old anchor means nothing; after
                    // expiry it stays, so the source keeps saying why.
                    if matches!(end, HoldoverEnd::Inconsistent { .. }) {
                        self.holdover.reset();
                    }
                    let detail = match end {
                        HoldoverEnd::NotConfigured => format!("discipline lost: {why}"),
                        other => format!("discipline lost ({why}); {other}"),
                    };
                    return Outcome::NoData(detail);
                }
            },
        };

        let interval = phc_interval(
            utc_ns,
            accuracy_ns,
            span_ns,
            stamp.widen_ns,
            self.config.local_drift,
        );
        Outcome::Taken(PhcTaken {
            sample: Sample::new(stamp.local, interval),
            utc_offset_s,
            span_ns,
            accuracy_ns,
            holdover,
            leap_widening_ns,
        })
    }
}

/// Runs the source forever on the configured device.
pub async fn run(config: PhcConfig, cell: SourceCell, name: String) {
    let device = config.device.clone();
    run_with(config, cell, name, move || {
        PtpClock::open(&device).map(|clock| Box::new(clock) as Box<dyn PhcDevice>)
    })
    .await
}

/// Runs the source forever on whatever `open` opens (a PHC, a stand-in,
/// a scripted device), reopening it with backoff when it fails.
pub async fn run_with<F>(config: PhcConfig, cell: SourceCell, name: String, open: F)
where
    F: FnMut() -> Result<Box<dyn PhcDevice>, PhcError> + Send,
{
    let span = tracing::info_span!("phc", source = %name, device = %config.device.display());
    supervise(config, cell, open).instrument(span).await
}

/// First wait before reopening.
const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait before reopening.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Longest wait for one ptp4l answer.
const PTP4L_TIMEOUT: Duration = Duration::from_millis(500);

async fn supervise<F>(config: PhcConfig, cell: SourceCell, mut open: F)
where
    F: FnMut() -> Result<Box<dyn PhcDevice>, PhcError> + Send,
{
    if let Err(e) = config.validate() {
        tracing::error!(error = %e, "PHC source not started: bad configuration");
        cell.lose(Health::Down, format!("PHC source not started: {e}"));
        return std::future::pending().await;
    }
    let mut ptp4l = None;
    let mut backoff = INITIAL_BACKOFF;
    let mut logged_method = None;
    loop {
        let mut device = match open() {
            Ok(device) => device,
            Err(e) => {
                let detail = e.to_string();
                if cell.lose(Health::Down, detail.clone()) {
                    tracing::warn!(%detail, "PHC source down; retrying with backoff");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = INITIAL_BACKOFF;
        let mut session = PhcSession::new(config.clone(), ClockPair::read());
        let mut ticker = tokio::time::interval(config.poll_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut state = LogState::default();
        loop {
            ticker.tick().await;
            let discipline = ask_ptp4l(&config, &mut ptp4l, &cell).await;
            if let Err(step) = session.observe(ClockPair::read()) {
                warn_step(&step, &cell);
            }
            let reading = match device.read(config.samples) {
                Ok(reading) => reading,
                Err(e) => {
                    let detail = e.to_string();
                    if cell.lose(Health::Down, detail.clone()) {
                        tracing::warn!(%detail, "PHC read failed; reopening");
                    }
                    break;
                }
            };
            let (outcome, step) = session.on_reading(&reading, ClockPair::read(), &discipline);
            if logged_method != Some(reading.method) {
                logged_method = Some(reading.method);
                tracing::info!(method = %reading.method, "reading the PHC");
            }
            if let Some(step) = step {
                warn_step(&step, &cell);
            }
            handle(&outcome, &cell, &mut state);
        }
    }
}

/// Learns the discipline from ptp4l, binding the client on first use.
async fn ask_ptp4l(
    config: &PhcConfig,
    client: &mut Option<Ptp4lClient>,
    cell: &SourceCell,
) -> Discipline {
    let Some(socket) = &config.ptp4l_socket else {
        return Discipline::Assumed;
    };
    if client.is_none() {
        match Ptp4lClient::bind(socket, config.ptp4l_domain) {
            Ok(bound) => *client = Some(bound),
            Err(e) => return Discipline::Unknown(format!("cannot ask ptp4l: {e}")),
        }
    }
    let client = client.as_mut().expect("bound just above");
    let answer = async {
        let data = client
            .get(ManagementId::TimeStatusNp, PTP4L_TIMEOUT)
            .await?;
        let time_status = TimeStatusNp::parse(&data).map_err(crate::ptp4l::QueryError::Data)?;
        let data = client
            .get(ManagementId::TimePropertiesDataSet, PTP4L_TIMEOUT)
            .await?;
        let time_properties =
            TimeProperties::parse(&data).map_err(crate::ptp4l::QueryError::Data)?;
        Ok::<_, crate::ptp4l::QueryError>(Discipline::Ptp4l {
            time_status,
            time_properties,
        })
    }
    .await;
    let rejections = client.take_rejections();
    if let Some(last) = &rejections.last {
        for _ in 0..rejections.count {
            cell.reject(format!("datagram from ptp4l refused: {last}"));
        }
    }
    answer.unwrap_or_else(|e| Discipline::Unknown(e.to_string()))
}

fn warn_step(step: &ClockStep, cell: &SourceCell) {
    tracing::warn!(
        change_us = step.change_ns / 1_000,
        "the wall clock stepped; PHC readings are not used for a few seconds"
    );
    cell.reject(step.to_string());
}

/// What has been logged, so each change is logged once.
#[derive(Default)]
struct LogState {
    receiving: bool,
    holding_over: bool,
}

fn handle(outcome: &Outcome, cell: &SourceCell, state: &mut LogState) {
    match outcome {
        Outcome::Taken(taken) => {
            let width_ns = taken.sample.interval.width_ns();
            let detail = match &taken.holdover {
                None => format!(
                    "PHC within {} ns, sandwich {} ns, width {} ns",
                    taken.accuracy_ns, taken.span_ns, width_ns
                ),
                Some(bound) => format!(
                    "holdover for {} s: PHC within {} ns ({} ns of growth{}), width {} ns",
                    bound.since_loss_ns / NANOS_PER_SEC,
                    taken.accuracy_ns,
                    bound.growth_ns,
                    if taken.leap_widening_ns > 0 {
                        ", plus 1 s per month end passed"
                    } else {
                        ""
                    },
                    width_ns
                ),
            };
            cell.publish(taken.sample, detail);
            let holding_over = taken.holdover.is_some();
            if !state.receiving || holding_over != state.holding_over {
                if holding_over {
                    tracing::warn!(width_ns, "PHC discipline lost; holding over");
                } else {
                    tracing::info!(
                        width_ns,
                        utc_offset_s = taken.utc_offset_s,
                        "receiving time from the PHC"
                    );
                }
            }
            state.receiving = true;
            state.holding_over = holding_over;
            tracing::debug!(
                width_ns,
                span_ns = taken.span_ns,
                accuracy_ns = taken.accuracy_ns,
                "sample taken"
            );
        }
        Outcome::NoData(why) => {
            state.receiving = false;
            state.holding_over = false;
            if cell.lose(Health::NoData, why.clone()) {
                tracing::warn!(reason = %why, "no time from the PHC");
            }
        }
        Outcome::Rejected(rejection) => {
            tracing::debug!(reason = %rejection, "PHC reading refused");
            cell.reject(rejection.to_string());
        }
    }
}

#[cfg(test)]
mod tests;
