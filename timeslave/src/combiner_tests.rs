//! The combiner's rules on hand-computed values.

use super::*;
use tt_core::Timestamp;

const SECOND: i64 = 1_000_000_000;

fn iv(earliest: i64, latest: i64) -> Interval {
    Interval::from_unix_nanos(earliest, latest).unwrap()
}

fn at(nanos: i64) -> LocalInstant {
    LocalInstant::from_nanos(nanos)
}

fn answer(local: i64, earliest: i64, latest: i64) -> PollOutcome {
    PollOutcome::Answer {
        sample: Sample::new(at(local), iv(earliest, latest)),
        rtt_ns: 150_000,
    }
}

fn limits(max_falsetickers: usize) -> Limits {
    Limits {
        max_falsetickers,
        drift: Drift::from_ppm(200),
        max_sample_age: Duration::from_secs(2),
        max_holdover: Duration::from_secs(10),
    }
}

fn verdicts(combiner: &Combiner, now: i64) -> Vec<Verdict> {
    combiner
        .members(at(now))
        .iter()
        .map(|m| m.verdict)
        .collect()
}

#[test]
fn the_liar_of_three_is_a_falseticker_and_the_result_is_the_honest_overlap() {
    let mut combiner = Combiner::new(3, limits(1));
    // Answers received at local 1 s; the round ends 1 ms later.
    combiner.record(0, answer(SECOND, 10_000, 12_000));
    combiner.record(1, answer(SECOND, 11_000, 13_000));
    combiner.record(2, answer(SECOND, 50_000, 51_000));
    let end = SECOND + 1_000_000;
    let events = combiner.combine(at(end));

    // Carried 1 ms at 200 ppm: ceil(1e6 * 200e-6) = 200 ns each side, and
    // 1e6 ns later in true time:
    //   m0 [1_009_800, 1_012_200], m1 [1_010_800, 1_013_200],
    //   m2 [1_049_800, 1_051_200].
    // f = 1, so 2 must agree: m0 and m1 share [1_010_800, 1_012_200]; m2
    // shares no point with either.
    let expected = iv(1_010_800, 1_012_200);
    assert_eq!(combiner.now(at(end)), Ok(expected));
    assert_eq!(combiner.quorum(), 2);
    assert_eq!(
        verdicts(&combiner, end),
        vec![
            Verdict::InMajority,
            Verdict::InMajority,
            Verdict::Falseticker
        ]
    );
    assert_eq!(
        events[0],
        Event::Synchronized {
            width_ns: 1_400,
            usable: 3
        }
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Master {
            index: 2,
            verdict: Verdict::Falseticker,
            ..
        }
    )));

    // One second on: 200 us of drift each side.
    let later = combiner.now(at(end + SECOND)).unwrap();
    assert_eq!(
        later,
        iv(1_010_800 + SECOND - 200_000, 1_012_200 + SECOND + 200_000)
    );
}

#[test]
fn the_served_interval_holds_the_truth_of_honest_masters() {
    // True time is 1_700_000_000 s + local time; honest masters answer
    // with truth inside, the liar 5 ms ahead.
    let offset = 1_700_000_000 * SECOND;
    let truth = |local: i64| Timestamp::from_unix_nanos(offset + local);
    let mut combiner = Combiner::new(3, limits(1));
    let received = 7 * SECOND;
    combiner.record(
        0,
        answer(
            received,
            offset + received - 300_000,
            offset + received + 100_000,
        ),
    );
    combiner.record(
        1,
        answer(
            received,
            offset + received - 50_000,
            offset + received + 900_000,
        ),
    );
    combiner.record(
        2,
        answer(
            received,
            offset + received + 5_000_000,
            offset + received + 5_100_000,
        ),
    );
    combiner.combine(at(received + 2_000_000));
    for later in [0, 1, SECOND, 9 * SECOND] {
        let local = received + 2_000_000 + later;
        let served = combiner.now(at(local)).unwrap();
        assert!(served.contains(truth(local)), "{served} at +{later} ns");
    }
}

