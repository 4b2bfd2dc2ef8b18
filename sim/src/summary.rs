//! A run's result: the figures of the report, the prediction they are
//! held against, and how long each fault took to detect.

use crate::engine::simulate;
use crate::master::Serving;
use crate::metrics::{Observation, Tally, Violation, Widths};
use crate::network::{Host, NetFaultKind, Network};
use crate::oscillator::CounterEvent;
use crate::scenario::{Fault, Scenario};
use crate::truth::SECOND;
use std::fmt::Write as _;
use timeslave::combiner::Verdict;
use tt_core::Drift;
use tt_hw::gpsd::wall::MAX_SLEW;

/// The width of a slave's interval DESIGN.md predicts for a scenario's
/// fleet when nothing is wrong, ns.
///
/// A master answers with its PPS sample (`2 (p + w)`: the edge's bound `p`
/// and the wall-clock mapping's slack `w`) carried from the edge to the
/// request: at most `a = 1 s + d_max + l_max` (the next edge's sample is
/// published when its serial sentence confirms it), `a/2 + d + l` on
/// average. A slave's sample adds the round trip `r (1 + rho)`; the round
/// ends at most one timeout `T` after the answer; then it is carried until
/// the next round ends, at most `P + T` later. So, with `ceil` throughout:
///
/// ```text
/// first = 2 (p + w) + 2 rho_m a_mean + r_mean
/// mean  = first + rho_s P
/// max   = 2 (p + w) + 2 rho_m a_max + r_max (1 + rho_s) + 2 rho_s (P + 2 T)
/// ```
///
/// (`first` is the width just after a round, `mean` its average over a
/// poll interval, `max` the top of the sawtooth.) The intersection of
/// several masters is never wider than the widest of them, so these hold
/// for any number of masters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prediction {
    /// Typical width right after a round, ns.
    pub first_ns: i64,
    /// Average width over a poll interval, ns.
    pub mean_ns: i64,
    /// The largest width, ns.
    pub max_ns: i64,
}

impl Prediction {
    /// The prediction for `scenario`'s first master and first slave, with
    /// the round trips of the links `seed` draws between slaves and
    /// masters (`r_mean` their average plus the mean jitter, `r_max` the
    /// longest plus the most jitter).
    pub fn of(scenario: &Scenario, seed: u64) -> Prediction {
        let (Some(master), Some(slave)) = (scenario.masters.first(), scenario.slaves.first())
        else {
            return Prediction::default();
        };
        let receiver = master.receiver;
        // The clock-pair spread of the simulated reads is 40 ns.
        let slack = MAX_SLEW.error_over(receiver.line_high_ns) + 40;
        let sample = if receiver.pps {
            // gpsd's precision -20 is 2^-20 s, 954 ns rounded up.
            2 * (master.gpsd.pps_precision_ns.max(954) + slack)
        } else {
            // Serial time: the delay range and gpsd's 1 ms print resolution.
            master.gpsd.max_delay_ns - master.gpsd.min_delay_ns + 2 * (1_000_000 + slack)
        };
        let age_max = SECOND + receiver.serial_high_ns + receiver.line_high_ns;
        let age_mean = SECOND / 2
            + (receiver.serial_low_ns + receiver.serial_high_ns) / 2
            + (receiver.line_low_ns + receiver.line_high_ns) / 2;
        let net = scenario.network;
        let links = Network::new(net, Vec::new(), seed);
        let rtts: Vec<i64> = (0..scenario.slaves.len())
            .flat_map(|s| (0..scenario.masters.len()).map(move |m| (s, m)))
            .map(|(s, m)| {
                links.base_ns(Host::Slave(s), Host::Master(m))
                    + links.base_ns(Host::Master(m), Host::Slave(s))
            })
            .collect();
        let count = rtts.len().max(1) as i64;
        let rtt_mean = rtts.iter().sum::<i64>() / count + net.jitter_ns;
        let rtt_max = rtts.iter().max().copied().unwrap_or(0) + 2 * net.jitter_ns;
        let rho_m: Drift = master.drift;
        let rho_s: Drift = slave.limits.drift;
        let first = sample + 2 * rho_m.error_over(age_mean) + rtt_mean;
        let max = sample
            + 2 * rho_m.error_over(age_max)
            + rtt_max
            + rho_s.error_over(rtt_max)
            + 2 * rho_s.error_over(slave.poll_ns + 2 * slave.timeout_ns);
        Prediction {
            first_ns: first,
            mean_ns: first + rho_s.error_over(slave.poll_ns),
            max_ns: max,
        }
    }
}

