//! Tests of the ptp4l source: the judging of data sets on synthetic clock
//! pairs, and the client against a scripted ptp4l on a Unix socket.

use super::wire::{CurrentDataSet, ParentDataSet, PortIdentity, TimeStatusNp};
use super::*;
use tt_core::LocalInstant;

const S: i64 = NANOS_PER_SEC;
const MS: i64 = 1_000_000;
/// The wall clock reads local + this.
const WALL_OFFSET: i64 = 1_790_000_000 * S;

fn pair(local: i64) -> ClockPair {
    ClockPair {
        realtime_ns: local + WALL_OFFSET,
        local_before: LocalInstant::from_nanos(local),
        local_after: LocalInstant::from_nanos(local),
    }
}

fn status(
    offset_ns: i64,
    ingress_ns: i64,
    mpd_scaled: i64,
    accuracy: u8,
    flags: u8,
) -> Ptp4lStatus {
    Ptp4lStatus {
        time_status: TimeStatusNp {
            master_offset_ns: offset_ns,
            ingress_time_ns: ingress_ns,
            gm_present: true,
            gm_identity: [1; 8],
        },
        current: CurrentDataSet {
            steps_removed: 1,
            offset_scaled: offset_ns * 65_536,
            mean_path_delay_scaled: mpd_scaled,
        },
        parent: ParentDataSet {
            parent: PortIdentity {
                clock: [1; 8],
                port: 1,
            },
            gm_clock_class: 6,
            gm_clock_accuracy: accuracy,
            gm_identity: [1; 8],
        },
        time_properties: TimeProperties {
            current_utc_offset_s: 37,
            flags,
            time_source: 0x20,
        },
    }
}

const VOUCHED: u8 = TimeProperties::PTP_TIMESCALE
    | TimeProperties::UTC_OFFSET_VALID
    | TimeProperties::TIME_TRACEABLE;

fn session(allow_arb: bool, unknown: Option<i64>) -> Ptp4lSession {
    let config = Ptp4lConfig {
        allow_arb_timescale: allow_arb,
        unknown_gm_accuracy_ns: unknown,
        ..Ptp4lConfig::default()
    };
    Ptp4lSession::new(config, pair(100 * S))
}

fn taken(outcome: Outcome) -> PtpTaken {
    match outcome {
        Outcome::Taken(taken) => taken,
        other => panic!("expected a sample, got {other:?}"),
    }
}

#[test]
fn a_measurement_becomes_the_documented_interval() {
    let mut session = session(false, None);
    // The Sync arrived at wall 100.9 s (local 100.9 s); we read our pair
    // at 101 s: a 100 ms gap.
    let ingress = WALL_OFFSET + 100 * S + 900 * MS;
    // Local clock 661 ns behind the grandmaster; path delay 1552.25 ns.
    let data = status(-661, ingress, 1_552 * 65_536 + 16_384, 0x21, VOUCHED);
    let (outcome, step) = session.on_status(&data, pair(101 * S));
    assert_eq!(step, None);
    let got = taken(outcome);

    assert_eq!(got.sample.local.nanos(), 100 * S + 900 * MS);
    assert_eq!(got.offset_ns, -661);
    assert_eq!(got.mean_path_delay_ns, 1_553, "1552.25 ns rounds up");
    assert_eq!(got.gm_accuracy_ns, 100, "clockAccuracy 0x21: within 100 ns");
    // 500 ppm of the 100 ms gap; no spread, no offset change.
    assert_eq!(got.mapping_ns, 50_000);
    // The grandmaster's time at the ingress is ingress - offset.
    let grandmaster = ingress + 661;
    let radius = 1_553 + 100 + 50_000;
    assert_eq!(
        got.sample.interval.earliest().unix_nanos(),
        grandmaster - radius
    );
    assert_eq!(
        got.sample.interval.latest().unix_nanos(),
        grandmaster + radius
    );
}

