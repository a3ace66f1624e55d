//! What a stream is: magic bytes first, the file name's extension second.
//!
//! [`sniff`] looks at the first [`SNIFF_LEN`] bytes. Known signatures win (so `report.txt`
//! that is really a gzip is decompressed, and `photo.csv` that is really a PNG is skipped);
//! bytes with no signature are text when they hold no NUL (or start with a UTF-16 byte-order
//! mark), and the extension then picks CSV/TSV, JSON, JSON Lines or EML. Text that is not
//! valid UTF-8 is read as Latin-1; UTF-16 with a byte-order mark is transcoded
//! ([`Transcoding`]), both streaming.

use std::io::{self, Read};

/// Bytes read before deciding.
pub(crate) const SNIFF_LEN: usize = 8 << 10;

/// How a text file's cells or values are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leaf {
    Text,
    Csv(u8),
    Json,
    JsonLines,
}

/// A compression format streamed through the classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    Gzip,
    Bzip2,
    Xz,
    Zstd,
    Snappy,
}

/// An office document inside a zip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ooxml {
    Docx,
    Xlsx,
    Pptx,
}

/// Text encoding of a text file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Utf8,
    Utf16Le,
    Utf16Be,
    Latin1,
}

/// What a stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Compressed(Compression),
    /// A zip; `Some` when the extension says it is an office document.
    Zip(Option<Ooxml>),
    Tar,
    Pdf,
    Parquet,
    Avro,
    Eml(Encoding),
    Text(Leaf, Encoding),
    /// An image, executable, media file or other binary; the name says what was recognised.
    Unsupported(&'static str),
}

fn extension(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    match base.rsplit_once('.') {
        Some((_, ext)) => ext.to_ascii_lowercase(),
        None => String::new(),
    }
}

/// Returns `name` without its compression extension (`a.csv.gz` → `a.csv`, `a.tgz` →
/// `a.tar`), so the inner stream is typed by its own extension.
pub(crate) fn strip_compression(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    for (ext, repl) in [
        (".tgz", ".tar"),
        (".tbz2", ".tar"),
        (".tbz", ".tar"),
        (".txz", ".tar"),
        (".tzst", ".tar"),
    ] {
        if lower.ends_with(ext) {
            return format!("{}{repl}", &name[..name.len() - ext.len()]);
        }
    }
    for ext in [
        ".gz", ".gzip", ".bz2", ".xz", ".zst", ".zstd", ".sz", ".snappy",
    ] {
        if lower.ends_with(ext) {
            return name[..name.len() - ext.len()].to_string();
        }
    }
    name.to_string()
}

/// Signatures of binaries we do not read, with a label.
const UNSUPPORTED_MAGIC: &[(usize, &[u8], &str)] = &[
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"\xFF\xD8\xFF", "jpeg"),
    (0, b"GIF87a", "gif"),
    (0, b"GIF89a", "gif"),
    (0, b"II*\x00", "tiff"),
    (0, b"MM\x00*", "tiff"),
    (0, b"\x7FELF", "elf"),
    (0, b"MZ", "pe"),
    (0, b"\xCF\xFA\xED\xFE", "mach-o"),
    (0, b"\xCE\xFA\xED\xFE", "mach-o"),
    (0, b"\xFE\xED\xFA\xCF", "mach-o"),
    (0, b"\xCA\xFE\xBA\xBE", "mach-o or java class"),
    (0, b"\x00asm", "wasm"),
    (0, b"ID3", "mp3"),
    (0, b"OggS", "ogg"),
    (0, b"fLaC", "flac"),
    (0, b"RIFF", "riff media"),
    (0, b"\x1A\x45\xDF\xA3", "matroska"),
    (4, b"ftyp", "iso media"),
    (0, b"7z\xBC\xAF\x27\x1C", "7z"),
    (0, b"Rar!\x1A\x07", "rar"),
    (0, b"SQLite format 3\x00", "sqlite"),
    (
        0,
        b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1",
        "ole2 (legacy office)",
    ),
    (0, b"\x04\x22\x4D\x18", "lz4"),
    (0, b"dex\n", "dex"),
];

