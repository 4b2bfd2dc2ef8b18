//! The shared-memory record between a real writer (the timeslave's
//! publisher) and the client's read-only mapping: no torn copy is ever
//! accepted when the writer is another process writing as fast as it can,
//! and a commit-wait follows a record renewed while it waits.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use timeslave::publish::Publisher;
use tt_client::commit_wait::first_instant_after;
use tt_client::shm::RecordMap;
use tt_client::TrueTime;
use tt_core::shm::{Published, ShmError};
use tt_core::{Drift, Interval, LocalInstant, Sample, Timestamp};
use tt_tests::procs::TempDir;

/// The writer process, killed by its PID if the test ends early.
struct Writer(Child);

impl Drop for Writer {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// What the reader checks on every synchronized copy it accepts: record
/// `n` as `tt-shm-writer` writes it (local `n`, earliest `3n + 11`,
/// latest `earliest + n % 997`, drift `n xor 0x5555`, void after `2n + 7`).
/// Returns `n`.
fn check_record(published: Published) -> Option<i64> {
    let Published::Synchronized {
        sample,
        drift,
        void_after,
        ..
    } = published
    else {
        return None;
    };
    let n = sample.local.nanos();
    let earliest = 3 * n + 11;
    assert_eq!(
        sample.interval.earliest().unix_nanos(),
        earliest,
        "torn at n = {n}"
    );
    assert_eq!(
        sample.interval.latest().unix_nanos(),
        earliest + n % 997,
        "torn at n = {n}"
    );
    assert_eq!(drift.ppb(), n.unsigned_abs() ^ 0x5555, "torn at n = {n}");
    assert_eq!(void_after.nanos(), 2 * n + 7, "torn at n = {n}");
    Some(n)
}

#[test]
fn readers_in_another_process_never_accept_a_torn_record() {
    let dir = TempDir::new("torn");
    let path = dir.path().join("record.shm");
    let mut writer = Writer(
        Command::new(env!("CARGO_BIN_EXE_tt-shm-writer"))
            .arg(&path)
            .arg("2.5")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start tt-shm-writer"),
    );

    // The writer creates the file; map it once it is there.
    let deadline = Instant::now() + Duration::from_secs(5);
    let map = loop {
        if let Ok(map) = RecordMap::open(&path) {
            break map;
        }
        assert!(
            Instant::now() < deadline,
            "tt-shm-writer never made {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    };

    // Two readers for 1.5 s each (the writer runs 2.5 s).
    let (accepted, lowest, highest) = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let until = Instant::now() + Duration::from_millis(1_500);
                    let (mut accepted, mut lowest, mut highest) = (0u64, i64::MAX, 0i64);
                    while Instant::now() < until {
                        for _ in 0..1_000 {
                            match map.read() {
                                Ok(published) => {
                                    if let Some(n) = check_record(published) {
                                        accepted += 1;
                                        lowest = lowest.min(n);
                                        highest = highest.max(n);
                                    }
                                }
                                // Created but not yet written: only before
                                // the first record.
                                Err(ShmError::BadMagic(0)) => assert_eq!(accepted, 0),
                                Err(ShmError::Busy) => {}
                                Err(other) => panic!("unexpected {other}"),
                            }
                        }
                    }
                    (accepted, lowest, highest)
                })
            })
            .collect();
        readers
            .into_iter()
            .map(|r| r.join().expect("reader"))
            .fold((0, i64::MAX, 0), |(a, l, h), (ra, rl, rh)| {
                (a + ra, l.min(rl), h.max(rh))
            })
    });

    let status = writer.0.wait().expect("writer exits");
    let mut out = String::new();
    std::io::Read::read_to_string(writer.0.stdout.as_mut().expect("stdout"), &mut out).unwrap();
    assert!(status.success(), "tt-shm-writer failed");
    let writes: i64 = out.trim().parse().expect("write count");

    // The readers really raced the writer: they accepted many copies,
    // spread over many different writes.
    assert!(
        accepted > 10_000,
        "{accepted} copies accepted in {writes} writes"
    );
    assert!(
        highest - lowest > 10_000,
        "copies only from writes {lowest} to {highest} of {writes}"
    );
}

