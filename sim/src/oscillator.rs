//! A host's local counter (its `CLOCK_BOOTTIME`) as a function of
//! physical time.
//!
//! The counter runs at a rate error `e` (parts per billion): over a local
//! span of `d` nanoseconds, physical time advances by `d (1 + e)`. That is
//! the convention of `tt_core::Drift`, so a counter with `|e| <= rho`
//! keeps the promise `Sample::at` relies on, and one with `|e| > rho`
//! breaks it. Within a stretch of constant rate starting at `(tau0, L0)`:
//!
//! ```text
//! L(tau) = L0 + floor((tau - tau0) * 1e9 / (1e9 + e))
//! ```
//!
//! The rate may **wander**: every `every_ns` it moves by a uniform step in
//! `[-step_ppb, step_ppb]`, kept within `[low_ppb, high_ppb]`. The counter
//! may **stop** (a paused virtual machine whose counter does not count
//! the pause), **step** (a counter adjusted by a jump, or a suspend whose
//! length the kernel measured with a coarse real-time clock), or change its
//! rate outright (an oscillator leaving its specification). All of that
//! is decided by the seed and the scenario, and is applied lazily as the
//! simulation asks for later instants.

use crate::rng::Rng;
use std::collections::VecDeque;
use tt_core::LocalInstant;

const PPB: i128 = 1_000_000_000;

/// How the rate wanders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wander {
    /// How often the rate moves, physical ns.
    pub every_ns: i64,
    /// The largest single move, ppb.
    pub step_ppb: i64,
    /// The lowest rate error it may reach, ppb.
    pub low_ppb: i64,
    /// The highest rate error it may reach, ppb.
    pub high_ppb: i64,
}

/// Something that happens to the counter at a physical instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterEvent {
    /// The counter stands still for `for_ns` of physical time.
    Pause {
        /// Physical instant the pause starts, ns.
        at_ns: i64,
        /// Its length, physical ns.
        for_ns: i64,
    },
    /// The counter jumps by `by_ns` (either sign).
    Step {
        /// Physical instant, ns.
        at_ns: i64,
        /// The jump, local ns.
        by_ns: i64,
    },
    /// The host sleeps for `for_ns` (nothing on it runs) while the
    /// counter keeps counting, as `CLOCK_BOOTTIME` does through a suspend;
    /// at wake-up it is off by `error_ns` (0 when the kernel measured the
    /// sleep with a clock that kept running; up to a second when it used
    /// the real-time clock chip).
    Suspend {
        /// Physical instant the host goes to sleep, ns.
        at_ns: i64,
        /// How long it sleeps, physical ns.
        for_ns: i64,
        /// The counter's error at wake-up, local ns.
        error_ns: i64,
    },
    /// The rate error becomes `ppb` and wander stops.
    Rate {
        /// Physical instant, ns.
        at_ns: i64,
        /// The new rate error, ppb.
        ppb: i64,
    },
}

impl CounterEvent {
    fn at_ns(&self) -> i64 {
        match *self {
            CounterEvent::Pause { at_ns, .. }
            | CounterEvent::Step { at_ns, .. }
            | CounterEvent::Suspend { at_ns, .. }
            | CounterEvent::Rate { at_ns, .. } => at_ns,
        }
    }
}

/// Everything about one host's counter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OscillatorSpec {
    /// The rate error at the start, ppb.
    pub rate_ppb: i64,
    /// How the rate wanders, if it does.
    pub wander: Option<Wander>,
    /// Stops, steps and rate changes, in any order.
    pub events: Vec<CounterEvent>,
}

/// One host's counter; see the module documentation.
#[derive(Clone, Debug)]
pub struct Oscillator {
    tau0: i64,
    local0: i64,
    rate_ppb: i64,
    stopped_until: Option<i64>,
    /// Asleep until then, and the counter's error to apply at wake-up.
    sleeping_until: Option<(i64, i64)>,
    /// When the current stop or sleep began.
    paused_since: i64,
    wander: Option<Wander>,
    next_wander: i64,
    rng: Rng,
    pending: VecDeque<CounterEvent>,
    /// The physical instant of the first stop, step or rate beyond the
    /// bound `left_bound_ppb`, once it has happened.
    left_model_at: Option<i64>,
    left_bound_ppb: i64,
}

