//! Peer checking on real processes: three masters that know each other,
//! one of them fed by a receiver that reports a time 2 s late. The spoofed
//! master must take itself out of service while the honest two keep
//! serving, and come back once its receiver tells the truth again.

use std::time::Duration;
use tt_proto::v1::Verdict;
use tt_proto::NowAnswer;
use tt_tests::procs::{free_port, wait_for, TempDir};
use tt_tests::stack::{start_master_at, Client, GpsFeed};

/// The delay range of the end-to-end test: the simulator writes 50 ms
/// after each second; 20 to 145 ms covers it with room for scheduling.
const DELAY_RANGE_US: (i64, i64) = (20_000, 145_000);

#[test]
fn a_master_two_seconds_off_takes_itself_out_of_service_and_comes_back() {
    let dir = TempDir::new("peers");
    let honest = GpsFeed::start(dir.path(), "honest", 50, 0);
    let spoofed = GpsFeed::start(dir.path(), "spoofed", 50, 2_000);
    let spoofed_port = spoofed.port;

    let addresses: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let peers_of = |i: usize| -> Vec<String> {
        addresses
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, a)| a.clone())
            .collect()
    };
    let gpsd_of = [honest.port, honest.port, spoofed_port];
    let mut masters: Vec<_> = (0..3)
        .map(|i| {
            start_master_at(
                dir.path(),
                &format!("master{i}"),
                &addresses[i],
                gpsd_of[i],
                DELAY_RANGE_US,
                &peers_of(i),
                "",
            )
            .0
        })
        .collect();
    let mut clients: Vec<Client> = addresses
        .iter()
        .map(|a| {
            Client::connect(&format!("http://{a}"), Duration::from_secs(20))
                .expect("every master listens")
        })
        .collect();

    // The spoofed master goes out of service once its peers have answered.
    let out = wait_for(Duration::from_secs(40), || match clients[2].now() {
        Ok(NowAnswer::Unsynchronized(reason)) if reason.contains("out of service") => Some(reason),
        _ => None,
    });
    for master in &mut masters {
        master.assert_running();
    }
    let reason = out.unwrap_or_else(|| {
        panic!(
            "the spoofed master never took itself out of service; its log:\n{}",
            masters[2].log()
        )
    });
    // Its receiver is 2 s late, so it is about 2000 ms away from its peers.
    assert!(reason.contains("peers' agreement"), "{reason}");
    assert!(
        reason.contains("+2000 ms") || reason.contains("+1999 ms"),
        "{reason}"
    );

    // The honest two keep serving intervals that hold the host clock.
    for client in &mut clients[..2] {
        let before = tt_clock::realtime_ns();
        let answer = client.now().expect("an honest master answers");
        let after = tt_clock::realtime_ns();
        let NowAnswer::Synchronized(interval) = answer else {
            panic!("an honest master stopped serving: {answer:?}");
        };
        assert!(
            interval.earliest().unix_nanos() <= before && after <= interval.latest().unix_nanos(),
            "{interval} misses the host clock [{before}, {after}]"
        );
    }

    // Its status names the peers as in the majority, and itself as out.
    let status = clients[2].status().expect("status answers");
    let peers: Vec<_> = status.members.iter().filter(|m| m.kind == "peer").collect();
    assert_eq!(peers.len(), 2);
    assert!(
        peers
            .iter()
            .all(|p| p.verdict == Verdict::InMajority as i32),
        "{peers:?}"
    );
    let combined = status.combined.expect("status has the combined answer");
    assert!(
        combined.reason.contains("out of service"),
        "{}",
        combined.reason
    );

    // An honest master's peers are one honest and one spoofed master: with
    // f = 0 they reach no agreement, so nothing outvotes it and it keeps
    // serving.
    let honest_status = clients[0].status().expect("status answers");
    assert!(honest_status.combined.unwrap().reason.is_empty());

    // The receiver is fixed: a truthful simulator and gpsd on the same
    // port. The master's gpsd source reconnects and it returns to service.
    drop(spoofed);
    let _fixed = GpsFeed::start_on(dir.path(), "fixed", 50, 0, spoofed_port);
    let back = wait_for(Duration::from_secs(60), || match clients[2].now() {
        Ok(NowAnswer::Synchronized(interval)) => Some(interval),
        _ => None,
    });
    assert!(
        back.is_some(),
        "the master never returned to service; its log:\n{}",
        masters[2].log()
    );
    let log = masters[2].log();
    assert!(log.contains("out of service"), "{log}");
}
