//! timemaster: reads its time sources, judges them with the fault-tolerant
//! intersection, and serves `TT.now()` intervals over gRPC.

use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use timemaster::assess::Rules;
use timemaster::config::{Config, LogFormat, SourceConfig};
use timemaster::{config, peers, service};
use tt_clock::Boottime;
use tt_core::{Drift, NANOS_PER_SEC};
use tt_hw::SourceCell;
use tt_proto::v1::true_time_server::TrueTimeServer;

/// Serve TT.now() intervals from GPS and clock sources.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The configuration file (TOML). Without one: the kernel clock and
    /// gpsd on 127.0.0.1:2947, served on 127.0.0.1:7371.
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // One line, not clap's usage block: the first line says what
            // was wrong, `--help` the rest.
            let first = e.to_string();
            let first = first.lines().next().unwrap_or("bad arguments");
            eprintln!(
                "timemaster: {} (see --help)",
                first.trim_start_matches("error: ")
            );
            std::process::exit(2);
        }
    };
    let config = match &args.config {
        Some(path) => match config::load(path) {
            Ok(config) => config,
            Err(e) => {
                eprintln!("timemaster: {e}");
                std::process::exit(2);
            }
        },
        None => Config::default(),
    };
    init_logging(config.log_format);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime starts on any Linux host");
    if let Err(e) = runtime.block_on(serve(config)) {
        eprintln!("timemaster: {e:#}");
        std::process::exit(1);
    }
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

async fn serve(config: Config) -> anyhow::Result<()> {
    let cells = start_sources(&config)?;
    let rules = Rules {
        drift: Drift::from_ppm(config.drift_ppm),
        max_falsetickers: config.max_falsetickers,
        max_sample_age_ns: i64::try_from(config.max_sample_age_ms)
            .unwrap_or(i64::MAX / NANOS_PER_SEC)
            .saturating_mul(1_000_000),
    };
    let clock = Arc::new(Boottime);
    let peer_table: peers::PeerTable = Arc::new(std::sync::Mutex::new(
        config
            .peers
            .iter()
            .map(|address| peers::Peer {
                address: address.clone(),
                last: peers::PeerPoll::Pending,
            })
            .collect(),
    ));
    let peer_poll = Duration::from_millis(config.peer_poll_interval_ms);
    let peer_rules = peers::PeerRules {
        drift: rules.drift,
        max_falsetickers: config.peer_falsetickers(),
        // An answer counts for two poll intervals: one poll may be lost.
        max_age_ns: i64::try_from(peer_poll.as_nanos().saturating_mul(2)).unwrap_or(i64::MAX),
    };
    peers::spawn_pollers(
        &peer_table,
        Arc::clone(&clock),
        rules.drift,
        peer_poll,
        Duration::from_millis(config.peer_timeout_ms),
    );
    let service = Arc::new(service::MasterService::new(
        cells, rules, peer_table, peer_rules, clock,
    ));
    tokio::spawn(log_state_changes(Arc::clone(&service)));

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; is another timemaster running there?",
                config.listen
            )
        })?;
    tracing::info!(listen = %config.listen, sources = config.sources.len(),
        max_falsetickers = config.max_falsetickers, drift_ppm = config.drift_ppm, "timemaster serving");
    tonic::transport::Server::builder()
        .serve_with_incoming_shutdown(
            TrueTimeServer::from_arc(service),
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown_signal(),
        )
        .await
        .context("the gRPC server failed")?;
    tracing::info!("timemaster stopped");
    Ok(())
}

fn start_sources(config: &Config) -> anyhow::Result<Vec<SourceCell>> {
    let mut cells = Vec::with_capacity(config.sources.len());
    let local_drift = Drift::from_ppm(config.drift_ppm);
    let mut labelled = Vec::new();
    for source in &config.sources {
        let cell = match source {
            SourceConfig::Gpsd {
                name,
                address,
                min_delay_us,
                max_delay_us,
                date_floor,
                pps,
                pps_precision_ns,
            } => {
                let cell = SourceCell::new(name.clone(), "gpsd");
                let gpsd = tt_hw::gpsd::GpsdConfig {
                    address: address.clone(),
                    min_delay_ns: min_delay_us.saturating_mul(1000),
                    max_delay_ns: max_delay_us.saturating_mul(1000),
                    date_floor_unix_s: config::parse_date(date_floor)
                        .map_err(|e| anyhow::anyhow!("source `{name}`: {e}"))?,
                    use_pps: *pps,
                    pps_precision_ns: *pps_precision_ns,
                };
                tokio::spawn(tt_hw::gpsd::run(gpsd, cell.clone(), name.clone()));
                cell
            }
            SourceConfig::Kernel {
                name,
                poll_interval_ms,
            } => {
                let cell = SourceCell::new(name.clone(), "kernel");
                let poll = Duration::from_millis((*poll_interval_ms).max(10));
                tokio::spawn(tt_hw::kernel::run(poll, cell.clone()));
                cell
            }
            SourceConfig::Nmea { name, .. } => {
                let nmea = config::nmea_config(source)
                    .map_err(|e| anyhow::anyhow!("source `{name}`: {e}"))?
                    .expect("an nmea source has an nmea configuration");
                let cell = SourceCell::new(name.clone(), "nmea");
                tokio::spawn(tt_hw::nmea::run(nmea, cell.clone(), name.clone()));
                cell
            }
            SourceConfig::Pps { name, .. } => {
                let (pps, label_from) = config::pps_config(source, local_drift)
                    .map_err(|e| anyhow::anyhow!("source `{name}`: {e}"))?
                    .expect("a pps source has a pps configuration");
                let cell = SourceCell::new(name.clone(), "pps");
                // Started below, once the labelling source's cell exists.
                labelled.push((pps, cell.clone(), label_from, name.clone()));
                cell
            }
            SourceConfig::Phc { name, .. } => {
                let phc = config::phc_config(source, local_drift)
                    .map_err(|e| anyhow::anyhow!("source `{name}`: {e}"))?
                    .expect("a phc source has a phc configuration");
                let cell = SourceCell::new(name.clone(), "phc");
                tokio::spawn(tt_hw::phc::run(phc, cell.clone(), name.clone()));
                cell
            }
            SourceConfig::Ptp4l { name, .. } => {
                let ptp4l = config::ptp4l_config(source)
                    .map_err(|e| anyhow::anyhow!("source `{name}`: {e}"))?
                    .expect("a ptp4l source has a ptp4l configuration");
                let cell = SourceCell::new(name.clone(), "ptp4l");
                tokio::spawn(tt_hw::ptp4l::run(ptp4l, cell.clone(), name.clone()));
                cell
            }
        };
        cells.push(cell);
    }
    for (pps, cell, label_from, name) in labelled {
        let label = cells
            .iter()
            .find(|candidate| candidate.snapshot().name == label_from)
            .cloned()
            .ok_or_else(|| {
                anyhow::anyhow!("source `{name}`: label-from = \"{label_from}\" names no source")
            })?;
        tokio::spawn(tt_hw::pps::run(pps, cell, label, name));
    }
    Ok(cells)
}

/// Looks at the master's state once a second, so that a change is logged
/// even while nobody asks (the logging itself is in `MasterService::view`).
async fn log_state_changes(service: Arc<service::MasterService<Boottime>>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticker.tick().await;
        let _ = service.view();
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM can be handled");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT can be handled");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
    }
}
