//! The timeslave's configuration: a TOML file with kebab-case keys, unknown
//! keys rejected. Every key but `masters` has a default.
//!
//! ```toml
//! masters = ["127.0.0.1:7371", "127.0.0.1:7372", "127.0.0.1:7373"]
//! max-falsetickers = 1        # default (number of masters - 1) / 2
//! poll-interval-ms = 1000
//! request-timeout-ms = 500
//! drift-ppm = 200
//! max-holdover-s = 60
//! listen = "127.0.0.1:7380"   # "" disables TCP
//! socket = "/run/truetime/timeslave.sock"   # "" disables the Unix socket
//! shm-path = "/run/truetime/timeslave.shm"  # "" disables the shared-memory record
//! log-format = "human"        # or "json"
//! log-level = "info"          # or directives, "info,timeslave=debug"
//! metrics-listen = "127.0.0.1:9380"  # "" serves no metrics
//! max-requests-per-s = 20000  # the local service's request budget
//! tls-ca = ""                 # CA (PEM) the masters' certificates chain to
//! tls-cert = ""               # this slave's client certificate (PEM)
//! tls-key = ""                # and its private key (PEM)
//! ```
//!
//! With `tls-ca` set, every master is contacted over TLS (a master may
//! then be written `https://host:port`) and must present a certificate
//! that chains to that CA and names the host it is written with here: the
//! DNS name of `m1.example:7371`, or the IP address of `10.0.0.1:7371`.
//! A master that does not is unreachable ("certificate not trusted") and
//! gives no time. `tls-cert` and `tls-key` give the certificate the slave
//! presents to masters that require one (`tls-client-ca`). Without
//! `tls-ca` masters are polled in the clear, and an `https://` master is
//! refused. The TLS keys take effect at start-up only.
//!
//! Errors are one line naming the file, the line and the key.

use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;
use tt_core::Drift;

pub use tt_ops::logging::LogFormat;

/// One configured master.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterAddress {
    /// The address as written in the file; the master's name in status and
    /// logs.
    pub name: String,
    /// `host:port`, without any `http://`.
    pub authority: String,
    /// The line of the file it was written on, for error messages.
    pub line: Option<usize>,
}

/// The TLS files for polling the masters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA (PEM) the masters' certificates must chain to.
    pub ca: PathBuf,
    /// This slave's certificate and private key (PEM), presented to the
    /// masters.
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// The checked configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Where the file came from, for error messages.
    pub origin: String,
    /// The masters to poll.
    pub masters: Vec<MasterAddress>,
    /// How many masters may be wrong at once (`f`), `2f < n`.
    pub max_falsetickers: usize,
    /// Time between the starts of two poll rounds.
    pub poll_interval: Duration,
    /// How long one poll may take before the master counts as unreachable.
    pub request_timeout: Duration,
    /// The bound on the local oscillator's rate error.
    pub drift: Drift,
    /// How long the last combined interval is carried forward when no
    /// quorum of masters agrees.
    pub max_holdover: Duration,
    /// TCP address to serve on, if any.
    pub listen: Option<SocketAddr>,
    /// Unix socket to serve on, if any.
    pub socket: Option<PathBuf>,
    /// The file the shared-memory record is published in, if any.
    pub shm_path: Option<PathBuf>,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// The log filter (`RUST_LOG`, when set, takes its place).
    pub log_level: String,
    /// Where the Prometheus metrics are served over HTTP, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Requests a second the local service answers, all clients together;
    /// more are refused (see `tt_ops::limit`).
    pub max_requests_per_s: u32,
    /// TLS toward the masters, when `tls-ca` is set.
    pub tls: Option<TlsFiles>,
}

/// A configuration problem: one line naming the file, and the line of the
/// file where it is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or "defaults" when no file was given).
    pub origin: String,
    /// The 1-based line in the file.
    pub line: Option<usize>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} line {line}: {}", self.origin, self.message),
            None => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The file as written: every key optional so that defaults and errors
