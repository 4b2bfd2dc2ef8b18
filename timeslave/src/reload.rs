//! The poll task, and what SIGHUP does to it.
//!
//! A reload re-reads the configuration file, resolves its masters and
//! re-reads the TLS files it names (so a renewed certificate, key or CA is
//! taken in by SIGHUP). Then `masters`, `max-falsetickers`,
//! `poll-interval-ms`, `request-timeout-ms`, `drift-ppm`, `max-holdover-s`,
//! `log-level` and the `tls-*` keys take effect at once: the poll task is
//! stopped between rounds, the combiner takes the new masters and limits
//! keeping its combined sample (and each master still configured keeps its
//! last answer, verdict and counters, and, without TLS, its connection;
//! with TLS every master gets a new connection made with the files just
//! read), and polling starts again. The shared-memory record is not
//! touched by the reload; the next round renews it. `listen`, `socket`,
//! `shm-path`, `metrics-listen`, `log-format` and `max-requests-per-s`
//! need a restart: a reload that changes them says so in the log. A file
//! that does not parse, masters that do not resolve, or TLS files that do
//! not load change nothing.

use crate::combiner::{Combiner, Limits};
use crate::config::{self, Config};
use crate::metrics::SlaveMetrics;
use crate::poll::{self, Master};
use crate::publish::Publisher;
use crate::service::SlaveService;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tt_clock::Boottime;
use tt_ops::logging::LogControl;
use tt_ops::notify::Heartbeat;
use tt_ops::tls::ClientTls;

/// Everything that follows the end of a poll round.
#[derive(Clone)]
pub struct RoundHooks {
    /// The shared-memory record, renewed each round.
    pub publisher: Option<Arc<Publisher>>,
    /// The service, whose history records each round.
    pub service: Arc<SlaveService<Boottime>>,
    /// The metrics, which count each round.
    pub metrics: Arc<SlaveMetrics>,
    /// Beaten each round, for the watchdog.
    pub heartbeat: Heartbeat,
    /// Counts rounds, for whoever waits for one.
    pub rounds: Arc<watch::Sender<u64>>,
}

/// The running poll task and the masters it polls.
pub struct Polling {
    masters: Vec<Master>,
    /// TLS toward the masters, as last loaded.
    tls: Option<ClientTls>,
    task: JoinHandle<()>,
}

impl Polling {
    /// Starts polling `config`'s masters at `addresses`, over TLS when
    /// `tls` is given.
    pub fn start(
        config: &Config,
        addresses: &[SocketAddr],
        tls: Option<ClientTls>,
        combiner: Arc<Mutex<Combiner>>,
        hooks: RoundHooks,
    ) -> Polling {
        let masters: Vec<Master> = config
            .masters
            .iter()
            .zip(addresses)
            .map(|(master, &address)| {
                Master::new(
                    master.name.clone(),
                    &master.authority,
                    address,
                    config.request_timeout,
                    tls.as_ref(),
                )
            })
            .collect();
        Polling::with(masters, tls, config, combiner, hooks)
    }

    fn with(
        masters: Vec<Master>,
        tls: Option<ClientTls>,
        config: &Config,
        combiner: Arc<Mutex<Combiner>>,
        hooks: RoundHooks,
    ) -> Polling {
        let task = tokio::spawn(poll::run(
            masters.clone(),
            combiner,
            config.poll_interval,
            config.request_timeout,
            move |combiner, ended| {
                if let Some(publisher) = &hooks.publisher {
                    publisher.publish_round(combiner, ended);
                }
                hooks.service.record_round(combiner, ended);
                hooks.metrics.record_round(combiner, ended);
                hooks.heartbeat.beat();
                hooks.rounds.send_modify(|count| *count += 1);
            },
        ));
        Polling { masters, tls, task }
    }

