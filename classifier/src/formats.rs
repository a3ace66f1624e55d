//! File formats: how bytes become slices for the scanner, and where hits are located.
//!
//! - **Text** streams in chunks of [`CHUNK`] bytes. Each chunk keeps [`BACK`] bytes of the
//!   previous one before it (keyword context, windows that reach back) and holds back the last
//!   [`HOLD`] bytes for the next round, so a value crossing a chunk edge is seen whole. A match
//!   is reported by the one chunk whose report range holds its first byte: found once.
//! - **CSV/TSV** is read record by record (the `csv` crate, bounded by the largest record);
//!   each cell is scanned with its column name as keyword context.
//! - **JSON** documents up to [`JSON_CAP`] bytes are parsed and walked value by value with the
//!   path as keyword context; larger ones (or unparsable ones) are scanned as text.
//! - **JSON Lines** is read line by line; lines that do not parse are scanned as text.
//! - JSON nested deeper than the limit (`JSON_NESTING_LEVEL_OVER_LIMIT`) is scanned as text
//!   and the file ends PARTIAL.
//! - Documents (see `documents`) hand text segments to [`scan_located`] with a location of
//!   their own (page, sheet cell, record and field path).
//!
//! Which format applies, and every budget, is decided by `sniff` and `container`.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read};

use crate::engine::{Compiled, Context, Hit, RuleSet};
use crate::sniff::Leaf;
use crate::{Cell, Detection, FileResult, LineRange, Occurrences, Record, Status};

/// Text chunk size.
const CHUNK: usize = 1 << 20;
/// Bytes held back at the end of a chunk (longest match plus its window).
const HOLD: usize = 16 << 10;
/// Bytes of the previous chunk kept before a chunk (keyword context and backward windows).
const BACK: usize = 2 << 10;
/// Largest JSON document parsed as a tree; larger ones are scanned as text.
const JSON_CAP: usize = 64 << 20;
/// Longest JSON Lines record parsed as JSON; longer ones are scanned as text.
const JSONL_LINE_CAP: usize = 8 << 20;
/// Locations kept per type.
const MAX_OCCURRENCES: usize = 1000;

/// Per-type counts and locations for one file.
pub(crate) struct Accumulator<'a> {
    compiled: &'a Compiled,
    counts: Vec<u64>,
    occurrences: Vec<Occurrences>,
}

impl<'a> Accumulator<'a> {
    pub(crate) fn new(compiled: &'a Compiled) -> Self {
        let n = compiled.types.len();
        Self {
            compiled,
            counts: vec![0; n],
            occurrences: vec![Occurrences::default(); n],
        }
    }

    fn room(&self, ty: u32) -> bool {
        self.occurrences[ty as usize].len() < MAX_OCCURRENCES
    }

    /// Returns true when nothing was counted.
    pub(crate) fn is_empty(&self) -> bool {
        self.counts.iter().all(|&c| c == 0)
    }

    /// Adds the counts of a member's result (its locations stay in the member's record).
    pub(crate) fn absorb(&mut self, member: &FileResult) {
        for d in &member.detections {
            if let Some(i) = self.compiled.types.iter().position(|t| t.name == d.kind) {
                self.counts[i] += d.count;
            }
        }
    }

    /// Counts one hit and, while there is room, keeps the location `loc` makes.
    pub(crate) fn record(&mut self, ty: u32, loc: impl FnOnce(&mut Occurrences)) {
        self.counts[ty as usize] += 1;
        if self.room(ty) {
            loc(&mut self.occurrences[ty as usize]);
        }
    }

    pub(crate) fn finish(self, status: Status, reason: Option<String>, size: u64) -> FileResult {
        let mut detections: Vec<Detection> = self
            .counts
            .iter()
            .zip(self.occurrences)
            .enumerate()
            .filter(|(_, (c, _))| **c > 0)
            .map(|(i, (&count, occurrences))| {
                let t = &self.compiled.types[i];
                Detection {
                    kind: t.name.clone(),
                    category: t.category.to_string(),
                    severity: t.severity_at(count),
                    count,
                    occurrences,
                }
            })
            .collect();
        detections.sort_by(|a, b| a.kind.cmp(&b.kind));
        FileResult {
            status,
            reason,
            size_classified: size,
            severity: detections.iter().map(|d| d.severity).max(),
            detections,
            embedded: Vec::new(),
        }
    }
}