/// can both be given with the line they concern.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ConfigFile {
    masters: Option<Spanned<Vec<Spanned<String>>>>,
    max_falsetickers: Option<Spanned<usize>>,
    poll_interval_ms: Option<Spanned<u64>>,
    request_timeout_ms: Option<Spanned<u64>>,
    drift_ppm: Option<Spanned<u64>>,
    max_holdover_s: Option<Spanned<u64>>,
    listen: Option<Spanned<String>>,
    socket: Option<Spanned<String>>,
    shm_path: Option<Spanned<String>>,
    log_format: Option<LogFormat>,
    log_level: Option<Spanned<String>>,
    metrics_listen: Option<Spanned<String>>,
    max_requests_per_s: Option<Spanned<u32>>,
    tls_ca: Option<Spanned<String>>,
    tls_cert: Option<Spanned<String>>,
    tls_key: Option<Spanned<String>>,
}

fn default_max_falsetickers(masters: usize) -> usize {
    masters.saturating_sub(1) / 2
}
fn default_poll_interval_ms() -> u64 {
    1_000
}
fn default_request_timeout_ms() -> u64 {
    500
}
/// 200 ppm, the bound Spanner assumes for a server's crystal.
fn default_drift_ppm() -> u64 {
    200
}
fn default_max_holdover_s() -> u64 {
    60
}
fn default_listen() -> String {
    "127.0.0.1:7380".to_string()
}
fn default_socket() -> String {
    "/run/truetime/timeslave.sock".to_string()
}
fn default_shm_path() -> String {
    crate::publish::DEFAULT_SHM_PATH.to_string()
}
fn default_log_format() -> LogFormat {
    LogFormat::Human
}
fn default_log_level() -> String {
    "info".to_string()
}
fn default_metrics_listen() -> String {
    "127.0.0.1:9380".to_string()
}
fn default_max_requests_per_s() -> u32 {
    tt_ops::limit::DEFAULT_REQUESTS_PER_S
}
/// No TLS: existing setups keep polling in the clear.
fn default_tls_path() -> String {
    String::new()
}

/// The largest drift bound accepted, ppm: 10 %, far beyond any working
/// oscillator, so only typos are refused.
const MAX_DRIFT_PPM: u64 = 100_000;

/// Reads and checks the file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        origin: origin.clone(),
        line: None,
        message: format!("cannot read the configuration file: {e}"),
    })?;
    parse(&text, &origin)
}

/// The configuration when no file is given: every default, and no masters,
/// which is an error that says how to give them.
pub fn defaults() -> Result<Config, ConfigError> {
    parse("", "command line").map_err(|_| ConfigError {
        origin: "command line".to_string(),
        line: None,
        message: "no masters configured: pass --config FILE, a file with \
                  masters = [\"host:port\", ...]"
            .to_string(),
    })
}

