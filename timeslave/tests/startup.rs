//! How the timeslave binary starts and refuses to start: one line on
//! stderr and the documented exit status for each kind of problem.

use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A directory removed when the test ends, pass or fail.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("timeslave-start-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    fn config(&self, text: &str) -> PathBuf {
        let path = self.0.join("timeslave.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A started timeslave, killed by its PID when the test ends if it is
/// still running.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

fn timeslave() -> Command {
    Command::new(env!("CARGO_BIN_EXE_timeslave"))
}

/// Runs timeslave to its end; it must end by itself within 20 s.
fn run_to_end(mut command: Command) -> Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start timeslave");
    let mut running = Running(Some(child));
    for _ in 0..400 {
        let child = running.0.as_mut().expect("still held");
        if child.try_wait().expect("wait").is_some() {
            let child = running.0.take().expect("still held");
            return child.wait_with_output().expect("output");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timeslave did not exit within 20 s");
}

/// Asserts exit `code` and exactly one line on stderr, and returns it.
fn one_line(output: &Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    stderr.trim_end().to_string()
}

#[test]
fn without_a_config_file_there_are_no_masters() {
    let line = one_line(&run_to_end(timeslave()), 2);
    assert!(line.starts_with("timeslave: "), "{line}");
    assert!(line.contains("no masters configured"), "{line}");
    assert!(line.contains("--config"), "{line}");
}

#[test]
fn a_missing_file_is_named() {
    let dir = TempDir::new("missing");
    let path = dir.0.join("absent.toml");
    let mut command = timeslave();
    command.arg("--config").arg(&path);
    let line = one_line(&run_to_end(command), 2);
    assert!(line.contains(&path.display().to_string()), "{line}");
    assert!(line.contains("cannot read"), "{line}");
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    let dir = TempDir::new("unknown");
    let path = dir.config("masters = [\"127.0.0.1:7371\"]\n# comment\nfoo = 1\n");
    let mut command = timeslave();
    command.arg("--config").arg(&path);
    let line = one_line(&run_to_end(command), 2);
    assert!(
        line.starts_with(&format!(
            "timeslave: {} line 3: unknown key `foo`",
            path.display()
        )),
        "{line}"
    );
}

#[test]
fn an_address_that_is_not_one_is_a_config_error() {
    let dir = TempDir::new("address");
    let path = dir.config("masters = [\"127.0.0.1:7371\", \"not an address\"]\n");
    let mut command = timeslave();
    command.arg("--config").arg(&path);
    let line = one_line(&run_to_end(command), 2);
    assert!(line.contains("line 1: master `not an address`"), "{line}");
}

#[test]
fn a_taken_tcp_port_is_a_bind_error() {
    let dir = TempDir::new("bind");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("address");
    let path = dir.config(&format!(
        "masters = [\"127.0.0.1:7371\"]\nlisten = \"{address}\"\nsocket = \"\"\n"
    ));
    let mut command = timeslave();
    command.arg("--config").arg(&path);
    let line = one_line(&run_to_end(command), 1);
    assert!(
        line.starts_with(&format!("timeslave: cannot listen on {address}")),
        "{line}"
    );
}

#[test]
fn a_stale_socket_is_replaced_and_a_live_one_is_not() {
    let dir = TempDir::new("stale");
    let socket = dir.0.join("slave.sock");
    // A socket file nobody accepts on, as a crashed daemon leaves it.
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind"));
    // Port 9 (discard) has no listener here: the masters stay unreachable.
    let path = dir.config(&format!(
        "masters = [\"127.0.0.1:9\"]\nlisten = \"\"\nsocket = \"{}\"\nshm-path = \"{}\"\n",
        socket.display(),
        dir.0.join("slave.shm").display()
    ));
    let first = Running(Some(
        timeslave()
            .arg("--config")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start timeslave"),
    ));
    let mut up = false;
    for _ in 0..100 {
        if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(up, "the first timeslave never served on its socket");

    // A second daemon on the same socket must not take it over.
    let mut command = timeslave();
    command.arg("--config").arg(&path);
    let output = run_to_end(command);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr
            .lines()
            .last()
            .unwrap_or_default()
            .contains("is in use by a running process"),
        "{stderr}"
    );
    assert!(std::fs::metadata(&socket)
        .expect("still there")
        .file_type()
        .is_socket());
    assert!(std::os::unix::net::UnixStream::connect(&socket).is_ok());
    drop(first);
}

#[test]
fn a_regular_file_at_the_socket_path_is_never_deleted() {
    let dir = TempDir::new("regular");
    let socket = dir.0.join("not-a-socket");
    std::fs::write(&socket, "precious").expect("write");
    let path = dir.config(&format!(
        "masters = [\"127.0.0.1:7371\"]\nlisten = \"\"\nsocket = \"{}\"\n",
        socket.display()
    ));
    let mut command = timeslave();
    command.arg("--config").arg(&path);
    let output = run_to_end(command);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("exists and is not a socket"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&socket).expect("kept"), "precious");
}
