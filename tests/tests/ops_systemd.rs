//! The daemons as systemd runs them: the unit files pass
//! `systemd-analyze verify`, and the real daemons speak the notification
//! protocol to a socket this test binds and passes as NOTIFY_SOCKET:
//! READY once they serve, WATCHDOG while their work loop runs, RELOADING
//! and READY around a SIGHUP, STOPPING and a prompt exit 0 on SIGTERM.

mod ops_common;

use ops_common::{master_config, slave_config, start_slave, Daemon, NotifySocket};
use std::process::Command;
use std::time::{Duration, Instant};
use tt_tests::procs::{bin, free_port, TempDir};
use tt_tests::stack::{Client, GpsFeed};

const UNITS: [&str; 2] = ["timemaster", "timeslave"];

fn unit_text(name: &str) -> String {
    let path = format!("{}/../deploy/{name}.service", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// No systemd runs here, and verify checks that ExecStart's program
/// exists: each unit is verified as a copy whose ExecStart names the
/// binary just built, the rest of the unit unchanged.
#[test]
fn the_units_pass_systemd_analyze_verify() {
    let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("systemd-analyze is missing: install the systemd package (scripts/test does)");
    let dir = TempDir::new("units");
    let mut copies = Vec::new();
    for name in UNITS {
        let text = unit_text(name);
        let exec = format!("ExecStart=/usr/bin/{name} ");
        assert!(
            text.contains(&exec),
            "{name}.service starts /usr/bin/{name}"
        );
        let built = format!("ExecStart={} ", bin(name).display());
        let copy = dir.path().join(format!("{name}.service"));
        std::fs::write(&copy, text.replace(&exec, &built)).unwrap();
        copies.push(copy);
    }
    let output = Command::new(analyze)
        .arg("verify")
        .args(&copies)
        .output()
        .expect("systemd-analyze runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // verify exits 0 on keys it ignores; it warns on stderr, and that
    // counts as a failure here.
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        output.status
    );
}

#[test]
fn the_units_carry_the_settings_the_daemons_rely_on() {
    for name in UNITS {
        let text = unit_text(name);
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for wanted in [
            "Type=notify",
            "NotifyAccess=main",
            "ExecReload=/bin/kill -HUP $MAINPID",
            "Restart=on-failure",
            "User=truetime",
            "RuntimeDirectory=truetime",
            "RuntimeDirectoryPreserve=yes",
            "CapabilityBoundingSet=",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
            "MemoryDenyWriteExecute=yes",
            "LockPersonality=yes",
            "SystemCallFilter=@system-service",
        ] {
            assert!(lines.contains(&wanted), "{name}.service lacks {wanted}");
        }
        assert!(
            lines.iter().any(|l| l.starts_with("WatchdogSec=")),
            "{name}.service has no watchdog"
        );
    }
    // The master reads the kernel clock with adjtimex, which is in @clock,
    // not in @system-service; ProtectClock would deny it.
    let master = unit_text("timemaster");
    assert!(master.lines().any(|l| l == "SystemCallFilter=adjtimex"));
    assert!(!master.lines().any(|l| l.starts_with("ProtectClock=")));
    let slave = unit_text("timeslave");
    assert!(slave.lines().any(|l| l == "ProtectClock=yes"));
}

/// A master whose only source is a gpsd nobody runs: it starts and serves
/// "unsynchronized", and says so.
#[test]
fn a_master_without_time_is_ready_once_it_serves_and_feeds_the_watchdog() {
    let dir = TempDir::new("notify-master");
    let notify = NotifySocket::bind(dir.path());
    let address = format!("127.0.0.1:{}", free_port());
    let nobody = format!("127.0.0.1:{}", free_port());
    let config = dir.path().join("master.toml");
    std::fs::write(&config, master_config(&address, "", &nobody, "")).unwrap();
    let mut master = Daemon::start(
        "master",
        &bin("timemaster"),
        &["--config", config.to_str().unwrap()],
        // 400 ms: a keep-alive every 200 ms.
        &[
            ("NOTIFY_SOCKET", &notify.path()),
            ("WATCHDOG_USEC", "400000"),
        ],
        dir.path(),
    );

    let first = notify.next(Duration::from_secs(20));
    let Some(first) = first else {
        panic!("no notification; log:\n{}", master.log());
    };
    assert!(
        first.starts_with("READY=1\nSTATUS=unsynchronized: 0 of 1 sources usable"),
        "{first}"
    );
    // Ready means serving: the listener answers at once.
    let mut client = Client::connect(&format!("http://{address}"), Duration::ZERO)
        .expect("the listener answers as soon as READY=1 is sent");
    let status = client.status().expect("Status answers");
    let combined = status.combined.expect("a combined answer");
    assert_eq!(
        combined.status,
        tt_proto::v1::SyncStatus::Unsynchronized as i32
    );

    // Keep-alives keep coming while the assessment loop runs.
    let (third, _) = {
        let count = std::cell::Cell::new(0);
        notify.until(Duration::from_secs(10), |m| {
            if m == "WATCHDOG=1" {
                count.set(count.get() + 1);
            }
            count.get() == 3
        })
    };
    assert!(third.is_some(), "fewer than 3 WATCHDOG=1 in 10 s");

    master.signal("HUP");
    let (reloading, _) = notify.until(Duration::from_secs(10), |m| m == "RELOADING=1");
    assert!(reloading.is_some(), "no RELOADING=1 after SIGHUP");
    let (ready, _) = notify.until(Duration::from_secs(10), |m| m.starts_with("READY=1"));
    assert!(ready.is_some(), "no READY=1 after the reload");

    master.signal("TERM");
    let (stopping, _) = notify.until(Duration::from_secs(5), |m| m.starts_with("STOPPING=1"));
    assert!(stopping.is_some(), "no STOPPING=1 on SIGTERM");
    let exit = master.wait_exit(Duration::from_secs(5));
    assert_eq!(exit.and_then(|s| s.code()), Some(0), "{}", master.log());
}

/// The slave is ready after its first round, and its status line follows
/// it becoming synchronized.
#[test]
fn a_slave_is_ready_after_its_first_round_and_reports_synchronization() {
    let dir = TempDir::new("notify-slave");
    let feed = GpsFeed::start(dir.path(), "gps0", 50, 0);
    let master_address = format!("127.0.0.1:{}", free_port());
    let master_file = dir.path().join("master.toml");
    std::fs::write(
        &master_file,
        master_config(&master_address, "", &format!("127.0.0.1:{}", feed.port), ""),
    )
    .unwrap();
    let _master = Daemon::start(
        "master",
        &bin("timemaster"),
        &["--config", master_file.to_str().unwrap()],
        &[],
        dir.path(),
    );

    let notify = NotifySocket::bind(dir.path());
    let socket = dir.path().join("slave.sock");
    let mut slave = start_slave(
        dir.path(),
        &slave_config(&[&master_address], "", socket.to_str().unwrap(), ""),
        &[
            ("NOTIFY_SOCKET", &notify.path()),
            ("WATCHDOG_USEC", "2000000"),
        ],
    );
    let first = notify
        .next(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no notification; log:\n{}", slave.log()));
    assert!(first.starts_with("READY=1\nSTATUS="), "{first}");
    let target = format!("unix:{}", socket.display());
    assert!(
        Client::connect(&target, Duration::ZERO).is_some(),
        "the socket answers as soon as READY=1 is sent"
    );

    // gpsd needs a few sentences, the master a sample, the slave a round.
    let (synchronized, seen) = notify.until(Duration::from_secs(60), |m| {
        m.contains("STATUS=synchronized: 1 of 1 masters agree")
    });
    assert!(
        synchronized.is_some() || first.contains("STATUS=synchronized: 1 of 1 masters agree"),
        "never synchronized; messages: {seen:?}\nlog:\n{}",
        slave.log()
    );
    assert!(
        seen.iter().any(|m| m == "WATCHDOG=1"),
        "no keep-alive before synchronization: {seen:?}"
    );
    let mut client = Client::connect(&target, Duration::from_secs(5)).unwrap();
    assert!(matches!(
        client.now(),
        Ok(tt_proto::NowAnswer::Synchronized(_))
    ));

    slave.signal("TERM");
    let exit = slave.wait_exit(Duration::from_secs(5));
    assert_eq!(exit.and_then(|s| s.code()), Some(0), "{}", slave.log());
    drop(feed);
}

/// A client that holds its connection open without reading (its runtime
/// is not running between calls, as in a stopped process) does not hold
/// up the exit: both daemons leave within the drain time, well under the
/// two seconds the slave used to wait.
#[test]
fn sigterm_is_prompt_with_an_idle_client_connected() {
    let dir = TempDir::new("prompt-exit");
    let master_address = format!("127.0.0.1:{}", free_port());
    let master_file = dir.path().join("master.toml");
    let nobody = format!("127.0.0.1:{}", free_port());
    std::fs::write(
        &master_file,
        master_config(&master_address, "", &nobody, ""),
    )
    .unwrap();
    let mut master = Daemon::start(
        "master",
        &bin("timemaster"),
        &["--config", master_file.to_str().unwrap()],
        &[],
        dir.path(),
    );
    let socket = dir.path().join("slave.sock");
    let slave_address = format!("127.0.0.1:{}", free_port());
    let mut slave = start_slave(
        dir.path(),
        &slave_config(
            &[&master_address],
            &slave_address,
            socket.to_str().unwrap(),
            "",
        ),
        &[],
    );

    for (daemon, target) in [
        (&mut slave, format!("http://{slave_address}")),
        (&mut master, format!("http://{master_address}")),
    ] {
        // One call, then the client's runtime stands still.
        let mut client = Client::connect(&target, Duration::from_secs(20))
            .unwrap_or_else(|| panic!("{target} never answered; log:\n{}", daemon.log()));
        client.status().expect("Status answers");
        let asked = Instant::now();
        daemon.signal("TERM");
        let exit = daemon.wait_exit(Duration::from_secs(5));
        let took = asked.elapsed();
        assert_eq!(exit.and_then(|s| s.code()), Some(0), "{}", daemon.log());
        assert!(
            took < Duration::from_millis(1500),
            "{target} took {took:?} to exit after SIGTERM"
        );
        drop(client);
    }
}
