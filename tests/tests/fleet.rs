//! The one promise on a fleet of real processes under faults: three
//! timemasters and ten timeslaves in network namespaces (see
//! `tt_tests::fleet`), every slave asked for `Now` about ten times a
//! second from start to end, with the host's `CLOCK_REALTIME` as true time.
//!
//! The invariant, checked on every synchronized answer: the host clock is
//! read right before the call (`before`) and right after it (`after`);
//! the slave evaluated its interval at some instant in between, when
//! truth was in `[before, after]`, so the interval must overlap
//! `[before, after]`. Any answer that does not is a violation, and every
//! phase must have none. No call may fail: a slave always answers, if only
//! to say it is unsynchronized.
//!
//! The faults, one after the other, each with what the design promises:
//!
//! - a master stopped (SIGSTOP) and continued: the slaves mark it
//!   unreachable, keep serving from the other two (with `f = 1`, two of
//!   three agree), and take it back into the majority once it answers;
//! - a master killed (SIGKILL) and started again: the same;
//! - a master whose receiver is spoofed by +2 s: its peers outvote it and
//!   it takes itself out of service; the slaves mark it unsynchronized and
//!   keep serving; a truthful receiver brings it back;
//! - one slave cut off (its link down) and another stalled (its switch
//!   port dropping every frame): both carry their last interval forward,
//!   widening by `2 rho` per second, for at most `max-holdover-s`, then
//!   report unsynchronized; they synchronize again once the links are back.
//!   The eight other slaves serve throughout.
//!
//! Needs root (namespaces); CI runs as root.

use std::time::{Duration, Instant};
use tt_proto::v1::Verdict;
use tt_proto::NowAnswer;
use tt_tests::fleet::{
    cpu_ms, master_address, namespaces, require_root, Fleet, DRIFT_PPM, MASTERS, MAX_HOLDOVER,
    POLL_INTERVAL, REQUEST_TIMEOUT, SLAVES,
};
use tt_tests::stack::Client;

/// How often every slave is asked.
const SWEEP_EVERY: Duration = Duration::from_millis(100);
/// How long the links of the cut and the stalled slave stay down: longer
/// than the holdover plus a poll round, so that the holdover expires.
const LINKS_DOWN: Duration = Duration::from_secs(8);
const CUT_SLAVE: usize = 0;
const STALLED_SLAVE: usize = 1;
const NS_PER_S: i64 = 1_000_000_000;

/// One `Now` call to one slave, between two reads of the host clock.
struct Reading {
    slave: usize,
    before_ns: i64,
    after_ns: i64,
    answer: Result<NowAnswer, String>,
}

impl Reading {
    fn interval(&self) -> Option<&tt_core::Interval> {
        match &self.answer {
            Ok(NowAnswer::Synchronized(interval)) => Some(interval),
            _ => None,
        }
    }

    /// Why this reading breaks the invariant, if it does.
    fn violation(&self) -> Option<String> {
        let interval = self.interval()?;
        let holds = interval.earliest().unix_nanos() <= self.after_ns
            && self.before_ns <= interval.latest().unix_nanos();
        (!holds).then(|| {
            format!(
                "slave {}: {interval} misses the host clock [{}, {}]",
                self.slave, self.before_ns, self.after_ns
            )
        })
    }
}

/// Every slave's client, and the readings of the phase under way.
struct Watch {
    clients: Vec<Client>,
    phase: &'static str,
    phase_started: Instant,
    readings: Vec<Reading>,
    /// A master whose receiver lies: its intervals are not checked.
    suspect: Option<usize>,
    /// Masters' intervals as the slaves' status shows them, checked.
    member_checks: usize,
    member_violations: Vec<String>,
    /// Status answers in which the suspect's interval missed the host
    /// clock: the slaves heard its lie before it stopped serving.
    suspect_misses: usize,
}

impl Watch {
    fn new(clients: Vec<Client>) -> Watch {
        Watch {
            clients,
            phase: "start",
            phase_started: Instant::now(),
            readings: Vec::new(),
            suspect: None,
            member_checks: 0,
            member_violations: Vec::new(),
            suspect_misses: 0,
        }
    }

