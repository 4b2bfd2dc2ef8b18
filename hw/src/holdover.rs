//! Holdover: how wide a source's interval may honestly be once the
//! reference that disciplined its oscillator is gone.
//!
//! # The bound
//!
//! While disciplined, the oscillator's reading `P` lies within `a` (its
//! accuracy, from the disciplining source) of true time. At the last
//! reading known to be disciplined, `P0`, that held with `a0`. Afterwards
//! the oscillator runs free at a rate `r` against true time with
//! `|r - 1| <= h`, the drift bound the operator declares for it (a
//! rubidium standard: about 5e-11, `h = 50` parts per trillion). A later
//! reading `P` of the same oscillator has advanced by `ΔP = P - P0` of its
//! own nanoseconds while true time advanced by `ΔP / r`, so its error
//! changed by `ΔP - ΔP / r`, whose magnitude is at most `ΔP h / (1 - h)`:
//!
//! ```text
//! error(P) <= a0 + ceil(ΔP * h / (1e12 - h))          (h in parts per trillion, ΔP in ns)
//! ```
//!
//! This holds for at most `holdover-max-s` (the span over which the
//! oscillator's specification promises `h`); after that the source gives
//! nothing.
//!
//! # Why the oscillator is read afresh, not carried along the local timebase
//!
//! The elapsed time `ΔP` above is counted by the held-over oscillator
//! itself. Carrying the last disciplined sample along `CLOCK_BOOTTIME`
//! with `h` instead would be wrong: the local timebase that counts the
//! elapsed time is an ordinary crystal, whose rate error against true time
//! is bounded only by the master's `rho` (200 ppm by default), whatever the
//! rubidium does. The elapsed local time says nothing about how far the
//! rubidium has run. So a holdover source reads its oscillator (the PHC it
//! disciplines) every poll, as it does while disciplined, and only the
//! reading's short sandwich is mapped onto the local timebase. The master
//! then carries that fresh sample at its own `rho` for at most one poll
//! interval; the growth with time since the loss comes from `h` alone.
//!
//! # Consistency
//!
//! The bound assumes the oscillator ran free since `P0`: nobody stepped it
//! or reset it. A reading whose advance disagrees with the local
//! timebase's by more than both clocks' rate bounds allow is taken as a
//! step, and holdover ends (see [`Holdover::bound`]).

use std::fmt;
use tt_core::{Drift, LocalInstant, NANOS_PER_SEC};

/// Parts per trillion in one.
const PPTR_PER_ONE: u128 = 1_000_000_000_000;

/// What a source declares of its oscillator for holdover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldoverConfig {
    /// Bound on the free-running oscillator's rate error, parts per
    /// trillion (1e-12): 50 for 5e-11. Below one million (1e-6): a
    /// holdover bound coarser than that is no better than the local
    /// timebase's.
    pub drift_pptr: u64,
    /// How long after the loss the bound is trusted, ns.
    pub max_ns: i64,
}

/// Why a holdover configuration cannot work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HoldoverConfigError {
    /// A drift bound of 1e-6 or more.
    DriftTooLarge(u64),
    /// A non-positive holdover span.
    NoSpan(i64),
}

impl fmt::Display for HoldoverConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HoldoverConfigError::DriftTooLarge(pptr) => write!(
                f,
                "holdover-drift-pptr = {pptr} is 1e-6 or more; such an oscillator holds \
                 over no better than the local timebase, so declare no holdover"
            ),
            HoldoverConfigError::NoSpan(ns) => {
                write!(
                    f,
                    "holdover-max-s must be above 0, got {} s",
                    ns / NANOS_PER_SEC
                )
            }
        }
    }
}

impl std::error::Error for HoldoverConfigError {}

impl HoldoverConfig {
    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), HoldoverConfigError> {
        if u128::from(self.drift_pptr) >= PPTR_PER_ONE / 1_000_000 {
            return Err(HoldoverConfigError::DriftTooLarge(self.drift_pptr));
        }
        if self.max_ns <= 0 {
            return Err(HoldoverConfigError::NoSpan(self.max_ns));
        }
        Ok(())
    }
}

/// The most an oscillator with rate bound `drift_pptr` (parts per
/// trillion) can have gained or lost against true time while it counted
/// `elapsed_own_ns` of its own nanoseconds:
/// `ceil(|ΔP| * h / (1e12 - h))`, in ns. See the module documentation for
/// the derivation. `drift_pptr` must be below 1e12.
pub fn growth_ns(drift_pptr: u64, elapsed_own_ns: i64) -> i64 {
    let elapsed = i128::from(elapsed_own_ns).unsigned_abs();
    let h = u128::from(drift_pptr).min(PPTR_PER_ONE - 1);
    let growth = (elapsed * h).div_ceil(PPTR_PER_ONE - h);
    i64::try_from(growth).unwrap_or(i64::MAX)
}

