//! timeslave: polls several timemasters, intersects their intervals and
//! serves this host's `TT.now()` on a Unix socket and on TCP.
//!
//! Exit status: 0 after SIGTERM or SIGINT, 1 when a socket cannot be bound
//! or serving fails, 2 for a configuration or argument error.
//!
//! SIGHUP re-reads the configuration file (see `timeslave::reload`).

use clap::Parser;
use std::path::PathBuf;
use timeslave::config;
use timeslave::daemon;
use tt_ops::process::{fail, LogFormatFlag};

/// Serve this host's TT.now() from several timemasters.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The configuration file (TOML); it must list the masters.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    log: LogFormatFlag,
}

fn main() {
    let args: Args = tt_ops::process::parse_args("timeslave");
    let loaded = match &args.config {
        Some(path) => config::load(path),
        None => config::defaults(),
    };
    let config = loaded.unwrap_or_else(|e| fail("timeslave", e, 2));
    let format = args.log.or(config.log_format);
    let started = tt_ops::process::start("timeslave", format, &config.log_level);

    // Blocking work still running at the end (a name lookup) is not
    // waited for.
    started.runtime.run(async {
        let (shutdown, hangup) = signals()
            .unwrap_or_else(|e| fail("timeslave", format!("cannot watch for signals: {e}"), 1));
        let addresses = config::resolve_masters(&config)
            .await
            .unwrap_or_else(|e| fail("timeslave", e, 2));
        // On an error the sockets and files already made are gone once
        // `bind` or `serve` returns.
        let listeners = daemon::bind(&config)
            .await
            .unwrap_or_else(|e| fail("timeslave", e, 1));
        let process = daemon::Process {
            shutdown: Box::pin(shutdown),
            hangup: Some(hangup),
            config_path: args.config,
            logs: Some(started.logs),
            notifier: started.notifier,
            format_from_flag: args.log.is_set(),
        };
        if let Err(e) = daemon::serve(config, addresses, listeners, process).await {
            fail("timeslave", e, 1);
        }
    });
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
