//! Publishing the combined interval in shared memory, so that local
//! programs read `TT.now()` with one clock read and no system call.
//!
//! The record's layout and its seqlock are `tt_core::shm`'s. It lives in a
//! file (by default `/run/truetime/timeslave.shm`) that clients map
//! read-only. Only the daemon writes it: the file is mode 0644 (set again
//! at every start, whatever it was), owned by the daemon's user (a file
//! owned by anyone else is refused), writable by that user alone and
//! readable by every local user (time is not a secret, and a client refuses
//! a record file that group or others may write). It is opened without
//! following a symbolic link, and only if it is a regular file.
//!
//! After every poll round the daemon writes, at the round's end `L`:
//!
//! * `Synchronized { sample, drift: rho, void_after: L_c + max_holdover,
//!   boot }` where `sample` is the combined sample, taken at `L_c` (`L_c =
//!   L` after a round that agreed, earlier during a holdover), while `L -
//!   L_c <= max_holdover`: exactly the sample the gRPC service carries
//!   forward, for exactly as long;
//! * `Unsynchronized` otherwise, and once at start-up and at a clean exit.
//!
//! Because `void_after` is in the record, a daemon that dies (or hangs)
//! leaves a record that goes void by itself at the instant its own holdover
//! would have ended; until then the record carried forward by `rho` still
//! holds true time, as the daemon's own answers would.
//!
//! The file is never truncated and never replaced. A restarted daemon opens
//! the same file and overwrites the record in place, so a client that
//! mapped it keeps reading the new daemon's records; and a client that
//! checked the file's size before mapping it can never touch a page past
//! the end of the file (which raises SIGBUS). A shorter file is extended to
//! the record's size; a longer one is left as it is.
//!
//! A seqlock has one writer: the daemon holds an exclusive `flock` on the
//! file while it publishes, and a second daemon pointed at the same file
//! refuses to start rather than interleave its writes with the first's.

use crate::combiner::Combiner;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tt_core::shm::{BootId, Published, SharedRecord, RECORD_SIZE};
use tt_core::LocalInstant;

/// Where the record is published unless configured otherwise.
pub const DEFAULT_SHM_PATH: &str = "/run/truetime/timeslave.shm";

/// Where the kernel shows the current boot's id.
const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// The mode of the record file: the daemon's user writes, everyone reads.
const RECORD_MODE: u32 = 0o644;

/// The current boot's id, from the kernel.
pub fn read_boot_id() -> Result<BootId, String> {
    let text = std::fs::read_to_string(BOOT_ID_PATH)
        .map_err(|e| format!("cannot read {BOOT_ID_PATH}: {e}; is /proc mounted?"))?;
    BootId::parse(&text)
        .ok_or_else(|| format!("{BOOT_ID_PATH} holds `{}`, not a UUID", text.trim()))
}

/// What to publish after a round that ended at local instant `at`: the
/// combined sample with its void-after instant while the combiner would
/// serve it, `Unsynchronized` otherwise.
pub fn record_for(combiner: &Combiner, at: LocalInstant, boot: BootId) -> Published {
    let limits = combiner.limits();
    match combiner.combined() {
        Some(sample) if combiner.now(at).is_ok() => {
            let holdover_ns = i64::try_from(limits.max_holdover.as_nanos()).unwrap_or(i64::MAX);
            Published::Synchronized {
                sample,
                drift: limits.drift,
                void_after: sample.local.saturating_add_nanos(holdover_ns),
                boot,
            }
        }
        _ => Published::Unsynchronized,
    }
}

/// The record file, mapped read-write, locked against other writers.
pub struct Publisher {
    path: PathBuf,
    boot: BootId,
    /// The lock makes writes from two threads of this process take turns;
    /// the seqlock allows one writer at a time.
    record: Mutex<mapping::WritableRecord>,
    /// Holds the `flock`; closing it releases the lock.
    _file: File,
}

