//! Record files written byte by byte from the layout table in
//! `tt_core::shm`'s documentation, so the tests check the client against
//! the documented layout rather than against the code that writes it.

#![allow(dead_code)]

use std::fs::File;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The fields of the record, at the offsets of the layout table.
#[derive(Clone, Copy, Debug)]
pub struct Fields {
    pub magic: [u8; 8],
    pub version: u32,
    pub size: u32,
    pub sequence: u64,
    pub local_ns: i64,
    pub earliest_ns: i64,
    pub latest_ns: i64,
    pub drift_ppb: u64,
    pub void_after_ns: i64,
    pub status: u64,
    pub boot: u128,
}

impl Fields {
    /// A synchronized record of this boot: at `local_ns` true time lay in
    /// `[earliest_ns, latest_ns]`, carried with `drift_ppb`, void after
    /// `void_after_ns`.
    pub fn synchronized(
        local_ns: i64,
        earliest_ns: i64,
        latest_ns: i64,
        drift_ppb: u64,
        void_after_ns: i64,
    ) -> Fields {
        Fields {
            magic: *b"TTSHMv01",
            version: 1,
            size: 128,
            sequence: 2,
            local_ns,
            earliest_ns,
            latest_ns,
            drift_ppb,
            void_after_ns,
            status: 1,
            boot: this_boot(),
        }
    }

    /// The 128 bytes, little-endian words.
    pub fn bytes(&self) -> [u8; 128] {
        let mut bytes = [0u8; 128];
        bytes[0..8].copy_from_slice(&self.magic);
        bytes[8..12].copy_from_slice(&self.version.to_le_bytes());
        bytes[12..16].copy_from_slice(&self.size.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.sequence.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.local_ns.to_le_bytes());
        bytes[32..40].copy_from_slice(&self.earliest_ns.to_le_bytes());
        bytes[40..48].copy_from_slice(&self.latest_ns.to_le_bytes());
        bytes[48..56].copy_from_slice(&self.drift_ppb.to_le_bytes());
        bytes[56..64].copy_from_slice(&self.void_after_ns.to_le_bytes());
        bytes[64..72].copy_from_slice(&self.status.to_le_bytes());
        let high = (self.boot >> 64) as u64;
        let low = self.boot as u64;
        bytes[72..80].copy_from_slice(&high.to_le_bytes());
        bytes[80..88].copy_from_slice(&low.to_le_bytes());
        bytes
    }
}

/// This boot's id: the kernel's UUID with the dashes taken out, read as
/// one hexadecimal number.
pub fn this_boot() -> u128 {
    let text = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").expect("boot id");
    let hex: String = text.trim().chars().filter(|&c| c != '-').collect();
    u128::from_str_radix(&hex, 16).expect("hexadecimal")
}

/// Writes `bytes` as a new file at `path`, mode 0644.
pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write record file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
}

/// Overwrites the start of the existing file at `path` in place (same
/// inode, so a mapping of it sees the new bytes). Only for a file no one
/// reads at the same moment: this is not the seqlock protocol.
pub fn overwrite(path: &Path, bytes: &[u8]) {
    let file = File::options()
        .write(true)
        .open(path)
        .expect("open record file");
    file.write_all_at(bytes, 0).expect("overwrite record");
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("tt-client-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Boottime now, nanoseconds.
pub fn boottime_ns() -> i64 {
    tt_clock::boottime().nanos()
}

/// Checks that `[earliest, latest]` is exactly the record's sample carried
/// to one local instant within `[from_ns, to_ns]`, and returns that
/// instant. Carrying adds `d` to both ends and widens each by
/// `ceil(d rho)`, so `earliest + latest = E0 + A0 + 2d` gives `d`.
pub fn carried_to(fields: &Fields, earliest: i64, latest: i64, from_ns: i64, to_ns: i64) -> i64 {
    let twice_d = i128::from(earliest) + i128::from(latest)
        - i128::from(fields.earliest_ns)
        - i128::from(fields.latest_ns);
    assert_eq!(
        twice_d % 2,
        0,
        "[{earliest}, {latest}] is not the record carried forward"
    );
    let d = i64::try_from(twice_d / 2).expect("fits");
    let drift_ns = (i128::from(d) * i128::from(fields.drift_ppb) + 999_999_999) / 1_000_000_000;
    let drift_ns = i64::try_from(drift_ns).expect("fits");
    assert_eq!(
        earliest,
        fields.earliest_ns + d - drift_ns,
        "earliest at d = {d}"
    );
    assert_eq!(latest, fields.latest_ns + d + drift_ns, "latest at d = {d}");
    let local = fields.local_ns + d;
    assert!(
        (from_ns..=to_ns).contains(&local),
        "carried to {local}, outside the call [{from_ns}, {to_ns}]"
    );
    local
}
