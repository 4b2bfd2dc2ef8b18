//! A GPS receiver on a serial port, read directly (no gpsd): NMEA 0183
//! sentences turned into samples.
//!
//! * [`frame`] cuts the byte stream into sentences, each with the local
//!   instant of the read that delivered its `$`;
//! * [`parse`] checks one sentence and takes its time, date and validity;
//! * [`epoch`] assembles one label per second and makes the sample;
//! * [`serial`] owns the device: opens it, reads it on a thread of its own,
//!   reopens it with backoff, and publishes into a [`crate::SourceCell`].
//!
//! The bound is in [`epoch::sample_interval`]: at the arrival instant `L`
//! of the first sentence labelling second `T`, true time lies in
//! `[T + min_delay, T + max_delay]`. `L` is read from `CLOCK_BOOTTIME`
//! right after the bytes came in, by this process, so unlike gpsd's stamps
//! there is no wall clock to map and nothing to add for a slewed one. The
//! week-rollover rule is [`epoch::apply_date_floor`].

pub mod epoch;
pub mod frame;
pub mod parse;
pub mod serial;

pub use epoch::{Assembler, Counts, Step, Taken};
pub use frame::{Frame, Framer};
pub use parse::{parse_sentence, Date, ParseOptions, Reason, Rejection, Sentence};
pub use serial::{run, run_observed};

use std::fmt;
use std::str::FromStr;

/// What to do with a date before the floor that 1024 weeks would bring on
/// or after it (see [`epoch::apply_date_floor`]). In configuration files:
/// `"correct"` or `"refuse"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeekRollover {
    /// Add 1024 weeks, and log that it was done.
    Correct,
    /// Refuse the label, and log why.
    Refuse,
}

impl FromStr for WeekRollover {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "correct" => Ok(WeekRollover::Correct),
            "refuse" => Ok(WeekRollover::Refuse),
            other => Err(format!(
                "week-rollover = {other:?} is not known; use \"correct\" or \"refuse\""
            )),
        }
    }
}

/// How a serial NMEA source is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NmeaConfig {
    /// The serial device, e.g. `/dev/ttyUSB0` or `/dev/serial/by-id/...`.
    pub device: String,
    /// Line speed in baud (8 data bits, no parity, 1 stop bit).
    pub baud: u32,
    /// The receiver's delay range, ns: the first sentence labelling second
    /// `S` begins to arrive between `S + min_delay_ns` and
    /// `S + max_delay_ns` of true time, read latency included. See
    /// [`epoch::sample_interval`]. May be negative for a receiver that
    /// labels its seconds late.
    pub min_delay_ns: i64,
    /// Upper end of the delay range, ns.
    pub max_delay_ns: i64,
    /// The earliest date (Unix seconds) the receiver can truly report.
    pub date_floor_unix_s: i64,
    /// What to do with a date 1024 weeks early.
    pub week_rollover: WeekRollover,
    /// Refuse sentences without a checksum.
    pub require_checksum: bool,
}

/// The widest delay bound accepted, either way: 10 s.
pub const MAX_DELAY_LIMIT_NS: i64 = 10 * 1_000_000_000;

impl NmeaConfig {
    /// A receiver on `device` with the defaults: 9600 baud; a delay range
    /// of the whole second after the label (0..1 s: honest for a receiver
    /// that sends its first sentence within the second, narrow for none);
    /// a date floor of 2026-01-01 with rollover correction; checksums
    /// required.
    pub fn for_device(device: impl Into<String>) -> Self {
        NmeaConfig {
            device: device.into(),
            baud: 9600,
            min_delay_ns: 0,
            max_delay_ns: 1_000_000_000,
            date_floor_unix_s: 1_767_225_600,
            week_rollover: WeekRollover::Correct,
            require_checksum: true,
        }
    }

    /// Checks the configuration; [`run`] refuses to start without this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.device.trim().is_empty() {
            return Err(ConfigError::EmptyDevice);
        }
        if self.baud == 0 {
            return Err(ConfigError::ZeroBaud);
        }
        if self.min_delay_ns > self.max_delay_ns
            || self.min_delay_ns < -MAX_DELAY_LIMIT_NS
            || self.max_delay_ns > MAX_DELAY_LIMIT_NS
        {
            return Err(ConfigError::DelayRange {
                min_delay_ns: self.min_delay_ns,
                max_delay_ns: self.max_delay_ns,
            });
        }
        Ok(())
    }
}

/// A configuration that cannot work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// No device path.
    EmptyDevice,
    /// Baud rate 0.
    ZeroBaud,
    /// `min > max`, or an end beyond ±10 s.
    DelayRange {
        /// The lower end given.
        min_delay_ns: i64,
        /// The upper end given.
        max_delay_ns: i64,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::EmptyDevice => write!(f, "the serial device path is empty"),
            ConfigError::ZeroBaud => write!(f, "the baud rate must be above 0"),
            ConfigError::DelayRange {
                min_delay_ns,
                max_delay_ns,
            } => write!(
                f,
                "the delay range {min_delay_ns}..{max_delay_ns} ns is inverted or beyond ±10 s"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}
