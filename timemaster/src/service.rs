//! The truetime.v1 service of a master: every answer judges the sources at
//! the instant the request is served, and `History` gives what was served
//! over a recent window (see [`history`]).

pub mod history;

use crate::assess::{assess, Assessment, Rules};
use crate::peers::{self, JudgedPeer, PeerRules, PeerTable, Standing};
use tonic::{Request, Response, Status};
use tt_clock::LocalClock;
use tt_core::leap::LeapPolicy;
use tt_core::leap_schedule::LeapSchedule;
use tt_core::{LocalInstant, NANOS_PER_SEC};
use tt_hw::SourceCell;
use tt_proto::v1::true_time_server::TrueTime;
use tt_proto::v1::{
    HistoryRequest, HistoryResponse, Member, NowRequest, NowResponse, StatusRequest, StatusResponse,
};

/// What the service reads on each request.
pub struct MasterService<C> {
    setup: std::sync::Mutex<Setup>,
    peers: PeerTable,
    clock: std::sync::Arc<C>,
    started: LocalInstant,
    served: std::sync::Mutex<Option<Served>>,
    leap: Option<LeapPolicy>,
    /// The leap seconds expected, with the window around each (before,
    /// after) in nanoseconds.
    leap_schedule: Option<(LeapSchedule, i64, i64)>,
    history: history::Recording,
}

/// The sources and the rules they and the peers are judged by; replaced
/// whole by [`MasterService::reconfigure`].
#[derive(Clone)]
struct Setup {
    cells: Vec<SourceCell>,
    rules: Rules,
    peer_rules: PeerRules,
}

/// What the master served last, for logging each change once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Served {
    Synchronized,
    OutOfService,
    Unsynchronized,
}

/// The master's view at one instant: its sources judged, and itself
/// judged against its peers.
pub struct View {
    /// The sources and their combination.
    pub assessment: Assessment,
    /// How the combination stands against the peers.
    pub standing: Standing,
    /// Each peer as judged.
    pub peers: Vec<JudgedPeer>,
    /// The local instant of the view.
    pub now: LocalInstant,
}

impl<C: LocalClock> MasterService<C> {
    /// A service over `cells` judged by `rules`, checked against `peers`
    /// by `peer_rules`, reading `clock`.
    pub fn new(
        cells: Vec<SourceCell>,
        rules: Rules,
        peers: PeerTable,
        peer_rules: PeerRules,
        clock: std::sync::Arc<C>,
    ) -> Self {
        let started = clock.now();
        MasterService {
            setup: std::sync::Mutex::new(Setup {
                cells,
                rules,
                peer_rules,
            }),
            peers,
            clock,
            started,
            served: std::sync::Mutex::new(None),
            leap: None,
            leap_schedule: None,
            history: history::Recording::new(),
        }
    }

    /// The service widening its combined interval around every leap second
    /// `schedule` expects (`tt_core::leap_schedule`: the known ones one way,
    /// unannounced possible ones both ways), `before_ns` before and
    /// `after_ns` after each, before it is compared with the peers and
    /// answered.
    pub fn with_leap_schedule(
        mut self,
        schedule: LeapSchedule,
        before_ns: i64,
        after_ns: i64,
    ) -> Self {
        self.leap_schedule = Some((schedule, before_ns, after_ns));
        self
    }

    /// The service widening its combined interval around one given leap
    /// second (simulations and tests; the daemon uses a schedule).
    pub fn with_leap_policy(mut self, policy: LeapPolicy) -> Self {
        self.leap = Some(policy);
        self
    }

    /// Replaces the sources and the rules, as a configuration reload does;
    /// the peer table is shared with its pollers and changed there. The
    /// next view judges by the new setup; nothing else is reset.
    pub fn reconfigure(&self, cells: Vec<SourceCell>, rules: Rules, peer_rules: PeerRules) {
        *self.lock_setup() = Setup {
            cells,
            rules,
            peer_rules,
        };
    }

    /// The rules sources are judged by now.
    pub fn rules(&self) -> Rules {
        self.lock_setup().rules
    }

