//! The device side of the NMEA source: a thread that opens the serial port,
//! reads it, stamps each read with `CLOCK_BOOTTIME`, and publishes what the
//! [`Assembler`] makes of it.
//!
//! The reads block on a thread of their own (not in the async runtime), so
//! the instant read right after `read()` returns is not delayed by other
//! tasks. A device that fails or disappears (hang-up, EIO, unplugged) makes
//! the source [`Health::Down`] with the device named; it is reopened after
//! 100 ms, doubling to 10 s. A device that stays open but sends no usable
//! time for [`SILENCE_LIMIT`] makes it [`Health::NoData`].

use super::epoch::{Assembler, Step, Taken};
use super::frame::Framer;
use super::parse::{Reason, Rejection};
use super::NmeaConfig;
use crate::chain::{Admission, SampleChain};
use crate::{Health, SourceCell};
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tt_clock::boottime;
use tt_core::LocalInstant;

/// First wait before reopening.
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait before reopening.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A device that stayed open this long resets the backoff.
const HEALTHY_OPEN: Duration = Duration::from_secs(10);
/// How long one read waits for bytes; also how often the stop flag and the
/// silence are checked.
const READ_TIMEOUT: Duration = Duration::from_millis(500);
/// A receiver reports once a second; this long without a labelled second
/// means it has no usable time.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(5);
/// The same refusal reason is logged at most this often.
const REJECTION_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Runs the source until the returned future is dropped: reads the
/// configured device and publishes samples into `cell`.
pub async fn run(config: NmeaConfig, cell: SourceCell, name: String) {
    run_observed(config, cell, name, |_: &Taken| {}).await
}

