//! cargo-fuzz target `config`: see `harness::config` (fuzz/harness.rs, shared with the stable
//! regression test tests/fuzz_regressions.rs).
#![no_main]

#[path = "../harness.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::config(data));
