//! The shared-memory record a timeslave publishes and clients read.
//!
//! One writer (the daemon), any number of readers, no locks: a seqlock.
//! The writer makes the sequence odd, stores the fields, and makes it even
//! again; a reader takes a copy between two equal, even reads of the
//! sequence, and retries otherwise. Every field is an atomic, so a reader
//! racing the writer sees old or new words, never undefined behaviour; the
//! sequence check throws away any mix of the two.
//!
//! The record is plain data at fixed offsets (`repr(C)`), 128 bytes, two
//! cache lines, so a reader in another language can follow the same steps
//! from the layout below (all fields little-endian, as on every host this
//! runs on):
//!
//! | offset | field | meaning |
//! |---|---|---|
//! | 0 | `magic` | `u64` bytes `"TTSHMv01"` |
//! | 8 | `layout` | `u32` version (1) in the low half, `u32` record size (128) in the high half |
//! | 16 | `sequence` | `u64`, odd while the writer is inside |
//! | 24 | `local_ns` | `i64` CLOCK_BOOTTIME of the sample |
//! | 32 | `earliest_ns` | `i64` UTC ns: true time at `local_ns` is not before this |
//! | 40 | `latest_ns` | `i64` UTC ns: true time at `local_ns` is not after this |
//! | 48 | `drift_ppb` | `u64` the writer's rate bound `rho` |
//! | 56 | `void_after_ns` | `i64` CLOCK_BOOTTIME after which the record must not be used |
//! | 64 | `status` | `u64` 1 synchronized, anything else unsynchronized |
//! | 72 | `boot_id_high` | `u64` first 8 bytes of the writer's boot id, big-endian |
//! | 80 | `boot_id_low` | `u64` last 8 bytes of the writer's boot id, big-endian |
//! | 88 | reserved | five `u64`, zero |
//!
//! The daemon stamps `local_ns` with the same clock the client reads
//! (`CLOCK_BOOTTIME`), so the client's `now()` is one clock read plus
//! [`Sample::at`]: `[E + d - ceil(d rho), A + d + ceil(d rho)]` for
//! `d = now - local_ns`, and only while `now <= void_after_ns`.
//!
//! `CLOCK_BOOTTIME` restarts from zero at every boot, so an instant means
//! something only together with the boot it was read in. The record
//! carries the writer's [`BootId`] (the kernel's random per-boot UUID); a
//! reader refuses a record from any other boot. Without it, a record left
//! in a file that outlives a reboot would be taken as fresh once the new
//! boot's clock passed the old `local_ns`, and would hand out an interval
//! off by the whole time the machine was down.

use crate::{Drift, Interval, LocalInstant, Sample};
use std::fmt;
use std::sync::atomic::{fence, AtomicI64, AtomicU64, Ordering};

/// `"TTSHMv01"` as a little-endian `u64`.
pub const MAGIC: u64 = u64::from_le_bytes(*b"TTSHMv01");
/// The layout version this code writes and reads.
pub const VERSION: u32 = 1;
/// The record's size in bytes.
pub const RECORD_SIZE: usize = std::mem::size_of::<SharedRecord>();

const STATUS_SYNCHRONIZED: u64 = 1;
/// How often a reader retries a copy the writer disturbed before it gives
/// up. The writer holds the sequence odd for a handful of stores, so
/// running out of retries means a writer that died inside, not bad luck.
const READ_RETRIES: usize = 1_000;

/// The record as it lies in shared memory. See the module documentation.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub struct SharedRecord {
    magic: AtomicU64,
    layout: AtomicU64,
    sequence: AtomicU64,
    local_ns: AtomicI64,
    earliest_ns: AtomicI64,
    latest_ns: AtomicI64,
    drift_ppb: AtomicU64,
    void_after_ns: AtomicI64,
    status: AtomicU64,
    boot_id_high: AtomicU64,
    boot_id_low: AtomicU64,
    reserved: [AtomicU64; 5],
}

