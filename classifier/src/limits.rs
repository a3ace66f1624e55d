//! Budgets that keep hostile or huge files from running away, and the reason codes they end in.
//!
//! One [`Limits`] is held by the [`Engine`](crate::Engine) (`Engine::with_limits`). The byte,
//! file-count, ratio and time budgets are shared across the whole tree of one object (an archive
//! inside a gzip inside a zip counts against the same totals). A limit reached midway ends the
//! file as PARTIAL with the reason code below and the findings so far are kept; a limit reached
//! before anything was read ends it as SKIPPED.
//!
//! | limit | reason code |
//! | --- | --- |
//! | [`Limits::max_nesting_depth`] | `ARCHIVE_NESTING_LEVEL_OVER_LIMIT` |
//! | [`Limits::max_total_extracted_bytes`] | `ARCHIVE_TOTAL_BYTES_EXTRACTED_OVER_LIMIT` |
//! | [`Limits::max_extracted_files`] | `ARCHIVE_TOTAL_DOCUMENTS_PROCESSED_OVER_LIMIT` |
//! | [`Limits::max_file_bytes`], [`Limits::max_spool_bytes`] | `FILE_EXCEEDS_SIZE_LIMIT` |
//! | [`Limits::max_expansion_ratio`] | `ARCHIVE_EXCEEDS_SIZE_LIMIT` (OOXML: `OOXML_UNCOMPRESSED_RATIO_EXCEEDS_LIMIT`) |
//! | [`Limits::max_json_depth`] | `JSON_NESTING_LEVEL_OVER_LIMIT` |
//! | [`Limits::max_time_secs`] | `TIME_CUT_OFF_REACHED` |
//!
//! Malformed input ends in `MALFORMED_FILE` (a broken compressed stream or archive) or
//! `UNABLE_TO_PARSE_FILE` (a document its parser rejects).
//!
//! The TOML shape (for a `[limits]` table; every key optional):
//! ```toml
//! max_nesting_depth = 10
//! max_total_extracted_bytes = 10_000_000_000
//! max_time_secs = 3600
//! ```

use serde::Deserialize;

/// `ARCHIVE_NESTING_LEVEL_OVER_LIMIT`.
pub const NESTING: &str = "ARCHIVE_NESTING_LEVEL_OVER_LIMIT";
/// `ARCHIVE_TOTAL_BYTES_EXTRACTED_OVER_LIMIT`.
pub const TOTAL_BYTES: &str = "ARCHIVE_TOTAL_BYTES_EXTRACTED_OVER_LIMIT";
/// `ARCHIVE_TOTAL_DOCUMENTS_PROCESSED_OVER_LIMIT`.
pub const TOTAL_FILES: &str = "ARCHIVE_TOTAL_DOCUMENTS_PROCESSED_OVER_LIMIT";
/// `FILE_EXCEEDS_SIZE_LIMIT`.
pub const FILE_SIZE: &str = "FILE_EXCEEDS_SIZE_LIMIT";
/// `ARCHIVE_EXCEEDS_SIZE_LIMIT`: a compressed stream or archive member expands past
/// [`Limits::max_expansion_ratio`] (a decompression bomb).
pub const RATIO: &str = "ARCHIVE_EXCEEDS_SIZE_LIMIT";
/// `OOXML_UNCOMPRESSED_RATIO_EXCEEDS_LIMIT`: the same inside a DOCX, PPTX or XLSX.
pub const OOXML_RATIO: &str = "OOXML_UNCOMPRESSED_RATIO_EXCEEDS_LIMIT";
/// `JSON_NESTING_LEVEL_OVER_LIMIT`.
pub const JSON_NESTING: &str = "JSON_NESTING_LEVEL_OVER_LIMIT";
/// `TIME_CUT_OFF_REACHED`.
pub const TIME: &str = "TIME_CUT_OFF_REACHED";
/// `MALFORMED_FILE`: a compressed stream or archive is corrupt.
pub const MALFORMED: &str = "MALFORMED_FILE";
/// `UNABLE_TO_PARSE_FILE`: a document's parser rejected it.
pub const UNPARSABLE: &str = "UNABLE_TO_PARSE_FILE";
/// `UNABLE_TO_READ_FILE`: the object's own stream failed.
pub const UNREADABLE: &str = "UNABLE_TO_READ_FILE";
/// `UNSUPPORTED_FILE_TYPE_EXCEPTION`: images, executables, media and other binaries.
pub const UNSUPPORTED: &str = "UNSUPPORTED_FILE_TYPE_EXCEPTION";

