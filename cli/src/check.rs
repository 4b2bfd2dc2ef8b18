//! `tt-cli check-config FILE`: reads a timemaster or timeslave
//! configuration with the daemon's own parser (`timemaster::config::parse`,
//! `timeslave::config::parse`), so the check can never disagree with the
//! daemon that will read the file, and says in one line whether it is
//! valid: if not, the daemon's own error, naming the line and the key.
//!
//! Without `--kind`, the kind is told by the keys the file sets at its top
//! level: `masters`, `poll-interval-ms`, `request-timeout-ms`,
//! `max-holdover-s`, `socket` and `shm-path` are a slave's; `[[source]]`,
//! `peers`, the `peer-*` keys and `max-sample-age-ms` a master's. The
//! kind with more of its keys wins; a file with none of either (an empty
//! file is a valid master configuration, and an invalid slave one), or as
//! many of each, needs `--kind`.

use crate::{out, EXIT_ERROR};
use serde_json::{json, Value};
use std::path::Path;
use std::process::ExitCode;

/// Which daemon reads the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// timemaster.
    Master,
    /// timeslave.
    Slave,
}

impl Kind {
    fn daemon(self) -> &'static str {
        match self {
            Kind::Master => "timemaster",
            Kind::Slave => "timeslave",
        }
    }
}

/// Top-level keys only a slave's file sets.
const SLAVE_KEYS: [&str; 6] = [
    "masters",
    "poll-interval-ms",
    "request-timeout-ms",
    "max-holdover-s",
    "socket",
    "shm-path",
];

/// Top-level keys (and the table) only a master's file sets.
const MASTER_KEYS: [&str; 6] = [
    "source",
    "peers",
    "peer-max-falsetickers",
    "peer-poll-interval-ms",
    "peer-timeout-ms",
    "max-sample-age-ms",
];

/// The kind the file's top-level keys point to (see the module
/// documentation), read line by line so that a file TOML cannot parse is
/// still told apart.
pub fn detect(text: &str) -> Result<Kind, String> {
    let (mut master, mut slave) = (0usize, 0usize);
    let mut top_level = true;
    for line in text.lines() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[') {
            // `[[source]]` or `[source]`: a table; every key after it
            // belongs to a table, not to the top level.
            let name = header.trim_start_matches('[');
            let name = name.split(']').next().unwrap_or("").trim();
            if MASTER_KEYS.contains(&name) {
                master += 1;
            }
            top_level = false;
            continue;
        }
        if !top_level {
            continue;
        }
        let Some((key, _)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim().trim_matches('"');
        if SLAVE_KEYS.contains(&key) {
            slave += 1;
        } else if MASTER_KEYS.contains(&key) {
            master += 1;
        }
    }
    match master.cmp(&slave) {
        std::cmp::Ordering::Greater => Ok(Kind::Master),
        std::cmp::Ordering::Less => Ok(Kind::Slave),
        std::cmp::Ordering::Equal if master == 0 => Err(
            "sets no key that tells a timemaster configuration from a timeslave one; \
             pass --kind master or --kind slave"
                .to_string(),
        ),
        std::cmp::Ordering::Equal => Err(format!(
            "sets {master} keys of a timemaster configuration and as many of a timeslave one; \
             pass --kind master or --kind slave"
        )),
    }
}

/// What the check found.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Valid; a line saying what the daemon will do, and the same as JSON.
    Valid(String, Value),
    /// Invalid: the daemon's error line, and the line it names if any.
    Invalid(String, Option<usize>),
}