/// Scans a text-like stream laid out as `leaf`; returns the reason when only part of it
/// could be read as that layout (JSON nested too deep) though all of it was scanned.
pub(crate) fn scan_leaf<'a>(
    compiled: &'a Compiled,
    leaf: Leaf,
    reader: &mut dyn Read,
    acc: &mut Accumulator<'a>,
    max_json_depth: u32,
) -> io::Result<Option<&'static str>> {
    match leaf {
        Leaf::Text => scan_text(compiled, reader, &[], acc).map(|()| None),
        Leaf::Csv(delim) => scan_csv(compiled, reader, delim, acc).map(|()| None),
        Leaf::Json => scan_json(compiled, reader, acc, max_json_depth),
        Leaf::JsonLines => scan_jsonl(compiled, reader, acc, max_json_depth),
    }
}

/// Scans one in-memory segment of a document (a cell, a field value, a page) and records each
/// hit with the location `loc` makes. `keywords` are those of the segment's context (column
/// or field name); `whole_cell` says the segment is one value rather than running text.
pub(crate) fn scan_located(
    compiled: &Compiled,
    acc: &mut Accumulator<'_>,
    text: &[u8],
    keywords: Option<&RuleSet>,
    whole_cell: bool,
    hits: &mut Vec<Hit>,
    loc: &mut dyn FnMut(&mut Occurrences, &Hit),
) {
    if text.is_empty() {
        return;
    }
    let ctx = Context {
        outer: keywords,
        whole_cell,
    };
    hits.clear();
    compiled.scan(text, 0..text.len(), &ctx, hits);
    for h in hits.iter() {
        acc.record(h.ty, |o| loc(o, h));
    }
}

/// Scans a whole in-memory text as lines (`lineRanges`).
pub(crate) fn scan_text_bytes(
    compiled: &Compiled,
    text: &[u8],
    acc: &mut Accumulator<'_>,
) -> io::Result<()> {
    scan_text(compiled, &mut io::empty(), text, acc)
}

