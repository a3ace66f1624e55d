//! Fuzz target: CSV.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("a.csv", b"", data));
