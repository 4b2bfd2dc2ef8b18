//! Running a daemon's servers: its gRPC router (see [`crate::grpc`]) on
//! each of its listeners and the metrics endpoint (see [`crate::http`]),
//! all on the serving runtime of [`crate::limit`], until the daemon stops
//! them. Requests in flight then get [`DRAIN_TIMEOUT`] to finish.
//!
//! Time is served even when the metrics cannot be: a metrics address that
//! cannot be bound or served costs the metrics only, and the log says so.

use crate::grpc::Layers;
use crate::http::Render;
use crate::limit::Serving;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio::task::{JoinError, JoinHandle, JoinSet};
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tokio_stream::Stream;
use tonic::transport::server::{Connected, Router};

/// How long requests in flight get to finish at shutdown. Answers take
/// microseconds; a client that keeps its connection open without reading
/// (a stopped process) is not waited for beyond this.
pub const DRAIN_TIMEOUT: Duration = Duration::from_millis(250);

/// How a gRPC server's task ended: by itself (`Ok(Ok(()))`), with the
/// server's error, or with the task's.
pub type Ended = Result<Result<(), tonic::transport::Error>, JoinError>;

/// Binds the metrics endpoint at `address`, if there is one. A failure is
/// logged, with what to do, and leaves the daemon without metrics.
pub async fn bind_metrics(address: Option<SocketAddr>) -> Option<TcpListener> {
    let address = address?;
    match TcpListener::bind(address).await {
        Ok(listener) => Some(listener),
        Err(error) => {
            tracing::error!(%address, %error, "cannot serve metrics there; serving time \
                without metrics (set metrics-listen to a free port, or \"\" for none)");
            None
        }
    }
}

/// A daemon's running servers.
pub struct Servers {
    serving: Serving,
    stop: watch::Sender<bool>,
    grpc: JoinSet<Result<(), tonic::transport::Error>>,
    metrics: Option<JoinHandle<()>>,
}

impl Servers {
    /// Starts the serving runtime; its thread is named `thread_name`.
    pub fn start(thread_name: &str) -> io::Result<Servers> {
        Ok(Servers {
            serving: Serving::start(thread_name)?,
            stop: watch::Sender::new(false),
            grpc: JoinSet::new(),
            metrics: None,
        })
    }

    /// Completes once [`Servers::stop`] has been called.
    fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stopped = self.stop.subscribe();
        async move {
            // Err means the sender is gone, which also means stop.
            let _ = stopped.wait_for(|&stop| stop).await;
        }
    }

    /// Serves `router` on `listener`, from the serving runtime.
    pub fn serve_tcp(&mut self, router: Router<Layers>, listener: TcpListener) -> io::Result<()> {
        let listener = self.serving.adopt_tcp(listener)?;
        self.spawn(router, TcpListenerStream::new(listener));
        Ok(())
    }

    /// As [`Servers::serve_tcp`], on a Unix socket.
    pub fn serve_unix(&mut self, router: Router<Layers>, listener: UnixListener) -> io::Result<()> {
        let listener = self.serving.adopt_unix(listener)?;
        self.spawn(router, UnixListenerStream::new(listener));
        Ok(())
    }

    /// Serves `router` on the connections `incoming` accepts, until
    /// stopped.
    fn spawn<I, IO, IE>(&mut self, router: Router<Layers>, incoming: I)
    where
        I: Stream<Item = Result<IO, IE>> + Send + 'static,
        IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
        IO::ConnectInfo: Clone + Send + Sync + 'static,
        IE: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
    {
        let served = router.serve_with_incoming_shutdown(incoming, self.stopped());
        self.grpc.spawn_on(served, self.serving.handle());
    }

    /// Serves what `render` writes at each scrape on `listener`, from the
    /// serving runtime, so that scrapes cannot take the threads that keep
    /// time either.
    pub fn serve_metrics(&mut self, listener: TcpListener, render: Render) {
        match self.serving.adopt_tcp(listener) {
            Ok(listener) => {
                let served = crate::http::serve(listener, render, self.stopped());
                self.metrics = Some(self.serving.handle().spawn(served));
            }
            Err(error) => tracing::error!(
                %error,
                "cannot serve metrics from the serving thread; serving time without metrics"
            ),
        }
    }

    /// The end of the next gRPC server to stop before it was told to;
    /// never, while none does (or none was started).
    pub async fn ended(&mut self) -> Ended {
        match self.grpc.join_next().await {
            Some(ended) => ended,
            None => std::future::pending().await,
        }
    }

    /// Tells every server to stop, gives requests in flight
    /// [`DRAIN_TIMEOUT`] to finish, drops the connections still open after
    /// it, and stops the metrics endpoint and the serving runtime.
    pub async fn stop(mut self) {
        self.stop.send_replace(true);
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while self.grpc.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::info!(
                timeout_ms = DRAIN_TIMEOUT.as_millis(),
                "connections still open at shutdown were dropped"
            );
            self.grpc.abort_all();
        }
        if let Some(task) = self.metrics.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn scrape(address: SocketAddr) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(address).await?;
        stream.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        Ok(String::from_utf8_lossy(&reply).into_owned())
    }

    #[tokio::test]
    async fn an_address_in_use_costs_the_metrics_only() {
        assert!(bind_metrics(None).await.is_none());
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = taken.local_addr().unwrap();
        assert!(bind_metrics(Some(address)).await.is_none());
    }

    #[tokio::test]
    async fn metrics_are_served_until_the_servers_stop() {
        let mut servers = Servers::start("tt-ops-serve-test").unwrap();
        let listener = bind_metrics(Some(([127, 0, 0, 1], 0).into()))
            .await
            .unwrap();
        let address = listener.local_addr().unwrap();
        let render: Render = Arc::new(|| "# HELP up Up.\n# TYPE up gauge\nup 1\n".to_string());
        servers.serve_metrics(listener, render);
        let reply = scrape(address).await.unwrap();
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
        assert!(reply.ends_with("\r\n\r\n# HELP up Up.\n# TYPE up gauge\nup 1\n"));

        servers.stop().await;
        // The listener closes once the serving runtime has dropped its
        // task, which happens on that runtime's thread: ask until nothing
        // answers, 200 times at most.
        let mut refused = false;
        for _ in 0..200 {
            let answered = tokio::time::timeout(Duration::from_secs(5), scrape(address))
                .await
                .is_ok_and(|reply| reply.is_ok_and(|reply| reply.ends_with("up 1\n")));
            if !answered {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(refused, "the metrics endpoint still answers after stop");
    }
}
