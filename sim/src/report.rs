//! The report: every scenario run with one seed, as Markdown.

use crate::catalogue::ALL;
use crate::scenario::Scenario;
use crate::summary::{run, Summary};
use crate::truth::SECOND;
use std::fmt::Write as _;

/// Every scenario of the catalogue run with `seed`, at the report's
/// lengths (or the tests' lengths when `quick`).
pub fn run_all(seed: u64, quick: bool) -> Vec<(Scenario, Summary)> {
    ALL.iter()
        .map(|entry| {
            let length = if quick {
                entry.test_ns
            } else {
                entry.report_ns
            };
            let scenario = (entry.build)(length);
            let summary = run(&scenario, seed).summary;
            (scenario, summary)
        })
        .collect()
}

/// Nanoseconds as milliseconds with three decimals.
pub fn ms(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let ns = ns.unsigned_abs();
    format!("{sign}{}.{:03}", ns / 1_000_000, ns % 1_000_000 / 1_000)
}

/// A duration for people: `283 us`, `950 ms`, `2.9 s`, `60.4 s`.
fn took(ns: i64) -> String {
    if ns < 1_000_000 {
        format!("{} us", ns / 1_000)
    } else if ns < SECOND {
        format!("{} ms", ns / 1_000_000)
    } else {
        format!("{}.{} s", ns / SECOND, ns % SECOND / 100_000_000)
    }
}

/// Simulated hours, one decimal.
fn hours(ns: i64) -> String {
    let tenths = ns / (360 * SECOND);
    format!("{}.{}", tenths / 10, tenths % 10)
}

/// Parts per million as a percentage with three decimals.
fn percent(ppm: u64) -> String {
    format!("{}.{:03} %", ppm / 10_000, ppm % 10_000 / 10)
}

/// The report for `rows` as Markdown: one table of figures, then each
/// scenario in words with how its faults were seen and any violation.
pub fn markdown(rows: &[(Scenario, Summary)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| scenario | simulated h | violations | under a documented limit | width mean / p99 / max (ms) | predicted mean / max (ms) | availability | detected |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for (scenario, s) in rows {
        let detected: Vec<String> = s
            .detections
            .iter()
            .filter_map(|d| d.after_ns.map(|t| format!("{} after {}", d.seen, took(t))))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} / {} / {} | {} / {} | {} | {} |",
            scenario.name,
            hours(s.simulated_ns),
            s.violations,
            s.limit_violations,
            ms(s.widths.mean_ns),
            ms(s.widths.p99_ns),
            ms(s.widths.max_ns),
            ms(s.prediction.mean_ns),
            ms(s.prediction.max_ns),
            percent(s.availability_ppm()),
            if detected.is_empty() {
                "-".to_string()
            } else {
                detected.join("; ")
            }
        );
    }
    let _ = writeln!(out);
    for (scenario, s) in rows {
        let _ = writeln!(
            out,
            "- **{}**: {}. Expected: {}.",
            scenario.name, scenario.about, scenario.expect
        );
        if s.master_wrong_under_fault > 0 {
            let _ = writeln!(
                out,
                "  Master answers that missed truth under the fault (the lie itself): {} of {}.",
                s.master_wrong_under_fault, s.master_answers
            );
        }
        for d in &s.detections {
            if d.after_ns.is_none() {
                let _ = writeln!(out, "  {}: {}.", d.fault, d.seen);
            }
        }
        if let Some(v) = s.kept.first() {
            let _ = writeln!(
                out,
                "  First violation, {} s into the run, by {}: truth {} ms {} the interval; {}.",
                v.at_ns / SECOND,
                v.who,
                ms(v.miss_ns.abs()),
                if v.miss_ns < 0 { "below" } else { "above" },
                v.cause.as_deref().unwrap_or("no documented cause: a bug")
            );
        }
    }
    out
}

/// Where the Spanner configuration lands beside the paper's 1 to 7 ms:
/// half-widths (epsilon) right after a round, on average, and at most.
pub fn spanner_line(summary: &Summary) -> String {
    format!(
        "epsilon (half the width): {} ms right after a round on average, {} ms on average over \
         all reads, {} ms at the 99th percentile, {} ms at most; DESIGN.md predicts {} ms on \
         average and at most {} ms; the paper quotes 1 to 7 ms.",
        ms(summary.round_widths.mean_ns / 2),
        ms(summary.widths.mean_ns / 2),
        ms(summary.widths.p99_ns / 2),
        ms(summary.widths.max_ns / 2),
        ms(summary.prediction.mean_ns / 2),
        ms(summary.prediction.max_ns / 2)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_print_as_people_read_them() {
        assert_eq!(ms(1_664_123), "1.664");
        assert_eq!(ms(-25_000), "-0.025");
        assert_eq!(took(948_539_000), "948 ms");
        assert_eq!(took(283_400), "283 us");
        assert_eq!(took(60_444_000_000), "60.4 s");
        assert_eq!(hours(48 * 3_600 * SECOND), "48.0");
        assert_eq!(hours(40 * 60 * SECOND), "0.6");
        assert_eq!(percent(999_930), "99.993 %");
    }
}
