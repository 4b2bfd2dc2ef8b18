//! Tests of the PHC source: the bound and the discipline rules on
//! synthetic readings, holdover over simulated hours, the ioctl path on a
//! file that is not a PTP clock, and the whole source on `CLOCK_TAI`
//! standing in for a PHC.

use super::*;
use crate::holdover::growth_ns;
use crate::ptp4l::wire::TimeStatusNp;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tt_core::LocalInstant;

const S: i64 = NANOS_PER_SEC;
const MS: i64 = 1_000_000;
/// The wall clock reads local + this, and is true (UTC) in these tests.
const WALL_OFFSET: i64 = 1_790_000_000 * S;
const TAI_MINUS_UTC: i64 = 37;

fn pair(local: i64) -> ClockPair {
    ClockPair {
        realtime_ns: local + WALL_OFFSET,
        local_before: LocalInstant::from_nanos(local),
        local_after: LocalInstant::from_nanos(local),
    }
}

/// A reading at local instant `local`: the system clock read 400 ns
/// before and after, the PHC (TAI) `phc_error_ns` off true time.
fn reading(local: i64, phc_error_ns: i64) -> Reading {
    let wall = local + WALL_OFFSET;
    Reading {
        sandwich: Sandwich {
            before_ns: wall - 400,
            device_ns: wall + TAI_MINUS_UTC * S + phc_error_ns,
            after_ns: wall + 400,
        },
        method: ReadMethod::SysOffsetExtended,
    }
}

fn config() -> PhcConfig {
    PhcConfig {
        utc_offset_s: Some(TAI_MINUS_UTC),
        ..PhcConfig::new("/dev/ptp0", Timescale::Tai, 100)
    }
}

/// ptp4l's view: a grandmaster, a measurement `age_ns` before the PHC
/// reading at `local`, offset `offset_ns`, UTC offset 37 vouched for.
fn ptp4l(local: i64, age_ns: i64, offset_ns: i64, gm_present: bool) -> Discipline {
    Discipline::Ptp4l {
        time_status: TimeStatusNp {
            master_offset_ns: offset_ns,
            ingress_time_ns: local + WALL_OFFSET + TAI_MINUS_UTC * S - age_ns,
            gm_present,
            gm_identity: [7; 8],
        },
        time_properties: TimeProperties {
            current_utc_offset_s: TAI_MINUS_UTC as i16,
            flags: TimeProperties::UTC_OFFSET_VALID
                | TimeProperties::PTP_TIMESCALE
                | TimeProperties::TIME_TRACEABLE,
            time_source: 0x20,
        },
    }
}

/// Reads at local `local` with pairs 1 us either side.
fn read_at(session: &mut PhcSession, local: i64, discipline: &Discipline) -> Outcome {
    session.observe(pair(local - 1_000)).unwrap();
    let (outcome, step) = session.on_reading(&reading(local, 0), pair(local + 1_000), discipline);
    assert_eq!(step, None);
    outcome
}

fn taken(outcome: Outcome) -> PhcTaken {
    match outcome {
        Outcome::Taken(taken) => taken,
        other => panic!("expected a sample, got {other:?}"),
    }
}

#[test]
fn the_interval_follows_the_formula() {
    // Span 800 ns: h = 400, k = 400 + ceil(400 * 500e-6) = 401, and
    // ceil(401 * 200e-6) = 1, so the read slack is 402 ns.
    assert_eq!(read_slack_ns(800, Drift::from_ppm(200)), 402);
    // An odd span rounds the half up: 801 -> 401 -> 402 -> 403.
    assert_eq!(read_slack_ns(801, Drift::from_ppm(200)), 403);
    let interval = phc_interval(1_000_000, 100, 800, 50, Drift::from_ppm(200));
    assert_eq!(interval.earliest().unix_nanos(), 1_000_000 - 100 - 402 - 50);
    assert_eq!(interval.latest().unix_nanos(), 1_000_000 + 100 + 402 + 50);
}

#[test]
fn a_disciplined_tai_reading_becomes_utc() {
    let mut session = PhcSession::new(config(), pair(10 * S));
    let got = taken(read_at(&mut session, 11 * S, &Discipline::Assumed));
    assert_eq!(got.utc_offset_s, 37);
    assert_eq!(got.span_ns, 800);
    assert_eq!(got.holdover, None);
    // The midpoint lies 1 us before the pair: 500 ppm of it rounds up to
    // 1 ns, so w = 1; accuracy 100; read slack 402.
    assert_eq!(got.sample.local.nanos(), 11 * S);
    let truth = 11 * S + WALL_OFFSET;
    assert_eq!(
        got.sample.interval.earliest().unix_nanos(),
        truth - 100 - 402 - 1
    );
    assert_eq!(
        got.sample.interval.latest().unix_nanos(),
        truth + 100 + 402 + 1
    );
}

