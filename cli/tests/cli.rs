//! tt-cli run as a process against servers in this test, on a Unix socket
//! and on TCP: what it prints and how it exits.

mod common;

use common::{serve_tcp, TempDir};
use serde_json::Value;
use std::process::{Command, Output};
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status};
use tt_core::Interval;
use tt_proto::v1::true_time_server::{TrueTime, TrueTimeServer};
use tt_proto::v1::{Member, NowRequest, NowResponse, StatusRequest, StatusResponse, Verdict};

/// 2024-02-29T00:00:00Z: 19 782 days after the epoch (54 years with 13 leap
/// days to 2024-01-01, then 59 days).
const LEAP_DAY_NS: i64 = 19_782 * 86_400 * 1_000_000_000;

#[derive(Clone, Copy)]
enum Fake {
    /// [LEAP_DAY, LEAP_DAY + 1.624 ms], and a status with three masters.
    Synchronized,
    /// Unsynchronized, "no GPS fix".
    Unsynchronized,
    /// An inverted interval.
    Garbage,
}

#[tonic::async_trait]
impl TrueTime for Fake {
    async fn now(&self, _: Request<NowRequest>) -> Result<Response<NowResponse>, Status> {
        let answer = match self {
            Fake::Synchronized => NowResponse::synchronized(
                Interval::from_unix_nanos(LEAP_DAY_NS, LEAP_DAY_NS + 1_624_000).expect("ordered"),
            ),
            Fake::Unsynchronized => NowResponse::unsynchronized("no GPS fix"),
            Fake::Garbage => {
                let mut answer =
                    NowResponse::synchronized(Interval::from_unix_nanos(0, 0).expect("ordered"));
                answer.earliest_unix_ns = 10;
                answer
            }
        };
        Ok(Response::new(answer))
    }

    async fn status(
        &self,
        request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let combined = self.now(Request::new(NowRequest {})).await?.into_inner();
        let _ = request;
        let member =
            |name: &str, interval: Option<(i64, i64)>, age_ns, verdict: Verdict, detail: &str| {
                Member {
                    name: name.to_string(),
                    kind: "master".to_string(),
                    has_interval: interval.is_some(),
                    earliest_unix_ns: interval.map_or(0, |iv| iv.0),
                    latest_unix_ns: interval.map_or(0, |iv| iv.1),
                    age_ns,
                    verdict: verdict as i32,
                    detail: detail.to_string(),
                    // Only the first member's server counts its samples.
                    accepted: (name == "127.0.0.1:7371").then_some(3600),
                    rejected: (name == "127.0.0.1:7371").then_some(2),
                }
            };
        Ok(Response::new(StatusResponse {
            role: "timeslave".to_string(),
            version: "9.9.9".to_string(),
            combined: Some(combined),
            quorum: 2,
            max_falsetickers: 1,
            members: vec![
                // Midpoint LEAP_DAY + 1.312 ms; the combined midpoint is
                // LEAP_DAY + 0.812 ms: offset +0.500 ms.
                member(
                    "127.0.0.1:7371",
                    Some((LEAP_DAY_NS + 312_000, LEAP_DAY_NS + 2_312_000)),
                    250_000_000,
                    Verdict::InMajority,
                    "in the majority",
                ),
                // Midpoint LEAP_DAY - 3 s + 0.812 ms: offset -3000.000 ms.
                member(
                    "127.0.0.1:7372",
                    Some((
                        LEAP_DAY_NS - 3_000_000_000,
                        LEAP_DAY_NS - 3_000_000_000 + 1_624_000,
                    )),
                    1_500_000_000,
                    Verdict::Falseticker,
                    "misses the majority",
                ),
                member(
                    "127.0.0.1:7373",
                    None,
                    -1,
                    Verdict::Unreachable,
                    "connection refused",
                ),
            ],
            uptime_ns: 61_000_000_000,
            drift_ppb: 200_000,
        }))
    }
}

fn serve_unix(fake: Fake, path: &std::path::Path) {
    let listener = UnixListener::bind(path).expect("bind");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TrueTimeServer::new(fake))
            .serve_with_incoming(UnixListenerStream::new(listener)),
    );
}

/// Runs tt-cli with `args` off the async threads, so the servers keep
/// answering while it waits.
async fn cli(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_tt-cli"))
            .args(&args)
            .output()
            .expect("run tt-cli")
    })
    .await
    .expect("join")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

