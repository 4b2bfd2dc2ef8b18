//! A client of ptp4l's management socket: a Unix datagram socket of our
//! own, bound in the temporary directory, that sends GETs to ptp4l's
//! (`/var/run/ptp4l` unless ptp4l's `uds_address` says otherwise) and
//! reads the answers.

use super::wire::{
    self, decode_response, encode_get, Body, CurrentDataSet, ManagementId, ParentDataSet,
    PortIdentity, TimeProperties, TimeStatusNp, WireError, MAX_MESSAGE_LEN,
};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::UnixDatagram;

/// What one poll of ptp4l read: the four data sets, in the order asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ptp4lStatus {
    /// TIME_STATUS_NP.
    pub time_status: TimeStatusNp,
    /// CURRENT_DATA_SET.
    pub current: CurrentDataSet,
    /// PARENT_DATA_SET.
    pub parent: ParentDataSet,
    /// TIME_PROPERTIES_DATA_SET.
    pub time_properties: TimeProperties,
}

/// Why a query got no answer.
#[derive(Debug)]
pub enum QueryError {
    /// The request could not be sent (ptp4l's socket is absent, refuses,
    /// or is not ours to write).
    Send {
        /// ptp4l's socket.
        server: PathBuf,
        /// The error.
        error: io::Error,
    },
    /// Receiving failed.
    Receive(io::Error),
    /// No valid answer within the timeout.
    Timeout {
        /// The data set asked for.
        id: ManagementId,
        /// The timeout.
        after: Duration,
    },
    /// ptp4l answered with an error status.
    ErrorStatus {
        /// The data set asked for.
        id: ManagementId,
        /// The managementErrorId.
        error_id: u16,
    },
    /// The answer's data set did not parse.
    Data(WireError),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Send { server, error } => {
                let hint = match error.kind() {
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                        "; is ptp4l running, with this uds_address?"
                    }
                    io::ErrorKind::PermissionDenied => "; may this user write to it?",
                    _ => "",
                };
                write!(
                    f,
                    "cannot send to ptp4l's management socket {}: {error}{hint}",
                    server.display()
                )
            }
            QueryError::Receive(e) => write!(f, "cannot read ptp4l's answer: {e}"),
            QueryError::Timeout { id, after } => write!(
                f,
                "ptp4l sent no valid answer to GET {} within {} ms",
                id.name(),
                after.as_millis()
            ),
            QueryError::ErrorStatus { id, error_id } => write!(
                f,
                "ptp4l answered GET {} with {} ({error_id:#06x})",
                id.name(),
                wire::error_name(*error_id)
            ),
            QueryError::Data(e) => write!(f, "ptp4l's answer is malformed: {e}"),
        }
    }
}

impl std::error::Error for QueryError {}

/// An open client socket. Dropped, it removes its socket file.
pub struct Ptp4lClient {
    socket: UnixDatagram,
    server: PathBuf,
    own_path: PathBuf,
    domain: u8,
    identity: PortIdentity,
    sequence: u16,
    rejections: Rejections,
}

/// Datagrams refused by a client: how many, and the last one's reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rejections {
    /// How many.
    pub count: u64,
    /// Why the last one was refused.
    pub last: Option<WireError>,
}

impl Rejections {
    fn push(&mut self, why: WireError) {
        self.count += 1;
        self.last = Some(why);
    }
}

impl fmt::Debug for Ptp4lClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ptp4lClient")
            .field("server", &self.server)
            .field("own_path", &self.own_path)
            .finish()
    }
}

