//! The serial NMEA path on arbitrary bytes: framer, parser and epoch
//! assembler, with the configuration and the read boundaries taken from
//! the input too. Whatever comes in: no panic, every label taken has the
//! configured interval, no second labelled twice in a row, and every
//! refusal is counted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tt_core::LocalInstant;
use tt_hw::nmea::{
    parse_sentence, Assembler, Framer, NmeaConfig, ParseOptions, Step, WeekRollover,
};

fuzz_target!(|data: &[u8]| {
    let Some((&settings, stream)) = data.split_first() else {
        return;
    };
    let _ = parse_sentence(
        stream,
        ParseOptions {
            require_checksum: settings & 1 == 0,
        },
    );

    let mut config = NmeaConfig::for_device("fuzz");
    config.require_checksum = settings & 1 == 0;
    config.week_rollover = if settings & 2 == 0 {
        WeekRollover::Correct
    } else {
        WeekRollover::Refuse
    };
    // 2000-01-01 or 2026-01-01.
    config.date_floor_unix_s = if settings & 4 == 0 {
        946_684_800
    } else {
        1_767_225_600
    };
    config.min_delay_ns = -i64::from(settings >> 4) * 10_000_000;
    config.max_delay_ns = 1_000_000_000;

    let mut assembler = Assembler::new(&config);
    let mut framer = Framer::new();
    let mut refused = 0u64;
    let mut last_second = None;
    // Reads of 1 to 64 bytes, 7 ms apart, cut where the bytes say.
    let mut rest = stream;
    let mut local_ns = 1_000_000_000i64;
    while !rest.is_empty() {
        let take = usize::from(rest[0] % 64) + 1;
        let (chunk, after) = rest.split_at(take.min(rest.len()));
        rest = after;
        local_ns += 7_000_000;
        framer.push(
            chunk,
            LocalInstant::from_nanos(local_ns),
            |frame| match assembler.on_frame(frame) {
                Step::Taken(taken) => {
                    let label = taken.label.unix_nanos();
                    let interval = taken.sample.interval;
                    assert_eq!(
                        interval.earliest().unix_nanos(),
                        label.saturating_add(config.min_delay_ns)
                    );
                    let width = interval.width_ns() - (config.max_delay_ns - config.min_delay_ns);
                    assert!(width == 0 || width == 1, "width off by {width}");
                    let second = label.div_euclid(1_000_000_000);
                    assert_ne!(
                        last_second,
                        Some(second),
                        "a second labelled twice in a row"
                    );
                    last_second = Some(second);
                    assert!(label >= config.date_floor_unix_s * 1_000_000_000);
                }
                Step::Rejected(_) => refused += 1,
                Step::Repeat | Step::Ignored => {}
            },
        );
    }
    assert_eq!(assembler.counts().total(), refused);
});
