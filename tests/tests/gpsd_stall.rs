//! A gpsd that stalls stamps the sentences it finds in the terminal's
//! buffer late; a master that believed those stamps would serve a narrow
//! interval in the past. Here real gpsd is stopped (SIGSTOP) and continued
//! just after the top of a second, for pauses shorter and longer than the
//! receiver's delay range, while the master is asked for the time every few
//! milliseconds: every interval it hands out must hold the host clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tt_proto::NowAnswer;
use tt_tests::procs::libc_signal::{send, Signal};
use tt_tests::procs::{wait_for, TempDir};
use tt_tests::stack::{start_master, Client, GpsFeed};

/// The demo's tight delay range around the simulator's 50 ms: 1 ms of
/// margin below, 20 ms above. A stall longer than 20 ms puts gpsd's stamp
/// outside it.
const DELAY_RANGE_US: (i64, i64) = (49_000, 70_000);

/// Sleeps until `offset_ms` after the next second of the host clock.
fn sleep_until_second_plus(offset_ms: i64) {
    let now = tt_clock::realtime_ns();
    let second = 1_000_000_000;
    let target = (now / second + 1) * second + offset_ms * 1_000_000;
    std::thread::sleep(Duration::from_nanos((target - now) as u64));
}

#[test]
fn a_stalled_gpsd_never_makes_the_master_serve_a_wrong_interval() {
    let dir = TempDir::new("stall");
    let feed = GpsFeed::start(dir.path(), "gps0", 50, 0);
    let (mut master, address) =
        start_master(dir.path(), "master", feed.port, DELAY_RANGE_US, &[], "");
    let mut client = Client::connect(&format!("http://{address}"), Duration::from_secs(20))
        .expect("the master listens");
    let synchronized = wait_for(Duration::from_secs(30), || {
        matches!(client.now(), Ok(NowAnswer::Synchronized(_))).then_some(())
    });
    master.assert_running();
    assert!(
        synchronized.is_some(),
        "never synchronized: {}",
        master.log()
    );

    // Stalls of 15 ms (inside the range's width: covered by the sample
    // before), 30 ms and 290 ms (stamps past the range: refused) and
    // 2.3 s (several seconds read at once), each starting 60 ms after a
    // second, when the sentence has just been written.
    let gpsd_pid = feed.gpsd.pid();
    let done = Arc::new(AtomicBool::new(false));
    let stalls = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            for pause_ms in [15, 30, 290, 2_300, 290, 30] {
                sleep_until_second_plus(40);
                send(gpsd_pid, Signal::Stop);
                std::thread::sleep(Duration::from_millis(pause_ms));
                send(gpsd_pid, Signal::Cont);
                // Let the source come back before the next stall.
                std::thread::sleep(Duration::from_secs(3));
            }
            done.store(true, Ordering::Relaxed);
        })
    };

    let mut answers = 0u64;
    let mut synchronized_answers = 0u64;
    while !done.load(Ordering::Relaxed) {
        let before = tt_clock::realtime_ns();
        let answer = client.now().expect("the master answers");
        let after = tt_clock::realtime_ns();
        answers += 1;
        if let NowAnswer::Synchronized(interval) = answer {
            synchronized_answers += 1;
            // The master evaluated at some instant between the two reads,
            // so its interval must reach into [before, after].
            assert!(
                interval.earliest().unix_nanos() <= after
                    && before <= interval.latest().unix_nanos(),
                "answer {answers}: {interval} misses the host clock [{before}, {after}]\n{}",
                master.log()
            );
        }
        std::thread::sleep(Duration::from_millis(3));
    }
    stalls.join().expect("the stall thread ends");
    send(gpsd_pid, Signal::Cont);
    master.assert_running();
    // The master kept serving between stalls.
    assert!(
        synchronized_answers * 2 > answers,
        "only {synchronized_answers} of {answers} answers were synchronized"
    );
    assert!(
        master.log().contains("serial samples disagree"),
        "the long stalls were not noticed:\n{}",
        master.log()
    );
}
