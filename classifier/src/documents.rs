//! Documents: OOXML (DOCX, PPTX, XLSX) and EML (PDF is in `pdf`, Parquet and Avro in
//! `bigdata`).
//!
//! Each entry point takes the [`Session`] (limits and budgets), the stream or spooled zip,
//! and the accumulator, and reports hits with the location that fits the format:
//! - **DOCX**: the text of `word/document.xml` (plus headers, footers, footnotes and
//!   comments), one paragraph a line, as `lineRanges`.
//! - **PPTX**: the text of each slide as `pages` (`pageNumber` = slide number).
//! - **XLSX** (via `calamine`): every non-empty cell with its sheet as `cells`
//!   (`cellReference` such as `Sheet2!C5`); the first row of a sheet names the columns when it
//!   looks like a header, and those names count as keywords for the cells below.
//! - **EML** (via `mail-parser`): the header block and every text body (HTML converted to
//!   text) as `lineRanges`; each attachment becomes an embedded record, classified
//!   recursively like an archive member. A message mail-parser rejects, or panics on, ends
//!   in `UNABLE_TO_PARSE_FILE`.
//!
//! OOXML parts are read through a [`Guard`] whose expansion ratio ends in
//! `OOXML_UNCOMPRESSED_RATIO_EXCEEDS_LIMIT`; XLSX, whose parts calamine reads itself, is
//! checked on the declared sizes of the zip's central directory first.

use std::io::{self, BufReader, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};

use mail_parser::MimeHeaders;
use quick_xml::events::Event;

use crate::EmbeddedResult;
use crate::container::{Guard, RatioBase, Session, Spool, stop};
use crate::formats::{self, Accumulator};
use crate::limits;
use crate::sniff::{Encoding, Ooxml, Transcoding};
use crate::{Cell, Page};

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
pub(crate) fn scan_ooxml<'a>(
    session: &Session<'a>,
    doc: Ooxml,
    archive: &mut zip::ZipArchive<Spool>,
    acc: &mut Accumulator<'a>,
) -> io::Result<Option<&'static str>> {
    match doc {
        Ooxml::Docx => scan_docx(session, archive, acc),
        Ooxml::Pptx => scan_pptx(session, archive, acc),
        Ooxml::Xlsx => scan_xlsx(session, archive, acc),
    }
}

/// Appends the text of the XML part `name` to `text`: the content of `text_tag` elements,
/// a newline after each `para_tag`, a tab for each `tab_tag`.
fn part_text(
    session: &Session<'_>,
    archive: &mut zip::ZipArchive<Spool>,
    name: &str,
    text: &mut Vec<u8>,
) -> io::Result<()> {
    let mut file = archive.by_name(name).map_err(io::Error::other)?;
    let compressed = file.compressed_size();
    let mut guard = Guard::new(&mut file, session, true, RatioBase::Fixed(compressed))
        .with_ratio_reason(limits::OOXML_RATIO);
    let mut reader = quick_xml::Reader::from_reader(BufReader::new(&mut guard));
    let mut buf = Vec::new();
    let mut in_text = false;
    let cap = session.limits.max_document_bytes as usize;
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| match e {
            quick_xml::Error::Io(io) => io::Error::new(io.kind(), io.to_string()),
            other => io::Error::other(other),
        });
        // The guard's reason (if any) is read back by the driver.
        let event = event?;
        match event {
            Event::Start(e) => {
                in_text = e.local_name().as_ref() == "t";
            }
            Event::Empty(e) => match e.local_name().as_ref() {
                "tab" => text.push(b'\t'),
                "br" | "cr" => text.push(b'\n'),
                _ => {}
            },
            Event::End(e) => {
                in_text = false;
                if e.local_name().as_ref() == "p" {
                    text.push(b'\n');
                }
            }
            Event::Text(t) if in_text => {
                // Raw UTF-8 (OOXML parts are UTF-8); entities come as references.
                text.extend_from_slice(t.xml10_content().as_bytes());
            }
            Event::GeneralRef(r) if in_text => {
                // Entities such as &amp; inside text.
                if let Ok(Some(ch)) = r.resolve_char_ref() {
                    let mut tmp = [0u8; 4];
                    text.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                } else {
                    match &*r {
                        "amp" => text.push(b'&'),
                        "lt" => text.push(b'<'),
                        "gt" => text.push(b'>'),
                        "quot" => text.push(b'"'),
                        "apos" => text.push(b'\''),
                        _ => {}
                    }
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
        if text.len() > cap {
            return Err(stop(limits::FILE_SIZE));
        }
        buf.clear();
    }
}

fn part_names(archive: &zip::ZipArchive<Spool>, prefix: &str, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = archive
        .file_names()
        .filter_map(Result::ok)
        .filter(|n| n.starts_with(prefix) && n.ends_with(suffix))
        .map(|n| n.into_owned())
        .collect();
    // slide10 after slide9: order by the number in the name.
    names.sort_by_key(|n| {
        let digits: String = n.chars().filter(char::is_ascii_digit).collect();
        (digits.parse::<u64>().unwrap_or(0), n.clone())
    });
    names
}

fn scan_docx<'a>(
    session: &Session<'a>,
    archive: &mut zip::ZipArchive<Spool>,
    acc: &mut Accumulator<'a>,
) -> io::Result<Option<&'static str>> {
    let mut parts = vec!["word/document.xml".to_string()];
    for (prefix, suffix) in [
        ("word/header", ".xml"),
        ("word/footer", ".xml"),
        ("word/footnotes", ".xml"),
        ("word/endnotes", ".xml"),
        ("word/comments", ".xml"),
    ] {
        parts.extend(part_names(archive, prefix, suffix));
    }
    let mut text = Vec::new();
    let mut failure = None;
    for part in &parts {
        if let Err(e) = part_text(session, archive, part, &mut text) {
            failure = Some(e);
            break;
        }
    }
    formats::scan_text_bytes(session.compiled, &text, acc)?;
    failure.map_or(Ok(None), Err)
}

