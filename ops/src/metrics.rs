//! What the daemons' Prometheus metrics have in common: the interval they
//! serve, the members of their vote (a master's sources and peers, a
//! slave's masters) and the process itself (gRPC counts, reloads, version,
//! start time). Each daemon names its families with its own prefix.
//!
//! A member's offset is the midpoint of its interval minus the midpoint of
//! the combined interval, both carried to the scrape's instant; it exists
//! only while both do. Figures are written exactly from integer
//! nanoseconds.

use crate::grpc::GrpcCounters;
use crate::prom::{Exposition, Kind, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tt_core::Interval;

/// Writes `<prefix>_synchronized` (1 while `served` is an interval, else
/// 0) and `<prefix>_combined_width_seconds` (its width, no sample while
/// there is none).
pub fn write_served(out: &mut Exposition, prefix: &str, served: Option<Interval>) {
    out.single(
        &format!("{prefix}_synchronized"),
        Kind::Gauge,
        "1 while Now answers with an interval, else 0.",
        Value::Int(i64::from(served.is_some())),
    );
    out.family_with(
        &format!("{prefix}_combined_width_seconds"),
        Kind::Gauge,
        "Width of the interval Now answers with; absent while unsynchronized.",
        served.map(|interval| ([], Value::Nanos(interval.width_ns()))),
    );
}

/// One member of a vote as a scrape sees it.
#[derive(Clone, Debug)]
pub struct Member<'a, V> {
    /// The labels that name it: `source` and `kind`, `peer`, `master`.
    pub labels: Vec<(&'a str, &'a str)>,
    /// Its interval carried to the scrape's instant; `None` while it has
    /// no usable one.
    pub interval: Option<Interval>,
    /// Nanoseconds since its last good sample, on the local timebase;
    /// `None` before one.
    pub age_ns: Option<i64>,
    /// Its verdict.
    pub verdict: V,
}

/// The four families written for one kind of member, in the words of
/// their help lines.
#[derive(Clone, Copy, Debug)]
pub struct MemberFamilies {
    /// The start of every name: `timemaster_source`, `timeslave_master`.
    pub prefix: &'static str,
    /// Help of `<prefix>_offset_seconds`.
    pub offset: &'static str,
    /// Help of `<prefix>_width_seconds`.
    pub width: &'static str,
    /// Help of `<prefix>_age_seconds`.
    pub age: &'static str,
    /// Help of `<prefix>_verdict`.
    pub verdict: &'static str,
}

