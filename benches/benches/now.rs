//! The cost of `TT.now()`: one `clock_gettime(CLOCK_BOOTTIME)` alone, the
//! TrueTime handle on a shared-memory record, and the handle over gRPC on
//! a Unix socket, measured in the same run.
//!
//! The record is written by the timeslave's own publisher into a file in
//! a temporary directory. The gRPC server is a tonic server in this
//! process (on its own runtime thread) that answers `Now` with the
//! CLOCK_REALTIME reading ± 1 ms: it measures the transport (client
//! encoding, the socket, the server's dispatch, two context switches), not
//! a timeslave's own work, which is one mutex and one propagation.
//!
//! cargo bench -p tt-benches --bench now -- --warm-up-time 1 --measurement-time 3

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use timeslave::publish::Publisher;
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status};
use tt_client::TrueTime;
use tt_core::shm::Published;
use tt_core::{Drift, Interval, Sample};
use tt_proto::v1::true_time_server::{TrueTime as TrueTimeService, TrueTimeServer};
use tt_proto::v1::{NowRequest, NowResponse, StatusRequest, StatusResponse};

/// A directory removed at the end of the run.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("tt-bench-{name}-{}", std::process::id()));
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

/// A record valid for an hour, sampled now.
fn publish(path: &Path) -> Publisher {
    let publisher = Publisher::create(path).expect("record file");
    let local = tt_clock::boottime();
    let realtime = tt_clock::realtime_ns();
    publisher.publish(Published::Synchronized {
        sample: Sample::new(
            local,
            Interval::from_unix_nanos(realtime - 50_000, realtime + 50_000).expect("ordered"),
        ),
        drift: Drift::DEFAULT,
        void_after: local.saturating_add_nanos(3_600_000_000_000),
        boot: publisher.boot(),
    });
    publisher
}

struct RealtimeServer;

#[tonic::async_trait]
impl TrueTimeService for RealtimeServer {
    async fn now(&self, _: Request<NowRequest>) -> Result<Response<NowResponse>, Status> {
        let realtime = tt_clock::realtime_ns();
        let interval =
            Interval::from_unix_nanos(realtime - 1_000_000, realtime + 1_000_000).expect("ordered");
        Ok(Response::new(NowResponse::synchronized(interval)))
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        Err(Status::unimplemented("not served here"))
    }
}

/// Serves on `socket` from a runtime on its own thread; it ends with the
/// process.
fn serve(socket: PathBuf) {
    let (ready, is_ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = UnixListener::bind(&socket).expect("bind");
            ready.send(()).expect("bench waits");
            let _ = tonic::transport::Server::builder()
                .add_service(TrueTimeServer::new(RealtimeServer))
                .serve_with_incoming(UnixListenerStream::new(listener))
                .await;
        });
    });
    is_ready.recv().expect("server up");
}

fn now(c: &mut Criterion) {
    let dir = TempDir::new("now");
    let record = dir.0.join("slave.shm");
    let _publisher = publish(&record);
    let shm = TrueTime::open_path(&record).expect("open record");
    let socket = dir.0.join("slave.sock");
    serve(socket.clone());
    let grpc = TrueTime::open_socket(socket.to_str().expect("utf-8")).expect("connect");

    let mut group = c.benchmark_group("now");
    group.bench_function("clock_gettime(CLOCK_BOOTTIME)", |b| {
        b.iter(|| black_box(tt_clock::boottime()))
    });
    // Each end of the interval goes through `black_box` on its own, as a
    // caller uses them: the whole 16-byte interval through one `black_box`
    // is stored as two words and reloaded as one, a store-forwarding stall
    // of several nanoseconds that is the harness's, not `now()`'s.
    group.bench_function("TrueTime::now over shared memory", |b| {
        b.iter(|| use_interval(shm.now().expect("synchronized")))
    });
    group.bench_function("TrueTime::now over gRPC (Unix socket)", |b| {
        b.iter(|| use_interval(grpc.now().expect("synchronized")))
    });
    group.finish();
}

#[inline(always)]
fn use_interval(interval: Interval) {
    black_box(interval.earliest());
    black_box(interval.latest());
}

criterion_group!(benches, now);
criterion_main!(benches);
