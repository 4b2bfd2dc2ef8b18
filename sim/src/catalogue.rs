//! The named scenarios: a fleet with nothing wrong, Spanner's
//! configuration, and one scenario per fault. Each function takes the
//! length of the run; its faults sit at fixed fractions of it and keep
//! their own lengths, so the tests run them short and the report long.

use crate::network::{NetFault, NetFaultKind};
use crate::oscillator::CounterEvent;
use crate::scenario::{Fault, Scenario};
use crate::truth::SECOND;
use tt_core::leap::{LeapKind, LeapSecond};
use tt_core::Timestamp;

const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;

/// 2027-01-01T00:00:00Z: the midnight after the simulated leap second.
pub const LEAP_MIDNIGHT_NS: i64 = 1_798_761_600 * SECOND;

/// Three masters, two slaves polling every second, nothing wrong.
pub fn baseline(duration_ns: i64) -> Scenario {
    Scenario::fleet("baseline", 3, 2, 1, duration_ns).described(
        "nothing goes wrong: three masters with GPS and PPS, two slaves polling every second",
        "every interval holds truth; widths follow the predicted sawtooth",
    )
}

/// Spanner's configuration: a 30 s poll at 200 ppm.
pub fn spanner(duration_ns: i64) -> Scenario {
    Scenario::fleet("spanner", 3, 2, 1, duration_ns)
        .with_poll(30 * SECOND)
        .described(
            "Spanner's configuration: slaves poll every 30 s and assume 200 ppm",
            "every interval holds truth; half-widths from about 1 ms to 7 ms as in the paper",
        )
}

/// Every oscillator runs just inside the declared 200 ppm.
pub fn drift_edge(duration_ns: i64) -> Scenario {
    let mut s = Scenario::fleet("drift-edge", 3, 2, 1, duration_ns).described(
        "every oscillator runs at up to 199.9 ppm, wandering, just inside the declared 200 ppm",
        "every interval holds truth: the bound is used to its last part per million",
    );
    for clock in s
        .masters
        .iter_mut()
        .map(|m| &mut m.clock)
        .chain(s.slaves.iter_mut().map(|sl| &mut sl.clock))
    {
        clock.rate_low_ppb = -199_900;
        clock.rate_high_ppb = 199_900;
        if let Some(w) = clock.wander.as_mut() {
            w.step_ppb = 5_000;
            w.low_ppb = -199_900;
            w.high_ppb = 199_900;
        }
    }
    s
}

/// Master 0's receiver goes silent for 10 min, master 1's reports no fix
/// for 5 min later on; four masters, so one missing leaves a quorum.
pub fn gps_lost(duration_ns: i64) -> Scenario {
    let mut s = Scenario::fleet("gps-lost", 4, 2, 1, duration_ns).described(
        "master 0's receiver falls silent for 10 min; later master 1's reports no fix for 5 min",
        "the master carries its last sample at 200 ppm for max-sample-age (3 s), then answers \
         unsynchronized; slaves go on with the other three; all return when the GPS does",
    );
    s.faults = vec![
        Fault::GpsSilent {
            master: 0,
            from_ns: duration_ns / 4,
            until_ns: duration_ns / 4 + 10 * MINUTE,
        },
        Fault::GpsNoFix {
            master: 1,
            from_ns: duration_ns * 2 / 3,
            until_ns: duration_ns * 2 / 3 + 5 * MINUTE,
        },
    ];
    s
}

fn spoof(name: &str, by_ns: i64, peers: bool, duration_ns: i64) -> Scenario {
    let mut s = Scenario::fleet(name, 3, 2, 1, duration_ns);
    for master in &mut s.masters {
        master.peers = peers;
    }
    s.faults = vec![Fault::Spoof {
        master: 0,
        by_ns,
        from_ns: duration_ns / 3,
        until_ns: duration_ns / 3 + 10 * MINUTE,
    }];
    s
}

/// Master 0's receiver is spoofed 2 s late for 10 min.
pub fn spoof_2s(duration_ns: i64) -> Scenario {
    spoof("spoof-2s", 2 * SECOND, true, duration_ns).described(
        "master 0's receiver is spoofed to report time 2 s late, for 10 min",
        "its peers outvote it and it answers unsynchronized (out of service) until the spoof \
         ends; no slave interval misses truth",
    )
}

/// Master 0's receiver is spoofed 50 ms late for 10 min.
pub fn spoof_50ms(duration_ns: i64) -> Scenario {
    spoof("spoof-50ms", 50_000_000, true, duration_ns).described(
        "master 0's receiver is spoofed to report time 50 ms late, for 10 min",
        "its peers outvote it and it goes out of service; no slave interval misses truth",
    )
}

