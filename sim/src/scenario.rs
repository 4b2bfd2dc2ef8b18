//! What a run simulates: the fleet, how each part behaves when nothing is
//! wrong, and the faults, each at a physical instant.

use crate::gps::ReceiverSpec;
use crate::network::{NetFault, NetworkSpec};
use crate::oscillator::{CounterEvent, Wander};
use crate::truth::SECOND;
use std::time::Duration;
use timeslave::combiner::Limits;
use tt_core::leap::LeapSecond;
use tt_core::Drift;
use tt_hw::gpsd::GpsdConfig;

/// A host's counter: its starting rate error is drawn from
/// `[rate_low_ppb, rate_high_ppb]` by the seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockSpec {
    /// Lowest starting rate error, ppb.
    pub rate_low_ppb: i64,
    /// Highest starting rate error, ppb.
    pub rate_high_ppb: i64,
    /// How the rate wanders.
    pub wander: Option<Wander>,
    /// Stops, steps and rate changes.
    pub events: Vec<CounterEvent>,
}

/// One timemaster.
#[derive(Clone, Debug)]
pub struct MasterSpec {
    /// Its counter.
    pub clock: ClockSpec,
    /// The drift bound it declares.
    pub drift: Drift,
    /// Its sources' samples count this long, local ns.
    pub max_sample_age_ns: i64,
    /// Its gpsd source's configuration (delay range, PPS).
    pub gpsd: GpsdConfig,
    /// Its receiver and gpsd.
    pub receiver: ReceiverSpec,
    /// Whether it checks itself against the other masters.
    pub peers: bool,
    /// How many peers may be wrong at once; `None`: the binary's default,
    /// `(peers - 1) / 2`.
    pub peer_max_falsetickers: Option<usize>,
    /// How often it polls each peer, local ns.
    pub peer_poll_ns: i64,
    /// How long a peer's answer may take, local ns.
    pub peer_timeout_ns: i64,
}

/// One timeslave host with its clients.
#[derive(Clone, Debug)]
pub struct SlaveSpec {
    /// Its counter.
    pub clock: ClockSpec,
    /// The combiner's limits.
    pub limits: Limits,
    /// How often it polls, local ns.
    pub poll_ns: i64,
    /// How long an answer may take, local ns.
    pub timeout_ns: i64,
}

/// A fault, at physical instants relative to the start of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The master's receiver sends nothing from `from_ns` to `until_ns`.
    GpsSilent {
        /// Which master.
        master: usize,
        /// Start, ns after the run's start.
        from_ns: i64,
        /// End, ns after the run's start.
        until_ns: i64,
    },
    /// The master's receiver reports no fix.
    GpsNoFix {
        /// Which master.
        master: usize,
        /// Start, ns after the run's start.
        from_ns: i64,
        /// End, ns after the run's start.
        until_ns: i64,
    },
    /// The master's receiver is spoofed: its time is `by_ns` late.
    Spoof {
        /// Which master.
        master: usize,
        /// How late, ns.
        by_ns: i64,
        /// Start, ns after the run's start.
        from_ns: i64,
        /// End, ns after the run's start.
        until_ns: i64,
    },
    /// The master's answers (to slaves and peers) are moved by `by_ns`.
    Lie {
        /// Which master.
        master: usize,
        /// The lie, ns.
        by_ns: i64,
        /// Start, ns after the run's start.
        from_ns: i64,
        /// End, ns after the run's start.
        until_ns: i64,
    },
    /// The master's process dies and is started again.
    MasterDown {
        /// Which master.
        master: usize,
        /// Crash, ns after the run's start.
        from_ns: i64,
        /// Restart, ns after the run's start.
        until_ns: i64,
    },
    /// The slave's daemon dies and is started again (clients keep reading
    /// the record it left).
    SlaveDown {
        /// Which slave.
        slave: usize,
        /// Crash, ns after the run's start.
        from_ns: i64,
        /// Restart, ns after the run's start.
        until_ns: i64,
    },
    /// The master host's wall clock is stepped by `by_ns`.
    WallStep {
        /// Which master.
        master: usize,
        /// When, ns after the run's start.
        at_ns: i64,
        /// The step, ns.
        by_ns: i64,
    },
}

