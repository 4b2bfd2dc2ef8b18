//! The PPS source: edges of a pulse-per-second line from the kernel's RFC
//! 2783 interface (`/dev/ppsN`), numbered by another source that knows the
//! second.
//!
//! A PPS edge marks the top of a second to within the receiver's
//! precision, but not which second. The kernel stamps each assert edge
//! with `CLOCK_REALTIME`; the stamp is mapped onto the local timebase with
//! the wall-clock mapping of the gpsd source ([`crate::gpsd::wall`]), and
//! the second is taken from a labelling source (`label-from`, typically a
//! GPS receiver's serial time) by [`number_edge`]. The bound is in
//! [`pps_interval`].
//!
//! The device sits behind [`PpsDevice`]: [`KernelPps`] is the real one
//! (`PPS_GETCAP`, `PPS_GETPARAMS`, `PPS_FETCH` with a timeout, see
//! [`sys`]); tests script their own.
//!
//! PPS edges relayed by gpsd (its `PPS` messages) are read by the gpsd
//! source itself, which numbers them with its own serial fixes.

pub mod sys;

use crate::gpsd::wall::{ClockStep, WallError, WallMap};
use crate::{Health, SourceCell, SourceState};
use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tracing::Instrument;
use tt_clock::ClockPair;
use tt_core::{Drift, Interval, LocalInstant, Sample, Timestamp, NANOS_PER_SEC};

/// How a PPS source is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PpsConfig {
    /// The device, e.g. `/dev/pps0`.
    pub device: PathBuf,
    /// Bound on an edge's distance from the top of its second, ns: the
    /// receiver's PPS accuracy plus the interrupt latency of the line
    /// (`p`).
    pub precision_ns: i64,
    /// How old (local time, either side of the edge) the labelling
    /// source's sample may be.
    pub label_max_age: Duration,
    /// How long one `PPS_FETCH` waits for an edge.
    pub fetch_timeout: Duration,
    /// The local timebase's rate bound (the master's `drift-ppm`), to
    /// carry the label's sample to the edge.
    pub local_drift: Drift,
}

impl PpsConfig {
    /// `device` with precision `precision_ns`, a label at most 3 s old,
    /// a 2 s fetch timeout, 200 ppm.
    pub fn new(device: impl Into<PathBuf>, precision_ns: i64) -> Self {
        PpsConfig {
            device: device.into(),
            precision_ns,
            label_max_age: Duration::from_secs(3),
            fetch_timeout: Duration::from_secs(2),
            local_drift: Drift::DEFAULT,
        }
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), String> {
        if self.device.as_os_str().is_empty() {
            return Err("the PPS device path is empty".to_string());
        }
        if !(0..NANOS_PER_SEC / 4).contains(&self.precision_ns) {
            return Err(format!(
                "precision-ns = {} is out of range 0 to 250 ms",
                self.precision_ns
            ));
        }
        if self.label_max_age.is_zero() || self.label_max_age > Duration::from_secs(60) {
            return Err("the label's age limit must be between 1 ms and 60 s".to_string());
        }
        if self.fetch_timeout < Duration::from_millis(10) {
            return Err("the PPS fetch timeout must be at least 10 ms".to_string());
        }
        Ok(())
    }
}

/// The capability bits of a PPS device (`PPS_GETCAP`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PpsCapabilities(pub i32);

impl PpsCapabilities {
    /// `PPS_CANWAIT`: `PPS_FETCH` can wait for an edge.
    pub fn can_wait(self) -> bool {
        self.0 & sys::PPS_CANWAIT != 0
    }

    /// `PPS_CAPTUREASSERT`: assert edges can be captured.
    pub fn captures_assert(self) -> bool {
        self.0 & sys::PPS_CAPTUREASSERT != 0
    }
}

/// One assert edge as the device stamped it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PpsEdge {
    /// The device's count of assert edges.
    pub sequence: u32,
    /// The edge's `CLOCK_REALTIME` stamp, ns since the epoch.
    pub realtime_ns: i64,
}

