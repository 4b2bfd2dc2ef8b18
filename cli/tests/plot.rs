//! `tt-cli plot` against a server in this test whose history is chosen
//! here: the SVG it writes is read back with a minimal XML reader and its
//! parts counted against the history.

mod common;
mod svg;

use common::{serve_tcp, TempDir};

use std::process::{Command, Output};
use tonic::{Request, Response, Status};
use tt_proto::v1::true_time_server::TrueTime;
use tt_proto::v1::{
    HistoryEvent, HistoryEventKind, HistoryMember, HistoryMemberInfo, HistoryPoint, HistoryRequest,
    HistoryResponse, NowRequest, NowResponse, Verdict,
};

const SEC: i64 = 1_000_000_000;
/// 2026-12-04T16:00:00Z.
const UNIX_AT_ZERO: i64 = 1_796_400_000 * SEC;
/// The server's local instant when it answers.
const NOW: i64 = 100 * SEC;

/// A point at `at_s` serving a `width_ns` interval (none if 0), and the
/// width it replaced, if any.
fn point(at_s: i64, width_ns: i64, replaced_ns: i64) -> HistoryPoint {
    let mid = UNIX_AT_ZERO + at_s * SEC;
    let member = HistoryMember {
        has_interval: true,
        earliest_unix_ns: mid - 500_000,
        latest_unix_ns: mid + 500_000,
        verdict: Verdict::InMajority as i32,
        age_ns: 0,
    };
    HistoryPoint {
        local_ns: at_s * SEC,
        system_unix_ns: mid,
        synchronized: width_ns > 0,
        earliest_unix_ns: if width_ns > 0 { mid - width_ns / 2 } else { 0 },
        latest_unix_ns: if width_ns > 0 { mid + width_ns / 2 } else { 0 },
        members: vec![member, member],
        replaced: replaced_ns > 0,
        replaced_earliest_unix_ns: if replaced_ns > 0 {
            mid - replaced_ns / 2
        } else {
            0
        },
        replaced_latest_unix_ns: if replaced_ns > 0 {
            mid + replaced_ns / 2
        } else {
            0
        },
    }
}

fn event(at_s: i64, kind: HistoryEventKind, member: i32, verdict: Verdict) -> HistoryEvent {
    HistoryEvent {
        local_ns: at_s * SEC,
        kind: kind as i32,
        member,
        verdict: verdict as i32,
    }
}

/// The history this test's server keeps (answered whatever the window):
/// - a point at 30 s, outside a 60 s window that starts at 40 s;
/// - 41 to 50 s served, 1 ms wide growing by 40 us a second, and at 45 s
///   a round replaced 1.4 ms with 1 ms;
/// - 51 and 52 s nothing served (master `b` unreachable, sync lost);
/// - 53 to 60 s served again, a round at 55 s replacing 1.3 ms.
fn history() -> HistoryResponse {
    let mut points = vec![point(30, 1_000_000, 0)];
    for at in 41..=50 {
        let replaced = if at == 45 { 1_400_000 } else { 0 };
        points.push(point(at, 1_000_000 + (at - 41) * 40_000, replaced));
    }
    points.push(point(51, 0, 0));
    points.push(point(52, 0, 0));
    for at in 53..=60 {
        let replaced = if at == 55 { 1_300_000 } else { 0 };
        points.push(point(at, 1_000_000 + (at - 53) * 40_000, replaced));
    }

    let mut events = vec![event(35, HistoryEventKind::Sample, 1, Verdict::InMajority)];
    for at in 41..=60 {
        events.push(event(at, HistoryEventKind::Sample, 0, Verdict::InMajority));
        if at <= 50 {
            events.push(event(at, HistoryEventKind::Sample, 1, Verdict::InMajority));
        }
    }
    events.push(event(
        51,
        HistoryEventKind::MemberFault,
        1,
        Verdict::Unreachable,
    ));
    events.push(event(
        51,
        HistoryEventKind::SyncLost,
        -1,
        Verdict::Unspecified,
    ));
    events.push(event(
        53,
        HistoryEventKind::SyncRegained,
        -1,
        Verdict::Unspecified,
    ));
    events.push(event(
        53,
        HistoryEventKind::MemberRecovered,
        1,
        Verdict::InMajority,
    ));
    events.sort_by_key(|e| e.local_ns);

    HistoryResponse {
        role: "timeslave".to_string(),
        now_local_ns: NOW,
        drift_ppb: 200_000,
        members: vec![
            HistoryMemberInfo {
                name: "a:7371".to_string(),
                kind: "master".to_string(),
            },
            HistoryMemberInfo {
                name: "b<&>:7372".to_string(),
                kind: "master".to_string(),
            },
        ],
        points,
        events,
        capacity: 3600,
    }
}

struct Fake;

#[tonic::async_trait]
impl TrueTime for Fake {
    async fn now(&self, _: Request<NowRequest>) -> Result<Response<NowResponse>, Status> {
        Ok(Response::new(NowResponse::unsynchronized("not asked")))
    }

    async fn history(
        &self,
        _: Request<HistoryRequest>,
    ) -> Result<Response<HistoryResponse>, Status> {
        Ok(Response::new(history()))
    }
}

