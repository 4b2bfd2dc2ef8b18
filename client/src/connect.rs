//! Opening a gRPC channel to a timeslave or a timemaster.

use hyper_util::rt::TokioIo;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};
use tt_proto::v1::true_time_client::TrueTimeClient;

/// Where a timeslave listens for local programs unless configured otherwise.
pub const DEFAULT_SOCKET: &str = "/run/truetime/timeslave.sock";

/// How long [`connect`] waits for the connection itself (not for answers).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A parsed connection target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A Unix socket path (`unix:/path` or a bare `/path`).
    Unix(PathBuf),
    /// A TCP endpoint, as an `http://host:port` URI.
    Tcp(String),
}

impl Target {
    /// Parses `unix:/path/to.sock`, `/path/to.sock`, `http://host:port` or
    /// `host:port`. TLS (`https://`) is not offered by the servers.
    pub fn parse(target: &str) -> Result<Target, ConnectError> {
        let bad = |why: &str| ConnectError::BadTarget {
            target: target.to_string(),
            why: why.to_string(),
        };

        if let Some(path) = target.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(bad("the socket path after `unix:` is empty"));
            }
            return Ok(Target::Unix(PathBuf::from(path)));
        }
        if target.starts_with('/') {
            return Ok(Target::Unix(PathBuf::from(target)));
        }
        if target.starts_with("https://") {
            return Err(bad(
                "truetime servers speak plain gRPC; use http://host:port",
            ));
        }
        let authority = target.strip_prefix("http://").unwrap_or(target);
        let authority = authority.strip_suffix('/').unwrap_or(authority);
        let shape = "expected host:port, http://host:port or a socket path";
        if authority.contains('/') {
            return Err(bad(shape));
        }
        let Some((host, port)) = authority.rsplit_once(':') else {
            return Err(bad(shape));
        };
        if host.is_empty() {
            return Err(bad(shape));
        }
        if port.parse::<u16>().is_err() {
            return Err(bad("the port must be a number from 0 to 65535"));
        }
        let uri = format!("http://{authority}");
        if uri.parse::<Uri>().is_err() {
            return Err(bad("the host is not a valid host name or address"));
        }
        Ok(Target::Tcp(uri))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Unix(path) => write!(f, "{}", path.display()),
            Target::Tcp(uri) => f.write_str(uri),
        }
    }
}

/// Why no connection was made. Each message names the target and says what
/// to check.
#[derive(Debug)]
pub enum ConnectError {
    /// The target string is not a socket path or a `host:port`.
    BadTarget {
        /// The target as given.
        target: String,
        /// What is wrong with it.
        why: String,
    },
    /// No file exists at the socket path.
    NoSocket {
        /// The socket path.
        path: PathBuf,
    },
    /// The socket file exists but nothing accepts connections on it.
    SocketRefused {
        /// The socket path.
        path: PathBuf,
    },
    /// The socket exists but this user may not open it.
    PermissionDenied {
        /// The socket path.
        path: PathBuf,
    },
    /// The TCP server refused the connection.
    Refused {
        /// The target URI.
        target: String,
    },
    /// The connection was not made within the connect timeout.
    TimedOut {
        /// The target as shown to the user.
        target: String,
        /// The timeout that expired, in milliseconds.
        timeout_ms: u128,
    },
    /// Any other failure to connect.
    Other {
        /// The target as shown to the user.
        target: String,
        /// The underlying error.
        error: String,
    },
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::BadTarget { target, why } => {
                write!(f, "`{target}` is not a server address: {why}")
            }
            ConnectError::NoSocket { path } => write!(
                f,
                "no timeslave socket at {}; is timeslave running?",
                path.display()
            ),
            ConnectError::SocketRefused { path } => write!(
                f,
                "nothing accepts connections on {} (a socket left by a stopped daemon?); \
                 is timeslave running?",
                path.display()
            ),
            ConnectError::PermissionDenied { path } => write!(
                f,
                "permission denied on {}; check the socket's mode or run as a user who may open it",
                path.display()
            ),
            ConnectError::Refused { target } => write!(
                f,
                "{target} refused the connection; is a timeslave or timemaster listening there?"
            ),
            ConnectError::TimedOut { target, timeout_ms } => write!(
                f,
                "no connection to {target} within {timeout_ms} ms; is the server up and reachable?"
            ),
            ConnectError::Other { target, error } => write!(
                f,
                "cannot connect to {target}: {error}; is the server running?"
            ),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Connects to a timeslave or timemaster at `target` (see
/// [`Target::parse`] for the accepted forms). The channel reconnects by
/// itself if the connection later drops.
pub async fn connect(target: &str) -> Result<TrueTimeClient<Channel>, ConnectError> {
    let parsed = Target::parse(target)?;
    let channel = match &parsed {
        Target::Unix(path) => connect_unix(path).await,
        Target::Tcp(uri) => connect_tcp(uri).await,
    }
    .map_err(|error| explain(&parsed, &error))?;
    Ok(TrueTimeClient::new(channel))
}

async fn connect_tcp(uri: &str) -> Result<Channel, tonic::transport::Error> {
    // Target::parse checked that the URI parses.
    Endpoint::from_shared(uri.to_string())?
        .connect_timeout(CONNECT_TIMEOUT)
        .connect()
        .await
}

async fn connect_unix(path: &Path) -> Result<Channel, tonic::transport::Error> {
    let path = path.to_path_buf();
    // The URI is required by the HTTP/2 layer but never resolved: every
    // connection goes through the connector below.
    Endpoint::from_static("http://localhost")
        .connect_timeout(CONNECT_TIMEOUT)
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { UnixStream::connect(path).await.map(TokioIo::new) }
        }))
        .await
}

