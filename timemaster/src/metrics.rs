//! The master's Prometheus metrics, rendered from one [`View`] per scrape:
//! the same judgement a `Now` or `Status` request at that instant makes.
//!
//! Per source (labels `source`, `kind`) and per peer (label `peer`):
//! offset, width and age in seconds, the verdict as a state set, and for
//! sources the samples accepted and inputs refused. The offset is the
//! midpoint of the member's interval minus the midpoint of the combined
//! interval, both carried to the scrape's instant; it exists only while
//! both do. Figures are written exactly from integer nanoseconds.

use crate::peers::Standing;
use crate::service::View;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tt_core::Interval;
use tt_ops::grpc::GrpcCounters;
use tt_ops::prom::{Exposition, Kind, Value};
use tt_proto::v1::Verdict;

/// Every verdict, for the state sets.
const VERDICTS: [Verdict; 7] = [
    Verdict::Unspecified,
    Verdict::InMajority,
    Verdict::Falseticker,
    Verdict::NoData,
    Verdict::Stale,
    Verdict::Unreachable,
    Verdict::Unsynchronized,
];

/// A verdict as a label value: `in_majority`, `falseticker`, ...
pub fn verdict_label(verdict: Verdict) -> String {
    verdict
        .as_str_name()
        .trim_start_matches("VERDICT_")
        .to_ascii_lowercase()
}

/// What the metrics count besides the view.
pub struct MasterMetrics {
    /// gRPC requests and errors.
    pub grpc: Arc<GrpcCounters>,
    started_unix_ns: i64,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
}

impl MasterMetrics {
    /// Metrics of a process that started at `started_unix_ns` (wall clock).
    pub fn new(grpc: Arc<GrpcCounters>, started_unix_ns: i64) -> MasterMetrics {
        MasterMetrics {
            grpc,
            started_unix_ns,
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
        }
    }

