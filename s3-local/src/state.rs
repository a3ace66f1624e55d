//! The in-memory model behind [`crate::LocalS3`]: accounts and their credentials, assumed-role
//! sessions, buckets with their objects, KMS key states and role external IDs.
//!
//! Everything lives in one [`State`] behind a `std::sync::RwLock`; handlers take the lock for
//! the duration of one operation and never across an `.await`, so a request sees a consistent
//! snapshot and the lock is never contended for long.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use crate::{KmsKeyState, LocalObject};

/// The region every resource of the fake lives in (ARNs, `x-amz-bucket-region`).
pub(crate) const REGION: &str = "us-east-1";

/// Who is calling: resolved from the access key ID of the request's SigV4 credential scope.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    /// Account the principal acts in.
    pub(crate) account_id: String,
    /// Root credentials of the account, or an assumed-role session.
    pub(crate) kind: PrincipalKind,
}

/// What kind of credentials an access key ID belongs to.
#[derive(Debug, Clone)]
pub(crate) enum PrincipalKind {
    /// Long-term credentials registered with [`crate::LocalS3::add_account`].
    Root,
    /// Temporary credentials issued by AssumeRole.
    Session {
        /// Role name (without path).
        role_name: String,
        /// `RoleSessionName` given to AssumeRole.
        session_name: String,
        /// Must come back as `x-amz-security-token` on every request.
        session_token: String,
        /// After this the credentials are rejected with `ExpiredToken`.
        expires_at: SystemTime,
        /// Stable per role, as AWS's `AROA…` role IDs are.
        role_id: String,
    },
}

impl Principal {
    /// Returns the ARN GetCallerIdentity reports (and error messages name).
    pub(crate) fn arn(&self) -> String {
        match &self.kind {
            PrincipalKind::Root => format!("arn:aws:iam::{}:root", self.account_id),
            PrincipalKind::Session {
                role_name,
                session_name,
                ..
            } => format!(
                "arn:aws:sts::{}:assumed-role/{role_name}/{session_name}",
                self.account_id
            ),
        }
    }

    /// Returns the user ID GetCallerIdentity reports: the account ID for root credentials,
    /// `AROA…:session` for a role session.
    pub(crate) fn user_id(&self) -> String {
        match &self.kind {
            PrincipalKind::Root => self.account_id.clone(),
            PrincipalKind::Session {
                role_id,
                session_name,
                ..
            } => format!("{role_id}:{session_name}"),
        }
    }
}

/// Credentials known to the fake, by access key ID.
#[derive(Debug, Clone)]
pub(crate) struct Credential {
    /// Not checked (signatures are not verified) but kept so the model is complete.
    #[allow(dead_code)]
    pub(crate) secret_access_key: String,
    pub(crate) principal: Principal,
}

/// A bucket's default encryption (PutBucketEncryption / GetBucketEncryption).
#[derive(Debug, Clone)]
pub(crate) struct BucketEncryption {
    /// `AES256`, `aws:kms` or `aws:kms:dsse`.
    pub(crate) sse_algorithm: String,
    /// Key for the `aws:kms*` algorithms; `None` means the AWS managed key.
    pub(crate) kms_key_id: Option<String>,
}

/// One bucket.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    /// Account that owns the bucket; only its principals may use it.
    pub(crate) owner: String,
    pub(crate) created: SystemTime,
    pub(crate) encryption: Option<BucketEncryption>,
    /// Objects by key, ordered as ListObjectsV2 returns them (UTF-8 binary order).
    pub(crate) objects: BTreeMap<String, StoredObject>,
}

/// An object plus what S3 derives from it.
#[derive(Debug, Clone)]
pub(crate) struct StoredObject {
    pub(crate) object: LocalObject,
    /// MD5 of the body in lowercase hex, without quotes.
    pub(crate) etag: String,
}

