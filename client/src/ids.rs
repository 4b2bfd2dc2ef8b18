//! Snowflake ids: 64-bit integers that sort by the time they were made and
//! are unique across up to 1024 workers without talking to each other.
//!
//! # Layout
//!
//! ```text
//!  bit 63 | bits 62..22                         | bits 21..12 | bits 11..0
//!  0      | milliseconds since the epoch (41)   | worker (10) | sequence (12)
//! ```
//!
//! * Bit 63 is always 0, so an id is also a positive `i64`.
//! * 41 bits of milliseconds since a configurable epoch: 2^41 ms is about
//!   69.7 years. The default epoch is 2020-01-01T00:00:00Z
//!   ([`DEFAULT_EPOCH_MS`] = 1 577 836 800 000 ms after the Unix epoch: 50
//!   years of 365 days plus 12 leap days); its last millisecond is
//!   2089-09-06T15:47:35.551Z.
//! * 10 bits of worker, 0 to 1023: every generator that may run at the same
//!   time as another needs its own worker id.
//! * 12 bits of sequence, 0 to 4095, within one millisecond of one worker:
//!   one worker makes at most 4096 ids per millisecond, 4.096 million per
//!   second.
//!
//! Ids compare as integers, and the fields from high to low are time,
//! worker, sequence: ids order by their millisecond first.
//!
//! # Which end of the interval
//!
//! The millisecond of an id is `floor(latest / 1 ms)` of the time source's
//! interval, the **latest** end, as Spanner gives commits timestamps of at
//! least `now().latest`. True time lies at or before `latest`, so an id
//! never carries a millisecond earlier than the one true time was in when
//! the id was asked for. The ordered mode needs exactly that (see below).
//! The price is that ids run ahead of the middle of the interval by half
//! its width.
//!
//! # No duplicate, no decrease
//!
//! The generator keeps one atomic counter, `ms << 12 | sequence` of the next
//! id not yet handed out. It is only ever raised, by compare-and-swap: to
//! the source's millisecond (with sequence 0) when that is ahead, and past
//! the ids taken otherwise. Two calls can therefore never get the same
//! value, and a later call never gets a smaller one, whatever the time
//! source reports: when its millisecond is at or behind the last one used
//! (it stalled or stepped back), ids continue from the last millisecond
//! with the next sequence. After sequence 4095 the counter carries into the
//! next millisecond: the generator moves on without waiting for the clock.
//!
//! # Run-ahead
//!
//! Moving on without the clock lets ids run ahead of time when more than
//! 4096 are asked for per millisecond, or when the source stalls or steps
//! back. An id may carry a millisecond at most `max_run_ahead` (1 s unless
//! set with [`SnowflakeGenerator::with_max_run_ahead`]) past the largest
//! `latest` the source has reported to this generator. Beyond that,
//! `next_id` sleeps, reading the source again after each sleep, for at most
//! `max_run_ahead` in total, then fails with [`IdError::RunAhead`]. A
//! sustained overload is thus slowed to the format's 4096 ids per
//! millisecond; a stalled source ends in an error instead of ids that drift
//! away from time.
//!
//! # Reading the source once per millisecond, not once per id
//!
//! 4.096 million ids per second leave 244 ns per id, and a time source may
//! cost more than that (a gRPC round trip costs about 100 us). So the
//! generator reads the source only when its last reading can no longer
//! vouch for the next id, and otherwise reads only the local clock
//! (`CLOCK_BOOTTIME` unless [`SnowflakeGenerator::with_local_clock`] says
//! otherwise). After a reading with upper end `A0` (ns), for which the
//! local clock was read at `L0` just before asking, true time at a later
//! local instant `L` is at most `A0 + (L - L0)(1 + rho)`, `rho` being the
//! local clock's rate error bound (200 ppm, [`Drift::DEFAULT`]). With ids
//! reserved up to millisecond `m`, true time stays within a millisecond no
//! later than `m` up to the local instant
//!
//! ```text
//! fresh_until = L0 + floor((end(m) - A0) * 10^9 / (10^9 + rho_ppb))   [ns]
//! ```
//!
//! where `end(m)` is the last nanosecond of millisecond `m`. Until then the
//! next id, whose millisecond is at least `m`, carries a millisecond no
//! earlier than true time's, just as if the source had been read. Skipping
//! the read changes nothing about uniqueness or order: those come from the
//! counter alone, never from the source.
//!
//! # One worker, one generator after another
//!
//! Ids of a plain generator may carry a millisecond true time has not yet
//! reached (they follow `latest`, and run ahead when asked for quickly). A
//! later generator with the same worker, in this process or another,
//! starts from its own first reading, which may lie before them: it would
//! repeat them. So a generator that is dropped waits until its source says
//! true time is past the last millisecond it reserved
//! ([`SnowflakeGenerator::retire`]): `earliest > end(m)`. After that every
//! reading anywhere has `latest >= earliest > end(m)`, so every later id
//! carries a later millisecond. The wait is at most the interval's width
//! plus the run-ahead (1 s at most by default; none if no id was made, or
//! in ordered mode, where every id waited already). A process killed before
//! its generator is dropped cannot wait: a generator started in its place
//! should then wait out the run-ahead allowance first, or take another
//! worker id.
//!
//! # Ordered mode
//!
//! An ordered generator ([`SnowflakeGenerator::ordered`]) hands out an id
//! from millisecond `m` only after its source confirms, with an interval
//! read after waiting, that `earliest > end(m)`: true time has left `m`.
//! Then an id `A` handed out before another id `B` is asked for, at any
//! worker on any host, is smaller than `B`:
//!
//! 1. when `A` is handed out, true time is past `end(m_A)`;
//! 2. `B` is asked for later, when true time is at least that, so in a
//!    millisecond of at least `m_A + 1`;
//! 3. `B` carries a millisecond no earlier than true time's when it was
//!    asked for (the latest end, above), so `m_B >= m_A + 1`;
//! 4. the millisecond is the most significant field, so `B > A`.
//!
//! This holds when both generators use the same epoch and time sources
//! whose intervals contain true time. The wait is made once per
//! millisecond: ids reserved from a millisecond that has already been
//! waited out are handed out at once. A caller that asks for one id after
//! the other still waits about one interval width per id, because each id
//! must carry a later millisecond than the wait before it ended in; callers
//! asking at the same time, and [`SnowflakeGenerator::next_ids`], share the
//! wait.

