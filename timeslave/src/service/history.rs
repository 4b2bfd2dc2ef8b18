//! What the slave served, recorded for the `History` RPC: a point after
//! each poll round, and one a second between rounds.
//!
//! A round's point sits at the instant the round ended, `L_r`, and holds
//! what [`Combiner::now`] answers at `L_r` once the round is combined. When
//! the round brought a new combined sample while the previous one was being
//! served, the point also holds that previous sample carried to `L_r`: the
//! top of the sawtooth, what was served until the round replaced it. Both
//! come from the combiner's own formula, `Sample::at`, so a plot of them
//! is exact: between rounds the served width grows linearly, by
//! `2 ceil(rho dt)`.
//!
//! Rounds are seen in one of two ways. The poll loop can report each round
//! through [`super::SlaveService::record_round`] (every round then has its
//! point, failed ones too); until it does, a task looks at the combiner
//! every [`TICK`] and takes a new combined sample as a round that agreed.
//! That way a round that failed has no point of its own (the points a
//! second apart show its effect), and two rounds closer together than
//! [`TICK`] show as one, whose replaced interval is then carried from the
//! older sample: wider than what was served, never narrower.

use crate::combiner::Combiner;
use std::time::Duration;
use tt_core::{Interval, LocalInstant, Sample};
use tt_proto::history::{HistoryRing, MemberState, Point};

/// How often the recording task looks at the combiner.
pub const TICK: Duration = Duration::from_millis(200);

/// The longest gap between two points while no round ends, local
/// nanoseconds.
pub const SPACING_NS: i64 = 1_000_000_000;

/// The ring and what the last point saw.
#[derive(Debug)]
pub struct Recorder {
    /// The points.
    pub ring: HistoryRing,
    /// The combined sample as of the last point.
    last_combined: Option<Sample>,
    /// Whether the last point served an interval.
    last_served: bool,
}

impl Recorder {
    /// An empty record for masters called `names`.
    pub fn new(names: &[String]) -> Recorder {
        let members = names
            .iter()
            .map(|name| (name.clone(), "master".to_string()))
            .collect();
        Recorder {
            ring: HistoryRing::new(members),
            last_combined: None,
            last_served: false,
        }
    }

    /// Records what `combiner` says after a round that ended at `ended`.
    /// `system_unix_ns` is the wall clock read at `ended`.
    pub fn round(&mut self, combiner: &Combiner, ended: LocalInstant, system_unix_ns: i64) {
        self.record(combiner, ended, system_unix_ns, true);
    }

    /// Looks at `combiner` at `at` (the wall clock then: `system_unix_ns`):
    /// with `detect_rounds`, a combined sample newer than the last point's
    /// is recorded as a round at its own instant; then, if no point is
    /// [`SPACING_NS`] old or newer, a point at `at`.
    pub fn tick(
        &mut self,
        combiner: &Combiner,
        at: LocalInstant,
        system_unix_ns: i64,
        detect_rounds: bool,
    ) {
        if detect_rounds {
            if let Some(sample) = combiner.combined() {
                let newer = self
                    .last_combined
                    .is_none_or(|last| sample.local.nanos() > last.local.nanos());
                if newer && sample.local.nanos() <= at.nanos() {
                    let behind_ns = at.nanos_since(sample.local);
                    let system = system_unix_ns.saturating_sub(behind_ns);
                    self.record(combiner, sample.local, system, true);
                }
            }
        }
        let due = self
            .ring
            .newest()
            .is_none_or(|newest| at.nanos_since(newest) >= SPACING_NS);
        if due {
            self.record(combiner, at, system_unix_ns, false);
        }
    }

