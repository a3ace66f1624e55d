//! Criterion benches (`benches/`) and the end-to-end load harness (`src/bin/load_harness.rs`).