use crate::{TimeError, TimeSource};
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tt_clock::{Boottime, LocalClock};
use tt_core::{Drift, LocalInstant, Timestamp};

/// 2020-01-01T00:00:00Z in milliseconds since the Unix epoch: the default
/// epoch of ids.
pub const DEFAULT_EPOCH_MS: i64 = 1_577_836_800_000;

/// The largest worker id: 10 bits.
pub const MAX_WORKER: u16 = 1023;

/// The largest sequence number within one millisecond: 12 bits.
pub const MAX_SEQUENCE: u16 = 4095;

/// The largest millisecond since the epoch an id can carry: 41 bits.
pub const MAX_MS: u64 = (1 << 41) - 1;

/// How far ids may run ahead of the time source unless configured
/// otherwise.
pub const DEFAULT_MAX_RUN_AHEAD: Duration = Duration::from_secs(1);

const SEQUENCE_BITS: u32 = 12;
const WORKER_SHIFT: u32 = SEQUENCE_BITS;
const MS_SHIFT: u32 = 22;
const SEQUENCE_MASK: u64 = (1 << SEQUENCE_BITS) - 1;
/// Ids per millisecond of one worker.
const IDS_PER_MS: u64 = 1 << SEQUENCE_BITS;
/// The largest value of the `ms << 12 | sequence` counter.
const MAX_COUNTER: u64 = (MAX_MS << SEQUENCE_BITS) | SEQUENCE_MASK;
const NANOS_PER_MS: i64 = 1_000_000;

