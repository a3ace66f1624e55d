//! The job a user submits: which accounts, buckets and prefixes to classify.
//!
//! A job file is TOML or JSON:
//! ```toml
//! name = "nightly"
//! [[accounts]]               # members, reached through STS AssumeRole
//! id = "222222222222"
//! role_name = "TrawlClassification"
//! external_id = "trawl-example"
//! [[selections]]
//! account = "111111111111"   # not listed under [[accounts]]: the master account
//! bucket = "payroll"
//! prefixes = ["2024/", "2025/"]
//! ```
//! [`JobSpec::validate`] checks every account ID (exactly 12 digits) and bucket name (S3's naming
//! rules) and turns the selections into a [`JobPlan`]: one entry per bucket whose prefixes are
//! disjoint, so an object selected through two overlapping prefixes is listed, and classified,
//! once.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Role name assumed in member accounts when the job file names none.
pub const DEFAULT_ROLE_NAME: &str = "TrawlClassificationRole";

/// Errors in a job file or a job's selections. Each names the input at fault.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The file cannot be read.
    #[error("cannot read job file {path}: {source}")]
    Read {
        /// Path of the file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or JSON of the job's shape.
    #[error("malformed job file {path}: {message}")]
    Malformed {
        /// Path of the file.
        path: String,
        /// What the parser said, with line and column where it knows them.
        message: String,
    },
    /// One or more account IDs are not 12 digits.
    #[error("invalid AWS account ID {}: an account ID is exactly 12 digits", .ids.iter().map(|id| format!("{id:?}")).collect::<Vec<_>>().join(", "))]
    InvalidAccountId {
        /// The offending entries, as given.
        ids: Vec<String>,
    },
    /// A bucket name breaks S3's naming rules.
    #[error("invalid bucket name {bucket:?} (account {account}): {reason}")]
    InvalidBucketName {
        /// Account of the selection.
        account: String,
        /// The bucket name as given.
        bucket: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// The job selects nothing.
    #[error("the job selects no bucket: add at least one [[selections]] entry")]
    Empty,
    /// A member account is configured twice with different roles.
    #[error("account {account} is configured twice under [[accounts]]")]
    DuplicateAccount {
        /// The account ID.
        account: String,
    },
}

/// A member account reached through AssumeRole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberAccount {
    /// 12-digit account ID.
    pub id: String,
    /// Role to assume in that account; the ARN is `arn:aws:iam::<id>:role/<role_name>`.
    #[serde(default = "default_role_name")]
    pub role_name: String,
    /// External ID presented with AssumeRole.
    #[serde(default)]
    pub external_id: Option<String>,
}

fn default_role_name() -> String {
    DEFAULT_ROLE_NAME.to_string()
}

/// One bucket (and optionally some of its prefixes) of one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// 12-digit account ID that owns the bucket.
    pub account: String,
    /// Bucket name.
    pub bucket: String,
    /// Key prefixes to classify; empty means the whole bucket.
    #[serde(default)]
    pub prefixes: Vec<String>,
}

/// A job as submitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Human-readable name.
    #[serde(default)]
    pub name: Option<String>,
    /// Member accounts; any selected account not listed here is the master account.
    #[serde(default)]
    pub accounts: Vec<MemberAccount>,
    /// What to classify.
    #[serde(default)]
    pub selections: Vec<Selection>,
    /// Classify only objects created or changed at or after this time (unix ms): a scheduled
    /// run of continuous classification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_since_ms: Option<i64>,
}

/// How one account is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountAccess {
    /// 12-digit account ID.
    pub account: String,
    /// Role ARN to assume; `None` for the master account (default credentials chain).
    pub role_arn: Option<String>,
    /// External ID for AssumeRole.
    pub external_id: Option<String>,
}

/// One bucket to list, with disjoint prefixes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketPlan {
    /// How to reach the owning account.
    pub access: AccountAccess,
    /// Bucket name.
    pub bucket: String,
    /// Disjoint prefixes, sorted; `[""]` is the whole bucket.
    pub prefixes: Vec<String>,
}

/// A validated job: buckets to list, each once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobPlan {
    /// Name of the job.
    pub name: String,
    /// Buckets in a stable order (account, bucket).
    pub buckets: Vec<BucketPlan>,
    /// Only objects modified at or after this time (unix ms), for scheduled runs.
    #[serde(default)]
    pub modified_since_ms: Option<i64>,
}

