//! Ten million ids from eight threads sharing one generator, while two
//! more processes (this test binary run again, with other worker ids) make
//! a million each: not one duplicate among them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use tt_client::ids::{decode, SnowflakeGenerator, DEFAULT_EPOCH_MS};
use tt_client::{TimeError, TimeSource};
use tt_core::{Interval, Timestamp};

const THREADS: usize = 8;
const IDS_IN_PROCESS: usize = 10_000_000;
const IDS_PER_CHILD: usize = 1_000_000;
const PROCESS_WORKER: u16 = 1;
const CHILD_WORKERS: [u16; 2] = [2, 3];
/// Set in a child: its worker id and the file it writes its ids to.
const CHILD_WORKER_VAR: &str = "TT_IDS_MANY_CHILD_WORKER";
const CHILD_OUT_VAR: &str = "TT_IDS_MANY_CHILD_OUT";
const TEST_NAME: &str = "ten_million_ids_from_threads_and_processes_are_unique";

/// The host's `CLOCK_REALTIME` +-1 ms.
struct HostClock;

impl TimeSource for HostClock {
    fn now(&self) -> Result<Interval, TimeError> {
        Ok(Interval::around(
            Timestamp::from_unix_nanos(tt_clock::realtime_ns()),
            1_000_000,
        ))
    }
}

fn generator(worker: u16) -> SnowflakeGenerator {
    SnowflakeGenerator::new(worker, DEFAULT_EPOCH_MS, Arc::new(HostClock)).expect("a generator")
}

/// A directory removed when the test ends, pass or fail.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!("tt-ids-many-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a temporary directory");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (by its PID) if the test ends before it does.
struct ChildGuard(Option<Child>);

impl ChildGuard {
    /// Waits for the child to end and returns what it wrote to stderr.
    fn finish(mut self) -> Output {
        let child = self.0.take().expect("a child not yet waited for");
        child.wait_with_output().expect("the child ends")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn_child(worker: u16, out: &Path) -> ChildGuard {
    let this_binary = std::env::current_exe().expect("the test binary's path");
    let child = Command::new(this_binary)
        .args([TEST_NAME, "--exact", "--test-threads", "1", "--quiet"])
        .env(CHILD_WORKER_VAR, worker.to_string())
        .env(CHILD_OUT_VAR, out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the test binary runs again");
    ChildGuard(Some(child))
}

/// In a child: make the ids and write them, little-endian, to the file.
fn run_child(worker: &str) {
    let worker: u16 = worker.parse().expect("a worker id from the parent");
    let out = std::env::var(CHILD_OUT_VAR).expect("an output path from the parent");
    let ids = generator(worker);
    let mut bytes = Vec::with_capacity(IDS_PER_CHILD * 8);
    for _ in 0..IDS_PER_CHILD {
        bytes.extend_from_slice(&ids.next_id().expect("an id").to_le_bytes());
    }
    std::fs::write(out, bytes).expect("the ids written");
}

fn read_ids(path: &Path) -> Vec<u64> {
    let bytes = std::fs::read(path).expect("the child's ids");
    bytes
        .chunks_exact(8)
        .map(|chunk| u64::from_le_bytes(chunk.try_into().expect("8 bytes")))
        .collect()
}

#[test]
fn ten_million_ids_from_threads_and_processes_are_unique() {
    if let Ok(worker) = std::env::var(CHILD_WORKER_VAR) {
        run_child(&worker);
        return;
    }

    let dir = TempDir::new();
    let outs: Vec<PathBuf> = CHILD_WORKERS
        .iter()
        .map(|worker| dir.0.join(format!("worker-{worker}.ids")))
        .collect();
    let children: Vec<ChildGuard> = CHILD_WORKERS
        .iter()
        .zip(&outs)
        .map(|(&worker, out)| spawn_child(worker, out))
        .collect();

    let ids = generator(PROCESS_WORKER);
    let per_thread: Vec<Vec<u64>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    (0..IDS_IN_PROCESS / THREADS)
                        .map(|_| ids.next_id().expect("an id"))
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });

    let mut all = Vec::with_capacity(IDS_IN_PROCESS + CHILD_WORKERS.len() * IDS_PER_CHILD);
    for made in per_thread {
        // Each thread's ids increase: a later call never gets less.
        assert!(made.windows(2).all(|pair| pair[0] < pair[1]));
        all.extend(made);
    }
    for (child, (&worker, out)) in children.into_iter().zip(CHILD_WORKERS.iter().zip(&outs)) {
        let output = child.finish();
        assert!(
            output.status.success(),
            "child with worker {worker} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let made = read_ids(out);
        assert_eq!(made.len(), IDS_PER_CHILD);
        assert!(made.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(made
            .iter()
            .all(|&id| decode(id, DEFAULT_EPOCH_MS).worker == worker));
        all.extend(made);
    }
    assert_eq!(all.len(), IDS_IN_PROCESS + 2 * IDS_PER_CHILD);

    all.sort_unstable();
    if let Some(pair) = all.windows(2).find(|pair| pair[0] == pair[1]) {
        panic!(
            "id {} was handed out twice: {:?}",
            pair[0],
            decode(pair[0], DEFAULT_EPOCH_MS)
        );
    }
}
