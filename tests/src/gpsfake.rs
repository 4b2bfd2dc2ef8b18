//! gpsfake (from gpsd-clients) replaying an NMEA recording into a real
//! gpsd on loopback. The guard stops gpsfake and the gpsd it started, each
//! by its PID, also when a test fails.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The WATCH gpsfake's own client sends (`-r`), as when the reference
/// output in `data/nmea` was recorded.
pub const REFERENCE_WATCH: &str = "?WATCH={\"enable\":true,\"json\":true,\"timing\":true};";

/// Seconds between sentences (`-c`), as for the reference output.
pub const SENTENCE_INTERVAL_S: &str = "0.02";

/// A running `gpsfake -1 -q -p` and its gpsd.
pub struct Gpsfake {
    child: Child,
    port: u16,
    gpsd_pid: Option<u32>,
    stderr_path: PathBuf,
}

impl Gpsfake {
    /// Starts `gpsfake -1 -q -p -r <watch> -P <port> -c 0.02 <log>`, its
    /// output (gpsd's JSON to its own client) into `<dir>/<name>.out` and
    /// its errors into `<dir>/<name>.err`.
    ///
    /// `-1` plays the log once; `-p` makes gpsfake a watcher of its own
    /// and, since it waits 1.4 s after that client joined before writing
    /// the first sentence, gpsd has opened (and flushed) the pty before
    /// data arrives.
    pub fn start(log: &Path, port: u16, dir: &Path) -> io::Result<Gpsfake> {
        let name = log
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "log".to_string());
        let stdout = std::fs::File::create(dir.join(format!("{name}.out")))?;
        let stderr_path = dir.join(format!("{name}.err"));
        let stderr = std::fs::File::create(&stderr_path)?;
        let child = Command::new("gpsfake")
            .args(["-1", "-q", "-p", "-r", REFERENCE_WATCH, "-P"])
            .arg(port.to_string())
            .args(["-c", SENTENCE_INTERVAL_S])
            .arg(log)
            // gpsfake puts its gpsd's control socket in the temporary
            // directory and leaves it behind when stopped: keep it in ours.
            .env("TMPDIR", dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot start gpsfake ({e}); install it: apt-get install gpsd gpsd-clients"
                    ),
                )
            })?;
        Ok(Gpsfake {
            child,
            port,
            gpsd_pid: None,
            stderr_path,
        })
    }

    /// gpsd's TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// gpsfake's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// gpsd's PID, once [`Gpsfake::wait_listening`] has found it.
    pub fn gpsd_pid(&self) -> Option<u32> {
        self.gpsd_pid
    }

    /// What gpsfake wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Waits until gpsd accepts connections on its port, noting gpsd's PID
    /// on the way. Fails if gpsfake exits first or `limit` passes.
    pub fn wait_listening(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if self.gpsd_pid.is_none() {
                self.gpsd_pid = find_gpsd_child(self.child.id(), self.port);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "gpsfake exited ({status}) before gpsd listened on port {}: {}",
                    self.port,
                    self.stderr()
                ));
            }
            if let Some(pid) = self.gpsd_pid {
                let connected =
                    std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200))
                        .is_ok();
                // Still ours after the connect: had our gpsd failed to bind
                // the port, it would have exited.
                if connected && is_gpsd_on_port(pid, self.port) {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "gpsd did not listen on port {} within {limit:?}",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Polls for gpsfake's exit (it ends after playing the log once).
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }
}

impl Drop for Gpsfake {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            terminate(self.child.id());
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // gpsfake ends its gpsd itself; if it could not, end it here, by
        // the PID noted while it ran, after checking that PID is still our
        // gpsd (the same command line with our port).
        if let Some(pid) = self.gpsd_pid {
            for _ in 0..150 {
                if !is_gpsd_on_port(pid, self.port) {
                    return;
                }
                terminate(pid);
                std::thread::sleep(Duration::from_millis(20));
            }
            kill_hard(pid);
        }
    }
}

/// The PID of the gpsd that gpsfake `parent` started for `port`.
fn find_gpsd_child(parent: u32, port: u16) -> Option<u32> {
    let entries = std::fs::read_dir("/proc").ok()?;
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if parent_of(pid) == Some(parent) && is_gpsd_on_port(pid, port) {
            return Some(pid);
        }
    }
    None
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may
    // contain spaces: state, ppid, ...
    let after_name = stat.rsplit_once(')')?.1;
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` is a gpsd serving `port` (`-S <port>` on its command
/// line). A zombie or a reused PID reads as false.
pub fn is_gpsd_on_port(pid: u32, port: u16) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let is_gpsd = args
        .first()
        .and_then(|a| Path::new(std::str::from_utf8(a).ok()?).file_name())
        .is_some_and(|name| name == "gpsd");
    let port = port.to_string();
    is_gpsd
        && args
            .windows(2)
            .any(|w| w[0] == b"-S" && w[1] == port.as_bytes())
}

fn terminate(pid: u32) {
    signal(pid, libc::SIGTERM);
}

fn kill_hard(pid: u32) {
    signal(pid, libc::SIGKILL);
}

fn signal(pid: u32, signal: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if pid <= 0 {
        return;
    }
    // SAFETY: kill(2) takes plain integers; `pid` is positive, so it names
    // one process (one this test started), never a group.
    unsafe {
        libc::kill(pid, signal);
    }
}