/// [`run`], also handing every sample taken to `on_taken` (after it was
/// published into `cell`), on the reading thread.
pub async fn run_observed<F>(config: NmeaConfig, cell: SourceCell, name: String, on_taken: F)
where
    F: FnMut(&Taken) + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    // Dropping the future (the task ends, the runtime shuts down) stops the
    // thread within one read timeout.
    let _stop_on_drop = StopOnDrop(Arc::clone(&stop));
    let span = tracing::info_span!("nmea", source = %name, device = %config.device);
    let thread_cell = cell.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("nmea-{name}"))
        .spawn(move || {
            let _entered = span.enter();
            supervise(&config, &thread_cell, &stop, on_taken);
        });
    if let Err(e) = spawned {
        let detail = format!("cannot start the reading thread: {e}");
        tracing::error!(error = %e, "serial NMEA source not started");
        cell.lose(Health::Down, detail);
    }
    std::future::pending::<()>().await
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn supervise<F>(config: &NmeaConfig, cell: &SourceCell, stop: &AtomicBool, mut on_taken: F)
where
    F: FnMut(&Taken),
{
    if let Err(e) = config.validate() {
        tracing::error!(error = %e, "serial NMEA source not started: bad configuration");
        cell.lose(Health::Down, format!("serial NMEA source not started: {e}"));
        return;
    }

    let mut backoff = INITIAL_BACKOFF;
    while !stop.load(Ordering::Relaxed) {
        let opened_at = Instant::now();
        let detail = match open(config) {
            Ok(port) => {
                tracing::info!(baud = config.baud, "serial device opened");
                let end = Reader::new(config, cell, &mut on_taken).serve(port, stop);
                if opened_at.elapsed() >= HEALTHY_OPEN {
                    backoff = INITIAL_BACKOFF;
                }
                match end {
                    Some(detail) => detail,
                    None => return,
                }
            }
            Err(detail) => detail,
        };
        if cell.lose(Health::Down, detail.clone()) {
            tracing::warn!(%detail, "serial NMEA source down; reopening with backoff");
        } else {
            tracing::debug!(%detail, backoff_ms = backoff.as_millis() as u64, "still down");
        }
        sleep_unless_stopped(backoff, stop);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let deadline = Instant::now() + total;
    while !stop.load(Ordering::Relaxed) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// Opens the device, with a sentence a person can act on when it fails.
fn open(config: &NmeaConfig) -> Result<serialport::TTYPort, String> {
    let device = &config.device;
    serialport::new(device.as_str(), config.baud)
        .timeout(READ_TIMEOUT)
        .open_native()
        .map_err(|e| match e.kind() {
            serialport::ErrorKind::Io(io::ErrorKind::NotFound) => {
                format!("serial device {device} does not exist; is the receiver plugged in?")
            }
            serialport::ErrorKind::Io(io::ErrorKind::PermissionDenied) => format!(
                "no permission to open {device}; run as a member of its group (often dialout)"
            ),
            serialport::ErrorKind::NoDevice => {
                format!("{device} is busy: another program (gpsd?) holds it open exclusively")
            }
            _ => format!("cannot open {device} as a serial port: {e}"),
        })
}

/// The reading of one open device.
struct Reader<'a, F> {
    config: &'a NmeaConfig,
    cell: &'a SourceCell,
    on_taken: &'a mut F,
    assembler: Assembler,
    receiving: bool,
    rollover_logged: bool,
    last_taken: Option<LocalInstant>,
    opened: LocalInstant,
    last_logged: [Option<Instant>; Reason::ALL.len()],
    /// Samples checked against each other: a read that returned late
    /// (this thread descheduled) stamps its sentence late
    /// (`crate::chain`).
    chain: SampleChain,
    inconsistent_logged: bool,
}

impl<'a, F: FnMut(&Taken)> Reader<'a, F> {
    fn new(config: &'a NmeaConfig, cell: &'a SourceCell, on_taken: &'a mut F) -> Self {
        Reader {
            config,
            cell,
            on_taken,
            // A reopened device may be another receiver: start afresh.
            assembler: Assembler::new(config),
            receiving: false,
            rollover_logged: false,
            last_taken: None,
            opened: boottime(),
            last_logged: [None; Reason::ALL.len()],
            chain: SampleChain::new(),
            inconsistent_logged: false,
        }
    }

    /// Reads until the device fails (`Some(why)`) or `stop` is set
    /// (`None`).
    fn serve(mut self, mut port: serialport::TTYPort, stop: &AtomicBool) -> Option<String> {
        let device = self.config.device.clone();
        let mut framer = Framer::new();
        let mut buffer = [0u8; 4096];
        loop {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            match port.read(&mut buffer) {
                Ok(0) => return Some(format!("serial device {device} hung up (end of file)")),
                Ok(n) => {
                    // The instant that stands for "the bytes are here": read
                    // before anything else is done with them.
                    let arrival = boottime();
                    framer.push(&buffer[..n], arrival, |frame| {
                        let step = self.assembler.on_frame(frame);
                        self.handle(step);
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    return Some(format!("serial device {device} hung up; was it unplugged?"))
                }
                Err(e) => return Some(format!("reading serial device {device} failed: {e}")),
            }
            self.check_silence();
        }
    }

    fn check_silence(&mut self) {
        let since = self.last_taken.unwrap_or(self.opened);
        let quiet_ns = boottime().nanos_since(since);
        if quiet_ns < SILENCE_LIMIT.as_nanos() as i64 {
            return;
        }
        self.receiving = false;
        self.chain.reset();
        let detail = format!(
            "no valid time from serial device {} for {} s (no fix, wrong baud rate, or silent)",
            self.config.device,
            SILENCE_LIMIT.as_secs()
        );
        if self.cell.lose(Health::NoData, detail.clone()) {
            tracing::info!(%detail, "no time from the receiver");
        }
    }

    fn handle(&mut self, step: Step) {
        match step {
            Step::Taken(taken) => self.taken(&taken),
            Step::Repeat | Step::Ignored => {}
            Step::Rejected(rejection) => self.rejected(rejection),
        }
    }

    fn taken(&mut self, taken: &Taken) {
        let talker = String::from_utf8_lossy(&taken.talker);
        self.last_taken = Some(taken.sample.local);
        let sample = match self.chain.admit(taken.sample) {
            Admission::Publish(sample) => sample,
            Admission::Hold => {
                (self.on_taken)(taken);
                return;
            }
            Admission::Inconsistent { carried, new } => {
                let detail = format!(
                    "{}: sample labelled {} at {new} disagrees with the one before it carried \
                     forward, {carried}: a read returned late (a stalled host?)",
                    self.config.device, taken.label
                );
                self.receiving = false;
                if self.cell.distrust(detail.clone()) || !self.inconsistent_logged {
                    tracing::warn!(%detail, "serial samples disagree; none used until two agree");
                }
                self.inconsistent_logged = true;
                (self.on_taken)(taken);
                return;
            }
        };
        self.inconsistent_logged = false;
        let width_us = sample.interval.width_ns() / 1_000;
        self.cell.publish(
            sample,
            format!(
                "{talker}{} labelled {}, width {width_us} us",
                taken.sentence, taken.label
            ),
        );
        if !self.receiving {
            self.receiving = true;
            tracing::info!(label = %taken.label, width_us, "receiving time from the receiver");
        }
        if let Some(reported) = taken.rollover_corrected_from {
            if !self.rollover_logged {
                self.rollover_logged = true;
                tracing::warn!(
                    %reported,
                    label = %taken.label,
                    "the receiver's date lies before the date floor: week-rollover bug; \
                     corrected by +1024 weeks as week-rollover = \"correct\" says"
                );
            }
        }
        tracing::debug!(
            sentence = taken.sentence,
            label = %taken.label,
            earliest = %taken.sample.interval.earliest(),
            latest = %taken.sample.interval.latest(),
            local_ns = taken.sample.local.nanos(),
            width_us,
            "sample taken"
        );
        (self.on_taken)(taken);
    }

    fn rejected(&mut self, rejection: Rejection) {
        let device = &self.config.device;
        let reason = rejection.reason();
        let detail = format!("{device}: {rejection}");
        self.cell.reject(detail.clone());
        tracing::debug!(reason = reason.name(), %rejection, "sentence refused");

        if let Rejection::NoFix(_) = rejection {
            self.receiving = false;
            self.chain.reset();
            if self.cell.lose(Health::NoData, detail.clone()) {
                tracing::info!(%detail, "the receiver reports no fix");
            }
            return;
        }
        let slot = &mut self.last_logged[reason.index()];
        if slot.is_some_and(|at| at.elapsed() < REJECTION_LOG_INTERVAL) {
            return;
        }
        *slot = Some(Instant::now());
        let count = self.assembler.counts().get(reason);
        match rejection {
            Rejection::BeforeDateFloor { .. } => {
                tracing::warn!(%detail, count, "label refused: date before the date floor")
            }
            _ => tracing::warn!(reason = reason.name(), count, %detail, "input refused"),
        }
    }
}
