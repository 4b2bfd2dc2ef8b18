//! The wire format against hand-built messages laid out as IEEE 1588-2008
//! §13.3 and §15 and linuxptp's `tlv.h` describe them.

use super::*;

const US: PortIdentity = PortIdentity {
    clock: *b"truetime",
    port: 7,
};
const PTP4L: PortIdentity = PortIdentity {
    clock: [0x92, 0xd5, 0xa1, 0xff, 0xfe, 0x51, 0x51, 0x3b],
    port: 0,
};

/// A RESPONSE from `PTP4L` to `US` carrying one TLV of `tlv_type` whose
/// value is `value`.
fn response(sequence: u16, tlv_type: u16, value: &[u8]) -> Vec<u8> {
    let length = 48 + 4 + value.len();
    let mut buf = vec![0u8; length];
    buf[0] = 0x0D;
    buf[1] = 0x12; // minor version 1, version 2, as linuxptp 4 sends
    buf[2..4].copy_from_slice(&(length as u16).to_be_bytes());
    PTP4L.write(&mut buf[20..30]);
    buf[30..32].copy_from_slice(&sequence.to_be_bytes());
    buf[32] = 0x04;
    buf[33] = 0x7F;
    US.write(&mut buf[34..44]);
    buf[46] = 2; // RESPONSE
    buf[48..50].copy_from_slice(&tlv_type.to_be_bytes());
    buf[50..52].copy_from_slice(&(value.len() as u16).to_be_bytes());
    buf[52..].copy_from_slice(value);
    buf
}

fn management(id: u16, data: &[u8]) -> Vec<u8> {
    let mut value = id.to_be_bytes().to_vec();
    value.extend_from_slice(data);
    value
}

/// TIME_STATUS_NP as pmc printed it against ptp4l 3.1.1 in a veth pair:
/// master_offset -661, ingress_time 1796400900618209470, gmPresent true.
fn time_status_data(offset: i64, ingress: i64, gm_present: u32) -> Vec<u8> {
    let mut data = Vec::new();
    data.extend_from_slice(&offset.to_be_bytes());
    data.extend_from_slice(&ingress.to_be_bytes());
    data.extend_from_slice(&[0; 4]); // cumulativeScaledRateOffset
    data.extend_from_slice(&[0; 4]); // scaledLastGmPhaseChange
    data.extend_from_slice(&[0; 2]); // gmTimeBaseIndicator
    data.extend_from_slice(&[0; 12]); // lastGmPhaseChange
    data.extend_from_slice(&gm_present.to_be_bytes());
    data.extend_from_slice(&[0x6a, 0x4b, 0xcd, 0xff, 0xfe, 0xc5, 0xae, 0xdc]);
    data
}

#[test]
fn get_is_laid_out_as_the_standard_says() {
    let get = encode_get(ManagementId::TimeStatusNp, 0x0102, 24, US);
    assert_eq!(get.len(), 54);
    assert_eq!(get[0], 0x0D, "transportSpecific 0, messageType management");
    assert_eq!(get[1], 0x02, "PTP version 2");
    assert_eq!(&get[2..4], &[0, 54], "messageLength");
    assert_eq!(get[4], 24, "domainNumber");
    assert_eq!(&get[6..20], &[0; 14], "flags, correction, reserved");
    assert_eq!(&get[20..28], b"truetime");
    assert_eq!(&get[28..30], &[0, 7]);
    assert_eq!(&get[30..32], &[0x01, 0x02], "sequenceId");
    assert_eq!(get[32], 0x04, "controlField: management");
    assert_eq!(get[33], 0x7F, "logMessageInterval: none");
    assert_eq!(&get[34..44], &[0xFF; 10], "targetPortIdentity: all");
    assert_eq!(&get[44..46], &[0, 0], "boundary hops: local only");
    assert_eq!(get[46], 0, "action GET");
    assert_eq!(&get[48..50], &[0x00, 0x01], "TLV MANAGEMENT");
    assert_eq!(&get[50..52], &[0x00, 0x02], "length: the id only");
    assert_eq!(&get[52..54], &[0xC0, 0x00], "TIME_STATUS_NP");

    let ids = [
        (ManagementId::CurrentDataSet, [0x20, 0x01]),
        (ManagementId::ParentDataSet, [0x20, 0x02]),
        (ManagementId::TimePropertiesDataSet, [0x20, 0x03]),
    ];
    for (id, code) in ids {
        assert_eq!(&encode_get(id, 0, 0, US)[52..54], &code, "{}", id.name());
    }
}