    /// Asks every slave once; returns the new readings.
    fn sweep(&mut self) -> &[Reading] {
        let first = self.readings.len();
        for (slave, client) in self.clients.iter_mut().enumerate() {
            let before_ns = tt_clock::realtime_ns();
            let answer = client.now();
            let after_ns = tt_clock::realtime_ns();
            self.readings.push(Reading {
                slave,
                before_ns,
                after_ns,
                answer,
            });
        }
        &self.readings[first..]
    }

    /// Sweeps every `SWEEP_EVERY` until `done` says so, for at most
    /// `limit`; returns how long it took, or `None` at the limit.
    fn run_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&mut Watch) -> bool,
    ) -> Option<Duration> {
        let started = Instant::now();
        for sweep in 0u64.. {
            let sweep_started = Instant::now();
            self.sweep();
            // About once a second, the masters' intervals in every slave's
            // status are checked too.
            if sweep % 10 == 9 {
                let _ = self.verdicts(0);
            }
            if done(self) {
                return Some(started.elapsed());
            }
            if started.elapsed() >= limit {
                return None;
            }
            std::thread::sleep(SWEEP_EVERY.saturating_sub(sweep_started.elapsed()));
        }
        unreachable!("the sweep counter does not run out")
    }

    /// Sweeps for `duration`.
    fn run_for(&mut self, duration: Duration) {
        let _ = self.run_until(duration, |_| false);
    }

    /// Whether the last sweep found every slave in `slaves` synchronized.
    fn last_synchronized(&self, slaves: &[usize]) -> bool {
        let last = &self.readings[self.readings.len() - SLAVES..];
        slaves.iter().all(|&s| last[s].interval().is_some())
    }

    /// Each slave's verdict on `master`, with its detail.
    ///
    /// Every master's interval in each status answer is checked too: it is
    /// the master's last good answer carried to the instant of the status
    /// answer by the slave's drift bound, so it holds the host clock read
    /// around the call whenever that master is honest (every master but
    /// the suspect).
    fn verdicts(&mut self, master: usize) -> Vec<(Verdict, String)> {
        let name = master_address(master);
        let suspect = self.suspect.map(master_address);
        let mut verdicts = Vec::with_capacity(SLAVES);
        for (slave, client) in self.clients.iter_mut().enumerate() {
            let before_ns = tt_clock::realtime_ns();
            let status = client.status().expect("every slave answers Status");
            let after_ns = tt_clock::realtime_ns();
            for member in &status.members {
                let misses =
                    member.earliest_unix_ns > after_ns || before_ns > member.latest_unix_ns;
                if !member.has_interval {
                    continue;
                }
                if Some(&member.name) == suspect.as_ref() {
                    self.suspect_misses += usize::from(misses);
                    continue;
                }
                self.member_checks += 1;
                if misses {
                    self.member_violations.push(format!(
                        "slave {slave}'s view of master {}: [{}, {}] misses the host clock \
                         [{before_ns}, {after_ns}]",
                        member.name, member.earliest_unix_ns, member.latest_unix_ns
                    ));
                }
            }
            let member = status
                .members
                .into_iter()
                .find(|m| m.name == name)
                .expect("the slave lists every configured master");
            let verdict = Verdict::try_from(member.verdict).unwrap_or(Verdict::Unspecified);
            verdicts.push((verdict, member.detail));
        }
        verdicts
    }

    /// Whether every slave's verdict on `master` is one of `wanted`.
    fn all_judge(&mut self, master: usize, wanted: &[Verdict]) -> bool {
        self.verdicts(master)
            .iter()
            .all(|(verdict, _)| wanted.contains(verdict))
    }

    /// Ends the phase under way: checks that no reading broke the
    /// invariant and no call failed, requires every answer from the slaves
    /// in `available` to be synchronized, prints a summary line, and returns
    /// the readings. Starts phase `next`.
    fn end_phase(&mut self, available: &[usize], next: &'static str) -> Vec<Reading> {
        let readings = std::mem::take(&mut self.readings);
        let seconds = self.phase_started.elapsed().as_secs_f64();
        let phase = std::mem::replace(&mut self.phase, next);
        self.phase_started = Instant::now();

        let violations: Vec<String> = readings.iter().filter_map(Reading::violation).collect();
        assert!(
            violations.is_empty(),
            "phase {phase}: {} answers miss the host clock; the first: {}",
            violations.len(),
            violations[0]
        );
        let errors: Vec<String> = readings
            .iter()
            .filter_map(|r| {
                r.answer
                    .as_ref()
                    .err()
                    .map(|e| format!("slave {}: {e}", r.slave))
            })
            .collect();
        assert!(
            errors.is_empty(),
            "phase {phase}: {} calls failed; the first: {}",
            errors.len(),
            errors[0]
        );
        let member_violations = std::mem::take(&mut self.member_violations);
        assert!(
            member_violations.is_empty(),
            "phase {phase}: {} masters' intervals in the slaves' status miss the host clock; \
             the first: {}",
            member_violations.len(),
            member_violations[0]
        );
        let member_checks = std::mem::take(&mut self.member_checks);
        let missing: Vec<String> = readings
            .iter()
            .filter(|r| available.contains(&r.slave) && r.interval().is_none())
            .map(|r| format!("slave {}: {:?}", r.slave, r.answer))
            .collect();
        assert!(
            missing.is_empty(),
            "phase {phase}: {} answers from slaves that should have served were \
             unsynchronized; the first: {}",
            missing.len(),
            missing[0]
        );

        let mut widths: Vec<i64> = readings
            .iter()
            .filter_map(|r| r.interval().map(|i| i.width_ns()))
            .collect();
        widths.sort_unstable();
        let synchronized = widths.len();
        let longest_call_ns = readings
            .iter()
            .map(|r| r.after_ns - r.before_ns)
            .max()
            .unwrap_or(0);
        let ms = |ns: i64| ns as f64 / 1e6;
        let width = if widths.is_empty() {
            "no width".to_string()
        } else {
            format!(
                "width min {:.3} / median {:.3} / max {:.3} ms",
                ms(widths[0]),
                ms(widths[widths.len() / 2]),
                ms(widths[widths.len() - 1])
            )
        };
        let line = format!(
            "{phase:<20} {seconds:5.1} s {:5} answers, {synchronized:5} synchronized, \
             0 violations; {width}; longest call {:.1} ms; {member_checks} master intervals \
             checked",
            readings.len(),
            ms(longest_call_ns),
        );
        eprintln!("{line}");
        readings
    }
}

