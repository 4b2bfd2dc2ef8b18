//! The slave's state machine: one round of poll outcomes in, the combined
//! interval and a verdict per master out. No sockets, no clock reads: every
//! instant is an argument, so the rules can be tested with chosen values.
//!
//! # One round
//!
//! 1. Each master's outcome of this round is recorded: a [`Sample`] made by
//!    `tt_core::round_trip` from a good answer, or why there is none.
//! 2. At one local instant `L`, every master whose latest outcome is a
//!    sample no older than `max_sample_age` contributes `sample.at(L, rho)`
//!    (its interval carried to `L`, widened by `2 ceil(|L - L0| rho)`).
//!    A master whose last poll failed contributes nothing, even if an
//!    earlier answer is recent: old is not the same as good.
//! 3. `tt_core::intersect(intervals, f)` gives the hull of the points that
//!    `n - f` of them cover. On success that hull, at `L`, is the new
//!    combined sample.
//! 4. On failure the previous combined sample is kept and carried forward;
//!    it is served while `L - L_combined <= max_holdover`. With `rho` the
//!    width then grows by `2 rho` per second: at 200 ppm and 60 s, 24 ms.
//!    After that the slave is unsynchronized.
//!
//! # Disruptions of the local clock
//!
//! The previous combined sample carried to `L`, `C = prev.at(L, rho)`, and
//! this round's agreement `X` both hold truth at `L` when the local
//! oscillator kept within `rho` and at most `f` masters lie, so they share
//! at least one point. When they do not (`C` and `X` disjoint), one of those
//! assumptions broke: the local counter stopped, stepped, or ran faster or
//! slower than `rho` allows (a paused virtual machine, an oscillator out of
//! its specification), or more than `f` masters lied. Nothing that went
//! through the local clock can then be vouched for, this round's samples
//! included (a poll in flight across a stopped counter measured too short
//! a round trip). So the round counts a disruption ([`Combiner::disruptions`]),
//! keeps `X` as the combined sample but serves nothing, and serves again
//! only after a later round's agreement overlaps the one before it carried
//! forward: two rounds in a row that tell the same story through the
//! local clock. The first round after start has nothing to be compared
//! with and is served at once.
//!
//! This catches a disruption only once it is larger than the widths
//! involved, and only at the end of the next round: what was handed out in
//! between came from the disrupted clock.
//!
//! Why the served interval holds truth: each usable master interval holds
//! truth at `L` if the master is honest (round_trip and propagation only
//! widen), at most `f` masters lie, and the intersection hull keeps truth
//! under that assumption (see `tt_core::intersect`). Carrying the result
//! to the request instant widens it by the drift bound again.

use std::time::Duration;
use tt_core::{intersect, Drift, IntersectError, Interval, LocalInstant, Sample};

/// What one poll of a master gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PollOutcome {
    /// A synchronized answer, turned into a sample at the instant it was
    /// received.
    Answer {
        /// The sample from `tt_core::round_trip`.
        sample: Sample,
        /// The round trip, local nanoseconds (for status and logs).
        rtt_ns: i64,
    },
    /// The master answered that it is unsynchronized; its reason.
    Unsynchronized(String),
    /// No usable answer: connection error, timeout or garbage; the error.
    Unreachable(String),
}

/// What the slave thinks of one master after a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Its interval holds a point that `n - f` usable masters agree on.
    InMajority,
    /// Its interval misses every point that `n - f` usable masters agree on.
    Falseticker,
    /// Its last poll failed or gave garbage.
    Unreachable,
    /// It answered that it is unsynchronized.
    Unsynchronized,
    /// Its last sample is older than the age limit.
    Stale,
    /// It has not been polled yet.
    NoData,
    /// It answered, but the round had no agreement to judge it by (no
    /// quorum, or no point covered `n - f` times).
    Undecided,
}

