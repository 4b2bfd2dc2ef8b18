//! Snowflake ids against time sources that misbehave on purpose: a
//! simulated world whose true time, local clock and faults the test sets,
//! and the host's clock for the real-time order of the ordered mode.

use proptest::prelude::*;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tt_client::ids::{decode, encode, IdError, SnowflakeGenerator, DEFAULT_EPOCH_MS, MAX_MS};
use tt_client::{TimeError, TimeSource};
use tt_clock::LocalClock;
use tt_core::{Drift, Interval, LocalInstant, Timestamp};

const MS: i64 = 1_000_000;
const SECOND: i64 = 1_000_000_000;
/// 2024-02-29T00:00:00Z in ms: 19 782 days after 1970 (54 years with 13
/// leap days to 2024-01-01, then 59 days).
const LEAP_DAY_MS: i64 = 19_782 * 86_400 * 1000;

/// What the simulated source does besides telling the truth.
#[derive(Clone)]
enum Fault {
    None,
    /// Both ends moved by this many ns (negative: a step back).
    Offset(i64),
    /// The same interval forever.
    Stalled(Interval),
    /// Every read fails.
    Failing(TimeError),
}

/// True time, a local clock that follows it at exactly its rate, and a
/// time source answering `[true - radius, true + radius]` unless a fault
/// says otherwise. Time moves only when the test (or a commit-wait) moves
/// it.
struct Sim {
    true_ns: AtomicI64,
    radius_ns: i64,
    fault: Mutex<Fault>,
    reads: AtomicUsize,
    waits: Mutex<Vec<Timestamp>>,
}

impl Sim {
    fn at(true_ns: i64, radius_ns: i64) -> Arc<Sim> {
        Arc::new(Sim {
            true_ns: AtomicI64::new(true_ns),
            radius_ns,
            fault: Mutex::new(Fault::None),
            reads: AtomicUsize::new(0),
            waits: Mutex::new(Vec::new()),
        })
    }

    fn advance(&self, ns: i64) {
        self.true_ns.fetch_add(ns, Ordering::SeqCst);
    }

    fn set_fault(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    fn honest(&self) -> Interval {
        Interval::around(
            Timestamp::from_unix_nanos(self.true_ns.load(Ordering::SeqCst)),
            self.radius_ns,
        )
    }

    fn generator(self: &Arc<Sim>, worker: u16) -> SnowflakeGenerator {
        SnowflakeGenerator::new(worker, DEFAULT_EPOCH_MS, self.clone())
            .expect("a valid generator")
            .with_local_clock(self.clone(), Drift::DEFAULT)
    }

    fn ordered(self: &Arc<Sim>, worker: u16) -> SnowflakeGenerator {
        SnowflakeGenerator::ordered(worker, DEFAULT_EPOCH_MS, self.clone())
            .expect("a valid generator")
            .with_local_clock(self.clone(), Drift::DEFAULT)
    }
}

impl TimeSource for Sim {
    fn now(&self) -> Result<Interval, TimeError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        match self.fault.lock().unwrap().clone() {
            Fault::None => Ok(self.honest()),
            Fault::Offset(ns) => Ok(self.honest().shifted(ns)),
            Fault::Stalled(interval) => Ok(interval),
            Fault::Failing(error) => Err(error),
        }
    }

    /// Moves true time just far enough that `earliest > t`.
    fn wait_until_after(&self, t: Timestamp) -> Result<Interval, TimeError> {
        self.waits.lock().unwrap().push(t);
        let needed = t.unix_nanos() + self.radius_ns + 1;
        self.true_ns.fetch_max(needed, Ordering::SeqCst);
        TimeSource::now(self)
    }
}

impl LocalClock for Sim {
    fn now(&self) -> LocalInstant {
        LocalInstant::from_nanos(self.true_ns.load(Ordering::SeqCst))
    }
}

