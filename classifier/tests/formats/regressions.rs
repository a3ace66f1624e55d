//! Hostile input never panics: a bounded, deterministic mutation run over every format's
//! seed (the stable-toolchain cousin of `scripts/fuzz`), plus inputs the fuzzers found.

use super::*;

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
    vec![
        ("a.txt", SSN_TEXT.to_vec()),
        (
            "a.json",
            br#"{"a": [{"ssn": "536-22-5181"}, 1.5e3, null]}"#.to_vec(),
        ),
        ("a.csv", b"name,ssn\nJane,536-22-5181\n".to_vec()),
        ("a.gz", gzip(SSN_TEXT)),
        ("a.zip", zip_of(&[("a.txt", SSN_TEXT), ("b.json", b"{}")])),
        ("a.tar", tar_of(&[("a.txt", SSN_TEXT)])),
        ("a.docx", read("report.docx")),
        ("a.xlsx", read("people.xlsx")),
        ("a.pptx", read("deck.pptx")),
        ("a.eml", read("message.eml")),
    ]
}

#[test]
fn mutated_inputs_never_panic() {
    let engine = engine_with(Limits {
        max_total_extracted_bytes: 64 << 20,
        max_time_secs: 10,
        ..Limits::default()
    });
    let mut state: u64 = 0x2545F4914F6CDD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (name, seed) in seeds() {
        for _ in 0..400 {
            let mut data = seed.clone();
            for _ in 0..(1 + next() % 8) {
                let at = (next() % data.len().max(1) as u64) as usize;
                match next() % 4 {
                    0 if !data.is_empty() => data[at] = next() as u8,
                    1 => data.truncate(at),
                    2 if !data.is_empty() => data[at] ^= 0x80,
                    _ => data.insert(at.min(data.len()), next() as u8),
                }
            }
            let r = engine.classify_bytes(name, &data);
            serde_json::to_string(&r).unwrap();
        }
    }
}

// -------------------------------------------------------------------------------------------
// Inputs `scripts/fuzz` found, kept under `tests/formats/fuzz/` exactly as they were classified
// (the target's magic included), each run through the fuzz targets' engine.

/// The engine of the fuzz targets (`classifier/fuzz/fuzz_targets/common.rs`).
fn fuzz_engine() -> Engine {
    engine_with(Limits {
        max_total_extracted_bytes: 64 << 20,
        max_time_secs: 10,
        ..Limits::default()
    })
}

fn found(file: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/formats/fuzz")
        .join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Target `csv`: a Parquet file (sniffed by its magic) whose row group holds definition levels
/// above the schema's maximum; the `parquet` crate's record reader panics ("Cannot extract
/// value, max definition level: 4, current level: 5"). The panic is caught at the parser
/// boundary and the file is rejected.
#[test]
fn fuzz_parquet_definition_level_above_schema() {
    let r = fuzz_engine().classify_bytes("a.csv", &found("parquet-definition-level.parquet"));
    assert_eq!(verdict(&r), ("SKIPPED", Some("UNABLE_TO_PARSE_FILE")));
    serde_json::to_string(&r).unwrap();
}

/// Targets `sniff` and `parquet`: a Parquet footer holding a Thrift map of booleans with a huge
/// count.
/// The footer pre-scan (`bigdata::schema_depth`) skipped each boolean entry without reading a
/// byte and so looped for ever (a libFuzzer timeout); a count larger than the bytes left is
/// now a malformed footer.
#[test]
fn fuzz_parquet_footer_map_count_past_input() {
    for (name, file) in [
        // Target `sniff`: the map inside a schema element's logical type.
        ("a", "parquet-footer-bool-map.parquet"),
        // Target `parquet`: the same through lists and maps nested eight deep.
        ("a.parquet", "parquet-footer-nested-bool-map.parquet"),
    ] {
        let start = std::time::Instant::now();
        let r = fuzz_engine().classify_bytes(name, &found(file));
        assert_eq!(
            verdict(&r),
            ("SKIPPED", Some("UNABLE_TO_PARSE_FILE")),
            "{file}"
        );
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "{file}"
        );
    }
}

/// Target `eml`: a multipart message whose first part's `Content-Type` header runs on for
/// hundreds of bytes. `mail-parser`'s multipart parser stops on a `debug_assert!` ("Invalid
/// part ID, could not find multipart."), which dev builds used to panic on (the message was
/// then rejected); release builds, and the dev profile since it turns that crate's debug
/// assertions off, read the message as far as it goes, so its values are still found.
#[test]
fn fuzz_eml_cut_multipart_is_read_as_far_as_it_goes() {
    let r = fuzz_engine().classify_bytes("a.eml", &found("eml-multipart-part-id.eml"));
    assert_eq!(verdict(&r), ("COMPLETE", None));
    let count = |detections: &[trawl_classifier::Detection], t: &str| {
        detections
            .iter()
            .filter(|d| d.kind == t)
            .map(|d| d.count)
            .sum::<u64>()
    };
    assert_eq!(count(&r.detections, "EMAIL_ADDRESS"), 2);
    assert_eq!(count(&r.detections, "USA_SOCIAL_SECURITY_NUMBER"), 3);
    let paths: Vec<&str> = r
        .embedded
        .iter()
        .map(|e| e.embedded_path.as_str())
        .collect();
    assert!(paths.contains(&"people.csv"), "{paths:?}");
}
