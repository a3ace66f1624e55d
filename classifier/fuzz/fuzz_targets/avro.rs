//! Fuzz target: Avro.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("a.avro", b"Obj\x01", data));