#[test]
fn discipline_rules() {
    let local = 11 * S;
    let cases = [
        (ptp4l(local, MS, 50, true), true),
        // No grandmaster.
        (ptp4l(local, MS, 50, false), false),
        // A measurement older than 4 s (PHC time).
        (ptp4l(local, 4 * S + 1, 50, true), false),
        // A measurement from the future: ptp4l is not on this PHC.
        (ptp4l(local, -37 * S, 50, true), false),
        // ptp4l measures the PHC beyond its claimed accuracy.
        (ptp4l(local, MS, 101, true), false),
        (ptp4l(local, MS, -101, true), false),
        (Discipline::Unknown("ptp4l does not answer".into()), false),
        (Discipline::Assumed, true),
    ];
    for (discipline, disciplined) in cases {
        let mut session = PhcSession::new(config(), pair(10 * S));
        let outcome = read_at(&mut session, local, &discipline);
        // No holdover is configured: lost means no data.
        assert_eq!(
            matches!(outcome, Outcome::Taken(_)),
            disciplined,
            "{discipline:?}: {outcome:?}"
        );
    }
    let mut no_measurement = ptp4l(local, MS, 0, true);
    if let Discipline::Ptp4l { time_status, .. } = &mut no_measurement {
        time_status.ingress_time_ns = 0;
    }
    let mut session = PhcSession::new(config(), pair(10 * S));
    let outcome = read_at(&mut session, local, &no_measurement);
    assert_eq!(
        outcome,
        Outcome::NoData("discipline lost: ptp4l has no offset measurement".into())
    );
}

#[test]
fn utc_offset_sources() {
    let local = 11 * S;
    // ptp4l's vouched offset agrees with the configuration: taken.
    let mut session = PhcSession::new(config(), pair(10 * S));
    assert!(matches!(
        read_at(&mut session, local, &ptp4l(local, MS, 0, true)),
        Outcome::Taken(_)
    ));
    // Disagreeing: refused.
    let wrong = PhcConfig {
        utc_offset_s: Some(36),
        ..config()
    };
    let mut session = PhcSession::new(wrong, pair(10 * S));
    assert_eq!(
        read_at(&mut session, local, &ptp4l(local, MS, 0, true)),
        Outcome::Rejected(Rejection::UtcOffsetDisagrees {
            configured_s: 36,
            ptp4l_s: 37
        })
    );
    // Only ptp4l: taken from it; then, while ptp4l does not vouch, the
    // last vouched offset is kept.
    let from_ptp4l = PhcConfig {
        utc_offset_s: None,
        ptp4l_socket: Some("/var/run/ptp4l".into()),
        ..config()
    };
    let mut session = PhcSession::new(from_ptp4l.clone(), pair(10 * S));
    assert_eq!(
        taken(read_at(&mut session, local, &ptp4l(local, MS, 0, true))).utc_offset_s,
        37
    );
    let mut unvouched = ptp4l(local + S, MS, 0, true);
    if let Discipline::Ptp4l {
        time_properties, ..
    } = &mut unvouched
    {
        time_properties.flags = 0;
    }
    assert_eq!(
        taken(read_at(&mut session, local + S, &unvouched)).utc_offset_s,
        37
    );
    // Never vouched and not configured: no data.
    let mut session = PhcSession::new(from_ptp4l, pair(10 * S));
    assert!(matches!(
        read_at(&mut session, local, &unvouched),
        Outcome::NoData(_)
    ));
    // A UTC PHC needs no offset.
    let utc = PhcConfig {
        utc_offset_s: None,
        ..PhcConfig::new("/dev/ptp0", Timescale::Utc, 100)
    };
    let mut session = PhcSession::new(utc, pair(10 * S));
    session.observe(pair(11 * S - 1_000)).unwrap();
    let mut utc_reading = reading(11 * S, 0);
    utc_reading.sandwich.device_ns -= TAI_MINUS_UTC * S;
    let (outcome, _) = session.on_reading(&utc_reading, pair(11 * S + 1_000), &Discipline::Assumed);
    let got = taken(outcome);
    assert_eq!(got.utc_offset_s, 0);
    assert!(got
        .sample
        .interval
        .contains(Timestamp::from_unix_nanos(11 * S + WALL_OFFSET)));
}