/// Returns what `prefix` (the first bytes of a stream named `name`) is.
pub(crate) fn sniff(name: &str, prefix: &[u8]) -> Kind {
    let ext = extension(name);
    let starts = |m: &[u8]| prefix.starts_with(m);
    if starts(b"\x1F\x8B") {
        return Kind::Compressed(Compression::Gzip);
    }
    if starts(b"BZh") && prefix.get(3).is_some_and(|b| (b'1'..=b'9').contains(b)) {
        return Kind::Compressed(Compression::Bzip2);
    }
    if starts(b"\xFD7zXZ\x00") {
        return Kind::Compressed(Compression::Xz);
    }
    if starts(b"\x28\xB5\x2F\xFD") {
        return Kind::Compressed(Compression::Zstd);
    }
    if starts(b"\xFF\x06\x00\x00sNaPpY") {
        return Kind::Compressed(Compression::Snappy);
    }
    if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") || starts(b"PK\x07\x08") {
        let doc = match ext.as_str() {
            "docx" | "docm" | "dotx" => Some(Ooxml::Docx),
            "xlsx" | "xlsm" | "xltx" => Some(Ooxml::Xlsx),
            "pptx" | "pptm" | "potx" => Some(Ooxml::Pptx),
            _ => None,
        };
        return Kind::Zip(doc);
    }
    if prefix.len() >= 262 && &prefix[257..262] == b"ustar" {
        return Kind::Tar;
    }
    if starts(b"%PDF-") {
        return Kind::Pdf;
    }
    if starts(b"PAR1") {
        return Kind::Parquet;
    }
    if starts(b"Obj\x01") {
        return Kind::Avro;
    }
    for &(offset, magic, label) in UNSUPPORTED_MAGIC {
        if prefix.len() >= offset + magic.len() && &prefix[offset..offset + magic.len()] == magic {
            return Kind::Unsupported(label);
        }
    }
    let encoding = if starts(b"\xFF\xFE") {
        Encoding::Utf16Le
    } else if starts(b"\xFE\xFF") {
        Encoding::Utf16Be
    } else if memchr::memchr(0, prefix).is_some() {
        // Old tars without the ustar magic are recognised by name only.
        if ext == "tar" {
            return Kind::Tar;
        }
        return Kind::Unsupported("binary");
    } else {
        match std::str::from_utf8(prefix) {
            Ok(_) => Encoding::Utf8,
            // A character cut at the end of the prefix is still UTF-8.
            Err(e) if e.error_len().is_none() => Encoding::Utf8,
            Err(_) => Encoding::Latin1,
        }
    };
    let leaf = match ext.as_str() {
        "csv" => Leaf::Csv(b','),
        "tsv" | "tab" => Leaf::Csv(b'\t'),
        "json" => Leaf::Json,
        "jsonl" | "ndjson" | "jsonlines" => Leaf::JsonLines,
        "eml" => return Kind::Eml(encoding),
        "tar" if prefix.is_empty() => return Kind::Tar,
        _ => Leaf::Text,
    };
    Kind::Text(leaf, encoding)
}

/// Turns UTF-16 (after its byte-order mark) or Latin-1 into UTF-8 as it streams.
pub(crate) struct Transcoding<R> {
    inner: R,
    encoding: Encoding,
    /// Bytes read but not yet converted (an odd byte, half a surrogate pair).
    pending: Vec<u8>,
    /// Converted bytes not yet handed out.
    out: Vec<u8>,
    out_pos: usize,
    bom_skipped: bool,
    eof: bool,
}

impl<R: Read> Transcoding<R> {
    pub(crate) fn new(inner: R, encoding: Encoding) -> Self {
        Self {
            inner,
            encoding,
            pending: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            bom_skipped: false,
            eof: false,
        }
    }

