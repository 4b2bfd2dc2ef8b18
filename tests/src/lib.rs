//! Integration tests across processes live in tests/.

pub mod fleet;
pub mod gpsfake;
pub mod procs;
pub mod recordings;
pub mod stack;
