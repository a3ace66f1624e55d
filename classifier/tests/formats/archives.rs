//! Zip and tar, nested, with one record per member.

use super::*;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR";

#[test]
fn tar_gz_with_nested_zip_gives_a_record_per_member() {
    let inner = zip_of(&[("c.txt", b"SSN 536-22-5181\n"), ("logo.png", PNG)]);
    let tar = tar_of(&[
        ("dir/a.txt", SSN_TEXT),
        ("dir/b.csv", b"name,email\nJane,jane@example.com\n"),
        ("inner.zip", &inner),
    ]);
    let r = engine().classify_bytes("bundle.tar.gz", &gzip(&tar));
    assert_eq!(verdict(&r), ("COMPLETE", None));
    let paths: Vec<(&str, &str)> = r
        .embedded
        .iter()
        .map(|e| (e.embedded_path.as_str(), e.result.status.as_str()))
        .collect();
    assert_eq!(
        paths,
        vec![
            ("dir/a.txt", "COMPLETE"),
            ("dir/b.csv", "COMPLETE"),
            ("inner.zip", "COMPLETE"),
            ("inner.zip/c.txt", "COMPLETE"),
            ("inner.zip/logo.png", "SKIPPED"),
        ]
    );
    assert_eq!(
        r.embedded[4].result.reason.as_deref(),
        Some("UNSUPPORTED_FILE_TYPE_EXCEPTION")
    );
    // The object's record sums its direct members (the inner zip sums its own).
    assert_eq!(
        kinds(&r),
        vec![("EMAIL_ADDRESS", 2), ("USA_SOCIAL_SECURITY_NUMBER", 2)]
    );
    assert!(r.detections.iter().all(|d| d.occurrences.is_empty()));
    let b = &r.embedded[1].result.detections[0].occurrences.cells[0];
    assert_eq!((b.row, b.column, b.column_name.as_str()), (2, 2, "email"));
    let c = &r.embedded[3].result.detections[0].occurrences.line_ranges[0];
    assert_eq!((c.start, c.start_column), (1, 5));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["embedded"][3]["embedded_path"], "inner.zip/c.txt");
    assert_eq!(json["embedded"][3]["status"], "COMPLETE");
}

#[test]
fn zip_members_are_typed_by_magic_and_name() {
    let z = zip_of(&[
        ("notes.txt.gz", &gzip(SSN_TEXT)),
        ("data.json", br#"{"customer": {"ssn": "536-22-5181"}}"#),
        ("empty.txt", b""),
    ]);
    let r = engine().classify_bytes("x.zip", &z);
    assert_eq!(r.embedded.len(), 3);
    assert_eq!(
        kinds(&r.embedded[0].result),
        vec![("EMAIL_ADDRESS", 1), ("USA_SOCIAL_SECURITY_NUMBER", 1)]
    );
    let rec = &r.embedded[1].result.detections[0].occurrences.records[0];
    assert_eq!(rec.json_path, "$.customer.ssn");
    assert_eq!(verdict(&r.embedded[2].result), ("COMPLETE", None));
}

#[test]
fn corrupt_archives_are_malformed() {
    let z = zip_of(&[("a.txt", SSN_TEXT)]);
    // No central directory: nothing can be read.
    let r = engine().classify_bytes("x.zip", &z[..z.len() - 30]);
    assert_eq!(verdict(&r), ("SKIPPED", Some("MALFORMED_FILE")));
    let mut t = tar_of(&[("a.txt", SSN_TEXT), ("b.txt", SSN_TEXT)]);
    t.truncate(512 + 10);
    let r = engine().classify_bytes("x.tar", &t);
    assert_eq!(r.reason.as_deref(), Some("MALFORMED_FILE"));
}

#[test]
fn unsupported_binaries_are_not_read_past_the_sniff() {
    struct Counting<'a>(&'a [u8], usize);
    impl std::io::Read for Counting<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = (&self.0[self.1..]).read(buf)?;
            self.1 += n;
            Ok(n)
        }
    }
    let mut png = PNG.to_vec();
    png.resize(1 << 20, 7);
    let mut elf = b"\x7FELF\x02\x01\x01".to_vec();
    elf.resize(1 << 20, 0);
    for (name, data) in [("a.png", &png), ("a.txt", &elf)] {
        let mut reader = Counting(data, 0);
        let r = engine().classify_reader(name, &mut reader);
        assert_eq!(
            verdict(&r),
            ("SKIPPED", Some("UNSUPPORTED_FILE_TYPE_EXCEPTION"))
        );
        assert_eq!(r.size_classified, 0);
        assert!(reader.1 <= 8192, "read {} bytes", reader.1);
    }
}
