//! The meeting point between a driver task and the master: the latest
//! sample of one source, its health and its counters.

use std::sync::{Arc, Mutex};
use tt_core::Sample;

/// How a source stands right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Nothing heard yet.
    Starting,
    /// Delivering samples.
    Good,
    /// Connected, but the device has no usable time (no fix, receiver
    /// says invalid, kernel clock unsynchronized). Its old sample must not
    /// be used.
    NoData,
    /// The device or daemon cannot be reached.
    Down,
}

/// A snapshot of one source.
#[derive(Clone, Debug)]
pub struct SourceState {
    /// The configured name.
    pub name: String,
    /// The driver: "gpsd", "kernel", ...
    pub kind: &'static str,
    /// The latest sample, if the source is [`Health::Good`]. Cleared when
    /// the source loses its fix or its connection, so an old value is
    /// never frozen in place.
    pub last: Option<Sample>,
    /// How the source stands.
    pub health: Health,
    /// A sentence for people: the last error, or what the last sample was.
    pub detail: String,
    /// Samples accepted since start.
    pub accepted: u64,
    /// Inputs refused since start (bad data, no fix, a clock step).
    pub rejected: u64,
    /// Samples withheld since start because they disagreed with the
    /// source's own previous sample (`crate::chain`): well-formed input
    /// whose timing cannot be trusted, counted apart from bad input.
    pub inconsistent: u64,
}

/// A shared, cheaply cloned handle to one source's [`SourceState`].
#[derive(Clone, Debug)]
pub struct SourceCell {
    state: Arc<Mutex<SourceState>>,
}

impl SourceCell {
    /// A new cell for a source named `name` of driver `kind`.
    pub fn new(name: impl Into<String>, kind: &'static str) -> Self {
        SourceCell {
            state: Arc::new(Mutex::new(SourceState {
                name: name.into(),
                kind,
                last: None,
                health: Health::Starting,
                detail: "no data yet".to_string(),
                accepted: 0,
                rejected: 0,
                inconsistent: 0,
            })),
        }
    }

    /// Publishes a new sample; the source is then [`Health::Good`].
    pub fn publish(&self, sample: Sample, detail: impl Into<String>) {
        let mut state = self.lock();
        state.last = Some(sample);
        state.health = Health::Good;
        state.detail = detail.into();
        state.accepted += 1;
    }

    /// Marks the source as having no usable time or no connection; its
    /// last sample is dropped. Returns whether the health changed, so a
    /// driver can log once per change of state rather than per failure.
    pub fn lose(&self, health: Health, detail: impl Into<String>) -> bool {
        let mut state = self.lock();
        let changed = state.health != health;
        state.last = None;
        state.health = health;
        state.detail = detail.into();
        changed
    }

    /// Withholds a sample that disagrees with the source's previous one:
    /// counted, the source has no data until it agrees with itself again.
    /// Returns whether the health changed.
    pub fn distrust(&self, detail: impl Into<String>) -> bool {
        let mut state = self.lock();
        state.inconsistent += 1;
        let changed = state.health != Health::NoData;
        state.last = None;
        state.health = Health::NoData;
        state.detail = detail.into();
        changed
    }

    /// Counts one refused input; the detail says why.
    pub fn reject(&self, detail: impl Into<String>) {
        let mut state = self.lock();
        state.rejected += 1;
        state.detail = detail.into();
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> SourceState {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SourceState> {
        // A panic while holding this lock leaves plain data behind; the
        // state is still consistent field by field, so keep going.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
