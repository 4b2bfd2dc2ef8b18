//! The timestamp oracle against a scripted time source (values worked out
//! by hand) and against the host's clock (real commit-waits across
//! threads).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use tt_client::oracle::{CommitTimestamp, OracleError, TimestampOracle};
use tt_client::{TimeError, TimeSource};
use tt_core::{Interval, Timestamp};

/// Answers the intervals it was given, one per reading, repeating the
/// last; a commit-wait for `t` is recorded and answers `[t + 1, t + 101]`
/// (or, if `early`, an interval that has not yet passed `t`).
struct Script {
    intervals: Mutex<VecDeque<Interval>>,
    waits: Mutex<Vec<Timestamp>>,
    early: bool,
}

impl Script {
    fn new(intervals: &[(i64, i64)]) -> Arc<Script> {
        Script::with(intervals, false)
    }

    fn with(intervals: &[(i64, i64)], early: bool) -> Arc<Script> {
        let intervals = intervals
            .iter()
            .map(|&(earliest, latest)| Interval::from_unix_nanos(earliest, latest).unwrap())
            .collect();
        Arc::new(Script {
            intervals: Mutex::new(intervals),
            waits: Mutex::new(Vec::new()),
            early,
        })
    }
}

impl TimeSource for Script {
    fn now(&self) -> Result<Interval, TimeError> {
        let mut intervals = self.intervals.lock().unwrap();
        if intervals.len() > 1 {
            return Ok(intervals.pop_front().unwrap());
        }
        intervals
            .front()
            .copied()
            .ok_or_else(|| TimeError::Unsynchronized("nothing scripted".into()))
    }

    fn wait_until_after(&self, t: Timestamp) -> Result<Interval, TimeError> {
        self.waits.lock().unwrap().push(t);
        let earliest = if self.early {
            t.unix_nanos()
        } else {
            t.unix_nanos() + 1
        };
        Ok(Interval::from_unix_nanos(earliest, earliest + 100).unwrap())
    }
}

fn oracle(node: u16, script: &Arc<Script>) -> TimestampOracle {
    TimestampOracle::new(node, script.clone()).expect("node in range")
}

fn ns(s: CommitTimestamp) -> i64 {
    s.unix_nanos()
}

/// 10^9 = 976 562 * 1024 + 512: the multiple of 1024 at or below
/// 1 000 000 500 is 999 999 488, the next one 1 000 000 512.
const LATEST: i64 = 1_000_000_500;

#[test]
fn a_timestamp_is_the_first_slot_of_its_node_at_or_above_latest() {
    let cases = [
        // 999 999 488 + 7 is below latest: the next slot.
        (7, LATEST, 1_000_000_519),
        // 999 999 488 + 1000 = 1 000 000 488, below latest.
        (1000, LATEST, 1_000_001_512),
        // 999 999 488 + 1023 = 1 000 000 511 is at or above it.
        (1023, LATEST, 1_000_000_511),
        // latest itself a multiple of 1024: node 0 takes it exactly.
        (0, 1_000_000_512, 1_000_000_512),
        // Before 1970: -1000 lies in [-1024, 0); -1024 + 3 is below it,
        // 0 + 3 is not.
        (3, -1000, 3),
        // -1024 + 1000 = -24 is at or above -1000.
        (1000, -1000, -24),
    ];
    for (node, latest, expected) in cases {
        let script = Script::new(&[(latest - 5_000, latest)]);
        let s = oracle(node, &script).assign().expect("a timestamp");
        assert_eq!(ns(s), expected, "node {node}, latest {latest}");
        assert_eq!(s.node(), node);
        assert!(ns(s) >= latest && ns(s) - latest < 1024);
    }
}

#[test]
fn timestamps_strictly_increase_when_the_source_stalls_or_steps_back() {
    let script = Script::new(&[
        (LATEST - 5_000, LATEST),
        (LATEST - 5_000, LATEST),
        (LATEST - 5_000, LATEST),
        // One second back.
        (LATEST - 1_000_005_000, LATEST - 1_000_000_000),
    ]);
    let oracle = oracle(7, &script);
    let assigned: Vec<i64> = (0..4).map(|_| ns(oracle.assign().unwrap())).collect();
    // The next slot of node 7 each time: 1024 ns apart.
    assert_eq!(
        assigned,
        [1_000_000_519, 1_000_001_543, 1_000_002_567, 1_000_003_591]
    );
}

#[test]
fn oracles_with_different_nodes_never_share_a_timestamp() {
    let script = Script::new(&[(LATEST - 5_000, LATEST)]);
    let oracles: Vec<_> = [0, 1, 2, 1023].map(|node| oracle(node, &script)).into();
    let mut seen = HashSet::new();
    for _ in 0..100 {
        for oracle in &oracles {
            let s = oracle.assign().unwrap();
            assert!(seen.insert(ns(s)), "{s} assigned twice");
            assert_eq!(s.node(), oracle.node());
        }
    }
}

