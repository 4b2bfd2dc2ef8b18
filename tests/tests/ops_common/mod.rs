//! What the operations tests share: daemons started with an environment
//! of their own (systemd's notification socket), a notification socket to
//! read, a metrics scrape over plain HTTP, and gRPC channels over TCP or a
//! Unix socket for the health and reflection clients.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint, Uri};

/// A daemon this test started; dropped, it gets SIGTERM, three seconds,
/// then SIGKILL (by its PID).
pub struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts `program` with `args` and `env`, its output into
    /// `<dir>/<name>.log`.
    pub fn start(
        name: &str,
        program: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        dir: &Path,
    ) -> Daemon {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("log file in the test's directory");
        let err = out.try_clone().expect("log handle clones");
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("RUST_LOG");
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Daemon { child, log }
    }

    /// Its PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` ("HUP", "TERM") by PID.
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status();
    }

    /// Its exit status, if it exits within `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// What it has logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if !self.running() {
            return;
        }
        self.signal("TERM");
        if self.wait_exit(Duration::from_secs(3)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A datagram socket standing in for systemd's notification socket.
pub struct NotifySocket {
    socket: UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    /// Binds `<dir>/notify.sock`.
    pub fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let socket = UnixDatagram::bind(&path).expect("a datagram socket in the test's directory");
        NotifySocket { socket, path }
    }

    /// The path to hand over as NOTIFY_SOCKET.
    pub fn path(&self) -> String {
        self.path.display().to_string()
    }

    /// The next message within `limit`, if any.
    pub fn next(&self, limit: Duration) -> Option<String> {
        self.socket
            .set_read_timeout(Some(limit.max(Duration::from_millis(1))))
            .expect("a timeout can be set");
        let mut buf = [0u8; 4096];
        let n = self.socket.recv(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Messages until one satisfies `wanted` (returned with all before
    /// it), or `limit` passes (then `None`, with what came).
    pub fn until(
        &self,
        limit: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> (Option<String>, Vec<String>) {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.next(left) {
                Some(message) if wanted(&message) => return (Some(message), seen),
                Some(message) => seen.push(message),
                None => break,
            }
        }
        (None, seen)
    }
}

/// `GET /metrics` from 127.0.0.1:`port`: the body, or why not.
pub fn scrape(port: u16) -> Result<String, String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))
        .map_err(|e| format!("connect to metrics port {port}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    stream
        .read_to_string(&mut reply)
        .map_err(|e| e.to_string())?;
    let (head, body) = reply
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {reply:?}"))?;
    if !head.starts_with("HTTP/1.1 200 OK") {
        return Err(format!("metrics answered {head:?}"));
    }
    Ok(body.to_string())
}

/// The value of the first sample of `name` with `labels`, parsed.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    tt_ops::prom::parse(text)
        .expect("the exposition parses")
        .into_iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(*v)))
        .map(|s| s.value.parse().expect("a number"))
}

/// The value of a sample of `name` with `labels`, as written.
pub fn sample_text(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<String> {
    tt_ops::prom::parse(text)
        .expect("the exposition parses")
        .into_iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(*v)))
        .map(|s| s.value)
}

/// A gRPC channel to `http://127.0.0.1:port`.
pub async fn tcp_channel(address: &str) -> Result<Channel, tonic::transport::Error> {
    Endpoint::from_shared(format!("http://{address}"))?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
}

/// A gRPC channel over the Unix socket at `path`.
pub async fn unix_channel(path: &Path) -> Result<Channel, tonic::transport::Error> {
    let path = path.to_path_buf();
    Endpoint::from_static("http://localhost")
        .connect_timeout(Duration::from_secs(5))
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                tokio::net::UnixStream::connect(path)
                    .await
                    .map(hyper_util::rt::TokioIo::new)
            }
        }))
        .await
}

/// A slave config polling `masters`: `listen` on `address`, its Unix
/// socket at `socket`, metrics on `metrics` (each "" for none), no
/// shared-memory record.
pub fn slave_config(masters: &[&str], address: &str, socket: &str, metrics: &str) -> String {
    let list: Vec<String> = masters.iter().map(|m| format!("\"{m}\"")).collect();
    format!(
        "masters = [{}]\nlisten = \"{address}\"\nsocket = \"{socket}\"\nshm-path = \"\"\n\
         metrics-listen = \"{metrics}\"\n",
        list.join(", ")
    )
}

/// Writes `config` to `<dir>/slave.toml` and starts timeslave on it with
/// `env`, its output into `<dir>/slave.log`.
pub fn start_slave(dir: &Path, config: &str, env: &[(&str, &str)]) -> Daemon {
    let file = dir.join("slave.toml");
    std::fs::write(&file, config).expect("config file in the test's directory");
    Daemon::start(
        "slave",
        &tt_tests::procs::bin("timeslave"),
        &["--config", file.to_str().expect("utf-8 path")],
        env,
        dir,
    )
}

/// A master config: `listen` on `address`, metrics on `metrics` ("" for
/// none), one gpsd source at `gpsd`, then `extra`.
pub fn master_config(address: &str, metrics: &str, gpsd: &str, extra: &str) -> String {
    format!(
        "listen = \"{address}\"\nmetrics-listen = \"{metrics}\"\n{extra}\n\
         [[source]]\nname = \"gps0\"\nkind = \"gpsd\"\naddress = \"{gpsd}\"\n\
         min-delay-us = 20000\nmax-delay-us = 145000\n"
    )
}
