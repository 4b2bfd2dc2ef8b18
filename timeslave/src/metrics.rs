//! The slave's Prometheus metrics: per master (label `master`, its
//! configured address) the offset, width and age of its last good answer
//! carried to the scrape's instant and its verdict as a state set (see
//! `tt_ops::metrics`), the polls by outcome, the samples it gave and how
//! many the vote rejected, and a histogram of poll round trips; the
//! combined interval's width, the sync state, clock disruptions and the
//! gRPC counts.

use crate::combiner::{Combiner, PollOutcome, Verdict};
use std::sync::{Arc, Mutex};
use tt_core::LocalInstant;
use tt_ops::grpc::GrpcCounters;
use tt_ops::metrics::{Member, MemberFamilies, ProcessMetrics, Program};
use tt_ops::prom::{Exposition, Histogram, Kind, Value, ROUND_TRIP_BUCKETS_NS};

/// Every verdict, for the state sets.
const VERDICTS: [Verdict; 7] = [
    Verdict::InMajority,
    Verdict::Falseticker,
    Verdict::Unreachable,
    Verdict::Unsynchronized,
    Verdict::Stale,
    Verdict::NoData,
    Verdict::Undecided,
];

/// A verdict as a label value: `in_majority`, `no_data`, ...
pub fn verdict_label(verdict: Verdict) -> String {
    verdict.as_str().replace(' ', "_")
}

/// The families written per master (label `master`).
const MASTERS: MemberFamilies = MemberFamilies {
    prefix: "timeslave_master",
    offset: "Midpoint of the master's last interval minus the combined interval's midpoint.",
    width: "Width of the master's last good answer carried to now; absent before one.",
    age: "Time since the master's last good answer; absent before one.",
    verdict: "The master's verdict in the last round as a state set: 1 for its verdict, 0 for \
              the others.",
};

/// What has been counted for one master.
#[derive(Clone, Debug)]
struct MasterCounts {
    name: String,
    answers: u64,
    unsynchronized: u64,
    unreachable: u64,
    rejected: u64,
    round_trips: Histogram,
}

impl MasterCounts {
    fn new(name: &str) -> MasterCounts {
        MasterCounts {
            name: name.to_string(),
            answers: 0,
            unsynchronized: 0,
            unreachable: 0,
            rejected: 0,
            round_trips: Histogram::new(ROUND_TRIP_BUCKETS_NS),
        }
    }
}

/// The slave's counters; the rest of the metrics is read from the
/// combiner at each scrape.
pub struct SlaveMetrics {
    /// gRPC requests (both listeners together), reloads, the start time.
    pub process: ProcessMetrics,
    masters: Mutex<Vec<MasterCounts>>,
}

