//! Every real receiver recording in `<repo>/../shared/data/nmea` through
//! the serial NMEA source's framer, parser and epoch assembler (no gpsd,
//! no device), compared with gpsd 3.22's reference (`NAME.times.tsv`).
//!
//! # What is compared
//!
//! The set of distinct whole seconds labelled. gpsd emits a TPV per
//! sentence that completes a fix, so one second may appear several times
//! in its output (README: "equal times in a row are normal"); the source
//! takes one label per second. Expected:
//!
//! * every second of a reference TPV with `mode >= 2`, moved back 1024
//!   weeks (619315200 s) for the recordings the README marks "WRONG
//!   +1024w": the source, with a date floor of 2000-01-01, keeps the
//!   receiver's own date, which gpsd moved forward. april6_2019 is the
//!   other way round: the receiver's 1999-08-22 lies before the floor and
//!   the source corrects it to 2019-04-07, as gpsd does (README: "right");
//! * not the seconds of TPVs with `mode 1` only: gpsd takes time from a ZDA
//!   without a fix (README: "it does take time from ZDA without a fix");
//!   the source does not, since ZDA carries no validity of its own (hemi,
//!   skytraq, bu353-glonass's RMC-V epochs, ublox-lea-4h's first ZDA);
//! * less [`MISSING`]: seconds gpsd labels with a fix that the source
//!   cannot date, with the reason, checked against the log and the
//!   reference;
//! * plus [`EXTRA`]: seconds the receiver labelled validly but for which
//!   gpsd printed no TPV with a time, each with its reason, each checked
//!   here against the log (the labelling sentence is there) and against
//!   the reference (no TPV of that second).
//!
//! Sentences are fed as gpsfake plays them: comment lines dropped, 20 ms
//! apart (gpsfake `-c 0.02`, as the reference was made).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use tt_core::LocalInstant;
use tt_hw::nmea::{Assembler, Framer, NmeaConfig, Reason, Step, Taken, WeekRollover};
use tt_tests::recordings::{
    data_dir, names as recordings, readme_wrong_list, FLOOR_2000, WEEK_ROLLOVER_S, WRONG_PLUS_1024W,
};

const NS: i64 = 1_000_000_000;
/// gpsfake's pace for the reference: one sentence per 20 ms.
const LINE_GAP_NS: i64 = 20_000_000;

/// A second the source labels and gpsd's output has no time for.
struct Extra {
    recording: &'static str,
    /// The second, as `YYYY-MM-DD hh:mm:ss` UTC (the receiver's own date).
    second: &'static str,
    /// The start of the sentence in the log that labels it.
    sentence: &'static str,
    /// Why gpsd has no time for it.
    why: &'static str,
}

const EXTRA: &[Extra] = &[
    Extra {
        recording: "hp58534a",
        second: "2010-10-25 22:24:49",
        sentence: "$GPZDA,222449,25,10,2010",
        why: "the first GGA comes before any date (README); gpsd's one TPV for this burst \
              came from it, without time, and the ZDA right after it, which dates the \
              burst while the GGA's fix stands, gave gpsd no second TPV",
    },
    Extra {
        recording: "beidou-bd",
        second: "2015-02-25 07:41:55",
        sentence: "$GNRMC,074155.799,A,",
        why: "the first fix: its GGA and GNS come before any RMC with status A (the \
              earlier RMCs are V, and gpsd takes no time from those, README), so gpsd's \
              TPV for the burst had no time; its RMC, status A, dates it",
    },
    Extra {
        recording: "neo-m8n",
        second: "2015-03-18 17:19:48",
        sentence: "$GNRMC,171948.00,A,",
        why: "the recording ends inside this burst (RMC, VTG, GGA are its last lines), \
              before the GLL with which this receiver ends its reporting cycle and gpsd \
              reports; the RMC has status A",
    },
    Extra {
        recording: "gp-320fw-2019-03-28",
        second: "2019-03-28 16:45:19",
        sentence: "$GPRMC,164519.99,A,",
        why: "gpsd printed no TPV for the burst just before the receiver's first ZDA \
              (16:45:20.99); the RMC of this burst has status A",
    },
    Extra {
        recording: "gp-320fw-2019-04-06-overflow",
        second: "2019-04-06 23:57:26",
        sentence: "$GPRMC,235726.02,A,",
        why: "as in gp-320fw-2019-03-28: no TPV from gpsd for the burst just before the \
              receiver's first ZDA (23:57:27.02); its RMC has status A",
    },
];