/// The id for these fields with the default epoch.
fn id(unix_ms: i64, worker: u16, sequence: u16) -> u64 {
    encode(unix_ms, worker, sequence, DEFAULT_EPOCH_MS).expect("fields in range")
}

fn ms_of(id: u64) -> i64 {
    decode(id, DEFAULT_EPOCH_MS).unix_ms
}

fn assert_strictly_increasing(ids: &[u64]) {
    for (i, pair) in ids.windows(2).enumerate() {
        assert!(
            pair[0] < pair[1],
            "id {} ({:?}) is not below id {} ({:?})",
            i,
            decode(pair[0], DEFAULT_EPOCH_MS),
            i + 1,
            decode(pair[1], DEFAULT_EPOCH_MS)
        );
    }
}

#[test]
fn an_id_carries_the_millisecond_of_the_latest_end() {
    // True time 0.5 ms into the leap day, +-5 ms: latest is 5.5 ms in, so
    // millisecond 5; the earliest end (-4.5 ms) or the midpoint (0 ms)
    // would give an id a time true time may already have left.
    let sim = Sim::at(LEAP_DAY_MS * MS + MS / 2, 5 * MS);
    let ids = sim.generator(3);
    assert_eq!(ids.next_id(), Ok(id(LEAP_DAY_MS + 5, 3, 0)));
    assert_eq!(ids.next_id(), Ok(id(LEAP_DAY_MS + 5, 3, 1)));
}

#[test]
fn sequence_overflow_moves_to_the_next_millisecond_reading_the_source_once() {
    let sim = Sim::at(LEAP_DAY_MS * MS, MS);
    let ids = sim.generator(9);
    let made: Vec<u64> = (0..4097).map(|_| ids.next_id().expect("an id")).collect();
    // Latest is 1 ms into the day: 4096 ids there, then the next
    // millisecond from sequence 0, with time standing still.
    assert_eq!(made[0], id(LEAP_DAY_MS + 1, 9, 0));
    assert_eq!(made[4095], id(LEAP_DAY_MS + 1, 9, 4095));
    assert_eq!(made[4096], id(LEAP_DAY_MS + 2, 9, 0));
    assert_strictly_increasing(&made);
    // One read to check the epoch, one for the first id; the local clock
    // shows true time cannot have left the millisecond, so no more.
    assert_eq!(sim.reads.load(Ordering::SeqCst), 2);
}

#[test]
fn the_source_is_read_again_once_true_time_may_have_left_the_millisecond() {
    // True time 0.2 ms into the day, +-0.3 ms: latest is 0.5 ms in. True
    // time stays in millisecond 0 while the local clock moves less than
    // (1 ms - 1 ns - 0.5 ms) / (1 + 200 ppm) = 499 899.02 ns, so 499 899 ns.
    let sim = Sim::at(LEAP_DAY_MS * MS + 200_000, 300_000);
    let ids = sim.generator(1);
    assert_eq!(ids.next_id(), Ok(id(LEAP_DAY_MS, 1, 0)));
    let reads = sim.reads.load(Ordering::SeqCst);

    sim.advance(499_899);
    assert_eq!(ids.next_id(), Ok(id(LEAP_DAY_MS, 1, 1)));
    assert_eq!(sim.reads.load(Ordering::SeqCst), reads);

    // One nanosecond later the reading no longer vouches, and the source
    // is read again. True time has moved 499 900 ns, latest is 999 900 ns
    // into the day: still millisecond 0, as the deadline keeps 200 ppm
    // (100 ns here) in hand.
    sim.advance(1);
    assert_eq!(ids.next_id(), Ok(id(LEAP_DAY_MS, 1, 2)));
    assert_eq!(sim.reads.load(Ordering::SeqCst), reads + 1);
}

