//! The bounded record of what a server served, behind the `History` RPC.
//!
//! A server pushes one [`Point`] whenever it computes what it serves (a
//! slave after a poll round, a master on its periodic view); the ring keeps
//! the newest ones and drops the oldest. Points are stored packed, about
//! `56 + 32 n` bytes for `n` members, and the ring holds at most
//! [`MAX_POINTS`] of them and at most [`MEMORY_BUDGET_BYTES`] in all: an
//! hour at one point a second for up to four members, less time with more.
//!
//! Events are not stored: they are the differences between consecutive
//! points, worked out when the history is asked for ([`HistoryRing::answer`]).
//! So a change that came and went between two points is not seen, and at
//! most one new sample per member shows between two points.

use crate::v1::{
    HistoryEvent, HistoryEventKind, HistoryMember, HistoryMemberInfo, HistoryPoint, Verdict,
};
use std::collections::VecDeque;
use tt_core::{Interval, LocalInstant};

/// The most points a ring keeps: an hour at one a second.
pub const MAX_POINTS: usize = 3_600;

/// The most memory the stored points may take, bytes.
pub const MEMORY_BUDGET_BYTES: usize = 600_000;

/// One member as a server judged it at a point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberState {
    /// Its interval carried to the point's instant, when it has one.
    pub interval: Option<Interval>,
    /// The local instant its last sample holds for, if it has had one.
    pub sample_local: Option<LocalInstant>,
    /// Its verdict then.
    pub verdict: Verdict,
}

/// What a server served at one local instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Point {
    /// The local instant.
    pub local: LocalInstant,
    /// The wall clock then (`CLOCK_REALTIME`), to place the point on a
    /// calendar; never a bound.
    pub system_unix_ns: i64,
    /// The interval served, or `None` while unsynchronized.
    pub served: Option<Interval>,
    /// The interval served until this instant, carried to it, when this
    /// point replaced it (a slave's round).
    pub replaced: Option<Interval>,
    /// Every member, in the ring's member order.
    pub members: Vec<MemberState>,
}

/// Where an interval slot holds nothing.
const NO_INSTANT: i64 = i64::MIN;

/// A point's own fields, packed.
#[derive(Clone, Copy, Debug)]
struct Head {
    local_ns: i64,
    system_unix_ns: i64,
    served: (i64, i64),
    replaced: (i64, i64),
    has_served: bool,
    has_replaced: bool,
}

/// One member at one point, packed.
#[derive(Clone, Copy, Debug)]
struct Slot {
    earliest_unix_ns: i64,
    latest_unix_ns: i64,
    /// `NO_INSTANT` for never.
    sample_local_ns: i64,
    verdict: i32,
    has_interval: bool,
}

/// The verdicts that count as a member failing.
fn is_fault(verdict: i32) -> bool {
    [
        Verdict::Falseticker,
        Verdict::Unreachable,
        Verdict::Stale,
        Verdict::Unsynchronized,
    ]
    .iter()
    .any(|&fault| fault as i32 == verdict)
}

fn ends(interval: Option<Interval>) -> (i64, i64) {
    interval.map_or((0, 0), |iv| {
        (iv.earliest().unix_nanos(), iv.latest().unix_nanos())
    })
}

/// The newest points a server recorded, and its members' names.
#[derive(Debug)]
pub struct HistoryRing {
    members: Vec<HistoryMemberInfo>,
    capacity: usize,
    heads: VecDeque<Head>,
    /// `members.len()` slots per head, in the same order.
    slots: VecDeque<Slot>,
}

impl HistoryRing {
    /// An empty ring for members named `members` (name, kind), holding as
    /// many points as [`MAX_POINTS`] and [`MEMORY_BUDGET_BYTES`] allow,
    /// and at least one.
    pub fn new(members: Vec<(String, String)>) -> HistoryRing {
        let per_point = std::mem::size_of::<Head>() + members.len() * std::mem::size_of::<Slot>();
        let capacity = (MEMORY_BUDGET_BYTES / per_point).clamp(1, MAX_POINTS);
        HistoryRing::with_capacity(members, capacity)
    }

