//! The system calls that read a PTP hardware clock, and nothing else.
//!
//! A PHC is a character device (`/dev/ptpN`). Opened, its file
//! descriptor names a POSIX clock (`FD_TO_CLOCKID`, below), and three
//! ioctls compare it with the system clock (`include/uapi/linux/ptp_clock.h`):
//!
//! * `PTP_SYS_OFFSET_EXTENDED`: the driver reads the system clock, the
//!   PHC and the system clock again, as close together as its hardware
//!   allows (`gettimex64`), `n` times.
//! * `PTP_SYS_OFFSET`: the kernel alternates system clock and PHC reads,
//!   `sys, phc, sys, phc, ..., sys`, `2n + 1` values.
//! * none: `clock_gettime` on the system clock, the PHC's clock id and the
//!   system clock again, from user space.
//!
//! Every method yields [`Sandwich`]es whose outer reads are
//! `CLOCK_REALTIME` (the default of `PTP_SYS_OFFSET_EXTENDED`, and the
//! only choice of the other two on the kernels this targets). The ioctl
//! numbers and structures come from `libc`.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// `CLOCKFD` of the kernel's `posix-timers.h`: the low bits of a clock id
/// that names a clock by file descriptor.
const CLOCKFD: libc::clockid_t = 3;

/// The clock id of the PTP clock opened as `fd`:
/// `((~fd) << 3) | CLOCKFD` (`FD_TO_CLOCKID` in the kernel's
/// `include/linux/posix-timers.h`, and in `testptp.c`).
pub fn fd_to_clockid(fd: RawFd) -> libc::clockid_t {
    ((!fd) << 3) | CLOCKFD
}

/// The most samples one `PTP_SYS_OFFSET*` call takes
/// (`PTP_MAX_SAMPLES`).
pub const MAX_SAMPLES: u32 = libc::PTP_MAX_SAMPLES;

/// One device read between two system-clock reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sandwich {
    /// `CLOCK_REALTIME` just before the device read, ns since the epoch.
    pub before_ns: i64,
    /// The device's reading, ns on its own timescale.
    pub device_ns: i64,
    /// `CLOCK_REALTIME` just after the device read.
    pub after_ns: i64,
}

impl Sandwich {
    /// `after - before`, ns: how precisely the device read is placed on
    /// the system clock.
    pub fn span_ns(&self) -> i64 {
        self.after_ns.saturating_sub(self.before_ns)
    }
}

/// The sandwich with the smallest span, among those whose span is not
/// negative (a negative one means the system clock was stepped back in
/// between). `None` if there is none.
pub fn narrowest(sandwiches: &[Sandwich]) -> Option<Sandwich> {
    sandwiches
        .iter()
        .filter(|s| s.span_ns() >= 0)
        .min_by_key(|s| s.span_ns())
        .copied()
}

fn clock_time_ns(t: &libc::ptp_clock_time) -> io::Result<i64> {
    if i64::from(t.nsec) >= 1_000_000_000 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the kernel returned {} nanoseconds in a second", t.nsec),
        ));
    }
    Ok(t.sec
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(t.nsec)))
}

fn check_count(n: u32) -> u32 {
    n.clamp(1, MAX_SAMPLES)
}

/// `PTP_CLOCK_GETCAPS`: succeeds only on a PTP clock, so it is the test
/// that a file is one (any other file answers `ENOTTY`).
pub fn clock_caps(file: &File) -> io::Result<libc::ptp_clock_caps> {
    // SAFETY: ptp_clock_caps is plain data for which all-zero bytes are a
    // valid value.
    let mut caps: libc::ptp_clock_caps = unsafe { std::mem::zeroed() };
    // SAFETY: the fd is open for the whole call (borrowed from `file`);
    // the request's size matches `caps`, a live, exclusively borrowed
    // local the kernel writes into.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::PTP_CLOCK_GETCAPS, &mut caps) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(caps)
}

