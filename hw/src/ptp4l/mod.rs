//! The ptp4l source: a running ptp4l (linuxptp) asked over its management
//! socket how far its clock is from the grandmaster's.
//!
//! This source is for ptp4l with software timestamping (`ptp4l -S`, or
//! `time_stamping software`): ptp4l then disciplines `CLOCK_REALTIME`
//! itself (no phc2sys), keeps it on UTC, and stamps each received Sync with
//! `CLOCK_REALTIME`. With hardware timestamping ptp4l disciplines a PHC
//! instead, on the PTP (TAI) timescale; read that with a
//! [`phc`](crate::phc) source whose `ptp4l-socket` points here. (A PHC's
//! ingress stamps fed to this source would lie 37 s in the future of
//! `CLOCK_REALTIME` and be refused by the wall-clock mapping.)
//!
//! Each poll GETs TIME_STATUS_NP, CURRENT_DATA_SET, PARENT_DATA_SET and
//! TIME_PROPERTIES_DATA_SET and turns them into one sample, at the instant
//! of the last measurement; see [`ptp_interval`] for the bound.
//!
//! Loss is reported, never a stale offset: no grandmaster, no measurement
//! (ptp4l zeroes its ingress time when the grandmaster's announcements
//! stop, though it may still say a grandmaster is present), an ingress
//! time older than two seconds, or an unreachable ptp4l all clear the
//! source's sample.

pub mod client;
pub mod wire;

pub use client::{Ptp4lClient, Ptp4lStatus, QueryError, Rejections};

use crate::gpsd::wall::{ClockStep, WallError, WallMap};
use crate::{Health, SourceCell};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use tracing::Instrument;
use tt_clock::ClockPair;
use tt_core::{Interval, Sample, Timestamp, NANOS_PER_SEC};
use wire::{clock_accuracy_ns, TimeProperties};

/// How a ptp4l source is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ptp4lConfig {
    /// ptp4l's management socket (its `uds_address`).
    pub socket: PathBuf,
    /// The PTP domain ptp4l runs in (`domainNumber`).
    pub domain: u8,
    /// How often to ask.
    pub poll_interval: Duration,
    /// Accept a grandmaster whose timescale is ARB rather than PTP. ptp4l
    /// then applies no UTC offset, so this is right only when the
    /// grandmaster serves UTC on its arbitrary timescale, as linuxptp does
    /// when its own clock is a system clock.
    pub allow_arb_timescale: bool,
    /// The accuracy to assume, ns, when the grandmaster announces its
    /// clockAccuracy as unknown (0xFE); without it such a grandmaster
    /// gives no sample.
    pub unknown_gm_accuracy_ns: Option<i64>,
}

impl Default for Ptp4lConfig {
    /// ptp4l's default socket and domain 0, polled once a second; PTP
    /// timescale only; no guess for an unknown accuracy.
    fn default() -> Self {
        Ptp4lConfig {
            socket: PathBuf::from("/var/run/ptp4l"),
            domain: 0,
            poll_interval: Duration::from_secs(1),
            allow_arb_timescale: false,
            unknown_gm_accuracy_ns: None,
        }
    }
}

impl Ptp4lConfig {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), String> {
        if self.socket.as_os_str().is_empty() {
            return Err("the ptp4l socket path is empty".to_string());
        }
        if self.poll_interval < Duration::from_millis(10) {
            return Err("the ptp4l poll interval must be at least 10 ms".to_string());
        }
        if let Some(ns) = self.unknown_gm_accuracy_ns {
            if ns < 0 {
                return Err(format!(
                    "the assumed grandmaster accuracy must not be negative, got {ns} ns"
                ));
            }
        }
        Ok(())
    }
}

/// Why ptp4l's state gives no sample. Each means "no data", not bad input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoSample {
    /// ptp4l follows no grandmaster but itself.
    NoGrandmaster,
    /// ptp4l has no offset measurement (ingress time 0).
    NoMeasurement,
    /// The grandmaster's timescale is ARB and that is not allowed.
    ArbitraryTimescale,
    /// PTP timescale, but the grandmaster does not vouch for its UTC
    /// offset (currentUtcOffsetValid and timeTraceable), so the offset
    /// ptp4l applied is not known.
    UtcOffsetNotVouched {
        /// The announced offset, s.
        offset_s: i16,
        /// The flag bits.
        flags: u8,
    },
    /// Within two seconds of a midnight that a leap second may end.
    NearLeapSecond,
    /// The grandmaster's clockAccuracy promises no bound.
    UnknownAccuracy(u8),
    /// A negative mean path delay: the timestamps are broken, and the
    /// asymmetry bound with them.
    NegativePathDelay(i64),
}

