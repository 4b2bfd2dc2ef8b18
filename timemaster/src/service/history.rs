//! What the master served, recorded for the `History` RPC: one point per
//! view, at most one a second.
//!
//! Every view passes through [`Recording::offer`]: the periodic check the
//! daemon runs once a second and every request alike. A view becomes a
//! point when the newest point is at least [`SPACING_NS`] older, so the
//! record holds a point about every second however busy the master is, and
//! a request only pays for an atomic load when no point is due. Each point
//! holds what `Now` answered at that view (nothing while unsynchronized or
//! out of service) and each source and peer as judged then.

use super::View;
use crate::peers::Standing;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, TryLockError};
use tt_core::LocalInstant;
use tt_proto::history::{HistoryRing, MemberState, Point};

/// The least spacing between two points, local nanoseconds; a little under
/// the daemon's one-second check, so that jitter in its timer does not
/// skip a second.
pub const SPACING_NS: i64 = 950_000_000;

/// The ring and when the next point is due.
#[derive(Debug)]
pub struct Recording {
    ring: Mutex<HistoryRing>,
    next_due_ns: AtomicI64,
}

impl Recording {
    /// An empty record.
    pub fn new() -> Recording {
        Recording {
            ring: Mutex::new(HistoryRing::new(Vec::new())),
            next_due_ns: AtomicI64::new(i64::MIN),
        }
    }

    /// Records `view` if a point is due (the wall clock then:
    /// `system_unix_ns`). A view that finds the record busy is skipped, not
    /// waited for. When the sources or peers are not the ones the record
    /// holds (a reload changed them), the record starts afresh.
    pub fn offer(&self, view: &View, system_unix_ns: i64) {
        if view.now.nanos() < self.next_due_ns.load(Ordering::Relaxed) {
            return;
        }
        let mut ring = match self.ring.try_lock() {
            Ok(ring) => ring,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        if ring
            .newest()
            .is_some_and(|newest| view.now.nanos_since(newest) < SPACING_NS)
        {
            return;
        }

        let names: Vec<(&str, &str)> = view
            .assessment
            .sources
            .iter()
            .map(|judged| (judged.state.name.as_str(), judged.state.kind))
            .chain(
                view.peers
                    .iter()
                    .map(|peer| (peer.address.as_str(), "peer")),
            )
            .collect();
        let same = ring.members().len() == names.len()
            && ring
                .members()
                .iter()
                .zip(&names)
                .all(|(held, (name, kind))| held.name == *name && held.kind == *kind);
        if !same {
            *ring = HistoryRing::new(
                names
                    .iter()
                    .map(|(name, kind)| (name.to_string(), kind.to_string()))
                    .collect(),
            );
        }

        let at = view.now;
        let sample_local =
            |age_ns: Option<i64>| age_ns.map(|age| LocalInstant::from_nanos(at.nanos() - age));
        let members = view
            .assessment
            .sources
            .iter()
            .map(|judged| MemberState {
                interval: judged.interval,
                sample_local: sample_local(judged.age_ns),
                verdict: judged.verdict,
            })
            .chain(view.peers.iter().map(|peer| MemberState {
                interval: peer.interval,
                sample_local: sample_local(peer.age_ns),
                verdict: peer.verdict,
            }))
            .collect();
        let served = match view.standing {
            Standing::Outvoted(_) => None,
            _ => view.assessment.combined.as_ref().ok().copied(),
        };
        let pushed = ring.push(&Point {
            local: at,
            system_unix_ns,
            served,
            replaced: None,
            members,
        });
        if pushed {
            self.next_due_ns
                .store(at.nanos().saturating_add(SPACING_NS), Ordering::Relaxed);
        }
    }

    /// Runs `read` on the ring.
    pub fn read<T>(&self, read: impl FnOnce(&HistoryRing) -> T) -> T {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        read(&ring)
    }
}

impl Default for Recording {
    fn default() -> Self {
        Recording::new()
    }
}

#[cfg(test)]
mod tests {
    use super::super::MasterService;
    use crate::assess::Rules;
    use crate::peers::PeerRules;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::{Arc, Mutex};
    use tt_clock::LocalClock;
    use tt_core::{Drift, Interval, LocalInstant, Sample};
    use tt_hw::SourceCell;
    use tt_proto::v1::{HistoryEventKind, Verdict};

