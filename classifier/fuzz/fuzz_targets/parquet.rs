//! Fuzz target: Parquet (the input goes between the leading and trailing magic, so the
//! footer length and the footer itself are what the fuzzer varies).
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut input = data.to_vec();
    input.extend_from_slice(b"PAR1");
    common::run("a.parquet", b"PAR1", &input)
});
