//! The kernel's RFC 2783 interface on `/dev/ppsN`, through ioctl: the
//! structures of `include/uapi/linux/pps.h` and the three calls a reader
//! needs. `libc` has neither the structures nor the request numbers, so
//! both are here: the structures as `#[repr(C)]` mirrors, the numbers
//! built with `libc::_IOR`/`libc::_IOWR` from the header's definitions.
//!
//! The header defines the requests with a *pointer* type as the size
//! argument (`_IOWR('p', 0xa4, struct pps_fdata *)`), so the size encoded
//! in each number is the size of a pointer (8 on 64-bit targets), not of
//! the structure; the mirrors below follow that.
//!
//! Sizes on x86-64 and other LP64 targets, from the header:
//!
//! ```text
//! struct pps_ktime   { __s64 sec; __s32 nsec; __u32 flags; }            8 + 4 + 4 = 16
//! struct pps_kinfo   { __u32 assert_sequence, clear_sequence;
//!                      struct pps_ktime assert_tu, clear_tu;
//!                      int current_mode; }                               4+4+16+16+4 = 44,
//!                                                                        padded to 48 (8-aligned)
//! struct pps_fdata   { struct pps_kinfo info; struct pps_ktime timeout; } 48 + 16 = 64
//! struct pps_kparams { int api_version, mode;
//!                      struct pps_ktime assert_off_tu, clear_off_tu; }   4+4+16+16 = 40
//! ```
//!
//! The unit tests compile the header with the system C compiler and check
//! these sizes, the field offsets and the request numbers against it.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// `struct pps_ktime`: a time stamp (or a timeout) as seconds and
/// nanoseconds.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PpsKtime {
    /// Seconds.
    pub sec: i64,
    /// Nanoseconds.
    pub nsec: i32,
    /// `PPS_TIME_INVALID` in a timeout means "wait for ever".
    pub flags: u32,
}

/// `struct pps_kinfo`: the last assert and clear events.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PpsKinfo {
    /// Count of assert events.
    pub assert_sequence: u32,
    /// Count of clear events.
    pub clear_sequence: u32,
    /// Time of the last assert event (`CLOCK_REALTIME`).
    pub assert_tu: PpsKtime,
    /// Time of the last clear event.
    pub clear_tu: PpsKtime,
    /// The mode bits in force.
    pub current_mode: libc::c_int,
}

/// `struct pps_fdata`: `PPS_FETCH`'s argument, the result and the timeout.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PpsFdata {
    /// Filled by the kernel.
    pub info: PpsKinfo,
    /// How long to wait for the next event.
    pub timeout: PpsKtime,
}

/// `struct pps_kparams`: `PPS_GETPARAMS`'s result.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PpsKparams {
    /// `PPS_API_VERS` (1).
    pub api_version: libc::c_int,
    /// The mode bits.
    pub mode: libc::c_int,
    /// Offset applied to assert events.
    pub assert_off_tu: PpsKtime,
    /// Offset applied to clear events.
    pub clear_off_tu: PpsKtime,
}

/// The ioctl type letter of the PPS interface.
const PPS_IOC_TYPE: u32 = b'p' as u32;

/// `PPS_GETPARAMS`: `_IOR('p', 0xa1, struct pps_kparams *)`.
pub const PPS_GETPARAMS: libc::Ioctl = libc::_IOR::<*mut PpsKparams>(PPS_IOC_TYPE, 0xa1);
/// `PPS_GETCAP`: `_IOR('p', 0xa3, int *)`.
pub const PPS_GETCAP: libc::Ioctl = libc::_IOR::<*mut libc::c_int>(PPS_IOC_TYPE, 0xa3);
/// `PPS_FETCH`: `_IOWR('p', 0xa4, struct pps_fdata *)`.
pub const PPS_FETCH: libc::Ioctl = libc::_IOWR::<*mut PpsFdata>(PPS_IOC_TYPE, 0xa4);

/// Capture assert events.
pub const PPS_CAPTUREASSERT: i32 = 0x01;
/// Capture clear events.
pub const PPS_CAPTURECLEAR: i32 = 0x02;
/// The device can wait for an event (`PPS_FETCH` with a timeout).
pub const PPS_CANWAIT: i32 = 0x100;
/// Time stamps as `struct timespec`.
pub const PPS_TSFMT_TSPEC: i32 = 0x1000;
/// In a timeout: no timeout, wait for ever.
pub const PPS_TIME_INVALID: u32 = 1;

/// `PPS_GETCAP`: the capability bits.
pub fn get_cap(file: &File) -> io::Result<i32> {
    let mut caps: libc::c_int = 0;
    // SAFETY: the fd is open for the call (borrowed from `file`); the
    // kernel writes one int through the pointer, to a live local.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), PPS_GETCAP, &mut caps as *mut libc::c_int) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(caps)
}