/// Parses and checks configuration text; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
    let line_of = |span: std::ops::Range<usize>| line_at(text, span.start);
    let error = |line: Option<usize>, message: String| ConfigError {
        origin: origin.to_string(),
        line,
        message,
    };

    let file: ConfigFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(line_of);
        let message = e.message().trim().replace('\n', " ");
        // serde names the key for unknown and missing keys, not for a
        // value of the wrong type: take the key from the line then.
        let key = line.and_then(|line| key_on_line(text, line));
        let message = match key {
            Some(key) if !message.contains(&format!("`{key}`")) => format!("`{key}`: {message}"),
            _ => message.replace("unknown field", "unknown key"),
        };
        error(line, message)
    })?;

    let (masters, masters_line) = match file.masters {
        Some(list) => {
            let line = Some(line_of(list.span()));
            let masters = list
                .into_inner()
                .into_iter()
                .map(|entry| {
                    let line = Some(line_of(entry.span()));
                    let name = entry.into_inner();
                    let authority = master_authority(&name).map_err(|why| {
                        error(line, format!("master `{name}` is not usable: {why}"))
                    })?;
                    Ok(MasterAddress {
                        name,
                        authority,
                        line,
                    })
                })
                .collect::<Result<Vec<_>, ConfigError>>()?;
            (masters, line)
        }
        None => (Vec::new(), None),
    };
    if masters.is_empty() {
        return Err(error(
            masters_line,
            "no masters configured: add masters = [\"host:port\", ...]".to_string(),
        ));
    }
    for (index, master) in masters.iter().enumerate() {
        if masters[..index]
            .iter()
            .any(|m| m.authority == master.authority)
        {
            return Err(error(
                master.line,
                format!(
                    "master `{}` is listed twice; each master must count once in the vote",
                    master.name
                ),
            ));
        }
    }

    let n = masters.len();
    let max_falsetickers = match file.max_falsetickers {
        Some(f) => {
            let line = Some(line_of(f.span()));
            let f = f.into_inner();
            if f.saturating_mul(2) >= n {
                return Err(error(
                    line,
                    format!(
                        "`max-falsetickers` = {f} needs at least {} masters (2f + 1), {n} are \
                         configured",
                        f.saturating_mul(2).saturating_add(1)
                    ),
                ));
            }
            f
        }
        None => default_max_falsetickers(n),
    };

    let (poll_interval_ms, poll_line) =
        value_or(file.poll_interval_ms, text, default_poll_interval_ms);
    if poll_interval_ms == 0 {
        return Err(error(
            poll_line,
            "`poll-interval-ms` must be at least 1".to_string(),
        ));
    }
    let (request_timeout_ms, timeout_line) =
        value_or(file.request_timeout_ms, text, default_request_timeout_ms);
    if request_timeout_ms == 0 || request_timeout_ms > poll_interval_ms {
        return Err(error(
            timeout_line,
            format!(
                "`request-timeout-ms` = {request_timeout_ms} must be between 1 and \
                 `poll-interval-ms` ({poll_interval_ms}), so that a round ends before the next"
            ),
        ));
    }

    let (drift_ppm, drift_line) = value_or(file.drift_ppm, text, default_drift_ppm);
    if drift_ppm == 0 || drift_ppm > MAX_DRIFT_PPM {
        return Err(error(
            drift_line,
            format!(
                "`drift-ppm` = {drift_ppm} is out of range: give the oscillator's bound, 1 to \
                 {MAX_DRIFT_PPM}"
            ),
        ));
    }

    // The combined interval is renewed once per round; a holdover shorter
    // than a round would make the slave unsynchronized between two good
    // rounds.
    let (max_holdover_s, holdover_line) =
        value_or(file.max_holdover_s, text, default_max_holdover_s);
    let round_ms = poll_interval_ms.saturating_add(request_timeout_ms);
    if max_holdover_s.saturating_mul(1000) < round_ms {
        return Err(error(
            holdover_line,
            format!(
                "`max-holdover-s` = {max_holdover_s} is shorter than one poll round \
                 ({round_ms} ms): the slave would lose its interval between polls"
            ),
        ));
    }

    let (listen_text, listen_line) = value_or(file.listen, text, default_listen);
    let listen = if listen_text.is_empty() {
        None
    } else {
        Some(listen_text.parse::<SocketAddr>().map_err(|_| {
            error(
                listen_line,
                format!(
                    "`listen` = \"{listen_text}\" is not an IP address and port such as \
                     127.0.0.1:7380 (\"\" disables TCP)"
                ),
            )
        })?)
    };
    let (socket_text, socket_line) = value_or(file.socket, text, default_socket);
    let socket = (!socket_text.is_empty()).then(|| PathBuf::from(&socket_text));
    if listen.is_none() && socket.is_none() {
        return Err(error(
            socket_line.or(listen_line),
            "both `listen` and `socket` are disabled: the slave would serve no one".to_string(),
        ));
    }

    let (shm_text, _) = value_or(file.shm_path, text, default_shm_path);
    let shm_path = (!shm_text.is_empty()).then(|| PathBuf::from(&shm_text));

    let (log_level, level_line) = value_or(file.log_level, text, default_log_level);
    tt_ops::logging::check_level(&log_level)
        .map_err(|e| error(level_line, format!("`log-level`: {e}")))?;
    let (metrics_text, metrics_line) = value_or(file.metrics_listen, text, default_metrics_listen);
    let metrics_listen = if metrics_text.is_empty() {
        None
    } else {
        Some(metrics_text.parse::<SocketAddr>().map_err(|_| {
            error(
                metrics_line,
                format!(
                    "`metrics-listen` = \"{metrics_text}\" is not an IP address and port such \
                     as 127.0.0.1:9380 (\"\" serves no metrics)"
                ),
            )
        })?)
    };

    let (max_requests_per_s, rate_line) =
        value_or(file.max_requests_per_s, text, default_max_requests_per_s);
    if max_requests_per_s == 0 {
        return Err(error(
            rate_line,
            "`max-requests-per-s` must be at least 1".to_string(),
        ));
    }
    let tls = tls_files(file.tls_ca, file.tls_cert, file.tls_key, text, &masters)
        .map_err(|(line, message)| error(line, message))?;

    Ok(Config {
        origin: origin.to_string(),
        masters,
        max_falsetickers,
        poll_interval: Duration::from_millis(poll_interval_ms),
        request_timeout: Duration::from_millis(request_timeout_ms),
        drift: Drift::from_ppm(drift_ppm),
        max_holdover: Duration::from_secs(max_holdover_s),
        listen,
        socket,
        shm_path,
        log_format: file.log_format.unwrap_or_else(default_log_format),
        log_level,
        metrics_listen,
        max_requests_per_s,
        tls,
    })
}

