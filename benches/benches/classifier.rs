//! Classifier throughput: prose without sensitive values, and text dense with them.
//!
//! Every managed identifier is on (selection ALL), one thread. The texts
//! (`classifier/examples/texts`): prose generated deterministically, and dense text, the eval
//! corpus's text and log files concatenated (`../shared/eval/corpus`, or `TRAWL_EVAL_CORPUS`),
//! with generated dense text as a fallback.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use trawl_classifier::{ClassifierConfig, Engine, ManagedSelection, SelectionMode};

const TARGET_BYTES: usize = 8 << 20;

// The texts are shared with the classifier's `throughput` example.
#[path = "../../classifier/examples/texts/mod.rs"]
mod texts;
use texts::{dense, prose};

fn engine_all() -> Engine {
    let config = ClassifierConfig {
        managed: ManagedSelection {
            selection: SelectionMode::All,
            identifiers: Vec::new(),
        },
        ..ClassifierConfig::default()
    };
    Engine::new(&config).expect("the managed identifiers should compile")
}

fn bench_classifier(c: &mut Criterion) {
    let engine = engine_all();
    let mut group = c.benchmark_group("trawl_classifier::Engine::classify_reader");
    group.sample_size(10);
    for (name, data) in [
        ("prose", prose(TARGET_BYTES)),
        ("dense", dense(TARGET_BYTES)),
    ] {
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(name, |b| {
            b.iter_batched(
                || &data[..],
                |mut reader| black_box(engine.classify_reader("bench.txt", &mut reader)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench_classifier);
criterion_main!(benches);