/// Returns true for the reason codes of budgets (as opposed to per-file verdicts such as
/// unsupported or malformed): a member stopped by one makes its whole archive PARTIAL.
pub(crate) fn is_budget(reason: &str) -> bool {
    matches!(
        reason,
        NESTING | TOTAL_BYTES | TOTAL_FILES | FILE_SIZE | RATIO | OOXML_RATIO | TIME
    )
}

/// Every budget of one classification. Defaults follow Macie where it publishes one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Archives and compressed streams nested deeper than this are not opened (each
    /// compression layer and each archive is one level). Default 10.
    pub max_nesting_depth: u32,
    /// Bytes extracted (decompressed) over the whole tree. Default 10 GB.
    pub max_total_extracted_bytes: u64,
    /// Files inside archives and attachments processed over the whole tree. Default 100,000.
    pub max_extracted_files: u64,
    /// Bytes read of any one file, decompressed. Default 16 GiB.
    pub max_file_bytes: u64,
    /// Largest file copied aside for formats that need random access (zip, OOXML, PDF,
    /// Parquet). Up to [`Limits::spool_memory_bytes`] it stays in memory, past that it goes
    /// to a temporary file under `std::env::temp_dir()`. Default 2 GiB.
    pub max_spool_bytes: u64,
    /// Size up to which a spooled file is kept in memory. Default 4 MiB.
    pub spool_memory_bytes: u64,
    /// Largest size of a document parsed in memory (PDF, EML, Avro block, OOXML part).
    /// Default 64 MiB.
    pub max_document_bytes: u64,
    /// Decompressed bytes per compressed byte of one stream or member, checked once
    /// [`Limits::ratio_min_bytes`] have come out. Reaching it stops the whole object (a bomb
    /// is hostile). Default 250: text rarely compresses past 20 to 1, while deflate bombs
    /// reach 1,032 and bzip2 bombs far more.
    pub max_expansion_ratio: u64,
    /// Output below which the ratio is not checked. Default 1 MiB.
    pub ratio_min_bytes: u64,
    /// Deepest JSON nesting parsed. Default 256, as Macie.
    pub max_json_depth: u32,
    /// Wall-clock seconds for one object, its whole tree included. Default 3,600.
    pub max_time_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_nesting_depth: 10,
            max_total_extracted_bytes: 10_000_000_000,
            max_extracted_files: 100_000,
            max_file_bytes: 16 << 30,
            max_spool_bytes: 2 << 30,
            spool_memory_bytes: 4 << 20,
            max_document_bytes: 64 << 20,
            max_expansion_ratio: 250,
            ratio_min_bytes: 1 << 20,
            max_json_depth: 256,
            max_time_secs: 3600,
        }
    }
}

impl Limits {
    /// Parses a `[limits]` table given as TOML text; missing keys keep their defaults.
    pub fn from_toml(text: &str) -> Result<Self, crate::ClassifierError> {
        toml::from_str(text).map_err(|e| crate::ClassifierError::InvalidConfig {
            message: format!("limits: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_overrides_only_what_it_names() {
        let limits = Limits::from_toml("max_nesting_depth = 3\nmax_time_secs = 5\n").unwrap();
        assert_eq!(limits.max_nesting_depth, 3);
        assert_eq!(limits.max_time_secs, 5);
        assert_eq!(limits.max_json_depth, 256);
        assert!(Limits::from_toml("max_nesting = 3").is_err());
    }
}