/// The single stderr line of a failed run with status 2.
fn error_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(output.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr.trim_end().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn now_over_the_socket_and_tcp() {
    let dir = TempDir::new("now");
    let socket = dir.0.join("slave.sock");
    serve_unix(Fake::Synchronized, &socket);
    let socket = socket.to_str().expect("utf-8").to_string();
    let tcp = serve_tcp(Fake::Synchronized).await;

    // Midpoint LEAP_DAY + 812 us, radius ceil(1_624_000 / 2) = 812 us.
    let expected = "2024-02-29T00:00:00.000812000Z ± 0.812 ms  \
                    [2024-02-29T00:00:00.000000000Z .. 2024-02-29T00:00:00.001624000Z]  \
                    synchronized\n";
    let output = cli(&["--socket", &socket, "now"]).await;
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), expected);
    let output = cli(&["now", "--address", &tcp]).await;
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), expected);

    let output = cli(&["--socket", &socket, "now", "--json"]).await;
    assert_eq!(output.status.code(), Some(0));
    let json: Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(json["earliest_unix_ns"], LEAP_DAY_NS);
    assert_eq!(json["latest_unix_ns"], LEAP_DAY_NS + 1_624_000);
    assert_eq!(json["width_ns"], 1_624_000);
    assert_eq!(json["status"], "synchronized");
    assert_eq!(json["reason"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsynchronized_exits_one() {
    let tcp = serve_tcp(Fake::Unsynchronized).await;
    let output = cli(&["--address", &tcp, "now"]).await;
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "unsynchronized: no GPS fix\n");

    let output = cli(&["--address", &format!("http://{tcp}"), "--json", "now"]).await;
    assert_eq!(output.status.code(), Some(1));
    let json: Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(json["status"], "unsynchronized");
    assert_eq!(json["reason"], "no GPS fix");
    assert_eq!(json["earliest_unix_ns"], Value::Null);

    let output = cli(&["--address", &tcp, "status"]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("combined: unsynchronized: no GPS fix"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_table_and_json() {
    let tcp = serve_tcp(Fake::Synchronized).await;
    let output = cli(&["--address", &tcp, "status"]).await;
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    // Columns: the widest of header and cells, two spaces apart; numbers
    // right-aligned ("-3000.000" is as wide as "OFFSET ms").
    assert_eq!(
        lines[..4],
        [
            "NAME            KIND    OFFSET ms  WIDTH ms  AGE s  VERDICT      DETAIL",
            "127.0.0.1:7371  master     +0.500     2.000    0.2  in majority  in the majority",
            "127.0.0.1:7372  master  -3000.000     1.624    1.5  falseticker  misses the majority",
            "127.0.0.1:7373  master          -         -      -  unreachable  connection refused",
        ]
    );
    assert_eq!(lines[4], "");
    assert!(lines[5].starts_with("combined: 2024-02-29T00:00:00.000812000Z ± 0.812 ms"));
    assert!(lines[5].ends_with("synchronized"));
    assert_eq!(
        lines[6],
        "quorum: 2 must agree; up to 1 falseticker tolerated"
    );
    assert_eq!(
        lines[7],
        "uptime: 61.0 s (timeslave 9.9.9, drift bound 200000 ppb)"
    );

    let output = cli(&["--address", &tcp, "status", "--json"]).await;
    assert_eq!(output.status.code(), Some(0));
    let json: Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(json["role"], "timeslave");
    assert_eq!(json["quorum"], 2);
    assert_eq!(json["combined"]["status"], "synchronized");
    assert_eq!(json["members"][0]["offset_ns"], 500_000);
    assert_eq!(json["members"][1]["offset_ns"], -3_000_000_000i64);
    assert_eq!(json["members"][1]["verdict"], "falseticker");
    assert_eq!(json["members"][2]["verdict"], "unreachable");
    assert_eq!(json["members"][2]["width_ns"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_one_line_and_exit_two() {
    let dir = TempDir::new("errors");
    let absent = dir.0.join("absent.sock");
    let absent = absent.to_str().expect("utf-8");
    let line = error_line(&cli(&["--socket", absent, "now"]).await);
    assert_eq!(
        line,
        format!("tt-cli: no timeslave socket at {absent}; is timeslave running?")
    );

    let garbage = serve_tcp(Fake::Garbage).await;
    let line = error_line(&cli(&["--address", &garbage, "now"]).await);
    assert!(line.contains("makes no sense"), "{line}");
    assert!(line.contains("inverted"), "{line}");

    let line = error_line(&cli(&["--address", "no port here", "now"]).await);
    assert!(line.contains("is not a server address"), "{line}");

    let line = error_line(&cli(&[]).await);
    assert_eq!(
        line,
        "tt-cli: a command is needed: now, status, sources, watch, plot, check-config, id or \
         wait-until; see tt-cli --help"
    );
    for args in [&["frobnicate"][..], &["now", "--bogus"][..]] {
        let line = error_line(&cli(args).await);
        assert!(line.starts_with("tt-cli: "), "{line}");
        assert!(line.ends_with("see tt-cli --help"), "{line}");
    }

    let help = cli(&["--help"]).await;
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("--address"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_table_and_json() {
    let tcp = serve_tcp(Fake::Synchronized).await;
    let output = cli(&["--address", &tcp, "sources"]).await;
    assert_eq!(output.status.code(), Some(0));
    // The status table with the counts before the detail; "-" where the
    // server does not count.
    assert_eq!(
        stdout(&output),
        "NAME            KIND    OFFSET ms  WIDTH ms  AGE s  VERDICT      ACCEPTED  REJECTED  DETAIL\n\
         127.0.0.1:7371  master     +0.500     2.000    0.2  in majority      3600         2  in the majority\n\
         127.0.0.1:7372  master  -3000.000     1.624    1.5  falseticker         -         -  misses the majority\n\
         127.0.0.1:7373  master          -         -      -  unreachable         -         -  connection refused\n"
    );

    let output = cli(&["--address", &tcp, "sources", "--json"]).await;
    assert_eq!(output.status.code(), Some(0));
    let json: Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(json["role"], "timeslave");
    assert_eq!(json["synchronized"], true);
    assert_eq!(json["sources"][0]["accepted"], 3600);
    assert_eq!(json["sources"][0]["rejected"], 2);
    assert_eq!(json["sources"][1]["accepted"], Value::Null);
    assert_eq!(json["sources"][1]["offset_ns"], -3_000_000_000i64);

    let unsynchronized = serve_tcp(Fake::Unsynchronized).await;
    let output = cli(&["--address", &unsynchronized, "sources"]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).starts_with("NAME "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_a_line_per_refresh_when_not_on_a_terminal() {
    let tcp = serve_tcp(Fake::Synchronized).await;
    let output = cli(&[
        "--address",
        &tcp,
        "watch",
        "--count",
        "3",
        "--interval-ms",
        "20",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0));
    let line = "2024-02-29T00:00:00.000812000Z ± 0.812 ms synchronized \
                | 127.0.0.1:7371 in majority offset +0.500 ms width 2.000 ms \
                | 127.0.0.1:7372 falseticker offset -3000.000 ms width 1.624 ms \
                | 127.0.0.1:7373 unreachable";
    assert_eq!(stdout(&output), format!("{line}\n{line}\n{line}\n"));
    // No cursor movement or screen switching in a pipe.
    assert!(!stdout(&output).contains('\x1b'));

    let output = cli(&[
        "--address",
        &tcp,
        "--json",
        "watch",
        "--count",
        "2",
        "--interval-ms",
        "10",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    let objects: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object a line"))
        .collect();
    assert_eq!(objects.len(), 2);
    assert_eq!(objects[1]["combined"]["status"], "synchronized");
    assert!(objects[1]["system_unix_ns"].as_i64().is_some());

    // The status is the last refresh's.
    let unsynchronized = serve_tcp(Fake::Unsynchronized).await;
    let output = cli(&["--address", &unsynchronized, "watch", "--count", "1"]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).starts_with("unsynchronized: no GPS fix | 127.0.0.1:7371 in majority"));

    // No server: each refresh says so, and the watch goes on.
    let dir = TempDir::new("watch");
    let absent = dir.0.join("absent.sock");
    let absent = absent.to_str().expect("utf-8");
    let output = cli(&[
        "--socket",
        absent,
        "watch",
        "--count",
        "2",
        "--interval-ms",
        "10",
    ])
    .await;
    assert_eq!(output.status.code(), Some(2));
    let expected = format!("error: no timeslave socket at {absent}; is timeslave running?");
    assert_eq!(stdout(&output), format!("{expected}\n{expected}\n"));

    let line = error_line(&cli(&["--address", &tcp, "watch", "--interval-ms", "0"]).await);
    assert!(line.contains("--interval-ms"), "{line}");
}

/// Runs tt-cli with its stdout a pipe whose reading end is already
/// closed; returns the exit status and stderr. A run that has not ended
/// within 10 s is killed and fails the test.
async fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tt-cli"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run tt-cli");
        drop(child.stdout.take());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while child.try_wait().expect("wait").is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tt-cli {args:?} kept running with its reader gone");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let output = child.wait_with_output().expect("output");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_or_full_stdout_is_no_panic() {
    let synchronized = serve_tcp(Fake::Synchronized).await;
    let unsynchronized = serve_tcp(Fake::Unsynchronized).await;

    // The reader went away: quietly, with the status tt-cli would have
    // had.
    for (address, args, expected) in [
        (&synchronized, &["status"][..], 0),
        (&synchronized, &["now", "--json"][..], 0),
        (&synchronized, &["sources"][..], 0),
        (&unsynchronized, &["now"][..], 1),
        // Without --count a watch would run for ever; it ends at the
        // first refresh nobody reads.
        (&synchronized, &["watch", "--interval-ms", "10"][..], 0),
        (&synchronized, &["--help"][..], 0),
    ] {
        let mut full = vec!["--address", address.as_str()];
        full.extend_from_slice(args);
        let (status, stderr) = with_closed_stdout(&full).await;
        assert_eq!(status, Some(expected), "{args:?}: {stderr}");
        assert_eq!(stderr, "", "{args:?}");
    }

    // A full device is an error: status 2 and one line.
    for args in [
        &["now"][..],
        &["status", "--json"][..],
        &["watch", "--count", "2"][..],
    ] {
        let mut full: Vec<String> = vec!["--address".to_string(), synchronized.clone()];
        full.extend(args.iter().map(|a| a.to_string()));
        let output = tokio::task::spawn_blocking(move || {
            let dev_full = std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .expect("/dev/full exists on Linux");
            Command::new(env!("CARGO_BIN_EXE_tt-cli"))
                .args(&full)
                .stdout(dev_full)
                .output()
                .expect("run tt-cli")
        })
        .await
        .expect("join");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("tt-cli: cannot write to standard output: No space left on device"),
            "{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relative_socket_path_is_a_path() {
    let dir = TempDir::new("relative");
    serve_unix(Fake::Synchronized, &dir.0.join("ts.sock"));
    let cwd = dir.0.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_tt-cli"))
            .args(["--socket", "ts.sock", "now"])
            .current_dir(cwd)
            .output()
            .expect("run tt-cli")
    })
    .await
    .expect("join");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout(&output).ends_with("synchronized\n"));

    // A relative path that names nothing: the missing socket, not a bad
    // address.
    let line = error_line(&cli(&["--socket", "nowhere/ts.sock", "status"]).await);
    assert_eq!(
        line,
        "tt-cli: no timeslave socket at nowhere/ts.sock; is timeslave running?"
    );
}

/// Runs tt-cli with `args` on a pseudo-terminal made by script(1) (from
/// util-linux, on every Debian system); returns its exit status and what
/// it wrote to the terminal.
async fn on_a_terminal(args: &[&str]) -> (Option<i32>, String) {
    let command = std::iter::once(env!("CARGO_BIN_EXE_tt-cli"))
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("script")
            .args(["--quiet", "--return", "--command", &command, "/dev/null"])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("script(1) runs")
    })
    .await
    .expect("join");
    (output.status.code(), stdout(&output))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_redraws_in_place_on_a_terminal() {
    let tcp = serve_tcp(Fake::Synchronized).await;
    let (status, screen) = on_a_terminal(&[
        "--address",
        &tcp,
        "watch",
        "--count",
        "3",
        "--interval-ms",
        "20",
    ])
    .await;
    assert_eq!(status, Some(0), "{screen:?}");
    // Onto the alternate screen, each refresh drawn from the top left
    // over the last, then back to the normal screen with the last block.
    assert!(screen.starts_with("\x1b[?1049h"), "{screen:?}");
    assert_eq!(screen.matches("\x1b[H\x1b[J").count(), 3, "{screen:?}");
    let (_, after) = screen
        .split_once("\x1b[?1049l")
        .expect("the normal screen comes back");
    let last: Vec<&str> = after
        .lines()
        .map(|line| line.trim_end_matches('\r'))
        .collect();
    assert!(last[0].ends_with("synchronized"), "{last:?}");
    assert_eq!(
        last[1],
        "timeslave 9.9.9, 3 members, quorum 2, up 61.0 s; every 20 ms, Ctrl-C ends"
    );
    assert!(last[3].starts_with("NAME "), "{last:?}");
    assert!(
        last[4].starts_with("127.0.0.1:7371  master     +0.500"),
        "{last:?}"
    );

    let unsynchronized = serve_tcp(Fake::Unsynchronized).await;
    let (status, screen) =
        on_a_terminal(&["--address", &unsynchronized, "watch", "--count", "1"]).await;
    assert_eq!(status, Some(1), "{screen:?}");
    assert!(screen.contains("unsynchronized: no GPS fix"));
}
