//! The network between hosts: a one-way delay per direction of every link
//! (a base chosen per link from the seed, plus jitter per message), loss,
//! and the faults a scenario switches on for a while: partitions, delay
//! spikes, asymmetric paths.

use crate::rng::{tag, Rng};

/// A host of the simulated fleet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Host {
    /// A timemaster, by index.
    Master(usize),
    /// A timeslave host, by index.
    Slave(usize),
}

/// How the links of a fleet behave when nothing is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkSpec {
    /// The lowest base one-way delay of a link direction, ns.
    pub base_low_ns: i64,
    /// The highest base one-way delay of a link direction, ns.
    pub base_high_ns: i64,
    /// Each message adds a uniform delay in `[0, jitter_ns]`.
    pub jitter_ns: i64,
    /// Each message is lost with this probability, parts per million.
    pub loss_ppm: u32,
}

impl NetworkSpec {
    /// The longest round trip a message pair can take without faults, ns.
    pub fn max_rtt_ns(&self) -> i64 {
        2 * (self.base_high_ns + self.jitter_ns)
    }
}

/// What a network fault does to the links it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetFaultKind {
    /// Nothing gets through in either direction.
    Partition,
    /// Extra one-way delay: `out_ns` towards the master, `back_ns` from it.
    ExtraDelay {
        /// Added to requests, ns.
        out_ns: i64,
        /// Added to answers, ns.
        back_ns: i64,
    },
}

/// A fault on the links between slaves and masters, for a while.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetFault {
    /// Physical instant it starts, ns.
    pub from_ns: i64,
    /// Physical instant it ends, ns.
    pub until_ns: i64,
    /// The slave whose links it covers; `None`: every slave's.
    pub slave: Option<usize>,
    /// What it does.
    pub kind: NetFaultKind,
}

/// The network; see the module documentation.
#[derive(Clone, Debug)]
pub struct Network {
    spec: NetworkSpec,
    seed: u64,
    faults: Vec<NetFault>,
    jitter: Rng,
}

fn host_tag(host: Host) -> u64 {
    match host {
        Host::Master(i) => i as u64,
        Host::Slave(i) => 1_000_000 + i as u64,
    }
}

impl Network {
    /// A network for the seed `seed`.
    pub fn new(spec: NetworkSpec, faults: Vec<NetFault>, seed: u64) -> Network {
        Network {
            spec,
            seed,
            faults,
            jitter: Rng::stream(seed, &[tag::NETWORK]),
        }
    }

    /// The base one-way delay from `from` to `to`: fixed for the run.
    pub fn base_ns(&self, from: Host, to: Host) -> i64 {
        let mut rng = Rng::stream(self.seed, &[tag::LINK, host_tag(from), host_tag(to)]);
        rng.range(self.spec.base_low_ns, self.spec.base_high_ns)
    }

    /// The one-way delay of a message sent from `from` to `to` at physical
    /// instant `tau`, or `None` if it is lost.
    pub fn transit(&mut self, from: Host, to: Host, tau: i64) -> Option<i64> {
        let mut delay = self.base_ns(from, to) + self.jitter.range(0, self.spec.jitter_ns);
        if self.jitter.chance_ppm(self.spec.loss_ppm) {
            return None;
        }
        let (slave, towards_master) = match (from, to) {
            (Host::Slave(s), Host::Master(_)) => (Some(s), true),
            (Host::Master(_), Host::Slave(s)) => (Some(s), false),
            _ => (None, true),
        };
        let Some(slave) = slave else {
            return Some(delay);
        };
        for fault in &self.faults {
            let covers = fault.slave.is_none_or(|s| s == slave);
            if !covers || tau < fault.from_ns || tau >= fault.until_ns {
                continue;
            }
            match fault.kind {
                NetFaultKind::Partition => return None,
                NetFaultKind::ExtraDelay { out_ns, back_ns } => {
                    delay += if towards_master { out_ns } else { back_ns };
                }
            }
        }
        Some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: NetworkSpec = NetworkSpec {
        base_low_ns: 100_000,
        base_high_ns: 300_000,
        jitter_ns: 50_000,
        loss_ppm: 0,
    };

    #[test]
    fn delays_stay_in_their_range_and_faults_apply_in_their_window() {
        let faults = vec![
            NetFault {
                from_ns: 10,
                until_ns: 20,
                slave: Some(0),
                kind: NetFaultKind::Partition,
            },
            NetFault {
                from_ns: 30,
                until_ns: 40,
                slave: None,
                kind: NetFaultKind::ExtraDelay {
                    out_ns: 1_000_000,
                    back_ns: 0,
                },
            },
        ];
        let mut net = Network::new(SPEC, faults, 9);
        let (s, m) = (Host::Slave(0), Host::Master(1));
        for tau in [0, 25, 45] {
            let d = net.transit(s, m, tau).unwrap();
            assert!((100_000..=350_000).contains(&d), "{d}");
        }
        assert_eq!(net.transit(s, m, 10), None);
        assert_eq!(net.transit(m, s, 19), None);
        assert!(net.transit(Host::Slave(1), m, 15).is_some());
        assert!(net.transit(s, m, 30).unwrap() >= 1_100_000);
        assert!(net.transit(m, s, 30).unwrap() <= 350_000);
        assert_eq!(
            net.base_ns(s, m),
            Network::new(SPEC, vec![], 9).base_ns(s, m)
        );
    }
}
