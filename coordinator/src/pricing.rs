//! Pricing profiles for the review: what classifying a bucket would cost, and what Trawl's own
//! S3 and KMS requests cost.
//!
//! # Layout
//! - [`PricingProfile`]: the serde shape of one profile, as written in config.
//! - [`PricingConfig`]: the `[pricing]` table, naming the default profile and holding the
//!   user's own under `[pricing.profiles.NAME]`; [`PricingConfig::resolve`] validates every
//!   profile and returns the chosen one as a runtime [`Pricing`].
//! - [`Pricing`]: a validated profile with prices held as integer nano-dollars. It rounds an
//!   object's size to its billable size ([`Pricing::billable_bytes`]) and turns byte and request
//!   counts into whole cents ([`Pricing::classification_cost_cents`],
//!   [`Pricing::requests_cost_cents`]).
//!
//! ```toml
//! [pricing]
//! profile = "macie-v2"            # the default is "classic-macie", built in
//! [pricing.profiles.macie-v2]
//! price_per_gb_usd = 1.25
//! min_object_bytes = 0            # required: the per-object floor
//! # max_object_bytes omitted: no per-object cap
//! gb_bytes = 1073741824           # optional, 2^30 by default
//! s3_get_per_1000_usd = 0.0004    # optional request prices, us-east-1 by default
//! ```
//!
//! # Exactness
//! Money never passes through a float once a profile is validated: each price is rounded once
//! to the nano-dollar, every cost is computed as an exact fraction of integers (`u128`) and
//! rounded half-up to the cent only at the end. Callers sum those cents, so a total always
//! equals the sum of the rows it is shown under.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Name of the built-in profile reproducing classic Macie's pricing.
pub const CLASSIC_MACIE: &str = "classic-macie";

/// Bytes in a KiB. Classic Macie's "1 KB" is taken as 1,024 bytes (see [`PricingProfile`]).
pub const KIB: u64 = 1024;
/// Bytes in a MiB.
pub const MIB: u64 = 1024 * KIB;
/// Bytes in a GiB: what AWS bills as a "GB".
pub const GIB: u64 = 1024 * MIB;

const NANOS_PER_USD: u128 = 1_000_000_000;
const NANOS_PER_CENT: u128 = 10_000_000;
/// Highest price accepted for any field, in USD. Keeps every product well inside `u128`.
const MAX_PRICE_USD: f64 = 1_000_000.0;

/// Errors in pricing configuration. Each names the profile and the field at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PricingError {
    /// A field of a profile holds an unusable value.
    #[error("pricing profile {profile:?}: {field} {reason}")]
    InvalidField {
        /// Name of the profile.
        profile: String,
        /// The field at fault, as written in config.
        field: &'static str,
        /// What is wrong with it, including the value given.
        reason: String,
    },
    /// The requested profile is neither built in nor defined in config.
    #[error("unknown pricing profile {name:?}: known profiles are {}", .known.join(", "))]
    UnknownProfile {
        /// The name asked for.
        name: String,
        /// Every profile that exists.
        known: Vec<String>,
    },
    /// A user profile reuses the name of a built-in profile.
    #[error(
        "pricing profile {name:?} is built in and cannot be redefined: give your profile another name"
    )]
    BuiltInRedefined {
        /// The built-in name.
        name: String,
    },
    /// The `[pricing]` table is not valid TOML of the expected shape.
    #[error("malformed [pricing] configuration: {message}")]
    Malformed {
        /// What the parser said, with line and column where it knows them.
        message: String,
    },
}

