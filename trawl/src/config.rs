//! Trawl's configuration file (`--config FILE` or `TRAWL_CONFIG`): one TOML document whose
//! tables each belong to one part of the system.
//!
//! ```toml
//! [pricing]                  # reviews: cost profiles and request prices (coordinator, estimate)
//! profile = "classic-macie"
//!
//! [classifier]               # what the workers detect (worker, classify, embedded runs)
//! managed = { selection = "RECOMMENDED" }
//! [[classifier.custom_identifiers]]
//! name = "EMPLOYEE_ID"
//! regex = "EMP-[0-9]{6}"
//! keywords = ["employee"]
//! [[classifier.allow_lists]]
//! name = "test-data"
//! texts = ["4111 1111 1111 1111"]
//!
//! [limits]                   # budgets per object: nesting, extracted bytes, time…
//! max_nesting_depth = 10
//! ```
//!
//! Every process reads the whole document and validates every table, so a mistake is reported
//! by whichever command meets it first, naming the file, table and key; an unknown table is
//! an error too, so a typo never falls back to defaults in silence.

use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;
use trawl_classifier::{ClassifierConfig, Engine, Limits};
use trawl_coordinator::pricing::PricingConfig;

/// The parsed configuration document.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrawlConfig {
    /// `[pricing]`.
    pub(crate) pricing: PricingConfig,
    /// `[classifier]`.
    pub(crate) classifier: ClassifierConfig,
    /// `[limits]`.
    pub(crate) limits: Limits,
}

/// The document's top level: the tables Trawl knows, and nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    /// Parsed by its owner (`PricingConfig::from_toml`), which checks it field by field.
    #[serde(default)]
    #[allow(dead_code)]
    pricing: Option<toml::Table>,
    #[serde(default)]
    classifier: ClassifierConfig,
    #[serde(default)]
    limits: Limits,
}

impl TrawlConfig {
    /// Parses a configuration document; `origin` names it in errors.
    pub(crate) fn from_toml(text: &str, origin: &str) -> anyhow::Result<Self> {
        let document: Document = toml::from_str(text).map_err(|e| {
            anyhow::anyhow!(
                "config file {origin}: {} (known tables: [pricing], [classifier], [limits])",
                e.to_string().trim_end().replace('\n', " ")
            )
        })?;
        let pricing = PricingConfig::from_toml(text)
            .with_context(|| format!("config file {origin}: [pricing]"))?;
        pricing
            .resolve(None)
            .with_context(|| format!("config file {origin}: [pricing]"))?;
        let config = Self {
            pricing,
            classifier: document.classifier,
            limits: document.limits,
        };
        // Compiling checks every regex, keyword and option of [classifier] now, not at the
        // first object.
        config
            .engine()
            .with_context(|| format!("config file {origin}: [classifier]"))?;
        Ok(config)
    }

    /// Reads `path`, or returns the defaults when there is none.
    pub(crate) fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Compiles the classification engine the workers and `trawl classify` use.
    pub(crate) fn engine(&self) -> anyhow::Result<Engine> {
        Ok(Engine::new(&self.classifier)?.with_limits(self.limits.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_read_and_defaults_fill_the_rest() {
        let config = TrawlConfig::from_toml(
            r#"
[pricing]
profile = "cheap"
[pricing.profiles.cheap]
price_per_gb_usd = 1.0
min_object_bytes = 0

[classifier]
managed = { selection = "NONE" }
[[classifier.custom_identifiers]]
name = "EMPLOYEE_ID"
regex = "EMP-[0-9]{6}"

[limits]
max_nesting_depth = 3
"#,
            "t.toml",
        )
        .unwrap();
        assert_eq!(config.pricing.default_profile, "cheap");
        assert_eq!(config.classifier.custom_identifiers.len(), 1);
        assert_eq!(config.limits.max_nesting_depth, 3);
        assert_eq!(
            config.limits.max_json_depth,
            Limits::default().max_json_depth
        );
        let engine = config.engine().unwrap();
        let result = engine.classify_bytes("ids.txt", b"badge EMP-123456, mail a@b-corp.com");
        let types: Vec<&str> = result.detections.iter().map(|d| d.kind.as_str()).collect();
        // Managed identifiers are off; the custom one runs.
        assert_eq!(types, ["EMPLOYEE_ID"]);
    }

    #[test]
    fn mistakes_are_named_with_the_file_and_table() {
        let unknown = TrawlConfig::from_toml("[limit]\nmax_nesting_depth = 3\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            unknown.contains("c.toml") && unknown.contains("limit"),
            "{unknown}"
        );
        let regex = TrawlConfig::from_toml(
            "[[classifier.custom_identifiers]]\nname = \"BROKEN\"\nregex = \"(unclosed\"\n",
            "c.toml",
        )
        .unwrap_err();
        let text = format!("{regex:#}");
        assert!(text.contains("c.toml") && text.contains("BROKEN"), "{text}");
        let limit = TrawlConfig::from_toml("[limits]\nmax_depth = 3\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(limit.contains("max_depth"), "{limit}");
    }
}
