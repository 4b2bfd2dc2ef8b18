//! What `tt-cli now`, `status`, `sources` and `watch` print, from checked
//! answers.

use crate::format::{interval_line, midpoint_and_radius, ms_signed, ms_up, seconds, utc};
use serde_json::{json, Value};
use tt_core::Interval;
use tt_proto::v1::{Member, StatusResponse, Verdict};
use tt_proto::NowAnswer;

/// `... synchronized` or `unsynchronized: <reason>`.
pub fn now_text(answer: &NowAnswer) -> String {
    match answer {
        NowAnswer::Synchronized(interval) => format!("{}  synchronized", interval_line(interval)),
        NowAnswer::Unsynchronized(reason) => format!("unsynchronized: {reason}"),
    }
}

/// The answer as one JSON object; the interval fields are null when
/// unsynchronized, the reason null when synchronized.
pub fn now_json(answer: &NowAnswer) -> Value {
    match answer {
        NowAnswer::Synchronized(interval) => json!({
            "earliest_unix_ns": interval.earliest().unix_nanos(),
            "latest_unix_ns": interval.latest().unix_nanos(),
            "width_ns": interval.width_ns(),
            "status": "synchronized",
            "reason": null,
        }),
        NowAnswer::Unsynchronized(reason) => json!({
            "earliest_unix_ns": null,
            "latest_unix_ns": null,
            "width_ns": null,
            "status": "unsynchronized",
            "reason": reason,
        }),
    }
}

/// The verdict in words; `undecided` when the server gave none.
pub fn verdict_words(verdict: i32) -> &'static str {
    match Verdict::try_from(verdict) {
        Ok(Verdict::InMajority) => "in majority",
        Ok(Verdict::Falseticker) => "falseticker",
        Ok(Verdict::Unreachable) => "unreachable",
        Ok(Verdict::Unsynchronized) => "unsynchronized",
        Ok(Verdict::Stale) => "stale",
        Ok(Verdict::NoData) => "no data",
        Ok(Verdict::Unspecified) | Err(_) => "undecided",
    }
}

/// A member's interval, if it has a well-formed one.
fn member_interval(member: &Member) -> Option<Interval> {
    if !member.has_interval {
        return None;
    }
    Interval::from_unix_nanos(member.earliest_unix_ns, member.latest_unix_ns).ok()
}

/// Member midpoint minus combined midpoint, nanoseconds (saturating).
fn offset_ns(member: &Interval, combined: &Interval) -> i64 {
    let (member_mid, _) = midpoint_and_radius(member);
    let (combined_mid, _) = midpoint_and_radius(combined);
    member_mid.saturating_sub(combined_mid)
}

/// Lines of a table: each column as wide as its widest cell, two spaces
/// apart; columns marked in `right` aligned right (numbers), the others
/// left; trailing spaces trimmed.
fn table(header: &[&str], rows: &[Vec<String>], right: &[bool]) -> Vec<String> {
    let mut widths: Vec<usize> = header.iter().map(|cell| cell.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut text = String::new();
        for (column, cell) in cells.into_iter().enumerate() {
            if column > 0 {
                text.push_str("  ");
            }
            let pad = widths[column].saturating_sub(cell.chars().count());
            if right.get(column).copied().unwrap_or(false) {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                if column < last {
                    text.push_str(&" ".repeat(pad));
                }
            }
        }
        text.trim_end().to_string()
    };
    let mut lines = vec![line(header.to_vec())];
    for row in rows {
        lines.push(line(row.iter().map(String::as_str).collect()));
    }
    lines
}

/// A member's offset, width and age as table cells ("-" where unknown).
fn member_cells(member: &Member, combined: Option<&Interval>) -> [String; 3] {
    let interval = member_interval(member);
    let offset = match (interval, combined) {
        (Some(own), Some(combined)) => ms_signed(offset_ns(&own, combined)),
        _ => "-".to_string(),
    };
    let width = interval.map_or("-".to_string(), |iv| ms_up(iv.width_ns()));
    let age = if member.age_ns < 0 {
        "-".to_string()
    } else {
        seconds(member.age_ns)
    };
    [offset, width, age]
}

fn combined_interval(combined: &NowAnswer) -> Option<&Interval> {
    match combined {
        NowAnswer::Synchronized(interval) => Some(interval),
        NowAnswer::Unsynchronized(_) => None,
    }
}

/// Whether the answer holds an interval.
pub fn is_synchronized(answer: &NowAnswer) -> bool {
    matches!(answer, NowAnswer::Synchronized(_))
}

