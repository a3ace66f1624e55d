//! Fuzz target: zstd.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("a.zst", b"\x28\xB5\x2F\xFD", data));