#[test]
fn holdover_widens_at_the_declared_drift_and_ends() {
    // A rubidium-disciplined PHC: 5e-11, for at most 2000 s.
    let holdover = HoldoverConfig {
        drift_pptr: 50,
        max_ns: 2_000 * S,
    };
    let config = PhcConfig {
        holdover: Some(holdover),
        ..config()
    };
    let mut session = PhcSession::new(config, pair(99 * S));

    // Disciplined at 100 s.
    let loss = 100 * S;
    let disciplined = taken(read_at(&mut session, loss, &ptp4l(loss, MS, 0, true)));
    let base_width = disciplined.sample.interval.width_ns();
    // 2 * (100 accuracy + 402 read slack + 1 mapping).
    assert_eq!(base_width, 2 * (100 + 402 + 1));

    // The grandmaster goes; the PHC runs on, read every 250 s of
    // simulated time.
    let mut last_width = base_width;
    for step in 1..=8 {
        let local = loss + step * 250 * S;
        let got = taken(read_at(&mut session, local, &ptp4l(local, MS, 0, false)));
        let bound = got.holdover.expect("held over");
        assert_eq!(bound.since_loss_ns, step * 250 * S);
        let growth = growth_ns(50, step * 250 * S);
        assert_eq!(bound.growth_ns, growth);
        assert_eq!(got.sample.interval.width_ns(), base_width + 2 * growth);
        assert!(got.sample.interval.width_ns() > last_width || growth == 0);
        last_width = got.sample.interval.width_ns();
        // Still true: the PHC ran exactly (the simulation's truth).
        assert!(got
            .sample
            .interval
            .contains(Timestamp::from_unix_nanos(local + WALL_OFFSET)));
    }
    // After 2000 s: ceil(2000 s * 5e-11 / (1 - 5e-11)) = 101 ns of growth
    // each side, against 400 ms each side at the host's 200 ppm.
    assert_eq!(last_width, base_width + 2 * 101);
    assert_eq!(Drift::DEFAULT.error_over(2_000 * S), 400_000_000);

    // One second past holdover-max: nothing, and it says why.
    let local = loss + 2_001 * S;
    match read_at(&mut session, local, &ptp4l(local, MS, 0, false)) {
        Outcome::NoData(why) => assert!(why.contains("holdover ended"), "{why}"),
        other => panic!("expected the end of holdover, got {other:?}"),
    }
    // It stays ended until the discipline returns.
    let local = loss + 2_002 * S;
    match read_at(&mut session, local, &ptp4l(local, MS, 0, false)) {
        Outcome::NoData(why) => assert!(why.contains("holdover ended"), "{why}"),
        other => panic!("expected the end of holdover, got {other:?}"),
    }
    assert!(matches!(
        read_at(&mut session, local + S, &ptp4l(local + S, MS, 0, true)),
        Outcome::Taken(PhcTaken { holdover: None, .. })
    ));
}

#[test]
fn holdover_across_a_month_end_allows_for_a_leap_second() {
    let config = PhcConfig {
        holdover: Some(HoldoverConfig {
            drift_pptr: 50,
            max_ns: 86_400 * S,
        }),
        ..config()
    };
    // Local instants such that UTC is 2026-12-31T23:00:00Z at the loss
    // and 2027-01-01T01:00:00Z two hours later.
    let new_year = 1_798_761_600 * S;
    let loss = new_year - 3_600 * S - WALL_OFFSET;
    let mut session = PhcSession::new(config, pair(loss - S));
    let before = taken(read_at(&mut session, loss, &ptp4l(loss, MS, 0, true)));
    let later = loss + 7_200 * S;
    let got = taken(read_at(&mut session, later, &ptp4l(later, MS, 0, false)));
    assert_eq!(got.leap_widening_ns, S);
    let growth = growth_ns(50, 7_200 * S);
    assert_eq!(
        got.sample.interval.width_ns(),
        before.sample.interval.width_ns() + 2 * (growth + S)
    );
}

