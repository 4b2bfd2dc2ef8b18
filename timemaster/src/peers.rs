//! Peer checking: a master compares itself with the other masters it is
//! configured to know, and takes itself out of service when it disagrees
//! with what they agree on.
//!
//! Every poll interval the master asks each peer for `Now`, reading its
//! local clock just before the request (`L1`) and just after the answer
//! (`L4`), and keeps the sample `tt_core::round_trip` makes of it: at
//! `L4` true time is in `[Em, Am + (L4 - L1)(1 + rho)]`.
//!
//! When the master answers, it carries every fresh peer sample to the
//! instant of its answer and intersects them with `f = peer-max-falsetickers`
//! ([`tt_core::intersect`]): if the peers hold at most `f` liars, true time
//! lies in their agreement `P`. Its own combined interval `O` also holds
//! truth if its sources are right, so `O` and `P` must overlap. If they do
//! not, at least one side is wrong; a master outvoted by its peers cannot
//! know its sources are right, so it stops serving (`Now` answers
//! "unsynchronized" and says why) until `O` and `P` overlap again.
//!
//! Without an agreement among the peers (too few answer, or they disagree
//! among themselves) there is nothing to be outvoted by, and the master
//! keeps serving on its own sources. A peer that reports itself
//! unsynchronized, answers garbage or does not answer takes no part.
//!
//! With `tls-ca` configured peers are polled over TLS, as a slave polls
//! masters (see `tt_ops::tls`): a peer whose certificate does not chain to
//! that CA, or is not issued for the host it is configured by, is
//! unreachable ("certificate not trusted") and takes no part either. The
//! master presents its own `tls-cert` to peers that require a client
//! certificate.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tt_clock::LocalClock;
use tt_core::{intersect, round_trip, Drift, Interval, LocalInstant, Sample};
use tt_ops::limit::{MAX_NOW_ANSWER_BYTES, MAX_REQUEST_BYTES};
use tt_ops::tls::ClientTls;
use tt_proto::v1::true_time_client::TrueTimeClient;
use tt_proto::v1::{NowRequest, Verdict};
use tt_proto::NowAnswer;

/// The last poll of one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerPoll {
    /// Not polled yet.
    Pending,
    /// A synchronized answer, as a sample at the instant it was received.
    Answer(Sample),
    /// It answered that it is unsynchronized; its reason.
    Unsynchronized(String),
    /// No usable answer; the error.
    Unreachable(String),
}

/// One peer: its address and its last poll.
#[derive(Clone, Debug)]
pub struct Peer {
    /// host:port as configured.
    pub address: String,
    /// The last poll's outcome.
    pub last: PeerPoll,
}

/// The peers' polls, shared between the poller task and the service.
pub type PeerTable = Arc<Mutex<Vec<Peer>>>;

/// How the master stands against its peers at one instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// No peers are configured.
    Alone,
    /// The peers reached no agreement; the master serves on its own
    /// sources. The text says why.
    NoAgreement(String),
    /// The master's interval overlaps the peers' agreement.
    Agrees,
    /// The master's interval lies outside the peers' agreement: out of
    /// service. The text says so with both intervals.
    Outvoted(String),
}

/// One peer as judged.
#[derive(Clone, Debug)]
pub struct JudgedPeer {
    /// Its address.
    pub address: String,
    /// Its sample carried to the instant judged, if fresh.
    pub interval: Option<Interval>,
    /// Local nanoseconds since its last good answer.
    pub age_ns: Option<i64>,
    /// Its verdict.
    pub verdict: Verdict,
    /// A sentence for people.
    pub detail: String,
}

/// The rules peers are judged by.
#[derive(Clone, Copy, Debug)]
pub struct PeerRules {
    /// The local oscillator's rate bound.
    pub drift: Drift,
    /// How many peers may be wrong at once.
    pub max_falsetickers: usize,
    /// A peer's answer counts for this long, local nanoseconds.
    pub max_age_ns: i64,
}

