//! The C interface from C: `tests/c/tt_demo.c` is compiled with `cc`
//! against `include/truetime.h` and the cdylib, run on a record this test
//! writes, and its output checked against what the record implies.

mod record;

use record::{boottime_ns, carried_to, write, Fields, TempDir};
use std::path::{Path, PathBuf};
use std::process::Command;
use tt_client::ids::{decode, DEFAULT_EPOCH_MS};

/// 2026-12-04T16:00:00Z, nanoseconds.
const TRUTH_NS: i64 = 1_796_400_000_000_000_000;
const DRIFT_PPB: u64 = 200_000;
const WORKER: u16 = 517;

/// `target/debug`, where cargo puts `libtt_client.so`, from this test's
/// own path (`target/debug/deps/c_abi-...`).
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let deps = exe.parent().expect("deps");
    let profile = deps.parent().expect("profile dir").to_path_buf();
    assert!(
        profile.join("libtt_client.so").exists(),
        "{} has no libtt_client.so; cargo builds it with the tt-client library",
        profile.display()
    );
    profile
}

fn compile(out: &Path) {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let library = library_dir();
    let output = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(out)
        .arg(crate_dir.join("tests/c/tt_demo.c"))
        .arg("-I")
        .arg(crate_dir.join("include"))
        .arg("-L")
        .arg(&library)
        .arg(format!("-Wl,-rpath,{}", library.display()))
        .arg("-ltt_client")
        .output()
        .expect("run cc (install a C compiler: apt-get install build-essential)");
    assert!(
        output.status.success(),
        "cc failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The values on the line starting with `key`.
fn line<'a>(output: &'a str, key: &str) -> Vec<&'a str> {
    let lines: Vec<Vec<&str>> = output
        .lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .filter(|words| words[0] == key)
        .collect();
    assert_eq!(lines.len(), 1, "one `{key}` line expected in:\n{output}");
    lines[0][1..].to_vec()
}

fn number(text: &str) -> i64 {
    text.parse()
        .unwrap_or_else(|_| panic!("`{text}` is not a number"))
}

#[test]
fn the_c_program_reads_now_waits_and_makes_ids() {
    let dir = TempDir::new("c-abi");
    let program = dir.join("tt_demo");
    compile(&program);

    let path = dir.join("slave.shm");
    let local = boottime_ns();
    let fields = Fields::synchronized(
        local,
        TRUTH_NS,
        TRUTH_NS + 50_000,
        DRIFT_PPB,
        local + 60_000_000_000,
    );
    write(&path, &fields.bytes());
    // 2 ms past the record's upper end: a real wait.
    let commit_t = TRUTH_NS + 50_000 + 2_000_000;

    let started = boottime_ns();
    let output = Command::new(&program)
        .arg(&path)
        .arg(commit_t.to_string())
        .arg(WORKER.to_string())
        .arg(DEFAULT_EPOCH_MS.to_string())
        .output()
        .expect("run tt_demo");
    let ended = boottime_ns();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "tt_demo failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );

    // now: the record carried to an instant while the program ran.
    let now = line(&stdout, "now");
    let now_at = carried_to(&fields, number(now[0]), number(now[1]), started, ended);
    assert_eq!(line(&stdout, "after_past"), ["1"]);
    assert_eq!(line(&stdout, "before_past"), ["0"]);

    // wait: past commit_t, and the record carried to a later instant.
    let wait = line(&stdout, "wait");
    let (earliest, latest) = (number(wait[0]), number(wait[1]));
    assert!(
        earliest > commit_t,
        "wait returned [{earliest}, {latest}] for {commit_t}"
    );
    let wait_at = carried_to(&fields, earliest, latest, now_at, ended);

    // ids: increasing, this worker, and a millisecond that is the floor of
    // an upper end the handle could have given during the run.
    let ids: Vec<u64> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("id "))
        .map(|id| id.parse().expect("an id"))
        .collect();
    assert_eq!(ids.len(), 3, "{stdout}");
    assert_eq!(line(&stdout, "retire"), ["TT_OK"]);
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
    let upper_at = |at: i64| {
        let d = at - fields.local_ns;
        let drift = (i128::from(d) * i128::from(DRIFT_PPB)).div_euclid(1_000_000_000) as i64 + 1;
        fields.latest_ns + d + drift
    };
    for id in &ids {
        let fields_of_id = decode(*id, DEFAULT_EPOCH_MS);
        assert_eq!(fields_of_id.worker, WORKER);
        let lowest_ms = upper_at(wait_at) / 1_000_000 - 1;
        let highest_ms = upper_at(ended) / 1_000_000;
        assert!(
            (lowest_ms..=highest_ms).contains(&fields_of_id.unix_ms),
            "id {id} has ms {} outside [{lowest_ms}, {highest_ms}]",
            fields_of_id.unix_ms
        );
    }

    // The errors a C caller sees.
    assert_eq!(line(&stdout, "missing"), ["TT_ERR_NO_SERVICE"]);
    let message = stdout
        .lines()
        .find_map(|l| l.strip_prefix("missing_error "))
        .expect("missing_error line");
    assert!(
        message.contains(&format!("{}.missing", path.display())),
        "{message}"
    );
    assert_eq!(line(&stdout, "null"), ["TT_ERR_NULL"]);
    assert_eq!(line(&stdout, "bad_worker"), ["TT_ERR_INVALID"]);
}
