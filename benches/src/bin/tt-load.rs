//! Puts a running timemaster or timeslave under load over loopback and
//! reports what it held: answered requests per second, latency percentiles,
//! and the daemon's CPU time and resident memory, read from
//! `/proc/PID/stat` (utime + stime) and `/proc/PID/status` (VmRSS).
//!
//! Two shapes of load, each ramped through the client counts of `--clients`:
//!
//! * `--mode poll`: every client is a connection of its own that asks `Now`
//!   once every `--interval-ms`, the way timeslaves poll a master; the
//!   clients' phases are spread evenly over the interval.
//! * `--mode flood`: every client is a connection of its own that asks
//!   `Now` again as soon as the last answer arrived, the way local programs
//!   in a tight loop load a timeslave.
//!
//! Each step connects its clients, lets them run one warm-up second, then
//! measures for `--seconds`. Before the first step the daemon's own CPU use
//! with no clients is measured for `--baseline-seconds`; the CPU cost of a
//! request is what the daemon used beyond that baseline, divided by the
//! requests answered; `load_%` is this program's own CPU use, which on a
//! machine with few cores competes with the daemon's. A step is held when its p99 latency is under 1 ms, no
//! request failed and, when polling, 99 % of the offered polls were
//! answered.
//!
//! `scripts/capacity` starts a master and a slave and runs this against
//! both. Latencies are timed with the monotonic clock around each call, on
//! the same machine as the daemon, so they include this program's own
//! scheduling: on a machine with few cores they are an upper bound on the
//! daemon's.

use std::collections::BTreeMap;
use std::fs;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tonic::transport::Channel;
use tt_proto::v1::true_time_client::TrueTimeClient;
use tt_proto::v1::NowRequest;
use tt_proto::NowAnswer;

/// A step is "held" when its p99 latency is below this, no request failed
/// and, when polling, the offered rate was answered (see `HELD_SHARE`).
const P99_LIMIT: Duration = Duration::from_millis(1);

/// A poll that starts more than this after its scheduled instant is counted
/// as late: this program, not the daemon, fell behind. (Tokio's timers
/// tick in whole milliseconds, so a millisecond or two is normal.)
const LATE_SEND: Duration = Duration::from_millis(10);

/// A polling step is "held" only if at least this share of the polls it
/// offered were answered in the window.
const HELD_SHARE: f64 = 0.99;

/// Connections opened at once while a step sets up.
const CONNECT_BATCH: usize = 200;

/// The most clients one step may have: every client is a socket here and
/// one in the daemon.
const MAX_CLIENTS: usize = 50_000;

/// The longest a step may measure, seconds.
const MAX_SECONDS: u64 = 600;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Poll,
    Flood,
}

struct Args {
    target: String,
    pid: u32,
    mode: Mode,
    steps: Vec<usize>,
    interval: Duration,
    seconds: u64,
    baseline_seconds: u64,
    threads: usize,
}

const USAGE: &str = "usage: tt-load --target unix:/path.sock|host:port --pid PID \
     --mode poll|flood --clients N[,N...] [--interval-ms 1000] [--seconds 10] \
     [--baseline-seconds 5] [--threads 1]";

fn parse_args() -> Result<Args, String> {
    let mut target = None;
    let mut pid = None;
    let mut mode = None;
    let mut steps = Vec::new();
    let mut interval_ms: u64 = 1000;
    let mut seconds: u64 = 10;
    let mut baseline_seconds: u64 = 5;
    let mut threads: usize = 1;

    let mut iter = std::env::args().skip(1);
    while let Some(flag) = iter.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_string());
        }
        let value = iter
            .next()
            .ok_or_else(|| format!("{flag} needs a value; {USAGE}"))?;
        let number = |what: &str| -> Result<u64, String> {
            value
                .parse::<u64>()
                .map_err(|_| format!("{what} wants a whole number, not {value:?}"))
        };
        match flag.as_str() {
            "--target" => target = Some(value.clone()),
            "--pid" => {
                pid = Some(
                    u32::try_from(number("--pid")?)
                        .map_err(|_| "--pid is too large".to_string())?,
                )
            }
            "--mode" => {
                mode = Some(match value.as_str() {
                    "poll" => Mode::Poll,
                    "flood" => Mode::Flood,
                    _ => return Err(format!("--mode is poll or flood, not {value:?}")),
                })
            }
            "--clients" => {
                for part in value.split(',') {
                    let count: usize = part.trim().parse().map_err(|_| {
                        format!("--clients wants numbers separated by commas, not {part:?}")
                    })?;
                    if count == 0 || count > MAX_CLIENTS {
                        return Err(format!("--clients: {count} is outside 1 to {MAX_CLIENTS}"));
                    }
                    steps.push(count);
                }
            }
            "--interval-ms" => interval_ms = number("--interval-ms")?,
            "--seconds" => seconds = number("--seconds")?,
            "--baseline-seconds" => baseline_seconds = number("--baseline-seconds")?,
            "--threads" => {
                threads = usize::try_from(number("--threads")?)
                    .map_err(|_| "--threads is too large".to_string())?
            }
            _ => return Err(format!("unknown option {flag}; {USAGE}")),
        }
    }

    let (Some(target), Some(pid), Some(mode)) = (target, pid, mode) else {
        return Err(format!("--target, --pid and --mode are required; {USAGE}"));
    };
    if steps.is_empty() {
        return Err(format!("--clients is required; {USAGE}"));
    }
    if !(1..=60_000).contains(&interval_ms) {
        return Err("--interval-ms must be 1 to 60000".into());
    }
    if !(1..=MAX_SECONDS).contains(&seconds) || baseline_seconds > MAX_SECONDS {
        return Err(format!("--seconds must be 1 to {MAX_SECONDS}"));
    }
    if !(1..=64).contains(&threads) {
        return Err("--threads must be 1 to 64".into());
    }
    Ok(Args {
        target,
        pid,
        mode,
        steps,
        interval: Duration::from_millis(interval_ms),
        seconds,
        baseline_seconds,
        threads,
    })
}

