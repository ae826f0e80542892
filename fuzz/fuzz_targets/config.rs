//! The `config` target: its input format and properties are in `fuzz/props/config.rs`, which
//! keygate's tests also run over the seeds and their mutations (`tests/it/fuzz_replay.rs`).

#![no_main]

#[path = "../props/config.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| props::check(bytes));