/// The last reading known to be disciplined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Anchor {
    /// The oscillator's reading, ns on its own scale.
    own_ns: i64,
    /// The local instant of that reading.
    local: LocalInstant,
    /// Its error bound then, ns.
    accuracy_ns: i64,
    /// How uncertain the local instant of the reading was, ns.
    local_slack_ns: i64,
}

/// The holdover bound at one reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldoverBound {
    /// The error bound of the reading, ns: `a0 + growth`.
    pub accuracy_ns: i64,
    /// The oscillator's own nanoseconds since the last disciplined reading.
    pub since_loss_ns: i64,
    /// The part of the bound that is growth since the loss, ns.
    pub growth_ns: i64,
}

/// Why no holdover bound can be given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HoldoverEnd {
    /// The source declares no holdover.
    NotConfigured,
    /// No disciplined reading to start from: none since start, or the
    /// anchor was dropped after a step.
    NeverDisciplined,
    /// More than `holdover-max-s` since the loss.
    Expired {
        /// Nanoseconds since the last disciplined reading (the larger of
        /// the oscillator's and the local timebase's count).
        since_loss_ns: i64,
    },
    /// The oscillator's advance since the loss disagrees with the local
    /// timebase's: it was stepped or reset, and the bound no longer holds.
    Inconsistent {
        /// The oscillator's advance, ns.
        own_ns: i64,
        /// The local timebase's advance, ns.
        local_ns: i64,
        /// The largest difference the rate bounds allow, ns.
        allowed_ns: i64,
    },
}

impl fmt::Display for HoldoverEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HoldoverEnd::NotConfigured => write!(f, "no holdover is configured"),
            HoldoverEnd::NeverDisciplined => write!(
                f,
                "no disciplined reading to hold over from (none since start, or the \
                 oscillator was stepped since)"
            ),
            HoldoverEnd::Expired { since_loss_ns } => write!(
                f,
                "holdover ended: {} s since the discipline was lost is past holdover-max-s",
                since_loss_ns / NANOS_PER_SEC
            ),
            HoldoverEnd::Inconsistent {
                own_ns,
                local_ns,
                allowed_ns,
            } => write!(
                f,
                "holdover ended: the oscillator advanced {own_ns} ns while the local timebase \
                 advanced {local_ns} ns, more apart than the {allowed_ns} ns the rate bounds \
                 allow (was it stepped?)"
            ),
        }
    }
}

/// Tracks the last disciplined reading of one oscillator and gives the
/// holdover bound of later readings.
#[derive(Clone, Debug)]
pub struct Holdover {
    config: Option<HoldoverConfig>,
    local_drift: Drift,
    anchor: Option<Anchor>,
}

impl Holdover {
    /// A tracker for an oscillator with `config` (none: no holdover), whose
    /// readings are placed on a local timebase with rate bound
    /// `local_drift` (used only for the consistency check).
    pub fn new(config: Option<HoldoverConfig>, local_drift: Drift) -> Self {
        Holdover {
            config,
            local_drift,
            anchor: None,
        }
    }

    /// Records a reading taken while disciplined: own reading `own_ns`
    /// within `accuracy_ns` of true time, at local instant `local` known to
    /// within `local_slack_ns`.
    pub fn disciplined(
        &mut self,
        own_ns: i64,
        accuracy_ns: i64,
        local: LocalInstant,
        local_slack_ns: i64,
    ) {
        self.anchor = Some(Anchor {
            own_ns,
            local,
            accuracy_ns,
            local_slack_ns,
        });
    }

    /// Forgets the anchor (the oscillator was stepped or replaced).
    pub fn reset(&mut self) {
        self.anchor = None;
    }