/// The 50 ms spoof on masters that do not check their peers.
pub fn spoof_50ms_unchecked(duration_ns: i64) -> Scenario {
    spoof("spoof-50ms-no-peers", 50_000_000, false, duration_ns).described(
        "the 50 ms spoof on masters without peer checking",
        "master 0 serves the spoofed time; the slaves call it a falseticker and keep truth",
    )
}

fn liar(name: &str, by_ns: i64, duration_ns: i64) -> Scenario {
    let mut s = Scenario::fleet(name, 3, 2, 1, duration_ns);
    s.faults = vec![Fault::Lie {
        master: 2,
        by_ns,
        from_ns: duration_ns / 3,
        until_ns: duration_ns / 3 + 20 * MINUTE,
    }];
    s
}

/// Master 2 answers 10 ms off for 20 min.
pub fn liar_10ms(duration_ns: i64) -> Scenario {
    liar("liar-10ms", 10_000_000, duration_ns).described(
        "master 2 answers everyone 10 ms ahead of its own interval, for 20 min",
        "slaves call it a falseticker; no interval misses truth; widths stay as before",
    )
}

/// Master 2 answers 1 s off for 20 min.
pub fn liar_1s(duration_ns: i64) -> Scenario {
    liar("liar-1s", SECOND, duration_ns).described(
        "master 2 answers everyone 1 s ahead, for 20 min",
        "slaves call it a falseticker; no interval misses truth",
    )
}

fn collusion(name: &str, by_ns: i64, duration_ns: i64) -> Scenario {
    let mut s = Scenario::fleet(name, 5, 2, 2, duration_ns);
    s.faults = (3..5)
        .map(|master| Fault::Lie {
            master,
            by_ns,
            from_ns: duration_ns / 4,
            until_ns: duration_ns * 3 / 4,
        })
        .collect();
    s
}

/// Two of five masters (slaves take f = 2) tell the same 20 ms lie.
pub fn collusion_20ms(duration_ns: i64) -> Scenario {
    collusion("collusion-20ms", 20_000_000, duration_ns).described(
        "masters 3 and 4 of five tell the same lie, 20 ms ahead, for half the run (f = 2)",
        "the three honest masters carry the hull; the liars are falsetickers; zero violations",
    )
}

/// Two of five masters tell the same 1 ms lie: close enough to overlap.
pub fn collusion_1ms(duration_ns: i64) -> Scenario {
    collusion("collusion-1ms", 1_000_000, duration_ns).described(
        "masters 3 and 4 of five tell the same lie, 1 ms ahead: their intervals overlap honest ones",
        "the hull at n - f may stretch towards the liars but holds truth; width bounded by the \
         widest interval",
    )
}

/// The 20 ms collusion with every master taking the fleet's `f = 2` for
/// its peers too (a configuration the timemaster refuses today: it asks
/// for `2f + 1` peers).
pub fn collusion_20ms_peer_f2(duration_ns: i64) -> Scenario {
    let mut s = collusion("collusion-20ms-peer-f2", 20_000_000, duration_ns).described(
        "the 20 ms collusion, each master checking its four peers with f = 2 instead of the default 1",
        "the two liars cannot outvote an honest master: every master stays in service",
    );
    for master in &mut s.masters {
        master.peer_max_falsetickers = Some(2);
    }
    s
}

/// Slave 0 cut off from every master for 5 min.
pub fn partition(duration_ns: i64) -> Scenario {
    let mut s = Scenario::fleet("partition", 3, 2, 1, duration_ns).described(
        "slave 0 cannot reach any master for 5 min",
        "it carries its interval forward, widening by 400 us/s, for max-holdover (60 s), then \
         reports unsynchronized; never narrow and wrong",
    );
    s.net_faults = vec![NetFault {
        from_ns: duration_ns / 3,
        until_ns: duration_ns / 3 + 5 * MINUTE,
        slave: Some(0),
        kind: NetFaultKind::Partition,
    }];
    s
}

/// 150 ms more each way for slave 0, for 2 min.
pub fn delay_spike(duration_ns: i64) -> Scenario {
    let mut s = Scenario::fleet("delay-spike", 3, 2, 1, duration_ns).described(
        "slave 0's paths to the masters take 150 ms more each way for 2 min",
        "its intervals widen by the 300 ms round trip and hold truth",
    );
    s.net_faults = vec![NetFault {
        from_ns: duration_ns / 3,
        until_ns: duration_ns / 3 + 2 * MINUTE,
        slave: Some(0),
        kind: NetFaultKind::ExtraDelay {
            out_ns: 150_000_000,
            back_ns: 150_000_000,
        },
    }];
    s
}