/// Why no id (or no generator) could be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdError {
    /// The worker id does not fit in 10 bits.
    WorkerOutOfRange {
        /// The worker id given.
        worker: u16,
    },
    /// The sequence number does not fit in 12 bits.
    SequenceOutOfRange {
        /// The sequence number given.
        sequence: u16,
    },
    /// A time lies before the epoch: at construction, the epoch is in the
    /// future; later, the time source stepped back past the epoch.
    BeforeEpoch {
        /// The time, in milliseconds since the Unix epoch.
        unix_ms: i64,
        /// The epoch, in milliseconds since the Unix epoch.
        epoch_ms: i64,
    },
    /// The 41-bit millisecond field has run out for this epoch.
    Exhausted {
        /// The epoch, in milliseconds since the Unix epoch.
        epoch_ms: i64,
    },
    /// The time source gave no interval, or its commit-wait failed.
    Time(TimeError),
    /// Ids ran ahead of the time source by more than allowed, and the
    /// source did not catch up within that much sleeping.
    RunAhead {
        /// How far the next id would have been ahead, in milliseconds.
        ahead_ms: u64,
        /// The configured bound, in milliseconds.
        max_run_ahead_ms: u64,
    },
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::WorkerOutOfRange { worker } => write!(
                f,
                "worker id {worker} is out of range: ids have 10 bits for it, 0 to {MAX_WORKER}"
            ),
            IdError::SequenceOutOfRange { sequence } => write!(
                f,
                "sequence {sequence} is out of range: ids have 12 bits for it, 0 to {MAX_SEQUENCE}"
            ),
            IdError::BeforeEpoch { unix_ms, epoch_ms } => write!(
                f,
                "the time {unix_ms} ms after 1970 lies before the id epoch {epoch_ms} ms after \
                 1970; ids count milliseconds from the epoch, so choose an epoch in the past \
                 (the default is 2020-01-01T00:00:00Z, {DEFAULT_EPOCH_MS} ms)"
            ),
            IdError::Exhausted { epoch_ms } => write!(
                f,
                "the 41-bit millisecond field is exhausted: ids from the epoch {epoch_ms} ms \
                 after 1970 run out 2^41 ms (69.7 years) after it; choose a later epoch"
            ),
            IdError::Time(error) => write!(f, "no time to make ids from: {error}"),
            IdError::RunAhead {
                ahead_ms,
                max_run_ahead_ms,
            } => write!(
                f,
                "ids would run {ahead_ms} ms ahead of the time source, more than the \
                 {max_run_ahead_ms} ms allowed, and it did not catch up: the source has stalled \
                 or stepped back, or ids were asked for faster than 4096 per millisecond for \
                 too long; retry later"
            ),
        }
    }
}

impl std::error::Error for IdError {}

/// The fields of an id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Decoded {
    /// The id's millisecond, in milliseconds since the Unix epoch.
    pub unix_ms: i64,
    /// The worker that made it, 0 to 1023.
    pub worker: u16,
    /// Its sequence number within the millisecond, 0 to 4095.
    pub sequence: u16,
}

/// The fields of `id`, for ids made with the epoch `epoch_ms` (milliseconds
/// since the Unix epoch). Bit 63, always 0 in an id this module makes, is
/// ignored; the time saturates at the ends of `i64`.
///
/// ```
/// use tt_client::ids::{decode, DEFAULT_EPOCH_MS};
/// // One millisecond after the epoch, worker 3, sequence 5.
/// let id = (1 << 22) | (3 << 12) | 5;
/// let fields = decode(id, DEFAULT_EPOCH_MS);
/// assert_eq!(fields.unix_ms, DEFAULT_EPOCH_MS + 1);
/// assert_eq!((fields.worker, fields.sequence), (3, 5));
/// ```
pub fn decode(id: u64, epoch_ms: i64) -> Decoded {
    let ms = (id >> MS_SHIFT) & MAX_MS;
    Decoded {
        unix_ms: epoch_ms.saturating_add(ms as i64),
        worker: ((id >> WORKER_SHIFT) & u64::from(MAX_WORKER)) as u16,
        sequence: (id & SEQUENCE_MASK) as u16,
    }
}

