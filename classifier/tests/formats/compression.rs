//! Compressed streams are decoded on the fly and are transparent.

use std::io::Write;

use super::*;

fn assert_ssn_text(r: &FileResult) {
    assert_eq!(verdict(r), ("COMPLETE", None));
    assert_eq!(
        kinds(r),
        vec![("EMAIL_ADDRESS", 1), ("USA_SOCIAL_SECURITY_NUMBER", 1)]
    );
    let ssn = &r.detections[1].occurrences.line_ranges[0];
    assert_eq!((ssn.start, ssn.start_column), (2, 6));
    assert_eq!(r.size_classified, SSN_TEXT.len() as u64);
}

#[test]
fn gzip_bzip2_xz_zstd_snappy() {
    let gz = gzip(SSN_TEXT);
    let bz = {
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        e.write_all(SSN_TEXT).unwrap();
        e.finish().unwrap()
    };
    let xz = {
        let mut w =
            lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::default()).unwrap();
        w.write_all(SSN_TEXT).unwrap();
        w.finish().unwrap()
    };
    let zst =
        ruzstd::encoding::compress_to_vec(SSN_TEXT, ruzstd::encoding::CompressionLevel::Fastest);
    let sz = {
        let mut w = snap::write::FrameEncoder::new(Vec::new());
        w.write_all(SSN_TEXT).unwrap();
        w.into_inner().unwrap()
    };
    let engine = engine();
    for (name, data) in [
        ("a.txt.gz", &gz),
        ("a.txt.bz2", &bz),
        ("a.txt.xz", &xz),
        ("a.txt.zst", &zst),
        ("a.txt.sz", &sz),
        // Magic bytes win over a misleading extension.
        ("report.bin", &gz),
        ("report.dat", &xz),
    ] {
        let r = engine.classify_bytes(name, data);
        assert_ssn_text(&r);
    }
}

#[test]
fn concatenated_gzip_members_are_one_stream() {
    let mut data = gzip(b"hello\n");
    data.extend(gzip(b"SSN: 536-22-5181\n"));
    let r = engine().classify_bytes("a.gz", &data);
    assert_eq!(kinds(&r), vec![("USA_SOCIAL_SECURITY_NUMBER", 1)]);
    assert_eq!(r.detections[0].occurrences.line_ranges[0].start, 2);
}

#[test]
fn gzip_of_csv_keeps_cells() {
    let r = engine().classify_bytes("people.csv.gz", &gzip(b"name,ssn\nJane,536-22-5181\n"));
    let cell = &r.detections[0].occurrences.cells[0];
    assert_eq!(
        (cell.row, cell.column, cell.column_name.as_str()),
        (2, 2, "ssn")
    );
}

#[test]
fn truncated_and_corrupt_streams_are_malformed() {
    let gz = gzip(&SSN_TEXT.repeat(2000));
    let r = engine().classify_bytes("a.txt.gz", &gz[..gz.len() / 2]);
    assert_eq!(verdict(&r), ("PARTIAL", Some("MALFORMED_FILE")));
    assert!(
        r.detections.iter().any(|d| d.count > 0),
        "findings so far are kept"
    );
    let mut bad = gz.clone();
    for b in &mut bad[10..200] {
        *b = 0xAA;
    }
    let r = engine().classify_bytes("a.txt.gz", &bad);
    assert_eq!(r.reason.as_deref(), Some("MALFORMED_FILE"));
    for magic in [
        &b"\x28\xB5\x2F\xFD\xFF\xFF"[..],
        b"\xFD7zXZ\x00\x00",
        b"BZh9garbage",
    ] {
        let r = engine().classify_bytes("x", magic);
        assert_eq!(r.reason.as_deref(), Some("MALFORMED_FILE"), "{magic:?}");
    }
}

#[test]
fn utf16_and_latin1_text() {
    let text = format!("{}SSN: 536-22-5181 café\n", "filler line\n".repeat(200_000));
    let mut le = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        le.extend_from_slice(&u.to_le_bytes());
    }
    // Larger than one scanner chunk: transcoded as it streams.
    let r = engine().classify_bytes("a.txt", &le);
    assert_eq!(kinds(&r), vec![("USA_SOCIAL_SECURITY_NUMBER", 1)]);
    assert_eq!(r.detections[0].occurrences.line_ranges[0].start, 200_001);
    let latin1 = b"Jos\xE9 Garc\xEDa SSN: 536-22-5181\n";
    let r = engine().classify_bytes("a.txt", latin1);
    assert_eq!(kinds(&r), vec![("USA_SOCIAL_SECURITY_NUMBER", 1)]);
    assert_eq!(r.detections[0].occurrences.line_ranges[0].start_column, 18);
}

#[test]
fn markup_is_text() {
    for name in ["a.xml", "a.html", "a.yaml", "a.yml"] {
        let r = engine().classify_bytes(name, b"<p>SSN: 536-22-5181</p>\n");
        assert_eq!(kinds(&r), vec![("USA_SOCIAL_SECURITY_NUMBER", 1)], "{name}");
    }
}

#[test]
fn every_zstd_frame_is_read() {
    // Two frames written by the zstd library (`make_fixtures.py`).
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/frames.txt.zst");
    let r = engine().classify_bytes("frames.txt.zst", &std::fs::read(path).unwrap());
    assert_ssn_text(&r);
    // Frames by ruzstd with a skippable frame between them.
    let fast = ruzstd::encoding::CompressionLevel::Fastest;
    let mut data = ruzstd::encoding::compress_to_vec(&b"hello\n"[..], fast);
    data.extend(0x184D_2A5Au32.to_le_bytes());
    data.extend(3u32.to_le_bytes());
    data.extend(b"abc");
    data.extend(ruzstd::encoding::compress_to_vec(&SSN_TEXT[6..], fast));
    let r = engine().classify_bytes("a.txt.zst", &data);
    assert_ssn_text(&r);
    // A second frame cut short.
    let mut cut = data.clone();
    cut.extend(&ruzstd::encoding::compress_to_vec(&b"more\n"[..], fast)[..6]);
    let r = engine().classify_bytes("a.txt.zst", &cut);
    assert_eq!(verdict(&r), ("PARTIAL", Some("MALFORMED_FILE")));
}