    const SEC: i64 = 1_000_000_000;
    const UNIX_AT_ZERO: i64 = 1_700_000_000 * SEC;

    struct SetClock(Arc<AtomicI64>);

    impl LocalClock for SetClock {
        fn now(&self) -> LocalInstant {
            LocalInstant::from_nanos(self.0.load(Ordering::SeqCst))
        }
    }

    /// `cell` read at local `at_ns`: truth + `offset_ns` ± 1 us.
    fn publish(cell: &SourceCell, at_ns: i64, offset_ns: i64) {
        let mid = UNIX_AT_ZERO + at_ns + offset_ns;
        cell.publish(
            Sample::new(
                LocalInstant::from_nanos(at_ns),
                Interval::from_unix_nanos(mid - 1_000, mid + 1_000).unwrap(),
            ),
            "test",
        );
    }

    #[test]
    fn one_point_a_second_from_any_view_with_the_sources_judged() {
        let cells: Vec<SourceCell> = ["a", "b", "c"]
            .map(|name| SourceCell::new(name, "gpsd"))
            .to_vec();
        let rules = Rules {
            drift: Drift::from_ppm(100),
            max_falsetickers: 1,
            max_sample_age_ns: 3 * SEC,
        };
        let peer_rules = PeerRules {
            drift: rules.drift,
            max_falsetickers: 0,
            max_age_ns: 2 * SEC,
        };
        let clock = Arc::new(AtomicI64::new(0));
        let service = MasterService::new(
            cells.clone(),
            rules,
            Arc::new(Mutex::new(Vec::new())),
            peer_rules,
            Arc::new(SetClock(Arc::clone(&clock))),
        );

        for cell in &cells {
            publish(cell, 0, 0);
        }
        service.view();
        // Half a second on: no point. 0.95 s on: one.
        clock.store(SEC / 2, Ordering::SeqCst);
        service.view();
        clock.store(SEC - SEC / 20, Ordering::SeqCst);
        publish(&cells[0], SEC - SEC / 20, 0);
        publish(&cells[1], SEC - SEC / 20, 0);
        // c now reads 1 s off: the two others outvote it.
        publish(&cells[2], SEC - SEC / 20, SEC);
        service.view();

        let history = service.history_response(0);
        assert_eq!(history.role, "timemaster");
        assert_eq!(history.drift_ppb, 100_000);
        let names: Vec<&str> = history.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let instants: Vec<i64> = history.points.iter().map(|p| p.local_ns).collect();
        assert_eq!(instants, [0, SEC - SEC / 20]);
        let first = &history.points[0];
        assert!(first.synchronized);
        // Three samples of truth ± 1 us at the view's instant.
        assert_eq!(
            (first.earliest_unix_ns, first.latest_unix_ns),
            (UNIX_AT_ZERO - 1_000, UNIX_AT_ZERO + 1_000)
        );
        let second = &history.points[1];
        assert_eq!(second.members[2].verdict, Verdict::Falseticker as i32);
        assert_eq!(second.members[0].verdict, Verdict::InMajority as i32);

        let kinds: Vec<(i32, i32, i64)> = history
            .events
            .iter()
            .map(|e| (e.kind, e.member, e.local_ns))
            .collect();
        let sample = HistoryEventKind::Sample as i32;
        let fault = HistoryEventKind::MemberFault as i32;
        assert_eq!(
            kinds,
            [
                (sample, 0, 0),
                (sample, 1, 0),
                (sample, 2, 0),
                (sample, 0, SEC - SEC / 20),
                (sample, 1, SEC - SEC / 20),
                (sample, 2, SEC - SEC / 20),
                (fault, 2, SEC - SEC / 20),
            ]
        );
    }
}
