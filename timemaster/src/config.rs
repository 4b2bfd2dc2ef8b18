//! The timemaster's configuration file (TOML, kebab-case keys, unknown keys
//! rejected). Every key has a default, so the master also runs with no file
//! at all: the kernel clock plus gpsd on localhost:2947.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;

/// The whole configuration.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Where the gRPC service listens.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Bound on this host's local oscillator rate error, ppm.
    #[serde(default = "default_drift_ppm")]
    pub drift_ppm: u64,
    /// How many sources may be wrong at once (`f`); needs `2f < n`.
    #[serde(default)]
    pub max_falsetickers: usize,
    /// A source's sample is used only this long after it was taken.
    #[serde(default = "default_max_sample_age_ms")]
    pub max_sample_age_ms: u64,
    /// "human" or "json".
    #[serde(default = "default_log_format")]
    pub log_format: LogFormat,
    /// The log filter: a level such as "info", or directives such as
    /// "info,tt_hw=debug". `RUST_LOG`, when set, takes its place.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// Where the Prometheus metrics are served over HTTP, host:port; ""
    /// serves none.
    #[serde(default = "default_metrics_listen")]
    pub metrics_listen: String,
    /// The time sources.
    #[serde(default = "default_sources", rename = "source")]
    pub sources: Vec<SourceConfig>,
    /// Other masters this one compares itself with, host:port.
    #[serde(default)]
    pub peers: Vec<String>,
    /// How many peers may be wrong at once; default `(peers - 1) / 2`.
    #[serde(default)]
    pub peer_max_falsetickers: Option<usize>,
    /// How often each peer is polled, ms.
    #[serde(default = "default_peer_poll_interval_ms")]
    pub peer_poll_interval_ms: u64,
    /// How long one peer answer may take, ms.
    #[serde(default = "default_peer_timeout_ms")]
    pub peer_timeout_ms: u64,
    /// The IERS leap-seconds list; "" for none (every June and December
    /// midnight is then a possible leap second).
    #[serde(default = "default_leap_seconds_file")]
    pub leap_seconds_file: String,
    /// How long before a leap second answers are widened, s.
    #[serde(default = "default_leap_window_before_s")]
    pub leap_window_before_s: u64,
    /// How long after a leap second answers are widened, s.
    #[serde(default = "default_leap_window_after_s")]
    pub leap_window_after_s: u64,
    /// Requests a second the gRPC service answers, all clients together;
    /// more are refused (see `tt_ops::limit`).
    #[serde(default = "default_max_requests_per_s")]
    pub max_requests_per_s: u32,
    /// The certificate chain (PEM) this master serves TLS with, and
    /// presents to peers that require a client certificate; "" serves
    /// plain gRPC. See `tt_ops::tls`.
    #[serde(default)]
    pub tls_cert: String,
    /// The private key (PEM) of `tls-cert`.
    #[serde(default)]
    pub tls_key: String,
    /// The CA (PEM) clients' certificates must chain to; "" lets clients
    /// in without a certificate.
    #[serde(default)]
    pub tls_client_ca: String,
    /// The CA (PEM) peers' certificates must chain to; with it, peers are
    /// polled over TLS and must be issued for the host they are written
    /// with in `peers`.
    #[serde(default)]
    pub tls_ca: String,
}

pub use tt_ops::logging::LogFormat;

