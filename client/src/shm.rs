//! A timeslave's shared-memory record, mapped read-only.
//!
//! The record (layout and seqlock in `tt_core::shm`) lies in a file the
//! timeslave writes, by default [`DEFAULT_SHM_PATH`]. This module opens it,
//! checks it, and maps it with `PROT_READ` from a descriptor opened
//! `O_RDONLY`: the client cannot write the record even by mistake. It is
//! the only place in this crate that holds a raw pointer.
//!
//! Checks made before mapping, each refused with its own error:
//!
//! * the path is a regular file (not a directory, device or FIFO);
//! * it holds at least `RECORD_SIZE` bytes. Touching a mapped page past
//!   the end of a file raises SIGBUS, so a short file is never mapped. The
//!   timeslave never truncates the file (it extends a short one and
//!   overwrites the record in place), so a file that was long enough when
//!   mapped stays so; only someone else truncating it by hand could break
//!   that;
//! * neither its group nor others may write it: whoever can write the
//!   record decides what time every client reads;
//! * if the record has been written, its magic number and layout are
//!   this library's (a file of zeros is accepted: the daemon has created
//!   it but not written yet, and reads say so).
//!
//! A mapping stays on the file it was made from. The timeslave never
//! replaces its file (a restarted daemon writes into the same one), but if
//! the file is deleted by hand and a daemon then creates a new one, a
//! handle opened before keeps reading the old record, which goes void by
//! itself (or says unsynchronized): such a handle does not follow the new
//! file and has to be opened again.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tt_core::shm::{BootId, Published, ShmError, RECORD_SIZE};
use tt_core::{Interval, LocalInstant};

/// Where a timeslave publishes its record unless configured otherwise.
pub const DEFAULT_SHM_PATH: &str = "/run/truetime/timeslave.shm";

/// Where the kernel shows the current boot's id.
const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// How often a read that found the writer inside the record is retried,
/// yielding the processor in between. The writer holds the record for a
/// few stores; only a writer descheduled (or killed) right there makes a
/// read wait, and after this many yields it reports the record busy.
const BUSY_RETRIES: usize = 100;

/// Why the record file could not be opened. Each message names the path
/// and what to check.
#[derive(Debug)]
pub enum MapError {
    /// No file at the path.
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// The file exists but this user may not read it.
    PermissionDenied {
        /// The path.
        path: PathBuf,
    },
    /// The path is a directory, device, FIFO or socket.
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file is shorter than a record.
    TooSmall {
        /// The path.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
    },
    /// Users other than the owner may write the file.
    WritableByOthers {
        /// The path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file holds something other than a truetime record.
    NotARecord {
        /// The path.
        path: PathBuf,
        /// What the record check found.
        error: ShmError,
    },
    /// This host's boot id could not be read.
    BootId(String),
    /// Any other failure to open or map the file.
    Io {
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        error: io::Error,
    },
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::NotFound { path } => write!(
                f,
                "no shared-memory record at {}; is timeslave running with shm-path set there?",
                path.display()
            ),
            MapError::PermissionDenied { path } => write!(
                f,
                "permission denied reading {}; the timeslave makes it mode 0644",
                path.display()
            ),
            MapError::NotAFile { path } => {
                write!(f, "{} is not a regular file", path.display())
            }
            MapError::TooSmall { path, size } => write!(
                f,
                "{} holds {size} bytes, fewer than a record's {RECORD_SIZE}; it is not a \
                 timeslave's record",
                path.display()
            ),
            MapError::WritableByOthers { path, mode } => write!(
                f,
                "{} is mode {mode:04o}: users other than its owner could forge the time; the \
                 timeslave makes it 0644",
                path.display()
            ),
            MapError::NotARecord { path, error } => write!(f, "{}: {error}", path.display()),
            MapError::BootId(why) => f.write_str(why),
            MapError::Io { path, error } => write!(f, "cannot map {}: {error}", path.display()),
        }
    }
}

impl std::error::Error for MapError {}

/// The current boot's id, from the kernel.
pub fn read_boot_id() -> Result<BootId, String> {
    let text = std::fs::read_to_string(BOOT_ID_PATH)
        .map_err(|e| format!("cannot read {BOOT_ID_PATH}: {e}; is /proc mounted?"))?;
    BootId::parse(&text)
        .ok_or_else(|| format!("{BOOT_ID_PATH} holds `{}`, not a UUID", text.trim()))
}

/// A record file mapped read-only, with this host's boot id. Reading it
/// makes no system call.
pub struct RecordMap {
    mapping: mapping::ReadOnlyRecord,
    path: PathBuf,
    boot: BootId,
}

impl fmt::Debug for RecordMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordMap")
            .field("path", &self.path)
            .field("boot", &self.boot)
            .finish()
    }
}

