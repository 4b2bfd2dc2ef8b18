//! Putting the slave together: bind the listeners, open the shared-memory
//! record, poll the masters (publishing after each round), serve until told
//! to stop, then clean up the socket file and leave the record
//! unsynchronized.
//!
//! Under systemd (`Type=notify`) the slave says `READY=1` after its first
//! poll round, synchronized or not, with `STATUS=` saying which; `STATUS=`
//! follows each change, the health service follows the sync state, and
//! with `WatchdogSec=` the poll loop keeps the watchdog fed.
//!
//! SIGHUP re-reads the configuration file (see [`crate::reload`]).

use crate::combiner::{Combiner, Limits, PollOutcome, Verdict};
use crate::config::Config;
use crate::metrics::SlaveMetrics;
use crate::publish::Publisher;
use crate::reload::{Polling, Reloader, RoundHooks};
use crate::service::SlaveService;
use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tt_clock::Boottime;
use tt_ops::grpc::{GrpcCounters, HealthState};
use tt_ops::logging::LogControl;
use tt_ops::notify::{Heartbeat, Notifier, Systemd};
use tt_ops::serve::Servers;
use tt_ops::tls::ClientTls;

/// The bound listening sockets, the opened shared-memory record and the
/// TLS files read.
pub struct Listeners {
    tcp: Option<(TcpListener, SocketAddr)>,
    unix: Option<UnixSocket>,
    publisher: Option<Publisher>,
    metrics: Option<TcpListener>,
    tls: Option<ClientTls>,
}

/// A bound Unix socket and its file.
struct UnixSocket {
    listener: UnixListener,
    file: SocketFile,
}

/// Reads the TLS files of `config` (the CA, and the slave's certificate
/// and key when given), at start and at every reload; `None` without
/// `tls-ca`.
pub fn load_tls(config: &Config) -> Result<Option<ClientTls>, String> {
    let Some(files) = &config.tls else {
        return Ok(None);
    };
    ClientTls::load(
        &files.ca,
        files
            .identity
            .as_ref()
            .map(|(cert, key)| (cert.as_path(), key.as_path())),
    )
    .map(Some)
}

/// Binds the TCP address and the Unix socket the configuration asks for,
/// then opens the shared-memory record (see [`crate::publish`]). The error
/// is one line naming the address or path and what to do.
pub async fn bind(config: &Config) -> Result<Listeners, String> {
    // First, so that a broken TLS setup binds and creates nothing.
    let tls = load_tls(config)?;
    let tcp = match config.listen {
        Some(address) => {
            let listener = TcpListener::bind(address).await.map_err(|e| {
                format!(
                    "cannot listen on {address}: {e}; is another timeslave running? \
                     (set listen = \"\" to serve on the Unix socket only)"
                )
            })?;
            let bound = listener.local_addr().unwrap_or(address);
            Some((listener, bound))
        }
        None => None,
    };
    let unix = match &config.socket {
        Some(path) => Some(bind_unix(path)?),
        None => None,
    };
    let metrics = tt_ops::serve::bind_metrics(config.metrics_listen).await;
    let publisher = match &config.shm_path {
        Some(path) => Some(Publisher::create(path)?),
        None => None,
    };
    Ok(Listeners {
        tls,
        tcp,
        unix,
        publisher,
        metrics,
    })
}