/// One time source.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SourceConfig {
    /// A GPS receiver read through gpsd.
    #[serde(rename_all = "kebab-case")]
    Gpsd {
        /// The source's name in status and logs.
        name: String,
        /// gpsd's address, host:port.
        #[serde(default = "default_gpsd_address")]
        address: String,
        /// Least delay from the top of a second to the arrival of its
        /// sentence, microseconds.
        #[serde(default)]
        min_delay_us: i64,
        /// Most delay from the top of a second to the arrival of its
        /// sentence, microseconds.
        #[serde(default = "default_max_delay_us")]
        max_delay_us: i64,
        /// The earliest date the receiver can truly report, YYYY-MM-DD.
        #[serde(default = "default_date_floor")]
        date_floor: String,
        /// Use gpsd's PPS messages for the edge of the second.
        #[serde(default)]
        pps: bool,
        /// Error bound of a PPS edge, nanoseconds.
        #[serde(default = "default_pps_precision_ns")]
        pps_precision_ns: i64,
    },
    /// The kernel clock, as disciplined by an NTP or PTP daemon.
    #[serde(rename_all = "kebab-case")]
    Kernel {
        /// The source's name in status and logs.
        name: String,
        /// How often to read it, milliseconds.
        #[serde(default = "default_kernel_poll_ms")]
        poll_interval_ms: u64,
    },
    /// A GPS receiver on a serial port, read directly (NMEA 0183: RMC, ZDA,
    /// GGA, GNS from any talker).
    #[serde(rename_all = "kebab-case")]
    Nmea {
        /// The source's name in status and logs.
        name: String,
        /// The serial device, e.g. /dev/ttyUSB0.
        device: String,
        /// Line speed, baud.
        #[serde(default = "default_nmea_baud")]
        baud: u32,
        /// Least delay from the top of a second to the arrival of the first
        /// sentence labelling it, microseconds (negative for a receiver
        /// that labels its seconds late).
        #[serde(default)]
        min_delay_us: i64,
        /// Most delay, microseconds, read latency included.
        #[serde(default = "default_max_delay_us")]
        max_delay_us: i64,
        /// The earliest date the receiver can truly report, YYYY-MM-DD.
        #[serde(default = "default_date_floor")]
        date_floor: String,
        /// A date before the floor that 1024 weeks would bring on or after
        /// it: "correct" it or "refuse" it.
        #[serde(default = "default_week_rollover")]
        week_rollover: tt_hw::nmea::WeekRollover,
        /// Refuse sentences without a checksum.
        #[serde(default = "default_require_checksum")]
        require_checksum: bool,
    },
    /// A kernel PPS device (/dev/ppsN), its edges numbered by another
    /// source.
    #[serde(rename_all = "kebab-case")]
    Pps {
        /// The source's name in status and logs.
        name: String,
        /// The PPS device, e.g. /dev/pps0.
        device: String,
        /// The source whose time says which second an edge marks.
        label_from: String,
        /// Bound on an edge's distance from the top of its second, ns.
        #[serde(default = "default_pps_precision_ns")]
        precision_ns: i64,
        /// How old the label's sample may be, ms.
        #[serde(default = "default_label_max_age_ms")]
        label_max_age_ms: u64,
    },
    /// A PTP hardware clock (/dev/ptpN).
    #[serde(rename_all = "kebab-case")]
    Phc {
        /// The source's name in status and logs.
        name: String,
        /// The PHC, e.g. /dev/ptp0.
        device: String,
        /// The PHC's timescale, "tai" or "utc".
        #[serde(default = "default_phc_timescale")]
        timescale: tt_hw::phc::Timescale,
        /// TAI - UTC, seconds.
        #[serde(default)]
        utc_offset_s: Option<i64>,
        /// ptp4l's management socket, for the discipline state and the UTC
        /// offset.
        #[serde(default)]
        ptp4l_socket: Option<String>,
        /// ptp4l's PTP domain.
        #[serde(default)]
        ptp4l_domain: u8,
        /// The PHC's error bound while disciplined, ns.
        accuracy_ns: i64,
        /// Sandwiches per read, 1 to 25.
        #[serde(default = "default_phc_samples")]
        samples: u32,
        /// How often to read it, ms.
        #[serde(default = "default_phc_poll_ms")]
        poll_interval_ms: u64,
        /// The oscillator's rate bound in holdover, parts per trillion.
        #[serde(default)]
        holdover_drift_pptr: Option<u64>,
        /// How long the holdover bound holds, s.
        #[serde(default)]
        holdover_max_s: Option<u64>,
    },
    /// A running ptp4l with software timestamping, asked over its
    /// management socket.
    #[serde(rename_all = "kebab-case")]
    Ptp4l {
        /// The source's name in status and logs.
        name: String,
        /// ptp4l's management socket (its uds_address).
        #[serde(default = "default_ptp4l_socket")]
        socket: String,
        /// ptp4l's PTP domain.
        #[serde(default)]
        domain: u8,
        /// How often to ask, ms.
        #[serde(default = "default_ptp4l_poll_ms")]
        poll_interval_ms: u64,
        /// Accept a grandmaster on the ARB timescale as serving UTC.
        #[serde(default)]
        allow_arb_timescale: bool,
        /// The accuracy to assume for a grandmaster whose clockAccuracy is
        /// unknown (0xFE), ns.
        #[serde(default)]
        unknown_gm_accuracy_ns: Option<i64>,
    },
}

impl SourceConfig {
    /// The configured name.
    pub fn name(&self) -> &str {
        match self {
            SourceConfig::Gpsd { name, .. } | SourceConfig::Kernel { name, .. } => name,
            SourceConfig::Nmea { name, .. } => name,
            SourceConfig::Pps { name, .. }
            | SourceConfig::Phc { name, .. }
            | SourceConfig::Ptp4l { name, .. } => name,
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7371))
}
fn default_drift_ppm() -> u64 {
    200
}
fn default_max_sample_age_ms() -> u64 {
    3_000
}
fn default_peer_poll_interval_ms() -> u64 {
    1_000
}
fn default_peer_timeout_ms() -> u64 {
    500
}
fn default_max_requests_per_s() -> u32 {
    tt_ops::limit::DEFAULT_REQUESTS_PER_S
}
fn default_leap_seconds_file() -> String {
    "/usr/share/zoneinfo/leap-seconds.list".to_string()
}
/// Ten minutes: longer than a slave carries an interval by default (60 s
/// of holdover plus a round), so nothing carried across a leap escapes it.
fn default_leap_window_before_s() -> u64 {
    600
}
/// Ten seconds: the leap second itself plus a master's sample age limit
/// (3 s by default), with room.
fn default_leap_window_after_s() -> u64 {
    10
}
fn default_log_format() -> LogFormat {
    LogFormat::Human
}
fn default_log_level() -> String {
    "info".to_string()
}
fn default_metrics_listen() -> String {
    "127.0.0.1:9371".to_string()
}
fn default_gpsd_address() -> String {
    "127.0.0.1:2947".to_string()
}
/// A serial receiver's sentences can arrive anywhere in the second after
/// the one they label: at 4800 baud a full epoch of sentences takes most of
/// it. Without a measured range, the whole second is the honest one.
fn default_max_delay_us() -> i64 {
    1_000_000
}
/// The floor of a receiver that is not configured: 2026-01-01. A date
/// before it can only come from the week-rollover bug.
fn default_date_floor() -> String {
    "2026-01-01".to_string()
}
fn default_pps_precision_ns() -> i64 {
    1_000
}
fn default_nmea_baud() -> u32 {
    9600
}
fn default_week_rollover() -> tt_hw::nmea::WeekRollover {
    tt_hw::nmea::WeekRollover::Correct
}
fn default_require_checksum() -> bool {
    true
}
fn default_label_max_age_ms() -> u64 {
    3_000
}
fn default_phc_timescale() -> tt_hw::phc::Timescale {
    tt_hw::phc::Timescale::Tai
}
fn default_phc_samples() -> u32 {
    5
}
fn default_phc_poll_ms() -> u64 {
    1_000
}
fn default_ptp4l_socket() -> String {
    "/var/run/ptp4l".to_string()
}
fn default_ptp4l_poll_ms() -> u64 {
    1_000
}
fn default_kernel_poll_ms() -> u64 {
    1_000
}
fn default_sources() -> Vec<SourceConfig> {
    vec![
        SourceConfig::Kernel {
            name: "kernel".to_string(),
            poll_interval_ms: default_kernel_poll_ms(),
        },
        SourceConfig::Gpsd {
            name: "gps0".to_string(),
            address: default_gpsd_address(),
            min_delay_us: 0,
            max_delay_us: default_max_delay_us(),
            date_floor: default_date_floor(),
            pps: false,
            pps_precision_ns: default_pps_precision_ns(),
        },
    ]
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: default_listen(),
            drift_ppm: default_drift_ppm(),
            max_falsetickers: 0,
            max_sample_age_ms: default_max_sample_age_ms(),
            log_format: default_log_format(),
            log_level: default_log_level(),
            metrics_listen: default_metrics_listen(),
            peers: Vec::new(),
            peer_max_falsetickers: None,
            peer_poll_interval_ms: default_peer_poll_interval_ms(),
            peer_timeout_ms: default_peer_timeout_ms(),
            leap_seconds_file: default_leap_seconds_file(),
            leap_window_before_s: default_leap_window_before_s(),
            leap_window_after_s: default_leap_window_after_s(),
            max_requests_per_s: default_max_requests_per_s(),
            tls_cert: String::new(),
            tls_key: String::new(),
            tls_client_ca: String::new(),
            tls_ca: String::new(),
            sources: default_sources(),
        }
    }
}