/// One boot of one host: the kernel's `/proc/sys/kernel/random/boot_id`, a
/// random UUID drawn at boot, as 128 bits. Local instants
/// (`CLOCK_BOOTTIME`) compare only within one boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BootId(u128);

impl BootId {
    /// The boot id with the value `bits` (the UUID's bytes, big-endian).
    pub const fn from_u128(bits: u128) -> Self {
        BootId(bits)
    }

    /// The UUID's bytes as one big-endian number.
    pub const fn as_u128(self) -> u128 {
        self.0
    }

    /// Parses the kernel's text, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`
    /// in hexadecimal (surrounding white space allowed); `None` for
    /// anything else.
    pub fn parse(text: &str) -> Option<BootId> {
        let text = text.trim();
        let groups: Vec<&str> = text.split('-').collect();
        let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        if lengths != [8, 4, 4, 4, 12] {
            return None;
        }
        let mut bits: u128 = 0;
        for digit in groups.concat().chars() {
            bits = (bits << 4) | u128::from(digit.to_digit(16)?);
        }
        Some(BootId(bits))
    }
}

impl fmt::Display for BootId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = format!("{:032x}", self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }
}

/// What the writer publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// True time lay in `sample.interval` at `sample.local`; carried
    /// forward with `drift` it may be used until local instant
    /// `void_after`.
    Synchronized {
        /// The combined sample.
        sample: Sample,
        /// The rate bound to carry it forward with.
        drift: Drift,
        /// After this local instant the record is void.
        void_after: LocalInstant,
        /// The boot of the writer's host in which `sample.local` and
        /// `void_after` were read.
        boot: BootId,
    },
    /// Nothing may be used.
    Unsynchronized,
}

/// Why a reader got no interval from the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShmError {
    /// The magic number is wrong: not a truetime record (or not yet
    /// written).
    BadMagic(u64),
    /// A layout this code does not know.
    BadLayout {
        /// The version found.
        version: u32,
        /// The size found.
        size: u32,
    },
    /// The writer kept the record busy through every retry.
    Busy,
    /// The writer says it is unsynchronized.
    Unsynchronized,
    /// The record is past its void-after instant: the writer stopped
    /// updating it.
    Void {
        /// How far past, nanoseconds.
        late_ns: i64,
    },
    /// The local clock reads before the record's instant: the record comes
    /// from another clock or another boot.
    FromTheFuture {
        /// By how much, nanoseconds.
        ahead_ns: i64,
    },
    /// The stored interval is inverted.
    Corrupt,
    /// The record was written in another boot (or on another host): its
    /// local instants are on a clock this reader cannot read.
    OtherBoot {
        /// The writer's boot.
        record: BootId,
        /// The reader's boot.
        reader: BootId,
    },
}

impl fmt::Display for ShmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShmError::BadMagic(found) => write!(
                f,
                "not a truetime record (magic {found:#018x}); is the path that of a timeslave's record?"
            ),
            ShmError::BadLayout { version, size } => write!(
                f,
                "record layout version {version} size {size} is not the {VERSION}/{RECORD_SIZE} this client reads; upgrade the client or the daemon"
            ),
            ShmError::Busy => write!(f, "the record stayed mid-update; the timeslave may have died while writing"),
            ShmError::Unsynchronized => write!(f, "the timeslave is unsynchronized"),
            ShmError::Void { late_ns } => write!(
                f,
                "the record is void: {} ms past its last valid instant; is the timeslave running?",
                late_ns / 1_000_000
            ),
            ShmError::FromTheFuture { ahead_ns } => write!(
                f,
                "the record's instant is {ahead_ns} ns ahead of this host's CLOCK_BOOTTIME; it is from another boot or clock"
            ),
            ShmError::Corrupt => write!(f, "the record holds an inverted interval"),
            ShmError::OtherBoot { record, reader } => write!(
                f,
                "the record was written in boot {record}, this is boot {reader}: it is left from \
                 before a reboot; is the timeslave running?"
            ),
        }
    }
}

impl std::error::Error for ShmError {}

