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
//!
//! # What is the product's code and what is followed by hand
//!
//! Called as they are: `tt_core` (intervals, propagation, `round_trip`,
//! the intersection, the leap policy, the shared-memory record and its
//! reader), `tt_hw::gpsd::Session` (the gpsd JSON parser, the wall-clock
//! mapping, PPS confirmation), `tt_hw::chain`, `tt_hw::SourceCell`,
//! `timemaster::service::MasterService::view` and `now_response` (with
//! `assess` and `peers::judge` inside), `tt_proto`'s `NowResponse` and its
//! `check`, `timeslave::combiner::Combiner` and
//! `timeslave::publish::record_for`.
//!
//! Followed step for step, because they are woven into async I/O: turning
//! an answer into an outcome (`timeslave::poll::poll_once`,
//! `timemaster::peers`' poller), the gpsd driver's handling of the
//! session's outcomes and its 5 s silence limit, the slave's round (all
//! masters at once, combined when the last answer or timeout is in, the
//! next tick a poll interval after the last began).
//!
//! Not modelled: the scheduling delays of a loaded host (the local clock is
//! read at the instant a message arrives), the cost of gRPC, and any
//! source other than gpsd with PPS. Timers run on the local counter except
//! while a host is paused or asleep, when they wait as long as they had
//! left (`CLOCK_MONOTONIC` counts neither).
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
