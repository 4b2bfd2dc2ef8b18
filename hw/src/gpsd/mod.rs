//! The gpsd source: a TCP client of gpsd's JSON protocol that turns the
//! serial time of each second (TPV, TOFF) and, when asked, the PPS edges
//! into samples.
//!
//! gpsd must run on this host: its stamps (`rtime`, TOFF and PPS `clock`)
//! are this host's `CLOCK_REALTIME`, which [`wall::WallMap`] relates to the
//! local timebase. A gpsd reached at a non-loopback address is refused,
//! since its stamps would come from another machine's clock.
//!
//! The bounds are in [`session::serial_interval`] and
//! [`session::pps_interval`], the wall-to-local mapping in
//! [`wall::WallMap::convert`], the week-rollover rule in
//! [`session::apply_date_floor`].

mod messages;
pub mod session;
pub mod wall;

pub use messages::{
    parse_decimal_seconds, parse_iso8601_utc, IsoTime, TimeFieldError, MAX_LINE_BYTES,
    WATCH_COMMAND,
};
pub use session::{apply_date_floor, ArrivalStamp, Outcome, Rejection, Session, Taken, TakenKind};

use crate::chain::{Admission, SampleChain};
use crate::{Health, SourceCell};
use std::fmt;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tracing::Instrument;
use tt_clock::ClockPair;

/// How a gpsd source is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpsdConfig {
    /// gpsd's address, `host:port`; default `127.0.0.1:2947`.
    pub address: String,
    /// The receiver's serial delay range, ns: the sentence for second `S`
    /// reaches gpsd between `S + min_delay_ns` and `S + max_delay_ns` of
    /// true time. See [`session::serial_interval`] for what it must cover.
    pub min_delay_ns: i64,
    /// Upper end of the delay range, ns.
    pub max_delay_ns: i64,
    /// The earliest date (Unix seconds) the receiver can truly report; see
    /// [`session::apply_date_floor`].
    pub date_floor_unix_s: i64,
    /// Take PPS edges when gpsd sends PPS messages.
    pub use_pps: bool,
    /// Bound on a PPS edge's error, ns, used when gpsd's `precision` is
    /// absent or smaller.
    pub pps_precision_ns: i64,
}

impl Default for GpsdConfig {
    /// gpsd on localhost; a receiver whose sentence may arrive anywhere in
    /// the second after its label (0..1 s: honest for any receiver, narrow
    /// for none); a date floor of 2026-01-01; PPS taken with a 1 us bound.
    fn default() -> Self {
        GpsdConfig {
            address: "127.0.0.1:2947".to_string(),
            min_delay_ns: 0,
            max_delay_ns: 1_000_000_000,
            date_floor_unix_s: 1_767_225_600,
            use_pps: true,
            pps_precision_ns: 1_000,
        }
    }
}

/// A configuration that cannot work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// `min_delay_ns > max_delay_ns`.
    DelayRangeInverted {
        /// The lower end given.
        min_delay_ns: i64,
        /// The upper end given.
        max_delay_ns: i64,
    },
    /// A negative PPS precision.
    NegativePpsPrecision(i64),
    /// An empty address.
    EmptyAddress,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::DelayRangeInverted {
                min_delay_ns,
                max_delay_ns,
            } => write!(
                f,
                "the delay range is inverted: min {min_delay_ns} ns > max {max_delay_ns} ns"
            ),
            ConfigError::NegativePpsPrecision(p) => {
                write!(f, "the PPS precision must not be negative, got {p} ns")
            }
            ConfigError::EmptyAddress => write!(f, "the gpsd address is empty"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl GpsdConfig {
    /// Checks the configuration; [`run`] refuses to start without this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.address.trim().is_empty() {
            return Err(ConfigError::EmptyAddress);
        }
        if self.min_delay_ns > self.max_delay_ns {
            return Err(ConfigError::DelayRangeInverted {
                min_delay_ns: self.min_delay_ns,
                max_delay_ns: self.max_delay_ns,
            });
        }
        if self.pps_precision_ns < 0 {
            return Err(ConfigError::NegativePpsPrecision(self.pps_precision_ns));
        }
        Ok(())
    }
}

/// First wait before reconnecting.
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait before reconnecting.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A connection that lasted this long resets the backoff.
const HEALTHY_CONNECTION: Duration = Duration::from_secs(10);
/// Longest wait for the TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// gpsd with a working receiver reports at least once a second; this long
/// without a line means the receiver went quiet.
const SILENCE_LIMIT: Duration = Duration::from_secs(5);

/// Runs the source forever: connects to gpsd, publishes samples into
/// `cell`, reconnects with backoff (100 ms doubling to 10 s) when gpsd is
/// absent or goes away.
pub async fn run(config: GpsdConfig, cell: SourceCell, name: String) {
    run_observed(config, cell, name, |_: &Taken| {}).await
}

/// [`run`], also handing every sample taken to `on_taken` (after it was
/// published into `cell`).
pub async fn run_observed<F>(config: GpsdConfig, cell: SourceCell, name: String, on_taken: F)
where
    F: FnMut(&Taken) + Send,
{
    let span = tracing::info_span!("gpsd", source = %name, address = %config.address);
    supervise(config, cell, on_taken).instrument(span).await
}

