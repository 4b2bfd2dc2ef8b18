//! timeslave: polls several timemasters, rejects the ones that disagree
//! with the majority, and serves this host's `TT.now()` over gRPC on a
//! Unix socket and on TCP.
//!
//! The pieces: [`config`] reads and checks the file; [`combiner`] is the
//! state machine that turns poll outcomes into the combined interval (no
//! I/O); [`poll`] asks the masters; [`service`] answers requests;
//! [`publish`] writes the shared-memory record local programs map;
//! [`metrics`] counts for the Prometheus endpoint; [`reload`] restarts
//! polling on SIGHUP; [`daemon`] binds the sockets and runs it all.
#![deny(missing_docs)]

pub mod combiner;
pub mod config;
pub mod daemon;
pub mod metrics;
pub mod poll;
pub mod publish;
pub mod reload;
pub mod service;
