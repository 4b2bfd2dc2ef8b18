use super::*;

const STRICT: ParseOptions = ParseOptions {
    require_checksum: true,
};
const LAX: ParseOptions = ParseOptions {
    require_checksum: false,
};

/// `$body*XX` with the checksum computed here (XOR of the body's bytes).
fn sentence(body: &str) -> Vec<u8> {
    let sum = body.bytes().fold(0u8, |s, b| s ^ b);
    format!("${body}*{sum:02X}").into_bytes()
}

fn parse(body: &str) -> Result<Sentence, Rejection> {
    parse_sentence(&sentence(body), STRICT)
}

fn tod(h: i64, m: i64, s: i64, ns: i64) -> TimeOfDay {
    TimeOfDay {
        ns: ((h * 60 + m) * 60 + s) * 1_000_000_000 + ns,
        inexact: false,
    }
}

#[test]
fn dates_count_days_from_the_epoch() {
    // 2000-01-01: 30 years after 1970 with 7 leap days (72, 76, 80, 84, 88,
    // 92, 96) = 10957 days.
    assert_eq!(Date::from_ymd(2000, 1, 1).unwrap().days, 10_957);
    // 2019-04-07: 2019-01-01 is 17897 days (49 years, 12 leap days), plus
    // 31 + 28 + 31 + 6.
    assert_eq!(Date::from_ymd(2019, 4, 7).unwrap().days, 17_897 + 96);
    assert_eq!(Date::from_ymd(1970, 1, 1).unwrap().days, 0);
    // 2024-02-29 exists, 2023-02-29 and 2100-02-29 do not.
    assert!(Date::from_ymd(2024, 2, 29).is_some());
    assert!(Date::from_ymd(2023, 2, 29).is_none());
    assert!(Date::from_ymd(2100, 2, 29).is_none());
    assert!(Date::from_ymd(2000, 2, 29).is_some());
    assert!(Date::from_ymd(2019, 4, 31).is_none());
    assert!(Date::from_ymd(2019, 13, 1).is_none());
    assert!(Date::from_ymd(2019, 0, 1).is_none());
}

#[test]
fn dates_print_as_they_were_built() {
    for (y, m, d) in [
        (1970, 1, 1),
        (1999, 8, 22),
        (2000, 2, 29),
        (2019, 4, 7),
        (2079, 12, 31),
    ] {
        let date = Date::from_ymd(y, m, d).unwrap();
        assert_eq!(date.to_string(), format!("{y:04}-{m:02}-{d:02}"));
    }
}

#[test]
fn rmc_from_any_talker() {
    for talker in ["GP", "GN", "GL", "GA", "GB", "BD", "QZ"] {
        let body =
            format!("{talker}RMC,081411.000,A,4500.0000,N,00700.0000,E,0.60,301.29,260514,,,A");
        let parsed = parse(&body).unwrap();
        assert_eq!(
            parsed,
            Sentence::Rmc {
                talker: [talker.as_bytes()[0], talker.as_bytes()[1]],
                time: tod(8, 14, 11, 0),
                date: Date::from_ymd(2014, 5, 26).unwrap(),
            }
        );
    }
}

#[test]
fn time_takes_any_number_of_decimals() {
    let time = |field: &str| match parse(&format!("GPGGA,{field},,,,,1,05,,,,,,,")) {
        Ok(Sentence::Gga { time, .. }) => time,
        other => panic!("{field}: {other:?}"),
    };
    assert_eq!(time("222449"), tod(22, 24, 49, 0));
    assert_eq!(time("222449."), tod(22, 24, 49, 0));
    assert_eq!(time("000231.42"), tod(0, 2, 31, 420_000_000));
    assert_eq!(time("074150.799"), tod(7, 41, 50, 799_000_000));
    assert_eq!(time("235959.123456789"), tod(23, 59, 59, 123_456_789));
    // Past nine decimals: rounded down, marked inexact.
    let long = time("120000.0000000001");
    assert_eq!(long.ns, tod(12, 0, 0, 0).ns);
    assert!(long.inexact);
    assert!(!time("120000.1000000000").inexact);
}