#[test]
fn a_stepped_phc_ends_holdover() {
    let config = PhcConfig {
        holdover: Some(HoldoverConfig {
            drift_pptr: 50,
            max_ns: 86_400 * S,
        }),
        ..config()
    };
    let mut session = PhcSession::new(config, pair(9 * S));
    let _ = taken(read_at(&mut session, 10 * S, &ptp4l(10 * S, MS, 0, true)));
    // 10 s later the PHC reads 5 ms more than it should: 200 ppm of 10 s
    // is 2 ms; someone stepped it.
    let local = 20 * S;
    session.observe(pair(local - 1_000)).unwrap();
    let (outcome, _) = session.on_reading(
        &reading(local, 5 * MS),
        pair(local + 1_000),
        &ptp4l(local, MS, 0, false),
    );
    match outcome {
        Outcome::NoData(why) => assert!(why.contains("stepped"), "{why}"),
        other => panic!("expected the end of holdover, got {other:?}"),
    }
}

#[test]
fn configuration_is_checked() {
    assert!(config().validate().is_ok());
    let no_offset = PhcConfig::new("/dev/ptp0", Timescale::Tai, 100);
    assert!(no_offset.validate().unwrap_err().contains("utc-offset-s"));
    let with_ptp4l = PhcConfig {
        ptp4l_socket: Some("/var/run/ptp4l".into()),
        ..no_offset
    };
    assert!(with_ptp4l.validate().is_ok());
    let too_many = PhcConfig {
        samples: 26,
        ..config()
    };
    assert!(too_many.validate().is_err());
    let negative = PhcConfig {
        accuracy_ns: -1,
        ..config()
    };
    assert!(negative.validate().is_err());
    let coarse = PhcConfig {
        holdover: Some(HoldoverConfig {
            drift_pptr: 2_000_000,
            max_ns: S,
        }),
        ..config()
    };
    assert!(coarse
        .validate()
        .unwrap_err()
        .contains("holdover-drift-pptr"));
}

#[test]
fn a_file_that_is_not_a_ptp_clock_is_refused_plainly() {
    let path = std::env::temp_dir().join(format!("tt-phc-plain-file-{}", std::process::id()));
    std::fs::write(&path, b"plain").unwrap();
    let err = PtpClock::open(&path).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTTY), "{err}");
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("not a PTP hardware clock"), "{text}");
    let _ = std::fs::remove_file(&path);

    let missing = std::env::temp_dir().join("tt-phc-no-such-device");
    let err = PtpClock::open(&missing).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err}");
    assert!(err.to_string().contains("tt-phc-no-such-device"));
}

/// `TAI - UTC` as the kernel keeps it: `CLOCK_TAI - CLOCK_REALTIME`,
/// rounded to whole seconds (0 unless a time daemon set it).
fn kernel_tai_offset_s() -> i64 {
    let realtime = sys::clock_gettime_ns(libc::CLOCK_REALTIME).unwrap();
    let tai = sys::clock_gettime_ns(libc::CLOCK_TAI).unwrap();
    (tai - realtime + S / 2).div_euclid(S)
}

#[test]
fn clock_tai_standing_in_gives_an_interval_holding_the_host_clock() {
    // The real reading code on CLOCK_TAI, real clock pairs, the host's
    // CLOCK_REALTIME as true time: the interval carried to a later read
    // of that clock contains it.
    let offset = kernel_tai_offset_s();
    let config = PhcConfig {
        utc_offset_s: Some(offset),
        ..PhcConfig::new("CLOCK_TAI", Timescale::Tai, 0)
    };
    let mut device = PosixClock::new(libc::CLOCK_TAI, "CLOCK_TAI");
    let mut session = PhcSession::new(config, ClockPair::read());
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(5));
        session.observe(ClockPair::read()).unwrap();
        let reading = device.read(5).unwrap();
        assert_eq!(reading.method, ReadMethod::ClockGettime);
        let (outcome, _) = session.on_reading(&reading, ClockPair::read(), &Discipline::Assumed);
        let got = taken(outcome);
        eprintln!(
            "CLOCK_TAI as a PHC: sandwich {} ns, width {} ns",
            got.span_ns,
            got.sample.interval.width_ns()
        );
        let check = ClockPair::read();
        let carried = got.sample.at(check.local_after, Drift::DEFAULT);
        // The wall read lies between the two local reads: true time at
        // local_after is at most the spread later.
        let truth_earliest = check.realtime_ns;
        let truth_latest = check.realtime_ns + check.spread_ns();
        assert!(
            carried.earliest().unix_nanos() <= truth_earliest
                && truth_latest <= carried.latest().unix_nanos(),
            "{carried} misses [{truth_earliest}, {truth_latest}]"
        );
    }
}

