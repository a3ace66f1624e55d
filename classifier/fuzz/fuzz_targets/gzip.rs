//! Fuzz target: gzip.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("a.gz", b"\x1F\x8B", data));
