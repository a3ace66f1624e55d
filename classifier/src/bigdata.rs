//! Parquet and Avro: each row or datum becomes a JSON-like value walked as a JSON Lines record
//! would be, so locations are `records` (`recordIndex` = row or datum number from 0 across the
//! whole file, `jsonPath` such as `$.customer.email` or `$.items[2].ssn`) and column and field
//! names act as keywords exactly as JSON keys do (a column `ssn` makes a bare 9-digit value an
//! SSN).
//!
//! # Parquet
//! Spooled first (the footer is at the end; see `container::spool`), then read with the
//! `parquet` crate's record API, row group by row group. Before the crate sees the footer,
//! [`schema_depth`] measures how deep its schema nests (the crate builds the schema tree
//! recursively and would overflow the stack on a hostile one): past [`Limits::max_json_depth`]
//! (and never past [`MAX_DEPTH`]) the file is SKIPPED with `JSON_NESTING_LEVEL_OVER_LIMIT`.
//! Codecs: uncompressed, Snappy, gzip and LZ4 (all pure Rust); a zstd or Brotli column ends
//! the file with `UNABLE_TO_PARSE_FILE`.
//!
//! # Avro
//! An object container file is streamed block by block: the framing (header, block count and
//! size, sync marker) is read here so that each block is bounded before it is read or
//! decompressed (a block, compressed or not, larger than [`Limits::max_document_bytes`] is
//! skipped and the file ends PARTIAL with `FILE_EXCEEDS_SIZE_LIMIT`); codecs null, deflate,
//! snappy, zstandard, bzip2 and xz use the decoders the container driver already has. Datums
//! are decoded by `serde_avro_fast` against the writer's schema, with its own depth and
//! sequence bounds; a datum nested deeper than [`Limits::max_json_depth`] ends its block and
//! the file is PARTIAL with `JSON_NESTING_LEVEL_OVER_LIMIT`.
//!
//! Either way a file the parser rejects ends in `UNABLE_TO_PARSE_FILE` (PARTIAL when records
//! were read before), and the deadline is checked for each record, since records decoded from
//! memory do not pass through the reading guard. A panic in the `parquet` crate on a hostile
//! file is caught and reported as `UNABLE_TO_PARSE_FILE`.
//!
//! [`Limits::max_json_depth`]: crate::Limits::max_json_depth
//! [`Limits::max_document_bytes`]: crate::Limits::max_document_bytes

use std::cell::Cell;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::de::{self, DeserializeSeed, Visitor};
use serde_json::{Map, Value};

use crate::container::{Session, Spool, spool, stop};
use crate::formats::{self, Accumulator};
use crate::limits;

/// Deepest nesting read whatever the limits say: the parsers recurse once per level.
pub(crate) const MAX_DEPTH: u32 = 256;

/// Values (every scalar, array and map counts one) decoded for one record at most: a datum of
/// empty values (an array of a million nulls) costs no input bytes but memory.
const MAX_NODES: u64 = 1 << 22;

fn depth_limit(session: &Session<'_>) -> u32 {
    session.limits.max_json_depth.min(MAX_DEPTH)
}

// ---------------------------------------------------------------------------------------------
// Avro

