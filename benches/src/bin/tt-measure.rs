//! Measures a running timeslave (or timemaster) from outside:
//!
//! * the cost of one `Now` over gRPC: `--calls` back-to-back calls, each
//!   timed with CLOCK_BOOTTIME around the call; median and p99;
//! * the sawtooth of the interval width: `Now` every millisecond for
//!   `--seconds`; a drop in width marks a new poll, and the widths right
//!   after each drop and right before the next one are reported.
//!
//! `scripts/measure` starts the demo's processes and runs this against the
//! slave.

use std::time::{Duration, Instant};
use tt_proto::v1::NowRequest;
use tt_proto::NowAnswer;

struct Args {
    target: String,
    calls: usize,
    seconds: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        target: String::new(),
        calls: 20_000,
        seconds: 10,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(flag) = iter.next() {
        let value = iter.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--target" => args.target = value,
            "--calls" => args.calls = value.parse().map_err(|_| format!("bad --calls {value}"))?,
            "--seconds" => {
                args.seconds = value
                    .parse()
                    .map_err(|_| format!("bad --seconds {value}"))?
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if args.target.is_empty() {
        return Err(
            "usage: tt-measure --target unix:/path.sock|host:port [--calls N] [--seconds S]".into(),
        );
    }
    Ok(args)
}

fn percentile(sorted: &[i64], p: usize) -> i64 {
    sorted[(sorted.len() - 1) * p / 100]
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("tt-measure: {e}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut client = match runtime.block_on(tt_client::connect(&args.target)) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("tt-measure: {e}");
            std::process::exit(2);
        }
    };

    // Warm the connection, then time the calls.
    for _ in 0..100 {
        let _ = runtime.block_on(client.now(NowRequest {}));
    }
    let mut costs = Vec::with_capacity(args.calls);
    for _ in 0..args.calls {
        let before = tt_clock::boottime();
        let reply = runtime.block_on(client.now(NowRequest {}));
        let after = tt_clock::boottime();
        if reply.is_err() {
            eprintln!("tt-measure: a call failed: {reply:?}");
            std::process::exit(1);
        }
        costs.push(after.nanos_since(before));
    }
    costs.sort_unstable();
    println!(
        "now() over gRPC to {}: {} calls, median {:.1} us, p99 {:.1} us",
        args.target,
        args.calls,
        percentile(&costs, 50) as f64 / 1e3,
        percentile(&costs, 99) as f64 / 1e3
    );

    let mut after_poll = Vec::new();
    let mut before_poll = Vec::new();
    let mut previous: Option<i64> = None;
    let mut first_drop_seen = false;
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    while Instant::now() < deadline {
        let reply = runtime.block_on(client.now(NowRequest {}));
        let width = match reply.map(|r| r.into_inner().check()) {
            Ok(Ok(NowAnswer::Synchronized(interval))) => interval.width_ns(),
            other => {
                eprintln!("tt-measure: not synchronized: {other:?}");
                std::process::exit(1);
            }
        };
        if let Some(last) = previous {
            if width < last {
                // A new poll: the last width was the sawtooth's top.
                if first_drop_seen {
                    before_poll.push(last);
                }
                after_poll.push(width);
                first_drop_seen = true;
            }
        }
        previous = Some(width);
        std::thread::sleep(Duration::from_millis(1));
    }
    if after_poll.is_empty() || before_poll.is_empty() {
        eprintln!("tt-measure: saw no full poll cycle in {} s", args.seconds);
        std::process::exit(1);
    }
    after_poll.sort_unstable();
    before_poll.sort_unstable();
    println!(
        "interval width right after a poll: median {:.3} ms (min {:.3}, max {:.3}) over {} polls",
        percentile(&after_poll, 50) as f64 / 1e6,
        after_poll[0] as f64 / 1e6,
        after_poll[after_poll.len() - 1] as f64 / 1e6,
        after_poll.len()
    );
    println!(
        "interval width just before the next poll: median {:.3} ms (min {:.3}, max {:.3})",
        percentile(&before_poll, 50) as f64 / 1e6,
        before_poll[0] as f64 / 1e6,
        before_poll[before_poll.len() - 1] as f64 / 1e6
    );
}
