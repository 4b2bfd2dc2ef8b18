//! Tests of the PPS source: numbering on synthetic clock pairs, the ioctl
//! path on a file that is not a PPS device, and the whole source through
//! the device trait with a scripted device on the host's clock.

use super::*;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

const S: i64 = NANOS_PER_SEC;
const MS: i64 = 1_000_000;
/// The wall clock reads local + this, and is true (UTC) in these tests.
const WALL_OFFSET: i64 = 1_790_000_000 * S;

fn pair(local: i64) -> ClockPair {
    ClockPair {
        realtime_ns: local + WALL_OFFSET,
        local_before: LocalInstant::from_nanos(local),
        local_after: LocalInstant::from_nanos(local),
    }
}

fn iv(earliest: i64, latest: i64) -> Interval {
    Interval::from_unix_nanos(earliest, latest).unwrap()
}

#[test]
fn an_edge_is_numbered_by_the_one_second_its_label_allows() {
    let second = 1_790_000_123 * S;
    // A label 100 ms wide around the second: exactly one fits.
    assert_eq!(
        number_edge(iv(second - 50 * MS, second + 50 * MS), 1_000, 10),
        Ok(second)
    );
    // A label entirely after the second but within p + w of it.
    assert_eq!(
        number_edge(iv(second + 500, second + 80 * MS), 400, 100),
        Ok(second)
    );
    // 1 ns further and it no longer fits.
    assert_eq!(
        number_edge(iv(second + 501, second + 80 * MS), 400, 100),
        Err(Numbering::NoSecondFits {
            label: iv(second + 501, second + 80 * MS)
        })
    );
    // A label as wide as a second holds two tops of seconds.
    assert_eq!(
        number_edge(iv(second - 10, second + S), 0, 0),
        Err(Numbering::Ambiguous {
            first_ns: second,
            last_ns: second + S
        })
    );
    // Before 1970 the arithmetic still rounds the right way.
    assert_eq!(number_edge(iv(-S - 10, -S + 10), 0, 0), Ok(-S));
    assert_eq!(
        pps_interval(second, 1_000, 10),
        iv(second - 1_010, second + 1_010)
    );
}

fn label_cell(name: &str, sample: Option<Sample>) -> SourceState {
    let cell = SourceCell::new(name, "gpsd");
    if let Some(sample) = sample {
        cell.publish(sample, "serial fix");
    }
    cell.snapshot()
}

/// A session started at local 99 s; an edge at local 100 s, which the
/// wall clock (true here) calls second `WALL_OFFSET + 100 s`.
fn edge_at_100(label: &SourceState) -> Outcome {
    let config = PpsConfig::new("/dev/pps0", 1_000);
    let mut session = PpsSession::new(config, "gps0", pair(99 * S));
    let edge = PpsEdge {
        sequence: 7,
        realtime_ns: WALL_OFFSET + 100 * S,
    };
    // Read 2 ms after the edge.
    let (outcome, step) = session.on_edge(&edge, pair(100 * S + 2 * MS), label);
    assert_eq!(step, None);
    outcome
}

#[test]
fn a_labelled_edge_gives_the_documented_interval() {
    // The label's sample came 0.8 s before the edge, 100 ms wide around
    // true time then.
    let truth_then = WALL_OFFSET + 99 * S + 200 * MS;
    let label = label_cell(
        "gps0",
        Some(Sample::new(
            LocalInstant::from_nanos(99 * S + 200 * MS),
            iv(truth_then - 50 * MS, truth_then + 50 * MS),
        )),
    );
    let Outcome::Taken(taken) = edge_at_100(&label) else {
        panic!("expected a sample");
    };
    assert_eq!(taken.second_ns, WALL_OFFSET + 100 * S);
    assert_eq!(taken.sequence, 7);
    assert_eq!(taken.sample.local.nanos(), 100 * S);
    // w: 500 ppm of the 2 ms gap = 1000 ns; p = 1000 ns.
    assert_eq!(taken.mapping_ns, 1_000);
    assert_eq!(
        taken.sample.interval,
        iv(WALL_OFFSET + 100 * S - 2_000, WALL_OFFSET + 100 * S + 2_000)
    );
}