/// One pricing profile, as written in config under `[pricing.profiles.NAME]`.
///
/// # Per-object rounding
/// An object's billable size is `clamp(size, min_object_bytes, max_object_bytes)`. An empty
/// object bills the minimum like any other small one: classic Macie's rule is that *each object*
/// counts at least 1 KB, and Trawl does make a GET for an empty object. Set
/// `min_object_bytes = 0` to bill raw sizes. Omit `max_object_bytes` for no cap.
///
/// # Units
/// Classic Macie's pricing ("at least 1 KB and at most 20 MB per object, $5 per GB") never said
/// which base its units used. AWS bills data in binary units (its billing "GB" is 2^30 bytes), so
/// [`PricingProfile::classic_macie`] reads them that way: 1 KB = 1,024 B, 20 MB = 20,971,520 B
/// and 1 GB = 1,073,741,824 B. Every one of these is a field, so a profile with decimal units is
/// a matter of config.
///
/// # Trawl's own requests
/// Beside the classification price, a profile prices the requests Trawl itself makes for a job
/// (S3 LIST and GET, and the KMS Decrypt S3 makes for each SSE-KMS object read). The defaults
/// are AWS's us-east-1 list prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingProfile {
    /// Name of the profile. In config it is the table's key (`[pricing.profiles.NAME]`) and
    /// need not be repeated.
    #[serde(default)]
    pub name: String,
    /// Price of one GB (of `gb_bytes` bytes) of billable data, in USD.
    pub price_per_gb_usd: f64,
    /// Smallest billable size of an object, in bytes; empty objects bill this too.
    pub min_object_bytes: u64,
    /// Largest billable size of an object, in bytes; `None` for no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_object_bytes: Option<u64>,
    /// Bytes in the GB that `price_per_gb_usd` is quoted for.
    #[serde(default = "default_gb_bytes")]
    pub gb_bytes: u64,
    /// Price of 1,000 S3 LIST requests (ListObjectsV2), in USD.
    #[serde(default = "default_s3_list_per_1000_usd")]
    pub s3_list_per_1000_usd: f64,
    /// Price of 1,000 S3 GET requests, in USD.
    #[serde(default = "default_s3_get_per_1000_usd")]
    pub s3_get_per_1000_usd: f64,
    /// Price of 10,000 KMS requests, in USD.
    #[serde(default = "default_kms_per_10000_usd")]
    pub kms_per_10000_usd: f64,
}

fn default_gb_bytes() -> u64 {
    GIB
}

fn default_s3_list_per_1000_usd() -> f64 {
    0.005
}

fn default_s3_get_per_1000_usd() -> f64 {
    0.0004
}

fn default_kms_per_10000_usd() -> f64 {
    0.03
}

impl PricingProfile {
    /// Returns classic Macie's profile: each object billed at least 1 KiB and at most 20 MiB,
    /// at $5 per GiB, with us-east-1 request prices.
    pub fn classic_macie() -> Self {
        Self {
            name: CLASSIC_MACIE.to_string(),
            price_per_gb_usd: 5.0,
            min_object_bytes: KIB,
            max_object_bytes: Some(20 * MIB),
            gb_bytes: default_gb_bytes(),
            s3_list_per_1000_usd: default_s3_list_per_1000_usd(),
            s3_get_per_1000_usd: default_s3_get_per_1000_usd(),
            kms_per_10000_usd: default_kms_per_10000_usd(),
        }
    }

    /// Checks every field and returns the runtime [`Pricing`]; the error names the field.
    pub fn validate(&self) -> Result<Pricing, PricingError> {
        let invalid = |field: &'static str, reason: String| PricingError::InvalidField {
            profile: self.name.clone(),
            field,
            reason,
        };
        if self.name.trim().is_empty() {
            return Err(invalid("name", "must not be empty".to_string()));
        }
        let price = |field: &'static str, usd: f64| -> Result<u64, PricingError> {
            if !usd.is_finite() || usd < 0.0 {
                return Err(invalid(
                    field,
                    format!("must be a price in USD of 0 or more, got {usd}"),
                ));
            }
            if usd > MAX_PRICE_USD {
                return Err(invalid(
                    field,
                    format!("must be at most {MAX_PRICE_USD} USD, got {usd}"),
                ));
            }
            // The one rounding of a price: to the nano-dollar.
            Ok((usd * NANOS_PER_USD as f64).round() as u64)
        };
        let price_per_gb_nano_usd = price("price_per_gb_usd", self.price_per_gb_usd)?;
        let s3_list_per_1000_nano_usd = price("s3_list_per_1000_usd", self.s3_list_per_1000_usd)?;
        let s3_get_per_1000_nano_usd = price("s3_get_per_1000_usd", self.s3_get_per_1000_usd)?;
        let kms_per_10000_nano_usd = price("kms_per_10000_usd", self.kms_per_10000_usd)?;
        if self.gb_bytes == 0 {
            return Err(invalid(
                "gb_bytes",
                "must be at least 1 (1073741824 for AWS's GB, 1000000000 for a decimal one)"
                    .to_string(),
            ));
        }
        let max_object_bytes = match self.max_object_bytes {
            None => u64::MAX,
            Some(0) => {
                return Err(invalid(
                    "max_object_bytes",
                    "must be at least 1; omit it for no per-object cap".to_string(),
                ));
            }
            Some(max) if max < self.min_object_bytes => {
                return Err(invalid(
                    "min_object_bytes",
                    format!(
                        "({}) must not be greater than max_object_bytes ({max})",
                        self.min_object_bytes
                    ),
                ));
            }
            Some(max) => max,
        };
        Ok(Pricing {
            profile: self.clone(),
            price_per_gb_nano_usd,
            min_object_bytes: self.min_object_bytes,
            max_object_bytes,
            gb_bytes: self.gb_bytes,
            s3_list_per_1000_nano_usd,
            s3_get_per_1000_nano_usd,
            kms_per_10000_nano_usd,
        })
    }
}

