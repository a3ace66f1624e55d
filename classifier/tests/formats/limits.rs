//! Every limit ends in its reason code; findings so far are kept.

use std::io::Write;

use super::*;

fn nested_zips(levels: usize) -> Vec<u8> {
    let mut data = zip_of(&[("leaf.txt", SSN_TEXT)]);
    for i in 1..levels {
        data = zip_of(&[
            ("a.txt", b"SSN 536-22-5181\n"),
            (&format!("l{i}.zip"), &data),
        ]);
    }
    data
}

#[test]
fn nesting_depth() {
    // Ten levels of zip are read whole.
    let r = engine().classify_bytes("x.zip", &nested_zips(10));
    assert_eq!(verdict(&r), ("COMPLETE", None));
    assert_eq!(
        kinds(&r),
        vec![("EMAIL_ADDRESS", 1), ("USA_SOCIAL_SECURITY_NUMBER", 10)]
    );
    // Eleven are not: the eleventh is skipped, everything above it is PARTIAL.
    let r = engine().classify_bytes("x.zip", &nested_zips(11));
    assert_eq!(
        verdict(&r),
        ("PARTIAL", Some("ARCHIVE_NESTING_LEVEL_OVER_LIMIT"))
    );
    assert_eq!(kinds(&r), vec![("USA_SOCIAL_SECURITY_NUMBER", 10)]);
    let deepest = r.embedded.last().unwrap();
    assert_eq!(deepest.embedded_path.matches('/').count(), 9);
    assert_eq!(
        verdict(&deepest.result),
        ("SKIPPED", Some("ARCHIVE_NESTING_LEVEL_OVER_LIMIT"))
    );
    let limits = Limits {
        max_nesting_depth: 2,
        ..Limits::default()
    };
    let r =
        engine_with(limits).classify_bytes("x.tar.gz", &gzip(&tar_of(&[("a.tar", &tar_of(&[]))])));
    assert_eq!(
        r.reason.as_deref(),
        Some("ARCHIVE_NESTING_LEVEL_OVER_LIMIT")
    );
}

#[test]
fn total_extracted_bytes() {
    let big = SSN_TEXT.repeat(1000);
    let tar = tar_of(&[("a.txt", &big), ("b.txt", &big), ("c.txt", &big)]);
    let limits = Limits {
        max_total_extracted_bytes: 70_000,
        ..Limits::default()
    };
    let r = engine_with(limits).classify_bytes("x.tar", &tar);
    assert_eq!(
        verdict(&r),
        ("PARTIAL", Some("ARCHIVE_TOTAL_BYTES_EXTRACTED_OVER_LIMIT"))
    );
    assert_eq!(verdict(&r.embedded[0].result), ("COMPLETE", None));
    assert_eq!(r.embedded[1].result.status.as_str(), "PARTIAL");
    assert_eq!(r.embedded.len(), 2);
    // Findings so far are kept: all of a.txt and part of b.txt.
    let ssn = r
        .detections
        .iter()
        .find(|d| d.kind == "USA_SOCIAL_SECURITY_NUMBER")
        .unwrap();
    assert!(ssn.count > 1000 && ssn.count < 2500, "{}", ssn.count);
}

#[test]
fn extracted_file_count() {
    let z = zip_of(&[
        ("a.txt", SSN_TEXT),
        ("b.txt", SSN_TEXT),
        ("c.txt", SSN_TEXT),
    ]);
    let limits = Limits {
        max_extracted_files: 2,
        ..Limits::default()
    };
    let r = engine_with(limits).classify_bytes("x.zip", &z);
    assert_eq!(
        verdict(&r),
        (
            "PARTIAL",
            Some("ARCHIVE_TOTAL_DOCUMENTS_PROCESSED_OVER_LIMIT")
        )
    );
    assert_eq!(r.embedded.len(), 2);
    assert_eq!(
        kinds(&r),
        vec![("EMAIL_ADDRESS", 2), ("USA_SOCIAL_SECURITY_NUMBER", 2)]
    );
}

