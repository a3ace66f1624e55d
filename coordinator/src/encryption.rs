//! Review pre-flight for encryption: each bucket's default encryption, and whether the workers'
//! role can use the KMS keys found, before a job spends anything.
//!
//! [`bucket_encryption_preflight`] reads a bucket's default encryption (GetBucketEncryption)
//! with the workers' credentials for its account and, when it names a KMS key, checks that key
//! with [`kms_key_preflight`]: DescribeKey as the workers' role, which must answer and report the
//! key `Enabled`. A key that fails comes with the command that fixes it: a grant
//! ([`grant_command`]) when the role may not use the key, `enable-key` or
//! `cancel-key-deletion` when the key is disabled or pending deletion.
//!
//! DescribeKey being allowed does not prove `kms:Decrypt` is (only a decrypt can, and there is
//! nothing to decrypt before a job runs); a refused DescribeKey, or a key that is not enabled,
//! proves the workers will be refused. The workers record what S3 answers in any case.

use aws_sdk_kms::error::ProvideErrorMetadata as _;
use serde::Serialize;
use trawl_common::aws::{S3Clients, describe_kms_key};
use trawl_common::job::AccountAccess;
use trawl_common::s3_error::display_chain;

/// The grantee named in fixes for the master account, whose principal Trawl cannot name.
pub const MASTER_PRINCIPAL_PLACEHOLDER: &str = "<ARN of the IAM role or user the workers run as>";

/// A bucket's default encryption and the usability of its KMS key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BucketEncryptionReport {
    /// Account that owns the bucket.
    pub account: String,
    /// Bucket.
    pub bucket: String,
    /// Default encryption: `NONE`, `AES256`, `aws:kms` or `aws:kms:dsse`; `None` when it could
    /// not be read (see `error`).
    pub default_encryption: Option<String>,
    /// Whether S3 Bucket Keys are on for the default encryption.
    pub bucket_key_enabled: Option<bool>,
    /// The default KMS key, checked.
    pub kms_key: Option<KmsKeyCheck>,
    /// Why the default encryption could not be read.
    pub error: Option<String>,
}

impl BucketEncryptionReport {
    /// Returns whether the workers may be unable to read objects under the default encryption.
    pub fn has_problem(&self) -> bool {
        self.error.is_some() || self.kms_key.as_ref().is_some_and(|k| !k.usable)
    }
}

/// A KMS key as the workers' role sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KmsKeyCheck {
    /// Key ARN (DescribeKey's, or built from the key ID, the account and the region).
    pub key_arn: String,
    /// DescribeKey's key state, `NotFound`, `AccessDenied`, or empty if DescribeKey failed
    /// otherwise.
    pub state: String,
    /// Whether the workers' role can use the key, as far as DescribeKey tells.
    pub usable: bool,
    /// What is wrong, when not usable.
    pub problem: Option<String>,
    /// The command that fixes it, when there is one.
    pub fix: Option<String>,
}

/// Reads `bucket`'s default encryption with the credentials for `access` and checks its KMS
/// key, if any.
pub async fn bucket_encryption_preflight(
    clients: &S3Clients,
    access: &AccountAccess,
    bucket: &str,
) -> BucketEncryptionReport {
    let s3 = clients.client(access).await;
    let mut report = BucketEncryptionReport {
        account: access.account.clone(),
        bucket: bucket.to_string(),
        default_encryption: None,
        bucket_key_enabled: None,
        kms_key: None,
        error: None,
    };
    let output = match s3.get_bucket_encryption().bucket(bucket).send().await {
        Ok(output) => output,
        Err(error) if error.code() == Some("ServerSideEncryptionConfigurationNotFoundError") => {
            report.default_encryption = Some("NONE".into());
            return report;
        }
        Err(error) => {
            report.error = Some(format!(
                "GetBucketEncryption s3://{bucket}: {}",
                display_chain(&error)
            ));
            return report;
        }
    };
    let rule = output
        .server_side_encryption_configuration()
        .and_then(|c| c.rules().first());
    let default = rule.and_then(|r| r.apply_server_side_encryption_by_default());
    let Some(default) = default else {
        report.default_encryption = Some("NONE".into());
        return report;
    };
    let algorithm = default.sse_algorithm().as_str().to_string();
    report.bucket_key_enabled = rule.and_then(|r| r.bucket_key_enabled());
    if algorithm.starts_with("aws:kms") {
        // No key named: the AWS managed key `aws/s3` of the bucket's account.
        let key_id = default.kms_master_key_id().unwrap_or("alias/aws/s3");
        report.kms_key = Some(kms_key_preflight(clients, access, key_id).await);
    }
    report.default_encryption = Some(algorithm);
    report
}

