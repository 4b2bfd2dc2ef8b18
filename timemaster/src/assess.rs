//! Judging the sources at one instant: which are usable, which agree, and
//! the combined interval the master answers with.
//!
//! Pure: it takes the sources' states and the local instant of the answer,
//! so every rule here is tested without devices or clocks.

use tt_core::{intersect, Drift, Interval, LocalInstant};
use tt_hw::{Health, SourceState};
use tt_proto::v1::Verdict;

/// The rules a master judges by.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// The local oscillator's rate bound, used to carry each sample from
    /// the instant it was taken to the instant of the answer.
    pub drift: Drift,
    /// How many sources may be wrong at once.
    pub max_falsetickers: usize,
    /// A sample older than this (local nanoseconds) is stale.
    pub max_sample_age_ns: i64,
}

/// One source as judged.
#[derive(Clone, Debug)]
pub struct Judged {
    /// The source's state as read.
    pub state: SourceState,
    /// Its sample carried to the answer's instant, when usable.
    pub interval: Option<Interval>,
    /// Local nanoseconds since its last sample, if it has one.
    pub age_ns: Option<i64>,
    /// The verdict.
    pub verdict: Verdict,
}

/// The master's view at one instant.
#[derive(Clone, Debug)]
pub struct Assessment {
    /// The combined interval, or why there is none.
    pub combined: Result<Interval, String>,
    /// Each source, in configuration order.
    pub sources: Vec<Judged>,
    /// How many usable sources had to agree (`n - f`); without a combined
    /// interval, the fewest that could have sufficed (`f + 1`).
    pub needed: usize,
}

/// Judges `states` at local instant `now`.
///
/// A source is usable when it is healthy and its sample is at most
/// `max_sample_age_ns` old; its interval at `now` is the sample carried
/// forward with the drift bound (`tt_core::Sample::at`). The usable
/// intervals are combined with `tt_core::intersect` and `f =
/// max_falsetickers`: with fewer than `2f + 1` of them, or no instant that
/// `n - f` agree on, there is no combined interval and the master is
/// unsynchronized.
pub fn assess(states: Vec<SourceState>, now: LocalInstant, rules: &Rules) -> Assessment {
    let mut sources: Vec<Judged> = states
        .into_iter()
        .map(|state| judge_alone(state, now, rules))
        .collect();

    let usable: Vec<usize> = (0..sources.len())
        .filter(|&i| sources[i].interval.is_some())
        .collect();
    let intervals: Vec<Interval> = usable.iter().filter_map(|&i| sources[i].interval).collect();

    match intersect(&intervals, rules.max_falsetickers) {
        Ok(agreement) => {
            for (slot, &i) in usable.iter().enumerate() {
                sources[i].verdict = if agreement.in_majority[slot] {
                    Verdict::InMajority
                } else {
                    Verdict::Falseticker
                };
            }
            Assessment {
                combined: Ok(agreement.interval),
                sources,
                needed: agreement.needed,
            }
        }
        Err(e) => {
            // Without agreement nobody is known to be right; a usable
            // source keeps the verdict "no data" rather than being called
            // a falseticker on no evidence.
            let reason = describe_failure(&e, &sources);
            Assessment {
                combined: Err(reason),
                sources,
                // The fewest that could have sufficed: f + 1.
                needed: rules.max_falsetickers + 1,
            }
        }
    }
}

fn judge_alone(state: SourceState, now: LocalInstant, rules: &Rules) -> Judged {
    let age_ns = state.last.map(|sample| now.nanos_since(sample.local));
    let (interval, verdict) = match (&state.health, state.last, age_ns) {
        (Health::Good, Some(sample), Some(age)) if age <= rules.max_sample_age_ns => {
            (Some(sample.at(now, rules.drift)), Verdict::NoData)
        }
        (Health::Good, Some(_), Some(_)) => (None, Verdict::Stale),
        (Health::Down, _, _) => (None, Verdict::Unreachable),
        _ => (None, Verdict::NoData),
    };
    Judged {
        state,
        interval,
        age_ns,
        verdict,
    }
}

