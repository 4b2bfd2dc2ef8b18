//! Tests of the gpsd source: the session on synthetic lines and clock
//! pairs, and the TCP client against a scripted gpsd on loopback.

use super::session::{pps_precision_ns, GPS_WEEK_ROLLOVER_S};
use super::wall::WallError;
use super::*;
use tt_core::{LocalInstant, Timestamp, NANOS_PER_SEC};

const S: i64 = NANOS_PER_SEC;
const FLOOR_2000: i64 = 946_684_800;
const FLOOR_2026: i64 = 1_767_225_600;
const MS: i64 = 1_000_000;

/// The wall clock reads local + this (a plausible 2026 epoch offset).
const WALL_OFFSET: i64 = 1_790_000_000 * S;

fn config() -> GpsdConfig {
    GpsdConfig {
        address: "127.0.0.1:2947".to_string(),
        min_delay_ns: 10 * MS,
        max_delay_ns: 200 * MS,
        // 2026-01-01T00:00:00Z: a production floor; the rollover rule
        // never fires for 2026 labels with it.
        date_floor_unix_s: FLOOR_2026,
        use_pps: true,
        pps_precision_ns: 1_000,
    }
}

/// A pair read at local instant `local` with no spread.
fn pair(local: i64) -> ClockPair {
    ClockPair {
        realtime_ns: local + WALL_OFFSET,
        local_before: LocalInstant::from_nanos(local),
        local_after: LocalInstant::from_nanos(local),
    }
}

fn wall(local: i64) -> i64 {
    local + WALL_OFFSET
}

fn decimal(ns: i64) -> String {
    format!("{}.{:09}", ns / S, ns % S)
}

fn tpv(mode: u8, time: Option<&str>, rtime_ns: Option<i64>) -> String {
    let mut line = format!("{{\"class\":\"TPV\",\"device\":\"/dev/pts/1\",\"mode\":{mode}");
    if let Some(time) = time {
        line += &format!(",\"time\":\"{time}\",\"ept\":0.005");
    }
    line += ",\"lat\":45.000000000,\"lon\":7.000000000";
    if let Some(rtime) = rtime_ns {
        // gpsd 3.22 writes a space after this colon.
        line += &format!(",\"rtime\": {}", decimal(rtime));
    }
    line + ",\"sor\": 0.000000000,\"chars\":0,\"sats\": 0,\"week\":0,\"tow\":0.000,\"rollovers\":2}"
}

fn toff(real_ns: i64, clock_ns: i64) -> String {
    format!(
        "{{\"class\":\"TOFF\",\"device\":\"/dev/pts/1\",\"real_sec\":{}, \"real_nsec\":{},\"clock_sec\":{},\"clock_nsec\":{}}}",
        real_ns / S,
        real_ns % S,
        clock_ns / S,
        clock_ns % S
    )
}

fn pps(real_ns: i64, clock_ns: i64, precision: Option<i32>) -> String {
    let mut line = format!(
        "{{\"class\":\"PPS\",\"device\":\"/dev/pts/1\",\"real_sec\":{},\"real_nsec\":{},\"clock_sec\":{},\"clock_nsec\":{}",
        real_ns / S,
        real_ns % S,
        clock_ns / S,
        clock_ns % S
    );
    if let Some(p) = precision {
        line += &format!(",\"precision\":{p}");
    }
    line + "}"
}

fn iso(text: &str) -> i64 {
    parse_iso8601_utc(text).unwrap().unix_ns
}

fn only(mut outcomes: Vec<Outcome>) -> Outcome {
    assert_eq!(outcomes.len(), 1, "expected one outcome, got {outcomes:?}");
    outcomes.remove(0)
}

fn taken(outcome: Outcome) -> Taken {
    match outcome {
        Outcome::Taken(t) => t,
        other => panic!("expected a sample, got {other:?}"),
    }
}