#[test]
fn without_masters_the_interval_widens_then_the_slave_is_unsynchronized() {
    let mut combiner = Combiner::new(3, limits(1));
    for index in 0..3 {
        combiner.record(index, answer(SECOND, 5_000, 6_000));
    }
    combiner.combine(at(SECOND));
    assert_eq!(combiner.now(at(SECOND)), Ok(iv(5_000, 6_000)));

    // Every master stops answering.
    for index in 0..3 {
        combiner.record(
            index,
            PollOutcome::Unreachable("connection refused".to_string()),
        );
    }
    let events = combiner.combine(at(2 * SECOND));
    assert_eq!(
        events[0],
        Event::LostQuorum {
            reason: "no quorum: 0 usable interval(s), at least 2 needed".to_string()
        }
    );
    assert_eq!(
        verdicts(&combiner, 2 * SECOND),
        vec![Verdict::Unreachable; 3]
    );
    assert_eq!(
        combiner.members(at(2 * SECOND))[0].detail,
        "connection refused"
    );
    // The last good answer was 1 s before.
    assert_eq!(combiner.members(at(2 * SECOND))[0].age_ns, SECOND);

    // Still served, carried forward: 5 s at 200 ppm is 1 ms each side.
    assert_eq!(
        combiner.now(at(6 * SECOND)),
        Ok(iv(
            5_000 + 5 * SECOND - 1_000_000,
            6_000 + 5 * SECOND + 1_000_000
        ))
    );
    // The holdover is 10 s after the combined sample was made (local 1 s):
    // served at 11 s exactly, refused 1 ns later.
    assert!(combiner.now(at(11 * SECOND)).is_ok());
    let refused = combiner.now(at(11 * SECOND + 1)).unwrap_err();
    assert!(refused.starts_with("holdover expired"), "{refused}");
    assert!(refused.contains("no quorum"), "{refused}");

    // The next round after the holdover says so once.
    let events = combiner.combine(at(12 * SECOND));
    assert!(
        matches!(events.as_slice(), [Event::Unsynchronized { .. }]),
        "{events:?}"
    );
    assert!(combiner.combine(at(13 * SECOND)).is_empty());
}

#[test]
fn an_unsynchronized_master_is_left_out_even_with_a_recent_answer() {
    let mut combiner = Combiner::new(4, limits(1));
    // Round 1 at local 1000 ns: master 3 answers a narrow interval.
    combiner.record(0, answer(1_000, 100, 200));
    combiner.record(1, answer(1_000, 150, 250));
    combiner.record(2, answer(1_000, 180, 300));
    combiner.record(3, answer(1_000, 190, 195));
    combiner.combine(at(1_000));
    // Four usable, f = 1: three must agree; all four cover [190, 195] and
    // three cover [180, 200] at most: the hull is [180, 200].
    assert_eq!(combiner.now(at(1_000)), Ok(iv(180, 200)));

    // Round 2, same instant for simplicity: master 3 now reports itself
    // unsynchronized. Its round-1 sample is recent but must not count:
    // three usable, two must agree, and pairs cover [150, 250].
    combiner.record(0, answer(1_000, 100, 200));
    combiner.record(1, answer(1_000, 150, 250));
    combiner.record(2, answer(1_000, 180, 300));
    combiner.record(3, PollOutcome::Unsynchronized("no GPS fix".to_string()));
    combiner.combine(at(1_000));
    assert_eq!(combiner.now(at(1_000)), Ok(iv(150, 250)));
    assert_eq!(combiner.quorum(), 2);
    let members = combiner.members(at(1_000));
    assert_eq!(members[3].verdict, Verdict::Unsynchronized);
    assert!(members[3].detail.contains("no GPS fix"));
}