/// Judges the master's own interval `own` against `peers` at `now`; see
/// the module documentation for the rule.
pub fn judge(
    own: Option<Interval>,
    peers: &[Peer],
    now: LocalInstant,
    rules: &PeerRules,
) -> (Standing, Vec<JudgedPeer>) {
    let mut judged: Vec<JudgedPeer> = peers
        .iter()
        .map(|peer| judge_peer(peer, now, rules))
        .collect();
    if judged.is_empty() {
        return (Standing::Alone, judged);
    }

    let usable: Vec<usize> = (0..judged.len())
        .filter(|&i| judged[i].interval.is_some())
        .collect();
    let intervals: Vec<Interval> = usable.iter().filter_map(|&i| judged[i].interval).collect();
    // Only a majority of the configured peers may outvote this master: all
    // but f of them must answer. Otherwise, with the honest peers silent
    // (starting, or themselves out of service), one lying peer could take
    // an honest master out of service, and the outage could spread.
    let required = judged.len().saturating_sub(rules.max_falsetickers);
    if intervals.len() < required {
        return (
            Standing::NoAgreement(format!(
                "only {} of {} peers answer; {required} are needed to judge this master",
                intervals.len(),
                judged.len()
            )),
            judged,
        );
    }
    let agreement = match intersect(&intervals, rules.max_falsetickers) {
        Ok(agreement) => agreement,
        Err(e) => return (Standing::NoAgreement(format!("peers: {e}")), judged),
    };
    for (slot, &i) in usable.iter().enumerate() {
        judged[i].verdict = if agreement.in_majority[slot] {
            Verdict::InMajority
        } else {
            Verdict::Falseticker
        };
    }

    let standing = match own {
        None => Standing::NoAgreement("this master has no interval of its own to compare".into()),
        Some(own) if own.overlaps(&agreement.interval) => Standing::Agrees,
        Some(own) => {
            let offset_ms = (own.midpoint().unix_nanos() as i128
                - agreement.interval.midpoint().unix_nanos() as i128)
                / 1_000_000;
            Standing::Outvoted(format!(
                "out of service: this master's interval {own} lies outside its peers' agreement {} \
                 ({offset_ms:+} ms); check its sources",
                agreement.interval
            ))
        }
    };
    (standing, judged)
}

fn judge_peer(peer: &Peer, now: LocalInstant, rules: &PeerRules) -> JudgedPeer {
    let (interval, age_ns, verdict, detail) = match &peer.last {
        PeerPoll::Pending => (None, None, Verdict::NoData, "not polled yet".to_string()),
        PeerPoll::Unreachable(error) => (None, None, Verdict::Unreachable, error.clone()),
        PeerPoll::Unsynchronized(reason) => (
            None,
            None,
            Verdict::Unsynchronized,
            format!("reports itself unsynchronized: {reason}"),
        ),
        PeerPoll::Answer(sample) => {
            let age_ns = now.nanos_since(sample.local);
            if age_ns > rules.max_age_ns {
                (
                    None,
                    Some(age_ns),
                    Verdict::Stale,
                    format!("last answer is {} ms old", age_ns / 1_000_000),
                )
            } else {
                (
                    Some(sample.at(now, rules.drift)),
                    Some(age_ns),
                    Verdict::NoData,
                    "answered".to_string(),
                )
            }
        }
    };
    JudgedPeer {
        address: peer.address.clone(),
        interval,
        age_ns,
        verdict,
        detail,
    }
}

/// Polls every peer once per `interval`, forever, each from a task of its
/// own so that a slow peer delays nobody; every outcome goes into `table`.
/// Each request gets at most `timeout`; with `tls` the peers are polled
/// over TLS. The tasks' handles are returned so that a reload can stop
/// them (abort, then await) before it changes the table.
pub fn spawn_pollers<C: LocalClock + 'static>(
    table: &PeerTable,
    clock: Arc<C>,
    drift: Drift,
    interval: Duration,
    timeout: Duration,
    tls: Option<&ClientTls>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let count = lock(table).len();
    let mut handles = Vec::with_capacity(count);
    for index in 0..count {
        let table = Arc::clone(table);
        let clock = Arc::clone(&clock);
        let tls = tls.cloned();
        handles.push(tokio::spawn(async move {
            let address = lock(&table)[index].address.clone();
            let mut client = None;
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let outcome = poll_one(
                    &address,
                    &mut client,
                    tls.as_ref(),
                    clock.as_ref(),
                    drift,
                    timeout,
                )
                .await;
                let mut peers = lock(&table);
                log_change(&address, &peers[index].last, &outcome);
                peers[index].last = outcome;
            }
        }));
    }
    handles
}

