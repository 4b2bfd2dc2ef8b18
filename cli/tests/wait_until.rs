//! `tt-cli wait-until` as a process, on a record file this test writes
//! (the same byte-by-byte writer as tt-client's tests use): it returns past
//! the instant asked for, with the record carried to an instant while it
//! ran, and refuses what it cannot do with one line and status 1 or 2.

#[path = "../../client/tests/record/mod.rs"]
mod record;

use record::{boottime_ns, carried_to, write, Fields, TempDir};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// 2026-12-04T16:00:00Z: 1 796 400 000 s after the epoch.
const TRUTH_NS: i64 = 1_796_400_000_000_000_000;
const MINUTE_NS: i64 = 60_000_000_000;

fn cli(args: &[&str]) -> (Output, i64, i64) {
    let started = boottime_ns();
    let output = Command::new(env!("CARGO_BIN_EXE_tt-cli"))
        .args(args)
        .output()
        .expect("run tt-cli");
    (output, started, boottime_ns())
}

fn stderr_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    assert!(output.stdout.is_empty());
    stderr.trim_end().to_string()
}

/// A record sampled now: true time then in `[TRUTH - 1 ms, TRUTH]`.
fn record_file(dir: &TempDir) -> (std::path::PathBuf, Fields) {
    let path = dir.join("slave.shm");
    let local = boottime_ns();
    let fields = Fields::synchronized(
        local,
        TRUTH_NS - 1_000_000,
        TRUTH_NS,
        200_000,
        local + MINUTE_NS,
    );
    write(&path, &fields.bytes());
    (path, fields)
}

fn path_text(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

#[test]
fn waits_past_an_rfc3339_time_and_prints_the_interval() {
    let dir = TempDir::new("cli-wait");
    let (path, fields) = record_file(&dir);
    // 2 ms after TRUTH: about 3 ms of waiting from the record's lower end.
    let (output, started, ended) = cli(&[
        "wait-until",
        "2026-12-04T16:00:00.002Z",
        "--shm",
        path_text(&path),
        "--json",
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).expect("json");
    let t = TRUTH_NS + 2_000_000;
    assert_eq!(json["waited_for_unix_ns"], t);
    let earliest = json["earliest_unix_ns"].as_i64().expect("earliest");
    let latest = json["latest_unix_ns"].as_i64().expect("latest");
    assert!(earliest > t, "returned [{earliest}, {latest}] for {t}");
    assert_eq!(json["width_ns"], latest - earliest);
    carried_to(&fields, earliest, latest, started, ended);
}

#[test]
fn waits_past_unix_nanoseconds_and_says_so_in_text() {
    let dir = TempDir::new("cli-wait-ns");
    let (path, _) = record_file(&dir);
    let (output, _, _) = cli(&[
        "wait-until",
        "@1796400000001000000",
        "--shm",
        path_text(&path),
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.trim_end()
            .ends_with("past 2026-12-04T16:00:00.001000000Z"),
        "{text}"
    );
}

#[test]
fn an_unsynchronized_record_exits_1() {
    let dir = TempDir::new("cli-wait-unsync");
    let path = dir.join("slave.shm");
    let local = boottime_ns();
    let mut fields = Fields::synchronized(local, TRUTH_NS, TRUTH_NS, 200_000, local + MINUTE_NS);
    fields.status = 0;
    write(&path, &fields.bytes());
    let (output, _, _) = cli(&["wait-until", "@0", "--shm", path_text(&path)]);
    assert_eq!(output.status.code(), Some(1));
    let line = stderr_line(&output);
    assert!(
        line.starts_with("tt-cli: the timeslave is unsynchronized"),
        "{line}"
    );
    assert!(line.contains(path_text(&path)), "{line}");
}

#[test]
fn bad_times_and_no_service_exit_2_with_one_line() {
    let dir = TempDir::new("cli-wait-bad");
    let (path, _) = record_file(&dir);
    let (output, _, _) = cli(&[
        "wait-until",
        "2016-12-31T23:59:60Z",
        "--shm",
        path_text(&path),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_line(&output).contains("leap second"));

    let absent = dir.join("absent.shm");
    let socket = dir.join("absent.sock");
    let (output, _, _) = cli(&[
        "--socket",
        path_text(&socket),
        "wait-until",
        "@0",
        "--shm",
        path_text(&absent),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let line = stderr_line(&output);
    assert!(line.contains(path_text(&absent)), "{line}");
    assert!(line.contains(path_text(&socket)), "{line}");
}

#[test]
fn a_time_further_ahead_than_max_wait_is_refused_at_once() {
    let dir = TempDir::new("cli-wait-far");
    let (path, _) = record_file(&dir);
    // 2062 for 2026: 36 years ahead, far more than the default day.
    let (output, _, _) = cli(&[
        "wait-until",
        "2062-12-04T16:00:00Z",
        "--shm",
        path_text(&path),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let line = stderr_line(&output);
    assert!(line.contains("--max-wait 86400 s"), "{line}");
    // Two minutes ahead against a 60 s limit: refused too; against the
    // default day it would wait (the record is void after a minute, so the
    // wait would end in an error, not run for two minutes).
    let (output, _, _) = cli(&[
        "wait-until",
        "2026-12-04T16:02:00Z",
        "--max-wait",
        "60",
        "--shm",
        path_text(&path),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let line = stderr_line(&output);
    // 120 s less the moments since the record was written: 119 s unless
    // starting tt-cli took more than a second.
    assert!(
        line.contains("s ahead") && line.contains("--max-wait 60 s"),
        "{line}"
    );
}