/// The id with these fields: the inverse of [`decode`]. Refuses fields that
/// do not fit.
pub fn encode(unix_ms: i64, worker: u16, sequence: u16, epoch_ms: i64) -> Result<u64, IdError> {
    if worker > MAX_WORKER {
        return Err(IdError::WorkerOutOfRange { worker });
    }
    if sequence > MAX_SEQUENCE {
        return Err(IdError::SequenceOutOfRange { sequence });
    }
    let ms = ms_since_epoch(unix_ms, epoch_ms)?;
    Ok(compose(ms << SEQUENCE_BITS | u64::from(sequence), worker))
}

/// The id of worker `worker` for the counter value `ms << 12 | sequence`.
fn compose(counter: u64, worker: u16) -> u64 {
    (counter >> SEQUENCE_BITS) << MS_SHIFT
        | u64::from(worker) << WORKER_SHIFT
        | counter & SEQUENCE_MASK
}

/// `unix_ms - epoch_ms` if it fits the 41-bit field.
fn ms_since_epoch(unix_ms: i64, epoch_ms: i64) -> Result<u64, IdError> {
    let since = i128::from(unix_ms) - i128::from(epoch_ms);
    if since < 0 {
        return Err(IdError::BeforeEpoch { unix_ms, epoch_ms });
    }
    u64::try_from(since)
        .ok()
        .filter(|&ms| ms <= MAX_MS)
        .ok_or(IdError::Exhausted { epoch_ms })
}

/// Makes Snowflake ids for one worker; see the [module](self) for the
/// layout and the guarantees. Thread-safe: share it (in an `Arc`) between
/// threads rather than making two generators with the same worker id.
///
/// ```
/// # use std::sync::Arc;
/// # use tt_client::{TimeError, TimeSource};
/// # use tt_core::{Interval, Timestamp};
/// # struct HostClock;
/// # impl TimeSource for HostClock {
/// #     fn now(&self) -> Result<Interval, TimeError> {
/// #         let t = Timestamp::from_unix_nanos(tt_clock::realtime_ns());
/// #         Ok(Interval::around(t, 1_000_000))
/// #     }
/// # }
/// # fn main() -> Result<(), tt_client::ids::IdError> {
/// use tt_client::ids::{decode, SnowflakeGenerator, DEFAULT_EPOCH_MS};
/// let source: Arc<dyn TimeSource> = Arc::new(HostClock); // in production, the TrueTime handle
/// let ids = SnowflakeGenerator::new(7, DEFAULT_EPOCH_MS, source)?;
/// let first = ids.next_id()?;
/// let second = ids.next_id()?;
/// assert!(second > first);
/// assert_eq!(decode(first, DEFAULT_EPOCH_MS).worker, 7);
/// # Ok(()) }
/// ```
pub struct SnowflakeGenerator {
    worker: u16,
    epoch_ms: i64,
    ordered: bool,
    max_run_ahead_ms: u64,
    source: Arc<dyn TimeSource>,
    local_clock: Arc<dyn LocalClock>,
    drift: Drift,
    /// `ms << 12 | sequence` of the next id not yet reserved; only raised.
    next: AtomicU64,
    /// The local instant (ns) up to which true time is known to lie in a
    /// millisecond no later than that of every id still to be reserved.
    fresh_until_local_ns: AtomicI64,
    /// The largest `latest` the source has reported, in ms since the epoch.
    source_max_ms: AtomicU64,
    /// Ordered mode: true time is known to be past the end of every
    /// millisecond below this one.
    waited_below_ms: AtomicU64,
}

