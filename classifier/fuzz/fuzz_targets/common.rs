//! Shared by every target: one engine, and a run that must never panic.

use std::sync::OnceLock;

use trawl_classifier::{Engine, Limits};

/// Returns the engine, with limits small enough to keep each run fast.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        // libfuzzer-sys installs a panic hook that aborts on every panic, even one the
        // classifier catches at a parser boundary (`lopdf` and `parquet` panic on some hostile
        // files and are wrapped in `catch_unwind`, which turns the panic into
        // UNABLE_TO_PARSE_FILE). Replace it with one that only prints a line: a panic that
        // escapes `classify_bytes` still reaches libfuzzer-sys's own `catch_unwind` around the
        // target, which aborts, so only panics the caller would see count as crashes.
        std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));
        Engine::default().with_limits(Limits {
            max_total_extracted_bytes: 64 << 20,
            max_time_secs: 10,
            ..Limits::default()
        })
    })
}

/// Classifies `magic` followed by `data` as `name`.
pub fn run(name: &str, magic: &[u8], data: &[u8]) {
    let mut input = magic.to_vec();
    input.extend_from_slice(data);
    let r = engine().classify_bytes(name, &input);
    let _ = serde_json::to_string(&r);
}
