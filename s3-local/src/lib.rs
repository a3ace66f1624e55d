//! An in-process S3-compatible endpoint with STS, for `trawl demo` and tests.
//!
//! [`LocalS3`] is an in-memory model of a few AWS accounts — their credentials, buckets,
//! objects and KMS keys — served over HTTP/1.1 on a local port, so the real `aws-sdk-s3` and
//! `aws-sdk-sts` clients (and therefore Trawl's coordinator and workers) run against it
//! unchanged with `AWS_ENDPOINT_URL` (or `endpoint_url`) pointing at [`LocalS3::serve`]'s URL
//! and path-style addressing.
//!
//! # Layout
//!
//! - this module: the public API — seeding ([`LocalS3::add_account`],
//!   [`LocalS3::create_bucket`], [`LocalS3::put_object`], [`LocalS3::set_kms_key`],
//!   [`LocalS3::require_external_id`]) and [`LocalS3::serve`];
//! - `state`: the model (accounts, sessions, buckets, KMS key states);
//! - `server`: the hyper server, request routing, caller identification and error rendering;
//! - `s3`, `sts`, `kms`: the operations, each answering as AWS documents it.
//!
//! # What is modelled
//!
//! - **Identity.** Signatures are not verified, but the access key ID of the SigV4 credential
//!   scope (`Authorization: AWS4-HMAC-SHA256 Credential=AKID/…`, or `X-Amz-Credential` in a
//!   presigned URL) says who is calling. Root keys come from [`LocalS3::add_account`];
//!   STS AssumeRole into `arn:aws:iam::<account>:role/<name>` issues `ASIA…` session keys that
//!   act in that account (the session token must accompany them, and they expire). An account
//!   sees only its own buckets: anything else is `AccessDenied`.
//! - **S3.** ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketEncryption,
//!   ListObjectsV2, PutObject, HeadObject, GetObject (with `Range`), DeleteObject. Archived
//!   objects (GLACIER, DEEP_ARCHIVE) need a restore, SSE-C objects need the customer key
//!   headers, SSE-KMS objects need a usable key ([`KmsKeyState`]).
//! - **STS.** AssumeRole (with optional per-role external IDs) and GetCallerIdentity.
//! - **KMS.** DescribeKey, reporting each key's [`KmsKeyState`].
//!
//! Unlike S3 since 2023, a new bucket has no default encryption (GetBucketEncryption answers
//! `ServerSideEncryptionConfigurationNotFoundError`) until [`LocalS3::set_bucket_encryption`]
//! sets one, so unencrypted objects can be seeded. HeadObject, as in S3, succeeds on archived
//! objects and does not need KMS.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use trawl_s3_local::{LocalObject, LocalS3};
//!
//! let s3 = LocalS3::new();
//! s3.add_account("111111111111", "AKIAMASTER", "secret");
//! s3.create_bucket("111111111111", "payroll").expect("a new bucket");
//! s3.put_object("payroll", LocalObject::new("2025/staff.csv", "name,ssn\n"))
//!     .expect("the bucket exists");
//! let (url, handle) = s3.serve(([127, 0, 0, 1], 0).into()).await?;
//! // point the SDK at `url` with force_path_style(true) and the AKIAMASTER credentials…
//! handle.shutdown().await;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod kms;
mod s3;
mod server;
mod state;
mod sts;
mod xml;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use server::ServerHandle;
use state::{Bucket, BucketEncryption, Credential, Principal, PrincipalKind, State, StoredObject};

/// Errors from seeding the model directly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocalS3Error {
    /// The name breaks S3's bucket naming rules.
    #[error("invalid bucket name {bucket:?}")]
    InvalidBucketName {
        /// The rejected name.
        bucket: String,
    },
    /// Another account owns a bucket with this name.
    #[error("bucket {bucket} already exists in account {owner}")]
    BucketAlreadyExists {
        /// Bucket name.
        bucket: String,
        /// Owning account.
        owner: String,
    },
    /// The same account already owns the bucket.
    #[error("bucket {bucket} is already owned by you")]
    BucketAlreadyOwnedByYou {
        /// Bucket name.
        bucket: String,
    },
    /// No bucket has this name.
    #[error("no such bucket {bucket}")]
    NoSuchBucket {
        /// Bucket name.
        bucket: String,
    },
    /// The object's key is empty or longer than 1,024 bytes.
    #[error("invalid object key {key:?}")]
    InvalidKey {
        /// The rejected key.
        key: String,
    },
}

