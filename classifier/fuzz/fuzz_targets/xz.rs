//! Fuzz target: xz.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("a.xz", b"\xFD7zXZ\x00", data));
