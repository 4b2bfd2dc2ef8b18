//! The event loop: a queue of events keyed by physical time (ties broken
//! by the order they were queued), the hosts, the network, and the checks.

use crate::gps::{no_fix_line, pps_line, tpv_line};
use crate::master::{Serving, SimMaster};
use crate::metrics::{MasterAnswer, Observation, Read, Tally};
use crate::network::{Host, NetFault, Network};
use crate::oscillator::{CounterEvent, Oscillator, OscillatorSpec};
use crate::rng::{tag, Rng};
use crate::scenario::{ClockSpec, Fault, Scenario};
use crate::slave::SimSlave;
use crate::truth::{Utc, SECOND};
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use timemaster::peers::PeerPoll;
use timeslave::combiner::Event as CombinerEvent;
use tt_core::leap::LeapPolicy;
use tt_core::shm::BootId;
use tt_core::{round_trip, LocalInstant};
use tt_proto::v1::NowResponse;
use tt_proto::NowAnswer;

/// Slaves start this long (plus up to a second) after the masters, which
/// are then warm.
pub const SLAVE_START_NS: i64 = 10 * SECOND;

/// What happens at one instant.
#[derive(Debug)]
enum Event {
    /// The top of a physical second for a master's receiver.
    GpsSecond { master: usize, second: i64 },
    /// gpsd stamps what the receiver delivered.
    GpsStamp {
        master: usize,
        label: i64,
        kind: LineKind,
    },
    /// The master's gpsd driver reads a line.
    DriverLine { master: usize, line: String },
    /// A slave's poll ticker fires.
    SlaveRound { slave: usize, generation: u64 },
    /// A slave's request reaches a master.
    SlaveRequest {
        slave: usize,
        generation: u64,
        round: u64,
        master: usize,
    },
    /// A master's answer (or refusal) reaches a slave.
    SlaveAnswer {
        slave: usize,
        generation: u64,
        round: u64,
        master: usize,
        answer: Result<NowResponse, String>,
    },
    /// A slave's request timeout fires.
    SlaveTimeout {
        slave: usize,
        generation: u64,
        round: u64,
        master: usize,
    },
    /// A master's ticker for one peer fires.
    PeerTick {
        master: usize,
        generation: u64,
        peer: usize,
    },
    /// A peer request reaches the peer.
    PeerRequest {
        master: usize,
        generation: u64,
        peer: usize,
        poll: u64,
    },
    /// A peer's answer reaches the master.
    PeerAnswer {
        master: usize,
        generation: u64,
        peer: usize,
        poll: u64,
        answer: Result<NowResponse, String>,
    },
    /// A peer request's timeout fires.
    PeerTimeout {
        master: usize,
        generation: u64,
        peer: usize,
        poll: u64,
    },
    /// A client on a slave host reads the record.
    ClientRead { slave: usize },
    /// A fault from the scenario.
    Fault(FaultEvent),
}

#[derive(Clone, Copy, Debug)]
enum LineKind {
    Pps,
    Tpv,
    NoFix,
}

#[derive(Clone, Copy, Debug)]
enum FaultEvent {
    MasterCrash(usize),
    MasterStart(usize),
    SlaveCrash(usize),
    SlaveStart(usize),
    WallStep(usize, i64),
}

struct Queued {
    tau: i64,
    seq: u64,
    event: Event,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.tau, self.seq) == (other.tau, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.tau, self.seq).cmp(&(other.tau, other.seq))
    }
}

/// The state of one master's polls of one peer.
#[derive(Clone, Copy, Debug, Default)]
struct PeerPollState {
    poll: u64,
    sent: i64,
    settled: bool,
}

/// Everything a run has measured.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The checks and observations.
    pub tally: Tally,
    /// Physical nanoseconds simulated.
    pub simulated_ns: i64,
}

struct World<'a> {
    scenario: &'a Scenario,
    start: i64,
    end: i64,
    utc: Utc,
    masters: Vec<SimMaster>,
    slaves: Vec<SimSlave>,
    network: Network,
    queue: BinaryHeap<Reverse<Queued>>,
    seq: u64,
    gps_rng: Vec<Rng>,
    read_rng: Vec<Rng>,
    startup: Rng,
    peer_polls: Vec<Vec<PeerPollState>>,
    faults: Vec<Fault>,
    tally: Tally,
    trace: bool,
}