/// Writes, for `members` against the `combined` interval:
/// `<prefix>_offset_seconds`, `<prefix>_width_seconds` and
/// `<prefix>_age_seconds`, each for the members that have the figure, and
/// `<prefix>_verdict`, a state set over `verdicts` with label `verdict`
/// named by `verdict_label`.
pub fn write_members<V: Copy + PartialEq>(
    out: &mut Exposition,
    families: &MemberFamilies,
    members: &[Member<'_, V>],
    combined: Option<Interval>,
    verdicts: &[V],
    verdict_label: fn(V) -> String,
) {
    let prefix = families.prefix;
    out.family_with(
        &format!("{prefix}_offset_seconds"),
        Kind::Gauge,
        families.offset,
        members.iter().filter_map(|member| {
            let offset = offset_ns(member.interval, combined)?;
            Some((&member.labels, Value::Nanos(offset)))
        }),
    );
    out.family_with(
        &format!("{prefix}_width_seconds"),
        Kind::Gauge,
        families.width,
        members.iter().filter_map(|member| {
            let interval = member.interval?;
            Some((&member.labels, Value::Nanos(interval.width_ns())))
        }),
    );
    out.family_with(
        &format!("{prefix}_age_seconds"),
        Kind::Gauge,
        families.age,
        members
            .iter()
            .filter_map(|member| Some((&member.labels, Value::Nanos(member.age_ns?)))),
    );
    out.state_set(
        &format!("{prefix}_verdict"),
        families.verdict,
        "verdict",
        verdicts,
        verdict_label,
        members
            .iter()
            .map(|member| (&member.labels, member.verdict)),
    );
}

/// `member`'s midpoint minus `combined`'s, when both exist (saturating).
fn offset_ns(member: Option<Interval>, combined: Option<Interval>) -> Option<i64> {
    let (member, combined) = (member?, combined?);
    let difference =
        i128::from(member.midpoint().unix_nanos()) - i128::from(combined.midpoint().unix_nanos());
    Some(i64::try_from(difference).unwrap_or(if difference < 0 { i64::MIN } else { i64::MAX }))
}

/// What names a daemon's process metrics.
#[derive(Clone, Copy, Debug)]
pub struct Program {
    /// The start of every name but `process_start_time_seconds`:
    /// `timemaster`, `timeslave`.
    pub prefix: &'static str,
    /// The running version, the label of `<prefix>_build_info`.
    pub version: &'static str,
    /// Why a reload can be refused, for the help of
    /// `<prefix>_config_reload_failures_total`: "the file did not parse
    /// or check".
    pub reload_refusals: &'static str,
}

/// What a daemon counts about itself, besides its time.
pub struct ProcessMetrics {
    program: Program,
    /// gRPC requests and errors, every listener together.
    pub grpc: Arc<GrpcCounters>,
    started_unix_ns: i64,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
}

impl ProcessMetrics {
    /// The counts of `program`, started at `started_unix_ns` (wall clock),
    /// counting gRPC requests into `grpc`.
    pub fn new(program: Program, grpc: Arc<GrpcCounters>, started_unix_ns: i64) -> ProcessMetrics {
        ProcessMetrics {
            program,
            grpc,
            started_unix_ns,
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
        }
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

    /// Writes `<prefix>_grpc_requests_total`, `<prefix>_grpc_errors_total`,
    /// `<prefix>_config_reloads_total`,
    /// `<prefix>_config_reload_failures_total`, `<prefix>_build_info` and
    /// `process_start_time_seconds`.
    pub fn write(&self, out: &mut Exposition) {
        let Program {
            prefix,
            version,
            reload_refusals,
        } = self.program;
        self.grpc.write(out, prefix);
        out.single(
            &format!("{prefix}_config_reloads_total"),
            Kind::Counter,
            "Configuration reloads (SIGHUP) applied.",
            Value::Count(self.reloads.load(Ordering::Relaxed)),
        );
        out.single(
            &format!("{prefix}_config_reload_failures_total"),
            Kind::Counter,
            &format!("Configuration reloads refused ({reload_refusals})."),
            Value::Count(self.reload_failures.load(Ordering::Relaxed)),
        );
        out.family_with(
            &format!("{prefix}_build_info"),
            Kind::Gauge,
            "The running version, as a label.",
            [([("version", version)], Value::Int(1))],
        );
        out.single(
            "process_start_time_seconds",
            Kind::Gauge,
            "Start time of the process since the Unix epoch, in seconds.",
            Value::Nanos(self.started_unix_ns),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(earliest: i64, latest: i64) -> Interval {
        Interval::from_unix_nanos(earliest, latest).unwrap()
    }

    fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<String> {
        let samples = crate::prom::parse(text).unwrap();
        crate::prom::value_of(&samples, name, labels).map(str::to_string)
    }

    const FAMILIES: MemberFamilies = MemberFamilies {
        prefix: "x_member",
        offset: "Offset.",
        width: "Width.",
        age: "Age.",
        verdict: "Verdict.",
    };

    fn label(verdict: bool) -> String {
        if verdict { "good" } else { "bad" }.to_string()
    }

    #[test]
    fn members_are_written_with_the_figures_they_have() {
        let members = [
            Member {
                labels: vec![("member", "a")],
                interval: Some(iv(0, 4_000)),
                age_ns: Some(1_500_000_000),
                verdict: true,
            },
            Member {
                labels: vec![("member", "b")],
                interval: None,
                age_ns: None,
                verdict: false,
            },
        ];
        let mut out = Exposition::new();
        write_members(
            &mut out,
            &FAMILIES,
            &members,
            Some(iv(1_000, 2_000)),
            &[true, false],
            label,
        );
        let text = out.finish();
        let a = [("member", "a")];
        let b = [("member", "b")];
        // Midpoints 2000 and 1500: a is 500 ns ahead.
        assert_eq!(
            value(&text, "x_member_offset_seconds", &a).as_deref(),
            Some("0.0000005")
        );
        assert_eq!(
            value(&text, "x_member_width_seconds", &a).as_deref(),
            Some("0.000004")
        );
        assert_eq!(
            value(&text, "x_member_age_seconds", &a).as_deref(),
            Some("1.5")
        );
        for name in [
            "x_member_offset_seconds",
            "x_member_width_seconds",
            "x_member_age_seconds",
        ] {
            assert_eq!(value(&text, name, &b), None, "{name}");
        }
        assert_eq!(
            value(&text, "x_member_verdict", &[a[0], ("verdict", "good")]).as_deref(),
            Some("1")
        );
        assert_eq!(
            value(&text, "x_member_verdict", &[a[0], ("verdict", "bad")]).as_deref(),
            Some("0")
        );
        assert_eq!(
            value(&text, "x_member_verdict", &[b[0], ("verdict", "bad")]).as_deref(),
            Some("1")
        );
    }

    #[test]
    fn without_a_combined_interval_there_is_no_offset() {
        let members = [Member {
            labels: vec![("member", "a")],
            interval: Some(iv(0, 10)),
            age_ns: Some(0),
            verdict: true,
        }];
        let mut out = Exposition::new();
        write_members(&mut out, &FAMILIES, &members, None, &[true], label);
        let text = out.finish();
        assert!(text.contains("# TYPE x_member_offset_seconds gauge\n"));
        assert_eq!(value(&text, "x_member_offset_seconds", &[]), None);
        assert_eq!(
            value(&text, "x_member_width_seconds", &[]).as_deref(),
            Some("0.00000001")
        );
    }

    #[test]
    fn offsets_saturate_instead_of_wrapping() {
        let far = iv(i64::MAX - 1, i64::MAX);
        let near = iv(i64::MIN, i64::MIN + 1);
        assert_eq!(offset_ns(Some(far), Some(near)), Some(i64::MAX));
        assert_eq!(offset_ns(Some(near), Some(far)), Some(i64::MIN));
        assert_eq!(offset_ns(None, Some(far)), None);
    }

    #[test]
    fn the_process_is_written_under_the_program_prefix() {
        let program = Program {
            prefix: "x",
            version: "1.2.3",
            reload_refusals: "the file did not parse",
        };
        let metrics = ProcessMetrics::new(program, GrpcCounters::new(), 1_700_000_000_250_000_000);
        metrics.count_reload(true);
        metrics.count_reload(false);
        metrics.count_reload(false);
        let mut out = Exposition::new();
        write_served(&mut out, "x", None);
        metrics.write(&mut out);
        let text = out.finish();
        // Unsynchronized, one reload applied and two refused, started a
        // quarter second after 1_700_000_000 s.
        type Labels<'a> = &'a [(&'a str, &'a str)];
        let expected: [(&str, Labels, Option<&str>); 6] = [
            ("x_synchronized", &[], Some("0")),
            ("x_combined_width_seconds", &[], None),
            ("x_config_reloads_total", &[], Some("1")),
            ("x_config_reload_failures_total", &[], Some("2")),
            ("x_build_info", &[("version", "1.2.3")], Some("1")),
            ("process_start_time_seconds", &[], Some("1700000000.25")),
        ];
        for (name, labels, want) in expected {
            assert_eq!(value(&text, name, labels).as_deref(), want, "{name}");
        }
        assert!(text.contains(
            "# HELP x_config_reload_failures_total Configuration reloads refused (the file did \
             not parse).\n"
        ));
    }
}
