//! `tt-sim`: runs the simulated fleet.
//!
//! ```text
//! tt-sim list                          the scenarios, one a line
//! tt-sim run NAME [--seed N] [--hours H] [--violations]
//! tt-sim report [--seed N] [--quick]   every scenario, as Markdown
//! ```

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use tt_sim::catalogue::{by_name, ALL};
use tt_sim::report::{markdown, run_all, spanner_line};

#[derive(Parser)]
#[command(about = "A deterministic simulation of a truetime fleet against a known true time")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Lists the scenarios.
    List,
    /// Runs one scenario and prints its figures.
    Run {
        /// The scenario's name (see `list`).
        name: String,
        /// The seed; the same seed gives the same run.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Simulated hours (default: the length the tests use).
        #[arg(long)]
        hours: Option<u32>,
    },
    /// Runs every scenario and prints the report as Markdown.
    Report {
        /// The seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The tests' lengths instead of the report's.
        #[arg(long)]
        quick: bool,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::List => {
            for entry in ALL {
                let scenario = (entry.build)(entry.test_ns);
                println!("{:<22} {}", scenario.name, scenario.about);
            }
        }
        Command::Run { name, seed, hours } => {
            let Some((scenario, entry)) = by_name(&name) else {
                eprintln!("tt-sim: no scenario named `{name}`; `tt-sim list` shows them");
                return ExitCode::from(2);
            };
            let scenario = match hours {
                Some(0) => {
                    eprintln!("tt-sim: --hours must be at least 1");
                    return ExitCode::from(2);
                }
                Some(h) => (entry.build)(i64::from(h) * 3_600_000_000_000),
                None => scenario,
            };
            let run = tt_sim::run(&scenario, seed);
            print!("{}", run.summary.text());
            if run.summary.violations > 0 {
                return ExitCode::FAILURE;
            }
        }
        Command::Report { seed, quick } => {
            let rows = run_all(seed, quick);
            println!("{}", markdown(&rows));
            if let Some((_, spanner)) = rows.iter().find(|(s, _)| s.name == "spanner") {
                println!("Spanner's configuration: {}", spanner_line(spanner));
            }
            if rows.iter().any(|(_, s)| s.violations > 0) {
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