/// Every slave's index.
fn all_slaves() -> Vec<usize> {
    (0..SLAVES).collect()
}

/// Every slave's index but those in `except`.
fn slaves_but(except: &[usize]) -> Vec<usize> {
    (0..SLAVES).filter(|s| !except.contains(s)).collect()
}

/// What a slave whose links went down at `fault_ns` (host clock) showed.
struct Holdover {
    /// The last synchronized answer, ms after the fault.
    last_synchronized_ms: i64,
    /// The first unsynchronized answer, ms after the fault.
    first_unsynchronized_ms: i64,
    /// How much its interval widened while it held over, ns.
    widened_ns: i64,
}

/// Checks the holdover promise on `slave`'s readings after its links went
/// down at `fault_ns`:
///
/// - A round ends at most `REQUEST_TIMEOUT` after it starts, and no round
///   that starts after the fault hears from any master, so the last
///   combined sample was made by `fault + REQUEST_TIMEOUT`. It is served
///   while it is at most `MAX_HOLDOVER` old: no synchronized answer may
///   come later than `fault + REQUEST_TIMEOUT + MAX_HOLDOVER` (the check
///   allows 1 s more for the slave's own scheduling).
/// - The last full round before the fault started less than two poll
///   intervals before it (the one in flight at the fault may have missed
///   its quorum), so the sample is served at least until `fault +
///   MAX_HOLDOVER - 2 POLL_INTERVAL`: every answer before that, less
///   0.5 s, must be synchronized.
/// - From `fault + REQUEST_TIMEOUT` on, every synchronized answer is that
///   one sample carried forward, `width0 + 2 ceil(span rho)`: widths never
///   shrink, and between two answers grow by at least
///   `2 rho (before_b - after_a) - 2 ns` (each ceil rounds by less than
///   1 ns).
fn check_holdover(readings: &[Reading], slave: usize, fault_ns: i64) -> Holdover {
    let own: Vec<&Reading> = readings.iter().filter(|r| r.slave == slave).collect();
    let holdover_ns = MAX_HOLDOVER.as_nanos() as i64;
    let timeout_ns = REQUEST_TIMEOUT.as_nanos() as i64;
    let poll_ns = POLL_INTERVAL.as_nanos() as i64;

    let latest_allowed_ns = fault_ns + timeout_ns + holdover_ns + NS_PER_S;
    for reading in &own {
        assert!(
            reading.interval().is_none() || reading.before_ns <= latest_allowed_ns,
            "slave {slave} still served {:?} {} ms after its links went down, beyond its \
             {} s holdover",
            reading.answer,
            (reading.before_ns - fault_ns) / 1_000_000,
            MAX_HOLDOVER.as_secs()
        );
    }
    let served_until_ns = fault_ns + holdover_ns - 2 * poll_ns - NS_PER_S / 2;
    for reading in own.iter().filter(|r| r.after_ns < served_until_ns) {
        assert!(
            reading.interval().is_some(),
            "slave {slave} stopped serving {} ms after its links went down, inside its holdover: \
             {:?}",
            (reading.after_ns - fault_ns) / 1_000_000,
            reading.answer
        );
    }

    let carried: Vec<&Reading> = own
        .iter()
        .copied()
        .filter(|r| r.before_ns > fault_ns + timeout_ns + NS_PER_S / 2 && r.interval().is_some())
        .collect();
    assert!(
        carried.len() >= 2,
        "slave {slave}: only {} answers while holding over",
        carried.len()
    );
    let rho_ppb = DRIFT_PPM * 1_000;
    for pair in carried.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let (width_a, width_b) = (
            a.interval().expect("synchronized").width_ns(),
            b.interval().expect("synchronized").width_ns(),
        );
        let least_growth_ns = 2 * (b.before_ns - a.after_ns).max(0) * rho_ppb / NS_PER_S - 2;
        assert!(
            width_b - width_a >= least_growth_ns,
            "slave {slave} holding over: width went from {width_a} to {width_b} ns, less than \
             the {least_growth_ns} ns that 2 rho adds between the two answers"
        );
    }
    let first = carried[0].interval().expect("synchronized").width_ns();
    let last = carried[carried.len() - 1].interval().expect("synchronized");

    let unsynchronized: Vec<&Reading> = own
        .iter()
        .copied()
        .filter(|r| r.before_ns > fault_ns && r.interval().is_none())
        .collect();
    let expired = unsynchronized.iter().find(|r| {
        matches!(&r.answer, Ok(NowAnswer::Unsynchronized(reason)) if reason.contains("holdover"))
    });
    assert!(
        expired.is_some(),
        "slave {slave} never reported its holdover expired; answers after the fault: {:?}",
        unsynchronized.first().map(|r| &r.answer)
    );
    let last_served = own
        .iter()
        .filter(|r| r.interval().is_some())
        .map(|r| r.before_ns)
        .max()
        .expect("it served before the fault");
    Holdover {
        last_synchronized_ms: (last_served - fault_ns) / 1_000_000,
        first_unsynchronized_ms: (unsynchronized[0].before_ns - fault_ns) / 1_000_000,
        widened_ns: last.width_ns() - first,
    }
}

