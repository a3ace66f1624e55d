//! S3 error cases through the SDK, each checked by the SDK's error code (`err.code()`).

use aws_sdk_s3::config::Credentials;
use trawl_s3_local::{KmsKeyState, LocalObject};

use crate::support::{Fixture, MASTER, MEMBER, code, message};

/// base64 of a 32-byte SSE-C key and a stand-in for its MD5 (the fake compares MD5s only).
const CUSTOMER_KEY: &str = "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=";
const CUSTOMER_KEY_MD5: &str = "3Z8f5uFMk2MXpQ1jzf0zQg==";

async fn fixture_with_objects() -> Fixture {
    let fixture = Fixture::start().await;
    let local = &fixture.local;
    local.create_bucket(MASTER, "vault").unwrap();
    let seed = |object: LocalObject| local.put_object("vault", object).unwrap();
    seed(LocalObject {
        storage_class: Some("GLACIER".into()),
        ..LocalObject::new("archive/glacier.csv", "old")
    });
    seed(LocalObject {
        storage_class: Some("DEEP_ARCHIVE".into()),
        ..LocalObject::new("archive/deep.csv", "older")
    });
    seed(LocalObject {
        storage_class: Some("GLACIER".into()),
        restored: true,
        ..LocalObject::new("archive/restored.csv", "back")
    });
    seed(LocalObject {
        sse_customer_algorithm: Some("AES256".into()),
        sse_customer_key_md5: Some(CUSTOMER_KEY_MD5.into()),
        ..LocalObject::new("ssec.bin", "customer-encrypted")
    });
    for (key, key_id) in [
        ("kms/enabled", "key-enabled"),
        ("kms/disabled", "key-disabled"),
        ("kms/pending", "key-pending"),
        ("kms/missing", "key-missing"),
        ("kms/denied", "key-denied"),
    ] {
        seed(LocalObject {
            server_side_encryption: Some("aws:kms".into()),
            kms_key_id: Some(key_id.into()),
            ..LocalObject::new(key, "kms-encrypted")
        });
    }
    local.set_kms_key("key-disabled", KmsKeyState::Disabled);
    local.set_kms_key(
        "arn:aws:kms:us-east-1:111111111111:key/key-pending",
        KmsKeyState::PendingDeletion,
    );
    local.set_kms_key("key-missing", KmsKeyState::Missing);
    local.set_kms_key("key-denied", KmsKeyState::Denied);
    fixture
}

#[tokio::test]
async fn missing_bucket_and_key() {
    let fixture = fixture_with_objects().await;
    let s3 = fixture.s3_master();
    let get =
        |bucket: &'static str, key: &'static str| s3.get_object().bucket(bucket).key(key).send();
    assert_eq!(code(get("no-such-bucket", "k").await), "NoSuchBucket");
    let missing = get("vault", "nope").await;
    assert!(matches!(
        missing
            .as_ref()
            .map_err(|e| e.as_service_error().map(|s| s.is_no_such_key())),
        Err(Some(true))
    ));
    assert_eq!(code(missing), "NoSuchKey");
    // HEAD errors have no body: the SDK reports them by status.
    let head = s3.head_object().bucket("vault").key("nope").send().await;
    assert!(
        head.as_ref()
            .unwrap_err()
            .as_service_error()
            .unwrap()
            .is_not_found()
    );
    assert_eq!(
        head.unwrap_err().raw_response().unwrap().status().as_u16(),
        404
    );
    let head_bucket = s3.head_bucket().bucket("no-such-bucket").send().await;
    assert!(
        head_bucket
            .as_ref()
            .unwrap_err()
            .as_service_error()
            .unwrap()
            .is_not_found()
    );
    assert_eq!(
        code(s3.list_objects_v2().bucket("no-such-bucket").send().await),
        "NoSuchBucket"
    );
}

#[tokio::test]
async fn archived_objects_need_a_restore() {
    let fixture = fixture_with_objects().await;
    let s3 = fixture.s3_master();
    for key in ["archive/glacier.csv", "archive/deep.csv"] {
        let result = s3.get_object().bucket("vault").key(key).send().await;
        let error = result
            .as_ref()
            .expect_err("archived objects are not readable");
        assert!(error.as_service_error().unwrap().is_invalid_object_state());
        assert_eq!(error.raw_response().unwrap().status().as_u16(), 403);
        assert_eq!(code(result), "InvalidObjectState");
        // HeadObject still answers, with the storage class.
        let head = s3
            .head_object()
            .bucket("vault")
            .key(key)
            .send()
            .await
            .unwrap();
        assert!(head.storage_class().is_some());
        assert_eq!(head.restore(), None);
    }
    let restored = s3
        .get_object()
        .bucket("vault")
        .key("archive/restored.csv")
        .send()
        .await
        .expect("a restored object is readable");
    assert!(
        restored
            .restore()
            .unwrap()
            .starts_with("ongoing-request=\"false\", expiry-date=")
    );
    assert_eq!(
        &restored.body.collect().await.unwrap().into_bytes()[..],
        b"back"
    );
    // Listings report the archive class.
    let listed = s3
        .list_objects_v2()
        .bucket("vault")
        .prefix("archive/")
        .send()
        .await
        .unwrap();
    let classes: Vec<&str> = listed
        .contents()
        .iter()
        .filter_map(|o| o.storage_class().map(|c| c.as_str()))
        .collect();
    assert_eq!(classes, vec!["DEEP_ARCHIVE", "GLACIER", "GLACIER"]);
}