/// A whole run.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// A short name (`gps-lost`).
    pub name: String,
    /// One sentence: what goes wrong.
    pub about: String,
    /// One sentence: what the product must do.
    pub expect: String,
    /// Physical instant of the start, ns (UTC nanoseconds before any leap).
    pub start_ns: i64,
    /// How long to simulate, ns.
    pub duration_ns: i64,
    /// The masters.
    pub masters: Vec<MasterSpec>,
    /// The slaves.
    pub slaves: Vec<SlaveSpec>,
    /// The network when nothing is wrong.
    pub network: NetworkSpec,
    /// Network faults (instants relative to the start).
    pub net_faults: Vec<NetFault>,
    /// Host and source faults.
    pub faults: Vec<Fault>,
    /// A leap second and the policy window the masters apply around it
    /// (before, after, ns).
    pub leap: Option<(LeapSecond, i64, i64)>,
    /// Client reads per slave, on average one per this many ns.
    pub read_every_ns: i64,
}

/// 2026-03-01T00:00:00Z: a date after the gpsd source's default floor.
pub const DEFAULT_START_NS: i64 = 1_772_323_200 * SECOND;

/// A master as deployed by default: 200 ppm declared, samples count 3 s,
/// GPS with PPS through gpsd, serial time stamped 50 to 250 ms after the
/// second with a configured range of 0 to 400 ms, peers checked every
/// second.
pub fn default_master() -> MasterSpec {
    MasterSpec {
        clock: ClockSpec {
            rate_low_ppb: -50_000,
            rate_high_ppb: 50_000,
            wander: Some(Wander {
                every_ns: 10 * SECOND,
                step_ppb: 200,
                low_ppb: -60_000,
                high_ppb: 60_000,
            }),
            events: Vec::new(),
        },
        drift: Drift::from_ppm(200),
        max_sample_age_ns: 3 * SECOND,
        gpsd: GpsdConfig {
            min_delay_ns: 0,
            max_delay_ns: 400_000_000,
            ..GpsdConfig::default()
        },
        receiver: ReceiverSpec {
            serial_low_ns: 50_000_000,
            serial_high_ns: 250_000_000,
            pps: true,
            line_low_ns: 20_000,
            line_high_ns: 500_000,
        },
        peers: true,
        peer_max_falsetickers: None,
        peer_poll_ns: SECOND,
        peer_timeout_ns: SECOND / 2,
    }
}

/// A slave as deployed by default: polls every second, 500 ms timeout,
/// 200 ppm, samples count two polls, 60 s holdover, `f` as given.
pub fn default_slave(max_falsetickers: usize) -> SlaveSpec {
    SlaveSpec {
        clock: ClockSpec {
            rate_low_ppb: -100_000,
            rate_high_ppb: 100_000,
            wander: Some(Wander {
                every_ns: 10 * SECOND,
                step_ppb: 500,
                low_ppb: -150_000,
                high_ppb: 150_000,
            }),
            events: Vec::new(),
        },
        limits: Limits {
            max_falsetickers,
            drift: Drift::from_ppm(200),
            max_sample_age: Duration::from_secs(2),
            max_holdover: Duration::from_secs(60),
        },
        poll_ns: SECOND,
        timeout_ns: SECOND / 2,
    }
}

/// The default network: one-way 100 us to 1 ms per link direction, up to
/// 200 us of jitter, one message in ten thousand lost.
pub const DEFAULT_NETWORK: NetworkSpec = NetworkSpec {
    base_low_ns: 100_000,
    base_high_ns: 1_000_000,
    jitter_ns: 200_000,
    loss_ppm: 100,
};

impl Scenario {
    /// `masters` default masters and `slaves` default slaves with `f`,
    /// no faults, for `duration_ns`.
    pub fn fleet(
        name: &str,
        masters: usize,
        slaves: usize,
        f: usize,
        duration_ns: i64,
    ) -> Scenario {
        Scenario {
            name: name.to_string(),
            about: String::new(),
            expect: String::new(),
            start_ns: DEFAULT_START_NS,
            duration_ns,
            masters: vec![default_master(); masters],
            slaves: vec![default_slave(f); slaves],
            network: DEFAULT_NETWORK,
            net_faults: Vec::new(),
            faults: Vec::new(),
            leap: None,
            read_every_ns: SECOND / 4,
        }
    }

    /// Every slave polls every `poll_ns` (samples count two polls, the
    /// holdover is at least two polls).
    pub fn with_poll(mut self, poll_ns: i64) -> Scenario {
        for slave in &mut self.slaves {
            slave.poll_ns = poll_ns;
            let two_polls = Duration::from_nanos(2 * poll_ns as u64);
            slave.limits.max_sample_age = two_polls;
            slave.limits.max_holdover = slave.limits.max_holdover.max(two_polls);
        }
        self
    }

    /// Says what goes wrong and what must happen.
    pub fn described(mut self, about: &str, expect: &str) -> Scenario {
        self.about = about.to_string();
        self.expect = expect.to_string();
        self
    }
}
