//! Real receiver recordings through real gpsd (played by gpsfake) into the
//! gpsd source's own TCP client.
//!
//! For every recording in `<repo>/../shared/data/nmea/*.log` the labels the
//! source takes must be, in order, the reference TPVs (`NAME.times.tsv`,
//! gpsd 3.22's own output) that have `mode >= 2`, with the date-floor rule
//! applied at a floor of 2000-01-01:
//!
//! * for the recordings the data README marks "WRONG +1024w" (made before
//!   2017, moved 1024 weeks forward by gpsd's rollover guess), the expected
//!   label is the reference time minus 619315200 s: the receiver's own
//!   date, which the rule restores;
//! * for the others the reference time itself, including april6_2019,
//!   where gpsd's guess turned the receiver's 1999-08-22 into the true
//!   2019-04-07 and the rule, finding 1999 before the floor, leaves it.
//!
//! TPVs with `mode < 2` or without a time (no-fix stretches, hemi's ZDA
//! times without a fix, skytraq's cold start, tn200 throughout) must give
//! nothing. hemi: gpsd 3.22 prints one TPV without time at the first fix
//! (19:40:50) where the 2020 gpsd `.chk` had one with time; the reference
//! here is gpsd 3.22's output, so that TPV gives nothing here either.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tt_hw::gpsd::{parse_iso8601_utc, run_observed, ArrivalStamp, GpsdConfig, Taken, TakenKind};
use tt_hw::{Health, SourceCell};
use tt_tests::gpsfake::{is_gpsd_on_port, Gpsfake};
use tt_tests::procs::{free_port, TempDir};
use tt_tests::recordings::{
    data_dir, logs as recordings, readme_wrong_list, stem, FLOOR_2000, WEEK_ROLLOVER_S,
    WRONG_PLUS_1024W,
};

/// Replays run side by side; gpsd and gpsfake mostly sleep between
/// sentences, so this stays light on two cores.
const PARALLEL_REPLAYS: usize = 4;

/// The longest recording (telit-he910, 1558 sentences at 20 ms) plays in
/// about 31 s; this is the limit for any one replay.
const REPLAY_LIMIT: Duration = Duration::from_secs(150);

/// A reference TPV: its time (ns) and mode.
struct ReferenceTpv {
    time_ns: i64,
    mode: u8,
}

fn reference(name: &str) -> Vec<ReferenceTpv> {
    let path = data_dir().join(format!("{name}.times.tsv"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("time\tmode\tept"), "{name}: header");
    lines
        .filter(|l| !l.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            ReferenceTpv {
                time_ns: parse_iso8601_utc(fields[0])
                    .unwrap_or_else(|e| panic!("{name}: bad time {line:?}: {e}"))
                    .unix_ns,
                mode: fields[1].parse().expect("mode is a number"),
            }
        })
        .collect()
}

/// The labels the source must take for recording `name`.
fn expected_labels(name: &str) -> Vec<i64> {
    let shift_ns = if WRONG_PLUS_1024W.contains(&name) {
        WEEK_ROLLOVER_S * 1_000_000_000
    } else {
        0
    };
    reference(name)
        .into_iter()
        .filter(|tpv| tpv.mode >= 2)
        .map(|tpv| tpv.time_ns - shift_ns)
        .collect()
}

fn config(port: u16) -> GpsdConfig {
    GpsdConfig {
        address: format!("127.0.0.1:{port}"),
        min_delay_ns: 0,
        max_delay_ns: 1_000_000_000,
        date_floor_unix_s: FLOOR_2000,
        use_pps: true,
        pps_precision_ns: 1_000,
    }
}

/// What one replay gave.
struct Replay {
    name: String,
    taken: Vec<Taken>,
    rejected: u64,
    gpsfake_stderr: String,
}