    fn record(&mut self, combiner: &Combiner, at: LocalInstant, system_unix_ns: i64, round: bool) {
        let limits = combiner.limits();
        let combined = combiner.combined();
        let served = combiner.now(at).ok();

        // What was served until this round: the previous combined sample
        // carried to `at`, if the last point served it, this round brought
        // another, and the previous one was still within the holdover.
        let holdover_ns = i64::try_from(limits.max_holdover.as_nanos()).unwrap_or(i64::MAX);
        let replaced: Option<Interval> = match (self.last_combined, combined) {
            (Some(previous), Some(current))
                if round
                    && self.last_served
                    && current != previous
                    && at.nanos_since(previous.local) <= holdover_ns =>
            {
                Some(previous.at(at, limits.drift))
            }
            _ => None,
        };

        let members = combiner
            .members(at)
            .into_iter()
            .map(|view| MemberState {
                interval: view.interval,
                sample_local: (view.age_ns >= 0)
                    .then(|| LocalInstant::from_nanos(at.nanos().saturating_sub(view.age_ns))),
                verdict: super::wire_verdict(view.verdict),
            })
            .collect();
        let pushed = self.ring.push(&Point {
            local: at,
            system_unix_ns,
            served,
            replaced,
            members,
        });
        if pushed {
            self.last_combined = combined;
            self.last_served = served.is_some();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::combiner::{Limits, PollOutcome};
    use tt_core::Drift;
    use tt_proto::v1::{HistoryEventKind, Verdict};

    const SEC: i64 = 1_000_000_000;
    /// Truth at local instant 0: 2023-11-14T22:13:20Z.
    const UNIX_AT_ZERO: i64 = 1_700_000_000 * SEC;

    fn local(ns: i64) -> LocalInstant {
        LocalInstant::from_nanos(ns)
    }

    fn limits(max_falsetickers: usize) -> Limits {
        Limits {
            max_falsetickers,
            drift: Drift::from_ppm(100),
            max_sample_age: Duration::from_secs(10),
            max_holdover: Duration::from_secs(5),
        }
    }

    /// A master's answer received at `at_ns`: truth ± `radius_ns`.
    fn answer(at_ns: i64, radius_ns: i64) -> PollOutcome {
        let truth = UNIX_AT_ZERO + at_ns;
        PollOutcome::Answer {
            sample: Sample::new(
                local(at_ns),
                Interval::from_unix_nanos(truth - radius_ns, truth + radius_ns).unwrap(),
            ),
            rtt_ns: 0,
        }
    }

    fn interval(points: &tt_proto::v1::HistoryPoint) -> (i64, i64) {
        (points.earliest_unix_ns, points.latest_unix_ns)
    }

    #[test]
    fn a_round_records_what_it_serves_and_what_it_replaced() {
        let mut combiner = Combiner::new(1, limits(0));
        let mut recorder = Recorder::new(&["a:1".to_string()]);

        combiner.record(0, answer(SEC, 1_000));
        combiner.combine(local(SEC));
        recorder.round(&combiner, local(SEC), UNIX_AT_ZERO + SEC);
        combiner.record(0, answer(3 * SEC, 500));
        combiner.combine(local(3 * SEC));
        recorder.round(&combiner, local(3 * SEC), UNIX_AT_ZERO + 3 * SEC);

        let (points, events) = recorder.ring.answer(0, local(3 * SEC));
        assert_eq!(points.len(), 2);
        let first = &points[0];
        assert!(first.synchronized && !first.replaced);
        assert_eq!(
            interval(first),
            (UNIX_AT_ZERO + SEC - 1_000, UNIX_AT_ZERO + SEC + 1_000)
        );
        assert_eq!(first.members[0].verdict, Verdict::InMajority as i32);
        assert_eq!(first.members[0].age_ns, 0);

        // The first combined interval carried 2 s at 100 ppm: each end
        // moves out by ceil(2 s * 100 ppm) = 200 us.
        let second = &points[1];
        assert!(second.synchronized && second.replaced);
        assert_eq!(
            (
                second.replaced_earliest_unix_ns,
                second.replaced_latest_unix_ns
            ),
            (
                UNIX_AT_ZERO + 3 * SEC - 1_000 - 200_000,
                UNIX_AT_ZERO + 3 * SEC + 1_000 + 200_000
            )
        );
        assert_eq!(
            interval(second),
            (UNIX_AT_ZERO + 3 * SEC - 500, UNIX_AT_ZERO + 3 * SEC + 500)
        );

        // One new sample of master 0 at each round.
        let samples: Vec<i64> = events
            .iter()
            .filter(|e| e.kind == HistoryEventKind::Sample as i32)
            .map(|e| e.local_ns)
            .collect();
        assert_eq!(samples, [SEC, 3 * SEC]);
    }

    #[test]
    fn ticks_find_rounds_and_fill_the_gaps_a_second_apart() {
        let mut combiner = Combiner::new(1, limits(0));
        let mut recorder = Recorder::new(&["a:1".to_string()]);

        // Before any round: a point at once, unsynchronized.
        recorder.tick(&combiner, local(SEC / 2), 0, true);
        // A round at 1 s, seen by the tick at 1.1 s: a point at 1 s, and
        // no other (the newest point is then 0.1 s old).
        combiner.record(0, answer(SEC, 1_000));
        combiner.combine(local(SEC));
        recorder.tick(&combiner, local(SEC + SEC / 10), 0, true);
        // No round since: the tick at 2.05 s adds a point, 1.9 s does not.
        recorder.tick(&combiner, local(SEC + 9 * SEC / 10), 0, true);
        recorder.tick(&combiner, local(2 * SEC + SEC / 20), 0, true);

        let (points, events) = recorder.ring.answer(0, local(3 * SEC));
        let instants: Vec<i64> = points.iter().map(|p| p.local_ns).collect();
        assert_eq!(instants, [SEC / 2, SEC, 2 * SEC + SEC / 20]);
        assert!(!points[0].synchronized);
        assert!(points[1].synchronized && !points[1].replaced);
        // Carried 1.05 s: ceil(1.05 s * 100 ppm) = 105 us each end.
        assert_eq!(
            interval(&points[2]),
            (
                UNIX_AT_ZERO + 2 * SEC + SEC / 20 - 1_000 - 105_000,
                UNIX_AT_ZERO + 2 * SEC + SEC / 20 + 1_000 + 105_000
            )
        );
        assert!(events
            .iter()
            .any(|e| e.kind == HistoryEventKind::SyncRegained as i32 && e.local_ns == SEC));
    }

    #[test]
    fn holdover_expiry_and_a_failing_master_are_events() {
        let mut combiner = Combiner::new(3, limits(1));
        let names: Vec<String> = ["a:1", "b:2", "c:3"].map(String::from).to_vec();
        let mut recorder = Recorder::new(&names);
        for index in 0..3 {
            combiner.record(index, answer(SEC, 1_000));
        }
        combiner.combine(local(SEC));
        recorder.round(&combiner, local(SEC), 0);

        // Round at 2 s: c unreachable; a and b still agree (n - f = 1 of
        // 2 usable).
        combiner.record(0, answer(2 * SEC, 1_000));
        combiner.record(1, answer(2 * SEC, 1_000));
        combiner.record(2, PollOutcome::Unreachable("refused".into()));
        combiner.combine(local(2 * SEC));
        recorder.round(&combiner, local(2 * SEC), 0);

        // Then every master is unreachable: the rounds fail, the last
        // combined interval (2 s) is served for the 5 s holdover, so until
        // 7 s, and not after.
        for index in 0..3 {
            combiner.record(index, PollOutcome::Unreachable("refused".into()));
        }
        combiner.combine(local(3 * SEC));
        recorder.round(&combiner, local(3 * SEC), 0);
        for at in [4, 5, 6, 7, 8] {
            recorder.tick(&combiner, local(at * SEC), 0, false);
        }

        let (points, events) = recorder.ring.answer(0, local(8 * SEC));
        let served: Vec<bool> = points.iter().map(|p| p.synchronized).collect();
        assert_eq!(served, [true, true, true, true, true, true, true, false]);
        let lost: Vec<i64> = events
            .iter()
            .filter(|e| e.kind == HistoryEventKind::SyncLost as i32)
            .map(|e| e.local_ns)
            .collect();
        assert_eq!(lost, [8 * SEC]);
        let faults: Vec<(i64, i32)> = events
            .iter()
            .filter(|e| e.kind == HistoryEventKind::MemberFault as i32)
            .map(|e| (e.local_ns, e.member))
            .collect();
        assert_eq!(faults, [(2 * SEC, 2), (3 * SEC, 0), (3 * SEC, 1)]);
        // A failed round replaced nothing.
        assert!(points.iter().all(|p| !p.replaced || p.local_ns == 2 * SEC));
    }
}
