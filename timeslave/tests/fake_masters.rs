//! The timeslave binary against masters served in this test: honest ones,
//! a liar, one answering garbage, one unsynchronized and one that never
//! answers. True time is this host's CLOCK_REALTIME, which every fake
//! master reads when it answers.

mod common;

use common::{Slave, TempDir};
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};
use tt_core::Interval;
use tt_proto::v1::true_time_server::{TrueTime, TrueTimeServer};
use tt_proto::v1::{NowRequest, NowResponse, StatusRequest, StatusResponse, SyncStatus, Verdict};

/// Each fake master's half width, 1 ms: wide enough that CLOCK_REALTIME
/// read at the answer is honestly inside it.
const HALF_WIDTH_NS: i64 = 1_000_000;

#[derive(Clone, Copy, Debug)]
enum Behaviour {
    /// Answers [realtime - 1 ms, realtime + 1 ms].
    Honest,
    /// Answers an interval 10 s ahead of realtime.
    Liar,
    /// Alternates an inverted interval and an unknown status code.
    Garbage,
    /// Answers unsynchronized.
    Unsynchronized,
    /// Accepts the request and sleeps far past any timeout.
    Silent,
    /// Silent on the first connection a slave makes (a path that stalled
    /// with that connection open), honest on every later one.
    StalledConnection,
}

struct FakeMaster {
    behaviour: Behaviour,
    answers: AtomicU64,
    /// For `StalledConnection`: the peer address of the first connection.
    first_peer: std::sync::Mutex<Option<SocketAddr>>,
}

#[tonic::async_trait]
impl TrueTime for FakeMaster {
    async fn now(&self, request: Request<NowRequest>) -> Result<Response<NowResponse>, Status> {
        let count = self.answers.fetch_add(1, Ordering::SeqCst);
        let peer = request
            .remote_addr()
            .expect("TCP requests have a peer address");
        let on_first_connection = *self
            .first_peer
            .lock()
            .expect("peer lock")
            .get_or_insert(peer)
            == peer;
        let realtime = tt_clock::realtime_ns();
        let around = |centre: i64| {
            Interval::from_unix_nanos(centre - HALF_WIDTH_NS, centre + HALF_WIDTH_NS)
                .expect("ordered")
        };
        let answer = match self.behaviour {
            Behaviour::Honest => NowResponse::synchronized(around(realtime)),
            Behaviour::Liar => NowResponse::synchronized(around(realtime + 10_000_000_000)),
            Behaviour::Garbage if count.is_multiple_of(2) => NowResponse {
                earliest_unix_ns: realtime + 5_000_000,
                latest_unix_ns: realtime - 5_000_000,
                status: SyncStatus::Synchronized as i32,
                reason: String::new(),
            },
            Behaviour::Garbage => NowResponse {
                earliest_unix_ns: realtime,
                latest_unix_ns: realtime,
                status: 77,
                reason: String::new(),
            },
            Behaviour::Unsynchronized => NowResponse::unsynchronized("no GPS fix"),
            Behaviour::Silent => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                NowResponse::unsynchronized("woke up")
            }
            Behaviour::StalledConnection if on_first_connection => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                NowResponse::unsynchronized("woke up")
            }
            Behaviour::StalledConnection => NowResponse::synchronized(around(realtime)),
        };
        Ok(Response::new(answer))
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        Err(Status::unimplemented("a fake master has no status"))
    }
}

async fn start_master(behaviour: Behaviour) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind fake master");
    let address = listener.local_addr().expect("address");
    let master = FakeMaster {
        behaviour,
        answers: AtomicU64::new(0),
        first_peer: std::sync::Mutex::new(None),
    };
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TrueTimeServer::new(master))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    address
}

/// The slave's status once every member has the verdict wanted, asking at
/// most 100 times, 100 ms apart. Every `Now` answer seen on the way must
/// hold true time.
async fn wait_for_verdicts(
    client: &mut tt_client::TrueTimeClient<tonic::transport::Channel>,
    wanted: &[Verdict],
    slave: &Slave,
) -> StatusResponse {
    let mut last = None;
    for _ in 0..100 {
        check_now_holds_truth(client, slave).await;
        let status = client
            .status(StatusRequest {})
            .await
            .expect("status")
            .into_inner();
        let verdicts: Vec<i32> = status.members.iter().map(|m| m.verdict).collect();
        let want: Vec<i32> = wanted.iter().map(|&v| v as i32).collect();
        if verdicts == want {
            return status;
        }
        last = Some(status);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "verdicts never became {wanted:?}; last status {last:#?}\nlog:\n{}",
        slave.log()
    );
}

/// Asks `Now` between two CLOCK_REALTIME reads. True time at the instant
/// the slave served lies between the reads, so a synchronized answer must
/// reach that span: earliest <= after and latest >= before.
async fn check_now_holds_truth(
    client: &mut tt_client::TrueTimeClient<tonic::transport::Channel>,
    slave: &Slave,
) -> Option<Interval> {
    let before = tt_clock::realtime_ns();
    let answer = client.now(NowRequest {}).await.expect("now").into_inner();
    let after = tt_clock::realtime_ns();
    let checked = answer.check().expect("the slave's answer is well formed");
    match checked {
        tt_proto::NowAnswer::Synchronized(interval) => {
            assert!(
                interval.earliest().unix_nanos() <= after
                    && interval.latest().unix_nanos() >= before,
                "slave served {interval}, true time was in [{before}, {after}]; log:\n{}",
                slave.log()
            );
            Some(interval)
        }
        tt_proto::NowAnswer::Unsynchronized(_) => None,
    }
}

