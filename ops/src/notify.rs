//! systemd's notification protocol, spoken directly (no libsystemd).
//!
//! A service started with `Type=notify` finds the path of a datagram
//! socket in `$NOTIFY_SOCKET`: a file system path, or an abstract socket
//! name written with a leading `@`. Each datagram it sends there is a set
//! of `KEY=value` lines: `READY=1` once it serves, `STATUS=...` a sentence
//! `systemctl status` shows, `WATCHDOG=1` a keep-alive, `STOPPING=1` on the
//! way out, `RELOADING=1` while a reload runs.
//!
//! With `WatchdogSec=` set, systemd also exports `$WATCHDOG_USEC` (and
//! `$WATCHDOG_PID`, the process meant): without a `WATCHDOG=1` within that
//! many microseconds it kills and, with `Restart=on-failure`, restarts the
//! daemon. [`keep_alive`] sends one every half of it, but only while the
//! daemon's own work loop keeps beating its [`Heartbeat`]: a daemon whose
//! runtime runs but whose work is stuck is restarted too.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A connection to systemd's notification socket.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    address: SocketAddr,
    shown: String,
}

impl Notifier {
    /// The notifier `$NOTIFY_SOCKET` names; `Ok(None)` when it is unset or
    /// empty (the daemon was not started by systemd with `Type=notify`).
    pub fn from_env() -> Result<Option<Notifier>, String> {
        match std::env::var_os("NOTIFY_SOCKET") {
            None => Ok(None),
            Some(value) if value.is_empty() => Ok(None),
            Some(value) => {
                let value = value
                    .into_string()
                    .map_err(|_| "NOTIFY_SOCKET is not valid UTF-8".to_string())?;
                Notifier::to(&value).map(Some)
            }
        }
    }

    /// A notifier sending to `target`: a path, or `@name` for an abstract
    /// socket.
    pub fn to(target: &str) -> Result<Notifier, String> {
        let address = if let Some(name) = target.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())
        } else if target.starts_with('/') {
            SocketAddr::from_pathname(target)
        } else {
            return Err(format!(
                "NOTIFY_SOCKET = {target:?} is neither a path nor an abstract socket name (@...)"
            ));
        }
        .map_err(|e| format!("NOTIFY_SOCKET = {target:?} is not a usable socket address: {e}"))?;
        let socket = UnixDatagram::unbound()
            .map_err(|e| format!("cannot open a datagram socket to notify systemd: {e}"))?;
        Ok(Notifier {
            socket,
            address,
            shown: target.to_string(),
        })
    }

    /// Sends one message of `KEY=value` lines.
    pub fn send(&self, message: &str) -> io::Result<()> {
        let sent = self
            .socket
            .send_to_addr(message.as_bytes(), &self.address)?;
        if sent != message.len() {
            return Err(io::Error::other("the notification was cut short"));
        }
        Ok(())
    }

    /// Sends `message`, logging (not returning) a failure: a daemon keeps
    /// serving when systemd cannot be told.
    fn tell(&self, message: &str) {
        if let Err(error) = self.send(message) {
            tracing::warn!(socket = %self.shown, %error, "cannot notify systemd");
        }
    }

    /// `READY=1` with a status sentence.
    pub fn ready(&self, status: &str) {
        self.tell(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// A status sentence for `systemctl status`.
    pub fn status(&self, status: &str) {
        self.tell(&format!("STATUS={}", one_line(status)));
    }

    /// `RELOADING=1`, before a configuration reload; [`Notifier::ready`]
    /// ends it.
    pub fn reloading(&self) {
        self.tell("RELOADING=1");
    }

    /// `STOPPING=1`, on the way out.
    pub fn stopping(&self) {
        self.tell("STOPPING=1\nSTATUS=stopping");
    }

    /// `WATCHDOG=1`.
    pub fn watchdog(&self) {
        self.tell("WATCHDOG=1");
    }
}

/// A status sentence on one line: the protocol separates fields by
/// newlines.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// The watchdog timeout systemd asks for: `$WATCHDOG_USEC`, unless it is
/// unset, zero or not a number, or `$WATCHDOG_PID` names another process.
pub fn watchdog_timeout() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
            return None;
        }
    }
    Some(Duration::from_micros(usec))
}

/// When the daemon's work loop last ran: it calls [`Heartbeat::beat`] each
/// time round, and the watchdog pings systemd only while the last beat is
/// within the allowed gap (the loop's longest normal pause).
#[derive(Clone, Debug)]
pub struct Heartbeat {
    origin: Instant,
    last_ms: Arc<AtomicU64>,
    allowed_gap_ms: Arc<AtomicU64>,
}

impl Heartbeat {
    /// A heartbeat that beat now, alive while beats come at most
    /// `allowed_gap` apart.
    pub fn new(allowed_gap: Duration) -> Heartbeat {
        let heartbeat = Heartbeat {
            origin: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
            allowed_gap_ms: Arc::new(AtomicU64::new(0)),
        };
        heartbeat.set_allowed_gap(allowed_gap);
        heartbeat
    }

    /// Changes the allowed gap (a reload changed the loop's period).
    pub fn set_allowed_gap(&self, allowed_gap: Duration) {
        let ms = u64::try_from(allowed_gap.as_millis()).unwrap_or(u64::MAX);
        self.allowed_gap_ms.store(ms, Ordering::Relaxed);
    }

    /// The allowed gap.
    pub fn allowed_gap(&self) -> Duration {
        Duration::from_millis(self.allowed_gap_ms.load(Ordering::Relaxed))
    }

