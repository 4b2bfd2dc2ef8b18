use super::*;
use crate::nmea::frame::{Frame, Framer};

const MS: i64 = 1_000_000;
const S: i64 = 1_000_000_000;
/// 2019-04-07T00:00:00Z: 17897 days (2019-01-01) + 96.
const APRIL_7_2019_S: i64 = (17_897 + 96) * 86_400;

fn sentence(body: &str) -> Vec<u8> {
    let sum = body.bytes().fold(0u8, |s, b| s ^ b);
    format!("${body}*{sum:02X}").into_bytes()
}

fn config() -> NmeaConfig {
    let mut config = NmeaConfig::for_device("/dev/test");
    config.date_floor_unix_s = 946_684_800; // 2000-01-01
    config.min_delay_ns = 20 * MS;
    config.max_delay_ns = 300 * MS;
    config
}

fn at(ns: i64) -> LocalInstant {
    LocalInstant::from_nanos(ns)
}

fn feed(assembler: &mut Assembler, body: &str, local_ns: i64) -> Step {
    assembler.on_sentence(&sentence(body), at(local_ns))
}

fn label_of(step: &Step) -> i64 {
    match step {
        Step::Taken(taken) => taken.label.unix_nanos(),
        other => panic!("expected a label, got {other:?}"),
    }
}

#[test]
fn the_first_sentence_of_a_second_makes_the_sample() {
    let mut a = Assembler::new(&config());
    let rmc = feed(&mut a, "GPRMC,120000.00,A,,,,,,,070419,,,A", 10 * S);
    let Step::Taken(taken) = rmc else {
        panic!("{rmc:?}")
    };
    let label = APRIL_7_2019_S * S + 12 * 3600 * S;
    assert_eq!(taken.label.unix_nanos(), label);
    assert_eq!(taken.sample.local, at(10 * S));
    // [T + min_delay, T + max_delay] at the arrival.
    assert_eq!(
        taken.sample.interval.earliest().unix_nanos(),
        label + 20 * MS
    );
    assert_eq!(
        taken.sample.interval.latest().unix_nanos(),
        label + 300 * MS
    );
    assert_eq!(taken.sentence, "RMC");
    assert_eq!(taken.rollover_corrected_from, None);

    // The rest of the burst: same second, nothing new.
    assert_eq!(
        feed(
            &mut a,
            "GPGGA,120000.00,,,,,1,07,,,M,,M,,",
            10 * S + 40 * MS
        ),
        Step::Repeat
    );
    assert_eq!(
        feed(&mut a, "GPZDA,120000.00,07,04,2019,,", 10 * S + 80 * MS),
        Step::Repeat
    );
    assert_eq!(
        feed(&mut a, "GPGSV,1,1,00", 10 * S + 90 * MS),
        Step::Ignored
    );
    // The next second, first a GGA: dated from the RMC.
    let gga = feed(&mut a, "GPGGA,120001.00,,,,,1,07,,,M,,M,,", 11 * S);
    assert_eq!(label_of(&gga), label + S);
    assert_eq!(a.counts().total(), 0);
}

#[test]
fn an_inexact_label_widens_the_upper_end_by_a_nanosecond() {
    let mut a = Assembler::new(&config());
    let step = feed(&mut a, "GPRMC,120000.0000000001,A,,,,,,,070419,,,A", S);
    let Step::Taken(taken) = step else { panic!() };
    let label = APRIL_7_2019_S * S + 12 * 3600 * S;
    assert_eq!(
        taken.sample.interval.earliest().unix_nanos(),
        label + 20 * MS
    );
    assert_eq!(
        taken.sample.interval.latest().unix_nanos(),
        label + 300 * MS + 1
    );
}

#[test]
fn a_gga_before_any_date_gives_nothing() {
    let mut a = Assembler::new(&config());
    assert_eq!(
        feed(&mut a, "GPGGA,120000,,,,,1,07,,,M,,M,,", S),
        Step::Rejected(Rejection::NoDate)
    );
    assert_eq!(a.counts().get(Reason::NoDate), 1);
}

