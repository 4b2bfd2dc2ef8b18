//! The NMEA recordings beside the repository (`../shared/data/nmea`) and
//! the facts about them that more than one test relies on.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// 1024 GPS weeks, in seconds: how far gpsd 3.22 moves a pre-2017 date.
pub const WEEK_ROLLOVER_S: i64 = 619_315_200;

/// 2000-01-01T00:00:00Z: the date floor the old recordings are read with.
pub const FLOOR_2000: i64 = 946_684_800;

/// The recordings the data README's table marks "WRONG +1024w": made
/// before 2017, so gpsd 3.22 moved their dates 1024 weeks forward.
/// [`readme_wrong_list`] reads the same list from the README.
pub const WRONG_PLUS_1024W: &[&str] = &[
    "beidou-bd",
    "bu353-glonass",
    "firefly-II",
    "hp58534a",
    "mt3339",
    "neo-m8n",
    "skytraq",
    "ublox-lea-4h",
];

/// The directory of the recordings; panics with where it looked if absent.
pub fn data_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/nmea");
    assert!(
        dir.join("README.md").exists(),
        "the NMEA recordings are missing: expected them in {} (the repository's \
         ../shared/data/nmea)",
        dir.display()
    );
    dir
}

/// The `.log` files, sorted.
pub fn logs() -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("the data directory is readable")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs
}

/// A recording's name: its file name without `.log`.
pub fn stem(path: &Path) -> String {
    path.file_stem()
        .expect("a recording has a name")
        .to_string_lossy()
        .into_owned()
}

/// The names of the recordings, sorted.
pub fn names() -> Vec<String> {
    logs().iter().map(|p| stem(p)).collect()
}

/// The recordings the data README's table marks "WRONG +1024w".
pub fn readme_wrong_list() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(data_dir().join("README.md")).expect("README.md");
    readme
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains("WRONG +1024w"))
        .filter_map(|l| l.split('|').nth(1).map(|c| c.trim().to_string()))
        .collect()
}
