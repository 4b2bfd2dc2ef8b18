//! The gRPC server both daemons run ([`router`]): the truetime service and
//! what is added to it: request counts per method (a tower layer), the
//! standard health service (`grpc.health.v1`) and server reflection
//! (`grpc.reflection.v1` and `v1alpha`), so that generic tools such as
//! grpcurl and grpc_health_probe work against them, all within the limits
//! of [`crate::limit`].

use crate::limit::{
    RateLimitLayer, CONCURRENCY_PER_CONNECTION, MAX_ANSWER_BYTES, MAX_REQUEST_BYTES,
    STREAMS_PER_CONNECTION,
};
use crate::prom::{Exposition, Kind, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tonic::codegen::http;
use tonic::codegen::BoxFuture;
use tonic::transport::server::Router;
use tonic::transport::{Server, ServerTlsConfig};
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;
use tower::layer::util::{Identity, Stack};
use tt_proto::v1::true_time_server::{TrueTime, TrueTimeServer};

/// The layers around every route, outermost first: the request counts
/// (which so also count the requests the rate refuses), then the rate.
pub type Layers = Stack<RateLimitLayer, Stack<CountLayer, Identity>>;

/// A daemon's gRPC server, ready to serve on any number of listeners
/// (clone it for each; the clones share one rate budget): `service` (the
/// truetime service), `health` and reflection, at most `requests_per_s`
/// requests a second, counted into `counters`, with the per-connection
/// limits and message sizes of [`crate::limit`]; over TLS with `tls`.
pub fn router<T: TrueTime, H: Health>(
    tls: Option<&ServerTlsConfig>,
    requests_per_s: u32,
    counters: Arc<GrpcCounters>,
    health: HealthServer<H>,
    service: Arc<T>,
) -> Result<Router<Layers>, String> {
    let mut server = Server::builder()
        .concurrency_limit_per_connection(CONCURRENCY_PER_CONNECTION)
        .max_concurrent_streams(STREAMS_PER_CONNECTION);
    if let Some(tls) = tls {
        server = server
            .tls_config(tls.clone())
            .map_err(|e| format!("TLS: {e}"))?;
    }
    Ok(server
        .layer(CountLayer::new(counters))
        .layer(RateLimitLayer::new(requests_per_s))
        .add_service(health.max_decoding_message_size(MAX_REQUEST_BYTES))
        .add_service(
            reflection_v1(tt_proto::FILE_DESCRIPTOR_SET)
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            reflection_v1alpha(tt_proto::FILE_DESCRIPTOR_SET)
                .max_decoding_message_size(MAX_REQUEST_BYTES),
        )
        .add_service(
            TrueTimeServer::from_arc(service)
                .max_decoding_message_size(MAX_REQUEST_BYTES)
                .max_encoding_message_size(MAX_ANSWER_BYTES),
        ))
}

/// The most distinct methods counted by name; later ones are counted
/// together under the method `other`, so a client inventing paths cannot
/// grow the table (or the exposition) without end.
pub const MAX_METHODS: usize = 32;

/// Requests and errors per method.
#[derive(Debug, Default)]
pub struct GrpcCounters {
    by_method: Mutex<BTreeMap<(String, String), (u64, u64)>>,
}

impl GrpcCounters {
    /// Empty counters.
    pub fn new() -> Arc<GrpcCounters> {
        Arc::new(GrpcCounters::default())
    }

    fn count(&self, path: &str, failed: bool) {
        let (service, method) = split_path(path);
        let mut table = self
            .by_method
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut key = (service, method);
        if !table.contains_key(&key) && table.len() >= MAX_METHODS {
            key = ("other".to_string(), "other".to_string());
        }
        let entry = table.entry(key).or_default();
        entry.0 += 1;
        if failed {
            entry.1 += 1;
        }
    }

    /// The counts so far: `((service, method), (requests, errors))`.
    pub fn snapshot(&self) -> Vec<((String, String), (u64, u64))> {
        self.by_method
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .map(|(key, counts)| (key.clone(), *counts))
            .collect()
    }

    /// Writes `<prefix>_grpc_requests_total` and
    /// `<prefix>_grpc_errors_total`, labelled by service and method.
    pub fn write(&self, out: &mut Exposition, prefix: &str) {
        let counts = self.snapshot();
        let requests = format!("{prefix}_grpc_requests_total");
        out.family(
            &requests,
            Kind::Counter,
            "gRPC requests received, by service and method.",
        );
        for ((service, method), (total, _)) in &counts {
            out.sample(
                &requests,
                &[("service", service), ("method", method)],
                Value::Count(*total),
            );
        }
        let errors = format!("{prefix}_grpc_errors_total");
        out.family(
            &errors,
            Kind::Counter,
            "gRPC requests answered with an error: a status other than OK in the response \
             headers, an HTTP status other than 200, or a failed call. Errors a streaming call \
             reports only in its trailers are not counted.",
        );
        for ((service, method), (_, failed)) in &counts {
            out.sample(
                &errors,
                &[("service", service), ("method", method)],
                Value::Count(*failed),
            );
        }
    }
}

/// `/package.Service/Method` as `(package.Service, Method)`; anything
/// else, or names longer than 128 bytes, as `(other, other)`.
fn split_path(path: &str) -> (String, String) {
    let other = || ("other".to_string(), "other".to_string());
    let Some(rest) = path.strip_prefix('/') else {
        return other();
    };
    let Some((service, method)) = rest.split_once('/') else {
        return other();
    };
    let plain = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    };
    if plain(service) && plain(method) {
        (service.to_string(), method.to_string())
    } else {
        other()
    }
}