fn bind_unix(path: &Path) -> Result<UnixSocket, String> {
    let shown = path.display();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            format!(
                "cannot create {} for the socket: {e}; create it or set socket to another path",
                parent.display()
            )
        })?;
    }

    // A socket file left by a daemon that died is removed; one that still
    // answers belongs to a running daemon and is left alone; anything that
    // is not a socket is never deleted.
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(format!(
                    "{shown} is in use by a running process; is another timeslave running?"
                ));
            }
            std::fs::remove_file(path)
                .map_err(|e| format!("cannot remove the stale socket {shown}: {e}"))?;
        }
        Ok(_) => {
            return Err(format!(
                "{shown} exists and is not a socket; remove it or set socket to another path"
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot inspect {shown}: {e}")),
    }

    let listener = UnixListener::bind(path)
        .map_err(|e| format!("cannot listen on {shown}: {e}; check the directory's permissions"))?;
    // Mode 0666: every local program may ask this host's time, as every
    // local user may read the shared-memory record. Nothing served here is
    // secret and nothing changes the daemon: Now, Status, History, health
    // and reflection only read. A group would make every program that
    // needs the time join it, for no secret kept. What one local user can
    // do is spend the request budget (`max-requests-per-s`), which makes
    // other clients' requests fail for a while; the pollers, the record
    // and the time the slave keeps are untouched (see `tt_ops::limit`).
    // The directory's mode decides who may replace the socket file: keep
    // it writable by the daemon's user alone (the systemd unit makes
    // /run/truetime mode 0755).
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .map_err(|e| format!("cannot make {shown} readable by all: {e}"))?;
    let inode = std::fs::symlink_metadata(path)
        .map_err(|e| format!("cannot inspect {shown}: {e}"))?
        .ino();
    Ok(UnixSocket {
        listener,
        file: SocketFile {
            path: path.to_path_buf(),
            inode,
        },
    })
}

/// What the process hands the daemon besides its configuration.
pub struct Process {
    /// Completes when the daemon is to stop (SIGTERM, SIGINT).
    pub shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// SIGHUP, when configuration reloads are wanted.
    pub hangup: Option<tokio::signal::unix::Signal>,
    /// The file a reload re-reads.
    pub config_path: Option<PathBuf>,
    /// The logger's level control.
    pub logs: Option<LogControl>,
    /// systemd's notification socket, when started by systemd.
    pub notifier: Option<Arc<Notifier>>,
    /// Whether the command line set the log format (so the file's does
    /// not count).
    pub format_from_flag: bool,
}

impl Process {
    /// A process stopped by `shutdown`, with no reloads and no systemd.
    pub fn stopped_by(shutdown: impl Future<Output = ()> + Send + 'static) -> Process {
        Process {
            shutdown: Box::pin(shutdown),
            hangup: None,
            config_path: None,
            logs: None,
            notifier: None,
            format_from_flag: false,
        }
    }
}

/// The longest normal pause of the poll loop: three rounds (each a poll
/// interval, plus the request timeout when a round runs late), and never
/// under 5 s.
pub fn watchdog_gap(config: &Config) -> Duration {
    config
        .poll_interval
        .saturating_add(config.request_timeout)
        .saturating_mul(3)
        .max(Duration::from_secs(5))
}

/// The slave's state in one sentence for systemd, and whether it serves.
pub fn summary(combiner: &Combiner, at: tt_core::LocalInstant) -> (bool, String) {
    let members = combiner.members(at);
    let n = members.len();
    let agreeing = members
        .iter()
        .filter(|m| m.verdict == Verdict::InMajority)
        .count();
    let answered = (0..n)
        .filter(|&i| matches!(combiner.last_outcome(i), Some(PollOutcome::Answer { .. })))
        .count();
    match combiner.now(at) {
        Ok(_) => (
            true,
            format!("synchronized: {agreeing} of {n} masters agree"),
        ),
        Err(_) => (
            false,
            format!(
                "unsynchronized: {answered} of {n} masters answered, {} needed",
                combiner.quorum()
            ),
        ),
    }
}

/// Polls the masters at `addresses` (in the order of `config.masters`) and
/// serves on `listeners` until `process.shutdown` completes. The socket
/// file is removed on the way out.
pub async fn serve(
    config: Config,
    addresses: Vec<SocketAddr>,
    listeners: Listeners,
    process: Process,
) -> Result<(), String> {
    let names: Vec<String> = config.masters.iter().map(|m| m.name.clone()).collect();
    let combiner = Arc::new(Mutex::new(Combiner::new(
        config.masters.len(),
        Limits::from_config(&config),
    )));
    let service = Arc::new(SlaveService::new(
        Arc::clone(&combiner),
        names.clone(),
        Boottime,
    ));
    let grpc = GrpcCounters::new();
    let metrics = Arc::new(SlaveMetrics::new(
        &names,
        Arc::clone(&grpc),
        tt_ops::wall_clock_ns(),
    ));

    let Listeners {
        tcp,
        unix,
        publisher,
        metrics: metrics_listener,
        tls,
    } = listeners;
    let publisher = publisher.map(Arc::new);
    let heartbeat = Heartbeat::new(watchdog_gap(&config));
    let (rounds, mut round_ended) = watch::channel(0u64);
    let hooks = RoundHooks {
        publisher: publisher.clone(),
        service: Arc::clone(&service),
        metrics: Arc::clone(&metrics),
        heartbeat: heartbeat.clone(),
        rounds: Arc::new(rounds),
    };
    let polling = Polling::start(
        &config,
        &addresses,
        tls,
        Arc::clone(&combiner),
        hooks.clone(),
    );

    let (health, health_server) = HealthState::start().await;
    // Requests are answered on a runtime of their own and within the
    // limits of `tt_ops::limit`, so that no flood of them can hold up a
    // poll round; one rate budget covers both listeners.
    let mut servers = Servers::start("timeslave-serve")
        .map_err(|e| format!("cannot start the serving thread: {e}"))?;
    let router = tt_ops::grpc::router(
        None,
        config.max_requests_per_s,
        grpc,
        health_server,
        Arc::clone(&service),
    )?;
    let tcp_address = tcp.as_ref().map(|(_, address)| *address);
    if let Some((listener, _)) = tcp {
        servers
            .serve_tcp(router.clone(), listener)
            .map_err(|e| format!("cannot serve TCP from the serving thread: {e}"))?;
    }
    let socket_path = unix.as_ref().map(|u| u.file.path.display().to_string());
    let socket_file = match unix {
        Some(UnixSocket { listener, file }) => {
            servers
                .serve_unix(router, listener)
                .map_err(|e| format!("cannot serve the socket from the serving thread: {e}"))?;
            Some(file)
        }
        None => None,
    };
    let metrics_address = metrics_listener
        .as_ref()
        .and_then(|listener| listener.local_addr().ok());
    if let Some(listener) = metrics_listener {
        let combiner = Arc::clone(&combiner);
        let metrics = Arc::clone(&metrics);
        servers.serve_metrics(
            listener,
            Arc::new(move || {
                let combiner = combiner.lock().expect("combiner lock");
                metrics.render(&combiner, tt_clock::boottime())
            }),
        );
    }
    tracing::info!(
        masters = config.masters.len(),
        max_falsetickers = config.max_falsetickers,
        poll_interval_ms = config.poll_interval.as_millis(),
        drift_ppb = config.drift.ppb(),
        listen = tcp_address.map(|a| a.to_string()).unwrap_or_default(),
        socket = socket_path.unwrap_or_default(),
        shm_path = publisher
            .as_ref()
            .map(|p| p.path().display().to_string())
            .unwrap_or_default(),
        metrics_listen = metrics_address.map(|a| a.to_string()).unwrap_or_default(),
        "timeslave serving"
    );

    let Process {
        mut shutdown,
        mut hangup,
        config_path,
        logs,
        notifier,
        format_from_flag,
    } = process;
    let mut reloader = Reloader {
        config,
        addresses,
        config_path,
        logs,
        format_from_flag,
        combiner: Arc::clone(&combiner),
        hooks,
        polling,
    };
    let mut systemd = Systemd::new(notifier);
    let mut status: Option<String> = None;
    let failure = loop {
        let next_hangup = async {
            match hangup.as_mut() {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = &mut shutdown => break None,
            ended = servers.ended() => break Some(match ended {
                Ok(Ok(())) => "a gRPC server stopped by itself".to_string(),
                Ok(Err(e)) => format!("the gRPC server failed: {e}"),
                Err(e) => format!("the gRPC server task failed: {e}"),
            }),
            changed = round_ended.changed() => {
                if changed.is_err() {
                    break Some("the poll loop is gone".to_string());
                }
                let (synchronized, now) = {
                    let combiner = combiner.lock().expect("combiner lock");
                    summary(&combiner, tt_clock::boottime())
                };
                health.set(synchronized).await;
                if status.as_deref() == Some(now.as_str()) {
                    continue;
                }
                if status.is_none() {
                    // The first round has ended: ready.
                    systemd.started(&now, &heartbeat);
                } else {
                    systemd.status(&now);
                }
                status = Some(now);
            }
            Some(()) = next_hangup => {
                systemd.reloading();
                let applied = reloader.reload().await;
                metrics.process.count_reload(applied);
                systemd.ready(status.as_deref().unwrap_or("reloaded; no round yet"));
            }
        }
    };

    systemd.stopping();
    // The poll task is stopped first, so that no round can publish after
    // the final unsynchronized record below.
    reloader.polling.stop().await;
    if let Some(publisher) = &publisher {
        publisher.publish(tt_core::shm::Published::Unsynchronized);
    }
    servers.stop().await;
    drop(socket_file);
    match failure {
        None => {
            tracing::info!("timeslave stopped");
            Ok(())
        }
        Some(error) => Err(error),
    }
}

/// The socket file this process created, removed on drop (also on an
/// error path) if it is still the same file: a newer daemon may have
/// replaced it.
struct SocketFile {
    path: PathBuf,
    inode: u64,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.inode);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