/// Checks one KMS key (an ID, alias or ARN) with DescribeKey as the workers' role for
/// `access`.
pub async fn kms_key_preflight(
    clients: &S3Clients,
    access: &AccountAccess,
    key_id: &str,
) -> KmsKeyCheck {
    let kms = clients
        .kms_client_for(access.role_arn.as_deref(), access.external_id.as_deref())
        .await;
    let grantee = access
        .role_arn
        .clone()
        .unwrap_or_else(|| MASTER_PRINCIPAL_PLACEHOLDER.to_string());
    let key = describe_kms_key(&kms, key_id, &access.account).await;
    let arn = key.arn;
    let (problem, fix) = match key.state.as_str() {
        "Enabled" => (None, None),
        // The AWS managed key is created on first use; the account's own principals may
        // always use it.
        "NotFound" if key_id == "alias/aws/s3" => {
            return KmsKeyCheck {
                key_arn: arn,
                state: String::new(),
                usable: true,
                problem: None,
                fix: None,
            };
        }
        "Disabled" => (
            Some(format!("key {arn} is disabled")),
            Some(format!(
                "aws kms enable-key --key-id {arn} --region {}",
                arn_region(&arn)
            )),
        ),
        "PendingDeletion" | "PendingReplicaDeletion" => (
            Some(format!("key {arn} is pending deletion")),
            Some(format!(
                "aws kms cancel-key-deletion --key-id {arn} --region {region} && \
                 aws kms enable-key --key-id {arn} --region {region}",
                region = arn_region(&arn)
            )),
        ),
        "NotFound" => (
            Some(format!(
                "key {arn} does not exist: objects encrypted under it cannot be read by anyone"
            )),
            None,
        ),
        "AccessDenied" => (
            Some(format!("the workers' role {grantee} may not use key {arn}")),
            Some(grant_command(&arn, &grantee)),
        ),
        "" => (
            Some(format!(
                "DescribeKey {arn} failed: {}",
                key.error.as_deref().unwrap_or("no key state")
            )),
            None,
        ),
        other => (Some(format!("key {arn} is {other}")), None),
    };
    KmsKeyCheck {
        usable: problem.is_none(),
        key_arn: arn,
        state: key.state,
        problem,
        fix,
    }
}

/// Returns the AWS CLI command that lets `role_arn` decrypt with `key_arn` (run it with the key
/// owner's credentials; the region is the key's).
pub fn grant_command(key_arn: &str, role_arn: &str) -> String {
    format!(
        "aws kms create-grant --key-id {key_arn} --grantee-principal {role_arn} \
         --operations Decrypt DescribeKey --name trawl-classification --region {}",
        arn_region(key_arn)
    )
}

/// Returns the region of an ARN (`arn:aws:kms:<region>:…`), or `us-east-1`.
fn arn_region(arn: &str) -> &str {
    arn.split(':')
        .nth(3)
        .filter(|r| !r.is_empty())
        .unwrap_or("us-east-1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use trawl_common::aws::kms_key_arn;

    #[test]
    fn the_grant_names_the_key_the_role_and_the_key_region() {
        assert_eq!(
            grant_command(
                "arn:aws:kms:eu-west-1:222222222222:key/1234",
                "arn:aws:iam::222222222222:role/TrawlClassificationRole"
            ),
            "aws kms create-grant --key-id arn:aws:kms:eu-west-1:222222222222:key/1234 \
             --grantee-principal arn:aws:iam::222222222222:role/TrawlClassificationRole \
             --operations Decrypt DescribeKey --name trawl-classification --region eu-west-1"
        );
    }

    #[test]
    fn key_ids_and_aliases_become_arns() {
        assert_eq!(
            kms_key_arn("k-1", "us-west-2", "111111111111"),
            "arn:aws:kms:us-west-2:111111111111:key/k-1"
        );
        assert_eq!(
            kms_key_arn("alias/x", "us-west-2", "111111111111"),
            "arn:aws:kms:us-west-2:111111111111:alias/x"
        );
        assert_eq!(arn_region("arn:aws:kms:ap-south-1:1:key/k"), "ap-south-1");
        assert_eq!(arn_region("nonsense"), "us-east-1");
    }
}