/// Checks that `interval` is `sample` carried with `drift` to one local
/// instant (found from the sum of the ends), and returns that instant.
fn carried_from(sample: Sample, drift: Drift, interval: Interval) -> LocalInstant {
    let twice_d = interval.earliest().unix_nanos() + interval.latest().unix_nanos()
        - sample.interval.earliest().unix_nanos()
        - sample.interval.latest().unix_nanos();
    assert_eq!(twice_d % 2, 0, "{interval} is not carried from {sample:?}");
    let at = sample.local.saturating_add_nanos(twice_d / 2);
    assert_eq!(
        sample.at(at, drift),
        interval,
        "{interval} is not carried from {sample:?}"
    );
    at
}

const TRUTH_NS: i64 = 1_796_400_000_000_000_000;
const MS: i64 = 1_000_000;

/// Publishes `first(L0)`, starts a commit-wait for `t` on another thread,
/// publishes `second(first, L1)` about 10 ms later, and returns both
/// samples and the interval the wait returned with.
fn wait_across_a_renewal(
    first: impl Fn(LocalInstant) -> Sample,
    second: impl Fn(Sample, LocalInstant) -> Sample,
    t: Timestamp,
) -> (Sample, Sample, Interval) {
    let dir = TempDir::new("renewal");
    let path = dir.path().join("record.shm");
    let publisher = Publisher::create(&path).expect("publisher");
    let publish = |sample: Sample| {
        publisher.publish(Published::Synchronized {
            sample,
            drift: DRIFT,
            void_after: sample.local.saturating_add_nanos(60_000 * MS),
            boot: publisher.boot(),
        })
    };
    let first = first(tt_clock::boottime());
    publish(first);
    let tt = TrueTime::open_path(&path).expect("open");

    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| tt.wait_until_after(t).expect("waits"));
        std::thread::sleep(Duration::from_millis(10));
        let second = second(first, tt_clock::boottime());
        publish(second);
        let returned = waiter.join().expect("waiter");
        (first, second, returned)
    })
}

const DRIFT: Drift = Drift::from_ppm(200);

/// `[earliest + from, earliest + to]` of `first`, moved on by the local
/// time since `first` was taken: an interval inside `first` carried to
/// `at` when `first` was wide enough.
fn inside(first: Sample, at: LocalInstant, from_ns: i64, to_ns: i64) -> Sample {
    let moved = at.nanos_since(first.local);
    let base = first.interval.earliest().unix_nanos() + moved;
    Sample::new(
        at,
        Interval::from_unix_nanos(base + from_ns, base + to_ns).unwrap(),
    )
}

#[test]
fn a_renewed_record_that_vouches_for_more_ends_the_wait_sooner() {
    // First: 1 s wide. Second, ~10 ms on: 1 ms wide, 500 ms above the
    // first one's lower end (inside it). t is 800 ms above the first lower
    // end: the first record alone holds the wait until about L0 + 800 ms,
    // the second lets it end near L0 + 300 ms.
    let t = Timestamp::from_unix_nanos(TRUTH_NS + 800 * MS);
    let (first, second, returned) = wait_across_a_renewal(
        |l0| {
            Sample::new(
                l0,
                Interval::from_unix_nanos(TRUTH_NS, TRUTH_NS + 1_000 * MS).unwrap(),
            )
        },
        |first, l1| inside(first, l1, 500 * MS, 501 * MS),
        t,
    );
    assert!(returned.earliest() > t, "{returned} for {t}");
    let at = carried_from(second, DRIFT, returned);
    let first_alone = first_instant_after(first, DRIFT, t).expect("reachable");
    assert!(
        at < first_alone,
        "returned at {at:?}; the first record alone: {first_alone:?}"
    );
}

#[test]
fn a_renewed_record_that_vouches_for_less_holds_the_wait_longer() {
    // First: 1 ms wide; t is 301 ms above its lower end, so it alone would
    // let the wait end near L0 + 301 ms. Second, ~10 ms on: its lower end
    // 50 ms lower (a wider, still honest interval): the wait must run to
    // near L0 + 351 ms and return with the second record's interval.
    let t = Timestamp::from_unix_nanos(TRUTH_NS + 301 * MS);
    let (first, second, returned) = wait_across_a_renewal(
        |l0| {
            Sample::new(
                l0,
                Interval::from_unix_nanos(TRUTH_NS, TRUTH_NS + MS).unwrap(),
            )
        },
        |first, l1| inside(first, l1, -50 * MS, 2 * MS),
        t,
    );
    assert!(returned.earliest() > t, "{returned} for {t}");
    let at = carried_from(second, DRIFT, returned);
    let first_alone = first_instant_after(first, DRIFT, t).expect("reachable");
    assert!(
        at > first_alone,
        "returned at {at:?}, before the second record allowed"
    );
}