    /// Records that the work loop ran now.
    pub fn beat(&self) {
        let elapsed = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.fetch_max(elapsed, Ordering::Relaxed);
    }

    /// How long ago the last beat was.
    pub fn since_last(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.origin.elapsed().saturating_sub(last)
    }
}

/// What a daemon tells systemd over its life, when systemd started it
/// with `Type=notify`; without a notifier, nothing.
#[derive(Debug)]
pub struct Systemd {
    notifier: Option<Arc<Notifier>>,
    keep_alive: Option<tokio::task::JoinHandle<()>>,
}

impl Systemd {
    /// Speaks through `notifier`, if there is one.
    pub fn new(notifier: Option<Arc<Notifier>>) -> Systemd {
        Systemd {
            notifier,
            keep_alive: None,
        }
    }

    /// `READY=1` with `status` once the daemon first serves, and from then
    /// on, when systemd asks for a watchdog, its keep-alive while
    /// `heartbeat` beats (see [`keep_alive`]).
    pub fn started(&mut self, status: &str, heartbeat: &Heartbeat) {
        let Some(notifier) = &self.notifier else {
            return;
        };
        notifier.ready(status);
        if let Some(timeout) = watchdog_timeout() {
            self.keep_alive = Some(tokio::spawn(keep_alive(
                Arc::clone(notifier),
                timeout,
                heartbeat.clone(),
            )));
        }
    }

    /// `READY=1` with `status` again, after a reload.
    pub fn ready(&self, status: &str) {
        if let Some(notifier) = &self.notifier {
            notifier.ready(status);
        }
    }

    /// A new status sentence.
    pub fn status(&self, status: &str) {
        if let Some(notifier) = &self.notifier {
            notifier.status(status);
        }
    }

    /// `RELOADING=1`, before a reload.
    pub fn reloading(&self) {
        if let Some(notifier) = &self.notifier {
            notifier.reloading();
        }
    }

    /// `STOPPING=1`, and no more keep-alives.
    pub fn stopping(self) {
        if let Some(notifier) = &self.notifier {
            notifier.stopping();
        }
        if let Some(task) = self.keep_alive {
            task.abort();
        }
    }
}

/// Sends `WATCHDOG=1` every `timeout / 2` while `heartbeat` beat within
/// its allowed gap; otherwise it logs once that the loop is stuck and lets
/// systemd's watchdog fire. Runs until cancelled.
pub async fn keep_alive(notifier: Arc<Notifier>, timeout: Duration, heartbeat: Heartbeat) {
    let period = (timeout / 2).max(Duration::from_millis(1));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stuck = false;
    loop {
        ticker.tick().await;
        let since = heartbeat.since_last();
        let allowed_gap = heartbeat.allowed_gap();
        if since <= allowed_gap {
            notifier.watchdog();
            stuck = false;
        } else if !stuck {
            stuck = true;
            tracing::error!(
                since_ms = since.as_millis(),
                allowed_ms = allowed_gap.as_millis(),
                "the work loop has stopped; no more watchdog keep-alives, systemd will restart \
                 the daemon"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(socket: &UnixDatagram) -> String {
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).expect("a datagram arrives");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// A datagram socket at a path in a directory of its own, `name`, and
    /// a notifier sending to it.
    fn listening(name: &str) -> (std::path::PathBuf, UnixDatagram, Notifier) {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).unwrap();
        listener
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let notifier = Notifier::to(path.to_str().unwrap()).unwrap();
        (dir, listener, notifier)
    }

    #[test]
    fn messages_reach_a_path_socket() {
        let (dir, listener, notifier) = listening("tt-ops-notify");
        notifier.ready("serving\non two lines");
        assert_eq!(received(&listener), "READY=1\nSTATUS=serving on two lines");
        notifier.watchdog();
        assert_eq!(received(&listener), "WATCHDOG=1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn messages_reach_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("tt-ops-notify-test-{}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&address).unwrap();
        listener
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let notifier = Notifier::to(&format!("@{name}")).unwrap();
        notifier.status("synchronized, 2 sources");
        assert_eq!(received(&listener), "STATUS=synchronized, 2 sources");
    }

    #[tokio::test]
    async fn systemd_hears_ready_status_reload_and_stop_in_turn() {
        let (dir, listener, notifier) = listening("tt-ops-systemd");
        let mut systemd = Systemd::new(Some(Arc::new(notifier)));
        systemd.started("unsynchronized", &Heartbeat::new(Duration::from_secs(1)));
        systemd.status("synchronized");
        systemd.reloading();
        systemd.ready("synchronized");
        systemd.stopping();
        let heard: Vec<String> = (0..5).map(|_| received(&listener)).collect();
        assert_eq!(
            heard,
            [
                "READY=1\nSTATUS=unsynchronized",
                "STATUS=synchronized",
                "RELOADING=1",
                "READY=1\nSTATUS=synchronized",
                "STOPPING=1\nSTATUS=stopping",
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_relative_or_foreign_address_is_refused() {
        let error = Notifier::to("vsock:2:1234").unwrap_err();
        assert!(error.contains("neither a path"), "{error}");
    }

    #[test]
    fn a_heartbeat_tells_how_long_ago_it_beat() {
        // A sleep never ends early: the first gap is at least 200 ms; the
        // second is what two statements take.
        let heartbeat = Heartbeat::new(Duration::from_secs(1));
        std::thread::sleep(Duration::from_millis(200));
        let before = heartbeat.since_last();
        assert!(before >= Duration::from_millis(200));
        heartbeat.beat();
        assert!(heartbeat.since_last() < before);
    }
}
