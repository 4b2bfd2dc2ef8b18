//! Logging through `tracing` to standard error: readable lines by default,
//! one JSON object per event on request, with a level filter that a
//! configuration reload can change.
//!
//! The filter is the configuration's `log-level` (an `EnvFilter`
//! directive such as `info` or `info,timeslave=debug`), unless `RUST_LOG`
//! is set: then `RUST_LOG` wins, at start and at every reload.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// How log lines are written: `log-format = "human"` or `"json"` in
/// either daemon's configuration, or `--log-format` on its command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// One readable line per event (colours only on a terminal).
    Human,
    /// One JSON object per event.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<LogFormat, String> {
        match text {
            "human" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("log format `{text}` is neither human nor json")),
        }
    }
}

/// Checks a `log-level` value: the error says what is wrong with it.
pub fn check_level(level: &str) -> Result<(), String> {
    EnvFilter::try_new(level).map(|_| ()).map_err(|e| {
        format!("`{level}` is not a log filter such as \"info\" or \"warn,timeslave=debug\": {e}")
    })
}

/// Changes the level filter of the running logger.
pub struct LogControl {
    handle: reload::Handle<EnvFilter, Registry>,
    from_env: bool,
}

/// Installs the logger: `format`, filtered by `RUST_LOG` if it is set,
/// else by `level` (which [`check_level`] has accepted).
pub fn init(format: LogFormat, level: &str) -> LogControl {
    let (filter, from_env) = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => match EnvFilter::try_new(&directives) {
            Ok(filter) => (filter, true),
            Err(_) => (EnvFilter::new(level), false),
        },
        _ => (EnvFilter::new(level), false),
    };
    let (filter, handle) = reload::Layer::new(filter);
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Human => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(std::io::stderr),
            )
            .init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
    LogControl { handle, from_env }
}

impl LogControl {
    /// Filters by `level` from now on, unless `RUST_LOG` set the filter.
    /// Returns whether the filter changed.
    pub fn set_level(&self, level: &str) -> Result<bool, String> {
        if self.from_env {
            return Ok(false);
        }
        let filter = EnvFilter::try_new(level).map_err(|e| format!("log-level `{level}`: {e}"))?;
        self.handle
            .reload(filter)
            .map_err(|e| format!("cannot change the log filter: {e}"))?;
        Ok(true)
    }

    /// Whether `RUST_LOG` set the filter (and so `log-level` is ignored).
    pub fn from_env(&self) -> bool {
        self.from_env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_checked() {
        assert!(check_level("info").is_ok());
        assert!(check_level("warn,timeslave=debug").is_ok());
        let error = check_level("info,=[").unwrap_err();
        assert!(error.contains("not a log filter"), "{error}");
        assert_eq!("json".parse(), Ok(LogFormat::Json));
        assert!("xml".parse::<LogFormat>().is_err());
    }
}