impl Oscillator {
    /// A counter reading `local_start` at physical instant `tau_start`.
    /// `declared_ppb` is the bound the host declares; leaving it is noted
    /// (see [`Oscillator::left_model_at`]).
    pub fn new(
        spec: &OscillatorSpec,
        tau_start: i64,
        local_start: i64,
        declared_ppb: i64,
        rng: Rng,
    ) -> Oscillator {
        let mut events = spec.events.clone();
        events.sort_by_key(CounterEvent::at_ns);
        let mut osc = Oscillator {
            tau0: tau_start,
            local0: local_start,
            rate_ppb: spec.rate_ppb,
            stopped_until: None,
            sleeping_until: None,
            paused_since: tau_start,
            wander: spec.wander,
            next_wander: spec
                .wander
                .map_or(i64::MAX, |w| tau_start.saturating_add(w.every_ns)),
            rng,
            pending: events.into(),
            left_model_at: None,
            left_bound_ppb: declared_ppb,
        };
        if spec.rate_ppb.abs() > declared_ppb {
            osc.left_model_at = Some(tau_start);
        }
        osc
    }

    fn value(&self, tau: i64) -> i64 {
        if self.stopped_until.is_some() {
            return self.local0;
        }
        let span = i128::from(tau - self.tau0);
        let local = (span * PPB).div_euclid(PPB + i128::from(self.rate_ppb));
        self.local0 + local as i64
    }

    fn rebase(&mut self, tau: i64) {
        self.local0 = self.value(tau);
        self.tau0 = tau;
    }

    /// Applies every change due at or before `tau`, in order.
    fn advance(&mut self, tau: i64) {
        loop {
            let resume = self.stopped_until.unwrap_or(i64::MAX);
            let wake = self.sleeping_until.map_or(i64::MAX, |(until, _)| until);
            let event = self.pending.front().map_or(i64::MAX, CounterEvent::at_ns);
            let next = resume.min(wake).min(event).min(self.next_wander);
            if next > tau {
                return;
            }
            self.rebase(next);
            if next == resume {
                self.stopped_until = None;
            } else if next == wake {
                let (_, error_ns) = self.sleeping_until.take().expect("asleep");
                self.local0 += error_ns;
            } else if next == event {
                let event = self.pending.pop_front().expect("an event is due");
                self.left_model_at.get_or_insert(next);
                if matches!(
                    event,
                    CounterEvent::Pause { .. } | CounterEvent::Suspend { .. }
                ) {
                    self.paused_since = next;
                }
                match event {
                    CounterEvent::Suspend {
                        for_ns, error_ns, ..
                    } => {
                        self.sleeping_until = Some((next.saturating_add(for_ns.max(0)), error_ns));
                        if error_ns == 0 && self.left_model_at == Some(next) {
                            // Counting through a sleep is what the model
                            // assumes of the local timebase.
                            self.left_model_at = None;
                        }
                    }
                    CounterEvent::Pause { for_ns, .. } => {
                        self.stopped_until = Some(next.saturating_add(for_ns.max(0)));
                    }
                    CounterEvent::Step { by_ns, .. } => self.local0 += by_ns,
                    CounterEvent::Rate { ppb, .. } => {
                        self.rate_ppb = ppb;
                        self.wander = None;
                        self.next_wander = i64::MAX;
                        if ppb.abs() <= self.left_bound_ppb {
                            // A change within the bound is no departure.
                            if self.left_model_at == Some(next) {
                                self.left_model_at = None;
                            }
                        }
                    }
                }
            } else if let Some(w) = self.wander {
                let step = self.rng.range(-w.step_ppb, w.step_ppb);
                self.rate_ppb = (self.rate_ppb + step).clamp(w.low_ppb, w.high_ppb);
                self.next_wander = next.saturating_add(w.every_ns);
            }
        }
    }

    /// The counter at physical instant `tau`. Instants must be asked in
    /// non-decreasing order (the simulation's clock only goes forward).
    pub fn local_at(&mut self, tau: i64) -> LocalInstant {
        self.advance(tau);
        LocalInstant::from_nanos(self.value(tau))
    }

    /// If the host is paused or asleep at `tau`, the physical instant it
    /// runs again.
    pub fn paused_until(&mut self, tau: i64) -> Option<i64> {
        self.advance(tau);
        let stopped = self.stopped_until.filter(|&until| until > tau);
        let asleep = self
            .sleeping_until
            .map(|(until, _)| until)
            .filter(|&until| until > tau);
        stopped.max(asleep)
    }

    /// If the host is paused or asleep at `tau`: since when and until when.
    pub fn pause_at(&mut self, tau: i64) -> Option<(i64, i64)> {
        self.paused_until(tau)
            .map(|until| (self.paused_since, until))
    }

    /// Approximately when (physical ns, never before `now`) the counter
    /// reaches `local`, at today's rate: what a timer set on the local
    /// clock does. Later wander or stops move the true instant a little;
    /// the simulation reads the counter when the timer fires, so only the
    /// timer's punctuality is approximate, never a reading.
    pub fn tau_when(&mut self, now: i64, local: LocalInstant) -> i64 {
        let from = self.paused_until(now).unwrap_or(now);
        self.advance(from);
        let base = self.value(from);
        let remaining = i128::from(local.nanos() - base);
        if remaining <= 0 {
            return from;
        }
        let product = remaining * (PPB + i128::from(self.rate_ppb));
        let span = (product + PPB - 1) / PPB;
        from.saturating_add(i64::try_from(span).unwrap_or(i64::MAX))
    }

