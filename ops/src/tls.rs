//! TLS between slaves and masters, and between peer masters: rustls (with
//! ring's cryptography) inside tonic.
//!
//! - A master given `tls-cert` and `tls-key` serves only TLS. Given
//!   `tls-client-ca` as well, it requires every client to present a
//!   certificate that chains to that CA (mutual TLS); a client without one,
//!   or with one from another CA, fails the handshake and gets no answer.
//! - A client (a slave, or a master polling its peers) given `tls-ca`
//!   contacts every master over TLS and accepts only a certificate that
//!   chains to that CA *and* is issued for the name the master is
//!   configured by: the host part of its `host:port` (a DNS name, or an IP
//!   address that must then be among the certificate's IP addresses). A
//!   master whose certificate fails either test counts as unreachable with
//!   the reason "certificate not trusted", so its time never enters the
//!   vote. Given `tls-cert` and `tls-key` the client presents them as its
//!   own certificate.
//!
//! The files are PEM. They are read once, at start-up, and checked then (a
//! key that does not match its certificate, a CA file with no certificate
//! in it): a daemon with a broken TLS setup refuses to start rather than
//! serve or poll in the clear. Replacing them needs a restart.
//!
//! What TLS does not cover: a master's sources (gpsd, serial, PPS, PHC) and
//! the slave's local service (Unix socket and loopback TCP), which carry no
//! secret and change nothing, and the metrics endpoint.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, Server, ServerTlsConfig};

/// The largest PEM file read: certificate chains and keys are a few
/// kilobytes; anything far larger is the wrong file.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// How long a client has to finish its TLS handshake with a master. A
/// connection that stalls in the handshake is dropped after this, so it
/// cannot hold the server's resources.
pub const SERVER_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads a PEM file named by configuration key `key`, bounded in size.
fn read_pem(key: &str, path: &Path) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let meta =
        std::fs::metadata(path).map_err(|e| format!("`{key}` {shown}: cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err(format!("`{key}` {shown} is not a regular file"));
    }
    if meta.len() > MAX_PEM_BYTES {
        return Err(format!(
            "`{key}` {shown} holds {} bytes, more than any PEM certificate or key; is it the \
             right file?",
            meta.len()
        ));
    }
    std::fs::read(path).map_err(|e| format!("`{key}` {shown}: cannot read it: {e}"))
}

/// Reads certificates (one or a chain) in PEM; at least one must be there.
fn read_certificates(key: &str, path: &Path) -> Result<Certificate, String> {
    let pem = read_pem(key, path)?;
    let count = CertificateDer::pem_slice_iter(&pem)
        .try_fold(0usize, |count, item| item.map(|_| count + 1))
        .map_err(|e| {
            format!(
                "`{key}` {}: not a PEM certificate file: {e}",
                path.display()
            )
        })?;
    if count == 0 {
        return Err(format!(
            "`{key}` {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(Certificate::from_pem(pem))
}

/// Reads a certificate chain and its private key as an identity.
fn read_identity(cert_path: &Path, key_path: &Path) -> Result<Identity, String> {
    let cert = read_certificates("tls-cert", cert_path)?;
    let key = read_pem("tls-key", key_path)?;
    PrivateKeyDer::from_pem_slice(&key).map_err(|e| {
        format!(
            "`tls-key` {}: no PEM private key in it (PKCS#8, PKCS#1 or SEC1): {e}",
            key_path.display()
        )
    })?;
    if let Ok(meta) = std::fs::metadata(key_path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                path = %key_path.display(),
                mode = format!("{:04o}", meta.permissions().mode() & 0o7777),
                "the TLS private key is readable by other users; make it mode 0600 or 0640"
            );
        }
    }
    Ok(Identity::from_pem(cert.into_inner(), key))
}

/// A master's TLS: its certificate and key, and the CA its clients'
/// certificates must chain to when clients are authenticated.
///
/// The configuration is checked by building the acceptor once: a key
/// that does not belong to the certificate is refused here.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<ServerTlsConfig, String> {
    let mut config = ServerTlsConfig::new()
        .identity(read_identity(cert, key)?)
        .timeout(SERVER_HANDSHAKE_TIMEOUT);
    if let Some(ca) = client_ca {
        // Required, not optional: a client without a certificate fails
        // the handshake.
        config = config.client_ca_root(read_certificates("tls-client-ca", ca)?);
    }
    Server::builder().tls_config(config.clone()).map_err(|e| {
        format!(
            "`tls-cert` {} and `tls-key` {} do not make a TLS identity: {}",
            cert.display(),
            key.display(),
            chain(&e)
        )
    })?;
    Ok(config)
}

