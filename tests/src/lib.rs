//! Integration tests across processes live in tests/.

pub mod procs;