    /// Counts a configuration reload, applied or refused.
    pub fn count_reload(&self, applied: bool) {
        if applied {
            self.reloads.fetch_add(1, Ordering::Relaxed);
        } else {
            self.reload_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The exposition for `view`.
    pub fn render(&self, view: &View) -> String {
        let mut out = Exposition::new();
        let combined = view.assessment.combined.as_ref().ok().copied();
        let outvoted = matches!(view.standing, Standing::Outvoted(_));
        let served = combined.filter(|_| !outvoted);

        out.single(
            "timemaster_synchronized",
            Kind::Gauge,
            "1 while Now answers with an interval, else 0.",
            Value::Int(i64::from(served.is_some())),
        );
        out.single(
            "timemaster_out_of_service",
            Kind::Gauge,
            "1 while the peers' agreement excludes this master's interval, else 0.",
            Value::Int(i64::from(outvoted)),
        );
        out.family(
            "timemaster_combined_width_seconds",
            Kind::Gauge,
            "Width of the interval Now answers with; absent while unsynchronized.",
        );
        if let Some(interval) = served {
            out.sample(
                "timemaster_combined_width_seconds",
                &[],
                Value::Nanos(interval.width_ns()),
            );
        }
        out.single(
            "timemaster_quorum_sources",
            Kind::Gauge,
            "How many usable sources had to agree (n - f; f + 1 without agreement).",
            Value::Count(view.assessment.needed as u64),
        );

        self.write_sources(&mut out, view, combined);
        self.write_peers(&mut out, view, combined);

        self.grpc.write(&mut out, "timemaster");
        out.single(
            "timemaster_config_reloads_total",
            Kind::Counter,
            "Configuration reloads (SIGHUP) applied.",
            Value::Count(self.reloads.load(Ordering::Relaxed)),
        );
        out.single(
            "timemaster_config_reload_failures_total",
            Kind::Counter,
            "Configuration reloads refused (the file did not parse or check).",
            Value::Count(self.reload_failures.load(Ordering::Relaxed)),
        );
        out.family(
            "timemaster_build_info",
            Kind::Gauge,
            "The running version, as a label.",
        );
        out.sample(
            "timemaster_build_info",
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

    fn write_sources(&self, out: &mut Exposition, view: &View, combined: Option<Interval>) {
        let sources = &view.assessment.sources;
        let label = |i: usize| {
            [
                ("source", sources[i].state.name.as_str()),
                ("kind", sources[i].state.kind),
            ]
        };
        family(
            out,
            "timemaster_source_offset_seconds",
            Kind::Gauge,
            "Midpoint of the source's interval minus the combined interval's midpoint.",
        );
        for (i, judged) in sources.iter().enumerate() {
            if let Some(offset) = offset_ns(judged.interval, combined) {
                out.sample(
                    "timemaster_source_offset_seconds",
                    &label(i),
                    Value::Nanos(offset),
                );
            }
        }
        family(
            out,
            "timemaster_source_width_seconds",
            Kind::Gauge,
            "Width of the source's usable interval carried to now; absent when unusable.",
        );
        for (i, judged) in sources.iter().enumerate() {
            if let Some(interval) = judged.interval {
                out.sample(
                    "timemaster_source_width_seconds",
                    &label(i),
                    Value::Nanos(interval.width_ns()),
                );
            }
        }
        family(
            out,
            "timemaster_source_age_seconds",
            Kind::Gauge,
            "Time since the source's last sample, on the local timebase; absent before one.",
        );
        for (i, judged) in sources.iter().enumerate() {
            if let Some(age) = judged.age_ns {
                out.sample(
                    "timemaster_source_age_seconds",
                    &label(i),
                    Value::Nanos(age),
                );
            }
        }
        family(
            out,
            "timemaster_source_verdict",
            Kind::Gauge,
            "The source's verdict as a state set: 1 for its verdict, 0 for the others.",
        );
        for (i, judged) in sources.iter().enumerate() {
            for verdict in VERDICTS {
                let name = verdict_label(verdict);
                let [source, kind] = label(i);
                out.sample(
                    "timemaster_source_verdict",
                    &[source, kind, ("verdict", &name)],
                    Value::Int(i64::from(judged.verdict == verdict)),
                );
            }
        }
        family(
            out,
            "timemaster_source_samples_total",
            Kind::Counter,
            "Samples the source's driver accepted since it started.",
        );
        for (i, judged) in sources.iter().enumerate() {
            out.sample(
                "timemaster_source_samples_total",
                &label(i),
                Value::Count(judged.state.accepted),
            );
        }
        family(
            out,
            "timemaster_source_rejected_total",
            Kind::Counter,
            "Inputs the source's driver refused since it started.",
        );
        for (i, judged) in sources.iter().enumerate() {
            out.sample(
                "timemaster_source_rejected_total",
                &label(i),
                Value::Count(judged.state.rejected),
            );
        }
    }

    fn write_peers(&self, out: &mut Exposition, view: &View, combined: Option<Interval>) {
        family(
            out,
            "timemaster_peer_offset_seconds",
            Kind::Gauge,
            "Midpoint of the peer's interval minus this master's combined interval's midpoint.",
        );
        for peer in &view.peers {
            if let Some(offset) = offset_ns(peer.interval, combined) {
                out.sample(
                    "timemaster_peer_offset_seconds",
                    &[("peer", &peer.address)],
                    Value::Nanos(offset),
                );
            }
        }
        family(
            out,
            "timemaster_peer_width_seconds",
            Kind::Gauge,
            "Width of the peer's last answer carried to now; absent when unusable.",
        );
        for peer in &view.peers {
            if let Some(interval) = peer.interval {
                out.sample(
                    "timemaster_peer_width_seconds",
                    &[("peer", &peer.address)],
                    Value::Nanos(interval.width_ns()),
                );
            }
        }
        family(
            out,
            "timemaster_peer_age_seconds",
            Kind::Gauge,
            "Time since the peer's last good answer; absent before one.",
        );
        for peer in &view.peers {
            if let Some(age) = peer.age_ns {
                out.sample(
                    "timemaster_peer_age_seconds",
                    &[("peer", &peer.address)],
                    Value::Nanos(age),
                );
            }
        }
        family(
            out,
            "timemaster_peer_verdict",
            Kind::Gauge,
            "The peer's verdict as a state set: 1 for its verdict, 0 for the others.",
        );
        for peer in &view.peers {
            for verdict in VERDICTS {
                let name = verdict_label(verdict);
                out.sample(
                    "timemaster_peer_verdict",
                    &[("peer", &peer.address), ("verdict", &name)],
                    Value::Int(i64::from(peer.verdict == verdict)),
                );
            }
        }
    }
}

fn family(out: &mut Exposition, name: &str, kind: Kind, help: &str) {
    out.family(name, kind, help);
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
    use crate::assess::{Assessment, Judged};
    use tt_core::{LocalInstant, Sample, NANOS_PER_SEC};
    use tt_hw::SourceCell;

    fn iv(earliest: i64, latest: i64) -> Interval {
        Interval::from_unix_nanos(earliest, latest).unwrap()
    }

    #[test]
    fn a_view_is_rendered_with_values_from_its_judgement() {
        let t0 = 1_800_000_000 * NANOS_PER_SEC;
        let cell = SourceCell::new("gps0", "gpsd");
        cell.publish(
            Sample::new(LocalInstant::from_nanos(0), iv(t0, t0 + 2_000)),
            "fix",
        );
        cell.reject("bad sentence");
        let down = SourceCell::new("kernel", "kernel");
        let view = View {
            assessment: Assessment {
                combined: Ok(iv(t0 + 500, t0 + 1_500)),
                sources: vec![
                    Judged {
                        state: cell.snapshot(),
                        interval: Some(iv(t0, t0 + 2_000)),
                        age_ns: Some(250_000_000),
                        verdict: Verdict::InMajority,
                    },
                    Judged {
                        state: down.snapshot(),
                        interval: None,
                        age_ns: None,
                        verdict: Verdict::NoData,
                    },
                ],
                needed: 1,
            },
            standing: Standing::Alone,
            peers: Vec::new(),
            now: LocalInstant::from_nanos(250_000_000),
        };
        let metrics = MasterMetrics::new(GrpcCounters::new(), 1_700_000_000_500_000_000);
        let text = metrics.render(&view);
        let samples = tt_ops::prom::parse(&text).unwrap();
        let value = |name: &str, source: Option<&str>, verdict: Option<&str>| {
            samples
                .iter()
                .find(|s| {
                    s.name == name
                        && (source.is_none() || s.label("source") == source)
                        && (verdict.is_none() || s.label("verdict") == verdict)
                })
                .map(|s| s.value.clone())
        };
        assert_eq!(
            value("timemaster_synchronized", None, None).as_deref(),
            Some("1")
        );
        // [t0 + 500, t0 + 1500] is 1 us wide.
        assert_eq!(
            value("timemaster_combined_width_seconds", None, None).as_deref(),
            Some("0.000001")
        );
        // Midpoints t0 + 1000 and t0 + 1000: no offset.
        assert_eq!(
            value("timemaster_source_offset_seconds", Some("gps0"), None).as_deref(),
            Some("0")
        );
        assert_eq!(
            value("timemaster_source_width_seconds", Some("gps0"), None).as_deref(),
            Some("0.000002")
        );
        assert_eq!(
            value("timemaster_source_age_seconds", Some("gps0"), None).as_deref(),
            Some("0.25")
        );
        assert_eq!(
            value(
                "timemaster_source_verdict",
                Some("gps0"),
                Some("in_majority")
            )
            .as_deref(),
            Some("1")
        );
        assert_eq!(
            value("timemaster_source_verdict", Some("gps0"), Some("no_data")).as_deref(),
            Some("0")
        );
        assert_eq!(
            value("timemaster_source_verdict", Some("kernel"), Some("no_data")).as_deref(),
            Some("1")
        );
        assert_eq!(
            value("timemaster_source_samples_total", Some("gps0"), None).as_deref(),
            Some("1")
        );
        assert_eq!(
            value("timemaster_source_rejected_total", Some("gps0"), None).as_deref(),
            Some("1")
        );
        // The unusable source has no width, age or offset.
        assert_eq!(
            value("timemaster_source_width_seconds", Some("kernel"), None),
            None
        );
        assert_eq!(
            value("process_start_time_seconds", None, None).as_deref(),
            Some("1700000000.5")
        );
    }

    #[test]
    fn an_outvoted_master_is_not_synchronized() {
        let view = View {
            assessment: Assessment {
                combined: Ok(iv(0, 10)),
                sources: Vec::new(),
                needed: 1,
            },
            standing: Standing::Outvoted("off".into()),
            peers: Vec::new(),
            now: LocalInstant::from_nanos(0),
        };
        let text = MasterMetrics::new(GrpcCounters::new(), 0).render(&view);
        assert!(text.contains("\ntimemaster_synchronized 0\n"), "{text}");
        assert!(text.contains("\ntimemaster_out_of_service 1\n"), "{text}");
        assert!(
            !text.contains("\ntimemaster_combined_width_seconds "),
            "{text}"
        );
    }
}
