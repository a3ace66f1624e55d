//! The recursive driver: sniff a stream, then decompress it, open it as an archive, parse it
//! as a document, or scan it as text, with every [`Limits`] budget enforced on the way.
//!
//! # Layout
//! - [`Session`] is one call of `Engine::classify_reader`: the compiled engine, the limits,
//!   and the budgets shared across the object's whole tree (bytes extracted, files processed,
//!   the deadline, and a tree-wide stop once a bomb or a total is hit).
//! - [`Guard`] wraps every stream the session reads (the object itself, each decompressed
//!   stream, each archive member). It counts bytes, checks the deadline, the per-file size,
//!   the totals and the expansion ratio on every read, and fails the read with a [`Stop`]
//!   carrying the reason code when one is exceeded. Parsers see an ordinary I/O error and
//!   unwind; the driver then reads the reason back from the guard or the session, so no
//!   parser needs to know about limits.
//! - Compressed streams (gzip, bzip2, xz, zstd, snappy framed) are decoded as they stream and
//!   are transparent: the object's record is the inner file's record.
//! - Tar is streamed member by member. Zip needs its central directory, so the stream is
//!   spooled first (see [`Spool`]: memory up to `spool_memory_bytes`, then an unnamed
//!   temporary file under `std::env::temp_dir()`, never past `max_spool_bytes`).
//! - Each archive member becomes an [`EmbeddedResult`] with its `embedded_path`; nested
//!   members are flattened into the object's list. An archive's own record sums the counts of
//!   its direct members and is PARTIAL with the reason of any budget a member hit.
//!
//! Memory is bounded by the scanner's chunk (about 1 MiB), one decoder window per nesting
//! level (xz dictionaries are capped at 64 MiB, zstd windows at 32 MiB), the in-memory spool
//! per level, and the document cap (`max_document_bytes`) for formats parsed whole.

use std::cell::Cell as StdCell;
use std::fmt;
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::engine::Compiled;
use crate::formats::{self, Accumulator};
use crate::limits::{self, Limits};
use crate::sniff::{self, Compression, Encoding, Kind, SNIFF_LEN};
use crate::{EmbeddedResult, FileResult, Status};

/// Largest xz dictionary accepted, in KiB.
const XZ_MEM_LIMIT_KIB: u32 = 64 << 10;
/// Largest zstd window accepted.
const ZSTD_MAX_WINDOW: u64 = 32 << 20;

/// A limit or verdict carried through parsers inside an `io::Error`.
#[derive(Debug)]
pub(crate) struct Stop(pub(crate) &'static str);

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Stop {}

/// Returns an I/O error carrying `reason`.
pub(crate) fn stop(reason: &'static str) -> io::Error {
    io::Error::other(Stop(reason))
}

fn stop_reason(e: &io::Error) -> Option<&'static str> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<Stop>())
        .map(|s| s.0)
}

/// One classification: the engine, the limits and the budgets shared by the object's tree.
pub(crate) struct Session<'a> {
    pub(crate) compiled: &'a Compiled,
    pub(crate) limits: &'a Limits,
    deadline: Instant,
    total_extracted: StdCell<u64>,
    num_files: StdCell<u64>,
    /// Set once a tree-wide budget is exhausted: every guard then fails its next read.
    tripped: StdCell<Option<&'static str>>,
    /// Set when the object's own stream failed (as opposed to a decoder or parser).
    source_failed: StdCell<bool>,
}

/// What the compressed side of a stream is, for the expansion ratio.
pub(crate) enum RatioBase {
    /// Not compressed (a tar member, the object itself).
    None,
    /// Bytes the decoder has consumed so far.
    Shared(Rc<StdCell<u64>>),
    /// A zip member's compressed size.
    Fixed(u64),
}

/// Counts and polices one stream; see the module docs.
pub(crate) struct Guard<'r, 's> {
    inner: &'r mut dyn Read,
    session: &'s Session<'s>,
    /// Bytes handed out so far.
    pub(crate) num_bytes: u64,
    /// Whether the bytes count against `max_total_extracted_bytes`.
    extracted: bool,
    ratio: RatioBase,
    ratio_reason: &'static str,
    is_source: bool,
    /// A per-file limit this stream hit.
    hit: Option<&'static str>,
}