impl JobSpec {
    /// Reads a job file; `.json` files are JSON, everything else TOML.
    pub fn from_file(path: &Path) -> Result<Self, JobError> {
        let text = std::fs::read_to_string(path).map_err(|source| JobError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
            || text.trim_start().starts_with('{');
        Self::parse(&text, is_json, &path.display().to_string())
    }

    /// Parses job text as JSON or TOML; `origin` names the input in errors.
    pub fn parse(text: &str, is_json: bool, origin: &str) -> Result<Self, JobError> {
        let malformed = |message: String| JobError::Malformed {
            path: origin.to_string(),
            message,
        };
        if is_json {
            serde_json::from_str(text).map_err(|e| malformed(e.to_string()))
        } else {
            toml::from_str(text).map_err(|e| malformed(e.to_string().trim_end().replace('\n', " ")))
        }
    }

    /// Checks every input and returns the plan the coordinator executes.
    pub fn validate(&self) -> Result<JobPlan, JobError> {
        let mut bad_ids: Vec<String> = Vec::new();
        for id in self
            .accounts
            .iter()
            .map(|a| &a.id)
            .chain(self.selections.iter().map(|s| &s.account))
        {
            if !is_account_id(id) && !bad_ids.contains(id) {
                bad_ids.push(id.clone());
            }
        }
        if !bad_ids.is_empty() {
            return Err(JobError::InvalidAccountId { ids: bad_ids });
        }
        if self.selections.is_empty() {
            return Err(JobError::Empty);
        }
        let mut members: BTreeMap<&str, &MemberAccount> = BTreeMap::new();
        for member in &self.accounts {
            if members.insert(member.id.as_str(), member).is_some() {
                return Err(JobError::DuplicateAccount {
                    account: member.id.clone(),
                });
            }
        }
        // (account, bucket) → prefixes; bucket names are global, but keep the account in the key
        // so a mistaken account is reported rather than merged away.
        let mut grouped: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for selection in &self.selections {
            check_bucket_name(&selection.bucket).map_err(|reason| JobError::InvalidBucketName {
                account: selection.account.clone(),
                bucket: selection.bucket.clone(),
                reason,
            })?;
            let entry = grouped
                .entry((selection.account.clone(), selection.bucket.clone()))
                .or_default();
            if selection.prefixes.is_empty() {
                entry.push(String::new());
            } else {
                entry.extend(selection.prefixes.iter().cloned());
            }
        }
        let buckets = grouped
            .into_iter()
            .map(|((account, bucket), prefixes)| {
                let access = match members.get(account.as_str()) {
                    Some(member) => AccountAccess {
                        account: account.clone(),
                        role_arn: Some(role_arn(&account, &member.role_name)),
                        external_id: member.external_id.clone(),
                    },
                    None => AccountAccess {
                        account: account.clone(),
                        role_arn: None,
                        external_id: None,
                    },
                };
                BucketPlan {
                    access,
                    bucket,
                    prefixes: disjoint_prefixes(prefixes),
                }
            })
            .collect();
        Ok(JobPlan {
            name: self.name.clone().unwrap_or_else(|| "job".to_string()),
            buckets,
            modified_since_ms: self.modified_since_ms,
        })
    }
}

/// Returns the ARN of `role_name` in `account`.
pub fn role_arn(account: &str, role_name: &str) -> String {
    format!("arn:aws:iam::{account}:role/{role_name}")
}

/// Returns whether `id` is an AWS account ID: exactly 12 ASCII digits.
pub fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// Parses a comma-separated list of account IDs (spaces tolerated, empty entries ignored).
/// Fails naming every bad entry, so nothing is half-applied.
pub fn parse_account_ids(list: &str) -> Result<Vec<String>, JobError> {
    let mut ids = Vec::new();
    let mut bad = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if is_account_id(entry) {
            if !ids.iter().any(|id| id == entry) {
                ids.push(entry.to_string());
            }
        } else {
            bad.push(entry.to_string());
        }
    }
    if !bad.is_empty() {
        return Err(JobError::InvalidAccountId { ids: bad });
    }
    Ok(ids)
}

/// Checks a bucket name against S3's naming rules for general purpose buckets.
pub fn check_bucket_name(name: &str) -> Result<(), &'static str> {
    if name.len() < 3 || name.len() > 63 {
        return Err("a bucket name is 3 to 63 characters long");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return Err("a bucket name holds only lowercase letters, digits, dots and hyphens");
    }
    let first = name.as_bytes()[0];
    let last = name.as_bytes()[name.len() - 1];
    if !(first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric()) {
        return Err("a bucket name begins and ends with a letter or digit");
    }
    if name.contains("..") {
        return Err("a bucket name has no two adjacent dots");
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Err("a bucket name is not formatted as an IP address");
    }
    if name.starts_with("xn--") || name.starts_with("sthree-") || name.starts_with("amzn-s3-demo-")
    {
        return Err(
            "a bucket name does not start with a reserved prefix (xn--, sthree-, amzn-s3-demo-)",
        );
    }
    if name.ends_with("-s3alias")
        || name.ends_with("--ol-s3")
        || name.ends_with(".mrap")
        || name.ends_with("--x-s3")
    {
        return Err(
            "a bucket name does not end with a reserved suffix (-s3alias, --ol-s3, .mrap, --x-s3)",
        );
    }
    Ok(())
}