/// Why a PPS device cannot be used.
#[derive(Debug)]
pub enum PpsError {
    /// The device did not open.
    Open {
        /// The device.
        device: String,
        /// The error.
        error: io::Error,
    },
    /// An ioctl failed.
    Ioctl {
        /// The device.
        device: String,
        /// Which call.
        call: &'static str,
        /// The error.
        error: io::Error,
    },
    /// The device cannot do what this source needs.
    NotCapable {
        /// The device.
        device: String,
        /// What is missing.
        missing: &'static str,
        /// Its capability or mode bits.
        bits: i32,
    },
    /// A time stamp with nanoseconds out of range.
    BadStamp {
        /// The device.
        device: String,
        /// The nanoseconds given.
        nsec: i32,
    },
}

impl PpsError {
    /// The operating system's error number, where there is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            PpsError::Open { error, .. } | PpsError::Ioctl { error, .. } => error.raw_os_error(),
            _ => None,
        }
    }
}

impl fmt::Display for PpsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PpsError::Open { device, error } => {
                write!(f, "cannot open the PPS device {device}: {error}")
            }
            PpsError::Ioctl {
                device,
                call,
                error,
            } if error.raw_os_error() == Some(libc::ENOTTY) => write!(
                f,
                "{device} is not a PPS device ({call} failed: {error}); is the path right?"
            ),
            PpsError::Ioctl {
                device,
                call,
                error,
            } => write!(f, "{call} on the PPS device {device} failed: {error}"),
            PpsError::NotCapable {
                device,
                missing,
                bits,
            } => write!(f, "the PPS device {device} {missing} (bits {bits:#x})"),
            PpsError::BadStamp { device, nsec } => write!(
                f,
                "the PPS device {device} stamped an edge with {nsec} nanoseconds"
            ),
        }
    }
}

impl std::error::Error for PpsError {}

/// A source of PPS edges.
pub trait PpsDevice: Send {
    /// The name for logs (the device path).
    fn name(&self) -> String;
    /// What the device can do.
    fn capabilities(&self) -> Result<PpsCapabilities, PpsError>;
    /// Waits up to `timeout` for the next assert edge; `Ok(None)` if none
    /// came.
    fn fetch(&mut self, timeout: Duration) -> Result<Option<PpsEdge>, PpsError>;
}

/// A kernel PPS device.
#[derive(Debug)]
pub struct KernelPps {
    file: File,
    device: String,
    last_sequence: Option<u32>,
}

impl KernelPps {
    /// Opens `path` read-only and checks that it is a PPS device that can
    /// wait for edges and captures assert edges.
    pub fn open(path: &Path) -> Result<KernelPps, PpsError> {
        let device = path.display().to_string();
        let file = File::open(path).map_err(|error| PpsError::Open {
            device: device.clone(),
            error,
        })?;
        let pps = KernelPps {
            file,
            device,
            last_sequence: None,
        };
        let caps = pps.capabilities()?;
        if !caps.can_wait() {
            return Err(pps.not_capable("cannot wait for an edge (no PPS_CANWAIT)", caps.0));
        }
        if !caps.captures_assert() {
            return Err(pps.not_capable("cannot capture assert edges", caps.0));
        }
        let params = sys::get_params(&pps.file).map_err(|error| PpsError::Ioctl {
            device: pps.device.clone(),
            call: "PPS_GETPARAMS",
            error,
        })?;
        if params.mode & sys::PPS_CAPTUREASSERT == 0 {
            return Err(pps.not_capable(
                "is not set to capture assert edges (set its mode with ppstest or the driver)",
                params.mode,
            ));
        }
        Ok(pps)
    }

    fn not_capable(&self, missing: &'static str, bits: i32) -> PpsError {
        PpsError::NotCapable {
            device: self.device.clone(),
            missing,
            bits,
        }
    }
}

impl PpsDevice for KernelPps {
    fn name(&self) -> String {
        self.device.clone()
    }

