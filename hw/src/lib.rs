//! Source drivers for a timemaster. Each driver turns its device into
//! [`tt_core::Sample`]s ("at local instant L, true time lay in [E, A]") and
//! publishes them into a [`SourceCell`], which the master reads when it
//! answers a request.
//!
//! Drivers know nothing of gRPC; the master knows nothing of devices.
#![deny(missing_docs)]

#[cfg(test)]
mod c_probe;
pub mod chain;
pub mod gpsd;
pub mod holdover;
pub mod kernel;
pub mod nmea;
pub mod phc;
pub mod pps;
pub mod ptp4l;
pub mod source;

pub use source::{Health, SourceCell, SourceState};