/// The absolute form of a host's counter events (scenario instants are
/// relative to the start).
fn oscillator_spec(clock: &ClockSpec, rate_ppb: i64, start: i64) -> OscillatorSpec {
    let events = clock
        .events
        .iter()
        .map(|event| match *event {
            CounterEvent::Pause { at_ns, for_ns } => CounterEvent::Pause {
                at_ns: start + at_ns,
                for_ns,
            },
            CounterEvent::Step { at_ns, by_ns } => CounterEvent::Step {
                at_ns: start + at_ns,
                by_ns,
            },
            CounterEvent::Suspend {
                at_ns,
                for_ns,
                error_ns,
            } => CounterEvent::Suspend {
                at_ns: start + at_ns,
                for_ns,
                error_ns,
            },
            CounterEvent::Rate { at_ns, ppb } => CounterEvent::Rate {
                at_ns: start + at_ns,
                ppb,
            },
        })
        .collect();
    OscillatorSpec {
        rate_ppb,
        wander: clock.wander,
        events,
    }
}

/// Runs `scenario` with `seed`; with `trace`, every client read is kept.
pub fn simulate(scenario: &Scenario, seed: u64, trace: bool) -> Outcome {
    let mut world = World::new(scenario, seed, trace);
    world.run();
    Outcome {
        tally: world.tally,
        simulated_ns: scenario.duration_ns,
    }
}