#[test]
fn no_label_gives_nothing() {
    for label in [
        label_cell("gps0", None),
        // A label from 3.5 s before the edge: older than the 3 s limit.
        label_cell(
            "gps0",
            Some(Sample::new(
                LocalInstant::from_nanos(96 * S + 500 * MS),
                iv(WALL_OFFSET + 96 * S, WALL_OFFSET + 97 * S),
            )),
        ),
    ] {
        match edge_at_100(&label) {
            Outcome::NoLabel(why) => assert!(why.contains("gps0"), "{why}"),
            other => panic!("expected no label, got {other:?}"),
        }
    }
    // A label too wide to tell the second: gpsd's default delay range
    // gives [T, T + 1 s] and a little, which holds both T and T + 1 s.
    let wide = label_cell(
        "gps0",
        Some(Sample::new(
            LocalInstant::from_nanos(100 * S),
            iv(
                WALL_OFFSET + 99 * S + 950 * MS,
                WALL_OFFSET + 101 * S + 50 * MS,
            ),
        )),
    );
    match edge_at_100(&wide) {
        Outcome::NoLabel(why) => assert!(why.contains("too wide"), "{why}"),
        other => panic!("expected no label, got {other:?}"),
    }
}

#[test]
fn a_label_that_disagrees_with_the_edge_is_a_fault() {
    // The label says true time at the edge is 0.3 s past a second: no top
    // of a second fits.
    let off = label_cell(
        "gps0",
        Some(Sample::new(
            LocalInstant::from_nanos(100 * S),
            iv(
                WALL_OFFSET + 100 * S + 250 * MS,
                WALL_OFFSET + 100 * S + 350 * MS,
            ),
        )),
    );
    assert!(matches!(
        edge_at_100(&off),
        Outcome::Fault(Fault::NoSecondFits { .. })
    ));
    // The label is two whole seconds ahead: it numbers the edge two
    // seconds later than the system clock stamped it.
    let ahead = label_cell(
        "gps0",
        Some(Sample::new(
            LocalInstant::from_nanos(100 * S),
            iv(
                WALL_OFFSET + 102 * S - 50 * MS,
                WALL_OFFSET + 102 * S + 50 * MS,
            ),
        )),
    );
    let outcome = edge_at_100(&ahead);
    assert_eq!(
        outcome,
        Outcome::Fault(Fault::FarFromSystemClock {
            second_ns: WALL_OFFSET + 102 * S,
            realtime_ns: WALL_OFFSET + 100 * S
        })
    );
    let Outcome::Fault(fault) = outcome else {
        unreachable!()
    };
    assert!(fault.to_string().contains("2000 ms apart"), "{fault}");
}

#[test]
fn a_stamp_without_an_earlier_pair_is_refused() {
    let config = PpsConfig::new("/dev/pps0", 1_000);
    let mut session = PpsSession::new(config, "gps0", pair(100 * S));
    // The edge was stamped before the session's first pair.
    let edge = PpsEdge {
        sequence: 1,
        realtime_ns: WALL_OFFSET + 99 * S,
    };
    let (outcome, _) = session.on_edge(&edge, pair(100 * S + MS), &label_cell("gps0", None));
    assert_eq!(outcome, Outcome::Rejected(WallError::NoEarlierPair));
}

#[test]
fn config_validation() {
    assert!(PpsConfig::new("/dev/pps0", 1_000).validate().is_ok());
    assert!(PpsConfig::new("/dev/pps0", -1).validate().is_err());
    assert!(PpsConfig::new("/dev/pps0", 300 * MS).validate().is_err());
    assert!(PpsConfig::new("", 1_000).validate().is_err());
}

#[test]
fn a_file_that_is_not_a_pps_device_is_refused_plainly() {
    let path = std::env::temp_dir().join(format!("tt-pps-plain-file-{}", std::process::id()));
    std::fs::write(&path, b"plain").unwrap();
    let err = KernelPps::open(&path).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTTY), "{err}");
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("is not a PPS device"), "{text}");
    assert!(text.contains("PPS_GETCAP"), "{text}");
    let _ = std::fs::remove_file(&path);

    let err = KernelPps::open(Path::new("/dev/tt-no-such-pps")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err}");
    assert!(err.to_string().contains("/dev/tt-no-such-pps"));
}

/// What the scripted device does on each fetch.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// An edge at the next top of a second of the host's clock, stamped
    /// exactly there (a perfect PPS, with the host clock as true time).
    Edge,
    /// The device goes away.
    Vanish,
}

struct ScriptedPps {
    steps: Arc<Mutex<VecDeque<Step>>>,
    sequence: u32,
}

impl PpsDevice for ScriptedPps {
    fn name(&self) -> String {
        "scripted-pps".to_string()
    }

    fn capabilities(&self) -> Result<PpsCapabilities, PpsError> {
        Ok(PpsCapabilities(
            sys::PPS_CAPTUREASSERT | sys::PPS_CANWAIT | sys::PPS_TSFMT_TSPEC,
        ))
    }

