//! `tt-cli id new` and `tt-cli id decode`: Snowflake ids from the shell,
//! with time from the timeslave (its shared-memory record, or its socket
//! where there is no record).
//!
//! Exit status: 0 done, 1 the time service is unsynchronized, 2 bad input
//! or any other error, with one line on stderr.

use crate::format::civil_from_days;
use clap::{Args, Subcommand};
use serde_json::json;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tt_client::ids::{decode, IdError, SnowflakeGenerator, DEFAULT_EPOCH_MS, MAX_WORKER};
use tt_client::{TimeError, TimeSource, TrueTime, DEFAULT_SHM_PATH};
use tt_core::{Interval, Timestamp};

/// The id commands.
#[derive(Subcommand, Debug)]
pub enum IdCommand {
    /// Make Snowflake ids, one per line, with time from the timeslave.
    ///
    /// Programs (and hosts) making ids at the same time need different
    /// worker ids. Before it exits, tt-cli waits until true time is surely
    /// past the millisecond of its last id, so a later run with the same
    /// worker cannot repeat one (an interrupted run cannot promise that).
    New(NewArgs),
    /// Show the time, worker and sequence of an id.
    Decode(DecodeArgs),
}

/// Arguments of `id new`.
#[derive(Args, Debug)]
pub struct NewArgs {
    /// How many ids to make.
    #[arg(long, value_name = "N", default_value_t = 1)]
    count: u64,
    /// The worker id, 0 to 1023.
    #[arg(long, value_name = "W", default_value_t = 0,
          value_parser = clap::value_parser!(u16).range(0..=i64::from(MAX_WORKER)))]
    worker: u16,
    /// The epoch in milliseconds since 1970 (default 2020-01-01T00:00:00Z).
    #[arg(long, value_name = "E", default_value_t = DEFAULT_EPOCH_MS, allow_negative_numbers = true)]
    epoch_ms: i64,
    /// Print each id only once true time is surely past its millisecond:
    /// ids printed before another is asked for, by any worker, are smaller.
    #[arg(long)]
    ordered: bool,
    /// The timeslave's shared-memory record; without it, the socket is
    /// used.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SHM_PATH)]
    shm: PathBuf,
}

/// Arguments of `id decode`.
#[derive(Args, Debug)]
pub struct DecodeArgs {
    /// The id, a decimal number.
    #[arg(value_name = "ID", allow_negative_numbers = true)]
    id: String,
    /// The epoch the id was made with, in milliseconds since 1970.
    #[arg(long, value_name = "E", default_value_t = DEFAULT_EPOCH_MS, allow_negative_numbers = true)]
    epoch_ms: i64,
}

const EXIT_UNSYNCHRONIZED: u8 = 1;
const EXIT_ERROR: u8 = 2;

/// Ids per request to the generator: one millisecond's worth, so an
/// ordered run waits once per millisecond it prints from.
const CHUNK: u64 = 4096;

/// How much longer than the distance itself a commit-wait may take before
/// tt-cli gives up on a time service whose clock does not move.
const WAIT_PATIENCE: Duration = Duration::from_secs(5);

/// What went wrong, and with which exit status.
struct Failure {
    status: u8,
    message: String,
}

impl Failure {
    fn error(message: impl Into<String>) -> Failure {
        Failure {
            status: EXIT_ERROR,
            message: message.into(),
        }
    }
}

impl From<IdError> for Failure {
    fn from(error: IdError) -> Failure {
        let status = match error {
            IdError::Time(TimeError::Unsynchronized(_)) => EXIT_UNSYNCHRONIZED,
            _ => EXIT_ERROR,
        };
        Failure {
            status,
            message: error.to_string(),
        }
    }
}