impl Verdict {
    /// The verdict in words, as logs and the command line show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::InMajority => "in majority",
            Verdict::Falseticker => "falseticker",
            Verdict::Unreachable => "unreachable",
            Verdict::Unsynchronized => "unsynchronized",
            Verdict::Stale => "stale",
            Verdict::NoData => "no data",
            Verdict::Undecided => "undecided",
        }
    }
}

/// The limits the combiner applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `f`: how many masters may be wrong at once.
    pub max_falsetickers: usize,
    /// `rho`: the local oscillator's rate error bound.
    pub drift: Drift,
    /// A master's sample is used only this long after it was received.
    pub max_sample_age: Duration,
    /// How long the last combined sample is served when rounds fail.
    pub max_holdover: Duration,
}

impl Limits {
    /// The limits from a configuration: samples count for two poll
    /// intervals.
    pub fn from_config(config: &crate::config::Config) -> Limits {
        Limits {
            max_falsetickers: config.max_falsetickers,
            drift: config.drift,
            max_sample_age: config.poll_interval.saturating_mul(2),
            max_holdover: config.max_holdover,
        }
    }
}

/// A change worth one log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A combined interval exists again (or for the first time).
    Synchronized {
        /// Its width, nanoseconds.
        width_ns: i64,
        /// How many masters had usable intervals.
        usable: usize,
    },
    /// The round failed; the last combined interval is carried forward.
    LostQuorum {
        /// Why the round failed.
        reason: String,
    },
    /// No combined interval can be served.
    Unsynchronized {
        /// Why.
        reason: String,
    },
    /// A master's verdict changed.
    Master {
        /// Its index in the configured list.
        index: usize,
        /// The new verdict.
        verdict: Verdict,
        /// The detail text with it.
        detail: String,
    },
}

/// One master as the status reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberView {
    /// Its last good sample carried to the instant asked about.
    pub interval: Option<Interval>,
    /// Local nanoseconds since its last good answer, or -1 for never.
    pub age_ns: i64,
    /// The verdict of the last round.
    pub verdict: Verdict,
    /// A sentence for people: the error, or how the answer fared.
    pub detail: String,
}

#[derive(Clone, Debug)]
struct MasterState {
    last_good: Option<Sample>,
    last_outcome: Option<PollOutcome>,
    verdict: Verdict,
    detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Starting,
    Synchronized,
    Holdover,
    Unsynchronized,
}

/// The combining state machine; see the module documentation.
#[derive(Clone, Debug)]
pub struct Combiner {
    limits: Limits,
    masters: Vec<MasterState>,
    combined: Option<Sample>,
    failure: Option<String>,
    quorum: usize,
    state: State,
    /// Whether the combined sample may be served: false from a disruption
    /// until a round agrees with the one before it.
    vouched: bool,
    disruptions: u64,
}

