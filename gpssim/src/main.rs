//! `tt-gpssim`: a GPS receiver made of software. Once a second it writes
//! RMC, GGA and ZDA sentences carrying the host's UTC (`CLOCK_REALTIME`) to
//! a pseudo-terminal it creates (`--link`) or to an existing terminal
//! (`--device`), for gpsd or a direct NMEA reader to consume.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgGroup, Parser};
use tt_gpssim::nmea::{self, Fix, Talker, UtcLabel};
use tt_gpssim::schedule::next_tick;
use tt_gpssim::sys::{self, Slept};

const NANOS_PER_MS: i64 = 1_000_000;

/// Writes NMEA 0183 (RMC, GGA, ZDA) once a second with the host's UTC.
#[derive(Debug, Parser)]
#[command(
    name = "tt-gpssim",
    version,
    group(ArgGroup::new("output").required(true).args(["link", "device"]))
)]
struct Args {
    /// Create a pseudo-terminal and a symlink at PATH pointing to its slave
    /// side (for `gpsd PATH`). PATH must not exist yet (a dangling symlink is
    /// replaced); it is removed on exit.
    #[arg(long, value_name = "PATH")]
    link: Option<PathBuf>,

    /// Write to this existing terminal instead (a serial port, or one end of
    /// a socat pty pair).
    #[arg(long, value_name = "PATH")]
    device: Option<PathBuf>,

    /// Write second S's sentences at S + this many milliseconds (0..=999).
    #[arg(long, value_name = "MS", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(0..=999))]
    delay_ms: u32,

    /// Talker id: GP, GN, GL, GA, GB or BD.
    #[arg(long, value_name = "ID", default_value = "GP")]
    talker: Talker,

    /// Report no position fix (RMC status V, GGA quality 0); time and date
    /// are still sent.
    #[arg(long)]
    no_fix: bool,

    /// Label second S as S + this many milliseconds (a receiver reporting
    /// the wrong time). A multiple of 10: NMEA times carry centiseconds.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    offset_ms: i64,

    /// Stop after this many seconds (default: run until SIGTERM or SIGINT).
    #[arg(long, value_name = "N")]
    seconds: Option<u64>,

    /// Skip a second (write nothing for it) when the wake-up comes more than
    /// this many milliseconds after its due instant, so the sentences never
    /// arrive later than delay + this limit.
    #[arg(long, value_name = "MS", default_value_t = 10)]
    max_late_ms: u32,