#[test]
fn zda_counts_only_while_the_receiver_reports_a_fix() {
    let mut a = Assembler::new(&config());
    // Nothing said about the fix yet.
    assert_eq!(
        feed(&mut a, "GPZDA,120000,07,04,2019,,", S),
        Step::Rejected(Rejection::NoFix(NoFixReason::ZdaWithoutFix))
    );
    // RMC V, then ZDA in the same burst.
    feed(&mut a, "GPRMC,120001,V,,,,,,,070419,,,N", 2 * S);
    assert_eq!(
        feed(&mut a, "GPZDA,120001,07,04,2019,,", 2 * S + 50 * MS),
        Step::Rejected(Rejection::NoFix(NoFixReason::ZdaWithoutFix))
    );
    // GGA with a fix but no date; the ZDA after it dates the second.
    let mut b = Assembler::new(&config());
    assert_eq!(
        feed(&mut b, "GPGGA,120002,,,,,1,07,,,M,,M,,", 3 * S),
        Step::Rejected(Rejection::NoDate)
    );
    let zda = feed(&mut b, "GPZDA,120002,07,04,2019,,", 3 * S + 50 * MS);
    assert_eq!(label_of(&zda), (APRIL_7_2019_S + 12 * 3600 + 2) * S);
    // The fix word goes stale after FIX_MEMORY_NS.
    assert!(matches!(
        feed(
            &mut b,
            "GPZDA,120010,07,04,2019,,",
            3 * S + FIX_MEMORY_NS + MS
        ),
        Step::Rejected(Rejection::NoFix(NoFixReason::ZdaWithoutFix))
    ));
}

#[test]
fn the_date_carries_across_midnight() {
    let mut a = Assembler::new(&config());
    feed(&mut a, "GPRMC,235959.00,A,,,,,,,060419,,,A", 100 * S);
    // One second later by the local clock the receiver says 00:00:00: the
    // next day.
    let gga = feed(&mut a, "GPGGA,000000.00,,,,,1,07,,,M,,M,,", 101 * S);
    assert_eq!(label_of(&gga), APRIL_7_2019_S * S);
}

#[test]
fn a_time_of_day_that_does_not_follow_the_date_is_refused() {
    let mut a = Assembler::new(&config());
    feed(&mut a, "GPRMC,120000.00,A,,,,,,,070419,,,A", 100 * S);
    // 1 s later the GGA says 18:00: no day of the three fits.
    assert_eq!(
        feed(&mut a, "GPGGA,180000.00,,,,,1,07,,,M,,M,,", 101 * S),
        Step::Rejected(Rejection::NoDate)
    );
}

#[test]
fn date_for_time_of_day_picks_the_one_consistent_day() {
    let day = 86_400 * S;
    let anchor = 18_000 * day + day - S; // 23:59:59 of day 18000
    let slack = 2 * S;
    // 2 s later, 00:00:01: the next day.
    assert_eq!(
        date_for_time_of_day(anchor, 2 * S, S, slack),
        Some(Date { days: 18_001 })
    );
    // 2 s later the receiver still says 23:59:59 (a stalled label): same
    // day, within the slack.
    assert_eq!(
        date_for_time_of_day(anchor, 2 * S, day - S, slack),
        Some(Date { days: 18_000 })
    );
    // Far from the prediction: none.
    assert_eq!(
        date_for_time_of_day(anchor, 2 * S, 12 * 3600 * S, slack),
        None
    );
    // Going back in local time: none.
    assert_eq!(date_for_time_of_day(anchor, -S, day - S, slack), None);
    // After a long gap the drift term widens the window: 10^6 s at 200 ppm
    // is 200 s.
    let later = anchor + 1_000_000 * S + 150 * S;
    assert_eq!(
        date_for_time_of_day(anchor, 1_000_000 * S, later.rem_euclid(day), slack),
        Some(Date {
            days: later.div_euclid(day)
        })
    );
}

#[test]
fn the_date_floor_corrects_or_refuses_a_rollover() {
    let floor = 946_684_800 * S; // 2000-01-01
    let reported = Date::from_ymd(1999, 8, 22).unwrap();
    let time = TimeOfDay {
        ns: 151 * S + 420 * MS,
        inexact: false,
    };
    // 1999-08-22 + 7168 days = 2019-04-07.
    let corrected = (APRIL_7_2019_S * S) + 151 * S + 420 * MS;
    assert_eq!(
        apply_date_floor(reported, time, floor, WeekRollover::Correct),
        Ok((corrected, true))
    );
    assert_eq!(
        apply_date_floor(reported, time, floor, WeekRollover::Refuse),
        Err(Rejection::BeforeDateFloor {
            reported,
            correctable_to: Some(Date::from_ymd(2019, 4, 7).unwrap()),
        })
    );
    // Two rollovers early is not corrected: 1980-01-06 + 7168 days is
    // 1999-08-22, still before the floor.
    let gps_epoch = Date::from_ymd(1980, 1, 6).unwrap();
    assert_eq!(
        apply_date_floor(gps_epoch, time, floor, WeekRollover::Correct),
        Err(Rejection::BeforeDateFloor {
            reported: gps_epoch,
            correctable_to: None,
        })
    );
    // On or after the floor: untouched.
    let fine = Date::from_ymd(2000, 1, 1).unwrap();
    assert_eq!(
        apply_date_floor(
            fine,
            TimeOfDay {
                ns: 0,
                inexact: false
            },
            floor,
            WeekRollover::Refuse
        ),
        Ok((floor, false))
    );
}

