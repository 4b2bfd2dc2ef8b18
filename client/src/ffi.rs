//! The C ABI of the client library, declared in `include/truetime.h` and
//! built into `libtt_client.so`.
//!
//! Every function here:
//!
//! * checks each pointer argument for NULL before use and returns
//!   [`TT_ERR_NULL`] instead of touching it;
//! * returns a status code ([`TT_OK`] or a `TT_ERR_*` below, the same
//!   numbers as the header's `#define`s) and writes results only through
//!   its out-pointers, only on success;
//! * keeps the message of its last failure for the calling thread, read
//!   with [`tt_last_error`];
//! * never lets a panic cross into C: a panic is caught and reported as
//!   [`TT_ERR_PANIC`].
//!
//! Handles are opaque: `tt_truetime` wraps a [`TrueTime`], `tt_ids` a
//! [`SnowflakeGenerator`] reading its own clone of the handle, so closing
//! the `tt_truetime` an id generator was made from is allowed. Both may be
//! used from many threads at once.

use crate::ids::{IdError, SnowflakeGenerator};
use crate::shm::{MapError, DEFAULT_SHM_PATH};
use crate::source::{TimeError, TimeSource};
use crate::{OpenError, TrueTime, TrueTimeError, DEFAULT_SOCKET};
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;
use tt_core::shm::ShmError;
use tt_core::{Interval, Timestamp};

/// Success.
pub const TT_OK: c_int = 0;
/// A pointer argument that must not be NULL was NULL.
pub const TT_ERR_NULL: c_int = 1;
/// An argument is out of range: a path or socket that is not usable text,
/// a worker id above 1023, an id epoch in the future.
pub const TT_ERR_INVALID: c_int = 2;
/// `tt_open`: no record file, and the socket did not answer.
pub const TT_ERR_NO_SERVICE: c_int = 3;
/// The record is not a usable truetime record: too short, writable by
/// others, wrong magic or layout, inverted, from another boot or stamped
/// in the future.
pub const TT_ERR_BAD_RECORD: c_int = 4;
/// The timeslave is unsynchronized: no interval can be vouched for.
pub const TT_ERR_UNSYNCHRONIZED: c_int = 5;
/// The record is past its void-after instant: the timeslave stopped
/// renewing it (is it running?).
pub const TT_ERR_VOID: c_int = 6;
/// The timeslave could not be reached over gRPC or answered garbage, or
/// the record stayed mid-update.
pub const TT_ERR_UNAVAILABLE: c_int = 7;
/// A commit-wait that cannot end (drift bound of 100 % or more, or an
/// instant beyond the local clock's range).
pub const TT_ERR_CANNOT_WAIT: c_int = 8;
/// Ids: the 41-bit millisecond field has run out for this epoch.
pub const TT_ERR_ID_EXHAUSTED: c_int = 9;
/// Ids ran ahead of the time source by more than allowed (a stalled
/// source, or more than 4096 ids per millisecond for too long).
pub const TT_ERR_ID_RUN_AHEAD: c_int = 10;
/// A panic inside the library was caught; the handle may still be used.
pub const TT_ERR_PANIC: c_int = 99;

/// An interval of true time, UTC nanoseconds since the Unix epoch, both
/// ends included.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TtInterval {
    /// True time is not before this.
    pub earliest_ns: i64,
    /// True time is not after this.
    pub latest_ns: i64,
}

impl From<Interval> for TtInterval {
    fn from(interval: Interval) -> Self {
        TtInterval {
            earliest_ns: interval.earliest().unix_nanos(),
            latest_ns: interval.latest().unix_nanos(),
        }
    }
}

/// The opaque `tt_truetime`.
pub struct TtTrueTime {
    handle: TrueTime,
}

/// The opaque `tt_ids`.
pub struct TtIds {
    generator: SnowflakeGenerator,
}

/// A failure: the code for C and the message for `tt_last_error`.
type Failure = (c_int, String);

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    // A message with a NUL inside is cut there rather than lost.
    let bytes: Vec<u8> = message.bytes().take_while(|&b| b != 0).collect();
    let text = CString::new(bytes).unwrap_or_default();
    LAST_ERROR.with(|last| *last.borrow_mut() = text);
}

/// Runs `body`, turning its failure or panic into a status code.
fn guarded(body: impl FnOnce() -> Result<(), Failure>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => TT_OK,
        Ok(Err((code, message))) => {
            set_last_error(&message);
            code
        }
        Err(_) => {
            set_last_error("internal error: the library panicked; this is a bug in tt-client");
            TT_ERR_PANIC
        }
    }
}