/// A second gpsd labels with a fix and the source does not.
struct Missing {
    recording: &'static str,
    /// The second, as `YYYY-MM-DD hh:mm:ss` UTC.
    second: &'static str,
    /// The start of the sentence in the log that gpsd labelled it from.
    sentence: &'static str,
    /// Why the source does not.
    why: &'static str,
}

const MISSING: &[Missing] = &[Missing {
    recording: "hemi",
    second: "2018-09-07 19:40:57",
    sentence: "$GPGGA,194057.50,",
    why: "the first fix of the recording comes at the half-second GGA of 19:40:57.50 (the \
          GGAs before it give 00 satellites); the only dates before it are ZDAs sent \
          without a fix, which the source does not take, so it has no date until the \
          ZDA of 19:40:58; gpsd dates the GGA from those ZDAs",
}];

/// Days from 1970-01-01 to a civil date (for the test's own conversions).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let mut days = 0;
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    for y in 1970..year {
        days += if leap(y) { 366 } else { 365 };
    }
    let lengths = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    days + lengths[..(month - 1) as usize].iter().sum::<i64>() + day - 1
}

/// `YYYY-MM-DDThh:mm:ss[.fff]Z` or `YYYY-MM-DD hh:mm:ss` to whole Unix
/// seconds.
fn second_of(text: &str) -> i64 {
    let number = |range: std::ops::Range<usize>| -> i64 {
        text[range]
            .parse()
            .unwrap_or_else(|e| panic!("{text:?}: {e}"))
    };
    let days = days_from_civil(number(0..4), number(5..7), number(8..10));
    days * 86_400 + number(11..13) * 3600 + number(14..16) * 60 + number(17..19)
}

/// The reference: for each second, the TPV modes gpsd printed for it.
fn reference(name: &str) -> BTreeMap<i64, BTreeSet<u8>> {
    let path = data_dir().join(format!("{name}.times.tsv"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("time\tmode\tept"), "{name}: header");
    let shift = if WRONG_PLUS_1024W.contains(&name) {
        WEEK_ROLLOVER_S
    } else {
        0
    };
    let mut seconds: BTreeMap<i64, BTreeSet<u8>> = BTreeMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        let mode: u8 = fields[1].parse().expect("mode is a number");
        seconds
            .entry(second_of(fields[0]) - shift)
            .or_default()
            .insert(mode);
    }
    seconds
}

/// What one recording gave.
struct Run {
    taken: Vec<Taken>,
    assembler: Assembler,
}

fn config(require_checksum: bool, week_rollover: WeekRollover) -> NmeaConfig {
    let mut config = NmeaConfig::for_device("recording");
    config.date_floor_unix_s = FLOOR_2000;
    config.week_rollover = week_rollover;
    config.require_checksum = require_checksum;
    config
}

/// The log's data lines (comments dropped), with their line ends.
fn data_lines(name: &str) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(data_dir().join(format!("{name}.log"))).expect("log readable");
    bytes
        .split_inclusive(|&b| b == b'\n')
        .filter(|line| !line.starts_with(b"#"))
        .map(<[u8]>::to_vec)
        .collect()
}

/// Plays the log through the framer and assembler, each line in one read
/// 20 ms after the one before.
fn play(name: &str, config: &NmeaConfig) -> Run {
    let mut assembler = Assembler::new(config);
    let mut framer = Framer::new();
    let mut taken = Vec::new();
    for (index, line) in data_lines(name).iter().enumerate() {
        let arrival = LocalInstant::from_nanos(NS + index as i64 * LINE_GAP_NS);
        framer.push(line, arrival, |frame| {
            if let Step::Taken(t) = assembler.on_frame(frame) {
                taken.push(t);
            }
        });
    }
    Run { taken, assembler }
}

/// The configuration each recording needs: hp58534a sends no checksums
/// (README), so it is read with `require_checksum = false`.
fn play_as_configured(name: &str) -> Run {
    play(name, &config(name != "hp58534a", WeekRollover::Correct))
}

