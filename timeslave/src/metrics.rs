//! The slave's Prometheus metrics: per master (label `master`, its
//! configured address) the offset, width and age of its last good answer
//! carried to the scrape's instant, its verdict as a state set, the polls
//! by outcome, the samples it gave and how many the vote rejected, and a
//! histogram of poll round trips; the combined interval's width, the sync
//! state, clock disruptions and the gRPC counts.
//!
//! The offset is the midpoint of the master's interval minus the midpoint
//! of the combined interval; it exists only while both do. Figures are
//! written exactly from integer nanoseconds.

use crate::combiner::{Combiner, PollOutcome, Verdict};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tt_core::{Interval, LocalInstant};
use tt_ops::grpc::GrpcCounters;
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
    /// gRPC requests and errors, both listeners together.
    pub grpc: Arc<GrpcCounters>,
    started_unix_ns: i64,
    masters: Mutex<Vec<MasterCounts>>,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
}

impl SlaveMetrics {
    /// Counters for masters called `names`, of a process that started at
    /// `started_unix_ns` (wall clock).
    pub fn new(names: &[String], grpc: Arc<GrpcCounters>, started_unix_ns: i64) -> SlaveMetrics {
        SlaveMetrics {
            grpc,
            started_unix_ns,
            masters: Mutex::new(names.iter().map(|n| MasterCounts::new(n)).collect()),
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
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

    /// Counts a configuration reload, applied or refused.
    pub fn count_reload(&self, applied: bool) {
        let counter = if applied {
            &self.reloads
        } else {
            &self.reload_failures
        };
        counter.fetch_add(1, Ordering::Relaxed);
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
        let members = combiner.members(at);
        let masters = self.lock().clone();
        let names: Vec<&str> = masters.iter().map(|m| m.name.as_str()).collect();

        out.single(
            "timeslave_synchronized",
            Kind::Gauge,
            "1 while Now answers with an interval, else 0.",
            Value::Int(i64::from(combined.is_some())),
        );
        out.family(
            "timeslave_combined_width_seconds",
            Kind::Gauge,
            "Width of the interval Now answers with; absent while unsynchronized.",
        );
        if let Some(interval) = combined {
            out.sample(
                "timeslave_combined_width_seconds",
                &[],
                Value::Nanos(interval.width_ns()),
            );
        }
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

        out.family(
            "timeslave_master_offset_seconds",
            Kind::Gauge,
            "Midpoint of the master's last interval minus the combined interval's midpoint.",
        );
        for (member, name) in members.iter().zip(&names) {
            if let Some(offset) = offset_ns(member.interval, combined) {
                out.sample(
                    "timeslave_master_offset_seconds",
                    &[("master", name)],
                    Value::Nanos(offset),
                );
            }
        }
        out.family(
            "timeslave_master_width_seconds",
            Kind::Gauge,
            "Width of the master's last good answer carried to now; absent before one.",
        );
        for (member, name) in members.iter().zip(&names) {
            if let Some(interval) = member.interval {
                out.sample(
                    "timeslave_master_width_seconds",
                    &[("master", name)],
                    Value::Nanos(interval.width_ns()),
                );
            }
        }
        out.family(
            "timeslave_master_age_seconds",
            Kind::Gauge,
            "Time since the master's last good answer; absent before one.",
        );
        for (member, name) in members.iter().zip(&names) {
            if member.age_ns >= 0 {
                out.sample(
                    "timeslave_master_age_seconds",
                    &[("master", name)],
                    Value::Nanos(member.age_ns),
                );
            }
        }
        out.family(
            "timeslave_master_verdict",
            Kind::Gauge,
            "The master's verdict in the last round as a state set: 1 for its verdict, 0 for \
             the others.",
        );
        for (member, name) in members.iter().zip(&names) {
            for verdict in VERDICTS {
                let label = verdict_label(verdict);
                out.sample(
                    "timeslave_master_verdict",
                    &[("master", name), ("verdict", &label)],
                    Value::Int(i64::from(member.verdict == verdict)),
                );
            }
        }

        out.family(
            "timeslave_master_polls_total",
            Kind::Counter,
            "Polls of the master by outcome: answer, unsynchronized (it said so), unreachable \
             (no answer, an error or garbage).",
        );
        for counts in &masters {
            for (outcome, count) in [
                ("answer", counts.answers),
                ("unsynchronized", counts.unsynchronized),
                ("unreachable", counts.unreachable),
            ] {
                out.sample(
                    "timeslave_master_polls_total",
                    &[("master", &counts.name), ("outcome", outcome)],
                    Value::Count(count),
                );
            }
        }
        out.family(
            "timeslave_master_samples_total",
            Kind::Counter,
            "Synchronized answers the master gave, each a sample for the vote.",
        );
        for counts in &masters {
            out.sample(
                "timeslave_master_samples_total",
                &[("master", &counts.name)],
                Value::Count(counts.answers),
            );
        }
        out.family(
            "timeslave_master_rejected_total",
            Kind::Counter,
            "Rounds whose vote rejected the master's answer (falseticker or stale).",
        );
        for counts in &masters {
            out.sample(
                "timeslave_master_rejected_total",
                &[("master", &counts.name)],
                Value::Count(counts.rejected),
            );
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

        self.grpc.write(&mut out, "timeslave");
        out.single(
            "timeslave_config_reloads_total",
            Kind::Counter,
            "Configuration reloads (SIGHUP) applied.",
            Value::Count(self.reloads.load(Ordering::Relaxed)),
        );
        out.single(
            "timeslave_config_reload_failures_total",
            Kind::Counter,
            "Configuration reloads refused (the file did not parse, check or resolve).",
            Value::Count(self.reload_failures.load(Ordering::Relaxed)),
        );
        out.family(
            "timeslave_build_info",
            Kind::Gauge,
            "The running version, as a label.",
        );
        out.sample(
            "timeslave_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            Value::Int(1),
        );
        out.single(
            "process_start_time_seconds",
            Kind::Gauge,
            "Start time of the process since the Unix epoch, in seconds.",
            Value::Nanos(self.started_unix_ns),
        );
        out.finish()
    }
}

/// `member`'s midpoint minus `combined`'s, when both exist (saturating).
fn offset_ns(member: Option<Interval>, combined: Option<Interval>) -> Option<i64> {
    let (member, combined) = (member?, combined?);
    let difference =
        i128::from(member.midpoint().unix_nanos()) - i128::from(combined.midpoint().unix_nanos());
    Some(i64::try_from(difference).unwrap_or(if difference < 0 { i64::MIN } else { i64::MAX }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::combiner::Limits;
    use std::time::Duration;
    use tt_core::{Drift, Sample};

    fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<String> {
        tt_ops::prom::parse(text)
            .unwrap()
            .into_iter()
            .find(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(*v)))
            .map(|s| s.value)
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
        let a = [("master", "a:1")];
        let c = [("master", "c:3")];
        assert_eq!(
            value(&text, "timeslave_synchronized", &[]).as_deref(),
            Some("1")
        );
        // f = 1 of 3: the hull of the points two cover, [200, 300].
        assert_eq!(
            value(&text, "timeslave_combined_width_seconds", &[]).as_deref(),
            Some("0.0000001")
        );
        // a's midpoint 200, combined 250.
        assert_eq!(
            value(&text, "timeslave_master_offset_seconds", &a).as_deref(),
            Some("-0.00000005")
        );
        assert_eq!(
            value(
                &text,
                "timeslave_master_verdict",
                &[c[0], ("verdict", "falseticker")]
            )
            .as_deref(),
            Some("1")
        );
        assert_eq!(
            value(&text, "timeslave_master_rejected_total", &c).as_deref(),
            Some("2")
        );
        assert_eq!(
            value(
                &text,
                "timeslave_master_polls_total",
                &[a[0], ("outcome", "answer")]
            )
            .as_deref(),
            Some("1")
        );
        assert_eq!(
            value(
                &text,
                "timeslave_master_polls_total",
                &[a[0], ("outcome", "unreachable")]
            )
            .as_deref(),
            Some("1")
        );
        // c answered twice in 700 us: both in the 1 ms bucket, none in 500 us.
        assert_eq!(
            value(
                &text,
                "timeslave_poll_round_trip_seconds_bucket",
                &[c[0], ("le", "0.0005")]
            )
            .as_deref(),
            Some("0")
        );
        assert_eq!(
            value(
                &text,
                "timeslave_poll_round_trip_seconds_bucket",
                &[c[0], ("le", "0.001")]
            )
            .as_deref(),
            Some("2")
        );
        assert_eq!(
            value(&text, "timeslave_poll_round_trip_seconds_sum", &c).as_deref(),
            Some("0.0014")
        );

        // A reload that keeps c (now first) and adds d.
        let renamed = vec!["c:3".to_string(), "d:4".to_string()];
        metrics.reconfigure(&renamed, &[Some(2), None]);
        combiner.reconfigure(&[Some(2), None], limits);
        let text = metrics.render(&combiner, LocalInstant::from_nanos(0));
        assert_eq!(
            value(&text, "timeslave_master_rejected_total", &c).as_deref(),
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
        assert_eq!(value(&text, "timeslave_master_samples_total", &a), None);
    }
}
