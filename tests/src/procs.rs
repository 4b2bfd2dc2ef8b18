//! Processes started by tests: found in the workspace's target directory,
//! stopped by their PID when the guard is dropped (also when a test fails).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A started process; dropped, it gets SIGTERM, a moment to exit, then
/// SIGKILL. Its stderr goes to a log file that [`Proc::log`] reads.
pub struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `program` with `args`, logging stdout and stderr to
    /// `<log_dir>/<name>.log`.
    pub fn start(name: &str, program: &Path, args: &[&str], log_dir: &Path) -> Proc {
        let log = log_dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("log file in the test's own directory");
        let err = out.try_clone().expect("log file handle clones");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Proc {
            name: name.to_string(),
            child,
            log,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal to this process (by its PID).
    pub fn signal(&self, signal: libc_signal::Signal) {
        libc_signal::send(self.pid(), signal);
    }

    /// Panics with the log tail if the process has exited.
    pub fn assert_running(&mut self) {
        if !self.running() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            panic!(
                "{} exited early; its log ends:\n{}",
                self.name,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.running() {
            return;
        }
        libc_signal::send(self.pid(), libc_signal::Signal::Term);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if !self.running() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Signals without pulling a crate in for it.
pub mod libc_signal {
    /// The signals tests send.
    #[derive(Clone, Copy, Debug)]
    pub enum Signal {
        /// SIGTERM.
        Term,
        /// SIGSTOP.
        Stop,
        /// SIGCONT.
        Cont,
        /// SIGHUP.
        Hup,
    }

    /// Sends `signal` to `pid` with kill(1): the process is one this test
    /// started, addressed by PID only.
    pub fn send(pid: u32, signal: Signal) {
        let name = match signal {
            Signal::Term => "-TERM",
            Signal::Stop => "-STOP",
            Signal::Cont => "-CONT",
            Signal::Hup => "-HUP",
        };
        let _ = std::process::Command::new("kill")
            .args([name, &pid.to_string()])
            .status();
    }
}

/// The directory holding the workspace's binaries (`target/debug`), found
/// from the running test executable (`target/debug/deps/<test>`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    let deps = exe.parent().expect("test binary lives in a directory");
    deps.parent()
        .expect("deps lives in the profile directory")
        .to_path_buf()
}

/// The path of workspace binary `name`; panics with the fix if it was not
/// built.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (./scripts/test does)",
        path.display()
    );
    path
}

/// A TCP port on 127.0.0.1 that was free a moment ago, for a process the
/// test starts next to listen on.
///
/// The port comes from below the kernel's ephemeral range
/// (`net.ipv4.ip_local_port_range`), where `connect` never picks the local
/// end of an outgoing connection: a port from inside that range (as a bind
/// to port 0 gives) can become the local end of one of the test's own
/// connections between this check and the process's bind, which then fails
/// with "address in use". Below the range only explicit binds take ports;
/// each candidate is tried by binding it, starting at a place that differs
/// between test processes and moving on with every call.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static CALLS: AtomicU32 = AtomicU32::new(0);
    const FLOOR: u32 = 10_000;
    let ceiling = ephemeral_floor().unwrap_or(32_768);
    if ceiling > FLOOR + 1_000 {
        let span = ceiling - FLOOR;
        let start = std::process::id().wrapping_mul(7_919) % span;
        let call = CALLS.fetch_add(1, Ordering::Relaxed);
        for step in 0..span {
            let offset = (start + call.wrapping_mul(101) + step) % span;
            let port = u16::try_from(FLOOR + offset).expect("below 65536");
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("loopback has free ports");
    listener
        .local_addr()
        .expect("bound socket has an address")
        .port()
}

/// The lowest port the kernel hands to outgoing connections.
fn ephemeral_floor() -> Option<u32> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let low: u32 = range.split_whitespace().next()?.parse().ok()?;
    (low <= 65_535).then_some(low)
}

/// A fresh directory for one test, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `/tmp/truetime-<label>-<pid>-<n>`.
    pub fn new(label: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("truetime-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir can be created");
        TempDir(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `check` every 100 ms until it returns `Some`, for at most
/// `limit`.
pub fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