#[test]
fn a_source_stepping_back_one_second_neither_repeats_nor_decreases() {
    let sim = Sim::at(LEAP_DAY_MS * MS + MS / 2, MS);
    let ids = sim.generator(4);
    let mut made = Vec::with_capacity(30_000);
    let mut last_before_step = 0;
    // 30 000 ids, 100 us of true time apart: 3 s. After 1 s the source
    // steps back by 1 s.
    for i in 0..30_000 {
        if i == 10_000 {
            last_before_step = *made.last().expect("ids before the step");
            sim.set_fault(Fault::Offset(-SECOND));
        }
        made.push(ids.next_id().expect("an id"));
        sim.advance(100_000);
    }
    assert_strictly_increasing(&made);

    // Before the step ids followed the source: the last one was asked for
    // at true time 0.5 ms + 9 999 * 0.1 ms = 1000.4 ms, latest 1001.4 ms.
    assert_eq!(ms_of(last_before_step), LEAP_DAY_MS + 1001);
    // During the second the source lagged, ids went on from that
    // millisecond with the sequence: 10 000 ids fill 1001 and 1002 and
    // part of 1003.
    assert_eq!(ms_of(made[10_000]), LEAP_DAY_MS + 1001);
    assert_eq!(ms_of(made[19_000]), LEAP_DAY_MS + 1003);
    // Once the source was ahead again ids followed it, about ten to a
    // millisecond: the source's latest is 2001 ms for the ids asked for at
    // true times 3000.0 to 3000.4 ms, the last five, sequence 0 to 4.
    assert_eq!(*made.last().unwrap(), id(LEAP_DAY_MS + 2001, 4, 4));
}

#[test]
fn a_stalled_source_lets_ids_run_ahead_only_as_far_as_allowed() {
    let sim = Sim::at(LEAP_DAY_MS * MS + MS / 2, MS);
    let ids = sim
        .generator(5)
        .with_max_run_ahead(Duration::from_millis(5));
    let stalled_at = sim.honest();
    sim.set_fault(Fault::Stalled(stalled_at));

    // Latest is 1.5 ms into the day: millisecond 1, then five more.
    let mut made = Vec::new();
    let error = loop {
        match ids.next_id() {
            Ok(next) => made.push(next),
            Err(error) => break error,
        }
        sim.advance(1_000);
        assert!(made.len() <= 6 * 4096, "ids ran past the bound");
    };
    assert_eq!(made.len(), 6 * 4096);
    assert_eq!(made[0], id(LEAP_DAY_MS + 1, 5, 0));
    assert_eq!(*made.last().unwrap(), id(LEAP_DAY_MS + 6, 5, 4095));
    assert_strictly_increasing(&made);
    assert_eq!(
        error,
        IdError::RunAhead {
            ahead_ms: 6,
            max_run_ahead_ms: 5
        }
    );

    // The source comes back 20 ms later (true time 0.5 ms + 24 576 us +
    // 20 ms = 45.076 ms, latest 46.076 ms): ids follow it again.
    sim.advance(20 * MS);
    sim.set_fault(Fault::None);
    assert_eq!(ids.next_id(), Ok(id(LEAP_DAY_MS + 46, 5, 0)));
}

#[test]
fn a_source_jumping_ahead_is_followed_and_its_return_does_not_go_back() {
    let sim = Sim::at(LEAP_DAY_MS * MS, MS);
    let ids = sim.generator(6);
    assert_eq!(ids.next_id(), Ok(id(LEAP_DAY_MS + 1, 6, 0)));

    // 10 s ahead, seen once the millisecond has passed.
    sim.set_fault(Fault::Offset(10 * SECOND));
    sim.advance(MS);
    assert_eq!(ids.next_id(), Ok(id(LEAP_DAY_MS + 10_002, 6, 0)));

    // Back to the truth: ids stay where they were and count on.
    sim.set_fault(Fault::None);
    sim.advance(MS);
    assert_eq!(ids.next_id(), Ok(id(LEAP_DAY_MS + 10_002, 6, 1)));
}

