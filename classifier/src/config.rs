//! Engine configuration: managed identifier selection, custom data identifiers and allow lists.
//!
//! [`ClassifierConfig`] is the serde shape (TOML, `deny_unknown_fields`); [`Engine::new`]
//! validates it and compiles it. Every error names the identifier, list or option at fault.
//!
//! ```toml
//! [managed]
//! selection = "EXCLUDE"            # RECOMMENDED (default), ALL, INCLUDE, EXCLUDE or NONE
//! identifiers = ["PHONE_NUMBER"]
//!
//! [[custom_identifiers]]
//! name = "EMPLOYEE_ID"
//! regex = "EMP-[0-9]{6}"
//! keywords = ["employee"]
//! ignore_words = ["EMP-000000"]
//! maximum_match_distance = 50
//! severity_levels = [{ occurrences_threshold = 1, severity = "LOW" }, { occurrences_threshold = 10, severity = "HIGH" }]
//!
//! [[allow_lists]]
//! name = "test-data"
//! texts = ["4111 1111 1111 1111"]
//! regex = "^.*@example\\.com$"
//! ```
//!
//! [`Engine::new`]: crate::Engine::new

use std::path::Path;

use serde::Deserialize;

use crate::{ClassifierError, Severity};

/// How the engine is configured (managed identifier selection, custom identifiers, allow lists).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierConfig {
    /// Which managed data identifiers run.
    #[serde(default)]
    pub managed: ManagedSelection,
    /// Custom data identifiers.
    #[serde(default)]
    pub custom_identifiers: Vec<CustomIdentifierConfig>,
    /// Allow lists: text and patterns that are never reported.
    #[serde(default)]
    pub allow_lists: Vec<AllowListConfig>,
}

impl ClassifierConfig {
    /// Parses a configuration from TOML text.
    pub fn from_toml_str(text: &str) -> Result<Self, ClassifierError> {
        toml::from_str(text).map_err(|e| ClassifierError::InvalidConfig {
            message: e.to_string(),
        })
    }

    /// Reads and parses a TOML configuration file.
    pub fn from_file(path: &Path) -> Result<Self, ClassifierError> {
        let text = std::fs::read_to_string(path).map_err(|e| ClassifierError::InvalidConfig {
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        Self::from_toml_str(&text)
    }
}

/// Selection of managed data identifiers, as Macie's `managedDataIdentifierSelector`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedSelection {
    /// RECOMMENDED (default), ALL, INCLUDE, EXCLUDE or NONE.
    #[serde(default)]
    pub selection: SelectionMode,
    /// Identifier names for INCLUDE (added to the recommended set) and EXCLUDE (removed from all).
    #[serde(default)]
    pub identifiers: Vec<String>,
}

/// How [`ManagedSelection::identifiers`] is applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SelectionMode {
    /// The recommended set.
    #[default]
    Recommended,
    /// Every managed identifier.
    All,
    /// Only the listed identifiers.
    Include,
    /// Every managed identifier except the listed ones.
    Exclude,
    /// No managed identifier (custom identifiers only).
    None,
}

/// A custom data identifier.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomIdentifierConfig {
    /// Name reported as the detection type.
    pub name: String,
    /// Regular expression (Rust `regex` syntax) the value must match.
    pub regex: String,
    /// Keywords, one of which must appear near the match (none: no keyword needed).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Matches containing any of these strings (case-sensitive) are ignored.
    #[serde(default)]
    pub ignore_words: Vec<String>,
    /// Characters between the end of a keyword and the match (1–300).
    #[serde(default = "default_distance")]
    pub maximum_match_distance: usize,
    /// Severity by occurrence count; default MEDIUM from 1 occurrence.
    #[serde(default)]
    pub severity_levels: Vec<SeverityLevel>,
}

fn default_distance() -> usize {
    50
}

/// A severity that applies from a number of occurrences upward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityLevel {
    /// Minimum number of occurrences.
    pub occurrences_threshold: u64,
    /// Severity at or above the threshold.
    pub severity: Severity,
}

/// An allow list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowListConfig {
    /// Name, used in error messages.
    pub name: String,
    /// Exact texts (case-insensitive) never reported.
    #[serde(default)]
    pub texts: Vec<String>,
    /// A regex; detected text it matches is never reported.
    #[serde(default)]
    pub regex: Option<String>,
}
