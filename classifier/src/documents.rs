//! Documents: OOXML (DOCX, PPTX, XLSX), EML, PDF, Parquet and Avro.
//!
//! Each entry point takes the [`Session`] (for the limits), the stream or spooled archive,
//! and the accumulator, and reports hits with the location that fits the format.

use std::io::{self, Read};

use crate::EmbeddedResult;
use crate::container::{Session, Spool, stop};
use crate::formats::Accumulator;
use crate::limits;
use crate::sniff::{Encoding, Ooxml};

/// Returns which office document a zip is, from the parts it holds.
pub(crate) fn ooxml_kind(archive: &zip::ZipArchive<Spool>) -> Option<Ooxml> {
    if archive.index_for_name("word/document.xml").is_some() {
        Some(Ooxml::Docx)
    } else if archive.index_for_name("xl/workbook.xml").is_some() {
        Some(Ooxml::Xlsx)
    } else if archive.index_for_name("ppt/presentation.xml").is_some() {
        Some(Ooxml::Pptx)
    } else {
        None
    }
}

/// Scans an office document.
pub(crate) fn scan_ooxml(
    _session: &Session<'_>,
    _doc: Ooxml,
    _archive: &mut zip::ZipArchive<Spool>,
    _acc: &mut Accumulator<'_>,
) -> io::Result<Option<&'static str>> {
    Err(stop(limits::UNPARSABLE))
}

/// Scans a PDF.
pub(crate) fn scan_pdf(
    _session: &Session<'_>,
    _stream: &mut dyn Read,
    _acc: &mut Accumulator<'_>,
) -> io::Result<Option<&'static str>> {
    Err(stop(limits::UNPARSABLE))
}

/// Scans a Parquet file.
pub(crate) fn scan_parquet(
    _session: &Session<'_>,
    _stream: &mut dyn Read,
    _acc: &mut Accumulator<'_>,
) -> io::Result<Option<&'static str>> {
    Err(stop(limits::UNPARSABLE))
}

/// Scans an Avro object container file.
pub(crate) fn scan_avro(
    _session: &Session<'_>,
    _stream: &mut dyn Read,
    _acc: &mut Accumulator<'_>,
) -> io::Result<Option<&'static str>> {
    Err(stop(limits::UNPARSABLE))
}

/// Scans an email with its attachments.
#[allow(clippy::too_many_arguments)]
pub(crate) fn scan_eml(
    _session: &Session<'_>,
    _encoding: Encoding,
    _stream: &mut dyn Read,
    _depth: u32,
    _path: &str,
    _out: &mut Vec<EmbeddedResult>,
    _acc: &mut Accumulator<'_>,
) -> io::Result<Option<&'static str>> {
    Err(stop(limits::UNPARSABLE))
}
