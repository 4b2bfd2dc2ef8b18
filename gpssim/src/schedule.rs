//! When to write each second's sentences.
//!
//! A receiver finishes computing the fix for second `S` a little after `S`
//! and then sends it, so the sentences labelled `S` leave at `S + delay`.
//! The simulator reproduces that against `CLOCK_REALTIME`: it sleeps until
//! `S·10⁹ + delay_ns` (an absolute deadline, so the sleep never ends early)
//! and then writes.

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// One second's due instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tick {
    /// The UTC second `S` (seconds since the Unix epoch) the sentences are for.
    pub second: i64,
    /// `S·10⁹ + delay_ns`: the realtime instant, in nanoseconds since the
    /// epoch, at which they are written.
    pub due_ns: i64,
}

/// The first second whose due instant lies strictly after `now_ns`.
///
/// `S = ⌊(now_ns − delay_ns) / 10⁹⌋ + 1`, so `due_ns − now_ns` is in
/// `(0, 10⁹]` nanoseconds.
pub fn next_tick(now_ns: i64, delay_ns: i64) -> Tick {
    let second = (now_ns - delay_ns).div_euclid(NANOS_PER_SECOND) + 1;
    Tick {
        second,
        due_ns: second * NANOS_PER_SECOND + delay_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;
    const S: i64 = 1_000_000_000;

    #[test]
    fn due_instant_is_the_next_second_plus_delay() {
        // Just after second 10 began, before its delay has passed: second 10
        // is still to be written.
        assert_eq!(
            next_tick(10 * S + MS, 50 * MS),
            Tick {
                second: 10,
                due_ns: 10 * S + 50 * MS
            }
        );
        // Exactly at second 10's due instant: it counts as written, the
        // next one is second 11.
        assert_eq!(next_tick(10 * S + 50 * MS, 50 * MS).second, 11);
        // Half a second in: second 11.
        assert_eq!(
            next_tick(10 * S + 500 * MS, 50 * MS),
            Tick {
                second: 11,
                due_ns: 11 * S + 50 * MS
            }
        );
        // No delay, exactly on a boundary: the next boundary.
        assert_eq!(next_tick(10 * S, 0).due_ns, 11 * S);
    }

    #[test]
    fn due_instant_is_always_ahead_by_at_most_a_second() {
        for now in [0, 1, 49 * MS, 50 * MS, 51 * MS, 999 * MS, S, 123 * S + 7] {
            for delay in [0, 50 * MS, 999 * MS] {
                let tick = next_tick(now, delay);
                assert!(tick.due_ns > now, "now {now} delay {delay}");
                assert!(tick.due_ns - now <= S, "now {now} delay {delay}");
                assert_eq!(tick.due_ns - tick.second * S, delay);
            }
        }
    }
}