#[test]
fn every_slave_interval_holds_the_host_clock_through_master_and_link_faults() {
    require_root("fleet");
    let run_started = Instant::now();
    let mut fleet = Fleet::start();
    let prefix = {
        let net = fleet.net();
        net.prefix().to_string()
    };
    let mut watch = Watch::new(fleet.connect_slaves(Duration::from_secs(30)));
    let mut detected = Vec::new();

    // Every slave synchronized, every master in every slave's majority.
    let ready = watch.run_until(Duration::from_secs(60), |w| {
        w.last_synchronized(&all_slaves())
            && (0..MASTERS).all(|m| w.all_judge(m, &[Verdict::InMajority]))
    });
    fleet.assert_running();
    assert!(
        ready.is_some(),
        "the fleet never came up in 60 s; slave 0's log:\n{}\nmaster 0's log:\n{}",
        fleet.slave_log(0),
        fleet.master_log(0)
    );
    watch.end_phase(&[], "steady");
    watch.run_for(Duration::from_secs(5));
    watch.end_phase(&all_slaves(), "m0 stopped");

    // SIGSTOP: the master's socket still accepts connections, but nothing
    // answers; each poll times out.
    fleet.stop_master(0);
    let marked = watch.run_until(Duration::from_secs(10), |w| {
        w.all_judge(0, &[Verdict::Unreachable])
    });
    let marked = marked.unwrap_or_else(|| {
        panic!(
            "not every slave marked the stopped master unreachable: {:?}",
            watch.verdicts(0)
        )
    });
    detected.push(format!(
        "m0 stopped: all slaves mark it unreachable in {marked:.1?}"
    ));
    watch.run_for(Duration::from_secs(6).saturating_sub(marked));
    watch.end_phase(&all_slaves(), "m0 continued");
    fleet.continue_master(0);
    let back = watch.run_until(Duration::from_secs(20), |w| {
        w.all_judge(0, &[Verdict::InMajority])
    });
    let back = back.unwrap_or_else(|| {
        panic!(
            "the continued master is not back in every majority: {:?}\nits log:\n{}",
            watch.verdicts(0),
            fleet.master_log(0)
        )
    });
    detected.push(format!(
        "m0 continued: back in every majority in {back:.1?}"
    ));
    fleet.assert_running();
    watch.end_phase(&all_slaves(), "m1 killed");

    // SIGKILL: connections are reset, the port refuses.
    fleet.kill_master(1);
    let marked = watch.run_until(Duration::from_secs(10), |w| {
        w.all_judge(1, &[Verdict::Unreachable])
    });
    let marked = marked.unwrap_or_else(|| {
        panic!(
            "not every slave marked the killed master unreachable: {:?}",
            watch.verdicts(1)
        )
    });
    detected.push(format!(
        "m1 killed: all slaves mark it unreachable in {marked:.1?}"
    ));
    watch.run_for(Duration::from_secs(2));
    watch.end_phase(&all_slaves(), "m1 restarted");
    fleet.start_master(1);
    let back = watch.run_until(Duration::from_secs(30), |w| {
        w.all_judge(1, &[Verdict::InMajority])
    });
    let back = back.unwrap_or_else(|| {
        panic!(
            "the restarted master is not back in every majority: {:?}\nits log:\n{}",
            watch.verdicts(1),
            fleet.master_log(1)
        )
    });
    detected.push(format!(
        "m1 restarted: back in every majority in {back:.1?}"
    ));
    fleet.assert_running();
    watch.end_phase(&all_slaves(), "m2 spoofed +2 s");

    // A receiver 2 s ahead: the master's own interval is then 2 s off its
    // peers' agreement, and it must stop serving.
    watch.suspect = Some(2);
    fleet.replace_receiver(2, 2_000);
    let out = watch.run_until(Duration::from_secs(40), |w| {
        w.verdicts(2).iter().all(|(verdict, detail)| {
            *verdict == Verdict::Unsynchronized && detail.contains("out of service")
        })
    });
    let out = out.unwrap_or_else(|| {
        panic!(
            "the spoofed master was not marked out of service by every slave: {:?}\nits log:\n{}",
            watch.verdicts(2),
            fleet.master_log(2)
        )
    });
    detected.push(format!(
        "m2 spoofed: every slave sees it out of service in {out:.1?}; its lie was in {} \
         status answers before that",
        watch.suspect_misses
    ));
    let (_, detail) = watch.verdicts(2).swap_remove(0);
    assert!(detail.contains("peers' agreement"), "{detail}");
    watch.run_for(Duration::from_secs(2));
    watch.end_phase(&all_slaves(), "m2 truthful again");
    fleet.replace_receiver(2, 0);
    let back = watch.run_until(Duration::from_secs(40), |w| {
        w.all_judge(2, &[Verdict::InMajority])
    });
    let back = back.unwrap_or_else(|| {
        panic!(
            "the master with a truthful receiver again is not back in every majority: {:?}\n\
             its log:\n{}",
            watch.verdicts(2),
            fleet.master_log(2)
        )
    });
    detected.push(format!(
        "m2 truthful again: back in every majority in {back:.1?}"
    ));
    fleet.assert_running();
    watch.end_phase(&all_slaves(), "s0 cut, s1 stalled");
    // Back in every majority means every slave's last good answer from it
    // is a new, truthful one.
    watch.suspect = None;

    // Links: slave 0's own link down, slave 1's switch port disabled.
    fleet.net().cut(CUT_SLAVE);
    fleet.net().stall(STALLED_SLAVE);
    let fault_ns = tt_clock::realtime_ns();
    watch.run_for(LINKS_DOWN);
    let readings = watch.end_phase(&slaves_but(&[CUT_SLAVE, STALLED_SLAVE]), "links back");
    for (slave, how) in [(CUT_SLAVE, "cut"), (STALLED_SLAVE, "stalled")] {
        let holdover = check_holdover(&readings, slave, fault_ns);
        detected.push(format!(
            "s{slave} {how}: served until {} ms, unsynchronized from {} ms after the fault; \
             widened {:.3} ms while holding over",
            holdover.last_synchronized_ms,
            holdover.first_unsynchronized_ms,
            holdover.widened_ns as f64 / 1e6
        ));
    }
    fleet.net().mend(CUT_SLAVE);
    fleet.net().unstall(STALLED_SLAVE);
    let mut recovered = [None, None];
    let all_back = watch.run_until(Duration::from_secs(40), |w| {
        for (k, slave) in [CUT_SLAVE, STALLED_SLAVE].into_iter().enumerate() {
            if recovered[k].is_none() && w.last_synchronized(&[slave]) {
                recovered[k] = Some(w.phase_started.elapsed());
            }
        }
        recovered.iter().all(Option::is_some)
    });
    assert!(
        all_back.is_some(),
        "the slaves did not synchronize again within 40 s of their links coming back \
         ({recovered:?}); slave {STALLED_SLAVE}'s log:\n{}",
        fleet.slave_log(STALLED_SLAVE)
    );
    for (k, (slave, how)) in [(CUT_SLAVE, "cut"), (STALLED_SLAVE, "stalled")]
        .into_iter()
        .enumerate()
    {
        detected.push(format!(
            "s{slave} {how}: synchronized again {:.1?} after its link came back",
            recovered[k].expect("checked above")
        ));
    }
    fleet.assert_running();
    let readings = watch.end_phase(&slaves_but(&[CUT_SLAVE, STALLED_SLAVE]), "end");
    let widest_ms = |slaves: &[usize]| {
        readings
            .iter()
            .filter(|r| slaves.contains(&r.slave))
            .filter_map(|r| r.interval().map(|i| i.width_ns()))
            .max()
            .unwrap_or(0) as f64
            / 1e6
    };
    detected.push(format!(
        "links back: widest answer {:.3} ms from s{CUT_SLAVE}, {:.3} ms from s{STALLED_SLAVE}, \
         {:.3} ms from the others",
        widest_ms(&[CUT_SLAVE]),
        widest_ms(&[STALLED_SLAVE]),
        widest_ms(&slaves_but(&[CUT_SLAVE, STALLED_SLAVE]))
    ));

    // What the run cost, per kind of process.
    let mut cpu: Vec<(String, u64, u32)> = Vec::new();
    let processes = fleet.processes();
    let this_test = ("- test-process".to_string(), std::process::id());
    for (name, pid) in processes.iter().chain([&this_test]) {
        let kind = name.split(' ').nth(1).unwrap_or(name).to_string();
        let used = cpu_ms(*pid).unwrap_or(0);
        match cpu.iter_mut().find(|(k, _, _)| *k == kind) {
            Some(entry) => {
                entry.1 += used;
                entry.2 += 1;
            }
            None => cpu.push((kind, used, 1)),
        }
    }
    let wall = run_started.elapsed();
    eprintln!("\nfleet run: {wall:.1?}");
    for line in &detected {
        eprintln!("  {line}");
    }
    for (kind, used_ms, count) in &cpu {
        eprintln!(
            "  CPU {kind}: {:.1} s over {count} processes ({:.1} % of one core each)",
            *used_ms as f64 / 1e3,
            *used_ms as f64 / 10.0 / *count as f64 / wall.as_secs_f64()
        );
    }

    // Teardown leaves nothing: no process, no namespace.
    drop(watch);
    drop(fleet);
    for (name, pid) in &processes {
        // A PID the kernel has given to something else since is not ours.
        let command = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let command = String::from_utf8_lossy(&command);
        assert!(
            !["timemaster", "timeslave", "gpsd", "tt-gpssim"]
                .iter()
                .any(|program| command.contains(program)),
            "{name} (pid {pid}) outlived the fleet"
        );
    }
    let left: Vec<String> = namespaces()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
}