/// Slave 0's answers come back 40 ms late, slave 1's requests go out 40 ms
/// late, for the whole run.
pub fn asymmetric(duration_ns: i64) -> Scenario {
    let mut s = Scenario::fleet("asymmetric", 3, 2, 1, duration_ns).described(
        "strongly asymmetric paths: slave 0's answers take 40 ms more, slave 1's requests 40 ms more",
        "no assumption of symmetry: the whole round trip is charged, intervals hold truth",
    );
    s.net_faults = vec![
        NetFault {
            from_ns: 0,
            until_ns: i64::MAX,
            slave: Some(0),
            kind: NetFaultKind::ExtraDelay {
                out_ns: 0,
                back_ns: 40_000_000,
            },
        },
        NetFault {
            from_ns: 0,
            until_ns: i64::MAX,
            slave: Some(1),
            kind: NetFaultKind::ExtraDelay {
                out_ns: 40_000_000,
                back_ns: 0,
            },
        },
    ];
    s
}

/// Master 1's process dies and is restarted 2 min later.
pub fn master_restart(duration_ns: i64) -> Scenario {
    let mut s = Scenario::fleet("master-restart", 3, 2, 1, duration_ns).described(
        "master 1's process dies and comes back 2 min later",
        "slaves call it unreachable and serve the hull of the two left (f = 1); the restarted \
         master serves once its receiver's samples agree again, and is back in the majority",
    );
    s.faults = vec![Fault::MasterDown {
        master: 1,
        from_ns: duration_ns / 3,
        until_ns: duration_ns / 3 + 2 * MINUTE,
    }];
    s
}

/// Slave 0's daemon dies and is restarted 30 s later.
pub fn slave_restart(duration_ns: i64) -> Scenario {
    let mut s = Scenario::fleet("slave-restart", 3, 2, 1, duration_ns).described(
        "slave 0's daemon dies and is restarted 30 s later",
        "clients go on with the record it left until its void-after instant; the new daemon \
         publishes unsynchronized until its first round",
    );
    s.faults = vec![Fault::SlaveDown {
        slave: 0,
        from_ns: duration_ns / 3,
        until_ns: duration_ns / 3 + 30 * SECOND,
    }];
    s
}

/// Master 0's wall clock is stepped an hour forward, later an hour back.
pub fn wall_step(duration_ns: i64) -> Scenario {
    let mut s = Scenario::fleet("wall-step", 3, 2, 1, duration_ns).described(
        "master 0's wall clock (which gpsd stamps with) is stepped 1 h forward, later 1 h back",
        "the gpsd session sees the step and refuses stamps for 3 s; TT is unaffected",
    );
    s.faults = vec![
        Fault::WallStep {
            master: 0,
            at_ns: duration_ns / 3,
            by_ns: HOUR,
        },
        Fault::WallStep {
            master: 0,
            at_ns: duration_ns * 2 / 3,
            by_ns: -HOUR,
        },
    ];
    s
}

/// Slave 0's oscillator runs at 500 ppm while it declares 200 ppm, with
/// Spanner's 30 s poll.
pub fn oscillator_beyond_bound(duration_ns: i64) -> Scenario {
    let mut s = Scenario::fleet("oscillator-500ppm", 3, 2, 1, duration_ns)
        .with_poll(30 * SECOND)
        .described(
            "slave 0's oscillator runs at 500 ppm against a declared 200 ppm (30 s poll)",
            "intervals carried 30 s drift out of truth; the next round's agreement misses the \
             carried interval, the slave counts a disruption and stops serving",
        );
    s.slaves[0].clock.events = vec![CounterEvent::Rate {
        at_ns: duration_ns / 3,
        ppb: 500_000,
    }];
    s
}

/// Slave 0's host sleeps 10 min; its counter counts through.
pub fn suspend(duration_ns: i64) -> Scenario {
    let mut s = Scenario::fleet("suspend", 3, 2, 1, duration_ns).described(
        "slave 0's host is suspended for 10 min; CLOCK_BOOTTIME counts through the sleep",
        "the record is void after the sleep (past max-holdover) and the first round after \
         wake-up serves again; nothing wrong is handed out",
    );
    s.slaves[0].clock.events = vec![CounterEvent::Suspend {
        at_ns: duration_ns / 3,
        for_ns: 10 * MINUTE,
        error_ns: 0,
    }];
    s
}