    /// The bound of a reading `own_ns` taken at `local` (known to within
    /// `local_slack_ns`) while the discipline is lost.
    ///
    /// With `ΔP` the oscillator's advance since the anchor and `ΔL` the
    /// local timebase's:
    ///
    /// * **expiry**: `max(ΔP, ΔL) > holdover-max` ends holdover;
    /// * **consistency**: true elapsed time `τ` satisfies
    ///   `|ΔP - τ| <= growth(ΔP)` and `|ΔL - τ| <= ceil(|ΔL| rho)`, so
    ///   `|ΔP - ΔL| <= growth(ΔP) + ceil(|ΔL| rho) + s0 + s1` (the `s` terms
    ///   being the local instants' own uncertainty); more, or `ΔP < 0`,
    ///   ends holdover;
    /// * **bound**: `a0 + growth(ΔP)` ([`growth_ns`]).
    pub fn bound(
        &self,
        own_ns: i64,
        local: LocalInstant,
        local_slack_ns: i64,
    ) -> Result<HoldoverBound, HoldoverEnd> {
        let config = self.config.ok_or(HoldoverEnd::NotConfigured)?;
        let anchor = self.anchor.ok_or(HoldoverEnd::NeverDisciplined)?;
        let own_elapsed = own_ns.saturating_sub(anchor.own_ns);
        let local_elapsed = local.nanos_since(anchor.local);

        let since_loss_ns = own_elapsed.max(local_elapsed);
        if since_loss_ns > config.max_ns {
            return Err(HoldoverEnd::Expired { since_loss_ns });
        }

        let growth = growth_ns(config.drift_pptr, own_elapsed);
        let allowed_ns = growth
            .saturating_add(self.local_drift.error_over(local_elapsed))
            .saturating_add(anchor.local_slack_ns.saturating_abs())
            .saturating_add(local_slack_ns.saturating_abs());
        let apart = own_elapsed.saturating_sub(local_elapsed).saturating_abs();
        if own_elapsed < 0 || apart > allowed_ns {
            return Err(HoldoverEnd::Inconsistent {
                own_ns: own_elapsed,
                local_ns: local_elapsed,
                allowed_ns,
            });
        }

        Ok(HoldoverBound {
            accuracy_ns: anchor.accuracy_ns.saturating_add(growth),
            since_loss_ns: own_elapsed,
            growth_ns: growth,
        })
    }
}

/// The UTC month of an instant as `year * 12 + (month - 1)`, from its day
/// count since 1970-01-01 (the civil calendar of the proleptic Gregorian
/// era of 400 years, 146097 days, shifted to start in March so that the
/// leap day ends a year).
fn utc_month_index(unix_ns: i64) -> i64 {
    let days = unix_ns.div_euclid(86_400 * NANOS_PER_SEC);
    let shifted = days + 719_468; // days since 0000-03-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    year * 12 + (month - 1)
}