/// Runs an id command. `address` (TCP) wins over `socket` (the timeslave's
/// Unix socket) as in the other commands.
pub fn run(command: &IdCommand, address: Option<&str>, socket: &str, json: bool) -> ExitCode {
    let result = match command {
        IdCommand::New(args) => new_ids(args, address, socket, json),
        IdCommand::Decode(args) => decode_id(args, json).and_then(|text| {
            crate::out::line(&text)
                .or_else(|e| {
                    if crate::out::reader_gone(&e) {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .map_err(|e| Failure::error(format!("cannot write to standard output: {e}")))
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            crate::out::error(&failure.message);
            ExitCode::from(failure.status)
        }
    }
}

fn new_ids(args: &NewArgs, address: Option<&str>, socket: &str, json: bool) -> Result<(), Failure> {
    let truetime = match address {
        Some(address) => TrueTime::open_socket(address),
        None => TrueTime::open_with(&args.shm, socket),
    }
    .map_err(|e| Failure::error(e.to_string()))?;
    let source: Arc<dyn TimeSource> = Arc::new(Patient(truetime));
    let generator = if args.ordered {
        SnowflakeGenerator::ordered(args.worker, args.epoch_ms, source.clone())
    } else {
        SnowflakeGenerator::new(args.worker, args.epoch_ms, source.clone())
    }?;

    let mut out = Output::new(json);
    let mut remaining = args.count;
    while remaining > 0 && out.open {
        let chunk = remaining.min(CHUNK);
        let ids = generator.next_ids(chunk as usize)?;
        out.ids(&ids, args.ordered)?;
        remaining -= chunk;
    }
    out.finish()?;
    // True time past the last id's millisecond, or an error saying that
    // could not be made sure of.
    generator.retire()?;
    Ok(())
}

/// Ids to stdout, as lines or as one JSON array. A reader that goes away
/// (`| head`) ends the output quietly.
struct Output {
    writer: BufWriter<io::StdoutLock<'static>>,
    json: bool,
    first: bool,
    open: bool,
}

impl Output {
    fn new(json: bool) -> Output {
        Output {
            writer: BufWriter::new(io::stdout().lock()),
            json,
            first: true,
            open: true,
        }
    }

    /// Writes `ids`; `flush` hands them out now rather than when the
    /// buffer fills.
    fn ids(&mut self, ids: &[u64], flush: bool) -> Result<(), Failure> {
        let mut write = || -> io::Result<()> {
            for id in ids {
                if !self.json {
                    writeln!(self.writer, "{id}")?;
                } else if self.first {
                    write!(self.writer, "[{id}")?;
                } else {
                    write!(self.writer, ",{id}")?;
                }
                self.first = false;
            }
            if flush {
                self.writer.flush()?;
            }
            Ok(())
        };
        let result = write();
        self.check(result)
    }

    fn finish(&mut self) -> Result<(), Failure> {
        if !self.open {
            return Ok(());
        }
        let json = self.json;
        let first = self.first;
        let result = (|| -> io::Result<()> {
            if json {
                writeln!(self.writer, "{}", if first { "[]" } else { "]" })?;
            }
            self.writer.flush()
        })();
        self.check(result)
    }

    fn check(&mut self, result: io::Result<()>) -> Result<(), Failure> {
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.open = false;
                Ok(())
            }
            Err(e) => Err(Failure::error(format!("cannot write the ids: {e}"))),
        }
    }
}

/// The TrueTime handle, with commit-waits that give up on a time service
/// whose clock stands still instead of hanging: a wait may take the
/// distance still to go, twice over, plus [`WAIT_PATIENCE`]. It returns
/// only with an interval whose `earliest` is past the instant.
struct Patient(TrueTime);

impl TimeSource for Patient {
    fn now(&self) -> Result<Interval, TimeError> {
        TimeSource::now(&self.0)
    }

    fn wait_until_after(&self, t: Timestamp) -> Result<Interval, TimeError> {
        let started = Instant::now();
        let mut limit = None;
        loop {
            let interval = TimeSource::now(&self.0)?;
            if interval.earliest() > t {
                return Ok(interval);
            }
            let to_go_ns = t
                .unix_nanos()
                .saturating_sub(interval.earliest().unix_nanos())
                .saturating_add(1);
            let to_go = Duration::from_nanos(u64::try_from(to_go_ns).unwrap_or(u64::MAX));
            let limit = *limit.get_or_insert(to_go.saturating_mul(2).saturating_add(WAIT_PATIENCE));
            if started.elapsed() > limit {
                return Err(TimeError::Unavailable(format!(
                    "true time did not pass {t} within {} ms; is the timeslave's clock standing \
                     still?",
                    limit.as_millis()
                )));
            }
            std::thread::sleep(to_go.clamp(Duration::from_micros(10), Duration::from_millis(50)));
        }
    }
}

fn decode_id(args: &DecodeArgs, json: bool) -> Result<String, Failure> {
    let id: u64 = args.id.parse().map_err(|_| {
        Failure::error(format!(
            "`{}` is not an id: an id is a decimal number from 0 to {}",
            args.id,
            i64::MAX
        ))
    })?;
    if id > i64::MAX as u64 {
        return Err(Failure::error(format!(
            "{id} is not an id: its top bit is set, and ids keep it clear (at most {})",
            i64::MAX
        )));
    }
    let fields = decode(id, args.epoch_ms);
    let time = utc_ms(fields.unix_ms);
    Ok(if json {
        json!({
            "id": id,
            "unix_ms": fields.unix_ms,
            "time": time,
            "worker": fields.worker,
            "sequence": fields.sequence,
            "epoch_ms": args.epoch_ms,
        })
        .to_string()
    } else {
        format!(
            "time      {time}\nunix_ms   {}\nworker    {}\nsequence  {}",
            fields.unix_ms, fields.worker, fields.sequence
        )
    })
}

/// `unix_ms` as RFC 3339 UTC with milliseconds, such as
/// `2024-02-29T00:00:00.001Z`.
fn utc_ms(unix_ms: i64) -> String {
    const MS_PER_DAY: i64 = 86_400_000;
    let (year, month, day) = civil_from_days(unix_ms.div_euclid(MS_PER_DAY));
    let of_day = unix_ms.rem_euclid(MS_PER_DAY);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3_600_000,
        of_day / 60_000 % 60,
        of_day / 1000 % 60,
        of_day % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-02-29T00:00:00Z in ms: 19 782 days after 1970.
    const LEAP_DAY_MS: i64 = 19_782 * 86_400_000;

    fn args(id: &str) -> DecodeArgs {
        DecodeArgs {
            id: id.to_string(),
            epoch_ms: DEFAULT_EPOCH_MS,
        }
    }

    #[test]
    fn utc_ms_formats_both_sides_of_1970() {
        assert_eq!(utc_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_ms(-1), "1969-12-31T23:59:59.999Z");
        // 23:59:59.999 on the leap day: one ms short of a day after it.
        assert_eq!(utc_ms(LEAP_DAY_MS + 86_399_999), "2024-02-29T23:59:59.999Z");
    }

    #[test]
    fn decode_shows_the_fields() {
        // The leap day's first ms is LEAP_DAY_MS - DEFAULT_EPOCH_MS after
        // the epoch; worker 3, sequence 5.
        let ms = (LEAP_DAY_MS - DEFAULT_EPOCH_MS) as u64;
        let id = (ms << 22) | (3 << 12) | 5;
        let text = decode_id(&args(&id.to_string()), false).ok().unwrap();
        assert_eq!(
            text,
            format!(
                "time      2024-02-29T00:00:00.000Z\nunix_ms   {LEAP_DAY_MS}\n\
                 worker    3\nsequence  5"
            )
        );
    }

    #[test]
    fn decode_refuses_what_is_not_an_id() {
        for bad in ["abc", "", "-1", "1.5", "18446744073709551616"] {
            let failure = decode_id(&args(bad), false).err().unwrap();
            assert_eq!(failure.status, EXIT_ERROR);
            assert!(
                failure.message.contains("is not an id"),
                "{}",
                failure.message
            );
        }
        let failure = decode_id(&args("9223372036854775808"), false)
            .err()
            .unwrap();
        assert!(failure.message.contains("top bit"), "{}", failure.message);
    }
}
