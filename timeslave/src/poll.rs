//! Polling the masters: one reusable channel per master, one `Now` request
//! per master per round, all masters at once.
//!
//! A poll that gets no answer within the request timeout gives up its
//! channel: the next round opens a new connection. A path that stalls
//! (packets dropped, not refused) would otherwise keep the old connection
//! waiting in TCP's retransmission back-off, which doubles up to two
//! minutes, and the master would stay silent for that long after the path
//! came back; a new connection is tried at once each round.
//!
//! With `tls-ca` configured every channel is TLS and a master must prove
//! its name with a certificate from that CA (see `tt_ops::tls`); a master
//! that cannot is unreachable, with the reason, and gives no time. Answers
//! larger than `tt_ops::limit::MAX_NOW_ANSWER_BYTES` are refused.

use crate::combiner::{Combiner, Event, PollOutcome};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;
use tonic::transport::{Channel, Endpoint};
use tracing::Instrument;
use tt_core::{round_trip, Drift, LocalInstant};
use tt_ops::limit::{MAX_NOW_ANSWER_BYTES, MAX_REQUEST_BYTES};
use tt_ops::tls::ClientTls;
use tt_proto::v1::true_time_client::TrueTimeClient;
use tt_proto::v1::NowRequest;
use tt_proto::NowAnswer;

/// One master and its channel.
#[derive(Clone, Debug)]
pub struct Master {
    /// The configured address, its name in status and logs.
    pub name: String,
    /// Where the channel connects, or why it cannot (every poll reports
    /// it).
    endpoint: Result<Endpoint, String>,
    /// The channel, made from `endpoint`, renewed after a timeout.
    client: Result<TrueTimeClient<Channel>, String>,
    /// Whether the channel is plain HTTP/2 (no `tls-ca`).
    plain: bool,
}

impl Master {
    /// A master at `address`, configured as `authority` (`host:port`), over
    /// TLS when `tls` is given: its certificate must then be issued for
    /// the host of `authority`. The channel connects on first use and
    /// reconnects by itself after a failure; connecting (and the TLS
    /// handshake) counts against the request timeout like the request
    /// does.
    pub fn new(
        name: String,
        authority: &str,
        address: SocketAddr,
        request_timeout: Duration,
        tls: Option<&ClientTls>,
    ) -> Master {
        let server_name = tt_ops::tls::server_name(authority);
        let endpoint = tt_ops::tls::endpoint(address, server_name, tls)
            .map(|endpoint| endpoint.connect_timeout(request_timeout));
        Master {
            name,
            client: endpoint.as_ref().map(channel).map_err(Clone::clone),
            endpoint,
            plain: tls.is_none(),
        }
    }

    /// Drops the channel for a new one on a new connection, made when it
    /// is first used.
    fn renew(&mut self) {
        self.client = self.endpoint.as_ref().map(channel).map_err(Clone::clone);
    }
}

/// A client on a channel to `endpoint` that connects on first use.
fn channel(endpoint: &Endpoint) -> TrueTimeClient<Channel> {
    TrueTimeClient::new(endpoint.connect_lazy())
        .max_decoding_message_size(MAX_NOW_ANSWER_BYTES)
        .max_encoding_message_size(MAX_REQUEST_BYTES)
}

/// What one poll gave, and whether it ran out of time (its channel is then
/// renewed).
struct Polled {
    outcome: PollOutcome,
    timed_out: bool,
}

/// Asks `client` for its interval once.
///
/// The local clock is read right before the request is handed to the
/// channel (`L1`) and right after the answer arrives (`L4`); everything
/// between (connecting, queueing, decoding) only lengthens `L4 - L1`,
/// which widens the sample's upper end and so stays safe. The sample is
/// `tt_core::round_trip(master, L1, L4, rho)`.
pub async fn poll_once(
    client: &mut TrueTimeClient<Channel>,
    request_timeout: Duration,
    drift: Drift,
) -> PollOutcome {
    poll_timed(client, request_timeout, drift).await.outcome
}

/// [`poll_once`], saying whether the request timed out.
async fn poll_timed(
    client: &mut TrueTimeClient<Channel>,
    request_timeout: Duration,
    drift: Drift,
) -> Polled {
    let sent = tt_clock::boottime();
    let reply = tokio::time::timeout(request_timeout, client.now(NowRequest {})).await;
    let received = tt_clock::boottime();
    let outcome = match reply {
        Err(_) => {
            return Polled {
                outcome: PollOutcome::Unreachable(format!(
                    "no answer within {} ms; the next poll opens a new connection",
                    request_timeout.as_millis()
                )),
                timed_out: true,
            }
        }
        Ok(reply) => answer_outcome(reply, sent, received, drift),
    };
    Polled {
        outcome,
        timed_out: false,
    }
}

