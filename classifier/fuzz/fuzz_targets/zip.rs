//! Fuzz target: zip.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("a.zip", b"PK\x03\x04", data));
