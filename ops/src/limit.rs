//! Bounds on what clients can make a daemon do, so that a flood of
//! requests cannot starve the work that keeps time: a slave's poll rounds,
//! a master's sources, assessment and peer polls.
//!
//! What protects that work is [`Serving`]: the gRPC servers run on a
//! runtime of their own with one worker thread. However many requests
//! arrive, answering them occupies at most that thread (one core); the
//! pollers and sources run on the daemon's main runtime, whose threads the
//! request handling never takes, so a poll round starts on time and reads
//! its clock around its own request, not behind a queue of others'.
//!
//! Around that, every server has:
//! - message size limits: requests (all empty or a few bytes) are refused
//!   past [`MAX_REQUEST_BYTES`], answers are bounded by
//!   [`MAX_ANSWER_BYTES`] (a full `History` ring is the largest), and a
//!   client decodes at most [`MAX_NOW_ANSWER_BYTES`] from a master;
//! - per connection, at most [`STREAMS_PER_CONNECTION`] concurrent streams
//!   and [`CONCURRENCY_PER_CONNECTION`] requests in service at once;
//! - a request rate for the whole server ([`RateLimitLayer`]): past it a
//!   request is answered at once with `RESOURCE_EXHAUSTED`, without
//!   touching the service or its locks.
//!
//! Known limit: the rate is one budget for all clients of a server, so a
//! local program that floods the slave's socket makes other programs'
//! gRPC requests fail too (the shared-memory record, read without any
//! request, is unaffected); the time the slave keeps is not.

use std::io;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use tonic::codegen::http;
use tonic::codegen::BoxFuture;

/// The largest request a server decodes, bytes. `Now` and `Status`
/// requests are empty; `History` carries one number.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The largest answer a server encodes, bytes: a `History` answer holds at
/// most the ring's memory budget (`tt_proto::history::MEMORY_BUDGET_BYTES`,
/// 600 kB) of points; this leaves room above it.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// The largest answer a slave or a master decodes from a master, bytes: a
/// `Now` answer is under 100 bytes.
pub const MAX_NOW_ANSWER_BYTES: usize = 64 * 1024;

/// Concurrent HTTP/2 streams a server allows one connection.
pub const STREAMS_PER_CONNECTION: u32 = 32;

/// Requests of one connection in service at once; more wait.
pub const CONCURRENCY_PER_CONNECTION: usize = 8;

/// The default request rate of a server, requests per second: far above
/// what slaves polling once a second or local programs asking now and then
/// need, low enough that one core answers it.
pub const DEFAULT_REQUESTS_PER_S: u32 = 20_000;

/// A runtime of its own for serving requests, one worker thread, so that
/// request handling cannot take the threads the daemon keeps time on.
pub struct Serving {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Serving {
    /// Starts the runtime; its thread is named `name`.
    pub fn start(name: &str) -> io::Result<Serving> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(name)
            .enable_all()
            .build()?;
        Ok(Serving {
            runtime: Some(runtime),
        })
    }

    /// Where to spawn the servers.
    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime
            .as_ref()
            .expect("the runtime is only taken in drop")
            .handle()
    }

    /// Moves a listener bound on another runtime onto this one, so that
    /// accepting and every accepted connection's I/O are driven here.
    pub fn adopt_tcp(
        &self,
        listener: tokio::net::TcpListener,
    ) -> io::Result<tokio::net::TcpListener> {
        let listener = listener.into_std()?;
        let _inside = self.handle().enter();
        tokio::net::TcpListener::from_std(listener)
    }

    /// As [`Serving::adopt_tcp`], for a Unix socket.
    pub fn adopt_unix(
        &self,
        listener: tokio::net::UnixListener,
    ) -> io::Result<tokio::net::UnixListener> {
        let listener = listener.into_std()?;
        let _inside = self.handle().enter();
        tokio::net::UnixListener::from_std(listener)
    }
}

