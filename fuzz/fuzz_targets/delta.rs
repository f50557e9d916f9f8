//! Arena snapshot delta bodies against a valid baseline: decoding never panics; what decodes is
//! sorted by id with every field in range, and encoding it against the same baseline decodes back
//! to it (fuzz/checks/delta.rs).
//!
//! Input layout: one byte for the baseline length (mod 65), one for the ticks elapsed, then one
//! 18-byte record per baseline entity (fields clamped into range), then the delta body.

#![no_main]

#[path = "../checks/delta.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
