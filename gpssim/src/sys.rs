//! The system calls the simulator needs, and nothing else: opening a
//! pseudo-terminal, raw mode, hang-up detection, an absolute sleep on
//! `CLOCK_REALTIME`, and a stop flag set by SIGTERM and SIGINT. Every
//! `unsafe` block in the crate is here.

use std::ffi::CStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The controlling side of a new pseudo-terminal, and the path of the side
/// a reader such as gpsd opens.
#[derive(Debug)]
pub struct Pty {
    /// The master side, non-blocking, close-on-exec.
    pub master: File,
    /// The slave side's device path, e.g. `/dev/pts/7`.
    pub slave_path: PathBuf,
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Opens a new pseudo-terminal in raw mode.
///
/// The slave side is opened and closed once before returning. Linux then
/// reports a hang-up on the master until a reader opens the slave, which
/// [`peer_hung_up`] uses to write nothing while no one listens: bytes written
/// before that would wait in the terminal's buffer and reach the reader
/// late, carrying an old second's label.
pub fn open_pty() -> io::Result<Pty> {
    // SAFETY: posix_openpt only takes flags; it returns a new descriptor or -1.
    let raw = check(unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY) })?;
    // SAFETY: `raw` was just returned by posix_openpt and is owned by no one else.
    let master = unsafe { OwnedFd::from_raw_fd(raw) };

    // SAFETY: `master` is an open pseudo-terminal master descriptor.
    check(unsafe { libc::grantpt(master.as_raw_fd()) })?;
    // SAFETY: as above.
    check(unsafe { libc::unlockpt(master.as_raw_fd()) })?;

    let mut name = [0u8; 128];
    // SAFETY: `name` is writable for `name.len()` bytes for the whole call;
    // ptsname_r writes a NUL-terminated path no longer than that, or fails.
    let rc = unsafe {
        libc::ptsname_r(
            master.as_raw_fd(),
            name.as_mut_ptr().cast::<libc::c_char>(),
            name.len(),
        )
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    let slave_path = CStr::from_bytes_until_nul(&name)
        .map_err(|_| io::Error::other("ptsname_r returned an unterminated name"))?
        .to_str()
        .map_err(|_| io::Error::other("ptsname_r returned a name that is not UTF-8"))?;
    let slave_path = PathBuf::from(slave_path);

    set_flags(master.as_fd())?;
    // On Linux a termios change made through the master applies to the slave.
    set_raw(master.as_fd())?;

    drop(
        OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&slave_path)?,
    );

    Ok(Pty {
        master: File::from(master),
        slave_path,
    })
}

/// Opens an existing terminal (a serial port, or one end of a socat pty
/// pair) for writing, non-blocking and in raw mode.
pub fn open_tty(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)?;
    // SAFETY: isatty only inspects the open descriptor it is given.
    if unsafe { libc::isatty(file.as_raw_fd()) } != 1 {
        return Err(io::Error::other("not a terminal"));
    }
    set_raw(file.as_fd())?;
    Ok(file)
}

fn set_flags(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: fcntl on an open descriptor with integer arguments only.
    let flags = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
    Ok(())
}

/// Raw mode: 8 data bits, no echo, no line editing, no CR/LF translation.
fn set_raw(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: termios is a plain C struct for which all-zero bytes are a
    // valid value; tcgetattr overwrites it before it is read.
    let mut settings: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `settings` is a valid, writable termios for the whole call.
    check(unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut settings) })?;
    // SAFETY: cfmakeraw only edits the struct it is given.
    unsafe { libc::cfmakeraw(&mut settings) };
    // SAFETY: `settings` is a valid termios, read by the call.
    check(unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, &settings) })?;
    Ok(())
}

/// Whether the other side of the terminal is closed (no one has the pty's
/// slave open, or the master of the pty whose slave we write is gone).
pub fn peer_hung_up(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut poll = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, count 1, zero timeout.
    check(unsafe { libc::poll(&mut poll, 1, 0) })?;
    Ok(poll.revents & libc::POLLHUP != 0)
}

/// How an absolute sleep ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slept {
    /// `CLOCK_REALTIME` reached the deadline.
    Reached,
    /// A signal arrived first.
    Interrupted,
}

/// Sleeps until `CLOCK_REALTIME` reads at least `deadline_ns` nanoseconds
/// since the epoch. The deadline is absolute (`TIMER_ABSTIME`), so the
/// kernel never returns early, and a step of the clock moves the wake-up
/// with it.
pub fn sleep_until_realtime(deadline_ns: i64) -> io::Result<Slept> {
    let deadline = libc::timespec {
        tv_sec: deadline_ns.div_euclid(1_000_000_000) as libc::time_t,
        tv_nsec: deadline_ns.rem_euclid(1_000_000_000) as libc::c_long,
    };
    // SAFETY: `deadline` is a valid timespec; the remaining-time pointer may
    // be null with TIMER_ABSTIME.
    let rc = unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_REALTIME,
            libc::TIMER_ABSTIME,
            &deadline,
            std::ptr::null_mut(),
        )
    };
    match rc {
        0 => Ok(Slept::Reached),
        libc::EINTR => Ok(Slept::Interrupted),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_signal: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Makes SIGTERM and SIGINT set the stop flag instead of killing the
/// process, and interrupt a sleep in progress (no `SA_RESTART`).
pub fn install_stop_handler() -> io::Result<()> {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: sigaction is a plain C struct for which all-zero bytes are
        // valid (no flags, empty mask, default handler), filled in below.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = request_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = 0;
        // SAFETY: `action.sa_mask` is a valid sigset_t owned by us.
        check(unsafe { libc::sigemptyset(&mut action.sa_mask) })?;
        // SAFETY: `action` is fully initialised; the handler only stores to
        // an atomic, which is async-signal-safe.
        check(unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) })?;
    }
    Ok(())
}

/// Whether SIGTERM or SIGINT has arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
