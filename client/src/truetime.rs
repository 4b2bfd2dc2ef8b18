//! The `TrueTime` handle: `now()`, `after(t)` and `before(t)` as in the
//! Spanner paper, from the timeslave's shared-memory record when there is
//! one, and from its gRPC socket otherwise.
//!
//! ```no_run
//! use tt_client::TrueTime;
//! use tt_core::Timestamp;
//!
//! let tt = TrueTime::open()?;
//! let interval = tt.now()?;
//! println!("true time lies in {interval}");
//! let commit = interval.latest();
//! // Commit-wait: returns once true time is surely past `commit`.
//! let after = tt.wait_until_after(commit)?;
//! assert!(after.earliest() > commit);
//! assert!(tt.after(commit)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Two transports
//!
//! * **Shared memory** ([`crate::shm`]): `now()` reads `CLOCK_BOOTTIME`
//!   once (through the vDSO: no system call), takes a consistent copy of
//!   the record (a handful of loads, no system call either), and carries
//!   the record's sample to that instant:
//!   `[E0 + d - ceil(d rho), A0 + d + ceil(d rho)]`, `d = L - L0`
//!   (`tt_core::Sample::at`, through `SharedRecord::interval_at`). A
//!   record renewed between the clock read and the copy has an instant
//!   after the one read; then both are read again (the clock is past the
//!   record's instant by then), rather than taking the renewal for a
//!   record from the future.
//! * **gRPC** on the timeslave's Unix socket (or TCP), for hosts where
//!   the record is not published. The handle owns a small tokio runtime
//!   (one worker thread) that drives the connection; the blocking calls
//!   hand each request to it and wait for the answer, which works from
//!   plain threads and, without panicking, from inside another tokio
//!   runtime (where it blocks that worker for one round trip; use
//!   [`TrueTime::wait_until_after_async`] there). The interval then holds
//!   true time at some instant while the request was in flight.
//!
//! A record that is unsynchronized, void (its writer stopped renewing it),
//! from another boot, stamped in the future, inverted or not a record at
//! all gives an error, never an interval.

use crate::connect::{connect, ConnectError, DEFAULT_SOCKET};
use crate::shm::{MapError, RecordMap, DEFAULT_SHM_PATH};
use crate::source::{TimeError, TimeSource};
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::Channel;
use tt_core::shm::ShmError;
use tt_core::{Interval, Timestamp};
use tt_proto::v1::true_time_client::TrueTimeClient;
use tt_proto::v1::NowRequest;
use tt_proto::NowAnswer;

/// How long a gRPC request may take.
const GRPC_TIMEOUT: Duration = Duration::from_secs(3);

/// How long opening a gRPC connection is waited for: longer than
/// [`connect`]'s own 3 s limit, so that its error (which names the target
/// and the cause) arrives rather than a bare timeout.
const CONNECT_WAIT: Duration = Duration::from_secs(5);

/// Why no interval was had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrueTimeError {
    /// The shared-memory record gave none (unsynchronized, void, another
    /// boot, ...).
    Record(ShmError),
    /// The timeslave answered over gRPC that it is unsynchronized.
    Unsynchronized(String),
    /// The timeslave could not be reached over gRPC, or answered garbage.
    Unavailable(String),
    /// A commit-wait that cannot end: the drift bound is 100 % or more,
    /// or the instant is beyond the range of local time.
    CannotWait(String),
}

impl fmt::Display for TrueTimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrueTimeError::Record(error) => write!(f, "{error}"),
            TrueTimeError::Unsynchronized(reason) => write!(f, "unsynchronized: {reason}"),
            TrueTimeError::Unavailable(reason) => write!(f, "time service unavailable: {reason}"),
            TrueTimeError::CannotWait(reason) => write!(f, "cannot commit-wait: {reason}"),
        }
    }
}

impl std::error::Error for TrueTimeError {}

impl From<ShmError> for TrueTimeError {
    fn from(error: ShmError) -> Self {
        TrueTimeError::Record(error)
    }
}

impl From<TrueTimeError> for TimeError {
    fn from(error: TrueTimeError) -> Self {
        // The reason alone where the kind already says what `TimeError`'s
        // own words will say again ("unsynchronized: ...").
        match error {
            TrueTimeError::Unsynchronized(reason) => TimeError::Unsynchronized(reason),
            TrueTimeError::Unavailable(reason) => TimeError::Unavailable(reason),
            TrueTimeError::Record(ShmError::Unsynchronized | ShmError::Void { .. }) => {
                TimeError::Unsynchronized(error.to_string())
            }
            other => TimeError::Unavailable(other.to_string()),
        }
    }
}

