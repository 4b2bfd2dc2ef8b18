//! Bad input to the binaries: one clear line and a non-zero exit, never a
//! panic; and a master whose gpsd is absent keeps running and says so.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;
use tt_proto::v1::{NowRequest, StatusRequest, Verdict};
use tt_proto::NowAnswer;
use tt_tests::procs::{bin, free_port, wait_for, Proc, TempDir};

fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

/// The exit code and the one line of stderr, checked for the shape every
/// error must have.
fn one_line_error(output: &Output) -> (i32, String) {
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    assert!(!output.status.success(), "expected a failure, got success");
    assert_eq!(
        stderr.lines().count(),
        1,
        "expected one line, got:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "a panic: {stderr}");
    (output.status.code().unwrap_or(-1), stderr)
}

#[test]
fn master_with_an_unknown_option_says_so_in_one_line() {
    let output = run(&bin("timemaster"), &["--bogus"]);
    let (code, line) = one_line_error(&output);
    assert_eq!(code, 2);
    assert!(line.contains("--bogus"), "{line}");
}

#[test]
fn master_with_a_missing_config_file_names_it() {
    let output = run(
        &bin("timemaster"),
        &["--config", "/nonexistent/master.toml"],
    );
    let (code, line) = one_line_error(&output);
    assert_eq!(code, 2);
    assert!(line.contains("/nonexistent/master.toml"), "{line}");
}

#[test]
fn master_with_a_malformed_config_names_key_and_line() {
    let dir = TempDir::new("badcfg");
    let path = dir.path().join("master.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:1\"\n\n[[source]]\nname = \"g\"\nkind = \"gpsd\"\nmin-delay = 3\n",
    )
    .unwrap();
    let output = run(&bin("timemaster"), &["--config", path.to_str().unwrap()]);
    let (code, line) = one_line_error(&output);
    assert_eq!(code, 2);
    assert!(line.contains("min-delay"), "{line}");
    // The unknown key is on line 6, inside the [[source]] table that starts
    // on line 3: the error points at the key.
    assert!(line.contains("line 6"), "{line}");

    std::fs::write(&path, "listen = 127.0.0.1:7371\n").unwrap();
    let output = run(&bin("timemaster"), &["--config", path.to_str().unwrap()]);
    let (code, line) = one_line_error(&output);
    assert_eq!(code, 2);
    assert!(line.contains("line 1"), "{line}");
}

#[test]
fn slave_with_an_unusable_master_address_says_which() {
    let dir = TempDir::new("badmaster");
    let path = dir.path().join("slave.toml");
    std::fs::write(
        &path,
        format!(
            "masters = [\"master-one\"]\nmax-falsetickers = 0\nlisten = \"\"\nsocket = \"{}\"\n",
            dir.path().join("s.sock").display()
        ),
    )
    .unwrap();
    let output = run(&bin("timeslave"), &["--config", path.to_str().unwrap()]);
    let (code, line) = one_line_error(&output);
    assert_eq!(code, 2);
    assert!(line.contains("master-one"), "{line}");
}

#[test]
fn cli_without_a_daemon_says_how_to_fix_it() {
    let output = run(
        &bin("tt-cli"),
        &["--socket", "/nonexistent/timeslave.sock", "now"],
    );
    let (code, line) = one_line_error(&output);
    assert_eq!(code, 2);
    assert!(line.contains("/nonexistent/timeslave.sock"), "{line}");
}

#[test]
fn master_keeps_running_without_gpsd_and_shows_it_down() {
    let dir = TempDir::new("nogpsd");
    // A port nobody listens on: bind, learn it, close.
    let dead_port = free_port();
    let listen = format!("127.0.0.1:{}", free_port());
    let path = dir.path().join("master.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"{listen}\"\n[[source]]\nname = \"gps0\"\nkind = \"gpsd\"\naddress = \"127.0.0.1:{dead_port}\"\n"
        ),
    )
    .unwrap();
    let mut master = Proc::start(
        "master",
        &bin("timemaster"),
        &["--config", path.to_str().unwrap()],
        dir.path(),
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let target = format!("http://{listen}");
    let mut client = wait_for(Duration::from_secs(20), || {
        runtime.block_on(tt_client::connect(&target)).ok()
    })
    .unwrap_or_else(|| panic!("master never listened; log: {}", master.log()));

    // Give the source time to try, fail and retry a few times.
    std::thread::sleep(Duration::from_secs(2));
    master.assert_running();

    let now = runtime
        .block_on(client.now(NowRequest {}))
        .expect("the master answers without its source")
        .into_inner()
        .check()
        .expect("well formed");
    assert!(
        matches!(now, NowAnswer::Unsynchronized(_)),
        "a master with no source must not give an interval: {now:?}"
    );
    let status = runtime
        .block_on(client.status(StatusRequest {}))
        .expect("status answers")
        .into_inner();
    assert_eq!(status.members.len(), 1);
    let gps = &status.members[0];
    assert_eq!(gps.name, "gps0");
    assert_eq!(gps.verdict, Verdict::Unreachable as i32, "{gps:?}");
    assert!(!gps.has_interval);
    assert!(
        gps.detail.contains(&dead_port.to_string()),
        "{}",
        gps.detail
    );

    // Failures are logged once per change of state, not once per retry:
    // in two seconds the source retried several times, and the refusal
    // shows up once from the source and once in the master's reason for
    // being unsynchronized.
    let log = master.log();
    let mentions = log.lines().filter(|l| l.contains("refused")).count();
    assert!(
        mentions <= 2,
        "gpsd's absence logged {mentions} times:\n{log}"
    );
}
