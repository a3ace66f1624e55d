//! Fuzz target: PPTX.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("a.pptx", b"PK\x03\x04", data));