impl fmt::Display for NoSample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoSample::NoGrandmaster => write!(f, "ptp4l follows no grandmaster"),
            NoSample::NoMeasurement => write!(
                f,
                "ptp4l has no offset measurement (no Sync from a grandmaster lately)"
            ),
            NoSample::ArbitraryTimescale => write!(
                f,
                "the grandmaster's timescale is ARB, not PTP; allow-arb-timescale is off"
            ),
            NoSample::UtcOffsetNotVouched { offset_s, flags } => write!(
                f,
                "the grandmaster announces UTC offset {offset_s} s without vouching for it \
                 (flags {flags:#04x}: needs currentUtcOffsetValid and timeTraceable)"
            ),
            NoSample::NearLeapSecond => write!(
                f,
                "a leap second is announced and UTC midnight is less than 2 s away"
            ),
            NoSample::UnknownAccuracy(code) => write!(
                f,
                "the grandmaster's clockAccuracy {code:#04x} promises no bound; set \
                 unknown-gm-accuracy-ns to assume one"
            ),
            NoSample::NegativePathDelay(ns) => {
                write!(f, "ptp4l reports a negative mean path delay ({ns} ns)")
            }
        }
    }
}

/// What one poll's data amounts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A sample.
    Taken(PtpTaken),
    /// No usable time; why.
    NoData(NoSample),
    /// The ingress stamp could not be mapped onto the local timebase.
    Rejected(WallError),
}

/// A sample and the figures it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PtpTaken {
    /// At the ingress instant, true time lay in this interval.
    pub sample: Sample,
    /// master_offset, ns.
    pub offset_ns: i64,
    /// meanPathDelay, ns, rounded up.
    pub mean_path_delay_ns: i64,
    /// The grandmaster's accuracy used, ns.
    pub gm_accuracy_ns: i64,
    /// The wall-to-local mapping's slack, ns.
    pub mapping_ns: i64,
}

/// The interval of true time (UTC) at the ingress instant of the last
/// Sync, mapped to local instant `L_i` with slack `w`.
///
/// ptp4l stamped the Sync on arrival with `T_i` (`CLOCK_REALTIME`, its
/// `ingress_time`) and measured `θ = T_i - t1 - D` (`master_offset`: local
/// minus grandmaster, `t1` the grandmaster's send time, `D` its filtered
/// `meanPathDelay`). The Sync really took `d` to arrive, so the true offset
/// is `θ + D - d`. Assuming each one-way delay lies in `[0, 2D]` (no path
/// is slower than the round trip, which is what an asymmetry bound of `D`
/// means), `|true offset - θ| <= D`. The grandmaster itself is within
/// `A_gm` of UTC (its `clockAccuracy`, IEEE 1588 Table 6). So, in ns:
///
/// ```text
/// G        = T_i - θ                               the grandmaster's time at the ingress
/// earliest = G - ceil(D) - A_gm - w
/// latest   = G + ceil(D) + A_gm + w
/// w        = ceil(g * 500e-6) + s + d'             (crate::gpsd::wall::WallMap::convert)
/// ```
///
/// With software timestamping `θ` and `D` include the host's stack
/// latency; the bound covers it only as far as that latency is part of the
/// path delay, symmetric up to `D`. The PTP (TAI) timescale is converted
/// to UTC by ptp4l itself before it reports `θ` for a system clock.
pub fn ptp_interval(
    ingress_ns: i64,
    offset_ns: i64,
    mean_path_delay_ns: i64,
    gm_accuracy_ns: i64,
    mapping_ns: i64,
) -> Interval {
    let grandmaster_ns = ingress_ns.saturating_sub(offset_ns);
    let radius = mean_path_delay_ns
        .saturating_abs()
        .saturating_add(gm_accuracy_ns.saturating_abs())
        .saturating_add(mapping_ns.saturating_abs());
    Interval::around(Timestamp::from_unix_nanos(grandmaster_ns), radius)
}

/// How close to a UTC midnight a sample is refused while a leap second is
/// announced.
const LEAP_GUARD_NS: i64 = 2 * NANOS_PER_SEC;
const DAY_NS: i64 = 86_400 * NANOS_PER_SEC;

fn near_midnight(utc_ns: i64) -> bool {
    let into_day = utc_ns.rem_euclid(DAY_NS);
    !(LEAP_GUARD_NS..DAY_NS - LEAP_GUARD_NS).contains(&into_day)
}