    fn capabilities(&self) -> Result<PpsCapabilities, PpsError> {
        sys::get_cap(&self.file)
            .map(PpsCapabilities)
            .map_err(|error| PpsError::Ioctl {
                device: self.device.clone(),
                call: "PPS_GETCAP",
                error,
            })
    }

    /// `PPS_FETCH` waits for the next event, assert or clear; a wake-up
    /// whose assert count did not move was a clear edge and yields nothing.
    fn fetch(&mut self, timeout: Duration) -> Result<Option<PpsEdge>, PpsError> {
        let info = sys::fetch(&self.file, timeout).map_err(|error| PpsError::Ioctl {
            device: self.device.clone(),
            call: "PPS_FETCH",
            error,
        })?;
        let Some(info) = info else {
            return Ok(None);
        };
        if self.last_sequence == Some(info.assert_sequence) {
            return Ok(None);
        }
        self.last_sequence = Some(info.assert_sequence);
        let nsec = info.assert_tu.nsec;
        if !(0..1_000_000_000).contains(&nsec) {
            return Err(PpsError::BadStamp {
                device: self.device.clone(),
                nsec,
            });
        }
        Ok(Some(PpsEdge {
            sequence: info.assert_sequence,
            realtime_ns: info
                .assert_tu
                .sec
                .saturating_mul(NANOS_PER_SEC)
                .saturating_add(i64::from(nsec)),
        }))
    }
}

/// Why an edge could not be numbered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Numbering {
    /// The label's interval, widened by `p + w`, holds more than one top
    /// of a second: the label is too wide to say which.
    Ambiguous {
        /// The first second it holds, ns.
        first_ns: i64,
        /// The last second it holds, ns.
        last_ns: i64,
    },
    /// It holds none: the label and the edge cannot both be right.
    NoSecondFits {
        /// The label's interval at the edge.
        label: Interval,
    },
}

/// The second an edge marks, from the labelling source's interval `G`
/// carried to the edge's local instant.
///
/// With `p` the edge's precision and `w` its mapping slack, the edge lies
/// within `p + w` of a top of a second `S`, and if the label is right,
/// true time at the edge lies in `G`. So `S` is a whole second in
/// `[G.earliest - p - w, G.latest + p + w]`. Exactly one: that is the
/// edge's second. None: the label and the edge contradict each other (a
/// fault). More than one: the label is too wide to number the edge (it
/// must be narrower than `1 s - 2(p + w)`).
pub fn number_edge(
    label_at_edge: Interval,
    precision_ns: i64,
    mapping_ns: i64,
) -> Result<i64, Numbering> {
    let slack = precision_ns
        .saturating_abs()
        .saturating_add(mapping_ns.saturating_abs());
    let low = label_at_edge.earliest().unix_nanos().saturating_sub(slack);
    let high = label_at_edge.latest().unix_nanos().saturating_add(slack);
    // The whole seconds in [low, high]: ceil(low / 1 s) to floor(high / 1 s).
    let first = low.div_euclid(NANOS_PER_SEC) + i64::from(low.rem_euclid(NANOS_PER_SEC) != 0);
    let last = high.div_euclid(NANOS_PER_SEC);
    match last - first {
        0 => Ok(first.saturating_mul(NANOS_PER_SEC)),
        n if n < 0 => Err(Numbering::NoSecondFits {
            label: label_at_edge,
        }),
        _ => Err(Numbering::Ambiguous {
            first_ns: first.saturating_mul(NANOS_PER_SEC),
            last_ns: last.saturating_mul(NANOS_PER_SEC),
        }),
    }
}

/// The interval of a numbered edge at its local instant `L_e`.
///
/// The edge is within `p` (`precision-ns`) of the top of second `S`
/// ([`number_edge`]) and was mapped from its `CLOCK_REALTIME` stamp to
/// `L_e` with slack `w` ([`WallMap::convert`]), so, in ns:
///
/// ```text
/// earliest = S - p - w
/// latest   = S + p + w
/// ```
pub fn pps_interval(second_ns: i64, precision_ns: i64, mapping_ns: i64) -> Interval {
    let radius = precision_ns
        .saturating_abs()
        .saturating_add(mapping_ns.saturating_abs());
    Interval::around(Timestamp::from_unix_nanos(second_ns), radius)
}

