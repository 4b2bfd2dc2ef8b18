//! A minimal HTTP/1.1 server for the metrics endpoint: `GET /metrics`
//! answers the exposition, anything else a short error, and every
//! connection is closed after one answer.
//!
//! What a client can make it do is bounded: at most [`MAX_CONNECTIONS`]
//! connections at once (more wait in the kernel's backlog), a request head
//! of at most [`MAX_REQUEST_BYTES`] read within [`READ_TIMEOUT`], and the
//! answer written within [`WRITE_TIMEOUT`]. Garbage gets `400`, never a
//! panic.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// The most connections served at once.
pub const MAX_CONNECTIONS: usize = 16;
/// The largest request head read, bytes.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// How long a client has to send its request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client has to take the answer.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What renders the exposition at each scrape.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// Serves `render`'s text on `listener` until `shutdown` completes.
pub async fn serve(listener: TcpListener, render: Render, shutdown: impl Future<Output = ()>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => return,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let (stream, _) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait a moment
                    // rather than spin.
                    tracing::warn!(%error, "metrics listener cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let render = Arc::clone(&render);
        tokio::spawn(async move {
            answer(stream, &render).await;
            drop(permit);
        });
    }
}

async fn answer(mut stream: TcpStream, render: &Render) {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        Ok(Err(Refusal(status, why))) => {
            let _ = respond(&mut stream, status, "text/plain", why, false).await;
            return;
        }
        Err(_) => return,
    };
    let (status, content_type, body, with_body) = route(&head, render);
    let _ = respond(&mut stream, status, content_type, &body, with_body).await;
}

struct Refusal(&'static str, &'static str);

/// Reads up to the blank line that ends a request head.
async fn read_head(stream: &mut TcpStream) -> Result<String, Refusal> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|_| Refusal("400 Bad Request", "unreadable request\n"))?;
        if n == 0 {
            return Err(Refusal("400 Bad Request", "incomplete request\n"));
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(end) = find_end(&head) {
            head.truncate(end);
            return String::from_utf8(head)
                .map_err(|_| Refusal("400 Bad Request", "request is not text\n"));
        }
        if head.len() > MAX_REQUEST_BYTES {
            return Err(Refusal(
                "431 Request Header Fields Too Large",
                "request head too large\n",
            ));
        }
    }
}

fn find_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| bytes.windows(2).position(|w| w == b"\n\n"))
}

/// The status, content type and body for a request head, and whether the
/// body is sent (not for HEAD).
fn route(head: &str, render: &Render) -> (&'static str, &'static str, String, bool) {
    let request_line = head.lines().next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return text("400 Bad Request", "malformed request line\n", true);
    };
    if !version.starts_with("HTTP/1.") {
        return text("505 HTTP Version Not Supported", "HTTP/1.x only\n", true);
    }
    let with_body = match method {
        "GET" => true,
        "HEAD" => false,
        _ => return text("405 Method Not Allowed", "GET or HEAD only\n", true),
    };
    let path = target.split('?').next().unwrap_or("");
    match path {
        "/metrics" => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            render(),
            with_body,
        ),
        "/" => text("200 OK", "metrics are at /metrics\n", with_body),
        _ => text(
            "404 Not Found",
            "not found; metrics are at /metrics\n",
            with_body,
        ),
    }
}

fn text(
    status: &'static str,
    body: &str,
    with_body: bool,
) -> (&'static str, &'static str, String, bool) {
    (
        status,
        "text/plain; charset=utf-8",
        body.to_string(),
        with_body,
    )
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
    with_body: bool,
) -> std::io::Result<()> {
    let mut message = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        body.len()
    );
    if status.starts_with("405") {
        message.push_str("Allow: GET, HEAD\r\n");
    }
    message.push_str("\r\n");
    if with_body {
        message.push_str(body);
    }
    let write = async {
        stream.write_all(message.as_bytes()).await?;
        stream.shutdown().await
    };
    tokio::time::timeout(WRITE_TIMEOUT, write)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn exchange(address: std::net::SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply).await;
        String::from_utf8_lossy(&reply).into_owned()
    }

    async fn server() -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let render: Render = Arc::new(|| "# HELP up Up.\n# TYPE up gauge\nup 1\n".to_string());
        tokio::spawn(serve(listener, render, async {
            let _ = stopped.await;
        }));
        (address, stop)
    }

    #[tokio::test]
    async fn metrics_are_served_and_everything_else_is_refused() {
        let (address, _stop) = server().await;
        let reply = exchange(address, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
        assert!(
            reply.contains("Content-Type: text/plain; version=0.0.4"),
            "{reply}"
        );
        assert!(reply.contains("Content-Length: 35\r\n"), "{reply}");
        assert!(reply.ends_with("\r\n\r\n# HELP up Up.\n# TYPE up gauge\nup 1\n"));

        let reply = exchange(address, b"HEAD /metrics HTTP/1.0\r\n\r\n").await;
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
        assert!(reply.ends_with("\r\n\r\n"), "{reply}");

        let cases: [(&[u8], &str); 6] = [
            (b"GET /other HTTP/1.1\r\n\r\n", "404"),
            (b"POST /metrics HTTP/1.1\r\n\r\n", "405"),
            (b"GET /metrics SPDY/3\r\n\r\n", "505"),
            (b"\x00\x01\x02 garbage\r\n\r\n", "400"),
            (b"\xff\xfe\r\n\r\n", "400"),
            (b"GET /metrics HTTP/1.1\r\n", "400"),
        ];
        for (request, status) in cases {
            let mut stream = TcpStream::connect(address).await.unwrap();
            stream.write_all(request).await.unwrap();
            // The last case never ends its head: closing our side ends it.
            stream.shutdown().await.unwrap();
            let mut reply = Vec::new();
            let _ = stream.read_to_end(&mut reply).await;
            let reply = String::from_utf8_lossy(&reply);
            assert!(
                reply.starts_with(&format!("HTTP/1.1 {status}")),
                "{request:?}: {reply}"
            );
        }
    }

    #[tokio::test]
    async fn an_endless_head_is_cut_off() {
        let (address, _stop) = server().await;
        let mut request = b"GET /metrics HTTP/1.1\r\n".to_vec();
        while request.len() <= MAX_REQUEST_BYTES + 2048 {
            request.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let reply = exchange(address, &request).await;
        assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_dropped_after_the_read_timeout() {
        let (address, _stop) = server().await;
        let mut stream = TcpStream::connect(address).await.unwrap();
        // With time paused, the server's timer fires as soon as every task
        // waits; the connection is then closed without an answer.
        let mut reply = Vec::new();
        let n = stream.read_to_end(&mut reply).await.unwrap();
        assert_eq!(n, 0);
    }
}