fn log_change(address: &str, before: &PeerPoll, after: &PeerPoll) {
    let kind = |p: &PeerPoll| std::mem::discriminant(p);
    if kind(before) == kind(after) {
        return;
    }
    match after {
        PeerPoll::Answer(_) => tracing::info!(peer = address, "peer answers"),
        PeerPoll::Unsynchronized(reason) => {
            tracing::info!(peer = address, %reason, "peer is unsynchronized")
        }
        PeerPoll::Unreachable(error) => tracing::warn!(peer = address, %error, "peer unreachable"),
        PeerPoll::Pending => {}
    }
}

async fn poll_one<C: LocalClock>(
    address: &str,
    client: &mut Option<TrueTimeClient<tonic::transport::Channel>>,
    tls: Option<&ClientTls>,
    clock: &C,
    drift: Drift,
    timeout: Duration,
) -> PeerPoll {
    if client.is_none() {
        let server_name = tt_ops::tls::server_name(address);
        let endpoint = match tt_ops::tls::endpoint(address, server_name, tls) {
            Ok(endpoint) => endpoint.connect_timeout(timeout).timeout(timeout),
            Err(e) => return PeerPoll::Unreachable(format!("peer address {address}: {e}")),
        };
        // A lazy channel connects on first use and reconnects by itself.
        *client = Some(
            TrueTimeClient::new(endpoint.connect_lazy())
                .max_decoding_message_size(MAX_NOW_ANSWER_BYTES)
                .max_encoding_message_size(MAX_REQUEST_BYTES),
        );
    }
    let Some(client) = client.as_mut() else {
        return PeerPoll::Unreachable("no channel".to_string());
    };

    let sent = clock.now();
    let reply = tokio::time::timeout(timeout, client.now(NowRequest {})).await;
    let received = clock.now();
    let answer = match reply {
        Err(_) => {
            return PeerPoll::Unreachable(format!(
                "peer {address} gave no answer within {} ms",
                timeout.as_millis()
            ))
        }
        Ok(Err(status)) => {
            let hint = match tls {
                None => tt_ops::tls::plaintext_hint(&tt_ops::tls::chain(&status)),
                Some(_) => None,
            };
            return PeerPoll::Unreachable(match (tt_ops::tls::explain(&status), hint) {
                (Some(tls), _) => format!("peer {address}: {tls}"),
                (None, Some(hint)) => format!("peer {address}: {}; {hint}", status.message()),
                (None, None) => format!("peer {address}: {}", status.message()),
            });
        }
        Ok(Ok(reply)) => reply.into_inner(),
    };
    match answer.check() {
        Ok(NowAnswer::Synchronized(interval)) => {
            PeerPoll::Answer(round_trip(interval, sent, received, drift))
        }
        Ok(NowAnswer::Unsynchronized(reason)) => PeerPoll::Unsynchronized(reason),
        Err(e) => PeerPoll::Unreachable(format!("peer {address} answered garbage: {e}")),
    }
}

