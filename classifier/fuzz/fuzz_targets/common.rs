//! Shared by every target: one engine, and a run that must never panic.

use std::sync::OnceLock;

use trawl_classifier::{Engine, Limits};

/// Returns the engine, with limits small enough to keep each run fast.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
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
