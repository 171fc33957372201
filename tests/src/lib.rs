//! Test harness.
pub mod harness;