impl SnowflakeGenerator {
    /// A generator for `worker` (0 to 1023) with ids counting milliseconds
    /// from `epoch_ms` (milliseconds since the Unix epoch; usually
    /// [`DEFAULT_EPOCH_MS`]), reading time from `source`.
    ///
    /// Reads the source once, to refuse an epoch that lies in the future
    /// (after its `latest`) or so far in the past that the 41-bit field has
    /// already run out; fails if the source gives no interval.
    pub fn new(
        worker: u16,
        epoch_ms: i64,
        source: Arc<dyn TimeSource>,
    ) -> Result<SnowflakeGenerator, IdError> {
        SnowflakeGenerator::build(worker, epoch_ms, source, false)
    }

    /// Like [`SnowflakeGenerator::new`], in ordered mode: every id is
    /// handed out only once true time is surely past the end of its
    /// millisecond, so ids from all ordered generators follow the real-time
    /// order in which they were handed out and asked for.
    pub fn ordered(
        worker: u16,
        epoch_ms: i64,
        source: Arc<dyn TimeSource>,
    ) -> Result<SnowflakeGenerator, IdError> {
        SnowflakeGenerator::build(worker, epoch_ms, source, true)
    }

    fn build(
        worker: u16,
        epoch_ms: i64,
        source: Arc<dyn TimeSource>,
        ordered: bool,
    ) -> Result<SnowflakeGenerator, IdError> {
        if worker > MAX_WORKER {
            return Err(IdError::WorkerOutOfRange { worker });
        }
        let interval = source.now().map_err(IdError::Time)?;
        ms_since_epoch(unix_ms(interval.latest()), epoch_ms)?;
        Ok(SnowflakeGenerator {
            worker,
            epoch_ms,
            ordered,
            max_run_ahead_ms: millis(DEFAULT_MAX_RUN_AHEAD),
            source,
            local_clock: Arc::new(Boottime),
            drift: Drift::DEFAULT,
            next: AtomicU64::new(0),
            fresh_until_local_ns: AtomicI64::new(i64::MIN),
            source_max_ms: AtomicU64::new(0),
            waited_below_ms: AtomicU64::new(0),
        })
    }

    /// Sets how far ids may run ahead of the largest `latest` the source
    /// has reported (whole milliseconds, rounded down), and so also how
    /// long `next_id` sleeps waiting for the source to catch up before it
    /// fails with [`IdError::RunAhead`].
    pub fn with_max_run_ahead(mut self, max_run_ahead: Duration) -> SnowflakeGenerator {
        self.max_run_ahead_ms = millis(max_run_ahead);
        self
    }

    /// Sets the local clock that tells when the last reading of the source
    /// has to be renewed, and its rate error bound against true time. The
    /// default, `CLOCK_BOOTTIME` within 200 ppm, is the timebase of the
    /// whole system; a simulation whose time source does not follow the
    /// host's clock supplies its own.
    pub fn with_local_clock(
        mut self,
        local_clock: Arc<dyn LocalClock>,
        drift: Drift,
    ) -> SnowflakeGenerator {
        self.local_clock = local_clock;
        self.drift = drift;
        // A deadline on the old clock means nothing on the new one.
        *self.fresh_until_local_ns.get_mut() = i64::MIN;
        self
    }

    /// The worker id in every id made here.
    pub fn worker(&self) -> u16 {
        self.worker
    }

    /// The epoch, in milliseconds since the Unix epoch.
    pub fn epoch_ms(&self) -> i64 {
        self.epoch_ms
    }

    /// Whether ids wait out their millisecond before they are handed out.
    pub fn is_ordered(&self) -> bool {
        self.ordered
    }

    /// How far ids may run ahead of the time source.
    pub fn max_run_ahead(&self) -> Duration {
        Duration::from_millis(self.max_run_ahead_ms)
    }

    /// The next id: larger than every id this generator handed out before.
    pub fn next_id(&self) -> Result<u64, IdError> {
        let first = self.reserve(1)?;
        self.wait_if_ordered(first >> SEQUENCE_BITS)?;
        Ok(compose(first, self.worker))
    }