impl Drop for Serving {
    /// Stops the runtime without waiting for its tasks: the daemons drain
    /// their servers first, and a runtime may not block in `drop` inside
    /// another runtime.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A token bucket in integer nanoseconds of credit: each request costs
/// `1 s / rate`; credit grows by the time elapsed, up to one second's
/// worth, so at most `rate` requests pass in a burst and `rate` per second
/// on average.
#[derive(Debug)]
struct Bucket {
    cost_ns: u64,
    credit_ns: u64,
    last: Instant,
}

const ONE_SECOND_NS: u64 = 1_000_000_000;

impl Bucket {
    fn new(per_second: u32, now: Instant) -> Bucket {
        Bucket {
            cost_ns: (ONE_SECOND_NS / u64::from(per_second.max(1))).max(1),
            credit_ns: ONE_SECOND_NS,
            last: now,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed_ns =
            u64::try_from(now.saturating_duration_since(self.last).as_nanos()).unwrap_or(u64::MAX);
        self.last = self.last.max(now);
        self.credit_ns = self.credit_ns.saturating_add(elapsed_ns).min(ONE_SECOND_NS);
        if self.credit_ns >= self.cost_ns {
            self.credit_ns -= self.cost_ns;
            true
        } else {
            false
        }
    }
}

/// A tower layer that lets at most `per_second` requests a second through
/// to the server's services, shared by every connection and every server
/// the layer is cloned into; the rest are answered `RESOURCE_EXHAUSTED`.
#[derive(Clone, Debug)]
pub struct RateLimitLayer {
    bucket: Arc<Mutex<Bucket>>,
    per_second: u32,
}

impl RateLimitLayer {
    /// A budget of `per_second` requests a second (at least one).
    pub fn new(per_second: u32) -> RateLimitLayer {
        RateLimitLayer {
            bucket: Arc::new(Mutex::new(Bucket::new(per_second, Instant::now()))),
            per_second: per_second.max(1),
        }
    }
}

impl<S> tower::Layer<S> for RateLimitLayer {
    type Service = RateLimited<S>;

    fn layer(&self, inner: S) -> RateLimited<S> {
        RateLimited {
            inner,
            limit: self.clone(),
        }
    }
}

/// The service [`RateLimitLayer`] wraps around the server's routes.
#[derive(Clone, Debug)]
pub struct RateLimited<S> {
    inner: S,
    limit: RateLimitLayer,
}

impl<S, B, R> tower::Service<http::Request<B>> for RateLimited<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<http::Response<R>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let allowed = self
            .limit
            .bucket
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take(Instant::now());
        if allowed {
            return Box::pin(self.inner.call(request));
        }
        let refused = tonic::Status::resource_exhausted(format!(
            "more than {} requests a second; ask less often (local programs can read the \
             shared-memory record instead)",
            self.limit.per_second
        ));
        Box::pin(std::future::ready(Ok(refused.into_http())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_of_the_rate_passes_then_the_rate_per_second() {
        let start = Instant::now();
        let mut bucket = Bucket::new(1000, start);
        // One second of credit: 1000 requests of 1 ms each.
        let passed = (0..1500).filter(|_| bucket.take(start)).count();
        assert_eq!(passed, 1000);
        // 10 ms later, 10 ms of credit: 10 more.
        let later = start + Duration::from_millis(10);
        let passed = (0..100).filter(|_| bucket.take(later)).count();
        assert_eq!(passed, 10);
        // Idle for a minute, the credit is still capped at one second.
        let idle = later + Duration::from_secs(60);
        let passed = (0..5000).filter(|_| bucket.take(idle)).count();
        assert_eq!(passed, 1000);
    }

    #[test]
    fn a_clock_read_out_of_order_takes_no_credit_back() {
        let start = Instant::now();
        let mut bucket = Bucket::new(1, start);
        assert!(bucket.take(start + Duration::from_secs(1)));
        // An earlier instant (another thread's read) adds nothing.
        assert!(!bucket.take(start));
    }

    #[tokio::test]
    async fn refused_requests_get_resource_exhausted_without_reaching_the_service() {
        use tower::{Layer, Service, ServiceExt};
        let reached = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&reached);
        let inner = tower::service_fn(move |_request: http::Request<()>| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            std::future::ready(Ok::<_, std::convert::Infallible>(http::Response::new(
                tonic::body::Body::default(),
            )))
        });
        let mut service = RateLimitLayer::new(1).layer(inner);
        let mut refused = 0;
        for _ in 0..10 {
            let response = service
                .ready()
                .await
                .unwrap()
                .call(http::Request::new(()))
                .await
                .unwrap();
            if let Some(code) = response.headers().get("grpc-status") {
                assert_eq!(code, "8", "RESOURCE_EXHAUSTED is code 8");
                refused += 1;
            }
        }
        // The burst is one second of the rate: one request passes; a
        // second would need a second more of credit than ten calls to an
        // in-memory service take.
        assert_eq!(reached.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(refused, 9);
    }
}