#[test]
fn loss_and_doubt_give_no_sample() {
    let ingress = WALL_OFFSET + 100 * S + 900 * MS;
    let good = status(10, ingress, 65_536, 0x21, VOUCHED);

    let mut no_gm = good;
    no_gm.time_status.gm_present = false;
    let mut no_measurement = good;
    no_measurement.time_status.ingress_time_ns = 0;
    let negative_delay = status(10, ingress, -65_536 * 3, 0x21, VOUCHED);
    let arb = status(10, ingress, 65_536, 0x21, 0);
    let unvouched = status(10, ingress, 65_536, 0x21, TimeProperties::PTP_TIMESCALE);
    let unknown = status(10, ingress, 65_536, 0xFE, VOUCHED);
    let beyond = status(10, ingress, 65_536, 0x31, VOUCHED);

    let cases = [
        (no_gm, NoSample::NoGrandmaster),
        (no_measurement, NoSample::NoMeasurement),
        (negative_delay, NoSample::NegativePathDelay(-3)),
        (arb, NoSample::ArbitraryTimescale),
        (
            unvouched,
            NoSample::UtcOffsetNotVouched {
                offset_s: 37,
                flags: TimeProperties::PTP_TIMESCALE,
            },
        ),
        (unknown, NoSample::UnknownAccuracy(0xFE)),
        (beyond, NoSample::UnknownAccuracy(0x31)),
    ];
    for (data, expected) in cases {
        let (outcome, _) = session(false, None).on_status(&data, pair(101 * S));
        assert_eq!(outcome, Outcome::NoData(expected));
    }

    // Allowed by configuration: ARB timescale, and an assumed accuracy
    // for "unknown" (but never for "beyond 10 s").
    let (outcome, _) = session(true, None).on_status(&arb, pair(101 * S));
    assert!(matches!(outcome, Outcome::Taken(_)), "{outcome:?}");
    let (outcome, _) = session(false, Some(5_000)).on_status(&unknown, pair(101 * S));
    assert_eq!(taken(outcome).gm_accuracy_ns, 5_000);
    let (outcome, _) = session(false, Some(5_000)).on_status(&beyond, pair(101 * S));
    assert_eq!(outcome, Outcome::NoData(NoSample::UnknownAccuracy(0x31)));
}

#[test]
fn a_stale_or_future_ingress_is_refused() {
    // Ingress 2.5 s before our pair: older than the wall map accepts.
    let stale = status(0, WALL_OFFSET + 98 * S + 500 * MS, 65_536, 0x21, VOUCHED);
    let (outcome, _) = session(false, None).on_status(&stale, pair(101 * S));
    assert!(
        matches!(outcome, Outcome::Rejected(WallError::Stale { .. })),
        "{outcome:?}"
    );
    // An ingress 37 s ahead of the wall clock: a PHC on TAI, not the
    // system clock.
    let tai = status(0, WALL_OFFSET + 138 * S, 65_536, 0x21, VOUCHED);
    let (outcome, _) = session(false, None).on_status(&tai, pair(101 * S));
    assert!(
        matches!(outcome, Outcome::Rejected(WallError::FromTheFuture { .. })),
        "{outcome:?}"
    );
}

#[test]
fn no_sample_next_to_an_announced_leap_second() {
    // 2026-12-31T23:59:59Z = 1798761599 s; the grandmaster's time there.
    let midnight = 1_798_761_600 * S;
    let local = midnight - S - WALL_OFFSET + 100 * MS;
    let mut session = Ptp4lSession::new(Ptp4lConfig::default(), pair(local - S));
    let leap = status(
        0,
        midnight - S,
        65_536,
        0x21,
        VOUCHED | TimeProperties::LEAP_61,
    );
    let (outcome, _) = session.on_status(&leap, pair(local));
    assert_eq!(outcome, Outcome::NoData(NoSample::NearLeapSecond));
    // The same instant without an announcement is fine.
    let plain = status(0, midnight - S, 65_536, 0x21, VOUCHED);
    let (outcome, _) = session.on_status(&plain, pair(local + MS));
    assert!(matches!(outcome, Outcome::Taken(_)), "{outcome:?}");
    assert!(near_midnight(midnight - 2 * S));
    assert!(!near_midnight(midnight - 2 * S - 1));
    assert!(near_midnight(midnight + 2 * S - 1));
    assert!(!near_midnight(midnight + 2 * S));
}

#[test]
fn config_validation() {
    assert!(Ptp4lConfig::default().validate().is_ok());
    let fast = Ptp4lConfig {
        poll_interval: Duration::from_millis(1),
        ..Ptp4lConfig::default()
    };
    assert!(fast.validate().is_err());
    let negative = Ptp4lConfig {
        unknown_gm_accuracy_ns: Some(-1),
        ..Ptp4lConfig::default()
    };
    assert!(negative.validate().is_err());
}

/// How the scripted ptp4l answers one GET.
#[derive(Clone, Copy, Debug)]
enum Script {
    /// The right data set.
    Good,
    /// Noise, a wrong sequence id, a SIGNALING TLV, then the right answer.
    NoiseFirst,
    /// Only an answer with an unexpected TLV type.
    OnlyUnexpectedTlv,
    /// A MANAGEMENT_ERROR_STATUS NOT_SUPPORTED.
    NotSupported,
}