    /// `count` ids, increasing, all larger than every id this generator
    /// handed out before this call began. In ordered mode the whole batch
    /// waits once, for its last millisecond. On an error none of the ids
    /// reserved so far is handed out.
    pub fn next_ids(&self, count: usize) -> Result<Vec<u64>, IdError> {
        let mut ids = Vec::with_capacity(count);
        while ids.len() < count {
            let chunk = (count - ids.len()).min(IDS_PER_MS as usize) as u64;
            let first = self.reserve(chunk)?;
            ids.extend((first..first + chunk).map(|counter| compose(counter, self.worker)));
        }
        if let Some(&last) = ids.last() {
            self.wait_if_ordered((last >> MS_SHIFT) & MAX_MS)?;
        }
        Ok(ids)
    }

    /// Reserves `count` (1 to 4096) consecutive counter values and returns
    /// the first.
    fn reserve(&self, count: u64) -> Result<u64, IdError> {
        let local_ns = self.local_clock.now().nanos();
        // Acquire: the counter read below is at least as far as it was
        // when this deadline was published, so its millisecond is covered.
        if local_ns <= self.fresh_until_local_ns.load(Ordering::Acquire) {
            let ceiling_ms = self
                .source_max_ms
                .load(Ordering::Relaxed)
                .saturating_add(self.max_run_ahead_ms);
            let mut next = self.next.load(Ordering::Relaxed);
            loop {
                let last = next + count - 1;
                if last > MAX_COUNTER || last >> SEQUENCE_BITS > ceiling_ms {
                    break;
                }
                match self.next.compare_exchange_weak(
                    next,
                    next + count,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Ok(next),
                    Err(actual) => next = actual,
                }
            }
        }
        self.reserve_reading_source(count)
    }

