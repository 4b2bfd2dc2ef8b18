//! What the truetime daemons share to be run and watched as services:
//!
//! - [`notify`]: systemd's readiness, status and watchdog protocol, spoken
//!   directly over its datagram socket;
//! - [`prom`]: Prometheus's text format, written by hand, and a strict
//!   parser of it for tests;
//! - [`metrics`]: the families both daemons write: the served interval,
//!   the members of the vote, the process;
//! - [`http`]: the small HTTP server the metrics are scraped from;
//! - [`grpc`]: the gRPC server both daemons run: request counts per
//!   method, the health service and server reflection around the truetime
//!   service;
//! - [`serve`]: that server on each listener and the metrics endpoint, on
//!   the serving runtime, until stopped;
//! - [`logging`]: human or JSON logs with a reloadable level filter;
//! - [`process`]: the command line, the logger, systemd's socket and the
//!   runtime a daemon starts with, and the line it prints when it fails;
//! - [`tls`]: TLS between slaves and masters (rustls), and what its
//!   failures mean;
//! - [`limit`]: message sizes, request rates and a runtime of its own for
//!   serving, so that requests cannot starve the pollers.
#![deny(missing_docs)]

pub mod grpc;
pub mod http;
pub mod limit;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod process;
pub mod prom;
pub mod serve;
pub mod tls;

/// The Unix time of `CLOCK_REALTIME` now, nanoseconds: for
/// `process_start_time_seconds`, a figure for people, not a bound.
pub fn wall_clock_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
        })
}
