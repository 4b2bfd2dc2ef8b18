//! The fault-tolerant intersection of intervals (Marzullo's algorithm in
//! the form NTP's selection uses).
//!
//! Given `n` intervals of which at most `f` may be wrong, every interval
//! from a correct source contains true time, so true time is covered by at
//! least `n - f` intervals. The result is the hull of all points covered by
//! at least `n - f` intervals:
//!
//! ```text
//! need   = n - f
//! lower  = min { x : #{i : E_i <= x <= A_i} >= need }
//! upper  = max { x : #{i : E_i <= x <= A_i} >= need }
//! result = [lower, upper]
//! ```
//!
//! Truth is one such point, so `lower <= truth <= upper` whenever at most
//! `f` intervals are wrong, however the wrong ones are placed (colluding
//! included). Taking only the single region of maximum overlap would not
//! have that property: `f` colluding liars plus one honest outlier can
//! outvote the region holding truth. If no point is covered `need` times
//! there is no agreement, and the answer is an error, not a guess.
//!
//! Intervals are closed: endpoints that touch count as overlapping.
//!
//! The rule needs `n - f >= 1`, that is `n > f`. With `2f < n` (a majority
//! of correct intervals, the usual configuration) liars cannot move the
//! result far from truth. When some sources are missing and `n` falls to
//! `2f` or below, the hull at `n - f` still holds truth, it is only wider:
//! with three masters, `f = 1` and one of them down, it is the hull of the
//! two that answer. A wide interval is honest; refusing to answer would
//! be too, but serves nobody.

use crate::Interval;
use std::fmt;

/// The combined interval and what each input contributed to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agreement {
    /// The hull of the points covered by at least `n - f` inputs.
    pub interval: Interval,
    /// For each input, in input order: whether it contains a point covered
    /// by at least `n - f` inputs (it is in the majority). An input that
    /// does not is a falseticker.
    pub in_majority: Vec<bool>,
    /// `n - f`: how many inputs had to agree.
    pub needed: usize,
}

/// Why no combined interval exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntersectError {
    /// No more inputs than may be wrong (`n <= f`): every one of them
    /// could be a liar.
    NoQuorum {
        /// Inputs given.
        have: usize,
        /// Inputs needed, `f + 1`.
        need: usize,
    },
    /// No point is covered by `n - f` inputs: more than `f` are wrong.
    NoAgreement {
        /// Inputs given.
        have: usize,
        /// Inputs that had to agree, `n - f`.
        need: usize,
    },
}

impl fmt::Display for IntersectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntersectError::NoQuorum { have, need } => write!(
                f,
                "no quorum: {have} usable interval(s), at least {need} needed"
            ),
            IntersectError::NoAgreement { have, need } => write!(
                f,
                "no agreement: no instant is inside {need} of the {have} intervals"
            ),
        }
    }
}

impl std::error::Error for IntersectError {}

