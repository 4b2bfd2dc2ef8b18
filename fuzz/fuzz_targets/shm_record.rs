//! Arbitrary bytes as the shared-memory record file a client maps: any
//! length, any content. The client must refuse what is not a whole, valid,
//! synchronized record of this boot, and never panic or fault (a short
//! file must not be mapped past its end).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use tt_client::shm::RecordMap;
use tt_core::LocalInstant;

fn scratch_path() -> PathBuf {
    std::env::temp_dir().join(format!("truetime-fuzz-shm-{}", std::process::id()))
}

fuzz_target!(|data: &[u8]| {
    let path = scratch_path();
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(map) = RecordMap::open(&path) {
        let _ = map.read();
        // Any instant, including ones before the record's and far after.
        for now in [i64::MIN, -1, 0, 1, 1 << 40, i64::MAX] {
            if let Ok(interval) = map.interval_at(LocalInstant::from_nanos(now)) {
                assert!(interval.earliest() <= interval.latest());
            }
        }
    }
});