async fn supervise<F>(config: GpsdConfig, cell: SourceCell, mut on_taken: F)
where
    F: FnMut(&Taken) + Send,
{
    if let Err(e) = config.validate() {
        let detail = format!("gpsd source not started: {e}");
        tracing::error!(error = %e, "gpsd source not started: bad configuration");
        cell.lose(Health::Down, detail);
        return std::future::pending().await;
    }

    let mut backoff = INITIAL_BACKOFF;
    let mut logs = LogState::default();
    loop {
        let connected_at = tokio::time::Instant::now();
        let detail = match connect(&config.address).await {
            Ok(stream) => {
                tracing::info!("connected to gpsd");
                let end = serve(stream, &config, &cell, &mut on_taken, &mut logs).await;
                logs.receiving = false;
                logs.chain.reset();
                if connected_at.elapsed() >= HEALTHY_CONNECTION {
                    backoff = INITIAL_BACKOFF;
                }
                match end {
                    Ok(()) => format!("gpsd at {} closed the connection", config.address),
                    Err(e) => format!("the connection to gpsd at {} failed: {e}", config.address),
                }
            }
            Err(detail) => detail,
        };
        tracing::debug!(%detail, backoff_ms = backoff.as_millis() as u64, "gpsd unreachable");
        if cell.lose(Health::Down, detail.clone()) {
            tracing::info!(%detail, "gpsd source down; retrying with backoff");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Connects, with a sentence a person can act on when it fails.
async fn connect(address: &str) -> Result<TcpStream, String> {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
        Err(_) => {
            return Err(format!(
                "gpsd at {address} did not answer within {} s; is the address right?",
                CONNECT_TIMEOUT.as_secs()
            ))
        }
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            return Err(format!(
                "gpsd at {address} refused the connection; is gpsd running?"
            ))
        }
        Ok(Err(e)) => return Err(format!("cannot connect to gpsd at {address}: {e}")),
        Ok(Ok(stream)) => stream,
    };
    match stream.peer_addr() {
        Ok(peer) if peer.ip().is_loopback() => Ok(stream),
        Ok(peer) => Err(format!(
            "gpsd at {address} ({peer}) is not on this host; its time stamps come from \
             another machine's clock, so run gpsd here and connect over loopback"
        )),
        Err(e) => Err(format!("cannot connect to gpsd at {address}: {e}")),
    }
}

/// What has been logged, so each change of state is logged once.
#[derive(Default)]
struct LogState {
    receiving: bool,
    rollover_undone: bool,
    inconsistent: bool,
    /// The serial samples checked against each other (`crate::chain`).
    chain: SampleChain,
}

/// Reads one connection until it closes (`Ok`) or fails (`Err`).
async fn serve<F>(
    stream: TcpStream,
    config: &GpsdConfig,
    cell: &SourceCell,
    on_taken: &mut F,
    logs: &mut LogState,
) -> io::Result<()>
where
    F: FnMut(&Taken) + Send,
{
    let (read_half, mut write_half) = stream.into_split();
    // Read before asking for reports, so every stamp gpsd sends later lies
    // after a pair the session holds.
    let session_start = ClockPair::read();
    write_half.write_all(WATCH_COMMAND.as_bytes()).await?;
    let mut session = Session::new(config.clone(), session_start);
    let mut lines = LineReader::new(BufReader::with_capacity(16 * 1024, read_half));

    loop {
        let read = match tokio::time::timeout(SILENCE_LIMIT, lines.next()).await {
            Ok(read) => read?,
            Err(_) => {
                let detail = format!(
                    "gpsd sent nothing for {} s; is a receiver attached?",
                    SILENCE_LIMIT.as_secs()
                );
                if cell.lose(Health::NoData, detail.clone()) {
                    tracing::info!(%detail, "no time from gpsd");
                }
                logs.receiving = false;
                continue;
            }
        };
        match read {
            LineRead::Eof => return Ok(()),
            LineRead::Oversized(len) => {
                let rejection = Rejection::Oversized { len };
                tracing::debug!(len_bytes = len, "line from gpsd refused: too long");
                cell.reject(rejection.to_string());
            }
            LineRead::Line => {
                // The clock read that stands for "now" in the session:
                // right after the line is in hand.
                let pair = ClockPair::read();
                for outcome in session.on_line(lines.line(), pair) {
                    handle(outcome, cell, on_taken, logs);
                }
            }
        }
    }
}

fn handle<F>(outcome: Outcome, cell: &SourceCell, on_taken: &mut F, logs: &mut LogState)
where
    F: FnMut(&Taken) + Send,
{
    match outcome {
        Outcome::Taken(taken) => {
            let width_us = taken.sample.interval.width_ns() / 1_000;
            let kind = match taken.kind {
                TakenKind::Serial(ArrivalStamp::Toff) => "serial time (TOFF stamp)",
                TakenKind::Serial(ArrivalStamp::Rtime) => "serial time (TPV rtime stamp)",
                TakenKind::Pps => "PPS edge",
            };
            // Serial samples must agree with each other before they are
            // published (a stalled gpsd stamps late); a PPS edge is stamped
            // by the kernel and already checked against the serial time.
            let publishable = match taken.kind {
                TakenKind::Pps => Some(taken.sample),
                TakenKind::Serial(_) => match logs.chain.admit(taken.sample) {
                    Admission::Publish(sample) => {
                        logs.inconsistent = false;
                        Some(sample)
                    }
                    Admission::Hold => None,
                    Admission::Inconsistent { carried, new } => {
                        let detail = format!(
                            "sample labelled {} at {new} disagrees with the one before it carried \
                             forward, {carried}: gpsd stamped one of them late (a stall?)",
                            taken.label
                        );
                        if cell.distrust(detail.clone()) || !logs.inconsistent {
                            tracing::warn!(%detail, "serial samples disagree; none used until two agree");
                        }
                        logs.inconsistent = true;
                        logs.receiving = false;
                        None
                    }
                },
            };
            if let Some(sample) = publishable {
                cell.publish(
                    sample,
                    format!(
                        "{kind} labelled {}, width {} us",
                        taken.label,
                        sample.interval.width_ns() / 1_000
                    ),
                );
                if !logs.receiving {
                    logs.receiving = true;
                    tracing::info!(label = %taken.label, width_us, "receiving time from gpsd");
                }
            }
            if taken.rollover_undone && !logs.rollover_undone {
                logs.rollover_undone = true;
                tracing::info!(
                    label = %taken.label,
                    "gpsd's week-rollover guess undone: its date lay 1024 weeks after a date \
                     the receiver can report, before 2017"
                );
            }
            tracing::debug!(
                kind,
                label = %taken.label,
                earliest = %taken.sample.interval.earliest(),
                latest = %taken.sample.interval.latest(),
                local_ns = taken.sample.local.nanos(),
                width_us,
                "sample taken"
            );
            on_taken(&taken);
        }
        Outcome::Held(why) => tracing::trace!(why, "held"),
        Outcome::NoFix(reason) => {
            logs.receiving = false;
            logs.chain.reset();
            if cell.lose(Health::NoData, reason.clone()) {
                tracing::info!(%reason, "no time from gpsd");
            }
        }
        Outcome::Rejected(rejection) => {
            if let Rejection::ClockStep(step) = &rejection {
                tracing::warn!(
                    change_us = step.change_ns / 1_000,
                    "the wall clock stepped; gpsd's stamps are not used for a few seconds"
                );
            } else {
                tracing::debug!(reason = %rejection, "gpsd input refused");
            }
            cell.reject(rejection.to_string());
        }
        Outcome::Version {
            release,
            proto_major,
            proto_minor,
        } => {
            if proto_major < gpsd_proto::PROTO_MAJOR_MIN {
                tracing::warn!(%release, proto_major, proto_minor, "gpsd's protocol is older than 3");
            } else {
                tracing::info!(%release, proto_major, proto_minor, "gpsd greeted");
            }
        }
        Outcome::GpsdError(message) => tracing::warn!(%message, "gpsd reported an error"),
        Outcome::Ignored => {}
    }
}

/// One step of [`LineReader::next`].
#[derive(Debug, PartialEq, Eq)]
enum LineRead {
    /// A complete line is in [`LineReader::line`].
    Line,
    /// A line longer than [`MAX_LINE_BYTES`] went by (its length); its
    /// bytes were dropped.
    Oversized(usize),
    /// The peer closed (a partial last line is dropped).
    Eof,
}

/// Splits a byte stream into lines of at most [`MAX_LINE_BYTES`], keeping
/// no more than that in memory however long a line is. Cancel-safe: its
/// state lives in the struct, so a timeout around [`LineReader::next`]
/// loses nothing.
struct LineReader<R> {
    inner: R,
    line: Vec<u8>,
    seen: usize,
    complete: bool,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    fn new(inner: R) -> Self {
        LineReader {
            inner,
            line: Vec::new(),
            seen: 0,
            complete: false,
        }
    }

    /// The last complete line, without its `\n` (and `\r`).
    fn line(&self) -> &[u8] {
        &self.line
    }

    async fn next(&mut self) -> io::Result<LineRead> {
        if self.complete {
            self.line.clear();
            self.seen = 0;
            self.complete = false;
        }
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                return Ok(LineRead::Eof);
            }
            let newline = available.iter().position(|&b| b == b'\n');
            let chunk = &available[..newline.unwrap_or(available.len())];
            self.seen = self.seen.saturating_add(chunk.len());
            if self.seen <= MAX_LINE_BYTES {
                self.line.extend_from_slice(chunk);
            }
            let used = chunk.len() + usize::from(newline.is_some());
            self.inner.consume(used);
            if newline.is_some() {
                self.complete = true;
                if self.seen > MAX_LINE_BYTES {
                    return Ok(LineRead::Oversized(self.seen));
                }
                if self.line.last() == Some(&b'\r') {
                    self.line.pop();
                }
                return Ok(LineRead::Line);
            }
        }
    }
}

#[cfg(test)]
mod tests;
