//! `tt-cli id` run as a process against a timeslave stand-in on a Unix
//! socket in this test, whose time is the host's clock +-1 ms.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status};
use tt_core::{Interval, Timestamp};
use tt_proto::v1::true_time_server::{TrueTime, TrueTimeServer};
use tt_proto::v1::{NowRequest, NowResponse, StatusRequest, StatusResponse};

const MS: i64 = 1_000_000;
/// 2020-01-01T00:00:00Z in ms since 1970: the default epoch.
const EPOCH_MS: i64 = 1_577_836_800_000;
/// 2024-02-29T00:00:00Z in ms: 19 782 days after 1970.
const LEAP_DAY_MS: i64 = 19_782 * 86_400_000;

fn realtime_ns() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since.as_nanos()).expect("before 2262")
}

#[derive(Clone, Copy)]
enum Slave {
    /// The host clock +-1 ms.
    Host,
    /// "no quorum of masters".
    Unsynchronized,
}

#[tonic::async_trait]
impl TrueTime for Slave {
    async fn now(&self, _: Request<NowRequest>) -> Result<Response<NowResponse>, Status> {
        Ok(Response::new(match self {
            Slave::Host => NowResponse::synchronized(Interval::around(
                Timestamp::from_unix_nanos(realtime_ns()),
                MS,
            )),
            Slave::Unsynchronized => NowResponse::unsynchronized("no quorum of masters"),
        }))
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        Err(Status::unimplemented("not needed for ids"))
    }
}

/// A directory removed when the test ends, pass or fail.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("tt-cli-id-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    /// Serves `slave` on a socket in this directory and returns its path.
    fn serve(&self, slave: Slave) -> String {
        let path = self.0.join("slave.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TrueTimeServer::new(slave))
                .serve_with_incoming(UnixListenerStream::new(listener)),
        );
        path.to_str().expect("utf-8").to_string()
    }

    /// A shared-memory path that does not exist, so the socket is used.
    fn no_record(&self) -> String {
        self.0
            .join("no-record")
            .to_str()
            .expect("utf-8")
            .to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs tt-cli off the async threads, so the server keeps answering.
async fn cli(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_tt-cli"))
            .args(&args)
            .output()
            .expect("run tt-cli")
    })
    .await
    .expect("join")
}

/// `tt-cli --socket S id new --shm NONE <extra>`.
async fn id_new(dir: &TempDir, socket: &str, extra: &[&str]) -> Output {
    let mut args: Vec<String> = ["--socket", socket, "id", "new", "--shm", &dir.no_record()]
        .iter()
        .map(|a| a.to_string())
        .collect();
    args.extend(extra.iter().map(|a| a.to_string()));
    cli(args).await
}

/// The printed ids of a successful run.
fn ids(output: &Output) -> Vec<u64> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    String::from_utf8(output.stdout.clone())
        .expect("utf-8")
        .lines()
        .map(|line| line.parse().expect("an id per line"))
        .collect()
}

/// The single stderr line of a failed run with `status`.
fn error_line(output: &Output, status: i32) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(status), "stderr: {stderr}");
    assert!(output.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr.trim_end().to_string()
}