/// Reads and checks the configuration file at `path`. The error is one
/// line naming the file, and the line and key where it can.
pub fn load(path: &Path) -> Result<Config, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
    parse(&text, &path.display().to_string())
}

/// Parses and checks configuration text; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Config, String> {
    let config: Config = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().replace(['\n', '\r'], " ");
        let start = e
            .span()
            .map(|span| line_of(text, span.start.min(text.len())));
        // An unknown key inside a [[source]] is reported at the table: point
        // at the key itself.
        let line = quoted_after(&message, "unknown field `")
            .and_then(|key| key_line(text, key, start.unwrap_or(1), usize::MAX))
            .or(start);
        let key = line.and_then(|line| key_on_line(text, line));
        match (line, key) {
            (Some(line), Some(key)) if !message.contains(&format!("`{key}`")) => {
                format!("{origin} line {line}: `{key}`: {message}")
            }
            (Some(line), _) => format!("{origin} line {line}: {message}"),
            (None, _) => format!("{origin}: {message}"),
        }
    })?;
    config.validate().map_err(|e| {
        // Values quoted from the file may hold line breaks; the error stays
        // one line.
        let e = e.replace(['\n', '\r'], " ");
        match locate(text, &e) {
            Some(line) => format!("{origin} line {line}: {e}"),
            None => format!("{origin}: {e}"),
        }
    })?;
    Ok(config)
}

/// The 1-based line holding byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

/// The text between `prefix` and the next backtick in `message`.
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    Some(&rest[..rest.find('`')?])
}

/// The key assigned on 1-based `line`, if the line is `key = ...`.
fn key_on_line(text: &str, line: usize) -> Option<&str> {
    let (key, _) = text.lines().nth(line.checked_sub(1)?)?.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && !key.starts_with('#') && !key.contains(' ')).then_some(key)
}

/// The first line in `from..until` (1-based, inclusive..exclusive) that
/// assigns `key`.
fn key_line(text: &str, key: &str, from: usize, until: usize) -> Option<usize> {
    (from..until.min(text.lines().count() + 1)).find(|&line| key_on_line(text, line) == Some(key))
}

/// Where a checked configuration's error is: the line of the first key the
/// message names, inside the `[[source]]` it names if it names one (else
/// that source's table).
fn locate(text: &str, message: &str) -> Option<usize> {
    let lines = text.lines().count() + 1;
    let is_header = |line: usize| {
        text.lines()
            .nth(line - 1)
            .is_some_and(|l| l.trim_start().starts_with('['))
    };
    let (from, until) = match quoted_after(message, "source `") {
        Some(name) => {
            let quoted = format!("\"{name}\"");
            let name_line = (1..lines).find(|&line| {
                key_on_line(text, line) == Some("name")
                    && text
                        .lines()
                        .nth(line - 1)
                        .is_some_and(|l| l.contains(&quoted))
            })?;
            let start = (1..=name_line).rev().find(|&l| is_header(l)).unwrap_or(1);
            let end = (name_line + 1..lines)
                .find(|&l| is_header(l))
                .unwrap_or(lines);
            (start, end)
        }
        None => (1, lines),
    };
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '-');
    let mut named: Vec<(usize, usize)> = (from..until)
        .filter_map(|line| {
            let key = key_on_line(text, line)?;
            let (at, _) = message.match_indices(key).find(|&(at, _)| {
                !is_word(message[..at].chars().next_back())
                    && !is_word(message[at + key.len()..].chars().next())
            })?;
            Some((at, line))
        })
        .collect();
    named.sort_unstable();
    named
        .first()
        .map(|&(_, line)| line)
        .or((from > 1).then_some(from))
}

impl Config {
    /// `f` for the peers: as configured, else `(peers - 1) / 2`.
    pub fn peer_falsetickers(&self) -> usize {
        self.peer_max_falsetickers
            .unwrap_or(self.peers.len().saturating_sub(1) / 2)
    }

