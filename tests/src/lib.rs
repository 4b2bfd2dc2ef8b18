//! Integration tests across processes live in tests/.

pub mod gpsfake;
pub mod procs;
pub mod stack;