impl<'a> World<'a> {
    fn new(scenario: &'a Scenario, seed: u64, trace: bool) -> World<'a> {
        let start = scenario.start_ns;
        let leap = scenario.leap.map(|(leap, before_ns, after_ns)| LeapPolicy {
            leap,
            before_ns,
            after_ns,
        });
        let master_count = scenario.masters.len();
        let masters: Vec<SimMaster> = scenario
            .masters
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let mut rng = Rng::stream(seed, &[tag::MASTER, i as u64]);
                let rate = rng.range(spec.clock.rate_low_ppb, spec.clock.rate_high_ppb);
                let local_start = rng.range(100 * SECOND, 1_000_000 * SECOND);
                let osc = Oscillator::new(
                    &oscillator_spec(&spec.clock, rate, start),
                    start,
                    local_start,
                    spec.drift.ppb() as i64,
                    Rng::stream(seed, &[tag::MASTER_WANDER, i as u64]),
                );
                // The wall clock is kept near UTC by a time daemon: within
                // a millisecond at the start.
                let wall_offset = start - local_start + rng.range(-1_000_000, 1_000_000);
                SimMaster::new(
                    spec.clone(),
                    osc,
                    wall_offset,
                    master_count - 1,
                    leap,
                    start,
                )
            })
            .collect();
        let slaves: Vec<SimSlave> = scenario
            .slaves
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let mut rng = Rng::stream(seed, &[tag::SLAVE, i as u64]);
                let rate = rng.range(spec.clock.rate_low_ppb, spec.clock.rate_high_ppb);
                let local_start = rng.range(100 * SECOND, 1_000_000 * SECOND);
                let osc = Oscillator::new(
                    &oscillator_spec(&spec.clock, rate, start),
                    start,
                    local_start,
                    spec.limits.drift.ppb() as i64,
                    Rng::stream(seed, &[tag::SLAVE_WANDER, i as u64]),
                );
                let boot = BootId::from_u128(
                    (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64()),
                );
                SimSlave::new(spec.clone(), osc, master_count, boot)
            })
            .collect();
        let net_faults = scenario
            .net_faults
            .iter()
            .map(|f| NetFault {
                from_ns: start + f.from_ns,
                until_ns: start.saturating_add(f.until_ns),
                ..*f
            })
            .collect();
        let mut world = World {
            scenario,
            start,
            end: start + scenario.duration_ns,
            utc: Utc {
                leap: scenario.leap.map(|(leap, _, _)| leap),
            },
            network: Network::new(scenario.network, net_faults, seed),
            queue: BinaryHeap::new(),
            seq: 0,
            gps_rng: (0..master_count)
                .map(|i| Rng::stream(seed, &[tag::GPS, i as u64]))
                .collect(),
            read_rng: (0..scenario.slaves.len())
                .map(|i| Rng::stream(seed, &[tag::READS, i as u64]))
                .collect(),
            startup: Rng::stream(seed, &[tag::STARTUP]),
            peer_polls: (0..master_count)
                .map(|_| vec![PeerPollState::default(); master_count.saturating_sub(1)])
                .collect(),
            faults: scenario.faults.clone(),
            masters,
            slaves,
            tally: Tally::default(),
            trace,
        };
        world.schedule_start();
        world
    }

    fn push(&mut self, tau: i64, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            tau,
            seq: self.seq,
            event,
        }));
    }

    fn schedule_start(&mut self) {
        let start = self.start;
        // Receivers tick on whole physical seconds.
        let first_second = start.div_euclid(SECOND) * SECOND + SECOND;
        for master in 0..self.masters.len() {
            self.push(
                first_second,
                Event::GpsSecond {
                    master,
                    second: first_second,
                },
            );
            // Daemons start at different moments, so their tickers are
            // out of phase.
            let phase = self.startup.range(0, SECOND - 1);
            self.schedule_peer_ticks(master, start + phase);
        }
        for slave in 0..self.slaves.len() {
            let at = start + SLAVE_START_NS + self.startup.range(0, SECOND - 1);
            self.push(at, Event::Fault(FaultEvent::SlaveStart(slave)));
            self.push(at, Event::ClientRead { slave });
        }
        for fault in self.faults.clone() {
            match fault {
                Fault::MasterDown {
                    master,
                    from_ns,
                    until_ns,
                } => {
                    self.push(
                        start + from_ns,
                        Event::Fault(FaultEvent::MasterCrash(master)),
                    );
                    self.push(
                        start + until_ns,
                        Event::Fault(FaultEvent::MasterStart(master)),
                    );
                }
                Fault::SlaveDown {
                    slave,
                    from_ns,
                    until_ns,
                } => {
                    self.push(start + from_ns, Event::Fault(FaultEvent::SlaveCrash(slave)));
                    self.push(
                        start + until_ns,
                        Event::Fault(FaultEvent::SlaveStart(slave)),
                    );
                }
                Fault::WallStep {
                    master,
                    at_ns,
                    by_ns,
                } => self.push(
                    start + at_ns,
                    Event::Fault(FaultEvent::WallStep(master, by_ns)),
                ),
                _ => {}
            }
        }
    }

    fn schedule_peer_ticks(&mut self, master: usize, tau: i64) {
        let generation = self.masters[master].generation;
        for peer in 0..self.masters[master].polled_peers() {
            self.push(
                tau,
                Event::PeerTick {
                    master,
                    generation,
                    peer,
                },
            );
        }
    }

    fn run(&mut self) {
        while let Some(Reverse(next)) = self.queue.pop() {
            if next.tau > self.end {
                break;
            }
            self.handle(next.tau, next.event);
        }
    }

    /// Nothing runs on a slave host while it is paused or asleep. A
    /// message that arrives meanwhile is handled when it runs again; a
    /// timer (a poll tick, a timeout, a client's sleep) runs on a clock
    /// that did not count the pause (`CLOCK_MONOTONIC`), so it fires as
    /// late as it had left to go when the pause began.
    fn deferred(&mut self, slave: usize, tau: i64, event: Event) {
        let Some((since, until)) = self.slaves[slave].osc.pause_at(tau) else {
            return;
        };
        let timer = !matches!(event, Event::SlaveAnswer { .. });
        let at = if timer { until + (tau - since) } else { until };
        self.push(at, event);
    }

    fn handle(&mut self, tau: i64, event: Event) {
        let event = match event {
            Event::SlaveRound { slave, .. }
            | Event::SlaveAnswer { slave, .. }
            | Event::SlaveTimeout { slave, .. }
            | Event::ClientRead { slave } => {
                if self.slaves[slave].osc.paused_until(tau).is_none() {
                    event
                } else {
                    self.deferred(slave, tau, event);
                    return;
                }
            }
            other => other,
        };
        match event {
            Event::GpsSecond { master, second } => self.gps_second(tau, master, second),
            Event::GpsStamp {
                master,
                label,
                kind,
            } => {
                let wall = self.masters[master].wall_at(tau);
                let line = match kind {
                    LineKind::Pps => pps_line(label, wall),
                    LineKind::Tpv => tpv_line(label, wall),
                    LineKind::NoFix => no_fix_line(wall),
                };
                let receiver = self.masters[master].spec().receiver;
                let latency =
                    self.gps_rng[master].range(receiver.line_low_ns, receiver.line_high_ns);
                self.push(tau + latency, Event::DriverLine { master, line });
            }
            Event::DriverLine { master, line } => {
                let effect = self.masters[master].on_line(tau, &line);
                if effect.clock_step {
                    self.observe(tau, Observation::ClockStepSeen { master });
                }
                if effect.lost_fix {
                    self.observe(tau, Observation::SourceLost { master });
                }
            }
            Event::SlaveRound { slave, generation } => self.slave_round(tau, slave, generation),
            Event::SlaveRequest {
                slave,
                generation,
                round,
                master,
            } => {
                let answer = self.master_answer(tau, master);
                if let Some(delay) =
                    self.network
                        .transit(Host::Master(master), Host::Slave(slave), tau)
                {
                    self.push(
                        tau + delay,
                        Event::SlaveAnswer {
                            slave,
                            generation,
                            round,
                            master,
                            answer,
                        },
                    );
                }
            }
            Event::SlaveAnswer {
                slave,
                generation,
                round,
                master,
                answer,
            } => self.slave_settle(tau, slave, generation, round, master, answer),
            Event::SlaveTimeout {
                slave,
                generation,
                round,
                master,
            } => {
                let timeout_ms = self.slaves[slave].spec.timeout_ns / 1_000_000;
                let answer = Err(format!("no answer within {timeout_ms} ms"));
                self.slave_settle(tau, slave, generation, round, master, answer);
            }
            Event::PeerTick {
                master,
                generation,
                peer,
            } => self.peer_tick(tau, master, generation, peer),
            Event::PeerRequest {
                master,
                generation,
                peer,
                poll,
            } => {
                let target = peer_master(master, peer);
                let answer = self.master_answer(tau, target);
                if let Some(delay) =
                    self.network
                        .transit(Host::Master(target), Host::Master(master), tau)
                {
                    self.push(
                        tau + delay,
                        Event::PeerAnswer {
                            master,
                            generation,
                            peer,
                            poll,
                            answer,
                        },
                    );
                }
            }
            Event::PeerAnswer {
                master,
                generation,
                peer,
                poll,
                answer,
            } => self.peer_settle(tau, master, generation, peer, poll, Some(answer)),
            Event::PeerTimeout {
                master,
                generation,
                peer,
                poll,
            } => self.peer_settle(tau, master, generation, peer, poll, None),
            Event::ClientRead { slave } => self.client_read(tau, slave),
            Event::Fault(fault) => self.fault(tau, fault),
        }
    }

    fn observe(&mut self, tau: i64, observation: Observation) {
        self.tally.observe(tau - self.start, observation);
    }

    fn gps_second(&mut self, tau: i64, master: usize, second: i64) {
        self.push(
            second + SECOND,
            Event::GpsSecond {
                master,
                second: second + SECOND,
            },
        );
        if self.masters[master].check_silence(tau) {
            self.observe(tau, Observation::SourceLost { master });
        }
        let relative = second - self.start;
        let within = |from: i64, until: i64| from <= relative && relative < until;
        let mut spoof_ns = 0;
        let mut silent = false;
        let mut no_fix = false;
        for fault in &self.faults {
            match *fault {
                Fault::GpsSilent {
                    master: m,
                    from_ns,
                    until_ns,
                } if m == master && within(from_ns, until_ns) => silent = true,
                Fault::GpsNoFix {
                    master: m,
                    from_ns,
                    until_ns,
                } if m == master && within(from_ns, until_ns) => no_fix = true,
                Fault::Spoof {
                    master: m,
                    by_ns,
                    from_ns,
                    until_ns,
                } if m == master && within(from_ns, until_ns) => spoof_ns += by_ns,
                _ => {}
            }
        }
        if silent {
            return;
        }
        let receiver = self.masters[master].spec().receiver;
        let serial_delay =
            self.gps_rng[master].range(receiver.serial_low_ns, receiver.serial_high_ns);
        let label = self.utc.label(second);
        let edge = second + spoof_ns;
        if no_fix {
            self.push(
                edge + serial_delay,
                Event::GpsStamp {
                    master,
                    label,
                    kind: LineKind::NoFix,
                },
            );
            return;
        }
        if receiver.pps {
            self.push(
                edge,
                Event::GpsStamp {
                    master,
                    label,
                    kind: LineKind::Pps,
                },
            );
        }
        self.push(
            edge + serial_delay,
            Event::GpsStamp {
                master,
                label,
                kind: LineKind::Tpv,
            },
        );
    }

    /// Whether a spoof or a lie on `master` can still show in its answers
    /// at `tau`: from its start until its end plus the spoof and the age
    /// limit of a sample (plus a second of slack).
    fn fault_on_master(&self, tau: i64, master: usize) -> bool {
        let relative = tau - self.start;
        let age = self.masters[master].spec().max_sample_age_ns;
        self.faults.iter().any(|fault| match *fault {
            Fault::Spoof {
                master: m,
                by_ns,
                from_ns,
                until_ns,
            } => {
                m == master
                    && from_ns <= relative
                    && relative <= until_ns + by_ns.abs() + age + SECOND
            }
            Fault::Lie {
                master: m,
                from_ns,
                until_ns,
                ..
            } => m == master && from_ns <= relative && relative < until_ns,
            _ => false,
        })
    }

    fn lie_of(&self, tau: i64, master: usize) -> i64 {
        let relative = tau - self.start;
        self.faults
            .iter()
            .map(|fault| match *fault {
                Fault::Lie {
                    master: m,
                    by_ns,
                    from_ns,
                    until_ns,
                } if m == master && from_ns <= relative && relative < until_ns => by_ns,
                _ => 0,
            })
            .sum()
    }

    /// Master `master` serves a `Now` request at `tau` (with its lie, if
    /// it lies); its answer is checked against truth.
    fn master_answer(&mut self, tau: i64, master: usize) -> Result<NowResponse, String> {
        let Some(answer) = self.masters[master].answer(tau) else {
            return Err(format!("master {master}: connection refused"));
        };
        if let Some(serving) = answer.changed {
            self.observe(tau, Observation::MasterServes { master, serving });
        }
        let mut response = answer.response;
        let lie = self.lie_of(tau, master);
        if self.trace {
            let interval = match response.check() {
                Ok(NowAnswer::Synchronized(interval)) => Some(interval.shifted(lie)),
                _ => None,
            };
            self.tally.master_trace.push(MasterAnswer {
                at_ns: tau - self.start,
                master,
                interval,
            });
        }
        if let Ok(NowAnswer::Synchronized(interval)) = response.check() {
            if lie != 0 {
                response = NowResponse::synchronized(interval.shifted(lie));
            }
            self.tally.master_answers += 1;
            let sent = interval.shifted(lie);
            let truth = self.utc.truth(tau);
            if !truth.inside(&sent) {
                if self.fault_on_master(tau, master) {
                    self.tally.master_wrong_under_fault += 1;
                } else {
                    self.tally.master_wrong_unexplained += 1;
                    let at = tau - self.start;
                    self.tally
                        .check(at, || format!("master {master}"), sent, truth, None);
                }
            }
        }
        Ok(response)
    }

    fn slave_round(&mut self, tau: i64, slave: usize, generation: u64) {
        if self.slaves[slave].generation != generation {
            return;
        }
        let Some((round, sent)) = self.slaves[slave].begin_round(tau) else {
            return;
        };
        let timeout = self.slaves[slave].spec.timeout_ns;
        let deadline = self.slaves[slave]
            .osc
            .tau_when(tau, sent.saturating_add_nanos(timeout));
        for master in 0..self.masters.len() {
            self.push(
                deadline,
                Event::SlaveTimeout {
                    slave,
                    generation,
                    round,
                    master,
                },
            );
            if let Some(delay) = self
                .network
                .transit(Host::Slave(slave), Host::Master(master), tau)
            {
                self.push(
                    tau + delay,
                    Event::SlaveRequest {
                        slave,
                        generation,
                        round,
                        master,
                    },
                );
            }
        }
    }

    fn slave_settle(
        &mut self,
        tau: i64,
        slave: usize,
        generation: u64,
        round: u64,
        master: usize,
        answer: Result<NowResponse, String>,
    ) {
        if self.slaves[slave].generation != generation {
            return;
        }
        self.slaves[slave].settle(tau, round, master, answer);
        if !self.slaves[slave].round_complete(round) {
            return;
        }
        let disruptions_before = self.disruptions(slave);
        let Some((events, ended, started)) = self.slaves[slave].end_round(tau) else {
            return;
        };
        for event in events {
            let observation = match event {
                CombinerEvent::Synchronized { .. } => Observation::SlaveSynchronized { slave },
                CombinerEvent::LostQuorum { .. } => Observation::SlaveHoldover { slave },
                CombinerEvent::Unsynchronized { reason } => {
                    Observation::SlaveUnsynchronized { slave, reason }
                }
                CombinerEvent::Master { index, verdict, .. } => Observation::SlaveVerdict {
                    slave,
                    master: index,
                    verdict,
                },
            };
            self.observe(tau, observation);
        }
        if self.disruptions(slave) > disruptions_before {
            self.tally.disruptions += 1;
            self.observe(tau, Observation::Disruption { slave });
        }
        self.check_daemon(tau, slave, ended, true);

        // The ticker fires a poll interval after the last round started,
        // or at once if this round ran past that.
        let next_local = started.saturating_add_nanos(self.slaves[slave].spec.poll_ns);
        let next = if ended >= next_local {
            tau
        } else {
            self.slaves[slave].osc.tau_when(tau, next_local)
        };
        self.push(next, Event::SlaveRound { slave, generation });
    }

    fn disruptions(&self, slave: usize) -> u64 {
        self.slaves[slave]
            .daemon
            .as_ref()
            .map_or(0, |d| d.combiner.disruptions())
    }

    /// The documented limit a slave's wrong answer falls under: its counter
    /// left the model the design assumes.
    fn slave_cause(&self, slave: usize, tau: i64) -> Option<String> {
        let left = self.slaves[slave].osc.left_model_at()?;
        (left <= tau).then(|| {
            format!(
                "slave {slave}'s local counter left its declared model (stopped, stepped or beyond \
                 its drift bound) {} ms before",
                (tau - left) / 1_000_000
            )
        })
    }

    /// Checks what the slave daemon itself would answer at `local` (its
    /// gRPC service's `Now`).
    fn check_daemon(&mut self, tau: i64, slave: usize, local: LocalInstant, at_round: bool) {
        let Some(daemon) = self.slaves[slave].daemon.as_ref() else {
            return;
        };
        let Ok(interval) = daemon.combiner.now(local) else {
            return;
        };
        self.tally.daemon_checks += 1;
        if at_round {
            self.tally.round_widths.push(interval.width_ns());
        }
        let truth = self.utc.truth(tau);
        let cause = self.slave_cause(slave, tau);
        self.tally.check(
            tau - self.start,
            || format!("slave {slave} daemon"),
            interval,
            truth,
            cause,
        );
    }

    fn client_read(&mut self, tau: i64, slave: usize) {
        let every = self.scenario.read_every_ns.max(2);
        let gap = self.read_rng[slave].range(1, 2 * every);
        self.push(tau + gap, Event::ClientRead { slave });

        let host = &mut self.slaves[slave];
        let local = host.osc.local_at(tau);
        // What tt-client's `now()` does: one consistent copy of the record
        // carried to the client's clock read.
        let got = host.record.interval_at(local, host.boot).ok();
        let truth = self.utc.truth(tau);
        self.tally.reads += 1;
        if let Some(interval) = got {
            self.tally.served += 1;
            self.tally.widths.push(interval.width_ns());
            let cause = self.slave_cause(slave, tau);
            self.tally.check(
                tau - self.start,
                || format!("slave {slave} shm"),
                interval,
                truth,
                cause,
            );
        }
        if self.trace {
            self.tally.trace.push(Read {
                at_ns: tau - self.start,
                slave,
                interval: got,
                truth,
            });
        }
        self.check_daemon(tau, slave, local, false);
    }

    fn peer_tick(&mut self, tau: i64, master: usize, generation: u64, peer: usize) {
        if self.masters[master].generation != generation || !self.masters[master].is_up() {
            return;
        }
        let spec = self.masters[master].spec().clone();
        let sent = self.masters[master].osc.local_at(tau);
        let state = &mut self.peer_polls[master][peer];
        state.poll += 1;
        state.sent = sent.nanos();
        state.settled = false;
        let poll = state.poll;
        let deadline = self.masters[master]
            .osc
            .tau_when(tau, sent.saturating_add_nanos(spec.peer_timeout_ns));
        self.push(
            deadline,
            Event::PeerTimeout {
                master,
                generation,
                peer,
                poll,
            },
        );
        let target = peer_master(master, peer);
        if let Some(delay) = self
            .network
            .transit(Host::Master(master), Host::Master(target), tau)
        {
            self.push(
                tau + delay,
                Event::PeerRequest {
                    master,
                    generation,
                    peer,
                    poll,
                },
            );
        }
        let next = self.masters[master]
            .osc
            .tau_when(tau, sent.saturating_add_nanos(spec.peer_poll_ns));
        self.push(
            next,
            Event::PeerTick {
                master,
                generation,
                peer,
            },
        );
    }

    /// A peer poll's answer (`Some`) or timeout (`None`), as
    /// `timemaster::peers` turns it into a `PeerPoll`.
    fn peer_settle(
        &mut self,
        tau: i64,
        master: usize,
        generation: u64,
        peer: usize,
        poll: u64,
        answer: Option<Result<NowResponse, String>>,
    ) {
        if self.masters[master].generation != generation {
            return;
        }
        let state = self.peer_polls[master][peer];
        if state.poll != poll || state.settled {
            return;
        }
        self.peer_polls[master][peer].settled = true;
        let received = self.masters[master].osc.local_at(tau);
        let spec = self.masters[master].spec();
        let outcome = match answer {
            None => PeerPoll::Unreachable(format!(
                "peer {peer} gave no answer within {} ms",
                spec.peer_timeout_ns / 1_000_000
            )),
            Some(Err(error)) => PeerPoll::Unreachable(error),
            Some(Ok(response)) => match response.check() {
                Ok(NowAnswer::Synchronized(interval)) => PeerPoll::Answer(round_trip(
                    interval,
                    LocalInstant::from_nanos(state.sent),
                    received,
                    spec.drift,
                )),
                Ok(NowAnswer::Unsynchronized(reason)) => PeerPoll::Unsynchronized(reason),
                Err(bad) => PeerPoll::Unreachable(format!("peer {peer} answered garbage: {bad}")),
            },
        };
        self.masters[master].record_peer(peer, outcome);
    }

    fn fault(&mut self, tau: i64, fault: FaultEvent) {
        match fault {
            FaultEvent::MasterCrash(master) => {
                self.masters[master].crash();
                self.observe(
                    tau,
                    Observation::MasterServes {
                        master,
                        serving: Serving::Unsynchronized,
                    },
                );
            }
            FaultEvent::MasterStart(master) => {
                self.masters[master].start(tau);
                self.schedule_peer_ticks(master, tau);
            }
            FaultEvent::SlaveCrash(slave) => self.slaves[slave].crash(),
            FaultEvent::SlaveStart(slave) => {
                self.slaves[slave].start();
                self.observe(tau, Observation::SlaveStarted { slave });
                let generation = self.slaves[slave].generation;
                self.push(tau, Event::SlaveRound { slave, generation });
            }
            FaultEvent::WallStep(master, by_ns) => self.masters[master].wall_offset_ns += by_ns,
        }
    }
}

/// The master that is peer `peer` of master `master`: every other master,
/// in order.
fn peer_master(master: usize, peer: usize) -> usize {
    if peer < master {
        peer
    } else {
        peer + 1
    }
}
