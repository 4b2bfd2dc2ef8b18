//! `tt-cli check-config` on configuration files written here and on the
//! examples shipped in deploy/: the verdict, its one line, its exit status.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("tt-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write the config");
        path.to_str().expect("utf-8").to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tt-cli"))
        .args(args)
        .output()
        .expect("run tt-cli")
}

/// Exactly one line of stdout, nothing on stderr.
fn one_line(output: &Output) -> String {
    let stdout = String::from_utf8(output.stdout.clone()).expect("utf-8");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout.trim_end().to_string()
}

/// The single stderr line of a run that exits 2.
fn error_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(output.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr.trim_end().to_string()
}

const MASTER: &str = "\
listen = \"127.0.0.1:7371\"
max-falsetickers = 1

[[source]]
name = \"gps0\"
kind = \"gpsd\"

[[source]]
name = \"kernel\"
kind = \"kernel\"

[[source]]
name = \"gps1\"
kind = \"gpsd\"
address = \"127.0.0.1:2948\"
";

const SLAVE: &str = "\
masters = [\"127.0.0.1:7371\", \"127.0.0.1:7372\", \"127.0.0.1:7373\"]
poll-interval-ms = 500
request-timeout-ms = 200
listen = \"127.0.0.1:7380\"
socket = \"\"
shm-path = \"/tmp/tt-check.shm\"
";

#[test]
fn valid_files_are_told_apart_and_summarised() {
    let dir = TempDir::new("check-valid");
    let master = dir.file("master.toml", MASTER);
    let output = cli(&["check-config", &master]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        one_line(&output),
        format!(
            "{master}: valid timemaster configuration: 3 sources: gps0 (gpsd), kernel (kernel), \
             gps1 (gpsd); max-falsetickers 1; 0 peers; listen 127.0.0.1:7371"
        )
    );

    let slave = dir.file("slave.toml", SLAVE);
    let output = cli(&["check-config", &slave]);
    assert_eq!(output.status.code(), Some(0));
    // f defaults to (3 - 1) / 2 = 1.
    assert_eq!(
        one_line(&output),
        format!(
            "{slave}: valid timeslave configuration: 3 masters: 127.0.0.1:7371, 127.0.0.1:7372, \
             127.0.0.1:7373; max-falsetickers 1; polled every 500 ms; listen 127.0.0.1:7380; socket off; \
             shm-path /tmp/tt-check.shm"
        )
    );

    let output = cli(&["check-config", &slave, "--json"]);
    assert_eq!(output.status.code(), Some(0));
    let json: Value = serde_json::from_str(&one_line(&output)).expect("json");
    assert_eq!(json["valid"], true);
    assert_eq!(json["kind"], "timeslave");
    assert_eq!(json["summary"]["masters"][2], "127.0.0.1:7373");
    assert_eq!(json["summary"]["poll_interval_ms"], 500);
    assert_eq!(json["summary"]["socket"], Value::Null);
    assert_eq!(json["error"], Value::Null);
}

#[test]
fn an_invalid_file_is_one_line_naming_the_line_and_the_key() {
    let dir = TempDir::new("check-invalid");

    // A value out of range, on line 2.
    let master = dir.file(
        "master.toml",
        "listen = \"127.0.0.1:7371\"\ndrift-ppm = 0\n[[source]]\nname = \"k\"\nkind = \"kernel\"\n",
    );
    let output = cli(&["check-config", &master]);
    assert_eq!(output.status.code(), Some(1));
    let line = one_line(&output);
    assert!(
        line.starts_with(&format!(
            "invalid timemaster configuration: {master} line 2: "
        )),
        "{line}"
    );
    assert!(line.contains("drift-ppm"), "{line}");

    // A misspelt key inside the second [[source]], on line 8.
    let master = dir.file(
        "typo.toml",
        "[[source]]\nname = \"k\"\nkind = \"kernel\"\n\n[[source]]\nname = \"g\"\nkind = \"gpsd\"\nmin-delay = 5\n",
    );
    let output = cli(&["check-config", &master]);
    assert_eq!(output.status.code(), Some(1));
    let line = one_line(&output);
    assert!(line.contains(&format!("{master} line 8: ")), "{line}");
    assert!(line.contains("`min-delay`"), "{line}");

    // A slave tolerating more liars than three masters allow, line 2.
    let slave = dir.file(
        "slave.toml",
        "masters = [\"a:1\", \"b:2\", \"c:3\"]\nmax-falsetickers = 2\n",
    );
    let output = cli(&["check-config", &slave]);
    assert_eq!(output.status.code(), Some(1));
    let line = one_line(&output);
    assert!(
        line.starts_with(&format!(
            "invalid timeslave configuration: {slave} line 2: "
        )),
        "{line}"
    );
    assert!(line.contains("max-falsetickers"), "{line}");

    // A misspelt slave key, line 2; its kind is still told by `masters`.
    let slave = dir.file(
        "slave-typo.toml",
        "masters = [\"a:1\"]\npoll-intervall-ms = 500\n",
    );
    let output = cli(&["check-config", &slave, "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let json: Value = serde_json::from_str(&one_line(&output)).expect("json");
    assert_eq!(json["valid"], false);
    assert_eq!(json["kind"], "timeslave");
    assert_eq!(json["line"], 2);
    assert!(json["error"]
        .as_str()
        .expect("error")
        .contains("poll-intervall-ms"));
}

#[test]
fn the_kind_when_the_keys_do_not_tell_it() {
    let dir = TempDir::new("check-kind");
    let empty = dir.file("empty.toml", "");
    let line = error_line(&cli(&["check-config", &empty]));
    assert!(line.contains("--kind master or --kind slave"), "{line}");

    // Empty is every default: valid for a master (kernel clock and gpsd),
    // invalid for a slave (no masters).
    let output = cli(&["check-config", &empty, "--kind", "master"]);
    assert_eq!(output.status.code(), Some(0));
    // The defaults: the kernel clock and gpsd on 127.0.0.1:2947.
    assert!(
        one_line(&output).ends_with(
            "valid timemaster configuration: 2 sources: kernel (kernel), gps0 (gpsd); \
             max-falsetickers 0; 0 peers; listen 127.0.0.1:7371"
        ),
        "{:?}",
        output
    );
    let output = cli(&["check-config", &empty, "--kind", "slave"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(one_line(&output).contains("no masters configured"));

    // A master's file read as a slave's: [[source]], on line 4, is no
    // key of a slave's.
    let master = dir.file("master.toml", MASTER);
    let output = cli(&["check-config", &master, "--kind", "slave"]);
    assert_eq!(output.status.code(), Some(1));
    let line = one_line(&output);
    assert!(line.contains("line 4: unknown key `source`"), "{line}");

    let line = error_line(&cli(&[
        "check-config",
        &dir.0.join("absent.toml").to_string_lossy(),
    ]));
    assert!(line.starts_with("tt-cli: cannot read "), "{line}");
    let line = error_line(&cli(&["check-config", &master, "--kind", "clock"]));
    assert!(line.contains("--kind"), "{line}");
}

#[test]
fn the_shipped_examples_are_valid() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    for (file, daemon) in [
        ("timemaster.example.toml", "timemaster"),
        ("timeslave.example.toml", "timeslave"),
    ] {
        let path = deploy.join(file);
        let output = cli(&["check-config", path.to_str().expect("utf-8")]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(one_line(&output).contains(&format!("valid {daemon} configuration")));
    }
}
