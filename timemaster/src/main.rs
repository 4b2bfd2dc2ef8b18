//! timemaster: reads its time sources, judges them with the fault-tolerant
//! intersection, and serves `TT.now()` intervals over gRPC.
//!
//! Under systemd (`Type=notify`) it says `READY=1` once its gRPC listener
//! is bound and its first assessment of the sources has run, synchronized
//! or not (a master without a GPS fix still starts, and says so in
//! `STATUS=`); `STATUS=` follows each change of what it serves, and with
//! `WatchdogSec=` its assessment loop keeps the watchdog fed.
//!
//! SIGHUP re-reads the configuration file: sources (only the changed ones
//! are restarted), the drift bound, `max-falsetickers`,
//! `max-sample-age-ms`, the peers and their settings, and `log-level` take
//! effect at once; `listen`, `metrics-listen` and `log-format` need a
//! restart, and a reload that changes them says so in the log. A file
//! that does not parse changes nothing.
//!
//! Exit status: 0 after SIGTERM or SIGINT, 1 when a socket cannot be bound
//! or serving fails, 2 for a configuration or argument error.

use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use timemaster::assess::Rules;
use timemaster::config::{self, Config};
use timemaster::metrics::MasterMetrics;
use timemaster::peers::{self, PeerRules, PeerTable};
use timemaster::service::{MasterService, View};
use timemaster::serving::MasterTls;
use timemaster::sources::Sources;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tt_clock::Boottime;
use tt_core::{Drift, NANOS_PER_SEC};
use tt_ops::grpc::{GrpcCounters, HealthState};
use tt_ops::logging::LogControl;
use tt_ops::notify::{Heartbeat, Notifier, Systemd};
use tt_ops::process::{fail, LogFormatFlag};
use tt_ops::serve::Servers;
use tt_ops::tls::ClientTls;
use tt_proto::v1::Verdict;

/// Serve TT.now() intervals from GPS and clock sources.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The configuration file (TOML). Without one: the kernel clock and
    /// gpsd on 127.0.0.1:2947, served on 127.0.0.1:7371.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    log: LogFormatFlag,
}

/// How often the sources are assessed while nobody asks: health, status
/// and the watchdog follow this loop.
const ASSESS_INTERVAL: Duration = Duration::from_secs(1);
/// The longest the assessment loop may stall before the watchdog stops
/// being fed.
const WATCHDOG_GAP: Duration = Duration::from_secs(10);

fn main() {
    let args: Args = tt_ops::process::parse_args("timemaster");
    let config = match &args.config {
        Some(path) => config::load(path).unwrap_or_else(|e| fail("timemaster", e, 2)),
        None => Config::default(),
    };
    let format = args.log.or(config.log_format);
    let started = tt_ops::process::start("timemaster", format, &config.log_level);

    let daemon = Daemon {
        config_path: args.config,
        format_from_flag: args.log.is_set(),
        logs: started.logs,
        notifier: started.notifier,
    };
    // Blocking device reads still running at the end are not waited for.
    if let Err(e) = started.runtime.run(daemon.serve(config)) {
        fail("timemaster", format!("{e:#}"), 1);
    }
}

/// The process around the service: what it needs to reload and to tell
/// systemd.
struct Daemon {
    config_path: Option<PathBuf>,
    format_from_flag: bool,
    logs: LogControl,
    notifier: Option<Arc<Notifier>>,
}

/// The peer pollers and the table they fill.
struct PeerSet {
    table: PeerTable,
    pollers: Vec<tokio::task::JoinHandle<()>>,
    /// TLS toward the peers, as read at start-up.
    tls: Option<ClientTls>,
}

fn rules_of(config: &Config) -> Rules {
    Rules {
        drift: Drift::from_ppm(config.drift_ppm),
        max_falsetickers: config.max_falsetickers,
        max_sample_age_ns: i64::try_from(config.max_sample_age_ms)
            .unwrap_or(i64::MAX / NANOS_PER_SEC)
            .saturating_mul(1_000_000),
    }
}

fn peer_rules_of(config: &Config) -> PeerRules {
    let poll = Duration::from_millis(config.peer_poll_interval_ms);
    PeerRules {
        drift: Drift::from_ppm(config.drift_ppm),
        max_falsetickers: config.peer_falsetickers(),
        // An answer counts for two poll intervals: one poll may be lost.
        max_age_ns: i64::try_from(poll.as_nanos().saturating_mul(2)).unwrap_or(i64::MAX),
    }
}

fn spawn_peer_pollers(
    config: &Config,
    table: &PeerTable,
    tls: Option<&ClientTls>,
) -> Vec<tokio::task::JoinHandle<()>> {
    peers::spawn_pollers(
        table,
        Arc::new(Boottime),
        Drift::from_ppm(config.drift_ppm),
        Duration::from_millis(config.peer_poll_interval_ms),
        Duration::from_millis(config.peer_timeout_ms),
        tls,
    )
}