fn lock(table: &PeerTable) -> std::sync::MutexGuard<'_, Vec<Peer>> {
    table
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A copy of the peers' polls.
pub fn snapshot(table: &PeerTable) -> Vec<Peer> {
    lock(table).clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tt_core::NANOS_PER_SEC;

    const RULES: PeerRules = PeerRules {
        drift: Drift::from_ppm(200),
        max_falsetickers: 0,
        max_age_ns: 3 * NANOS_PER_SEC,
    };

    fn iv(e: i64, l: i64) -> Interval {
        Interval::from_unix_nanos(e, l).unwrap()
    }

    fn answered(address: &str, e: i64, l: i64) -> Peer {
        Peer {
            address: address.to_string(),
            last: PeerPoll::Answer(Sample::new(LocalInstant::from_nanos(0), iv(e, l))),
        }
    }

    #[test]
    fn a_master_two_seconds_off_is_outvoted() {
        let s = NANOS_PER_SEC;
        // Peers agree on [100 ms, 120 ms] around truth; this master's GPS
        // says 2 s later.
        let peers = [
            answered("b", 100_000_000, 130_000_000),
            answered("c", 90_000_000, 120_000_000),
        ];
        let own = iv(2 * s + 100_000_000, 2 * s + 120_000_000);
        let (standing, judged) = judge(Some(own), &peers, LocalInstant::from_nanos(0), &RULES);
        assert!(
            matches!(standing, Standing::Outvoted(ref why) if why.contains("+2000 ms")),
            "{standing:?}"
        );
        assert!(judged.iter().all(|p| p.verdict == Verdict::InMajority));
    }

    #[test]
    fn an_honest_master_agrees_and_a_lone_liar_peer_cannot_outvote_it() {
        // Peers b (honest) and c (2 s off) have no agreement with f = 0:
        // the honest master keeps serving.
        let s = NANOS_PER_SEC;
        let peers = [answered("b", 0, 30), answered("c", 2 * s, 2 * s + 30)];
        let (standing, _) = judge(
            Some(iv(10, 20)),
            &peers,
            LocalInstant::from_nanos(0),
            &RULES,
        );
        assert!(matches!(standing, Standing::NoAgreement(_)), "{standing:?}");
        // With both peers honest it agrees; touching ends count.
        let peers = [answered("b", 0, 30), answered("c", 20, 40)];
        let (standing, _) = judge(
            Some(iv(30, 50)),
            &peers,
            LocalInstant::from_nanos(0),
            &RULES,
        );
        assert_eq!(standing, Standing::Agrees);
    }

    #[test]
    fn unreachable_stale_and_unsynchronized_peers_take_no_part() {
        let peers = [
            Peer {
                address: "down".into(),
                last: PeerPoll::Unreachable("refused".into()),
            },
            Peer {
                address: "lost".into(),
                last: PeerPoll::Unsynchronized("no fix".into()),
            },
            answered("old", 0, 10),
        ];
        let later = LocalInstant::from_nanos(3 * NANOS_PER_SEC + 1);
        let (standing, judged) = judge(Some(iv(0, 10)), &peers, later, &RULES);
        assert!(matches!(standing, Standing::NoAgreement(_)), "{standing:?}");
        let verdicts: Vec<Verdict> = judged.iter().map(|p| p.verdict).collect();
        assert_eq!(
            verdicts,
            vec![
                Verdict::Unreachable,
                Verdict::Unsynchronized,
                Verdict::Stale
            ]
        );
    }

    #[test]
    fn peers_are_carried_to_the_instant_judged() {
        // A peer sample [0, 0] at local 0, judged 1 s later at 200 ppm, is
        // [1 s - 200 us, 1 s + 200 us]: an own interval ending 150 us
        // before 1 s still overlaps it; one ending 250 us before does not.
        let s = NANOS_PER_SEC;
        let peers = [answered("b", 0, 0)];
        let at = LocalInstant::from_nanos(s);
        let (standing, _) = judge(Some(iv(0, s - 150_000)), &peers, at, &RULES);
        assert_eq!(standing, Standing::Agrees);
        let (standing, _) = judge(Some(iv(0, s - 250_000)), &peers, at, &RULES);
        assert!(matches!(standing, Standing::Outvoted(_)));
    }

    #[test]
    fn one_lying_peer_cannot_outvote_while_the_honest_one_is_silent() {
        // Two peers, f = 0: the honest one has not answered yet, the other
        // is 2 s off. Both must answer before this master can be judged.
        let s = NANOS_PER_SEC;
        let peers = [
            Peer {
                address: "honest".into(),
                last: PeerPoll::Pending,
            },
            answered("liar", 2 * s, 2 * s + 30),
        ];
        let (standing, _) = judge(Some(iv(0, 30)), &peers, LocalInstant::from_nanos(0), &RULES);
        assert!(
            matches!(standing, Standing::NoAgreement(ref why) if why.contains("1 of 2 peers")),
            "{standing:?}"
        );
    }

    #[test]
    fn no_peers_means_alone() {
        let (standing, judged) = judge(Some(iv(0, 1)), &[], LocalInstant::from_nanos(0), &RULES);
        assert_eq!(standing, Standing::Alone);
        assert!(judged.is_empty());
    }
}
