//! The ptp4l source against real ptp4l (linuxptp), with software
//! timestamping, in two network namespaces joined by a veth pair that the
//! test creates and removes: a grandmaster in one, a slave in the other,
//! each with its management socket in the test's directory.
//!
//! Both namespaces share this host's `CLOCK_REALTIME`, so the slave runs
//! with `free_running 1`: it measures its offset from the grandmaster but
//! never adjusts the clock. The grandmaster's time is then the host clock
//! itself, which makes the host clock the true time every interval must
//! hold. Traffic stays on the veth pair (10.231.0.0/30, inside the two
//! namespaces only).
//!
//! Needs root (network namespaces); CI runs as root.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tt_core::{Drift, Timestamp};
use tt_hw::ptp4l::{self, Outcome, PollReport, Ptp4lConfig};
use tt_hw::{Health, SourceCell};
use tt_proto::NowAnswer;
use tt_tests::procs::{bin, free_port, Proc, TempDir};
use tt_tests::stack::Client;

fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip` ({e}); install iproute2"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Two namespaces and the veth pair between them; dropped, both
/// namespaces go (taking the veth ends inside with them) and a veth end
/// still in this namespace is deleted.
struct PtpNet {
    grandmaster_ns: String,
    slave_ns: String,
    grandmaster_if: String,
    slave_if: String,
}

impl PtpNet {
    fn create() -> PtpNet {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Interface names have at most 15 bytes.
        let tag = format!("{}{n}", pid % 1_000_000);
        let net = PtpNet {
            grandmaster_ns: format!("tt-ptp-gm-{pid}-{n}"),
            slave_ns: format!("tt-ptp-sl-{pid}-{n}"),
            grandmaster_if: format!("ttg{tag}"),
            slave_if: format!("tts{tag}"),
        };
        let steps: Vec<Vec<&str>> = vec![
            vec!["netns", "add", &net.grandmaster_ns],
            vec!["netns", "add", &net.slave_ns],
            vec![
                "link",
                "add",
                &net.grandmaster_if,
                "type",
                "veth",
                "peer",
                "name",
                &net.slave_if,
            ],
            vec![
                "link",
                "set",
                &net.grandmaster_if,
                "netns",
                &net.grandmaster_ns,
            ],
            vec!["link", "set", &net.slave_if, "netns", &net.slave_ns],
            vec![
                "-n",
                &net.grandmaster_ns,
                "addr",
                "add",
                "10.231.0.1/30",
                "dev",
                &net.grandmaster_if,
            ],
            vec![
                "-n",
                &net.slave_ns,
                "addr",
                "add",
                "10.231.0.2/30",
                "dev",
                &net.slave_if,
            ],
            vec![
                "-n",
                &net.grandmaster_ns,
                "link",
                "set",
                &net.grandmaster_if,
                "up",
            ],
            vec!["-n", &net.slave_ns, "link", "set", &net.slave_if, "up"],
            vec!["-n", &net.grandmaster_ns, "link", "set", "lo", "up"],
            vec!["-n", &net.slave_ns, "link", "set", "lo", "up"],
        ];
        for step in steps {
            // On failure `net` is dropped here and removes what was made.
            if let Err(e) = ip(&step) {
                panic!("cannot set up the PTP network: {e}");
            }
        }
        net
    }
}

impl Drop for PtpNet {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.grandmaster_ns]);
        let _ = ip(&["netns", "del", &self.slave_ns]);
        // Only if it never made it into a namespace.
        let _ = ip(&["link", "del", &self.grandmaster_if]);
    }
}

fn require_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test creates network namespaces and veth pairs, which needs root (CI runs as \
         root); run it as root, e.g. sudo -E cargo test -p tt-tests --test ptp4l_netns"
    );
}

/// ptp4l's major version, from `ptp4l -v`.
fn ptp4l_major() -> u32 {
    let output = Command::new("ptp4l")
        .arg("-v")
        .output()
        .expect("ptp4l runs; install it: apt-get install linuxptp");
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    text.trim()
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .unwrap_or_else(|| panic!("cannot read ptp4l's version from {text:?}"))
}

/// Intervals of 2^-2 s and an announce timeout of 2 intervals: the slave
/// follows within a second or two and notices a silent grandmaster
/// within half a second.
const TIMING: &str = "logAnnounceInterval -2\nlogSyncInterval -2\n\
                      logMinDelayReqInterval -2\nannounceReceiptTimeout 2\n";

fn write_config(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(format!("{name}.conf"));
    let mut text = format!(
        "[global]\nuds_address {}\n{TIMING}{body}",
        dir.join(format!("{name}.sock")).display()
    );
    if ptp4l_major() >= 4 {
        // linuxptp 4 adds a read-only socket; keep both instances' apart.
        text += &format!(
            "uds_ro_address {}\n",
            dir.join(format!("{name}.ro")).display()
        );
    }
    std::fs::write(&path, text).expect("config in the test's directory");
    path.display().to_string()
}

fn start_ptp4l(dir: &Path, name: &str, netns: &str, interface: &str, config: &str) -> Proc {
    Proc::start(
        name,
        Path::new("ip"),
        &[
            "netns", "exec", netns, "ptp4l", "-S", "-m", "-i", interface, "-f", config,
        ],
        dir,
    )
}

#[test]
fn ptp4l_source_follows_a_real_grandmaster_and_reports_its_loss() {
    require_root();
    let dir = TempDir::new("ptp4l");
    let net = PtpNet::create();

    // The grandmaster: UTC offset 37 s, accuracy "within 100 ns" (0x21),
    // a priority that wins.
    let gm_config = write_config(
        dir.path(),
        "grandmaster",
        "utc_offset 37\nclockAccuracy 0x21\npriority1 10\n",
    );
    let slave_config = write_config(dir.path(), "slave", "slaveOnly 1\nfree_running 1\n");
    let mut grandmaster = start_ptp4l(
        dir.path(),
        "grandmaster",
        &net.grandmaster_ns,
        &net.grandmaster_if,
        &gm_config,
    );
    let mut slave = start_ptp4l(
        dir.path(),
        "slave",
        &net.slave_ns,
        &net.slave_if,
        &slave_config,
    );
    let slave_socket = dir.path().join("slave.sock");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cell = SourceCell::new("ptp0", "ptp4l");
    let config = Ptp4lConfig {
        socket: slave_socket.clone(),
        poll_interval: Duration::from_millis(250),
        // A linuxptp grandmaster serving its system clock announces the
        // ARB timescale with UTC times.
        allow_arb_timescale: true,
        ..Ptp4lConfig::default()
    };
    let (sender, reports) = std::sync::mpsc::channel::<PollReport>();
    let source = runtime.spawn(ptp4l::run_observed(
        config,
        cell.clone(),
        "ptp0".to_string(),
        move |report| {
            let _ = sender.send(report.clone());
        },
    ));

    // Within 30 s: five samples in a row, each holding the host clock.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut taken = Vec::new();
    while taken.len() < 5 {
        let left = deadline.saturating_duration_since(Instant::now());
        let report = reports.recv_timeout(left).unwrap_or_else(|_| {
            panic!(
                "no 5 samples from ptp4l within 30 s ({} so far); cell: {:?}\n\
                 grandmaster log:\n{}\nslave log:\n{}",
                taken.len(),
                cell.snapshot(),
                grandmaster.log(),
                slave.log()
            )
        });
        let (Some(status), Some(Outcome::Taken(sample))) = (report.status, report.outcome) else {
            continue;
        };
        let now = tt_clock::ClockPair::read();
        let carried = sample
            .sample
            .at(now.local_after, Drift::DEFAULT)
            .widened(now.spread_ns(), now.spread_ns());
        assert!(
            carried.contains(Timestamp::from_unix_nanos(now.realtime_ns)),
            "{carried} misses the host clock {}",
            now.realtime_ns
        );
        assert!(status.time_status.gm_present);
        // Same clock on both sides: the offset is the difference of two
        // software timestamps' latencies, microseconds, far under 1 ms.
        assert!(
            status.time_status.master_offset_ns.abs() < 1_000_000,
            "offset {} ns",
            status.time_status.master_offset_ns
        );
        assert!(sample.mean_path_delay_ns >= 0);
        assert_eq!(status.time_properties.current_utc_offset_s, 37);
        assert_eq!(status.parent.gm_clock_accuracy, 0x21);
        assert_eq!(sample.gm_accuracy_ns, 100);
        eprintln!(
            "ptp4l sample: offset {} ns, path delay {} ns, mapping {} ns, width {} ns",
            sample.offset_ns,
            sample.mean_path_delay_ns,
            sample.mapping_ns,
            sample.sample.interval.width_ns()
        );
        taken.push(sample);
    }
    assert_eq!(cell.snapshot().health, Health::Good);

    // The same through a timemaster: a ptp4l source on the slave's socket,
    // answering Now with an interval that holds the host clock.
    let listen = format!("127.0.0.1:{}", free_port());
    let master_config = dir.path().join("master.toml");
    std::fs::write(
        &master_config,
        format!(
            "listen = \"{listen}\"\n[[source]]\nname = \"ptp0\"\nkind = \"ptp4l\"\n\
             socket = \"{}\"\npoll-interval-ms = 250\nallow-arb-timescale = true\n",
            slave_socket.display()
        ),
    )
    .unwrap();
    let mut master = Proc::start(
        "master",
        &bin("timemaster"),
        &["--config", master_config.to_str().unwrap()],
        dir.path(),
    );
    let mut client = Client::connect(&format!("http://{listen}"), Duration::from_secs(20))
        .unwrap_or_else(|| panic!("the master never listened; log: {}", master.log()));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut synchronized = 0;
    while synchronized < 3 {
        assert!(
            Instant::now() < deadline,
            "the master did not serve ptp4l's time; its log:\n{}",
            master.log()
        );
        let before = tt_clock::realtime_ns();
        let answer = client.now().expect("Now answers");
        let after = tt_clock::realtime_ns();
        if let NowAnswer::Synchronized(interval) = answer {
            assert!(
                interval.earliest().unix_nanos() <= after
                    && before <= interval.latest().unix_nanos(),
                "{interval} misses the host clock [{before}, {after}]"
            );
            synchronized += 1;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    master.assert_running();

    // The grandmaster goes (stopped by its PID). Within 10 s the source
    // reports loss, not a stale offset, and the master stops serving.
    grandmaster.signal(tt_tests::procs::libc_signal::Signal::Term);
    let stopped = Instant::now();
    while grandmaster.running() {
        assert!(
            stopped.elapsed() < Duration::from_secs(5),
            "the grandmaster does not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let lost_outcome = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let report = reports
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no loss within 10 s; cell: {:?}", cell.snapshot()));
        match report.outcome {
            Some(Outcome::Taken(_)) => continue,
            Some(other) => break format!("{other:?}"),
            None => break report.error.unwrap_or_default(),
        }
    };
    eprintln!(
        "loss seen {} ms after the grandmaster stopped: {lost_outcome}",
        stopped.elapsed().as_millis()
    );
    let state = cell.snapshot();
    assert_ne!(state.health, Health::Good, "{state:?}");
    assert!(state.last.is_none(), "a stale sample is kept: {state:?}");
    // And it stays lost: no sample from the silent grandmaster for 2 s.
    let quiet_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < quiet_until {
        if let Ok(report) = reports.recv_timeout(Duration::from_millis(300)) {
            assert!(
                !matches!(report.outcome, Some(Outcome::Taken(_))),
                "a sample after the grandmaster stopped: {report:?}"
            );
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(NowAnswer::Unsynchronized(_)) = client.now() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the master still serves a time without a grandmaster; its log:\n{}",
            master.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = client.status().expect("Status answers");
    let member = &status.members[0];
    assert_eq!(member.name, "ptp0");
    assert!(!member.has_interval, "{member:?}");

    source.abort();
    slave.assert_running();
    drop(master);
    drop(slave);
    drop(grandmaster);
    drop(net);
}

#[test]
fn our_gets_are_the_bytes_pmc_sends() {
    // pmc (linuxptp's own management client) with -z sends GETs with
    // empty data fields, as this source does. Its datagrams, caught on a
    // socket posing as ptp4l, must equal ours but for the sender's port
    // identity and sequence id (bytes 20 to 31).
    use tt_hw::ptp4l::wire::{encode_get, ManagementId, PortIdentity};
    let dir = TempDir::new("pmc");
    let server = dir.path().join("ptp4l.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&server).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for (id, command) in [
        (ManagementId::TimeStatusNp, "GET TIME_STATUS_NP"),
        (ManagementId::CurrentDataSet, "GET CURRENT_DATA_SET"),
        (ManagementId::ParentDataSet, "GET PARENT_DATA_SET"),
        (
            ManagementId::TimePropertiesDataSet,
            "GET TIME_PROPERTIES_DATA_SET",
        ),
    ] {
        let client_path = dir.path().join("pmc.sock");
        let pmc = Proc::start(
            "pmc",
            Path::new("pmc"),
            &[
                "-u",
                "-z",
                "-b",
                "0",
                "-d",
                "0",
                "-s",
                server.to_str().unwrap(),
                "-i",
                client_path.to_str().unwrap(),
                command,
            ],
            dir.path(),
        );
        let mut buf = [0u8; 1500];
        let len = socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("pmc sent nothing for {command}: {e}; {}", pmc.log()));
        let theirs = &buf[..len];
        let mut clock = [0u8; 8];
        clock.copy_from_slice(&theirs[20..28]);
        let source = PortIdentity {
            clock,
            port: u16::from_be_bytes([theirs[28], theirs[29]]),
        };
        let sequence = u16::from_be_bytes([theirs[30], theirs[31]]);
        let ours = encode_get(id, sequence, 0, source);
        assert_eq!(theirs.len(), ours.len(), "{command}");
        // The version byte's high nibble is the minor version, which
        // linuxptp 4 sets to 1; the major version (low nibble) is 2.
        assert_eq!(theirs[1] & 0x0F, ours[1], "{command}");
        assert_eq!(&theirs[..1], &ours[..1], "{command}");
        assert_eq!(&theirs[2..], &ours[2..], "{command}");
        drop(pmc);
    }
}