/// How a fault was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detection {
    /// The fault, in words.
    pub fault: String,
    /// What showed it.
    pub seen: String,
    /// How long after the fault began (for a stopped counter: after it
    /// ran again), ns; `None` if nothing showed it.
    pub after_ns: Option<i64>,
}

/// The figures of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// Physical time simulated, ns.
    pub simulated_ns: i64,
    /// Client reads of the shared-memory record.
    pub reads: u64,
    /// Of which got an interval.
    pub served: u64,
    /// Widths clients got.
    pub widths: Widths,
    /// Widths right after each round.
    pub round_widths: Widths,
    /// Intervals from slaves and clients that missed truth with no
    /// documented cause: bugs.
    pub violations: u64,
    /// Intervals that missed truth under a documented limit of the design.
    pub limit_violations: u64,
    /// The first few of each.
    pub kept: Vec<Violation>,
    /// Synchronized master answers.
    pub master_answers: u64,
    /// Master answers that missed truth while a fault was on that master
    /// (the fault itself, which slaves must outvote).
    pub master_wrong_under_fault: u64,
    /// Master answers that missed truth with no fault on that master.
    pub master_wrong_unexplained: u64,
    /// Clock disruptions the slaves found.
    pub disruptions: u64,
    /// Each fault and how it was seen.
    pub detections: Vec<Detection>,
    /// DESIGN.md's sawtooth for the fleet.
    pub prediction: Prediction,
}

impl Summary {
    /// Served reads per million reads.
    pub fn availability_ppm(&self) -> u64 {
        (self.served * 1_000_000)
            .checked_div(self.reads)
            .unwrap_or(0)
    }

    /// The summary as lines for people.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let ms = |ns: i64| {
            format!(
                "{}.{:03} ms",
                ns / 1_000_000,
                (ns % 1_000_000).abs() / 1_000
            )
        };
        let _ = writeln!(
            out,
            "{}: seed {}, {} simulated s",
            self.scenario,
            self.seed,
            self.simulated_ns / SECOND
        );
        let _ = writeln!(
            out,
            "  violations {} (under a documented limit: {}); master answers wrong under a fault {} of {}, without {}",
            self.violations,
            self.limit_violations,
            self.master_wrong_under_fault,
            self.master_answers,
            self.master_wrong_unexplained
        );
        let _ = writeln!(
            out,
            "  width mean {} p99 {} max {}; after a round {}; predicted first {} mean {} max {}",
            ms(self.widths.mean_ns),
            ms(self.widths.p99_ns),
            ms(self.widths.max_ns),
            ms(self.round_widths.mean_ns),
            ms(self.prediction.first_ns),
            ms(self.prediction.mean_ns),
            ms(self.prediction.max_ns)
        );
        let ppm = self.availability_ppm();
        let _ = writeln!(
            out,
            "  availability {}.{:04} % of {} reads; disruptions {}",
            ppm / 10_000,
            ppm % 10_000,
            self.reads,
            self.disruptions
        );
        for d in &self.detections {
            let after = d.after_ns.map_or("never".to_string(), ms);
            let _ = writeln!(out, "  {}: {} after {}", d.fault, d.seen, after);
        }
        for v in &self.kept {
            let _ = writeln!(
                out,
                "  violation at {} by {}: {} misses truth [{}, {}] by {} ns; {}",
                ms(v.at_ns),
                v.who,
                v.interval,
                v.truth.lower,
                v.truth.upper,
                v.miss_ns,
                v.cause.as_deref().unwrap_or("no documented cause: a bug")
            );
        }
        out
    }
}