    /// An empty ring keeping at most `capacity` points (at least one).
    pub fn with_capacity(members: Vec<(String, String)>, capacity: usize) -> HistoryRing {
        let members = members
            .into_iter()
            .map(|(name, kind)| HistoryMemberInfo { name, kind })
            .collect();
        HistoryRing {
            members,
            capacity: capacity.max(1),
            heads: VecDeque::new(),
            slots: VecDeque::new(),
        }
    }

    /// The most points kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many points are kept now.
    pub fn len(&self) -> usize {
        self.heads.len()
    }

    /// Whether no point is kept.
    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }

    /// The members' names and kinds, in order.
    pub fn members(&self) -> &[HistoryMemberInfo] {
        &self.members
    }

    /// The local instant of the newest point.
    pub fn newest(&self) -> Option<LocalInstant> {
        self.heads
            .back()
            .map(|head| LocalInstant::from_nanos(head.local_ns))
    }

    /// Adds `point`, dropping the oldest when full. A point older than the
    /// newest one is refused (returns false): the record runs forward.
    /// Members past the ring's count are ignored; missing ones are stored
    /// as having no data.
    pub fn push(&mut self, point: &Point) -> bool {
        if self
            .newest()
            .is_some_and(|newest| point.local.nanos() < newest.nanos())
        {
            return false;
        }
        if self.heads.len() == self.capacity {
            self.heads.pop_front();
            for _ in 0..self.members.len() {
                self.slots.pop_front();
            }
        }
        self.heads.push_back(Head {
            local_ns: point.local.nanos(),
            system_unix_ns: point.system_unix_ns,
            served: ends(point.served),
            replaced: ends(point.replaced),
            has_served: point.served.is_some(),
            has_replaced: point.replaced.is_some(),
        });
        for index in 0..self.members.len() {
            let state = point.members.get(index).copied().unwrap_or(MemberState {
                interval: None,
                sample_local: None,
                verdict: Verdict::NoData,
            });
            let (earliest_unix_ns, latest_unix_ns) = ends(state.interval);
            self.slots.push_back(Slot {
                earliest_unix_ns,
                latest_unix_ns,
                sample_local_ns: state.sample_local.map_or(NO_INSTANT, LocalInstant::nanos),
                verdict: state.verdict as i32,
                has_interval: state.interval.is_some(),
            });
        }
        true
    }

    fn slots_of(&self, index: usize) -> impl Iterator<Item = &Slot> {
        let n = self.members.len();
        self.slots.range(index * n..(index + 1) * n)
    }

    /// The points of the last `window_ns` local nanoseconds before `now`
    /// (every point for 0 or less), oldest first, and the events between
    /// them, ordered by instant.
    ///
    /// Events come from comparing each point with the one before it (also
    /// when that one is older than the window): a verdict that turned
    /// falseticker, unreachable, stale or unsynchronized is a fault, one
    /// that came back to the majority a recovery; the served interval
    /// appearing or vanishing is sync regained or lost; a member's sample
    /// instant that moved is a new sample at that instant, shown if it
    /// falls in the window. The oldest point kept has nothing to be
    /// compared with, so it brings samples only.
    pub fn answer(
        &self,
        window_ns: i64,
        now: LocalInstant,
    ) -> (Vec<HistoryPoint>, Vec<HistoryEvent>) {
        let start_ns = if window_ns > 0 {
            now.nanos().saturating_sub(window_ns)
        } else {
            i64::MIN
        };
        let first = self.heads.partition_point(|head| head.local_ns < start_ns);
        let mut points = Vec::with_capacity(self.heads.len() - first);
        let mut events = Vec::new();
        for index in first..self.heads.len() {
            let head = &self.heads[index];
            let slots: Vec<&Slot> = self.slots_of(index).collect();
            let previous = index.checked_sub(1).map(|before| {
                (
                    &self.heads[before],
                    self.slots_of(before).collect::<Vec<_>>(),
                )
            });
            let event =
                |local_ns, kind: HistoryEventKind, member: i32, verdict: i32| HistoryEvent {
                    local_ns,
                    kind: kind as i32,
                    member,
                    verdict,
                };

            if let Some((before, _)) = &previous {
                if before.has_served != head.has_served {
                    let kind = if head.has_served {
                        HistoryEventKind::SyncRegained
                    } else {
                        HistoryEventKind::SyncLost
                    };
                    events.push(event(head.local_ns, kind, -1, Verdict::Unspecified as i32));
                }
            }
            for (member, slot) in slots.iter().enumerate() {
                let member_index = i32::try_from(member).unwrap_or(i32::MAX);
                let before = previous.as_ref().map(|(_, slots)| slots[member]);
                let moved = before.is_none_or(|b| b.sample_local_ns != slot.sample_local_ns);
                if moved && slot.sample_local_ns != NO_INSTANT && slot.sample_local_ns >= start_ns {
                    events.push(event(
                        slot.sample_local_ns,
                        HistoryEventKind::Sample,
                        member_index,
                        slot.verdict,
                    ));
                }
                if let Some(before) = before {
                    if before.verdict != slot.verdict {
                        let kind = if is_fault(slot.verdict) {
                            Some(HistoryEventKind::MemberFault)
                        } else if slot.verdict == Verdict::InMajority as i32
                            && is_fault(before.verdict)
                        {
                            Some(HistoryEventKind::MemberRecovered)
                        } else {
                            None
                        };
                        if let Some(kind) = kind {
                            events.push(event(head.local_ns, kind, member_index, slot.verdict));
                        }
                    }
                }
            }

            points.push(HistoryPoint {
                local_ns: head.local_ns,
                system_unix_ns: head.system_unix_ns,
                synchronized: head.has_served,
                earliest_unix_ns: head.served.0,
                latest_unix_ns: head.served.1,
                members: slots
                    .iter()
                    .map(|slot| HistoryMember {
                        has_interval: slot.has_interval,
                        earliest_unix_ns: slot.earliest_unix_ns,
                        latest_unix_ns: slot.latest_unix_ns,
                        verdict: slot.verdict,
                        age_ns: if slot.sample_local_ns == NO_INSTANT {
                            -1
                        } else {
                            head.local_ns.saturating_sub(slot.sample_local_ns).max(0)
                        },
                    })
                    .collect(),
                replaced: head.has_replaced,
                replaced_earliest_unix_ns: head.replaced.0,
                replaced_latest_unix_ns: head.replaced.1,
            });
        }
        events.sort_by_key(|event| event.local_ns);
        (points, events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000_000_000;

    fn interval(earliest: i64, latest: i64) -> Option<Interval> {
        Some(Interval::from_unix_nanos(earliest, latest).expect("ordered"))
    }

    fn member(sample_at_s: Option<i64>, verdict: Verdict) -> MemberState {
        MemberState {
            interval: sample_at_s.and(interval(0, 10)),
            sample_local: sample_at_s.map(|s| LocalInstant::from_nanos(s * SEC)),
            verdict,
        }
    }

    fn point(at_s: i64, served: bool, members: Vec<MemberState>) -> Point {
        Point {
            local: LocalInstant::from_nanos(at_s * SEC),
            system_unix_ns: 1_700_000_000 * SEC + at_s * SEC,
            served: if served {
                interval(at_s, at_s + 100)
            } else {
                None
            },
            replaced: None,
            members,
        }
    }

    fn ring(capacity: usize) -> HistoryRing {
        HistoryRing::with_capacity(
            vec![
                ("a".to_string(), "master".to_string()),
                ("b".to_string(), "master".to_string()),
            ],
            capacity,
        )
    }

    #[test]
    fn keeps_the_newest_points_and_refuses_older_ones() {
        let mut ring = ring(3);
        for at in 1..=5 {
            let members = vec![member(Some(at), Verdict::InMajority); 2];
            assert!(ring.push(&point(at, true, members)));
        }
        assert_eq!(ring.len(), 3);
        assert!(!ring.push(&point(4, true, Vec::new())));
        let (points, _) = ring.answer(0, LocalInstant::from_nanos(5 * SEC));
        let instants: Vec<i64> = points.iter().map(|p| p.local_ns / SEC).collect();
        assert_eq!(instants, [3, 4, 5]);
        // Each point's members are its own: sampled at the point, age 0.
        assert!(points
            .iter()
            .all(|p| p.members.len() == 2 && p.members.iter().all(|m| m.age_ns == 0)));
    }

    #[test]
    fn the_window_counts_back_from_now() {
        let mut ring = ring(100);
        for at in 0..10 {
            ring.push(&point(at, true, Vec::new()));
        }
        // Now = 12 s, window 5 s: points at 7, 8, 9 s.
        let (points, _) = ring.answer(5 * SEC, LocalInstant::from_nanos(12 * SEC));
        assert_eq!(points.len(), 3);
        assert_eq!(points[0].local_ns, 7 * SEC);
    }

    #[test]
    fn events_are_the_changes_between_points() {
        let mut ring = ring(100);
        // 1 s: both in the majority, sampled at 1 s.
        ring.push(&point(
            1,
            true,
            vec![member(Some(1), Verdict::InMajority); 2],
        ));
        // 2 s: a sampled again at 2 s; b unreachable, no new sample.
        ring.push(&point(
            2,
            true,
            vec![
                member(Some(2), Verdict::InMajority),
                member(Some(1), Verdict::Unreachable),
            ],
        ));
        // 3 s: unsynchronized; a unchanged.
        ring.push(&point(
            3,
            false,
            vec![
                member(Some(2), Verdict::InMajority),
                member(Some(1), Verdict::Unreachable),
            ],
        ));
        // 4 s: b back, sampled at 3.5 s; synchronized again.
        let mut back = member(Some(3), Verdict::InMajority);
        back.sample_local = Some(LocalInstant::from_nanos(3 * SEC + SEC / 2));
        ring.push(&point(
            4,
            true,
            vec![member(Some(2), Verdict::InMajority), back],
        ));

        let (_, events) = ring.answer(0, LocalInstant::from_nanos(4 * SEC));
        let seen: Vec<(i64, i32, i32)> = events
            .iter()
            .map(|e| (e.local_ns, e.kind, e.member))
            .collect();
        use HistoryEventKind as K;
        assert_eq!(
            seen,
            [
                // The oldest point brings its samples only.
                (SEC, K::Sample as i32, 0),
                (SEC, K::Sample as i32, 1),
                (2 * SEC, K::Sample as i32, 0),
                (2 * SEC, K::MemberFault as i32, 1),
                (3 * SEC, K::SyncLost as i32, -1),
                (3 * SEC + SEC / 2, K::Sample as i32, 1),
                (4 * SEC, K::SyncRegained as i32, -1),
                (4 * SEC, K::MemberRecovered as i32, 1),
            ]
        );

        // A window that starts at 2.5 s still compares its first point
        // (3 s) with the one before: the loss of sync shows; the samples
        // before 2.5 s do not.
        let (points, events) = ring.answer(SEC + SEC / 2, LocalInstant::from_nanos(4 * SEC));
        assert_eq!(points.len(), 2);
        assert_eq!(events[0].kind, K::SyncLost as i32);
        assert!(events.iter().all(|e| e.local_ns >= 2 * SEC + SEC / 2));
    }

    #[test]
    fn capacity_follows_the_memory_budget() {
        let few = HistoryRing::new(vec![(String::new(), String::new()); 3]);
        assert_eq!(few.capacity(), MAX_POINTS);
        let many = HistoryRing::new(vec![(String::new(), String::new()); 100]);
        // 100 members at 32 bytes is over 3 KB a point: under 200 points.
        assert!(many.capacity() < 200 && many.capacity() > 0);
        assert!(many.capacity() * (56 + 100 * 32) <= MEMORY_BUDGET_BYTES);
    }
}