    fn lock_setup(&self) -> std::sync::MutexGuard<'_, Setup> {
        self.setup
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Judges the sources and the peers now. The local clock is read once,
    /// after every state is copied, so every sample is older than the
    /// instant it is carried to (carrying forward widens; it never
    /// narrows).
    pub fn view(&self) -> View {
        let (states, rules, peer_rules) = {
            let setup = self.lock_setup();
            let states: Vec<_> = setup.cells.iter().map(SourceCell::snapshot).collect();
            (states, setup.rules, setup.peer_rules)
        };
        let peer_polls = peers::snapshot(&self.peers);
        let now = self.clock.now();
        let mut assessment = assess(states, now, &rules);
        if let (Some(policy), Ok(combined)) = (&self.leap, &mut assessment.combined) {
            *combined = policy.apply(*combined);
        }
        if let (Some((schedule, before_ns, after_ns)), Ok(combined)) =
            (&self.leap_schedule, &mut assessment.combined)
        {
            *combined = schedule.apply(*combined, *before_ns, *after_ns);
        }
        let (standing, peers) = peers::judge(
            assessment.combined.as_ref().ok().copied(),
            &peer_polls,
            now,
            &peer_rules,
        );
        let view = View {
            assessment,
            standing,
            peers,
            now,
        };
        self.log_change(&view);
        self.history.offer(&view, tt_clock::realtime_ns());
        view
    }

    /// The answer to `History`: the points of the last `window_s` seconds
    /// (all kept for 0).
    pub fn history_response(&self, window_s: u32) -> HistoryResponse {
        let drift_ppb = self.rules().drift.ppb();
        let now = self.clock.now();
        self.history.read(|ring| {
            let (points, events) =
                ring.answer(i64::from(window_s).saturating_mul(NANOS_PER_SEC), now);
            HistoryResponse {
                role: "timemaster".to_string(),
                now_local_ns: now.nanos(),
                drift_ppb,
                members: ring.members().to_vec(),
                points,
                events,
                capacity: u32::try_from(ring.capacity()).unwrap_or(u32::MAX),
            }
        })
    }

    /// Logs when what the master serves changes: synchronized, out of
    /// service because its peers outvote it, or unsynchronized. Every view
    /// passes through here, so a change is logged by the first answer or
    /// periodic check that sees it.
    fn log_change(&self, view: &View) {
        let served = match (&view.standing, &view.assessment.combined) {
            (Standing::Outvoted(_), _) => Served::OutOfService,
            (_, Ok(_)) => Served::Synchronized,
            (_, Err(_)) => Served::Unsynchronized,
        };
        let mut last = self
            .served
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *last == Some(served) {
            return;
        }
        *last = Some(served);
        drop(last);
        match (&view.standing, &view.assessment.combined) {
            (Standing::Outvoted(reason), _) => tracing::warn!(%reason, "out of service"),
            (_, Ok(interval)) => tracing::info!(
                width_us = interval.width_ns() / 1000,
                agreeing = view.assessment.needed,
                "synchronized"
            ),
            (_, Err(reason)) => tracing::warn!(%reason, "unsynchronized"),
        }
    }
}

/// The `Now` answer for a view: the combined interval, unless there is
/// none or the peers outvoted it.
pub fn now_response(view: &View) -> NowResponse {
    if let Standing::Outvoted(reason) = &view.standing {
        return NowResponse::unsynchronized(reason.clone());
    }
    match &view.assessment.combined {
        Ok(interval) => NowResponse::synchronized(*interval),
        Err(reason) => NowResponse::unsynchronized(reason.clone()),
    }
}