/// Why a handle could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// The record file exists but cannot be used.
    Record(MapError),
    /// The gRPC socket or address could not be reached.
    Connect(ConnectError),
    /// No record file exists and the socket could not be reached either.
    NoService {
        /// The record path tried first.
        shm_path: PathBuf,
        /// Why the socket did not answer.
        socket: ConnectError,
    },
    /// The runtime for the gRPC connection could not be started.
    Runtime(String),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Record(error) => write!(f, "{error}"),
            OpenError::Connect(error) => write!(f, "{error}"),
            OpenError::NoService { shm_path, socket } => write!(
                f,
                "no shared-memory record at {} and {socket}",
                shm_path.display()
            ),
            OpenError::Runtime(error) => {
                write!(f, "cannot start the runtime for gRPC: {error}")
            }
        }
    }
}

impl std::error::Error for OpenError {}

/// How a handle reads the time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// The shared-memory record at this path.
    SharedMemory(PathBuf),
    /// gRPC to this target (socket path or `host:port`).
    Grpc(String),
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::SharedMemory(path) => write!(f, "shared memory at {}", path.display()),
            Transport::Grpc(target) => write!(f, "gRPC at {target}"),
        }
    }
}

/// A handle on this host's TrueTime. Cheap to clone (clones share one
/// mapping or connection); usable from many threads at once.
#[derive(Clone)]
pub struct TrueTime {
    pub(crate) backend: Arc<Backend>,
}

pub(crate) enum Backend {
    Shm(RecordMap),
    /// Boxed: the runtime and channel are far larger than a mapping.
    Grpc(Box<Grpc>),
}

impl fmt::Debug for TrueTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrueTime")
            .field("transport", &self.transport())
            .finish()
    }
}

impl TrueTime {
    /// The timeslave's record at [`DEFAULT_SHM_PATH`], or, if there is no
    /// such file, its socket at [`DEFAULT_SOCKET`].
    pub fn open() -> Result<TrueTime, OpenError> {
        TrueTime::open_with(Path::new(DEFAULT_SHM_PATH), DEFAULT_SOCKET)
    }

    /// The record at `shm_path`, or, if no file is there, gRPC to `socket`
    /// (a socket path or `host:port`, as [`crate::connect`] takes). A
    /// record file that exists but is unusable is an error, not a reason
    /// to fall back: it says something is wrong on this host.
    pub fn open_with(shm_path: &Path, socket: &str) -> Result<TrueTime, OpenError> {
        match RecordMap::open(shm_path) {
            Ok(map) => Ok(TrueTime::from_backend(Backend::Shm(map))),
            Err(MapError::NotFound { .. }) => match Grpc::connect(socket) {
                Ok(grpc) => Ok(TrueTime::from_backend(Backend::Grpc(Box::new(grpc)))),
                Err(OpenError::Connect(error)) => Err(OpenError::NoService {
                    shm_path: shm_path.to_path_buf(),
                    socket: error,
                }),
                Err(other) => Err(other),
            },
            Err(error) => Err(OpenError::Record(error)),
        }
    }

    /// The record at `path` only, without falling back to gRPC.
    pub fn open_path(path: &Path) -> Result<TrueTime, OpenError> {
        let map = RecordMap::open(path).map_err(OpenError::Record)?;
        Ok(TrueTime::from_backend(Backend::Shm(map)))
    }

    /// gRPC to `target` only (a socket path, `unix:/path` or `host:port`).
    pub fn open_socket(target: &str) -> Result<TrueTime, OpenError> {
        let grpc = Grpc::connect(target)?;
        Ok(TrueTime::from_backend(Backend::Grpc(Box::new(grpc))))
    }

    fn from_backend(backend: Backend) -> TrueTime {
        TrueTime {
            backend: Arc::new(backend),
        }
    }

    /// Where this handle reads the time from.
    pub fn transport(&self) -> Transport {
        match &*self.backend {
            Backend::Shm(map) => Transport::SharedMemory(map.path().to_path_buf()),
            Backend::Grpc(grpc) => Transport::Grpc(grpc.target.clone()),
        }
    }

    /// `TT.now()`: an interval that contains true time at some instant
    /// during the call.
    #[inline(always)]
    pub fn now(&self) -> Result<Interval, TrueTimeError> {
        match &*self.backend {
            Backend::Shm(map) => Ok(map.interval_now()?),
            Backend::Grpc(grpc) => grpc.now(),
        }
    }

    /// `TT.after(t)`: true iff `t` has surely passed, `t < now().earliest`.
    pub fn after(&self, t: Timestamp) -> Result<bool, TrueTimeError> {
        Ok(self.now()?.earliest() > t)
    }

    /// `TT.before(t)`: true iff `t` has surely not arrived yet,
    /// `t > now().latest`.
    pub fn before(&self, t: Timestamp) -> Result<bool, TrueTimeError> {
        Ok(self.now()?.latest() < t)
    }
}

impl RecordMap {
    /// The record carried to the current instant (see the module
    /// documentation of `truetime`).
    #[inline(always)]
    pub fn interval_now(&self) -> Result<Interval, ShmError> {
        // The record's address and the boot id are fetched before the
        // clock read, so that after it only the record's words are loaded.
        let (record, boot) = (self.record(), self.boot());
        let now = tt_clock::boottime();
        match record.interval_at(now, boot) {
            Ok(interval) => Ok(interval),
            Err(error) => self.interval_now_again(error),
        }
    }