/// Intersects `intervals`, at most `max_falsetickers` (`f`) of which may be
/// wrong; see the module documentation for the rule and why it keeps truth.
///
/// ```
/// use tt_core::{intersect, Interval};
/// let iv = |e, l| Interval::from_unix_nanos(e, l).unwrap();
/// // Two honest sources around 100, one liar far away.
/// let agreed = intersect(&[iv(90, 110), iv(95, 120), iv(500, 510)], 1).unwrap();
/// assert_eq!(agreed.interval, iv(95, 110));
/// assert_eq!(agreed.in_majority, vec![true, true, false]);
/// ```
pub fn intersect(
    intervals: &[Interval],
    max_falsetickers: usize,
) -> Result<Agreement, IntersectError> {
    let have = intervals.len();
    let quorum = max_falsetickers.saturating_add(1);
    if have < quorum {
        return Err(IntersectError::NoQuorum { have, need: quorum });
    }
    let need = have - max_falsetickers;

    // Sweep the endpoints in order. At one coordinate, openings come before
    // closings, because closed intervals that touch share that point.
    let mut events: Vec<(i64, i8)> = Vec::with_capacity(2 * have);
    for interval in intervals {
        events.push((interval.earliest().unix_nanos(), 0));
        events.push((interval.latest().unix_nanos(), 1));
    }
    events.sort_unstable();

    // Maximal segments where the cover count is at least `need`.
    let mut segments: Vec<(i64, i64)> = Vec::new();
    let mut covered = 0usize;
    let mut open_at = None;
    for (at, kind) in events {
        if kind == 0 {
            covered += 1;
            if covered == need {
                open_at = Some(at);
            }
        } else {
            if covered == need {
                let start = open_at.take().expect("a segment opened before it closes");
                segments.push((start, at));
            }
            covered -= 1;
        }
    }

    let (Some(first), Some(last)) = (segments.first(), segments.last()) else {
        return Err(IntersectError::NoAgreement { have, need });
    };
    let interval = Interval::from_unix_nanos(first.0, last.1)
        .expect("segments are produced in ascending order");
    let in_majority = intervals
        .iter()
        .map(|iv| {
            segments.iter().any(|&(start, end)| {
                iv.earliest().unix_nanos() <= end && start <= iv.latest().unix_nanos()
            })
        })
        .collect();
    Ok(Agreement {
        interval,
        in_majority,
        needed: need,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;
    use proptest::prelude::*;

    fn iv(e: i64, l: i64) -> Interval {
        Interval::from_unix_nanos(e, l).unwrap()
    }

    /// The rule stated literally: the cover count only changes at
    /// endpoints, and the extreme points of the result are endpoints, so
    /// testing every endpoint finds the exact hull.
    fn oracle(intervals: &[Interval], f: usize) -> Option<(Interval, Vec<bool>)> {
        let need = intervals.len() - f;
        let covered = |x: i64| {
            intervals
                .iter()
                .filter(|i| i.contains(Timestamp::from_unix_nanos(x)))
                .count()
        };
        let points: Vec<i64> = intervals
            .iter()
            .flat_map(|i| [i.earliest().unix_nanos(), i.latest().unix_nanos()])
            .filter(|&x| covered(x) >= need)
            .collect();
        let lower = *points.iter().min()?;
        let upper = *points.iter().max()?;
        // An input is in the majority if one of its points is covered
        // `need` times; the cover count is maximal in a region at some
        // endpoint, so checking endpoints inside it is enough.
        let in_majority = intervals
            .iter()
            .map(|i| {
                points
                    .iter()
                    .any(|&x| i.contains(Timestamp::from_unix_nanos(x)))
            })
            .collect();
        Some((iv(lower, upper), in_majority))
    }

    fn arb_interval(span: i64) -> impl Strategy<Value = Interval> {
        (0..span, 0..span / 2).prop_map(|(start, width)| iv(start, start + width))
    }

    #[test]
    fn no_quorum_when_every_input_could_lie() {
        let set = [iv(0, 10), iv(0, 10)];
        assert_eq!(
            intersect(&set, 2),
            Err(IntersectError::NoQuorum { have: 2, need: 3 })
        );
        assert_eq!(
            intersect(&[], 0),
            Err(IntersectError::NoQuorum { have: 0, need: 1 })
        );
    }

    #[test]
    fn without_a_majority_the_hull_widens_to_keep_truth() {
        // Three masters, f = 1, one down: the two left disagree by 2 s.
        // Either may be the liar, so the answer spans both.
        let s = 1_000_000_000;
        let set = [iv(0, 10), iv(2 * s, 2 * s + 10)];
        let agreed = intersect(&set, 1).unwrap();
        assert_eq!(agreed.interval, iv(0, 2 * s + 10));
        assert_eq!(agreed.needed, 1);
        // When they agree the hull of the two is barely wider than each.
        let agreed = intersect(&[iv(0, 10), iv(2, 12)], 1).unwrap();
        assert_eq!(agreed.interval, iv(0, 12));
    }

    #[test]
    fn touching_endpoints_agree_on_one_point() {
        let agreed = intersect(&[iv(0, 10), iv(10, 20)], 0).unwrap();
        assert_eq!(agreed.interval, iv(10, 10));
    }

    #[test]
    fn identical_and_point_intervals() {
        let agreed = intersect(&[iv(5, 5), iv(5, 5), iv(5, 5)], 1).unwrap();
        assert_eq!(agreed.interval, iv(5, 5));
        assert_eq!(agreed.in_majority, vec![true; 3]);
    }

    #[test]
    fn disjoint_majority_regions_give_their_hull() {
        // need = 2: [0,10]&[5,15] agree on [5,10]; [30,40]&[35,45] on
        // [35,40]. Truth could be in either, so the hull spans both.
        let set = [iv(0, 10), iv(5, 15), iv(30, 40), iv(35, 45), iv(100, 101)];
        let agreed = intersect(&set, 5).unwrap_err();
        assert_eq!(agreed, IntersectError::NoQuorum { have: 5, need: 6 });
        let agreed = intersect(&set, 2).unwrap_err();
        // need = 3: no point is in three intervals.
        assert_eq!(agreed, IntersectError::NoAgreement { have: 5, need: 3 });
        let set = [iv(0, 10), iv(5, 15), iv(30, 40), iv(35, 45), iv(8, 37)];
        let agreed = intersect(&set, 2).unwrap();
        assert_eq!(agreed.interval, iv(8, 37));
    }

    #[test]
    fn no_majority_is_an_error_not_a_guess() {
        let set = [iv(0, 1), iv(10, 11), iv(20, 21)];
        assert_eq!(
            intersect(&set, 1),
            Err(IntersectError::NoAgreement { have: 3, need: 2 })
        );
    }

    #[test]
    fn colluding_liars_cannot_exclude_truth() {
        // Truth at 100. Honest: [90,110], [60,101], [99,140]. Two liars
        // agree on [0,95]; with the second honest source they cover
        // [60,95] three times, the most-covered region is [90,95] (four),
        // and truth at 100 is covered only three times. need = 3, so the
        // hull runs from 60 (three: [60,101] and both liars) to 101 (three:
        // the honest ones), and still holds truth.
        let set = [iv(90, 110), iv(60, 101), iv(99, 140), iv(0, 95), iv(0, 95)];
        let agreed = intersect(&set, 2).unwrap();
        assert!(agreed.interval.contains(Timestamp::from_unix_nanos(100)));
        assert_eq!(agreed.interval, iv(60, 101));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn matches_brute_force(
            set in prop::collection::vec(arb_interval(40), 1..9),
            f_seed in 0usize..8,
        ) {
            let f = f_seed % set.len();
            let got = intersect(&set, f);
            match oracle(&set, f) {
                Some((interval, in_majority)) => {
                    let got = got.expect("oracle found agreement");
                    prop_assert_eq!(got.interval, interval);
                    prop_assert_eq!(got.in_majority, in_majority);
                    prop_assert_eq!(got.needed, set.len() - f);
                }
                None => prop_assert_eq!(
                    got,
                    Err(IntersectError::NoAgreement { have: set.len(), need: set.len() - f })
                ),
            }
        }

        #[test]
        fn truth_survives_up_to_f_liars(
            truth in 0i64..1000,
            honest in prop::collection::vec((0i64..50, 0i64..50), 1..6),
            liars in prop::collection::vec(arb_interval(1000), 0..6),
        ) {
            let honest: Vec<Interval> =
                honest.iter().map(|&(below, above)| iv(truth - below, truth + above)).collect();
            // Any number of liars up to f, even a majority of them: the
            // hull at n - f still reaches truth.
            let f = liars.len();
            let mut set = honest.clone();
            set.extend(liars.iter());
            let agreed = intersect(&set, f).expect("honest sources outnumber liars");
            prop_assert!(agreed.interval.contains(Timestamp::from_unix_nanos(truth)));
            for (i, _) in honest.iter().enumerate() {
                prop_assert!(agreed.in_majority[i], "honest source {} called a falseticker", i);
            }
        }
    }
}