#[tonic::async_trait]
impl<C: LocalClock + 'static> TrueTime for MasterService<C> {
    async fn now(&self, _request: Request<NowRequest>) -> Result<Response<NowResponse>, Status> {
        Ok(Response::new(now_response(&self.view())))
    }

    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let view = self.view();
        let rules = self.rules();
        let now = view.now;
        let mut members: Vec<Member> = view
            .assessment
            .sources
            .iter()
            .map(|judged| {
                let (earliest, latest) = judged
                    .interval
                    .map(|iv| (iv.earliest().unix_nanos(), iv.latest().unix_nanos()))
                    .unwrap_or((0, 0));
                Member {
                    name: judged.state.name.clone(),
                    kind: judged.state.kind.to_string(),
                    has_interval: judged.interval.is_some(),
                    earliest_unix_ns: earliest,
                    latest_unix_ns: latest,
                    age_ns: judged.age_ns.unwrap_or(-1),
                    verdict: judged.verdict as i32,
                    detail: format!(
                        "{} (accepted {}, rejected {}, withheld as inconsistent {})",
                        judged.state.detail,
                        judged.state.accepted,
                        judged.state.rejected,
                        judged.state.inconsistent
                    ),
                    accepted: Some(judged.state.accepted),
                    rejected: Some(judged.state.rejected),
                }
            })
            .collect();
        members.extend(view.peers.iter().map(|peer| {
            let (earliest, latest) = peer
                .interval
                .map(|iv| (iv.earliest().unix_nanos(), iv.latest().unix_nanos()))
                .unwrap_or((0, 0));
            Member {
                name: peer.address.clone(),
                kind: "peer".to_string(),
                has_interval: peer.interval.is_some(),
                earliest_unix_ns: earliest,
                latest_unix_ns: latest,
                age_ns: peer.age_ns.unwrap_or(-1),
                verdict: peer.verdict as i32,
                detail: peer.detail.clone(),
                accepted: None,
                rejected: None,
            }
        }));
        Ok(Response::new(StatusResponse {
            role: "timemaster".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            combined: Some(now_response(&view)),
            quorum: u32::try_from(view.assessment.needed).unwrap_or(u32::MAX),
            max_falsetickers: u32::try_from(rules.max_falsetickers).unwrap_or(u32::MAX),
            members,
            uptime_ns: now.nanos_since(self.started),
            drift_ppb: rules.drift.ppb(),
        }))
    }

    async fn history(
        &self,
        request: Request<HistoryRequest>,
    ) -> Result<Response<HistoryResponse>, Status> {
        Ok(Response::new(
            self.history_response(request.into_inner().window_s),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tt_core::leap::{LeapKind, LeapSecond};
    use tt_core::{Drift, Interval, Sample, Timestamp, NANOS_PER_SEC};

    struct Fixed(LocalInstant);

    impl LocalClock for Fixed {
        fn now(&self) -> LocalInstant {
            self.0
        }
    }

    /// 2027-01-01T00:00:00Z.
    const MIDNIGHT: i64 = 1_798_761_600 * NANOS_PER_SEC;

    fn service(sample_at: i64) -> MasterService<Fixed> {
        let cell = SourceCell::new("gps0", "gpsd");
        cell.publish(
            Sample::new(
                LocalInstant::from_nanos(0),
                Interval::from_unix_nanos(sample_at, sample_at + 1_000).unwrap(),
            ),
            "test",
        );
        let rules = Rules {
            drift: Drift::from_ppm(200),
            max_falsetickers: 0,
            max_sample_age_ns: 3 * NANOS_PER_SEC,
        };
        let peer_rules = PeerRules {
            drift: rules.drift,
            max_falsetickers: 0,
            max_age_ns: 2 * NANOS_PER_SEC,
        };
        MasterService::new(
            vec![cell],
            rules,
            Arc::new(Mutex::new(Vec::new())),
            peer_rules,
            Arc::new(Fixed(LocalInstant::from_nanos(0))),
        )
        .with_leap_policy(LeapPolicy {
            leap: LeapSecond {
                midnight: Timestamp::from_unix_nanos(MIDNIGHT),
                kind: LeapKind::Inserted,
            },
            before_ns: 600 * NANOS_PER_SEC,
            after_ns: 10 * NANOS_PER_SEC,
        })
    }

    #[test]
    fn the_answer_is_widened_below_near_an_inserted_leap_second_only() {
        // 5 s before the leap: one second more below.
        let near = MIDNIGHT - 5 * NANOS_PER_SEC;
        let view = service(near).view();
        assert_eq!(
            view.assessment.combined,
            Ok(Interval::from_unix_nanos(near - NANOS_PER_SEC, near + 1_000).unwrap())
        );
        // An hour before: untouched.
        let far = MIDNIGHT - 3_600 * NANOS_PER_SEC;
        let view = service(far).view();
        assert_eq!(
            view.assessment.combined,
            Ok(Interval::from_unix_nanos(far, far + 1_000).unwrap())
        );
    }
}
