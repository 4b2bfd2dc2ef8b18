//! The TrueTime handle over gRPC, when no record file exists: against a
//! server in this test that follows this host's CLOCK_REALTIME, or says it
//! is unsynchronized.

mod record;

use record::TempDir;
use std::path::{Path, PathBuf};
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status};
use tt_client::{Transport, TrueTime, TrueTimeError};
use tt_core::{Interval, Timestamp};
use tt_proto::v1::true_time_server::{TrueTime as TrueTimeService, TrueTimeServer};
use tt_proto::v1::{NowRequest, NowResponse, StatusRequest, StatusResponse};

const HALF_WIDTH_NS: i64 = 1_000_000;

/// Answers `[realtime - 1 ms, realtime + 1 ms]`, or unsynchronized.
struct Server {
    synchronized: bool,
}

#[tonic::async_trait]
impl TrueTimeService for Server {
    async fn now(&self, _: Request<NowRequest>) -> Result<Response<NowResponse>, Status> {
        if !self.synchronized {
            return Ok(Response::new(NowResponse::unsynchronized(
                "no quorum of masters",
            )));
        }
        let realtime = tt_clock::realtime_ns();
        let interval =
            Interval::from_unix_nanos(realtime - HALF_WIDTH_NS, realtime + HALF_WIDTH_NS)
                .expect("ordered");
        Ok(Response::new(NowResponse::synchronized(interval)))
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}

/// Serves on a socket in `dir` from a runtime on its own thread, so the
/// test's blocking calls never hold up the server. The thread ends with
/// the test process.
fn serve(dir: &TempDir, synchronized: bool) -> PathBuf {
    let socket = dir.join("slave.sock");
    let bound = socket.clone();
    let (ready, is_ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = UnixListener::bind(&bound).expect("bind");
            ready.send(()).expect("test waits");
            let _ = tonic::transport::Server::builder()
                .add_service(TrueTimeServer::new(Server { synchronized }))
                .serve_with_incoming(UnixListenerStream::new(listener))
                .await;
        });
    });
    is_ready.recv().expect("server started");
    socket
}

fn open_fallback(dir: &TempDir, socket: &Path) -> TrueTime {
    let absent = dir.join("absent.shm");
    TrueTime::open_with(&absent, socket.to_str().expect("utf-8")).expect("falls back to gRPC")
}

#[test]
fn without_a_record_the_socket_serves_now_and_commit_wait() {
    let dir = TempDir::new("grpc");
    let socket = serve(&dir, true);
    let tt = open_fallback(&dir, &socket);
    assert_eq!(
        tt.transport(),
        Transport::Grpc(socket.display().to_string())
    );

    let before = tt_clock::realtime_ns();
    let interval = tt.now().expect("synchronized");
    let after = tt_clock::realtime_ns();
    // The server read CLOCK_REALTIME between our two reads.
    assert!(interval.earliest().unix_nanos() >= before - HALF_WIDTH_NS);
    assert!(interval.latest().unix_nanos() <= after + HALF_WIDTH_NS);
    assert_eq!(interval.width_ns(), 2 * HALF_WIDTH_NS);

    // Commit-wait 3 ms past the current upper end.
    let t = Timestamp::from_unix_nanos(tt.now().unwrap().latest().unix_nanos() + 3_000_000);
    let waited = tt.wait_until_after(t).expect("waits");
    assert!(waited.earliest() > t, "returned {waited} for {t}");
    assert!(tt.now().unwrap().earliest() > t);
}

#[test]
fn an_unsynchronized_server_gives_its_reason() {
    let dir = TempDir::new("grpc-unsync");
    let socket = serve(&dir, false);
    let tt = open_fallback(&dir, &socket);
    assert_eq!(
        tt.now(),
        Err(TrueTimeError::Unsynchronized(
            "no quorum of masters".to_string()
        ))
    );
    assert!(tt.wait_until_after(Timestamp::from_unix_nanos(0)).is_err());
}

#[test]
fn neither_record_nor_socket_names_both() {
    let dir = TempDir::new("grpc-none");
    let absent = dir.join("absent.shm");
    let socket = dir.join("absent.sock");
    let error = TrueTime::open_with(&absent, socket.to_str().unwrap()).unwrap_err();
    let text = error.to_string();
    assert!(text.contains(&absent.display().to_string()), "{text}");
    assert!(text.contains(&socket.display().to_string()), "{text}");
}

/// Inside a tokio runtime: the blocking calls do not panic (they wait on
/// the handle's own runtime), the async wait works, and dropping the
/// handle there does not panic either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handle_works_inside_another_runtime() {
    let dir = TempDir::new("grpc-async");
    let socket = serve(&dir, true);
    let tt = open_fallback(&dir, &socket);
    let interval = tt.now().expect("blocking call inside a runtime");
    let t = Timestamp::from_unix_nanos(interval.latest().unix_nanos() + 2_000_000);
    let waited = tt.wait_until_after_async(t).await.expect("async wait");
    assert!(waited.earliest() > t);
    drop(tt);
}
