//! Classifies local files and folders and prints one JSON object per file.
//!
//! `cargo run -p trawl-classifier --example classify --release -- [--format table] [--config FILE] PATH...`

use std::io::Write;
use std::path::PathBuf;

use trawl_classifier::local::{OutputFormat, classify_paths};
use trawl_classifier::{ClassifierConfig, Engine};

fn main() -> anyhow::Result<()> {
    let mut format = OutputFormat::JsonLines;
    let mut config = ClassifierConfig::default();
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--format" => {
                format = match args.next().as_deref() {
                    Some("table") => OutputFormat::Table,
                    Some("json") | Some("jsonl") => OutputFormat::JsonLines,
                    other => anyhow::bail!("unknown format {other:?}"),
                }
            }
            "--config" => {
                let path = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--config needs a file"))?;
                config = ClassifierConfig::from_file(path.as_ref())?;
            }
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    if paths.is_empty() {
        anyhow::bail!("usage: classify [--format table] [--config FILE] PATH...");
    }
    let engine = Engine::new(&config)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let start = std::time::Instant::now();
    let summary = classify_paths(&engine, &paths, format, &mut out)?;
    out.flush()?;
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{} files, {} bytes in {:.3}s ({:.1} MiB/s)",
        summary.num_files,
        summary.num_bytes_classified,
        secs,
        summary.num_bytes_classified as f64 / secs / (1 << 20) as f64
    );
    Ok(())
}
