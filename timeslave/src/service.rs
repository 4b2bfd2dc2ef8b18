//! The `truetime.v1` service of a slave: answers carry the combined
//! interval to the instant the request is served, and `History` gives what
//! was served over a recent window (see [`history`]).

pub mod history;

use crate::combiner::{Combiner, Verdict};
use history::Recorder;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tonic::{Request, Response, Status};
use tt_clock::LocalClock;
use tt_core::{LocalInstant, NANOS_PER_SEC};
use tt_proto::v1::true_time_server::TrueTime;
use tt_proto::v1::{
    self as proto, HistoryRequest, HistoryResponse, Member, NowRequest, NowResponse, StatusRequest,
    StatusResponse,
};

/// What the service reads on each request.
pub struct SlaveService<C> {
    combiner: Arc<Mutex<Combiner>>,
    names: Mutex<Vec<String>>,
    clock: Arc<C>,
    started: LocalInstant,
    history: Arc<Mutex<Recorder>>,
    /// Set once the poll loop reports its rounds itself.
    rounds_reported: Arc<AtomicBool>,
}

impl<C: LocalClock + 'static> SlaveService<C> {
    /// A service over `combiner`, whose masters are called `names`, reading
    /// the local instant from `clock`.
    ///
    /// Inside a tokio runtime it also starts the task that records the
    /// history (see [`history`]); the task ends when the service is
    /// dropped. Outside one, only [`SlaveService::record_round`] records.
    pub fn new(combiner: Arc<Mutex<Combiner>>, names: Vec<String>, clock: C) -> Self {
        let clock = Arc::new(clock);
        let started = clock.now();
        let history = Arc::new(Mutex::new(Recorder::new(&names)));
        let rounds_reported = Arc::new(AtomicBool::new(false));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(record(
                Arc::downgrade(&history),
                Arc::clone(&combiner),
                Arc::clone(&clock),
                Arc::clone(&rounds_reported),
            ));
        }
        SlaveService {
            combiner,
            names: Mutex::new(names),
            clock,
            started,
            history,
            rounds_reported,
        }
    }

    /// Renames the masters to `names` and lets `change` reconfigure the
    /// combiner, both under the combiner's lock, so that no answer sees the
    /// new masters under the old names. When the masters change, the
    /// history starts afresh: its points are kept per master.
    pub fn reconfigure(&self, names: Vec<String>, change: impl FnOnce(&mut Combiner)) {
        let mut combiner = self.combiner.lock().expect("combiner lock");
        change(&mut combiner);
        let mut current = self.names.lock().expect("names lock");
        if *current != names {
            *self.history.lock().unwrap_or_else(|p| p.into_inner()) = Recorder::new(&names);
        }
        *current = names;
    }

    /// Records the round that just ended at `ended`, with `combiner` as it
    /// left it (the poll loop calls this with the combiner still locked).
    /// From the first call on, the recording task stops guessing rounds
    /// from the combiner and only adds points between them.
    pub fn record_round(&self, combiner: &Combiner, ended: LocalInstant) {
        self.rounds_reported.store(true, Ordering::Relaxed);
        let behind_ns = self.clock.now().nanos_since(ended).max(0);
        let system = tt_clock::realtime_ns().saturating_sub(behind_ns);
        let mut recorder = self.history.lock().unwrap_or_else(|p| p.into_inner());
        recorder.round(combiner, ended, system);
    }

    /// The answer to `History`: the points of the last `window_s` seconds
    /// (all kept for 0).
    pub fn history_response(&self, window_s: u32) -> HistoryResponse {
        let drift_ppb = self
            .combiner
            .lock()
            .expect("combiner lock")
            .limits()
            .drift
            .ppb();
        let recorder = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.clock.now();
        let (points, events) = recorder
            .ring
            .answer(i64::from(window_s).saturating_mul(NANOS_PER_SEC), now);
        HistoryResponse {
            role: "timeslave".to_string(),
            now_local_ns: now.nanos(),
            drift_ppb,
            members: recorder.ring.members().to_vec(),
            points,
            events,
            capacity: u32::try_from(recorder.ring.capacity()).unwrap_or(u32::MAX),
        }
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
                accepted: None,
                rejected: None,
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

    async fn history(
        &self,
        request: Request<HistoryRequest>,
    ) -> Result<Response<HistoryResponse>, Status> {
        Ok(Response::new(
            self.history_response(request.into_inner().window_s),
        ))
    }
}

/// Looks at the combiner every [`history::TICK`] and records (see
/// [`history::Recorder::tick`]) until the service is dropped.
async fn record<C: LocalClock>(
    history: Weak<Mutex<Recorder>>,
    combiner: Arc<Mutex<Combiner>>,
    clock: Arc<C>,
    rounds_reported: Arc<AtomicBool>,
) {
    let mut ticker = tokio::time::interval(history::TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(history) = history.upgrade() else {
            return;
        };
        let Ok(combiner) = combiner.lock() else {
            return;
        };
        let at = clock.now();
        let system = tt_clock::realtime_ns();
        let mut recorder = history.lock().unwrap_or_else(|p| p.into_inner());
        recorder.tick(
            &combiner,
            at,
            system,
            !rounds_reported.load(Ordering::Relaxed),
        );
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
