//! Peak memory stays bounded whatever the input (issue 5), a lighter version of
//! `examples/peak_rss.rs`: its own test binary, since VmHWM is per process.

use std::io::{Read, Write};

use trawl_classifier::Engine;

const BUDGET_MIB: u64 = 256;

/// `n` bytes of a one-line JSON array of records.
struct JsonGen {
    remaining: u64,
    i: u64,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for JsonGen {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.buf.len() {
            if self.remaining == 0 {
                return Ok(0);
            }
            self.buf.clear();
            self.pos = 0;
            if self.i == 0 {
                self.buf.extend_from_slice(b"[");
            }
            while self.buf.len() < 1 << 16 {
                self.i += 1;
                write!(self.buf, "{{\"id\":{},\"ssn\":\"536-22-5181\"}},", self.i)?;
            }
            let take = (self.buf.len() as u64).min(self.remaining) as usize;
            self.buf.truncate(take);
            self.remaining -= take as u64;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn vm_hwm_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .map(|v| v.trim().trim_end_matches("kB").trim().parse().unwrap())
        .unwrap();
    kib >> 10
}

#[test]
fn peak_rss_stays_within_budget() {
    let engine = Engine::default();
    // An 80 MiB one-line JSON document (past the tree-parsing cap, so streamed as text).
    let mut json = JsonGen {
        remaining: 80 << 20,
        i: 0,
        buf: Vec::new(),
        pos: 0,
    };
    let r = engine.classify_reader("big.json", &mut json);
    assert_eq!(r.status.as_str(), "COMPLETE");
    assert!(r.detections[0].count > 500_000);
    // A gzip of 16 MiB of text, compressed as it streams.
    let mut gz = flate2::read::GzEncoder::new(
        JsonGen {
            remaining: 16 << 20,
            i: 0,
            buf: Vec::new(),
            pos: 0,
        },
        flate2::Compression::fast(),
    );
    let r = engine.classify_reader("big.jsonl.gz", &mut gz);
    assert_eq!(r.size_classified, 16 << 20);
    // A three-layer 42.zip-style bomb.
    let mut layer = {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().compression_level(Some(9));
        w.start_file("0.txt", opts).unwrap();
        w.write_all(&vec![b' '; 32 << 20]).unwrap();
        w.finish().unwrap().into_inner()
    };
    for _ in 0..2 {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for i in 0..16 {
            w.start_file(format!("{i}.zip"), zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(&layer).unwrap();
        }
        layer = w.finish().unwrap().into_inner();
    }
    let r = engine.classify_bytes("42.zip", &layer);
    assert_eq!(r.reason.as_deref(), Some("ARCHIVE_EXCEEDS_SIZE_LIMIT"));
    let peak = vm_hwm_mib();
    assert!(peak < BUDGET_MIB, "peak RSS {peak} MiB");
}
