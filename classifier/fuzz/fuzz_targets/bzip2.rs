//! Fuzz target: bzip2.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("a.bz2", b"BZh9", data));