/// The result type of [`LocalS3`]'s seeding methods.
pub type Result<T, E = LocalS3Error> = std::result::Result<T, E>;

/// What happens when S3 needs a KMS key to decrypt an object (GetObject), and what KMS
/// DescribeKey reports for it. Keys never configured with [`LocalS3::set_kms_key`] are
/// [`KmsKeyState::Enabled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmsKeyState {
    /// Usable: objects decrypt.
    Enabled,
    /// Disabled: GetObject fails with 400 `KMS.DisabledException`.
    Disabled,
    /// Scheduled for deletion: GetObject fails with 400 `KMS.KMSInvalidStateException`.
    PendingDeletion,
    /// Deleted or never existed: GetObject fails with 400 `KMS.NotFoundException`.
    Missing,
    /// The caller may not use it: GetObject fails with 403 `AccessDenied` naming kms:Decrypt.
    Denied,
}

/// An object to seed with [`LocalS3::put_object`] (and what PutObject stores).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalObject {
    /// Object key.
    pub key: String,
    /// Content.
    pub body: Bytes,
    /// `x-amz-storage-class` (`None` or `STANDARD` for S3 Standard, `GLACIER`, …).
    pub storage_class: Option<String>,
    /// Whether an archived object (GLACIER, DEEP_ARCHIVE) has a completed restore, which
    /// makes it readable and adds `x-amz-restore` to its headers.
    pub restored: bool,
    /// `AES256`, `aws:kms` or `aws:kms:dsse`; `None` takes the bucket's default encryption.
    pub server_side_encryption: Option<String>,
    /// KMS key (ID, alias or ARN) for `aws:kms*`; `None` means the AWS managed `aws/s3` key.
    /// Stored and reported as a full ARN.
    pub kms_key_id: Option<String>,
    /// SSE-C algorithm (`AES256`): reading the object then needs the customer key headers.
    pub sse_customer_algorithm: Option<String>,
    /// Base64 MD5 of the SSE-C key; when set, a GetObject with a different key MD5 is denied.
    pub sse_customer_key_md5: Option<String>,
    /// User metadata, served as `x-amz-meta-<name>` (names are lower-cased).
    pub metadata: BTreeMap<String, String>,
    /// Last-Modified; `None` means the time of the put. Truncated to whole seconds.
    pub last_modified: Option<SystemTime>,
    /// Content-Type; `None` serves `binary/octet-stream`, as S3 does.
    pub content_type: Option<String>,
}

impl LocalObject {
    /// Returns a plain S3 Standard object with no encryption or metadata.
    pub fn new(key: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Self {
            key: key.into(),
            body: body.into(),
            storage_class: None,
            restored: false,
            server_side_encryption: None,
            kms_key_id: None,
            sse_customer_algorithm: None,
            sse_customer_key_md5: None,
            metadata: BTreeMap::new(),
            last_modified: None,
            content_type: None,
        }
    }

    /// Returns whether the storage class keeps the object in an archive tier that needs a
    /// restore before GetObject.
    pub fn is_archived(&self) -> bool {
        matches!(
            self.storage_class.as_deref(),
            Some("GLACIER" | "DEEP_ARCHIVE")
        )
    }
}

/// An in-memory S3 + STS (+ KMS DescribeKey) shared by the seeding API and any number of
/// servers. Cloning is cheap and shares the model.
#[derive(Debug, Clone, Default)]
pub struct LocalS3 {
    /// The model. Locked per operation, never across an `.await`.
    state: Arc<RwLock<State>>,
}

impl LocalS3 {
    /// Returns an empty model: no accounts, no buckets.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave the model half-updated in a way that
        // matters to a fake, so poisoning is ignored.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers an account and long-term ("root") credentials acting in it. An account may
    /// have several keys; registering a known key again moves it to `account_id`.
    pub fn add_account(&self, account_id: &str, access_key_id: &str, secret_access_key: &str) {
        let mut state = self.write();
        state.accounts.insert(account_id.to_string(), ());
        state.credentials.insert(
            access_key_id.to_string(),
            Credential {
                secret_access_key: secret_access_key.to_string(),
                principal: Principal {
                    account_id: account_id.to_string(),
                    kind: PrincipalKind::Root,
                },
            },
        );
    }

