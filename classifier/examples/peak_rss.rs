//! Streams a large generated input through `Engine::classify_reader` and prints the result
//! and the process's peak RSS (VmHWM). Nothing touches the disk: inputs are generated and
//! compressed on the fly.
//!
//! `cargo run -p trawl-classifier --release --example peak_rss -- gzip 5120`   (MiB of text)
//! `cargo run -p trawl-classifier --release --example peak_rss -- json 1024`   (one line)
//! `cargo run -p trawl-classifier --release --example peak_rss -- bomb 5`      (zip layers)
//!
//! Figures (release, this machine): 5 GiB gzip of text 17 MiB peak; 1 GiB one-line JSON
//! 201 MiB; 4-layer 42.zip-style bomb 79 MiB, stopped with `ARCHIVE_EXCEEDS_SIZE_LIMIT`.

use std::io::{Read, Write};

use trawl_classifier::Engine;

/// Text lines with varying numbers (compresses about 5:1, like real logs), `n` bytes.
struct TextGen {
    remaining: u64,
    line: u64,
    pending: Vec<u8>,
    pos: usize,
    json: bool,
}

impl TextGen {
    fn new(n: u64, json: bool) -> Self {
        let pending = if json {
            b"{\"rows\":[".to_vec()
        } else {
            Vec::new()
        };
        Self {
            remaining: n,
            line: 0,
            pending,
            pos: 0,
            json,
        }
    }
}

impl Read for TextGen {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.pending.len() {
            if self.remaining == 0 {
                return Ok(0);
            }
            self.pending.clear();
            self.pos = 0;
            while self.pending.len() < 64 << 10 {
                self.line += 1;
                let l = self.line;
                if self.json {
                    write!(
                        self.pending,
                        "{{\"id\":{l},\"user\":\"user{}@example.com\",\"ssn\":\"536-22-5181\",\"amount\":{}}},",
                        l.wrapping_mul(2654435761) % 1_000_000,
                        l % 9973
                    )?;
                } else {
                    writeln!(
                        self.pending,
                        "{l} user{}@example.com paid {} ref {:x} SSN 536-22-5181",
                        l.wrapping_mul(2654435761) % 1_000_000,
                        l % 9973,
                        l.wrapping_mul(0x9E3779B97F4A7C15)
                    )?;
                }
            }
            let take = (self.pending.len() as u64).min(self.remaining) as usize;
            self.pending.truncate(take);
            self.remaining -= take as u64;
            if self.remaining == 0 && self.json {
                self.pending.extend_from_slice(b"{}]}");
            }
        }
        let n = buf.len().min(self.pending.len() - self.pos);
        buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn zip_of(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9));
    for (name, data) in members {
        w.start_file(name.as_str(), opts)
            .expect("zip writing to memory should not fail");
        w.write_all(data)
            .expect("zip writing to memory should not fail");
    }
    w.finish()
        .expect("zip writing to memory should not fail")
        .into_inner()
}

/// A 42.zip-style bomb: `layers` of 16 copies over a 64 MiB member of spaces.
fn bomb(layers: u32) -> Vec<u8> {
    let mut layer = zip_of(&[("0.txt".to_string(), vec![b' '; 64 << 20])]);
    for _ in 1..layers {
        let copies: Vec<(String, Vec<u8>)> = (0..16)
            .map(|i| (format!("{i}.zip"), layer.clone()))
            .collect();
        layer = zip_of(&copies);
    }
    layer
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let case = args.next().unwrap_or_else(|| "gzip".into());
    let size: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(64);
    let engine = Engine::default();
    let started = std::time::Instant::now();
    let before = vm_hwm_kib();
    let result = match case.as_str() {
        "gzip" => {
            let mut gz = flate2::read::GzEncoder::new(
                TextGen::new(size << 20, false),
                flate2::Compression::fast(),
            );
            engine.classify_reader("big.txt.gz", &mut gz)
        }
        "json" => engine.classify_reader("big.json", &mut TextGen::new(size << 20, true)),
        "bomb" => {
            let data = bomb(size as u32);
            eprintln!("bomb: {} bytes, {} layers", data.len(), size);
            engine.classify_bytes("42.zip", &data)
        }
        other => anyhow::bail!("unknown case {other}"),
    };
    let counts: Vec<String> = result
        .detections
        .iter()
        .map(|d| format!("{}×{}", d.kind, d.count))
        .collect();
    println!(
        "case={case} size={size} status={} reason={:?} size_classified={} members={} detections=[{}] secs={:.1} vm_hwm_before_mib={} vm_hwm_mib={}",
        result.status.as_str(),
        result.reason,
        result.size_classified,
        result.embedded.len(),
        counts.join(", "),
        started.elapsed().as_secs_f64(),
        before >> 10,
        vm_hwm_kib() >> 10
    );
    Ok(())
}