#[test]
fn source_errors_reach_the_caller_and_ids_resume_above_the_last() {
    let sim = Sim::at(LEAP_DAY_MS * MS, MS);
    let ids = sim.generator(7);
    let before = ids.next_id().expect("an id");

    sim.set_fault(Fault::Failing(TimeError::Unsynchronized(
        "no quorum of masters".into(),
    )));
    sim.advance(2 * MS);
    let error = ids.next_id().expect_err("no time, no id");
    assert_eq!(
        error,
        IdError::Time(TimeError::Unsynchronized("no quorum of masters".into()))
    );
    assert!(error.to_string().contains("no quorum of masters"));

    sim.set_fault(Fault::None);
    let after = ids.next_id().expect("an id");
    assert!(after > before);
    assert_eq!(after, id(LEAP_DAY_MS + 3, 7, 0));
}

#[test]
fn workers_out_of_range_are_refused() {
    let sim = Sim::at(LEAP_DAY_MS * MS, MS);
    let error = SnowflakeGenerator::new(1024, DEFAULT_EPOCH_MS, sim.clone()).unwrap_err();
    assert_eq!(error, IdError::WorkerOutOfRange { worker: 1024 });
    assert!(error.to_string().contains("0 to 1023"));
    assert!(matches!(
        SnowflakeGenerator::ordered(u16::MAX, DEFAULT_EPOCH_MS, sim.clone()),
        Err(IdError::WorkerOutOfRange { worker: u16::MAX })
    ));
    let top = sim.generator(1023);
    assert_eq!(
        decode(top.next_id().unwrap(), DEFAULT_EPOCH_MS).worker,
        1023
    );
}

#[test]
fn epochs_in_the_future_or_too_far_back_are_refused() {
    // Latest is 1 ms into the day.
    let sim = Sim::at(LEAP_DAY_MS * MS, MS);
    let now_ms = LEAP_DAY_MS + 1;
    assert_eq!(
        SnowflakeGenerator::new(0, now_ms + 1, sim.clone()).unwrap_err(),
        IdError::BeforeEpoch {
            unix_ms: now_ms,
            epoch_ms: now_ms + 1
        }
    );
    // An epoch in the current millisecond is not in the future.
    let fresh = SnowflakeGenerator::new(0, now_ms, sim.clone()).expect("epoch now");
    assert_eq!(fresh.next_id(), Ok(0));
    // The 41-bit field counts 2^41 - 1 ms at most.
    let oldest = now_ms - MAX_MS as i64;
    assert!(SnowflakeGenerator::new(0, oldest, sim.clone()).is_ok());
    assert_eq!(
        SnowflakeGenerator::new(0, oldest - 1, sim.clone()).unwrap_err(),
        IdError::Exhausted {
            epoch_ms: oldest - 1
        }
    );
}

#[test]
fn a_generator_needs_a_working_source_to_start() {
    let sim = Sim::at(LEAP_DAY_MS * MS, MS);
    sim.set_fault(Fault::Failing(TimeError::Unavailable(
        "no timeslave socket".into(),
    )));
    assert_eq!(
        SnowflakeGenerator::new(0, DEFAULT_EPOCH_MS, sim.clone()).unwrap_err(),
        IdError::Time(TimeError::Unavailable("no timeslave socket".into()))
    );
}

#[test]
fn ordered_ids_wait_out_their_millisecond_once_per_batch() {
    // Latest is 1.5 ms into the day: the batch is from millisecond 1.
    let sim = Sim::at(LEAP_DAY_MS * MS + MS / 2, MS);
    let ids = sim.ordered(2);
    let batch = ids.next_ids(100).expect("a batch");
    assert_eq!(batch.len(), 100);
    assert_eq!(batch[0], id(LEAP_DAY_MS + 1, 2, 0));
    assert_eq!(batch[99], id(LEAP_DAY_MS + 1, 2, 99));
    // One wait, for the last nanosecond of millisecond 1; it left true
    // time at 2 ms - 1 ns + 1 ms + 1 ns = 3 ms, latest 4 ms.
    let end_of_1 = Timestamp::from_unix_nanos((LEAP_DAY_MS + 2) * MS - 1);
    assert_eq!(*sim.waits.lock().unwrap(), vec![end_of_1]);
    assert!(sim.honest().earliest() > end_of_1);

    // The next id carries millisecond 4 and waits it out.
    assert_eq!(ids.next_id(), Ok(id(LEAP_DAY_MS + 4, 2, 0)));
    let end_of_4 = Timestamp::from_unix_nanos((LEAP_DAY_MS + 5) * MS - 1);
    assert_eq!(*sim.waits.lock().unwrap(), vec![end_of_1, end_of_4]);
}

