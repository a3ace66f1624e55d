//! Encryption and storage-class cases (issue 6): one test per row of the decision table in
//! `ARCHITECTURE.md`, with real `trawl coordinator` and `trawl worker` processes.
//!
//! The coordinator lists moto directly; the workers talk to the strict S3 front
//! ([`crate::strict_s3`]), which refuses the reads S3 refuses and moto serves (SSE-C, KMS keys
//! disabled, pending deletion, missing or denied), so the real `aws-sdk-s3` client and the
//! worker's error mapping are exercised. Key states are moto's own (DescribeKey), set through
//! `aws-sdk-kms`. Per-bucket counts are checked exactly, and so are the result records'
//! encryption metadata.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ServerSideEncryption, StorageClass};
use trawl_common::store::{JobStatus, JobStore, RedisStore};
use trawl_proto::v1::ObjectResult;

use crate::strict_s3::StrictS3;
use crate::support::*;

/// A KMS client on moto with the master account's credentials.
fn kms_master() -> aws_sdk_kms::Client {
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .endpoint_url(AWS_ENDPOINT)
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

/// Creates a KMS key (with `policy`, if any) and returns (key ID, key ARN).
async fn create_key(kms: &aws_sdk_kms::Client, policy: Option<String>) -> (String, String) {
    let key = kms
        .create_key()
        .set_policy(policy)
        .send()
        .await
        .expect("creating a KMS key on moto should succeed");
    let metadata = key.key_metadata().expect("CreateKey returns the key");
    (
        metadata.key_id().to_string(),
        metadata.arn().unwrap().to_string(),
    )
}

/// One object to upload, with how it is encrypted.
struct Put {
    key: &'static str,
    body: Vec<u8>,
    sse: Option<ServerSideEncryption>,
    kms_key_id: Option<String>,
    metadata: Vec<(&'static str, String)>,
    storage_class: Option<StorageClass>,
}

impl Put {
    fn plain(key: &'static str, body: &[u8]) -> Self {
        Self {
            key,
            body: body.to_vec(),
            sse: None,
            kms_key_id: None,
            metadata: Vec::new(),
            storage_class: None,
        }
    }

    fn kms(key: &'static str, body: &[u8], key_id: &str) -> Self {
        Self {
            sse: Some(ServerSideEncryption::AwsKms),
            kms_key_id: Some(key_id.to_string()),
            ..Self::plain(key, body)
        }
    }
}

async fn put_all(s3: &aws_sdk_s3::Client, bucket: &str, puts: &[Put]) {
    for put in puts {
        let mut request = s3
            .put_object()
            .bucket(bucket)
            .key(put.key)
            .body(ByteStream::from(put.body.clone()))
            .set_server_side_encryption(put.sse.clone())
            .set_ssekms_key_id(put.kms_key_id.clone())
            .set_storage_class(put.storage_class.clone());
        for (name, value) in &put.metadata {
            request = request.metadata(*name, value);
        }
        request
            .send()
            .await
            .unwrap_or_else(|e| panic!("uploading {} should succeed: {e:?}", put.key));
    }
}

/// What a finished job left: its bucket-scoped counters and its records by key.
struct Outcome {
    counts: BTreeMap<String, i64>,
    stats: BTreeMap<String, i64>,
    records: HashMap<String, ObjectResult>,
}

/// The bucket-scoped counter families checked exactly.
const EXACT: [&str; 10] = [
    "objects_dispatched",
    "objects_classified",
    "objects_skipped",
    "objects_failed",
    "bytes_classified",
    "bytes_skipped",
    "bytes_failed",
    "billable_bytes",
    "encryption:",
    "reason:",
];

/// Runs a job over `bucket` with a coordinator on moto and a worker behind the strict front.
async fn run_job(name: &str, bucket: &str, front: &StrictS3) -> Outcome {
    let env = TestEnv::new(name);
    let _coordinator = env.spawn(&["coordinator"]);
    let mut worker_env = env.clone();
    worker_env
        .extra
        .push(("AWS_ENDPOINT_URL".into(), front.url().to_string()));
    let _worker = worker_env.spawn(&["worker", "--concurrency", "4"]);
    let job_file = temp_file(
        "job.toml",
        &format!("[[selections]]\naccount = \"{MASTER}\"\nbucket = \"{bucket}\"\n"),
    );
    let store: RedisStore = env.store().await;
    let job_id = submit(&env, &job_file).await;
    assert_eq!(
        wait_terminal(&store, &job_id, Duration::from_secs(120)).await,
        JobStatus::Complete
    );
    let stats = store.stats(&job_id).await.unwrap();
    let prefix = format!("bucket:{bucket}:");
    let counts = stats
        .iter()
        .filter_map(|(name, value)| {
            let counter = name.strip_prefix(&prefix)?;
            EXACT
                .iter()
                .any(|family| counter.starts_with(family))
                .then(|| (counter.to_string(), *value))
        })
        .collect();
    let records = store
        .results(&job_id, "0", 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, record)| (record.key.clone(), record))
        .collect();
    Outcome {
        counts,
        stats,
        records,
    }
}

fn counts(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// Body without anything sensitive, so no detections or findings are counted.
const TEXT: &[u8] = b"the quick brown fox jumps over the lazy dog\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unencrypted_and_sse_s3_objects_are_classified() {
    let s3 = s3_master();
    let bucket = unique("enc-none");
    create_bucket(&s3, &bucket).await;
    put_all(
        &s3,
        &bucket,
        &[
            Put::plain("plain-1.txt", TEXT),
            Put::plain("plain-2.txt", TEXT),
            Put {
                sse: Some(ServerSideEncryption::Aes256),
                ..Put::plain("sse-s3.txt", TEXT)
            },
        ],
    )
    .await;
    let front = StrictS3::start().await;
    let outcome = run_job("enc-none", &bucket, &front).await;
    let n = TEXT.len() as i64;
    assert_eq!(
        outcome.counts,
        counts(&[
            ("objects_dispatched", 3),
            ("objects_classified", 3),
            ("bytes_classified", 3 * n),
            ("billable_bytes", 3 * 1024),
            ("encryption:unencrypted", 2),
            ("encryption:s3Managed", 1),
        ])
    );
    assert_eq!(outcome.records["plain-1.txt"].status, "COMPLETE");
    let sse_s3 = outcome.records["sse-s3.txt"].encryption.clone().unwrap();
    assert_eq!(sse_s3.r#type, "AES256");
    assert_eq!(
        outcome.records["plain-2.txt"]
            .encryption
            .clone()
            .unwrap()
            .r#type,
        "NONE"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_kms_and_dsse_kms_with_a_usable_key_are_classified_with_the_key_arn() {
    let s3 = s3_master();
    let kms = kms_master();
    let bucket = unique("enc-kms");
    create_bucket(&s3, &bucket).await;
    let (key_id, key_arn) = create_key(&kms, None).await;
    let alias = format!("alias/{}", unique("trawl"));
    kms.create_alias()
        .alias_name(&alias)
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();
    put_all(
        &s3,
        &bucket,
        &[
            Put::kms("by-id.txt", TEXT, &key_id),
            Put::kms("by-alias.txt", TEXT, &alias),
            Put::kms("by-arn.txt", TEXT, &key_arn),
            Put {
                sse: Some(ServerSideEncryption::AwsKmsDsse),
                ..Put::kms("dsse.txt", TEXT, &key_id)
            },
        ],
    )
    .await;
    let front = StrictS3::start().await;
    let outcome = run_job("enc-kms", &bucket, &front).await;
    let n = TEXT.len() as i64;
    assert_eq!(
        outcome.counts,
        counts(&[
            ("objects_dispatched", 4),
            ("objects_classified", 4),
            ("bytes_classified", 4 * n),
            ("billable_bytes", 4 * 1024),
            ("encryption:kmsManaged", 4),
        ])
    );
    for key in ["by-id.txt", "by-alias.txt", "by-arn.txt"] {
        let record = &outcome.records[key];
        assert_eq!(record.status, "COMPLETE", "{key}");
        let encryption = record.encryption.clone().unwrap();
        assert_eq!(encryption.r#type, "aws:kms", "{key}");
        assert_eq!(
            encryption.kms_key_arn, key_arn,
            "{key}: key IDs and aliases become ARNs"
        );
        assert_eq!(encryption.kms_key_state, "Enabled", "{key}");
    }
    let dsse = outcome.records["dsse.txt"].encryption.clone().unwrap();
    assert_eq!(dsse.r#type, "aws:kms:dsse");
    assert_eq!(outcome.records["dsse.txt"].status, "COMPLETE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kms_key_the_workers_may_not_use_is_invalid_encryption() {
    let s3 = s3_master();
    let kms = kms_master();
    let bucket = unique("enc-denied");
    create_bucket(&s3, &bucket).await;
    let deny_all = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyEveryone",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "kms:*",
            "Resource": "*"
        }]
    })
    .to_string();
    let (key_id, key_arn) = create_key(&kms, Some(deny_all)).await;
    put_all(
        &s3,
        &bucket,
        &[
            Put::kms("denied.txt", TEXT, &key_id),
            Put::plain("readable.txt", TEXT),
        ],
    )
    .await;
    let front = StrictS3::start().await;
    let outcome = run_job("enc-denied", &bucket, &front).await;
    let n = TEXT.len() as i64;
    assert_eq!(
        outcome.counts,
        counts(&[
            ("objects_dispatched", 2),
            ("objects_classified", 1),
            ("objects_skipped", 1),
            ("bytes_classified", n),
            ("bytes_skipped", n),
            ("billable_bytes", 1024),
            ("encryption:kmsManaged", 1),
            ("encryption:unencrypted", 1),
            ("reason:INVALID_ENCRYPTION", 1),
        ])
    );
    let record = &outcome.records["denied.txt"];
    assert_eq!(record.status, "SKIPPED");
    assert_eq!(record.reason, "INVALID_ENCRYPTION");
    assert!(record.detail.contains("kms:Decrypt"), "{}", record.detail);
    assert_eq!(record.size, n as u64);
    assert!(!record.etag.is_empty());
    let encryption = record.encryption.clone().unwrap();
    assert_eq!(encryption.r#type, "aws:kms");
    assert_eq!(encryption.kms_key_arn, key_arn);
    assert_eq!(encryption.kms_key_state, "AccessDenied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_keys_disabled_pending_deletion_or_missing_are_invalid_kms_key() {
    let s3 = s3_master();
    let kms = kms_master();
    let bucket = unique("enc-badkey");
    create_bucket(&s3, &bucket).await;
    let (disabled_id, disabled_arn) = create_key(&kms, None).await;
    kms.disable_key().key_id(&disabled_id).send().await.unwrap();
    let (pending_id, pending_arn) = create_key(&kms, None).await;
    kms.schedule_key_deletion()
        .key_id(&pending_id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    let missing_arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-1111-2222-3333-444444444444";
    put_all(
        &s3,
        &bucket,
        &[
            Put::kms("disabled.txt", TEXT, &disabled_id),
            Put::kms("pending.txt", b"pending deletion", &pending_arn),
            Put::kms("missing.txt", b"gone", missing_arn),
        ],
    )
    .await;
    let front = StrictS3::start().await;
    let outcome = run_job("enc-badkey", &bucket, &front).await;
    let skipped = (TEXT.len() + "pending deletion".len() + "gone".len()) as i64;
    assert_eq!(
        outcome.counts,
        counts(&[
            ("objects_dispatched", 3),
            ("objects_skipped", 3),
            ("bytes_skipped", skipped),
            ("encryption:kmsManaged", 3),
            ("reason:INVALID_KMS_KEY", 3),
        ])
    );
    for (key, arn, state) in [
        ("disabled.txt", disabled_arn.as_str(), "Disabled"),
        ("pending.txt", pending_arn.as_str(), "PendingDeletion"),
        ("missing.txt", missing_arn, "NotFound"),
    ] {
        let record = &outcome.records[key];
        assert_eq!(record.status, "SKIPPED", "{key}");
        assert_eq!(record.reason, "INVALID_KMS_KEY", "{key}");
        let encryption = record.encryption.clone().unwrap();
        assert_eq!(encryption.kms_key_arn, arn, "{key}");
        assert_eq!(encryption.kms_key_state, state, "{key}");
    }
    assert!(
        outcome.records["disabled.txt"]
            .detail
            .contains("KMS.DisabledException")
    );
    // Nothing unreadable adds to classified bytes or cost.
    assert!(!outcome.stats.contains_key("bytes_classified"));
    assert!(!outcome.stats.contains_key("billable_bytes"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_c_objects_are_invalid_encryption_with_their_algorithm() {
    let s3 = s3_master();
    let bucket = unique("enc-ssec");
    create_bucket(&s3, &bucket).await;
    put_all(&s3, &bucket, &[Put::plain("readable.txt", TEXT)]).await;
    let customer_key = [7u8; 32];
    let key_b64 = base64(&customer_key);
    s3.put_object()
        .bucket(&bucket)
        .key("customer-key.bin")
        .body(ByteStream::from_static(b"secret stuff"))
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key_b64)
        .send()
        .await
        .unwrap();
    let front = StrictS3::start().await;
    front.mark_sse_c(&bucket, "customer-key.bin");
    let outcome = run_job("enc-ssec", &bucket, &front).await;
    let n = TEXT.len() as i64;
    assert_eq!(
        outcome.counts,
        counts(&[
            ("objects_dispatched", 2),
            ("objects_classified", 1),
            ("objects_skipped", 1),
            ("bytes_classified", n),
            ("bytes_skipped", 12),
            ("billable_bytes", 1024),
            ("encryption:customerManaged", 1),
            ("encryption:unencrypted", 1),
            ("reason:INVALID_ENCRYPTION", 1),
        ])
    );
    let record = &outcome.records["customer-key.bin"];
    assert_eq!(record.status, "SKIPPED");
    assert_eq!(record.reason, "INVALID_ENCRYPTION");
    assert!(
        record.detail.contains("InvalidRequest"),
        "{}",
        record.detail
    );
    assert_eq!(record.size, 12, "the listing's size stands");
    let encryption = record.encryption.clone().unwrap();
    assert_eq!(encryption.r#type, "SSE-C");
    assert_eq!(encryption.sse_customer_algorithm, "AES256");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_side_encrypted_objects_are_recorded_with_their_scheme() {
    let s3 = s3_master();
    let kms = kms_master();
    let bucket = unique("enc-client");
    create_bucket(&s3, &bucket).await;
    let (_, cmk_arn) = create_key(&kms, None).await;
    let ciphertext = vec![0x5au8; 48];
    let mut esdk = vec![0x02, 0x05, 0x78];
    esdk.extend_from_slice(&[0x11; 61]);
    let mut pgp = vec![0x85, 0x01, 0x0c, 0x03];
    pgp.extend_from_slice(&[0xab; 60]);
    let instruction = serde_json::json!({
        "x-amz-key-v2": "AQIDBAUG",
        "x-amz-iv": "BAUGBwgJ",
        "x-amz-wrap-alg": "RSA-OAEP-SHA1",
        "x-amz-cek-alg": "AES/GCM/NoPadding",
        "x-amz-tag-len": "128",
        "x-amz-matdesc": "{\"owner\":\"payroll\"}"
    })
    .to_string();
    put_all(
        &s3,
        &bucket,
        &[
            Put {
                metadata: vec![
                    ("x-amz-key", "AQIDBAUG".into()),
                    ("x-amz-iv", "BAUGBwgJ".into()),
                    ("x-amz-matdesc", "{}".into()),
                    ("x-amz-unencrypted-content-length", "40".into()),
                ],
                ..Put::plain("s3ec-v1.bin", &ciphertext)
            },
            Put {
                metadata: vec![
                    ("x-amz-key-v2", "AQIDBAUG".into()),
                    ("x-amz-iv", "BAUGBwgJ".into()),
                    ("x-amz-wrap-alg", "kms+context".into()),
                    ("x-amz-cek-alg", "AES/GCM/NoPadding".into()),
                    ("x-amz-tag-len", "128".into()),
                    (
                        "x-amz-matdesc",
                        format!(
                            "{{\"aws:x-amz-cek-alg\":\"AES/GCM/NoPadding\",\"kms_cmk_id\":\"{cmk_arn}\"}}"
                        ),
                    ),
                ],
                ..Put::plain("s3ec-v2.bin", &ciphertext)
            },
            Put {
                metadata: vec![
                    ("x-amz-c", "115".into()),
                    ("x-amz-3", "AQIDBAUG".into()),
                    ("x-amz-w", "12".into()),
                    ("x-amz-t", "{\"department\":\"hr\"}".into()),
                    ("x-amz-d", "AAAA".into()),
                    ("x-amz-i", "BBBB".into()),
                ],
                ..Put::plain("s3ec-v3.bin", &ciphertext)
            },
            Put::plain("envelope-of-data.bin.instruction", instruction.as_bytes()),
            Put::plain("esdk.bin", &esdk),
            Put::plain("pgp.gpg", &pgp),
            Put::plain(
                "armored.asc",
                b"-----BEGIN PGP MESSAGE-----\n\nhQEMAxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n-----END PGP MESSAGE-----\n",
            ),
            Put::plain("backup.age", b"age-encryption.org/v1\n-> X25519 abcdefghijklmnopqrstuvwxyz\nxyz\n"),
            Put::plain("readable.txt", TEXT),
        ],
    )
    .await;
    let front = StrictS3::start().await;
    let outcome = run_job("enc-client", &bucket, &front).await;
    let n = TEXT.len() as i64;
    let skipped: i64 = outcome
        .records
        .values()
        .filter(|r| r.key != "readable.txt")
        .map(|r| r.size as i64)
        .sum();
    assert_eq!(
        outcome.counts,
        counts(&[
            ("objects_dispatched", 9),
            ("objects_classified", 1),
            ("objects_skipped", 8),
            ("bytes_classified", n),
            ("bytes_skipped", skipped),
            ("billable_bytes", 1024),
            ("encryption:clientSide", 8),
            ("encryption:unencrypted", 1),
            ("reason:INVALID_ENCRYPTION", 8),
        ])
    );
    let scheme = |key: &str| {
        let record = &outcome.records[key];
        assert_eq!(record.status, "SKIPPED", "{key}");
        assert_eq!(record.reason, "INVALID_ENCRYPTION", "{key}");
        let encryption = record.encryption.clone().unwrap();
        assert_eq!(encryption.r#type, "CLIENT_SIDE", "{key}");
        encryption
    };
    assert_eq!(
        scheme("s3ec-v1.bin").client_side_scheme,
        "S3 Encryption Client v1"
    );
    let v2 = scheme("s3ec-v2.bin");
    assert_eq!(v2.client_side_scheme, "S3 Encryption Client v2");
    assert_eq!(v2.wrapping_algorithm, "kms+context");
    assert_eq!(v2.content_encryption_algorithm, "AES/GCM/NoPadding");
    assert_eq!(v2.material_description_kms_key_arn, cmk_arn);
    assert!(v2.material_description.contains("kms_cmk_id"));
    let v3 = scheme("s3ec-v3.bin");
    assert_eq!(v3.client_side_scheme, "S3 Encryption Client v3");
    assert_eq!(v3.wrapping_algorithm, "kms+context");
    assert_eq!(v3.material_description, "{\"department\":\"hr\"}");
    let instruction = scheme("envelope-of-data.bin.instruction");
    assert_eq!(
        instruction.client_side_scheme,
        "S3 Encryption Client v2 instruction file"
    );
    assert_eq!(instruction.wrapping_algorithm, "RSA-OAEP-SHA1");
    assert_eq!(
        scheme("esdk.bin").client_side_scheme,
        "AWS Encryption SDK v2"
    );
    assert_eq!(scheme("pgp.gpg").client_side_scheme, "OpenPGP");
    assert_eq!(
        scheme("armored.asc").client_side_scheme,
        "OpenPGP (ASCII armor)"
    );
    assert_eq!(scheme("backup.age").client_side_scheme, "age");
    assert_eq!(outcome.records["readable.txt"].status, "COMPLETE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_objects_not_restored_are_invalid_object_state() {
    let s3 = s3_master();
    let bucket = unique("enc-archive");
    create_bucket(&s3, &bucket).await;
    put_all(
        &s3,
        &bucket,
        &[
            Put {
                storage_class: Some(StorageClass::Glacier),
                ..Put::plain("glacier.txt", TEXT)
            },
            Put {
                storage_class: Some(StorageClass::DeepArchive),
                ..Put::plain("deep.txt", b"deep archive")
            },
            Put::plain("standard.txt", TEXT),
        ],
    )
    .await;
    let front = StrictS3::start().await;
    let outcome = run_job("enc-archive", &bucket, &front).await;
    let n = TEXT.len() as i64;
    assert_eq!(
        outcome.counts,
        counts(&[
            ("objects_dispatched", 3),
            ("objects_classified", 1),
            ("objects_skipped", 2),
            ("bytes_classified", n),
            ("bytes_skipped", n + 12),
            ("billable_bytes", 1024),
            ("encryption:unencrypted", 3),
            ("reason:INVALID_OBJECT_STATE", 2),
        ])
    );
    for (key, class) in [("glacier.txt", "GLACIER"), ("deep.txt", "DEEP_ARCHIVE")] {
        let record = &outcome.records[key];
        assert_eq!(record.status, "SKIPPED", "{key}");
        assert_eq!(record.reason, "INVALID_OBJECT_STATE", "{key}");
        assert_eq!(record.storage_class, class, "{key}");
    }
}

/// Standard base64 (the SSE-C key header).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Review pre-flight: each bucket's default encryption, and for its KMS key whether the
/// workers can use it, with the command that fixes it when not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_preflight_reports_default_encryption_and_unusable_keys() {
    use aws_sdk_s3::types::{
        ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    };
    use trawl_common::aws::S3Clients;
    use trawl_common::config::ServiceConfig;
    use trawl_common::job::AccountAccess;
    use trawl_coordinator::encryption::{
        MASTER_PRINCIPAL_PLACEHOLDER, bucket_encryption_preflight,
    };

    let s3 = s3_master();
    let kms = kms_master();
    let (usable_id, usable_arn) = create_key(&kms, None).await;
    let (disabled_id, disabled_arn) = create_key(&kms, None).await;
    kms.disable_key().key_id(&disabled_id).send().await.unwrap();
    let deny_all = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"}]
    })
    .to_string();
    let (denied_id, denied_arn) = create_key(&kms, Some(deny_all)).await;

    let plain = unique("pre-none");
    let sse_s3 = unique("pre-aes");
    let with_usable = unique("pre-kms");
    let with_disabled = unique("pre-disabled");
    let with_denied = unique("pre-denied");
    let defaults = [
        (&sse_s3, ServerSideEncryption::Aes256, None),
        (
            &with_usable,
            ServerSideEncryption::AwsKms,
            Some(usable_id.clone()),
        ),
        (
            &with_disabled,
            ServerSideEncryption::AwsKms,
            Some(disabled_id.clone()),
        ),
        (
            &with_denied,
            ServerSideEncryption::AwsKms,
            Some(denied_id.clone()),
        ),
    ];
    create_bucket(&s3, &plain).await;
    for (bucket, algorithm, key) in &defaults {
        create_bucket(&s3, bucket).await;
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(algorithm.clone())
                    .set_kms_master_key_id(key.clone())
                    .build()
                    .unwrap(),
            )
            .build();
        s3.put_bucket_encryption()
            .bucket(bucket.as_str())
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(rule)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }

    let env: HashMap<String, String> = [
        ("AWS_ENDPOINT_URL", AWS_ENDPOINT),
        ("AWS_REGION", "us-east-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut config = ServiceConfig::from_env_map(&env).unwrap();
    config.static_credentials = Some(("testing".into(), "testing".into()));
    let clients = S3Clients::from_config(&config).await;
    let master = AccountAccess {
        account: MASTER.into(),
        role_arn: None,
        external_id: None,
    };

    let report = bucket_encryption_preflight(&clients, &master, &plain).await;
    assert_eq!(report.default_encryption.as_deref(), Some("NONE"));
    assert!(report.kms_key.is_none() && !report.has_problem());

    let report = bucket_encryption_preflight(&clients, &master, &sse_s3).await;
    assert_eq!(report.default_encryption.as_deref(), Some("AES256"));
    assert!(!report.has_problem());

    let report = bucket_encryption_preflight(&clients, &master, &with_usable).await;
    assert_eq!(report.default_encryption.as_deref(), Some("aws:kms"));
    let key = report.kms_key.clone().unwrap();
    assert_eq!(
        (key.key_arn.as_str(), key.state.as_str()),
        (usable_arn.as_str(), "Enabled")
    );
    assert!(key.usable && !report.has_problem());

    let report = bucket_encryption_preflight(&clients, &master, &with_disabled).await;
    let key = report.kms_key.clone().unwrap();
    assert_eq!(
        (key.key_arn.as_str(), key.state.as_str()),
        (disabled_arn.as_str(), "Disabled")
    );
    assert!(!key.usable && report.has_problem());
    assert_eq!(
        key.fix.as_deref(),
        Some(format!("aws kms enable-key --key-id {disabled_arn} --region us-east-1").as_str())
    );

    let report = bucket_encryption_preflight(&clients, &master, &with_denied).await;
    let key = report.kms_key.clone().unwrap();
    assert_eq!(
        (key.key_arn.as_str(), key.state.as_str()),
        (denied_arn.as_str(), "AccessDenied")
    );
    assert!(!key.usable && report.has_problem());
    let fix = key.fix.unwrap();
    assert!(
        fix.starts_with(&format!(
            "aws kms create-grant --key-id {denied_arn} --grantee-principal {MASTER_PRINCIPAL_PLACEHOLDER} --operations Decrypt"
        )),
        "{fix}"
    );

    let report = bucket_encryption_preflight(&clients, &master, &unique("pre-missing")).await;
    assert!(report.error.is_some() && report.has_problem(), "{report:?}");
}