/// CPU time the process has used so far (user + system), in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    // The command name (field 2) is in parentheses and may hold spaces:
    // the fields after its closing parenthesis start at field 3 (state).
    let after_name = text
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("{path} has no ')' after the command name"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime is field 14 and stime field 15 (proc(5)): indexes 11 and 12 here.
    let field = |index: usize| -> Result<u64, String> {
        fields
            .get(index)
            .and_then(|text| text.parse::<u64>().ok())
            .ok_or_else(|| format!("{path}: field {} is missing or not a number", index + 3))
    };
    Ok(field(11)? + field(12)?)
}

/// The process's resident memory, KiB (VmRSS in `/proc/PID/status`).
fn rss_kib(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    text.lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("{path} has no VmRSS line"))
}

/// Clock ticks per second of the counters in `/proc/PID/stat`.
fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown
    // name, which is handled below.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
}

/// What one client saw during the measured window.
#[derive(Default)]
struct Tally {
    latencies_ns: Vec<u64>,
    /// Failed requests by gRPC status code: how many, and the first
    /// message seen.
    errors: BTreeMap<String, (u64, String)>,
    unsynchronized: u64,
    late_sends: u64,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies_ns.extend(other.latencies_ns);
        for (code, (count, message)) in other.errors {
            self.errors.entry(code).or_insert((0, message)).0 += count;
        }
        self.unsynchronized += other.unsynchronized;
        self.late_sends += other.late_sends;
    }
}