/// Scans an Avro object container file.
pub(crate) fn scan_avro<'a>(
    session: &Session<'a>,
    stream: &mut dyn Read,
    acc: &mut Accumulator<'a>,
) -> io::Result<Option<&'static str>> {
    let mut input = BufReader::with_capacity(64 << 10, stream);
    let cap = session.limits.max_document_bytes;
    let mut magic = [0u8; 4];
    input.read_exact(&mut magic).map_err(unparsable)?;
    if &magic != b"Obj\x01" {
        return Err(stop(limits::UNPARSABLE));
    }
    let header = read_header(&mut input, cap)?;
    let codec = match header.get("avro.codec").map(String::as_str) {
        None | Some("null") | Some("") => Codec::Null,
        Some("deflate") => Codec::Deflate,
        Some("snappy") => Codec::Snappy,
        Some("zstandard") => Codec::Zstd,
        Some("bzip2") => Codec::Bzip2,
        Some("xz") => Codec::Xz,
        Some(_) => return Err(stop(limits::UNPARSABLE)),
    };
    let schema: serde_avro_fast::Schema = header
        .get("avro.schema")
        .ok_or_else(|| stop(limits::UNPARSABLE))?
        .parse()
        .map_err(|_| stop(limits::UNPARSABLE))?;
    let mut sync = [0u8; 16];
    input.read_exact(&mut sync).map_err(unparsable)?;

    let max_depth = depth_limit(session);
    let mut config = serde_avro_fast::de::DeserializerConfig::new(&schema);
    // Ours trip first (unions and records count one level each there; its sequence bound is
    // a billion).
    config.allowed_depth = 2 * max_depth as usize + 8;
    let mut partial = None;
    let mut record_index: u64 = 0;
    let mut cache = HashMap::new();
    let mut raw = Vec::new();
    let mut data = Vec::new();
    loop {
        if input.fill_buf()?.is_empty() {
            return Ok(partial);
        }
        let num_records = read_long(&mut input)?;
        let num_bytes = read_long(&mut input)?;
        let (Ok(num_records), Ok(num_bytes)) =
            (u64::try_from(num_records), u64::try_from(num_bytes))
        else {
            return Err(stop(limits::UNPARSABLE));
        };
        if num_bytes > cap {
            skip(&mut input, num_bytes + 16)?;
            partial.get_or_insert(limits::FILE_SIZE);
            record_index += num_records;
            continue;
        }
        raw.clear();
        (&mut input).take(num_bytes).read_to_end(&mut raw)?;
        if (raw.len() as u64) < num_bytes {
            return Err(stop(limits::UNPARSABLE));
        }
        let mut marker = [0u8; 16];
        input.read_exact(&mut marker).map_err(unparsable)?;
        if marker != sync {
            return Err(stop(limits::UNPARSABLE));
        }
        let block: &[u8] = match codec.decode(&raw, &mut data, cap)? {
            Decoded::Raw => &raw,
            Decoded::Data => &data,
            Decoded::TooLarge => {
                partial.get_or_insert(limits::FILE_SIZE);
                record_index += num_records;
                continue;
            }
        };
        let end = record_index.saturating_add(num_records);
        let mut rest = block;
        while record_index < end {
            session.check_deadline()?;
            // Every datum left takes no byte: they hold no value to scan.
            if rest.is_empty() && record_index > 0 {
                record_index = end;
                break;
            }
            let budget = Budget::new(max_depth);
            let mut reader = serde_avro_fast::de::read::ReaderRead::new(rest);
            reader.max_alloc_size = cap as usize;
            let mut state =
                serde_avro_fast::de::DeserializerState::with_config(reader, config.clone());
            match (Node { budget: &budget }).deserialize(state.deserializer()) {
                Ok(value) => {
                    formats::walk_json(session.compiled, acc, &value, record_index, &mut cache);
                    rest = state.into_reader().into_inner();
                    record_index += 1;
                }
                Err(_) if budget.too_deep.get() => {
                    // The rest of the block cannot be found without this datum's end.
                    partial.get_or_insert(limits::JSON_NESTING);
                    record_index = end;
                }
                Err(_) if budget.too_many.get() => {
                    partial.get_or_insert(limits::FILE_SIZE);
                    record_index = end;
                }
                Err(_) => return Err(stop(limits::UNPARSABLE)),
            }
        }
    }
}

/// Maps an I/O error of the framing to `UNABLE_TO_PARSE_FILE` when it is a plain end of
/// input (a truncated file); limits and read failures pass through.
fn unparsable(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        stop(limits::UNPARSABLE)
    } else {
        e
    }
}

fn skip(input: &mut dyn Read, num_bytes: u64) -> io::Result<()> {
    let skipped = io::copy(&mut input.take(num_bytes), &mut io::sink())?;
    if skipped < num_bytes {
        return Err(stop(limits::UNPARSABLE));
    }
    Ok(())
}

/// Reads an Avro `long` (zigzag varint) of the container framing.
fn read_long(input: &mut dyn Read) -> io::Result<i64> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let mut byte = [0u8; 1];
        input.read_exact(&mut byte).map_err(unparsable)?;
        value |= u64::from(byte[0] & 0x7F) << (7 * i);
        if byte[0] & 0x80 == 0 {
            return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
        }
    }
    Err(stop(limits::UNPARSABLE))
}

