//! The timeslave binary publishes its interval in shared memory: a client
//! reading the record through tt-client's TrueTime handle gets intervals
//! that hold this host's CLOCK_REALTIME (which the fake masters here
//! serve as true time); a clean exit leaves the record unsynchronized; a
//! restart reuses the file; a killed daemon's record goes void by itself.

mod common;

use common::{Slave, TempDir};
use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};
use tt_client::{TrueTime, TrueTimeError};
use tt_core::shm::ShmError;
use tt_core::Interval;
use tt_proto::v1::true_time_server::{TrueTime as TrueTimeService, TrueTimeServer};
use tt_proto::v1::{NowRequest, NowResponse, StatusRequest, StatusResponse};

/// Each master's half width: CLOCK_REALTIME read at the answer is inside.
const HALF_WIDTH_NS: i64 = 1_000_000;

struct Honest;

#[tonic::async_trait]
impl TrueTimeService for Honest {
    async fn now(&self, _: Request<NowRequest>) -> Result<Response<NowResponse>, Status> {
        let realtime = tt_clock::realtime_ns();
        let interval =
            Interval::from_unix_nanos(realtime - HALF_WIDTH_NS, realtime + HALF_WIDTH_NS)
                .expect("ordered");
        Ok(Response::new(NowResponse::synchronized(interval)))
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        Err(Status::unimplemented("a fake master has no status"))
    }
}

async fn start_master() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TrueTimeServer::new(Honest))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    address
}

/// `now()` between two CLOCK_REALTIME reads: a synchronized answer must
/// reach the span the reads bound.
fn check_holds_realtime(tt: &TrueTime, slave: &Slave) -> Result<Interval, TrueTimeError> {
    let before = tt_clock::realtime_ns();
    let answer = tt.now();
    let after = tt_clock::realtime_ns();
    if let Ok(interval) = &answer {
        assert!(
            interval.earliest().unix_nanos() <= after && interval.latest().unix_nanos() >= before,
            "the record gave {interval}, CLOCK_REALTIME was in [{before}, {after}]; log:\n{}",
            slave.log()
        );
    }
    answer
}

/// Polls `now()` every 20 ms for at most `limit` until `done` says so;
/// every synchronized answer on the way must hold CLOCK_REALTIME.
fn poll_until(
    tt: &TrueTime,
    slave: &Slave,
    limit: Duration,
    what: &str,
    done: impl Fn(&Result<Interval, TrueTimeError>) -> bool,
) -> Result<Interval, TrueTimeError> {
    let deadline = Instant::now() + limit;
    loop {
        let answer = check_holds_realtime(tt, slave);
        if done(&answer) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "{what} never happened; last answer {answer:?}; log:\n{}",
            slave.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn open_when_there(path: &Path, slave: &mut Slave) -> TrueTime {
    for _ in 0..100 {
        if let Some(status) = slave.child.try_wait().expect("wait") {
            panic!("timeslave exited with {status}; log:\n{}", slave.log());
        }
        if let Ok(tt) = TrueTime::open_path(path) {
            return tt;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "the record never appeared at {}; log:\n{}",
        path.display(),
        slave.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slave_publishes_and_its_record_goes_void_when_it_dies() {
    let dir = TempDir::new("publish");
    let masters = [
        start_master().await,
        start_master().await,
        start_master().await,
    ];
    let shm = dir.0.join("run/truetime/slave.shm");
    let config = dir.0.join("timeslave.toml");
    let list: Vec<String> = masters.iter().map(|a| format!("\"{a}\"")).collect();
    std::fs::write(
        &config,
        format!(
            "masters = [{}]\npoll-interval-ms = 250\nrequest-timeout-ms = 200\n\
             max-holdover-s = 1\nlisten = \"\"\nsocket = \"{}\"\nshm-path = \"{}\"\n",
            list.join(", "),
            dir.0.join("slave.sock").display(),
            shm.display()
        ),
    )
    .expect("write config");

    // The blocking checks run off the runtime that serves the masters.
    let handle = tokio::task::spawn_blocking(move || {
        let mut slave = Slave::start(&config, dir.0.join("slave.log"));
        let tt = open_when_there(&shm, &mut slave);
        let meta = std::fs::metadata(&shm).expect("record file");
        assert_eq!(meta.permissions().mode() & 0o777, 0o644);
        assert_eq!(meta.len(), 128);
        let inode = meta.ino();

        // Synchronized within 5 s; then 50 reads in a row hold realtime
        // and are far narrower than a second.
        poll_until(
            &tt,
            &slave,
            Duration::from_secs(5),
            "synchronization",
            Result::is_ok,
        )
        .expect("synchronized");
        for _ in 0..50 {
            let interval = check_holds_realtime(&tt, &slave).expect("stays synchronized");
            assert!(interval.width_ns() < 300_000_000, "{interval}");
            std::thread::sleep(Duration::from_millis(10));
        }

        // A clean exit: the record says unsynchronized at once.
        slave.signal("-TERM");
        assert!(slave.wait().success(), "log:\n{}", slave.log());
        assert_eq!(
            tt.now(),
            Err(TrueTimeError::Record(ShmError::Unsynchronized))
        );

        // A restart reuses the file: the mapping the client already holds
        // sees the new daemon's records.
        let mut slave = Slave::start(&config, dir.0.join("slave2.log"));
        poll_until(
            &tt,
            &slave,
            Duration::from_secs(5),
            "resynchronization",
            Result::is_ok,
        )
        .expect("synchronized again");
        assert_eq!(std::fs::metadata(&shm).unwrap().ino(), inode);

        // Killed: nobody renews the record. It keeps holding realtime
        // (carried at the drift bound) until max-holdover-s after its
        // last sample, then it is void on its own.
        slave.signal("-KILL");
        let _ = slave.wait();
        let end = poll_until(
            &tt,
            &slave,
            Duration::from_secs(3),
            "the record going void",
            |a| a.is_err(),
        );
        assert!(
            matches!(end, Err(TrueTimeError::Record(ShmError::Void { .. }))),
            "{end:?}"
        );
    });
    handle.await.expect("checks pass");
}