impl PeerSet {
    fn start(config: &Config, tls: Option<ClientTls>) -> PeerSet {
        let table: PeerTable = Arc::new(Mutex::new(
            config
                .peers
                .iter()
                .map(|address| peers::Peer {
                    address: address.clone(),
                    last: peers::PeerPoll::Pending,
                })
                .collect(),
        ));
        let pollers = spawn_peer_pollers(config, &table, tls.as_ref());
        PeerSet {
            table,
            pollers,
            tls,
        }
    }

    /// Stops the pollers, puts `config`'s peers in the table (a peer still
    /// configured keeps its last poll) and starts their pollers.
    async fn reload(&mut self, config: &Config) {
        for poller in &self.pollers {
            poller.abort();
        }
        for poller in self.pollers.drain(..) {
            // Aborted: the task has stopped once this returns, so no
            // poller writes into the table while it changes.
            let _ = poller.await;
        }
        {
            let mut table = self
                .table
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let former = std::mem::take(&mut *table);
            *table = config
                .peers
                .iter()
                .map(|address| peers::Peer {
                    address: address.clone(),
                    last: former
                        .iter()
                        .find(|peer| &peer.address == address)
                        .map_or(peers::PeerPoll::Pending, |peer| peer.last.clone()),
                })
                .collect();
        }
        self.pollers = spawn_peer_pollers(config, &self.table, self.tls.as_ref());
    }
}

/// The signals the daemon acts on, installed before anything else so that
/// none of them kills it by its default action.
struct Signals {
    terminate: Signal,
    interrupt: Signal,
    hangup: Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        Ok(Signals {
            terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            hangup: signal(SignalKind::hangup()).context("cannot handle SIGHUP")?,
        })
    }
}

/// What one assessment found, for systemd's status line and the health
/// service.
fn summary(view: &View) -> (bool, String) {
    let sources = &view.assessment.sources;
    let agreeing = sources
        .iter()
        .filter(|s| s.verdict == Verdict::InMajority)
        .count();
    let usable = sources.iter().filter(|s| s.interval.is_some()).count();
    match (&view.standing, &view.assessment.combined) {
        (peers::Standing::Outvoted(_), _) => (
            false,
            "out of service: its interval lies outside its peers' agreement".to_string(),
        ),
        (_, Ok(_)) => (
            true,
            format!(
                "synchronized: {agreeing} of {} sources agree",
                sources.len()
            ),
        ),
        (_, Err(_)) => (
            false,
            format!(
                "unsynchronized: {usable} of {} sources usable, {} needed",
                sources.len(),
                view.assessment.needed
            ),
        ),
    }
}