#[test]
fn out_of_range_times_are_refused() {
    for field in [
        "240000", "236000", "235961", "23595", "2359590", "12a000", "12:00:00", "-10000",
    ] {
        let result = parse(&format!("GPGGA,{field},,,,,1,05,,,,,,,"));
        assert!(
            matches!(result, Err(Rejection::OutOfRange { field: "time", .. })),
            "{field}: {result:?}"
        );
    }
    assert_eq!(
        parse("GPGGA,235960,,,,,1,05,,,,,,,"),
        Err(Rejection::LeapSecond)
    );
}

#[test]
fn rmc_dates_and_the_century_rule() {
    let date = |field: &str| parse(&format!("GPRMC,120000,A,,,,,,,{field},,,A"));
    let ok = |y, m, d| {
        Ok(Sentence::Rmc {
            talker: *b"GP",
            time: tod(12, 0, 0, 0),
            date: Date::from_ymd(y, m, d).unwrap(),
        })
    };
    // yy 80..=99 is 19yy, 00..=79 is 20yy.
    assert_eq!(date("220899"), ok(1999, 8, 22));
    assert_eq!(date("010180"), ok(1980, 1, 1));
    assert_eq!(date("311279"), ok(2079, 12, 31));
    assert_eq!(date("070419"), ok(2019, 4, 7));
    // april6_2019's "2208-1", a day 32, a month 13, February 30.
    for bad in ["2208-1", "320119", "011319", "300219", "0101", "01011999"] {
        assert!(
            matches!(date(bad), Err(Rejection::OutOfRange { field: "date", .. })),
            "{bad}: {:?}",
            date(bad)
        );
    }
    assert_eq!(
        date(""),
        Err(Rejection::EmptyField {
            sentence: "RMC",
            field: "date"
        })
    );
}

#[test]
fn rmc_status_and_mode() {
    assert_eq!(
        parse("GPRMC,,V,,,,,,,,,,N"),
        Ok(Sentence::NoFix(NoFixReason::RmcStatusV))
    );
    assert_eq!(
        parse("GPRMC,120000,A,,,,,,,070419,,,N"),
        Ok(Sentence::NoFix(NoFixReason::RmcModeN))
    );
    assert_eq!(
        parse("GPRMC,120000,,,,,,,,070419,,,A"),
        Err(Rejection::EmptyField {
            sentence: "RMC",
            field: "status"
        })
    );
    assert!(matches!(
        parse("GPRMC,120000,X,,,,,,,070419,,,A"),
        Err(Rejection::OutOfRange {
            field: "status",
            ..
        })
    ));
    // An empty time with status A is an empty field.
    assert_eq!(
        parse("GPRMC,,A,,,,,,,070419,,,A"),
        Err(Rejection::EmptyField {
            sentence: "RMC",
            field: "time"
        })
    );
    // NMEA 4.1's navigational status after the mode is not a fix flag.
    assert!(matches!(
        parse("GNRMC,003956.00,A,4500.0000,N,00700.0000,E,0.025,,120419,,,A,V"),
        Ok(Sentence::Rmc { .. })
    ));
}

#[test]
fn gga_quality_and_satellites() {
    let quality = |q: &str, sats: &str| parse(&format!("GPGGA,120000.00,,,,,{q},{sats},,,M,,M,,"));
    for q in ["1", "2", "3", "4", "5"] {
        assert!(matches!(quality(q, "07"), Ok(Sentence::Gga { .. })), "{q}");
    }
    for q in [0u8, 6, 7, 8] {
        assert_eq!(
            quality(&q.to_string(), "07"),
            Ok(Sentence::NoFix(NoFixReason::GgaQuality(q)))
        );
    }
    assert_eq!(
        quality("1", "00"),
        Ok(Sentence::NoFix(NoFixReason::NoSatellites))
    );
    assert!(matches!(quality("1", ""), Ok(Sentence::Gga { .. })));
    assert_eq!(
        quality("", "07"),
        Err(Rejection::EmptyField {
            sentence: "GGA",
            field: "quality"
        })
    );
    assert!(matches!(
        quality("9", "07"),
        Err(Rejection::OutOfRange {
            field: "quality",
            ..
        })
    ));
}

#[test]
fn gns_mode_letters() {
    let mode = |m: &str| {
        parse(&format!(
            "GNGNS,074155.799,4500.0000,N,00700.0000,E,{m},05,1.3,156.9,8.3,,0000"
        ))
    };
    assert!(matches!(mode("ANNA"), Ok(Sentence::Gns { .. })));
    assert!(matches!(mode("NNRN"), Ok(Sentence::Gns { .. })));
    assert_eq!(mode("NNNN"), Ok(Sentence::NoFix(NoFixReason::GnsModeNoFix)));
    assert_eq!(mode("EMSN"), Ok(Sentence::NoFix(NoFixReason::GnsModeNoFix)));
    assert!(matches!(
        mode("AXN"),
        Err(Rejection::OutOfRange { field: "mode", .. })
    ));
}