/// A run: its summary and everything measured on the way.
#[derive(Clone, Debug)]
pub struct Run {
    /// The figures.
    pub summary: Summary,
    /// The checks, observations and (when traced) every read.
    pub tally: Tally,
}

/// Runs `scenario` with `seed`.
pub fn run(scenario: &Scenario, seed: u64) -> Run {
    run_with(scenario, seed, false)
}

/// Runs `scenario` with `seed`, keeping every client read.
pub fn run_traced(scenario: &Scenario, seed: u64) -> Run {
    run_with(scenario, seed, true)
}

fn run_with(scenario: &Scenario, seed: u64, trace: bool) -> Run {
    let outcome = simulate(scenario, seed, trace);
    let mut tally = outcome.tally;
    let summary = Summary {
        scenario: scenario.name.clone(),
        seed,
        simulated_ns: outcome.simulated_ns,
        reads: tally.reads,
        served: tally.served,
        widths: Widths::of(&mut tally.widths),
        round_widths: Widths::of(&mut tally.round_widths),
        violations: tally.violations,
        limit_violations: tally.limit_violations,
        kept: tally.kept.clone(),
        master_answers: tally.master_answers,
        master_wrong_under_fault: tally.master_wrong_under_fault,
        master_wrong_unexplained: tally.master_wrong_unexplained,
        disruptions: tally.disruptions,
        detections: detections(scenario, &tally.observations),
        prediction: Prediction::of(scenario, seed),
    };
    Run { summary, tally }
}

/// The first observation at or after `from_ns` that `seen` picks, and what
/// it says.
fn first_after(
    observations: &[(i64, Observation)],
    from_ns: i64,
    seen: impl Fn(&Observation) -> Option<String>,
) -> Option<(i64, String)> {
    observations
        .iter()
        .filter(|(at, _)| *at >= from_ns)
        .find_map(|(at, o)| seen(o).map(|what| (*at, what)))
}

fn detection(
    fault: String,
    from_ns: i64,
    observations: &[(i64, Observation)],
    seen: impl Fn(&Observation) -> Option<String>,
    nothing: &str,
) -> Detection {
    match first_after(observations, from_ns, seen) {
        Some((at, what)) => Detection {
            fault,
            seen: what,
            after_ns: Some(at - from_ns),
        },
        None => Detection {
            fault,
            seen: nothing.to_string(),
            after_ns: None,
        },
    }
}

fn verdict_of(o: &Observation, master: usize, wanted: Verdict) -> Option<String> {
    match o {
        Observation::SlaveVerdict {
            slave,
            master: m,
            verdict,
        } if *m == master && *verdict == wanted => Some(format!(
            "slave {slave} calls master {master} {}",
            wanted.as_str()
        )),
        _ => None,
    }
}

fn secs(ns: i64) -> String {
    if ns % SECOND == 0 {
        format!("{} s", ns / SECOND)
    } else {
        format!("{} ms", ns / 1_000_000)
    }
}

