//! What a run measures: every interval handed out checked against truth,
//! widths, availability, and a log of the state changes faults are
//! detected by.

use crate::master::Serving;
use crate::truth::TruthSet;
use timeslave::combiner::Verdict;
use tt_core::Interval;

/// A state change worth keeping, at a physical instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// What a master serves changed.
    MasterServes {
        /// Which master.
        master: usize,
        /// What it serves now.
        serving: Serving,
    },
    /// A master's gpsd session saw the wall clock step.
    ClockStepSeen {
        /// Which master.
        master: usize,
    },
    /// A master's source lost its data (no fix, or silence).
    SourceLost {
        /// Which master.
        master: usize,
    },
    /// A slave serves a combined interval again (or for the first time).
    SlaveSynchronized {
        /// Which slave.
        slave: usize,
    },
    /// A slave's round failed; it carries its interval forward.
    SlaveHoldover {
        /// Which slave.
        slave: usize,
    },
    /// A slave serves nothing.
    SlaveUnsynchronized {
        /// Which slave.
        slave: usize,
        /// Why, as the combiner says.
        reason: String,
    },
    /// A slave's verdict on a master changed.
    SlaveVerdict {
        /// Which slave.
        slave: usize,
        /// Which master.
        master: usize,
        /// The new verdict.
        verdict: Verdict,
    },
    /// A slave's round found a clock disruption.
    Disruption {
        /// Which slave.
        slave: usize,
    },
    /// A slave's daemon (re)started.
    SlaveStarted {
        /// Which slave.
        slave: usize,
    },
}

/// An interval that did not hold truth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Physical instant, ns after the run's start.
    pub at_ns: i64,
    /// Who handed it out: `slave 0 shm`, `slave 1 grpc`, `master 2`.
    pub who: String,
    /// The interval.
    pub interval: Interval,
    /// Truth then.
    pub truth: TruthSet,
    /// How far truth lay outside, ns (negative: below).
    pub miss_ns: i64,
    /// The documented limit of the design it falls under, if any; `None`
    /// is a bug.
    pub cause: Option<String>,
}

/// How many violations are kept in full.
pub const KEPT_VIOLATIONS: usize = 5;

/// Width statistics, ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Widths {
    /// How many.
    pub count: u64,
    /// The mean, rounded down.
    pub mean_ns: i64,
    /// The 99th percentile (nearest rank).
    pub p99_ns: i64,
    /// The largest.
    pub max_ns: i64,
}

impl Widths {
    /// The statistics of `values` (sorted in place).
    pub fn of(values: &mut [i64]) -> Widths {
        if values.is_empty() {
            return Widths::default();
        }
        values.sort_unstable();
        let n = values.len();
        let sum: i128 = values.iter().map(|&v| i128::from(v)).sum();
        // Nearest rank: the smallest value with at least 99 % at or below.
        let rank = (99 * n).div_ceil(100).max(1);
        Widths {
            count: n as u64,
            mean_ns: (sum / n as i128) as i64,
            p99_ns: values[rank - 1],
            max_ns: values[n - 1],
        }
    }
}

/// One client read, kept when a run is traced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Read {
    /// Physical instant, ns after the run's start.
    pub at_ns: i64,
    /// Which slave host.
    pub slave: usize,
    /// The interval from the shared-memory record, if any.
    pub interval: Option<Interval>,
    /// Truth then.
    pub truth: TruthSet,
}

/// One answer of a master, kept when a run is traced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MasterAnswer {
    /// Physical instant, ns after the run's start.
    pub at_ns: i64,
    /// Which master.
    pub master: usize,
    /// The interval it sent, if synchronized.
    pub interval: Option<Interval>,
}

/// The checks of a run as it goes.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Client reads of the shared-memory record.
    pub reads: u64,
    /// Of which got an interval.
    pub served: u64,
    /// Widths of the intervals reads got, ns.
    pub widths: Vec<i64>,
    /// Widths of the combined interval right after each round that
    /// served one, ns.
    pub round_widths: Vec<i64>,
    /// Checks of the slave daemon's own answer (what its gRPC service
    /// would hand out) at each read and round end.
    pub daemon_checks: u64,
    /// Violations with no documented cause.
    pub violations: u64,
    /// Violations under a documented limit.
    pub limit_violations: u64,
    /// The first few of each, in order.
    pub kept: Vec<Violation>,
    /// Synchronized master answers.
    pub master_answers: u64,
    /// Master answers that missed truth while a fault was on that master.
    pub master_wrong_under_fault: u64,
    /// Master answers that missed truth with no fault on that master.
    pub master_wrong_unexplained: u64,
    /// Clock disruptions the slaves found.
    pub disruptions: u64,
    /// State changes, with their physical instants (ns after the start).
    pub observations: Vec<(i64, Observation)>,
    /// Every read, when traced.
    pub trace: Vec<Read>,
    /// Every master answer, when traced.
    pub master_trace: Vec<MasterAnswer>,
}

impl Tally {
    /// Checks `interval`, handed out by `who` at `at_ns` (after the start),
    /// against `truth`; `cause` names the documented limit in force, if
    /// any. Returns whether it held truth.
    pub fn check(
        &mut self,
        at_ns: i64,
        who: impl FnOnce() -> String,
        interval: Interval,
        truth: TruthSet,
        cause: Option<String>,
    ) -> bool {
        if truth.inside(&interval) {
            return true;
        }
        let kept_of_kind = self
            .kept
            .iter()
            .filter(|v| v.cause.is_some() == cause.is_some())
            .count();
        if cause.is_some() {
            self.limit_violations += 1;
        } else {
            self.violations += 1;
        }
        if kept_of_kind < KEPT_VIOLATIONS {
            self.kept.push(Violation {
                at_ns,
                who: who(),
                interval,
                truth,
                miss_ns: truth.miss_ns(&interval),
                cause,
            });
        }
        false
    }

    /// Notes a state change.
    pub fn observe(&mut self, at_ns: i64, observation: Observation) {
        self.observations.push((at_ns, observation));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_use_the_nearest_rank() {
        let mut values: Vec<i64> = (1..=200).rev().collect();
        let w = Widths::of(&mut values);
        // 99 % of 200 is 198: the 198th smallest value.
        assert_eq!(w.p99_ns, 198);
        assert_eq!(w.max_ns, 200);
        assert_eq!(w.mean_ns, 100);
        assert_eq!(Widths::of(&mut []), Widths::default());
        assert_eq!(Widths::of(&mut [7]).p99_ns, 7);
    }

    #[test]
    fn violations_are_split_by_cause_and_the_first_kept() {
        let mut tally = Tally::default();
        let truth = TruthSet {
            lower: 50,
            upper: 50,
        };
        let iv = Interval::from_unix_nanos(0, 10).unwrap();
        assert!(tally.check(
            0,
            || "a".into(),
            Interval::from_unix_nanos(0, 50).unwrap(),
            truth,
            None
        ));
        for i in 0..10 {
            tally.check(i, || "a".into(), iv, truth, None);
        }
        tally.check(11, || "b".into(), iv, truth, Some("pause".into()));
        assert_eq!(tally.violations, 10);
        assert_eq!(tally.limit_violations, 1);
        assert_eq!(tally.kept.len(), KEPT_VIOLATIONS + 1);
        assert_eq!(tally.kept[0].miss_ns, 40);
    }
}