/// The whole model.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Known account IDs (registered with credentials, or implicitly by owning a bucket).
    pub(crate) accounts: BTreeMap<String, ()>,
    /// Credentials by access key ID: root keys and live or expired sessions.
    pub(crate) credentials: HashMap<String, Credential>,
    /// Buckets by name (names are global, as in S3).
    pub(crate) buckets: BTreeMap<String, Bucket>,
    /// Configured KMS key states by key ID (the part after `key/` in an ARN, or an alias).
    pub(crate) kms_keys: HashMap<String, KmsKeyState>,
    /// External ID a role requires, by role ARN.
    pub(crate) external_ids: HashMap<String, String>,
}

impl State {
    /// Returns the state of a KMS key given by ID, ARN or alias; keys never configured are
    /// [`KmsKeyState::Enabled`].
    pub(crate) fn kms_key_state(&self, key: &str) -> KmsKeyState {
        self.kms_keys
            .get(kms_key_short_id(key))
            .copied()
            .unwrap_or(KmsKeyState::Enabled)
    }
}

/// Returns the key ID of a KMS key ARN (`arn:aws:kms:…:key/ID` → `ID`, `…:alias/x` →
/// `alias/x`), or the input when it is already an ID or alias.
pub(crate) fn kms_key_short_id(key: &str) -> &str {
    if let Some(arn_rest) = key.strip_prefix("arn:") {
        // arn:aws:kms:region:account:key/ID — the resource is the sixth field.
        if let Some(resource) = arn_rest.splitn(5, ':').nth(4) {
            return resource.strip_prefix("key/").unwrap_or(resource);
        }
    }
    key
}

/// Returns the full ARN S3 reports for an object's KMS key: ARNs unchanged, bare key IDs and
/// aliases qualified with the owner's account, and the AWS managed `aws/s3` key (a fixed,
/// per-account fake key ID) when none was given.
pub(crate) fn kms_key_arn(key_opt: Option<&str>, account_id: &str) -> String {
    match key_opt {
        Some(key) if key.starts_with("arn:") => key.to_string(),
        Some(alias) if alias.starts_with("alias/") => {
            format!("arn:aws:kms:{REGION}:{account_id}:{alias}")
        }
        Some(id) => format!("arn:aws:kms:{REGION}:{account_id}:key/{id}"),
        None => format!(
            "arn:aws:kms:{REGION}:{account_id}:key/{}",
            managed_key_id(account_id)
        ),
    }
}

/// Returns the ID of the fake AWS managed `aws/s3` key of an account (UUID-shaped, ending in
/// the account ID).
pub(crate) fn managed_key_id(account_id: &str) -> String {
    format!("00000000-0000-4000-8000-{account_id:0>12}")
}

/// Returns `len` random characters from `alphabet`.
pub(crate) fn random_string(alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| alphabet[fastrand::usize(..alphabet.len())] as char)
        .collect()
}

/// Upper-case letters and digits, as in access key IDs.
pub(crate) const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// Mixed-case letters, digits, `+` and `/`, as in secret keys and session tokens.
pub(crate) const BASE64ISH: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_come_from_arns_ids_and_aliases() {
        assert_eq!(
            kms_key_short_id("arn:aws:kms:us-east-1:111111111111:key/abc-123"),
            "abc-123"
        );
        assert_eq!(
            kms_key_short_id("arn:aws:kms:us-east-1:111111111111:alias/payroll"),
            "alias/payroll"
        );
        assert_eq!(kms_key_short_id("abc-123"), "abc-123");
        assert_eq!(kms_key_short_id("alias/payroll"), "alias/payroll");
    }

    #[test]
    fn arns_qualify_ids_and_default_to_the_managed_key() {
        assert_eq!(
            kms_key_arn(Some("abc"), "111111111111"),
            "arn:aws:kms:us-east-1:111111111111:key/abc"
        );
        assert_eq!(
            kms_key_arn(None, "111111111111"),
            "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-4000-8000-111111111111"
        );
        let arn = "arn:aws:kms:eu-west-1:2:key/x";
        assert_eq!(kms_key_arn(Some(arn), "1"), arn);
    }
}