fn describe_failure(error: &tt_core::IntersectError, sources: &[Judged]) -> String {
    let missing: Vec<String> = sources
        .iter()
        .filter(|s| s.interval.is_none())
        .map(|s| format!("{} ({})", s.state.name, s.state.detail))
        .collect();
    if missing.is_empty() {
        error.to_string()
    } else {
        format!("{error}; without a usable interval: {}", missing.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tt_core::{Sample, NANOS_PER_SEC};
    use tt_hw::SourceCell;

    const RULES: Rules = Rules {
        drift: Drift::from_ppm(200),
        max_falsetickers: 0,
        max_sample_age_ns: 3 * NANOS_PER_SEC,
    };

    fn source(name: &str, sample: Option<(i64, i64, i64)>) -> SourceState {
        let cell = SourceCell::new(name, "test");
        if let Some((local, earliest, latest)) = sample {
            cell.publish(
                Sample::new(
                    LocalInstant::from_nanos(local),
                    Interval::from_unix_nanos(earliest, latest).unwrap(),
                ),
                "test sample",
            );
        }
        cell.snapshot()
    }

    #[test]
    fn one_source_is_carried_to_the_answer() {
        let t0 = 1_700_000_000 * NANOS_PER_SEC;
        let states = vec![source("gps", Some((0, t0, t0 + 20_000_000)))];
        let view = assess(states, LocalInstant::from_nanos(NANOS_PER_SEC), &RULES);
        // One second later at 200 ppm: both ends move by 1 s, each widened
        // by 200 us.
        let expected = Interval::from_unix_nanos(
            t0 + NANOS_PER_SEC - 200_000,
            t0 + 20_000_000 + NANOS_PER_SEC + 200_000,
        )
        .unwrap();
        assert_eq!(view.combined, Ok(expected));
        assert_eq!(view.sources[0].verdict, Verdict::InMajority);
        assert_eq!(view.needed, 1);
    }

    #[test]
    fn no_source_means_unsynchronized() {
        let states = vec![source("kernel", None), source("gps", None)];
        let view = assess(states, LocalInstant::from_nanos(0), &RULES);
        let reason = view.combined.unwrap_err();
        assert!(reason.contains("no quorum"), "{reason}");
        assert!(reason.contains("kernel"), "{reason}");
    }

    #[test]
    fn a_stale_sample_is_not_used() {
        let states = vec![source("gps", Some((0, 0, 10)))];
        let later = LocalInstant::from_nanos(3 * NANOS_PER_SEC + 1);
        let view = assess(states, later, &RULES);
        assert!(view.combined.is_err());
        assert_eq!(view.sources[0].verdict, Verdict::Stale);
    }

    #[test]
    fn a_lost_source_is_not_frozen() {
        let cell = SourceCell::new("gps", "gpsd");
        cell.publish(
            Sample::new(
                LocalInstant::from_nanos(0),
                Interval::from_unix_nanos(0, 10).unwrap(),
            ),
            "fix",
        );
        cell.lose(Health::Down, "gpsd went away");
        let view = assess(vec![cell.snapshot()], LocalInstant::from_nanos(1), &RULES);
        assert!(view.combined.is_err());
        assert_eq!(view.sources[0].verdict, Verdict::Unreachable);
    }

    #[test]
    fn a_liar_among_three_is_named() {
        let rules = Rules {
            max_falsetickers: 1,
            ..RULES
        };
        // All taken at the answer's instant, so no propagation: the two
        // honest ones overlap on [5, 10]; the liar is 2 s off.
        let states = vec![
            source("a", Some((0, 0, 10))),
            source("b", Some((0, 5, 15))),
            source("liar", Some((0, 2 * NANOS_PER_SEC, 2 * NANOS_PER_SEC + 10))),
        ];
        let view = assess(states, LocalInstant::from_nanos(0), &rules);
        assert_eq!(view.combined, Ok(Interval::from_unix_nanos(5, 10).unwrap()));
        let verdicts: Vec<Verdict> = view.sources.iter().map(|s| s.verdict).collect();
        assert_eq!(
            verdicts,
            vec![
                Verdict::InMajority,
                Verdict::InMajority,
                Verdict::Falseticker
            ]
        );
    }
}
