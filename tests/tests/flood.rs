//! A flood of local requests cannot starve the slave's pollers.
//!
//! Three masters read one simulated receiver through gpsd; a slave polls
//! them once a second. For five seconds 64 clients (half on the Unix
//! socket, half on TCP, each with its own connection) ask the slave for
//! now as fast as they can. Afterwards the slave's own record of its poll
//! rounds (History) must show rounds no further apart than two poll
//! intervals through the flood, every master's last answer younger than
//! two poll intervals at every round, and every round synchronized; and
//! every interval the clients were handed must hold the host clock at
//! some instant of the call that got it.
//!
//! A second test shows the request budget itself: a slave allowed five
//! requests a second refuses the rest of a burst with RESOURCE_EXHAUSTED
//! and a sentence saying why.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tt_proto::v1::{HistoryRequest, NowRequest};
use tt_proto::NowAnswer;
use tt_tests::procs::{bin, free_port, wait_for, Proc, TempDir};
use tt_tests::stack::{start_master, Client, GpsFeed};

/// The delay range of the end-to-end test: the simulator writes 50 ms
/// after each second; 20 to 145 ms covers it with room for scheduling.
const DELAY_RANGE_US: (i64, i64) = (20_000, 145_000);
const POLL_INTERVAL_NS: i64 = 1_000_000_000;
const FLOOD_FOR: Duration = Duration::from_secs(5);
const CLIENTS_PER_LISTENER: usize = 32;

/// What the flooding clients saw.
#[derive(Default)]
struct Tally {
    synchronized: AtomicU64,
    unsynchronized: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
}

/// Starts a slave polling `masters` once a second, serving on a socket in
/// `dir` and a free TCP port, with `extra` appended to its config.
fn start_slave(dir: &std::path::Path, masters: &[String], extra: &str) -> (Proc, String, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let socket = dir.join("slave.sock");
    let quoted: Vec<String> = masters.iter().map(|m| format!("\"{m}\"")).collect();
    let config = dir.join("slave.toml");
    std::fs::write(
        &config,
        format!(
            "masters = [{}]\nlisten = \"{listen}\"\nsocket = \"{}\"\nshm-path = \"\"\n\
             metrics-listen = \"\"\npoll-interval-ms = 1000\n{extra}",
            quoted.join(", "),
            socket.display()
        ),
    )
    .expect("config file in the test's directory");
    let slave = Proc::start(
        "slave",
        &bin("timeslave"),
        &["--config", &config.display().to_string()],
        dir,
    );
    (
        slave,
        format!("http://{listen}"),
        format!("unix:{}", socket.display()),
    )
}

/// One flooding client: asks `target` for now until `deadline`, checking
/// every synchronized answer against the host clock read around the call.
async fn flood(target: String, deadline: Instant, tally: Arc<Tally>) {
    let Ok(mut client) = tt_client::connect(&target).await else {
        tally.failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    while Instant::now() < deadline {
        let before = tt_clock::realtime_ns();
        let reply = client.now(NowRequest {}).await;
        let after = tt_clock::realtime_ns();
        let counter = match reply {
            Ok(reply) => match reply.into_inner().check() {
                Ok(NowAnswer::Synchronized(interval)) => {
                    // The slave read its clock somewhere inside the call,
                    // which a flood can make last tens of milliseconds:
                    // truth then was in the interval, so the interval
                    // must meet [before, after].
                    assert!(
                        interval.earliest().unix_nanos() <= after
                            && before <= interval.latest().unix_nanos(),
                        "under the flood the slave handed out {interval}, which misses the \
                         host clock during the call [{before}, {after}]"
                    );
                    &tally.synchronized
                }
                Ok(NowAnswer::Unsynchronized(_)) => &tally.unsynchronized,
                Err(bad) => panic!("the slave answered garbage under the flood: {bad}"),
            },
            Err(status) if status.code() == tonic::Code::ResourceExhausted => &tally.refused,
            Err(_) => &tally.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Each thread of process `pid`: its name and the CPU it has used
/// (user + system), in clock ticks.
fn thread_cpu_ticks(pid: u32) -> Vec<(String, u64)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.ok()?.path().join("stat")).ok()?;
            // pid (comm) state ...: the name is between the parentheses,
            // utime and stime are the 12th and 13th fields after them.
            let (head, rest) = stat.rsplit_once(") ")?;
            let name = head.split_once(" (")?.1.to_string();
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some((name, utime + stime))
        })
        .collect()
}

