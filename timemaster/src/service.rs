//! The truetime.v1 service of a master: every answer judges the sources at
//! the instant the request is served.

use crate::assess::{assess, Assessment, Rules};
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
    clock: C,
    started: LocalInstant,
}

impl<C: LocalClock> MasterService<C> {
    /// A service over `cells`, judged by `rules`, reading `clock`.
    pub fn new(cells: Vec<SourceCell>, rules: Rules, clock: C) -> Self {
        let started = clock.now();
        MasterService {
            cells,
            rules,
            clock,
            started,
        }
    }

    /// Judges the sources now. The local clock is read once, after the
    /// sources' states are copied, so every sample is older than the
    /// instant it is carried to (carrying forward widens; it never
    /// narrows).
    pub fn assess_now(&self) -> (Assessment, LocalInstant) {
        let states = self.cells.iter().map(SourceCell::snapshot).collect();
        let now = self.clock.now();
        (assess(states, now, &self.rules), now)
    }
}

/// The `Now` answer for an assessment.
pub fn now_response(view: &Assessment) -> NowResponse {
    match &view.combined {
        Ok(interval) => NowResponse::synchronized(*interval),
        Err(reason) => NowResponse::unsynchronized(reason.clone()),
    }
}

#[tonic::async_trait]
impl<C: LocalClock + 'static> TrueTime for MasterService<C> {
    async fn now(&self, _request: Request<NowRequest>) -> Result<Response<NowResponse>, Status> {
        let (view, _) = self.assess_now();
        Ok(Response::new(now_response(&view)))
    }

    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let (view, now) = self.assess_now();
        let members = view
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
        Ok(Response::new(StatusResponse {
            role: "timemaster".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            combined: Some(now_response(&view)),
            quorum: u32::try_from(view.needed).unwrap_or(u32::MAX),
            max_falsetickers: u32::try_from(self.rules.max_falsetickers).unwrap_or(u32::MAX),
            members,
            uptime_ns: now.nanos_since(self.started),
            drift_ppb: self.rules.drift.ppb(),
        }))
    }
}