/// A fault: an edge whose label cannot be right. Counted and logged,
/// never a sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// No top of a second fits both the label and the edge.
    NoSecondFits {
        /// The label's interval at the edge.
        label: Interval,
    },
    /// The label numbers the edge more than half a second from where the
    /// kernel's `CLOCK_REALTIME` stamp puts it: the label or the system
    /// clock is wrong by whole seconds, and which cannot be told here.
    FarFromSystemClock {
        /// The second the label gives, ns.
        second_ns: i64,
        /// The edge's stamp, ns.
        realtime_ns: i64,
    },
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::NoSecondFits { label } => write!(
                f,
                "PPS edge and label disagree: the label puts true time at the edge in {label}, \
                 which holds no top of a second within the edge's precision"
            ),
            Fault::FarFromSystemClock {
                second_ns,
                realtime_ns,
            } => write!(
                f,
                "the label numbers the PPS edge {} but the system clock stamped it {}, {} ms \
                 apart (more than half a second)",
                Timestamp::from_unix_nanos(*second_ns),
                Timestamp::from_unix_nanos(*realtime_ns),
                (realtime_ns - second_ns).abs() / 1_000_000
            ),
        }
    }
}

/// A numbered edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PpsTaken {
    /// The sample at the edge.
    pub sample: Sample,
    /// The edge's second, ns.
    pub second_ns: i64,
    /// The device's edge count.
    pub sequence: u32,
    /// The wall-to-local mapping's slack, ns.
    pub mapping_ns: i64,
}

/// What an edge amounts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A sample.
    Taken(PpsTaken),
    /// No usable label: nothing, and why.
    NoLabel(String),
    /// A label that cannot be right.
    Fault(Fault),
    /// The stamp could not be mapped to the local timebase.
    Rejected(WallError),
}

/// The edges of one open device turned into samples, without I/O.
#[derive(Debug)]
pub struct PpsSession {
    config: PpsConfig,
    label_name: String,
    wall: WallMap,
}

impl PpsSession {
    /// A session for a device opened just after `pair` was read, labelled
    /// by the source called `label_name`.
    pub fn new(config: PpsConfig, label_name: impl Into<String>, pair: ClockPair) -> Self {
        let mut wall = WallMap::new();
        let _ = wall.observe(pair);
        PpsSession {
            config,
            label_name: label_name.into(),
            wall,
        }
    }

    /// Records a pair read before waiting for an edge.
    pub fn observe(&mut self, pair: ClockPair) -> Result<(), ClockStep> {
        self.wall.observe(pair)
    }

    /// Numbers `edge`, read just before `pair` (observed here), with the
    /// labelling source's state `label`.
    pub fn on_edge(
        &mut self,
        edge: &PpsEdge,
        pair: ClockPair,
        label: &SourceState,
    ) -> (Outcome, Option<ClockStep>) {
        let step = self.wall.observe(pair).err();
        (self.judge(edge, &pair, label), step)
    }

