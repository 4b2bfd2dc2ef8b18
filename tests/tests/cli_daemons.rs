//! tt-cli against real processes: a simulated receiver read by gpsd,
//! three timemasters, one timeslave polling them. Every command an
//! operator would run against them, a master killed on the way, and the
//! plot of the slave's history read back as XML and counted against the
//! history the slave itself reports.

#[path = "../../cli/tests/svg/mod.rs"]
mod svg;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;
use tt_proto::v1::{HistoryRequest, HistoryResponse};
use tt_tests::procs::{bin, free_port, wait_for, Proc, TempDir};
use tt_tests::stack::{start_master, GpsFeed};

/// The masters' delay range for the simulator's 50 ms (as the end-to-end
/// test reasons it).
const DELAY_RANGE_US: (i64, i64) = (20_000, 145_000);
const POLL_INTERVAL_MS: u64 = 500;

fn tt_cli(args: &[&str]) -> Output {
    Command::new(bin("tt-cli"))
        .args(args)
        .output()
        .expect("tt-cli runs")
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The slave's whole history, asked directly over gRPC.
fn history(target: &str) -> HistoryResponse {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime starts");
    runtime.block_on(async {
        let mut client = tt_client::connect(target).await.expect("connect");
        client
            .history(HistoryRequest { window_s: 0 })
            .await
            .expect("History answers")
            .into_inner()
    })
}

/// The vertices of every width line in the SVG at `path`, and the parsed
/// document.
fn read_plot(path: &Path) -> (svg::Element, usize) {
    let document = std::fs::read_to_string(path).expect("the plot was written");
    let root = svg::parse(&document).unwrap_or_else(|e| panic!("not XML: {e}"));
    let vertices = root
        .find("polyline", "width")
        .iter()
        .map(|line| svg::vertices(line.attr("points").expect("points")).len())
        .sum();
    (root, vertices)
}

/// Plots the whole history of `target` with tt-cli (`via` selects the
/// server) into `path`, and checks the width line against the history the
/// server itself reports. The history grows while the plot is made, so it
/// is read before and after: the plot's points are the first ones of the
/// later read, and it draws one vertex per point served plus one where a
/// round replaced the interval served until then. Returns the document,
/// tt-cli's summary and the points plotted.
fn plot_checked(
    target: &str,
    via: &[&str],
    path: &Path,
) -> (svg::Element, Value, Vec<tt_proto::v1::HistoryPoint>) {
    let before = history(target);
    let mut args = via.to_vec();
    let path_text = path.to_str().expect("utf-8");
    args.extend_from_slice(&["--json", "plot", "-o", path_text, "--window-s", "3600"]);
    let output = tt_cli(&args);
    let after = history(target);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = json(&output);
    let points = usize::try_from(summary["points"].as_u64().expect("points")).expect("usize");
    assert!(
        (before.points.len()..=after.points.len()).contains(&points),
        "{} <= {points} <= {}",
        before.points.len(),
        after.points.len()
    );
    let plotted = after.points[..points].to_vec();
    let expected: usize = plotted
        .iter()
        .map(|p| usize::from(p.synchronized) + usize::from(p.replaced))
        .sum();
    let (root, vertices) = read_plot(path);
    assert_eq!(vertices, expected);
    (root, summary, plotted)
}

#[test]
fn tt_cli_on_a_running_stack_through_a_master_failure() {
    let dir = TempDir::new("cli-daemons");
    let feed = GpsFeed::start(dir.path(), "gps0", 50, 0);
    let mut masters: Vec<(Proc, String)> = (0..3)
        .map(|i| {
            start_master(
                dir.path(),
                &format!("master{i}"),
                feed.port,
                DELAY_RANGE_US,
                &[],
                "metrics-listen = \"\"",
            )
        })
        .collect();
    let quoted: Vec<String> = masters.iter().map(|(_, a)| format!("\"{a}\"")).collect();
    let socket = dir.path().join("ts.sock");
    let slave_config = dir.path().join("slave.toml");
    std::fs::write(
        &slave_config,
        format!(
            "masters = [{}]\npoll-interval-ms = {POLL_INTERVAL_MS}\nrequest-timeout-ms = 250\n\
             listen = \"127.0.0.1:{}\"\nmetrics-listen = \"\"\nsocket = \"{}\"\nshm-path = \"{}\"\n",
            quoted.join(", "),
            free_port(),
            socket.display(),
            dir.path().join("ts.shm").display()
        ),
    )
    .expect("slave config");
    let mut slave = Proc::start(
        "timeslave",
        &bin("timeslave"),
        &["--config", slave_config.to_str().expect("utf-8")],
        dir.path(),
    );
    let socket = socket.to_str().expect("utf-8").to_string();
    let on_slave = |args: &[&str]| {
        let mut all = vec!["--socket", socket.as_str()];
        all.extend_from_slice(args);
        tt_cli(&all)
    };

    // Synchronized with all three masters in the majority: gpsd needs a
    // few sentences for a fix, the masters a sample, the slave a round.
    let in_majority = wait_for(Duration::from_secs(40), || {
        let output = on_slave(&["status", "--json"]);
        let status = serde_json::from_slice::<Value>(&output.stdout).ok()?;
        let members = status["members"].as_array()?;
        (output.status.code() == Some(0)
            && members.len() == 3
            && members.iter().all(|m| m["verdict"] == "in_majority"))
        .then_some(())
    });
    slave.assert_running();
    assert!(
        in_majority.is_some(),
        "the slave never had three masters in the majority; its log:\n{}",
        slave.log()
    );

    // now, status and sources on the slave.
    let output = on_slave(&["now"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).ends_with("  synchronized\n"));
    let output = on_slave(&["sources", "--json"]);
    assert_eq!(output.status.code(), Some(0));
    let sources = json(&output);
    assert_eq!(sources["role"], "timeslave");
    let names: Vec<&str> = sources["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    let addresses: Vec<&str> = masters.iter().map(|(_, a)| a.as_str()).collect();
    assert_eq!(names, addresses);

    // A master's sources: its gps0, with the samples it counted.
    let output = tt_cli(&["--address", &masters[0].1, "--json", "sources"]);
    assert_eq!(output.status.code(), Some(0));
    let sources = json(&output);
    assert_eq!(sources["role"], "timemaster");
    assert_eq!(sources["sources"][0]["name"], "gps0");
    assert_eq!(sources["sources"][0]["kind"], "gpsd");
    assert!(sources["sources"][0]["accepted"].as_u64().expect("counted") >= 1);
    assert!(sources["sources"][0]["rejected"].as_u64().is_some());

    // watch, in a pipe: one line per refresh.
    let output = on_slave(&["watch", "--count", "2", "--interval-ms", "100"]);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.lines().all(|line| line.contains(" synchronized | ")));

    // The daemons' own files pass the daemons' own parsers.
    let output = tt_cli(&["check-config", slave_config.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("valid timeslave configuration"));
    let master_config = dir.path().join("master0.toml");
    let output = tt_cli(&["check-config", master_config.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("valid timemaster configuration"));

    // A master dies: the slave calls it unreachable at its next round.
    let (killed, killed_address) = masters.remove(2);
    drop(killed);
    let unreachable = wait_for(Duration::from_secs(10), || {
        let status = json(&on_slave(&["status", "--json"]));
        (status["members"][2]["verdict"] == "unreachable").then_some(())
    });
    assert!(unreachable.is_some(), "the slave log:\n{}", slave.log());

    // The plot of the slave's whole history: every point, and the tops
    // of the sawtooth where rounds replaced what was served.
    let (root, summary, plotted) = plot_checked(
        &format!("unix:{socket}"),
        &["--socket", &socket],
        &dir.path().join("slave.svg"),
    );
    assert!(
        plotted.iter().any(|p| p.replaced),
        "no round replaced an interval"
    );

    // The killed master's fault is marked, by its name.
    let faults: Vec<String> = root
        .find("g", "fault")
        .iter()
        .map(|g| g.all_text())
        .collect();
    assert!(
        faults
            .iter()
            .any(|f| f.contains(&format!("{killed_address} turned unreachable"))),
        "{faults:?}"
    );
    assert!(summary["faults"].as_u64().expect("faults") >= 1);
    // Axes with their units; widths of about 130 ms are labelled in ms.
    let titles: Vec<String> = root
        .find("text", "axis-title")
        .iter()
        .map(|t| t.all_text())
        .collect();
    assert_eq!(titles, ["time before now (s)", "interval width (ms)"]);
    // Every master has sample ticks in its strip.
    for ticks in root.find("path", "samples") {
        assert!(ticks.attr("d").expect("d").contains('M'));
    }

    // A master's plot: a point a view, none replaced.
    let (root, _, plotted) = plot_checked(
        &masters[0].1,
        &["--address", &masters[0].1],
        &dir.path().join("master.svg"),
    );
    assert!(plotted.iter().any(|p| p.synchronized));
    assert!(plotted.iter().all(|p| !p.replaced));
    let members: Vec<String> = root
        .find("text", "member")
        .iter()
        .map(|t| t.all_text())
        .collect();
    assert_eq!(members, ["gps0 (gpsd)"]);

    slave.assert_running();
    for (master, _) in &mut masters {
        master.assert_running();
    }
}