/// A client's TLS toward masters: the CA their certificates must chain to,
/// and the client's own certificate, if it has one.
#[derive(Clone, Debug)]
pub struct ClientTls {
    ca: Certificate,
    identity: Option<Identity>,
}

impl ClientTls {
    /// Reads the CA file and, when given, the client's certificate and key,
    /// and checks them by building one connector.
    pub fn load(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<ClientTls, String> {
        let tls = ClientTls {
            ca: read_certificates("tls-ca", ca)?,
            identity: match identity {
                Some((cert, key)) => Some(read_identity(cert, key)?),
                None => None,
            },
        };
        let probe: SocketAddr = ([127, 0, 0, 1], 1).into();
        tls.endpoint(probe, "localhost")?;
        Ok(tls)
    }

    /// An endpoint for the master at `address` (a socket address, or
    /// `host:port`), over TLS, verifying that its certificate is issued
    /// for `server_name`.
    pub fn endpoint(
        &self,
        address: impl std::fmt::Display,
        server_name: &str,
    ) -> Result<Endpoint, String> {
        let mut config = ClientTlsConfig::new()
            .ca_certificate(self.ca.clone())
            .domain_name(server_name);
        if let Some(identity) = &self.identity {
            config = config.identity(identity.clone());
        }
        Endpoint::from_shared(format!("https://{address}"))
            .map_err(|e| format!("{address}: {e}"))?
            .tls_config(config)
            .map_err(|e| format!("TLS toward {server_name} ({address}): {}", chain(&e)))
    }
}

/// An endpoint for the master at `address` (a socket address, or
/// `host:port`): plain HTTP/2 without `tls`, TLS verified against
/// `server_name` with it.
pub fn endpoint(
    address: impl std::fmt::Display,
    server_name: &str,
    tls: Option<&ClientTls>,
) -> Result<Endpoint, String> {
    match tls {
        Some(tls) => tls.endpoint(address, server_name),
        None => Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| format!("{address}: {e}")),
    }
}

/// The name a master's certificate must be issued for, from the
/// `host:port` it is configured by: the host, without the brackets of an
/// IPv6 literal.
pub fn server_name(authority: &str) -> &str {
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Checks that `authority`'s host can be verified against a certificate:
/// a DNS name or an IP address.
pub fn check_server_name(authority: &str) -> Result<(), String> {
    let host = server_name(authority);
    rustls::pki_types::ServerName::try_from(host)
        .map(|_| ())
        .map_err(|_| {
            format!(
                "`{host}` is neither a DNS name nor an IP address, so no certificate can be \
                 checked against it"
            )
        })
}

/// What a client polling in the clear is told when its error is the one
/// a TLS server causes: the server's TLS alert read as an HTTP/2 frame
/// ("frame with invalid size"), or the connection closed under it.
pub fn plaintext_hint(error: &str) -> Option<&'static str> {
    let signs = ["frame with invalid size", "broken pipe", "connection reset"];
    let lower = error.to_ascii_lowercase();
    signs
        .iter()
        .any(|sign| lower.contains(sign))
        .then_some("does the master require TLS? then set tls-ca")
}

/// An error and its causes as one line.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
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

/// The TLS failure behind a failed call, as a sentence a person can act
/// on, when there is one: the master's certificate not trusted, this
/// client's refused, or a peer that does not speak TLS.
pub fn explain(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(describe(tls));
        }
        // An I/O error built around another error gives that error's
        // causes, not the error itself, as its source: look inside.
        let inner = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        cause = inner.or_else(|| error.source());
    }
    // HTTP/2 keeps only the text of an error it hands to every stream of
    // a connection: read rustls's words from it.
    describe_text(&chain(error))
}