/// Returns true when `json` nests arrays and objects deeper than `max` (strings skipped).
pub(crate) fn json_deeper_than(json: &[u8], max: u32) -> bool {
    let mut depth: u32 = 0;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Reads until `buf` holds `want` bytes or the reader ends; returns whether it ended.
fn fill(reader: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> io::Result<bool> {
    if buf.len() >= want {
        return Ok(false);
    }
    let need = (want - buf.len()) as u64;
    let got = reader.take(need).read_to_end(buf)? as u64;
    Ok(got < need)
}

/// Tracks line numbers across chunks.
struct Lines {
    /// Newlines before `buf[0]`.
    lines_before: u64,
    /// Absolute offset of the first byte of the line containing `buf[0]`.
    line_start_abs: u64,
}

/// Room a text buffer starts with; once a file outgrows it, the buffer takes a whole chunk.
const FIRST_ROOM: usize = 64 * 1024;

/// Reads into `buf[*len..want]` until it is full or the reader ends; returns whether it ended.
/// `buf` only grows: bytes it has held before are overwritten, never zeroed again (the
/// readers here implement `read` only, so `read_to_end` would zero every chunk first). It
/// starts with [`FIRST_ROOM`], not `want`: most files are far smaller than a chunk, and
/// zeroing (and faulting in) a whole chunk for each cost more than classifying it. A file
/// that fills it gets `want` at once (one copy of its first bytes, not one per doubling).
fn fill_buffer(
    reader: &mut dyn Read,
    buf: &mut Vec<u8>,
    len: &mut usize,
    want: usize,
) -> io::Result<bool> {
    while *len < want {
        if *len >= buf.len() {
            let room = if buf.len() < FIRST_ROOM {
                FIRST_ROOM
            } else {
                want
            };
            buf.resize(room.max(*len + 1), 0);
        }
        let end = buf.len().min(want);
        match reader.read(&mut buf[*len..end]) {
            Ok(0) => return Ok(true),
            Ok(n) => *len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// Streams `reader` (after `prefix`) as text.
fn scan_text(
    compiled: &Compiled,
    reader: &mut dyn Read,
    prefix: &[u8],
    acc: &mut Accumulator<'_>,
) -> io::Result<()> {
    // `buf[..len]` holds the text; the rest is room already initialised.
    let mut buf: Vec<u8> = prefix.to_vec();
    let mut len = buf.len();
    let mut base: u64 = 0;
    let mut report_from = 0usize;
    let mut lines = Lines {
        lines_before: 0,
        line_start_abs: 0,
    };
    let mut hits: Vec<Hit> = Vec::new();
    let mut first = true;
    loop {
        let want = (report_from + CHUNK + HOLD).max(len);
        // A failed read (a limit, a broken stream) still scans what was buffered first.
        let (eof, failure) = match fill_buffer(reader, &mut buf, &mut len, want) {
            Ok(eof) => (eof, None),
            Err(e) => (true, Some(e)),
        };
        let data = &buf[..len];
        if first {
            first = false;
            if let Some(decoded) = decode_utf16(data, eof) {
                // A UTF-16 file is decoded whole when it fits in one chunk; larger ones are
                // scanned as bytes.
                return scan_text(compiled, &mut io::empty(), &decoded, acc);
            }
        }
        let report_to = if eof { len } else { len - HOLD };
        hits.clear();
        compiled.scan(data, report_from..report_to, &Context::TEXT, &mut hits);
        record_text_hits(acc, data, base, &mut lines, &mut hits);
        if let Some(e) = failure {
            return Err(e);
        }
        if eof {
            return Ok(());
        }
        let keep_from = report_to - BACK;
        // Advance line tracking over the bytes dropped.
        let dropped = &data[..keep_from];
        let newlines = memchr::memchr_iter(b'\n', dropped).count() as u64;
        if let Some(last) = memchr::memrchr(b'\n', dropped) {
            lines.line_start_abs = base + last as u64 + 1;
        }
        lines.lines_before += newlines;
        buf.copy_within(keep_from..len, 0);
        len -= keep_from;
        base += keep_from as u64;
        report_from = BACK;
    }
}

/// Decodes a UTF-16 file (with a byte-order mark) that fits in the first chunk.
fn decode_utf16(buf: &[u8], eof: bool) -> Option<Vec<u8>> {
    if !eof || buf.len() < 2 {
        return None;
    }
    let le = match (buf[0], buf[1]) {
        (0xFF, 0xFE) => true,
        (0xFE, 0xFF) => false,
        _ => return None,
    };
    let units = buf[2..].chunks_exact(2).map(|c| {
        if le {
            u16::from_le_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], c[1]])
        }
    });
    let s: String = char::decode_utf16(units)
        .map(|r| r.unwrap_or('\u{FFFD}'))
        .collect();
    Some(s.into_bytes())
}

fn record_text_hits(
    acc: &mut Accumulator<'_>,
    buf: &[u8],
    base: u64,
    lines: &mut Lines,
    hits: &mut [Hit],
) {
    if hits.is_empty() {
        return;
    }
    hits.sort_by_key(|h| (h.start, h.ty));
    let mut pos = 0usize;
    let mut line = lines.lines_before + 1;
    for h in hits.iter() {
        acc.counts[h.ty as usize] += 1;
        if !acc.room(h.ty) {
            continue;
        }
        line += memchr::memchr_iter(b'\n', &buf[pos..h.start]).count() as u64;
        pos = h.start;
        let end_line = line
            + memchr::memchr_iter(b'\n', &buf[h.start..h.end.saturating_sub(1).max(h.start)])
                .count() as u64;
        let column = match memchr::memrchr(b'\n', &buf[..h.start]) {
            Some(nl) => count_chars(&buf[nl + 1..h.start]) + 1,
            None => {
                let from_line_start =
                    (base - lines.line_start_abs.min(base)) + count_chars(&buf[..h.start]);
                from_line_start + 1
            }
        };
        acc.occurrences[h.ty as usize].line_ranges.push(LineRange {
            start: line,
            end: end_line,
            start_column: column,
        });
    }
}

fn count_chars(s: &[u8]) -> u64 {
    s.iter().filter(|&&b| b & 0xC0 != 0x80).count() as u64
}

fn record_cell_hits(acc: &mut Accumulator<'_>, hits: &[Hit], row: u64, column: u64, name: &str) {
    for h in hits {
        acc.counts[h.ty as usize] += 1;
        if acc.room(h.ty) {
            acc.occurrences[h.ty as usize].cells.push(Cell {
                row,
                column,
                column_name: name.to_string(),
                cell_reference: None,
            });
        }
    }
}

fn record_json_hits(
    acc: &mut Accumulator<'_>,
    hits: &[Hit],
    record_index: u64,
    path: &dyn Fn() -> String,
) {
    let mut cached: Option<String> = None;
    for h in hits {
        acc.counts[h.ty as usize] += 1;
        if acc.room(h.ty) {
            let p = cached.get_or_insert_with(path).clone();
            acc.occurrences[h.ty as usize].records.push(Record {
                record_index,
                json_path: p,
            });
        }
    }
}

/// Heuristic: the first record is a header when none of its cells holds a digit-only value or
/// an `@`, and every cell is non-empty.
fn looks_like_header(record: &csv::ByteRecord) -> bool {
    !record.is_empty()
        && record.iter().all(|c| {
            !c.is_empty()
                && c.len() <= 64
                && !c.contains(&b'@')
                && c.iter().any(u8::is_ascii_alphabetic)
        })
}

fn scan_csv(
    compiled: &Compiled,
    reader: &mut dyn Read,
    delimiter: u8,
    acc: &mut Accumulator<'_>,
) -> io::Result<()> {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .quoting(delimiter != b'\t')
        .from_reader(reader);
    let mut record = csv::ByteRecord::new();
    let mut names: Vec<String> = Vec::new();
    let mut name_keywords: Vec<RuleSet> = Vec::new();
    let empty = RuleSet::default();
    let mut hits: Vec<Hit> = Vec::new();
    let mut row: u64 = 0;
    loop {
        match rdr.read_byte_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                if let csv::ErrorKind::Io(_) = e.kind() {
                    return Err(io::Error::other(e.to_string()));
                }
                row += 1;
                continue;
            }
        }
        row += 1;
        if row == 1 && looks_like_header(&record) {
            for cell in record.iter() {
                let name = String::from_utf8_lossy(cell).trim().to_string();
                name_keywords.push(compiled.keywords_in(name.as_bytes()));
                names.push(name);
            }
            continue;
        }
        for (c, cell) in record.iter().enumerate() {
            if cell.is_empty() {
                continue;
            }
            let outer = name_keywords.get(c).unwrap_or(&empty);
            let ctx = Context {
                outer: Some(outer),
                whole_cell: true,
            };
            hits.clear();
            compiled.scan(cell, 0..cell.len(), &ctx, &mut hits);
            if !hits.is_empty() {
                let name = names.get(c).map_or("", String::as_str);
                record_cell_hits(acc, &hits, row, c as u64 + 1, name);
            }
        }
    }
}