    /// Creates a bucket owned by `account_id` (registering the account if it is new, so a
    /// member account reached only through AssumeRole needs no keys of its own).
    pub fn create_bucket(&self, account_id: &str, bucket: &str) -> Result<()> {
        self.write().create_bucket(account_id, bucket)
    }

    /// Sets a bucket's default encryption: objects put without SSE headers get it, and
    /// GetBucketEncryption reports it. `kms_key_id` applies to `aws:kms*`.
    pub fn set_bucket_encryption(
        &self,
        bucket: &str,
        sse_algorithm: &str,
        kms_key_id: Option<&str>,
    ) -> Result<()> {
        let mut state = self.write();
        let entry = state
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| LocalS3Error::NoSuchBucket {
                bucket: bucket.to_string(),
            })?;
        entry.encryption = Some(BucketEncryption {
            sse_algorithm: sse_algorithm.to_string(),
            kms_key_id: kms_key_id.map(str::to_string),
        });
        Ok(())
    }

    /// Stores an object directly, as PutObject would (bucket default encryption applies,
    /// replacing any object with the same key).
    pub fn put_object(&self, bucket: &str, object: LocalObject) -> Result<()> {
        self.write().put_object(bucket, object)
    }

    /// Returns an object as stored (KMS key IDs as ARNs, Last-Modified set), ignoring
    /// ownership and encryption.
    pub fn object(&self, bucket: &str, key: &str) -> Option<LocalObject> {
        let state = self.read();
        let stored = state.buckets.get(bucket)?.objects.get(key)?;
        Some(stored.object.clone())
    }

    /// Returns the names of the buckets an account owns, in order.
    pub fn buckets(&self, account_id: &str) -> Vec<String> {
        let state = self.read();
        state
            .buckets
            .iter()
            .filter(|(_, bucket)| bucket.owner == account_id)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Sets the state of a KMS key, given by ID, alias or ARN.
    pub fn set_kms_key(&self, key_id: &str, key_state: KmsKeyState) {
        let short_id = state::kms_key_short_id(key_id).to_string();
        self.write().kms_keys.insert(short_id, key_state);
    }

    /// Makes AssumeRole into `role_arn` require this external ID (`AccessDenied` otherwise).
    pub fn require_external_id(&self, role_arn: &str, external_id: &str) {
        self.write()
            .external_ids
            .insert(role_arn.to_string(), external_id.to_string());
    }

    /// Serves the model on `addr` (port 0 picks a free port) until the returned handle is
    /// shut down or dropped. Returns the endpoint URL (`http://127.0.0.1:PORT`) and the handle.
    pub async fn serve(&self, addr: SocketAddr) -> io::Result<(String, ServerHandle)> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let url = format!("http://{local_addr}");
        let shutdown = CancellationToken::new();
        let task: JoinHandle<()> = tokio::spawn(server::accept_loop(
            listener,
            self.clone(),
            shutdown.clone(),
        ));
        Ok((
            url.clone(),
            ServerHandle::new(url, local_addr, shutdown, task),
        ))
    }

    /// Serves the model on a free port of 127.0.0.1; see [`LocalS3::serve`].
    pub async fn serve_local(&self) -> io::Result<(String, ServerHandle)> {
        self.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }
}

impl State {
    pub(crate) fn create_bucket(&mut self, account_id: &str, bucket: &str) -> Result<()> {
        if !is_valid_bucket_name(bucket) {
            return Err(LocalS3Error::InvalidBucketName {
                bucket: bucket.to_string(),
            });
        }
        if let Some(existing) = self.buckets.get(bucket) {
            return Err(if existing.owner == account_id {
                LocalS3Error::BucketAlreadyOwnedByYou {
                    bucket: bucket.to_string(),
                }
            } else {
                LocalS3Error::BucketAlreadyExists {
                    bucket: bucket.to_string(),
                    owner: existing.owner.clone(),
                }
            });
        }
        self.accounts.insert(account_id.to_string(), ());
        self.buckets.insert(
            bucket.to_string(),
            Bucket {
                owner: account_id.to_string(),
                created: now_secs(),
                encryption: None,
                objects: BTreeMap::new(),
            },
        );
        Ok(())
    }