    fn refill(&mut self) -> io::Result<()> {
        let mut raw = [0u8; 32 << 10];
        let n = self.inner.read(&mut raw)?;
        if n == 0 {
            self.eof = true;
        }
        self.pending.extend_from_slice(&raw[..n]);
        self.out.clear();
        self.out_pos = 0;
        match self.encoding {
            Encoding::Utf8 => {
                self.out.append(&mut self.pending);
            }
            Encoding::Latin1 => {
                for &b in &self.pending {
                    let mut tmp = [0u8; 4];
                    self.out
                        .extend_from_slice(char::from(b).encode_utf8(&mut tmp).as_bytes());
                }
                self.pending.clear();
            }
            Encoding::Utf16Le | Encoding::Utf16Be => {
                let le = self.encoding == Encoding::Utf16Le;
                let mut start = 0;
                if !self.bom_skipped && self.pending.len() >= 2 {
                    self.bom_skipped = true;
                    start = 2;
                }
                let body = &self.pending[start..];
                let mut usable = body.len() & !1;
                // Keep a trailing high surrogate for the next round unless the stream ended.
                if usable >= 2 && !self.eof {
                    let last = &body[usable - 2..usable];
                    let u = if le {
                        u16::from_le_bytes([last[0], last[1]])
                    } else {
                        u16::from_be_bytes([last[0], last[1]])
                    };
                    if (0xD800..0xDC00).contains(&u) {
                        usable -= 2;
                    }
                }
                let units = body[..usable].chunks_exact(2).map(|c| {
                    if le {
                        u16::from_le_bytes([c[0], c[1]])
                    } else {
                        u16::from_be_bytes([c[0], c[1]])
                    }
                });
                for ch in char::decode_utf16(units) {
                    let mut tmp = [0u8; 4];
                    let ch = ch.unwrap_or('\u{FFFD}');
                    self.out
                        .extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                }
                let consumed = start + usable;
                self.pending.drain(..consumed);
                if self.eof {
                    self.pending.clear();
                }
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Transcoding<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos >= self.out.len() {
            if self.eof {
                return Ok(0);
            }
            self.refill()?;
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_beats_extension() {
        assert_eq!(
            sniff("a.txt", b"\x1F\x8B\x08\x00"),
            Kind::Compressed(Compression::Gzip)
        );
        assert_eq!(
            sniff("a.csv", b"\x89PNG\r\n\x1a\n...."),
            Kind::Unsupported("png")
        );
        assert_eq!(sniff("a.docx", b"PK\x03\x04"), Kind::Zip(Some(Ooxml::Docx)));
        assert_eq!(sniff("a.bin", b"PK\x03\x04"), Kind::Zip(None));
        assert_eq!(
            sniff("a.csv", b"name,ssn\n"),
            Kind::Text(Leaf::Csv(b','), Encoding::Utf8)
        );
        assert_eq!(
            sniff("a.json", b"caf\xE9 au lait"),
            Kind::Text(Leaf::Json, Encoding::Latin1)
        );
        assert_eq!(
            sniff("a.txt", "café\u{e9}".as_bytes().split_last().unwrap().1),
            Kind::Text(Leaf::Text, Encoding::Utf8)
        );
        assert_eq!(sniff("a", b"\x00\x01\x02"), Kind::Unsupported("binary"));
        assert_eq!(sniff("m.eml", b"From: a@b\r\n"), Kind::Eml(Encoding::Utf8));
        assert_eq!(strip_compression("x/A.CSV.GZ"), "x/A.CSV");
        assert_eq!(strip_compression("a.tgz"), "a.tar");
    }

    #[test]
    fn transcodes_utf16_and_latin1_across_reads() {
        let text = "SSN 536-22-5181 😀 é\n".repeat(5000);
        let mut le = vec![0xFF, 0xFE];
        for u in text.encode_utf16() {
            le.extend_from_slice(&u.to_le_bytes());
        }
        let mut out = String::new();
        Transcoding::new(&le[..], Encoding::Utf16Le)
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, text);
        let mut out = String::new();
        Transcoding::new(&b"caf\xE9"[..], Encoding::Latin1)
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "café");
    }
}