/// Walks a JSON value, scanning every string and number with its path as keyword context.
struct JsonWalker<'a, 'b> {
    compiled: &'a Compiled,
    acc: &'b mut Accumulator<'a>,
    record_index: u64,
    path: Vec<PathElem>,
    /// Keyword sets of the path so far (one per level, cumulative).
    keyword_stack: Vec<RuleSet>,
    key_cache: HashMap<String, RuleSet>,
    hits: Vec<Hit>,
}

enum PathElem {
    Key(String),
    Index(usize),
}

fn path_string(path: &[PathElem]) -> String {
    let mut s = String::from("$");
    for p in path {
        match p {
            PathElem::Key(k)
                if k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !k.is_empty() =>
            {
                s.push('.');
                s.push_str(k);
            }
            PathElem::Key(k) => {
                s.push_str("['");
                s.push_str(&k.replace('\'', "\\'"));
                s.push_str("']");
            }
            PathElem::Index(i) => {
                s.push('[');
                s.push_str(&i.to_string());
                s.push(']');
            }
        }
    }
    s
}

impl JsonWalker<'_, '_> {
    fn walk(&mut self, value: &serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let set = match self.key_cache.get(k) {
                        Some(s) => s.clone(),
                        None => {
                            let s = self.compiled.keywords_in(k.as_bytes());
                            self.key_cache.insert(k.clone(), s.clone());
                            s
                        }
                    };
                    let mut cumulative = self.keyword_stack.last().cloned().unwrap_or_default();
                    cumulative.union(&set);
                    self.keyword_stack.push(cumulative);
                    self.path.push(PathElem::Key(k.clone()));
                    self.walk(v);
                    self.path.pop();
                    self.keyword_stack.pop();
                }
            }
            serde_json::Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.path.push(PathElem::Index(i));
                    self.walk(v);
                    self.path.pop();
                }
            }
            serde_json::Value::String(s) => self.scan_value(s.as_bytes()),
            serde_json::Value::Number(n) => {
                let s = n.to_string();
                self.scan_value(s.as_bytes());
            }
            serde_json::Value::Bool(_) | serde_json::Value::Null => {}
        }
    }

    fn scan_value(&mut self, value: &[u8]) {
        if value.is_empty() {
            return;
        }
        let empty = RuleSet::default();
        let outer = self.keyword_stack.last().unwrap_or(&empty);
        let ctx = Context {
            outer: Some(outer),
            whole_cell: true,
        };
        self.hits.clear();
        self.compiled
            .scan(value, 0..value.len(), &ctx, &mut self.hits);
        if !self.hits.is_empty() {
            let path = &self.path;
            record_json_hits(self.acc, &self.hits, self.record_index, &|| {
                path_string(path)
            });
        }
    }
}

