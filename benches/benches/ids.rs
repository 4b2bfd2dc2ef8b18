//! Snowflake id generation: one thread, four threads sharing one
//! generator, and batches, next to the clock reads it is built on.
//!
//! The time source is the host's `CLOCK_REALTIME` +-1 ms: as cheap as a
//! source gets (one vDSO clock read), so the figures are the generator's
//! own cost. The generator reads it about once per millisecond and reads
//! `CLOCK_BOOTTIME` for every id.
//!
//! ```sh
//! cargo bench -p tt-benches --bench ids -- --warm-up-time 1 --measurement-time 3
//! ```

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tt_client::ids::{SnowflakeGenerator, DEFAULT_EPOCH_MS};
use tt_client::{TimeError, TimeSource};
use tt_core::{Interval, Timestamp};

/// The host's `CLOCK_REALTIME` +-1 ms.
struct Realtime;

impl TimeSource for Realtime {
    fn now(&self) -> Result<Interval, TimeError> {
        Ok(Interval::around(
            Timestamp::from_unix_nanos(tt_clock::realtime_ns()),
            1_000_000,
        ))
    }
}

/// A generator that may run a year ahead: it never sleeps, so what is
/// measured is the cost of making an id, not the format's ceiling.
fn unbounded(worker: u16) -> SnowflakeGenerator {
    SnowflakeGenerator::new(worker, DEFAULT_EPOCH_MS, Arc::new(Realtime))
        .expect("a generator")
        .with_max_run_ahead(Duration::from_secs(365 * 86_400))
}

fn clocks(c: &mut Criterion) {
    let mut group = c.benchmark_group("clock");
    group.throughput(Throughput::Elements(1));
    group.bench_function("clock_gettime_boottime", |b| {
        b.iter(|| black_box(tt_clock::boottime()))
    });
    group.bench_function("clock_gettime_realtime", |b| {
        b.iter(|| black_box(tt_clock::realtime_ns()))
    });
    group.finish();
}

fn ids(c: &mut Criterion) {
    let mut group = c.benchmark_group("ids");
    group.throughput(Throughput::Elements(1));

    let generator = unbounded(1);
    group.bench_function("next_id_one_thread", |b| {
        b.iter(|| black_box(generator.next_id().expect("an id")))
    });

    // The default 1 s run-ahead: past it the generator sleeps, so over
    // seconds this shows the format's ceiling of 4096 ids per millisecond.
    let sustained =
        SnowflakeGenerator::new(2, DEFAULT_EPOCH_MS, Arc::new(Realtime)).expect("a generator");
    group.bench_function("next_id_one_thread_sustained", |b| {
        b.iter(|| black_box(sustained.next_id().expect("an id")))
    });

    let shared = unbounded(3);
    for threads in [2u64, 4] {
        group.bench_function(format!("next_id_{threads}_threads_shared"), |b| {
            b.iter_custom(|iters| {
                let per_thread = iters.div_ceil(threads);
                let started = Instant::now();
                std::thread::scope(|scope| {
                    for _ in 0..threads {
                        scope.spawn(|| {
                            for _ in 0..per_thread {
                                black_box(shared.next_id().expect("an id"));
                            }
                        });
                    }
                });
                started.elapsed()
            })
        });
    }

    let batches = unbounded(4);
    group.throughput(Throughput::Elements(4096));
    group.bench_function("next_ids_4096", |b| {
        b.iter(|| black_box(batches.next_ids(4096).expect("ids")))
    });
    group.finish();

    // Dropped, each generator would wait until true time passes its last
    // id, which the unbounded ones put seconds ahead; no generator for
    // these workers follows in this process, so the wait is skipped.
    for generator in [generator, sustained, shared, batches] {
        std::mem::forget(generator);
    }
}

criterion_group!(benches, clocks, ids);
criterion_main!(benches);