/// A scripted ptp4l answering TIME_STATUS_NP and TIME_PROPERTIES_DATA_SET
/// for a PHC that is `CLOCK_TAI`: a fresh measurement while `present`,
/// no grandmaster after.
async fn scripted_ptp4l(socket: tokio::net::UnixDatagram, present: Arc<AtomicBool>, offset_s: i16) {
    let mut buf = vec![0u8; 2048];
    loop {
        let Ok((len, from)) = socket.recv_from(&mut buf).await else {
            return;
        };
        let Some(from) = from.as_pathname().map(|p| p.to_path_buf()) else {
            continue;
        };
        if len != 54 {
            continue;
        }
        let request = buf[..len].to_vec();
        let id = u16::from_be_bytes([request[52], request[53]]);
        let mut value = id.to_be_bytes().to_vec();
        if id == 0xC000 {
            let gm = present.load(Ordering::SeqCst);
            let ingress = if gm {
                sys::clock_gettime_ns(libc::CLOCK_TAI).unwrap() - 5 * MS
            } else {
                0
            };
            value.extend_from_slice(&0_i64.to_be_bytes());
            value.extend_from_slice(&ingress.to_be_bytes());
            value.extend_from_slice(&[0; 22]);
            value.extend_from_slice(&u32::from(gm).to_be_bytes());
            value.extend_from_slice(&[0xAA; 8]);
        } else {
            value.extend_from_slice(&offset_s.to_be_bytes());
            value.extend_from_slice(&[0x1C, 0x20]); // valid, PTP, traceable
        }
        let length = 52 + value.len();
        let mut out = vec![0u8; length];
        out[0] = 0x0D;
        out[1] = 0x02;
        out[2..4].copy_from_slice(&(length as u16).to_be_bytes());
        out[30..32].copy_from_slice(&request[30..32]);
        out[32] = 0x04;
        out[34..44].copy_from_slice(&request[20..30]);
        out[46] = 2;
        out[48..50].copy_from_slice(&1_u16.to_be_bytes());
        out[50..52].copy_from_slice(&(value.len() as u16).to_be_bytes());
        out[52..].copy_from_slice(&value);
        let _ = socket.send_to(&out, &from).await;
    }
}

#[tokio::test]
async fn the_source_holds_over_when_ptp4l_loses_its_grandmaster_and_then_stops() {
    let server = std::env::temp_dir().join(format!("tt-phc-ptp4l-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&server);
    let socket = tokio::net::UnixDatagram::bind(&server).unwrap();
    let present = Arc::new(AtomicBool::new(true));
    let offset = kernel_tai_offset_s();
    let ptp4l_task = tokio::spawn(scripted_ptp4l(socket, Arc::clone(&present), offset as i16));

    let config = PhcConfig {
        ptp4l_socket: Some(server.clone()),
        poll_interval: Duration::from_millis(100),
        holdover: Some(HoldoverConfig {
            drift_pptr: 50,
            max_ns: 2 * S,
        }),
        ..PhcConfig::new("CLOCK_TAI", Timescale::Tai, 1_000)
    };
    let cell = SourceCell::new("phc0", "phc");
    let source = tokio::spawn(run_with(config, cell.clone(), "phc0".into(), || {
        Ok(Box::new(PosixClock::new(libc::CLOCK_TAI, "CLOCK_TAI")) as Box<dyn PhcDevice>)
    }));

    let wait = |what: &'static str, cell: SourceCell, check: fn(&crate::SourceState) -> bool| async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let state = cell.snapshot();
            if check(&state) {
                return state;
            }
            assert!(tokio::time::Instant::now() < deadline, "{what}: {state:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let disciplined = wait("disciplined", cell.clone(), |s| {
        s.health == Health::Good && s.detail.starts_with("PHC within 1000 ns")
    })
    .await;
    assert!(disciplined.last.is_some());

    present.store(false, Ordering::SeqCst);
    let holding = wait("holding over", cell.clone(), |s| {
        s.health == Health::Good && s.detail.starts_with("holdover")
    })
    .await;
    // Within 2 s at 5e-11 the growth is ceil(ΔP * 5e-11) = 1 ns for any
    // advance ΔP between 1 ns and 2 s: the bound is the 1000 ns accuracy
    // plus 1 ns.
    assert!(
        holding
            .detail
            .contains("PHC within 1001 ns (1 ns of growth)"),
        "{}",
        holding.detail
    );
    assert!(holding.last.is_some());
    let ended = wait("holdover ended", cell.clone(), |s| {
        s.health == Health::NoData
    })
    .await;
    assert!(ended.detail.contains("holdover ended"), "{}", ended.detail);
    assert!(ended.last.is_none());

    source.abort();
    ptp4l_task.abort();
    let _ = std::fs::remove_file(&server);
}
