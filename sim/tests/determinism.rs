//! The seed is the whole of a run's randomness.

use tt_sim::catalogue;

const MINUTE: i64 = 60_000_000_000;

#[test]
fn one_seed_gives_the_same_run_and_another_seed_a_different_one() {
    // A fault in it, so that more than the quiet path is compared.
    let scenario = catalogue::liar_10ms(20 * MINUTE);
    let first = tt_sim::run_traced(&scenario, 7);
    let again = tt_sim::run_traced(&scenario, 7);
    assert_eq!(first.summary, again.summary);
    assert_eq!(first.tally.trace, again.tally.trace);
    assert_eq!(first.tally.observations, again.tally.observations);
    assert_eq!(first.tally.master_trace, again.tally.master_trace);

    let other = tt_sim::run_traced(&scenario, 8);
    assert_ne!(first.summary, other.summary);
    assert_ne!(first.tally.trace, other.tally.trace);
}
