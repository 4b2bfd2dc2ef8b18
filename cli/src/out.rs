//! Writing to standard output and standard error without panicking.
//!
//! `println!` panics when stdout is closed or full (`tt-cli status | true`,
//! `tt-cli now > /dev/full`). Everything tt-cli prints goes through here
//! instead, and the caller decides what a failed write means: a reader
//! that closed the pipe chose to stop reading, so tt-cli ends quietly with
//! the status it would have had; any other failure (a full disk, a
//! revoked terminal) is an error, exit status 2, said in one line on
//! stderr.

use std::io::{self, Write};
use std::process::ExitCode;

/// Writes `text` and a newline to stdout, and flushes it.
pub fn line(text: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.write_all(b"\n")?;
    stdout.flush()
}

/// Writes `text` as it is (no newline) to stdout, and flushes it.
pub fn raw(text: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// `tt-cli: <message>` on stderr; a failure to write it is ignored (there
/// is nowhere left to say it).
pub fn error(message: &str) {
    let _ = writeln!(io::stderr().lock(), "tt-cli: {message}");
}

/// Whether a write failed because the reader went away.
pub fn reader_gone(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::BrokenPipe
}

/// The exit status after writing: `status` if the write worked or the
/// reader closed the pipe, else 2 with one line on stderr.
pub fn finish(status: u8, written: io::Result<()>) -> ExitCode {
    match written {
        Ok(()) => ExitCode::from(status),
        Err(e) if reader_gone(&e) => ExitCode::from(status),
        Err(e) => {
            error(&format!("cannot write to standard output: {e}"));
            ExitCode::from(crate::EXIT_ERROR)
        }
    }
}
