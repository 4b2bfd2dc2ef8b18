//! The serial NMEA source on a real terminal: a socat pseudo-terminal pair
//! (`DIR/a` <-> `DIR/b`), the simulated receiver `tt-gpssim --device
//! DIR/a` writing to one end, the source reading the other.
//!
//! The simulator labels each second from this host's `CLOCK_REALTIME` and
//! writes its sentences at `S + 50 ms` (skipping a second it wakes for more
//! than 10 ms late), so with a delay range of 40..300 ms every interval the
//! source gives must contain `CLOCK_REALTIME` at the sample's arrival
//! instant. That instant is on the local timebase; the test maps it to the
//! wall clock through a (local, wall) pair read right after the sample,
//! on the reading thread, microseconds later.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};
use tt_clock::ClockPair;
use tt_hw::nmea::{run_observed, NmeaConfig, Taken};
use tt_hw::{Health, SourceCell};
use tt_tests::procs::{bin, wait_for, Proc, TempDir};

const MS: i64 = 1_000_000;
const S: i64 = 1_000_000_000;

/// A sample and the wall clock at its arrival.
struct Seen {
    taken: Taken,
    realtime_at_arrival_ns: i64,
}

fn socat(dir: &Path) -> Proc {
    let a = format!("pty,raw,echo=0,link={}", dir.join("a").display());
    let b = format!("pty,raw,echo=0,link={}", dir.join("b").display());
    let socat = PathBuf::from("/usr/bin/socat");
    assert!(
        socat.exists(),
        "socat is missing: install it (apt-get install socat; ./scripts/test does)"
    );
    let proc = Proc::start("socat", &socat, &["-d", "-d", &a, &b], dir);
    let ready = wait_for(Duration::from_secs(5), || {
        (dir.join("a").exists() && dir.join("b").exists()).then_some(())
    });
    assert!(ready.is_some(), "socat made no pty pair: {}", proc.log());
    proc
}

fn simulator(dir: &Path, extra: &[&str]) -> Proc {
    let device = dir.join("a").display().to_string();
    let mut args = vec!["--device", device.as_str()];
    args.extend_from_slice(extra);
    Proc::start("gpssim", &bin("tt-gpssim"), &args, dir)
}

fn config(dir: &Path) -> NmeaConfig {
    let mut config = NmeaConfig::for_device(dir.join("b").display().to_string());
    config.min_delay_ns = 40 * MS;
    config.max_delay_ns = 300 * MS;
    config
}

/// The source, running on its own runtime; dropped, it stops.
struct Source {
    cell: SourceCell,
    seen: Receiver<Seen>,
    _runtime: tokio::runtime::Runtime,
}

fn start_source(config: NmeaConfig) -> Source {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let cell = SourceCell::new("serial", "nmea");
    let (sender, seen) = channel();
    runtime.spawn(run_observed(
        config,
        cell.clone(),
        "serial".to_string(),
        move |taken: &Taken| {
            let pair = ClockPair::read();
            let local_mid = pair.local_before.nanos() / 2 + pair.local_after.nanos() / 2;
            let realtime_at_arrival_ns =
                pair.realtime_ns - (local_mid - taken.sample.local.nanos());
            let _ = sender.send(Seen {
                taken: *taken,
                realtime_at_arrival_ns,
            });
        },
    ));
    Source {
        cell,
        seen,
        _runtime: runtime,
    }
}

/// Collects samples until `count` have come or `limit` has passed.
fn collect(source: &Source, count: usize, limit: Duration) -> Vec<Seen> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    while seen.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match source.seen.recv_timeout(left) {
            Ok(s) => seen.push(s),
            Err(_) => break,
        }
    }
    seen
}

fn check_contains(seen: &[Seen], shift_ns: i64) {
    for s in seen {
        let interval = s.taken.sample.interval;
        let truth = s.realtime_at_arrival_ns + shift_ns;
        assert!(
            interval.earliest().unix_nanos() <= truth && truth <= interval.latest().unix_nanos(),
            "interval {interval} (label {}) does not contain the wall clock {truth} at arrival",
            s.taken.label
        );
        // The configured width: 300 - 40 ms.
        assert_eq!(interval.width_ns(), 260 * MS);
    }
}

#[test]
fn samples_contain_the_host_clock_at_their_arrival() {
    let dir = TempDir::new("nmea-serial");
    let _socat = socat(dir.path());
    let _sim = simulator(dir.path(), &[]);
    let source = start_source(config(dir.path()));

    let seen = collect(&source, 5, Duration::from_secs(12));
    assert!(
        seen.len() >= 5,
        "{} samples in 12 s: {:?}",
        seen.len(),
        source.cell.snapshot()
    );
    check_contains(&seen, 0);
    // One label per second, each a whole second (the simulator writes
    // centiseconds of 00), increasing.
    for pair in seen.windows(2) {
        assert!(pair[1].taken.label > pair[0].taken.label);
    }
    for s in &seen {
        assert_eq!(s.taken.label.unix_nanos().rem_euclid(S), 0);
        assert_eq!(s.taken.sentence, "RMC", "RMC is the first of each burst");
    }
    let delays_us: Vec<i64> = seen
        .iter()
        .map(|s| (s.realtime_at_arrival_ns - s.taken.label.unix_nanos()) / 1_000)
        .collect();
    eprintln!(
        "arrival after the label, us: min {} max {} (configured 40000..300000)",
        delays_us.iter().min().expect("samples"),
        delays_us.iter().max().expect("samples")
    );
    let state = source.cell.snapshot();
    assert_eq!(state.health, Health::Good);
    assert!(state.detail.contains("GPRMC labelled"), "{}", state.detail);
}

