//! The running sources: one driver task per configured source, each
//! publishing into its cell, and what a configuration reload does to them.
//!
//! A reload keeps a source running, its cell and its counts with it, when
//! its configuration is unchanged; it stops the sources that are gone or
//! changed and starts the new ones. A PPS source is restarted too when the
//! source that numbers its edges is, and PPS and PHC sources when the
//! master's drift bound changes (their drivers carry it).

use crate::config::{self, Config, SourceConfig};
use std::time::Duration;
use tokio::task::JoinHandle;
use tt_core::Drift;
use tt_hw::SourceCell;

/// One running source.
struct Running {
    config: SourceConfig,
    cell: SourceCell,
    task: JoinHandle<()>,
}

/// The running sources, in configuration order.
pub struct Sources {
    running: Vec<Running>,
    drift_ppm: u64,
}

/// What a reload did, by source name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Sources kept running.
    pub kept: Vec<String>,
    /// Sources started (new or changed).
    pub started: Vec<String>,
    /// Sources stopped (gone or changed).
    pub stopped: Vec<String>,
}

/// For each source of `new`, the index in `old` of the same source to keep
/// running, if any. Kept: same configuration; for PPS and PHC also the same
/// drift bound; for PPS also its labelling source kept.
pub fn plan(
    old: &[SourceConfig],
    old_drift_ppm: u64,
    new: &[SourceConfig],
    new_drift_ppm: u64,
) -> Vec<Option<usize>> {
    let carries_drift = |source: &SourceConfig| {
        matches!(source, SourceConfig::Pps { .. } | SourceConfig::Phc { .. })
    };
    let mut kept: Vec<Option<usize>> = new
        .iter()
        .map(|source| {
            if carries_drift(source) && old_drift_ppm != new_drift_ppm {
                return None;
            }
            old.iter().position(|former| former == source)
        })
        .collect();
    for (index, source) in new.iter().enumerate() {
        if let SourceConfig::Pps { label_from, .. } = source {
            let label_kept = new
                .iter()
                .zip(&kept)
                .any(|(other, kept)| other.name() == label_from && kept.is_some());
            if !label_kept {
                kept[index] = None;
            }
        }
    }
    kept
}

impl Sources {
    /// Starts every source of `config`. Must run inside the runtime.
    pub fn start(config: &Config) -> Result<Sources, String> {
        let mut sources = Sources {
            running: Vec::new(),
            drift_ppm: config.drift_ppm,
        };
        sources.reload(config)?;
        Ok(sources)
    }

    /// The cells, in configuration order.
    pub fn cells(&self) -> Vec<SourceCell> {
        self.running.iter().map(|r| r.cell.clone()).collect()
    }

    /// Brings the running sources to `config`'s (see the module
    /// documentation). A source that cannot be set up leaves everything
    /// as it was.
    pub fn reload(&mut self, config: &Config) -> Result<Changes, String> {
        let old: Vec<SourceConfig> = self.running.iter().map(|r| r.config.clone()).collect();
        let kept = plan(&old, self.drift_ppm, &config.sources, config.drift_ppm);
        let drift = Drift::from_ppm(config.drift_ppm);

        // Every new driver is prepared before anything is stopped, so a
        // source that cannot be set up changes nothing.
        let mut prepared = Vec::with_capacity(config.sources.len());
        for (source, kept) in config.sources.iter().zip(&kept) {
            prepared.push(match kept {
                Some(index) => Prepared::Keep(*index),
                None => Prepared::Start(prepare(source, drift)?),
            });
            if let SourceConfig::Pps { label_from, .. } = source {
                if !config.sources.iter().any(|s| s.name() == label_from) {
                    return Err(format!(
                        "source `{}`: label-from = \"{label_from}\" names no source",
                        source.name()
                    ));
                }
            }
        }

        let mut changes = Changes::default();
        let mut previous: Vec<Option<Running>> = self.running.drain(..).map(Some).collect();
        let mut running: Vec<Running> = Vec::with_capacity(prepared.len());
        let mut labelled = Vec::new();
        for (source, prepared) in config.sources.iter().zip(prepared) {
            let entry = match prepared {
                Prepared::Keep(index) => {
                    changes.kept.push(source.name().to_string());
                    previous[index]
                        .take()
                        .expect("each former source is kept at most once")
                }
                Prepared::Start(driver) => {
                    changes.started.push(source.name().to_string());
                    let cell = SourceCell::new(source.name(), driver.kind());
                    let task = match driver {
                        Driver::Pps(pps, label_from) => {
                            // Started below, once the labelling cell exists.
                            labelled.push((running.len(), pps, label_from));
                            tokio::spawn(std::future::pending())
                        }
                        other => other.spawn(cell.clone(), source.name().to_string()),
                    };
                    Running {
                        config: source.clone(),
                        cell,
                        task,
                    }
                }
            };
            running.push(entry);
        }
        for (index, pps, label_from) in labelled {
            let label = running
                .iter()
                .find(|r| r.config.name() == label_from)
                .map(|r| r.cell.clone())
                .expect("every label-from was checked to name a source above");
            let entry = &mut running[index];
            entry.task.abort();
            entry.task = tokio::spawn(tt_hw::pps::run(
                pps,
                entry.cell.clone(),
                label,
                entry.config.name().to_string(),
            ));
        }
        for former in previous.into_iter().flatten() {
            changes.stopped.push(former.config.name().to_string());
            former.task.abort();
        }
        self.running = running;
        self.drift_ppm = config.drift_ppm;
        Ok(changes)
    }
}

