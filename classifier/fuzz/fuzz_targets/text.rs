//! Fuzz target: Text (UTF-8, UTF-16, Latin-1).
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("a.txt", b"", data));