/// Turns a transport error into a message about `target`, looking through
/// the error's causes for the operating system's reason (the connect
/// timeout also surfaces as an `io::ErrorKind::TimedOut` there).
fn explain(target: &Target, error: &tonic::transport::Error) -> ConnectError {
    let shown = target.to_string();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(io_error) = current.downcast_ref::<io::Error>() {
            return from_io(target, io_error);
        }
        cause = current.source();
    }
    ConnectError::Other {
        target: shown,
        error: error.to_string(),
    }
}

fn from_io(target: &Target, error: &io::Error) -> ConnectError {
    match (target, error.kind()) {
        (Target::Unix(path), io::ErrorKind::NotFound) => {
            ConnectError::NoSocket { path: path.clone() }
        }
        (Target::Unix(path), io::ErrorKind::ConnectionRefused) => {
            ConnectError::SocketRefused { path: path.clone() }
        }
        (Target::Unix(path), io::ErrorKind::PermissionDenied) => {
            ConnectError::PermissionDenied { path: path.clone() }
        }
        (Target::Tcp(uri), io::ErrorKind::ConnectionRefused) => ConnectError::Refused {
            target: uri.clone(),
        },
        (_, io::ErrorKind::TimedOut) => ConnectError::TimedOut {
            target: target.to_string(),
            timeout_ms: CONNECT_TIMEOUT.as_millis(),
        },
        _ => ConnectError::Other {
            target: target.to_string(),
            error: error.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_target_form() {
        assert_eq!(
            Target::parse("unix:/run/x.sock").unwrap(),
            Target::Unix(PathBuf::from("/run/x.sock"))
        );
        assert_eq!(
            Target::parse("/run/x.sock").unwrap(),
            Target::Unix(PathBuf::from("/run/x.sock"))
        );
        assert_eq!(
            Target::parse("127.0.0.1:7380").unwrap(),
            Target::Tcp("http://127.0.0.1:7380".to_string())
        );
        assert_eq!(
            Target::parse("http://localhost:7371").unwrap(),
            Target::Tcp("http://localhost:7371".to_string())
        );
        assert_eq!(
            Target::parse("[::1]:7371").unwrap(),
            Target::Tcp("http://[::1]:7371".to_string())
        );
    }

    #[test]
    fn refuses_malformed_targets_with_the_reason() {
        for (target, why) in [
            ("unix:", "empty"),
            ("localhost", "host:port"),
            (":7380", "host:port"),
            ("host:99999", "port"),
            ("host:port", "port"),
            ("https://host:1", "plain gRPC"),
            ("http://host:1/path", "host:port"),
        ] {
            let error = Target::parse(target).unwrap_err();
            let text = error.to_string();
            assert!(text.contains(target), "{text}");
            assert!(text.contains(why), "{target}: {text}");
        }
    }
}