    /// The rate error in force, ppb.
    pub fn rate_ppb(&self) -> i64 {
        self.rate_ppb
    }

    /// When the counter first left its declared model (stopped, stepped,
    /// or ran beyond its declared bound), if it has by the last instant
    /// asked for.
    pub fn left_model_at(&self) -> Option<i64> {
        self.left_model_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn steady(rate_ppb: i64, events: Vec<CounterEvent>) -> Oscillator {
        let spec = OscillatorSpec {
            rate_ppb,
            wander: None,
            events,
        };
        Oscillator::new(&spec, 100 * S, 5 * S, 200_000, Rng::new(1))
    }

    #[test]
    fn a_slow_counter_counts_fewer_nanoseconds() {
        // e = +100 ppm: 1.0001 s of physical time per local second, so
        // 1.0001 s of physical time is exactly one local second.
        let mut osc = steady(100_000, vec![]);
        assert_eq!(osc.local_at(100 * S + 1_000_100_000).nanos(), 6 * S);
        assert_eq!(osc.left_model_at(), None);
        // And a timer set at the start for local 7 s fires 2.0002 s on.
        assert_eq!(
            osc.tau_when(100 * S, LocalInstant::from_nanos(7 * S)),
            100 * S + 2_000_200_000
        );
    }

    #[test]
    fn a_pause_holds_the_counter_and_counts_as_leaving_the_model() {
        let mut osc = steady(
            0,
            vec![CounterEvent::Pause {
                at_ns: 101 * S,
                for_ns: 10 * S,
            }],
        );
        assert_eq!(osc.local_at(101 * S).nanos(), 6 * S);
        assert_eq!(osc.paused_until(105 * S), Some(111 * S));
        assert_eq!(osc.local_at(110 * S).nanos(), 6 * S);
        assert_eq!(osc.local_at(112 * S).nanos(), 7 * S);
        assert_eq!(osc.paused_until(112 * S), None);
        assert_eq!(osc.left_model_at(), Some(101 * S));
    }

    #[test]
    fn a_suspend_keeps_counting_and_only_an_error_leaves_the_model() {
        let suspend = |error_ns| {
            steady(
                0,
                vec![CounterEvent::Suspend {
                    at_ns: 101 * S,
                    for_ns: 60 * S,
                    error_ns,
                }],
            )
        };
        let mut exact = suspend(0);
        assert_eq!(exact.paused_until(130 * S), Some(161 * S));
        assert_eq!(exact.local_at(162 * S).nanos(), 67 * S);
        assert_eq!(exact.left_model_at(), None);
        let mut coarse = suspend(700_000_000);
        assert_eq!(coarse.local_at(162 * S).nanos(), 67 * S + 700_000_000);
        assert_eq!(coarse.left_model_at(), Some(101 * S));
    }

    #[test]
    fn steps_and_rates_beyond_the_bound_are_noted() {
        let mut osc = steady(
            0,
            vec![
                CounterEvent::Rate {
                    at_ns: 101 * S,
                    ppb: 100_000,
                },
                CounterEvent::Step {
                    at_ns: 102 * S,
                    by_ns: -S,
                },
            ],
        );
        osc.local_at(101 * S + 1);
        assert_eq!(osc.left_model_at(), None, "100 ppm is inside 200 ppm");
        assert_eq!(osc.rate_ppb(), 100_000);
        let before = osc.local_at(102 * S - 1).nanos();
        let after = osc.local_at(102 * S).nanos();
        assert!(after < before - S / 2, "{before} -> {after}");
        assert_eq!(osc.left_model_at(), Some(102 * S));
        assert!(steady(500_000, vec![]).left_model_at().is_some());
    }

    #[test]
    fn wander_stays_inside_its_band() {
        let spec = OscillatorSpec {
            rate_ppb: 0,
            wander: Some(Wander {
                every_ns: S,
                step_ppb: 50_000,
                low_ppb: -120_000,
                high_ppb: 120_000,
            }),
            events: vec![],
        };
        let mut osc = Oscillator::new(&spec, 0, 0, 200_000, Rng::new(3));
        let mut last = 0;
        let mut moved = false;
        for second in 1..2_000 {
            let local = osc.local_at(second * S).nanos();
            assert!(local > last);
            last = local;
            assert!(osc.rate_ppb().abs() <= 120_000);
            moved |= osc.rate_ppb() != 0;
        }
        assert!(moved);
        assert_eq!(osc.left_model_at(), None);
    }
}
