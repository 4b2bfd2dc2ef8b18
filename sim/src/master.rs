//! A simulated timemaster host: its counter and wall clock, and, while its
//! process runs, the real pieces of the timemaster: the gpsd session of
//! `tt_hw::gpsd` fed the receiver's lines, a `tt_hw::SourceCell`, the peer
//! table, and `timemaster::service::MasterService`, whose `view` judges
//! the source and the peers at the instant a request is served and whose
//! `now_response` is the answer.

use crate::oscillator::Oscillator;
use crate::scenario::MasterSpec;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use timemaster::assess::Rules;
use timemaster::peers::{Peer, PeerPoll, PeerRules, PeerTable, Standing};
use timemaster::service::{now_response, MasterService};
use tt_clock::{ClockPair, LocalClock};
use tt_core::leap::LeapPolicy;
use tt_core::{Interval, LocalInstant};
use tt_hw::chain::{Admission, SampleChain};
use tt_hw::gpsd::{Outcome, Rejection, Session, TakenKind};
use tt_hw::{Health, SourceCell};
use tt_proto::v1::NowResponse;

/// The local clock the service reads: the simulation sets it to the
/// master's counter before every request.
#[derive(Debug, Default)]
pub struct SimClock(AtomicI64);

impl SimClock {
    /// Sets the reading.
    pub fn set(&self, at: LocalInstant) {
        self.0.store(at.nanos(), Ordering::Relaxed);
    }
}

impl LocalClock for SimClock {
    fn now(&self) -> LocalInstant {
        LocalInstant::from_nanos(self.0.load(Ordering::Relaxed))
    }
}

/// What a master serves, as the service logs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serving {
    /// Its combined interval.
    Synchronized,
    /// Nothing: its peers outvote it.
    OutOfService,
    /// Nothing: no usable source.
    Unsynchronized,
}

/// What happened to the source when a line was handled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineEffect {
    /// The session saw the wall clock step.
    pub clock_step: bool,
    /// The source lost its fix.
    pub lost_fix: bool,
}

/// The running process.
struct Process {
    cell: SourceCell,
    session: Session,
    chain: SampleChain,
    peers: PeerTable,
    service: MasterService<SimClock>,
}

/// One master host.
pub struct SimMaster {
    /// Its counter.
    pub osc: Oscillator,
    /// Wall clock minus local counter, ns (changes only when stepped).
    pub wall_offset_ns: i64,
    spec: MasterSpec,
    peer_count: usize,
    leap: Option<LeapPolicy>,
    clock: Arc<SimClock>,
    process: Option<Process>,
    /// Incremented at every start, so that what was in flight for an
    /// earlier process is dropped.
    pub generation: u64,
    /// Local instant of the last line the driver read.
    pub last_line: LocalInstant,
    /// Whether the driver has declared the receiver silent.
    pub silence_declared: bool,
    serving: Option<Serving>,
}

impl SimMaster {
    /// A master whose process starts at physical instant `tau`.
    pub fn new(
        spec: MasterSpec,
        osc: Oscillator,
        wall_offset_ns: i64,
        peer_count: usize,
        leap: Option<LeapPolicy>,
        tau: i64,
    ) -> SimMaster {
        let mut master = SimMaster {
            osc,
            wall_offset_ns,
            spec,
            peer_count,
            leap,
            clock: Arc::new(SimClock::default()),
            process: None,
            generation: 0,
            last_line: LocalInstant::from_nanos(0),
            silence_declared: false,
            serving: None,
        };
        master.start(tau);
        master
    }

    /// The spec it runs by.
    pub fn spec(&self) -> &MasterSpec {
        &self.spec
    }

    /// The wall clock at physical instant `tau`, ns.
    pub fn wall_at(&mut self, tau: i64) -> i64 {
        self.osc.local_at(tau).nanos() + self.wall_offset_ns
    }

    /// A clock pair read at physical instant `tau`: local, wall, local, the
    /// reads 20 ns apart.
    fn pair(&mut self, tau: i64) -> ClockPair {
        let local = self.osc.local_at(tau);
        ClockPair {
            realtime_ns: local.nanos() + 20 + self.wall_offset_ns,
            local_before: local,
            local_after: local.saturating_add_nanos(40),
        }
    }

    /// Starts the process at `tau`: a fresh source, session, peer table
    /// and service, as the binary builds them.
    pub fn start(&mut self, tau: i64) {
        self.generation += 1;
        let local = self.osc.local_at(tau);
        self.clock.set(local);
        let cell = SourceCell::new("gps0", "gpsd");
        let session = Session::new(self.spec.gpsd.clone(), self.pair(tau));
        let peers: PeerTable = Arc::new(Mutex::new(
            (0..if self.spec.peers { self.peer_count } else { 0 })
                .map(|i| Peer {
                    address: format!("peer{i}"),
                    last: PeerPoll::Pending,
                })
                .collect(),
        ));
        let rules = Rules {
            drift: self.spec.drift,
            max_falsetickers: 0,
            max_sample_age_ns: self.spec.max_sample_age_ns,
        };
        let peer_count = if self.spec.peers { self.peer_count } else { 0 };
        let peer_rules = PeerRules {
            drift: self.spec.drift,
            max_falsetickers: self
                .spec
                .peer_max_falsetickers
                .unwrap_or(peer_count.saturating_sub(1) / 2),
            // As the binary: an answer counts for two poll intervals.
            max_age_ns: 2 * self.spec.peer_poll_ns,
        };
        let mut service = MasterService::new(
            vec![cell.clone()],
            rules,
            Arc::clone(&peers),
            peer_rules,
            Arc::clone(&self.clock),
        );
        if let Some(policy) = self.leap {
            service = service.with_leap_policy(policy);
        }
        self.process = Some(Process {
            cell,
            session,
            chain: SampleChain::new(),
            peers,
            service,
        });
        self.last_line = local;
        self.silence_declared = false;
        self.serving = None;
    }