/// Sends one `Now` and records its latency and outcome in `tally`.
async fn ask(client: &mut TrueTimeClient<Channel>, tally: &mut Tally) {
    let started = Instant::now();
    let reply = client.now(NowRequest {}).await;
    let latency = started.elapsed();
    match reply {
        Ok(answer) => {
            tally
                .latencies_ns
                .push(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
            if !matches!(answer.into_inner().check(), Ok(NowAnswer::Synchronized(_))) {
                tally.unsynchronized += 1;
            }
        }
        Err(status) => {
            tally
                .errors
                .entry(format!("{:?}", status.code()))
                .or_insert((0, status.message().to_string()))
                .0 += 1;
        }
    }
}

/// One polling client: asks at `first`, then every `interval`; counts the
/// asks scheduled inside `[window_start, window_end)`.
async fn poller(
    mut client: TrueTimeClient<Channel>,
    first: tokio::time::Instant,
    interval: Duration,
    window_start: tokio::time::Instant,
    window_end: tokio::time::Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut scheduled = first;
    while scheduled < window_end {
        tokio::time::sleep_until(scheduled).await;
        let measured = scheduled >= window_start;
        if measured {
            let lateness = tokio::time::Instant::now().saturating_duration_since(scheduled);
            if lateness > LATE_SEND {
                tally.late_sends += 1;
            }
            ask(&mut client, &mut tally).await;
        } else {
            ask(&mut client, &mut Tally::default()).await;
        }
        scheduled += interval;
    }
    tally
}

/// One flooding client: asks back to back until `window_end`; counts the
/// asks started inside the window.
async fn flooder(
    mut client: TrueTimeClient<Channel>,
    window_start: tokio::time::Instant,
    window_end: tokio::time::Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut warm_up = Tally::default();
    loop {
        let now = tokio::time::Instant::now();
        if now >= window_end {
            break;
        }
        if now >= window_start {
            ask(&mut client, &mut tally).await;
        } else {
            ask(&mut client, &mut warm_up).await;
        }
    }
    tally
}

/// Opens `count` connections to `target`, `CONNECT_BATCH` at a time.
async fn connect_all(target: &str, count: usize) -> Result<Vec<TrueTimeClient<Channel>>, String> {
    let mut clients = Vec::with_capacity(count);
    while clients.len() < count {
        let batch = CONNECT_BATCH.min(count - clients.len());
        let mut pending = JoinSet::new();
        for _ in 0..batch {
            let target = target.to_string();
            pending.spawn(async move { tt_client::connect(&target).await });
        }
        while let Some(joined) = pending.join_next().await {
            match joined {
                Ok(Ok(client)) => clients.push(client),
                Ok(Err(e)) => {
                    return Err(format!(
                        "connection {} of {count} failed: {e}",
                        clients.len() + 1
                    ))
                }
                Err(e) => return Err(format!("a connecting task failed: {e}")),
            }
        }
    }
    Ok(clients)
}

/// What one step measured.
struct Step {
    clients: usize,
    /// Requests per second the step offered (polling only).
    offered_per_s: Option<f64>,
    tally: Tally,
    window: Duration,
    cpu_ticks: u64,
    /// This program's own CPU time over the window, to tell whether the
    /// load or the daemon was the bottleneck.
    own_cpu_ticks: u64,
    rss_kib: u64,
}

impl Step {
    fn answered(&self) -> usize {
        self.tally.latencies_ns.len()
    }

    fn errors(&self) -> u64 {
        self.tally.errors.values().map(|(count, _)| count).sum()
    }

    fn rate_per_s(&self) -> f64 {
        self.answered() as f64 / self.window.as_secs_f64()
    }

    /// Every request answered without error, and (polling) the offered
    /// rate kept: the step's CPU cost per request is then a cost of
    /// serving, whatever its latency.
    fn all_answered(&self) -> bool {
        let rate_kept = self
            .offered_per_s
            .is_none_or(|offered| self.rate_per_s() >= offered * HELD_SHARE);
        self.answered() > 0 && self.errors() == 0 && rate_kept
    }

    /// At most 1 % of the polls started late: this program kept its
    /// schedule, so the load was what it claims to be.
    fn kept_schedule(&self) -> bool {
        self.tally.late_sends.saturating_mul(100) <= self.tally.latencies_ns.len() as u64
    }

    fn held(&self) -> bool {
        self.all_answered() && percentile(&self.tally.latencies_ns, 99) < nanos(P99_LIMIT)
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// The `p`th percentile of sorted values (nearest rank, rounded up).
fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

async fn run_step(args: &Args, clients_wanted: usize) -> Result<Step, String> {
    let clients = connect_all(&args.target, clients_wanted).await?;

    // One warm-up interval (poll) or second (flood) after everyone is
    // connected, then the measured window.
    let warm_up = match args.mode {
        Mode::Poll => args.interval,
        Mode::Flood => Duration::from_secs(1),
    };
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let window_start = start + warm_up;
    let window = Duration::from_secs(args.seconds);
    let window_end = window_start + window;

    let mut tasks = JoinSet::new();
    let count = clients.len();
    for (index, client) in clients.into_iter().enumerate() {
        match args.mode {
            Mode::Poll => {
                let phase = args.interval.mul_f64(index as f64 / count as f64);
                tasks.spawn(poller(
                    client,
                    start + phase,
                    args.interval,
                    window_start,
                    window_end,
                ));
            }
            Mode::Flood => {
                tasks.spawn(flooder(client, window_start, window_end));
            }
        }
    }

    tokio::time::sleep_until(window_start).await;
    let cpu_before = cpu_ticks(args.pid)?;
    let own_before = cpu_ticks(std::process::id())?;
    tokio::time::sleep_until(window_end).await;
    let cpu_after = cpu_ticks(args.pid)?;
    let own_after = cpu_ticks(std::process::id())?;
    let rss = rss_kib(args.pid)?;

    let mut tally = Tally::default();
    while let Some(joined) = tasks.join_next().await {
        tally.merge(joined.map_err(|e| format!("a client task failed: {e}"))?);
    }
    tally.latencies_ns.sort_unstable();
    let offered_per_s = match args.mode {
        Mode::Poll => Some(count as f64 / args.interval.as_secs_f64()),
        Mode::Flood => None,
    };
    Ok(Step {
        clients: count,
        offered_per_s,
        tally,
        window,
        cpu_ticks: cpu_after.saturating_sub(cpu_before),
        own_cpu_ticks: own_after.saturating_sub(own_before),
        rss_kib: rss,
    })
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1e3
}

async fn run(args: Args) -> Result<(), String> {
    let ticks_per_s = ticks_per_second() as f64;
    let rss_at_rest = rss_kib(args.pid)?;

    let baseline_cpu_per_s = if args.baseline_seconds > 0 {
        let before = cpu_ticks(args.pid)?;
        tokio::time::sleep(Duration::from_secs(args.baseline_seconds)).await;
        let after = cpu_ticks(args.pid)?;
        (after.saturating_sub(before)) as f64 / ticks_per_s / args.baseline_seconds as f64
    } else {
        0.0
    };
    println!(
        "daemon pid {} before any client: VmRSS {} KiB, CPU {:.2} % of a core (over {} s)",
        args.pid,
        rss_at_rest,
        baseline_cpu_per_s * 100.0,
        args.baseline_seconds
    );
    println!(
        "{:>8} {:>9} {:>10} {:>7} {:>7} {:>6} {:>8} {:>8} {:>8} {:>7} {:>10} {:>9} {:>6} {:>5}",
        "clients",
        "answered",
        "per_s",
        "errors",
        "unsync",
        "late",
        "p50_us",
        "p99_us",
        "max_us",
        "cpu_%",
        "cpu_us/req",
        "rss_kib",
        "load_%",
        "held"
    );

    let mut steps = Vec::new();
    for &clients in &args.steps {
        let step = run_step(&args, clients).await?;
        let cpu_s = step.cpu_ticks as f64 / ticks_per_s;
        let window_s = step.window.as_secs_f64();
        let beyond_baseline_s = (cpu_s - baseline_cpu_per_s * window_s).max(0.0);
        let cost_us = if step.answered() > 0 {
            beyond_baseline_s / step.answered() as f64 * 1e6
        } else {
            0.0
        };
        let latencies = &step.tally.latencies_ns;
        println!(
            "{:>8} {:>9} {:>10.0} {:>7} {:>7} {:>6} {:>8.1} {:>8.1} {:>8.1} {:>7.1} {:>10.2} {:>9} {:>6.0} {:>5}",
            step.clients,
            step.answered(),
            step.rate_per_s(),
            step.errors(),
            step.tally.unsynchronized,
            step.tally.late_sends,
            us(percentile(latencies, 50)),
            us(percentile(latencies, 99)),
            us(latencies.last().copied().unwrap_or(0)),
            cpu_s / window_s * 100.0,
            cost_us,
            step.rss_kib,
            step.own_cpu_ticks as f64 / ticks_per_s / window_s * 100.0,
            if step.held() { "yes" } else { "no" }
        );
        for (code, (count, message)) in &step.tally.errors {
            println!("         {count} answered with gRPC status {code} (first: {message:?})");
        }
        let stop = !step.held() && args.mode == Mode::Flood && step.errors() > 0;
        steps.push((step, cost_us));
        if stop {
            println!("         (ramp stopped: the daemon refused requests)");
            break;
        }
    }

    let best = steps
        .iter()
        .filter(|(step, _)| step.held())
        .max_by(|(a, _), (b, _)| a.rate_per_s().total_cmp(&b.rate_per_s()));
    match best {
        Some((step, _)) => println!(
            "held: {:.0} requests/s from {} clients with p99 {:.1} us (< {} us), no errors",
            step.rate_per_s(),
            step.clients,
            us(percentile(&step.tally.latencies_ns, 99)),
            P99_LIMIT.as_micros()
        ),
        None => println!(
            "held: no step had p99 under {} us without errors",
            P99_LIMIT.as_micros()
        ),
    }

    // The pollers one core can answer, from the CPU cost per poll at the
    // highest rate that was answered in full while this program kept its
    // schedule: half of one core for answering, the other half left as
    // margin, N_max = 0.5 * interval / cost. (The daemons answer requests
    // on one thread.)
    let costed = steps
        .iter()
        .filter(|(step, cost_us)| step.all_answered() && step.kept_schedule() && *cost_us > 0.0)
        .max_by(|(a, _), (b, _)| a.rate_per_s().total_cmp(&b.rate_per_s()));
    if let (Mode::Poll, Some((step, cost_us))) = (args.mode, costed) {
        let n_max = 0.5 * args.interval.as_secs_f64() / (cost_us / 1e6);
        println!(
            "CPU per poll {:.2} us at {} pollers (all answered on schedule, p99 {:.1} us): one \
             core at 50 % answers about {:.0} pollers at one poll every {} ms",
            cost_us,
            step.clients,
            us(percentile(&step.tally.latencies_ns, 99)),
            n_max,
            args.interval.as_millis()
        );
    }
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("tt-load: {e}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tt-load: cannot start the runtime: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = runtime.block_on(run(args)) {
        eprintln!("tt-load: {e}");
        std::process::exit(1);
    }
}