impl Default for PricingProfile {
    fn default() -> Self {
        Self::classic_macie()
    }
}

/// A validated pricing profile, with prices in integer nano-dollars.
#[derive(Debug, Clone, PartialEq)]
pub struct Pricing {
    profile: PricingProfile,
    price_per_gb_nano_usd: u64,
    min_object_bytes: u64,
    /// `u64::MAX` when the profile has no cap.
    max_object_bytes: u64,
    gb_bytes: u64,
    s3_list_per_1000_nano_usd: u64,
    s3_get_per_1000_nano_usd: u64,
    kms_per_10000_nano_usd: u64,
}

impl Pricing {
    /// Returns classic Macie's pricing, validated.
    pub fn classic_macie() -> Self {
        PricingProfile::classic_macie()
            .validate()
            .expect("the built-in classic Macie profile should be valid")
    }

    /// Returns the profile this pricing was validated from.
    pub fn profile(&self) -> &PricingProfile {
        &self.profile
    }

    /// Returns the profile's name.
    pub fn name(&self) -> &str {
        &self.profile.name
    }

    /// Returns the size an object of `size` bytes is billed for: `size` clamped to the
    /// profile's per-object minimum and maximum (an empty object bills the minimum).
    pub fn billable_bytes(&self, size: u64) -> u64 {
        size.clamp(self.min_object_bytes, self.max_object_bytes)
    }

    /// Returns the cost of classifying `billable_bytes` (already rounded per object), in cents,
    /// rounded half-up from the exact value.
    pub fn classification_cost_cents(&self, billable_bytes: u64) -> u64 {
        // cost in nano-dollars = bytes × price / gb_bytes, exactly.
        let numerator = u128::from(billable_bytes) * u128::from(self.price_per_gb_nano_usd);
        let denominator = u128::from(self.gb_bytes) * NANOS_PER_CENT;
        round_half_up_to_u64(numerator, denominator)
    }

    /// Returns the cost of Trawl's own requests, in cents, rounded half-up from the exact sum.
    pub fn requests_cost_cents(&self, num_list: u64, num_get: u64, num_kms: u64) -> u64 {
        // Over a common denominator of 10,000 requests: LIST and GET prices are per 1,000.
        let numerator = u128::from(num_list) * u128::from(self.s3_list_per_1000_nano_usd) * 10
            + u128::from(num_get) * u128::from(self.s3_get_per_1000_nano_usd) * 10
            + u128::from(num_kms) * u128::from(self.kms_per_10000_nano_usd);
        round_half_up_to_u64(numerator, 10_000 * NANOS_PER_CENT)
    }
}

impl Default for Pricing {
    fn default() -> Self {
        Self::classic_macie()
    }
}

/// Returns `numerator / denominator` rounded half-up, saturating at `u64::MAX`.
fn round_half_up_to_u64(numerator: u128, denominator: u128) -> u64 {
    // (2n + d) / 2d is n/d + 1/2, floored: exact half-up for odd denominators too.
    let rounded = numerator
        .saturating_mul(2)
        .saturating_add(denominator)
        .checked_div(denominator * 2)
        .expect("a pricing denominator should never be zero");
    u64::try_from(rounded).unwrap_or(u64::MAX)
}

/// The `[pricing]` table of Trawl's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingConfig {
    /// Name of the profile used when none is asked for (`profile = "..."` in config).
    #[serde(rename = "profile", default = "default_profile_name")]
    pub default_profile: String,
    /// The user's own profiles by name, besides the built-in `classic-macie`.
    #[serde(default)]
    pub profiles: BTreeMap<String, PricingProfile>,
}