impl SharedRecord {
    /// A zeroed record (no magic: readers refuse it until the first write).
    pub fn new() -> Self {
        SharedRecord::default()
    }

    /// Publishes `what`. Only one thread or process may write a record.
    pub fn write(&self, what: Published) {
        let before = self.sequence.load(Ordering::Relaxed);
        // An odd sequence tells readers the fields are moving. The release
        // fence keeps the field stores below from being seen before it.
        self.sequence.store(before | 1, Ordering::Relaxed);
        fence(Ordering::Release);

        self.magic.store(MAGIC, Ordering::Relaxed);
        self.layout.store(LAYOUT, Ordering::Relaxed);
        match what {
            Published::Synchronized {
                sample,
                drift,
                void_after,
                boot,
            } => {
                let [high, low] = split_boot(boot);
                self.boot_id_high.store(high, Ordering::Relaxed);
                self.boot_id_low.store(low, Ordering::Relaxed);
                self.local_ns.store(sample.local.nanos(), Ordering::Relaxed);
                self.earliest_ns
                    .store(sample.interval.earliest().unix_nanos(), Ordering::Relaxed);
                self.latest_ns
                    .store(sample.interval.latest().unix_nanos(), Ordering::Relaxed);
                self.drift_ppb.store(drift.ppb(), Ordering::Relaxed);
                self.void_after_ns
                    .store(void_after.nanos(), Ordering::Relaxed);
                self.status.store(STATUS_SYNCHRONIZED, Ordering::Relaxed);
            }
            Published::Unsynchronized => {
                self.status.store(0, Ordering::Relaxed);
                self.void_after_ns.store(i64::MIN, Ordering::Relaxed);
            }
        }

        // Even again: the release store publishes every field above.
        self.sequence
            .store((before | 1).wrapping_add(1), Ordering::Release);
    }

    /// The magic word alone, read outside the seqlock: 0 until the first
    /// write stores [`MAGIC`], which no later write changes. For telling
    /// a record whose writer is inside from a file that is no record.
    pub fn magic(&self) -> u64 {
        self.magic.load(Ordering::Relaxed)
    }

    /// A consistent copy of the record, or why there is none.
    #[inline]
    pub fn read(&self) -> Result<Published, ShmError> {
        self.copy().ok_or(ShmError::Busy)?.decode()
    }

    /// The words of one consistent copy, `None` if the writer kept the
    /// record busy through every retry.
    ///
    /// Only relaxed loads of 8 bytes and fences: Rust guarantees those
    /// (and nothing stronger) to work on memory mapped read-only on 64-bit
    /// targets, which is how clients map the record.
    #[inline(always)]
    fn copy(&self) -> Option<Words> {
        for _ in 0..READ_RETRIES {
            let before = self.sequence.load(Ordering::Relaxed);
            // Acquire: if `before` is the writer's closing (release)
            // store, every field store of that write is visible below.
            fence(Ordering::Acquire);
            if before & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let words = Words {
                magic: self.magic.load(Ordering::Relaxed),
                layout: self.layout.load(Ordering::Relaxed),
                local_ns: self.local_ns.load(Ordering::Relaxed),
                earliest_ns: self.earliest_ns.load(Ordering::Relaxed),
                latest_ns: self.latest_ns.load(Ordering::Relaxed),
                drift_ppb: self.drift_ppb.load(Ordering::Relaxed),
                void_after_ns: self.void_after_ns.load(Ordering::Relaxed),
                status: self.status.load(Ordering::Relaxed),
                boot_high: self.boot_id_high.load(Ordering::Relaxed),
                boot_low: self.boot_id_low.load(Ordering::Relaxed),
            };
            // The acquire fence orders the field loads before the second
            // sequence load: if it still matches, no store hit them.
            fence(Ordering::Acquire);
            if self.sequence.load(Ordering::Relaxed) != before {
                std::hint::spin_loop();
                continue;
            }
            return Some(words);
        }
        None
    }

