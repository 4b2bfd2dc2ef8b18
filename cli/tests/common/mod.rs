//! What the tt-cli process tests share: a scratch directory and a gRPC
//! server on a loopback port the kernel picks.
#![allow(dead_code)]

use std::path::PathBuf;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tt_proto::v1::true_time_server::{TrueTime, TrueTimeServer};

/// A directory removed when the test ends, pass or fail.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("tt-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Serves `service` on 127.0.0.1 (a port bound here and kept, so no
/// other socket can take it) until the test's runtime ends; its address.
pub async fn serve_tcp<S: TrueTime>(service: S) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TrueTimeServer::new(service))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    address
}
