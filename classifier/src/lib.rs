//! Trawl's detection engine.
//!
//! Pure and synchronous: no Tokio, no AWS. An [`Engine`] is compiled once from a
//! [`ClassifierConfig`] and shared (it is `Send + Sync`); [`Engine::classify_reader`] streams a
//! file through it with bounded memory and returns a [`FileResult`] whose JSON form is what
//! `trawl classify` prints and what workers store for each S3 object.
//!
//! # Layout
//! - `identifiers`: the managed data identifiers as data (matcher, keywords, validator,
//!   category, severity rule, examples).
//! - `validators`: checksums and structural rules (Luhn, mod-97, Verhoeff, NHS mod 11, CPF,
//!   DNI, SSN rules…).
//! - `engine`: the compiled scanner (anchor automaton, digit-run scan, keyword automaton).
//! - `formats`: text streaming in overlapping chunks, CSV/TSV cell by cell, JSON and JSON Lines
//!   value by value, and the result accumulator.
//! - `sniff`: the type of a stream from its magic bytes, then its name; text transcoding.
//! - `container`: the recursive driver over compression, archives and documents, with the
//!   [`Limits`] budgets shared across one object's whole tree.
//! - `documents`: OOXML (DOCX, PPTX, XLSX) and EML.
//! - `pdf`: PDF text page by page (`lopdf`).
//! - `bigdata`: Parquet (row group by row group) and Avro (block by block) as records with
//!   field paths, the column and field names acting as keywords.
//! - [`config`]: the TOML configuration (selection, custom identifiers, allow lists).
//! - [`local`]: `trawl classify PATH…` over local files and folders.
#![warn(missing_docs)]

mod bigdata;
pub mod config;
mod container;
mod documents;
mod engine;
mod formats;
mod identifiers;
pub mod limits;
pub mod local;
mod pdf;
mod sniff;
mod validators;

use std::io::Read;

use serde::{Deserialize, Serialize};

pub use config::{
    AllowListConfig, ClassifierConfig, CustomIdentifierConfig, ManagedSelection, SelectionMode,
    SeverityLevel,
};
pub use limits::Limits;

/// Errors building an engine from configuration.
#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    /// A regex in the configuration does not compile.
    #[error("invalid regex in {name}: {message}")]
    InvalidRegex {
        /// Name of the identifier or allow list holding the regex.
        name: String,
        /// What the regex compiler said.
        message: String,
    },
    /// An option of a custom identifier is out of range.
    #[error("invalid {option} in custom identifier {name}: {message}")]
    InvalidOption {
        /// Name of the custom identifier.
        name: String,
        /// The option at fault.
        option: String,
        /// What is wrong with it.
        message: String,
    },
    /// A managed identifier name in the selection does not exist.
    #[error("unknown managed data identifier {name}")]
    UnknownIdentifier {
        /// The name as given.
        name: String,
    },
    /// The configuration cannot be read or parsed.
    #[error("invalid classifier configuration: {message}")]
    InvalidConfig {
        /// What is wrong.
        message: String,
    },
}

/// Outcome of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// The whole file was classified.
    Complete,
    /// Part of the file was classified; `reason` says why not all of it.
    Partial,
    /// Nothing was classified; `reason` says why.
    Skipped,
}

impl Status {
    /// Returns the status as Macie writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Complete => "COMPLETE",
            Status::Partial => "PARTIAL",
            Status::Skipped => "SKIPPED",
        }
    }
}

/// Severity of a detection or of a whole file, as Macie ranks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

impl Severity {
    /// Returns the severity's name as Macie writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
        }
    }
}

/// A range of lines (1-based, inclusive) in a text file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineRange {
    /// First line of the match.
    pub start: u64,
    /// Last line of the match.
    pub end: u64,
    /// Column (1-based, in characters) where the match starts on its first line.
    #[serde(rename = "startColumn")]
    pub start_column: u64,
}

/// A cell of a CSV or TSV file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    /// Row (1-based; the header, when there is one, is row 1).
    pub row: u64,
    /// Column (1-based).
    pub column: u64,
    /// Column name from the header, if any.
    #[serde(rename = "columnName")]
    pub column_name: String,
    /// Spreadsheet cell with its sheet, e.g. `Sheet2!C5` (XLSX only).
    #[serde(rename = "cellReference", skip_serializing_if = "Option::is_none")]
    pub cell_reference: Option<String>,
}

