//! The truetime.v1 service of a master: every answer judges the sources at
//! the instant the request is served.

use crate::assess::{assess, Assessment, Rules};
use crate::peers::{self, JudgedPeer, PeerRules, PeerTable, Standing};
use tonic::{Request, Response, Status};
use tt_clock::LocalClock;
use tt_core::LocalInstant;
use tt_hw::SourceCell;
use tt_proto::v1::true_time_server::TrueTime;
use tt_proto::v1::{Member, NowRequest, NowResponse, StatusRequest, StatusResponse};

/// What the service reads on each request.
pub struct MasterService<C> {
    cells: Vec<SourceCell>,
    rules: Rules,
    peers: PeerTable,
    peer_rules: PeerRules,
    clock: std::sync::Arc<C>,
    started: LocalInstant,
    served: std::sync::Mutex<Option<Served>>,
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
            cells,
            rules,
            peers,
            peer_rules,
            clock,
            started,
            served: std::sync::Mutex::new(None),
        }
    }

    /// Judges the sources and the peers now. The local clock is read once,
    /// after every state is copied, so every sample is older than the
    /// instant it is carried to (carrying forward widens; it never
    /// narrows).
    pub fn view(&self) -> View {
        let states = self.cells.iter().map(SourceCell::snapshot).collect();
        let peer_polls = peers::snapshot(&self.peers);
        let now = self.clock.now();
        let assessment = assess(states, now, &self.rules);
        let (standing, peers) = peers::judge(
            assessment.combined.as_ref().ok().copied(),
            &peer_polls,
            now,
            &self.peer_rules,
        );
        let view = View {
            assessment,
            standing,
            peers,
            now,
        };
        self.log_change(&view);
        view
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
                        "{} (accepted {}, rejected {})",
                        judged.state.detail, judged.state.accepted, judged.state.rejected
                    ),
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
            }
        }));
        Ok(Response::new(StatusResponse {
            role: "timemaster".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            combined: Some(now_response(&view)),
            quorum: u32::try_from(view.assessment.needed).unwrap_or(u32::MAX),
            max_falsetickers: u32::try_from(self.rules.max_falsetickers).unwrap_or(u32::MAX),
            members,
            uptime_ns: now.nanos_since(self.started),
            drift_ppb: self.rules.drift.ppb(),
        }))
    }
}
