//! Small helpers for the XML and dates of AWS responses: text escaping, a tiny element writer,
//! and the two timestamp formats (ISO 8601 in bodies, RFC 7231 in headers).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::SystemTime;

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

/// The S3 XML namespace.
pub(crate) const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
/// The STS XML namespace.
pub(crate) const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Escapes text for XML element content and attribute values. Characters XML 1.0 cannot
/// carry at all (most C0 controls) are written as character references, as S3 does.
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| matches!(c, '&' | '<' | '>' | '"' | '\'') || (c < ' ' && c != '\t'))
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c < ' ' && c != '\t' => {
                let _ = write!(out, "&#x{:X};", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Builds an XML document element by element.
#[derive(Debug)]
pub(crate) struct XmlWriter {
    out: String,
}

impl XmlWriter {
    /// Starts a document with the XML declaration and the root element.
    pub(crate) fn new(root: &str, namespace_opt: Option<&str>) -> Self {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        match namespace_opt {
            Some(ns) => {
                let _ = write!(out, "<{root} xmlns=\"{ns}\">");
            }
            None => {
                let _ = write!(out, "<{root}>");
            }
        }
        Self { out }
    }

    /// Opens a child element.
    pub(crate) fn open(&mut self, name: &str) -> &mut Self {
        let _ = write!(self.out, "<{name}>");
        self
    }

    /// Closes a child element.
    pub(crate) fn close(&mut self, name: &str) -> &mut Self {
        let _ = write!(self.out, "</{name}>");
        self
    }

    /// Writes `<name>text</name>` with the text escaped.
    pub(crate) fn text(&mut self, name: &str, text: impl AsRef<str>) -> &mut Self {
        let _ = write!(self.out, "<{name}>{}</{name}>", escape(text.as_ref()));
        self
    }

    /// Closes the root element and returns the document.
    pub(crate) fn finish(mut self, root: &str) -> String {
        let _ = write!(self.out, "</{root}>");
        self.out
    }
}

/// Formats a time as S3 bodies do: `2025-01-02T03:04:05.000Z`.
pub(crate) fn iso8601_millis(time: SystemTime) -> String {
    let secs = DateTime::from(time).secs();
    let formatted = DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .expect("formatting a whole-second time after 1970 should not fail");
    // Whole seconds format as `…:05Z`; S3 always writes milliseconds.
    match formatted.strip_suffix('Z') {
        Some(head) => format!("{head}.000Z"),
        None => formatted,
    }
}

/// Formats a time as STS bodies do: `2025-01-02T03:04:05Z`.
pub(crate) fn iso8601(time: SystemTime) -> String {
    DateTime::from_secs(DateTime::from(time).secs())
        .fmt(Format::DateTime)
        .expect("formatting a whole-second time after 1970 should not fail")
}

/// Formats a time as HTTP headers do: `Thu, 02 Jan 2025 03:04:05 GMT`.
pub(crate) fn http_date(time: SystemTime) -> String {
    DateTime::from_secs(DateTime::from(time).secs())
        .fmt(Format::HttpDate)
        .expect("formatting a whole-second time after 1970 should not fail")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(escape("plain/key.txt"), "plain/key.txt");
        assert_eq!(
            escape("a&b<c>\"d'\u{1}"),
            "a&amp;b&lt;c&gt;&quot;d&apos;&#x1;"
        );
    }

    #[test]
    fn formats_dates_as_aws_does() {
        let time = UNIX_EPOCH + Duration::from_millis(1_735_787_045_678);
        assert_eq!(iso8601_millis(time), "2025-01-02T03:04:05.000Z");
        assert_eq!(iso8601(time), "2025-01-02T03:04:05Z");
        assert_eq!(http_date(time), "Thu, 02 Jan 2025 03:04:05 GMT");
    }

    #[test]
    fn writer_nests_and_escapes() {
        let mut xml = XmlWriter::new("Root", Some(S3_NS));
        xml.open("A").text("B", "x<y").close("A");
        assert_eq!(
            xml.finish("Root"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <Root xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><A><B>x&lt;y</B></A></Root>"
        );
    }
}