    /// After a first try failed with `error`: a record the writer was
    /// inside of is read again after yielding; a record renewed between
    /// the clock read and the copy (its instant is after the one read) is
    /// read again with the clock, which is past its instant by then. A
    /// record that stays busy or keeps an instant ahead of the clock (it
    /// is from another clock) is reported as such.
    #[cold]
    fn interval_now_again(&self, mut error: ShmError) -> Result<Interval, ShmError> {
        for _ in 0..BUSY_RETRIES {
            match error {
                ShmError::Busy => std::thread::yield_now(),
                ShmError::FromTheFuture { .. } => {}
                other => return Err(other),
            }
            match self.interval_at(tt_clock::boottime()) {
                Ok(interval) => return Ok(interval),
                Err(again) => error = again,
            }
        }
        Err(error)
    }
}

/// How often [`RecordMap::interval_now`] tries again after a busy or
/// just-renewed record.
const BUSY_RETRIES: usize = 100;

impl TimeSource for TrueTime {
    fn now(&self) -> Result<Interval, TimeError> {
        Ok(TrueTime::now(self)?)
    }

    fn wait_until_after(&self, t: Timestamp) -> Result<Interval, TimeError> {
        Ok(TrueTime::wait_until_after(self, t)?)
    }
}

/// A gRPC connection and the runtime that drives it.
pub(crate) struct Grpc {
    /// `Some` until drop; see `Drop`.
    runtime: Option<tokio::runtime::Runtime>,
    client: TrueTimeClient<Channel>,
    pub(crate) target: String,
}

impl Grpc {
    fn connect(target: &str) -> Result<Grpc, OpenError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tt-client-grpc")
            .enable_all()
            .build()
            .map_err(|e| OpenError::Runtime(e.to_string()))?;
        let owned = target.to_string();
        let connected = run_on(&runtime, CONNECT_WAIT, async move { connect(&owned).await })
            .ok_or_else(|| {
                OpenError::Connect(ConnectError::TimedOut {
                    target: target.to_string(),
                    timeout_ms: CONNECT_WAIT.as_millis(),
                })
            })?;
        let client = connected.map_err(OpenError::Connect)?;
        Ok(Grpc {
            runtime: Some(runtime),
            client,
            target: target.to_string(),
        })
    }

    /// One `Now` request, waited for on this thread.
    pub(crate) fn now(&self) -> Result<Interval, TrueTimeError> {
        let runtime = self
            .runtime
            .as_ref()
            .expect("the runtime is only taken at drop");
        let mut client = self.client.clone();
        let answer = run_on(runtime, GRPC_TIMEOUT, async move {
            client.now(NowRequest {}).await
        });
        self.check(answer)
    }

    /// One `Now` request, awaited on the caller's tokio runtime.
    pub(crate) async fn now_async(&self) -> Result<Interval, TrueTimeError> {
        let mut client = self.client.clone();
        let answer = tokio::time::timeout(GRPC_TIMEOUT, client.now(NowRequest {}))
            .await
            .ok();
        self.check(answer)
    }

    fn check(
        &self,
        answer: Option<Result<tonic::Response<tt_proto::v1::NowResponse>, tonic::Status>>,
    ) -> Result<Interval, TrueTimeError> {
        let target = &self.target;
        let response = match answer {
            None => {
                return Err(TrueTimeError::Unavailable(format!(
                    "no answer from {target} within {} ms",
                    GRPC_TIMEOUT.as_millis()
                )))
            }
            Some(Err(status)) => {
                return Err(TrueTimeError::Unavailable(format!(
                    "{target} answered {:?}: {}",
                    status.code(),
                    status.message()
                )))
            }
            Some(Ok(response)) => response.into_inner(),
        };
        match response.check() {
            Ok(NowAnswer::Synchronized(interval)) => Ok(interval),
            Ok(NowAnswer::Unsynchronized(reason)) => Err(TrueTimeError::Unsynchronized(reason)),
            Err(bad) => Err(TrueTimeError::Unavailable(format!(
                "{target} answered garbage: {bad}"
            ))),
        }
    }
}

impl Drop for Grpc {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its tasks end, which panics
        // inside another runtime; shutting down in the background never
        // blocks.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Runs `work` on `runtime` and waits on this thread for at most `limit`;
/// `None` if it took longer. Spawning and waiting on a channel (rather
/// than `block_on`) is allowed from inside another runtime.
fn run_on<F>(runtime: &tokio::runtime::Runtime, limit: Duration, work: F) -> Option<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (done, result) = std::sync::mpsc::sync_channel(1);
    let task = runtime.spawn(async move {
        // The receiver may have given up; nothing to do then.
        let _ = done.send(work.await);
    });
    let outcome = result.recv_timeout(limit).ok();
    if outcome.is_none() {
        task.abort();
    }
    outcome
}