fn expected_seconds(name: &str) -> BTreeSet<i64> {
    let mut expected: BTreeSet<i64> = reference(name)
        .into_iter()
        .filter(|(_, modes)| modes.iter().any(|&m| m >= 2))
        .map(|(second, _)| second)
        .collect();
    for extra in EXTRA.iter().filter(|e| e.recording == name) {
        expected.insert(second_of(extra.second));
    }
    for missing in MISSING.iter().filter(|m| m.recording == name) {
        expected.remove(&second_of(missing.second));
    }
    expected
}

fn show(second: i64) -> String {
    // A civil date for messages: step through years.
    let days = second.div_euclid(86_400);
    let tod = second.rem_euclid(86_400);
    let mut year = 1970;
    while days_from_civil(year + 1, 1, 1) <= days {
        year += 1;
    }
    format!(
        "{year} day {} {:02}:{:02}:{:02}",
        days - days_from_civil(year, 1, 1) + 1,
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    )
}

#[test]
fn wrong_list_matches_the_readme() {
    let listed: BTreeSet<String> = WRONG_PLUS_1024W.iter().map(|s| s.to_string()).collect();
    assert_eq!(readme_wrong_list(), listed);
    assert_eq!(recordings().len(), 16, "the README describes 16 recordings");
}

#[test]
fn each_extra_second_is_labelled_in_the_log_and_absent_from_the_reference() {
    for extra in EXTRA {
        let second = second_of(extra.second);
        assert!(
            !reference(extra.recording).contains_key(&second),
            "{}: gpsd does have {}; the extra is not needed ({})",
            extra.recording,
            extra.second,
            extra.why
        );
        let in_log = data_lines(extra.recording).iter().any(|line| {
            line.trim_ascii_start()
                .starts_with(extra.sentence.as_bytes())
        });
        assert!(
            in_log,
            "{}: no line starts with {:?}",
            extra.recording, extra.sentence
        );
    }
}

#[test]
fn each_missing_second_has_a_fix_in_the_reference_and_its_sentence_in_the_log() {
    for missing in MISSING {
        let second = second_of(missing.second);
        let modes = reference(missing.recording)
            .remove(&second)
            .unwrap_or_default();
        assert!(
            modes.iter().any(|&m| m >= 2),
            "{}: gpsd has no fix at {}; the entry is not needed ({})",
            missing.recording,
            missing.second,
            missing.why
        );
        let in_log = data_lines(missing.recording)
            .iter()
            .any(|line| line.starts_with(missing.sentence.as_bytes()));
        assert!(
            in_log,
            "{}: no line starts with {:?}",
            missing.recording, missing.sentence
        );
    }
}