#[test]
fn ordered_mode_keeps_real_time_order_that_plain_ids_break() {
    // Two workers, one world. Worker 2 is asked first, worker 1 after its
    // id was handed out.
    let sim = Sim::at(LEAP_DAY_MS * MS, MS);
    let (first, second) = (sim.generator(2), sim.generator(1));
    let a = first.next_id().unwrap();
    let b = second.next_id().unwrap();
    // Plain ids: the same millisecond, and worker 1 sorts below worker 2.
    assert!(b < a, "plain ids were expected to break the order here");

    let sim = Sim::at(LEAP_DAY_MS * MS, MS);
    let (first, second) = (sim.ordered(2), sim.ordered(1));
    let a = first.next_id().unwrap();
    let b = second.next_id().unwrap();
    assert!(a < b, "{:?} then {:?}", decode(a, 0), decode(b, 0));
    assert_eq!(ms_of(b), ms_of(a) + 3);
}

/// The host's `CLOCK_REALTIME` +-1 ms: a realistic width around a clock
/// that moves on its own.
struct HostClock;

impl TimeSource for HostClock {
    fn now(&self) -> Result<Interval, TimeError> {
        Ok(Interval::around(
            Timestamp::from_unix_nanos(tt_clock::realtime_ns()),
            MS,
        ))
    }
}

#[test]
fn ordered_ids_from_two_workers_follow_real_time() {
    let source: Arc<dyn TimeSource> = Arc::new(HostClock);
    // The second worker has the smaller id, so without the wait an id it
    // makes in the same millisecond would sort first.
    let first = SnowflakeGenerator::ordered(1, DEFAULT_EPOCH_MS, source.clone()).unwrap();
    let second = SnowflakeGenerator::ordered(0, DEFAULT_EPOCH_MS, source).unwrap();
    let (to_second, at_second) = mpsc::channel::<u64>();
    let (to_first, at_first) = mpsc::channel::<u64>();
    let rounds = 100;

    std::thread::scope(|scope| {
        let second = &second;
        scope.spawn(move || {
            for _ in 0..rounds {
                let previous = at_second.recv().expect("first is running");
                let mine = second.next_id().expect("an id");
                assert!(mine > previous, "{mine} after {previous}");
                to_first.send(mine).expect("first is running");
            }
        });
        let mut previous = 0;
        for _ in 0..rounds {
            let mine = first.next_id().expect("an id");
            assert!(mine > previous, "{mine} after {previous}");
            to_second.send(mine).expect("second is running");
            previous = at_first.recv().expect("second is running");
        }
    });
}

#[test]
fn an_overload_is_slowed_to_the_source_not_refused() {
    // Batches reserve 4096 ids at a time, far faster than 4096 per ms:
    // 100 ms worth with a 20 ms allowance must sleep, not fail.
    let source: Arc<dyn TimeSource> = Arc::new(HostClock);
    let ids = SnowflakeGenerator::new(8, DEFAULT_EPOCH_MS, source)
        .unwrap()
        .with_max_run_ahead(Duration::from_millis(20));
    let batch = ids.next_ids(100 * 4096).expect("sleeps, then ids");
    assert_strictly_increasing(&batch);
    let latest_after_ms = HostClock.now().unwrap().latest().unix_nanos() / MS;
    assert!(ms_of(*batch.last().unwrap()) <= latest_after_ms + 20);
}

