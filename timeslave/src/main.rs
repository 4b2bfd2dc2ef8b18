//! timeslave: polls several timemasters, intersects their intervals and
//! serves this host's `TT.now()` on a Unix socket and on TCP.
//!
//! Exit status: 0 after SIGTERM or SIGINT, 1 when a socket cannot be bound
//! or serving fails, 2 for a configuration error.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use timeslave::config::{self, LogFormat};
use timeslave::daemon;

/// Serve this host's TT.now() from several timemasters.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The configuration file (TOML); it must list the masters.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
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
    init_logging(config.log_format);

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
    runtime.block_on(async {
        let addresses = match config::resolve_masters(&config).await {
            Ok(addresses) => addresses,
            Err(e) => {
                eprintln!("timeslave: {e}");
                return ExitCode::from(2);
            }
        };
        let shutdown = match shutdown_signal() {
            Ok(shutdown) => shutdown,
            Err(e) => {
                eprintln!("timeslave: cannot watch for SIGTERM: {e}");
                return ExitCode::from(1);
            }
        };
        let listeners = match daemon::bind(&config).await {
            Ok(listeners) => listeners,
            Err(e) => {
                eprintln!("timeslave: {e}");
                return ExitCode::from(1);
            }
        };
        match daemon::serve(config, addresses, listeners, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("timeslave: {e}");
                ExitCode::from(1)
            }
        }
    })
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Completes on the first SIGTERM or SIGINT. The handlers are installed
/// now, so a signal that arrives before the future is polled still counts.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received; stopping"),
            _ = interrupt.recv() => tracing::info!("SIGINT received; stopping"),
        }
    })
}
