//! `connect` against a real server on a Unix socket and on TCP, and the
//! errors for each way a connection can fail.

use std::path::PathBuf;
use tokio::net::{TcpListener, UnixListener};
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tonic::{Request, Response, Status};
use tt_client::{connect, ConnectError};
use tt_core::Interval;
use tt_proto::v1::true_time_server::{TrueTime, TrueTimeServer};
use tt_proto::v1::{NowRequest, NowResponse, StatusRequest, StatusResponse};

/// Answers every Now with the interval [1000, 2000].
struct Fixed;

#[tonic::async_trait]
impl TrueTime for Fixed {
    async fn now(&self, _: Request<NowRequest>) -> Result<Response<NowResponse>, Status> {
        let interval = Interval::from_unix_nanos(1000, 2000).expect("ordered");
        Ok(Response::new(NowResponse::synchronized(interval)))
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}

/// A directory removed when the test ends, pass or fail.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("tt-client-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn talks_over_a_unix_socket_and_tcp() {
    let dir = TempDir::new("ok");
    let socket = dir.0.join("slave.sock");
    let unix = UnixListener::bind(&socket).expect("bind unix");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TrueTimeServer::new(Fixed))
            .serve_with_incoming(UnixListenerStream::new(unix)),
    );
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind tcp");
    let port = tcp.local_addr().expect("address").port();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TrueTimeServer::new(Fixed))
            .serve_with_incoming(TcpListenerStream::new(tcp)),
    );

    let unix_target = format!("unix:{}", socket.display());
    let bare_path = socket.display().to_string();
    let host_port = format!("127.0.0.1:{port}");
    let uri = format!("http://127.0.0.1:{port}");
    for target in [unix_target, bare_path, host_port, uri] {
        let mut client = connect(&target).await.expect("connects");
        let answer = client
            .now(NowRequest {})
            .await
            .expect("answers")
            .into_inner();
        assert_eq!(
            (answer.earliest_unix_ns, answer.latest_unix_ns),
            (1000, 2000),
            "{target}"
        );
    }
}

#[tokio::test]
async fn missing_socket_says_so_and_suggests_the_daemon() {
    let dir = TempDir::new("missing");
    let socket = dir.0.join("absent.sock");
    let error = connect(socket.to_str().expect("utf-8")).await.unwrap_err();
    assert!(matches!(error, ConnectError::NoSocket { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "no timeslave socket at {}; is timeslave running?",
            socket.display()
        )
    );
}

#[tokio::test]
async fn stale_socket_is_told_apart_from_a_missing_one() {
    let dir = TempDir::new("stale");
    let socket = dir.0.join("stale.sock");
    // Binding creates the file; dropping the listener leaves it behind with
    // nobody accepting, as after a crash.
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind"));
    let error = connect(socket.to_str().expect("utf-8")).await.unwrap_err();
    assert!(
        matches!(error, ConnectError::SocketRefused { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(&socket.display().to_string()));
}

#[tokio::test]
async fn refused_tcp_port_names_the_address() {
    // A port that was free a moment ago and has no listener now.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let error = connect(&format!("127.0.0.1:{port}")).await.unwrap_err();
    assert!(matches!(error, ConnectError::Refused { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "http://127.0.0.1:{port} refused the connection; \
             is a timeslave or timemaster listening there?"
        )
    );
}