fn scan_pptx<'a>(
    session: &Session<'a>,
    archive: &mut zip::ZipArchive<Spool>,
    acc: &mut Accumulator<'a>,
) -> io::Result<Option<&'static str>> {
    let slides = part_names(archive, "ppt/slides/slide", ".xml");
    let mut hits = Vec::new();
    for (i, slide) in slides.iter().enumerate() {
        let mut text = Vec::new();
        let result = part_text(session, archive, slide, &mut text);
        let page_number = i as u64 + 1;
        formats::scan_located(
            session.compiled,
            acc,
            &text,
            None,
            false,
            &mut hits,
            &mut |o, _| o.pages.push(Page { page_number }),
        );
        result?;
    }
    Ok(None)
}

/// Returns the column letters of a 0-based column (0 → A, 27 → AB).
fn column_letters(mut col: u32) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).expect("column letters are ASCII")
}

fn scan_xlsx<'a>(
    session: &Session<'a>,
    archive: &mut zip::ZipArchive<Spool>,
    acc: &mut Accumulator<'a>,
) -> io::Result<Option<&'static str>> {
    use calamine::{Data, Reader};

    // calamine reads the parts itself: bound them by their declared sizes first.
    let limits = session.limits;
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let Ok(entry) = archive.by_index_raw(i) else {
            continue;
        };
        let (size, compressed) = (entry.size(), entry.compressed_size());
        total += size;
        if size >= limits.ratio_min_bytes && size / compressed.max(1) > limits.max_expansion_ratio {
            return Err(stop(limits::OOXML_RATIO));
        }
    }
    if total > limits.max_document_bytes.saturating_mul(4) {
        return Err(stop(limits::FILE_SIZE));
    }
    let spool = std::mem::replace(
        archive,
        zip::ZipArchive::new(Spool::Memory(io::Cursor::new(empty_zip())))
            .map_err(io::Error::other)?,
    )
    .into_inner();
    let mut book = calamine::Xlsx::new(spool).map_err(io::Error::other)?;
    let mut hits = Vec::new();
    for sheet in book.sheet_names() {
        let range = book.worksheet_range(&sheet).map_err(io::Error::other)?;
        let Some((row0, col0)) = range.start() else {
            continue;
        };
        // The first row names the columns when every used cell in it is a short label.
        let first: Vec<(u32, String)> = range
            .used_cells()
            .take_while(|(r, _, _)| *r == 0)
            .map(|(_, c, v)| (c as u32, v.to_string()))
            .collect();
        let header = !first.is_empty()
            && first.iter().all(|(_, v)| {
                v.len() <= 64 && v.chars().any(char::is_alphabetic) && !v.contains('@')
            });
        let mut names: Vec<(String, crate::engine::RuleSet)> = Vec::new();
        if header {
            for (c, v) in &first {
                let idx = *c as usize;
                if names.len() <= idx {
                    names.resize(idx + 1, (String::new(), Default::default()));
                }
                names[idx] = (
                    v.trim().to_string(),
                    session.compiled.keywords_in(v.as_bytes()),
                );
            }
        }
        for (r, c, value) in range.used_cells() {
            if header && r == 0 {
                continue;
            }
            let text = match value {
                Data::Empty | Data::Bool(_) | Data::Error(_) => continue,
                Data::String(s) => s.clone(),
                other => other.to_string(),
            };
            let (row, col) = (row0 + r as u32, col0 + c as u32);
            let (name, keywords) = match names.get(c) {
                Some((n, k)) => (n.as_str(), Some(k)),
                None => ("", None),
            };
            let reference = format!("{sheet}!{}{}", column_letters(col), row + 1);
            formats::scan_located(
                session.compiled,
                acc,
                text.as_bytes(),
                keywords,
                true,
                &mut hits,
                &mut |o, _| {
                    o.cells.push(Cell {
                        row: u64::from(row) + 1,
                        column: u64::from(col) + 1,
                        column_name: name.to_string(),
                        cell_reference: Some(reference.clone()),
                    })
                },
            );
        }
    }
    Ok(None)
}