#[test]
fn every_recording_gives_the_reference_seconds() {
    let mut failures = Vec::new();
    for name in recordings() {
        let run = play_as_configured(&name);
        let got: BTreeSet<i64> = run
            .taken
            .iter()
            .map(|t| t.label.unix_nanos().div_euclid(NS))
            .collect();
        // One label per second: no second twice.
        if got.len() != run.taken.len() {
            failures.push(format!("{name}: a second was labelled twice"));
        }
        let expected = expected_seconds(&name);
        let missing: Vec<String> = expected.difference(&got).map(|&s| show(s)).collect();
        let unexpected: Vec<String> = got.difference(&expected).map(|&s| show(s)).collect();
        if !missing.is_empty() || !unexpected.is_empty() {
            failures.push(format!(
                "{name}: missing {missing:?}, not expected {unexpected:?}"
            ));
        }
        eprintln!(
            "{name}: {} seconds labelled, {} refused ({})",
            run.taken.len(),
            run.assembler.counts().total(),
            Reason::ALL
                .iter()
                .filter(|r| run.assembler.counts().get(**r) > 0)
                .map(|r| format!("{} {}", r.name(), run.assembler.counts().get(*r)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn labels_carry_the_receivers_fraction_and_the_delay_range() {
    // gp-320fw stamps .99 (README), ublox-zed-f9p whole seconds, beidou-bd
    // .799.
    for (name, fraction_ns) in [
        ("gp-320fw-2019-03-28", 990_000_000),
        ("ublox-zed-f9p-nmea", 0),
        ("beidou-bd", 799_000_000),
    ] {
        let run = play_as_configured(name);
        assert!(!run.taken.is_empty(), "{name}");
        for taken in &run.taken {
            let label = taken.label.unix_nanos();
            assert_eq!(label.rem_euclid(NS), fraction_ns, "{name}");
            // The default delay range: [T, T + 1 s] at the arrival.
            assert_eq!(taken.sample.interval.earliest().unix_nanos(), label);
            assert_eq!(taken.sample.interval.latest().unix_nanos(), label + NS);
            assert_eq!(taken.rollover_corrected_from, None, "{name}");
        }
    }
}

#[test]
fn the_week_rollover_log_is_corrected_or_refused_as_configured() {
    // april6_2019: "$GPRMC,000231.42,A,...,220899": 1999-08-22 00:02:31.42,
    // before the 2000-01-01 floor; plus 1024 weeks: 2019-04-07 00:02:31.42,
    // gpsd's (right) reference.
    let reference_second = second_of("2019-04-07T00:02:31.420Z");
    let corrected = play("april6_2019", &config(true, WeekRollover::Correct));
    assert_eq!(corrected.taken.len(), 1);
    let taken = corrected.taken[0];
    assert_eq!(
        taken.label.unix_nanos(),
        reference_second * NS + 420_000_000
    );
    assert_eq!(
        taken.rollover_corrected_from.map(|d| d.to_string()),
        Some("1999-08-22".to_string())
    );
    // The first RMC is V, the second has the year "-1" (README).
    let counts = corrected.assembler.counts();
    assert_eq!(counts.get(Reason::NoFix), 1);
    assert_eq!(counts.get(Reason::OutOfRange), 1);

    let refused = play("april6_2019", &config(true, WeekRollover::Refuse));
    assert!(refused.taken.is_empty());
    assert_eq!(refused.assembler.counts().get(Reason::BeforeDateFloor), 1);
}

#[test]
fn sentences_without_checksum_are_refused_unless_configured() {
    // hp58534a sends no checksum on any sentence (README): by default
    // every one is refused and nothing is labelled.
    let lines = data_lines("hp58534a");
    let sentences = lines.iter().filter(|l| l.starts_with(b"$")).count();
    let strict = play("hp58534a", &config(true, WeekRollover::Correct));
    assert!(strict.taken.is_empty());
    assert_eq!(
        strict.assembler.counts().get(Reason::NoChecksum),
        sentences as u64
    );
    assert_eq!(strict.assembler.counts().total(), sentences as u64);
}

#[test]
fn firefly_ggas_fail_their_checksum() {
    // README: every GGA of firefly-II has a wrong checksum in the
    // recording; nothing else does.
    let lines = data_lines("firefly-II");
    let ggas = lines.iter().filter(|l| l.starts_with(b"$GPGGA")).count();
    assert!(ggas > 0);
    let run = play_as_configured("firefly-II");
    assert_eq!(run.assembler.counts().get(Reason::BadChecksum), ggas as u64);
    assert_eq!(run.assembler.counts().total(), ggas as u64);
}

#[test]
fn the_byte_stream_may_be_cut_anywhere() {
    // A serial port returns bytes in pieces of any size; labels must not
    // depend on where the pieces end. Every recording, whole file, cut
    // into pieces of 1, 7 and 61 bytes, each piece 1 ms after the last.
    for name in recordings() {
        let config = config(name != "hp58534a", WeekRollover::Correct);
        let whole: Vec<i64> = play(&name, &config)
            .taken
            .iter()
            .map(|t| t.label.unix_nanos())
            .collect();
        let bytes: Vec<u8> = data_lines(&name).concat();
        for piece in [1, 7, 61] {
            let mut assembler = Assembler::new(&config);
            let mut framer = Framer::new();
            let mut labels = Vec::new();
            for (index, chunk) in bytes.chunks(piece).enumerate() {
                let arrival = LocalInstant::from_nanos(NS + index as i64 * 1_000_000);
                framer.push(chunk, arrival, |frame| {
                    if let Step::Taken(t) = assembler.on_frame(frame) {
                        labels.push(t.label.unix_nanos());
                    }
                });
            }
            assert_eq!(labels, whole, "{name}, pieces of {piece} bytes");
        }
    }
}

/// A small deterministic generator (xorshift64) for the mutations below.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn mutated_recordings_keep_every_promise() {
    // The fuzz target's checks (fuzz/fuzz_targets/nmea.rs), run here on a
    // bounded number of inputs so `cargo test` covers them too: each
    // recording with 1 to 16 random byte flips, insertions and deletions,
    // cut into reads of 1 to 64 bytes.
    let mut mutator = Mutator(0x2545_f491_4f6c_dd1d);
    let recordings: Vec<(String, Vec<u8>)> = recordings()
        .into_iter()
        .map(|name| {
            let bytes = data_lines(&name).concat();
            (name, bytes)
        })
        .collect();
    for round in 0..400 {
        let (name, original) = &recordings[round % recordings.len()];
        let mut bytes = original.clone();
        for _ in 0..=mutator.below(16) {
            let at = mutator.below(bytes.len());
            match mutator.below(3) {
                0 => bytes[at] ^= 1 << mutator.below(8),
                1 => bytes.insert(at, mutator.next() as u8),
                _ => {
                    bytes.remove(at);
                }
            }
        }
        let config = config(round % 2 == 0, WeekRollover::Correct);
        let mut assembler = Assembler::new(&config);
        let mut framer = Framer::new();
        let (mut refused, mut last_second) = (0u64, None);
        let mut local_ns = NS;
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let (chunk, after) = rest.split_at((mutator.below(64) + 1).min(rest.len()));
            rest = after;
            local_ns += 7 * 1_000_000;
            framer.push(
                chunk,
                LocalInstant::from_nanos(local_ns),
                |frame| match assembler.on_frame(frame) {
                    Step::Taken(taken) => {
                        let label = taken.label.unix_nanos();
                        let interval = taken.sample.interval;
                        assert_eq!(interval.earliest().unix_nanos(), label, "{name}");
                        let extra = interval.width_ns() - NS;
                        assert!(extra == 0 || extra == 1, "{name}: width {extra}");
                        assert!(label >= FLOOR_2000 * NS, "{name}: below the floor");
                        let second = label.div_euclid(NS);
                        assert_ne!(last_second, Some(second), "{name}: a second twice");
                        last_second = Some(second);
                    }
                    Step::Rejected(_) => refused += 1,
                    Step::Repeat | Step::Ignored => {}
                },
            );
        }
        assert_eq!(assembler.counts().total(), refused, "{name}");
    }
}

#[test]
fn inputs_the_fuzzer_once_crashed_on_are_handled() {
    // Each file in fuzz/regressions/nmea is an input the nmea fuzz target
    // once panicked on, replayed the way the target reads it: the first
    // byte chooses the settings, the rest is cut into reads of
    // `byte % 64 + 1` bytes, 7 ms apart. Whatever it holds: no panic, and
    // every refusal counted.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/nmea");
    let mut inputs = 0;
    for entry in std::fs::read_dir(&dir).expect("the regression inputs are in the repository") {
        let data = std::fs::read(entry.expect("entry").path()).expect("input readable");
        let Some((&settings, stream)) = data.split_first() else {
            continue;
        };
        let mut config = config(
            settings & 1 == 0,
            if settings & 2 == 0 {
                WeekRollover::Correct
            } else {
                WeekRollover::Refuse
            },
        );
        if settings & 4 != 0 {
            config.date_floor_unix_s = 1_767_225_600;
        }
        config.min_delay_ns = -i64::from(settings >> 4) * 10_000_000;
        config.max_delay_ns = NS;
        let mut assembler = Assembler::new(&config);
        let mut framer = Framer::new();
        let mut refused = 0u64;
        let mut rest = stream;
        let mut local_ns = NS;
        while !rest.is_empty() {
            let take = usize::from(rest[0] % 64) + 1;
            let (chunk, after) = rest.split_at(take.min(rest.len()));
            rest = after;
            local_ns += 7_000_000;
            framer.push(chunk, LocalInstant::from_nanos(local_ns), |frame| {
                match assembler.on_frame(frame) {
                    Step::Rejected(_) => refused += 1,
                    Step::Taken(taken) => {
                        // The configured range exactly (1 ns more for a
                        // label with digits past the nanosecond).
                        let label = taken.label.unix_nanos();
                        let interval = taken.sample.interval;
                        assert_eq!(
                            interval.earliest().unix_nanos(),
                            label + config.min_delay_ns
                        );
                        let extra =
                            interval.width_ns() - (config.max_delay_ns - config.min_delay_ns);
                        assert!(extra == 0 || extra == 1, "width off by {extra}");
                    }
                    Step::Repeat | Step::Ignored => {}
                }
            });
        }
        assert_eq!(assembler.counts().total(), refused);
        inputs += 1;
    }
    assert!(
        inputs >= 1,
        "no regression input found in {}",
        dir.display()
    );
}