#[test]
fn a_flood_of_local_requests_does_not_delay_the_poll_rounds() {
    let dir = TempDir::new("flood");
    let path = dir.path();
    let feed = GpsFeed::start(path, "gps", 50, 0);
    let mut masters: Vec<(Proc, String)> = (0..3)
        .map(|i| {
            start_master(
                path,
                &format!("master{i}"),
                feed.port,
                DELAY_RANGE_US,
                &[],
                "",
            )
        })
        .collect();
    let addresses: Vec<String> = masters.iter().map(|(_, a)| a.clone()).collect();
    let (mut slave, tcp, unix) = start_slave(path, &addresses, "max-falsetickers = 1\n");

    let mut client = Client::connect(&tcp, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("the slave never listened; its log:\n{}", slave.log()));
    let synchronized = wait_for(Duration::from_secs(60), || {
        matches!(client.now(), Ok(NowAnswer::Synchronized(_))).then_some(())
    });
    for (master, _) in &mut masters {
        master.assert_running();
    }
    assert!(
        synchronized.is_some(),
        "the slave never synchronized; its log:\n{}",
        slave.log()
    );

    let cpu_before = thread_cpu_ticks(slave.pid());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime starts");
    let tally = Arc::new(Tally::default());
    let flood_start = tt_clock::boottime();
    let deadline = Instant::now() + FLOOD_FOR;
    runtime.block_on(async {
        let mut clients = tokio::task::JoinSet::new();
        for i in 0..2 * CLIENTS_PER_LISTENER {
            let target = if i % 2 == 0 {
                tcp.clone()
            } else {
                unix.clone()
            };
            clients.spawn(flood(target, deadline, Arc::clone(&tally)));
        }
        while let Some(done) = clients.join_next().await {
            if let Err(e) = done {
                if e.is_panic() {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        }
    });
    let flood_end = tt_clock::boottime();
    slave.assert_running();
    let cpu_after = thread_cpu_ticks(slave.pid());
    // The serving runtime's thread is named timeslave-serve (15
    // characters, all of which the kernel keeps).
    let ticks = |threads: &[(String, u64)], serving: bool| -> u64 {
        threads
            .iter()
            .filter(|(name, _)| (name == "timeslave-serve") == serving)
            .map(|(_, ticks)| ticks)
            .sum()
    };
    let spent =
        |serving: bool| ticks(&cpu_after, serving).saturating_sub(ticks(&cpu_before, serving));
    // Clock ticks are 10 ms (USER_HZ = 100): ticks / 5 s is the percentage
    // of one core over the flood. For the log, not a bound.
    eprintln!(
        "slave CPU over the flood: serving thread {}% of a core, other threads {}%",
        spent(true) * 100 / (FLOOD_FOR.as_secs() * 100),
        spent(false) * 100 / (FLOOD_FOR.as_secs() * 100)
    );

    let answered = tally.synchronized.load(Ordering::Relaxed);
    let refused = tally.refused.load(Ordering::Relaxed);
    let failed = tally.failed.load(Ordering::Relaxed);
    let unsynchronized = tally.unsynchronized.load(Ordering::Relaxed);
    eprintln!(
        "flood: {answered} synchronized answers, {unsynchronized} unsynchronized, {refused} \
         refused, {failed} failed"
    );
    assert!(answered > 0, "the flood got no answer at all");
    assert_eq!(
        unsynchronized, 0,
        "the slave lost synchronization under the flood"
    );

    // The slave's record of its rounds through the flood.
    let history = runtime
        .block_on(async {
            let mut client = tt_client::connect(&tcp).await.ok()?;
            let reply = client.history(HistoryRequest { window_s: 30 }).await.ok()?;
            Some(reply.into_inner())
        })
        .expect("the slave answers History after the flood");
    let points: Vec<_> = history
        .points
        .iter()
        .filter(|p| p.local_ns >= flood_start.nanos() && p.local_ns <= flood_end.nanos())
        .collect();
    // Five seconds at one round a second: at least four rounds ended
    // inside the window even if the first and last fell just outside it.
    assert!(
        points.len() >= 4,
        "only {} rounds in the {} s flood: {:?}",
        points.len(),
        FLOOD_FOR.as_secs(),
        history.points
    );
    let mut previous = flood_start.nanos();
    for point in &points {
        assert!(
            point.local_ns - previous <= 2 * POLL_INTERVAL_NS,
            "a round ended {} ms after the one before",
            (point.local_ns - previous) / 1_000_000
        );
        previous = point.local_ns;
        assert!(point.synchronized, "a round under the flood: {point:?}");
        for (member, info) in point.members.iter().zip(&history.members) {
            assert!(
                (0..2 * POLL_INTERVAL_NS).contains(&member.age_ns),
                "master {} had not answered for {} ms at a round under the flood",
                info.name,
                member.age_ns / 1_000_000
            );
        }
    }
    assert!(
        flood_end.nanos() - previous <= 2 * POLL_INTERVAL_NS,
        "no round in the last {} ms of the flood",
        (flood_end.nanos() - previous) / 1_000_000
    );
    slave.assert_running();
}

#[test]
fn requests_past_the_budget_are_refused_with_a_reason() {
    let dir = TempDir::new("budget");
    let path = dir.path();
    // No master answers: the slave answers "unsynchronized", which is an
    // answer, not a refusal.
    let nobody = format!("127.0.0.1:{}", free_port());
    let (mut slave, tcp, _) = start_slave(path, &[nobody], "max-requests-per-s = 5\n");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime starts");
    let connected = wait_for(Duration::from_secs(20), || {
        runtime.block_on(tt_client::connect(&tcp)).ok()
    });
    slave.assert_running();
    let mut client = connected.expect("the slave listens");

    // Let the budget fill (one second's worth), then ask 30 times at once.
    std::thread::sleep(Duration::from_millis(1100));
    let (mut answered, mut refused) = (0, 0);
    let mut reason = String::new();
    for _ in 0..30 {
        match runtime.block_on(client.now(NowRequest {})) {
            Ok(_) => answered += 1,
            Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                refused += 1;
                reason = status.message().to_string();
            }
            Err(status) => panic!("neither answered nor refused: {status}"),
        }
    }
    // Five a second with a one-second burst: five pass at once, and one
    // more for every 200 ms the thirty calls take (well under a second).
    assert!((5..=9).contains(&answered), "{answered} answered");
    assert_eq!(answered + refused, 30);
    assert!(reason.contains("more than 5 requests a second"), "{reason}");
    slave.assert_running();
}
