//! Commit-wait overshoot: how long after the first instant it could have
//! returned (`L*`, the first local instant at which the record's `earliest`
//! exceeds `t`) `TrueTime::wait_until_after` actually returns, over a
//! shared-memory record written by the timeslave's publisher.
//!
//! Each wait asks for `t = now().latest + u`, `u` spread over 0 to 500 us,
//! so every wait sleeps and spins through the interval's width and `u`.
//! `L*` comes from the record the bench wrote
//! (`tt_client::commit_wait::first_instant_after`); the return instant is
//! a `CLOCK_BOOTTIME` read right after the call. The percentiles are
//! printed, with the spin window the waits learnt, and beside them the
//! floor: the same spread of instants reached by spinning on the clock
//! alone. Criterion then times the call for an instant already past (the
//! cost of a commit-wait that need not wait).
//!
//! cargo bench -p tt-benches --bench commit_wait -- --warm-up-time 1 --measurement-time 3

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::PathBuf;
use timeslave::publish::Publisher;
use tt_client::commit_wait::{first_instant_after, spin_window_ns};
use tt_client::TrueTime;
use tt_core::shm::Published;
use tt_core::{Drift, Interval, Sample, Timestamp};

const WAITS: usize = 3_000;

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh 20 us wide record, sampled now; returns its sample.
fn renew(publisher: &Publisher) -> Sample {
    let local = tt_clock::boottime();
    let realtime = tt_clock::realtime_ns();
    let sample = Sample::new(
        local,
        Interval::from_unix_nanos(realtime - 10_000, realtime + 10_000).expect("ordered"),
    );
    publisher.publish(Published::Synchronized {
        sample,
        drift: Drift::DEFAULT,
        void_after: local.saturating_add_nanos(3_600_000_000_000),
        boot: publisher.boot(),
    });
    sample
}

fn percentile(sorted: &[i64], p: usize) -> i64 {
    sorted[(sorted.len() - 1) * p / 100]
}

fn commit_wait(c: &mut Criterion) {
    let dir = TempDir(std::env::temp_dir().join(format!("tt-bench-wait-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("temp dir");
    let path = dir.0.join("slave.shm");
    let publisher = Publisher::create(&path).expect("record file");
    let mut sample = renew(&publisher);
    let tt = TrueTime::open_path(&path).expect("open record");

    let mut overshoot_ns = Vec::with_capacity(WAITS);
    let mut spread: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..WAITS {
        if round % 100 == 0 {
            sample = renew(&publisher);
        }
        spread ^= spread << 13;
        spread ^= spread >> 7;
        spread ^= spread << 17;
        let offset_ns = i64::try_from(spread % 500_000).expect("small");
        let latest = tt.now().expect("synchronized").latest().unix_nanos();
        let t = Timestamp::from_unix_nanos(latest + offset_ns);
        let first_possible = first_instant_after(sample, Drift::DEFAULT, t).expect("reachable");
        let returned = tt.wait_until_after(t).expect("waits");
        let back = tt_clock::boottime();
        assert!(returned.earliest() > t);
        overshoot_ns.push(back.nanos_since(first_possible));
    }
    overshoot_ns.sort_unstable();
    let us = |ns: i64| ns as f64 / 1_000.0;
    println!(
        "commit-wait overshoot over {WAITS} waits: p50 {:.1} us, p90 {:.1} us, p99 {:.1} us, \
         max {:.1} us; spin window learnt {:.1} us",
        us(percentile(&overshoot_ns, 50)),
        us(percentile(&overshoot_ns, 90)),
        us(percentile(&overshoot_ns, 99)),
        us(*overshoot_ns.last().expect("waits ran")),
        us(spin_window_ns()),
    );

    // The floor: the same spread of instants, reached by spinning on the
    // clock from the start (no sleep at all). What this overshoots by is
    // the time the thread was off its CPU at the instant (interrupts, the
    // hypervisor), which no way of waiting avoids.
    let mut floor_ns = Vec::with_capacity(WAITS);
    for _ in 0..WAITS {
        spread ^= spread << 13;
        spread ^= spread >> 7;
        spread ^= spread << 17;
        let offset_ns = i64::try_from(spread % 500_000).expect("small");
        let target = tt_clock::boottime().saturating_add_nanos(offset_ns);
        let mut read = tt_clock::boottime();
        while read < target {
            read = tt_clock::boottime();
        }
        floor_ns.push(read.nanos_since(target));
    }
    floor_ns.sort_unstable();
    println!(
        "spinning on the clock to the same spread of instants: p50 {:.1} us, p90 {:.1} us, \
         p99 {:.1} us, max {:.1} us",
        us(percentile(&floor_ns, 50)),
        us(percentile(&floor_ns, 90)),
        us(percentile(&floor_ns, 99)),
        us(*floor_ns.last().expect("spins ran")),
    );

    renew(&publisher);
    let mut group = c.benchmark_group("commit_wait");
    group.bench_function("wait_until_after, instant already past", |b| {
        b.iter(|| black_box(tt.wait_until_after(Timestamp::from_unix_nanos(0))))
    });
    group.finish();
}

criterion_group!(benches, commit_wait);
criterion_main!(benches);
