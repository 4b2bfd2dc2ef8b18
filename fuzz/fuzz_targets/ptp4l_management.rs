//! Datagrams from ptp4l's management socket into the ptp4l client's
//! decoder, and the TLV payload into every data set parser it uses:
//! truncated messages, unexpected TLVs, wrong lengths. Whatever comes in:
//! no panic, and a decoded path delay is never negative.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tt_hw::ptp4l::wire::{
    decode_response, CurrentDataSet, ParentDataSet, PortIdentity, TimeProperties, TimeStatusNp,
};

fuzz_target!(|data: &[u8]| {
    let us = PortIdentity {
        clock: [0x02, 0, 0, 0xff, 0xfe, 0, 0, 1],
        port: 1,
    };
    let _ = decode_response(data, us);
    let _ = TimeStatusNp::parse(data);
    if let Ok(current) = CurrentDataSet::parse(data) {
        let _ = current.mean_path_delay_ns_ceil();
    }
    let _ = ParentDataSet::parse(data);
    if let Ok(properties) = TimeProperties::parse(data) {
        for flag in 0..8 {
            let _ = properties.has(1 << flag);
        }
    }
});