/// [`describe`] from the text of a rustls error: "received fatal alert:
/// CertificateRequired", "invalid peer certificate: UnknownIssuer".
fn describe_text(text: &str) -> Option<String> {
    use rustls::{AlertDescription, CertificateError, Error};
    if let Some((_, alert)) = text.split_once("received fatal alert: ") {
        let alert = alert.split(|c: char| !c.is_ascii_alphanumeric()).next()?;
        let known = [
            AlertDescription::CertificateRequired,
            AlertDescription::UnknownCA,
            AlertDescription::BadCertificate,
            AlertDescription::CertificateUnknown,
            AlertDescription::AccessDenied,
        ];
        let description = known
            .into_iter()
            .find(|description| format!("{description:?}") == alert)?;
        return Some(describe(&Error::AlertReceived(description)));
    }
    if let Some((_, problem)) = text.split_once("invalid peer certificate: ") {
        let problem = problem.split(|c: char| !c.is_ascii_alphanumeric()).next()?;
        let known = [
            CertificateError::UnknownIssuer,
            CertificateError::NotValidForName,
            CertificateError::Expired,
            CertificateError::NotValidYet,
            CertificateError::BadSignature,
        ];
        let found = known
            .into_iter()
            .find(|error| format!("{error:?}") == problem);
        return Some(match found {
            Some(error) => describe(&Error::InvalidCertificate(error)),
            None => format!("certificate not trusted: {problem}"),
        });
    }
    None
}

fn describe(error: &rustls::Error) -> String {
    use rustls::{AlertDescription, CertificateError, Error};
    match error {
        Error::InvalidCertificate(problem) => {
            let why = match problem {
                CertificateError::UnknownIssuer => "it does not chain to tls-ca".to_string(),
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => {
                    "it is not issued for the name this master is configured by".to_string()
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "it has expired".to_string()
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    "it is not valid yet".to_string()
                }
                CertificateError::BadSignature => "its signature does not verify".to_string(),
                other => format!("{other:?}"),
            };
            format!("certificate not trusted: {why}")
        }
        Error::AlertReceived(AlertDescription::CertificateRequired) => {
            "refused: the master requires a client certificate (set tls-cert and tls-key)"
                .to_string()
        }
        Error::AlertReceived(
            AlertDescription::UnknownCA
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::AccessDenied,
        ) => "refused: the master does not trust this client's certificate".to_string(),
        Error::InvalidMessage(_) => {
            "the master does not speak TLS; is it configured with tls-cert and tls-key?".to_string()
        }
        other => format!("TLS failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_checked_is_the_host_of_the_address() {
        assert_eq!(server_name("m1.example:7371"), "m1.example");
        assert_eq!(server_name("127.0.0.1:7371"), "127.0.0.1");
        assert_eq!(server_name("[::1]:7371"), "::1");
        assert_eq!(server_name("nohost"), "nohost");
        assert!(check_server_name("m1.example:7371").is_ok());
        assert!(check_server_name("[::1]:7371").is_ok());
        assert!(check_server_name("bad_name!:7371").is_err());
    }

    #[test]
    fn tls_errors_inside_io_errors_are_explained() {
        let unknown = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, unknown);
        let outer = std::io::Error::other(io);
        let text = explain(&outer).expect("the TLS error is found");
        assert_eq!(text, "certificate not trusted: it does not chain to tls-ca");

        let required = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, required);
        assert!(explain(&io)
            .unwrap()
            .contains("requires a client certificate"));

        // As HTTP/2 passes it on: text only.
        let shared =
            std::io::Error::other("connection error: received fatal alert: CertificateRequired");
        assert!(explain(&shared)
            .unwrap()
            .contains("requires a client certificate"));
        let shared = std::io::Error::other("invalid peer certificate: UnknownIssuer");
        assert_eq!(
            explain(&shared).unwrap(),
            "certificate not trusted: it does not chain to tls-ca"
        );

        let plain = std::io::Error::other("connection refused");
        assert_eq!(explain(&plain), None);
        assert!(plaintext_hint("h2 protocol error: frame with invalid size").is_some());
        assert!(plaintext_hint("stream closed because of a broken pipe").is_some());
        assert_eq!(
            plaintext_hint("tcp connect error: Connection refused"),
            None
        );
    }

    #[test]
    fn missing_and_wrong_files_are_named() {
        let dir = std::env::temp_dir().join(format!("tt-ops-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let error = ClientTls::load(&missing, None).unwrap_err();
        assert!(error.starts_with("`tls-ca` "), "{error}");
        assert!(error.contains("missing.pem"), "{error}");

        let not_pem = dir.join("not.pem");
        std::fs::write(&not_pem, "hello\n").unwrap();
        let error = ClientTls::load(&not_pem, None).unwrap_err();
        assert!(error.contains("holds no PEM certificate"), "{error}");

        let error = server_config(&not_pem, &not_pem, None).unwrap_err();
        assert!(error.starts_with("`tls-cert` "), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
