//! The TrueTime handle on record files written by the test: the interval
//! it hands out is the record carried to the instant of the call, and
//! every kind of bad record is refused.

mod record;

use record::{boottime_ns, carried_to, write, Fields, TempDir};
use std::os::unix::fs::PermissionsExt;
use tt_client::shm::MapError;
use tt_client::{OpenError, Transport, TrueTime, TrueTimeError};
use tt_core::shm::ShmError;
use tt_core::Timestamp;

/// 2026-12-04T16:00:00Z, nanoseconds.
const TRUTH_NS: i64 = 1_796_400_000_000_000_000;
const MINUTE_NS: i64 = 60_000_000_000;

fn open(path: &std::path::Path) -> TrueTime {
    TrueTime::open_path(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

#[test]
fn now_is_the_record_carried_to_the_call() {
    let dir = TempDir::new("carried");
    let path = dir.join("slave.shm");
    // Written 2 ms ago, 10 us wide, 200 ppm, void a minute from now.
    let local = boottime_ns() - 2_000_000;
    let fields = Fields::synchronized(
        local,
        TRUTH_NS,
        TRUTH_NS + 10_000,
        200_000,
        local + MINUTE_NS,
    );
    write(&path, &fields.bytes());

    let tt = open(&path);
    assert_eq!(tt.transport(), Transport::SharedMemory(path.clone()));
    for _ in 0..1000 {
        let from = boottime_ns();
        let interval = tt.now().expect("synchronized");
        let to = boottime_ns();
        let at = carried_to(
            &fields,
            interval.earliest().unix_nanos(),
            interval.latest().unix_nanos(),
            from,
            to,
        );
        // At least 2 ms after the sample: 2 * ceil(2 ms * 200 ppm) = 800 ns
        // wider than the record.
        assert!(at - local >= 2_000_000);
        assert!(interval.width_ns() >= 10_000 + 800);
    }
}

#[test]
fn after_and_before_follow_the_ends_of_now() {
    let dir = TempDir::new("after");
    let path = dir.join("slave.shm");
    let local = boottime_ns();
    let fields = Fields::synchronized(
        local,
        TRUTH_NS,
        TRUTH_NS + 1_000_000,
        200_000,
        local + MINUTE_NS,
    );
    write(&path, &fields.bytes());
    let tt = open(&path);

    // Right after the record: now ~ [TRUTH, TRUTH + 1 ms] plus a few
    // microseconds. A second ago has surely passed; an hour ahead has
    // surely not come; the middle of the interval is neither.
    let hour_ns = 3_600_000_000_000;
    assert!(tt
        .after(Timestamp::from_unix_nanos(TRUTH_NS - 1_000_000_000))
        .unwrap());
    assert!(!tt
        .before(Timestamp::from_unix_nanos(TRUTH_NS - 1_000_000_000))
        .unwrap());
    assert!(tt
        .before(Timestamp::from_unix_nanos(TRUTH_NS + hour_ns))
        .unwrap());
    assert!(!tt
        .after(Timestamp::from_unix_nanos(TRUTH_NS + hour_ns))
        .unwrap());
    let middle = Timestamp::from_unix_nanos(TRUTH_NS + 500_000);
    assert!(!tt.after(middle).unwrap());
    assert!(!tt.before(middle).unwrap());
}

fn now_error(fields: &Fields, name: &str) -> TrueTimeError {
    let dir = TempDir::new(name);
    let path = dir.join("slave.shm");
    write(&path, &fields.bytes());
    open(&path).now().expect_err("refused")
}

#[test]
fn a_record_past_its_void_after_instant_is_void() {
    // Written a minute ago, void since 50 s ago: a daemon that died.
    let local = boottime_ns() - MINUTE_NS;
    let fields = Fields::synchronized(
        local,
        TRUTH_NS,
        TRUTH_NS + 10,
        200_000,
        local + 10_000_000_000,
    );
    match now_error(&fields, "void") {
        TrueTimeError::Record(ShmError::Void { late_ns }) => {
            assert!(late_ns >= 50_000_000_000, "late by {late_ns} ns")
        }
        other => panic!("expected void, got {other:?}"),
    }
}

#[test]
fn an_unsynchronized_record_gives_no_interval() {
    let local = boottime_ns();
    let mut fields =
        Fields::synchronized(local, TRUTH_NS, TRUTH_NS + 10, 200_000, local + MINUTE_NS);
    fields.status = 0;
    assert_eq!(
        now_error(&fields, "unsync"),
        TrueTimeError::Record(ShmError::Unsynchronized)
    );
    // Any status but 1 counts as unsynchronized.
    fields.status = 7;
    assert_eq!(
        now_error(&fields, "status7"),
        TrueTimeError::Record(ShmError::Unsynchronized)
    );
}

#[test]
fn a_record_from_another_boot_or_the_future_is_refused() {
    let local = boottime_ns();
    let mut fields =
        Fields::synchronized(local, TRUTH_NS, TRUTH_NS + 10, 200_000, local + MINUTE_NS);
    fields.boot ^= 1;
    assert!(matches!(
        now_error(&fields, "boot"),
        TrueTimeError::Record(ShmError::OtherBoot { .. })
    ));

    // Stamped a minute ahead of this host's clock.
    let ahead = Fields::synchronized(
        local + MINUTE_NS,
        TRUTH_NS,
        TRUTH_NS + 10,
        200_000,
        local + 2 * MINUTE_NS,
    );
    assert!(matches!(
        now_error(&ahead, "future"),
        TrueTimeError::Record(ShmError::FromTheFuture { .. })
    ));
}

#[test]
fn an_inverted_record_is_corrupt() {
    let local = boottime_ns();
    let fields = Fields::synchronized(local, TRUTH_NS + 10, TRUTH_NS, 200_000, local + MINUTE_NS);
    assert_eq!(
        now_error(&fields, "inverted"),
        TrueTimeError::Record(ShmError::Corrupt)
    );
}

fn open_error(bytes: &[u8], name: &str) -> MapError {
    let dir = TempDir::new(name);
    let path = dir.join("slave.shm");
    write(&path, bytes);
    match TrueTime::open_path(&path) {
        Err(OpenError::Record(error)) => error,
        Err(other) => panic!("expected a record error, got {other}"),
        Ok(_) => panic!("opened a bad record file"),
    }
}

#[test]
fn wrong_magic_or_layout_is_not_a_record() {
    let local = boottime_ns();
    let mut fields =
        Fields::synchronized(local, TRUTH_NS, TRUTH_NS + 10, 200_000, local + MINUTE_NS);
    fields.magic = *b"TTSHMv02";
    let error = open_error(&fields.bytes(), "magic");
    assert!(
        matches!(
            error,
            MapError::NotARecord {
                error: ShmError::BadMagic(_),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("not a truetime record"),
        "{error}"
    );

    fields.magic = *b"TTSHMv01";
    fields.version = 2;
    let error = open_error(&fields.bytes(), "layout");
    assert!(
        matches!(
            error,
            MapError::NotARecord {
                error: ShmError::BadLayout {
                    version: 2,
                    size: 128
                },
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_truncated_file_is_never_mapped() {
    let local = boottime_ns();
    let fields = Fields::synchronized(local, TRUTH_NS, TRUTH_NS + 10, 200_000, local + MINUTE_NS);
    // Every length short of the record, down to an empty file.
    for length in [127, 64, 8, 0] {
        let error = open_error(&fields.bytes()[..length], &format!("short{length}"));
        assert!(
            matches!(error, MapError::TooSmall { size, .. } if size == length as u64),
            "{length}: {error:?}"
        );
    }
}

#[test]
fn a_file_of_zeros_opens_but_gives_no_interval() {
    // What the daemon leaves between creating the file and its first
    // write: nothing is claimed, so nothing is handed out.
    let dir = TempDir::new("zeros");
    let path = dir.join("slave.shm");
    write(&path, &[0u8; 128]);
    let tt = open(&path);
    assert_eq!(tt.now(), Err(TrueTimeError::Record(ShmError::BadMagic(0))));
}

#[test]
fn a_file_others_may_write_is_refused() {
    let dir = TempDir::new("mode");
    let path = dir.join("slave.shm");
    let local = boottime_ns();
    let fields = Fields::synchronized(local, TRUTH_NS, TRUTH_NS + 10, 200_000, local + MINUTE_NS);
    for mode in [0o666, 0o646, 0o664] {
        write(&path, &fields.bytes());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        match TrueTime::open_path(&path) {
            Err(OpenError::Record(MapError::WritableByOthers { mode: found, .. })) => {
                assert_eq!(found, mode)
            }
            other => panic!("mode {mode:o}: {other:?}"),
        }
    }
}

#[test]
fn missing_files_and_directories_are_named() {
    let dir = TempDir::new("kinds");
    let missing = dir.join("absent.shm");
    let error = TrueTime::open_path(&missing).unwrap_err();
    assert!(
        matches!(error, OpenError::Record(MapError::NotFound { .. })),
        "{error:?}"
    );
    assert!(error.to_string().contains(&missing.display().to_string()));

    let error = TrueTime::open_path(&dir.0).unwrap_err();
    assert!(
        matches!(error, OpenError::Record(MapError::NotAFile { .. })),
        "{error:?}"
    );
}

#[test]
fn a_text_file_whose_sequence_word_is_odd_is_not_a_record() {
    // 128 bytes of text: byte 16 (the low byte of the sequence word) is
    // '1', 0x31, odd, as if a writer were inside. The magic, "the time",
    // says it is no record.
    let text = b"the time is now:1 o'clock, or so this file says. ".repeat(3);
    assert_eq!(text[16] & 1, 1, "the sequence word is odd");
    let error = open_error(&text[..128], "text");
    assert!(
        matches!(
            error,
            MapError::NotARecord {
                error: ShmError::BadMagic(magic),
                ..
            } if magic == u64::from_le_bytes(*b"the time")
        ),
        "{error:?}"
    );
}

#[test]
fn a_fifo_is_refused_without_waiting_for_a_writer() {
    let dir = TempDir::new("fifo");
    let path = dir.join("slave.shm");
    let c_path = std::ffi::CString::new(path.to_str().expect("utf-8")).expect("no NUL");
    // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
    // Opening it for reading would block until a writer came; the open
    // below must return at once with the file-kind error.
    let error = TrueTime::open_path(&path).unwrap_err();
    assert!(
        matches!(error, OpenError::Record(MapError::NotAFile { .. })),
        "{error:?}"
    );
}

#[test]
fn a_broken_record_file_is_an_error_not_a_reason_to_fall_back() {
    let dir = TempDir::new("nofallback");
    let path = dir.join("slave.shm");
    write(&path, &[0u8; 16]);
    let error = TrueTime::open_with(&path, "/nonexistent/slave.sock").unwrap_err();
    assert!(
        matches!(
            error,
            OpenError::Record(MapError::TooSmall { size: 16, .. })
        ),
        "{error:?}"
    );
}