/// Nanoseconds in `duration`, saturating.
fn nanos(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

impl Combiner {
    /// A combiner for `masters` masters, none heard from yet.
    pub fn new(masters: usize, limits: Limits) -> Combiner {
        let state = MasterState {
            last_good: None,
            last_outcome: None,
            verdict: Verdict::NoData,
            detail: "not polled yet".to_string(),
        };
        Combiner {
            limits,
            masters: vec![state; masters],
            combined: None,
            failure: None,
            quorum: limits.max_falsetickers + 1,
            state: State::Starting,
            vouched: true,
            disruptions: 0,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Takes a reloaded configuration. The masters become `kept.len()`
    /// masters; the i-th is the former master `kept[i]` when it was
    /// configured before (its last sample, outcome and verdict kept), else
    /// a new one not polled yet. The limits are replaced. The combined
    /// sample is kept: it held truth when it was made, and from now on it
    /// is carried forward with the new drift bound and served within the
    /// new holdover, until the next round renews it. An index in `kept`
    /// beyond the former masters counts as a new master.
    pub fn reconfigure(&mut self, kept: &[Option<usize>], limits: Limits) {
        let fresh = MasterState {
            last_good: None,
            last_outcome: None,
            verdict: Verdict::NoData,
            detail: "not polled yet".to_string(),
        };
        self.masters = kept
            .iter()
            .map(|former| {
                former
                    .and_then(|index| self.masters.get(index).cloned())
                    .unwrap_or_else(|| fresh.clone())
            })
            .collect();
        self.limits = limits;
    }

    /// Master `index`'s outcome of the last round it was polled in.
    pub fn last_outcome(&self, index: usize) -> Option<&PollOutcome> {
        self.masters.get(index)?.last_outcome.as_ref()
    }

    /// Records master `index`'s outcome of this round. An index beyond the
    /// configured masters is ignored.
    pub fn record(&mut self, index: usize, outcome: PollOutcome) {
        let Some(master) = self.masters.get_mut(index) else {
            return;
        };
        if let PollOutcome::Answer { sample, .. } = &outcome {
            master.last_good = Some(*sample);
        }
        master.last_outcome = Some(outcome);
    }

    /// Ends a round at local instant `now`: judges every master, intersects
    /// the usable ones, and returns what changed.
    pub fn combine(&mut self, now: LocalInstant) -> Vec<Event> {
        let drift = self.limits.drift;
        let max_age_ns = nanos(self.limits.max_sample_age);
        let f = self.limits.max_falsetickers;

        // Step 2: the usable intervals, carried to `now`.
        let mut judged: Vec<(Verdict, String)> = Vec::with_capacity(self.masters.len());
        let mut usable: Vec<(usize, Interval, i64)> = Vec::new();
        for (index, master) in self.masters.iter().enumerate() {
            let judgement = match &master.last_outcome {
                None => (Verdict::NoData, "not polled yet".to_string()),
                Some(PollOutcome::Unreachable(error)) => (Verdict::Unreachable, error.clone()),
                Some(PollOutcome::Unsynchronized(reason)) => (
                    Verdict::Unsynchronized,
                    format!("reports itself unsynchronized: {reason}"),
                ),
                Some(PollOutcome::Answer { sample, rtt_ns }) => {
                    let age_ns = now.nanos_since(sample.local);
                    if age_ns > max_age_ns {
                        (
                            Verdict::Stale,
                            format!(
                                "last answer is {} ms old, the limit is {} ms",
                                age_ns / 1_000_000,
                                max_age_ns / 1_000_000
                            ),
                        )
                    } else {
                        usable.push((index, sample.at(now, drift), *rtt_ns));
                        // Decided below, once the intersection is known.
                        (Verdict::Undecided, String::new())
                    }
                }
            };
            judged.push(judgement);
        }

        // Step 3: the intersection.
        let intervals: Vec<Interval> = usable.iter().map(|&(_, interval, _)| interval).collect();
        let result = intersect(&intervals, f);
        let mut events = Vec::new();
        match &result {
            Ok(agreement) => {
                for (k, &(index, interval, rtt_ns)) in usable.iter().enumerate() {
                    judged[index] = if agreement.in_majority[k] {
                        (
                            Verdict::InMajority,
                            format!("in the majority; round trip {} us", rtt_ns / 1000),
                        )
                    } else {
                        (
                            Verdict::Falseticker,
                            format!(
                                "its interval {interval} misses what {} masters agree on, {}",
                                agreement.needed, agreement.interval
                            ),
                        )
                    };
                }
                let carried = self.combined.map(|previous| previous.at(now, drift));
                let consistent = carried.is_none_or(|c| c.overlaps(&agreement.interval));
                self.combined = Some(Sample::new(now, agreement.interval));
                self.failure = None;
                self.quorum = agreement.needed;
                if !consistent {
                    self.disruptions += 1;
                    self.vouched = false;
                    let detail = format!(
                        "the last combined interval carried to now, {}, misses this round's \
                         agreement, {}; the local clock stopped, stepped or ran outside its \
                         drift bound (or more than {f} masters lie)",
                        carried.map_or_else(String::new, |c| c.to_string()),
                        agreement.interval
                    );
                    events.push(Event::Unsynchronized {
                        reason: format!(
                            "clock disruption: {detail}; nothing is served until a round \
                             agrees with this one"
                        ),
                    });
                    self.failure = Some(detail);
                    self.state = State::Unsynchronized;
                } else {
                    self.vouched = true;
                    if self.state != State::Synchronized {
                        events.push(Event::Synchronized {
                            width_ns: agreement.interval.width_ns(),
                            usable: usable.len(),
                        });
                    }
                    self.state = State::Synchronized;
                }
            }
            Err(error) => {
                for &(index, _, _) in &usable {
                    judged[index] = (Verdict::Undecided, error.to_string());
                }
                self.quorum = match *error {
                    IntersectError::NoAgreement { need, .. } => need,
                    // With the fewest inputs that could work, f + 1, a
                    // single one is enough.
                    IntersectError::NoQuorum { .. } => 1,
                };
                let reason = error.to_string();
                let new_state = if self.vouched && self.holdover_left(now) {
                    State::Holdover
                } else {
                    State::Unsynchronized
                };
                if new_state != self.state {
                    events.push(match new_state {
                        State::Holdover => Event::LostQuorum {
                            reason: reason.clone(),
                        },
                        _ => Event::Unsynchronized {
                            reason: self.unsynchronized_reason(now, &reason),
                        },
                    });
                }
                self.failure = Some(reason);
                self.state = new_state;
            }
        }

        for (index, (verdict, detail)) in judged.into_iter().enumerate() {
            let master = &mut self.masters[index];
            if master.verdict != verdict {
                events.push(Event::Master {
                    index,
                    verdict,
                    detail: detail.clone(),
                });
            }
            master.verdict = verdict;
            master.detail = detail;
        }
        events
    }

    /// Whether a combined sample exists and is within the holdover at `at`.
    fn holdover_left(&self, at: LocalInstant) -> bool {
        self.combined
            .is_some_and(|sample| at.nanos_since(sample.local) <= nanos(self.limits.max_holdover))
    }

    fn unsynchronized_reason(&self, at: LocalInstant, failure: &str) -> String {
        if !self.vouched {
            return format!(
                "not serving since a clock disruption, until a round agrees with the one \
                 before it: {failure}"
            );
        }
        match self.combined {
            None => format!("no combined interval yet: {failure}"),
            Some(sample) => format!(
                "holdover expired: the last combined interval is {} s old, max-holdover-s is {}; \
                 {failure}",
                at.nanos_since(sample.local) / 1_000_000_000,
                self.limits.max_holdover.as_secs()
            ),
        }
    }

    /// The interval to serve at local instant `at`: the combined sample
    /// carried to `at`, while it is within the holdover and no disruption
    /// stands against it; otherwise why not.
    pub fn now(&self, at: LocalInstant) -> Result<Interval, String> {
        match self.combined {
            Some(sample) if self.vouched && self.holdover_left(at) => {
                Ok(sample.at(at, self.limits.drift))
            }
            _ => Err(self.unsynchronized_reason(
                at,
                self.failure
                    .as_deref()
                    .unwrap_or("no poll round has completed yet"),
            )),
        }
    }

    /// The last combined sample as a round left it, whether or not it is
    /// still within the holdover (see [`Combiner::now`]); `None` before
    /// the first agreement.
    pub fn combined(&self) -> Option<Sample> {
        self.combined
    }

    /// How many clock disruptions the rounds have found since start (see
    /// the module documentation).
    pub fn disruptions(&self) -> u64 {
        self.disruptions
    }

    /// How many masters had to agree in the last round (`n - f` of the
    /// usable ones; `f + 1` when there were too few to try).
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// Every master as of the last round, with intervals carried to `at`.
    pub fn members(&self, at: LocalInstant) -> Vec<MemberView> {
        self.masters
            .iter()
            .map(|master| MemberView {
                interval: master
                    .last_good
                    .map(|sample| sample.at(at, self.limits.drift)),
                age_ns: master
                    .last_good
                    .map_or(-1, |sample| at.nanos_since(sample.local).max(0)),
                verdict: master.verdict,
                detail: master.detail.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "combiner_tests.rs"]
mod tests;