/// Bytes of an empty zip (an end-of-central-directory record alone).
fn empty_zip() -> Vec<u8> {
    let mut eocd = b"PK\x05\x06".to_vec();
    eocd.resize(22, 0);
    eocd
}

/// Scans an email with its attachments.
#[allow(clippy::too_many_arguments)]
pub(crate) fn scan_eml<'a>(
    session: &Session<'a>,
    encoding: Encoding,
    stream: &mut dyn Read,
    depth: u32,
    path: &str,
    out: &mut Vec<EmbeddedResult>,
    acc: &mut Accumulator<'a>,
) -> io::Result<Option<&'static str>> {
    let cap = session.limits.max_document_bytes;
    let mut raw = Vec::new();
    let mut reader = Transcoding::new(stream, encoding);
    (&mut reader).take(cap + 1).read_to_end(&mut raw)?;
    if raw.len() as u64 > cap {
        return Err(stop(limits::FILE_SIZE));
    }
    // mail-parser is not ours: a panic while parsing or rendering the bodies is one more way of
    // rejecting the message. (Fuzzing found one, "Invalid part ID, could not find multipart.",
    // which is a `debug_assert!`: release builds, and tests through the dev profile's setting
    // for mail-parser, read that message as far as it goes.)
    let parsed = catch_unwind(AssertUnwindSafe(|| {
        let message = mail_parser::MessageParser::default().parse(&raw[..])?;
        // The header block as written, then each text body.
        let header_end = memchr::memmem::find(&raw, b"\r\n\r\n")
            .or_else(|| memchr::memmem::find(&raw, b"\n\n"))
            .unwrap_or(raw.len());
        let mut text = raw[..header_end].to_vec();
        text.push(b'\n');
        let mut i = 0;
        while let Some(body) = message.body_text(i) {
            text.push(b'\n');
            text.extend_from_slice(body.as_bytes());
            text.push(b'\n');
            i += 1;
        }
        Some((message, text))
    }));
    let Ok(Some((message, text))) = parsed else {
        return Err(stop(limits::UNPARSABLE));
    };
    formats::scan_text_bytes(session.compiled, &text, acc)?;
    let mut partial = None;
    for (n, part) in message.attachments().enumerate() {
        let name = part
            .attachment_name()
            .map(str::to_string)
            .unwrap_or_else(|| match part.message() {
                Some(_) => format!("attachment-{}.eml", n + 1),
                None => format!("attachment-{}", n + 1),
            });
        let contents = match part.message() {
            Some(inner) => inner.raw_message(),
            None => part.contents(),
        };
        let mut reader = contents;
        if !session.member(
            &name,
            &mut reader,
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
