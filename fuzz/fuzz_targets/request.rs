//! The `request` target: its input format and properties are in `fuzz/props/request.rs`, which
//! keygate's tests also run over the seeds and their mutations (`tests/it/fuzz_replay.rs`).

#![no_main]

#[path = "../props/request.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| props::check(bytes));