    /// The slow path of [`Self::reserve`]: reads the source, then reserves,
    /// sleeping while the ids would run too far ahead.
    fn reserve_reading_source(&self, count: u64) -> Result<u64, IdError> {
        let mut slept_ms = 0;
        loop {
            let local_before = self.local_clock.now();
            let interval = self.source.now().map_err(IdError::Time)?;
            let source_ms = ms_since_epoch(unix_ms(interval.latest()), self.epoch_ms)?;
            let max_ms = self
                .source_max_ms
                .fetch_max(source_ms, Ordering::AcqRel)
                .max(source_ms);
            let ceiling_ms = max_ms.saturating_add(self.max_run_ahead_ms);

            let floor = source_ms << SEQUENCE_BITS;
            let mut next = self.next.load(Ordering::Acquire);
            let ahead_ms = loop {
                let first = next.max(floor);
                let last = first + count - 1;
                if last > MAX_COUNTER {
                    return Err(IdError::Exhausted {
                        epoch_ms: self.epoch_ms,
                    });
                }
                let last_ms = last >> SEQUENCE_BITS;
                if last_ms > ceiling_ms {
                    break last_ms - max_ms;
                }
                match self.next.compare_exchange_weak(
                    next,
                    first + count,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        let deadline = self.fresh_until(local_before, interval.latest(), last_ms);
                        self.fresh_until_local_ns
                            .fetch_max(deadline, Ordering::AcqRel);
                        return Ok(first);
                    }
                    Err(actual) => next = actual,
                }
            };

            // Too far ahead: give the source the time it lacks, within the
            // budget, then look again.
            if slept_ms >= self.max_run_ahead_ms {
                return Err(IdError::RunAhead {
                    ahead_ms,
                    max_run_ahead_ms: self.max_run_ahead_ms,
                });
            }
            let nap_ms = (ahead_ms - self.max_run_ahead_ms).min(self.max_run_ahead_ms - slept_ms);
            std::thread::sleep(Duration::from_millis(nap_ms));
            slept_ms += nap_ms;
        }
    }

    /// The local instant (ns) up to which true time surely stays in a
    /// millisecond no later than `reserved_ms`, from a reading whose upper
    /// end is `latest`, asked for at `local_before`:
    /// `L0 + floor((end(m) - A0) * 10^9 / (10^9 + rho_ppb))`, see the
    /// [module](self). Over `d` local ns true time advances at most
    /// `d + ceil(d * rho_ppb / 10^9)` ns. For the `d` computed here,
    /// `d (10^9 + rho_ppb) <= R 10^9` with `R = end(m) - A0`, so
    /// `d rho_ppb / 10^9 <= R - d`, and as `R - d` is a whole number the
    /// ceiling is too: true time moves at most `R` while the local clock
    /// moves `d`.
    fn fresh_until(&self, local_before: LocalInstant, latest: Timestamp, reserved_ms: u64) -> i64 {
        let room_ns = i128::from(self.end_of_ms_ns(reserved_ms)) - i128::from(latest.unix_nanos());
        let span_ns = room_ns * 1_000_000_000 / (1_000_000_000 + i128::from(self.drift.ppb()));
        let deadline = i128::from(local_before.nanos()) + span_ns;
        i64::try_from(deadline).unwrap_or(if deadline < 0 { i64::MIN } else { i64::MAX })
    }

    /// The last nanosecond (since the Unix epoch) of millisecond `ms` after
    /// the epoch, saturating at `i64::MAX`.
    fn end_of_ms_ns(&self, ms: u64) -> i64 {
        let end = (i128::from(self.epoch_ms) + i128::from(ms) + 1) * i128::from(NANOS_PER_MS) - 1;
        i64::try_from(end).unwrap_or(i64::MAX)
    }

    /// Returns once true time is surely past every millisecond of an id
    /// this generator reserved, so that no generator for the same worker
    /// made afterwards, anywhere, can repeat one of its ids (see the
    /// [module](self)). Dropping the generator does this too; call it to
    /// learn of a failure: when the source gives no time, no such promise
    /// can be made and the error says so.
    pub fn retire(&self) -> Result<(), IdError> {
        let next = self.next.load(Ordering::Acquire);
        if next == 0 {
            return Ok(());
        }
        // Ordered ids were handed out only once their millisecond was
        // over: `wait_past` finds that known and returns at once.
        self.wait_past((next - 1) >> SEQUENCE_BITS)
    }

    /// Ordered mode: returns once true time is surely past the end of
    /// millisecond `ms`, waiting only if no earlier call has shown that.
    fn wait_if_ordered(&self, ms: u64) -> Result<(), IdError> {
        if !self.ordered {
            return Ok(());
        }
        self.wait_past(ms)
    }

    /// Returns once the source says true time is past the end of
    /// millisecond `ms`, waiting only if no earlier call has shown that.
    fn wait_past(&self, ms: u64) -> Result<(), IdError> {
        if self.waited_below_ms.load(Ordering::Acquire) > ms {
            return Ok(());
        }
        let end = Timestamp::from_unix_nanos(self.end_of_ms_ns(ms));
        let after = self.source.wait_until_after(end).map_err(IdError::Time)?;
        // The source promises this; an id handed out early would break the
        // order silently, so it is checked rather than trusted.
        if after.earliest() <= end {
            return Err(IdError::Time(TimeError::Unavailable(format!(
                "the time source's commit-wait for {end} returned with earliest {}, not after it",
                after.earliest()
            ))));
        }
        self.waited_below_ms.fetch_max(ms + 1, Ordering::AcqRel);
        Ok(())
    }
}

impl Drop for SnowflakeGenerator {
    /// Waits as [`SnowflakeGenerator::retire`] does; a failure (no time
    /// from the source) cannot be reported here: call `retire` first to
    /// see it.
    fn drop(&mut self) {
        let _ = self.retire();
    }
}

impl fmt::Debug for SnowflakeGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnowflakeGenerator")
            .field("worker", &self.worker)
            .field("epoch_ms", &self.epoch_ms)
            .field("ordered", &self.ordered)
            .field("max_run_ahead_ms", &self.max_run_ahead_ms)
            .finish_non_exhaustive()
    }
}