#[test]
fn time_status_response_is_decoded() {
    let data = time_status_data(-661, 1_796_400_900_618_209_470, 1);
    let message = response(9, 0x0001, &management(0xC000, &data));
    let got = decode_response(&message, US).unwrap();
    assert_eq!(got.source, PTP4L);
    assert_eq!(got.source.to_string(), "92d5a1.fffe.51513b-0");
    assert_eq!(got.sequence, 9);
    let Body::Data { id, data } = got.body else {
        panic!("expected data, got {:?}", got.body);
    };
    assert_eq!(id, 0xC000);
    let status = TimeStatusNp::parse(&data).unwrap();
    assert_eq!(status.master_offset_ns, -661);
    assert_eq!(status.ingress_time_ns, 1_796_400_900_618_209_470);
    assert!(status.gm_present);
    assert_eq!(
        status.gm_identity,
        [0x6a, 0x4b, 0xcd, 0xff, 0xfe, 0xc5, 0xae, 0xdc]
    );
}

#[test]
fn data_sets_are_decoded() {
    // CURRENT_DATA_SET: 1 step, offset -661.0 ns, mean path delay
    // 1552.5 ns (as ns * 2^16).
    let mut current = vec![0, 1];
    current.extend_from_slice(&(-661_i64 * 65_536).to_be_bytes());
    current.extend_from_slice(&(1_552 * 65_536 + 32_768_i64).to_be_bytes());
    let current = CurrentDataSet::parse(&current).unwrap();
    assert_eq!(current.steps_removed, 1);
    assert_eq!(current.offset_scaled, -661 * 65_536);
    // 1552.5 rounds up to 1553.
    assert_eq!(current.mean_path_delay_ns_ceil(), 1_553);

    // PARENT_DATA_SET: parent 6a4bcd.fffe.c5aedc-1, class 248, accuracy
    // 0x21 (100 ns).
    let mut parent = vec![0x6a, 0x4b, 0xcd, 0xff, 0xfe, 0xc5, 0xae, 0xdc, 0, 1];
    parent.extend_from_slice(&[0, 0, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 10]);
    parent.extend_from_slice(&[248, 0x21, 0xff, 0xff, 128]);
    parent.extend_from_slice(&[0x6a, 0x4b, 0xcd, 0xff, 0xfe, 0xc5, 0xae, 0xdc]);
    let parent = ParentDataSet::parse(&parent).unwrap();
    assert_eq!(parent.parent.to_string(), "6a4bcd.fffe.c5aedc-1");
    assert_eq!(parent.gm_clock_class, 248);
    assert_eq!(parent.gm_clock_accuracy, 0x21);
    assert_eq!(clock_accuracy_ns(parent.gm_clock_accuracy), Some(100));

    // TIME_PROPERTIES_DATA_SET: 37 s, leap61 + valid + PTP timescale.
    let properties = TimeProperties::parse(&[0, 37, 0x0D, 0x20]).unwrap();
    assert_eq!(properties.current_utc_offset_s, 37);
    assert!(properties.has(TimeProperties::LEAP_61));
    assert!(!properties.has(TimeProperties::LEAP_59));
    assert!(properties.has(TimeProperties::UTC_OFFSET_VALID));
    assert!(properties.has(TimeProperties::PTP_TIMESCALE));
    assert!(!properties.has(TimeProperties::TIME_TRACEABLE));
    assert_eq!(properties.time_source, 0x20);
    // A negative offset (signed 16 bits) stays negative.
    assert_eq!(
        TimeProperties::parse(&[0xFF, 0xFE, 0, 0])
            .unwrap()
            .current_utc_offset_s,
        -2
    );
}

#[test]
fn scaled_nanoseconds_round_up() {
    assert_eq!(scaled_ns_ceil(0), 0);
    assert_eq!(scaled_ns_ceil(65_536), 1);
    assert_eq!(scaled_ns_ceil(65_537), 2);
    assert_eq!(scaled_ns_ceil(1), 1);
    // -0.5 ns rounds up to 0, -1.5 ns to -1.
    assert_eq!(scaled_ns_ceil(-32_768), 0);
    assert_eq!(scaled_ns_ceil(-65_536 - 32_768), -1);
}

#[test]
fn accuracy_table_follows_the_standard() {
    assert_eq!(clock_accuracy_ns(0x20), Some(25));
    assert_eq!(clock_accuracy_ns(0x23), Some(1_000));
    assert_eq!(clock_accuracy_ns(0x29), Some(1_000_000));
    assert_eq!(clock_accuracy_ns(0x2F), Some(1_000_000_000));
    assert_eq!(clock_accuracy_ns(0x30), Some(10_000_000_000));
    // 1588-2019: 0x1F within 10 ns, 0x1E within 2.5 ns (up to 3).
    assert_eq!(clock_accuracy_ns(0x1F), Some(10));
    assert_eq!(clock_accuracy_ns(0x1E), Some(3));
    assert_eq!(clock_accuracy_ns(0x17), Some(1));
    // Beyond 10 s, unknown, reserved: no bound.
    assert_eq!(clock_accuracy_ns(0x31), None);
    assert_eq!(clock_accuracy_ns(0xFE), None);
    assert_eq!(clock_accuracy_ns(0x00), None);
    assert_eq!(clock_accuracy_ns(0x80), None);
}

