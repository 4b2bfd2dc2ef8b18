//! Instants on the two time axes, and the drift bound between them.

use std::fmt;

/// Nanoseconds in one second.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;

/// An instant of true time: UTC nanoseconds since 1970-01-01T00:00:00Z.
///
/// An `i64` of nanoseconds spans the years 1677 to 2262. Arithmetic on it
/// saturates instead of wrapping, so a garbage input can make an interval
/// wide but never turn it inside out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `nanos` nanoseconds after the Unix epoch.
    pub const fn from_unix_nanos(nanos: i64) -> Self {
        Timestamp(nanos)
    }

    /// Whole seconds and a nanosecond part (which may be any value; it is
    /// normalised by addition). Saturates at the ends of the range.
    pub fn from_parts(secs: i64, nanos: i64) -> Self {
        Timestamp(secs.saturating_mul(NANOS_PER_SEC).saturating_add(nanos))
    }

    /// Nanoseconds since the Unix epoch.
    pub const fn unix_nanos(self) -> i64 {
        self.0
    }

    /// This instant moved by `delta_ns`, saturating at the ends of the range.
    pub const fn saturating_add_nanos(self, delta_ns: i64) -> Self {
        Timestamp(self.0.saturating_add(delta_ns))
    }
}

impl fmt::Display for Timestamp {
    /// Formats as `seconds.nanoseconds` since the epoch (UTC).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(NANOS_PER_SEC);
        let nanos = self.0.rem_euclid(NANOS_PER_SEC);
        write!(f, "{secs}.{nanos:09}")
    }
}

/// An instant of this host's local timebase (`CLOCK_BOOTTIME`), in
/// nanoseconds since boot. Only differences between two local instants of
/// the same boot mean anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalInstant(i64);

impl LocalInstant {
    /// The local instant `nanos` nanoseconds after the counter's origin.
    pub const fn from_nanos(nanos: i64) -> Self {
        LocalInstant(nanos)
    }

    /// Nanoseconds since the counter's origin.
    pub const fn nanos(self) -> i64 {
        self.0
    }

    /// `self - earlier` in nanoseconds (negative if `earlier` is later),
    /// saturating.
    pub const fn nanos_since(self, earlier: LocalInstant) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// This instant moved by `delta_ns`, saturating.
    pub const fn saturating_add_nanos(self, delta_ns: i64) -> Self {
        LocalInstant(self.0.saturating_add(delta_ns))
    }
}

/// A bound on the rate error of a clock against true time, in parts per
/// billion (1 ppm = 1000 ppb).
///
/// Over a local span of `d` nanoseconds, true time advances by somewhere in
/// `[d (1 - rho), d (1 + rho)]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Drift {
    ppb: u64,
}

impl Drift {
    /// 200 ppm: the bound Spanner assumes for a server's crystal, and the
    /// default for every local timebase here.
    pub const DEFAULT: Drift = Drift { ppb: 200_000 };

    /// A drift bound in parts per billion.
    pub const fn from_ppb(ppb: u64) -> Self {
        Drift { ppb }
    }

    /// A drift bound in parts per million.
    pub const fn from_ppm(ppm: u64) -> Self {
        Drift {
            ppb: ppm.saturating_mul(1000),
        }
    }

    /// The bound in parts per billion.
    pub const fn ppb(self) -> u64 {
        self.ppb
    }

    /// The most a clock can have drifted over `span_ns` local nanoseconds:
    /// `ceil(|span_ns| * rho)`, rounded up so a bound never shrinks.
    #[inline]
    pub fn error_over(self, span_ns: i64) -> i64 {
        // While the product fits in 64 bits (at 200 ppm, spans up to 25
        // hours) the same rounding in 64-bit arithmetic: a division of a
        // u64 by a constant compiles to a multiplication, a u128 one to a
        // library call. This sits on the path of every `now()` a client
        // reads from shared memory.
        if let Some(product) = span_ns.unsigned_abs().checked_mul(self.ppb) {
            return i64::try_from(product.div_ceil(1_000_000_000)).unwrap_or(i64::MAX);
        }
        let span = i128::from(span_ns).unsigned_abs();
        let ppb = u128::from(self.ppb);
        let err = (span * ppb).div_ceil(1_000_000_000);
        i64::try_from(err).unwrap_or(i64::MAX)
    }
}

impl Default for Drift {
    fn default() -> Self {
        Drift::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_error_rounds_up() {
        // 200 ppm of 1 s is exactly 200 us.
        assert_eq!(Drift::from_ppm(200).error_over(NANOS_PER_SEC), 200_000);
        // 200 ppb of 1 ns is 0.0002 ns: rounds up to 1 ns, never to 0.
        assert_eq!(Drift::from_ppb(200).error_over(1), 1);
        // A span backwards costs the same as forwards.
        assert_eq!(Drift::from_ppm(200).error_over(-NANOS_PER_SEC), 200_000);
        assert_eq!(Drift::from_ppb(0).error_over(i64::MAX), 0);
        // Huge spans saturate instead of overflowing.
        assert_eq!(Drift::from_ppb(u64::MAX).error_over(i64::MIN), i64::MAX);
    }

    #[test]
    fn the_64_bit_path_rounds_as_the_128_bit_one() {
        let wide = |span: i64, ppb: u64| {
            let err = (i128::from(span).unsigned_abs() * u128::from(ppb)).div_ceil(1_000_000_000);
            i64::try_from(err).unwrap_or(i64::MAX)
        };
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Spans from 1 ns to about 10^13 ns, bounds up to 10 %.
            let span = (x % 10_000_000_000_000) as i64 * if x & 1 == 0 { 1 } else { -1 };
            let ppb = (x >> 20) % 100_000_000;
            assert_eq!(
                Drift::from_ppb(ppb).error_over(span),
                wide(span, ppb),
                "{span} {ppb}"
            );
        }
        // Where the product leaves 64 bits, the wide path takes over.
        assert_eq!(
            Drift::from_ppb(1_000_000_000).error_over(i64::MAX),
            i64::MAX
        );
        assert_eq!(
            Drift::from_ppb(200_000).error_over(i64::MAX),
            wide(i64::MAX, 200_000)
        );
    }

    #[test]
    fn timestamp_display_handles_negative() {
        assert_eq!(
            Timestamp::from_unix_nanos(1_500_000_000).to_string(),
            "1.500000000"
        );
        assert_eq!(Timestamp::from_unix_nanos(-1).to_string(), "-1.999999999");
    }
}