/// One client's worth of polls turned into samples, without I/O.
#[derive(Debug)]
pub struct Ptp4lSession {
    config: Ptp4lConfig,
    wall: WallMap,
}

impl Ptp4lSession {
    /// A session started just after `pair` was read.
    pub fn new(config: Ptp4lConfig, pair: ClockPair) -> Self {
        let mut wall = WallMap::new();
        // The first pair has nothing to be compared with.
        let _ = wall.observe(pair);
        Ptp4lSession { config, wall }
    }

    /// Records a pair read before a poll.
    pub fn observe(&mut self, pair: ClockPair) -> Result<(), ClockStep> {
        self.wall.observe(pair)
    }

    /// Turns one poll's data into an outcome; `pair` was read just after
    /// the answers arrived (it is observed here).
    pub fn on_status(
        &mut self,
        status: &Ptp4lStatus,
        pair: ClockPair,
    ) -> (Outcome, Option<ClockStep>) {
        let step = self.wall.observe(pair).err();
        (self.judge(status, &pair), step)
    }

    fn judge(&self, status: &Ptp4lStatus, pair: &ClockPair) -> Outcome {
        let time = &status.time_status;
        let properties = &status.time_properties;
        if !time.gm_present {
            return Outcome::NoData(NoSample::NoGrandmaster);
        }
        if time.ingress_time_ns == 0 {
            return Outcome::NoData(NoSample::NoMeasurement);
        }
        let mean_path_delay_ns = status.current.mean_path_delay_ns_ceil();
        if mean_path_delay_ns < 0 {
            return Outcome::NoData(NoSample::NegativePathDelay(mean_path_delay_ns));
        }
        if properties.has(TimeProperties::PTP_TIMESCALE) {
            let vouched = properties.has(TimeProperties::UTC_OFFSET_VALID)
                && properties.has(TimeProperties::TIME_TRACEABLE);
            if !vouched {
                return Outcome::NoData(NoSample::UtcOffsetNotVouched {
                    offset_s: properties.current_utc_offset_s,
                    flags: properties.flags,
                });
            }
        } else if !self.config.allow_arb_timescale {
            return Outcome::NoData(NoSample::ArbitraryTimescale);
        }
        let grandmaster_ns = time.ingress_time_ns.saturating_sub(time.master_offset_ns);
        let leap_announced =
            properties.has(TimeProperties::LEAP_61) || properties.has(TimeProperties::LEAP_59);
        if leap_announced && near_midnight(grandmaster_ns) {
            return Outcome::NoData(NoSample::NearLeapSecond);
        }
        let code = status.parent.gm_clock_accuracy;
        let gm_accuracy_ns = match (clock_accuracy_ns(code), code) {
            (Some(ns), _) => ns,
            (None, 0xFE) => match self.config.unknown_gm_accuracy_ns {
                Some(ns) => ns,
                None => return Outcome::NoData(NoSample::UnknownAccuracy(code)),
            },
            (None, _) => return Outcome::NoData(NoSample::UnknownAccuracy(code)),
        };

        let ingress = match self.wall.convert(time.ingress_time_ns, pair) {
            Ok(ingress) => ingress,
            Err(e) => return Outcome::Rejected(e),
        };
        let interval = ptp_interval(
            time.ingress_time_ns,
            time.master_offset_ns,
            mean_path_delay_ns,
            gm_accuracy_ns,
            ingress.widen_ns,
        );
        Outcome::Taken(PtpTaken {
            sample: Sample::new(ingress.local, interval),
            offset_ns: time.master_offset_ns,
            mean_path_delay_ns,
            gm_accuracy_ns,
            mapping_ns: ingress.widen_ns,
        })
    }
}

/// What one poll saw, for observers (tests, tools).
#[derive(Clone, Debug)]
pub struct PollReport {
    /// The data sets, when ptp4l answered.
    pub status: Option<Ptp4lStatus>,
    /// The outcome, when ptp4l answered.
    pub outcome: Option<Outcome>,
    /// The error, when it did not.
    pub error: Option<String>,
}

/// Runs the source forever: polls ptp4l and publishes into `cell`.
pub async fn run(config: Ptp4lConfig, cell: SourceCell, name: String) {
    run_observed(config, cell, name, |_: &PollReport| {}).await
}

/// [`run`], also handing every poll's report to `on_poll` (after the
/// cell was updated).
pub async fn run_observed<F>(config: Ptp4lConfig, cell: SourceCell, name: String, on_poll: F)
where
    F: FnMut(&PollReport) + Send,
{
    let span = tracing::info_span!("ptp4l", source = %name, socket = %config.socket.display());
    supervise(config, cell, on_poll).instrument(span).await
}

