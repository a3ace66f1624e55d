//! Fuzz target: The sniffer and whatever it picks: the name is fixed, the bytes decide.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("a", b"", data));