/// Walks one parsed record (a JSON value, a Parquet row, an Avro datum) and records its hits
/// as `records` with `record_index` and the value's path.
pub(crate) fn walk_json<'a>(
    compiled: &'a Compiled,
    acc: &mut Accumulator<'a>,
    value: &serde_json::Value,
    record_index: u64,
    cache: &mut HashMap<String, RuleSet>,
) {
    let mut walker = JsonWalker {
        compiled,
        acc,
        record_index,
        path: Vec::new(),
        keyword_stack: Vec::new(),
        key_cache: std::mem::take(cache),
        hits: Vec::new(),
    };
    walker.walk(value);
    *cache = walker.key_cache;
}

fn scan_json<'a>(
    compiled: &'a Compiled,
    reader: &mut dyn Read,
    acc: &mut Accumulator<'a>,
    max_depth: u32,
) -> io::Result<Option<&'static str>> {
    let mut buf = Vec::new();
    let eof = fill(reader, &mut buf, JSON_CAP + 1)?;
    if !eof {
        // Too large to parse as a tree: scan the bytes as text, streaming the rest.
        return scan_text(compiled, reader, &buf, acc).map(|()| None);
    }
    if json_deeper_than(&buf, max_depth) {
        scan_text(compiled, &mut io::empty(), &buf, acc)?;
        return Ok(Some(crate::limits::JSON_NESTING));
    }
    match serde_json::from_slice::<serde_json::Value>(&buf) {
        Ok(value) => {
            let mut cache = HashMap::new();
            walk_json(compiled, acc, &value, 0, &mut cache);
            Ok(None)
        }
        Err(_) => scan_text(compiled, &mut io::empty(), &buf, acc).map(|()| None),
    }
}

fn scan_jsonl<'a>(
    compiled: &'a Compiled,
    reader: &mut dyn Read,
    acc: &mut Accumulator<'a>,
    max_depth: u32,
) -> io::Result<Option<&'static str>> {
    let mut partial = None;
    let mut rdr = BufReader::with_capacity(1 << 16, reader);
    let mut line: Vec<u8> = Vec::new();
    let mut index: u64 = 0;
    let mut cache = HashMap::new();
    let mut hits = Vec::new();
    loop {
        line.clear();
        let n = (&mut rdr)
            .take(JSONL_LINE_CAP as u64)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(partial);
        }
        let complete_line = line.last() == Some(&b'\n') || n < JSONL_LINE_CAP;
        let trimmed = line.trim_ascii();
        if !trimmed.is_empty() {
            let too_deep = json_deeper_than(trimmed, max_depth);
            if too_deep {
                partial = Some(crate::limits::JSON_NESTING);
            }
            let parsed = if complete_line && !too_deep {
                serde_json::from_slice::<serde_json::Value>(trimmed).ok()
            } else {
                None
            };
            match parsed {
                Some(value) => walk_json(compiled, acc, &value, index, &mut cache),
                None => {
                    hits.clear();
                    compiled.scan(&line, 0..line.len(), &Context::TEXT, &mut hits);
                    record_json_hits(acc, &hits, index, &|| "$".to_string());
                }
            }
        }
        if complete_line {
            index += 1;
        }
    }
}
