//! A client of the truetime service.
//!
//! For now this crate opens a gRPC connection to a timeslave (on its Unix
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

mod connect;
pub mod ids;
pub mod oracle;
mod source;
pub mod tenant;

pub use connect::{connect, ConnectError, Target, DEFAULT_SOCKET};
pub use ids::{IdError, SnowflakeGenerator};
pub use oracle::{CommitTimestamp, OracleError, TimestampOracle};
pub use source::{TimeError, TimeSource};
pub use tenant::TenantKey;
pub use tt_proto::v1::true_time_client::TrueTimeClient;