/// (unix ms, worker, sequence) by the layout: 41 bits of ms since the
/// epoch from bit 22, 10 bits of worker from bit 12, 12 bits of sequence.
fn fields(id: u64) -> (i64, u64, u64) {
    (EPOCH_MS + (id >> 22) as i64, (id >> 12) & 1023, id & 4095)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_prints_increasing_ids_of_its_worker_and_outlives_their_millisecond() {
    let dir = TempDir::new("new");
    let socket = dir.serve(Slave::Host);
    let before_ms = realtime_ns() / MS;
    let output = id_new(&dir, &socket, &["--count", "5000", "--worker", "7"]).await;
    let after_exit_ns = realtime_ns();
    let made = ids(&output);

    assert_eq!(made.len(), 5000);
    assert!(made.windows(2).all(|pair| pair[0] < pair[1]));
    assert!(made.iter().all(|&id| fields(id).1 == 7));
    // The millisecond is that of latest = host clock + 1 ms when asked:
    // not before the start plus 1 ms.
    let (first_ms, _, _) = fields(made[0]);
    let (last_ms, _, _) = fields(*made.last().unwrap());
    assert!(first_ms > before_ms, "{first_ms} vs {before_ms}");
    // Before exiting it waited until earliest = host clock - 1 ms was past
    // the last id's millisecond.
    assert!(after_exit_ns - MS > (last_ms + 1) * MS - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_one_after_another_with_one_worker_never_repeat_an_id() {
    let dir = TempDir::new("again");
    let socket = dir.serve(Slave::Host);
    let mut previous = 0;
    for _ in 0..5 {
        let made = ids(&id_new(&dir, &socket, &["--count", "3", "--worker", "9"]).await);
        assert_eq!(made.len(), 3);
        assert!(made[0] > previous, "{} after {previous}", made[0]);
        previous = made[2];
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_ids_from_two_workers_follow_the_order_of_the_runs() {
    let dir = TempDir::new("ordered");
    let socket = dir.serve(Slave::Host);
    // Worker 1 after worker 2: in one millisecond its ids would sort first.
    let first = ids(&id_new(
        &dir,
        &socket,
        &["--ordered", "--count", "3", "--worker", "2"],
    )
    .await);
    let second = ids(&id_new(
        &dir,
        &socket,
        &["--ordered", "--count", "3", "--worker", "1"],
    )
    .await);
    assert!(first[2] < second[0], "{first:?} then {second:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_as_json_is_one_array() {
    let dir = TempDir::new("json");
    let socket = dir.serve(Slave::Host);
    let output = id_new(&dir, &socket, &["--count", "3", "--json"]).await;
    assert_eq!(output.status.code(), Some(0));
    let json: Value = serde_json::from_slice(&output.stdout).expect("json");
    let made: Vec<u64> = json
        .as_array()
        .expect("an array")
        .iter()
        .map(|id| id.as_u64().expect("a number"))
        .collect();
    assert_eq!(made.len(), 3);
    assert!(made[0] < made[1] && made[1] < made[2]);

    let output = id_new(&dir, &socket, &["--count", "0", "--json"]).await;
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "[]\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_refuses_bad_input_and_says_why() {
    let dir = TempDir::new("bad");
    let socket = dir.serve(Slave::Host);
    let line = error_line(&id_new(&dir, &socket, &["--worker", "1024"]).await, 2);
    assert_eq!(
        line,
        "tt-cli: invalid value '1024' for '--worker <W>': 1024 is not in 0..=1023; \
         see tt-cli --help"
    );
    let line = error_line(&id_new(&dir, &socket, &["--count", "many"]).await, 2);
    assert!(line.contains("'many'"), "{line}");

    // An epoch a day from now lies in the future.
    let tomorrow_ms = realtime_ns() / MS + 86_400_000;
    let epoch = tomorrow_ms.to_string();
    let line = error_line(&id_new(&dir, &socket, &["--epoch-ms", &epoch]).await, 2);
    assert!(line.contains("before the id epoch"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_without_synchronized_time_exits_1() {
    let dir = TempDir::new("unsync");
    let socket = dir.serve(Slave::Unsynchronized);
    let line = error_line(&id_new(&dir, &socket, &[]).await, 1);
    assert!(line.contains("no quorum of masters"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_without_a_timeslave_exits_2() {
    let dir = TempDir::new("none");
    let socket = dir.0.join("absent.sock").to_str().unwrap().to_string();
    let line = error_line(&id_new(&dir, &socket, &[]).await, 2);
    assert!(line.contains("absent.sock"), "{line}");
}

fn decode(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tt-cli"))
        .args(["id", "decode"])
        .args(args)
        .output()
        .expect("run tt-cli")
}

#[test]
fn decode_prints_time_worker_and_sequence() {
    // The leap day's first millisecond, plus 1 ms; worker 1023, sequence 1.
    let ms = (LEAP_DAY_MS + 1 - EPOCH_MS) as u64;
    let id = (ms << 22 | 1023 << 12 | 1).to_string();
    let output = decode(&[&id]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!(
            "time      2024-02-29T00:00:00.001Z\nunix_ms   {}\nworker    1023\nsequence  1\n",
            LEAP_DAY_MS + 1
        )
    );

    // With the Unix epoch as the id epoch, the same bits are 1970 plus
    // the same number of ms.
    let output = decode(&[&id, "--epoch-ms", "0", "--json"]);
    assert_eq!(output.status.code(), Some(0));
    let json: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(json["unix_ms"], ms);
    assert_eq!(json["worker"], 1023);
    assert_eq!(json["sequence"], 1);
    assert_eq!(json["epoch_ms"], 0);
    assert_eq!(json["id"].as_u64(), Some(id.parse().unwrap()));
}

#[test]
fn decode_refuses_what_is_not_an_id() {
    let line = error_line(&decode(&["12ab"]), 2);
    assert_eq!(
        line,
        "tt-cli: `12ab` is not an id: an id is a decimal number from 0 to 9223372036854775807"
    );
    let line = error_line(&decode(&["-3"]), 2);
    assert!(line.contains("`-3` is not an id"), "{line}");
    let line = error_line(&decode(&["18446744073709551615"]), 2);
    assert!(line.contains("top bit"), "{line}");
    let line = error_line(&decode(&[]), 2);
    assert_eq!(
        line,
        "tt-cli: the following required arguments were not provided: <ID>; see tt-cli --help"
    );
}

#[test]
fn id_alone_names_its_commands() {
    let output = Command::new(env!("CARGO_BIN_EXE_tt-cli"))
        .arg("id")
        .output()
        .expect("run tt-cli");
    assert_eq!(
        error_line(&output, 2),
        "tt-cli: id needs a command, new or decode; see tt-cli id --help"
    );
}