/// Checks the TLS keys against each other and against how the masters are
/// written: `tls-cert` and `tls-key` go together and need `tls-ca`; with
/// `tls-ca` no master may be written `http://`, without it none
/// `https://`.
fn tls_files(
    ca: Option<Spanned<String>>,
    cert: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    text: &str,
    masters: &[MasterAddress],
) -> Result<Option<TlsFiles>, (Option<usize>, String)> {
    let (ca, _) = value_or(ca, text, default_tls_path);
    let (cert, cert_line) = value_or(cert, text, default_tls_path);
    let (key, key_line) = value_or(key, text, default_tls_path);
    let identity = match (cert.is_empty(), key.is_empty()) {
        (true, true) => None,
        (false, false) => Some((PathBuf::from(cert), PathBuf::from(key))),
        (false, true) => {
            return Err((
                cert_line,
                "`tls-cert` is set without `tls-key`: give both, or neither".to_string(),
            ))
        }
        (true, false) => {
            return Err((
                key_line,
                "`tls-key` is set without `tls-cert`: give both, or neither".to_string(),
            ))
        }
    };
    if ca.is_empty() {
        if identity.is_some() {
            return Err((
                cert_line,
                "`tls-cert` needs `tls-ca`: a client certificate is only presented over TLS, \
                 and TLS needs the CA the masters' certificates chain to"
                    .to_string(),
            ));
        }
        if let Some(master) = masters.iter().find(|m| m.name.starts_with("https://")) {
            return Err((
                master.line,
                format!(
                    "master `{}` is written https:// but `tls-ca` is not set: set tls-ca to \
                     the CA its certificate chains to",
                    master.name
                ),
            ));
        }
        return Ok(None);
    }
    if let Some(master) = masters.iter().find(|m| m.name.starts_with("http://")) {
        return Err((
            master.line,
            format!(
                "master `{}` is written http:// but with `tls-ca` every master is polled over \
                 TLS; write host:port or https://host:port",
                master.name
            ),
        ));
    }
    for master in masters {
        tt_ops::tls::check_server_name(&master.authority)
            .map_err(|why| (master.line, format!("master `{}`: {why}", master.name)))?;
    }
    Ok(Some(TlsFiles {
        ca: PathBuf::from(ca),
        identity,
    }))
}