/// Longest wait for one answer.
const MAX_QUERY_TIMEOUT: Duration = Duration::from_millis(500);
/// Wait before binding the client socket again after it failed.
const REBIND_DELAY: Duration = Duration::from_secs(5);

async fn supervise<F>(config: Ptp4lConfig, cell: SourceCell, mut on_poll: F)
where
    F: FnMut(&PollReport) + Send,
{
    if let Err(e) = config.validate() {
        tracing::error!(error = %e, "ptp4l source not started: bad configuration");
        cell.lose(Health::Down, format!("ptp4l source not started: {e}"));
        return std::future::pending().await;
    }
    let timeout = (config.poll_interval / 2).min(MAX_QUERY_TIMEOUT);

    loop {
        let mut client = match Ptp4lClient::bind(&config.socket, config.domain) {
            Ok(client) => client,
            Err(e) => {
                let detail = format!("ptp4l source cannot start: {e}");
                if cell.lose(Health::Down, detail.clone()) {
                    tracing::warn!(%detail, "ptp4l source down");
                }
                tokio::time::sleep(REBIND_DELAY).await;
                continue;
            }
        };
        let mut session = Ptp4lSession::new(config.clone(), ClockPair::read());
        // The first poll one interval after the session's first pair, so
        // that the ingress it reports most likely follows that pair.
        let start = tokio::time::Instant::now() + config.poll_interval;
        let mut ticker = tokio::time::interval_at(start, config.poll_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut receiving = false;
        loop {
            ticker.tick().await;
            if let Err(step) = session.observe(ClockPair::read()) {
                warn_step(&step, &cell);
            }
            let report = match client.status(timeout).await {
                Ok(status) => {
                    let (outcome, step) = session.on_status(&status, ClockPair::read());
                    if let Some(step) = step {
                        warn_step(&step, &cell);
                    }
                    handle(&outcome, &cell, &mut receiving);
                    PollReport {
                        status: Some(status),
                        outcome: Some(outcome),
                        error: None,
                    }
                }
                Err(e) => {
                    receiving = false;
                    let detail = e.to_string();
                    if cell.lose(Health::Down, detail.clone()) {
                        tracing::warn!(%detail, "ptp4l unreachable");
                    }
                    PollReport {
                        status: None,
                        outcome: None,
                        error: Some(detail),
                    }
                }
            };
            let rejections = client.take_rejections();
            if let Some(last) = &rejections.last {
                tracing::debug!(count = rejections.count, reason = %last, "datagrams from ptp4l refused");
                for _ in 0..rejections.count {
                    cell.reject(format!("datagram from ptp4l refused: {last}"));
                }
            }
            on_poll(&report);
        }
    }
}

fn warn_step(step: &ClockStep, cell: &SourceCell) {
    tracing::warn!(
        change_us = step.change_ns / 1_000,
        "the wall clock stepped; ptp4l's stamps are not used for a few seconds"
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
                    "offset {} ns, path delay {} ns, grandmaster within {} ns, width {} us",
                    taken.offset_ns,
                    taken.mean_path_delay_ns,
                    taken.gm_accuracy_ns,
                    width_ns / 1_000
                ),
            );
            if !*receiving {
                *receiving = true;
                tracing::info!(
                    offset_ns = taken.offset_ns,
                    path_delay_ns = taken.mean_path_delay_ns,
                    width_us = width_ns / 1_000,
                    "receiving time from ptp4l"
                );
            }
            tracing::debug!(
                offset_ns = taken.offset_ns,
                path_delay_ns = taken.mean_path_delay_ns,
                mapping_ns = taken.mapping_ns,
                width_ns,
                "sample taken"
            );
        }
        Outcome::NoData(why) => {
            *receiving = false;
            let detail = why.to_string();
            if cell.lose(Health::NoData, detail.clone()) {
                tracing::info!(%detail, "no time from ptp4l");
            }
        }
        Outcome::Rejected(e) => {
            // Counted, and the old sample goes too: a source whose latest
            // measurement cannot be placed in time has no current time.
            *receiving = false;
            let detail = format!("ptp4l's ingress stamp refused: {e}");
            tracing::debug!(reason = %e, "ptp4l's ingress stamp refused");
            cell.reject(detail.clone());
            if cell.lose(Health::NoData, detail.clone()) {
                tracing::info!(%detail, "no time from ptp4l");
            }
        }
    }
}

#[cfg(test)]
mod tests;