fn null(name: &str) -> Failure {
    (TT_ERR_NULL, format!("`{name}` is NULL"))
}

fn time_failure(error: &TrueTimeError) -> Failure {
    let code = match error {
        TrueTimeError::Record(ShmError::Unsynchronized) | TrueTimeError::Unsynchronized(_) => {
            TT_ERR_UNSYNCHRONIZED
        }
        TrueTimeError::Record(ShmError::Void { .. }) => TT_ERR_VOID,
        TrueTimeError::Record(ShmError::Busy) | TrueTimeError::Unavailable(_) => TT_ERR_UNAVAILABLE,
        TrueTimeError::Record(_) => TT_ERR_BAD_RECORD,
        TrueTimeError::CannotWait(_) => TT_ERR_CANNOT_WAIT,
    };
    (code, error.to_string())
}

fn open_failure(error: &OpenError) -> Failure {
    let code = match error {
        OpenError::NoService { .. } | OpenError::Connect(_) => TT_ERR_NO_SERVICE,
        OpenError::Record(MapError::NotFound { .. }) => TT_ERR_NO_SERVICE,
        OpenError::Record(MapError::BootId(_) | MapError::Io { .. }) => TT_ERR_UNAVAILABLE,
        OpenError::Record(MapError::PermissionDenied { .. }) => TT_ERR_UNAVAILABLE,
        OpenError::Record(_) => TT_ERR_BAD_RECORD,
        OpenError::Runtime(_) => TT_ERR_UNAVAILABLE,
    };
    (code, error.to_string())
}

fn id_failure(error: &IdError) -> Failure {
    let code = match error {
        IdError::WorkerOutOfRange { .. }
        | IdError::SequenceOutOfRange { .. }
        | IdError::BeforeEpoch { .. } => TT_ERR_INVALID,
        IdError::Exhausted { .. } => TT_ERR_ID_EXHAUSTED,
        IdError::RunAhead { .. } => TT_ERR_ID_RUN_AHEAD,
        IdError::Time(TimeError::Unsynchronized(_)) => TT_ERR_UNSYNCHRONIZED,
        IdError::Time(TimeError::Unavailable(_)) => TT_ERR_UNAVAILABLE,
    };
    (code, error.to_string())
}

/// The text at `pointer`, or `None` for NULL.
///
/// # Safety
///
/// `pointer` is NULL or points to a NUL-terminated string that stays
/// valid for `'a`.
unsafe fn optional_text<'a>(pointer: *const c_char) -> Option<&'a [u8]> {
    if pointer.is_null() {
        return None;
    }
    // SAFETY: not NULL, and NUL-terminated and alive per this function's
    // contract.
    Some(unsafe { CStr::from_ptr(pointer) }.to_bytes())
}

/// Opens a handle: the record file at `shm_path` or, if no file is there,
/// gRPC to `socket`. NULL means the default of each
/// (`/run/truetime/timeslave.shm`, `/run/truetime/timeslave.sock`); an
/// empty `shm_path` means gRPC only, an empty `socket` means the record
/// only. On success `*out` holds a handle to release with [`tt_close`].
///
/// # Safety
///
/// `shm_path` and `socket` are NULL or NUL-terminated strings; `out` is
/// NULL or valid for writing one pointer.
#[no_mangle]
pub unsafe extern "C" fn tt_open(
    shm_path: *const c_char,
    socket: *const c_char,
    out: *mut *mut TtTrueTime,
) -> c_int {
    guarded(|| {
        if out.is_null() {
            return Err(null("out"));
        }
        // SAFETY: per this function's contract.
        let shm = unsafe { optional_text(shm_path) }.unwrap_or(DEFAULT_SHM_PATH.as_bytes());
        // SAFETY: per this function's contract.
        let socket = match unsafe { optional_text(socket) } {
            None => DEFAULT_SOCKET,
            Some(bytes) => std::str::from_utf8(bytes)
                .map_err(|_| (TT_ERR_INVALID, "`socket` is not UTF-8".to_string()))?,
        };
        let shm = Path::new(OsStr::from_bytes(shm));
        let opened = if shm.as_os_str().is_empty() {
            TrueTime::open_socket(socket)
        } else if socket.is_empty() {
            TrueTime::open_path(shm)
        } else {
            TrueTime::open_with(shm, socket)
        };
        let handle = opened.map_err(|e| open_failure(&e))?;
        let boxed = Box::into_raw(Box::new(TtTrueTime { handle }));
        // SAFETY: `out` is not NULL and valid for a write per the contract.
        unsafe { out.write(boxed) };
        Ok(())
    })
}

