//! The pure core of truetime: time types, uncertainty intervals, drift
//! propagation and the fault-tolerant intersection of intervals.
//!
//! Nothing here opens a file, reads a clock or sleeps. Every function takes
//! the instants it needs as arguments, so the same code runs in the daemons
//! and in a simulation where true time is known.
//!
//! # Time model
//!
//! * **Truth** is UTC as nanoseconds since the Unix epoch ([`Timestamp`]).
//! * **Local time** is a monotonic counter of this host that keeps counting
//!   through suspend (`CLOCK_BOOTTIME`), as nanoseconds ([`LocalInstant`]).
//!   Its rate error against truth is at most `rho` ([`Drift`]).
//! * A [`Sample`] says: at local instant `L0` truth lay in `[E0, A0]`.
//! * [`Sample::at`] carries it to a later (or earlier) instant with the
//!   drift bound; [`round_trip`] turns a poll of a master into a sample;
//!   [`intersect`] combines the intervals of several sources of which at
//!   most `f` are wrong.
//!
//! Every bound rounds outward: lower ends down, upper ends up, in integer
//! nanoseconds.
//!
//! Leap seconds are handled by widening, never by smearing: see [`leap`].
#![deny(missing_docs)]

mod intersect;
mod interval;
pub mod leap;
pub mod leap_schedule;
mod sample;
pub mod shm;
mod time;

pub use intersect::{intersect, Agreement, IntersectError};
pub use interval::{Interval, IntervalError};
pub use sample::{round_trip, Sample};
pub use time::{Drift, LocalInstant, Timestamp, NANOS_PER_SEC};
