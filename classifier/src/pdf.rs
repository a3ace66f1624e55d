//! PDF: the text of each page, scanned as one segment with the page as its location
//! (`pages`, `pageNumber` 1-based), as PPTX slides are.
//!
//! The document is read whole into memory (at most [`Limits::max_document_bytes`], past that
//! `FILE_EXCEEDS_SIZE_LIMIT`) and parsed by `lopdf`, which also bounds each stream it
//! decompresses (object streams, page contents) to that size and the nesting of arrays and
//! dictionaries. A file `lopdf` rejects, and an encrypted one whose user password is not
//! empty, end in `UNABLE_TO_PARSE_FILE`; a page whose text cannot be extracted is left out and
//! the file ends PARTIAL with that code. `lopdf` panicking on a hostile file is caught and
//! reported the same way.
//!
//! [`Limits::max_document_bytes`]: crate::Limits::max_document_bytes

use std::io::{self, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::Page;
use crate::container::{Session, stop};
use crate::formats::{self, Accumulator};
use crate::limits;

/// Scans a PDF.
pub(crate) fn scan_pdf<'a>(
    session: &Session<'a>,
    stream: &mut dyn Read,
    acc: &mut Accumulator<'a>,
) -> io::Result<Option<&'static str>> {
    let cap = session.limits.max_document_bytes;
    let mut raw = Vec::new();
    stream.take(cap + 1).read_to_end(&mut raw)?;
    if raw.len() as u64 > cap {
        return Err(stop(limits::FILE_SIZE));
    }
    let max_decompressed = usize::try_from(cap).unwrap_or(usize::MAX);
    // lopdf is not ours: a panic on a hostile file is one more way of rejecting it.
    match catch_unwind(AssertUnwindSafe(|| {
        scan_pages(session, &raw, max_decompressed, acc)
    })) {
        Ok(result) => result,
        Err(_) => Err(stop(limits::UNPARSABLE)),
    }
}

fn scan_pages<'a>(
    session: &Session<'a>,
    raw: &[u8],
    max_decompressed: usize,
    acc: &mut Accumulator<'a>,
) -> io::Result<Option<&'static str>> {
    let options = lopdf::LoadOptions {
        max_decompressed_size: Some(max_decompressed),
        ..Default::default()
    };
    let mut doc = lopdf::Document::load_mem_with_options(raw, options)
        .map_err(|_| stop(limits::UNPARSABLE))?;
    if doc.is_encrypted() && doc.decrypt("").is_err() {
        return Err(stop(limits::UNPARSABLE));
    }
    let pages = doc.get_pages();
    let mut num_failed = 0;
    let mut hits = Vec::new();
    for &number in pages.keys() {
        session.check_deadline()?;
        let Ok(text) = doc.extract_text_with_limit(&[number], max_decompressed) else {
            num_failed += 1;
            continue;
        };
        let page_number = u64::from(number);
        formats::scan_located(
            session.compiled,
            acc,
            text.as_bytes(),
            None,
            false,
            &mut hits,
            &mut |o, _| o.pages.push(Page { page_number }),
        );
    }
    match num_failed {
        0 => Ok(None),
        n if n == pages.len() => Err(stop(limits::UNPARSABLE)),
        _ => Ok(Some(limits::UNPARSABLE)),
    }
}