    fn judge(&self, edge: &PpsEdge, pair: &ClockPair, label: &SourceState) -> Outcome {
        let stamp = match self.wall.convert(edge.realtime_ns, pair) {
            Ok(stamp) => stamp,
            Err(e) => return Outcome::Rejected(e),
        };
        let label_at_edge = match self.label_at(label, stamp.local) {
            Ok(interval) => interval,
            Err(why) => return Outcome::NoLabel(why),
        };
        let second_ns = match number_edge(label_at_edge, self.config.precision_ns, stamp.widen_ns) {
            Ok(second) => second,
            Err(Numbering::NoSecondFits { label }) => {
                return Outcome::Fault(Fault::NoSecondFits { label })
            }
            Err(Numbering::Ambiguous { first_ns, last_ns }) => {
                return Outcome::NoLabel(format!(
                    "the label from `{}` is too wide to number the edge: it allows every \
                     second from {} to {} (it must be narrower than a second)",
                    self.label_name,
                    Timestamp::from_unix_nanos(first_ns),
                    Timestamp::from_unix_nanos(last_ns)
                ))
            }
        };
        if second_ns.abs_diff(edge.realtime_ns) > (NANOS_PER_SEC / 2).unsigned_abs() {
            return Outcome::Fault(Fault::FarFromSystemClock {
                second_ns,
                realtime_ns: edge.realtime_ns,
            });
        }
        Outcome::Taken(PpsTaken {
            sample: Sample::new(
                stamp.local,
                pps_interval(second_ns, self.config.precision_ns, stamp.widen_ns),
            ),
            second_ns,
            sequence: edge.sequence,
            mapping_ns: stamp.widen_ns,
        })
    }

    /// The labelling source's interval carried to the edge, or why there
    /// is none.
    fn label_at(&self, label: &SourceState, edge: LocalInstant) -> Result<Interval, String> {
        let name = &self.label_name;
        let sample = match (&label.health, label.last) {
            (Health::Good, Some(sample)) => sample,
            _ => {
                return Err(format!(
                    "no label: the source `{name}` has no time ({})",
                    label.detail
                ))
            }
        };
        let age_ns = edge.nanos_since(sample.local);
        let limit_ns = i64::try_from(self.config.label_max_age.as_nanos()).unwrap_or(i64::MAX);
        if age_ns.saturating_abs() > limit_ns {
            return Err(format!(
                "no label: the last sample of `{name}` is {} ms from the edge, more than {} ms",
                age_ns / 1_000_000,
                limit_ns / 1_000_000
            ));
        }
        Ok(sample.at(edge, self.config.local_drift))
    }
}

/// Runs the source forever on the configured device, numbering its edges
/// with `label` (the cell of the source named `label_name`).
pub async fn run(config: PpsConfig, cell: SourceCell, label: SourceCell, name: String) {
    let device = config.device.clone();
    run_with(config, cell, label, name, move || {
        KernelPps::open(&device).map(|pps| Box::new(pps) as Box<dyn PpsDevice>)
    })
    .await
}

/// First wait before reopening.
const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait before reopening.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// This long without an edge means the line is dead.
const SILENCE_LIMIT: Duration = Duration::from_secs(3);

/// Runs the source forever on whatever `open` opens, reopening it with
/// backoff when it fails. Each fetch runs on tokio's blocking pool; the
/// clock pair that maps the edge is read there, right after the fetch
/// returns.
pub async fn run_with<F>(
    config: PpsConfig,
    cell: SourceCell,
    label: SourceCell,
    name: String,
    open: F,
) where
    F: FnMut() -> Result<Box<dyn PpsDevice>, PpsError> + Send,
{
    let label_name = label.snapshot().name;
    let span = tracing::info_span!("pps", source = %name, device = %config.device.display(), label = %label_name);
    supervise(config, cell, label, label_name, open)
        .instrument(span)
        .await
}

