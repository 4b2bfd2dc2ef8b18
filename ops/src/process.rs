//! The start and the end of a daemon's process, around its own work: the
//! command line, the logger, systemd's notification socket and the async
//! runtime, and the one line a person reads when the process fails.
//!
//! Exit status 2 is a mistake on the command line (or, for the daemons, in
//! the configuration); 1 is a failure to start or to serve.

use crate::logging::{LogControl, LogFormat};
use crate::notify::Notifier;
use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How long blocking work still running when the daemon's work has ended
/// (a device read, a name lookup) is waited for.
const BLOCKING_WAIT: Duration = Duration::from_millis(100);

/// Prints `<program>: <message>` to standard error and exits with `code`.
pub fn fail(program: &str, message: impl Display, code: u8) -> ! {
    eprintln!("{program}: {message}");
    std::process::exit(i32::from(code))
}

/// The command line as `A` declares it. A mistake is one line saying what
/// was wrong (not clap's usage block; `--help` has the rest) and exit
/// status 2; `--help` and `--version` print and exit 0.
pub fn parse_args<A: clap::Parser>(program: &str) -> A {
    match A::try_parse() {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("bad arguments");
            fail(
                program,
                format!("{} (see --help)", first.trim_start_matches("error: ")),
                2,
            )
        }
    }
}

/// The command-line flag that sets the log format in place of the
/// configuration file's.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct LogFormatFlag {
    /// How log lines are written, in place of the file's log-format.
    #[arg(long, value_name = "FORMAT", value_parser = ["human", "json"])]
    log_format: Option<String>,
}

impl LogFormatFlag {
    /// The flag's format if it was given, else `from_file`.
    pub fn or(&self, from_file: LogFormat) -> LogFormat {
        match self.log_format.as_deref() {
            Some("json") => LogFormat::Json,
            Some(_) => LogFormat::Human,
            None => from_file,
        }
    }

    /// Whether the flag was given (and so the file's log-format does not
    /// count, at start or at a reload).
    pub fn is_set(&self) -> bool {
        self.log_format.is_some()
    }
}

/// What a daemon starts with.
pub struct Started {
    /// The logger's level control.
    pub logs: LogControl,
    /// systemd's notification socket, when systemd started the daemon.
    pub notifier: Option<Arc<Notifier>>,
    /// Where the daemon's work runs.
    pub runtime: Runtime,
}

/// Installs the logger (`format`, filtered by `level` unless `RUST_LOG` is
/// set), opens systemd's notification socket if `$NOTIFY_SOCKET` names
/// one, and builds the async runtime (two worker threads). A failure is
/// one line and exit status 1.
pub fn start(program: &str, format: LogFormat, level: &str) -> Started {
    let logs = crate::logging::init(format, level);
    let notifier = match Notifier::from_env() {
        Ok(notifier) => notifier.map(Arc::new),
        Err(e) => fail(program, e, 1),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => Runtime(runtime),
        Err(e) => fail(program, format!("cannot start the async runtime: {e}"), 1),
    };
    Started {
        logs,
        notifier,
        runtime,
    }
}

/// A daemon's async runtime.
pub struct Runtime(tokio::runtime::Runtime);

impl Runtime {
    /// Runs `work` to its end, then stops the runtime, waiting at most
    /// 100 ms for blocking work still running.
    pub fn run<F: Future>(self, work: F) -> F::Output {
        let output = self.0.block_on(work);
        self.0.shutdown_timeout(BLOCKING_WAIT);
        output
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Args {
        #[command(flatten)]
        log: LogFormatFlag,
    }

    #[test]
    fn the_flag_wins_over_the_file() {
        let given = Args::try_parse_from(["daemon", "--log-format", "json"]).unwrap();
        assert!(given.log.is_set());
        assert_eq!(given.log.or(LogFormat::Human), LogFormat::Json);
        let human = Args::try_parse_from(["daemon", "--log-format", "human"]).unwrap();
        assert_eq!(human.log.or(LogFormat::Json), LogFormat::Human);
        let absent = Args::try_parse_from(["daemon"]).unwrap();
        assert!(!absent.log.is_set());
        assert_eq!(absent.log.or(LogFormat::Json), LogFormat::Json);
        assert!(Args::try_parse_from(["daemon", "--log-format", "xml"]).is_err());
    }
}
