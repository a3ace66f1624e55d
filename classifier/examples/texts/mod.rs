//! The texts the classifier's throughput is measured on, shared by the criterion bench
//! (`benches/benches/classifier.rs`) and the `throughput` example.

use std::path::PathBuf;

/// Deterministic English-like prose without sensitive values (xorshift word picks).
pub(crate) fn prose(num_bytes: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by",
        "on", "not", "this", "are", "from", "at", "which", "but", "have", "they", "you", "were",
        "there", "been", "one", "all", "would", "when", "will", "more", "about", "into", "them",
        "only", "other", "new", "some", "could", "time", "these", "may", "then", "first", "people",
        "through", "years", "where", "should", "because", "each", "between", "under", "never",
        "same", "another", "while", "last", "might", "great", "since", "against", "right", "used",
        "basic", "account", "number", "phone", "birth", "secret", "token", "password", "card",
        "bank", "social",
    ];
    let mut out = Vec::with_capacity(num_bytes + 256);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    while out.len() < num_bytes {
        let n = 8 + next() % 12;
        for k in 0..n {
            let w = WORDS[(next() % WORDS.len() as u64) as usize];
            if k == 0 {
                out.extend(w[..1].to_ascii_uppercase().as_bytes());
                out.extend(&w.as_bytes()[1..]);
            } else {
                out.push(b' ');
                out.extend(w.as_bytes());
            }
        }
        out.extend_from_slice(if next() % 5 == 0 { b".\n" } else { b". " });
    }
    out
}

/// The eval corpus's text files concatenated and repeated, or generated dense text.
pub(crate) fn dense(num_bytes: usize) -> Vec<u8> {
    let root = std::env::var_os("TRAWL_EVAL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/eval/corpus")
        });
    let mut base = Vec::new();
    for dir in ["txt", "log"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            let mut files: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            files.sort();
            for f in files {
                if let Ok(bytes) = std::fs::read(&f) {
                    base.extend(bytes);
                }
            }
        }
    }
    if base.is_empty() {
        base = b"SSN: 536-22-5181 contact jane.doe@example.com phone +1 (212) 736-4455\n\
                 credit card 4111 1111 1111 1111 exp 12/25 IBAN DE89 3704 0044 0532 0130 00\n\
                 2015-04-12T07:00:55.205836 INFO worker=29 took 650ms order number 4270711228298518\n\
                 [default]\naws_access_key_id = AKIA44W6RVYI5BFXSJWU\n\
                 aws_secret_access_key = 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\n"
            .to_vec();
    }
    let mut out = Vec::with_capacity(num_bytes + base.len());
    while out.len() < num_bytes {
        out.extend_from_slice(&base);
    }
    out
}