/// Every fault of `scenario` and the first observation that showed it.
fn detections(scenario: &Scenario, obs: &[(i64, Observation)]) -> Vec<Detection> {
    let mut out = Vec::new();
    for fault in &scenario.faults {
        out.push(match *fault {
            Fault::GpsSilent {
                master, from_ns, ..
            }
            | Fault::GpsNoFix {
                master, from_ns, ..
            } => detection(
                format!("master {master} loses its GPS"),
                from_ns,
                obs,
                |o| match o {
                    Observation::MasterServes {
                        master: m,
                        serving: Serving::Unsynchronized,
                    } if *m == master => Some(format!("master {master} unsynchronized")),
                    _ => None,
                },
                "master kept serving",
            ),
            Fault::Spoof {
                master,
                by_ns,
                from_ns,
                ..
            } => detection(
                format!("master {master}'s receiver spoofed {} late", secs(by_ns)),
                from_ns,
                obs,
                |o| match o {
                    Observation::MasterServes {
                        master: m,
                        serving: Serving::OutOfService,
                    } if *m == master => Some(format!("master {master} out of service")),
                    other => verdict_of(other, master, Verdict::Falseticker),
                },
                "not seen",
            ),
            Fault::Lie {
                master,
                by_ns,
                from_ns,
                ..
            } => detection(
                format!("master {master} lies by {}", secs(by_ns)),
                from_ns,
                obs,
                |o| verdict_of(o, master, Verdict::Falseticker),
                "not seen",
            ),
            Fault::MasterDown {
                master, from_ns, ..
            } => detection(
                format!("master {master} crashes"),
                from_ns,
                obs,
                |o| verdict_of(o, master, Verdict::Unreachable),
                "not seen",
            ),
            Fault::SlaveDown {
                slave, until_ns, ..
            } => detection(
                format!("slave {slave} restarts"),
                until_ns,
                obs,
                |o| match o {
                    Observation::SlaveSynchronized { slave: s } if *s == slave => {
                        Some(format!("slave {slave} serves again"))
                    }
                    _ => None,
                },
                "never serves again",
            ),
            Fault::WallStep {
                master,
                at_ns,
                by_ns,
            } => detection(
                format!("master {master}'s wall clock stepped {}", secs(by_ns)),
                at_ns,
                obs,
                |o| match o {
                    Observation::ClockStepSeen { master: m } if *m == master => {
                        Some("the gpsd session refuses stamps across the step".to_string())
                    }
                    _ => None,
                },
                "not seen",
            ),
        });
    }
    for fault in &scenario.net_faults {
        let who = fault
            .slave
            .map_or("every slave".to_string(), |s| format!("slave {s}"));
        match fault.kind {
            NetFaultKind::Partition => {
                let holdover = detection(
                    format!("{who} cut off from every master"),
                    fault.from_ns,
                    obs,
                    |o| match o {
                        Observation::SlaveHoldover { slave }
                            if fault.slave.is_none_or(|s| s == *slave) =>
                        {
                            Some(format!("slave {slave} in holdover"))
                        }
                        _ => None,
                    },
                    "no holdover",
                );
                let unsynchronized = detection(
                    format!("{who} cut off from every master"),
                    fault.from_ns,
                    obs,
                    |o| match o {
                        Observation::SlaveUnsynchronized { slave, .. }
                            if fault.slave.is_none_or(|s| s == *slave) =>
                        {
                            Some(format!("slave {slave} unsynchronized"))
                        }
                        _ => None,
                    },
                    "stays synchronized",
                );
                out.push(holdover);
                out.push(unsynchronized);
            }
            NetFaultKind::ExtraDelay { out_ns, back_ns } => out.push(Detection {
                fault: format!(
                    "{who}: {} more towards the masters, {} back",
                    secs(out_ns),
                    secs(back_ns)
                ),
                seen: "nothing to detect: the round trip bounds it".to_string(),
                after_ns: None,
            }),
        }
    }
    for (slave, spec) in scenario.slaves.iter().enumerate() {
        for event in &spec.clock.events {
            let (fault, from_ns) = match *event {
                CounterEvent::Pause { at_ns, for_ns } => (
                    format!("slave {slave}'s counter stopped for {}", secs(for_ns)),
                    at_ns + for_ns,
                ),
                CounterEvent::Step { at_ns, by_ns } => (
                    format!("slave {slave}'s counter stepped {}", secs(by_ns)),
                    at_ns,
                ),
                CounterEvent::Suspend {
                    at_ns,
                    for_ns,
                    error_ns,
                } => (
                    format!(
                        "slave {slave} suspended for {}, its counter off by {} at wake-up",
                        secs(for_ns),
                        secs(error_ns)
                    ),
                    at_ns + for_ns,
                ),
                CounterEvent::Rate { at_ns, ppb } => (
                    format!("slave {slave}'s oscillator runs at {} ppm", ppb / 1000),
                    at_ns,
                ),
            };
            out.push(detection(
                fault,
                from_ns,
                obs,
                |o| match o {
                    Observation::Disruption { slave: s } if *s == slave => {
                        Some(format!("slave {slave} finds a clock disruption"))
                    }
                    _ => None,
                },
                "no disruption found",
            ));
        }
    }
    out
}
