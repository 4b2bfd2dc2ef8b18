//! A client of the truetime service.
//!
//! [`TrueTime`] is the handle programs use: `now()`, `after(t)`,
//! `before(t)` and commit-wait ([`TrueTime::wait_until_after`]), read from
//! the timeslave's shared-memory record with one clock read, or over gRPC
//! where there is no record. [`ffi`] offers the same to C (header
//! `include/truetime.h`).
//!
//! [`connect`] opens a plain gRPC connection to a timeslave (on its Unix
//! socket or on TCP) or to a timemaster (on TCP), and hands back the
//! generated `truetime.v1` client:
//!
//! ```no_run
//! # async fn demo() -> Result<(), tt_client::ConnectError> {
//! let mut client = tt_client::connect(tt_client::DEFAULT_SOCKET).await?;
//! let answer = client.now(tt_proto::v1::NowRequest {}).await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod commit_wait;
mod connect;
pub mod ffi;
pub mod ids;
pub mod oracle;
pub mod shm;
mod source;
pub mod tenant;
mod truetime;

pub use connect::{connect, ConnectError, Target, DEFAULT_SOCKET};
pub use ids::{IdError, SnowflakeGenerator};
pub use oracle::{CommitTimestamp, OracleError, TimestampOracle};
pub use shm::DEFAULT_SHM_PATH;
pub use source::{TimeError, TimeSource};
pub use tenant::TenantKey;
pub use truetime::{OpenError, Transport, TrueTime, TrueTimeError};
pub use tt_proto::v1::true_time_client::TrueTimeClient;