/// Releases a handle from [`tt_open`]; NULL is ignored.
///
/// # Safety
///
/// `tt` is NULL or a handle from `tt_open` not yet closed, and no other
/// thread uses it during or after the call.
#[no_mangle]
pub unsafe extern "C" fn tt_close(tt: *mut TtTrueTime) {
    if tt.is_null() {
        return;
    }
    // Dropping cannot usefully fail; a panic inside is swallowed rather
    // than unwound into C.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: a pointer from Box::into_raw in tt_open, released once
        // per the contract.
        drop(unsafe { Box::from_raw(tt) });
    }));
}

/// The handle behind `tt`.
///
/// # Safety
///
/// `tt` is NULL or a live handle from `tt_open`.
unsafe fn handle<'a>(tt: *const TtTrueTime) -> Result<&'a TrueTime, Failure> {
    if tt.is_null() {
        return Err(null("tt"));
    }
    // SAFETY: not NULL; live per the contract.
    Ok(&unsafe { &*tt }.handle)
}

/// `TT.now()`: writes an interval containing true time during the call.
///
/// # Safety
///
/// `tt` is NULL or a live handle; `out` is NULL or valid for writing one
/// `tt_interval`.
#[no_mangle]
pub unsafe extern "C" fn tt_now(tt: *const TtTrueTime, out: *mut TtInterval) -> c_int {
    guarded(|| {
        // SAFETY: per this function's contract.
        let handle = unsafe { handle(tt) }?;
        if out.is_null() {
            return Err(null("out"));
        }
        let interval = handle.now().map_err(|e| time_failure(&e))?;
        // SAFETY: not NULL; valid for a write per the contract.
        unsafe { out.write(interval.into()) };
        Ok(())
    })
}

/// `TT.after(t)`: `*out` = 1 if `t_ns` has surely passed
/// (`t_ns < now().earliest`), else 0.
///
/// # Safety
///
/// `tt` is NULL or a live handle; `out` is NULL or valid for writing one
/// `int`.
#[no_mangle]
pub unsafe extern "C" fn tt_after(tt: *const TtTrueTime, t_ns: i64, out: *mut c_int) -> c_int {
    guarded(|| {
        // SAFETY: per this function's contract.
        let handle = unsafe { handle(tt) }?;
        if out.is_null() {
            return Err(null("out"));
        }
        let after = handle
            .after(Timestamp::from_unix_nanos(t_ns))
            .map_err(|e| time_failure(&e))?;
        // SAFETY: not NULL; valid for a write per the contract.
        unsafe { out.write(c_int::from(after)) };
        Ok(())
    })
}

/// `TT.before(t)`: `*out` = 1 if `t_ns` has surely not arrived
/// (`t_ns > now().latest`), else 0.
///
/// # Safety
///
/// As [`tt_after`].
#[no_mangle]
pub unsafe extern "C" fn tt_before(tt: *const TtTrueTime, t_ns: i64, out: *mut c_int) -> c_int {
    guarded(|| {
        // SAFETY: per this function's contract.
        let handle = unsafe { handle(tt) }?;
        if out.is_null() {
            return Err(null("out"));
        }
        let before = handle
            .before(Timestamp::from_unix_nanos(t_ns))
            .map_err(|e| time_failure(&e))?;
        // SAFETY: not NULL; valid for a write per the contract.
        unsafe { out.write(c_int::from(before)) };
        Ok(())
    })
}

/// Commit-wait: blocks until `now().earliest > t_ns` and writes that
/// interval to `*out` (if `out` is not NULL).
///
/// # Safety
///
/// `tt` is NULL or a live handle; `out` is NULL or valid for writing one
/// `tt_interval`.
#[no_mangle]
pub unsafe extern "C" fn tt_commit_wait(
    tt: *const TtTrueTime,
    t_ns: i64,
    out: *mut TtInterval,
) -> c_int {
    guarded(|| {
        // SAFETY: per this function's contract.
        let handle = unsafe { handle(tt) }?;
        let interval = handle
            .wait_until_after(Timestamp::from_unix_nanos(t_ns))
            .map_err(|e| time_failure(&e))?;
        if !out.is_null() {
            // SAFETY: not NULL; valid for a write per the contract.
            unsafe { out.write(interval.into()) };
        }
        Ok(())
    })
}

