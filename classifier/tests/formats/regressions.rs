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
