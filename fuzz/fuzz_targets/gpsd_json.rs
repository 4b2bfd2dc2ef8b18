//! gpsd's JSON lines into the gpsd source's session: arbitrary bytes, cut
//! into lines at `\n`, each received 10 ms after the one before on a
//! steady (wall, local) clock pair. Whatever comes in: no panic, and every
//! sample taken is an interval in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tt_clock::ClockPair;
use tt_core::LocalInstant;
use tt_hw::gpsd::{GpsdConfig, Outcome, Session};

/// The wall clock sits this far ahead of the local timebase.
const WALL_MINUS_LOCAL_NS: i64 = 1_700_000_000_000_000_000;

fn pair(local_ns: i64) -> ClockPair {
    ClockPair {
        realtime_ns: local_ns + WALL_MINUS_LOCAL_NS,
        local_before: LocalInstant::from_nanos(local_ns),
        local_after: LocalInstant::from_nanos(local_ns + 1_000),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut local_ns = 1_000_000_000i64;
    let mut session = Session::new(GpsdConfig::default(), pair(local_ns));
    for line in data.split(|&b| b == b'\n') {
        local_ns += 10_000_000;
        for outcome in session.on_line(line, pair(local_ns)) {
            if let Outcome::Taken(taken) = outcome {
                let interval = taken.sample.interval;
                assert!(interval.earliest() <= interval.latest());
            }
        }
    }
});