#[test]
fn an_offset_receiver_shifts_the_labels() {
    let dir = TempDir::new("nmea-offset");
    let _socat = socat(dir.path());
    let _sim = simulator(dir.path(), &["--offset-ms", "2000"]);
    let source = start_source(config(dir.path()));

    let seen = collect(&source, 3, Duration::from_secs(10));
    assert!(seen.len() >= 3, "{} samples", seen.len());
    // Each interval holds the wall clock plus 2 s, so (260 ms wide) not the
    // wall clock itself.
    check_contains(&seen, 2 * S);
    for s in &seen {
        assert!(!s
            .taken
            .sample
            .interval
            .contains(tt_core::Timestamp::from_unix_nanos(
                s.realtime_at_arrival_ns
            )));
    }
}

#[test]
fn a_receiver_without_fix_gives_nothing() {
    let dir = TempDir::new("nmea-nofix");
    let _socat = socat(dir.path());
    let _sim = simulator(dir.path(), &["--no-fix"]);
    let source = start_source(config(dir.path()));

    let seen = collect(&source, 1, Duration::from_secs(4));
    assert!(seen.is_empty(), "a sample from a receiver without fix");
    let state = source.cell.snapshot();
    // RMC V, GGA quality 0 and the ZDA after them, each second.
    assert!(state.rejected >= 3, "{state:?}");
    assert_eq!(state.health, Health::NoData, "{state:?}");
    assert!(state.last.is_none());
    assert!(state.detail.contains("no fix"), "{}", state.detail);
    assert!(state
        .detail
        .contains(&dir.path().join("b").display().to_string()));
}

/// A small deterministic generator of noise bytes (xorshift64).
struct Noise(u64);

impl Noise {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 >> 24) as u8
            })
            .collect()
    }
}

#[test]
fn binary_noise_between_sentences_is_counted_and_the_sentences_still_count() {
    let dir = TempDir::new("nmea-noise");
    let _socat = socat(dir.path());
    let _sim = simulator(dir.path(), &[]);
    let source = start_source(config(dir.path()));
    // A second writer on the simulator's end: noise goes down the same line.
    let mut line = OpenOptions::new()
        .write(true)
        .open(dir.path().join("a"))
        .expect("the pty end opens for writing");

    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut injected = 0u64;
    let mut seen = Vec::new();
    for _ in 0..6 {
        // Between bursts: the simulator writes at S + 50 ms; noise goes at
        // about S + 500 ms.
        let now = tt_clock::realtime_ns();
        let next = now.div_euclid(S) * S + 500 * MS;
        let wait = if next > now {
            next - now
        } else {
            next + S - now
        };
        std::thread::sleep(Duration::from_nanos(wait as u64));
        let mut bytes = noise.bytes(64);
        bytes.push(b'\n');
        line.write_all(&bytes).expect("noise written");
        injected += 1;
        seen.extend(source.seen.try_iter());
    }
    seen.extend(collect(&source, 1, Duration::from_secs(2)));

    assert!(seen.len() >= 4, "{} samples beside the noise", seen.len());
    check_contains(&seen, 0);
    let state = source.cell.snapshot();
    assert!(
        state.rejected >= injected,
        "{} rejections for {injected} bursts of noise: {state:?}",
        state.rejected
    );
}

#[test]
fn a_device_that_disappears_is_down_then_recovers() {
    let dir = TempDir::new("nmea-unplug");
    let socat_first = socat(dir.path());
    let sim_first = simulator(dir.path(), &[]);
    let source = start_source(config(dir.path()));
    assert!(!collect(&source, 2, Duration::from_secs(8)).is_empty());

    // Unplug: the pty pair goes away (socat removes its links).
    drop(socat_first);
    drop(sim_first);
    let device = dir.path().join("b").display().to_string();
    let down = wait_for(Duration::from_secs(5), || {
        let state = source.cell.snapshot();
        (state.health == Health::Down).then_some(state)
    })
    .unwrap_or_else(|| panic!("not down: {:?}", source.cell.snapshot()));
    assert!(down.last.is_none());
    assert!(down.detail.contains(&device), "{}", down.detail);
    // Reopening finds no device and says so.
    let missing = wait_for(Duration::from_secs(5), || {
        let state = source.cell.snapshot();
        state.detail.contains("does not exist").then_some(state)
    });
    assert!(missing.is_some(), "{:?}", source.cell.snapshot());
    let _ = source.seen.try_iter().count();

    // Plug back in: the source reopens and samples flow again.
    let _socat = socat(dir.path());
    let _sim = simulator(dir.path(), &[]);
    let seen = collect(&source, 2, Duration::from_secs(20));
    assert!(seen.len() >= 2, "no recovery: {:?}", source.cell.snapshot());
    check_contains(&seen, 0);
    assert_eq!(source.cell.snapshot().health, Health::Good);
}