    pub(crate) fn put_object(&mut self, bucket: &str, mut object: LocalObject) -> Result<()> {
        if object.key.is_empty() || object.key.len() > 1024 {
            return Err(LocalS3Error::InvalidKey { key: object.key });
        }
        let entry = self
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| LocalS3Error::NoSuchBucket {
                bucket: bucket.to_string(),
            })?;
        if object.server_side_encryption.is_none()
            && object.sse_customer_algorithm.is_none()
            && let Some(default) = &entry.encryption
        {
            object.server_side_encryption = Some(default.sse_algorithm.clone());
            if object.kms_key_id.is_none() {
                object.kms_key_id = default.kms_key_id.clone();
            }
        }
        match object.server_side_encryption.as_deref() {
            Some(sse) if sse.starts_with("aws:kms") => {
                object.kms_key_id = Some(state::kms_key_arn(
                    object.kms_key_id.as_deref(),
                    &entry.owner,
                ));
            }
            _ => object.kms_key_id = None,
        }
        if object.storage_class.as_deref() == Some("STANDARD") {
            object.storage_class = None;
        }
        object.last_modified = Some(truncate_to_secs(
            object.last_modified.unwrap_or_else(SystemTime::now),
        ));
        let etag = md5_hex(&object.body);
        entry
            .objects
            .insert(object.key.clone(), StoredObject { object, etag });
        Ok(())
    }
}

/// Returns whether `name` follows S3's general-purpose bucket naming rules (3–63 characters
/// of lower-case letters, digits, `.` and `-`, starting and ending with a letter or digit, no
/// `..`, not an IP address).
pub(crate) fn is_valid_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
}

/// Returns the lowercase hex MD5 of `body` (S3's ETag for a single-part upload).
pub(crate) fn md5_hex(body: &[u8]) -> String {
    use md5::Digest as _;
    let digest = md5::Md5::digest(body);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Returns the current time truncated to whole seconds.
pub(crate) fn now_secs() -> SystemTime {
    truncate_to_secs(SystemTime::now())
}

fn truncate_to_secs(time: SystemTime) -> SystemTime {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for good in ["abc", "payroll-exports", "a.b-c1", &"a".repeat(63)] {
            assert!(is_valid_bucket_name(good), "{good}");
        }
        for bad in [
            "ab",
            "Payroll",
            "-abc",
            "abc-",
            "a..b",
            "a_b",
            "192.168.1.1",
            &"a".repeat(64),
        ] {
            assert!(!is_valid_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn etag_is_md5_hex() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"hello"), "5d41402abc4b2a76b9719d911017c592");
    }

    #[test]
    fn bucket_default_encryption_applies_to_seeded_objects() {
        let s3 = LocalS3::new();
        s3.create_bucket("111111111111", "enc-bucket").unwrap();
        s3.set_bucket_encryption("enc-bucket", "aws:kms", Some("k1"))
            .unwrap();
        s3.put_object("enc-bucket", LocalObject::new("a", "x"))
            .unwrap();
        let stored = s3.object("enc-bucket", "a").unwrap();
        assert_eq!(stored.server_side_encryption.as_deref(), Some("aws:kms"));
        assert_eq!(
            stored.kms_key_id.as_deref(),
            Some("arn:aws:kms:us-east-1:111111111111:key/k1")
        );
        assert!(stored.last_modified.is_some());
    }

    #[test]
    fn bucket_names_are_global() {
        let s3 = LocalS3::new();
        s3.create_bucket("111111111111", "shared-name").unwrap();
        assert_eq!(
            s3.create_bucket("111111111111", "shared-name"),
            Err(LocalS3Error::BucketAlreadyOwnedByYou {
                bucket: "shared-name".into()
            })
        );
        assert!(matches!(
            s3.create_bucket("222222222222", "shared-name"),
            Err(LocalS3Error::BucketAlreadyExists { .. })
        ));
        assert_eq!(s3.buckets("111111111111"), vec!["shared-name".to_string()]);
        assert!(s3.buckets("222222222222").is_empty());
    }
}