#[test]
fn file_size() {
    let limits = Limits {
        max_file_bytes: 30_000,
        ..Limits::default()
    };
    let data = SSN_TEXT.repeat(2000);
    let r = engine_with(limits.clone()).classify_bytes("a.txt", &data);
    assert_eq!(verdict(&r), ("PARTIAL", Some("FILE_EXCEEDS_SIZE_LIMIT")));
    assert!(r.detections[0].count > 0);
    // A zip that cannot be spooled is skipped.
    let limits = Limits {
        max_spool_bytes: 100,
        spool_memory_bytes: 10,
        ..Limits::default()
    };
    let r = engine_with(limits).classify_bytes("x.zip", &zip_of(&[("a.txt", SSN_TEXT)]));
    assert_eq!(verdict(&r), ("SKIPPED", Some("FILE_EXCEEDS_SIZE_LIMIT")));
}

/// A 42.zip-style bomb: layers of zips each holding 16 copies of the layer below, over a
/// member of zeros. It stops at the first member whose expansion ratio is out of bounds.
#[test]
fn zip_bomb_stops_on_the_ratio() {
    let zeros = vec![b' '; 16 << 20];
    let mut layer = {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(9));
        w.start_file("zeros.txt", opts).unwrap();
        w.write_all(&zeros).unwrap();
        w.finish().unwrap().into_inner()
    };
    for _ in 0..3 {
        let copies: Vec<(String, Vec<u8>)> = (0..16)
            .map(|i| (format!("{i}.zip"), layer.clone()))
            .collect();
        let members: Vec<(&str, &[u8])> = copies
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        layer = zip_of(&members);
    }
    assert!(layer.len() < 64 << 20);
    let started = std::time::Instant::now();
    let r = engine().classify_bytes("42.zip", &layer);
    assert!(started.elapsed().as_secs() < 20);
    assert_eq!(verdict(&r), ("PARTIAL", Some("ARCHIVE_EXCEEDS_SIZE_LIMIT")));
    assert!(r.embedded.len() <= 4, "{}", r.embedded.len());
}

#[test]
fn gzip_bomb_stops_on_the_ratio() {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..64 {
        e.write_all(&[b'a'; 1 << 20]).unwrap();
    }
    let gz = e.finish().unwrap();
    let r = engine().classify_bytes("a.txt.gz", &gz);
    assert_eq!(verdict(&r), ("PARTIAL", Some("ARCHIVE_EXCEEDS_SIZE_LIMIT")));
    assert!(r.size_classified < 8 << 20);
}

#[test]
fn json_nesting() {
    let deep = format!("{}\"536-22-5181\"{}", "[".repeat(300), "]".repeat(300));
    let r = engine().classify_bytes("a.json", deep.as_bytes());
    assert_eq!(
        verdict(&r),
        ("PARTIAL", Some("JSON_NESTING_LEVEL_OVER_LIMIT"))
    );
    assert_eq!(kinds(&r), vec![("USA_SOCIAL_SECURITY_NUMBER", 1)]);
    let lines = format!("{{\"ssn\": \"536-22-5181\"}}\n{deep}\n");
    let r = engine().classify_bytes("a.jsonl", lines.as_bytes());
    assert_eq!(
        verdict(&r),
        ("PARTIAL", Some("JSON_NESTING_LEVEL_OVER_LIMIT"))
    );
    assert_eq!(kinds(&r), vec![("USA_SOCIAL_SECURITY_NUMBER", 2)]);
    let ok = format!("{}\"536-22-5181\"{}", "[".repeat(200), "]".repeat(200));
    let r = engine().classify_bytes("a.json", ok.as_bytes());
    assert_eq!(verdict(&r), ("COMPLETE", None));
}

#[test]
fn time_cut_off() {
    let limits = Limits {
        max_time_secs: 0,
        ..Limits::default()
    };
    let r = engine_with(limits).classify_bytes("a.txt", SSN_TEXT);
    assert_eq!(verdict(&r), ("SKIPPED", Some("TIME_CUT_OFF_REACHED")));
}
