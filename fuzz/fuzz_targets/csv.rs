//! cargo-fuzz target `csv`: see `harness::csv` (fuzz/harness.rs, shared with the stable
//! regression test tests/fuzz_regressions.rs).
#![no_main]

#[path = "../harness.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::csv(data));