fn answer(request: &[u8], tlv_type: u16, value: &[u8], sequence_delta: u16) -> Vec<u8> {
    let length = 52 + value.len();
    let mut out = vec![0u8; length];
    out[0] = 0x0D;
    out[1] = 0x02;
    out[2..4].copy_from_slice(&(length as u16).to_be_bytes());
    out[20..28].copy_from_slice(&[0xAA; 8]);
    let sequence = u16::from_be_bytes([request[30], request[31]]).wrapping_add(sequence_delta);
    out[30..32].copy_from_slice(&sequence.to_be_bytes());
    out[32] = 0x04;
    out[33] = 0x7F;
    // The answer's target is the request's source.
    out[34..44].copy_from_slice(&request[20..30]);
    out[46] = 2;
    out[48..50].copy_from_slice(&tlv_type.to_be_bytes());
    out[50..52].copy_from_slice(&(value.len() as u16).to_be_bytes());
    out[52..].copy_from_slice(value);
    out
}

fn data_set(id: u16, ingress_ns: i64) -> Vec<u8> {
    let mut value = id.to_be_bytes().to_vec();
    match id {
        0xC000 => {
            value.extend_from_slice(&(-661_i64).to_be_bytes());
            value.extend_from_slice(&ingress_ns.to_be_bytes());
            value.extend_from_slice(&[0; 22]);
            value.extend_from_slice(&1_u32.to_be_bytes());
            value.extend_from_slice(&[0xAA; 8]);
        }
        0x2001 => {
            value.extend_from_slice(&1_u16.to_be_bytes());
            value.extend_from_slice(&(-661_i64 * 65_536).to_be_bytes());
            value.extend_from_slice(&(1_552_i64 * 65_536).to_be_bytes());
        }
        0x2002 => {
            value.extend_from_slice(&[0xAA; 8]);
            value.extend_from_slice(&[0, 1, 0, 0, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 128]);
            value.extend_from_slice(&[6, 0x21, 0x4E, 0x5D, 128]);
            value.extend_from_slice(&[0xAA; 8]);
        }
        0x2003 => value.extend_from_slice(&[0, 37, VOUCHED, 0x20]),
        _ => unreachable!("the client asks only for these"),
    }
    value
}

/// A scripted ptp4l on a Unix datagram socket; answers every GET per
/// `script`, stamping TIME_STATUS_NP's ingress with the current wall clock.
async fn scripted_ptp4l(socket: tokio::net::UnixDatagram, script: Script) {
    let mut buf = vec![0u8; 2048];
    loop {
        let Ok((len, from)) = socket.recv_from(&mut buf).await else {
            return;
        };
        let Some(from) = from.as_pathname().map(|p| p.to_path_buf()) else {
            continue;
        };
        let request = buf[..len].to_vec();
        assert_eq!(len, 54, "a GET is 54 bytes");
        assert_eq!(request[46], 0, "a GET");
        let id = u16::from_be_bytes([request[52], request[53]]);
        let ingress = tt_clock::realtime_ns() - 10 * MS;
        let good = answer(&request, 0x0001, &data_set(id, ingress), 0);
        let replies = match script {
            Script::Good => vec![good],
            Script::NoiseFirst => vec![
                vec![0x55; 30],
                answer(&request, 0x0001, &data_set(id, ingress), 5),
                answer(&request, 0x0003, &[0, 0, 0, 0], 0),
                good,
            ],
            Script::OnlyUnexpectedTlv => vec![answer(&request, 0x0003, &[0, 0, 0, 0], 0)],
            Script::NotSupported => {
                let mut value = 0x0006_u16.to_be_bytes().to_vec();
                value.extend_from_slice(&id.to_be_bytes());
                value.extend_from_slice(&[0; 4]);
                vec![answer(&request, 0x0002, &value, 0)]
            }
        };
        for reply in replies {
            let _ = socket.send_to(&reply, &from).await;
        }
    }
}

fn temp_path(label: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("tt-ptp4l-{label}-{}-{n}.sock", std::process::id()))
}

fn start_scripted(script: Script) -> (PathBuf, tokio::task::JoinHandle<()>) {
    let server = temp_path("server");
    let _ = std::fs::remove_file(&server);
    let socket = tokio::net::UnixDatagram::bind(&server).unwrap();
    (server, tokio::spawn(scripted_ptp4l(socket, script)))
}