/// The member table: name, kind, offset, width, age, verdict, detail.
fn member_table(status: &StatusResponse, combined: &NowAnswer) -> Vec<String> {
    let header = [
        "NAME",
        "KIND",
        "OFFSET ms",
        "WIDTH ms",
        "AGE s",
        "VERDICT",
        "DETAIL",
    ];
    let rows: Vec<Vec<String>> = status
        .members
        .iter()
        .map(|member| {
            let [offset, width, age] = member_cells(member, combined_interval(combined));
            vec![
                member.name.clone(),
                member.kind.clone(),
                offset,
                width,
                age,
                verdict_words(member.verdict).to_string(),
                member.detail.clone(),
            ]
        })
        .collect();
    table(
        &header,
        &rows,
        &[false, false, true, true, true, false, false],
    )
}

/// One row per member, then the combined line, the quorum and the uptime.
pub fn status_text(status: &StatusResponse, combined: &NowAnswer) -> String {
    let mut out = member_table(status, combined);
    out.push(String::new());
    out.push(format!("combined: {}", now_text(combined)));
    out.push(format!(
        "quorum: {} must agree; up to {} falseticker{} tolerated",
        status.quorum,
        status.max_falsetickers,
        if status.max_falsetickers == 1 {
            ""
        } else {
            "s"
        }
    ));
    out.push(format!(
        "uptime: {} s ({} {}, drift bound {} ppb)",
        seconds(status.uptime_ns),
        status.role,
        status.version,
        status.drift_ppb
    ));
    out.join("\n")
}

/// A count, or "-" where the server does not count.
fn count(value: Option<u64>) -> String {
    value.map_or("-".to_string(), |n| n.to_string())
}

/// One row per member with its sample counts: a master's sources and
/// peers, or a slave's masters.
pub fn sources_text(status: &StatusResponse, combined: &NowAnswer) -> String {
    let header = [
        "NAME",
        "KIND",
        "OFFSET ms",
        "WIDTH ms",
        "AGE s",
        "VERDICT",
        "ACCEPTED",
        "REJECTED",
        "DETAIL",
    ];
    let rows: Vec<Vec<String>> = status
        .members
        .iter()
        .map(|member| {
            let [offset, width, age] = member_cells(member, combined_interval(combined));
            vec![
                member.name.clone(),
                member.kind.clone(),
                offset,
                width,
                age,
                verdict_words(member.verdict).to_string(),
                count(member.accepted),
                count(member.rejected),
                member.detail.clone(),
            ]
        })
        .collect();
    table(
        &header,
        &rows,
        &[false, false, true, true, true, false, true, true, false],
    )
    .join("\n")
}

/// The members as JSON objects, offsets against `combined`.
fn members_json(status: &StatusResponse, combined: &NowAnswer) -> Vec<Value> {
    let combined_interval = combined_interval(combined);
    status
        .members
        .iter()
        .map(|member| {
            let interval = member_interval(member);
            let offset = match (interval, combined_interval) {
                (Some(own), Some(combined)) => Some(offset_ns(&own, combined)),
                _ => None,
            };
            json!({
                "name": member.name,
                "kind": member.kind,
                "earliest_unix_ns": interval.map(|iv| iv.earliest().unix_nanos()),
                "latest_unix_ns": interval.map(|iv| iv.latest().unix_nanos()),
                "width_ns": interval.map(|iv| iv.width_ns()),
                "offset_ns": offset,
                "age_ns": (member.age_ns >= 0).then_some(member.age_ns),
                "verdict": verdict_words(member.verdict).replace(' ', "_"),
                "accepted": member.accepted,
                "rejected": member.rejected,
                "detail": member.detail,
            })
        })
        .collect()
}

/// The sources as one JSON object: the server's role, whether it is
/// synchronized, and the members.
pub fn sources_json(status: &StatusResponse, combined: &NowAnswer) -> Value {
    json!({
        "role": status.role,
        "synchronized": is_synchronized(combined),
        "sources": members_json(status, combined),
    })
}

/// A refresh of `watch` as a block of lines for a terminal: the combined
/// interval, the server, then the member table.
pub fn watch_block(status: &StatusResponse, combined: &NowAnswer, every_ms: u64) -> String {
    let mut out = vec![
        now_text(combined),
        format!(
            "{} {}, {} members, quorum {}, up {} s; every {every_ms} ms, Ctrl-C ends",
            status.role,
            status.version,
            status.members.len(),
            status.quorum,
            seconds(status.uptime_ns)
        ),
        String::new(),
    ];
    out.extend(member_table(status, combined));
    out.join("\n")
}