    /// Kills the process.
    pub fn crash(&mut self) {
        self.process = None;
        self.generation += 1;
    }

    /// Whether the process runs.
    pub fn is_up(&self) -> bool {
        self.process.is_some()
    }

    /// How many peers it polls.
    pub fn polled_peers(&self) -> usize {
        if self.spec.peers {
            self.peer_count
        } else {
            0
        }
    }

    /// The driver reads one gpsd line at `tau`, as `tt_hw::gpsd` does: a
    /// clock pair right after the line, the session's outcomes handled as
    /// the driver's `handle` does (a PPS edge published; a serial sample
    /// published only through `tt_hw::chain`, which holds the first of a
    /// chain and refuses one that disagrees with the one before; a lost fix
    /// clears the source and the chain). That handling is private to the
    /// driver, so it is followed here step for step.
    pub fn on_line(&mut self, tau: i64, line: &str) -> LineEffect {
        let pair = self.pair(tau);
        let mut effect = LineEffect::default();
        let Some(process) = self.process.as_mut() else {
            return effect;
        };
        self.last_line = pair.local_before;
        self.silence_declared = false;
        for outcome in process.session.on_line(line.as_bytes(), pair) {
            match outcome {
                Outcome::Taken(taken) => match taken.kind {
                    TakenKind::Pps => process.cell.publish(taken.sample, "PPS edge"),
                    TakenKind::Serial(_) => match process.chain.admit(taken.sample) {
                        Admission::Publish(sample) => process.cell.publish(sample, "serial time"),
                        Admission::Hold => {}
                        Admission::Inconsistent { carried, new } => {
                            let detail = format!("serial sample {new} disagrees with {carried}");
                            process.cell.reject(detail.clone());
                            effect.lost_fix |= process.cell.lose(Health::NoData, detail);
                        }
                    },
                },
                Outcome::NoFix(reason) => {
                    process.chain.reset();
                    effect.lost_fix |= process.cell.lose(Health::NoData, reason);
                }
                Outcome::Rejected(rejection) => {
                    effect.clock_step |= matches!(rejection, Rejection::ClockStep(_));
                    process.cell.reject(rejection.to_string());
                }
                _ => {}
            }
        }
        effect
    }

    /// The driver's silence timer at `tau`: with no line for 5 s (the
    /// driver's `SILENCE_LIMIT`) the source has no data. Returns whether
    /// that changed the source's health.
    pub fn check_silence(&mut self, tau: i64) -> bool {
        const SILENCE_LIMIT_NS: i64 = 5_000_000_000;
        let local = self.osc.local_at(tau);
        let Some(process) = self.process.as_ref() else {
            return false;
        };
        if self.silence_declared || local.nanos_since(self.last_line) < SILENCE_LIMIT_NS {
            return false;
        }
        self.silence_declared = true;
        process.cell.lose(
            Health::NoData,
            "gpsd sent nothing for 5 s; is a receiver attached?",
        )
    }

    /// Serves a `Now` request at `tau`: `None` when the process is down
    /// (the connection is refused). Also returns what it serves now, if
    /// that changed since the last answer, and the combined interval
    /// before the peers were consulted.
    pub fn answer(&mut self, tau: i64) -> Option<Answer> {
        let local = self.osc.local_at(tau);
        let process = self.process.as_ref()?;
        self.clock.set(local);
        let view = process.service.view();
        let response = now_response(&view);
        let serving = match (&view.standing, &view.assessment.combined) {
            (Standing::Outvoted(_), _) => Serving::OutOfService,
            (_, Ok(_)) => Serving::Synchronized,
            (_, Err(_)) => Serving::Unsynchronized,
        };
        let changed = (self.serving != Some(serving)).then_some(serving);
        self.serving = Some(serving);
        Some(Answer {
            response,
            own: view.assessment.combined.ok(),
            changed,
        })
    }

    /// Records the outcome of polling peer `index`.
    pub fn record_peer(&mut self, index: usize, outcome: PeerPoll) {
        if let Some(process) = self.process.as_ref() {
            let mut peers = process
                .peers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(peer) = peers.get_mut(index) {
                peer.last = outcome;
            }
        }
    }
}

/// A master's answer to one request.
pub struct Answer {
    /// What it sends.
    pub response: NowResponse,
    /// Its own combined interval (leap policy applied), before the peers
    /// were consulted.
    pub own: Option<Interval>,
    /// What it serves, when that changed with this answer.
    pub changed: Option<Serving>,
}