#[tokio::test]
async fn client_reads_the_four_data_sets() {
    let (server, task) = start_scripted(Script::Good);
    let mut client = Ptp4lClient::bind(&server, 0).unwrap();
    let status = client.status(Duration::from_secs(2)).await.unwrap();
    assert_eq!(status.time_status.master_offset_ns, -661);
    assert!(status.time_status.gm_present);
    assert_eq!(status.current.mean_path_delay_ns_ceil(), 1_552);
    assert_eq!(status.parent.gm_clock_accuracy, 0x21);
    assert_eq!(status.time_properties.current_utc_offset_s, 37);
    assert_eq!(client.take_rejections(), Rejections::default());
    task.abort();
    let _ = std::fs::remove_file(&server);
}

#[tokio::test]
async fn noise_is_counted_and_the_right_answer_still_taken() {
    let (server, task) = start_scripted(Script::NoiseFirst);
    let mut client = Ptp4lClient::bind(&server, 0).unwrap();
    let status = client.status(Duration::from_secs(2)).await.unwrap();
    assert_eq!(status.time_properties.current_utc_offset_s, 37);
    // Three bad datagrams per GET, four GETs.
    let rejections = client.take_rejections();
    assert_eq!(rejections.count, 12);
    // The last refused before the last good answer: the SIGNALING TLV.
    assert_eq!(
        rejections.last,
        Some(wire::WireError::UnexpectedTlv(0x0003))
    );
    task.abort();
    let _ = std::fs::remove_file(&server);
}

#[tokio::test]
async fn unexpected_tlvs_and_error_status_are_errors_not_panics() {
    let (server, task) = start_scripted(Script::OnlyUnexpectedTlv);
    let mut client = Ptp4lClient::bind(&server, 0).unwrap();
    let err = client.status(Duration::from_millis(300)).await.unwrap_err();
    assert!(matches!(err, QueryError::Timeout { .. }), "{err}");
    assert_eq!(client.take_rejections().count, 1);
    task.abort();
    let _ = std::fs::remove_file(&server);

    let (server, task) = start_scripted(Script::NotSupported);
    let mut client = Ptp4lClient::bind(&server, 0).unwrap();
    let err = client.status(Duration::from_secs(2)).await.unwrap_err();
    assert!(
        matches!(
            err,
            QueryError::ErrorStatus {
                error_id: 0x0006,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("NOT_SUPPORTED"), "{err}");
    task.abort();
    let _ = std::fs::remove_file(&server);
}

#[tokio::test]
async fn an_absent_ptp4l_is_reported_plainly() {
    let server = temp_path("absent");
    let mut client = Ptp4lClient::bind(&server, 0).unwrap();
    let err = client.status(Duration::from_millis(200)).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&server.display().to_string()), "{text}");
    assert!(text.contains("is ptp4l running"), "{text}");
}

#[tokio::test]
async fn the_source_publishes_and_counts() {
    let (server, task) = start_scripted(Script::NoiseFirst);
    let cell = SourceCell::new("ptp0", "ptp4l");
    let config = Ptp4lConfig {
        socket: server.clone(),
        poll_interval: Duration::from_millis(100),
        ..Ptp4lConfig::default()
    };
    let (sender, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let source = tokio::spawn(run_observed(
        config,
        cell.clone(),
        "ptp0".into(),
        move |r| {
            let _ = sender.send(r.clone());
        },
    ));
    let deadline = Duration::from_secs(10);
    let report = tokio::time::timeout(deadline, async {
        loop {
            let report = reports.recv().await.expect("the source runs");
            if matches!(report.outcome, Some(Outcome::Taken(_))) {
                return report;
            }
        }
    })
    .await
    .expect("a sample within 10 s");
    let Some(Outcome::Taken(got)) = report.outcome else {
        unreachable!("matched above");
    };
    // The scripted ingress was 10 ms before its answer; the grandmaster's
    // time is ingress + 661 ns; the interval holds the wall clock then
    // (which is the scripted grandmaster's clock here).
    let now = ClockPair::read();
    let at_now = got
        .sample
        .at(now.local_after, tt_core::Drift::DEFAULT)
        .widened(now.spread_ns(), now.spread_ns());
    assert!(
        at_now.contains(Timestamp::from_unix_nanos(now.realtime_ns)),
        "{at_now} misses the wall clock {}",
        now.realtime_ns
    );
    let state = cell.snapshot();
    assert_eq!(state.health, Health::Good);
    assert_eq!(state.last, Some(got.sample));
    assert_eq!(got.mean_path_delay_ns, 1_552);
    assert!(state.rejected >= 12, "noise counted: {}", state.rejected);
    source.abort();
    task.abort();
    let _ = std::fs::remove_file(&server);
}