impl Ptp4lClient {
    /// Binds a socket of our own in the temporary directory
    /// (`truetime-pmc-<pid>-<n>.sock`) for talking to ptp4l at `server`
    /// in PTP domain `domain`.
    pub fn bind(server: &Path, domain: u8) -> io::Result<Ptp4lClient> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let own =
            std::env::temp_dir().join(format!("truetime-pmc-{}-{n}.sock", std::process::id()));
        Ptp4lClient::bind_at(&own, server, domain)
    }

    /// Binds our socket at `own_path` (an old file there is replaced).
    pub fn bind_at(own_path: &Path, server: &Path, domain: u8) -> io::Result<Ptp4lClient> {
        let _ = std::fs::remove_file(own_path);
        let socket = UnixDatagram::bind(own_path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot bind the client socket {}: {e}", own_path.display()),
            )
        })?;
        let pid = std::process::id();
        Ok(Ptp4lClient {
            socket,
            server: server.to_path_buf(),
            own_path: own_path.to_path_buf(),
            domain,
            identity: PortIdentity {
                clock: *b"truetime",
                port: (pid & 0xFFFF) as u16,
            },
            sequence: (pid >> 16) as u16,
            rejections: Rejections::default(),
        })
    }

    /// ptp4l's socket.
    pub fn server(&self) -> &Path {
        &self.server
    }

    /// The datagrams refused since the last call.
    pub fn take_rejections(&mut self) -> Rejections {
        std::mem::take(&mut self.rejections)
    }

    /// Sends one GET and waits up to `timeout` for its answer. Datagrams
    /// that are not the answer (malformed, another sequence id, another
    /// data set) are refused and recorded (see
    /// [`Ptp4lClient::take_rejections`]); the wait goes on until the
    /// timeout.
    pub async fn get(
        &mut self,
        id: ManagementId,
        timeout: Duration,
    ) -> Result<Vec<u8>, QueryError> {
        self.sequence = self.sequence.wrapping_add(1);
        let sequence = self.sequence;
        let request = encode_get(id, sequence, self.domain, self.identity);
        self.socket
            .send_to(&request, &self.server)
            .await
            .map_err(|error| QueryError::Send {
                server: self.server.clone(),
                error,
            })?;

        let deadline = tokio::time::Instant::now() + timeout;
        // One byte more than the limit, so an oversized datagram is seen
        // as such rather than silently cut.
        let mut buf = vec![0u8; MAX_MESSAGE_LEN + 1];
        loop {
            let received = tokio::time::timeout_at(deadline, self.socket.recv(&mut buf)).await;
            let len = match received {
                Err(_) => return Err(QueryError::Timeout { id, after: timeout }),
                Ok(Err(e)) => return Err(QueryError::Receive(e)),
                Ok(Ok(len)) => len,
            };
            let response = match decode_response(&buf[..len], self.identity) {
                Ok(response) => response,
                Err(e) => {
                    self.rejections.push(e);
                    continue;
                }
            };
            if response.sequence != sequence {
                self.rejections.push(WireError::WrongSequence {
                    expected: sequence,
                    got: response.sequence,
                });
                continue;
            }
            let (got, answer) = match response.body {
                Body::Data { id: got, data } => (got, Ok(data)),
                Body::Error { id: got, error_id } => {
                    (got, Err(QueryError::ErrorStatus { id, error_id }))
                }
            };
            if got == id.code() {
                return answer;
            }
            self.rejections.push(WireError::WrongId {
                expected: id.code(),
                got,
            });
        }
    }

    /// GETs the four data sets a PTP source needs, each within `timeout`.
    pub async fn status(&mut self, timeout: Duration) -> Result<Ptp4lStatus, QueryError> {
        let data = self.get(ManagementId::TimeStatusNp, timeout).await?;
        let time_status = TimeStatusNp::parse(&data).map_err(QueryError::Data)?;
        let data = self.get(ManagementId::CurrentDataSet, timeout).await?;
        let current = CurrentDataSet::parse(&data).map_err(QueryError::Data)?;
        let data = self.get(ManagementId::ParentDataSet, timeout).await?;
        let parent = ParentDataSet::parse(&data).map_err(QueryError::Data)?;
        let data = self
            .get(ManagementId::TimePropertiesDataSet, timeout)
            .await?;
        let time_properties = TimeProperties::parse(&data).map_err(QueryError::Data)?;
        Ok(Ptp4lStatus {
            time_status,
            current,
            parent,
            time_properties,
        })
    }
}

impl Drop for Ptp4lClient {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.own_path);
    }
}
