//! timeslave: polls several timemasters, intersects their intervals and
//! serves this host's `TT.now()` on a Unix socket and on TCP.
//!
//! Exit status: 0 after SIGTERM or SIGINT, 1 when a socket cannot be bound
//! or serving fails, 2 for a configuration or argument error.
//!
//! SIGHUP re-reads the configuration file (see `timeslave::reload`).

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use timeslave::config::{self, LogFormat};
use timeslave::daemon;
use tt_ops::notify::Notifier;

/// Serve this host's TT.now() from several timemasters.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The configuration file (TOML); it must list the masters.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// How log lines are written, in place of the file's log-format.
    #[arg(long, value_name = "FORMAT", value_parser = ["human", "json"])]
    log_format: Option<String>,
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // One line, not clap's usage block: the first line says what
            // was wrong, `--help` the rest.
            let first = e.to_string();
            let first = first.lines().next().unwrap_or("bad arguments");
            eprintln!(
                "timeslave: {} (see --help)",
                first.trim_start_matches("error: ")
            );
            std::process::exit(2);
        }
    };
    let loaded = match &args.config {
        Some(path) => config::load(path),
        None => config::defaults(),
    };
    let config = match loaded {
        Ok(config) => config,
        Err(e) => {
            eprintln!("timeslave: {e}");
            return ExitCode::from(2);
        }
    };
    let format = match args.log_format.as_deref() {
        Some("json") => tt_ops::logging::LogFormat::Json,
        Some(_) => tt_ops::logging::LogFormat::Human,
        None => match config.log_format {
            LogFormat::Human => tt_ops::logging::LogFormat::Human,
            LogFormat::Json => tt_ops::logging::LogFormat::Json,
        },
    };
    let logs = tt_ops::logging::init(format, &config.log_level);
    let notifier = match Notifier::from_env() {
        Ok(notifier) => notifier.map(Arc::new),
        Err(e) => {
            eprintln!("timeslave: {e}");
            return ExitCode::from(1);
        }
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("timeslave: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let format_from_flag = args.log_format.is_some();
    let config_path = args.config;
    let code = runtime.block_on(async {
        let (shutdown, hangup) = match signals() {
            Ok(signals) => signals,
            Err(e) => {
                eprintln!("timeslave: cannot watch for signals: {e}");
                return ExitCode::from(1);
            }
        };
        let addresses = match config::resolve_masters(&config).await {
            Ok(addresses) => addresses,
            Err(e) => {
                eprintln!("timeslave: {e}");
                return ExitCode::from(2);
            }
        };
        let listeners = match daemon::bind(&config).await {
            Ok(listeners) => listeners,
            Err(e) => {
                eprintln!("timeslave: {e}");
                return ExitCode::from(1);
            }
        };
        let process = daemon::Process {
            shutdown: Box::pin(shutdown),
            hangup: Some(hangup),
            config_path,
            logs: Some(logs),
            notifier,
            format_from_flag,
        };
        match daemon::serve(config, addresses, listeners, process).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("timeslave: {e}");
                ExitCode::from(1)
            }
        }
    });
    // Blocking work still running (a name lookup) is not waited for.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

/// A future that completes on the first SIGTERM or SIGINT, and the SIGHUP
/// stream. The handlers are installed now, so a signal that arrives before
/// the future is polled still counts, and none kills the process by its
/// default action.
fn signals() -> std::io::Result<(
    impl std::future::Future<Output = ()> + Send + 'static,
    tokio::signal::unix::Signal,
)> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let hangup = signal(SignalKind::hangup())?;
    let shutdown = async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received; stopping"),
            _ = interrupt.recv() => tracing::info!("SIGINT received; stopping"),
        }
    };
    Ok((shutdown, hangup))
}
