//! Commit-wait on a record the test writes: it never returns before
//! `now().earliest > t`, checked on the interval it returns (which must be
//! the record carried to an instant inside the call) and on an interval
//! read after it returns.

mod record;

use record::{boottime_ns, carried_to, overwrite, write, Fields, TempDir};
use tt_client::{TrueTime, TrueTimeError};
use tt_core::Timestamp;

/// 2026-12-04T16:00:00Z, nanoseconds.
const TRUTH_NS: i64 = 1_796_400_000_000_000_000;
const DRIFT_PPB: u64 = 200_000;
const MINUTE_NS: i64 = 60_000_000_000;

/// A fresh record: sampled now, `width_ns` wide, valid for a minute.
fn fresh(width_ns: i64) -> Fields {
    let local = boottime_ns();
    // Truth advances with the local clock from the first record on.
    let earliest = TRUTH_NS + local;
    Fields::synchronized(
        local,
        earliest,
        earliest + width_ns,
        DRIFT_PPB,
        local + MINUTE_NS,
    )
}

/// xorshift64: reproducible offsets without a crate.
struct Offsets(u64);

impl Offsets {
    fn next_below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

#[test]
fn five_thousand_waits_never_return_early() {
    let dir = TempDir::new("waits");
    let path = dir.join("slave.shm");
    let mut fields = fresh(20_000);
    write(&path, &fields.bytes());
    let tt = TrueTime::open_path(&path).expect("open");
    let mut offsets = Offsets(0x9e37_79b9_7f4a_7c15);

    for round in 0..5_000 {
        // A new record every 250 waits keeps the interval narrow (it widens
        // 400 ns per ms at 200 ppm). Written between waits, never during.
        if round % 250 == 0 && round > 0 {
            fields = fresh(20_000);
            overwrite(&path, &fields.bytes());
        }

        // t just past the current upper end: 0 to 50 us, so every wait
        // covers the interval's width and a bit.
        let latest = tt.now().expect("synchronized").latest().unix_nanos();
        let offset = i64::try_from(offsets.next_below(50_000)).unwrap();
        let t = Timestamp::from_unix_nanos(latest + offset);

        let called = boottime_ns();
        let returned = tt.wait_until_after(t).expect("waits");
        let done = boottime_ns();
        let after = tt.now().expect("synchronized");

        assert!(
            returned.earliest() > t,
            "round {round}: returned {returned} for t = {t}"
        );
        assert!(
            after.earliest() > t,
            "round {round}: read {after} after waiting for {t}"
        );
        // The returned interval is the record carried to an instant of the
        // call, not an invented one.
        carried_to(
            &fields,
            returned.earliest().unix_nanos(),
            returned.latest().unix_nanos(),
            called,
            done,
        );
    }
}

#[test]
fn a_past_instant_returns_at_once_with_the_current_interval() {
    let dir = TempDir::new("past");
    let path = dir.join("slave.shm");
    let fields = fresh(1_000);
    write(&path, &fields.bytes());
    let tt = TrueTime::open_path(&path).expect("open");
    let t = Timestamp::from_unix_nanos(fields.earliest_ns - 1);
    let called = boottime_ns();
    let returned = tt.wait_until_after(t).expect("no wait");
    carried_to(
        &fields,
        returned.earliest().unix_nanos(),
        returned.latest().unix_nanos(),
        called,
        boottime_ns(),
    );
}

#[test]
fn a_record_that_goes_void_ends_the_wait_with_an_error() {
    let dir = TempDir::new("void");
    let path = dir.join("slave.shm");
    // Valid for 30 ms more; the wait is for an instant 10 s ahead.
    let local = boottime_ns();
    let fields = Fields::synchronized(
        local,
        TRUTH_NS,
        TRUTH_NS + 10,
        DRIFT_PPB,
        local + 30_000_000,
    );
    write(&path, &fields.bytes());
    let tt = TrueTime::open_path(&path).expect("open");
    let error = tt
        .wait_until_after(Timestamp::from_unix_nanos(TRUTH_NS + 10_000_000_000))
        .expect_err("the record dies first");
    assert!(
        matches!(
            error,
            TrueTimeError::Record(tt_core::shm::ShmError::Void { .. })
        ),
        "{error:?}"
    );
}

#[test]
fn a_drift_bound_of_a_hundred_percent_cannot_wait() {
    let dir = TempDir::new("rho1");
    let path = dir.join("slave.shm");
    let local = boottime_ns();
    let fields = Fields::synchronized(
        local,
        TRUTH_NS,
        TRUTH_NS + 10,
        1_000_000_000,
        local + MINUTE_NS,
    );
    write(&path, &fields.bytes());
    let tt = TrueTime::open_path(&path).expect("open");
    let error = tt
        .wait_until_after(Timestamp::from_unix_nanos(TRUTH_NS + 1_000))
        .expect_err("earliest never moves");
    assert!(matches!(error, TrueTimeError::CannotWait(_)), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_waits_never_return_early_either() {
    let dir = TempDir::new("async");
    let path = dir.join("slave.shm");
    let fields = fresh(20_000);
    write(&path, &fields.bytes());
    let tt = TrueTime::open_path(&path).expect("open");
    let mut offsets = Offsets(0x2545_f491_4f6c_dd1d);

    // Short waits (handed to the blocking thread at once) and a few of
    // 3 to 5 ms (tokio's timer first).
    for round in 0..200 {
        let latest = tt.now().expect("synchronized").latest().unix_nanos();
        let extra = if round % 50 == 0 { 3_000_000 } else { 0 };
        let offset = i64::try_from(offsets.next_below(2_000_000)).unwrap() + extra;
        let t = Timestamp::from_unix_nanos(latest + offset);
        let called = boottime_ns();
        let returned = tt.wait_until_after_async(t).await.expect("waits");
        let done = boottime_ns();
        assert!(returned.earliest() > t, "round {round}: {returned} for {t}");
        assert!(tt.now().unwrap().earliest() > t);
        carried_to(
            &fields,
            returned.earliest().unix_nanos(),
            returned.latest().unix_nanos(),
            called,
            done,
        );
    }
}
