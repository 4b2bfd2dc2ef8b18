//! Runs the real binary on a pseudo-terminal, reads what it writes from the
//! slave side, and checks each second's label against the host clock at the
//! moment of reading.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tt_gpssim::nmea::{self, Parsed};

const NS: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;

/// A scratch directory, removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "tt-gpssim-test-{name}-{}-{}",
            std::process::id(),
            tt_clock::realtime_ns()
        ));
        std::fs::create_dir_all(&path).expect("create scratch dir");
        ScratchDir(path)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The simulator process, killed by PID on drop if still running.
struct Simulator {
    child: Child,
}

impl Simulator {
    fn start(args: &[&str]) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_tt-gpssim"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start tt-gpssim");
        Simulator { child }
    }

    fn terminate(&mut self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits up to `limit` for the process to exit by itself.
    fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "tt-gpssim did not exit in {limit:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn wait_for_link(link: &Path) {
    for _ in 0..100 {
        if std::fs::symlink_metadata(link).is_ok() {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("{} did not appear within 2 s", link.display());
}

/// Opens the slave side through the link and returns a channel of
/// (sentence, realtime nanoseconds just after it was read).
fn read_lines(link: &Path) -> mpsc::Receiver<(Parsed, i64)> {
    let slave = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOCTTY)
        .open(link)
        .expect("open the pty slave through the link");
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(slave);
        let mut line = String::new();
        // Ends when the simulator closes its side (read fails with EIO).
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            let read_ns = tt_clock::realtime_ns();
            let parsed =
                nmea::parse(&line).unwrap_or_else(|e| panic!("bad sentence {line:?}: {e}"));
            if sender.send((parsed, read_ns)).is_err() {
                break;
            }
            line.clear();
        }
    });
    receiver
}

/// Days from 1970-01-01 to the given date, by counting whole years and
/// months forward: the inverse direction of the simulator's conversion.
fn days_since_epoch(year: i64, month: i64, day: i64) -> i64 {
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days = 0;
    for y in 1970..year {
        days += if leap(y) { 366 } else { 365 };
    }
    let lengths = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    for length in &lengths[..(month - 1) as usize] {
        days += length;
    }
    days + day - 1
}

fn field_number(text: &str) -> i64 {
    text.parse()
        .unwrap_or_else(|_| panic!("not a number: {text:?}"))
}

/// Seconds since the epoch named by a ZDA sentence (`hhmmss.00,dd,mm,yyyy`).
fn zda_seconds(zda: &Parsed) -> i64 {
    let time = &zda.fields[0];
    assert_eq!(&time[6..], ".00", "whole-second label expected: {time}");
    let of_day = field_number(&time[0..2]) * 3600
        + field_number(&time[2..4]) * 60
        + field_number(&time[4..6]);
    let days = days_since_epoch(
        field_number(&zda.fields[3]),
        field_number(&zda.fields[2]),
        field_number(&zda.fields[1]),
    );
    days * 86_400 + of_day
}

/// Collects `count` complete seconds (RMC, GGA, ZDA in that order), with
/// the realtime instant at which each second's ZDA was read.
fn collect_seconds(lines: &mpsc::Receiver<(Parsed, i64)>, count: usize) -> Vec<([Parsed; 3], i64)> {
    let deadline = Instant::now() + Duration::from_millis(2600);
    let mut seconds = Vec::new();
    let mut group: Vec<Parsed> = Vec::new();
    while seconds.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        let (parsed, read_ns) = lines
            .recv_timeout(left)
            .expect("the simulator should write a second's sentences every second");
        group.push(parsed);
        if group.len() == 3 {
            let kinds: Vec<&str> = group.iter().map(|p| p.kind.as_str()).collect();
            assert_eq!(kinds, ["RMC", "GGA", "ZDA"]);
            let [rmc, gga, zda] = <[Parsed; 3]>::try_from(std::mem::take(&mut group)).unwrap();
            assert_eq!(
                rmc.fields[0], zda.fields[0],
                "RMC and ZDA label the same second"
            );
            assert_eq!(
                gga.fields[0], zda.fields[0],
                "GGA and ZDA label the same second"
            );
            seconds.push(([rmc, gga, zda], read_ns));
        }
    }
    seconds
}