/// A Snowflake id generator for `worker` (0 to 1023), counting
/// milliseconds from `epoch_ms` (ms since the Unix epoch; 1577836800000 is
/// 2020-01-01), reading time from `tt`. `ordered` non-zero makes every id
/// wait until true time is past its millisecond (ids then follow real-time
/// order across generators). Release with [`tt_ids_free`].
///
/// # Safety
///
/// `tt` is NULL or a live handle; `out` is NULL or valid for writing one
/// pointer.
#[no_mangle]
pub unsafe extern "C" fn tt_ids_new(
    tt: *const TtTrueTime,
    worker: u16,
    epoch_ms: i64,
    ordered: c_int,
    out: *mut *mut TtIds,
) -> c_int {
    guarded(|| {
        // SAFETY: per this function's contract.
        let handle = unsafe { handle(tt) }?;
        if out.is_null() {
            return Err(null("out"));
        }
        let source: Arc<dyn TimeSource> = Arc::new(handle.clone());
        let made = if ordered != 0 {
            SnowflakeGenerator::ordered(worker, epoch_ms, source)
        } else {
            SnowflakeGenerator::new(worker, epoch_ms, source)
        };
        let generator = made.map_err(|e| id_failure(&e))?;
        let boxed = Box::into_raw(Box::new(TtIds { generator }));
        // SAFETY: not NULL; valid for a write per the contract.
        unsafe { out.write(boxed) };
        Ok(())
    })
}

/// The next id, larger than every id this generator made before.
///
/// # Safety
///
/// `ids` is NULL or a live generator from `tt_ids_new`; `out` is NULL or
/// valid for writing one `uint64_t`.
#[no_mangle]
pub unsafe extern "C" fn tt_ids_next(ids: *const TtIds, out: *mut u64) -> c_int {
    guarded(|| {
        if ids.is_null() {
            return Err(null("ids"));
        }
        if out.is_null() {
            return Err(null("out"));
        }
        // SAFETY: not NULL; live per the contract.
        let generator = &unsafe { &*ids }.generator;
        let id = generator.next_id().map_err(|e| id_failure(&e))?;
        // SAFETY: not NULL; valid for a write per the contract.
        unsafe { out.write(id) };
        Ok(())
    })
}

/// Waits until true time is past the millisecond of every id this
/// generator made, so that a generator made afterwards for the same worker
/// (in any process) repeats none of them: `TT_OK`, or the time service's
/// failure, when no such promise can be made. See `tt_client::ids`.
///
/// # Safety
///
/// `ids` is NULL or a live generator from `tt_ids_new`.
#[no_mangle]
pub unsafe extern "C" fn tt_ids_retire(ids: *const TtIds) -> c_int {
    guarded(|| {
        if ids.is_null() {
            return Err(null("ids"));
        }
        // SAFETY: not NULL; live per the contract.
        let generator = &unsafe { &*ids }.generator;
        generator.retire().map_err(|e| id_failure(&e))
    })
}

/// Releases a generator from [`tt_ids_new`], first waiting as
/// [`tt_ids_retire`] does (a failure of that wait cannot be reported here);
/// NULL is ignored.
///
/// # Safety
///
/// `ids` is NULL or a generator not yet released, unused by other threads
/// during and after the call.
#[no_mangle]
pub unsafe extern "C" fn tt_ids_free(ids: *mut TtIds) {
    if ids.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: from Box::into_raw in tt_ids_new, released once per the
        // contract.
        drop(unsafe { Box::from_raw(ids) });
    }));
}

/// The name of a status code (`"TT_OK"`, `"TT_ERR_VOID"`, ...), or
/// `"unknown"`: a static string, never NULL.
#[no_mangle]
pub extern "C" fn tt_status_name(code: c_int) -> *const c_char {
    let name: &'static CStr = match code {
        TT_OK => c"TT_OK",
        TT_ERR_NULL => c"TT_ERR_NULL",
        TT_ERR_INVALID => c"TT_ERR_INVALID",
        TT_ERR_NO_SERVICE => c"TT_ERR_NO_SERVICE",
        TT_ERR_BAD_RECORD => c"TT_ERR_BAD_RECORD",
        TT_ERR_UNSYNCHRONIZED => c"TT_ERR_UNSYNCHRONIZED",
        TT_ERR_VOID => c"TT_ERR_VOID",
        TT_ERR_UNAVAILABLE => c"TT_ERR_UNAVAILABLE",
        TT_ERR_CANNOT_WAIT => c"TT_ERR_CANNOT_WAIT",
        TT_ERR_ID_EXHAUSTED => c"TT_ERR_ID_EXHAUSTED",
        TT_ERR_ID_RUN_AHEAD => c"TT_ERR_ID_RUN_AHEAD",
        TT_ERR_PANIC => c"TT_ERR_PANIC",
        _ => c"unknown",
    };
    name.as_ptr()
}

