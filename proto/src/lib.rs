//! The `truetime.v1` gRPC service, generated from `proto/truetime.proto`,
//! and the checked conversion of its wire intervals into [`tt_core`] types.
#![allow(missing_docs, clippy::all)]

/// Generated code for `package truetime.v1`.
pub mod v1 {
    tonic::include_proto!("truetime.v1");
}

pub mod history;

/// The encoded `FileDescriptorSet` of `truetime.proto`, as servers hand it
/// out through gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/truetime_descriptor.bin"));

use tt_core::Interval;
use v1::{NowResponse, SyncStatus};

/// What a `Now` answer means once checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NowAnswer {
    /// True time lies in the interval.
    Synchronized(Interval),
    /// The server cannot vouch for any interval; the text says why.
    Unsynchronized(String),
}

/// Why a `Now` answer could not be understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadAnswer {
    /// The status field holds a value this version does not know.
    UnknownStatus(i32),
    /// A synchronized answer whose earliest end lies after its latest.
    Inverted {
        /// The earliest end sent.
        earliest_unix_ns: i64,
        /// The latest end sent.
        latest_unix_ns: i64,
    },
}

impl std::fmt::Display for BadAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadAnswer::UnknownStatus(code) => write!(f, "answer has unknown status code {code}"),
            BadAnswer::Inverted {
                earliest_unix_ns,
                latest_unix_ns,
            } => write!(
                f,
                "answer's interval is inverted: earliest {earliest_unix_ns} ns > latest {latest_unix_ns} ns"
            ),
        }
    }
}

impl std::error::Error for BadAnswer {}

impl NowResponse {
    /// A synchronized answer holding `interval`.
    pub fn synchronized(interval: Interval) -> Self {
        NowResponse {
            earliest_unix_ns: interval.earliest().unix_nanos(),
            latest_unix_ns: interval.latest().unix_nanos(),
            status: SyncStatus::Synchronized as i32,
            reason: String::new(),
        }
    }

    /// An unsynchronized answer, with a reason a person can act on.
    pub fn unsynchronized(reason: impl Into<String>) -> Self {
        NowResponse {
            earliest_unix_ns: 0,
            latest_unix_ns: 0,
            status: SyncStatus::Unsynchronized as i32,
            reason: reason.into(),
        }
    }

    /// Checks the answer: a synchronized one must carry a proper interval,
    /// and an unknown or unspecified status is never taken as synchronized.
    pub fn check(&self) -> Result<NowAnswer, BadAnswer> {
        match SyncStatus::try_from(self.status) {
            Ok(SyncStatus::Synchronized) => {
                Interval::from_unix_nanos(self.earliest_unix_ns, self.latest_unix_ns)
                    .map(NowAnswer::Synchronized)
                    .map_err(|_| BadAnswer::Inverted {
                        earliest_unix_ns: self.earliest_unix_ns,
                        latest_unix_ns: self.latest_unix_ns,
                    })
            }
            Ok(SyncStatus::Unsynchronized) => {
                Ok(NowAnswer::Unsynchronized(if self.reason.is_empty() {
                    "unsynchronized (no reason given)".to_string()
                } else {
                    self.reason.clone()
                }))
            }
            Ok(SyncStatus::Unspecified) | Err(_) => Err(BadAnswer::UnknownStatus(self.status)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverted_and_unknown_answers_are_refused() {
        let mut answer = NowResponse::synchronized(Interval::from_unix_nanos(1, 2).unwrap());
        assert!(matches!(answer.check(), Ok(NowAnswer::Synchronized(_))));
        answer.earliest_unix_ns = 3;
        assert!(matches!(answer.check(), Err(BadAnswer::Inverted { .. })));
        answer.status = 0;
        assert_eq!(answer.check(), Err(BadAnswer::UnknownStatus(0)));
        answer.status = 77;
        assert_eq!(answer.check(), Err(BadAnswer::UnknownStatus(77)));
    }
}