    fn fetch(&mut self, timeout: Duration) -> Result<Option<PpsEdge>, PpsError> {
        let step = self.steps.lock().unwrap().pop_front();
        match step {
            Some(Step::Edge) => {
                let now = tt_clock::realtime_ns();
                let next_second = (now.div_euclid(S) + 1) * S;
                std::thread::sleep(Duration::from_nanos((next_second - now) as u64));
                self.sequence += 1;
                Ok(Some(PpsEdge {
                    sequence: self.sequence,
                    realtime_ns: next_second,
                }))
            }
            Some(Step::Vanish) => Err(PpsError::Ioctl {
                device: self.name(),
                call: "PPS_FETCH",
                error: io::Error::from_raw_os_error(libc::ENODEV),
            }),
            None => {
                std::thread::sleep(timeout);
                Ok(None)
            }
        }
    }
}

/// Publishes into `cell`, every 50 ms, a label `width_ns` wide centred
/// `shift_ns` away from the host's clock.
async fn publish_labels(cell: SourceCell, shift_ns: Arc<Mutex<i64>>, width_ns: i64) {
    loop {
        let pair = ClockPair::read();
        let shift = *shift_ns.lock().unwrap();
        let local = pair.local_before.saturating_add_nanos(pair.spread_ns() / 2);
        let centre = Timestamp::from_unix_nanos(pair.realtime_ns + shift);
        cell.publish(
            Sample::new(
                local,
                Interval::around(centre, width_ns / 2 + pair.spread_ns()),
            ),
            "scripted label",
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_until(
    cell: &SourceCell,
    what: &str,
    check: impl Fn(&SourceState) -> bool,
) -> SourceState {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let state = cell.snapshot();
        if check(&state) {
            return state;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {state:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_path_through_the_device_trait() {
    let steps = Arc::new(Mutex::new(VecDeque::from([
        Step::Edge,
        Step::Edge,
        Step::Edge,
        Step::Edge,
        Step::Vanish,
        Step::Edge,
    ])));
    let opened = Arc::new(Mutex::new(0_u32));

    let label = SourceCell::new("gps0", "gpsd");
    let shift = Arc::new(Mutex::new(0_i64));
    let labels = tokio::spawn(publish_labels(label.clone(), Arc::clone(&shift), 100 * MS));

    let cell = SourceCell::new("pps0", "pps");
    let config = PpsConfig::new("scripted-pps", 1_000);
    let open_steps = Arc::clone(&steps);
    let open_count = Arc::clone(&opened);
    let source = tokio::spawn(run_with(
        config,
        cell.clone(),
        label.clone(),
        "pps0".into(),
        move || {
            *open_count.lock().unwrap() += 1;
            Ok(Box::new(ScriptedPps {
                steps: Arc::clone(&open_steps),
                sequence: 0,
            }) as Box<dyn PpsDevice>)
        },
    ));

    // Edges 1 and 2: numbered, and each interval holds its second (the
    // host clock's, which is true time here).
    let first = wait_until(&cell, "first edge", |s| s.accepted >= 1).await;
    let sample = first.last.expect("a sample");
    let second = first
        .detail
        .split("numbered ")
        .nth(1)
        .and_then(|rest| rest.split('.').next())
        .and_then(|secs| secs.parse::<i64>().ok())
        .expect("the detail names the second");
    assert!(sample
        .interval
        .contains(Timestamp::from_unix_nanos(second * S)));
    // Width 2 (p + w): p = 1 us, and w is 500 ppm of the gap between the
    // edge and our pair (the scheduler's wake-up: under 200 ms even on a
    // loaded machine) plus the pair's spread: microseconds, never the
    // milliseconds of a serial label.
    assert!(sample.interval.width_ns() >= 2_000);
    assert!(
        sample.interval.width_ns() < 250_000,
        "{}",
        sample.interval.width_ns()
    );

    // Edge 3 with the label shifted 0.3 s: a fault, counted, no sample.
    wait_until(&cell, "second edge", |s| s.accepted >= 2).await;
    *shift.lock().unwrap() = 300 * MS;
    let faulted = wait_until(&cell, "fault", |s| s.rejected >= 1).await;
    assert!(faulted.detail.contains("disagree"), "{}", faulted.detail);
    assert_eq!(faulted.health, Health::NoData);
    assert!(faulted.last.is_none());

    // Edge 4 with the label back: numbered again.
    *shift.lock().unwrap() = 0;
    wait_until(&cell, "third sample", |s| s.accepted >= 3).await;

    // The device vanishes: Down, and reopened; the next edge is numbered.
    wait_until(&cell, "reopened", |_| *opened.lock().unwrap() >= 2).await;
    let after = wait_until(&cell, "edge after reopening", |s| s.accepted >= 4).await;
    assert_eq!(after.health, Health::Good);

    // Nothing more scripted: silence. No edge for 3 s means no data.
    let silent = wait_until(&cell, "silence", |s| s.health == Health::NoData).await;
    assert!(silent.detail.contains("no PPS edge"), "{}", silent.detail);

    source.abort();
    labels.abort();
}