#[test]
fn a_corrected_label_says_so() {
    let mut a = Assembler::new(&config());
    let step = feed(&mut a, "GPRMC,000231.42,A,,,,,,,220899,,,A", S);
    let Step::Taken(taken) = step else {
        panic!("{step:?}")
    };
    assert_eq!(
        taken.label.unix_nanos(),
        APRIL_7_2019_S * S + 151 * S + 420 * MS
    );
    assert_eq!(taken.rollover_corrected_from, Date::from_ymd(1999, 8, 22));
}

#[test]
fn no_fix_sentences_are_counted() {
    let mut a = Assembler::new(&config());
    for body in [
        "GPRMC,,V,,,,,,,,,,N",
        "GPGGA,120000,,,,,0,00,,,M,,M,,",
        "GNGNS,074150.799,,,,,NNNN,00,,,0.0,,0000",
    ] {
        assert!(matches!(
            feed(&mut a, body, S),
            Step::Rejected(Rejection::NoFix(_))
        ));
    }
    assert_eq!(a.counts().get(Reason::NoFix), 3);
    assert_eq!(a.counts().total(), 3);
}

fn frames(framer: &mut Framer, bytes: &[u8], local_ns: i64) -> Vec<String> {
    let mut out = Vec::new();
    framer.push(bytes, at(local_ns), |frame| {
        out.push(match frame {
            Frame::Sentence { bytes, arrival } => {
                format!("{}@{}", String::from_utf8_lossy(bytes), arrival.nanos())
            }
            Frame::Noise { len } => format!("noise {len}"),
            Frame::TooLong { len } => format!("too long {len}"),
            Frame::Truncated { len } => format!("truncated {len}"),
        })
    });
    out
}

#[test]
fn the_framer_stamps_each_sentence_with_the_read_of_its_dollar() {
    let mut framer = Framer::new();
    // Noise, then a sentence whose `$` comes in the second read.
    assert_eq!(frames(&mut framer, b"\x01\x02", 1), Vec::<String>::new());
    assert_eq!(frames(&mut framer, b"\xff$GPZ", 2), vec!["noise 3"]);
    assert_eq!(
        frames(&mut framer, b"DA,1*00\r\n$GPG", 3),
        vec!["$GPZDA,1*00@2"]
    );
    assert_eq!(frames(&mut framer, b"GA\n", 4), vec!["$GPGGA@3"]);
    // A `$` before the line end cuts the sentence before it short.
    assert_eq!(
        frames(&mut framer, b"$GPRMC,12$GPGGA\r", 5),
        vec!["truncated 9", "$GPGGA@5"]
    );
    // Blanks and empty lines between sentences are not noise.
    assert_eq!(frames(&mut framer, b" \r\n\n $A\n", 6), vec!["$A@6"]);
}

#[test]
fn the_framer_keeps_no_more_than_the_limit() {
    let mut framer = Framer::new();
    let mut long = vec![b'$'];
    long.extend(std::iter::repeat_n(b'A', 10_000));
    assert_eq!(frames(&mut framer, &long, 1), Vec::<String>::new());
    assert_eq!(frames(&mut framer, b"\n", 2), vec!["too long 10001"]);
    assert_eq!(frames(&mut framer, b"$B\n", 3), vec!["$B@3"]);
}

#[test]
fn noise_between_sentences_costs_only_the_noise() {
    let mut a = Assembler::new(&config());
    let mut framer = Framer::new();
    let mut stream = Vec::new();
    stream.extend(b"\x00\x13\xfe\xaa");
    stream.extend(sentence("GPRMC,120000.00,A,,,,,,,070419,,,A"));
    stream.extend(b"\r\n\x07\x07garbage\r\n");
    stream.extend(sentence("GPGGA,120001.00,,,,,1,07,,,M,,M,,"));
    stream.extend(b"\r\n");
    let mut steps = Vec::new();
    framer.push(&stream, at(S), |frame| steps.push(a.on_frame(frame)));
    let labels: Vec<i64> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Taken(t) => Some(t.label.unix_nanos()),
            _ => None,
        })
        .collect();
    let noon = (APRIL_7_2019_S + 12 * 3600) * S;
    assert_eq!(labels, vec![noon, noon + S]);
    assert_eq!(a.counts().get(Reason::BinaryNoise), 2);
    assert_eq!(a.counts().total(), 2);
}
