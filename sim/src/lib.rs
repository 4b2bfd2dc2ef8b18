//! A deterministic simulation of a truetime fleet against a known true
//! time.
//!
//! Physical time is the simulation's master clock, in integer nanoseconds
//! (see [`truth`]). Each host has a local counter that maps physical time
//! to its own timebase with a rate error, wander, stops and steps
//! ([`oscillator`]). Masters read GPS receivers through the real gpsd
//! session of `tt_hw` and answer with the real `timemaster` service
//! ([`master`]); slaves poll them over a network with delay, jitter,
//! asymmetry, loss and partitions ([`network`]), combine each round with
//! the real `timeslave` combiner, and publish the real shared-memory record
//! that clients read at random instants, as `tt-client` does
//! (`SharedRecord::interval_at`) ([`slave`]). Everything happens in
//! one queue of events ordered by physical time, ties broken by the order
//! they were queued, and every random draw comes from one seed: the same
//! seed gives the same run, to the nanosecond ([`engine`]).
//!
//! Every interval a client or a slave is handed is checked against truth
//! at that instant ([`metrics`]); a run reports violations, widths against
//! the sawtooth DESIGN.md predicts, availability, and how long each fault
//! took to show ([`summary`]). [`catalogue`] holds the named fault
//! scenarios.
#![deny(missing_docs)]

pub mod catalogue;
pub mod engine;
pub mod gps;
pub mod master;
pub mod metrics;
pub mod network;
pub mod oscillator;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod slave;
pub mod summary;
pub mod truth;

pub use scenario::Scenario;
pub use summary::{run, run_traced, Run, Summary};
