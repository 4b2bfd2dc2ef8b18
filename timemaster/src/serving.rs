//! How the master's gRPC server is set up against the network: TLS (see
//! `tt_ops::tls`) and the limits that keep a flood of requests from
//! starving the sources, the assessment and the peer polls (see
//! `tt_ops::limit`).
//!
//! - With `tls-cert` and `tls-key` the master serves TLS only; with
//!   `tls-client-ca` it also requires a client certificate from that CA.
//!   A client without one fails the handshake and is answered nothing.
//! - With `tls-ca` its peers are polled over TLS, presenting `tls-cert`.
//! - Requests are served on a runtime of their own (one thread), at most
//!   `max-requests-per-s` a second, with the per-connection limits and
//!   message sizes of `tt_ops::limit`.

use crate::config::Config;
use std::path::Path;
use tonic::transport::ServerTlsConfig;
use tt_ops::tls::ClientTls;

/// The master's TLS, read and checked at start-up.
#[derive(Clone, Debug, Default)]
pub struct MasterTls {
    /// What the server presents and whom it lets in; `None` serves plain
    /// gRPC.
    pub server: Option<ServerTlsConfig>,
    /// How peers are polled; `None` polls them in the clear.
    pub peers: Option<ClientTls>,
}

/// An empty configuration value is an unset key.
fn path(value: &str) -> Option<&Path> {
    (!value.is_empty()).then(|| Path::new(value))
}

impl MasterTls {
    /// Reads and checks the files `config` names. The error is one line
    /// naming the key and the file.
    pub fn load(config: &Config) -> Result<MasterTls, String> {
        let identity = match (path(&config.tls_cert), path(&config.tls_key)) {
            (Some(cert), Some(key)) => Some((cert, key)),
            _ => None,
        };
        let server = match identity {
            Some((cert, key)) => Some(tt_ops::tls::server_config(
                cert,
                key,
                path(&config.tls_client_ca),
            )?),
            None => None,
        };
        let peers = match path(&config.tls_ca) {
            Some(ca) => Some(ClientTls::load(ca, identity)?),
            None => None,
        };
        Ok(MasterTls { server, peers })
    }

    /// "TLS, clients need a certificate", "TLS" or "plain", for the log.
    pub fn describe(&self, config: &Config) -> &'static str {
        match (&self.server, config.tls_client_ca.is_empty()) {
            (None, _) => "plain",
            (Some(_), true) => "TLS",
            (Some(_), false) => "TLS, clients need a certificate",
        }
    }
}