async fn supervise<F>(
    config: PpsConfig,
    cell: SourceCell,
    label: SourceCell,
    label_name: String,
    mut open: F,
) where
    F: FnMut() -> Result<Box<dyn PpsDevice>, PpsError> + Send,
{
    if let Err(e) = config.validate() {
        tracing::error!(error = %e, "PPS source not started: bad configuration");
        cell.lose(Health::Down, format!("PPS source not started: {e}"));
        return std::future::pending().await;
    }
    let mut backoff = INITIAL_BACKOFF;
    loop {
        let opened = open().and_then(|device| {
            let caps = device.capabilities()?;
            if caps.can_wait() {
                Ok(device)
            } else {
                Err(PpsError::NotCapable {
                    device: device.name(),
                    missing: "cannot wait for an edge (no PPS_CANWAIT)",
                    bits: caps.0,
                })
            }
        });
        let mut device = match opened {
            Ok(device) => device,
            Err(e) => {
                let detail = e.to_string();
                if cell.lose(Health::Down, detail.clone()) {
                    tracing::warn!(%detail, "PPS source down; retrying with backoff");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = INITIAL_BACKOFF;
        tracing::info!("PPS device open");
        let mut session = PpsSession::new(config.clone(), label_name.clone(), ClockPair::read());
        let mut last_edge = tokio::time::Instant::now();
        let mut receiving = false;
        loop {
            if let Err(step) = session.observe(ClockPair::read()) {
                warn_step(&step, &cell);
            }
            let timeout = config.fetch_timeout;
            let fetched = tokio::task::spawn_blocking(move || {
                let result = device.fetch(timeout);
                let pair = ClockPair::read();
                (device, result, pair)
            })
            .await;
            let (returned, result, pair) = match fetched {
                Ok(fetched) => fetched,
                Err(e) => {
                    let detail = format!("the PPS reader failed: {e}");
                    cell.lose(Health::Down, detail.clone());
                    tracing::error!(%detail, "PPS reader failed; reopening");
                    break;
                }
            };
            device = returned;
            match result {
                Ok(Some(edge)) => {
                    last_edge = tokio::time::Instant::now();
                    let (outcome, step) = session.on_edge(&edge, pair, &label.snapshot());
                    if let Some(step) = step {
                        warn_step(&step, &cell);
                    }
                    handle(&outcome, &cell, &mut receiving);
                }
                Ok(None) => {
                    if last_edge.elapsed() >= SILENCE_LIMIT {
                        receiving = false;
                        let detail = format!(
                            "no PPS edge from {} for {} s; is the signal connected?",
                            device.name(),
                            last_edge.elapsed().as_secs()
                        );
                        if cell.lose(Health::NoData, detail.clone()) {
                            tracing::warn!(%detail, "no PPS edges");
                        }
                    }
                }
                Err(e) => {
                    let detail = e.to_string();
                    if cell.lose(Health::Down, detail.clone()) {
                        tracing::warn!(%detail, "PPS device failed; reopening");
                    }
                    break;
                }
            }
        }
    }
}

fn warn_step(step: &ClockStep, cell: &SourceCell) {
    tracing::warn!(
        change_us = step.change_ns / 1_000,
        "the wall clock stepped; PPS stamps are not used for a few seconds"
    );
    cell.reject(step.to_string());
}

fn handle(outcome: &Outcome, cell: &SourceCell, receiving: &mut bool) {
    match outcome {
        Outcome::Taken(taken) => {
            let width_ns = taken.sample.interval.width_ns();
            cell.publish(
                taken.sample,
                format!(
                    "PPS edge {} numbered {}, width {width_ns} ns",
                    taken.sequence,
                    Timestamp::from_unix_nanos(taken.second_ns)
                ),
            );
            if !*receiving {
                *receiving = true;
                tracing::info!(second = %Timestamp::from_unix_nanos(taken.second_ns), width_ns, "numbering PPS edges");
            }
            tracing::debug!(
                sequence = taken.sequence,
                width_ns,
                mapping_ns = taken.mapping_ns,
                "edge taken"
            );
        }
        Outcome::NoLabel(why) => {
            *receiving = false;
            if cell.lose(Health::NoData, why.clone()) {
                tracing::info!(reason = %why, "PPS edges not numbered");
            }
        }
        Outcome::Fault(fault) => {
            // Logged at warn every time: a fault means a source is lying,
            // which an operator must hear of; at most once a second.
            tracing::warn!(reason = %fault, "PPS fault");
            *receiving = false;
            cell.reject(fault.to_string());
            cell.lose(Health::NoData, fault.to_string());
        }
        Outcome::Rejected(e) => {
            tracing::debug!(reason = %e, "PPS stamp refused");
            cell.reject(format!("PPS stamp refused: {e}"));
        }
    }
}

#[cfg(test)]
mod tests;
