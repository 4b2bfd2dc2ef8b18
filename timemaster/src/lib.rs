//! The timemaster's logic, apart from its process: its configuration, how
//! it judges its sources, how it checks itself against its peers, and its
//! gRPC service. The binary (`main.rs`) wires these to real devices and
//! sockets; a simulation can drive the same code with its own clocks.

pub mod assess;
pub mod config;
pub mod metrics;
pub mod peers;
pub mod service;
pub mod serving;
pub mod sources;
