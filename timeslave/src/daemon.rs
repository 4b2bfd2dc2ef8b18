//! Putting the slave together: bind the listeners, open the shared-memory
//! record, poll the masters (publishing after each round), serve until told
//! to stop, then clean up the socket file and leave the record
//! unsynchronized.

use crate::combiner::{Combiner, Limits};
use crate::config::Config;
use crate::poll::{self, Master};
use crate::publish::Publisher;
use crate::service::SlaveService;
use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tonic::transport::Server;
use tt_clock::Boottime;
use tt_proto::v1::true_time_server::TrueTimeServer;

/// How long in-flight requests get to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// The bound listening sockets and the opened shared-memory record.
pub struct Listeners {
    tcp: Option<(TcpListener, SocketAddr)>,
    unix: Option<UnixSocket>,
    publisher: Option<Publisher>,
}

/// A bound Unix socket and its file.
struct UnixSocket {
    listener: UnixListener,
    file: SocketFile,
}

/// Binds the TCP address and the Unix socket the configuration asks for,
/// then opens the shared-memory record (see [`crate::publish`]). The error
/// is one line naming the address or path and what to do.
pub async fn bind(config: &Config) -> Result<Listeners, String> {
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
    let publisher = match &config.shm_path {
        Some(path) => Some(Publisher::create(path)?),
        None => None,
    };
    Ok(Listeners {
        tcp,
        unix,
        publisher,
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
    // Mode 0666: every local program may ask this host's time. The service
    // only answers Now and Status; nothing through it changes the daemon.
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

/// Polls the masters at `addresses` (in the order of `config.masters`) and
/// serves on `listeners` until `shutdown` completes. The socket file is
/// removed on the way out.
pub async fn serve(
    config: Config,
    addresses: Vec<SocketAddr>,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let combiner = Arc::new(Mutex::new(Combiner::new(
        config.masters.len(),
        Limits::from_config(&config),
    )));
    let masters: Vec<Master> = config
        .masters
        .iter()
        .zip(&addresses)
        .map(|(master, &address)| Master::new(master.name.clone(), address, config.request_timeout))
        .collect();
    let names = masters.iter().map(|m| m.name.clone()).collect();
    let service = Arc::new(SlaveService::new(Arc::clone(&combiner), names, Boottime));

    let Listeners {
        tcp,
        unix,
        publisher,
    } = listeners;
    let publisher = publisher.map(Arc::new);
    let round_publisher = publisher.clone();
    let poller = tokio::spawn(poll::run(
        masters,
        combiner,
        config.poll_interval,
        config.request_timeout,
        move |combiner, ended| {
            if let Some(publisher) = &round_publisher {
                publisher.publish_round(combiner, ended);
            }
        },
    ));

    let (stop, stopped) = watch::channel(false);
    let when_stopped = |mut stopped: watch::Receiver<bool>| async move {
        // Err means the sender is gone, which also means stop.
        let _ = stopped.wait_for(|&stop| stop).await;
    };
    let mut servers = tokio::task::JoinSet::new();
    let tcp_address = tcp.as_ref().map(|(_, address)| *address);
    if let Some((listener, _)) = tcp {
        let router = Server::builder().add_service(TrueTimeServer::from_arc(Arc::clone(&service)));
        servers.spawn(router.serve_with_incoming_shutdown(
            TcpListenerStream::new(listener),
            when_stopped(stopped.clone()),
        ));
    }
    let socket_path = unix.as_ref().map(|u| u.file.path.display().to_string());
    let socket_file = match unix {
        Some(UnixSocket { listener, file }) => {
            let router =
                Server::builder().add_service(TrueTimeServer::from_arc(Arc::clone(&service)));
            servers.spawn(router.serve_with_incoming_shutdown(
                UnixListenerStream::new(listener),
                when_stopped(stopped.clone()),
            ));
            Some(file)
        }
        None => None,
    };
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
        "timeslave serving"
    );

    let failure = tokio::select! {
        () = shutdown => None,
        Some(ended) = servers.join_next() => Some(match ended {
            Ok(Ok(())) => "a gRPC server stopped by itself".to_string(),
            Ok(Err(e)) => format!("the gRPC server failed: {e}"),
            Err(e) => format!("the gRPC server task failed: {e}"),
        }),
    };

    // The poll task is awaited after the abort, so that no round can
    // publish after the final unsynchronized record below.
    poller.abort();
    let _ = poller.await;
    if let Some(publisher) = &publisher {
        publisher.publish(tt_core::shm::Published::Unsynchronized);
    }
    let _ = stop.send(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while servers.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            timeout_ms = DRAIN_TIMEOUT.as_millis(),
            "requests still open at shutdown were dropped"
        );
    }
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
