//! `tt-cli watch`: asks for the status every interval and shows it.
//!
//! On a terminal the view is redrawn in place on the terminal's alternate
//! screen (cursor home, clear to the end, the new block), and when the
//! watch ends (after `--count` refreshes or on Ctrl-C) the normal screen
//! comes back with the last block printed on it. Anywhere else (a pipe, a
//! file) each refresh is one line, or one JSON object per line with
//! `--json`, so the output can be logged and read back.
//!
//! A failed refresh (the server went away, a garbled answer) shows its
//! error and the watch goes on, reconnecting on the next refresh.

use crate::{out, query, render, EXIT_ERROR, EXIT_SYNCHRONIZED, EXIT_UNSYNCHRONIZED};
use serde_json::json;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;
use tonic::transport::Channel;
use tt_client::TrueTimeClient;

/// Enter the alternate screen.
const ALTERNATE_SCREEN: &str = "\x1b[?1049h";
/// Leave it, back to what was on the terminal before.
const NORMAL_SCREEN: &str = "\x1b[?1049l";
/// Cursor to the top left, then clear from there to the end.
const HOME_AND_CLEAR: &str = "\x1b[H\x1b[J";

/// What one refresh showed.
struct Refresh {
    status: u8,
    /// The block for a terminal.
    block: String,
    /// The line (or JSON object) for anything else.
    line: String,
}

/// Watches `target` every `every`, `count` times or until Ctrl-C.
pub async fn run(target: &str, every: Duration, count: Option<u64>, json: bool) -> ExitCode {
    let terminal = !json && std::io::stdout().is_terminal();
    let mut client: Option<TrueTimeClient<Channel>> = None;
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);

    if terminal {
        if let Err(e) = out::raw(ALTERNATE_SCREEN) {
            return out::finish(EXIT_ERROR, Err(e));
        }
    }
    let mut last: Option<Refresh> = None;
    let mut done = 0u64;
    let written = loop {
        if count.is_some_and(|count| done >= count) {
            break Ok(());
        }
        tokio::select! {
            _ = ticker.tick() => {}
            _ = &mut interrupt => break Ok(()),
        }
        let refresh = refresh(&mut client, target, every, json).await;
        let written = if terminal {
            out::raw(&format!("{HOME_AND_CLEAR}{}\n", refresh.block))
        } else {
            out::line(&refresh.line)
        };
        last = Some(refresh);
        done += 1;
        if let Err(e) = written {
            break Err(e);
        }
    };

    let status = last.as_ref().map_or(EXIT_ERROR, |refresh| refresh.status);
    if terminal {
        let shown = last.map_or(String::new(), |refresh| refresh.block);
        let restored = out::raw(&format!("{NORMAL_SCREEN}{shown}\n"));
        return out::finish(status, written.and(restored));
    }
    out::finish(status, written)
}

/// One status request on the open connection (opening one if needed).
async fn refresh(
    client: &mut Option<TrueTimeClient<Channel>>,
    target: &str,
    every: Duration,
    json: bool,
) -> Refresh {
    let system_unix_ns = tt_clock::realtime_ns();
    let answer = match client {
        Some(open) => query::status_with(open, target).await,
        None => match query::connect(target).await {
            Ok(mut open) => {
                let answer = query::status_with(&mut open, target).await;
                *client = Some(open);
                answer
            }
            Err(e) => Err(e),
        },
    };
    match answer {
        Ok((status, combined)) => {
            let synchronized = render::is_synchronized(&combined);
            let line = if json {
                let mut object = render::status_json(&status, &combined);
                object["system_unix_ns"] = json!(system_unix_ns);
                object.to_string()
            } else {
                render::watch_line(&status, &combined)
            };
            Refresh {
                status: if synchronized {
                    EXIT_SYNCHRONIZED
                } else {
                    EXIT_UNSYNCHRONIZED
                },
                block: render::watch_block(
                    &status,
                    &combined,
                    u64::try_from(every.as_millis()).unwrap_or(u64::MAX),
                ),
                line,
            }
        }
        Err(error) => {
            // A broken connection is opened afresh next time.
            *client = None;
            let line = if json {
                json!({ "system_unix_ns": system_unix_ns, "error": error }).to_string()
            } else {
                format!("error: {error}")
            };
            Refresh {
                status: EXIT_ERROR,
                block: format!("error: {error}\n(retrying every {} ms)", every.as_millis()),
                line,
            }
        }
    }
}