impl Publisher {
    /// Opens (or creates, with its directory) the record file at `path`,
    /// takes the writer's lock, maps it and publishes `Unsynchronized`.
    /// The error is one line naming the path and what to do.
    pub fn create(path: &Path) -> Result<Publisher, String> {
        let shown = path.display();
        let boot = read_boot_id()?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                format!(
                    "cannot create {} for the shared-memory record: {e}; create it or set \
                     shm-path to another path",
                    parent.display()
                )
            })?;
        }

        // Anything but a regular file is left alone; a symbolic link is
        // not followed, so a root daemon never writes where a link points.
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(format!(
                    "{shown} is a symbolic link; set shm-path to the file itself"
                ))
            }
            Ok(meta) if !meta.file_type().is_file() => {
                return Err(format!(
                    "{shown} exists and is not a regular file; remove it or set shm-path to \
                     another path"
                ))
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot inspect {shown}: {e}")),
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(RECORD_MODE)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| {
                format!("cannot open {shown} for writing: {e}; check the directory's permissions")
            })?;
        if !mapping::try_lock_exclusive(&file).map_err(|e| format!("cannot lock {shown}: {e}"))? {
            return Err(format!(
                "{shown} is locked by another process; is another timeslave publishing there?"
            ));
        }

        let meta = file
            .metadata()
            .map_err(|e| format!("cannot inspect {shown}: {e}"))?;
        if !meta.is_file() {
            return Err(format!("{shown} is not a regular file"));
        }
        // A file another user owns stays writable by that user whatever
        // its mode says (a daemon running as root could open it): the
        // record would not be the daemon's alone.
        let own_uid = mapping::effective_uid();
        if meta.uid() != own_uid {
            return Err(format!(
                "{shown} is owned by uid {}, not by this daemon's user (uid {own_uid}), so \
                 its owner could forge the time clients read; remove it and let the daemon \
                 create it",
                meta.uid()
            ));
        }
        // Set every time: a mode someone widened would let others forge
        // the time every client reads.
        file.set_permissions(std::fs::Permissions::from_mode(RECORD_MODE))
            .map_err(|e| format!("cannot set {shown} to mode 0644: {e}"))?;
        let size = RECORD_SIZE as u64;
        if meta.len() < size {
            file.set_len(size)
                .map_err(|e| format!("cannot size {shown} to {size} bytes: {e}"))?;
        }

        let record =
            mapping::WritableRecord::map(&file).map_err(|e| format!("cannot map {shown}: {e}"))?;
        let publisher = Publisher {
            path: path.to_path_buf(),
            boot,
            record: Mutex::new(record),
            _file: file,
        };
        publisher.publish(Published::Unsynchronized);
        Ok(publisher)
    }

    /// Writes `what` into the record.
    pub fn publish(&self, what: Published) {
        // A poisoned lock only means a thread panicked between two whole
        // writes (a write itself cannot panic): the record is consistent.
        let record = self
            .record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        record.record().write(what);
    }

    /// Publishes what `combiner` serves after a round that ended at `at`
    /// (see [`record_for`]).
    pub fn publish_round(&self, combiner: &Combiner, at: LocalInstant) {
        self.publish(record_for(combiner, at, self.boot));
    }

    /// The record file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The boot the records are stamped with.
    pub fn boot(&self) -> BootId {
        self.boot
    }

    /// The record as mapped, for reading back.
    pub fn with_record<T>(&self, read: impl FnOnce(&SharedRecord) -> T) -> T {
        let record = self
            .record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        read(record.record())
    }
}

impl Drop for Publisher {
    /// A publisher going away (a clean exit, or an error path) leaves an
    /// unsynchronized record: nobody will renew it.
    fn drop(&mut self) {
        self.publish(Published::Unsynchronized);
    }
}

/// The system calls: `mmap`, `munmap` and `flock`. Nothing outside sees a
/// raw pointer.
mod mapping {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;
    use std::ptr::NonNull;
    use tt_core::shm::{SharedRecord, RECORD_SIZE};

    /// `RECORD_SIZE` bytes of a file, mapped shared and writable.
    pub struct WritableRecord {
        record: NonNull<SharedRecord>,
    }

    // SAFETY: the mapping is plain memory that stays valid until drop, and
    // `SharedRecord` is made of atomics, so it may be shared and sent
    // between threads like any `&SharedRecord`.
    unsafe impl Send for WritableRecord {}
    // SAFETY: as above; every access goes through `&SharedRecord`.
    unsafe impl Sync for WritableRecord {}

