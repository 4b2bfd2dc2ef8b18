//! tt-shm-writer: publishes records as fast as it can through the
//! timeslave's own writer, for the torn-read test in another process.
//!
//!     tt-shm-writer PATH SECONDS
//!
//! Record `n` (n = 1, 2, ...) has every field a different function of `n`
//! (see [`record`]), so a copy mixing two writes breaks one of the
//! relations the reader checks. Every seventh write is `Unsynchronized`,
//! which touches only the status and void-after words. Prints the number
//! of writes when done.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use timeslave::publish::Publisher;
use tt_core::shm::{BootId, Published};
use tt_core::{Drift, Interval, LocalInstant, Sample};

/// Record `n`: local `n`, earliest `3n + 11`, latest `earliest + n % 997`,
/// drift `n xor 0x5555`, void after `2n + 7`.
fn record(n: i64, boot: BootId) -> Published {
    let earliest = 3 * n + 11;
    let latest = earliest + n % 997;
    Published::Synchronized {
        sample: Sample::new(
            LocalInstant::from_nanos(n),
            Interval::from_unix_nanos(earliest, latest).expect("latest >= earliest"),
        ),
        drift: Drift::from_ppb(n.unsigned_abs() ^ 0x5555),
        void_after: LocalInstant::from_nanos(2 * n + 7),
        boot,
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(seconds)) = (args.get(1), args.get(2).and_then(|s| s.parse().ok()))
    else {
        eprintln!("tt-shm-writer: usage: tt-shm-writer PATH SECONDS");
        return ExitCode::from(2);
    };
    let publisher = match Publisher::create(Path::new(path)) {
        Ok(publisher) => publisher,
        Err(e) => {
            eprintln!("tt-shm-writer: {e}");
            return ExitCode::from(1);
        }
    };
    let boot = publisher.boot();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut n: i64 = 0;
    while Instant::now() < deadline {
        // A batch between clock looks keeps the writes back to back.
        for _ in 0..1_000 {
            n += 1;
            if n % 7 == 0 {
                publisher.publish(Published::Unsynchronized);
            } else {
                publisher.publish(record(n, boot));
            }
        }
    }
    println!("{n}");
    ExitCode::SUCCESS
}
