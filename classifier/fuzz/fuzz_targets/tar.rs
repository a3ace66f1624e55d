//! Fuzz target: tar (ustar magic is at offset 257, so by name).
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("a.tar", b"", data));