/// A tower layer that counts every request into [`GrpcCounters`].
#[derive(Clone, Debug)]
pub struct CountLayer {
    counters: Arc<GrpcCounters>,
}

impl CountLayer {
    /// A layer counting into `counters`.
    pub fn new(counters: Arc<GrpcCounters>) -> CountLayer {
        CountLayer { counters }
    }
}

impl<S> tower::Layer<S> for CountLayer {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            counters: Arc::clone(&self.counters),
        }
    }
}

/// The service [`CountLayer`] wraps around the server's routes.
#[derive(Clone, Debug)]
pub struct Counted<S> {
    inner: S,
    counters: Arc<GrpcCounters>,
}

impl<S, B, R> tower::Service<http::Request<B>> for Counted<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<http::Response<R>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_string();
        let counters = Arc::clone(&self.counters);
        let answer = self.inner.call(request);
        Box::pin(async move {
            let result = answer.await;
            let failed = match &result {
                Ok(response) => {
                    let grpc_failed = response
                        .headers()
                        .get("grpc-status")
                        .is_some_and(|status| status.as_bytes() != b"0");
                    response.status() != http::StatusCode::OK || grpc_failed
                }
                Err(_) => true,
            };
            counters.count(&path, failed);
            result
        })
    }
}

/// The services whose health is reported: the whole server (`""`) and the
/// truetime service.
pub const HEALTH_NAMES: [&str; 2] = ["", "truetime.v1.TrueTime"];

/// Sets the health of [`HEALTH_NAMES`]: `SERVING` while synchronized,
/// `NOT_SERVING` otherwise, telling the reporter only of changes.
#[derive(Clone)]
pub struct HealthState {
    reporter: HealthReporter,
    last: Arc<Mutex<Option<bool>>>,
}

impl HealthState {
    /// The health service to add to a server, and the state that sets
    /// what it reports: `NOT_SERVING` until the first [`HealthState::set`].
    pub async fn start() -> (
        HealthState,
        tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
    ) {
        let (reporter, server) = tonic_health::server::health_reporter();
        (HealthState::new(reporter).await, server)
    }

    /// Health reported through `reporter`, `NOT_SERVING` until the first
    /// [`HealthState::set`].
    pub async fn new(reporter: HealthReporter) -> HealthState {
        for name in HEALTH_NAMES {
            reporter
                .set_service_status(name, ServingStatus::NotServing)
                .await;
        }
        HealthState {
            reporter,
            last: Arc::new(Mutex::new(None)),
        }
    }

    /// Reports `synchronized`.
    pub async fn set(&self, synchronized: bool) {
        {
            let mut last = self
                .last
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if *last == Some(synchronized) {
                return;
            }
            *last = Some(synchronized);
        }
        let status = if synchronized {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        for name in HEALTH_NAMES {
            self.reporter.set_service_status(name, status).await;
        }
    }
}

/// Reflection over `file_descriptor_set` (the daemon's own protocol,
/// encoded), the health service and reflection itself: v1.
pub fn reflection_v1(
    file_descriptor_set: &'static [u8],
) -> tonic_reflection::server::v1::ServerReflectionServer<
    impl tonic_reflection::server::v1::ServerReflection,
> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(file_descriptor_set)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("the descriptor sets compiled into the binary decode")
}

/// As [`reflection_v1`], for clients that still speak v1alpha.
pub fn reflection_v1alpha(
    file_descriptor_set: &'static [u8],
) -> tonic_reflection::server::v1alpha::ServerReflectionServer<
    impl tonic_reflection::server::v1alpha::ServerReflection,
> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(file_descriptor_set)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .expect("the descriptor sets compiled into the binary decode")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_split_and_garbage_is_other() {
        assert_eq!(
            split_path("/truetime.v1.TrueTime/Now"),
            ("truetime.v1.TrueTime".to_string(), "Now".to_string())
        );
        for bad in ["", "/", "Now", "/a/b/c", "/a b/c", "/svc/"] {
            assert_eq!(
                split_path(bad),
                ("other".to_string(), "other".to_string()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn invented_methods_cannot_grow_the_table() {
        let counters = GrpcCounters::new();
        for i in 0..100 {
            counters.count(&format!("/svc/M{i}"), i % 2 == 0);
        }
        let counts = counters.snapshot();
        assert_eq!(counts.len(), MAX_METHODS + 1);
        let other = counts
            .iter()
            .find(|(key, _)| key.0 == "other")
            .map(|(_, counts)| *counts);
        // 32 named, the other 68 together; half of those were failures.
        assert_eq!(other, Some((68, 34)));
    }
}
