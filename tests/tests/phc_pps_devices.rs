//! The timemaster with `phc`, `pps` and `ptp4l` sources whose devices are
//! not what they claim: a plain file as the PHC, a plain file as the PPS
//! device, a path where no ptp4l listens. No /dev/ptp* or /dev/pps* exists
//! on the test machines, so this is how the real ioctl path runs here: the
//! kernel refuses the ioctls with ENOTTY, and the master reports each
//! source down with a sentence naming the device, keeps running, and
//! serves from the source that works (the kernel clock, when a time daemon
//! keeps it synchronized; otherwise it answers unsynchronized).

use std::time::Duration;
use tt_proto::v1::Verdict;
use tt_tests::procs::{bin, free_port, wait_for, Proc, TempDir};
use tt_tests::stack::Client;

#[test]
fn devices_that_are_not_clocks_are_reported_by_name() {
    let dir = TempDir::new("devices");
    let fake_phc = dir.path().join("ptp0");
    let fake_pps = dir.path().join("pps0");
    std::fs::write(&fake_phc, b"not a clock").unwrap();
    std::fs::write(&fake_pps, b"not a pps device").unwrap();
    let no_ptp4l = dir.path().join("ptp4l.sock");

    let listen = format!("127.0.0.1:{}", free_port());
    let config = dir.path().join("master.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"{listen}\"\n\
             [[source]]\nname = \"kernel\"\nkind = \"kernel\"\n\
             [[source]]\nname = \"phc0\"\nkind = \"phc\"\ndevice = \"{}\"\n\
             timescale = \"tai\"\nutc-offset-s = 37\naccuracy-ns = 100\n\
             [[source]]\nname = \"pps0\"\nkind = \"pps\"\ndevice = \"{}\"\nlabel-from = \"kernel\"\n\
             [[source]]\nname = \"ptp0\"\nkind = \"ptp4l\"\nsocket = \"{}\"\npoll-interval-ms = 200\n",
            fake_phc.display(),
            fake_pps.display(),
            no_ptp4l.display()
        ),
    )
    .unwrap();
    let mut master = Proc::start(
        "master",
        &bin("timemaster"),
        &["--config", config.to_str().unwrap()],
        dir.path(),
    );
    let mut client = Client::connect(&format!("http://{listen}"), Duration::from_secs(20))
        .unwrap_or_else(|| panic!("the master never listened; log: {}", master.log()));

    let member = |status: &tt_proto::v1::StatusResponse, name: &str| {
        status
            .members
            .iter()
            .find(|m| m.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no member {name} in {status:?}"))
    };
    // Each of the three goes down with its reason within 10 s.
    let status = wait_for(Duration::from_secs(10), || {
        let status = client.status().ok()?;
        let all_down = ["phc0", "pps0", "ptp0"]
            .iter()
            .all(|name| member(&status, name).verdict == Verdict::Unreachable as i32);
        all_down.then_some(status)
    })
    .unwrap_or_else(|| {
        panic!(
            "the sources were not reported down; status: {:?}; log: {}",
            client.status(),
            master.log()
        )
    });
    master.assert_running();

    let phc = member(&status, "phc0");
    assert!(!phc.has_interval);
    assert!(
        phc.detail.contains(&fake_phc.display().to_string()),
        "{}",
        phc.detail
    );
    assert!(
        phc.detail.contains("not a PTP hardware clock"),
        "{}",
        phc.detail
    );
    // ENOTTY, as the C library words it.
    assert!(phc.detail.contains("Inappropriate ioctl"), "{}", phc.detail);

    let pps = member(&status, "pps0");
    assert!(!pps.has_interval);
    assert!(
        pps.detail.contains(&fake_pps.display().to_string()),
        "{}",
        pps.detail
    );
    assert!(pps.detail.contains("is not a PPS device"), "{}", pps.detail);
    assert!(pps.detail.contains("PPS_GETCAP"), "{}", pps.detail);

    let ptp = member(&status, "ptp0");
    assert!(!ptp.has_interval);
    assert!(
        ptp.detail.contains(&no_ptp4l.display().to_string()),
        "{}",
        ptp.detail
    );
    assert!(ptp.detail.contains("is ptp4l running"), "{}", ptp.detail);

    // The devices are retried with backoff, and a failure is logged once
    // per change of state, not once per retry.
    std::thread::sleep(Duration::from_secs(2));
    master.assert_running();
    let log = master.log();
    for device in [&fake_phc, &fake_pps] {
        let text = device.display().to_string();
        let mentions = log.lines().filter(|l| l.contains(&text)).count();
        assert!(
            (1..=3).contains(&mentions),
            "{text} logged {mentions} times:\n{log}"
        );
    }
}