#[test]
fn a_sample_past_its_age_limit_is_stale_and_not_used() {
    let mut combiner = Combiner::new(3, limits(1));
    combiner.record(0, answer(0, 100, 200));
    combiner.record(1, answer(0, 100, 200));
    combiner.record(2, answer(0, 100, 200));
    // 2 s is the age limit: at 2 s the samples still count.
    combiner.combine(at(2 * SECOND));
    assert_eq!(
        verdicts(&combiner, 2 * SECOND),
        vec![Verdict::InMajority; 3]
    );
    // One master answers again; the other two are not heard from.
    combiner.record(0, answer(2 * SECOND + 1, 100, 200));
    combiner.combine(at(2 * SECOND + 1));
    assert_eq!(
        verdicts(&combiner, 2 * SECOND + 1),
        vec![Verdict::Undecided, Verdict::Stale, Verdict::Stale]
    );
}

#[test]
fn no_agreement_leaves_every_master_undecided_and_no_interval() {
    let mut combiner = Combiner::new(3, limits(1));
    combiner.record(0, answer(0, 0, 10));
    combiner.record(1, answer(0, 100, 110));
    combiner.record(2, answer(0, 200, 210));
    let events = combiner.combine(at(0));
    assert_eq!(verdicts(&combiner, 0), vec![Verdict::Undecided; 3]);
    assert_eq!(combiner.quorum(), 2);
    let reason = combiner.now(at(0)).unwrap_err();
    assert_eq!(
        reason,
        "no combined interval yet: no agreement: no instant is inside 2 of the 3 intervals"
    );
    assert!(matches!(events[0], Event::Unsynchronized { .. }));
}

#[test]
fn before_any_round_there_is_no_data_and_no_interval() {
    let combiner = Combiner::new(2, limits(0));
    assert_eq!(verdicts(&combiner, 0), vec![Verdict::NoData; 2]);
    assert_eq!(combiner.members(at(0))[0].age_ns, -1);
    assert_eq!(combiner.members(at(0))[0].interval, None);
    assert_eq!(
        combiner.now(at(0)),
        Err("no combined interval yet: no poll round has completed yet".to_string())
    );
}

#[test]
fn a_change_is_reported_once() {
    let mut combiner = Combiner::new(1, limits(0));
    combiner.record(0, answer(0, 0, 10));
    assert_eq!(combiner.combine(at(0)).len(), 2);
    combiner.record(0, answer(SECOND, SECOND, SECOND + 10));
    assert!(combiner.combine(at(SECOND)).is_empty());
}

const BOOT: tt_core::shm::BootId = tt_core::shm::BootId::from_u128(1);

/// Three masters answer `[t - 100 us, t + 100 us]` around true time `t`,
/// received at local instant `local`.
fn honest_round(combiner: &mut Combiner, local: i64, truth: i64) {
    for index in 0..3 {
        combiner.record(index, answer(local, truth - 100_000, truth + 100_000));
    }
}

#[test]
fn a_stopped_counter_is_a_disruption_and_nothing_is_served_until_two_rounds_agree() {
    let offset = 1_700_000_000 * SECOND;
    let mut combiner = Combiner::new(3, limits(1));
    honest_round(&mut combiner, SECOND, offset + SECOND);
    combiner.combine(at(SECOND));
    assert_eq!(combiner.disruptions(), 0);

    // The counter stood still for 10 s of true time (a paused virtual
    // machine): one local second later, true time is 11 s further on.
    // Carried forward, the last combined interval is
    // [t + 1 s - 300 us, t + 1 s + 300 us]; the masters say t + 11 s.
    honest_round(&mut combiner, 2 * SECOND, offset + 12 * SECOND);
    let events = combiner.combine(at(2 * SECOND));
    assert_eq!(combiner.disruptions(), 1);
    assert!(
        events.iter().any(
            |e| matches!(e, Event::Unsynchronized { reason } if reason.starts_with("clock disruption"))
        ),
        "{events:?}"
    );
    let refused = combiner.now(at(2 * SECOND)).unwrap_err();
    assert!(refused.contains("clock disruption"), "{refused}");
    // The record a slave publishes says the same.
    assert_eq!(
        crate::publish::record_for(&combiner, at(2 * SECOND), BOOT),
        tt_core::shm::Published::Unsynchronized
    );

    // A round that fails meanwhile does not serve the sample either.
    for index in 0..3 {
        combiner.record(index, PollOutcome::Unreachable("timeout".to_string()));
    }
    combiner.combine(at(2 * SECOND + 500_000_000));
    assert!(combiner.now(at(2 * SECOND + 500_000_000)).is_err());

    // The next round agrees with the one before, carried forward: served
    // again, and the disruption count stays.
    honest_round(&mut combiner, 3 * SECOND, offset + 13 * SECOND);
    let events = combiner.combine(at(3 * SECOND));
    assert!(
        matches!(events[0], Event::Synchronized { .. }),
        "{events:?}"
    );
    assert_eq!(
        combiner.now(at(3 * SECOND)),
        Ok(iv(
            offset + 13 * SECOND - 100_000,
            offset + 13 * SECOND + 100_000
        ))
    );
    assert_eq!(combiner.disruptions(), 1);
}