/// Writes the slave's configuration: `masters`, f = 1, polls every 250 ms
/// with a 200 ms timeout, no TCP listener, `socket`, then `extra`.
fn write_config(
    dir: &TempDir,
    masters: &[SocketAddr],
    socket: &Path,
    extra: &str,
) -> std::path::PathBuf {
    let masters: Vec<String> = masters.iter().map(|a| format!("\"{a}\"")).collect();
    let config = dir.0.join("timeslave.toml");
    std::fs::write(
        &config,
        format!(
            "masters = [{}]\nmax-falsetickers = 1\npoll-interval-ms = 250\n\
             request-timeout-ms = 200\nlisten = \"\"\nsocket = \"{}\"\n{extra}",
            masters.join(", "),
            socket.display(),
        ),
    )
    .expect("write config");
    config
}

async fn connect_when_up(
    socket: &Path,
    slave: &mut Slave,
) -> tt_client::TrueTimeClient<tonic::transport::Channel> {
    for _ in 0..100 {
        if let Some(status) = slave.child.try_wait().expect("wait") {
            panic!("timeslave exited with {status}; log:\n{}", slave.log());
        }
        if let Ok(client) = tt_client::connect(socket.to_str().expect("utf-8")).await {
            return client;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timeslave's socket never answered; log:\n{}", slave.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_from_the_honest_masters_and_marks_the_others() {
    let dir = TempDir::new("fakes");
    let behaviours = [
        Behaviour::Honest,
        Behaviour::Honest,
        Behaviour::Honest,
        Behaviour::Liar,
        Behaviour::Garbage,
        Behaviour::Unsynchronized,
        Behaviour::Silent,
    ];
    let mut addresses = Vec::new();
    for behaviour in behaviours {
        addresses.push(start_master(behaviour).await);
    }

    // The socket goes in a directory that does not exist yet: the slave
    // creates it.
    let socket = dir.0.join("run/truetime/slave.sock");
    let config = write_config(
        &dir,
        &addresses,
        &socket,
        &format!(
            "max-holdover-s = 5\nshm-path = \"{}\"\n",
            dir.0.join("slave.shm").display()
        ),
    );

    let mut slave = Slave::start(&config, dir.0.join("slave.log"));
    let mut client = connect_when_up(&socket, &mut slave).await;

    // Mode 0666, so any local program can read the time.
    let meta = std::fs::metadata(&socket).expect("socket exists");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o666);

    let status = wait_for_verdicts(
        &mut client,
        &[
            Verdict::InMajority,
            Verdict::InMajority,
            Verdict::InMajority,
            Verdict::Falseticker,
            Verdict::Unreachable,
            Verdict::Unsynchronized,
            Verdict::Unreachable,
        ],
        &slave,
    )
    .await;
    assert_eq!(status.role, "timeslave");
    assert_eq!(status.max_falsetickers, 1);
    // Four usable (three honest, the liar), f = 1: three must agree.
    assert_eq!(status.quorum, 3);
    assert_eq!(status.drift_ppb, 200_000);
    let names: Vec<String> = addresses.iter().map(|a| a.to_string()).collect();
    let member_names: Vec<&str> = status.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(member_names, names);
    assert!(status.members.iter().all(|m| m.kind == "master"));
    let garbage = &status.members[4];
    assert!(
        garbage.detail.starts_with("answered garbage"),
        "{}",
        garbage.detail
    );
    assert!(!garbage.has_interval);
    assert_eq!(garbage.age_ns, -1);
    assert!(
        status.members[5].detail.contains("no GPS fix"),
        "{}",
        status.members[5].detail
    );
    assert_eq!(
        status.members[6].detail,
        "no answer within 200 ms; the next poll opens a new connection"
    );
    let combined = status.combined.expect("combined");
    assert_eq!(combined.status, SyncStatus::Synchronized as i32);

    // Keep asking for a while: every answer holds true time, and each is
    // narrower than the 2 ms of one honest master plus the 200 ms timeout
    // and a poll interval of drift (far narrower than the liar's 10 s).
    let mut seen = 0;
    for _ in 0..20 {
        if let Some(interval) = check_now_holds_truth(&mut client, &slave).await {
            assert!(
                interval.width_ns() < 2 * HALF_WIDTH_NS + 210_000_000,
                "{interval}"
            );
            seen += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen > 0, "never synchronized in the second phase");

    // SIGTERM: a clean exit that takes the socket file away.
    let exit = slave.terminate();
    assert!(exit.success(), "exit {exit}; log:\n{}", slave.log());
    assert!(!socket.exists(), "socket file left behind");
    let log = slave.log();
    assert!(log.contains("synchronized"), "{log}");
    assert!(log.contains("falseticker"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_silent_on_one_connection_is_asked_again_on_a_new_one() {
    // The third master holds every request of the first connection the
    // slave opens, as a path that stalls with a connection open does, and
    // answers on any other. Kept on that connection the slave would never
    // hear from it again; with a new connection after each timeout it
    // joins the majority within a few rounds.
    let dir = TempDir::new("stalled");
    let mut addresses = Vec::new();
    for behaviour in [
        Behaviour::Honest,
        Behaviour::Honest,
        Behaviour::StalledConnection,
    ] {
        addresses.push(start_master(behaviour).await);
    }
    let socket = dir.0.join("slave.sock");
    let config = write_config(
        &dir,
        &addresses,
        &socket,
        "shm-path = \"\"\nmetrics-listen = \"\"\n",
    );
    let mut slave = Slave::start(&config, dir.0.join("slave.log"));
    let mut client = connect_when_up(&socket, &mut slave).await;
    wait_for_verdicts(
        &mut client,
        &[
            Verdict::InMajority,
            Verdict::InMajority,
            Verdict::InMajority,
        ],
        &slave,
    )
    .await;
    let log = slave.log();
    let exit = slave.terminate();
    assert!(exit.success(), "exit {exit}; log:\n{log}");
}