    /// True time at local instant `now` of boot `boot`, from the record:
    /// one consistent copy, then [`Sample::at`]. Refuses a record that is
    /// unsynchronized, from another boot, void at `now`, or stamped after
    /// `now`: the same answer as [`interval_from`] on [`SharedRecord::read`],
    /// with the common case (a good record) checked in one pass over the
    /// copied words, since this runs on every client `now()`.
    #[inline(always)]
    pub fn interval_at(&self, now: LocalInstant, boot: BootId) -> Result<Interval, ShmError> {
        let words = self.copy().ok_or(ShmError::Busy)?;
        let [boot_high, boot_low] = split_boot(boot);
        let good = words.magic == MAGIC
            && words.layout == LAYOUT
            && words.status == STATUS_SYNCHRONIZED
            && words.boot_high == boot_high
            && words.boot_low == boot_low
            && words.local_ns <= now.nanos()
            && now.nanos() <= words.void_after_ns
            && words.earliest_ns <= words.latest_ns;
        if !good {
            return interval_from(words.decode()?, now, boot);
        }
        let interval = Interval::from_unix_nanos(words.earliest_ns, words.latest_ns)
            .expect("checked: earliest <= latest");
        let sample = Sample::new(LocalInstant::from_nanos(words.local_ns), interval);
        Ok(sample.at(now, Drift::from_ppb(words.drift_ppb)))
    }
}

/// The layout word this code writes and reads.
const LAYOUT: u64 = VERSION as u64 | ((RECORD_SIZE as u64) << 32);

/// The words of one consistent copy of the record, not yet checked.
#[derive(Clone, Copy, Debug)]
struct Words {
    magic: u64,
    layout: u64,
    local_ns: i64,
    earliest_ns: i64,
    latest_ns: i64,
    drift_ppb: u64,
    void_after_ns: i64,
    status: u64,
    boot_high: u64,
    boot_low: u64,
}

impl Words {
    /// What the copy says, or why it is not a record.
    #[inline]
    fn decode(self) -> Result<Published, ShmError> {
        if self.magic != MAGIC {
            return Err(ShmError::BadMagic(self.magic));
        }
        if self.layout != LAYOUT {
            return Err(ShmError::BadLayout {
                version: (self.layout & 0xffff_ffff) as u32,
                size: (self.layout >> 32) as u32,
            });
        }
        if self.status != STATUS_SYNCHRONIZED {
            return Ok(Published::Unsynchronized);
        }
        let interval = Interval::from_unix_nanos(self.earliest_ns, self.latest_ns)
            .map_err(|_| ShmError::Corrupt)?;
        Ok(Published::Synchronized {
            sample: Sample::new(LocalInstant::from_nanos(self.local_ns), interval),
            drift: Drift::from_ppb(self.drift_ppb),
            void_after: LocalInstant::from_nanos(self.void_after_ns),
            boot: BootId((u128::from(self.boot_high) << 64) | u128::from(self.boot_low)),
        })
    }
}

/// The two words a boot id is stored in, high half first.
fn split_boot(boot: BootId) -> [u64; 2] {
    let bits = boot.as_u128();
    // Truncation is the point: each word takes its half.
    [(bits >> 64) as u64, bits as u64]
}