/// A server that keeps no history: the default answer, UNIMPLEMENTED.
struct Old;

#[tonic::async_trait]
impl TrueTime for Old {}

async fn cli(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_tt-cli"))
            .args(&args)
            .output()
            .expect("run tt-cli")
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plot_draws_the_history_it_was_given() {
    let address = serve_tcp(Fake).await;
    let dir = TempDir::new("plot");
    let file = dir.0.join("width.svg");
    let file_text = file.to_str().expect("utf-8");

    let output = cli(&[
        "--address",
        &address,
        "plot",
        "--output",
        file_text,
        "--window-s",
        "60",
    ])
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.starts_with(&format!("wrote {file_text}: 20 points")),
        "{said}"
    );

    let document = std::fs::read_to_string(&file).expect("the plot was written");
    let root = svg::parse(&document).unwrap_or_else(|e| panic!("not XML: {e}\n{document}"));
    assert_eq!(root.name, "svg");
    assert_eq!(root.attr("xmlns"), Some("http://www.w3.org/2000/svg"));

    // The width: two stretches of service. 41..50 s is 10 points and the
    // replaced top at 45 s; 53..60 s is 8 points and the top at 55 s. The
    // point at 30 s is outside the window.
    let lines = root.find("polyline", "width");
    let counts: Vec<usize> = lines
        .iter()
        .map(|line| svg::vertices(line.attr("points").expect("points")).len())
        .collect();
    assert_eq!(counts, [11, 9]);
    for line in &lines {
        let vertices = svg::vertices(line.attr("points").expect("points"));
        assert!(
            vertices.windows(2).all(|pair| pair[0].0 <= pair[1].0),
            "time runs backwards: {vertices:?}"
        );
    }
    // The drop at 45 s: two vertices at the same x, the replaced 1.4 ms
    // above (a smaller y than) the new 1 ms + 4 * 40 us.
    let first = svg::vertices(lines[0].attr("points").expect("points"));
    assert_eq!(first[4].0, first[5].0);
    assert!(first[4].1 < first[5].1);

    // Nothing served from 51 s to 53 s: one shaded stretch.
    assert_eq!(root.find("rect", "unsynchronized").len(), 1);

    // Axes labelled with their units. Widths up to 1.4 ms: labels in us.
    let titles: Vec<String> = root
        .find("text", "axis-title")
        .iter()
        .map(|t| t.all_text())
        .collect();
    assert!(
        titles.contains(&"time before now (s)".to_string()),
        "{titles:?}"
    );
    assert!(
        titles.contains(&"interval width (µs)".to_string()),
        "{titles:?}"
    );
    assert!(root.find("text", "y-label").len() >= 2);
    assert!(root.find("text", "x-label").len() >= 2);

    // A tick per sample in the window: 20 for a, 10 for b (its sample at
    // 35 s is before the window).
    let ticks: Vec<usize> = root
        .find("path", "samples")
        .iter()
        .map(|path| path.attr("d").expect("d").matches('M').count())
        .collect();
    assert_eq!(ticks, [20, 10]);

    // The fault, named with the member's name as written, and the loss
    // of sync; the recoveries in their own class.
    let faults = root.find("g", "fault");
    assert_eq!(faults.len(), 2);
    let said: Vec<String> = faults.iter().map(|g| g.all_text()).collect();
    assert!(said[0].contains("b<&>:7372 turned unreachable"), "{said:?}");
    assert!(faults[1].has_class("sync-lost"));
    assert_eq!(root.find("g", "recovery").len(), 2);
    let names: Vec<String> = root
        .find("text", "member")
        .iter()
        .map(|t| t.all_text())
        .collect();
    assert_eq!(names, ["a:7371 (master)", "b<&>:7372 (master)"]);

    // The same in JSON.
    let output = cli(&[
        "--address",
        &address,
        "--json",
        "plot",
        "-o",
        file_text,
        "--window-s",
        "60",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(json["points"], 20);
    assert_eq!(json["samples"], 30);
    assert_eq!(json["faults"], 1);
    assert_eq!(json["sync_lost"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plot_errors_exit_two_in_one_line() {
    let dir = TempDir::new("plot-errors");
    let file = dir.0.join("width.svg");
    let file_text = file.to_str().expect("utf-8");

    // A server without History.
    let old = serve_tcp(Old).await;
    let output = cli(&["--address", &old, "plot", "-o", file_text]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("does not answer this request"), "{stderr}");
    assert!(!file.exists());

    // A file that cannot be written, and a format that is not SVG.
    let fake = serve_tcp(Fake).await;
    let nowhere = dir.0.join("no/such/dir/width.svg");
    let output = cli(&["--address", &fake, "plot", "-o", nowhere.to_str().unwrap()]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot write"));
    let png = dir.0.join("width.png");
    let output = cli(&["--address", &fake, "plot", "-o", png.to_str().unwrap()]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("SVG only"));
    assert!(!png.exists());

    // The window must be a number of seconds from 1 to 86400.
    let output = cli(&[
        "--address",
        &fake,
        "plot",
        "-o",
        file_text,
        "--window-s",
        "0",
    ])
    .await;
    assert_eq!(output.status.code(), Some(2));
}