#[test]
fn threads_sharing_a_generator_get_distinct_increasing_ids() {
    let sim = Sim::at(LEAP_DAY_MS * MS, MS);
    let ids = sim
        .generator(10)
        .with_max_run_ahead(Duration::from_secs(3600));
    let per_thread: Vec<Vec<u64>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    (0..50_000)
                        .map(|_| {
                            sim.advance(10);
                            ids.next_id().expect("an id")
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let mut all = Vec::new();
    for made in &per_thread {
        assert_strictly_increasing(made);
        all.extend_from_slice(made);
    }
    all.sort_unstable();
    assert_strictly_increasing(&all);
}

proptest! {
    #[test]
    fn decode_inverts_encode(
        epoch_ms in -(1i64 << 45)..(1i64 << 45),
        ms in 0..=MAX_MS,
        worker in 0u16..=1023,
        sequence in 0u16..=4095,
    ) {
        let unix_ms = epoch_ms + ms as i64;
        let made = encode(unix_ms, worker, sequence, epoch_ms).expect("in range");
        prop_assert!(made <= i64::MAX as u64, "the sign bit stays clear");
        let fields = decode(made, epoch_ms);
        prop_assert_eq!((fields.unix_ms, fields.worker, fields.sequence), (unix_ms, worker, sequence));
    }

    #[test]
    fn ids_order_by_millisecond_then_worker_then_sequence(
        a in (0..=MAX_MS, 0u16..=1023, 0u16..=4095),
        b in (0..=MAX_MS, 0u16..=1023, 0u16..=4095),
    ) {
        let id_a = encode(a.0 as i64, a.1, a.2, 0).unwrap();
        let id_b = encode(b.0 as i64, b.1, b.2, 0).unwrap();
        prop_assert_eq!(id_a.cmp(&id_b), a.cmp(&b));
    }
}

#[test]
fn a_generator_for_the_same_worker_made_after_one_is_dropped_repeats_none_of_its_ids() {
    // Time stands still while the first generator makes 50 000 ids: they
    // run 12 ms ahead of `latest` (4096 a millisecond). A second one made
    // at the same true time would start again at `latest`'s millisecond.
    // Dropping the first waits (here: moves true time) until `earliest` is
    // past its last millisecond, so the second starts after it.
    let sim = Sim::at(LEAP_DAY_MS * MS, 10 * MS);
    let first = sim.generator(4);
    let made = first.next_ids(50_000).unwrap();
    let last = *made.last().unwrap();
    assert_eq!(ms_of(last), ms_of(made[0]) + 50_000 / 4096);
    drop(first);
    assert_eq!(
        sim.waits.lock().unwrap().last().map(|t| t.unix_nanos()),
        Some((ms_of(last) + 1) * MS - 1),
        "the drop waits for the end of the last millisecond"
    );
    let second = sim.generator(4);
    let next = second.next_id().unwrap();
    assert!(
        next > last,
        "{:?} after {:?}",
        decode(next, 0),
        decode(last, 0)
    );
}

#[test]
fn retiring_waits_only_when_ids_may_lie_ahead_of_true_time() {
    let sim = Sim::at(LEAP_DAY_MS * MS, 10 * MS);
    // No id made: nothing to wait for.
    sim.generator(1).retire().unwrap();
    // Ordered ids waited out their millisecond already.
    let ordered = sim.ordered(2);
    ordered.next_id().unwrap();
    let waits = sim.waits.lock().unwrap().len();
    ordered.retire().unwrap();
    drop(ordered);
    assert_eq!(sim.waits.lock().unwrap().len(), waits);
    // A failing source: retire says that no promise could be made.
    let plain = sim.generator(3);
    plain.next_id().unwrap();
    sim.set_fault(Fault::Failing(TimeError::Unavailable(
        "slave stopped".into(),
    )));
    assert!(matches!(plain.retire(), Err(IdError::Time(_))));
    sim.set_fault(Fault::None);
}
