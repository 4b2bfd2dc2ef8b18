//! Tests of the PPS source.
