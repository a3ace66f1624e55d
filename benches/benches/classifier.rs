//! Classifier throughput: prose without sensitive values, and text dense with them.
//!
//! Every managed identifier is on (selection ALL), one thread. Prose is generated
//! deterministically here; dense text is the eval corpus's text and log files concatenated
//! (`../shared/eval/corpus`, or `TRAWL_EVAL_CORPUS`), with generated dense text as a fallback.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use trawl_classifier::{ClassifierConfig, Engine, ManagedSelection, SelectionMode};

const TARGET_BYTES: usize = 8 << 20;

/// Deterministic English-like prose without sensitive values (xorshift word picks).
fn prose(num_bytes: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by",
        "on", "not", "this", "are", "from", "at", "which", "but", "have", "they", "you", "were",
        "there", "been", "one", "all", "would", "when", "will", "more", "about", "into", "them",
        "only", "other", "new", "some", "could", "time", "these", "may", "then", "first", "people",
        "through", "years", "where", "should", "because", "each", "between", "under", "never",
        "same", "another", "while", "last", "might", "great", "since", "against", "right", "used",
        "basic", "account", "number", "phone", "birth", "secret", "token", "password", "card",
        "bank", "social",
    ];
    let mut out = Vec::with_capacity(num_bytes + 256);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    while out.len() < num_bytes {
        let n = 8 + next() % 12;
        for k in 0..n {
            let w = WORDS[(next() % WORDS.len() as u64) as usize];
            if k == 0 {
                out.extend(w[..1].to_ascii_uppercase().as_bytes());
                out.extend(&w.as_bytes()[1..]);
            } else {
                out.push(b' ');
                out.extend(w.as_bytes());
            }
        }
        out.extend_from_slice(if next() % 5 == 0 { b".\n" } else { b". " });
    }
    out
}

/// The eval corpus's text files concatenated and repeated, or generated dense text.
fn dense(num_bytes: usize) -> Vec<u8> {
    let root = std::env::var_os("TRAWL_EVAL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/eval/corpus")
        });
    let mut base = Vec::new();
    for dir in ["txt", "log"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            let mut files: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            files.sort();
            for f in files {
                if let Ok(bytes) = std::fs::read(&f) {
                    base.extend(bytes);
                }
            }
        }
    }
    if base.is_empty() {
        base = b"SSN: 536-22-5181 contact jane.doe@example.com phone +1 (212) 736-4455\n\
                 credit card 4111 1111 1111 1111 exp 12/25 IBAN DE89 3704 0044 0532 0130 00\n\
                 2015-04-12T07:00:55.205836 INFO worker=29 took 650ms order number 4270711228298518\n\
                 [default]\naws_access_key_id = AKIA44W6RVYI5BFXSJWU\n\
                 aws_secret_access_key = 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\n"
            .to_vec();
    }
    let mut out = Vec::with_capacity(num_bytes + base.len());
    while out.len() < num_bytes {
        out.extend_from_slice(&base);
    }
    out
}

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
