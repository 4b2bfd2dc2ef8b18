//! The master's Prometheus metrics, rendered from one [`View`] per scrape:
//! the same judgement a `Now` or `Status` request at that instant makes.
//!
//! Per source (labels `source`, `kind`) and per peer (label `peer`):
//! offset, width and age in seconds and the verdict as a state set (see
//! `tt_ops::metrics`), and for sources the samples accepted and inputs
//! refused.

use crate::assess::Judged;
use crate::peers::Standing;
use crate::service::View;
use std::sync::Arc;
use tt_core::Interval;
use tt_ops::grpc::GrpcCounters;
use tt_ops::metrics::{Member, MemberFamilies, ProcessMetrics, Program};
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

/// The families written per source (labels `source`, `kind`).
const SOURCES: MemberFamilies = MemberFamilies {
    prefix: "timemaster_source",
    offset: "Midpoint of the source's interval minus the combined interval's midpoint.",
    width: "Width of the source's usable interval carried to now; absent when unusable.",
    age: "Time since the source's last sample, on the local timebase; absent before one.",
    verdict: "The source's verdict as a state set: 1 for its verdict, 0 for the others.",
};

/// The families written per peer (label `peer`).
const PEERS: MemberFamilies = MemberFamilies {
    prefix: "timemaster_peer",
    offset: "Midpoint of the peer's interval minus this master's combined interval's midpoint.",
    width: "Width of the peer's last answer carried to now; absent when unusable.",
    age: "Time since the peer's last good answer; absent before one.",
    verdict: "The peer's verdict as a state set: 1 for its verdict, 0 for the others.",
};

/// What the metrics count besides the view.
pub struct MasterMetrics {
    /// gRPC requests, reloads, the start time.
    pub process: ProcessMetrics,
}

impl MasterMetrics {
    /// Metrics of a process that started at `started_unix_ns` (wall clock).
    pub fn new(grpc: Arc<GrpcCounters>, started_unix_ns: i64) -> MasterMetrics {
        MasterMetrics {
            process: ProcessMetrics::new(
                Program {
                    prefix: "timemaster",
                    version: env!("CARGO_PKG_VERSION"),
                    reload_refusals: "the file did not parse or check",
                },
                grpc,
                started_unix_ns,
            ),
        }
    }

    /// The exposition for `view`.
    pub fn render(&self, view: &View) -> String {
        let mut out = Exposition::new();
        let combined = view.assessment.combined.as_ref().ok().copied();
        let outvoted = matches!(view.standing, Standing::Outvoted(_));
        let served = combined.filter(|_| !outvoted);

        tt_ops::metrics::write_served(&mut out, "timemaster", served);
        out.single(
            "timemaster_out_of_service",
            Kind::Gauge,
            "1 while the peers' agreement excludes this master's interval, else 0.",
            Value::Int(i64::from(outvoted)),
        );
        out.single(
            "timemaster_quorum_sources",
            Kind::Gauge,
            "How many usable sources had to agree (n - f; f + 1 without agreement).",
            Value::Count(view.assessment.needed as u64),
        );

        write_sources(&mut out, view, combined);
        let peers: Vec<Member<'_, Verdict>> = view
            .peers
            .iter()
            .map(|peer| Member {
                labels: vec![("peer", peer.address.as_str())],
                interval: peer.interval,
                age_ns: peer.age_ns,
                verdict: peer.verdict,
            })
            .collect();
        tt_ops::metrics::write_members(
            &mut out,
            &PEERS,
            &peers,
            combined,
            &VERDICTS,
            verdict_label,
        );

        self.process.write(&mut out);
        out.finish()
    }
}

/// The source families, and the driver's counts of each source.
fn write_sources(out: &mut Exposition, view: &View, combined: Option<Interval>) {
    let sources = &view.assessment.sources;
    let members: Vec<Member<'_, Verdict>> = sources
        .iter()
        .map(|judged| Member {
            labels: vec![
                ("source", judged.state.name.as_str()),
                ("kind", judged.state.kind),
            ],
            interval: judged.interval,
            age_ns: judged.age_ns,
            verdict: judged.verdict,
        })
        .collect();
    tt_ops::metrics::write_members(out, &SOURCES, &members, combined, &VERDICTS, verdict_label);

    /// A counter family: its name, its help, and one source's count.
    type Counter = (&'static str, &'static str, fn(&Judged) -> u64);
    let counts: [Counter; 2] = [
        (
            "timemaster_source_samples_total",
            "Samples the source's driver accepted since it started.",
            |judged| judged.state.accepted,
        ),
        (
            "timemaster_source_rejected_total",
            "Inputs the source's driver refused since it started.",
            |judged| judged.state.rejected,
        ),
    ];
    for (name, help, count) in counts {
        let samples = members
            .iter()
            .zip(sources)
            .map(|(member, judged)| (&member.labels, Value::Count(count(judged))));
        out.family_with(name, Kind::Counter, help, samples);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assess::Assessment;
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
