//! tt-cli: asks a timeslave (or a timemaster) for the time and its state.
//!
//! Exit status: 0 synchronized, 1 unsynchronized, 2 for an error (no
//! server, bad arguments, a garbled answer), with one line on stderr.

mod format;
mod id;
mod render;
mod wait;

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use std::time::Duration;
use tt_proto::v1::{NowRequest, StatusRequest};
use tt_proto::NowAnswer;

/// Query a truetime server: a timeslave on its Unix socket (the default)
/// or any timeslave or timemaster over TCP.
#[derive(Parser, Debug)]
#[command(name = "tt-cli", version, about)]
struct Args {
    /// The timeslave's Unix socket.
    #[arg(long, value_name = "PATH", default_value = tt_client::DEFAULT_SOCKET, global = true)]
    socket: String,
    /// Use TCP instead of the socket: a timeslave or a timemaster.
    #[arg(long, value_name = "HOST:PORT", global = true)]
    address: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The current interval: midpoint ± half width, its ends, and status.
    Now,
    /// Every master or source with its offset, width, age and verdict, then
    /// the combined interval.
    Status,
    /// Snowflake ids: make them, or read one.
    Id {
        #[command(subcommand)]
        command: id::IdCommand,
    },
    /// Commit-wait: return once true time is surely past TIME, and print
    /// the interval it returned with.
    WaitUntil {
        /// RFC 3339 such as 2026-12-04T16:00:00.5Z, or Unix nanoseconds
        /// after @ such as @1796400000000000000.
        #[arg(value_name = "TIME")]
        time: String,
        /// The timeslave's shared-memory record; where there is no such
        /// file, the socket is used.
        #[arg(long, value_name = "PATH", default_value = tt_client::DEFAULT_SHM_PATH)]
        shm: std::path::PathBuf,
    },
}

/// How long one request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

const EXIT_SYNCHRONIZED: u8 = 0;
const EXIT_UNSYNCHRONIZED: u8 = 1;
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error) => return argument_error(&error),
    };
    if let Command::Id { command } = &args.command {
        return id::run(command, args.address.as_deref(), &args.socket, args.json);
    }
    if let Command::WaitUntil { time, shm } = &args.command {
        let outcome = wait::run(shm, &args.socket, args.address.as_deref(), time, args.json);
        if outcome.status == 0 {
            println!("{}", outcome.text);
        } else {
            eprintln!("tt-cli: {}", outcome.text);
        }
        return ExitCode::from(outcome.status);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tt-cli: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match runtime.block_on(run(&args)) {
        Ok((text, synchronized)) => {
            println!("{text}");
            ExitCode::from(if synchronized {
                EXIT_SYNCHRONIZED
            } else {
                EXIT_UNSYNCHRONIZED
            })
        }
        Err(message) => {
            eprintln!("tt-cli: {message}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Help and version go to stdout with status 0; any other argument error
/// is one line on stderr with status 2.
fn argument_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    if matches!(
        error.kind(),
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        if error.render().to_string().contains("Usage: tt-cli id ") {
            eprintln!("tt-cli: id needs a command, new or decode; see tt-cli id --help");
            return ExitCode::from(EXIT_ERROR);
        }
        eprintln!("tt-cli: a command is needed, now or status; see tt-cli --help");
        return ExitCode::from(EXIT_ERROR);
    }
    let rendered = error.render().to_string();
    let mut lines = rendered
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty());
    let first = lines.next().unwrap_or("bad arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // "the following required arguments were not provided:" names them on
    // the next line.
    match (first.strip_suffix(':'), lines.next()) {
        (Some(lead), Some(what)) => eprintln!("tt-cli: {lead}: {what}; see tt-cli --help"),
        _ => eprintln!("tt-cli: {first}; see tt-cli --help"),
    }
    ExitCode::from(EXIT_ERROR)
}

/// Asks the server and returns the text to print and whether it is
/// synchronized, or an error line.
async fn run(args: &Args) -> Result<(String, bool), String> {
    let target = args.address.as_deref().unwrap_or(&args.socket);
    let work = async {
        let mut client = tt_client::connect(target)
            .await
            .map_err(|e| e.to_string())?;
        match args.command {
            Command::Now => {
                let response = client
                    .now(NowRequest {})
                    .await
                    .map_err(|status| failed(target, &status))?
                    .into_inner();
                let answer = response
                    .check()
                    .map_err(|bad| format!("{target} sent an answer that makes no sense: {bad}"))?;
                let text = if args.json {
                    render::now_json(&answer).to_string()
                } else {
                    render::now_text(&answer)
                };
                Ok((text, is_synchronized(&answer)))
            }
            Command::Status => {
                let status = client
                    .status(StatusRequest {})
                    .await
                    .map_err(|status| failed(target, &status))?
                    .into_inner();
                let combined = status
                    .combined
                    .as_ref()
                    .ok_or_else(|| format!("{target} sent a status without a combined interval"))?
                    .check()
                    .map_err(|bad| {
                        format!("{target} sent a combined interval that makes no sense: {bad}")
                    })?;
                let text = if args.json {
                    render::status_json(&status, &combined).to_string()
                } else {
                    render::status_text(&status, &combined)
                };
                Ok((text, is_synchronized(&combined)))
            }
            Command::Id { .. } => unreachable!("id commands return from main first"),
            Command::WaitUntil { .. } => unreachable!("wait-until returns from main first"),
        }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "no answer from {target} within {} s; is the server stuck?",
                REQUEST_TIMEOUT.as_secs()
            ))
        })
}

fn is_synchronized(answer: &NowAnswer) -> bool {
    matches!(answer, NowAnswer::Synchronized(_))
}

fn failed(target: &str, status: &tonic::Status) -> String {
    format!(
        "{target} answered with an error: {:?}: {}",
        status.code(),
        status.message()
    )
}