/// `PPS_GETPARAMS`: the parameters in force.
pub fn get_params(file: &File) -> io::Result<PpsKparams> {
    let mut params = PpsKparams::default();
    // SAFETY: the fd is open for the call; the kernel writes one struct
    // pps_kparams, whose layout PpsKparams mirrors (checked against the
    // header in the tests), to a live local.
    let rc = unsafe {
        libc::ioctl(
            file.as_raw_fd(),
            PPS_GETPARAMS,
            &mut params as *mut PpsKparams,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(params)
}

/// `PPS_FETCH`: waits up to `timeout` for the next event and returns the
/// latest events' data. `Ok(None)` when the wait timed out (`ETIMEDOUT`)
/// or a signal cut it short (`EINTR`).
pub fn fetch(file: &File, timeout: Duration) -> io::Result<Option<PpsKinfo>> {
    let mut data = PpsFdata {
        info: PpsKinfo::default(),
        timeout: PpsKtime {
            sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
            nsec: timeout.subsec_nanos() as i32,
            flags: 0,
        },
    };
    // SAFETY: the fd is open for the call; the kernel reads the timeout
    // from and writes the result into one struct pps_fdata, which PpsFdata
    // mirrors (checked against the header in the tests), a live local.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), PPS_FETCH, &mut data as *mut PpsFdata) };
    if rc < 0 {
        let error = io::Error::last_os_error();
        return match error.raw_os_error() {
            Some(libc::ETIMEDOUT) | Some(libc::EINTR) => Ok(None),
            _ => Err(error),
        };
    }
    Ok(Some(data.info))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::c_probe;
    use std::mem::{offset_of, size_of};

    #[test]
    fn structures_and_requests_match_the_kernel_header() {
        let probe = c_probe::run(
            "pps",
            "#include <linux/pps.h>",
            &[
                "sizeof(struct pps_ktime)",
                "sizeof(struct pps_kinfo)",
                "sizeof(struct pps_fdata)",
                "sizeof(struct pps_kparams)",
                "offsetof(struct pps_ktime, nsec)",
                "offsetof(struct pps_ktime, flags)",
                "offsetof(struct pps_kinfo, clear_sequence)",
                "offsetof(struct pps_kinfo, assert_tu)",
                "offsetof(struct pps_kinfo, clear_tu)",
                "offsetof(struct pps_kinfo, current_mode)",
                "offsetof(struct pps_fdata, timeout)",
                "offsetof(struct pps_kparams, mode)",
                "offsetof(struct pps_kparams, assert_off_tu)",
                "offsetof(struct pps_kparams, clear_off_tu)",
                "PPS_GETPARAMS",
                "PPS_GETCAP",
                "PPS_FETCH",
                "PPS_CAPTUREASSERT",
                "PPS_CAPTURECLEAR",
                "PPS_CANWAIT",
                "PPS_TSFMT_TSPEC",
                "PPS_TIME_INVALID",
            ],
        );
        let ours: [u64; 22] = [
            size_of::<PpsKtime>() as u64,
            size_of::<PpsKinfo>() as u64,
            size_of::<PpsFdata>() as u64,
            size_of::<PpsKparams>() as u64,
            offset_of!(PpsKtime, nsec) as u64,
            offset_of!(PpsKtime, flags) as u64,
            offset_of!(PpsKinfo, clear_sequence) as u64,
            offset_of!(PpsKinfo, assert_tu) as u64,
            offset_of!(PpsKinfo, clear_tu) as u64,
            offset_of!(PpsKinfo, current_mode) as u64,
            offset_of!(PpsFdata, timeout) as u64,
            offset_of!(PpsKparams, mode) as u64,
            offset_of!(PpsKparams, assert_off_tu) as u64,
            offset_of!(PpsKparams, clear_off_tu) as u64,
            c_probe::request(PPS_GETPARAMS),
            c_probe::request(PPS_GETCAP),
            c_probe::request(PPS_FETCH),
            PPS_CAPTUREASSERT as u64,
            PPS_CAPTURECLEAR as u64,
            PPS_CANWAIT as u64,
            PPS_TSFMT_TSPEC as u64,
            u64::from(PPS_TIME_INVALID),
        ];
        assert_eq!(probe, ours);
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn sizes_are_the_derived_ones() {
        // The values derived in the module documentation, independent of
        // a C compiler.
        assert_eq!(size_of::<PpsKtime>(), 16);
        assert_eq!(size_of::<PpsKinfo>(), 48);
        assert_eq!(size_of::<PpsFdata>(), 64);
        assert_eq!(size_of::<PpsKparams>(), 40);
        // _IOWR('p', 0xa4, 8 bytes) with the generic encoding: dir 3 << 30,
        // size 8 << 16, type 0x70 << 8, nr 0xa4.
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        assert_eq!(c_probe::request(PPS_FETCH), 0xC008_70A4);
    }

    #[test]
    fn ioctls_on_a_file_that_is_not_a_pps_device_fail_with_enotty() {
        let path = std::env::temp_dir().join(format!("tt-pps-not-a-device-{}", std::process::id()));
        std::fs::write(&path, b"not a pps device").unwrap();
        let file = File::open(&path).unwrap();
        let err = get_cap(&file).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTTY), "{err}");
        let err = get_params(&file).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTTY), "{err}");
        let err = fetch(&file, Duration::from_millis(10)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTTY), "{err}");
        drop(file);
        let _ = std::fs::remove_file(&path);
    }
}
