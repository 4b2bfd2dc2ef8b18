//! The metrics endpoints of real daemons against what Status says at about
//! the same time, the text format line by line, health SERVING once
//! synchronized, and JSON logs.

mod ops_common;

use ops_common::{
    master_config, sample, sample_text, scrape, slave_config, start_slave, unix_channel, Daemon,
};
use std::time::Duration;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tt_tests::procs::{bin, free_port, wait_for, TempDir};
use tt_tests::stack::{Client, GpsFeed};

/// Every family has HELP and TYPE (the parser insists), counters end in
/// `_total`, and durations are in seconds.
fn check_names(text: &str) {
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut parts = line.split(' ').skip(2);
        let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
        if kind == "counter" {
            assert!(name.ends_with("_total"), "{name}");
        }
        for timed in ["width", "offset", "age", "round_trip", "start_time"] {
            if name.contains(timed) {
                assert!(name.ends_with("_seconds"), "{name}");
            }
        }
    }
}

#[test]
fn scraped_metrics_agree_with_status_and_health_follows_sync() {
    let dir = TempDir::new("metrics");
    let feed = GpsFeed::start(dir.path(), "gps0", 50, 0);
    let master_address = format!("127.0.0.1:{}", free_port());
    let master_metrics = free_port();
    let master_file = dir.path().join("master.toml");
    std::fs::write(
        &master_file,
        master_config(
            &master_address,
            &format!("127.0.0.1:{master_metrics}"),
            &format!("127.0.0.1:{}", feed.port),
            "",
        ),
    )
    .unwrap();
    let master = Daemon::start(
        "master",
        &bin("timemaster"),
        &["--config", master_file.to_str().unwrap()],
        &[],
        dir.path(),
    );
    let socket = dir.path().join("slave.sock");
    let slave_address = format!("127.0.0.1:{}", free_port());
    let slave_metrics = free_port();
    let slave = start_slave(
        dir.path(),
        &slave_config(
            &[&master_address],
            &slave_address,
            socket.to_str().unwrap(),
            &format!("127.0.0.1:{slave_metrics}"),
        ),
        &[],
    );

    let mut slave_client =
        Client::connect(&format!("http://{slave_address}"), Duration::from_secs(20))
            .unwrap_or_else(|| panic!("slave never answered: {}", slave.log()));
    let synchronized = wait_for(Duration::from_secs(60), || {
        matches!(slave_client.now(), Ok(tt_proto::NowAnswer::Synchronized(_))).then_some(())
    });
    assert!(
        synchronized.is_some(),
        "never synchronized\nslave:\n{}\nmaster:\n{}",
        slave.log(),
        master.log()
    );

    // The master: Status, scrape, Status.
    let mut master_client =
        Client::connect(&format!("http://{master_address}"), Duration::from_secs(5)).unwrap();
    let before = master_client.status().unwrap();
    let text = scrape(master_metrics).unwrap();
    let after = master_client.status().unwrap();
    tt_ops::prom::parse(&text).expect("every line parses");
    check_names(&text);
    let gps = [("source", "gps0"), ("kind", "gpsd")];
    assert_eq!(sample(&text, "timemaster_synchronized", &[]), Some(1.0));
    assert_eq!(
        sample(
            &text,
            "timemaster_source_verdict",
            &[gps[0], ("verdict", "in_majority")]
        ),
        Some(1.0)
    );
    // One source, f = 0: the combined interval is the source's, so their
    // midpoints are the same instant.
    assert_eq!(
        sample_text(&text, "timemaster_source_offset_seconds", &gps).as_deref(),
        Some("0")
    );
    // Counts only grow: the scrape's lies between the two Status answers'.
    let accepted = |status: &tt_proto::v1::StatusResponse| {
        status.members[0]
            .accepted
            .expect("the master counts accepted samples") as f64
    };
    let counted = sample(&text, "timemaster_source_samples_total", &gps).unwrap();
    assert!(
        accepted(&before) <= counted && counted <= accepted(&after),
        "{} <= {counted} <= {}",
        accepted(&before),
        accepted(&after)
    );
    // The width is the delay range (125 ms) plus gpsd's millisecond on
    // each end, plus the drift bound over the sample's age (at most 3 s at
    // 200 ppm, 1.2 ms); never less than the first part.
    let width = sample(&text, "timemaster_combined_width_seconds", &[]).unwrap();
    assert!((0.127..=0.1282).contains(&width), "width {width}");
    let age = sample(&text, "timemaster_source_age_seconds", &gps).unwrap();
    assert!((0.0..=3.0).contains(&age), "age {age}");

    // The slave: its answers counted exactly, and the same checks.
    let master_label = [("master", master_address.as_str())];
    let first = scrape(slave_metrics).unwrap();
    let now_requests = |text: &str| {
        sample(
            text,
            "timeslave_grpc_requests_total",
            &[("service", "truetime.v1.TrueTime"), ("method", "Now")],
        )
        .unwrap_or(0.0)
    };
    for _ in 0..5 {
        slave_client.now().unwrap();
    }
    let text = scrape(slave_metrics).unwrap();
    tt_ops::prom::parse(&text).expect("every line parses");
    check_names(&text);
    assert_eq!(now_requests(&text) - now_requests(&first), 5.0);
    assert_eq!(sample(&text, "timeslave_synchronized", &[]), Some(1.0));
    assert_eq!(
        sample(
            &text,
            "timeslave_master_verdict",
            &[master_label[0], ("verdict", "in_majority")]
        ),
        Some(1.0)
    );
    // Every answered poll was timed once.
    assert_eq!(
        sample(
            &text,
            "timeslave_poll_round_trip_seconds_count",
            &master_label
        ),
        sample(&text, "timeslave_master_samples_total", &master_label)
    );
    // One master: the combined interval is its answer carried forward, so
    // the midpoints agree to the nanosecond of a halved odd width.
    let offset = sample(&text, "timeslave_master_offset_seconds", &master_label).unwrap();
    assert!(offset.abs() <= 1e-9, "offset {offset}");
    let status = slave_client.status().unwrap();
    let combined = status.combined.unwrap();
    let status_width = (combined.latest_unix_ns - combined.earliest_unix_ns) as f64 / 1e9;
    let width = sample(&text, "timeslave_combined_width_seconds", &[]).unwrap();
    // The slave's width saws between renewals once a second: within a
    // second's drift (400 us) plus one renewal of the master's own.
    assert!(
        (width - status_width).abs() <= 0.0015,
        "scraped {width} s, Status {status_width} s"
    );

    // Health: SERVING on the socket too, for "" and the service.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let channel = unix_channel(&socket).await.expect("the socket answers");
        let mut health = HealthClient::new(channel);
        for service in ["", "truetime.v1.TrueTime"] {
            let answer = health
                .check(HealthCheckRequest {
                    service: service.to_string(),
                })
                .await
                .expect("Check answers")
                .into_inner();
            assert_eq!(answer.status, ServingStatus::Serving as i32, "{service:?}");
        }
        // An unknown name is an error, and counted as one.
        let unknown = health
            .check(HealthCheckRequest {
                service: "no.such.Service".to_string(),
            })
            .await;
        assert_eq!(unknown.unwrap_err().code(), tonic::Code::NotFound);
    });
    let text = scrape(slave_metrics).unwrap();
    assert_eq!(
        sample(
            &text,
            "timeslave_grpc_errors_total",
            &[("service", "grpc.health.v1.Health"), ("method", "Check")]
        ),
        Some(1.0)
    );
    drop(feed);
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = TempDir::new("json-logs");
    let address = format!("127.0.0.1:{}", free_port());
    let nobody = format!("127.0.0.1:{}", free_port());
    let file = dir.path().join("master.toml");
    // The file says human; the flag wins.
    std::fs::write(
        &file,
        master_config(&address, "", &nobody, "log-format = \"human\""),
    )
    .unwrap();
    let mut master = Daemon::start(
        "master",
        &bin("timemaster"),
        &["--config", file.to_str().unwrap(), "--log-format", "json"],
        &[],
        dir.path(),
    );
    assert!(Client::connect(&format!("http://{address}"), Duration::from_secs(20)).is_some());
    master.signal("HUP");
    std::thread::sleep(Duration::from_millis(300));
    master.signal("TERM");
    assert_eq!(
        master
            .wait_exit(Duration::from_secs(5))
            .and_then(|s| s.code()),
        Some(0)
    );
    let log = master.log();
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.len() >= 3, "{log}");
    for line in &lines {
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(event["timestamp"].is_string(), "{line}");
        assert!(event["level"].is_string(), "{line}");
        assert!(event["fields"]["message"].is_string(), "{line}");
    }
    assert!(log.contains("SIGHUP: configuration reloaded"), "{log}");

    // A format that does not exist is one line and exit 2, for both.
    for program in ["timemaster", "timeslave"] {
        let output = std::process::Command::new(bin(program))
            .args(["--log-format", "xml"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{program}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{program}: {stderr}");
        assert!(stderr.contains("xml"), "{program}: {stderr}");
    }
}