impl<'r, 's> Guard<'r, 's> {
    pub(crate) fn new(
        inner: &'r mut dyn Read,
        session: &'s Session<'s>,
        extracted: bool,
        ratio: RatioBase,
    ) -> Self {
        Self {
            inner,
            session,
            num_bytes: 0,
            extracted,
            ratio,
            ratio_reason: limits::RATIO,
            is_source: false,
            hit: None,
        }
    }

    /// Reports ratio violations with `reason` (OOXML parts have a code of their own).
    pub(crate) fn with_ratio_reason(mut self, reason: &'static str) -> Self {
        self.ratio_reason = reason;
        self
    }
}

impl Read for Guard<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let s = self.session;
        if let Some(r) = self.hit.or(s.tripped.get()) {
            return Err(stop(r));
        }
        if Instant::now() > s.deadline {
            s.trip(limits::TIME);
            return Err(stop(limits::TIME));
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => {
                if self.is_source && stop_reason(&e).is_none() {
                    s.source_failed.set(true);
                }
                return Err(e);
            }
        };
        self.num_bytes += n as u64;
        if self.num_bytes > s.limits.max_file_bytes {
            self.hit = Some(limits::FILE_SIZE);
            return Err(stop(limits::FILE_SIZE));
        }
        if self.extracted {
            let total = s.total_extracted.get() + n as u64;
            s.total_extracted.set(total);
            if total > s.limits.max_total_extracted_bytes {
                s.trip(limits::TOTAL_BYTES);
                return Err(stop(limits::TOTAL_BYTES));
            }
        }
        let input = match &self.ratio {
            RatioBase::None => None,
            RatioBase::Shared(c) => Some(c.get()),
            RatioBase::Fixed(x) => Some(*x),
        };
        if let Some(input) = input
            && self.num_bytes >= s.limits.ratio_min_bytes
            && self.num_bytes / input.max(1) > s.limits.max_expansion_ratio
        {
            s.trip(self.ratio_reason);
            return Err(stop(self.ratio_reason));
        }
        Ok(n)
    }
}

/// Counts the bytes a decoder pulls from its input.
struct CountingShared<'r> {
    inner: &'r mut dyn Read,
    count: Rc<StdCell<u64>>,
}

impl Read for CountingShared<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Decodes every zstd frame of a stream in turn (the `zstd` CLI over several inputs and
/// `pzstd` write several), skipping skippable frames; ruzstd's `StreamingDecoder` stops
/// after the first.
struct ZstdFrames<R> {
    source: R,
    decoder: ruzstd::decoding::FrameDecoder,
    /// No frame is left.
    done: bool,
}

impl<R: io::BufRead> ZstdFrames<R> {
    /// Starts on the first frame, which must be there.
    fn new(source: R) -> io::Result<Self> {
        let mut decoder = ruzstd::decoding::FrameDecoder::new();
        decoder.set_max_window_size(ZSTD_MAX_WINDOW);
        let mut frames = Self {
            source,
            decoder,
            done: false,
        };
        if !frames.next_frame()? {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(frames)
    }

    /// Reads the next frame header, skipping skippable frames; false at the end.
    fn next_frame(&mut self) -> io::Result<bool> {
        use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
        loop {
            if self.source.fill_buf()?.is_empty() {
                self.done = true;
                return Ok(false);
            }
            match self.decoder.reset(&mut self.source) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let length = u64::from(length);
                    let skipped = io::copy(&mut (&mut self.source).take(length), &mut io::sink())?;
                    if skipped < length {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Err(e) => return Err(io::Error::other(e)),
            }
        }
    }
}

impl<R: io::BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use ruzstd::decoding::BlockDecodingStrategy;
        if buf.is_empty() {
            return Ok(0);
        }
        while !self.done {
            while self.decoder.can_collect() == 0 && !self.decoder.is_finished() {
                self.decoder
                    .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBlocks(1))
                    .map_err(io::Error::other)?;
            }
            let n = self.decoder.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            // This frame is done: another one may follow.
            self.next_frame()?;
        }
        Ok(0)
    }
}

/// A reader that fails with a stored error (after the sniffed prefix of a failing stream).
struct Failed(Option<io::Error>);

impl Read for Failed {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| io::Error::other("stream failed")))
    }
}

/// A copy of a stream that needs random access: in memory while small, else an unnamed
/// temporary file (deleted when dropped).
pub(crate) enum Spool {
    Memory(Cursor<Vec<u8>>),
    File(std::fs::File),
}

impl Read for Spool {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Spool::Memory(c) => c.read(buf),
            Spool::File(f) => f.read(buf),
        }
    }
}