    fn validate_peers(&self) -> Result<(), String> {
        for peer in &self.peers {
            let valid = peer.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            });
            if !valid {
                return Err(format!(
                    "peer `{peer}` is not host:port (for example \"10.0.0.2:7371\")"
                ));
            }
        }
        let f = self.peer_falsetickers();
        if !self.peers.is_empty() && 2 * f >= self.peers.len() {
            return Err(format!(
                "peer-max-falsetickers = {f} needs at least {} peers (2f + 1), {} configured",
                2 * f + 1,
                self.peers.len()
            ));
        }
        if self.peer_poll_interval_ms == 0 || self.peer_timeout_ms == 0 {
            return Err("peer-poll-interval-ms and peer-timeout-ms must be above 0".to_string());
        }
        if self.peer_timeout_ms > self.peer_poll_interval_ms {
            return Err(format!(
                "peer-timeout-ms = {} exceeds peer-poll-interval-ms = {}",
                self.peer_timeout_ms, self.peer_poll_interval_ms
            ));
        }
        Ok(())
    }

    /// The address the metrics are served on, if any.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_listen.parse().ok()
    }

    /// Checks the TLS keys against each other: `tls-cert` and `tls-key`
    /// go together, and `tls-client-ca` needs them (clients are checked
    /// during a TLS handshake only).
    fn validate_tls(&self) -> Result<(), String> {
        match (self.tls_cert.is_empty(), self.tls_key.is_empty()) {
            (false, true) => {
                return Err("tls-cert is set without tls-key: give both, or neither".to_string())
            }
            (true, false) => {
                return Err("tls-key is set without tls-cert: give both, or neither".to_string())
            }
            _ => {}
        }
        if !self.tls_client_ca.is_empty() && self.tls_cert.is_empty() {
            return Err(
                "tls-client-ca needs tls-cert and tls-key: clients are checked in a TLS \
                 handshake, which needs this master's own certificate"
                    .to_string(),
            );
        }
        if !self.tls_ca.is_empty() {
            for peer in &self.peers {
                tt_ops::tls::check_server_name(peer)
                    .map_err(|why| format!("peer `{peer}`: {why}"))?;
            }
        }
        if self.max_requests_per_s == 0 {
            return Err("max-requests-per-s must be at least 1".to_string());
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), String> {
        self.validate_peers()?;
        self.validate_tls()?;
        if self.leap_window_after_s < 2 {
            return Err(format!(
                "leap-window-after-s = {} must cover the leap second itself and more: at least 2",
                self.leap_window_after_s
            ));
        }
        if !self.metrics_listen.is_empty() && self.metrics_address().is_none() {
            return Err(format!(
                "metrics-listen = \"{}\" is not an IP address and port such as \
                 127.0.0.1:9371 (\"\" serves no metrics)",
                self.metrics_listen
            ));
        }
        tt_ops::logging::check_level(&self.log_level).map_err(|e| format!("log-level: {e}"))?;
        let n = self.sources.len();
        if n == 0 {
            return Err("no [[source]] configured: a master needs at least one".to_string());
        }
        if 2 * self.max_falsetickers >= n {
            return Err(format!(
                "max-falsetickers = {} needs at least {} sources (2f + 1), {n} configured",
                self.max_falsetickers,
                2 * self.max_falsetickers + 1
            ));
        }
        if self.drift_ppm == 0 || self.drift_ppm > 100_000 {
            return Err(format!(
                "drift-ppm = {} is out of range: give a bound between 1 and 100000",
                self.drift_ppm
            ));
        }
        if self.max_sample_age_ms == 0 {
            return Err("max-sample-age-ms must be above 0".to_string());
        }
        let mut names = std::collections::HashSet::new();
        for source in &self.sources {
            if source.name().is_empty() {
                return Err("a [[source]] has an empty name".to_string());
            }
            if !names.insert(source.name()) {
                return Err(format!("two sources are named `{}`", source.name()));
            }
            if let SourceConfig::Gpsd {
                name,
                min_delay_us,
                max_delay_us,
                date_floor,
                pps_precision_ns,
                ..
            } = source
            {
                if *min_delay_us < 0 || min_delay_us > max_delay_us {
                    return Err(format!(
                        "source `{name}`: need 0 <= min-delay-us <= max-delay-us, got {min_delay_us} and {max_delay_us}"
                    ));
                }
                if *max_delay_us > 10_000_000 {
                    return Err(format!(
                        "source `{name}`: max-delay-us = {max_delay_us} is over 10 s; no receiver is that late"
                    ));
                }
                if *pps_precision_ns < 0 {
                    return Err(format!(
                        "source `{name}`: pps-precision-ns must not be negative"
                    ));
                }
                parse_date(date_floor).map_err(|e| format!("source `{name}`: date-floor: {e}"))?;
            }
            if let SourceConfig::Nmea { name, .. } = source {
                nmea_config(source).map_err(|e| format!("source `{name}`: {e}"))?;
            }
            let drift = tt_core::Drift::from_ppm(self.drift_ppm);
            let named = |e: String| format!("source `{}`: {e}", source.name());
            pps_config(source, drift).map_err(named)?;
            phc_config(source, drift).map_err(named)?;
            ptp4l_config(source).map_err(named)?;
        }
        for source in &self.sources {
            if let SourceConfig::Pps {
                name, label_from, ..
            } = source
            {
                if label_from == name {
                    return Err(format!(
                        "source `{name}`: label-from names the source itself; name the GPS \
                         source that numbers its edges"
                    ));
                }
                if !names.contains(label_from.as_str()) {
                    return Err(format!(
                        "source `{name}`: label-from = \"{label_from}\" names no configured source"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The serial NMEA driver's configuration for an `nmea` source, checked:
/// `-1 s <= min-delay-us <= max-delay-us <= 10 s`, a device, a baud rate
/// above 0 and a valid date floor. `None` for any other kind of source.
pub fn nmea_config(source: &SourceConfig) -> Result<Option<tt_hw::nmea::NmeaConfig>, String> {
    let SourceConfig::Nmea {
        device,
        baud,
        min_delay_us,
        max_delay_us,
        date_floor,
        week_rollover,
        require_checksum,
        ..
    } = source
    else {
        return Ok(None);
    };
    if *min_delay_us < -1_000_000 || min_delay_us > max_delay_us || *max_delay_us > 10_000_000 {
        return Err(format!(
            "need -1000000 <= min-delay-us <= max-delay-us <= 10000000, got {min_delay_us} and \
             {max_delay_us}"
        ));
    }
    let nmea = tt_hw::nmea::NmeaConfig {
        device: device.clone(),
        baud: *baud,
        min_delay_ns: min_delay_us.saturating_mul(1000),
        max_delay_ns: max_delay_us.saturating_mul(1000),
        date_floor_unix_s: parse_date(date_floor).map_err(|e| format!("date-floor: {e}"))?,
        week_rollover: *week_rollover,
        require_checksum: *require_checksum,
    };
    nmea.validate().map_err(|e| e.to_string())?;
    Ok(Some(nmea))
}

fn millis(ms: u64) -> std::time::Duration {
    std::time::Duration::from_millis(ms)
}

/// The PPS driver's configuration for a `pps` source, checked, and the
/// name of the source that labels its edges. `None` for any other kind.
pub fn pps_config(
    source: &SourceConfig,
    local_drift: tt_core::Drift,
) -> Result<Option<(tt_hw::pps::PpsConfig, String)>, String> {
    let SourceConfig::Pps {
        device,
        label_from,
        precision_ns,
        label_max_age_ms,
        ..
    } = source
    else {
        return Ok(None);
    };
    let pps = tt_hw::pps::PpsConfig {
        label_max_age: millis(*label_max_age_ms),
        local_drift,
        ..tt_hw::pps::PpsConfig::new(device, *precision_ns)
    };
    pps.validate()?;
    Ok(Some((pps, label_from.clone())))
}

/// The PHC driver's configuration for a `phc` source, checked: holdover
/// needs both `holdover-drift-pptr` and `holdover-max-s`. `None` for any
/// other kind.
pub fn phc_config(
    source: &SourceConfig,
    local_drift: tt_core::Drift,
) -> Result<Option<tt_hw::phc::PhcConfig>, String> {
    let SourceConfig::Phc {
        device,
        timescale,
        utc_offset_s,
        ptp4l_socket,
        ptp4l_domain,
        accuracy_ns,
        samples,
        poll_interval_ms,
        holdover_drift_pptr,
        holdover_max_s,
        ..
    } = source
    else {
        return Ok(None);
    };
    let holdover = match (holdover_drift_pptr, holdover_max_s) {
        (None, None) => None,
        (Some(drift_pptr), Some(max_s)) => Some(tt_hw::holdover::HoldoverConfig {
            drift_pptr: *drift_pptr,
            max_ns: i64::try_from(*max_s)
                .unwrap_or(i64::MAX)
                .saturating_mul(tt_core::NANOS_PER_SEC),
        }),
        _ => return Err("holdover needs both holdover-drift-pptr and holdover-max-s".to_string()),
    };
    let phc = tt_hw::phc::PhcConfig {
        utc_offset_s: *utc_offset_s,
        ptp4l_socket: ptp4l_socket.as_ref().map(std::path::PathBuf::from),
        ptp4l_domain: *ptp4l_domain,
        samples: *samples,
        poll_interval: millis(*poll_interval_ms),
        holdover,
        local_drift,
        ..tt_hw::phc::PhcConfig::new(device, *timescale, *accuracy_ns)
    };
    phc.validate()?;
    Ok(Some(phc))
}

/// The ptp4l driver's configuration for a `ptp4l` source, checked. `None`
/// for any other kind.
pub fn ptp4l_config(source: &SourceConfig) -> Result<Option<tt_hw::ptp4l::Ptp4lConfig>, String> {
    let SourceConfig::Ptp4l {
        socket,
        domain,
        poll_interval_ms,
        allow_arb_timescale,
        unknown_gm_accuracy_ns,
        ..
    } = source
    else {
        return Ok(None);
    };
    let ptp4l = tt_hw::ptp4l::Ptp4lConfig {
        socket: std::path::PathBuf::from(socket),
        domain: *domain,
        poll_interval: millis(*poll_interval_ms),
        allow_arb_timescale: *allow_arb_timescale,
        unknown_gm_accuracy_ns: *unknown_gm_accuracy_ns,
    };
    ptp4l.validate()?;
    Ok(Some(ptp4l))
}

/// The leap seconds to expect, from `leap-seconds-file`, and a warning
/// to log when there is no list to read. A missing list is not fatal: the
/// schedule then treats every June and December midnight as a possible
/// leap second, which costs width, never truth. A list that exists but
/// cannot be read or parsed is an error naming the file.
pub fn leap_schedule(
    config: &Config,
) -> Result<(tt_core::leap_schedule::LeapSchedule, Option<String>), String> {
    use tt_core::leap_schedule::LeapSchedule;
    let path = &config.leap_seconds_file;
    if path.is_empty() {
        return Ok((LeapSchedule::unknown(), None));
    }
    match std::fs::read_to_string(path) {
        Ok(text) => LeapSchedule::parse(&text)
            .map(|schedule| (schedule, None))
            .map_err(|e| format!("leap-seconds list {path} {e}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((
            LeapSchedule::unknown(),
            Some(format!(
                "no leap-seconds list at {path} (install tzdata, or point leap-seconds-file at \
                 the IERS list): every June and December midnight is treated as a possible \
                 leap second"
            )),
        )),
        Err(e) => Err(format!("cannot read the leap-seconds list {path}: {e}")),
    }
}

/// `YYYY-MM-DD` as seconds since the Unix epoch (00:00 UTC that day).
pub fn parse_date(text: &str) -> Result<i64, String> {
    let bad = || format!("`{text}` is not a date of the form YYYY-MM-DD");
    let mut parts = text.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let year: i64 = y.parse().map_err(|_| bad())?;
    let month: i64 = m.parse().map_err(|_| bad())?;
    let day: i64 = d.parse().map_err(|_| bad())?;
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month) || day < 1 || day > month_days[(month - 1) as usize] {
        return Err(bad());
    }
    Ok(days_from_civil(year, month, day) * 86_400)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the usual
/// era-of-400-years computation).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use tt_core::Drift;

    #[test]
    fn empty_file_gives_the_defaults() {
        let config = parse("", "t.toml").unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.listen.port(), 7371);
        assert_eq!(config.sources.len(), 2);
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = parse("listen = \"127.0.0.1:1\"\nfoo = 3\n", "m.toml").unwrap_err();
        assert!(err.starts_with("m.toml line 2:"), "{err}");
        assert!(err.contains("foo"), "{err}");
    }

    #[test]
    fn unknown_key_in_a_source_is_refused() {
        let text = "[[source]]\nname = \"g\"\nkind = \"gpsd\"\nmax-dealy-us = 5\n";
        let err = parse(text, "m.toml").unwrap_err();
        assert!(err.contains("max-dealy-us"), "{err}");
        assert!(err.starts_with("m.toml line 4:"), "{err}");
    }

    #[test]
    fn checked_values_name_their_line() {
        let text = "listen = \"127.0.0.1:1\"\ndrift-ppm = 0\n";
        let err = parse(text, "m.toml").unwrap_err();
        assert!(err.starts_with("m.toml line 2: drift-ppm = 0"), "{err}");
        let text = "[[source]]\nname = \"k\"\nkind = \"kernel\"\n\n[[source]]\nname = \"g\"\n\
                    kind = \"gpsd\"\nmin-delay-us = 10\nmax-delay-us = 5\n";
        let err = parse(text, "m.toml").unwrap_err();
        assert!(err.starts_with("m.toml line 8: source `g`"), "{err}");
        let text = "[[source]]\nname = \"g\"\nkind = \"gpsd\"\ndate-floor = \"2026-02-30\"\n";
        let err = parse(text, "m.toml").unwrap_err();
        assert!(err.starts_with("m.toml line 4:"), "{err}");
    }

    #[test]
    fn a_wrong_type_names_its_key() {
        let err = parse("\ndrift-ppm = \"lots\"\n", "m.toml").unwrap_err();
        assert!(err.starts_with("m.toml line 2: `drift-ppm`:"), "{err}");
    }

    #[test]
    fn malformed_value_names_the_line() {
        let err = parse("drift-ppm = \"lots\"\n", "m.toml").unwrap_err();
        assert!(err.starts_with("m.toml line 1:"), "{err}");
        let err = parse("listen = \"nowhere\"\n", "m.toml").unwrap_err();
        assert!(err.starts_with("m.toml line 1:"), "{err}");
    }

    #[test]
    fn falsetickers_need_a_majority() {
        let text = "max-falsetickers = 1\n[[source]]\nname = \"k\"\nkind = \"kernel\"\n\
                    [[source]]\nname = \"g\"\nkind = \"gpsd\"\n";
        let err = parse(text, "m.toml").unwrap_err();
        assert!(err.contains("needs at least 3 sources"), "{err}");
    }

    #[test]
    fn delay_range_must_be_ordered() {
        let text =
            "[[source]]\nname = \"g\"\nkind = \"gpsd\"\nmin-delay-us = 10\nmax-delay-us = 5\n";
        assert!(parse(text, "m.toml").unwrap_err().contains("min-delay-us"));
    }

    #[test]
    fn peers_are_checked() {
        let config = parse(
            "peers = [\"127.0.0.1:7372\", \"m3.example:7371\"]\n",
            "m.toml",
        )
        .unwrap();
        // Two peers: both must agree (f = 0).
        assert_eq!(config.peer_falsetickers(), 0);
        let err = parse("peers = [\"127.0.0.1\"]\n", "m.toml").unwrap_err();
        assert!(err.contains("not host:port"), "{err}");
        let err = parse(
            "peers = [\"a:1\", \"b:2\"]\npeer-max-falsetickers = 1\n",
            "m.toml",
        )
        .unwrap_err();
        assert!(err.contains("needs at least 3 peers"), "{err}");
    }

    #[test]
    fn tls_keys_are_off_by_default_and_checked_against_each_other() {
        let config = parse("", "m.toml").unwrap();
        assert!(config.tls_cert.is_empty() && config.tls_ca.is_empty());
        assert_eq!(config.max_requests_per_s, 20_000);
        let config = parse(
            "tls-cert = \"/etc/truetime/m1.pem\"\ntls-key = \"/etc/truetime/m1.key\"\n\
             tls-client-ca = \"/etc/truetime/ca.pem\"\ntls-ca = \"/etc/truetime/ca.pem\"\n\
             peers = [\"m2.example:7371\", \"10.0.0.3:7371\"]\n",
            "m.toml",
        )
        .unwrap();
        assert_eq!(config.tls_key, "/etc/truetime/m1.key");
        assert_eq!(config.tls_client_ca, "/etc/truetime/ca.pem");
        for (text, line, says) in [
            ("\ntls-cert = \"a\"\n", 2, "without tls-key"),
            ("\ntls-key = \"a\"\n", 2, "without tls-cert"),
            ("\ntls-client-ca = \"a\"\n", 2, "needs tls-cert"),
            ("\nmax-requests-per-s = 0\n", 2, "at least 1"),
        ] {
            let err = parse(text, "m.toml").unwrap_err();
            assert!(err.starts_with(&format!("m.toml line {line}: ")), "{err}");
            assert!(err.contains(says), "{err}");
        }
        let err = parse("tls-ca = \"c\"\npeers = [\"b!:1\"]\n", "m.toml").unwrap_err();
        assert!(
            err.contains("neither a DNS name nor an IP address"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_leap_list_is_a_warning_and_a_bad_one_an_error() {
        let dir = std::env::temp_dir().join(format!("tt-leap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = Config {
            leap_seconds_file: dir.join("absent.list").display().to_string(),
            ..Config::default()
        };
        let (_, warning) = leap_schedule(&config).unwrap();
        assert!(warning.unwrap().contains("absent.list"));
        let bad = dir.join("bad.list");
        std::fs::write(&bad, "3644697600 36\n3692217600 39\n").unwrap();
        config.leap_seconds_file = bad.display().to_string();
        let err = leap_schedule(&config).unwrap_err();
        assert!(err.contains("bad.list line 2"), "{err}");
        config.leap_seconds_file = String::new();
        assert_eq!(leap_schedule(&config).unwrap().1, None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dates_are_checked() {
        // 2000-01-01 is 10957 days after 1970-01-01 (30 years, 7 leap days).
        assert_eq!(parse_date("2000-01-01"), Ok(10_957 * 86_400));
        // 2017-01-01T00:00:00Z = 1483228800 (the start of gpsd's era rule).
        assert_eq!(parse_date("2017-01-01"), Ok(1_483_228_800));
        assert_eq!(parse_date("1970-01-01"), Ok(0));
        assert!(parse_date("2023-02-29").is_err());
        assert_eq!(parse_date("2024-02-29"), Ok(1_709_164_800));
        assert!(parse_date("2024-13-01").is_err());
        assert!(parse_date("24-01-01").is_err());
    }

    #[test]
    fn an_nmea_source_with_its_defaults() {
        let text = "[[source]]\nname = \"serial\"\nkind = \"nmea\"\ndevice = \"/dev/ttyUSB0\"\n";
        let config = parse(text, "m.toml").unwrap();
        let nmea = nmea_config(&config.sources[0]).unwrap().unwrap();
        assert_eq!(nmea, tt_hw::nmea::NmeaConfig::for_device("/dev/ttyUSB0"));
        // 2026-01-01T00:00:00Z = 1767225600.
        assert_eq!(nmea.date_floor_unix_s, 1_767_225_600);
    }

    #[test]
    fn an_nmea_source_with_every_key() {
        let text = "[[source]]\nname = \"serial\"\nkind = \"nmea\"\ndevice = \"/dev/ttyS1\"\n\
                    baud = 4800\nmin-delay-us = -20000\nmax-delay-us = 400000\n\
                    date-floor = \"2000-01-01\"\nweek-rollover = \"refuse\"\n\
                    require-checksum = false\n";
        let config = parse(text, "m.toml").unwrap();
        let nmea = nmea_config(&config.sources[0]).unwrap().unwrap();
        assert_eq!(
            nmea,
            tt_hw::nmea::NmeaConfig {
                device: "/dev/ttyS1".to_string(),
                baud: 4800,
                min_delay_ns: -20_000_000,
                max_delay_ns: 400_000_000,
                date_floor_unix_s: 946_684_800,
                week_rollover: tt_hw::nmea::WeekRollover::Refuse,
                require_checksum: false,
            }
        );
    }

    #[test]
    fn an_nmea_source_is_checked() {
        let base = "[[source]]\nname = \"serial\"\nkind = \"nmea\"\n";
        let err = parse(base, "m.toml").unwrap_err();
        assert!(err.contains("device"), "{err}");
        let with = |extra: &str| parse(&format!("{base}device = \"/dev/x\"\n{extra}"), "m.toml");
        assert!(with("week-rollover = \"maybe\"\n")
            .unwrap_err()
            .contains("maybe"));
        assert!(with("baud = 0\n").unwrap_err().contains("baud"));
        assert!(with("min-delay-us = -2000000\n")
            .unwrap_err()
            .contains("min-delay-us"));
        assert!(with("max-delay-us = 20000000\n")
            .unwrap_err()
            .contains("max-delay-us"));
        assert!(with("date-floor = \"2026-13-01\"\n")
            .unwrap_err()
            .contains("date-floor"));
        assert!(with("parity = \"even\"\n").unwrap_err().contains("parity"));
        assert!(parse(&format!("{base}device = \"\"\n"), "m.toml")
            .unwrap_err()
            .contains("device"));
    }

    #[test]
    fn the_example_nmea_source_shows_the_defaults() {
        // The example's serial receiver is commented out, one setting per
        // line as `#key = value`; put back, it parses to the defaults.
        let text = include_str!("../../deploy/timemaster.example.toml");
        let kind = text
            .find("#kind = \"nmea\"")
            .expect("the example has an nmea block");
        let start = text[..kind]
            .rfind("#[[source]]")
            .expect("its [[source]] line");
        let block: String = text[start..]
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .filter_map(|l| l.strip_prefix('#'))
            .filter(|l| !l.starts_with(' ') && !l.is_empty())
            .map(|l| format!("{l}\n"))
            .collect();
        let config = parse(&block, "example nmea block").unwrap();
        assert_eq!(config.sources.len(), 1);
        let nmea = nmea_config(&config.sources[0]).unwrap().unwrap();
        assert_eq!(nmea, tt_hw::nmea::NmeaConfig::for_device("/dev/ttyUSB0"));
        // Every key of the variant is shown.
        for key in [
            "name",
            "kind",
            "device",
            "baud",
            "min-delay-us",
            "max-delay-us",
            "date-floor",
            "week-rollover",
            "require-checksum",
        ] {
            assert!(block.contains(&format!("{key} = ")), "{key} missing");
        }
    }

    /// The commented-out block of the example whose `#kind = "<kind>"`
    /// line is given, put back: its `#key = value` lines.
    fn example_block(kind: &str) -> String {
        let text = include_str!("../../deploy/timemaster.example.toml");
        let at = text
            .find(&format!("#kind = \"{kind}\""))
            .unwrap_or_else(|| panic!("the example has a {kind} block"));
        let start = text[..at]
            .rfind("#[[source]]")
            .expect("its [[source]] line");
        text[start..]
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .filter_map(|l| l.strip_prefix('#'))
            .filter(|l| !l.starts_with(' ') && !l.is_empty())
            .map(|l| format!("{l}\n"))
            .collect()
    }

    const GPS: &str = "[[source]]\nname = \"gps0\"\nkind = \"gpsd\"\n";

    #[test]
    fn the_example_pps_source_parses_to_its_defaults() {
        let block = example_block("pps");
        let config = parse(&format!("{GPS}{block}"), "example pps block").unwrap();
        let (pps, label) = pps_config(&config.sources[1], Drift::from_ppm(200))
            .unwrap()
            .unwrap();
        assert_eq!(pps, tt_hw::pps::PpsConfig::new("/dev/pps0", 1_000));
        assert_eq!(label, "gps0");
        for key in ["device", "label-from", "precision-ns", "label-max-age-ms"] {
            assert!(block.contains(&format!("{key} = ")), "{key} missing");
        }
    }

    #[test]
    fn the_example_phc_source_parses() {
        let block = example_block("phc");
        let config = parse(&block, "example phc block").unwrap();
        let phc = phc_config(&config.sources[0], Drift::from_ppm(200))
            .unwrap()
            .unwrap();
        let expected = tt_hw::phc::PhcConfig {
            utc_offset_s: Some(37),
            ptp4l_socket: Some("/var/run/ptp4l".into()),
            holdover: Some(tt_hw::holdover::HoldoverConfig {
                drift_pptr: 50,
                max_ns: 86_400 * tt_core::NANOS_PER_SEC,
            }),
            ..tt_hw::phc::PhcConfig::new("/dev/ptp0", tt_hw::phc::Timescale::Tai, 1_000)
        };
        assert_eq!(phc, expected);
        for key in [
            "device",
            "timescale",
            "utc-offset-s",
            "ptp4l-socket",
            "ptp4l-domain",
            "accuracy-ns",
            "samples",
            "poll-interval-ms",
            "holdover-drift-pptr",
            "holdover-max-s",
        ] {
            assert!(block.contains(&format!("{key} = ")), "{key} missing");
        }
    }

    #[test]
    fn the_example_ptp4l_source_parses_to_its_defaults() {
        let block = example_block("ptp4l");
        let config = parse(&block, "example ptp4l block").unwrap();
        let ptp4l = ptp4l_config(&config.sources[0]).unwrap().unwrap();
        assert_eq!(
            ptp4l,
            tt_hw::ptp4l::Ptp4lConfig {
                unknown_gm_accuracy_ns: Some(1_000),
                ..tt_hw::ptp4l::Ptp4lConfig::default()
            }
        );
        for key in [
            "socket",
            "domain",
            "poll-interval-ms",
            "allow-arb-timescale",
            "unknown-gm-accuracy-ns",
        ] {
            assert!(block.contains(&format!("{key} = ")), "{key} missing");
        }
    }

    #[test]
    fn pps_phc_and_ptp4l_sources_are_checked() {
        let pps = |label: &str| {
            format!(
                "{GPS}[[source]]\nname = \"pps0\"\nkind = \"pps\"\ndevice = \"/dev/pps0\"\n\
                 label-from = \"{label}\"\n"
            )
        };
        assert!(parse(&pps("gps0"), "m.toml").is_ok());
        let err = parse(&pps("gps9"), "m.toml").unwrap_err();
        assert!(err.contains("names no configured source"), "{err}");
        let err = parse(&pps("pps0"), "m.toml").unwrap_err();
        assert!(err.contains("itself"), "{err}");
        let err = parse(&format!("{}precision-ns = -5\n", pps("gps0")), "m.toml").unwrap_err();
        assert!(
            err.contains("pps0") && err.contains("precision-ns"),
            "{err}"
        );

        let phc = "[[source]]\nname = \"phc0\"\nkind = \"phc\"\ndevice = \"/dev/ptp0\"\n";
        let err = parse(phc, "m.toml").unwrap_err();
        assert!(err.contains("accuracy-ns"), "{err}");
        let err = parse(&format!("{phc}accuracy-ns = 100\n"), "m.toml").unwrap_err();
        assert!(err.contains("utc-offset-s or ptp4l-socket"), "{err}");
        let utc = format!("{phc}accuracy-ns = 100\ntimescale = \"utc\"\n");
        assert!(parse(&utc, "m.toml").is_ok());
        let err = parse(&format!("{utc}holdover-max-s = 60\n"), "m.toml").unwrap_err();
        assert!(err.contains("holdover needs both"), "{err}");
        let err = parse(
            &format!("{phc}accuracy-ns = 100\ntimescale = \"gps\"\n"),
            "m.toml",
        )
        .unwrap_err();
        assert!(err.contains("timescale") || err.contains("gps"), "{err}");

        let ptp4l = "[[source]]\nname = \"ptp0\"\nkind = \"ptp4l\"\n";
        assert!(parse(ptp4l, "m.toml").is_ok());
        let err = parse(&format!("{ptp4l}poll-interval-ms = 1\n"), "m.toml").unwrap_err();
        assert!(err.contains("ptp0") && err.contains("10 ms"), "{err}");
    }

    #[test]
    fn metrics_and_log_keys_are_checked() {
        let config = parse(
            "metrics-listen = \"\"\nlog-level = \"warn,tt_hw=debug\"\n",
            "m.toml",
        )
        .unwrap();
        assert_eq!(config.metrics_address(), None);
        assert_eq!(config.log_level, "warn,tt_hw=debug");
        assert_eq!(
            Config::default().metrics_address(),
            Some(SocketAddr::from(([127, 0, 0, 1], 9371)))
        );
        let err = parse("\nmetrics-listen = \"localhost:9371\"\n", "m.toml").unwrap_err();
        assert!(err.starts_with("m.toml line 2: metrics-listen"), "{err}");
        let err = parse("log-level = \"info,=[\"\n", "m.toml").unwrap_err();
        assert!(err.starts_with("m.toml line 1: log-level"), "{err}");
    }

    #[test]
    fn example_config_parses() {
        let text = include_str!("../../deploy/timemaster.example.toml");
        // The example shows every key at its default.
        let config = parse(text, "timemaster.example.toml").unwrap();
        assert_eq!(config, Config::default());
    }
}