/// The millisecond (since the Unix epoch) that `t` lies in, rounded down.
fn unix_ms(t: Timestamp) -> i64 {
    t.unix_nanos().div_euclid(NANOS_PER_MS)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_epoch_is_2020() {
        // 2020-01-01 is 50 * 365 + 12 leap days (1972 to 2016) after 1970.
        assert_eq!(DEFAULT_EPOCH_MS, (50 * 365 + 12) * 86_400 * 1000);
    }

    #[test]
    fn fields_sit_where_the_layout_says() {
        // Every field at its maximum sets bits 0 to 62 and leaves bit 63.
        let top = encode(
            DEFAULT_EPOCH_MS + MAX_MS as i64,
            1023,
            4095,
            DEFAULT_EPOCH_MS,
        );
        assert_eq!(top, Ok(i64::MAX as u64));
        // One millisecond, worker 1, sequence 1: bits 22, 12 and 0.
        let small = encode(DEFAULT_EPOCH_MS + 1, 1, 1, DEFAULT_EPOCH_MS);
        assert_eq!(small, Ok((1 << 22) + (1 << 12) + 1));
        assert_eq!(encode(0, 0, 0, 0), Ok(0));
    }

    #[test]
    fn encode_refuses_what_does_not_fit() {
        let epoch = DEFAULT_EPOCH_MS;
        assert_eq!(
            encode(epoch, 1024, 0, epoch),
            Err(IdError::WorkerOutOfRange { worker: 1024 })
        );
        assert_eq!(
            encode(epoch, 0, 4096, epoch),
            Err(IdError::SequenceOutOfRange { sequence: 4096 })
        );
        assert_eq!(
            encode(epoch - 1, 0, 0, epoch),
            Err(IdError::BeforeEpoch {
                unix_ms: epoch - 1,
                epoch_ms: epoch
            })
        );
        assert_eq!(
            encode(epoch + MAX_MS as i64 + 1, 0, 0, epoch),
            Err(IdError::Exhausted { epoch_ms: epoch })
        );
        // A difference that overflows i64 is out of range, not a panic.
        assert_eq!(
            encode(i64::MAX, 0, 0, i64::MIN),
            Err(IdError::Exhausted { epoch_ms: i64::MIN })
        );
    }

    #[test]
    fn the_default_epoch_runs_out_in_2089() {
        // 2089-09-06T15:47:35.551Z: 43 713 days after 1970 (119 years of
        // 365 days, 30 leap days from 1972 to 2088, then 248 days into
        // 2089), then 15 h 47 min 35.551 s = 56 855.551 s.
        let last_ms = (43_713 * 86_400 + 56_855) * 1000 + 551;
        assert!(encode(last_ms, 0, 0, DEFAULT_EPOCH_MS).is_ok());
        assert!(encode(last_ms + 1, 0, 0, DEFAULT_EPOCH_MS).is_err());
    }

    #[test]
    fn decode_ignores_the_sign_bit_and_saturates() {
        let fields = decode(u64::MAX, 0);
        assert_eq!(fields.unix_ms, MAX_MS as i64);
        assert_eq!((fields.worker, fields.sequence), (1023, 4095));
        assert_eq!(decode(1 << 22, i64::MAX).unix_ms, i64::MAX);
    }

    #[test]
    fn errors_say_what_to_do() {
        let text = IdError::WorkerOutOfRange { worker: 1024 }.to_string();
        assert!(
            text.contains("1024") && text.contains("0 to 1023"),
            "{text}"
        );
        let text = IdError::Exhausted { epoch_ms: 0 }.to_string();
        assert!(text.contains("later epoch"), "{text}");
        let text = IdError::Time(TimeError::Unsynchronized("no quorum".into())).to_string();
        assert!(text.contains("no quorum"), "{text}");
    }
}