/// Slave 0's host sleeps 20 s and its counter wakes up 700 ms ahead.
pub fn suspend_coarse(duration_ns: i64) -> Scenario {
    let mut s = Scenario::fleet("suspend-coarse-rtc", 3, 2, 1, duration_ns).described(
        "slave 0 sleeps 20 s on hardware whose kernel measures sleep with the 1 s RTC: its counter \
         wakes up 700 ms ahead",
        "reads between wake-up and the first round carry a record through a counter that \
         stepped: a documented limit; the round finds the disruption",
    );
    s.slaves[0].clock.events = vec![CounterEvent::Suspend {
        at_ns: duration_ns / 3,
        for_ns: 20 * SECOND,
        error_ns: 700_000_000,
    }];
    s
}

/// Slave 0's virtual machine is paused for 20 s and its counter stops.
pub fn vm_pause(duration_ns: i64) -> Scenario {
    let mut s = Scenario::fleet("vm-pause", 3, 2, 1, duration_ns).described(
        "slave 0's virtual machine is paused for 20 s and its counter does not count the pause",
        "reads after the pause carry the record through a counter that stood still: a documented \
         limit until the next rounds find the disruption",
    );
    s.slaves[0].clock.events = vec![CounterEvent::Pause {
        at_ns: duration_ns / 3,
        for_ns: 20 * SECOND,
    }];
    s
}

/// An inserted leap second at the end of 2026, run from 20 min before.
pub fn leap_second(duration_ns: i64) -> Scenario {
    let mut s = Scenario::fleet("leap-second", 3, 2, 1, duration_ns).described(
        "a leap second is inserted at the end of 2026-12-31; the receivers (through gpsd) label \
         23:59:60 as the following midnight",
        "masters widen every interval near the leap by 1 s below (5 min before to 10 s after); \
         every interval holds the truth set across 23:59:60",
    );
    s.start_ns = LEAP_MIDNIGHT_NS - 20 * MINUTE;
    s.leap = Some((
        LeapSecond {
            midnight: Timestamp::from_unix_nanos(LEAP_MIDNIGHT_NS),
            kind: LeapKind::Inserted,
        },
        5 * MINUTE,
        10 * SECOND,
    ));
    s
}

/// A scenario and the lengths it is run for.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    /// Builds it for a length, ns.
    pub build: fn(i64) -> Scenario,
    /// The length the tests run (debug builds: minutes of wall time in
    /// all), ns.
    pub test_ns: i64,
    /// The length the report runs (release builds), ns.
    pub report_ns: i64,
}

const fn entry(build: fn(i64) -> Scenario, test_ns: i64, report_ns: i64) -> Entry {
    Entry {
        build,
        test_ns,
        report_ns,
    }
}

/// Every scenario with its lengths.
pub const ALL: &[Entry] = &[
    entry(baseline, HOUR, 48 * HOUR),
    entry(spanner, HOUR, 48 * HOUR),
    entry(drift_edge, HOUR, 48 * HOUR),
    entry(gps_lost, HOUR, 6 * HOUR),
    entry(spoof_2s, HOUR, 6 * HOUR),
    entry(spoof_50ms, HOUR, 6 * HOUR),
    entry(spoof_50ms_unchecked, HOUR, 6 * HOUR),
    entry(liar_10ms, HOUR, 6 * HOUR),
    entry(liar_1s, HOUR, 6 * HOUR),
    entry(collusion_20ms, HOUR, 6 * HOUR),
    entry(collusion_20ms_peer_f2, HOUR, 6 * HOUR),
    entry(collusion_1ms, HOUR, 6 * HOUR),
    entry(partition, HOUR, 6 * HOUR),
    entry(delay_spike, HOUR, 6 * HOUR),
    entry(asymmetric, HOUR, 6 * HOUR),
    entry(master_restart, HOUR, 6 * HOUR),
    entry(slave_restart, HOUR, 6 * HOUR),
    entry(wall_step, HOUR, 6 * HOUR),
    entry(oscillator_beyond_bound, HOUR, 6 * HOUR),
    entry(suspend, HOUR, 6 * HOUR),
    entry(suspend_coarse, HOUR, 6 * HOUR),
    entry(vm_pause, HOUR, 6 * HOUR),
    entry(leap_second, 40 * MINUTE, 2 * HOUR),
];

/// The scenario named `name`, at its test length.
pub fn by_name(name: &str) -> Option<(Scenario, Entry)> {
    ALL.iter()
        .map(|entry| ((entry.build)(entry.test_ns), *entry))
        .find(|(s, _)| s.name == name)
}
