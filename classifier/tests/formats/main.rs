//! Formats, archives and limits (issue 5): fixtures are made by the Rust writers at test time
//! or by real tools (`tests/fixtures/make_fixtures.py`) and checked in small.

mod archives;
mod bigdata;
mod compression;
mod documents;
mod limits;
mod regressions;

use trawl_classifier::{Engine, FileResult, Limits};

/// Text with one US SSN on line 2 and one email on line 3.
pub const SSN_TEXT: &[u8] = b"hello\nSSN: 536-22-5181\nmail jane.doe@example.com\n";

/// A checked-in fixture from `tests/fixtures`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The whole result as JSON, for assertion messages.
pub fn dump(r: &FileResult) -> String {
    serde_json::to_string(r).unwrap()
}

pub fn engine() -> Engine {
    Engine::default()
}

pub fn engine_with(limits: Limits) -> Engine {
    Engine::default().with_limits(limits)
}

/// Returns `(type, count)` of every detection.
pub fn kinds(r: &FileResult) -> Vec<(&str, u64)> {
    r.detections
        .iter()
        .map(|d| (d.kind.as_str(), d.count))
        .collect()
}

/// The status and reason of a result, as Macie writes them.
pub fn verdict(r: &FileResult) -> (&'static str, Option<&str>) {
    (r.status.as_str(), r.reason.as_deref())
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

pub fn tar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}