#[test]
fn zda_fields() {
    assert_eq!(
        parse("GPZDA,202640.000,13,04,2015,,"),
        Ok(Sentence::Zda {
            talker: *b"GP",
            time: tod(20, 26, 40, 0),
            date: Date::from_ymd(2015, 4, 13).unwrap(),
        })
    );
    for bad in [
        "GPZDA,202640,32,04,2015,,",
        "GPZDA,202640,13,13,2015,,",
        "GPZDA,202640,13,04,15,,",
        "GPZDA,202640,13,04,1979,,",
        "GPZDA,202640,31,04,2015,,",
    ] {
        assert!(
            matches!(parse(bad), Err(Rejection::OutOfRange { .. })),
            "{bad}"
        );
    }
    assert!(matches!(
        parse("GPZDA,202640,13"),
        Err(Rejection::Truncated { .. })
    ));
}

#[test]
fn checksums() {
    let good = sentence("GPZDA,202640.000,13,04,2015,,");
    assert!(parse_sentence(&good, STRICT).is_ok());
    // A trailing CR is tolerated; lower-case hex too.
    let mut with_cr = good.clone();
    with_cr.push(b'\r');
    assert!(parse_sentence(&with_cr, STRICT).is_ok());
    let sum = "GPZDA,202640.000,13,04,2015,,"
        .bytes()
        .fold(0u8, |s, b| s ^ b);
    let lower_hex = format!("$GPZDA,202640.000,13,04,2015,,*{sum:02x}");
    assert!(parse_sentence(lower_hex.as_bytes(), STRICT).is_ok());

    // One flipped bit in the body.
    let mut flipped = good.clone();
    flipped[8] ^= 0x01;
    assert!(matches!(
        parse_sentence(&flipped, STRICT),
        Err(Rejection::BadChecksum { sent: Some(_), .. })
    ));
    // Not hexadecimal, or not two digits.
    for tail in ["*G1", "*1", "*123", "*"] {
        let text = format!("$GPZDA,202640.000,13,04,2015,,{tail}");
        assert!(
            matches!(
                parse_sentence(text.as_bytes(), STRICT),
                Err(Rejection::BadChecksum { sent: None, .. })
            ),
            "{tail}"
        );
    }
    // No checksum: refused unless configured.
    let bare = b"$GPZDA,222449,25,10,2010,+00,00";
    assert_eq!(parse_sentence(bare, STRICT), Err(Rejection::NoChecksum));
    assert!(matches!(
        parse_sentence(bare, LAX),
        Ok(Sentence::Zda { .. })
    ));
}

#[test]
fn noise_length_and_other_sentences() {
    assert_eq!(
        parse_sentence(b"$GPZDA,\x01\xff,13", STRICT),
        Err(Rejection::BinaryNoise { len: 12 })
    );
    assert_eq!(
        parse_sentence(b"GPZDA,202640,13,04,2015,,*00", STRICT),
        Err(Rejection::BinaryNoise { len: 28 })
    );
    let long = vec![b'A'; MAX_SENTENCE_BYTES + 1];
    assert_eq!(
        parse_sentence(&long, STRICT),
        Err(Rejection::TooLong {
            len: MAX_SENTENCE_BYTES + 1
        })
    );
    assert_eq!(parse("GPGSV,1,1,00"), Ok(Sentence::Other));
    assert_eq!(parse("PSRFEPE,074150.799,V,,,,,"), Ok(Sentence::Other));
    assert_eq!(parse("PFEC,GPtps,101025222449"), Ok(Sentence::Other));
    assert_eq!(parse("gprmc,1"), Ok(Sentence::Other));
    assert_eq!(parse(""), Ok(Sentence::Other));
}

#[test]
fn every_reason_has_a_distinct_index_and_name() {
    let names: std::collections::HashSet<&str> = Reason::ALL.iter().map(|r| r.name()).collect();
    assert_eq!(names.len(), Reason::ALL.len());
    for (i, reason) in Reason::ALL.iter().enumerate() {
        assert_eq!(reason.index(), i);
    }
}