fn default_profile_name() -> String {
    CLASSIC_MACIE.to_string()
}

impl Default for PricingConfig {
    fn default() -> Self {
        Self {
            default_profile: default_profile_name(),
            profiles: BTreeMap::new(),
        }
    }
}

impl PricingConfig {
    /// Reads the `[pricing]` table of a TOML config document; other tables are left to their
    /// owners, and a document without `[pricing]` gives the default configuration.
    pub fn from_toml(text: &str) -> Result<Self, PricingError> {
        #[derive(Deserialize)]
        struct Document {
            #[serde(default)]
            pricing: PricingConfig,
        }
        toml::from_str::<Document>(text)
            .map(|document| document.pricing)
            .map_err(|e| PricingError::Malformed {
                message: e.to_string().trim_end().replace('\n', " "),
            })
    }

    /// Returns the names of every profile, built-in first.
    pub fn profile_names(&self) -> Vec<String> {
        std::iter::once(CLASSIC_MACIE.to_string())
            .chain(self.profiles.keys().cloned())
            .collect()
    }

    /// Validates every profile (so a mistake in an unused one is reported too) and returns the
    /// one named `name_opt`, or the default profile.
    pub fn resolve(&self, name_opt: Option<&str>) -> Result<Pricing, PricingError> {
        let mut validated: BTreeMap<&str, Pricing> = BTreeMap::new();
        for (name, profile) in &self.profiles {
            if name == CLASSIC_MACIE {
                return Err(PricingError::BuiltInRedefined { name: name.clone() });
            }
            if !profile.name.is_empty() && profile.name != *name {
                return Err(PricingError::InvalidField {
                    profile: name.clone(),
                    field: "name",
                    reason: format!(
                        "({:?}) must match the table key, or be left out",
                        profile.name
                    ),
                });
            }
            let mut profile = profile.clone();
            profile.name = name.clone();
            validated.insert(name.as_str(), profile.validate()?);
        }
        let wanted = name_opt.unwrap_or(&self.default_profile);
        if wanted == CLASSIC_MACIE {
            return Ok(Pricing::classic_macie());
        }
        validated
            .remove(wanted)
            .ok_or_else(|| PricingError::UnknownProfile {
                name: wanted.to_string(),
                known: self.profile_names(),
            })
    }

    /// Validates every profile and returns the default one.
    pub fn validate(&self) -> Result<Pricing, PricingError> {
        self.resolve(None)
    }
}

/// Formats whole cents as US dollars with thousands separators: `123456` → `$1,234.56`.
pub fn format_usd_cents(cents: u64) -> String {
    format!("${}.{:02}", group_thousands(cents / 100), cents % 100)
}

