//! Fuzz target: DOCX.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("a.docx", b"PK\x03\x04", data));