impl RecordMap {
    /// Opens, checks and maps the record file at `path` (see the module
    /// documentation for the checks).
    pub fn open(path: &Path) -> Result<RecordMap, MapError> {
        let boot = read_boot_id().map_err(MapError::BootId)?;
        let owned = || path.to_path_buf();
        let file = File::options()
            .read(true)
            // O_NONBLOCK: opening a FIFO would otherwise wait for a writer
            // before the check below could refuse it. A regular file
            // ignores the flag.
            .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(path)
            .map_err(|error| match error.kind() {
                io::ErrorKind::NotFound => MapError::NotFound { path: owned() },
                io::ErrorKind::PermissionDenied => MapError::PermissionDenied { path: owned() },
                _ => MapError::Io {
                    path: owned(),
                    error,
                },
            })?;
        let meta = file.metadata().map_err(|error| MapError::Io {
            path: owned(),
            error,
        })?;
        if !meta.is_file() {
            return Err(MapError::NotAFile { path: owned() });
        }
        if meta.len() < RECORD_SIZE as u64 {
            return Err(MapError::TooSmall {
                path: owned(),
                size: meta.len(),
            });
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(MapError::WritableByOthers {
                path: owned(),
                mode,
            });
        }

        let mapping = mapping::ReadOnlyRecord::map(&file).map_err(|error| MapError::Io {
            path: owned(),
            error,
        })?;
        let map = RecordMap {
            mapping,
            path: owned(),
            boot,
        };
        match map.read() {
            Err(error @ ShmError::BadLayout { .. }) => Err(MapError::NotARecord {
                path: owned(),
                error,
            }),
            Err(error @ ShmError::BadMagic(magic)) if magic != 0 => Err(MapError::NotARecord {
                path: owned(),
                error,
            }),
            // An odd sequence word: a writer inside, or a file that is no
            // record at all. A record's magic is 0 until its first write
            // stores it and the same from then on, so it tells which.
            Err(ShmError::Busy) => match map.record().magic() {
                0 | tt_core::shm::MAGIC => Ok(map),
                magic => Err(MapError::NotARecord {
                    path: owned(),
                    error: ShmError::BadMagic(magic),
                }),
            },
            _ => Ok(map),
        }
    }

    /// The mapped record, for reading only (a store would fault).
    #[inline]
    pub(crate) fn record(&self) -> &tt_core::shm::SharedRecord {
        self.mapping.record()
    }

    /// The path the record was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This host's boot, which the record must have been written in.
    #[inline]
    pub fn boot(&self) -> BootId {
        self.boot
    }

    /// A consistent copy of the record. A writer caught inside the record
    /// is waited for by yielding (see `BUSY_RETRIES`); only then is the
    /// record reported busy.
    #[inline]
    pub fn read(&self) -> Result<Published, ShmError> {
        match self.mapping.record().read() {
            Err(ShmError::Busy) => self.read_after_busy(),
            other => other,
        }
    }

    #[cold]
    fn read_after_busy(&self) -> Result<Published, ShmError> {
        let record = self.mapping.record();
        for _ in 0..BUSY_RETRIES {
            std::thread::yield_now();
            match record.read() {
                Err(ShmError::Busy) => {}
                other => return other,
            }
        }
        Err(ShmError::Busy)
    }

    /// True time at local instant `now` of this boot, from one copy of the
    /// record (`tt_core::shm::SharedRecord::interval_at`): refused if the
    /// record is unsynchronized, void, from another boot or stamped after
    /// `now`. No retry when the writer is inside the record.
    #[inline]
    pub fn interval_at(&self, now: LocalInstant) -> Result<Interval, ShmError> {
        self.mapping.record().interval_at(now, self.boot)
    }
}

/// The system calls: `mmap` and `munmap`. Nothing outside sees the
/// pointer, and nothing here can write through it.
mod mapping {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;
    use std::ptr::NonNull;
    use tt_core::shm::{SharedRecord, RECORD_SIZE};

    /// `RECORD_SIZE` bytes of a file, mapped shared and read-only.
    pub struct ReadOnlyRecord {
        record: NonNull<SharedRecord>,
    }

    // SAFETY: the mapping stays valid until drop and is only read through
    // `&SharedRecord`, whose fields are atomics: it may be shared with and
    // sent to other threads.
    unsafe impl Send for ReadOnlyRecord {}
    // SAFETY: as above.
    unsafe impl Sync for ReadOnlyRecord {}

    impl ReadOnlyRecord {
        /// Maps the first `RECORD_SIZE` bytes of `file`, which the caller
        /// has checked is a regular file at least that long.
        pub fn map(file: &File) -> io::Result<ReadOnlyRecord> {
            // SAFETY: a fresh mapping placed by the kernel (null hint); it
            // aliases no Rust object. The caller checked the file holds at
            // least RECORD_SIZE bytes, so every mapped byte is backed.
            let address = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    RECORD_SIZE,
                    libc::PROT_READ,
                    libc::MAP_SHARED,
                    file.as_raw_fd(),
                    0,
                )
            };
            if address == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            // Mappings start on a page boundary, which satisfies the
            // record's 64-byte alignment.
            let record = NonNull::new(address.cast::<SharedRecord>())
                .ok_or_else(|| io::Error::other("mmap returned a null mapping"))?;
            Ok(ReadOnlyRecord { record })
        }

        /// The record. Crate-private, and only [`SharedRecord::read`] is
        /// called on it: a store would fault on the read-only page.
        #[inline]
        pub fn record(&self) -> &SharedRecord {
            // SAFETY: a live, aligned mapping of RECORD_SIZE bytes until
            // `drop` (which needs `&mut self`, so the borrow ends first).
            // Every field is an atomic integer and any bit pattern is a
            // valid value, so whatever the file holds is a valid record.
            // The page is read-only; `SharedRecord::read` makes only
            // relaxed 8-byte loads and fences, which Rust guarantees to
            // work on read-only memory on 64-bit targets.
            unsafe { self.record.as_ref() }
        }
    }

    impl Drop for ReadOnlyRecord {
        fn drop(&mut self) {
            // SAFETY: unmaps exactly the mapping made in `map`; no borrow
            // of it outlives `self`.
            unsafe {
                libc::munmap(self.record.as_ptr().cast(), RECORD_SIZE);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boot_id_of_this_host_reads() {
        let first = read_boot_id().expect("this host has a boot id");
        // Two reads in one boot agree; the kernel draws it at random, so
        // it is not all zeros.
        assert_eq!(read_boot_id().unwrap(), first);
        assert_ne!(first.as_u128(), 0);
    }
}
