//! SIGHUP on real daemons: the slave takes a second master without ever
//! answering "unsynchronized" or an interval that misses the host clock;
//! the master takes a peer; a broken file changes nothing.

mod ops_common;

use ops_common::{master_config, sample, scrape, slave_config, Daemon};
use std::time::{Duration, Instant};
use tt_proto::NowAnswer;
use tt_tests::procs::{bin, free_port, wait_for, TempDir};
use tt_tests::stack::{Client, GpsFeed};

#[test]
fn a_slave_takes_a_new_master_on_sighup_without_losing_synchronization() {
    let dir = TempDir::new("reload-slave");
    let feed = GpsFeed::start(dir.path(), "gps0", 50, 0);
    let gpsd = format!("127.0.0.1:{}", feed.port);
    let mut masters = Vec::new();
    let mut addresses = Vec::new();
    for name in ["m1", "m2"] {
        let address = format!("127.0.0.1:{}", free_port());
        let file = dir.path().join(format!("{name}.toml"));
        std::fs::write(&file, master_config(&address, "", &gpsd, "")).unwrap();
        masters.push(Daemon::start(
            name,
            &bin("timemaster"),
            &["--config", file.to_str().unwrap()],
            &[],
            dir.path(),
        ));
        addresses.push(address);
    }
    let slave_address = format!("127.0.0.1:{}", free_port());
    let metrics = free_port();
    let slave_file = dir.path().join("slave.toml");
    let write_slave = |masters: &[&String]| {
        let masters: Vec<&str> = masters.iter().map(|m| m.as_str()).collect();
        let metrics = format!("127.0.0.1:{metrics}");
        std::fs::write(
            &slave_file,
            slave_config(&masters, &slave_address, "", &metrics),
        )
        .unwrap();
    };
    write_slave(&[&addresses[0]]);
    let mut slave = Daemon::start(
        "slave",
        &bin("timeslave"),
        &["--config", slave_file.to_str().unwrap()],
        &[],
        dir.path(),
    );
    let mut client = Client::connect(&format!("http://{slave_address}"), Duration::from_secs(20))
        .unwrap_or_else(|| panic!("the slave never answered: {}", slave.log()));
    let synchronized = wait_for(Duration::from_secs(60), || {
        matches!(client.now(), Ok(NowAnswer::Synchronized(_))).then_some(())
    });
    assert!(
        synchronized.is_some(),
        "never synchronized: {}",
        slave.log()
    );
    assert_eq!(client.status().unwrap().members.len(), 1);

    write_slave(&[&addresses[0], &addresses[1]]);
    slave.signal("HUP");
    // Until both masters are in the majority, and two seconds more, every
    // answer holds the host clock read before and after it.
    let started = Instant::now();
    let mut both_since: Option<Instant> = None;
    let mut answers = 0;
    while started.elapsed() < Duration::from_secs(20) {
        let before = tt_clock::realtime_ns();
        let answer = client.now().expect("the slave answers");
        let after = tt_clock::realtime_ns();
        let NowAnswer::Synchronized(interval) = answer else {
            panic!(
                "answer {answers} after SIGHUP: {answer:?}\nlog:\n{}",
                slave.log()
            );
        };
        assert!(
            interval.earliest().unix_nanos() <= before && after <= interval.latest().unix_nanos(),
            "{interval} misses the host clock ({before}, {after})"
        );
        answers += 1;
        let status = client.status().unwrap();
        let names: Vec<&str> = status.members.iter().map(|m| m.name.as_str()).collect();
        let both = names == [addresses[0].as_str(), addresses[1].as_str()]
            && status
                .members
                .iter()
                .all(|m| m.verdict == tt_proto::v1::Verdict::InMajority as i32);
        match (both, both_since) {
            (true, None) => both_since = Some(Instant::now()),
            (true, Some(since)) if since.elapsed() > Duration::from_secs(2) => break,
            (false, Some(_)) => panic!("{names:?} left the majority after the reload"),
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        both_since.is_some(),
        "the second master never joined: {}",
        slave.log()
    );
    let text = scrape(metrics).unwrap();
    assert_eq!(
        sample(&text, "timeslave_config_reloads_total", &[]),
        Some(1.0)
    );

    // A broken file: refused, counted, and the slave keeps both masters.
    std::fs::write(&slave_file, "masters = [\n").unwrap();
    slave.signal("HUP");
    let refused = wait_for(Duration::from_secs(5), || {
        let text = scrape(metrics).ok()?;
        (sample(&text, "timeslave_config_reload_failures_total", &[]) == Some(1.0)).then_some(())
    });
    assert!(refused.is_some(), "{}", slave.log());
    assert!(slave.running());
    assert_eq!(client.status().unwrap().members.len(), 2);
    assert!(matches!(client.now(), Ok(NowAnswer::Synchronized(_))));
    drop(feed);
}

#[test]
fn a_master_takes_a_new_peer_on_sighup() {
    let dir = TempDir::new("reload-master");
    let nobody = format!("127.0.0.1:{}", free_port());
    let peer = format!("127.0.0.1:{}", free_port());
    let peer_file = dir.path().join("peer.toml");
    std::fs::write(&peer_file, master_config(&peer, "", &nobody, "")).unwrap();
    let _peer = Daemon::start(
        "peer",
        &bin("timemaster"),
        &["--config", peer_file.to_str().unwrap()],
        &[],
        dir.path(),
    );
    let address = format!("127.0.0.1:{}", free_port());
    let file = dir.path().join("master.toml");
    std::fs::write(&file, master_config(&address, "", &nobody, "")).unwrap();
    let mut master = Daemon::start(
        "master",
        &bin("timemaster"),
        &["--config", file.to_str().unwrap()],
        &[],
        dir.path(),
    );
    let mut client = Client::connect(&format!("http://{address}"), Duration::from_secs(20))
        .unwrap_or_else(|| panic!("the master never answered: {}", master.log()));
    let peers = |client: &mut Client| -> Vec<(String, i32)> {
        client
            .status()
            .unwrap()
            .members
            .into_iter()
            .filter(|m| m.kind == "peer")
            .map(|m| (m.name, m.verdict))
            .collect()
    };
    assert!(peers(&mut client).is_empty());

    std::fs::write(
        &file,
        master_config(&address, "", &nobody, &format!("peers = [\"{peer}\"]")),
    )
    .unwrap();
    master.signal("HUP");
    // The peer answers "unsynchronized" (it has no source either), which
    // the master can only know by polling it.
    let polled = wait_for(Duration::from_secs(10), || {
        let now = peers(&mut client);
        (now == [(peer.clone(), tt_proto::v1::Verdict::Unsynchronized as i32)]).then_some(())
    });
    assert!(
        polled.is_some(),
        "{:?}\n{}",
        peers(&mut client),
        master.log()
    );
    assert!(master.running());
    assert!(master.log().contains("SIGHUP: configuration reloaded"));
}