/// A page of a PDF document (or a slide of a presentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page {
    /// Page number (1-based).
    #[serde(rename = "pageNumber")]
    pub page_number: u64,
}

/// A value in a JSON or JSON Lines file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// Record index (0-based line for JSON Lines, row for Parquet, datum for Avro; 0 for a
    /// JSON document).
    #[serde(rename = "recordIndex")]
    pub record_index: u64,
    /// JSONPath of the value, e.g. `$.customers[3].email`.
    #[serde(rename = "jsonPath")]
    pub json_path: String,
}

/// Where one identifier type was found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Occurrences {
    /// Text locations.
    #[serde(rename = "lineRanges", skip_serializing_if = "Vec::is_empty")]
    pub line_ranges: Vec<LineRange>,
    /// CSV/TSV locations.
    #[serde(rename = "cells", skip_serializing_if = "Vec::is_empty")]
    pub cells: Vec<Cell>,
    /// JSON/JSON Lines locations.
    #[serde(rename = "records", skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<Record>,
    /// PDF pages and presentation slides.
    #[serde(rename = "pages", skip_serializing_if = "Vec::is_empty")]
    pub pages: Vec<Page>,
}

impl Occurrences {
    /// Returns the number of kept locations.
    pub fn len(&self) -> usize {
        self.line_ranges.len() + self.cells.len() + self.records.len() + self.pages.len()
    }

    /// Returns true if no location is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every occurrence of one identifier type in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detection {
    /// Identifier name, e.g. `USA_SOCIAL_SECURITY_NUMBER`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `CREDENTIALS`, `FINANCIAL_INFORMATION`, `PERSONAL_INFORMATION` or `CUSTOM_IDENTIFIER`.
    pub category: String,
    /// Severity of this identifier at this count.
    pub severity: Severity,
    /// Number of occurrences (all of them, even past the kept locations).
    pub count: u64,
    /// Up to 1,000 locations.
    pub occurrences: Occurrences,
}

/// The result of classifying one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileResult {
    /// Whether the file was classified whole, in part, or not at all.
    pub status: Status,
    /// Macie-style reason code when not COMPLETE.
    pub reason: Option<String>,
    /// Bytes of the file that were classified.
    pub size_classified: u64,
    /// Highest severity among the detections, if any.
    pub severity: Option<Severity>,
    /// One entry per identifier type found, sorted by type.
    pub detections: Vec<Detection>,
    /// One record per file found inside this one (archive members, email attachments), in
    /// the order met, nested ones flattened with their full `embedded_path`. This file's own
    /// detections then sum those of its direct members (counts only: the locations are in
    /// the member records).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub embedded: Vec<EmbeddedResult>,
}

/// The result of one file inside another (an archive member or an email attachment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmbeddedResult {
    /// Path inside the object, e.g. `data.tar.gz/2024/people.csv` for a member of a tar
    /// inside the gzip, or `outer.zip/inner.zip/a.txt` for nested archives. The object's own
    /// name is not part of it.
    pub embedded_path: String,
    /// The member's own result (its `embedded` is always empty: descendants are flattened
    /// into the object's list).
    #[serde(flatten)]
    pub result: FileResult,
}

/// A managed data identifier as `trawl identifiers` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManagedIdentifierInfo {
    /// The detection type it reports (IBANs: `<COUNTRY>_BANK_ACCOUNT_NUMBER`).
    pub name: String,
    /// `CREDENTIALS`, `FINANCIAL_INFORMATION` or `PERSONAL_INFORMATION`.
    pub category: &'static str,
    /// `HIGH` at any count, or `BY_COUNT` (LOW at 1, MEDIUM at 2–99, HIGH at 100 or more).
    pub severity: &'static str,
    /// Whether a keyword must be near a match: `REQUIRED`, `OPTIONAL`, `SOME_FORMATS` (some
    /// layouts need one), or `NONE_FOUND` (the name a match gets without its keyword).
    pub keywords: &'static str,
    /// Part of the RECOMMENDED selection.
    pub recommended: bool,
    /// Run by this engine's selection.
    pub enabled: bool,
}