impl Seek for Spool {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match self {
            Spool::Memory(c) => c.seek(pos),
            Spool::File(f) => f.seek(pos),
        }
    }
}

/// Copies `reader` aside; fails with `FILE_EXCEEDS_SIZE_LIMIT` past `max_spool_bytes`.
pub(crate) fn spool(reader: &mut dyn Read, limits: &Limits) -> io::Result<Spool> {
    let mut buf = Vec::new();
    let mem = limits.spool_memory_bytes.min(limits.max_spool_bytes);
    reader.take(mem + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 <= mem {
        return Ok(Spool::Memory(Cursor::new(buf)));
    }
    let mut file = tempfile::tempfile()?;
    file.write_all(&buf)?;
    let room = limits.max_spool_bytes - buf.len() as u64;
    let copied = io::copy(&mut reader.take(room + 1), &mut file)?;
    if copied > room {
        return Err(stop(limits::FILE_SIZE));
    }
    file.seek(SeekFrom::Start(0))?;
    Ok(Spool::File(file))
}

/// How a stream ended up.
enum Outcome {
    /// A finished record (compression is transparent; skips).
    Done(FileResult),
    /// The stream was scanned into the accumulator: `Ok(None)` whole, `Ok(Some(reason))` in
    /// part, `Err` stopped midway.
    Scanned(io::Result<Option<&'static str>>),
}

/// Classifies `reader` as the object `file_name`.
pub(crate) fn classify(
    compiled: &Compiled,
    limits: &Limits,
    file_name: &str,
    reader: &mut dyn Read,
) -> FileResult {
    let session = Session {
        compiled,
        limits,
        deadline: Instant::now() + Duration::from_secs(limits.max_time_secs),
        total_extracted: StdCell::new(0),
        num_files: StdCell::new(0),
        tripped: StdCell::new(None),
        source_failed: StdCell::new(false),
    };
    let mut guard = Guard::new(reader, &session, false, RatioBase::None);
    guard.is_source = true;
    let mut embedded = Vec::new();
    let mut result = session.classify_stream(file_name, &mut guard, 0, "", &mut embedded);
    result.embedded = embedded;
    result
}

/// Returns a SKIPPED record with `reason`.
pub(crate) fn skipped(reason: &str) -> FileResult {
    FileResult {
        status: Status::Skipped,
        reason: Some(reason.to_string()),
        size_classified: 0,
        severity: None,
        detections: Vec::new(),
        embedded: Vec::new(),
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}/{name}")
    }
}

impl<'a> Session<'a> {
    fn trip(&self, reason: &'static str) {
        if self.tripped.get().is_none() {
            self.tripped.set(Some(reason));
        }
    }

    /// Fails with `TIME_CUT_OFF_REACHED` once the deadline has passed, for parsers whose
    /// work is not paced by reads (records decoded from a buffer already in memory).
    pub(crate) fn check_deadline(&self) -> io::Result<()> {
        if let Some(r) = self.tripped.get() {
            return Err(stop(r));
        }
        if Instant::now() > self.deadline {
            self.trip(limits::TIME);
            return Err(stop(limits::TIME));
        }
        Ok(())
    }

    /// Classifies one stream (the object, a decompressed stream or a member).
    ///
    /// `depth` is the number of archives and compression layers around it; `path` is its
    /// `embedded_path` ("" for the object); records of members go to `out`.
    pub(crate) fn classify_stream(
        &self,
        name: &str,
        guard: &mut Guard<'_, '_>,
        depth: u32,
        path: &str,
        out: &mut Vec<EmbeddedResult>,
    ) -> FileResult {
        let mut prefix = Vec::with_capacity(SNIFF_LEN);
        let sniff_error = (&mut *guard)
            .take(SNIFF_LEN as u64)
            .read_to_end(&mut prefix)
            .err();
        let kind = sniff::sniff(name, &prefix);
        let mut acc = Accumulator::new(self.compiled);
        let default_reason = match kind {
            Kind::Eml(_) | Kind::Zip(Some(_)) | Kind::Pdf | Kind::Parquet | Kind::Avro => {
                limits::UNPARSABLE
            }
            _ => limits::MALFORMED,
        };
        let num_records_before = out.len();
        let outcome = {
            let mut tail_failed;
            let tail: &mut dyn Read = match sniff_error {
                Some(e) => {
                    tail_failed = Failed(Some(e));
                    &mut tail_failed
                }
                None => &mut *guard,
            };
            let mut stream = Cursor::new(&prefix[..]).chain(tail);
            self.dispatch(kind, name, &mut stream, depth, path, out, &mut acc)
        };
        let size = guard.num_bytes;
        match outcome {
            Outcome::Done(r) => r,
            Outcome::Scanned(Ok(None)) => acc.finish(Status::Complete, None, size),
            Outcome::Scanned(Ok(Some(reason))) => {
                acc.finish(Status::Partial, Some(reason.to_string()), size)
            }
            Outcome::Scanned(Err(e)) => {
                let reason = guard
                    .hit
                    .or(self.tripped.get())
                    .or(self.source_failed.get().then_some(limits::UNREADABLE))
                    .or(stop_reason(&e))
                    .unwrap_or(default_reason);
                // Nothing classified: no bytes, or a container or document that gave
                // neither a finding nor a member record.
                let nothing = size == 0
                    || (acc.is_empty()
                        && out.len() == num_records_before
                        && !matches!(kind, Kind::Text(..)));
                let status = if nothing {
                    Status::Skipped
                } else {
                    Status::Partial
                };
                acc.finish(status, Some(reason.to_string()), size)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &self,
        kind: Kind,
        name: &str,
        stream: &mut dyn Read,
        depth: u32,
        path: &str,
        out: &mut Vec<EmbeddedResult>,
        acc: &mut Accumulator<'a>,
    ) -> Outcome {
        let nested_too_deep = depth >= self.limits.max_nesting_depth;
        match kind {
            Kind::Unsupported(_) => Outcome::Done(skipped(limits::UNSUPPORTED)),
            Kind::Compressed(_) | Kind::Zip(None) | Kind::Tar if nested_too_deep => {
                Outcome::Done(skipped(limits::NESTING))
            }
            Kind::Compressed(c) => {
                Outcome::Done(self.decompress(c, name, stream, depth, path, out))
            }
            Kind::Zip(doc) => {
                let spooled = match spool(stream, self.limits) {
                    Ok(s) => s,
                    Err(e) => return Outcome::Scanned(Err(e)),
                };
                let mut archive = match zip::ZipArchive::new(spooled) {
                    Ok(a) => a,
                    Err(e) => return Outcome::Scanned(Err(io::Error::other(e))),
                };
                match doc.or_else(|| crate::documents::ooxml_kind(&archive)) {
                    Some(doc) => {
                        Outcome::Scanned(crate::documents::scan_ooxml(self, doc, &mut archive, acc))
                    }
                    None if nested_too_deep => Outcome::Done(skipped(limits::NESTING)),
                    None => Outcome::Scanned(self.zip_members(&mut archive, depth, path, out, acc)),
                }
            }
            Kind::Tar => Outcome::Scanned(self.tar_members(stream, depth, path, out, acc)),
            Kind::Pdf => Outcome::Scanned(crate::pdf::scan_pdf(self, stream, acc)),
            Kind::Parquet => Outcome::Scanned(crate::bigdata::scan_parquet(self, stream, acc)),
            Kind::Avro => Outcome::Scanned(crate::bigdata::scan_avro(self, stream, acc)),
            Kind::Eml(enc) => Outcome::Scanned(crate::documents::scan_eml(
                self, enc, stream, depth, path, out, acc,
            )),
            Kind::Text(leaf, Encoding::Utf8) => Outcome::Scanned(formats::scan_leaf(
                self.compiled,
                leaf,
                stream,
                acc,
                self.limits.max_json_depth,
            )),
            Kind::Text(leaf, enc) => {
                let mut utf8 = sniff::Transcoding::new(stream, enc);
                Outcome::Scanned(formats::scan_leaf(
                    self.compiled,
                    leaf,
                    &mut utf8,
                    acc,
                    self.limits.max_json_depth,
                ))
            }
        }
    }

    fn decompress(
        &self,
        c: Compression,
        name: &str,
        stream: &mut dyn Read,
        depth: u32,
        path: &str,
        out: &mut Vec<EmbeddedResult>,
    ) -> FileResult {
        let count = Rc::new(StdCell::new(0u64));
        let counted = CountingShared {
            inner: stream,
            count: Rc::clone(&count),
        };
        let mut decoder: Box<dyn Read + '_> = match c {
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(counted)),
            Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(counted)),
            Compression::Xz => Box::new(lzma_rust2::XzReader::new_mem_limit(
                counted,
                true,
                XZ_MEM_LIMIT_KIB,
            )),
            Compression::Zstd => match ZstdFrames::new(io::BufReader::new(counted)) {
                Ok(d) => Box::new(d),
                Err(_) => {
                    let reason = self.tripped.get().unwrap_or(limits::MALFORMED);
                    return skipped(reason);
                }
            },
            Compression::Snappy => Box::new(snap::read::FrameDecoder::new(counted)),
        };
        let mut inner = Guard::new(&mut *decoder, self, true, RatioBase::Shared(count));
        let inner_name = sniff::strip_compression(name);
        self.classify_stream(&inner_name, &mut inner, depth + 1, path, out)
    }

    /// Classifies one member of an archive (or an attachment) and files its record.
    ///
    /// Returns false when a tree-wide budget stops the walk.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn member(
        &self,
        name: &str,
        reader: &mut dyn Read,
        ratio: RatioBase,
        depth: u32,
        path: &str,
        out: &mut Vec<EmbeddedResult>,
        acc: &mut Accumulator<'_>,
        partial: &mut Option<&'static str>,
    ) -> bool {
        if let Some(r) = self.tripped.get() {
            partial.get_or_insert(r);
            return false;
        }
        let n = self.num_files.get() + 1;
        self.num_files.set(n);
        if n > self.limits.max_extracted_files {
            self.trip(limits::TOTAL_FILES);
            partial.get_or_insert(limits::TOTAL_FILES);
            return false;
        }
        let member_path = join(path, name);
        let slot = out.len();
        out.push(EmbeddedResult {
            embedded_path: String::new(),
            result: skipped(limits::MALFORMED),
        });
        let mut guard = Guard::new(reader, self, true, ratio);
        let result = self.classify_stream(name, &mut guard, depth + 1, &member_path, out);
        acc.absorb(&result);
        if let Some(reason) = result.reason.as_deref()
            && limits::is_budget(reason)
        {
            let reason = [
                limits::NESTING,
                limits::TOTAL_BYTES,
                limits::TOTAL_FILES,
                limits::FILE_SIZE,
                limits::RATIO,
                limits::OOXML_RATIO,
                limits::TIME,
            ]
            .into_iter()
            .find(|r| *r == reason)
            .unwrap_or(limits::MALFORMED);
            partial.get_or_insert(reason);
        }
        out[slot] = EmbeddedResult {
            embedded_path: member_path,
            result,
        };
        if let Some(r) = self.tripped.get() {
            partial.get_or_insert(r);
            return false;
        }
        true
    }

    fn zip_members(
        &self,
        archive: &mut zip::ZipArchive<Spool>,
        depth: u32,
        path: &str,
        out: &mut Vec<EmbeddedResult>,
        acc: &mut Accumulator<'_>,
    ) -> io::Result<Option<&'static str>> {
        let mut partial = None;
        for i in 0..archive.len() {
            let listed_name = archive
                .name_for_index(i)
                .and_then(Result::ok)
                .map(|n| n.into_owned())
                .unwrap_or_else(|| format!("#{i}"));
            let mut file = match archive.by_index(i) {
                Ok(f) => f,
                Err(e) => {
                    let name = listed_name;
                    let reason = match e {
                        zip::result::ZipError::UnsupportedArchive(_) => limits::UNPARSABLE,
                        _ => limits::MALFORMED,
                    };
                    out.push(EmbeddedResult {
                        embedded_path: join(path, &name),
                        result: skipped(reason),
                    });
                    continue;
                }
            };
            if file.is_dir() {
                continue;
            }
            let name = listed_name;
            let ratio = RatioBase::Fixed(file.compressed_size());
            if !self.member(&name, &mut file, ratio, depth, path, out, acc, &mut partial) {
                break;
            }
        }
        Ok(partial)
    }

    fn tar_members(
        &self,
        stream: &mut dyn Read,
        depth: u32,
        path: &str,
        out: &mut Vec<EmbeddedResult>,
        acc: &mut Accumulator<'_>,
    ) -> io::Result<Option<&'static str>> {
        let mut partial = None;
        let mut archive = tar::Archive::new(stream);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let ty = entry.header().entry_type();
            if !(ty.is_file() || ty == tar::EntryType::Continuous) {
                continue;
            }
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            if !self.member(
                &name,
                &mut entry,
                RatioBase::None,
                depth,
                path,
                out,
                acc,
                &mut partial,
            ) {
                break;
            }
        }
        Ok(partial)
    }
}