    /// Also print each sentence written to standard output.
    #[arg(long)]
    echo: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tt-gpssim: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Removes the symlink on drop, if it still points where we made it point.
struct LinkGuard {
    link: PathBuf,
    target: PathBuf,
}

impl Drop for LinkGuard {
    fn drop(&mut self) {
        if std::fs::read_link(&self.link).is_ok_and(|now| now == self.target) {
            if let Err(error) = std::fs::remove_file(&self.link) {
                eprintln!(
                    "tt-gpssim: could not remove {}: {error}",
                    self.link.display()
                );
            }
        }
    }
}

fn make_link(link: &Path, target: &Path) -> Result<LinkGuard, String> {
    if let Ok(meta) = std::fs::symlink_metadata(link) {
        let dangling = meta.file_type().is_symlink() && std::fs::metadata(link).is_err();
        if !dangling {
            return Err(format!(
                "{} already exists; remove it or choose another --link",
                link.display()
            ));
        }
        std::fs::remove_file(link)
            .map_err(|e| format!("cannot replace dangling link {}: {e}", link.display()))?;
    }
    std::os::unix::fs::symlink(target, link)
        .map_err(|e| format!("cannot create symlink {}: {e}", link.display()))?;
    Ok(LinkGuard {
        link: link.to_path_buf(),
        target: target.to_path_buf(),
    })
}

/// What happened to the seconds handled.
#[derive(Debug, Default)]
struct Counts {
    written: u64,
    late: u64,
    no_reader: u64,
    dropped: u64,
    unlabelable: u64,
}

fn run(args: &Args) -> Result<(), String> {
    if args.offset_ms % 10 != 0 {
        return Err(format!(
            "--offset-ms {} is not a multiple of 10; NMEA times carry centiseconds",
            args.offset_ms
        ));
    }
    let offset_ns = args
        .offset_ms
        .checked_mul(NANOS_PER_MS)
        .ok_or_else(|| format!("--offset-ms {} is too large", args.offset_ms))?;
    let delay_ns = i64::from(args.delay_ms) * NANOS_PER_MS;
    let max_late_ns = i64::from(args.max_late_ms) * NANOS_PER_MS;
    let fix = if args.no_fix { Fix::NoFix } else { Fix::Fixed };

    sys::install_stop_handler().map_err(|e| format!("cannot install signal handlers: {e}"))?;

    let (mut port, _link_guard) = match (&args.link, &args.device) {
        (Some(link), _) => {
            let pty = sys::open_pty().map_err(|e| format!("cannot open a pseudo-terminal: {e}"))?;
            let guard = make_link(link, &pty.slave_path)?;
            eprintln!(
                "tt-gpssim: writing NMEA to {} (link {})",
                pty.slave_path.display(),
                link.display()
            );
            (pty.master, Some(guard))
        }
        (None, Some(device)) => {
            let file = sys::open_tty(device)
                .map_err(|e| format!("cannot open terminal {}: {e}", device.display()))?;
            eprintln!("tt-gpssim: writing NMEA to {}", device.display());
            (file, None)
        }
        (None, None) => return Err("give --link PATH or --device PATH".to_string()),
    };

    let mut counts = Counts::default();
    let mut handled: u64 = 0;
    // A stop signal that lands between the flag check and the sleep is
    // noticed at the next wake-up: the exit can lag by up to a second.
    while !sys::stop_requested() && args.seconds.is_none_or(|limit| handled < limit) {
        let tick = next_tick(tt_clock::realtime_ns(), delay_ns);
        match sys::sleep_until_realtime(tick.due_ns) {
            Ok(Slept::Reached) => {}
            Ok(Slept::Interrupted) => continue,
            Err(e) => return Err(format!("clock_nanosleep failed: {e}")),
        }
        handled += 1;

        let late_ns = tt_clock::realtime_ns() - tick.due_ns;
        if late_ns > max_late_ns {
            counts.late += 1;
            eprintln!(
                "tt-gpssim: woke {} ms after second {}'s due instant (limit {} ms); \
                 skipping it",
                late_ns / NANOS_PER_MS,
                tick.second,
                args.max_late_ms
            );
            continue;
        }

        // Whatever the reader sent (gpsd probes receivers) is discarded so
        // its direction of the terminal never fills up.
        discard_input(&mut port);
        if sys::peer_hung_up(port.as_fd()).unwrap_or(false) {
            counts.no_reader += 1;
            continue;
        }

        let Some(label) = UtcLabel::from_unix_ns(tick.second * 1_000_000_000 + offset_ns) else {
            counts.unlabelable += 1;
            continue;
        };
        let report = nmea::second_report(args.talker, &label, fix);
        match port.write(report.as_bytes()) {
            Ok(n) if n == report.len() => {
                counts.written += 1;
                if args.echo {
                    print!("{report}");
                    let _ = io::stdout().flush();
                }
            }
            Ok(_) => counts.dropped += 1,
            Err(e) if is_transient(&e) => counts.dropped += 1,
            Err(e) => return Err(format!("write failed: {e}")),
        }
    }

    eprintln!(
        "tt-gpssim: stopped after {handled} s: {} written, {} skipped late, \
         {} with no reader, {} dropped (buffer full), {} not labelable",
        counts.written, counts.late, counts.no_reader, counts.dropped, counts.unlabelable
    );
    Ok(())
}

/// A full buffer, or the reader closing between the hang-up check and the
/// write: lose this second, as a serial line would.
fn is_transient(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::WouldBlock || error.raw_os_error() == Some(libc::EIO)
}

fn discard_input(port: &mut File) {
    let mut buffer = [0u8; 4096];
    // Bounded: at most 64 KiB per second.
    for _ in 0..16 {
        match port.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}