/// Reads the header's metadata map (`map<bytes>`), decoded by `serde_avro_fast`.
fn read_header(input: &mut dyn BufRead, cap: u64) -> io::Result<HashMap<String, String>> {
    let schema: serde_avro_fast::Schema = r#"{"type": "map", "values": "bytes"}"#
        .parse()
        .expect("the header schema should parse");
    let mut config = serde_avro_fast::de::DeserializerConfig::new(&schema);
    config.max_seq_size = 1000;
    let mut reader = serde_avro_fast::de::read::ReaderRead::new(input);
    reader.max_alloc_size = cap as usize;
    let mut state = serde_avro_fast::de::DeserializerState::with_config(reader, config);
    let budget = Budget::new(4);
    let value = (Node { budget: &budget })
        .deserialize(state.deserializer())
        .map_err(|e| match e.io_error() {
            // A limit or a failed read: the driver reads the reason back from the guard.
            Some(io) if io.kind() != io::ErrorKind::UnexpectedEof => {
                io::Error::new(io.kind(), io.to_string())
            }
            _ => stop(limits::UNPARSABLE),
        })?;
    let Value::Object(map) = value else {
        return Err(stop(limits::UNPARSABLE));
    };
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k, s)),
            _ => None,
        })
        .collect())
}

#[derive(Clone, Copy)]
enum Codec {
    Null,
    Deflate,
    Snappy,
    Zstd,
    Bzip2,
    Xz,
}

enum Decoded {
    /// The block is not compressed: use it as read.
    Raw,
    /// The decompressed block is in the output buffer.
    Data,
    /// It decompresses past the cap.
    TooLarge,
}

impl Codec {
    /// Decompresses one block into `out`, never past `cap` bytes.
    fn decode(self, raw: &[u8], out: &mut Vec<u8>, cap: u64) -> io::Result<Decoded> {
        out.clear();
        let decoder: Box<dyn Read + '_> = match self {
            Codec::Null => return Ok(Decoded::Raw),
            Codec::Snappy => {
                // Raw snappy, then the CRC-32 of the uncompressed data (not checked).
                let Some(body) = raw.len().checked_sub(4).map(|n| &raw[..n]) else {
                    return Err(stop(limits::UNPARSABLE));
                };
                let len = snap::raw::decompress_len(body).map_err(|_| stop(limits::UNPARSABLE))?;
                if len as u64 > cap {
                    return Ok(Decoded::TooLarge);
                }
                out.resize(len, 0);
                let n = snap::raw::Decoder::new()
                    .decompress(body, out)
                    .map_err(|_| stop(limits::UNPARSABLE))?;
                out.truncate(n);
                return Ok(Decoded::Data);
            }
            Codec::Deflate => Box::new(flate2::read::DeflateDecoder::new(raw)),
            Codec::Zstd => Box::new(
                ruzstd::decoding::StreamingDecoder::new_with_max_window_size(raw, 32 << 20)
                    .map_err(|_| stop(limits::UNPARSABLE))?,
            ),
            Codec::Bzip2 => Box::new(bzip2::read::BzDecoder::new(raw)),
            Codec::Xz => Box::new(lzma_rust2::XzReader::new_mem_limit(raw, true, 64 << 10)),
        };
        decoder
            .take(cap + 1)
            .read_to_end(out)
            .map_err(|_| stop(limits::UNPARSABLE))?;
        if out.len() as u64 > cap {
            out.clear();
            return Ok(Decoded::TooLarge);
        }
        Ok(Decoded::Data)
    }
}

/// Bounds of one record's decoding, shared by every level of it.
struct Budget {
    max_depth: u32,
    depth: Cell<u32>,
    num_nodes: Cell<u64>,
    too_deep: Cell<bool>,
    too_many: Cell<bool>,
}

impl Budget {
    fn new(max_depth: u32) -> Self {
        Self {
            max_depth,
            depth: Cell::new(0),
            num_nodes: Cell::new(0),
            too_deep: Cell::new(false),
            too_many: Cell::new(false),
        }
    }

    fn node<E: de::Error>(&self) -> Result<(), E> {
        let n = self.num_nodes.get() + 1;
        self.num_nodes.set(n);
        if n > MAX_NODES {
            self.too_many.set(true);
            return Err(E::custom("too many values in one record"));
        }
        Ok(())
    }