/// Checks `text` (named `origin` in messages) as `kind` reads it.
pub fn check(text: &str, origin: &str, kind: Kind) -> Verdict {
    match kind {
        Kind::Master => match timemaster::config::parse(text, origin) {
            Ok(config) => {
                let sources: Vec<Value> = config
                    .sources
                    .iter()
                    .map(|source| json!({ "name": source.name(), "kind": source_kind(source) }))
                    .collect();
                let shown: Vec<String> = sources
                    .iter()
                    .map(|s| {
                        format!(
                            "{} ({})",
                            s["name"].as_str().unwrap_or(""),
                            s["kind"].as_str().unwrap_or("")
                        )
                    })
                    .collect();
                let line = format!(
                    "{} source{}: {}; max-falsetickers {}; {} peer{}; listen {}",
                    sources.len(),
                    plural(sources.len()),
                    shown.join(", "),
                    config.max_falsetickers,
                    config.peers.len(),
                    plural(config.peers.len()),
                    config.listen
                );
                let summary = json!({
                    "sources": sources,
                    "max_falsetickers": config.max_falsetickers,
                    "peers": config.peers,
                    "listen": config.listen.to_string(),
                    "drift_ppm": config.drift_ppm,
                });
                Verdict::Valid(line, summary)
            }
            Err(error) => {
                let line = line_named(&error, origin);
                Verdict::Invalid(error, line)
            }
        },
        Kind::Slave => match timeslave::config::parse(text, origin) {
            Ok(config) => {
                let masters: Vec<&str> = config.masters.iter().map(|m| m.name.as_str()).collect();
                let listen = config.listen.map(|address| address.to_string());
                let socket = config.socket.as_ref().map(|p| p.display().to_string());
                let shm = config.shm_path.as_ref().map(|p| p.display().to_string());
                let line = format!(
                    "{} master{}: {}; max-falsetickers {}; polled every {} ms; listen {}; \
                     socket {}; shm-path {}",
                    masters.len(),
                    plural(masters.len()),
                    masters.join(", "),
                    config.max_falsetickers,
                    config.poll_interval.as_millis(),
                    listen.as_deref().unwrap_or("off"),
                    socket.as_deref().unwrap_or("off"),
                    shm.as_deref().unwrap_or("off"),
                );
                let summary = json!({
                    "masters": masters,
                    "max_falsetickers": config.max_falsetickers,
                    "poll_interval_ms": u64::try_from(config.poll_interval.as_millis()).unwrap_or(u64::MAX),
                    "listen": listen,
                    "socket": socket,
                    "shm_path": shm,
                    "drift_ppb": config.drift.ppb(),
                });
                Verdict::Valid(line, summary)
            }
            Err(error) => Verdict::Invalid(error.to_string(), error.line),
        },
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A source's `kind` as the file writes it: its variant's name in lower
/// case (each is one word: `Gpsd` is `gpsd`, `Ptp4l` is `ptp4l`), read
/// from its debug form so that a new kind needs no change here.
fn source_kind(source: &timemaster::config::SourceConfig) -> String {
    let shown = format!("{source:?}");
    shown
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("")
        .to_lowercase()
}

/// The line a timemaster error names: `<origin> line N: ...`.
fn line_named(error: &str, origin: &str) -> Option<usize> {
    let rest = error.strip_prefix(origin)?.strip_prefix(" line ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Runs the command: exit 0 valid, 1 invalid, 2 when the file cannot be
/// read or its kind cannot be told.
pub fn run(file: &Path, kind: Option<Kind>, json: bool) -> ExitCode {
    let origin = file.display().to_string();
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            out::error(&format!("cannot read {origin}: {e}"));
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let kind = match kind.map_or_else(|| detect(&text), Ok) {
        Ok(kind) => kind,
        Err(why) => {
            out::error(&format!("{origin} {why}"));
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let daemon = kind.daemon();
    let (status, text) = match check(&text, &origin, kind) {
        Verdict::Valid(line, summary) => {
            let text = if json {
                json!({
                    "file": origin,
                    "kind": daemon,
                    "valid": true,
                    "error": null,
                    "line": null,
                    "summary": summary,
                })
                .to_string()
            } else {
                format!("{origin}: valid {daemon} configuration: {line}")
            };
            (0, text)
        }
        Verdict::Invalid(error, line) => {
            let text = if json {
                json!({
                    "file": origin,
                    "kind": daemon,
                    "valid": false,
                    "error": error,
                    "line": line,
                    "summary": null,
                })
                .to_string()
            } else {
                format!("invalid {daemon} configuration: {error}")
            };
            (1, text)
        }
    };
    out::finish(status, out::line(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_tell_the_kind() {
        assert_eq!(detect("masters = [\"a:1\"]\n"), Ok(Kind::Slave));
        assert_eq!(
            detect("drift-ppm = 100\n[[source]]\nname = \"k\"\nkind = \"kernel\"\n"),
            Ok(Kind::Master)
        );
        assert_eq!(detect("peers = [\"b:2\"]\n"), Ok(Kind::Master));
        // Keys inside a table are not top-level keys.
        assert_eq!(
            detect("[[source]]\nsocket = \"/var/run/ptp4l\"\nkind = \"ptp4l\"\nname = \"p\"\n"),
            Ok(Kind::Master)
        );
        // Shared keys only, or nothing: ask.
        assert!(detect("listen = \"127.0.0.1:1\"\ndrift-ppm = 100\n").is_err());
        assert!(detect("").is_err());
        // One of each: ask.
        assert!(detect("masters = []\npeers = []\n").is_err());
    }

    #[test]
    fn the_master_error_line_is_read_back() {
        assert_eq!(
            line_named("/etc/tm.toml line 12: `drift-ppm`: bad", "/etc/tm.toml"),
            Some(12)
        );
        assert_eq!(line_named("/etc/tm.toml: no source", "/etc/tm.toml"), None);
    }
}