impl Daemon {
    async fn serve(self, mut config: Config) -> anyhow::Result<()> {
        let mut signals = Signals::install()?;
        // First, so that a broken TLS setup starts nothing.
        let tls = MasterTls::load(&config).map_err(|e| anyhow::anyhow!(e))?;
        let mut sources = Sources::start(&config).map_err(|e| anyhow::anyhow!(e))?;
        let mut peer_set = PeerSet::start(&config, tls.peers.clone());
        let (leap_schedule, leap_warning) =
            config::leap_schedule(&config).map_err(|e| anyhow::anyhow!(e))?;
        if let Some(warning) = leap_warning {
            tracing::warn!(%warning, "leap seconds");
        }
        let service = Arc::new(
            MasterService::new(
                sources.cells(),
                rules_of(&config),
                Arc::clone(&peer_set.table),
                peer_rules_of(&config),
                Arc::new(Boottime),
            )
            .with_leap_schedule(
                leap_schedule,
                secs_to_ns(config.leap_window_before_s),
                secs_to_ns(config.leap_window_after_s),
            ),
        );

        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}; is another timemaster running there?",
                    config.listen
                )
            })?;
        let metrics_listener = tt_ops::serve::bind_metrics(config.metrics_address()).await;

        let grpc = GrpcCounters::new();
        let metrics = Arc::new(MasterMetrics::new(
            Arc::clone(&grpc),
            tt_ops::wall_clock_ns(),
        ));
        let (health, health_server) = HealthState::start().await;
        // Requests are served on a thread of their own, within the limits
        // of `timemaster::serving`, so that none can starve the sources.
        let mut servers = Servers::start("timemaster-serve").context("cannot start serving")?;
        let router = tt_ops::grpc::router(
            tls.server.as_ref(),
            config.max_requests_per_s,
            grpc,
            health_server,
            Arc::clone(&service),
        )
        .map_err(|e| anyhow::anyhow!(e))?;
        servers
            .serve_tcp(router, listener)
            .context("cannot serve from the serving thread")?;
        if let Some(listener) = metrics_listener {
            let service = Arc::clone(&service);
            let metrics = Arc::clone(&metrics);
            servers.serve_metrics(listener, Arc::new(move || metrics.render(&service.view())));
        }

        // The first assessment, then READY: the listener is bound and
        // served, and the status says whether the master is synchronized.
        let heartbeat = Heartbeat::new(WATCHDOG_GAP);
        let (synchronized, mut status) = summary(&service.view());
        health.set(synchronized).await;
        heartbeat.beat();
        let mut systemd = Systemd::new(self.notifier.clone());
        systemd.started(&status, &heartbeat);
        tracing::info!(listen = %config.listen, metrics_listen = %config.metrics_listen,
            sources = config.sources.len(), max_falsetickers = config.max_falsetickers,
            drift_ppm = config.drift_ppm, transport = tls.describe(&config), %status,
            "timemaster serving");

        let mut ticker = tokio::time::interval(ASSESS_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let failure = loop {
            tokio::select! {
                _ = ticker.tick() => {
                    // Also logs each change of what is served (see
                    // MasterService::view).
                    let (synchronized, now) = summary(&service.view());
                    health.set(synchronized).await;
                    heartbeat.beat();
                    if now != status {
                        status = now;
                        systemd.status(&status);
                    }
                }
                _ = signals.hangup.recv() => {
                    systemd.reloading();
                    let applied = self
                        .reload(&mut config, &mut sources, &mut peer_set, &service)
                        .await;
                    metrics.process.count_reload(applied);
                    systemd.ready(&status);
                }
                _ = signals.terminate.recv() => {
                    tracing::info!("SIGTERM: stopping");
                    break None;
                }
                _ = signals.interrupt.recv() => {
                    tracing::info!("SIGINT: stopping");
                    break None;
                }
                ended = servers.ended() => break Some(match ended {
                    Ok(Ok(())) => anyhow::anyhow!("the gRPC server stopped by itself"),
                    Ok(Err(e)) => anyhow::Error::new(e).context("the gRPC server failed"),
                    Err(e) => anyhow::Error::new(e).context("the gRPC server task failed"),
                }),
            }
        };

        systemd.stopping();
        servers.stop().await;
        match failure {
            None => {
                tracing::info!("timemaster stopped");
                Ok(())
            }
            Some(error) => Err(error),
        }
    }

    /// Re-reads the configuration file and applies what can be applied
    /// (see the crate documentation). Returns whether a configuration was
    /// applied.
    async fn reload(
        &self,
        config: &mut Config,
        sources: &mut Sources,
        peer_set: &mut PeerSet,
        service: &MasterService<Boottime>,
    ) -> bool {
        let Some(path) = &self.config_path else {
            tracing::info!("SIGHUP: started without --config, nothing to re-read");
            return false;
        };
        let new = match config::load(path) {
            Ok(new) => new,
            Err(error) => {
                tracing::error!(%error, "SIGHUP: configuration not reloaded; still running on the previous one");
                return false;
            }
        };
        let changes = match sources.reload(&new) {
            Ok(changes) => changes,
            Err(error) => {
                tracing::error!(%error, "SIGHUP: sources not reloaded; still running on the previous configuration");
                return false;
            }
        };
        let peers_changed = new.peers != config.peers
            || new.peer_max_falsetickers != config.peer_max_falsetickers
            || new.peer_poll_interval_ms != config.peer_poll_interval_ms
            || new.peer_timeout_ms != config.peer_timeout_ms
            || new.drift_ppm != config.drift_ppm;
        if peers_changed {
            peer_set.reload(&new).await;
        }
        service.reconfigure(sources.cells(), rules_of(&new), peer_rules_of(&new));
        match self.logs.set_level(&new.log_level) {
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "log-level not changed"),
        }

        let mut need_restart = Vec::new();
        if new.listen != config.listen {
            need_restart.push("listen");
        }
        if new.metrics_listen != config.metrics_listen {
            need_restart.push("metrics-listen");
        }
        if new.log_format != config.log_format && !self.format_from_flag {
            need_restart.push("log-format");
        }
        if (&new.tls_cert, &new.tls_key, &new.tls_client_ca, &new.tls_ca)
            != (
                &config.tls_cert,
                &config.tls_key,
                &config.tls_client_ca,
                &config.tls_ca,
            )
        {
            need_restart.push("tls-cert, tls-key, tls-client-ca, tls-ca");
        }
        if new.max_requests_per_s != config.max_requests_per_s {
            need_restart.push("max-requests-per-s");
        }
        tracing::info!(
            kept = changes.kept.join(", "),
            started = changes.started.join(", "),
            stopped = changes.stopped.join(", "),
            peers = new.peers.join(", "),
            "SIGHUP: configuration reloaded"
        );
        if !need_restart.is_empty() {
            tracing::warn!(
                keys = need_restart.join(", "),
                "SIGHUP: these keys changed but take effect only after a restart"
            );
        }
        // What is running keeps the keys that need a restart, so the next
        // reload compares with them.
        *config = Config {
            listen: config.listen,
            metrics_listen: config.metrics_listen.clone(),
            log_format: config.log_format,
            max_requests_per_s: config.max_requests_per_s,
            tls_cert: config.tls_cert.clone(),
            tls_key: config.tls_key.clone(),
            tls_client_ca: config.tls_client_ca.clone(),
            tls_ca: config.tls_ca.clone(),
            ..new
        };
        true
    }
}

/// Whole seconds as nanoseconds, saturating.
fn secs_to_ns(seconds: u64) -> i64 {
    i64::try_from(seconds)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000_000)
}