#[test]
fn commit_waits_until_its_timestamp_has_passed() {
    let script = Script::new(&[(LATEST - 5_000, LATEST)]);
    let s = oracle(7, &script).commit().expect("committed");
    assert_eq!(ns(s), 1_000_000_519);
    assert_eq!(*script.waits.lock().unwrap(), vec![s.timestamp()]);
}

#[test]
fn a_commit_wait_that_returns_early_is_an_error_not_an_acknowledgement() {
    let script = Script::with(&[(LATEST - 5_000, LATEST)], true);
    let error = oracle(7, &script).commit().unwrap_err();
    assert!(matches!(
        error,
        OracleError::Time(TimeError::Unavailable(_))
    ));
    assert!(error.to_string().contains("not after it"), "{error}");
}

#[test]
fn a_read_timestamp_is_the_latest_end() {
    let script = Script::new(&[(LATEST - 5_000, LATEST)]);
    assert_eq!(
        oracle(7, &script).read_timestamp(),
        Ok(Timestamp::from_unix_nanos(LATEST))
    );
}

#[test]
fn safe_time_is_below_every_later_commit() {
    let script = Script::new(&[
        // Nothing assigned yet: the safe time is earliest - 1.
        (LATEST - 5_000, LATEST),
        // Assigned 1 000 000 519.
        (LATEST - 5_000, LATEST),
        // The last assigned is above earliest - 1 now.
        (LATEST - 5_000, LATEST),
        // Time has moved on: earliest - 1 again.
        (LATEST + 2_000_000, LATEST + 2_005_000),
        // Then the source steps back a second.
        (LATEST - 1_000_005_000, LATEST - 1_000_000_000),
    ]);
    let oracle = oracle(7, &script);
    assert_eq!(oracle.safe_time().unwrap().unix_nanos(), LATEST - 5_001);
    assert_eq!(ns(oracle.assign().unwrap()), 1_000_000_519);
    assert_eq!(oracle.safe_time().unwrap().unix_nanos(), 1_000_000_519);
    let promised = oracle.safe_time().unwrap().unix_nanos();
    assert_eq!(promised, LATEST + 1_999_999);

    // The step back does not break the promise: the commit lands in the
    // first slot of node 7 above 1 002 000 499. That is 1 002 000 384
    // (978 516 * 1024) + 1024 + 7.
    let after_step = ns(oracle.assign().unwrap());
    assert_eq!(after_step, 1_002_001_415);
    assert!(after_step > promised);
}

#[test]
fn nodes_out_of_range_are_refused() {
    let script = Script::new(&[(0, 1)]);
    let error = TimestampOracle::new(1024, script).unwrap_err();
    assert_eq!(error, OracleError::NodeOutOfRange { node: 1024 });
    assert!(error.to_string().contains("0 to 1023"));
}

#[test]
fn the_end_of_time_is_an_error_not_a_wrap() {
    // i64::MAX has its low 10 bits set: node 1023's last slot is i64::MAX.
    let script = Script::new(&[(i64::MAX - 100, i64::MAX - 10)]);
    let last = oracle(1023, &script);
    assert_eq!(ns(last.assign().unwrap()), i64::MAX);
    assert_eq!(last.assign(), Err(OracleError::Exhausted));
    // Node 0's last slot, i64::MAX - 1023, is below latest: none left.
    assert_eq!(oracle(0, &script).assign(), Err(OracleError::Exhausted));
}

#[test]
fn source_errors_reach_the_caller() {
    let script = Script::new(&[]);
    let oracle = oracle(1, &script);
    for result in [
        oracle.assign().map(ns),
        oracle.safe_time().map(|t| t.unix_nanos()),
    ] {
        assert_eq!(
            result,
            Err(OracleError::Time(TimeError::Unsynchronized(
                "nothing scripted".into()
            )))
        );
    }
}

/// The host's `CLOCK_REALTIME` +-1 ms.
struct HostClock;

impl TimeSource for HostClock {
    fn now(&self) -> Result<Interval, TimeError> {
        Ok(Interval::around(
            Timestamp::from_unix_nanos(tt_clock::realtime_ns()),
            1_000_000,
        ))
    }
}

#[test]
fn commits_acknowledged_one_after_another_across_nodes_get_larger_timestamps() {
    // Spanner's external consistency: a transaction that starts after
    // another was acknowledged commits with a larger timestamp, on any
    // node. Two nodes, four threads, each commit after the previous one
    // was acknowledged anywhere (the lock orders them in real time).
    let source: Arc<dyn TimeSource> = Arc::new(HostClock);
    let nodes = [
        TimestampOracle::new(1, source.clone()).unwrap(),
        TimestampOracle::new(2, source.clone()).unwrap(),
    ];
    let last_acknowledged = Mutex::new(i64::MIN);
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let (nodes, last_acknowledged, source) = (&nodes, &last_acknowledged, &source);
            scope.spawn(move || {
                for round in 0..25 {
                    let mut last = last_acknowledged.lock().unwrap();
                    let s = nodes[(thread + round) % 2].commit().expect("committed");
                    assert!(ns(s) > *last, "{s} after {}", *last);
                    assert!(source.now().unwrap().earliest() > s.timestamp());
                    *last = ns(s);
                }
            });
        }
    });
}