impl SlaveMetrics {
    /// Counters for masters called `names`, of a process that started at
    /// `started_unix_ns` (wall clock).
    pub fn new(names: &[String], grpc: Arc<GrpcCounters>, started_unix_ns: i64) -> SlaveMetrics {
        SlaveMetrics {
            process: ProcessMetrics::new(
                Program {
                    prefix: "timeslave",
                    version: env!("CARGO_PKG_VERSION"),
                    reload_refusals: "the file did not parse, check or resolve",
                },
                grpc,
                started_unix_ns,
            ),
            masters: Mutex::new(names.iter().map(|n| MasterCounts::new(n)).collect()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<MasterCounts>> {
        self.masters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Follows a reload: the masters are now `names`, the i-th the former
    /// master `kept[i]` if any (its counts kept), else new.
    pub fn reconfigure(&self, names: &[String], kept: &[Option<usize>]) {
        let mut masters = self.lock();
        let former = std::mem::take(&mut *masters);
        *masters = names
            .iter()
            .zip(kept)
            .map(|(name, kept)| {
                let mut counts = kept
                    .and_then(|index| former.get(index).cloned())
                    .unwrap_or_else(|| MasterCounts::new(name));
                counts.name = name.clone();
                counts
            })
            .collect();
    }

    /// Counts the round that just ended at `ended`, with `combiner` as it
    /// left it: each master's outcome of the round, and whether the vote
    /// rejected its answer (falseticker or stale).
    pub fn record_round(&self, combiner: &Combiner, ended: LocalInstant) {
        let members = combiner.members(ended);
        let mut masters = self.lock();
        for (index, counts) in masters.iter_mut().enumerate() {
            match combiner.last_outcome(index) {
                Some(PollOutcome::Answer { rtt_ns, .. }) => {
                    counts.answers += 1;
                    counts.round_trips.observe(*rtt_ns);
                }
                Some(PollOutcome::Unsynchronized(_)) => counts.unsynchronized += 1,
                Some(PollOutcome::Unreachable(_)) => counts.unreachable += 1,
                None => {}
            }
            let rejected = members
                .get(index)
                .is_some_and(|m| matches!(m.verdict, Verdict::Falseticker | Verdict::Stale));
            if rejected {
                counts.rejected += 1;
            }
        }
    }

    /// The exposition at local instant `at`, from `combiner`.
    pub fn render(&self, combiner: &Combiner, at: LocalInstant) -> String {
        let mut out = Exposition::new();
        let combined = combiner.now(at).ok();
        let masters = self.lock().clone();

        tt_ops::metrics::write_served(&mut out, "timeslave", combined);
        out.single(
            "timeslave_quorum_masters",
            Kind::Gauge,
            "How many masters had to agree in the last round.",
            Value::Count(combiner.quorum() as u64),
        );
        out.single(
            "timeslave_clock_disruptions_total",
            Kind::Counter,
            "Rounds whose agreement missed the last combined interval carried forward.",
            Value::Count(combiner.disruptions()),
        );

        let members: Vec<Member<'_, Verdict>> = combiner
            .members(at)
            .into_iter()
            .zip(&masters)
            .map(|(member, counts)| Member {
                labels: vec![("master", counts.name.as_str())],
                interval: member.interval,
                age_ns: (member.age_ns >= 0).then_some(member.age_ns),
                verdict: member.verdict,
            })
            .collect();
        tt_ops::metrics::write_members(
            &mut out,
            &MASTERS,
            &members,
            combined,
            &VERDICTS,
            verdict_label,
        );

        out.family_with(
            "timeslave_master_polls_total",
            Kind::Counter,
            "Polls of the master by outcome: answer, unsynchronized (it said so), unreachable \
             (no answer, an error or garbage).",
            masters.iter().flat_map(|counts| {
                [
                    ("answer", counts.answers),
                    ("unsynchronized", counts.unsynchronized),
                    ("unreachable", counts.unreachable),
                ]
                .map(|(outcome, count)| {
                    (
                        [("master", counts.name.as_str()), ("outcome", outcome)],
                        Value::Count(count),
                    )
                })
            }),
        );
        /// A counter family: its name, its help, and one master's count.
        type Counter = (&'static str, &'static str, fn(&MasterCounts) -> u64);
        let counts: [Counter; 2] = [
            (
                "timeslave_master_samples_total",
                "Synchronized answers the master gave, each a sample for the vote.",
                |counts| counts.answers,
            ),
            (
                "timeslave_master_rejected_total",
                "Rounds whose vote rejected the master's answer (falseticker or stale).",
                |counts| counts.rejected,
            ),
        ];
        for (name, help, count) in counts {
            let samples = masters.iter().map(|counts| {
                let labels = [("master", counts.name.as_str())];
                (labels, Value::Count(count(counts)))
            });
            out.family_with(name, Kind::Counter, help, samples);
        }
        out.family(
            "timeslave_poll_round_trip_seconds",
            Kind::Histogram,
            "Round trips of answered polls, from the request's send to the answer's arrival.",
        );
        for counts in &masters {
            counts.round_trips.write(
                &mut out,
                "timeslave_poll_round_trip_seconds",
                &[("master", &counts.name)],
            );
        }

        self.process.write(&mut out);
        out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::combiner::Limits;
    use std::time::Duration;
    use tt_core::{Drift, Interval, Sample};

    fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<String> {
        let samples = tt_ops::prom::parse(text).unwrap();
        tt_ops::prom::value_of(&samples, name, labels).map(str::to_string)
    }

    #[test]
    fn rounds_are_counted_and_the_combiner_rendered() {
        let limits = Limits {
            max_falsetickers: 1,
            drift: Drift::from_ppm(100),
            max_sample_age: Duration::from_secs(2),
            max_holdover: Duration::from_secs(60),
        };
        let mut combiner = Combiner::new(3, limits);
        let answer = |e, l, rtt_ns| PollOutcome::Answer {
            sample: Sample::new(
                LocalInstant::from_nanos(0),
                Interval::from_unix_nanos(e, l).unwrap(),
            ),
            rtt_ns,
        };
        // a and b agree on [200, 300]; c is far off and the vote rejects it.
        combiner.record(0, answer(100, 300, 400_000));
        combiner.record(1, answer(200, 400, 3_000_000));
        combiner.record(2, answer(10_000_000, 10_000_100, 700_000));
        combiner.combine(LocalInstant::from_nanos(0));
        let names = vec!["a:1".to_string(), "b:2".to_string(), "c:3".to_string()];
        let metrics = SlaveMetrics::new(&names, GrpcCounters::new(), 0);
        metrics.record_round(&combiner, LocalInstant::from_nanos(0));
        combiner.record(0, PollOutcome::Unreachable("refused".into()));
        metrics.record_round(&combiner, LocalInstant::from_nanos(0));

        let text = metrics.render(&combiner, LocalInstant::from_nanos(0));
        let a = ("master", "a:1");
        let c = ("master", "c:3");
        type Labels<'a> = &'a [(&'a str, &'a str)];
        let expected: [(&str, Labels, &str); 10] = [
            ("timeslave_synchronized", &[], "1"),
            // f = 1 of 3: the hull of the points two cover, [200, 300].
            ("timeslave_combined_width_seconds", &[], "0.0000001"),
            // a's midpoint 200, combined 250.
            ("timeslave_master_offset_seconds", &[a], "-0.00000005"),
            (
                "timeslave_master_verdict",
                &[c, ("verdict", "falseticker")],
                "1",
            ),
            ("timeslave_master_rejected_total", &[c], "2"),
            (
                "timeslave_master_polls_total",
                &[a, ("outcome", "answer")],
                "1",
            ),
            (
                "timeslave_master_polls_total",
                &[a, ("outcome", "unreachable")],
                "1",
            ),
            // c answered twice in 700 us: both in the 1 ms bucket, none in
            // 500 us.
            (
                "timeslave_poll_round_trip_seconds_bucket",
                &[c, ("le", "0.0005")],
                "0",
            ),
            (
                "timeslave_poll_round_trip_seconds_bucket",
                &[c, ("le", "0.001")],
                "2",
            ),
            ("timeslave_poll_round_trip_seconds_sum", &[c], "0.0014"),
        ];
        for (name, labels, want) in expected {
            assert_eq!(
                value(&text, name, labels).as_deref(),
                Some(want),
                "{name} {labels:?}"
            );
        }

        // A reload that keeps c (now first) and adds d.
        let renamed = vec!["c:3".to_string(), "d:4".to_string()];
        metrics.reconfigure(&renamed, &[Some(2), None]);
        combiner.reconfigure(&[Some(2), None], limits);
        let text = metrics.render(&combiner, LocalInstant::from_nanos(0));
        assert_eq!(
            value(&text, "timeslave_master_rejected_total", &[c]).as_deref(),
            Some("2")
        );
        assert_eq!(
            value(
                &text,
                "timeslave_master_samples_total",
                &[("master", "d:4")]
            )
            .as_deref(),
            Some("0")
        );
        assert_eq!(value(&text, "timeslave_master_samples_total", &[a]), None);
    }
}