#[test]
fn rounds_that_overlap_the_carried_interval_by_one_point_are_no_disruption() {
    // Carried 1 s at 200 ppm, [0, 0] becomes [1 s - 200 us, 1 s + 200 us].
    // A next agreement touching its upper end is consistent; one starting
    // 1 ns above is not.
    let mut combiner = Combiner::new(1, limits(0));
    combiner.record(0, answer(0, 0, 0));
    combiner.combine(at(0));
    let top = SECOND + 200_000;
    combiner.record(0, answer(SECOND, top, top + 10));
    combiner.combine(at(SECOND));
    assert_eq!(combiner.disruptions(), 0);
    assert!(combiner.now(at(SECOND)).is_ok());

    // [top, top + 10] carried 1 s: [2 s + 200 us - 200 us, ...]; the lower
    // end is 2 s, the upper 2 s + 400 us + 10.
    let above = 2 * SECOND + 400_000 + 10 + 1;
    combiner.record(0, answer(2 * SECOND, above, above + 10));
    combiner.combine(at(2 * SECOND));
    assert_eq!(combiner.disruptions(), 1);
    assert!(combiner.now(at(2 * SECOND)).is_err());
}

#[test]
fn a_reload_keeps_the_combined_sample_and_the_masters_still_configured() {
    let mut combiner = Combiner::new(3, limits(1));
    combiner.record(0, answer(SECOND, 10_000, 12_000));
    combiner.record(1, answer(SECOND, 11_000, 13_000));
    combiner.record(2, PollOutcome::Unreachable("refused".into()));
    combiner.combine(at(SECOND));
    let before = combiner.now(at(SECOND)).unwrap();

    // Master 1 stays (now first), master 0 goes, a new master comes, f
    // drops to 0 and the drift bound halves.
    let reloaded = Limits {
        drift: Drift::from_ppm(100),
        ..limits(0)
    };
    combiner.reconfigure(&[Some(1), None], reloaded);
    assert_eq!(combiner.limits(), reloaded);
    let members = combiner.members(at(SECOND));
    assert_eq!(members.len(), 2);
    assert_eq!(members[0].interval, Some(iv(11_000, 13_000)));
    assert_eq!(members[0].verdict, Verdict::InMajority);
    assert_eq!(members[1].verdict, Verdict::NoData);
    assert_eq!(members[1].age_ns, -1);
    assert!(combiner.last_outcome(1).is_none());

    // Still served, carried with the new bound: 1 s at 100 ppm is 100 us
    // more on each side, and 1 s later in true time.
    assert_eq!(combiner.now(at(SECOND)), Ok(before));
    assert_eq!(
        combiner.now(at(2 * SECOND)),
        Ok(iv(
            before.earliest().unix_nanos() + SECOND - 100_000,
            before.latest().unix_nanos() + SECOND + 100_000
        ))
    );
}