    /// Stops the poll task; once this returns no round is running.
    pub async fn stop(&mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

/// What a reload needs.
pub struct Reloader {
    /// The configuration in force (its restart-only keys as started).
    pub config: Config,
    /// Its masters' addresses.
    pub addresses: Vec<SocketAddr>,
    /// The file to re-read.
    pub config_path: Option<PathBuf>,
    /// The logger's level control.
    pub logs: Option<LogControl>,
    /// Whether the command line set the log format.
    pub format_from_flag: bool,
    /// The combiner.
    pub combiner: Arc<Mutex<Combiner>>,
    /// What follows each round.
    pub hooks: RoundHooks,
    /// The poll task.
    pub polling: Polling,
}

/// For each of `new`, the index in `old` of the same master, if any.
pub fn kept_masters(old: &[SocketAddr], new: &[SocketAddr]) -> Vec<Option<usize>> {
    new.iter()
        .map(|address| old.iter().position(|former| former == address))
        .collect()
}

impl Reloader {
    /// Re-reads the file and applies it (see the module documentation).
    /// Returns whether a configuration was applied.
    pub async fn reload(&mut self) -> bool {
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
        let addresses = match config::resolve_masters(&new).await {
            Ok(addresses) => addresses,
            Err(error) => {
                tracing::error!(%error, "SIGHUP: configuration not reloaded; still running on the previous one");
                return false;
            }
        };

        let tls = match crate::daemon::load_tls(&new) {
            Ok(tls) => tls,
            Err(error) => {
                tracing::error!(%error, "SIGHUP: configuration not reloaded; still running on the previous one");
                return false;
            }
        };

        self.polling.stop().await;
        let kept = kept_masters(&self.addresses, &addresses);
        let names: Vec<String> = new.masters.iter().map(|m| m.name.clone()).collect();
        // A connection is kept only if nothing it was made with changed;
        // with TLS, the files may have changed under the same names.
        let same_channel = new.request_timeout == self.config.request_timeout
            && tls.is_none()
            && self.polling.tls.is_none();
        let masters: Vec<Master> = new
            .masters
            .iter()
            .zip(&addresses)
            .zip(&kept)
            .map(|((master, &address), kept)| match kept {
                // The same master keeps its connection.
                Some(index) if same_channel => {
                    let mut same = self.polling.masters[*index].clone();
                    same.name = master.name.clone();
                    same
                }
                _ => Master::new(
                    master.name.clone(),
                    &master.authority,
                    address,
                    new.request_timeout,
                    tls.as_ref(),
                ),
            })
            .collect();
        let limits = Limits::from_config(&new);
        let metrics = Arc::clone(&self.hooks.metrics);
        self.hooks.service.reconfigure(names.clone(), |combiner| {
            combiner.reconfigure(&kept, limits);
            metrics.reconfigure(&names, &kept);
        });
        self.hooks
            .heartbeat
            .set_allowed_gap(crate::daemon::watchdog_gap(&new));
        if let Some(logs) = &self.logs {
            if let Err(error) = logs.set_level(&new.log_level) {
                tracing::warn!(%error, "log-level not changed");
            }
        }
        self.polling = Polling::with(
            masters,
            tls,
            &new,
            Arc::clone(&self.combiner),
            self.hooks.clone(),
        );

        let mut need_restart = Vec::new();
        if new.listen != self.config.listen {
            need_restart.push("listen");
        }
        if new.socket != self.config.socket {
            need_restart.push("socket");
        }
        if new.shm_path != self.config.shm_path {
            need_restart.push("shm-path");
        }
        if new.metrics_listen != self.config.metrics_listen {
            need_restart.push("metrics-listen");
        }
        if new.log_format != self.config.log_format && !self.format_from_flag {
            need_restart.push("log-format");
        }
        if new.max_requests_per_s != self.config.max_requests_per_s {
            need_restart.push("max-requests-per-s");
        }
        tracing::info!(
            masters = names.join(", "),
            kept = kept.iter().filter(|k| k.is_some()).count(),
            max_falsetickers = new.max_falsetickers,
            poll_interval_ms = new.poll_interval.as_millis(),
            "SIGHUP: configuration reloaded"
        );
        if !need_restart.is_empty() {
            tracing::warn!(
                keys = need_restart.join(", "),
                "SIGHUP: these keys changed but take effect only after a restart"
            );
        }
        self.config = Config {
            listen: self.config.listen,
            socket: self.config.socket.clone(),
            shm_path: self.config.shm_path.clone(),
            metrics_listen: self.config.metrics_listen,
            log_format: self.config.log_format,
            max_requests_per_s: self.config.max_requests_per_s,
            ..new
        };
        self.addresses = addresses;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masters_are_matched_by_address() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let c: SocketAddr = "[::1]:3".parse().unwrap();
        assert_eq!(
            kept_masters(&[a, b], &[b, c, a]),
            vec![Some(1), None, Some(0)]
        );
    }
}