/// A refresh of `watch` as one line: the combined interval, then each
/// member's verdict, offset and width, separated by ` | `.
pub fn watch_line(status: &StatusResponse, combined: &NowAnswer) -> String {
    let head = match combined {
        NowAnswer::Synchronized(interval) => {
            let (mid, radius) = midpoint_and_radius(interval);
            format!("{} ± {} ms synchronized", utc(mid), ms_up(radius))
        }
        NowAnswer::Unsynchronized(reason) => format!("unsynchronized: {reason}"),
    };
    let mut parts = vec![head];
    for member in &status.members {
        let [offset, width, _] = member_cells(member, combined_interval(combined));
        let mut part = format!("{} {}", member.name, verdict_words(member.verdict));
        if offset != "-" {
            part.push_str(&format!(" offset {offset} ms"));
        }
        if width != "-" {
            part.push_str(&format!(" width {width} ms"));
        }
        parts.push(part);
    }
    parts.join(" | ")
}

/// The status as one JSON object.
pub fn status_json(status: &StatusResponse, combined: &NowAnswer) -> Value {
    json!({
        "role": status.role,
        "version": status.version,
        "combined": now_json(combined),
        "quorum": status.quorum,
        "max_falsetickers": status.max_falsetickers,
        "uptime_ns": status.uptime_ns,
        "drift_ppb": status.drift_ppb,
        "members": members_json(status, combined),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, interval: Option<(i64, i64)>, age_ns: i64, verdict: Verdict) -> Member {
        Member {
            name: name.to_string(),
            kind: "master".to_string(),
            has_interval: interval.is_some(),
            earliest_unix_ns: interval.map_or(0, |iv| iv.0),
            latest_unix_ns: interval.map_or(0, |iv| iv.1),
            age_ns,
            verdict: verdict as i32,
            detail: String::new(),
            accepted: None,
            rejected: None,
        }
    }

    fn status(members: Vec<Member>) -> StatusResponse {
        StatusResponse {
            role: "timeslave".to_string(),
            version: "0.1.0".to_string(),
            combined: None,
            quorum: 2,
            max_falsetickers: 1,
            members,
            uptime_ns: 3_725_500_000_000,
            drift_ppb: 200_000,
        }
    }

    #[test]
    fn offsets_are_midpoint_differences() {
        // Combined [1_000_000, 3_000_000], midpoint 2_000_000. Member
        // [2_500_000, 3_500_000], midpoint 3_000_000: +1 ms, width 1 ms.
        // The liar [100_000_000, 100_000_100]: midpoint 100_000_050, so
        // 98_000_050 ns, shown as +98.000 ms.
        let combined =
            NowAnswer::Synchronized(Interval::from_unix_nanos(1_000_000, 3_000_000).unwrap());
        let status = status(vec![
            member(
                "a:1",
                Some((2_500_000, 3_500_000)),
                400_000_000,
                Verdict::InMajority,
            ),
            member(
                "liar:2",
                Some((100_000_000, 100_000_100)),
                0,
                Verdict::Falseticker,
            ),
            member("down:3", None, -1, Verdict::Unreachable),
        ]);
        let text = status_text(&status, &combined);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "NAME    KIND    OFFSET ms  WIDTH ms  AGE s  VERDICT      DETAIL"
        );
        assert_eq!(
            lines[1],
            "a:1     master     +1.000     1.000    0.4  in majority"
        );
        assert_eq!(
            lines[2],
            "liar:2  master    +98.000     0.001    0.0  falseticker"
        );
        assert_eq!(
            lines[3],
            "down:3  master          -         -      -  unreachable"
        );
        assert_eq!(lines[4], "");
        assert!(lines[5].starts_with("combined: 1970-01-01T00:00:00.002000000Z ± 1.000 ms"));
        assert_eq!(
            lines[6],
            "quorum: 2 must agree; up to 1 falseticker tolerated"
        );
        assert_eq!(
            lines[7],
            "uptime: 3725.5 s (timeslave 0.1.0, drift bound 200000 ppb)"
        );

        let json = status_json(&status, &combined);
        assert_eq!(json["members"][0]["offset_ns"], 1_000_000);
        assert_eq!(json["members"][1]["offset_ns"], 98_000_050);
        assert_eq!(json["members"][1]["verdict"], "falseticker");
        assert_eq!(json["members"][2]["offset_ns"], Value::Null);
        assert_eq!(json["members"][2]["age_ns"], Value::Null);
        assert_eq!(json["members"][0]["verdict"], "in_majority");
        assert_eq!(json["combined"]["width_ns"], 2_000_000);
    }

    #[test]
    fn unsynchronized_combined_has_no_offsets() {
        let combined = NowAnswer::Unsynchronized("no quorum".to_string());
        let status = status(vec![member("a:1", Some((0, 10)), 0, Verdict::Unspecified)]);
        let text = status_text(&status, &combined);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            "a:1   master          -     0.001    0.0  undecided"
        );
        assert_eq!(lines[3], "combined: unsynchronized: no quorum");
        let json = now_json(&combined);
        assert_eq!(json["status"], "unsynchronized");
        assert_eq!(json["reason"], "no quorum");
        assert_eq!(json["earliest_unix_ns"], Value::Null);
    }
}