/// The value of an optional key and its line, or the default and no line.
fn value_or<T>(key: Option<Spanned<T>>, text: &str, default: fn() -> T) -> (T, Option<usize>) {
    match key {
        Some(value) => {
            let line = line_at(text, value.span().start);
            (value.into_inner(), Some(line))
        }
        None => (default(), None),
    }
}

/// The 1-based line holding byte `offset` of `text`.
fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The key assigned on 1-based `line` of `text`, if that line is `key = ...`.
fn key_on_line(text: &str, line: usize) -> Option<&str> {
    let (key, _) = text.lines().nth(line.checked_sub(1)?)?.split_once('=')?;
    let key = key.trim();
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    plain.then_some(key)
}

/// How long start-up waits for a master's host name to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Resolves every master to one socket address, in configured order. A name
/// that does not resolve, or two names for the same address, is a
/// configuration error. Addresses are resolved once: a master that moves to
/// another address needs a restart of the slave.
pub async fn resolve_masters(config: &Config) -> Result<Vec<SocketAddr>, ConfigError> {
    let mut resolved: Vec<SocketAddr> = Vec::with_capacity(config.masters.len());
    for master in &config.masters {
        let error = |message: String| ConfigError {
            origin: config.origin.clone(),
            line: master.line,
            message,
        };
        let lookup = tokio::time::timeout(
            RESOLVE_TIMEOUT,
            tokio::net::lookup_host(master.authority.as_str()),
        )
        .await;
        let first = match lookup {
            Err(_) => {
                return Err(error(format!(
                    "master `{}` did not resolve within {} s; check the name and the resolver",
                    master.name,
                    RESOLVE_TIMEOUT.as_secs()
                )))
            }
            Ok(Err(e)) => {
                return Err(error(format!(
                    "master `{}` does not resolve: {e}; check the host name",
                    master.name
                )))
            }
            Ok(Ok(mut addresses)) => addresses.next(),
        };
        let Some(address) = first else {
            return Err(error(format!(
                "master `{}` resolves to no address; check the host name",
                master.name
            )));
        };
        if let Some(index) = resolved.iter().position(|&a| a == address) {
            return Err(error(format!(
                "master `{}` is {address}, the same master as `{}`; each master must count \
                 once in the vote",
                master.name, config.masters[index].name
            )));
        }
        resolved.push(address);
    }
    Ok(resolved)
}