/// True time at `now` (a local instant of boot `boot`) from a published
/// record; see [`SharedRecord::interval_at`].
#[inline]
pub fn interval_from(
    published: Published,
    now: LocalInstant,
    boot: BootId,
) -> Result<Interval, ShmError> {
    let Published::Synchronized {
        sample,
        drift,
        void_after,
        boot: record_boot,
    } = published
    else {
        return Err(ShmError::Unsynchronized);
    };
    if record_boot != boot {
        return Err(ShmError::OtherBoot {
            record: record_boot,
            reader: boot,
        });
    }
    if now > void_after {
        return Err(ShmError::Void {
            late_ns: now.nanos_since(void_after),
        });
    }
    if now < sample.local {
        // Carrying backwards would be sound, but a record from the future
        // means the two sides do not share a clock; nothing it says holds.
        return Err(ShmError::FromTheFuture {
            ahead_ns: sample.local.nanos_since(now),
        });
    }
    Ok(sample.at(now, drift))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    const BOOT: BootId = BootId::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);

    fn synchronized(local: i64, earliest: i64, latest: i64, void_after: i64) -> Published {
        Published::Synchronized {
            sample: Sample::new(
                LocalInstant::from_nanos(local),
                Interval::from_unix_nanos(earliest, latest).unwrap(),
            ),
            drift: Drift::from_ppm(200),
            void_after: LocalInstant::from_nanos(void_after),
            boot: BOOT,
        }
    }

    #[test]
    fn layout_is_two_cache_lines() {
        assert_eq!(RECORD_SIZE, 128);
        assert_eq!(std::mem::align_of::<SharedRecord>(), 64);
        assert_eq!(std::mem::offset_of!(SharedRecord, sequence), 16);
        assert_eq!(std::mem::offset_of!(SharedRecord, local_ns), 24);
        assert_eq!(std::mem::offset_of!(SharedRecord, status), 64);
        assert_eq!(std::mem::offset_of!(SharedRecord, boot_id_high), 72);
        assert_eq!(std::mem::offset_of!(SharedRecord, boot_id_low), 80);
        assert_eq!(std::mem::offset_of!(SharedRecord, reserved), 88);
    }

    #[test]
    fn boot_ids_parse_from_the_kernels_text_and_print_back() {
        let text = "01234567-89ab-cdef-fedc-ba9876543210\n";
        assert_eq!(BootId::parse(text), Some(BOOT));
        assert_eq!(BOOT.to_string(), text.trim());
        assert_eq!(
            split_boot(BOOT),
            [0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210]
        );
        for bad in [
            "",
            "0123456789abcdeffedcba9876543210",
            "01234567-89ab-cdef-fedc-ba987654321",
            "01234567-89ab-cdef-fedc-ba987654321g",
            "+1234567-89ab-cdef-fedc-ba9876543210",
        ] {
            assert_eq!(BootId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_record_from_another_boot_gives_no_interval() {
        let record = SharedRecord::new();
        record.write(synchronized(1_000, 0, 10, 2_000));
        let reader = BootId::from_u128(7);
        assert_eq!(
            record.interval_at(LocalInstant::from_nanos(1_500), reader),
            Err(ShmError::OtherBoot {
                record: BOOT,
                reader
            })
        );
        assert!(record
            .interval_at(LocalInstant::from_nanos(1_500), BOOT)
            .is_ok());
    }

    #[test]
    fn an_unwritten_record_is_refused() {
        let record = SharedRecord::new();
        assert_eq!(record.read(), Err(ShmError::BadMagic(0)));
    }

    #[test]
    fn now_is_the_sample_carried_forward() {
        let record = SharedRecord::new();
        record.write(synchronized(
            1_000,
            5_000_000_000,
            5_000_000_100,
            10_000_000_000,
        ));
        // 1 s later at 200 ppm: each end moves 1 s and widens by 200 us.
        let at = record
            .interval_at(LocalInstant::from_nanos(1_000_001_000), BOOT)
            .unwrap();
        assert_eq!(at.earliest().unix_nanos(), 6_000_000_000 - 200_000);
        assert_eq!(at.latest().unix_nanos(), 6_000_000_100 + 200_000);
    }

    #[test]
    fn void_future_and_unsynchronized_records_give_no_interval() {
        let record = SharedRecord::new();
        record.write(synchronized(1_000, 0, 10, 2_000));
        assert_eq!(
            record.interval_at(LocalInstant::from_nanos(2_001), BOOT),
            Err(ShmError::Void { late_ns: 1 })
        );
        assert_eq!(
            record.interval_at(LocalInstant::from_nanos(999), BOOT),
            Err(ShmError::FromTheFuture { ahead_ns: 1 })
        );
        record.write(Published::Unsynchronized);
        assert_eq!(
            record.interval_at(LocalInstant::from_nanos(1_500), BOOT),
            Err(ShmError::Unsynchronized)
        );
    }

    /// The one-pass check in `interval_at` answers exactly as
    /// `interval_from` on a decoded copy, good record or bad.
    #[test]
    fn interval_at_agrees_with_interval_from_on_every_kind_of_record() {
        let other_boot = BootId::from_u128(9);
        let records: [fn(&SharedRecord); 7] = [
            |r| r.write(synchronized(1_000, 5_000, 6_000, 9_000)),
            |r| {
                r.write(synchronized(1_000, 5_000, 6_000, 9_000));
                r.earliest_ns.store(6_001, Ordering::Relaxed);
            },
            |r| r.write(Published::Unsynchronized),
            |r| {
                r.write(synchronized(1_000, 5_000, 6_000, 9_000));
                r.magic.store(7, Ordering::Relaxed);
            },
            |r| {
                r.write(synchronized(1_000, 5_000, 6_000, 9_000));
                r.layout.store(2 | (128 << 32), Ordering::Relaxed);
            },
            |r| {
                r.write(synchronized(1_000, 5_000, 6_000, 9_000));
                r.boot_id_low.store(1, Ordering::Relaxed);
            },
            |r| {
                r.write(synchronized(1_000, 5_000, 6_000, 9_000));
                r.status.store(2, Ordering::Relaxed);
            },
        ];
        for (index, write) in records.iter().enumerate() {
            let record = SharedRecord::new();
            write(&record);
            for now in [0, 999, 1_000, 1_001, 5_000, 9_000, 9_001, i64::MAX] {
                for boot in [BOOT, other_boot] {
                    let now = LocalInstant::from_nanos(now);
                    let expected = record.read().and_then(|p| interval_from(p, now, boot));
                    assert_eq!(
                        record.interval_at(now, boot),
                        expected,
                        "record {index}, {now:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_wrong_layout_is_refused() {
        let record = SharedRecord::new();
        record.write(synchronized(0, 0, 0, 0));
        record.layout.store(2 | (128 << 32), Ordering::Relaxed);
        assert_eq!(
            record.read(),
            Err(ShmError::BadLayout {
                version: 2,
                size: 128
            })
        );
    }

    #[test]
    fn a_writer_stuck_inside_makes_readers_give_up() {
        let record = SharedRecord::new();
        record.write(synchronized(0, 0, 0, 0));
        record.sequence.fetch_add(1, Ordering::Relaxed);
        assert_eq!(record.read(), Err(ShmError::Busy));
    }

    /// A writer publishes as fast as it can; every record it writes
    /// satisfies `latest - earliest == local` and `void_after == 2 local`.
    /// Readers check that relation on every copy they accept: a torn copy
    /// (fields from two writes) breaks it.
    #[test]
    fn readers_never_accept_a_torn_record() {
        let record = Arc::new(SharedRecord::new());
        record.write(synchronized(1, 0, 1, 2));
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let record = Arc::clone(&record);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut n: i64 = 1;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    record.write(synchronized(n, n * 7, n * 8, 2 * n));
                }
                n
            })
        };
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let record = Arc::clone(&record);
                std::thread::spawn(move || {
                    let mut accepted = 0u64;
                    for _ in 0..200_000 {
                        match record.read() {
                            Ok(Published::Synchronized {
                                sample, void_after, ..
                            }) => {
                                let n = sample.local.nanos();
                                if n == 1 {
                                    assert_eq!(sample.interval.width_ns(), 1);
                                    continue;
                                }
                                assert_eq!(sample.interval.earliest().unix_nanos(), 7 * n);
                                assert_eq!(sample.interval.latest().unix_nanos(), 8 * n);
                                assert_eq!(void_after.nanos(), 2 * n);
                                accepted += 1;
                            }
                            Ok(Published::Unsynchronized) => panic!("never written"),
                            Err(ShmError::Busy) => {}
                            Err(e) => panic!("unexpected {e}"),
                        }
                    }
                    accepted
                })
            })
            .collect();
        let accepted: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
        stop.store(true, Ordering::Relaxed);
        let writes = writer.join().unwrap();
        assert!(accepted > 0, "no reader got a copy in {writes} writes");
    }
}