/// A compiled set of identifiers. Build once, share behind an `Arc`.
#[derive(Debug)]
pub struct Engine {
    compiled: engine::Compiled,
    limits: Limits,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new(&ClassifierConfig::default()).expect("the managed identifiers should compile")
    }
}

impl Engine {
    /// Compiles the engine for `config`.
    pub fn new(config: &ClassifierConfig) -> Result<Self, ClassifierError> {
        Ok(Self {
            compiled: engine::Compiled::new(config)?,
            limits: Limits::default(),
        })
    }

    /// Returns the engine with `limits` in place of the default [`Limits`].
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Returns the limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Returns the names of the detection types this engine can report.
    pub fn identifier_names(&self) -> Vec<&str> {
        self.compiled
            .types
            .iter()
            .map(|t| t.name.as_str())
            .collect()
    }

    /// Returns the managed data identifiers, one per reported name, in the table's order, with
    /// whether this engine's selection runs them (what `trawl identifiers` lists).
    pub fn managed_identifiers(&self) -> Vec<ManagedIdentifierInfo> {
        use identifiers::{KeywordRule, Matcher, SeverityRule};
        let running = self.identifier_names();
        let mut out: Vec<ManagedIdentifierInfo> = Vec::new();
        for m in identifiers::managed() {
            let needs_keyword = match m.matcher {
                Matcher::Shapes(shapes) => {
                    m.keyword_rule == KeywordRule::Required
                        || shapes.iter().all(|s| s.starts_with('!'))
                }
                _ => m.keyword_rule == KeywordRule::Required,
            };
            let some_need_one = matches!(m.matcher, Matcher::Shapes(shapes) if shapes.iter().any(|s| s.starts_with('!')))
                || matches!(m.matcher, Matcher::Phone);
            let keywords = if needs_keyword {
                "REQUIRED"
            } else if some_need_one {
                "SOME_FORMATS"
            } else {
                "OPTIONAL"
            };
            let mut names = vec![(m.name, keywords)];
            if let KeywordRule::Boosts(alt) = m.keyword_rule {
                names.push((alt, "NONE_FOUND"));
            }
            for (name, keywords) in names {
                let reported = if matches!(m.matcher, Matcher::Iban) {
                    format!("<COUNTRY>_{name}")
                } else {
                    name.to_string()
                };
                let enabled = running.iter().any(|r| {
                    *r == name || (matches!(m.matcher, Matcher::Iban) && r.ends_with(name))
                });
                if let Some(seen) = out.iter_mut().find(|i| i.name == reported) {
                    // Several table rows report one name (formats of one identifier).
                    seen.recommended |= m.recommended;
                    seen.enabled |= enabled;
                    if seen.keywords != keywords {
                        seen.keywords = "SOME_FORMATS";
                    }
                    continue;
                }
                out.push(ManagedIdentifierInfo {
                    name: reported,
                    category: m.category.as_str(),
                    severity: match m.severity {
                        SeverityRule::High => "HIGH",
                        SeverityRule::ByCount => "BY_COUNT",
                    },
                    keywords,
                    recommended: m.recommended,
                    enabled,
                });
            }
        }
        out
    }

    /// Classifies a whole in-memory file.
    pub fn classify_bytes(&self, file_name: &str, data: &[u8]) -> FileResult {
        self.classify_reader(file_name, &mut &data[..])
    }

    /// Classifies a file read from `reader`, streaming with bounded memory.
    ///
    /// The type comes from the magic bytes first and the file name's extension second (see
    /// the `sniff` module): compressed streams are decompressed on the fly, archives give one
    /// [`EmbeddedResult`] per member, documents are parsed, unsupported binaries are SKIPPED
    /// with `UNSUPPORTED_FILE_TYPE_EXCEPTION`. Every [`Limits`] budget ends the file as PARTIAL
    /// (findings so far kept) or SKIPPED with its reason code. A read error of `reader` gives
    /// `UNABLE_TO_READ_FILE`.
    pub fn classify_reader(&self, file_name: &str, reader: &mut dyn Read) -> FileResult {
        container::classify(&self.compiled, &self.limits, file_name, reader)
    }
}

#[cfg(test)]
mod tests;