/// How many UTC month ends lie after `from_utc_ns` and at or before
/// `to_utc_ns` (0 if `to` is not later): each is a moment a leap second
/// may be inserted or removed (ITU-R TF.460-6 §2.1 allows the end of any
/// month, first preference June and December).
pub fn months_between(from_utc_ns: i64, to_utc_ns: i64) -> i64 {
    (utc_month_index(to_utc_ns) - utc_month_index(from_utc_ns)).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = NANOS_PER_SEC;

    fn rubidium() -> HoldoverConfig {
        HoldoverConfig {
            drift_pptr: 50,
            max_ns: 86_400 * S,
        }
    }

    #[test]
    fn growth_is_rate_times_elapsed_rounded_up() {
        // 5e-11 over one day (86400 s): 4.32 us, plus the 1/(1 - h)
        // factor, which adds 4.32 us * 5e-11 (far below 1 ns), so the
        // ceiling is 4320 ns + 1.
        assert_eq!(growth_ns(50, 86_400 * S), 4_321);
        // 5e-11 over 1 s is 0.05 ns: never rounded to 0.
        assert_eq!(growth_ns(50, S), 1);
        assert_eq!(growth_ns(50, 0), 0);
        // A negative span costs its magnitude.
        assert_eq!(growth_ns(50, -86_400 * S), 4_321);
        // 1 ppm (1e6 pptr) over 1000 s: 1 ms * 1/(1 - 1e-6), just above 1 ms.
        assert_eq!(growth_ns(1_000_000, 1_000 * S), 1_000_002);
    }

    #[test]
    fn configuration_is_checked() {
        assert!(rubidium().validate().is_ok());
        let coarse = HoldoverConfig {
            drift_pptr: 1_000_000,
            ..rubidium()
        };
        assert_eq!(
            coarse.validate(),
            Err(HoldoverConfigError::DriftTooLarge(1_000_000))
        );
        let no_span = HoldoverConfig {
            max_ns: 0,
            ..rubidium()
        };
        assert!(no_span.validate().is_err());
    }

    #[test]
    fn bound_grows_at_the_declared_rate_not_the_hosts() {
        let mut holdover = Holdover::new(Some(rubidium()), Drift::from_ppm(200));
        let p0 = 1_000 * S;
        holdover.disciplined(p0, 100, LocalInstant::from_nanos(5 * S), 50);

        // 1000 s later (the oscillator and the local timebase agree here):
        // 5e-11 * 1000 s = 50 ns, and the 1/(1 - h) factor lifts it just
        // above 50, so the ceiling is 51.
        let got = holdover
            .bound(p0 + 1_000 * S, LocalInstant::from_nanos(1_005 * S), 50)
            .unwrap();
        assert_eq!(got.growth_ns, 51);
        assert_eq!(got.accuracy_ns, 151);
        assert_eq!(got.since_loss_ns, 1_000 * S);
        // At the host's 200 ppm the same 1000 s would have cost 200 ms.
        assert_eq!(Drift::from_ppm(200).error_over(1_000 * S), 200_000_000);
    }

    #[test]
    fn holdover_ends_after_its_span() {
        let config = HoldoverConfig {
            drift_pptr: 50,
            max_ns: 60 * S,
        };
        let mut holdover = Holdover::new(Some(config), Drift::from_ppm(200));
        holdover.disciplined(0, 100, LocalInstant::from_nanos(0), 0);
        assert!(holdover
            .bound(60 * S, LocalInstant::from_nanos(60 * S), 0)
            .is_ok());
        assert_eq!(
            holdover.bound(60 * S + 1, LocalInstant::from_nanos(60 * S + 1), 0),
            Err(HoldoverEnd::Expired {
                since_loss_ns: 60 * S + 1
            })
        );
        // The local timebase's count also ends it, even if the oscillator
        // (wrongly) counted less: the larger of the two decides.
        assert_eq!(
            holdover.bound(59 * S, LocalInstant::from_nanos(61 * S), 0),
            Err(HoldoverEnd::Expired {
                since_loss_ns: 61 * S
            })
        );
    }

    #[test]
    fn a_stepped_oscillator_ends_holdover() {
        let mut holdover = Holdover::new(Some(rubidium()), Drift::from_ppm(200));
        holdover.disciplined(0, 100, LocalInstant::from_nanos(0), 0);
        // 10 s of local time: 200 ppm allows 2 ms, 5e-11 a nanosecond.
        // An oscillator that advanced 10 s + 1 ms is within that...
        assert!(holdover
            .bound(10 * S + 1_000_000, LocalInstant::from_nanos(10 * S), 0)
            .is_ok());
        // ...one that advanced 10 s + 3 ms was stepped.
        let got = holdover.bound(10 * S + 3_000_000, LocalInstant::from_nanos(10 * S), 0);
        assert_eq!(
            got,
            Err(HoldoverEnd::Inconsistent {
                own_ns: 10 * S + 3_000_000,
                local_ns: 10 * S,
                allowed_ns: 2_000_000 + 1,
            })
        );
        // Going backwards is never a free run.
        assert!(matches!(
            holdover.bound(-1, LocalInstant::from_nanos(0), 0),
            Err(HoldoverEnd::Inconsistent { .. })
        ));
    }

    #[test]
    fn month_ends_are_counted() {
        // 2027-01-01T00:00:00Z = 1798761600 s: 20819 days after
        // 1970-01-01 (57 years of 365 days plus the 14 leap days of 1972 to
        // 2024), times 86400.
        let new_year = 1_798_761_600 * S;
        assert_eq!(months_between(new_year - 1, new_year), 1);
        assert_eq!(months_between(new_year, new_year + 86_400 * S), 0);
        assert_eq!(months_between(new_year - 1, new_year - 1), 0);
        assert_eq!(months_between(new_year, new_year - 1), 0);
        // 2024-02-28 to 2024-03-01 crosses the end of a leap February.
        let feb_28_2024 = 1_709_078_400 * S;
        assert_eq!(months_between(feb_28_2024, feb_28_2024 + 86_400 * S), 0);
        assert_eq!(months_between(feb_28_2024, feb_28_2024 + 2 * 86_400 * S), 1);
        // A year is twelve month ends; before 1970 works too.
        assert_eq!(months_between(new_year, new_year + 365 * 86_400 * S), 12);
        assert_eq!(months_between(-S, 0), 1);
    }

    #[test]
    fn without_configuration_or_anchor_there_is_no_holdover() {
        let none = Holdover::new(None, Drift::DEFAULT);
        assert_eq!(
            none.bound(0, LocalInstant::from_nanos(0), 0),
            Err(HoldoverEnd::NotConfigured)
        );
        let unanchored = Holdover::new(Some(rubidium()), Drift::DEFAULT);
        assert_eq!(
            unanchored.bound(0, LocalInstant::from_nanos(0), 0),
            Err(HoldoverEnd::NeverDisciplined)
        );
    }
}