fn rejected(outcome: Outcome) -> Rejection {
    match outcome {
        Outcome::Rejected(r) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// A session started at local 100 s.
fn new_session() -> Session {
    Session::new(config(), pair(100 * S))
}

#[test]
fn tpv_with_rtime_gives_the_delay_range_at_arrival() {
    let mut session = new_session();
    let label = "2026-03-01T12:00:00.000Z";
    // gpsd stamped the sentence at local 101.05 s; we read our pair at
    // 101.25 s: a 200 ms gap.
    let line = tpv(3, Some(label), Some(wall(101 * S + 50 * MS)));
    let got = taken(only(
        session.on_line(line.as_bytes(), pair(101 * S + 250 * MS)),
    ));

    assert_eq!(got.kind, TakenKind::Serial(ArrivalStamp::Rtime));
    assert!(!got.rollover_undone);
    assert_eq!(got.label.unix_nanos(), iso(label));
    assert_eq!(got.sample.local.nanos(), 101 * S + 50 * MS);
    // Widening: 1 ms print resolution + 500 ppm of 200 ms (100 us) + no
    // spread + no offset change.
    let slack = MS + 100_000;
    assert_eq!(
        got.sample.interval.earliest().unix_nanos(),
        iso(label) + 10 * MS - slack
    );
    assert_eq!(
        got.sample.interval.latest().unix_nanos(),
        iso(label) + 200 * MS + slack
    );
}

#[test]
fn toff_stamp_is_preferred_for_the_same_fix() {
    let mut session = new_session();
    let label = "2026-03-01T12:00:01.000Z";
    // TOFF latched at 101.02 s, read at 101.03 s (10 ms gap).
    let held = only(session.on_line(
        toff(iso(label), wall(101 * S + 20 * MS)).as_bytes(),
        pair(101 * S + 30 * MS),
    ));
    assert!(matches!(held, Outcome::Held(_)), "{held:?}");
    // The TPV of the same fix comes at the end of the cycle, 260 ms later.
    let line = tpv(3, Some(label), Some(wall(101 * S + 280 * MS)));
    let got = taken(only(
        session.on_line(line.as_bytes(), pair(101 * S + 290 * MS)),
    ));

    assert_eq!(got.kind, TakenKind::Serial(ArrivalStamp::Toff));
    assert_eq!(got.sample.local.nanos(), 101 * S + 20 * MS);
    // 500 ppm of the TOFF's 10 ms gap is 5 us.
    let slack = MS + 5_000;
    assert_eq!(
        got.sample.interval.earliest().unix_nanos(),
        iso(label) + 10 * MS - slack
    );
    assert_eq!(
        got.sample.interval.latest().unix_nanos(),
        iso(label) + 200 * MS + slack
    );

    // A TPV of the next second has no TOFF of its own: rtime is used.
    let next = "2026-03-01T12:00:02.000Z";
    let line = tpv(3, Some(next), Some(wall(102 * S + 280 * MS)));
    let got = taken(only(
        session.on_line(line.as_bytes(), pair(102 * S + 290 * MS)),
    ));
    assert_eq!(got.kind, TakenKind::Serial(ArrivalStamp::Rtime));
}

#[test]
fn no_fix_gives_nothing_and_says_why() {
    let mut session = new_session();
    let line = tpv(1, Some("2026-03-01T12:00:00.000Z"), Some(wall(101 * S)));
    assert!(matches!(
        only(session.on_line(line.as_bytes(), pair(101 * S + MS))),
        Outcome::NoFix(_)
    ));
    let line = tpv(2, None, Some(wall(102 * S)));
    assert!(matches!(
        only(session.on_line(line.as_bytes(), pair(102 * S + MS))),
        Outcome::NoFix(_)
    ));
    let line = tpv(0, None, None);
    assert!(matches!(
        only(session.on_line(line.as_bytes(), pair(103 * S))),
        Outcome::NoFix(_)
    ));
}

#[test]
fn date_floor_rule() {
    let w = GPS_WEEK_ROLLOVER_S * S;
    let floor_2000 = FLOOR_2000;
    let floor_2026 = FLOOR_2026;

    // beidou-bd: gpsd says 2034-10-11T07:41:56.799Z; the receiver said
    // 2015-02-25 (README). 2034-10-11 minus 1024 weeks is 2015-02-25.
    let gpsd = iso("2034-10-11T07:41:56.799Z");
    assert_eq!(
        apply_date_floor(gpsd, floor_2000),
        (iso("2015-02-25T07:41:56.799Z"), true)
    );
    // With a recent floor the same time stays as gpsd gave it.
    assert_eq!(apply_date_floor(gpsd, floor_2026), (gpsd, false));
    // april6_2019: gpsd's 2019-04-07 minus 1024 weeks is 1999-08-22,
    // before the 2000 floor: gpsd was right, nothing changes.
    let april = iso("2019-04-07T00:02:31.420Z");
    assert_eq!(
        april - w,
        iso("1999-08-22T00:02:31.420Z"),
        "the README's 220899"
    );
    assert_eq!(apply_date_floor(april, floor_2000), (april, false));
    // Edges: T - W exactly at the floor is undone; exactly at 2017-01-01
    // is not.
    let at_floor = floor_2000 * S + w;
    assert_eq!(
        apply_date_floor(at_floor, floor_2000),
        (floor_2000 * S, true)
    );
    let at_era = iso("2017-01-01T00:00:00Z") + w;
    assert_eq!(apply_date_floor(at_era, floor_2000), (at_era, false));
    assert_eq!(
        apply_date_floor(at_era - 1, floor_2000),
        (at_era - 1 - w, true)
    );
}

#[test]
fn session_undoes_the_rollover_and_refuses_labels_before_the_floor() {
    let mut config = config();
    config.date_floor_unix_s = FLOOR_2000;
    let mut session = Session::new(config, pair(100 * S));
    let line = tpv(3, Some("2034-10-11T07:41:56.799Z"), Some(wall(101 * S)));
    let got = taken(only(session.on_line(line.as_bytes(), pair(101 * S + MS))));
    assert!(got.rollover_undone);
    assert_eq!(got.label.unix_nanos(), iso("2015-02-25T07:41:56.799Z"));

    // A floor of 2026 makes a 2019 label impossible.
    let mut session = new_session();
    let line = tpv(3, Some("2019-04-07T00:02:31.420Z"), Some(wall(101 * S)));
    assert_eq!(
        rejected(only(session.on_line(line.as_bytes(), pair(101 * S + MS)))),
        Rejection::BeforeDateFloor {
            label: Timestamp::from_unix_nanos(iso("2019-04-07T00:02:31.420Z"))
        }
    );
}

#[test]
fn bad_lines_are_counted_and_the_stream_goes_on() {
    let mut session = new_session();
    let mut at = 101 * S;
    let mut feed = |line: &[u8]| {
        at += 10 * MS;
        session.on_line(line, pair(at))
    };

    assert!(matches!(
        rejected(only(feed(b"$GPRMC,not json"))),
        Rejection::NotJson(_)
    ));
    assert!(matches!(
        rejected(only(feed(b"{\"class\":\"TPV\",\"mode\":3"))),
        Rejection::NotJson(_)
    ));
    assert!(matches!(
        rejected(only(feed(&[b'{', 0xff, 0xfe, b'}']))),
        Rejection::NotJson(_)
    ));
    let long = vec![b' '; MAX_LINE_BYTES + 1];
    assert_eq!(
        rejected(only(feed(&long))),
        Rejection::Oversized {
            len: MAX_LINE_BYTES + 1
        }
    );
    assert!(matches!(
        rejected(only(feed(b"{\"class\":\"TPV\",\"mode\":\"3\"}"))),
        Rejection::Malformed { class: "TPV", .. }
    ));
    assert!(matches!(
        rejected(only(feed(
            tpv(3, Some("2026-13-01T00:00:00Z"), Some(wall(101 * S))).as_bytes()
        ))),
        Rejection::BadTime { class: "TPV", .. }
    ));
    assert!(matches!(
        rejected(only(feed(
            b"{\"class\":\"TPV\",\"mode\":3,\"time\":\"2026-03-01T00:00:00.000Z\",\"rtime\":1.5e9}"
        ))),
        Rejection::BadTime { class: "TPV", .. }
    ));
    assert_eq!(
        rejected(only(feed(
            tpv(3, Some("2026-03-01T00:00:00.000Z"), None).as_bytes()
        ))),
        Rejection::NoArrivalStamp
    );
    assert!(matches!(
        rejected(only(feed(b"{\"class\":\"TOFF\",\"real_sec\":1.5}"))),
        Rejection::Malformed { class: "TOFF", .. }
    ));
    assert!(matches!(
        rejected(only(feed(
            b"{\"class\":\"TOFF\",\"real_sec\":1,\"real_nsec\":1000000000,\"clock_sec\":1,\"clock_nsec\":0}"
        ))),
        Rejection::BadTime { class: "TOFF", .. }
    ));

    // Reports a time source does not need, including a DEVICE that
    // gpsd_proto's Device type could not hold (bps 115200, activated 0).
    for line in [
        "{\"class\":\"SKY\",\"device\":\"/dev/pts/1\",\"satellites\":[]}",
        "{\"class\":\"DEVICE\",\"path\":\"/dev/pts/1\",\"activated\":0}",
        "{\"class\":\"DEVICE\",\"path\":\"/dev/ttyACM0\",\"driver\":\"u-blox\",\"bps\":115200}",
        "{\"class\":\"DEVICES\",\"devices\":[]}",
        "{\"class\":\"WATCH\",\"enable\":true,\"json\":true,\"pps\":true}",
        "{\"class\":\"GST\"}",
        "{\"class\":\"ATT\"}",
        "{\"class\":\"SOMETHING_NEW\",\"x\":[1,2,3]}",
        "",
    ] {
        assert_eq!(only(feed(line.as_bytes())), Outcome::Ignored, "{line}");
    }
    assert_eq!(
        only(feed(
            b"{\"class\":\"VERSION\",\"release\":\"3.22\",\"rev\":\"3.22\",\"proto_major\":3,\"proto_minor\":14}"
        )),
        Outcome::Version {
            release: "3.22".to_string(),
            proto_major: 3,
            proto_minor: 14
        }
    );
    assert_eq!(
        only(feed(
            b"{\"class\":\"ERROR\",\"message\":\"Unrecognized request\"}"
        )),
        Outcome::GpsdError("Unrecognized request".to_string())
    );

    // And after all that a good TPV still makes a sample.
    let line = tpv(3, Some("2026-03-01T00:00:00.000Z"), Some(wall(at + MS)));
    assert!(matches!(
        only(session.on_line(line.as_bytes(), pair(at + 2 * MS))),
        Outcome::Taken(_)
    ));
}

#[test]
fn stale_and_future_stamps_are_refused() {
    let mut session = new_session();
    let label = Some("2026-03-01T00:00:00.000Z");
    let line = tpv(3, label, Some(wall(101 * S)));
    assert!(matches!(
        rejected(only(session.on_line(line.as_bytes(), pair(103 * S + 1)))),
        Rejection::Wall(WallError::Stale { .. })
    ));
    let line = tpv(3, label, Some(wall(104 * S + 1)));
    assert_eq!(
        rejected(only(session.on_line(line.as_bytes(), pair(104 * S)))),
        Rejection::Wall(WallError::FromTheFuture { ahead_ns: 1 })
    );
}

#[test]
fn a_wall_clock_step_drops_samples() {
    let mut session = new_session();
    let label = Some("2026-03-01T00:00:00.000Z");
    let line = tpv(3, label, Some(wall(101 * S)));
    assert!(matches!(
        only(session.on_line(line.as_bytes(), pair(101 * S + MS))),
        Outcome::Taken(_)
    ));
    // Someone steps the wall clock 50 ms forward. The next TPV is stamped
    // with the stepped clock and read with it.
    let stepped = |local: i64| ClockPair {
        realtime_ns: wall(local) + 50 * MS,
        ..pair(local)
    };
    let line = tpv(3, label, Some(wall(102 * S) + 50 * MS));
    let outcomes = session.on_line(line.as_bytes(), stepped(102 * S + MS));
    assert!(
        matches!(
            outcomes.as_slice(),
            [
                Outcome::Rejected(Rejection::ClockStep(_)),
                Outcome::Rejected(Rejection::Wall(WallError::RecentStep))
            ]
        ),
        "{outcomes:?}"
    );
    // Four seconds on, stamps are trusted again.
    let line = tpv(3, label, Some(wall(106 * S) + 50 * MS));
    assert!(matches!(
        only(session.on_line(line.as_bytes(), stepped(106 * S + MS))),
        Outcome::Taken(_)
    ));
}

#[test]
fn pps_precision_bound() {
    // 2^-20 s = 953.67 ns, rounded up.
    assert_eq!(pps_precision_ns(0, Some(-20)), Ok(954));
    // 2^-10 s = 976562.5 ns.
    assert_eq!(pps_precision_ns(0, Some(-10)), Ok(976_563));
    // The configured bound wins when larger, and stands alone without one.
    assert_eq!(pps_precision_ns(1_000, Some(-20)), Ok(1_000));
    assert_eq!(pps_precision_ns(1_000, None), Ok(1_000));
    assert_eq!(pps_precision_ns(0, Some(1)), Ok(2 * S));
    assert_eq!(pps_precision_ns(0, Some(-100)), Ok(1));
    assert_eq!(
        pps_precision_ns(0, Some(31)),
        Err(Rejection::PpsPrecision(31))
    );
}

/// gpsd labels a PPS edge with the last fix's second plus one, so the edge
/// of second N comes before the serial fix of N; it is held until that fix
/// confirms it.
#[test]
fn pps_edge_waits_for_its_serial_fix() {
    let mut session = new_session();
    // Truth: local 100 s is 2026-03-01T00:00:00Z exactly, and the edges
    // fall on local whole seconds.
    let truth = |local: i64| iso("2026-03-01T00:00:00Z") + (local - 100 * S);
    let label = |local: i64| {
        let t = truth(local);
        let secs = t / S;
        format!(
            "2026-03-01T00:00:{:02}.000Z",
            secs - iso("2026-03-01T00:00:00Z") / S
        )
    };

    // Serial fix of second 101 arrives 100 ms after its edge.
    let line = tpv(3, Some(&label(101 * S)), Some(wall(101 * S + 100 * MS)));
    assert!(matches!(
        only(session.on_line(line.as_bytes(), pair(101 * S + 101 * MS))),
        Outcome::Taken(_)
    ));
    // Edge of 102, stamped by the kernel at 102 s, read 1 ms later.
    let line = pps(truth(102 * S), wall(102 * S), Some(-20));
    assert!(matches!(
        only(session.on_line(line.as_bytes(), pair(102 * S + MS))),
        Outcome::Held(_)
    ));
    // Its serial fix: the sample, then the edge.
    let line = tpv(3, Some(&label(102 * S)), Some(wall(102 * S + 100 * MS)));
    let outcomes = session.on_line(line.as_bytes(), pair(102 * S + 101 * MS));
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    let serial = taken(outcomes[0].clone());
    let edge = taken(outcomes[1].clone());
    assert_eq!(serial.kind, TakenKind::Serial(ArrivalStamp::Rtime));
    assert_eq!(edge.kind, TakenKind::Pps);
    assert_eq!(edge.sample.local.nanos(), 102 * S);
    // p = max(1000 ns configured, 954 ns from gpsd) = 1000; w = 500 ppm of
    // the 1 ms gap = 500 ns.
    assert_eq!(
        edge.sample.interval.earliest().unix_nanos(),
        truth(102 * S) - 1_500
    );
    assert_eq!(
        edge.sample.interval.latest().unix_nanos(),
        truth(102 * S) + 1_500
    );
    assert!(edge
        .sample
        .interval
        .contains(Timestamp::from_unix_nanos(truth(102 * S))));

    // An edge labelled one second too late (a receiver that sends its
    // sentence before the edge fools gpsd's "+1"): the serial fix of the
    // mislabelled second arrives 1.1 s after the edge, and carried back
    // to the edge its interval excludes the label.
    let wrong = pps(truth(104 * S), wall(103 * S), None);
    assert!(matches!(
        only(session.on_line(wrong.as_bytes(), pair(103 * S + MS))),
        Outcome::Held(_)
    ));
    let line = tpv(3, Some(&label(103 * S)), Some(wall(103 * S + 100 * MS)));
    assert!(matches!(
        only(session.on_line(line.as_bytes(), pair(103 * S + 101 * MS))),
        Outcome::Taken(_)
    ));
    let line = tpv(3, Some(&label(104 * S)), Some(wall(104 * S + 100 * MS)));
    let outcomes = session.on_line(line.as_bytes(), pair(104 * S + 101 * MS));
    assert!(
        matches!(
            outcomes.as_slice(),
            [
                Outcome::Taken(_),
                Outcome::Rejected(Rejection::PpsDisagrees { .. })
            ]
        ),
        "{outcomes:?}"
    );
}

#[test]
fn pps_edges_without_a_confirming_fix_are_refused() {
    let mut session = new_session();
    let base = iso("2026-03-01T00:00:00Z");
    // No fix at all yet.
    let line = pps(base + S, wall(101 * S), None);
    assert_eq!(
        rejected(only(session.on_line(line.as_bytes(), pair(101 * S + MS)))),
        Rejection::PpsWithoutFix
    );
    // A fix, then an edge whose second no serial fix ever labels: it
    // waits, and 2 s later it is refused.
    let line = tpv(
        3,
        Some("2026-03-01T00:00:01.000Z"),
        Some(wall(101 * S + 100 * MS)),
    );
    assert!(matches!(
        only(session.on_line(line.as_bytes(), pair(101 * S + 101 * MS))),
        Outcome::Taken(_)
    ));
    let line = pps(base + 30 * S, wall(102 * S), None);
    assert!(matches!(
        only(session.on_line(line.as_bytes(), pair(102 * S + MS))),
        Outcome::Held(_)
    ));
    let sky = b"{\"class\":\"SKY\"}";
    let outcomes = session.on_line(sky, pair(104 * S + 2 * MS));
    assert_eq!(
        outcomes,
        vec![
            Outcome::Rejected(Rejection::PpsUnconfirmed {
                label: Timestamp::from_unix_nanos(base + 30 * S)
            }),
            Outcome::Ignored
        ]
    );
    // With PPS off, PPS messages are simply ignored.
    let mut config = config();
    config.use_pps = false;
    let mut session = Session::new(config, pair(100 * S));
    assert_eq!(
        only(session.on_line(line.as_bytes(), pair(102 * S + MS))),
        Outcome::Ignored
    );
}

#[test]
fn config_validation() {
    assert_eq!(GpsdConfig::default().validate(), Ok(()));
    let mut c = config();
    c.min_delay_ns = 300 * MS;
    assert!(matches!(
        c.validate(),
        Err(ConfigError::DelayRangeInverted { .. })
    ));
    let mut c = config();
    c.pps_precision_ns = -1;
    assert_eq!(c.validate(), Err(ConfigError::NegativePpsPrecision(-1)));
    let mut c = config();
    c.address = " ".to_string();
    assert_eq!(c.validate(), Err(ConfigError::EmptyAddress));
}

#[tokio::test]
async fn line_reader_bounds_lines_and_survives_long_ones() {
    let mut data = Vec::new();
    data.extend_from_slice(b"first\r\n");
    data.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
    data.extend_from_slice(b"\nsecond\npartial");
    let mut reader = LineReader::new(BufReader::with_capacity(1024, data.as_slice()));
    assert_eq!(reader.next().await.unwrap(), LineRead::Line);
    assert_eq!(reader.line(), b"first");
    assert_eq!(
        reader.next().await.unwrap(),
        LineRead::Oversized(MAX_LINE_BYTES + 10)
    );
    assert_eq!(reader.next().await.unwrap(), LineRead::Line);
    assert_eq!(reader.line(), b"second");
    assert_eq!(reader.next().await.unwrap(), LineRead::Eof);
}

/// Against a scripted gpsd on loopback: the client sends our WATCH, takes
/// a sample from a real-time TPV, counts the garbage, reports the close,
/// and reconnects.
#[tokio::test]
async fn client_talks_to_a_scripted_gpsd_and_reconnects() {
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let cell = SourceCell::new("gps", "gpsd");
    let (sender, mut samples) = tokio::sync::mpsc::unbounded_channel();
    let mut config = config();
    config.address = address.clone();
    let client = tokio::spawn(run_observed(
        config,
        cell.clone(),
        "gps".to_string(),
        move |t: &Taken| {
            let _ = sender.send(*t);
        },
    ));

    let deadline = std::time::Duration::from_secs(10);
    let (mut stream, _) = tokio::time::timeout(deadline, listener.accept())
        .await
        .expect("the client connects")
        .unwrap();
    let mut watch = vec![0u8; WATCH_COMMAND.len()];
    tokio::time::timeout(deadline, stream.read_exact(&mut watch))
        .await
        .expect("the client sends its WATCH")
        .unwrap();
    assert_eq!(watch, WATCH_COMMAND.as_bytes());
    let watch = String::from_utf8(watch).unwrap();
    assert!(watch.contains("\"pps\":true") && watch.contains("\"timing\":true"));

    // Two TPVs half a second apart, stamped with the real wall clock: after
    // the client read its first pair (before sending WATCH; a stamp from
    // before the connection would be refused, as no pair of the session
    // precedes it), before it reads the pair for these lines. A serial
    // source publishes once two samples agree (`crate::chain`).
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let rtime = tt_clock::realtime_ns();
    let mut script = String::new();
    script += "{\"class\":\"VERSION\",\"release\":\"3.22\",\"rev\":\"3.22\",\"proto_major\":3,\"proto_minor\":14}\r\n";
    script += "this is not json\r\n";
    script += &"y".repeat(MAX_LINE_BYTES + 1);
    script += "\r\n";
    script += &tpv(
        3,
        Some("2026-03-01T00:00:00.000Z"),
        Some(rtime - 500_000_000),
    );
    script += "\r\n";
    script += &tpv(3, Some("2026-03-01T00:00:00.500Z"), Some(rtime));
    script += "\r\n";
    stream.write_all(script.as_bytes()).await.unwrap();

    let mut taken = Vec::new();
    for _ in 0..2 {
        let got = tokio::time::timeout(deadline, samples.recv())
            .await
            .unwrap_or_else(|_| panic!("no sample within the deadline: {:?}", cell.snapshot()))
            .expect("the client is running");
        assert_eq!(got.kind, TakenKind::Serial(ArrivalStamp::Rtime));
        taken.push(got);
    }
    assert_eq!(taken[0].label.unix_nanos(), iso("2026-03-01T00:00:00.000Z"));
    assert_eq!(taken[1].label.unix_nanos(), iso("2026-03-01T00:00:00.500Z"));
    let state = cell.snapshot();
    assert_eq!(state.health, Health::Good);
    assert_eq!(state.accepted, 1);
    assert_eq!(state.rejected, 2);
    // What is published is the second sample widened to cover the first
    // one carried forward: it contains the second sample's interval.
    let published = state.last.expect("a sample is published");
    assert_eq!(published.local, taken[1].sample.local);
    assert!(published.interval.earliest() <= taken[1].sample.interval.earliest());
    assert!(published.interval.latest() >= taken[1].sample.interval.latest());

    // gpsd goes away: the source says so, then comes back.
    drop(stream);
    let (stream, _) = tokio::time::timeout(deadline, listener.accept())
        .await
        .expect("the client reconnects")
        .unwrap();
    let state = cell.snapshot();
    assert_eq!(state.health, Health::Down);
    assert_eq!(state.last, None);
    assert_eq!(
        state.detail,
        format!("gpsd at {address} closed the connection")
    );
    drop(stream);
    client.abort();
}

#[tokio::test]
async fn an_absent_gpsd_is_reported_plainly() {
    // A port nobody listens on: bind one, note it, let it go.
    let address = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().to_string()
    };
    let cell = SourceCell::new("gps", "gpsd");
    let mut config = config();
    config.address = address.clone();
    let client = tokio::spawn(run(config, cell.clone(), "gps".to_string()));
    let mut state = cell.snapshot();
    for _ in 0..200 {
        if state.health == Health::Down {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        state = cell.snapshot();
    }
    client.abort();
    assert_eq!(state.health, Health::Down);
    assert_eq!(
        state.detail,
        format!("gpsd at {address} refused the connection; is gpsd running?")
    );
}

#[tokio::test]
async fn a_bad_config_keeps_the_source_down() {
    let cell = SourceCell::new("gps", "gpsd");
    let mut config = config();
    config.max_delay_ns = 0;
    let client = tokio::spawn(run(config, cell.clone(), "gps".to_string()));
    let mut state = cell.snapshot();
    for _ in 0..200 {
        if state.health == Health::Down {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        state = cell.snapshot();
    }
    client.abort();
    assert_eq!(state.health, Health::Down);
    assert!(
        state.detail.contains("delay range is inverted"),
        "{}",
        state.detail
    );
}