    fn enter<E: de::Error>(&self) -> Result<(), E> {
        let d = self.depth.get() + 1;
        if d > self.max_depth {
            self.too_deep.set(true);
            return Err(E::custom("record nested too deep"));
        }
        self.depth.set(d);
        Ok(())
    }

    fn leave(&self) {
        self.depth.set(self.depth.get() - 1);
    }
}

/// Builds a JSON value from any self-describing datum: bytes become (lossy) text, as the
/// scanner reads bytes.
#[derive(Clone, Copy)]
struct Node<'b> {
    budget: &'b Budget,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.budget.node()?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.budget.node()?;
        Ok(Value::from(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        self.budget.node()?;
        Ok(Value::String(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.budget.node()?;
        Ok(Value::from(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        self.budget.node()?;
        Ok(Value::String(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.budget.node()?;
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.budget.node()?;
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.budget.node()?;
        Ok(Value::String(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        self.budget.node()?;
        Ok(Value::String(String::from_utf8_lossy(v).into_owned()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.budget.node()?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_newtype_struct<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.budget.node()?;
        self.budget.enter()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        self.budget.leave();
        Ok(Value::Array(items))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        self.budget.node()?;
        self.budget.enter()?;
        let mut map = Map::new();
        while let Some(key) = access.next_key_seed(Key)? {
            let value = access.next_value_seed(self)?;
            map.insert(key, value);
        }
        self.budget.leave();
        Ok(Value::Object(map))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        use de::VariantAccess;
        let (name, variant): (String, _) = data.variant()?;
        variant.unit_variant()?;
        self.visit_string(name)
    }
}

/// A map key or field name as text.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<String, E> {
        Ok(String::from_utf8_lossy(v).into_owned())
    }
}

// ---------------------------------------------------------------------------------------------
// Parquet

/// Scans a Parquet file.
pub(crate) fn scan_parquet<'a>(
    session: &Session<'a>,
    stream: &mut dyn Read,
    acc: &mut Accumulator<'a>,
) -> io::Result<Option<&'static str>> {
    let mut spooled = spool(stream, session.limits)?;
    let depth = schema_depth(&mut spooled, session.limits.max_document_bytes)?;
    if depth > depth_limit(session) {
        return Err(stop(limits::JSON_NESTING));
    }
    spooled.seek(SeekFrom::Start(0))?;
    // The parquet crate is not ours: a panic on a hostile file is one more way of rejecting it.
    match catch_unwind(AssertUnwindSafe(|| match spooled {
        Spool::Memory(cursor) => read_rows(session, bytes::Bytes::from(cursor.into_inner()), acc),
        Spool::File(file) => read_rows(session, file, acc),
    })) {
        Ok(result) => result,
        Err(_) => Err(stop(limits::UNPARSABLE)),
    }
}

fn read_rows<'a, R: parquet::file::reader::ChunkReader + 'static>(
    session: &Session<'a>,
    chunks: R,
    acc: &mut Accumulator<'a>,
) -> io::Result<Option<&'static str>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(chunks).map_err(|_| stop(limits::UNPARSABLE))?;
    let mut cache = HashMap::new();
    let mut record_index: u64 = 0;
    for i in 0..reader.num_row_groups() {
        session.check_deadline()?;
        let group = reader
            .get_row_group(i)
            .map_err(|_| stop(limits::UNPARSABLE))?;
        let rows = group
            .get_row_iter(None)
            .map_err(|_| stop(limits::UNPARSABLE))?;
        for row in rows {
            session.check_deadline()?;
            let row = row.map_err(|_| stop(limits::UNPARSABLE))?;
            let value = row_json(&row);
            formats::walk_json(session.compiled, acc, &value, record_index, &mut cache);
            record_index += 1;
        }
    }
    Ok(None)
}

fn row_json(row: &parquet::record::Row) -> Value {
    Value::Object(
        row.get_column_iter()
            .map(|(name, field)| (name.clone(), field_json(field)))
            .collect(),
    )
}

fn field_json(field: &parquet::record::Field) -> Value {
    use parquet::record::Field;
    match field {
        Field::Null => Value::Null,
        Field::Bool(b) => Value::Bool(*b),
        Field::Byte(n) => Value::from(*n),
        Field::Short(n) => Value::from(*n),
        Field::Int(n) => Value::from(*n),
        Field::Long(n) => Value::from(*n),
        Field::UByte(n) => Value::from(*n),
        Field::UShort(n) => Value::from(*n),
        Field::UInt(n) => Value::from(*n),
        Field::ULong(n) => Value::from(*n),
        Field::Float(x) => {
            serde_json::Number::from_f64(f64::from(*x)).map_or(Value::Null, Value::Number)
        }
        Field::Double(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
        Field::Str(s) => Value::String(s.clone()),
        Field::Bytes(b) => Value::String(String::from_utf8_lossy(b.data()).into_owned()),
        Field::Group(row) => row_json(row),
        Field::ListInternal(list) => Value::Array(list.elements().iter().map(field_json).collect()),
        Field::MapInternal(map) => Value::Object(
            map.entries()
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Field::Str(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (key, field_json(v))
                })
                .collect(),
        ),
        // Decimals, dates, times and half floats as the crate writes them.
        other => Value::String(other.to_string()),
    }
}

/// Returns how deep the schema in the footer of `file` nests (the root message is level 0),
/// reading only the footer's `schema` list with a minimal Thrift compact-protocol walk.
///
/// This is a guard, not a parser: `parquet` reads the footer again afterwards.
pub(crate) fn schema_depth(file: &mut Spool, max_footer: u64) -> io::Result<u32> {
    let len = file.seek(SeekFrom::End(0))?;
    if len < 12 {
        return Err(stop(limits::UNPARSABLE));
    }
    let mut tail = [0u8; 8];
    file.seek(SeekFrom::End(-8))?;
    file.read_exact(&mut tail)?;
    if &tail[4..] != b"PAR1" {
        // Encrypted footers ("PARE") and truncated files alike.
        return Err(stop(limits::UNPARSABLE));
    }
    let footer_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if footer_len + 12 > len {
        return Err(stop(limits::UNPARSABLE));
    }
    if footer_len > max_footer {
        return Err(stop(limits::FILE_SIZE));
    }
    let mut footer = vec![0u8; footer_len as usize];
    file.seek(SeekFrom::Start(len - 8 - footer_len))?;
    file.read_exact(&mut footer)?;
    let children = thrift::schema_children(&footer).ok_or_else(|| stop(limits::UNPARSABLE))?;
    // Depth-first order: each group is followed by its children.
    let mut open: Vec<u64> = Vec::new();
    let mut deepest = 0u32;
    for (i, n) in children.into_iter().enumerate() {
        while open.last() == Some(&0) {
            open.pop();
        }
        if let Some(top) = open.last_mut() {
            *top -= 1;
        } else if i > 0 {
            // A second root: parquet rejects it.
            return Err(stop(limits::UNPARSABLE));
        }
        deepest = deepest.max(open.len() as u32);
        if n > 0 {
            open.push(n);
        }
    }
    Ok(deepest)
}

/// Just enough of the Thrift compact protocol to list `FileMetaData.schema[*].num_children`.
mod thrift {
    const STOP: u8 = 0;
    const TRUE: u8 = 1;
    const FALSE: u8 = 2;
    const BYTE: u8 = 3;
    const I16: u8 = 4;
    const I32: u8 = 5;
    const I64: u8 = 6;
    const DOUBLE: u8 = 7;
    const BINARY: u8 = 8;
    const LIST: u8 = 9;
    const SET: u8 = 10;
    const MAP: u8 = 11;
    const STRUCT: u8 = 12;
    /// Structs nested inside a schema element (logical types) are shallow.
    const MAX_SKIP_DEPTH: u32 = 32;

    struct Input<'a> {
        bytes: &'a [u8],
    }

    impl Input<'_> {
        fn byte(&mut self) -> Option<u8> {
            let (&b, rest) = self.bytes.split_first()?;
            self.bytes = rest;
            Some(b)
        }

        fn varint(&mut self) -> Option<u64> {
            let mut value = 0u64;
            for i in 0..10 {
                let b = self.byte()?;
                value |= u64::from(b & 0x7F) << (7 * i);
                if b & 0x80 == 0 {
                    return Some(value);
                }
            }
            None
        }

        fn zigzag(&mut self) -> Option<i64> {
            let v = self.varint()?;
            Some((v >> 1) as i64 ^ -((v & 1) as i64))
        }

        fn advance(&mut self, n: u64) -> Option<()> {
            let n = usize::try_from(n).ok()?;
            self.bytes = self.bytes.get(n..)?;
            Some(())
        }

        /// Reads a field header: `None` at the struct's stop byte.
        fn field(&mut self, last_id: &mut i16) -> Option<Option<(i16, u8)>> {
            let b = self.byte()?;
            if b == STOP {
                return Some(None);
            }
            let ty = b & 0x0F;
            let delta = b >> 4;
            let id = if delta == 0 {
                i16::try_from(self.zigzag()?).ok()?
            } else {
                last_id.checked_add(i16::from(delta))?
            };
            *last_id = id;
            Some(Some((id, ty)))
        }

        /// Reads a list or set header: element type and count.
        fn list(&mut self) -> Option<(u8, u64)> {
            let b = self.byte()?;
            let size = match b >> 4 {
                15 => self.varint()?,
                n => u64::from(n),
            };
            Some((b & 0x0F, size))
        }

        /// Skips one element of a list, set or map: there a boolean is a byte of its own
        /// (in a struct it lives in the field header).
        fn element(&mut self, ty: u8, depth: u32) -> Option<()> {
            if ty == TRUE || ty == FALSE {
                self.advance(1)
            } else {
                self.skip(ty, depth)
            }
        }

        fn skip(&mut self, ty: u8, depth: u32) -> Option<()> {
            match ty {
                TRUE | FALSE => Some(()),
                BYTE => self.advance(1),
                I16 | I32 | I64 => self.varint().map(|_| ()),
                DOUBLE => self.advance(8),
                BINARY => {
                    let n = self.varint()?;
                    self.advance(n)
                }
                LIST | SET => {
                    let depth = depth.checked_sub(1)?;
                    let (elem, n) = self.list()?;
                    // Every element takes at least one byte: a count past the input is a lie.
                    if n > self.bytes.len() as u64 {
                        return None;
                    }
                    for _ in 0..n {
                        self.element(elem, depth)?;
                    }
                    Some(())
                }
                MAP => {
                    let depth = depth.checked_sub(1)?;
                    let n = self.varint()?;
                    if n == 0 {
                        return Some(());
                    }
                    let kv = self.byte()?;
                    // Every entry takes at least two bytes (fuzzing found a map of a huge
                    // count of booleans, which took no bytes before and looped for ever).
                    if n > self.bytes.len() as u64 / 2 {
                        return None;
                    }
                    for _ in 0..n {
                        self.element(kv >> 4, depth)?;
                        self.element(kv & 0x0F, depth)?;
                    }
                    Some(())
                }
                STRUCT => {
                    let depth = depth.checked_sub(1)?;
                    let mut last = 0;
                    while let Some((_, ty)) = self.field(&mut last)? {
                        self.skip(ty, depth)?;
                    }
                    Some(())
                }
                _ => None,
            }
        }
    }

    /// Returns `num_children` (0 for leaves) of every schema element, in order; `None` when
    /// the footer is not a well-formed `FileMetaData` up to its schema.
    pub(super) fn schema_children(footer: &[u8]) -> Option<Vec<u64>> {
        let mut input = Input { bytes: footer };
        let mut last = 0;
        while let Some((id, ty)) = input.field(&mut last)? {
            if id != 2 || ty != LIST {
                input.skip(ty, MAX_SKIP_DEPTH)?;
                continue;
            }
            let (elem, n) = input.list()?;
            if elem != STRUCT {
                return None;
            }
            // Each element takes at least one byte: a count past the footer is a lie.
            if n > input.bytes.len() as u64 {
                return None;
            }
            let mut children = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let mut num_children = 0u64;
                let mut last = 0;
                while let Some((id, ty)) = input.field(&mut last)? {
                    if id == 5 && ty == I32 {
                        num_children = u64::try_from(input.zigzag()?).unwrap_or(0);
                    } else {
                        input.skip(ty, MAX_SKIP_DEPTH)?;
                    }
                }
                children.push(num_children);
            }
            return Some(children);
        }
        None
    }
}
