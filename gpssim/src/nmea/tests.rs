//! Expected values were computed outside this program, once, with Python:
//! instants with `calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S"))`,
//! checksums with `"%02X" % functools.reduce(operator.xor, body.encode(), 0)`
//! over the text between `$` and `*`. The GGA example with checksum 47 is the
//! one printed in many NMEA references, and agrees with that computation.

use super::*;

const NS: i64 = 1_000_000_000;

fn label(unix_seconds: i64) -> UtcLabel {
    UtcLabel::from_unix_ns(unix_seconds * NS).expect("instant after 1970")
}

#[test]
fn calendar_fields_match_independent_conversion() {
    // (unix seconds, y, m, d, h, min, s)
    let cases = [
        (0, 1970, 1, 1, 0, 0, 0),
        (951_825_600, 2000, 2, 29, 12, 0, 0),
        (1_709_251_199, 2024, 2, 29, 23, 59, 59),
        (1_704_067_199, 2023, 12, 31, 23, 59, 59),
        (1_796_399_210, 2026, 12, 4, 15, 46, 50),
        (4_102_444_799, 2099, 12, 31, 23, 59, 59),
        // 2100 is not a leap year: 28 February is followed by 1 March.
        (4_107_542_400, 2100, 3, 1, 0, 0, 0),
        (4_107_542_400 - 1, 2100, 2, 28, 23, 59, 59),
    ];
    for (seconds, year, month, day, hour, minute, second) in cases {
        let got = label(seconds);
        let want = UtcLabel {
            year,
            month,
            day,
            hour,
            minute,
            second,
            centis: 0,
        };
        assert_eq!(got, want, "unix second {seconds}");
    }
}

#[test]
fn sub_second_part_is_truncated_to_centiseconds() {
    let base = 1_709_251_199 * NS;
    let just_before_next = UtcLabel::from_unix_ns(base + 999_999_999).unwrap();
    assert_eq!(just_before_next.second, 59);
    assert_eq!(just_before_next.centis, 99);
    assert_eq!(just_before_next.time_field(), "235959.99");
    let quarter = UtcLabel::from_unix_ns(base + 250_000_000).unwrap();
    assert_eq!(quarter.time_field(), "235959.25");
    let under_one_centi = UtcLabel::from_unix_ns(base + 9_999_999).unwrap();
    assert_eq!(under_one_centi.time_field(), "235959.00");
}

#[test]
fn instants_before_1970_are_refused_and_the_last_i64_instant_is_labelled() {
    assert_eq!(UtcLabel::from_unix_ns(-1), None);
    // i64::MAX ns = 9223372036.854775807 s = 2262-04-11T23:47:16.85Z.
    assert_eq!(
        UtcLabel::from_unix_ns(i64::MAX),
        Some(UtcLabel {
            year: 2262,
            month: 4,
            day: 11,
            hour: 23,
            minute: 47,
            second: 16,
            centis: 85,
        })
    );
}

#[test]
fn checksum_matches_reference_example() {
    let body = "GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,";
    assert_eq!(checksum(body.as_bytes()), 0x47);
    assert_eq!(checksum(b""), 0);
}

#[test]
fn fixed_second_is_rmc_gga_zda_with_independent_checksums() {
    let at = label(1_796_399_210);
    assert_eq!(
        rmc(Talker::Gp, &at, Fix::Fixed),
        "$GPRMC,154650.00,A,4500.0000,N,00700.0000,E,0.00,0.00,041226,,,A*58\r\n"
    );
    assert_eq!(
        gga(Talker::Gp, &at, Fix::Fixed),
        "$GPGGA,154650.00,4500.0000,N,00700.0000,E,1,08,0.9,250.0,M,47.0,M,,*6C\r\n"
    );
    assert_eq!(
        zda(Talker::Gp, &at),
        "$GPZDA,154650.00,04,12,2026,00,00*64\r\n"
    );
    assert_eq!(
        second_report(Talker::Gp, &at, Fix::Fixed),
        format!(
            "{}{}{}",
            rmc(Talker::Gp, &at, Fix::Fixed),
            gga(Talker::Gp, &at, Fix::Fixed),
            zda(Talker::Gp, &at)
        )
    );
}

