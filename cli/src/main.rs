//! tt-cli: the operator's tool for truetime. It asks a timeslave (or a
//! timemaster) for the time, its state and its recent history, follows it
//! live, plots it, makes and reads ids, commit-waits, and checks the
//! daemons' configuration files.
//!
//! Exit status: see [`EXIT_STATUS_HELP`], which `--help` prints.

mod check;
mod format;
mod id;
mod out;
mod plot;
mod query;
mod render;
mod wait;
mod watch;

use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// What the exit status means, as `--help` shows it.
const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  synchronized (now, status, sources, watch); done (plot, id, wait-until);
     the configuration is valid (check-config)
  1  unsynchronized (now, status, sources, watch, and id or wait-until when
     the time service cannot vouch for the time); the configuration is
     invalid (check-config)
  2  error: no server or a garbled answer, bad arguments, a file that cannot
     be read or written; one line on stderr says what to do
A reader that closes the pipe early (tt-cli status | head -1) ends tt-cli
quietly, with the status it would have had.";

/// Query a truetime server: a timeslave on its Unix socket (the default)
/// or any timeslave or timemaster over TCP.
#[derive(Parser, Debug)]
#[command(name = "tt-cli", version, about, after_help = EXIT_STATUS_HELP)]
struct Args {
    /// The timeslave's Unix socket; always a path, relative ones included.
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
    /// A master's sources and peers, or a slave's masters: offset, width,
    /// age, verdict, and the samples accepted and refused where the server
    /// counts them.
    Sources,
    /// A live view of the interval and each member, refreshed in place on a
    /// terminal; one line per refresh otherwise (one JSON object with
    /// --json). Ends after --count refreshes, or on Ctrl-C, with the status
    /// of the last refresh.
    Watch {
        /// Time between refreshes, milliseconds (10 to 3600000).
        #[arg(long, value_name = "MS", default_value_t = 1000,
              value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
        interval_ms: u64,
        /// Stop after this many refreshes.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
    },
    /// Write an SVG plot of the interval width over a recent window, from
    /// the server's history: the sawtooth, each member's samples as ticks,
    /// faults and losses of sync marked.
    Plot {
        /// The SVG file to write.
        #[arg(long, short, value_name = "FILE.svg")]
        output: PathBuf,
        /// How far back to plot, seconds (1 to 86400; the server keeps about
        /// an hour).
        #[arg(long, value_name = "S", default_value_t = 600,
              value_parser = clap::value_parser!(u32).range(1..=86_400))]
        window_s: u32,
    },
    /// Check a timemaster or timeslave configuration file with the
    /// daemon's own parser. The kind is told by the file's keys (masters
    /// for a slave; [[source]], peers or max-sample-age-ms for a master)
    /// unless --kind says it.
    CheckConfig {
        /// The configuration file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Which daemon reads the file.
        #[arg(long, value_enum)]
        kind: Option<check::Kind>,
    },
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
        /// Refuse a TIME further ahead than this many seconds (a mistyped
        /// year would otherwise wait silently for decades).
        #[arg(long, value_name = "SECONDS", default_value_t = wait::DEFAULT_MAX_WAIT_S)]
        max_wait: u64,
    },
}

const EXIT_SYNCHRONIZED: u8 = 0;
const EXIT_UNSYNCHRONIZED: u8 = 1;
pub(crate) const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error) => return argument_error(&error),
    };
    if args.socket.is_empty() && args.address.is_none() {
        out::error("--socket needs a path; see tt-cli --help");
        return ExitCode::from(EXIT_ERROR);
    }
    // The socket is always a path: `unix:` keeps a relative one from being
    // read as host:port.
    let socket = format!("unix:{}", args.socket);
    let target = args.address.clone().unwrap_or_else(|| socket.clone());

    match &args.command {
        Command::Id { command } => id::run(command, args.address.as_deref(), &socket, args.json),
        Command::WaitUntil {
            time,
            shm,
            max_wait,
        } => {
            let outcome = wait::run(
                shm,
                &socket,
                args.address.as_deref(),
                time,
                *max_wait,
                args.json,
            );
            if outcome.status == 0 {
                out::finish(outcome.status, out::line(&outcome.text))
            } else {
                out::error(&outcome.text);
                ExitCode::from(outcome.status)
            }
        }
        Command::CheckConfig { file, kind } => check::run(file, *kind, args.json),
        _ => {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    out::error(&format!("cannot start the async runtime: {e}"));
                    return ExitCode::from(EXIT_ERROR);
                }
            };
            runtime.block_on(ask(&args, &target))
        }
    }
}

/// The commands that ask a server.
async fn ask(args: &Args, target: &str) -> ExitCode {
    let printed = match &args.command {
        Command::Now => query::now(target).await.map(|answer| {
            let text = if args.json {
                render::now_json(&answer).to_string()
            } else {
                render::now_text(&answer)
            };
            (text, render::is_synchronized(&answer))
        }),
        Command::Status => query::status(target).await.map(|(status, combined)| {
            let text = if args.json {
                render::status_json(&status, &combined).to_string()
            } else {
                render::status_text(&status, &combined)
            };
            (text, render::is_synchronized(&combined))
        }),
        Command::Sources => query::status(target).await.map(|(status, combined)| {
            let text = if args.json {
                render::sources_json(&status, &combined).to_string()
            } else {
                render::sources_text(&status, &combined)
            };
            (text, render::is_synchronized(&combined))
        }),
        Command::Watch { interval_ms, count } => {
            let every = std::time::Duration::from_millis(*interval_ms);
            return watch::run(target, every, *count, args.json).await;
        }
        Command::Plot { output, window_s } => {
            return plot::run(target, output, *window_s, args.json).await
        }
        Command::Id { .. } | Command::WaitUntil { .. } | Command::CheckConfig { .. } => {
            unreachable!("main runs these without a runtime")
        }
    };
    match printed {
        Ok((text, synchronized)) => {
            let status = if synchronized {
                EXIT_SYNCHRONIZED
            } else {
                EXIT_UNSYNCHRONIZED
            };
            out::finish(status, out::line(&text))
        }
        Err(message) => {
            out::error(&message);
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// The subcommands' names, for messages: "a, b or c".
fn command_names() -> String {
    let names: Vec<String> = Args::command()
        .get_subcommands()
        .filter(|command| command.get_name() != "help")
        .map(|command| command.get_name().to_string())
        .collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
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
        let mut text = error.render().to_string();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        return out::finish(0, out::raw(&text));
    }
    if matches!(
        error.kind(),
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        if error.render().to_string().contains("Usage: tt-cli id ") {
            out::error("id needs a command, new or decode; see tt-cli id --help");
            return ExitCode::from(EXIT_ERROR);
        }
        out::error(&format!(
            "a command is needed: {}; see tt-cli --help",
            command_names()
        ));
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
        (Some(lead), Some(what)) => out::error(&format!("{lead}: {what}; see tt-cli --help")),
        _ => out::error(&format!("{first}; see tt-cli --help")),
    }
    ExitCode::from(EXIT_ERROR)
}
