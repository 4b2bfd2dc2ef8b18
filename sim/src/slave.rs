//! A simulated timeslave host: its counter, the shared-memory record its
//! clients read (which outlives the daemon), and, while the daemon runs,
//! the real `timeslave::combiner::Combiner` fed one round of poll
//! outcomes at a time and published with `timeslave::publish::record_for`.
//!
//! A poll turns an answer into an outcome exactly as
//! `timeslave::poll::poll_once` does: `L1` read before sending, `L4` after
//! the answer, `tt_core::round_trip(answer, L1, L4, rho)`.

use crate::oscillator::Oscillator;
use crate::scenario::SlaveSpec;
use timeslave::combiner::{Combiner, Event, PollOutcome};
use timeslave::publish::record_for;
use tt_core::shm::{BootId, Published, SharedRecord};
use tt_core::{round_trip, LocalInstant};
use tt_proto::v1::NowResponse;
use tt_proto::NowAnswer;

/// One round of polls in flight.
#[derive(Debug)]
pub struct Round {
    /// Its number, unique for the daemon.
    pub id: u64,
    /// The local instant it started.
    pub started: LocalInstant,
    /// `L1` of every poll (the same instant: all sent at once).
    pub sent: LocalInstant,
    /// Each master's outcome, once known.
    pub outcomes: Vec<Option<PollOutcome>>,
}

/// The running daemon.
#[derive(Debug)]
pub struct Daemon {
    /// The real combiner.
    pub combiner: Combiner,
    /// The round in flight.
    pub round: Option<Round>,
    next_round: u64,
}

/// One slave host.
pub struct SimSlave {
    /// Its counter.
    pub osc: Oscillator,
    /// What it runs by.
    pub spec: SlaveSpec,
    /// The record clients read.
    pub record: SharedRecord,
    /// The host's boot.
    pub boot: BootId,
    /// The daemon, while it runs.
    pub daemon: Option<Daemon>,
    /// Incremented at every start and crash.
    pub generation: u64,
    masters: usize,
}

impl SimSlave {
    /// A slave host; its daemon is started with [`SimSlave::start`].
    pub fn new(spec: SlaveSpec, osc: Oscillator, masters: usize, boot: BootId) -> SimSlave {
        SimSlave {
            osc,
            spec,
            record: SharedRecord::new(),
            boot,
            daemon: None,
            generation: 0,
            masters,
        }
    }

    /// Starts the daemon: a new combiner that has heard from nobody, and
    /// the record set to unsynchronized, as `Publisher::create` does.
    pub fn start(&mut self) {
        self.generation += 1;
        self.daemon = Some(Daemon {
            combiner: Combiner::new(self.masters, self.spec.limits),
            round: None,
            next_round: 0,
        });
        self.record.write(Published::Unsynchronized);
    }

    /// Kills the daemon; the record stays as it was last written.
    pub fn crash(&mut self) {
        self.daemon = None;
        self.generation += 1;
    }

    /// Begins a round at `tau`; returns its id and `L1`.
    pub fn begin_round(&mut self, tau: i64) -> Option<(u64, LocalInstant)> {
        let local = self.osc.local_at(tau);
        let masters = self.masters;
        let daemon = self.daemon.as_mut()?;
        let id = daemon.next_round;
        daemon.next_round += 1;
        daemon.round = Some(Round {
            id,
            started: local,
            sent: local,
            outcomes: vec![None; masters],
        });
        Some((id, local))
    }

    /// The outcome of master `index`'s poll in round `id`, from its answer
    /// received at `tau` (`Ok`) or a failure (`Err`, as a sentence). The
    /// first outcome of a poll counts; a later one (an answer after its
    /// timeout) is dropped.
    pub fn settle(&mut self, tau: i64, id: u64, index: usize, answer: Result<NowResponse, String>) {
        let received = self.osc.local_at(tau);
        let drift = self.spec.limits.drift;
        let Some(round) = self
            .daemon
            .as_mut()
            .and_then(|d| d.round.as_mut())
            .filter(|r| r.id == id)
        else {
            return;
        };
        let Some(slot) = round.outcomes.get_mut(index).filter(|s| s.is_none()) else {
            return;
        };
        let outcome = match answer {
            Err(error) => PollOutcome::Unreachable(error),
            Ok(response) => match response.check() {
                Ok(NowAnswer::Synchronized(interval)) => PollOutcome::Answer {
                    sample: round_trip(interval, round.sent, received, drift),
                    rtt_ns: received.nanos_since(round.sent),
                },
                Ok(NowAnswer::Unsynchronized(reason)) => PollOutcome::Unsynchronized(reason),
                Err(bad) => PollOutcome::Unreachable(format!("answered garbage: {bad}")),
            },
        };
        *slot = Some(outcome);
    }

    /// Whether round `id` has every outcome.
    pub fn round_complete(&self, id: u64) -> bool {
        self.daemon
            .as_ref()
            .and_then(|d| d.round.as_ref())
            .is_some_and(|r| r.id == id && r.outcomes.iter().all(Option::is_some))
    }

    /// Ends the round at `tau` as `timeslave::poll::run` does: records
    /// every outcome, combines at the local instant the round ended,
    /// publishes. Returns the combiner's events, the local instant, and
    /// the local instant the round started.
    pub fn end_round(&mut self, tau: i64) -> Option<(Vec<Event>, LocalInstant, LocalInstant)> {
        let ended = self.osc.local_at(tau);
        let daemon = self.daemon.as_mut()?;
        let round = daemon.round.take()?;
        for (index, outcome) in round.outcomes.into_iter().enumerate() {
            if let Some(outcome) = outcome {
                daemon.combiner.record(index, outcome);
            }
        }
        let events = daemon.combiner.combine(ended);
        self.record
            .write(record_for(&daemon.combiner, ended, self.boot));
        Some((events, ended, round.started))
    }
}