/// The outcome of a reply that came within the timeout.
fn answer_outcome(
    reply: Result<tonic::Response<tt_proto::v1::NowResponse>, tonic::Status>,
    sent: LocalInstant,
    received: LocalInstant,
    drift: Drift,
) -> PollOutcome {
    let response = match reply {
        Err(status) => return PollOutcome::Unreachable(describe_status(&status)),
        Ok(response) => response.into_inner(),
    };
    match response.check() {
        Ok(NowAnswer::Synchronized(interval)) => PollOutcome::Answer {
            sample: round_trip(interval, sent, received, drift),
            rtt_ns: received.nanos_since(sent),
        },
        Ok(NowAnswer::Unsynchronized(reason)) => PollOutcome::Unsynchronized(reason),
        Err(bad) => PollOutcome::Unreachable(format!("answered garbage: {bad}")),
    }
}

/// A gRPC error as one sentence: the code, the message and the transport
/// cause when there is one ("connection refused"); a TLS failure first,
/// in words a person can act on ("certificate not trusted: ...").
fn describe_status(status: &tonic::Status) -> String {
    let mut text = format!("{:?}: {}", status.code(), status.message());
    if let Some(tls) = tt_ops::tls::explain(status) {
        text = format!("{tls} ({text})");
    }
    let mut cause = std::error::Error::source(status);
    while let Some(error) = cause {
        let shown = error.to_string();
        if !text.contains(&shown) {
            text.push_str(": ");
            text.push_str(&shown);
        }
        cause = error.source();
    }
    text
}

/// Polls every master once per `poll_interval`, all at once, feeds the
/// outcomes to `combiner` and logs what changed. After each round,
/// `after_round` sees the combiner (still locked) and the local instant
/// the round ended at. Runs until cancelled.
pub async fn run(
    mut masters: Vec<Master>,
    combiner: Arc<Mutex<Combiner>>,
    poll_interval: Duration,
    request_timeout: Duration,
    mut after_round: impl FnMut(&Combiner, LocalInstant) + Send,
) {
    let drift = combiner.lock().expect("combiner lock").limits().drift;
    let mut ticker = tokio::time::interval(poll_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;

        let mut round = JoinSet::new();
        for (index, master) in masters.iter().enumerate() {
            let client = master.client.clone();
            let plain = master.plain;
            let span = tracing::info_span!("master", address = %master.name);
            round.spawn(
                async move {
                    let Polled { outcome, timed_out } = match client {
                        Ok(mut client) => poll_timed(&mut client, request_timeout, drift).await,
                        Err(error) => Polled {
                            outcome: PollOutcome::Unreachable(error),
                            timed_out: false,
                        },
                    };
                    // A master serving TLS to a slave polling in the clear
                    // only shows as a broken connection: say what it may be.
                    let outcome = match outcome {
                        PollOutcome::Unreachable(error) if plain => {
                            match tt_ops::tls::plaintext_hint(&error) {
                                Some(hint) => PollOutcome::Unreachable(format!("{error}; {hint}")),
                                None => PollOutcome::Unreachable(error),
                            }
                        }
                        other => other,
                    };
                    log_outcome(&outcome);
                    (index, outcome, timed_out)
                }
                .instrument(span),
            );
        }
        let mut outcomes = Vec::with_capacity(masters.len());
        while let Some(joined) = round.join_next().await {
            // A poll task only ends by returning; a panic in one would be a
            // bug, and leaves that master with no outcome this round.
            if let Ok((index, outcome, timed_out)) = joined {
                if timed_out {
                    if let Some(master) = masters.get_mut(index) {
                        master.renew();
                    }
                }
                outcomes.push((index, outcome));
            }
        }

        let events = {
            let mut combiner = combiner.lock().expect("combiner lock");
            for (index, outcome) in outcomes {
                combiner.record(index, outcome);
            }
            let ended = tt_clock::boottime();
            let events = combiner.combine(ended);
            after_round(&combiner, ended);
            events
        };
        for event in events {
            log_event(&event, &masters);
        }
    }
}

fn log_outcome(outcome: &PollOutcome) {
    match outcome {
        PollOutcome::Answer { sample, rtt_ns } => tracing::debug!(
            rtt_us = rtt_ns / 1000,
            width_us = sample.interval.width_ns() / 1000,
            "answer"
        ),
        PollOutcome::Unsynchronized(reason) => tracing::debug!(%reason, "unsynchronized answer"),
        PollOutcome::Unreachable(error) => tracing::debug!(%error, "no usable answer"),
    }
}

fn log_event(event: &Event, masters: &[Master]) {
    match event {
        Event::Synchronized { width_ns, usable } => tracing::info!(
            width_us = width_ns / 1000,
            usable_masters = usable,
            "synchronized"
        ),
        Event::LostQuorum { reason } => tracing::info!(
            %reason,
            "lost quorum; carrying the last combined interval forward"
        ),
        Event::Unsynchronized { reason } => tracing::info!(%reason, "unsynchronized"),
        Event::Master {
            index,
            verdict,
            detail,
        } => {
            let address = masters.get(*index).map_or("?", |m| m.name.as_str());
            let verdict = verdict.as_str();
            tracing::info!(master = %address, verdict, %detail, "master verdict changed");
        }
    }
}