#[test]
fn an_error_status_is_decoded() {
    // MANAGEMENT_ERROR_STATUS: NOT_SUPPORTED about TIME_STATUS_NP, 4
    // reserved bytes, no display data.
    let message = response(3, 0x0002, &[0x00, 0x06, 0xC0, 0x00, 0, 0, 0, 0]);
    let got = decode_response(&message, US).unwrap();
    assert_eq!(
        got.body,
        Body::Error {
            error_id: 0x0006,
            id: 0xC000
        }
    );
    assert_eq!(error_name(0x0006), "NOT_SUPPORTED");
}

#[test]
fn bad_messages_are_refused_with_their_reason() {
    let good = response(1, 0x0001, &management(0x2003, &[0, 37, 0, 0xA0]));
    assert!(decode_response(&good, US).is_ok());

    let mut not_management = good.clone();
    not_management[0] = 0x0B; // announce
    assert_eq!(
        decode_response(&not_management, US),
        Err(WireError::NotManagement(0x0B))
    );

    let mut version_one = good.clone();
    version_one[1] = 0x01;
    assert_eq!(
        decode_response(&version_one, US),
        Err(WireError::Version(1))
    );

    let mut get_echo = good.clone();
    get_echo[46] = 0;
    assert_eq!(
        decode_response(&get_echo, US),
        Err(WireError::NotResponse(0))
    );

    let mut other_target = good.clone();
    other_target[34] = 0x01;
    assert!(matches!(
        decode_response(&other_target, US),
        Err(WireError::NotForUs(_))
    ));

    let mut signalling_tlv = good.clone();
    signalling_tlv[48..50].copy_from_slice(&0x0003u16.to_be_bytes());
    assert_eq!(
        decode_response(&signalling_tlv, US),
        Err(WireError::UnexpectedTlv(0x0003))
    );

    let mut long_tlv = good.clone();
    long_tlv[50..52].copy_from_slice(&100u16.to_be_bytes());
    assert_eq!(
        decode_response(&long_tlv, US),
        Err(WireError::BadTlvLength {
            length: 100,
            room: 6
        })
    );

    let mut long_header = good.clone();
    long_header[2..4].copy_from_slice(&200u16.to_be_bytes());
    assert_eq!(
        decode_response(&long_header, US),
        Err(WireError::LengthMismatch {
            header: 200,
            datagram: good.len()
        })
    );

    assert_eq!(
        decode_response(&vec![0u8; 2000], US),
        Err(WireError::Oversized(2000))
    );

    // A data set of the wrong size.
    assert_eq!(
        TimeStatusNp::parse(&[0; 49]),
        Err(WireError::DataLength {
            id: ManagementId::TimeStatusNp,
            expected: 50,
            got: 49
        })
    );
    assert!(CurrentDataSet::parse(&[0; 20]).is_err());
    assert!(ParentDataSet::parse(&[0; 31]).is_err());
    assert!(TimeProperties::parse(&[0; 3]).is_err());
}

#[test]
fn every_truncation_is_refused_without_panic() {
    let data = time_status_data(5, 6, 1);
    let message = response(1, 0x0001, &management(0xC000, &data));
    for len in 0..message.len() {
        let mut cut = message[..len].to_vec();
        // Also with the header's length field claiming the cut length, so
        // the TLV checks are reached.
        if len >= 4 {
            cut[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        }
        match decode_response(&cut, US) {
            Err(_) => {}
            Ok(Response {
                body: Body::Data { data, .. },
                ..
            }) => {
                assert!(TimeStatusNp::parse(&data).is_err(), "cut at {len}");
            }
            Ok(other) => panic!("cut at {len} decoded as {other:?}"),
        }
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A fixed-seed linear congruential generator: deterministic noise,
    // sometimes with a plausible header so the deeper checks run.
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as u8
    };
    for round in 0..20_000 {
        let len = usize::from(next()) % 120;
        let mut bytes: Vec<u8> = (0..len).map(|_| next()).collect();
        if round % 2 == 0 && len >= 48 {
            bytes[0] = 0x0D;
            bytes[1] = 0x02;
            bytes[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            bytes[46] = 2;
            US.write(&mut bytes[34..44]);
        }
        if let Ok(Response {
            body: Body::Data { data, .. },
            ..
        }) = decode_response(&bytes, US)
        {
            let _ = TimeStatusNp::parse(&data);
            let _ = CurrentDataSet::parse(&data);
            let _ = ParentDataSet::parse(&data);
            let _ = TimeProperties::parse(&data);
        }
    }
}