/// Plays one recording through gpsfake and gpsd into the source, and
/// collects every sample it takes.
fn replay(log: &Path, dir: &Path) -> Result<Replay, String> {
    let name = stem(log);
    // A port that was free a moment ago may be taken by the time gpsd
    // binds it; try a few.
    let mut attempt = 0;
    let mut fake = loop {
        attempt += 1;
        let mut fake = Gpsfake::start(log, free_port(), dir).map_err(|e| e.to_string())?;
        match fake.wait_listening(Duration::from_secs(20)) {
            Ok(()) => break fake,
            Err(e) if attempt >= 3 => return Err(format!("{name}: {e}")),
            Err(_) => drop(fake),
        }
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let cell = SourceCell::new(name.clone(), "gpsd");
    let (sender, receiver) = std::sync::mpsc::channel();
    let source = runtime.spawn(run_observed(
        config(fake.port()),
        cell.clone(),
        name.clone(),
        move |taken: &Taken| {
            let _ = sender.send(*taken);
        },
    ));

    let outcome = runtime.block_on(async {
        let started = Instant::now();
        // gpsfake ends after playing the log once, and ends its gpsd.
        loop {
            match fake.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) => {}
                Err(e) => return Err(format!("{name}: waiting for gpsfake: {e}")),
            }
            if started.elapsed() > REPLAY_LIMIT {
                return Err(format!(
                    "{name}: gpsfake still running after {REPLAY_LIMIT:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The source reads to the end of the stream, then reports gpsd
        // gone.
        let closed_by = Instant::now() + Duration::from_secs(10);
        while cell.snapshot().health != Health::Down {
            if Instant::now() > closed_by {
                return Err(format!(
                    "{name}: the source did not see gpsd close: {:?}",
                    cell.snapshot()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    });
    source.abort();
    drop(runtime);
    outcome?;

    Ok(Replay {
        name,
        taken: receiver.try_iter().collect(),
        rejected: cell.snapshot().rejected,
        gpsfake_stderr: fake.stderr(),
    })
}

fn iso(ns: i64) -> String {
    // Days to a civil date, for messages only.
    let secs = ns.div_euclid(1_000_000_000);
    let millis = ns.rem_euclid(1_000_000_000) / 1_000_000;
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (mut year, mut day) = (1970, days);
    loop {
        let len = if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 {
            366
        } else {
            365
        };
        if day < len {
            break;
        }
        day -= len;
        year += 1;
    }
    format!(
        "{year}+{day:03}d {:02}:{:02}:{:02}.{millis:03}",
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    )
}

fn check(replay: &Replay) -> Result<(), String> {
    let expected = expected_labels(&replay.name);
    let got: Vec<i64> = replay.taken.iter().map(|t| t.label.unix_nanos()).collect();
    if got != expected {
        let first_difference = got
            .iter()
            .zip(&expected)
            .position(|(g, e)| g != e)
            .unwrap_or(got.len().min(expected.len()));
        return Err(format!(
            "{}: took {} labels, expected {}; first difference at #{first_difference}: \
             got {:?}, expected {:?}\ngpsfake stderr: {}",
            replay.name,
            got.len(),
            expected.len(),
            got.get(first_difference).map(|&t| iso(t)),
            expected.get(first_difference).map(|&t| iso(t)),
            replay.gpsfake_stderr
        ));
    }
    let wrong = WRONG_PLUS_1024W.contains(&replay.name.as_str());
    for taken in &replay.taken {
        if taken.rollover_undone != wrong {
            return Err(format!(
                "{}: label {} says rollover_undone = {}, expected {wrong}",
                replay.name,
                iso(taken.label.unix_nanos()),
                taken.rollover_undone
            ));
        }
        // gpsfake has no PPS line: every sample is serial time, and its
        // interval holds at least the configured delay range after the
        // label, widened by the 1 ms print resolution.
        let TakenKind::Serial(_) = taken.kind else {
            return Err(format!("{}: a PPS sample from gpsfake", replay.name));
        };
        let label = taken.label.unix_nanos();
        let interval = taken.sample.interval;
        if interval.earliest().unix_nanos() > label - 1_000_000
            || interval.latest().unix_nanos() < label + 1_000_000_000 + 1_000_000
        {
            return Err(format!(
                "{}: interval {interval} is narrower than the delay range after {}",
                replay.name,
                iso(label)
            ));
        }
    }
    Ok(())
}

#[test]
fn wrong_list_matches_the_readme() {
    let listed: BTreeSet<String> = WRONG_PLUS_1024W.iter().map(|s| s.to_string()).collect();
    assert_eq!(readme_wrong_list(), listed);
    // Every recording has its reference.
    for log in recordings() {
        assert!(
            data_dir()
                .join(format!("{}.times.tsv", stem(&log)))
                .exists(),
            "{}: no .times.tsv",
            stem(&log)
        );
    }
}

/// A replay cut short (a failing test) still ends gpsfake and its gpsd.
#[test]
fn the_guard_stops_gpsfake_and_its_gpsd() {
    let dir = TempDir::new("gpsd-guard");
    // hemi plays for about 15 s: long enough to be cut short.
    let log = data_dir().join("hemi.log");
    let mut fake = Gpsfake::start(&log, free_port(), dir.path()).expect("gpsfake starts");
    fake.wait_listening(Duration::from_secs(20))
        .expect("gpsd listens");
    let (gpsfake_pid, port) = (fake.pid(), fake.port());
    let gpsd_pid = fake.gpsd_pid().expect("gpsd's PID was found");
    assert!(is_gpsd_on_port(gpsd_pid, port));
    drop(fake);
    assert!(
        !is_gpsd_on_port(gpsd_pid, port),
        "gpsd {gpsd_pid} still runs"
    );
    let gpsfake_alive = std::fs::read(format!("/proc/{gpsfake_pid}/cmdline"))
        .is_ok_and(|cmdline| !cmdline.is_empty());
    assert!(!gpsfake_alive, "gpsfake {gpsfake_pid} still runs");
}

#[test]
fn every_recording_replays_to_the_reference_labels() {
    let logs = recordings();
    assert_eq!(logs.len(), 16, "the README describes 16 recordings");
    let dir = TempDir::new("gpsd-replay");
    let queue = Mutex::new(logs.clone());
    let results = Mutex::new(Vec::new());

    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_REPLAYS {
            scope.spawn(|| loop {
                let next = queue.lock().expect("queue lock").pop();
                let Some(log) = next else { break };
                let result = replay(&log, dir.path());
                results
                    .lock()
                    .expect("results lock")
                    .push((stem(&log), result));
            });
        }
    });

    let mut results = results.into_inner().expect("results");
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let mut failures = Vec::new();
    let (mut by_toff, mut by_rtime) = (0, 0);
    for (name, result) in &results {
        match result {
            Ok(replay) => {
                let toff = replay
                    .taken
                    .iter()
                    .filter(|t| t.kind == TakenKind::Serial(ArrivalStamp::Toff))
                    .count();
                by_toff += toff;
                by_rtime += replay.taken.len() - toff;
                eprintln!(
                    "{name}: {} samples ({toff} stamped by TOFF, {} by rtime), {} rejected",
                    replay.taken.len(),
                    replay.taken.len() - toff,
                    replay.rejected
                );
                if let Err(e) = check(replay) {
                    failures.push(e);
                }
                // gpsd's output is valid JSON with fresh stamps, and the
                // host's clock is not stepped: nothing to refuse.
                if replay.rejected != 0 {
                    failures.push(format!(
                        "{name}: {} inputs refused in a clean replay",
                        replay.rejected
                    ));
                }
            }
            Err(e) => failures.push(e.clone()),
        }
    }
    assert_eq!(results.len(), logs.len());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // Both arrival stamps come from real gpsd: TOFF for most receivers,
    // TPV rtime where gpsd sends no TOFF (firefly-II, whose GGAs all fail
    // their checksum) or none for that TPV (hemi's half seconds).
    assert!(by_toff > 0, "no sample used a TOFF stamp");
    assert!(by_rtime > 0, "no sample used an rtime stamp");
}