#[test]
fn labels_are_the_second_in_which_they_are_read_and_sigterm_cleans_up() {
    let dir = ScratchDir::new("labels");
    let link = dir.0.join("gps0");
    let delay_ms = 100;
    let mut simulator = Simulator::start(&[
        "--link",
        link.to_str().unwrap(),
        "--delay-ms",
        &delay_ms.to_string(),
        "--seconds",
        "10",
    ]);
    wait_for_link(&link);
    assert!(std::fs::read_link(&link).unwrap().starts_with("/dev/pts"));
    let lines = read_lines(&link);

    for ([rmc, gga, zda], read_ns) in collect_seconds(&lines, 2) {
        assert_eq!(rmc.talker, "GP");
        let label = zda_seconds(&zda);
        // Written at label + delay or later, never before; read in the
        // same second (the delay is far below a second).
        assert!(
            read_ns >= label * NS + delay_ms * MS,
            "read at {read_ns} ns, before second {label} + {delay_ms} ms"
        );
        assert_eq!(
            read_ns.div_euclid(NS),
            label,
            "label {label} vs read at {read_ns} ns"
        );

        // RMC date ddmmyy agrees with ZDA's day, month, year.
        let zda_date = format!("{}{}{}", zda.fields[1], zda.fields[2], &zda.fields[3][2..]);
        assert_eq!(rmc.fields[8], zda_date);
        assert_eq!(rmc.fields[1], "A");
        assert_eq!(&rmc.fields[2..6], ["4500.0000", "N", "00700.0000", "E"]);
        assert_eq!(gga.fields[5], "1");
    }

    simulator.terminate();
    let status = simulator.wait_exit(Duration::from_secs(2));
    assert!(status.success(), "SIGTERM should end it cleanly: {status}");
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "the link should be removed on exit"
    );
}

#[test]
fn offset_and_no_fix_label_a_wrong_time_without_position() {
    let dir = ScratchDir::new("offset");
    let link = dir.0.join("gps0");
    let mut simulator = Simulator::start(&[
        "--link",
        link.to_str().unwrap(),
        "--offset-ms=-3000",
        "--no-fix",
        "--talker",
        "gn",
        "--seconds",
        "3",
    ]);
    wait_for_link(&link);
    let lines = read_lines(&link);

    for ([rmc, gga, zda], read_ns) in collect_seconds(&lines, 2) {
        assert_eq!(zda.talker, "GN");
        // Written for second S, labelled S - 3.
        assert_eq!(zda_seconds(&zda), read_ns.div_euclid(NS) - 3);
        assert_eq!(rmc.fields[1], "V");
        assert!(rmc.fields[2..6].iter().all(String::is_empty));
        assert_eq!(rmc.fields[11], "N");
        assert_eq!(gga.fields[5], "0");
        assert!(gga.fields[1..5].iter().all(String::is_empty));
    }

    // --seconds 3: it stops by itself and removes the link.
    let status = simulator.wait_exit(Duration::from_millis(2500));
    assert!(status.success(), "{status}");
    assert!(std::fs::symlink_metadata(&link).is_err());
}

fn run_to_end(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tt-gpssim"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run tt-gpssim")
}

#[test]
fn bad_input_is_one_clear_line_and_a_failure() {
    let dir = ScratchDir::new("bad");
    let taken = dir.0.join("taken");
    std::fs::write(&taken, "not a link").unwrap();

    let cases: [(&[&str], &str); 4] = [
        (&["--link", taken.to_str().unwrap()], "already exists"),
        (
            &["--link", "/nonexistent-dir/gps0"],
            "cannot create symlink",
        ),
        (&["--device", "/dev/null"], "not a terminal"),
        (&["--link", "x", "--offset-ms", "15"], "multiple of 10"),
    ];
    for (args, expected) in cases {
        let output = run_to_end(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} should fail");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
    // The refused path is left as it was.
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "not a link");

    // Neither output given: refused by the argument parser.
    assert!(!run_to_end(&[]).status.success());
}