    impl WritableRecord {
        /// Maps the first `RECORD_SIZE` bytes of `file`, which the caller
        /// has made at least that long and opened read-write.
        pub fn map(file: &File) -> io::Result<WritableRecord> {
            let length = file.metadata()?.len();
            if length < RECORD_SIZE as u64 {
                return Err(io::Error::other(format!(
                    "the file holds {length} bytes, fewer than the record's {RECORD_SIZE}"
                )));
            }
            // SAFETY: a fresh mapping chosen by the kernel (null hint) over
            // an open descriptor; it aliases no Rust object. The file is at
            // least RECORD_SIZE bytes long (checked above), so every byte
            // of the mapping is backed.
            let address = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    RECORD_SIZE,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    file.as_raw_fd(),
                    0,
                )
            };
            if address == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            // A mapping starts on a page boundary, which satisfies the
            // record's 64-byte alignment.
            let record = NonNull::new(address.cast::<SharedRecord>())
                .ok_or_else(|| io::Error::other("mmap returned a null mapping"))?;
            Ok(WritableRecord { record })
        }

        /// The record in the mapping.
        pub fn record(&self) -> &SharedRecord {
            // SAFETY: the pointer is a live, aligned mapping of
            // RECORD_SIZE bytes (see `map`) until `drop`, which needs
            // `&mut self`, so it outlives the borrow. Every field is an
            // atomic and any bit pattern is a valid value of it, so
            // whatever the file held (or another writer stores) is a valid
            // `SharedRecord`.
            unsafe { self.record.as_ref() }
        }
    }

    impl Drop for WritableRecord {
        fn drop(&mut self) {
            // SAFETY: unmaps exactly the mapping made in `map`; no borrow
            // of it can outlive `self`.
            unsafe {
                libc::munmap(self.record.as_ptr().cast(), RECORD_SIZE);
            }
        }
    }

    /// The process's effective user id.
    pub fn effective_uid() -> u32 {
        // SAFETY: geteuid takes no arguments, touches no memory of ours
        // and cannot fail.
        unsafe { libc::geteuid() }
    }

    /// Takes an exclusive `flock` on `file` without waiting: `Ok(false)`
    /// when another open file description holds it.
    pub fn try_lock_exclusive(file: &File) -> io::Result<bool> {
        // SAFETY: flock on a descriptor `file` keeps open for the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(true);
        }
        let error = io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Ok(false);
        }
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::combiner::{Limits, PollOutcome};
    use std::time::Duration;
    use tt_core::shm::ShmError;
    use tt_core::{Drift, Interval, Sample};

    const BOOT: BootId = BootId::from_u128(42);

    fn limits() -> Limits {
        Limits {
            max_falsetickers: 0,
            drift: Drift::from_ppm(200),
            max_sample_age: Duration::from_secs(2),
            max_holdover: Duration::from_secs(5),
        }
    }

    fn answer(local: i64, earliest: i64, latest: i64) -> PollOutcome {
        PollOutcome::Answer {
            sample: Sample::new(
                LocalInstant::from_nanos(local),
                Interval::from_unix_nanos(earliest, latest).unwrap(),
            ),
            rtt_ns: 0,
        }
    }

    /// A directory removed when the test ends.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let path = std::env::temp_dir()
                .join(format!("timeslave-publish-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_round_that_agreed_publishes_the_combined_sample_until_the_holdover_ends() {
        let mut combiner = Combiner::new(1, limits());
        assert_eq!(
            record_for(&combiner, LocalInstant::from_nanos(0), BOOT),
            Published::Unsynchronized
        );

        combiner.record(0, answer(1_000, 5_000, 6_000));
        combiner.combine(LocalInstant::from_nanos(2_000));
        let published = record_for(&combiner, LocalInstant::from_nanos(2_000), BOOT);
        // The master's sample carried from 1000 to 2000 at 200 ppm: 1000 ns
        // later, widened by ceil(1000 * 0.0002) = 1 ns each side.
        let expected_sample = Sample::new(
            LocalInstant::from_nanos(2_000),
            Interval::from_unix_nanos(5_999, 7_001).unwrap(),
        );
        assert_eq!(
            published,
            Published::Synchronized {
                sample: expected_sample,
                drift: Drift::from_ppm(200),
                void_after: LocalInstant::from_nanos(2_000 + 5_000_000_000),
                boot: BOOT,
            }
        );

        // A round that fails keeps the old sample and its void-after
        // instant while the holdover lasts, then turns unsynchronized.
        combiner.record(0, PollOutcome::Unreachable("refused".into()));
        combiner.combine(LocalInstant::from_nanos(1_000_000_000));
        assert_eq!(
            record_for(&combiner, LocalInstant::from_nanos(1_000_000_000), BOOT),
            published
        );
        let past_holdover = LocalInstant::from_nanos(2_000 + 5_000_000_001);
        combiner.combine(past_holdover);
        assert_eq!(
            record_for(&combiner, past_holdover, BOOT),
            Published::Unsynchronized
        );
    }

    #[test]
    fn the_file_is_created_sized_locked_and_marked_unsynchronized_on_drop() {
        let dir = TempDir::new("create");
        let path = dir.0.join("run/truetime/slave.shm");
        let publisher = Publisher::create(&path).expect("publisher");
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), RECORD_SIZE as u64);
        assert_eq!(meta.permissions().mode() & 0o777, 0o644);
        publisher.with_record(|record| {
            assert_eq!(record.read(), Ok(Published::Unsynchronized));
        });

        // A second writer on the same file is refused.
        let second = Publisher::create(&path).err().expect("refused");
        assert!(second.contains("locked by another process"), "{second}");

        let sample = Sample::new(
            LocalInstant::from_nanos(10),
            Interval::from_unix_nanos(100, 200).unwrap(),
        );
        let synchronized = Published::Synchronized {
            sample,
            drift: Drift::from_ppm(200),
            void_after: LocalInstant::from_nanos(1_000),
            boot: publisher.boot(),
        };
        publisher.publish(synchronized);
        publisher.with_record(|record| assert_eq!(record.read(), Ok(synchronized)));
        drop(publisher);

        // The record stays, unsynchronized; a new publisher reuses the file
        // (same inode) and writes over it.
        use std::os::unix::fs::MetadataExt;
        let inode = std::fs::metadata(&path).unwrap().ino();
        let again = Publisher::create(&path).expect("reopened");
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode);
        again.with_record(|record| {
            assert_eq!(
                record.interval_at(LocalInstant::from_nanos(20), again.boot()),
                Err(ShmError::Unsynchronized)
            );
        });
    }

    #[test]
    fn a_short_file_is_extended_and_a_long_one_kept() {
        let dir = TempDir::new("sizes");
        std::fs::create_dir_all(&dir.0).unwrap();
        let short = dir.0.join("short.shm");
        std::fs::write(&short, [0u8; 10]).unwrap();
        drop(Publisher::create(&short).expect("short file"));
        assert_eq!(std::fs::metadata(&short).unwrap().len(), RECORD_SIZE as u64);

        let long = dir.0.join("long.shm");
        std::fs::write(&long, vec![0u8; 4096]).unwrap();
        drop(Publisher::create(&long).expect("long file"));
        assert_eq!(std::fs::metadata(&long).unwrap().len(), 4096);
    }

    #[test]
    fn a_file_another_user_owns_is_refused_whatever_its_mode() {
        let dir = TempDir::new("owner");
        std::fs::create_dir_all(&dir.0).unwrap();
        let theirs = dir.0.join("theirs.shm");
        std::fs::write(&theirs, [0u8; RECORD_SIZE]).unwrap();
        // uid 65534 is `nobody`; giving a file away needs root, which the
        // test runs as (as CI does).
        std::os::unix::fs::chown(&theirs, Some(65534), None)
            .expect("the tests run as root, which may give a file to another user");
        let error = Publisher::create(&theirs).err().expect("refused");
        assert!(error.contains("owned by uid 65534"), "{error}");
        // Nothing was written: the record is still all zeros.
        assert!(std::fs::read(&theirs).unwrap().iter().all(|&b| b == 0));
    }

    #[test]
    fn links_and_other_file_kinds_are_never_written() {
        let dir = TempDir::new("kinds");
        std::fs::create_dir_all(&dir.0).unwrap();
        let target = dir.0.join("precious");
        std::fs::write(&target, "precious").unwrap();
        let link = dir.0.join("link.shm");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let error = Publisher::create(&link).err().expect("refused");
        assert!(error.contains("symbolic link"), "{error}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");

        let error = Publisher::create(&dir.0).err().expect("refused");
        assert!(error.contains("not a regular file"), "{error}");
    }
}