enum Prepared {
    Keep(usize),
    Start(Driver),
}

/// A driver's checked configuration, ready to start.
enum Driver {
    Gpsd(tt_hw::gpsd::GpsdConfig),
    Kernel(Duration),
    Nmea(tt_hw::nmea::NmeaConfig),
    Pps(tt_hw::pps::PpsConfig, String),
    Phc(tt_hw::phc::PhcConfig),
    Ptp4l(tt_hw::ptp4l::Ptp4lConfig),
}

impl Driver {
    fn kind(&self) -> &'static str {
        match self {
            Driver::Gpsd(_) => "gpsd",
            Driver::Kernel(_) => "kernel",
            Driver::Nmea(_) => "nmea",
            Driver::Pps(..) => "pps",
            Driver::Phc(_) => "phc",
            Driver::Ptp4l(_) => "ptp4l",
        }
    }

    fn spawn(self, cell: SourceCell, name: String) -> JoinHandle<()> {
        match self {
            Driver::Gpsd(gpsd) => tokio::spawn(tt_hw::gpsd::run(gpsd, cell, name)),
            Driver::Kernel(poll) => tokio::spawn(tt_hw::kernel::run(poll, cell)),
            Driver::Nmea(nmea) => tokio::spawn(tt_hw::nmea::run(nmea, cell, name)),
            Driver::Phc(phc) => tokio::spawn(tt_hw::phc::run(phc, cell, name)),
            Driver::Ptp4l(ptp4l) => tokio::spawn(tt_hw::ptp4l::run(ptp4l, cell, name)),
            Driver::Pps(..) => unreachable!("PPS sources are started with their label"),
        }
    }
}

fn prepare(source: &SourceConfig, drift: Drift) -> Result<Driver, String> {
    let name = source.name();
    let named = |e: String| format!("source `{name}`: {e}");
    let missing = || format!("source `{name}`: no driver configuration");
    Ok(match source {
        SourceConfig::Gpsd {
            address,
            min_delay_us,
            max_delay_us,
            date_floor,
            pps,
            pps_precision_ns,
            ..
        } => Driver::Gpsd(tt_hw::gpsd::GpsdConfig {
            address: address.clone(),
            min_delay_ns: min_delay_us.saturating_mul(1000),
            max_delay_ns: max_delay_us.saturating_mul(1000),
            date_floor_unix_s: config::parse_date(date_floor).map_err(named)?,
            use_pps: *pps,
            pps_precision_ns: *pps_precision_ns,
        }),
        SourceConfig::Kernel {
            poll_interval_ms, ..
        } => Driver::Kernel(Duration::from_millis((*poll_interval_ms).max(10))),
        SourceConfig::Nmea { .. } => Driver::Nmea(
            config::nmea_config(source)
                .map_err(named)?
                .ok_or_else(missing)?,
        ),
        SourceConfig::Pps { .. } => {
            let (pps, label_from) = config::pps_config(source, drift)
                .map_err(named)?
                .ok_or_else(missing)?;
            Driver::Pps(pps, label_from)
        }
        SourceConfig::Phc { .. } => Driver::Phc(
            config::phc_config(source, drift)
                .map_err(named)?
                .ok_or_else(missing)?,
        ),
        SourceConfig::Ptp4l { .. } => Driver::Ptp4l(
            config::ptp4l_config(source)
                .map_err(named)?
                .ok_or_else(missing)?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpsd(name: &str, max_delay_us: i64) -> SourceConfig {
        let text = format!(
            "[[source]]\nname = \"{name}\"\nkind = \"gpsd\"\nmax-delay-us = {max_delay_us}\n"
        );
        config::parse(&text, "t").unwrap().sources.remove(0)
    }

    fn pps(name: &str, label_from: &str) -> SourceConfig {
        SourceConfig::Pps {
            name: name.to_string(),
            device: "/dev/pps0".to_string(),
            label_from: label_from.to_string(),
            precision_ns: 1_000,
            label_max_age_ms: 3_000,
        }
    }

    fn kernel() -> SourceConfig {
        SourceConfig::Kernel {
            name: "kernel".to_string(),
            poll_interval_ms: 1_000,
        }
    }

    #[test]
    fn unchanged_sources_are_kept_wherever_they_moved() {
        let old = [kernel(), gpsd("gps0", 100_000), pps("pps0", "gps0")];
        let new = [gpsd("gps0", 100_000), pps("pps0", "gps0"), gpsd("gps1", 5)];
        assert_eq!(plan(&old, 200, &new, 200), vec![Some(1), Some(2), None]);
    }

    #[test]
    fn a_changed_label_source_restarts_its_pps() {
        let old = [gpsd("gps0", 100_000), pps("pps0", "gps0")];
        let new = [gpsd("gps0", 90_000), pps("pps0", "gps0")];
        assert_eq!(plan(&old, 200, &new, 200), vec![None, None]);
    }

    #[test]
    fn a_new_drift_bound_restarts_the_drivers_that_carry_it() {
        let old = [gpsd("gps0", 100_000), pps("pps0", "gps0"), kernel()];
        assert_eq!(plan(&old, 200, &old, 100), vec![Some(0), None, Some(2)]);
    }
}