#[test]
fn no_fix_keeps_time_and_date_but_no_position() {
    let at = label(1_796_399_210);
    assert_eq!(
        rmc(Talker::Gn, &at, Fix::NoFix),
        "$GNRMC,154650.00,V,,,,,,,041226,,,N*63\r\n"
    );
    assert_eq!(
        gga(Talker::Gn, &at, Fix::NoFix),
        "$GNGGA,154650.00,,,,,0,00,99.99,,,,,,*7B\r\n"
    );
    assert_eq!(
        zda(Talker::Gn, &at),
        "$GNZDA,154650.00,04,12,2026,00,00*7A\r\n"
    );
}

#[test]
fn field_counts_follow_nmea_0183_v2_3() {
    let at = label(1_796_399_210);
    for fix in [Fix::Fixed, Fix::NoFix] {
        let parsed = parse(&rmc(Talker::Gp, &at, fix)).unwrap();
        assert_eq!(parsed.kind, "RMC");
        assert_eq!(parsed.fields.len(), 12);
        let parsed = parse(&gga(Talker::Gp, &at, fix)).unwrap();
        assert_eq!(parsed.kind, "GGA");
        assert_eq!(parsed.fields.len(), 14);
    }
    let parsed = parse(&zda(Talker::Gp, &at)).unwrap();
    assert_eq!(parsed.kind, "ZDA");
    assert_eq!(parsed.fields.len(), 6);
}

#[test]
fn every_talker_is_written_and_parsed_back() {
    // 2024-02-29T23:59:59.99Z
    let at = UtcLabel::from_unix_ns(1_709_251_199 * NS + 990_000_000).unwrap();
    assert_eq!(
        zda(Talker::Bd, &at),
        "$BDZDA,235959.99,29,02,2024,00,00*7B\r\n"
    );
    for (text, talker) in [
        ("GP", Talker::Gp),
        ("gn", Talker::Gn),
        ("GL", Talker::Gl),
        ("GA", Talker::Ga),
        ("GB", Talker::Gb),
        ("BD", Talker::Bd),
    ] {
        assert_eq!(text.parse::<Talker>(), Ok(talker));
        let parsed = parse(&rmc(talker, &at, Fix::Fixed)).unwrap();
        assert_eq!(parsed.talker, text.to_ascii_uppercase());
        assert_eq!(parsed.fields[8], "290224");
    }
    assert!("XX".parse::<Talker>().is_err());
    assert!("GPS".parse::<Talker>().is_err());
}

#[test]
fn parse_rejects_damaged_sentences() {
    let good = "$GPZDA,154650.00,04,12,2026,00,00*64\r\n";
    assert!(parse(good).is_ok());
    assert_eq!(
        parse("$GPZDA,154650.00,04,12,2026,00,01*64"),
        Err(ParseError::ChecksumMismatch {
            stated: 0x64,
            // Changing the last '0' (0x30) to '1' (0x31) flips bit 0.
            computed: 0x65
        })
    );
    assert_eq!(parse("GPZDA,1*00"), Err(ParseError::Framing));
    assert_eq!(parse("$GPZDA,1"), Err(ParseError::Framing));
    assert_eq!(parse("$GPZDA,1*6"), Err(ParseError::BadChecksumDigits));
    assert_eq!(parse("$GPZDA,1*ZZ"), Err(ParseError::BadChecksumDigits));
    // "GPZD,1": five-letter address missing; checksum itself is right.
    let body = "GPZD,1";
    let line = format!("${body}*{:02X}", checksum(body.as_bytes()));
    assert_eq!(parse(&line), Err(ParseError::Address));
}
