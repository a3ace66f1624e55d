//! PDF pages, Parquet rows and Avro datums (fixtures by reportlab, pyarrow and fastavro:
//! `tests/fixtures/make_fixtures.py`), and hostile variants of each.

use super::*;

/// `(recordIndex, jsonPath)` of every kept location of detection `i`.
fn records(r: &FileResult, i: usize) -> Vec<(u64, &str)> {
    r.detections[i]
        .occurrences
        .records
        .iter()
        .map(|x| (x.record_index, x.json_path.as_str()))
        .collect()
}

fn pages(r: &FileResult, i: usize) -> Vec<u64> {
    r.detections[i]
        .occurrences
        .pages
        .iter()
        .map(|p| p.page_number)
        .collect()
}

#[test]
fn pdf_text_is_located_by_page() {
    let r = engine().classify_bytes("pages.pdf", &fixture("pages.pdf"));
    assert_eq!(verdict(&r), ("COMPLETE", None), "{}", dump(&r));
    assert_eq!(
        kinds(&r),
        vec![("EMAIL_ADDRESS", 1), ("USA_SOCIAL_SECURITY_NUMBER", 1)]
    );
    assert_eq!(pages(&r, 0), vec![3]);
    assert_eq!(pages(&r, 1), vec![2]);
    assert!(r.detections[1].occurrences.line_ranges.is_empty());
    // Found by its magic bytes whatever the name.
    let r = engine().classify_bytes("upload.bin", &fixture("pages.pdf"));
    assert_eq!(kinds(&r).len(), 2, "{}", dump(&r));
}

#[test]
fn encrypted_truncated_and_oversized_pdfs() {
    let r = engine().classify_bytes("locked.pdf", &fixture("locked.pdf"));
    assert_eq!(
        verdict(&r),
        ("SKIPPED", Some("UNABLE_TO_PARSE_FILE")),
        "{}",
        dump(&r)
    );
    assert!(r.detections.is_empty());
    let r = engine().classify_bytes("a.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog");
    assert_eq!(verdict(&r), ("SKIPPED", Some("UNABLE_TO_PARSE_FILE")));
    let pdf = fixture("pages.pdf");
    let r = engine().classify_bytes("a.pdf", &pdf[..pdf.len() / 3]);
    assert_eq!(
        r.reason.as_deref(),
        Some("UNABLE_TO_PARSE_FILE"),
        "{}",
        dump(&r)
    );
    let small = engine_with(Limits {
        max_document_bytes: 1000,
        ..Limits::default()
    });
    let r = small.classify_bytes("pages.pdf", &pdf);
    assert_eq!(verdict(&r), ("SKIPPED", Some("FILE_EXCEEDS_SIZE_LIMIT")));
}

#[test]
fn parquet_rows_across_row_groups_with_column_keywords() {
    for name in ["people.parquet", "people-gzip.parquet"] {
        let r = engine().classify_bytes(name, &fixture(name));
        assert_eq!(verdict(&r), ("COMPLETE", None), "{name}: {}", dump(&r));
        assert_eq!(
            kinds(&r),
            vec![("EMAIL_ADDRESS", 2), ("USA_SOCIAL_SECURITY_NUMBER", 1)],
            "{name}"
        );
        assert_eq!(
            records(&r, 0),
            vec![(1, "$.email"), (3, "$.customer.tags[2]")]
        );
        // Row 4 is in the second row group; `536225181` is an SSN only under `ssn`.
        assert_eq!(records(&r, 1), vec![(4, "$.ssn")]);
    }
}