/// `PTP_SYS_OFFSET_EXTENDED` with `n` samples (1 to [`MAX_SAMPLES`]).
pub fn sys_offset_extended(file: &File, n: u32) -> io::Result<Vec<Sandwich>> {
    // SAFETY: ptp_sys_offset_extended is plain data; all-zero is valid and
    // means "system clock CLOCK_REALTIME" (clockid 0) with the reserved
    // words zero, as the kernel requires.
    let mut request: libc::ptp_sys_offset_extended = unsafe { std::mem::zeroed() };
    request.n_samples = check_count(n);
    // SAFETY: the fd is open for the call; the request's size matches the
    // struct, which is live and exclusively borrowed, and n_samples is at
    // most PTP_MAX_SAMPLES, the length of `ts`.
    let rc = unsafe {
        libc::ioctl(
            file.as_raw_fd(),
            libc::PTP_SYS_OFFSET_EXTENDED,
            &mut request,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let count = (request.n_samples as usize).min(request.ts.len());
    request.ts[..count]
        .iter()
        .map(|[before, device, after]| {
            Ok(Sandwich {
                before_ns: clock_time_ns(before)?,
                device_ns: clock_time_ns(device)?,
                after_ns: clock_time_ns(after)?,
            })
        })
        .collect()
}

/// `PTP_SYS_OFFSET` with `n` samples (1 to [`MAX_SAMPLES`]): the kernel
/// fills `2n + 1` stamps, system and device alternately, and each device
/// stamp is taken between its two neighbours.
pub fn sys_offset(file: &File, n: u32) -> io::Result<Vec<Sandwich>> {
    // SAFETY: ptp_sys_offset is plain data; all-zero (reserved words
    // included) is valid.
    let mut request: libc::ptp_sys_offset = unsafe { std::mem::zeroed() };
    request.n_samples = check_count(n);
    // SAFETY: the fd is open for the call; the request's size matches the
    // struct, live and exclusively borrowed; 2 * n_samples + 1 <= 51, the
    // length of `ts`.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::PTP_SYS_OFFSET, &mut request) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let count = (request.n_samples as usize).min((request.ts.len() - 1) / 2);
    (0..count)
        .map(|i| {
            Ok(Sandwich {
                before_ns: clock_time_ns(&request.ts[2 * i])?,
                device_ns: clock_time_ns(&request.ts[2 * i + 1])?,
                after_ns: clock_time_ns(&request.ts[2 * i + 2])?,
            })
        })
        .collect()
}

/// Reads POSIX clock `clock` once.
pub fn clock_gettime_ns(clock: libc::clockid_t) -> io::Result<i64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live, writable timespec; an unknown or closed
    // clock id makes the call fail with EINVAL, which is handled.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::useless_conversion)] // time_t and c_long are i32 on some targets
    let secs = i64::from(ts.tv_sec);
    #[allow(clippy::useless_conversion)]
    let nanos = i64::from(ts.tv_nsec);
    Ok(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
}

/// `n` sandwiches of `clock` between `CLOCK_REALTIME` reads, all from
/// user space: the method of last resort, and the one that runs on any
/// POSIX clock (`CLOCK_TAI` standing in for a PHC in tests).
pub fn clock_sandwiches(clock: libc::clockid_t, n: u32) -> io::Result<Vec<Sandwich>> {
    (0..check_count(n))
        .map(|_| {
            let before_ns = clock_gettime_ns(libc::CLOCK_REALTIME)?;
            let device_ns = clock_gettime_ns(clock)?;
            let after_ns = clock_gettime_ns(libc::CLOCK_REALTIME)?;
            Ok(Sandwich {
                before_ns,
                device_ns,
                after_ns,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_id_from_fd_follows_the_kernel_macro() {
        // fd 3: ~3 = -4; -4 << 3 = -32; -32 | 3 = -29.
        assert_eq!(fd_to_clockid(3), -29);
        // fd 0: ~0 = -1; -8 | 3 = -5.
        assert_eq!(fd_to_clockid(0), -5);
        // The kernel's CLOCKFD_MASK test: the low three bits are CLOCKFD,
        // and the fd comes back as ~(id >> 3).
        for fd in [0, 1, 7, 1000, 65_535] {
            let id = fd_to_clockid(fd);
            assert_eq!(id & 7, CLOCKFD);
            assert_eq!(!(id >> 3), fd);
        }
    }

    #[test]
    fn libc_structures_and_requests_match_the_kernel_header() {
        use std::mem::{offset_of, size_of};
        let probe = crate::c_probe::run(
            "ptp",
            "#include <linux/ptp_clock.h>",
            &[
                "sizeof(struct ptp_clock_time)",
                "sizeof(struct ptp_sys_offset)",
                "sizeof(struct ptp_sys_offset_extended)",
                "sizeof(struct ptp_clock_caps)",
                "offsetof(struct ptp_sys_offset, ts)",
                "offsetof(struct ptp_sys_offset_extended, ts)",
                "PTP_MAX_SAMPLES",
                "PTP_CLOCK_GETCAPS",
                "PTP_SYS_OFFSET",
                "PTP_SYS_OFFSET_EXTENDED",
            ],
        );
        let ours: [u64; 10] = [
            size_of::<libc::ptp_clock_time>() as u64,
            size_of::<libc::ptp_sys_offset>() as u64,
            size_of::<libc::ptp_sys_offset_extended>() as u64,
            size_of::<libc::ptp_clock_caps>() as u64,
            offset_of!(libc::ptp_sys_offset, ts) as u64,
            offset_of!(libc::ptp_sys_offset_extended, ts) as u64,
            u64::from(MAX_SAMPLES),
            crate::c_probe::request(libc::PTP_CLOCK_GETCAPS),
            crate::c_probe::request(libc::PTP_SYS_OFFSET),
            crate::c_probe::request(libc::PTP_SYS_OFFSET_EXTENDED),
        ];
        assert_eq!(probe, ours);
        // By hand, from the header: ptp_clock_time is s64 + u32 + u32 =
        // 16 bytes; ptp_sys_offset is 4 + 3*4 + 51*16 = 832;
        // ptp_sys_offset_extended is 4 + 3*4 + 25*3*16 = 1216.
        assert_eq!(&ours[..3], &[16, 832, 1216]);
    }

    #[test]
    fn narrowest_skips_inverted_sandwiches() {
        let s = |before, after| Sandwich {
            before_ns: before,
            device_ns: 0,
            after_ns: after,
        };
        assert_eq!(narrowest(&[]), None);
        let picked = narrowest(&[s(0, 900), s(1_000, 1_300), s(2_000, 1_990), s(3_000, 3_400)]);
        assert_eq!(picked, Some(s(1_000, 1_300)));
        assert_eq!(narrowest(&[s(10, 0)]), None);
    }

    #[test]
    fn ioctls_on_a_file_that_is_not_a_ptp_clock_fail_with_enotty() {
        let path = std::env::temp_dir().join(format!("tt-phc-not-a-clock-{}", std::process::id()));
        std::fs::write(&path, b"not a clock").unwrap();
        let file = File::open(&path).unwrap();
        for (what, result) in [
            ("PTP_CLOCK_GETCAPS", clock_caps(&file).map(|_| ())),
            (
                "PTP_SYS_OFFSET_EXTENDED",
                sys_offset_extended(&file, 5).map(|_| ()),
            ),
            ("PTP_SYS_OFFSET", sys_offset(&file, 5).map(|_| ())),
        ] {
            let err = result.expect_err(what);
            assert_eq!(err.raw_os_error(), Some(libc::ENOTTY), "{what}: {err}");
        }
        // The fd's clock id names no clock: the kernel refuses it.
        let err = clock_gettime_ns(fd_to_clockid(file.as_raw_fd())).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
        drop(file);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn plain_sandwiches_of_a_real_clock_are_ordered() {
        let sandwiches = clock_sandwiches(libc::CLOCK_TAI, 5).unwrap();
        assert_eq!(sandwiches.len(), 5);
        for s in &sandwiches {
            // CLOCK_REALTIME was read twice around the device read, so
            // (unless stepped back in between) after >= before.
            assert!(s.span_ns() >= 0, "{s:?}");
        }
        // The sample count is clamped to what the ioctls allow.
        assert_eq!(clock_sandwiches(libc::CLOCK_TAI, 0).unwrap().len(), 1);
        assert_eq!(
            clock_sandwiches(libc::CLOCK_TAI, 1000).unwrap().len(),
            MAX_SAMPLES as usize
        );
    }
}