/// Checks that `address` is `host:port`, `http://host:port` or
/// `https://host:port` and returns `host:port`. Whether the host resolves
/// is checked at start-up; whether the scheme fits the TLS keys, by
/// [`parse`].
pub fn master_authority(address: &str) -> Result<String, String> {
    let authority = address
        .strip_prefix("http://")
        .or_else(|| address.strip_prefix("https://"))
        .unwrap_or(address);
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    let shape = "write host:port, http://host:port or https://host:port";
    if authority.contains('/') || authority.contains(char::is_whitespace) {
        return Err(shape.to_string());
    }
    let Some((host, port)) = authority.rsplit_once(':') else {
        return Err(format!("no port; {shape}"));
    };
    if host.is_empty() {
        return Err(format!("no host; {shape}"));
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("`{port}` is not a port from 1 to 65535")),
        Ok(_) => Ok(authority.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "timeslave.toml";

    fn fails(text: &str) -> String {
        parse(text, ORIGIN).unwrap_err().to_string()
    }

    #[test]
    fn defaults_fill_every_key_but_masters() {
        let config = parse("masters = [\"a:1\", \"http://b:2\", \"c:3\"]\n", ORIGIN).unwrap();
        assert_eq!(config.masters.len(), 3);
        assert_eq!(config.masters[1].name, "http://b:2");
        assert_eq!(config.masters[1].authority, "b:2");
        // (3 - 1) / 2 = 1 falseticker tolerated.
        assert_eq!(config.max_falsetickers, 1);
        assert_eq!(config.poll_interval, Duration::from_millis(1000));
        assert_eq!(config.request_timeout, Duration::from_millis(500));
        assert_eq!(config.drift, Drift::from_ppm(200));
        assert_eq!(config.max_holdover, Duration::from_secs(60));
        assert_eq!(config.listen, Some("127.0.0.1:7380".parse().unwrap()));
        assert_eq!(
            config.socket,
            Some(PathBuf::from("/run/truetime/timeslave.sock"))
        );
        assert_eq!(
            config.shm_path,
            Some(PathBuf::from("/run/truetime/timeslave.shm"))
        );
        assert_eq!(config.log_format, LogFormat::Human);
    }

    #[test]
    fn example_config_parses_and_shows_every_default() {
        let text = include_str!("../../deploy/timeslave.example.toml");
        let example = parse(text, "timeslave.example.toml").unwrap();
        let masters = "masters = [\"127.0.0.1:7371\", \"127.0.0.1:7372\", \"127.0.0.1:7373\"]";
        let mut defaults = parse(masters, "timeslave.example.toml").unwrap();
        // Only where the masters were written differs.
        for (from_example, from_defaults) in example.masters.iter().zip(&mut defaults.masters) {
            assert_eq!(from_example.line, Some(7));
            from_defaults.line = from_example.line;
        }
        assert_eq!(example, defaults);
    }

    #[test]
    fn default_falsetickers_follow_the_count() {
        for (n, f) in [(1, 0), (2, 0), (3, 1), (4, 1), (5, 2), (7, 3)] {
            let list: Vec<String> = (1..=n).map(|i| format!("\"m:{i}\"")).collect();
            let text = format!("masters = [{}]", list.join(", "));
            assert_eq!(parse(&text, ORIGIN).unwrap().max_falsetickers, f, "n = {n}");
        }
    }

    #[test]
    fn every_key_is_read() {
        let text = "masters = [\"a:1\", \"b:2\", \"c:3\", \"d:4\", \"e:5\"]\n\
                    max-falsetickers = 1\n\
                    poll-interval-ms = 200\n\
                    request-timeout-ms = 100\n\
                    drift-ppm = 50\n\
                    max-holdover-s = 5\n\
                    listen = \"\"\n\
                    socket = \"/tmp/x.sock\"\n\
                    shm-path = \"\"\n\
                    log-format = \"json\"\n";
        let config = parse(text, ORIGIN).unwrap();
        assert_eq!(config.max_falsetickers, 1);
        assert_eq!(config.poll_interval, Duration::from_millis(200));
        assert_eq!(config.request_timeout, Duration::from_millis(100));
        assert_eq!(config.drift, Drift::from_ppm(50));
        assert_eq!(config.max_holdover, Duration::from_secs(5));
        assert_eq!(config.listen, None);
        assert_eq!(config.socket, Some(PathBuf::from("/tmp/x.sock")));
        assert_eq!(config.shm_path, None);
        assert_eq!(config.log_format, LogFormat::Json);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = "masters = [\"a:1\"]\n\npoll-interval = 3\n";
        let message = fails(text);
        assert!(
            message.starts_with("timeslave.toml line 3: unknown key `poll-interval`"),
            "{message}"
        );
    }

    #[test]
    fn wrong_type_names_the_key() {
        let message = fails("masters = [\"a:1\"]\npoll-interval-ms = \"fast\"\n");
        assert!(
            message.starts_with("timeslave.toml line 2: `poll-interval-ms`:"),
            "{message}"
        );
        let message = fails("masters = [\"a:1\"]\ndrift-ppm = -5\n");
        assert!(
            message.starts_with("timeslave.toml line 2: `drift-ppm`:"),
            "{message}"
        );
        let message = fails("masters = [\"a:1\"]\nlog-format = \"xml\"\n");
        assert!(message.starts_with("timeslave.toml line 2:"), "{message}");
        assert!(message.contains("xml"), "{message}");
    }

    #[test]
    fn malformed_toml_gives_its_line() {
        let message = fails("masters = [\"a:1\"]\nlisten = \n");
        assert!(message.starts_with("timeslave.toml line 2:"), "{message}");
    }

    #[test]
    fn masters_are_required() {
        assert!(fails("").contains("no masters configured"));
        let message = fails("listen = \"\"\nmasters = []\n");
        assert!(
            message.starts_with("timeslave.toml line 2: no masters configured"),
            "{message}"
        );
        let message = defaults().unwrap_err().to_string();
        assert!(message.contains("--config"), "{message}");
    }

    #[test]
    fn bad_master_addresses_are_refused_with_their_line() {
        for (address, why) in [
            ("not an address", "host:port"),
            ("localhost", "no port"),
            (":7371", "no host"),
            ("h:0", "port"),
            ("h:70000", "port"),
            ("https://h:1", "tls-ca"),
            ("http://h:1/x", "host:port"),
        ] {
            let text = format!("masters = [\n  \"a:1\",\n  \"{address}\",\n]\n");
            let message = fails(&text);
            assert!(
                message.starts_with(&format!("timeslave.toml line 3: master `{address}`")),
                "{message}"
            );
            assert!(message.contains(why), "{address}: {message}");
        }
    }

    #[test]
    fn a_master_listed_twice_is_refused() {
        let message = fails("masters = [\"a:1\", \"b:2\", \"http://a:1\"]");
        assert!(
            message.contains("`http://a:1` is listed twice"),
            "{message}"
        );
    }

    #[test]
    fn falsetickers_must_leave_a_majority() {
        // f = 1 needs 2f + 1 = 3 masters; two are configured.
        let message = fails("masters = [\"a:1\", \"b:2\"]\nmax-falsetickers = 1\n");
        assert_eq!(
            message,
            "timeslave.toml line 2: `max-falsetickers` = 1 needs at least 3 masters (2f + 1), \
             2 are configured"
        );
        assert!(parse(
            "masters = [\"a:1\", \"b:2\", \"c:3\"]\nmax-falsetickers = 1",
            ORIGIN
        )
        .is_ok());
    }

    #[test]
    fn out_of_range_numbers_are_refused() {
        let base = "masters = [\"a:1\"]\n";
        for (line, key) in [
            ("poll-interval-ms = 0", "poll-interval-ms"),
            ("request-timeout-ms = 0", "request-timeout-ms"),
            ("request-timeout-ms = 1001", "request-timeout-ms"),
            ("drift-ppm = 0", "drift-ppm"),
            ("drift-ppm = 100001", "drift-ppm"),
            ("max-holdover-s = 1", "max-holdover-s"),
            ("listen = \"localhost:7380\"", "listen"),
        ] {
            let message = fails(&format!("{base}{line}\n"));
            assert!(
                message.starts_with(&format!("timeslave.toml line 2: `{key}`")),
                "{line}: {message}"
            );
        }
        // One round is 1000 + 500 ms: a 2 s holdover covers it.
        assert!(parse(&format!("{base}max-holdover-s = 2\n"), ORIGIN).is_ok());
    }

    #[tokio::test]
    async fn masters_resolve_and_aliases_of_one_master_are_refused() {
        let config = parse("masters = [\"127.0.0.1:7371\", \"[::1]:7372\"]", ORIGIN).unwrap();
        let addresses = resolve_masters(&config).await.unwrap();
        assert_eq!(
            addresses,
            vec![
                "127.0.0.1:7371".parse::<SocketAddr>().unwrap(),
                "[::1]:7372".parse::<SocketAddr>().unwrap()
            ]
        );
        let config = parse(
            "masters = [\"127.0.0.1:7371\",\n\"http://127.0.0.1:7372\",\n\"127.0.0.1:07371\"]",
            ORIGIN,
        )
        .unwrap();
        let message = resolve_masters(&config).await.unwrap_err().to_string();
        assert!(
            message.starts_with("timeslave.toml line 3: master `127.0.0.1:07371` is 127.0.0.1:7371, the same master as `127.0.0.1:7371`"),
            "{message}"
        );
    }

    #[test]
    fn metrics_and_log_keys_are_read_and_checked() {
        let config = parse("masters = [\"a:1\"]\n", ORIGIN).unwrap();
        assert_eq!(config.log_level, "info");
        assert_eq!(
            config.metrics_listen,
            Some("127.0.0.1:9380".parse().unwrap())
        );
        let config = parse(
            "masters = [\"a:1\"]\nmetrics-listen = \"\"\nlog-level = \"debug\"\n",
            ORIGIN,
        )
        .unwrap();
        assert_eq!(config.metrics_listen, None);
        assert_eq!(config.log_level, "debug");
        let message = fails("masters = [\"a:1\"]\nmetrics-listen = \"localhost:1\"\n");
        assert!(
            message.starts_with("timeslave.toml line 2: `metrics-listen`"),
            "{message}"
        );
        let message = fails("masters = [\"a:1\"]\n\nlog-level = \"info,=[\"\n");
        assert!(
            message.starts_with("timeslave.toml line 3: `log-level`"),
            "{message}"
        );
    }

    #[test]
    fn tls_keys_are_read_and_checked_against_each_other_and_the_masters() {
        let config = parse("masters = [\"a:1\"]\n", ORIGIN).unwrap();
        assert_eq!(config.tls, None);
        assert_eq!(config.max_requests_per_s, 20_000);

        let config = parse(
            "masters = [\"https://m1.example:7371\", \"m2.example:7371\"]\n\
             tls-ca = \"/etc/truetime/ca.pem\"\ntls-cert = \"/etc/truetime/slave.pem\"\n\
             tls-key = \"/etc/truetime/slave.key\"\nmax-requests-per-s = 5\n",
            ORIGIN,
        )
        .unwrap();
        assert_eq!(config.masters[0].authority, "m1.example:7371");
        assert_eq!(
            config.tls,
            Some(TlsFiles {
                ca: PathBuf::from("/etc/truetime/ca.pem"),
                identity: Some((
                    PathBuf::from("/etc/truetime/slave.pem"),
                    PathBuf::from("/etc/truetime/slave.key")
                )),
            })
        );
        assert_eq!(config.max_requests_per_s, 5);

        for (text, line, says) in [
            (
                "masters = [\"a:1\"]\ntls-ca = \"c\"\ntls-cert = \"x\"\n",
                3,
                "without `tls-key`",
            ),
            (
                "masters = [\"a:1\"]\ntls-ca = \"c\"\ntls-key = \"x\"\n",
                3,
                "without `tls-cert`",
            ),
            (
                "masters = [\"a:1\"]\ntls-cert = \"x\"\ntls-key = \"y\"\n",
                2,
                "needs `tls-ca`",
            ),
            (
                "masters = [\"a:1\",\n\"http://b:2\"]\ntls-ca = \"c\"\n",
                2,
                "polled over TLS",
            ),
            (
                "masters = [\"a:1\",\n\"https://b:2\"]\n",
                2,
                "`tls-ca` is not set",
            ),
            (
                "masters = [\"a:1\"]\nmax-requests-per-s = 0\n",
                2,
                "at least 1",
            ),
            (
                "masters = [\"a:1\",\n\"b!:2\"]\ntls-ca = \"c\"\n",
                2,
                "neither a DNS name nor an IP address",
            ),
        ] {
            let message = fails(text);
            assert!(
                message.starts_with(&format!("timeslave.toml line {line}: ")),
                "{text}: {message}"
            );
            assert!(message.contains(says), "{text}: {message}");
        }
    }

    #[test]
    fn serving_nowhere_is_refused() {
        let message = fails("masters = [\"a:1\"]\nlisten = \"\"\nsocket = \"\"\n");
        assert!(message.contains("serve no one"), "{message}");
    }
}
