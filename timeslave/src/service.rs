//! The `truetime.v1` service of a slave: answers carry the combined
//! interval to the instant the request is served.

use crate::combiner::{Combiner, Verdict};
use std::sync::{Arc, Mutex};
use tonic::{Request, Response, Status};
use tt_clock::LocalClock;
use tt_core::LocalInstant;
use tt_proto::v1::true_time_server::TrueTime;
use tt_proto::v1::{self as proto, Member, NowRequest, NowResponse, StatusRequest, StatusResponse};

/// What the service reads on each request.
pub struct SlaveService<C> {
    combiner: Arc<Mutex<Combiner>>,
    names: Mutex<Vec<String>>,
    clock: C,
    started: LocalInstant,
}

impl<C: LocalClock> SlaveService<C> {
    /// A service over `combiner`, whose masters are called `names`, reading
    /// the local instant from `clock`.
    pub fn new(combiner: Arc<Mutex<Combiner>>, names: Vec<String>, clock: C) -> Self {
        let started = clock.now();
        SlaveService {
            combiner,
            names: Mutex::new(names),
            clock,
            started,
        }
    }

    /// Renames the masters to `names` and lets `change` reconfigure the
    /// combiner, both under the combiner's lock, so that no answer sees the
    /// new masters under the old names.
    pub fn reconfigure(&self, names: Vec<String>, change: impl FnOnce(&mut Combiner)) {
        let mut combiner = self.combiner.lock().expect("combiner lock");
        change(&mut combiner);
        *self.names.lock().expect("names lock") = names;
    }

    /// The answer to `Now` at this instant.
    pub fn now_response(&self) -> NowResponse {
        let combiner = self.combiner.lock().expect("combiner lock");
        // Read under the lock, so the combined sample cannot be renewed
        // between the read and its use.
        let at = self.clock.now();
        answer(combiner.now(at))
    }

    /// The answer to `Status` at this instant.
    pub fn status_response(&self) -> StatusResponse {
        let combiner = self.combiner.lock().expect("combiner lock");
        let at = self.clock.now();
        let names = self.names.lock().expect("names lock").clone();
        let members = combiner
            .members(at)
            .into_iter()
            .zip(&names)
            .map(|(view, name)| Member {
                name: name.clone(),
                kind: "master".to_string(),
                has_interval: view.interval.is_some(),
                earliest_unix_ns: view.interval.map_or(0, |iv| iv.earliest().unix_nanos()),
                latest_unix_ns: view.interval.map_or(0, |iv| iv.latest().unix_nanos()),
                age_ns: view.age_ns,
                verdict: wire_verdict(view.verdict) as i32,
                detail: view.detail,
            })
            .collect();
        let limits = combiner.limits();
        StatusResponse {
            role: "timeslave".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            combined: Some(answer(combiner.now(at))),
            quorum: u32::try_from(combiner.quorum()).unwrap_or(u32::MAX),
            max_falsetickers: u32::try_from(limits.max_falsetickers).unwrap_or(u32::MAX),
            members,
            uptime_ns: at.nanos_since(self.started),
            drift_ppb: limits.drift.ppb(),
        }
    }
}

fn answer(combined: Result<tt_core::Interval, String>) -> NowResponse {
    match combined {
        Ok(interval) => NowResponse::synchronized(interval),
        Err(reason) => NowResponse::unsynchronized(reason),
    }
}

/// The wire verdict. "Undecided" has no value of its own in the protocol;
/// it goes out as unspecified, with the reason in the member's detail.
fn wire_verdict(verdict: Verdict) -> proto::Verdict {
    match verdict {
        Verdict::InMajority => proto::Verdict::InMajority,
        Verdict::Falseticker => proto::Verdict::Falseticker,
        Verdict::Unreachable => proto::Verdict::Unreachable,
        Verdict::Unsynchronized => proto::Verdict::Unsynchronized,
        Verdict::Stale => proto::Verdict::Stale,
        Verdict::NoData => proto::Verdict::NoData,
        Verdict::Undecided => proto::Verdict::Unspecified,
    }
}

#[tonic::async_trait]
impl<C: LocalClock + 'static> TrueTime for SlaveService<C> {
    async fn now(&self, _request: Request<NowRequest>) -> Result<Response<NowResponse>, Status> {
        Ok(Response::new(self.now_response()))
    }

    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        Ok(Response::new(self.status_response()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::combiner::{Limits, PollOutcome};
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::time::Duration;
    use tt_core::{Drift, Interval, Sample};

    /// A clock the test sets.
    struct SetClock(Arc<AtomicI64>);

    impl LocalClock for SetClock {
        fn now(&self) -> LocalInstant {
            LocalInstant::from_nanos(self.0.load(Ordering::SeqCst))
        }
    }

    #[test]
    fn status_reports_members_combined_and_uptime_at_the_request_instant() {
        let limits = Limits {
            max_falsetickers: 1,
            drift: Drift::from_ppm(100),
            max_sample_age: Duration::from_secs(2),
            max_holdover: Duration::from_secs(60),
        };
        let combiner = Arc::new(Mutex::new(Combiner::new(3, limits)));
        let clock = Arc::new(AtomicI64::new(1_000));
        let service = SlaveService::new(
            Arc::clone(&combiner),
            vec!["a:1".into(), "b:2".into(), "c:3".into()],
            SetClock(Arc::clone(&clock)),
        );
        {
            let mut combiner = combiner.lock().unwrap();
            let sample = |e, l| PollOutcome::Answer {
                sample: Sample::new(
                    LocalInstant::from_nanos(1_000),
                    Interval::from_unix_nanos(e, l).unwrap(),
                ),
                rtt_ns: 0,
            };
            combiner.record(0, sample(100, 300));
            combiner.record(1, sample(200, 400));
            combiner.record(2, PollOutcome::Unreachable("refused".into()));
            combiner.combine(LocalInstant::from_nanos(1_000));
        }

        // 10 ms after start; at 100 ppm, 1 us each side. Two usable, f = 1:
        // either may lie, so the combined interval is the hull of the
        // points one of them covers, [100, 400], carried forward.
        clock.store(10_001_000, Ordering::SeqCst);
        let status = service.status_response();
        assert_eq!(status.role, "timeslave");
        assert_eq!(status.uptime_ns, 10_000_000);
        assert_eq!(status.drift_ppb, 100_000);
        assert_eq!(status.max_falsetickers, 1);
        assert_eq!(status.quorum, 1);
        let combined = status.combined.unwrap();
        assert_eq!(combined.status, proto::SyncStatus::Synchronized as i32);
        assert_eq!(combined.earliest_unix_ns, 100 + 10_000_000 - 1_000);
        assert_eq!(combined.latest_unix_ns, 400 + 10_000_000 + 1_000);

        let a = &status.members[0];
        assert_eq!(a.name, "a:1");
        assert_eq!(a.kind, "master");
        assert!(a.has_interval);
        assert_eq!(a.earliest_unix_ns, 100 + 10_000_000 - 1_000);
        assert_eq!(a.latest_unix_ns, 300 + 10_000_000 + 1_000);
        assert_eq!(a.age_ns, 10_000_000);
        assert_eq!(a.verdict, proto::Verdict::InMajority as i32);
        let c = &status.members[2];
        assert!(!c.has_interval);
        assert_eq!(c.age_ns, -1);
        assert_eq!(c.verdict, proto::Verdict::Unreachable as i32);
        assert_eq!(c.detail, "refused");
    }
}
