//! A GPS receiver as gpsd reports it: for every second, a PPS message for
//! the edge at its top and a TPV with the serial time of that second, each
//! stamped with the master host's wall clock (`CLOCK_REALTIME`) the way
//! gpsd stamps them. The lines are the JSON gpsd writes; the master feeds
//! them to the real gpsd session of `tt_hw::gpsd`.
//!
//! A receiver spoofed by `s` reports the second labelled `T` at physical
//! `T + s` (PPS edge and serial sentence alike): its time is `s` late.

use crate::truth::iso8601;

/// How a receiver and gpsd behave when nothing is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiverSpec {
    /// gpsd stamps the serial time of second `T` at `T + d`, `d` uniform
    /// in `[serial_low_ns, serial_high_ns]` (must lie inside the delay
    /// range the master is configured with).
    pub serial_low_ns: i64,
    /// Upper end of `d`, ns.
    pub serial_high_ns: i64,
    /// Whether gpsd sends PPS messages.
    pub pps: bool,
    /// A line reaches the driver this long after gpsd stamped what it
    /// reports: uniform in `[line_low_ns, line_high_ns]`.
    pub line_low_ns: i64,
    /// Upper end of the line latency, ns.
    pub line_high_ns: i64,
}

/// Seconds and nanoseconds as gpsd prints a decimal time: `S.NNNNNNNNN`.
fn decimal(ns: i64) -> String {
    format!(
        "{}.{:09}",
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000)
    )
}

/// A TPV with a 3D fix for the second labelled `label_ns`, received when
/// the wall clock read `rtime_ns`.
pub fn tpv_line(label_ns: i64, rtime_ns: i64) -> String {
    format!(
        "{{\"class\":\"TPV\",\"device\":\"/dev/ttyS0\",\"mode\":3,\"time\":\"{}\",\"ept\":0.005,\"rtime\":{}}}",
        iso8601(label_ns),
        decimal(rtime_ns)
    )
}

/// A TPV without a fix (mode 1), received when the wall clock read
/// `rtime_ns`.
pub fn no_fix_line(rtime_ns: i64) -> String {
    format!(
        "{{\"class\":\"TPV\",\"device\":\"/dev/ttyS0\",\"mode\":1,\"rtime\":{}}}",
        decimal(rtime_ns)
    )
}

/// A PPS message for the edge of the second labelled `label_ns`, which the
/// kernel saw when the wall clock read `clock_ns`; precision 2^-20 s, what
/// gpsd 3.22 reports for a serial line.
pub fn pps_line(label_ns: i64, clock_ns: i64) -> String {
    format!(
        "{{\"class\":\"PPS\",\"device\":\"/dev/ttyS0\",\"real_sec\":{},\"real_nsec\":{},\"clock_sec\":{},\"clock_nsec\":{},\"precision\":-20}}",
        label_ns.div_euclid(1_000_000_000),
        label_ns.rem_euclid(1_000_000_000),
        clock_ns.div_euclid(1_000_000_000),
        clock_ns.rem_euclid(1_000_000_000)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tt_clock::ClockPair;
    use tt_core::LocalInstant;
    use tt_hw::gpsd::{GpsdConfig, Outcome, Session};

    const S: i64 = 1_000_000_000;

    /// The lines go through the real session: a TPV gives the delay range
    /// at arrival, a PPS edge confirmed by it gives the edge's interval.
    #[test]
    fn the_real_session_takes_the_lines() {
        let label = 1_772_323_200 * S; // 2026-03-01T00:00:00Z
        let offset = label - 10 * S; // wall clock minus local
        let pair = |local: i64| ClockPair {
            realtime_ns: local + offset,
            local_before: LocalInstant::from_nanos(local),
            local_after: LocalInstant::from_nanos(local),
        };
        let config = GpsdConfig {
            min_delay_ns: 100_000_000,
            max_delay_ns: 300_000_000,
            ..GpsdConfig::default()
        };
        let mut session = Session::new(config, pair(8 * S));
        // The fix of the second before, stamped at local 9.2 s.
        let before = 9 * S + 200_000_000;
        session.on_line(
            tpv_line(label - S, before + offset).as_bytes(),
            pair(before + 1_000),
        );
        // The edge at local 10 s, its line read 1 us later.
        let held = session.on_line(
            pps_line(label, 10 * S + offset).as_bytes(),
            pair(10 * S + 1_000),
        );
        assert!(matches!(held.as_slice(), [Outcome::Held(_)]), "{held:?}");
        // The TPV stamped at local 10.2 s, read 1 us later.
        let stamp = 10 * S + 200_000_000;
        let taken = session.on_line(
            tpv_line(label, stamp + offset).as_bytes(),
            pair(stamp + 1_000),
        );
        let samples: Vec<_> = taken
            .iter()
            .filter_map(|o| match o {
                Outcome::Taken(t) => Some(t.sample),
                _ => None,
            })
            .collect();
        assert_eq!(samples.len(), 2, "{taken:?}");
        // Serial: [T + 100 ms - q - w, T + 300 ms + q + w] with q = 1 ms.
        assert!(samples[0].interval.earliest().unix_nanos() <= label + 99_000_000);
        assert!(samples[0].interval.latest().unix_nanos() >= label + 301_000_000);
        assert_eq!(samples[0].local.nanos(), stamp);
        // PPS: around the label within a few microseconds, at the edge.
        assert_eq!(samples[1].local.nanos(), 10 * S);
        assert!(samples[1]
            .interval
            .contains(tt_core::Timestamp::from_unix_nanos(label)));
        assert!(samples[1].interval.width_ns() < 5_000);
        let lost = session.on_line(no_fix_line(stamp + S + offset).as_bytes(), pair(stamp + S));
        assert!(
            lost.iter().any(|o| matches!(o, Outcome::NoFix(_))),
            "{lost:?}"
        );
    }
}