/// Reduces prefixes to a sorted, disjoint set: a prefix covered by a shorter selected prefix
/// is dropped, duplicates collapse, and the empty prefix (the whole bucket) covers everything.
pub fn disjoint_prefixes(mut prefixes: Vec<String>) -> Vec<String> {
    prefixes.sort();
    prefixes.dedup();
    let mut kept: Vec<String> = Vec::with_capacity(prefixes.len());
    for prefix in prefixes {
        // Sorted order puts a covering prefix before everything it covers.
        if kept.last().is_some_and(|k| prefix.starts_with(k.as_str())) {
            continue;
        }
        kept.push(prefix);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_prefixes_become_disjoint() {
        let p = |v: &[&str]| disjoint_prefixes(v.iter().map(|s| s.to_string()).collect());
        assert_eq!(p(&["a/b/", "a/", "c/"]), vec!["a/", "c/"]);
        assert_eq!(
            p(&["logs/2024", "logs/2024/01/", "logs/2025"]),
            vec!["logs/2024", "logs/2025"]
        );
        assert_eq!(p(&["x/", "", "y/"]), vec![""]);
        assert_eq!(p(&["a/", "a/"]), vec!["a/"]);
        // "a" covers "ab/" (S3 prefixes are plain string prefixes), "b/" does not cover "bc/".
        assert_eq!(p(&["a", "ab/", "b/", "bc/"]), vec!["a", "b/", "bc/"]);
    }

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(is_account_id("111122223333"));
        assert!(!is_account_id("11112222333"));
        assert!(!is_account_id("1111222233334"));
        assert!(!is_account_id("11112222333a"));
        assert!(!is_account_id("１１１１２２２２３３３３"));
        assert_eq!(
            parse_account_ids(" 111122223333, 444455556666 ,111122223333,").unwrap(),
            vec!["111122223333", "444455556666"]
        );
        let err = parse_account_ids("111122223333,12345,abc").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid AWS account ID \"12345\", \"abc\": an account ID is exactly 12 digits"
        );
    }

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in ["abc", "my-bucket.logs", "a1b2", "x".repeat(63).as_str()] {
            assert!(check_bucket_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "My-Bucket",
            "-abc",
            "abc-",
            "a..b",
            "192.168.1.1",
            "xn--abc",
            "a_b",
            "abc-s3alias",
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn toml_and_json_jobs_parse_to_the_same_plan() {
        let toml = r#"
            name = "n"
            [[accounts]]
            id = "222222222222"
            external_id = "ext"
            [[selections]]
            account = "111111111111"
            bucket = "alpha"
            prefixes = ["a/", "a/b/"]
            [[selections]]
            account = "222222222222"
            bucket = "beta"
        "#;
        let json = r#"{"name": "n", "accounts": [{"id": "222222222222", "external_id": "ext"}],
            "selections": [{"account": "111111111111", "bucket": "alpha", "prefixes": ["a/", "a/b/"]},
                           {"account": "222222222222", "bucket": "beta"}]}"#;
        let a = JobSpec::parse(toml, false, "t")
            .unwrap()
            .validate()
            .unwrap();
        let b = JobSpec::parse(json, true, "j").unwrap().validate().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.buckets.len(), 2);
        assert_eq!(a.buckets[0].prefixes, vec!["a/"]);
        assert_eq!(a.buckets[0].access.role_arn, None);
        assert_eq!(a.buckets[1].prefixes, vec![""]);
        assert_eq!(
            a.buckets[1].access.role_arn.as_deref(),
            Some("arn:aws:iam::222222222222:role/TrawlClassificationRole")
        );
    }

    #[test]
    fn bad_jobs_name_what_is_wrong() {
        let err = JobSpec::parse("selections = [", false, "job.toml").unwrap_err();
        assert!(
            err.to_string().starts_with("malformed job file job.toml:"),
            "{err}"
        );
        let err = JobSpec::parse(
            "[[selections]]\naccount = \"1\"\nbucket = \"b\"\ncolour = 1",
            false,
            "job.toml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
        let spec = JobSpec::parse(
            "[[selections]]\naccount = \"12345678901\"\nbucket = \"bucket\"",
            false,
            "job.toml",
        )
        .unwrap();
        assert!(
            spec.validate()
                .unwrap_err()
                .to_string()
                .contains("\"12345678901\"")
        );
        let spec = JobSpec::parse(
            "[[selections]]\naccount = \"123456789012\"\nbucket = \"Bad_Bucket\"",
            false,
            "job.toml",
        )
        .unwrap();
        let err = spec.validate().unwrap_err().to_string();
        assert!(
            err.contains("Bad_Bucket") && err.contains("123456789012"),
            "{err}"
        );
        assert!(matches!(
            JobSpec::default().validate(),
            Err(JobError::Empty)
        ));
    }
}