#[test]
fn broken_parquet_is_unparsable() {
    let pq = fixture("people.parquet");
    let r = engine().classify_bytes("a.parquet", &pq[..pq.len() / 2]);
    assert_eq!(verdict(&r), ("SKIPPED", Some("UNABLE_TO_PARSE_FILE")));
    // A footer length past the file.
    let mut lying = pq.clone();
    let n = lying.len();
    lying[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let r = engine().classify_bytes("a.parquet", &lying);
    assert_eq!(verdict(&r), ("SKIPPED", Some("UNABLE_TO_PARSE_FILE")));
    // Column data overwritten, footer intact.
    let mut corrupt = pq.clone();
    for b in &mut corrupt[4..n / 2] {
        *b = 0xAA;
    }
    let r = engine().classify_bytes("a.parquet", &corrupt);
    assert_eq!(
        r.reason.as_deref(),
        Some("UNABLE_TO_PARSE_FILE"),
        "{}",
        dump(&r)
    );
    // An encrypted footer.
    let mut encrypted = pq;
    encrypted[n - 4..].copy_from_slice(b"PARE");
    let r = engine().classify_bytes("a.parquet", &encrypted);
    assert_eq!(verdict(&r), ("SKIPPED", Some("UNABLE_TO_PARSE_FILE")));
}

/// A Parquet file of no rows whose schema is a chain of `depth` optional groups over one
/// string column, its footer written by hand in the Thrift compact protocol.
fn deep_parquet(depth: usize) -> Vec<u8> {
    fn varint(mut u: u64, out: &mut Vec<u8>) {
        while u >= 0x80 {
            out.push((u as u8) | 0x80);
            u >>= 7;
        }
        out.push(u as u8);
    }
    // Field headers: (id delta << 4) | type; i32 values are zigzag varints.
    let mut footer = vec![0x15, 0x02]; // 1: version = 1
    footer.extend([0x19, 0xFC]); // 2: schema, a list of structs whose size follows
    varint(depth as u64 + 2, &mut footer);
    footer.extend([0x48, 0x01, b'm', 0x15, 0x02, 0x00]); // root: name, num_children = 1
    for _ in 0..depth {
        // repetition_type = OPTIONAL, name, num_children = 1
        footer.extend([0x35, 0x02, 0x18, 0x01, b'g', 0x15, 0x02, 0x00]);
    }
    // type = BYTE_ARRAY, repetition_type = OPTIONAL, name
    footer.extend([0x15, 0x0C, 0x25, 0x02, 0x18, 0x01, b'v', 0x00]);
    footer.extend([0x16, 0x00]); // 3: num_rows = 0
    footer.extend([0x19, 0x0C]); // 4: row_groups = []
    footer.push(0x00);
    let mut file = b"PAR1".to_vec();
    file.extend(&footer);
    file.extend((footer.len() as u32).to_le_bytes());
    file.extend(b"PAR1");
    file
}

#[test]
fn deep_parquet_schemas_stop_at_the_nesting_limit() {
    for depth in [300, 200_000] {
        let r = engine().classify_bytes("deep.parquet", &deep_parquet(depth));
        assert_eq!(
            verdict(&r),
            ("SKIPPED", Some("JSON_NESTING_LEVEL_OVER_LIMIT")),
            "{depth}"
        );
    }
    // Within the limit the same shape is read (it has no rows).
    let r = engine().classify_bytes("deep.parquet", &deep_parquet(20));
    assert_eq!(verdict(&r), ("COMPLETE", None), "{}", dump(&r));
}

#[test]
fn avro_nested_records_and_arrays() {
    for name in ["orders.avro", "orders-deflate.avro"] {
        let r = engine().classify_bytes(name, &fixture(name));
        assert_eq!(verdict(&r), ("COMPLETE", None), "{name}: {}", dump(&r));
        assert_eq!(
            kinds(&r),
            vec![("EMAIL_ADDRESS", 1), ("USA_SOCIAL_SECURITY_NUMBER", 2)],
            "{name}"
        );
        assert_eq!(records(&r, 0), vec![(2, "$.items[2].contact")]);
        // Bare digits under `customer.ssn`; the bytes field `note` holds "SSN 536-22-5181".
        assert_eq!(records(&r, 1), vec![(1, "$.customer.ssn"), (3, "$.note")]);
    }
}

/// An Avro `long`.
fn long(v: i64, out: &mut Vec<u8>) {
    let mut u = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        let b = (u & 0x7F) as u8;
        u >>= 7;
        if u == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// An object container file (codec null) of `blocks`: (count, datum bytes).
fn avro_file(schema: &str, blocks: &[(i64, Vec<u8>)]) -> Vec<u8> {
    let mut out = b"Obj\x01".to_vec();
    long(1, &mut out);
    long(11, &mut out);
    out.extend(b"avro.schema");
    long(schema.len() as i64, &mut out);
    out.extend(schema.as_bytes());
    long(0, &mut out);
    let sync = *b"SYNCSYNCSYNCSYNC";
    out.extend(sync);
    for (count, data) in blocks {
        long(*count, &mut out);
        long(data.len() as i64, &mut out);
        out.extend(data);
        out.extend(sync);
    }
    out
}

fn avro_string(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    long(s.len() as i64, &mut out);
    out.extend(s.as_bytes());
    out
}

#[test]
fn broken_avro_keeps_what_was_read() {
    let avro = fixture("orders.avro");
    // Cut inside the last block: records 0 to 2 were read.
    let r = engine().classify_bytes("a.avro", &avro[..avro.len() - 20]);
    assert_eq!(
        verdict(&r),
        ("PARTIAL", Some("UNABLE_TO_PARSE_FILE")),
        "{}",
        dump(&r)
    );
    assert_eq!(
        kinds(&r),
        vec![("EMAIL_ADDRESS", 1), ("USA_SOCIAL_SECURITY_NUMBER", 1)]
    );
    // Cut inside the header.
    let r = engine().classify_bytes("a.avro", &avro[..100]);
    assert_eq!(verdict(&r), ("SKIPPED", Some("UNABLE_TO_PARSE_FILE")));
    // A wrong sync marker after the first block.
    let mut bad = avro.clone();
    let first_sync = memchr::memmem::find_iter(&bad, b"0123456789abcdef")
        .nth(1)
        .unwrap();
    bad[first_sync] ^= 0xFF;
    let r = engine().classify_bytes("a.avro", &bad);
    assert_eq!(
        verdict(&r),
        ("SKIPPED", Some("UNABLE_TO_PARSE_FILE")),
        "{}",
        dump(&r)
    );
    // A schema that does not parse.
    let r = engine().classify_bytes("a.avro", &avro_file("{\"type\": \"nope\"}", &[]));
    assert_eq!(verdict(&r), ("SKIPPED", Some("UNABLE_TO_PARSE_FILE")));
}

#[test]
fn avro_blocks_past_the_document_cap_are_skipped() {
    let schema =
        r#"{"type": "record", "name": "R", "fields": [{"name": "ssn", "type": "string"}]}"#;
    let big = avro_string(&"x".repeat(5000));
    let ssn = avro_string("536225181");
    let data = avro_file(schema, &[(1, big), (1, ssn)]);
    let limits = Limits {
        max_document_bytes: 1000,
        ..Limits::default()
    };
    let r = engine_with(limits).classify_bytes("a.avro", &data);
    assert_eq!(
        verdict(&r),
        ("PARTIAL", Some("FILE_EXCEEDS_SIZE_LIMIT")),
        "{}",
        dump(&r)
    );
    assert_eq!(records(&r, 0), vec![(1, "$.ssn")]);
    // A declared size past the end of the file.
    let mut lying = avro_file(schema, &[]);
    long(1, &mut lying);
    long(1 << 40, &mut lying);
    let r = engine().classify_bytes("a.avro", &lying);
    assert_eq!(verdict(&r), ("SKIPPED", Some("UNABLE_TO_PARSE_FILE")));
}

#[test]
fn hostile_avro_counts_and_nesting() {
    // A linked list nested far past the JSON depth limit, then a plain record.
    let schema = r#"{"type": "record", "name": "N", "fields": [
        {"name": "ssn", "type": "string"}, {"name": "next", "type": ["null", "N"]}]}"#;
    let mut deep = Vec::new();
    for _ in 0..100_000 {
        deep.extend([0x00, 0x02]);
    }
    deep.extend([0x00, 0x00]);
    let mut flat = avro_string("536225181");
    flat.push(0x00);
    let data = avro_file(schema, &[(1, deep), (1, flat)]);
    let r = engine().classify_bytes("a.avro", &data);
    assert_eq!(
        verdict(&r),
        ("PARTIAL", Some("JSON_NESTING_LEVEL_OVER_LIMIT")),
        "{}",
        dump(&r)
    );
    assert_eq!(records(&r, 0), vec![(1, "$.ssn")]);
    // Nested within the limit: the path goes down the chain.
    let mut three = Vec::new();
    three.extend(avro_string("a"));
    three.push(0x02);
    three.extend(avro_string("b"));
    three.push(0x02);
    three.extend(avro_string("536225181"));
    three.push(0x00);
    let r = engine().classify_bytes("a.avro", &avro_file(schema, &[(1, three)]));
    assert_eq!(verdict(&r), ("COMPLETE", None), "{}", dump(&r));
    assert_eq!(records(&r, 0), vec![(0, "$.next.next.ssn")]);
    // 2^62 datums of nothing end at once.
    let start = std::time::Instant::now();
    let r = engine().classify_bytes("a.avro", &avro_file("\"null\"", &[(1 << 62, Vec::new())]));
    assert_eq!(verdict(&r), ("COMPLETE", None));
    assert!(start.elapsed().as_secs() < 10);
    // An array of ten million nulls in a few bytes.
    let mut nulls = Vec::new();
    long(10_000_000, &mut nulls);
    long(0, &mut nulls);
    let schema = r#"{"type": "array", "items": "null"}"#;
    let start = std::time::Instant::now();
    let r = engine().classify_bytes("a.avro", &avro_file(schema, &[(1, nulls)]));
    assert_eq!(
        verdict(&r),
        ("PARTIAL", Some("FILE_EXCEEDS_SIZE_LIMIT")),
        "{}",
        dump(&r)
    );
    assert!(start.elapsed().as_secs() < 10);
}