#[tokio::test]
async fn sse_c_objects_need_the_customer_key() {
    let fixture = fixture_with_objects().await;
    let s3 = fixture.s3_master();
    let result = s3.get_object().bucket("vault").key("ssec.bin").send().await;
    assert_eq!(
        result
            .as_ref()
            .unwrap_err()
            .raw_response()
            .unwrap()
            .status()
            .as_u16(),
        400
    );
    assert_eq!(
        message(s3.get_object().bucket("vault").key("ssec.bin").send().await),
        "The object was stored using a form of Server Side Encryption. The correct parameters \
         must be provided to retrieve the object."
    );
    assert_eq!(code(result), "InvalidRequest");
    let head = s3
        .head_object()
        .bucket("vault")
        .key("ssec.bin")
        .send()
        .await;
    assert_eq!(
        head.unwrap_err().raw_response().unwrap().status().as_u16(),
        400
    );

    let got = s3
        .get_object()
        .bucket("vault")
        .key("ssec.bin")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(CUSTOMER_KEY)
        .sse_customer_key_md5(CUSTOMER_KEY_MD5)
        .send()
        .await
        .expect("the right customer key reads the object");
    assert_eq!(got.sse_customer_algorithm(), Some("AES256"));
    assert_eq!(
        &got.body.collect().await.unwrap().into_bytes()[..],
        b"customer-encrypted"
    );
    let wrong = s3
        .get_object()
        .bucket("vault")
        .key("ssec.bin")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(CUSTOMER_KEY)
        .sse_customer_key_md5("AAAAAAAAAAAAAAAAAAAAAA==")
        .send()
        .await;
    assert_eq!(code(wrong), "AccessDenied");
}

#[tokio::test]
async fn kms_key_states_fail_reads_as_s3_does() {
    let fixture = fixture_with_objects().await;
    let s3 = fixture.s3_master();
    let get = |key: &'static str| s3.get_object().bucket("vault").key(key).send();
    get("kms/enabled").await.expect("an enabled key decrypts");
    for (key, expected_code, status) in [
        ("kms/disabled", "KMS.DisabledException", 400),
        ("kms/pending", "KMS.KMSInvalidStateException", 400),
        ("kms/missing", "KMS.NotFoundException", 400),
        ("kms/denied", "AccessDenied", 403),
    ] {
        let result = get(key).await;
        assert_eq!(
            result
                .as_ref()
                .unwrap_err()
                .raw_response()
                .unwrap()
                .status()
                .as_u16(),
            status,
            "{key}"
        );
        assert_eq!(code(result), expected_code, "{key}");
        // HeadObject needs no KMS call.
        s3.head_object()
            .bucket("vault")
            .key(key)
            .send()
            .await
            .unwrap();
    }
    let denied = message(get("kms/denied").await);
    assert!(denied.contains("kms:Decrypt"), "{denied}");
    assert!(
        denied.contains("arn:aws:iam::111111111111:root"),
        "{denied}"
    );
    // Writing with a disabled key fails too.
    let put = s3
        .put_object()
        .bucket("vault")
        .key("new")
        .body(b"x".to_vec().into())
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
        .ssekms_key_id("key-disabled")
        .send()
        .await;
    assert_eq!(code(put), "KMS.DisabledException");
}

#[tokio::test]
async fn other_accounts_buckets_are_denied() {
    let fixture = fixture_with_objects().await;
    let s3 = fixture.s3_master();
    // "member-logs" belongs to the member account.
    fixture
        .local
        .put_object("member-logs", LocalObject::new("app.log", "x"))
        .unwrap();
    assert_eq!(
        code(s3.list_objects_v2().bucket("member-logs").send().await),
        "AccessDenied"
    );
    assert_eq!(
        code(
            s3.get_object()
                .bucket("member-logs")
                .key("app.log")
                .send()
                .await
        ),
        "AccessDenied"
    );
    let head = s3.head_bucket().bucket("member-logs").send().await;
    assert_eq!(
        head.unwrap_err().raw_response().unwrap().status().as_u16(),
        403
    );
    assert_eq!(
        code(s3.create_bucket().bucket("member-logs").send().await),
        "BucketAlreadyExists"
    );
    assert_eq!(
        code(s3.create_bucket().bucket("vault").send().await),
        "BucketAlreadyOwnedByYou"
    );
    assert_eq!(
        code(s3.create_bucket().bucket("Bad_Name").send().await),
        "InvalidBucketName"
    );
    assert_eq!(
        fixture.local.buckets(MEMBER),
        vec!["member-logs".to_string()]
    );
}

#[tokio::test]
async fn bucket_without_encryption_and_unknown_keys() {
    let fixture = fixture_with_objects().await;
    let s3 = fixture.s3_master();
    assert_eq!(
        code(s3.get_bucket_encryption().bucket("vault").send().await),
        "ServerSideEncryptionConfigurationNotFoundError"
    );
    let stranger = fixture.s3_with(Credentials::new("AKIAUNKNOWN", "x", None, None, "t"));
    assert_eq!(
        code(stranger.list_buckets().send().await),
        "InvalidAccessKeyId"
    );
    let put = s3
        .put_object()
        .bucket("vault")
        .key("bad-class")
        .body(b"x".to_vec().into())
        .storage_class("TAPE".into())
        .send()
        .await;
    assert_eq!(code(put), "InvalidStorageClass");
    // Errors carry the request ID headers S3 sends.
    let error = s3
        .get_object()
        .bucket("vault")
        .key("nope")
        .send()
        .await
        .unwrap_err();
    let raw = error
        .raw_response()
        .expect("a service error has a response");
    assert_eq!(
        raw.headers().get("x-amz-request-id").map(str::len),
        Some(16)
    );
}
