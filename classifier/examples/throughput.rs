//! One-thread classifier throughput on the bench's texts, without criterion: for quick runs
//! and for instruction counts under `valgrind --tool=callgrind`.
//!
//! `cargo run --release -p trawl-classifier --example throughput -- [prose|dense|both] [MiB] [rounds]`
//! `… --example throughput -- write DIR [MiB]` writes the texts to `DIR/prose.txt` and
//! `DIR/dense.txt` instead (for `trawl classify` runs and output comparisons).

mod texts;

use std::time::Instant;

use trawl_classifier::{ClassifierConfig, Engine, ManagedSelection, SelectionMode};

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "both".into());
    if which == "write" {
        let dir = std::path::PathBuf::from(args.next().expect("write needs a folder"));
        let mib: usize = args
            .next()
            .map_or(64, |s| s.parse().expect("MiB is a number"));
        std::fs::create_dir_all(&dir).expect("the folder should be writable");
        std::fs::write(dir.join("prose.txt"), texts::prose(mib << 20)).expect("write prose");
        std::fs::write(dir.join("dense.txt"), texts::dense(mib << 20)).expect("write dense");
        return;
    }
    let mib: usize = args
        .next()
        .map_or(8, |s| s.parse().expect("MiB is a number"));
    let rounds: usize = args
        .next()
        .map_or(5, |s| s.parse().expect("rounds is a number"));
    let config = ClassifierConfig {
        managed: ManagedSelection {
            selection: SelectionMode::All,
            identifiers: Vec::new(),
        },
        ..ClassifierConfig::default()
    };
    let engine = Engine::new(&config).expect("the managed identifiers should compile");
    for name in ["prose", "dense"] {
        if which != "both" && which != name {
            continue;
        }
        let data = if name == "prose" {
            texts::prose(mib << 20)
        } else {
            texts::dense(mib << 20)
        };
        let mut best = f64::MAX;
        let mut detections = 0;
        for _ in 0..rounds {
            let started = Instant::now();
            let result = engine.classify_reader("bench.txt", &mut &data[..]);
            best = best.min(started.elapsed().as_secs_f64());
            detections = result.detections.iter().map(|d| d.count).sum::<u64>();
        }
        println!(
            "{name}: {:.0} MiB/s (best of {rounds}, {} bytes, {detections} detections)",
            data.len() as f64 / best / f64::from(1 << 20),
            data.len()
        );
    }
}
