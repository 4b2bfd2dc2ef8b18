//! Source drivers.
