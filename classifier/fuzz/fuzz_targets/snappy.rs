//! Fuzz target: snappy framed.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("a.sz", b"\xFF\x06\x00\x00sNaPpY", data));