/// The message of the last failed call on this thread ("" if none): valid
/// until the next call into the library on this thread. Never NULL.
#[no_mangle]
pub extern "C" fn tt_last_error() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_arguments_are_refused_and_named() {
        let mut interval = TtInterval::default();
        // SAFETY: NULL handles are what is being tested.
        unsafe {
            assert_eq!(tt_now(std::ptr::null(), &mut interval), TT_ERR_NULL);
            assert_eq!(CStr::from_ptr(tt_last_error()).to_str(), Ok("`tt` is NULL"));
            assert_eq!(
                tt_open(std::ptr::null(), std::ptr::null(), std::ptr::null_mut()),
                TT_ERR_NULL
            );
            assert_eq!(
                CStr::from_ptr(tt_last_error()).to_str(),
                Ok("`out` is NULL")
            );
            assert_eq!(
                tt_commit_wait(std::ptr::null(), 0, &mut interval),
                TT_ERR_NULL
            );
            let mut id = 0;
            assert_eq!(tt_ids_next(std::ptr::null(), &mut id), TT_ERR_NULL);
            tt_close(std::ptr::null_mut());
            tt_ids_free(std::ptr::null_mut());
        }
        assert_eq!(interval, TtInterval::default());
    }

    #[test]
    fn a_panic_is_caught_and_reported() {
        let code = guarded(|| panic!("deliberately"));
        assert_eq!(code, TT_ERR_PANIC);
        // SAFETY: tt_last_error never returns NULL.
        let message = unsafe { CStr::from_ptr(tt_last_error()) };
        assert!(message.to_str().unwrap().contains("panicked"));
    }

    #[test]
    fn every_code_has_its_name() {
        for (code, name) in [
            (TT_OK, "TT_OK"),
            (TT_ERR_VOID, "TT_ERR_VOID"),
            (TT_ERR_PANIC, "TT_ERR_PANIC"),
            (12345, "unknown"),
        ] {
            // SAFETY: tt_status_name returns a static string.
            let shown = unsafe { CStr::from_ptr(tt_status_name(code)) };
            assert_eq!(shown.to_str(), Ok(name));
        }
    }

    #[test]
    fn the_header_defines_the_same_codes() {
        let header = include_str!("../include/truetime.h");
        let defined: Vec<(&str, c_int)> = header
            .lines()
            .filter_map(|line| {
                let mut words = line.strip_prefix("#define TT_")?.split_whitespace();
                let name = words.next()?;
                let value = words.next()?.parse().ok()?;
                Some((name, value))
            })
            .collect();
        let expected = [
            ("OK", TT_OK),
            ("ERR_NULL", TT_ERR_NULL),
            ("ERR_INVALID", TT_ERR_INVALID),
            ("ERR_NO_SERVICE", TT_ERR_NO_SERVICE),
            ("ERR_BAD_RECORD", TT_ERR_BAD_RECORD),
            ("ERR_UNSYNCHRONIZED", TT_ERR_UNSYNCHRONIZED),
            ("ERR_VOID", TT_ERR_VOID),
            ("ERR_UNAVAILABLE", TT_ERR_UNAVAILABLE),
            ("ERR_CANNOT_WAIT", TT_ERR_CANNOT_WAIT),
            ("ERR_ID_EXHAUSTED", TT_ERR_ID_EXHAUSTED),
            ("ERR_ID_RUN_AHEAD", TT_ERR_ID_RUN_AHEAD),
            ("ERR_PANIC", TT_ERR_PANIC),
        ];
        assert_eq!(defined, expected);
        for (name, code) in expected {
            // SAFETY: tt_status_name returns a static string.
            let shown = unsafe { CStr::from_ptr(tt_status_name(code)) };
            assert_eq!(shown.to_str(), Ok(format!("TT_{name}").as_str()));
        }
    }

    #[test]
    fn a_missing_record_and_socket_is_no_service() {
        let mut tt = std::ptr::null_mut();
        // SAFETY: C strings from literals; `tt` is a valid out-pointer.
        let code = unsafe {
            tt_open(
                c"/nonexistent/truetime.shm".as_ptr(),
                c"/nonexistent/truetime.sock".as_ptr(),
                &mut tt,
            )
        };
        assert_eq!(code, TT_ERR_NO_SERVICE);
        assert!(tt.is_null());
        // SAFETY: tt_last_error never returns NULL.
        let message = unsafe { CStr::from_ptr(tt_last_error()) }.to_str().unwrap();
        assert!(message.contains("/nonexistent/truetime.shm"), "{message}");
        assert!(message.contains("/nonexistent/truetime.sock"), "{message}");
    }
}
