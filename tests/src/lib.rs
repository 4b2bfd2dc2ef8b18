//! Integration tests across processes live in tests/.