/// Formats an integer with `,` between groups of three digits: `1234567` → `1,234,567`.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_profile_clamps_each_object_to_1_kib_and_20_mib() {
        let pricing = Pricing::classic_macie();
        assert_eq!(pricing.name(), "classic-macie");
        assert_eq!(pricing.billable_bytes(0), 1024);
        assert_eq!(pricing.billable_bytes(1), 1024);
        assert_eq!(pricing.billable_bytes(1024), 1024);
        assert_eq!(pricing.billable_bytes(1025), 1025);
        assert_eq!(pricing.billable_bytes(20_971_520), 20_971_520);
        assert_eq!(pricing.billable_bytes(20_971_521), 20_971_520);
        assert_eq!(pricing.billable_bytes(u64::MAX), 20_971_520);
    }

    #[test]
    fn classification_cost_is_exact_then_rounded_half_up_to_the_cent() {
        let pricing = Pricing::classic_macie();
        // 1 GiB at $5 per GiB.
        assert_eq!(pricing.classification_cost_cents(1_073_741_824), 500);
        // 1/1000 GiB is not a whole number of bytes; 1,073,742 B is $0.005000001 → 1 cent,
        // 1,073,741 B is $0.004999997 → 0 cents.
        assert_eq!(pricing.classification_cost_cents(1_073_742), 1);
        assert_eq!(pricing.classification_cost_cents(1_073_741), 0);
        // With a decimal GB, 1,000,000 B at $5 is exactly half a cent: it rounds up.
        let decimal = PricingProfile {
            name: "decimal".into(),
            gb_bytes: 1_000_000_000,
            min_object_bytes: 0,
            max_object_bytes: None,
            ..PricingProfile::classic_macie()
        }
        .validate()
        .unwrap();
        assert_eq!(decimal.classification_cost_cents(1_000_000), 1);
        assert_eq!(decimal.classification_cost_cents(999_999), 0);
        assert_eq!(decimal.classification_cost_cents(3_000_000), 2); // $0.015 → $0.02
        assert_eq!(decimal.billable_bytes(0), 0);
        assert_eq!(decimal.billable_bytes(u64::MAX), u64::MAX);
        // Huge inputs do not overflow.
        assert_eq!(
            decimal.classification_cost_cents(u64::MAX),
            // 18,446,744,073,709,551,615 B = 18,446,744,073.709… GB × $5 = $92,233,720,368.55
            9_223_372_036_855
        );
    }

    #[test]
    fn request_costs_use_default_us_east_1_prices() {
        let pricing = Pricing::classic_macie();
        // 1,000 LIST = $0.005 → 1 cent (half-up); 1,000,000 GET = $0.40; 10,000 KMS = $0.03.
        assert_eq!(pricing.requests_cost_cents(1_000, 0, 0), 1);
        assert_eq!(pricing.requests_cost_cents(999, 0, 0), 0);
        assert_eq!(pricing.requests_cost_cents(0, 1_000_000, 0), 40);
        assert_eq!(pricing.requests_cost_cents(0, 0, 10_000), 3);
        // Summed exactly before rounding: $0.004995 + $0.0002 + $0.000003 = $0.005198 → 1 cent.
        assert_eq!(pricing.requests_cost_cents(999, 500, 1), 1);
    }

    #[test]
    fn user_profile_parses_from_toml_with_defaults_for_request_prices() {
        let config = PricingConfig::from_toml(
            r#"
            [service]
            something = "owned by another part of the config"

            [pricing]
            profile = "macie-v2"

            [pricing.profiles.macie-v2]
            price_per_gb_usd = 1.25
            min_object_bytes = 0

            [pricing.profiles.decimal]
            price_per_gb_usd = 5
            min_object_bytes = 1000
            max_object_bytes = 20000000
            gb_bytes = 1000000000
            s3_get_per_1000_usd = 0.001
            "#,
        )
        .unwrap();
        assert_eq!(config.default_profile, "macie-v2");
        assert_eq!(
            config.profile_names(),
            vec!["classic-macie", "decimal", "macie-v2"]
        );

        let v2 = config.validate().unwrap();
        assert_eq!(v2.name(), "macie-v2");
        assert_eq!(v2.profile().max_object_bytes, None);
        assert_eq!(v2.profile().gb_bytes, 1_073_741_824);
        assert_eq!(v2.profile().s3_list_per_1000_usd, 0.005);
        assert_eq!(v2.billable_bytes(0), 0);
        assert_eq!(v2.billable_bytes(1_073_741_824), 1_073_741_824);
        // 4 GiB at $1.25 = $5.00.
        assert_eq!(v2.classification_cost_cents(4 * 1_073_741_824), 500);

        let decimal = config.resolve(Some("decimal")).unwrap();
        assert_eq!(decimal.billable_bytes(10), 1_000);
        assert_eq!(decimal.billable_bytes(30_000_000), 20_000_000);
        // 2,000 GET at $0.001 per 1,000 = $0.002 → 0 cents; 5,000 GET → $0.005 → 1 cent.
        assert_eq!(decimal.requests_cost_cents(0, 2_000, 0), 0);
        assert_eq!(decimal.requests_cost_cents(0, 5_000, 0), 1);

        let classic = config.resolve(Some("classic-macie")).unwrap();
        assert_eq!(classic, Pricing::classic_macie());
        assert_eq!(
            PricingConfig::from_toml("").unwrap().validate().unwrap(),
            Pricing::classic_macie()
        );
    }

    #[test]
    fn invalid_profiles_name_the_field_at_fault() {
        let err = |profile: PricingProfile| profile.validate().unwrap_err().to_string();
        let base = PricingProfile {
            name: "mine".into(),
            ..PricingProfile::classic_macie()
        };
        assert_eq!(
            err(PricingProfile {
                price_per_gb_usd: -1.0,
                ..base.clone()
            }),
            "pricing profile \"mine\": price_per_gb_usd must be a price in USD of 0 or more, got -1"
        );
        assert!(
            err(PricingProfile {
                kms_per_10000_usd: f64::NAN,
                ..base.clone()
            })
            .contains("kms_per_10000_usd must be a price in USD of 0 or more, got NaN")
        );
        assert!(
            err(PricingProfile {
                s3_get_per_1000_usd: 1e7,
                ..base.clone()
            })
            .contains("s3_get_per_1000_usd must be at most")
        );
        assert_eq!(
            err(PricingProfile {
                min_object_bytes: 2048,
                max_object_bytes: Some(1024),
                ..base.clone()
            }),
            "pricing profile \"mine\": min_object_bytes (2048) must not be greater than max_object_bytes (1024)"
        );
        assert!(
            err(PricingProfile {
                max_object_bytes: Some(0),
                min_object_bytes: 0,
                ..base.clone()
            })
            .contains("max_object_bytes must be at least 1")
        );
        assert!(
            err(PricingProfile {
                gb_bytes: 0,
                ..base.clone()
            })
            .contains("gb_bytes must be at least 1")
        );
        assert!(
            err(PricingProfile {
                name: " ".into(),
                ..base.clone()
            })
            .contains("name must not be empty")
        );
        // A zero price is allowed: a free profile still shows sizes.
        assert!(
            PricingProfile {
                price_per_gb_usd: 0.0,
                ..base
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn invalid_config_is_reported_before_use() {
        // A negative price in a profile that is not the default still fails.
        let config = PricingConfig::from_toml(
            "[pricing.profiles.cheap]\nprice_per_gb_usd = -0.5\nmin_object_bytes = 0",
        )
        .unwrap();
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "pricing profile \"cheap\": price_per_gb_usd must be a price in USD of 0 or more, got -0.5"
        );
        let config = PricingConfig::from_toml(
            "[pricing.profiles.x]\nprice_per_gb_usd = 1\nmin_object_bytes = 30\nmax_object_bytes = 20",
        )
        .unwrap();
        assert!(matches!(
            config.validate(),
            Err(PricingError::InvalidField {
                field: "min_object_bytes",
                ..
            })
        ));
        // Unknown fields, negative sizes and missing fields are parse errors naming the key.
        for (text, needle) in [
            (
                "[pricing.profiles.x]\nprice_per_gb = 1\nmin_object_bytes = 0",
                "price_per_gb",
            ),
            (
                "[pricing.profiles.x]\nprice_per_gb_usd = 1\nmin_object_bytes = -1",
                "min_object_bytes",
            ),
            (
                "[pricing.profiles.x]\nmin_object_bytes = 0",
                "price_per_gb_usd",
            ),
            ("[pricing]\ndefault = \"x\"", "default"),
        ] {
            let err = PricingConfig::from_toml(text).unwrap_err().to_string();
            assert!(
                err.starts_with("malformed [pricing] configuration:"),
                "{err}"
            );
            assert!(err.contains(needle), "{needle}: {err}");
        }
        // Unknown profile names list the known ones.
        let err = PricingConfig::from_toml("[pricing]\nprofile = \"nope\"")
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown pricing profile \"nope\": known profiles are classic-macie"
        );
        // The built-in profile cannot be shadowed.
        let err = PricingConfig::from_toml(
            "[pricing.profiles.classic-macie]\nprice_per_gb_usd = 1\nmin_object_bytes = 0",
        )
        .unwrap()
        .validate()
        .unwrap_err();
        assert!(matches!(err, PricingError::BuiltInRedefined { .. }));
        // A name inside the table must agree with its key.
        let err = PricingConfig::from_toml(
            "[pricing.profiles.a]\nname = \"b\"\nprice_per_gb_usd = 1\nmin_object_bytes = 0",
        )
        .unwrap()
        .validate()
        .unwrap_err();
        assert!(
            err.to_string().contains("must match the table key"),
            "{err}"
        );
    }

    #[test]
    fn money_and_counts_format_for_people() {
        assert_eq!(format_usd_cents(0), "$0.00");
        assert_eq!(format_usd_cents(7), "$0.07");
        assert_eq!(format_usd_cents(1234), "$12.34");
        assert_eq!(format_usd_cents(123_456_789), "$1,234,567.89");
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1000), "1,000");
        assert_eq!(group_thousands(1_234_567), "1,234,567");
    }
}
