//! A simulated GPS receiver: NMEA sentences with the host's UTC, written
//! once a second to a terminal that gpsd (or a direct NMEA reader) opens.
//!
//! The host's `CLOCK_REALTIME` stands in for true time, so tests can check
//! the daemons' intervals against it. The binary is `tt-gpssim`; this
//! library holds its parts so they can be tested on their own.
#![deny(missing_docs)]

pub mod nmea;
pub mod schedule;
pub mod sys;
