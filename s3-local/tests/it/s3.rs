//! S3 happy paths through the SDK: buckets, puts, gets with headers, listings and pagination.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::types::{ServerSideEncryption, StorageClass};
use trawl_s3_local::LocalObject;

use crate::support::{Fixture, MASTER};

#[tokio::test]
async fn create_put_get_round_trip_with_headers() {
    let fixture = Fixture::start().await;
    let s3 = fixture.s3_master();
    s3.create_bucket()
        .bucket("payroll")
        .send()
        .await
        .expect("CreateBucket should succeed");
    s3.head_bucket()
        .bucket("payroll")
        .send()
        .await
        .expect("HeadBucket on an owned bucket should succeed");

    let body = "name,ssn\nMaria,536-22-8147\n";
    let put = s3
        .put_object()
        .bucket("payroll")
        .key("2025/dir with space/staff+1.csv")
        .body(body.as_bytes().to_vec().into())
        .content_type("text/csv")
        .storage_class(StorageClass::StandardIa)
        .server_side_encryption(ServerSideEncryption::Aes256)
        .metadata("owner", "hr")
        .send()
        .await
        .expect("PutObject should succeed");
    let expected_etag = format!("\"{}\"", md5_hex(body.as_bytes()));
    assert_eq!(put.e_tag(), Some(expected_etag.as_str()));
    assert_eq!(
        put.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );

    let got = s3
        .get_object()
        .bucket("payroll")
        .key("2025/dir with space/staff+1.csv")
        .send()
        .await
        .expect("GetObject should succeed");
    assert_eq!(got.content_length(), Some(body.len() as i64));
    assert_eq!(got.e_tag(), Some(expected_etag.as_str()));
    assert_eq!(got.content_type(), Some("text/csv"));
    assert_eq!(got.storage_class(), Some(&StorageClass::StandardIa));
    assert_eq!(
        got.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(got.ssekms_key_id(), None);
    assert_eq!(
        got.metadata()
            .and_then(|m| m.get("owner"))
            .map(String::as_str),
        Some("hr")
    );
    let modified = SystemTime::try_from(*got.last_modified().expect("Last-Modified is set"))
        .expect("a valid time");
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or(Duration::ZERO);
    assert!(
        age < Duration::from_secs(60),
        "Last-Modified is recent: {age:?}"
    );
    let bytes = got
        .body
        .collect()
        .await
        .expect("the body streams")
        .into_bytes();
    assert_eq!(&bytes[..], body.as_bytes());

    let head = s3
        .head_object()
        .bucket("payroll")
        .key("2025/dir with space/staff+1.csv")
        .send()
        .await
        .expect("HeadObject should succeed");
    assert_eq!(head.content_length(), Some(body.len() as i64));
    assert_eq!(head.e_tag(), Some(expected_etag.as_str()));
    assert_eq!(head.storage_class(), Some(&StorageClass::StandardIa));

    // The model saw the same object.
    let stored = fixture
        .local
        .object("payroll", "2025/dir with space/staff+1.csv")
        .expect("stored");
    assert_eq!(stored.storage_class.as_deref(), Some("STANDARD_IA"));
    assert_eq!(stored.metadata.get("owner").map(String::as_str), Some("hr"));

    // Ranges.
    let ranged = s3
        .get_object()
        .bucket("payroll")
        .key("2025/dir with space/staff+1.csv")
        .range("bytes=0-3")
        .send()
        .await
        .expect("a ranged GetObject should succeed");
    assert_eq!(
        ranged.content_range(),
        Some(format!("bytes 0-3/{}", body.len()).as_str())
    );
    assert_eq!(
        &ranged.body.collect().await.unwrap().into_bytes()[..],
        b"name"
    );

    // Delete, then it is gone; deleting again still succeeds.
    for _ in 0..2 {
        s3.delete_object()
            .bucket("payroll")
            .key("2025/dir with space/staff+1.csv")
            .send()
            .await
            .expect("DeleteObject should succeed");
    }
    assert!(
        fixture
            .local
            .object("payroll", "2025/dir with space/staff+1.csv")
            .is_none()
    );
}

#[tokio::test]
async fn kms_objects_report_their_key_and_standard_is_not_echoed() {
    let fixture = Fixture::start().await;
    let s3 = fixture.s3_master();
    s3.create_bucket().bucket("keys").send().await.unwrap();
    s3.put_object()
        .bucket("keys")
        .key("kms.txt")
        .body(b"secret".to_vec().into())
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("1234abcd-12ab-34cd-56ef-1234567890ab")
        .send()
        .await
        .expect("PutObject with SSE-KMS should succeed");
    s3.put_object()
        .bucket("keys")
        .key("plain.txt")
        .body(b"plain".to_vec().into())
        .storage_class(StorageClass::Standard)
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket("keys")
        .key("kms.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(
        got.ssekms_key_id(),
        Some("arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    );
    let plain = s3
        .get_object()
        .bucket("keys")
        .key("plain.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        plain.storage_class(),
        None,
        "STANDARD has no x-amz-storage-class header"
    );
    assert_eq!(plain.server_side_encryption(), None);
    // The SDK sends application/octet-stream; S3 serves binary/octet-stream when none was given.
    assert_eq!(plain.content_type(), Some("application/octet-stream"));
    fixture
        .local
        .put_object("keys", LocalObject::new("seeded", "x"))
        .unwrap();
    let seeded = s3
        .head_object()
        .bucket("keys")
        .key("seeded")
        .send()
        .await
        .unwrap();
    assert_eq!(seeded.content_type(), Some("binary/octet-stream"));
}

#[tokio::test]
async fn list_objects_v2_paginates_in_pages_of_1000() {
    let fixture = Fixture::start().await;
    fixture.local.create_bucket(MASTER, "many").unwrap();
    let mut expected: Vec<String> = (0..2500).map(|i| format!("data/{i:05}.txt")).collect();
    for key in &expected {
        fixture
            .local
            .put_object("many", LocalObject::new(key.clone(), key.clone()))
            .unwrap();
    }
    expected.sort();
    let s3 = fixture.s3_master();

    let mut pages = s3
        .list_objects_v2()
        .bucket("many")
        .max_keys(5000)
        .into_paginator()
        .send();
    let mut sizes = Vec::new();
    let mut keys = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.expect("every page should succeed");
        assert_eq!(page.max_keys(), Some(1000), "max-keys is capped at 1000");
        sizes.push(page.key_count().unwrap());
        for object in page.contents() {
            assert_eq!(object.size(), Some(object.key().unwrap().len() as i64));
            assert_eq!(
                object.e_tag(),
                Some(format!("\"{}\"", md5_hex(object.key().unwrap().as_bytes())).as_str())
            );
            assert_eq!(object.storage_class().map(|c| c.as_str()), Some("STANDARD"));
            assert!(object.last_modified().is_some());
            keys.push(object.key().unwrap().to_string());
        }
        assert_eq!(page.is_truncated(), Some(sizes.len() < 3));
    }
    assert_eq!(sizes, vec![1000, 1000, 500]);
    assert_eq!(keys, expected);

    let after = s3
        .list_objects_v2()
        .bucket("many")
        .start_after("data/02000.txt")
        .send()
        .await
        .expect("start-after listing should succeed");
    assert_eq!(after.key_count(), Some(499));
    assert_eq!(after.start_after(), Some("data/02000.txt"));
    assert_eq!(after.contents()[0].key(), Some("data/02001.txt"));
    assert_eq!(after.is_truncated(), Some(false));

    let prefixed = s3
        .list_objects_v2()
        .bucket("many")
        .prefix("data/0012")
        .send()
        .await
        .unwrap();
    let listed: Vec<&str> = prefixed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(listed.len(), 10);
    assert!(listed.iter().all(|k| k.starts_with("data/0012")));
}

#[tokio::test]
async fn delimiter_groups_common_prefixes_across_pages() {
    let fixture = Fixture::start().await;
    fixture.local.create_bucket(MASTER, "tree").unwrap();
    for key in [
        "a.txt",
        "logs/2025/01.log",
        "logs/2025/02.log",
        "logs/2026/01.log",
        "logs/readme",
        "z/one",
        "z/two",
    ] {
        fixture
            .local
            .put_object("tree", LocalObject::new(key, "x"))
            .unwrap();
    }
    let s3 = fixture.s3_master();
    let top = s3
        .list_objects_v2()
        .bucket("tree")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = top.contents().iter().filter_map(|o| o.key()).collect();
    let prefixes: Vec<&str> = top
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(keys, vec!["a.txt"]);
    assert_eq!(prefixes, vec!["logs/", "z/"]);
    assert_eq!(top.key_count(), Some(3));

    // One entry per page: each common prefix is returned once, never its keys.
    let mut pages = s3
        .list_objects_v2()
        .bucket("tree")
        .prefix("logs/")
        .delimiter("/")
        .max_keys(1)
        .into_paginator()
        .send();
    let mut entries = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        entries.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key())
                .map(str::to_string),
        );
        entries.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix())
                .map(str::to_string),
        );
    }
    assert_eq!(entries, vec!["logs/2025/", "logs/2026/", "logs/readme"]);
}

#[tokio::test]
async fn list_buckets_shows_only_the_callers_account() {
    let fixture = Fixture::start().await;
    fixture.local.create_bucket(MASTER, "master-b").unwrap();
    fixture.local.create_bucket(MASTER, "master-a").unwrap();
    let listed = fixture.s3_master().list_buckets().send().await.unwrap();
    let names: Vec<&str> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, vec!["master-a", "master-b"]);
}

#[tokio::test]
async fn bucket_encryption_is_reported_when_configured() {
    let fixture = Fixture::start().await;
    fixture.local.create_bucket(MASTER, "enc").unwrap();
    fixture
        .local
        .set_bucket_encryption(
            "enc",
            "aws:kms",
            Some("arn:aws:kms:us-east-1:111111111111:key/k1"),
        )
        .unwrap();
    let s3 = fixture.s3_master();
    let config = s3
        .get_bucket_encryption()
        .bucket("enc")
        .send()
        .await
        .expect("GetBucketEncryption should succeed");
    let rule = &config
        .server_side_encryption_configuration()
        .expect("a configuration")
        .rules()[0];
    let default = rule.apply_server_side_encryption_by_default().unwrap();
    assert_eq!(default.sse_algorithm(), &ServerSideEncryption::AwsKms);
    assert_eq!(
        default.kms_master_key_id(),
        Some("arn:aws:kms:us-east-1:111111111111:key/k1")
    );
    // Objects put without SSE headers take the default.
    let put = s3
        .put_object()
        .bucket("enc")
        .key("x")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(
        put.ssekms_key_id(),
        Some("arn:aws:kms:us-east-1:111111111111:key/k1")
    );
}

/// Independent MD5 of a body, as S3's single-part ETag.
fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest as _;
    md5::Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn streamed_uploads_and_awkward_keys_round_trip() {
    let fixture = Fixture::start().await;
    let s3 = fixture.s3_master();
    s3.create_bucket().bucket("awkward").send().await.unwrap();

    // A body streamed from a file (length known, content not in memory) of several MiB.
    let body: Vec<u8> = (0..5 * 1024 * 1024 + 7).map(|i| (i % 251) as u8).collect();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &body).unwrap();
    let stream = aws_sdk_s3::primitives::ByteStream::from_path(file.path())
        .await
        .unwrap();
    let keys = [
        "big.bin",
        "üñí cødé/a&b<c>.txt",
        "plus+and%percent",
        "/leading-slash",
    ];
    s3.put_object()
        .bucket("awkward")
        .key(keys[0])
        .body(stream)
        .send()
        .await
        .expect("a streamed PutObject should succeed");
    for key in &keys[1..] {
        s3.put_object()
            .bucket("awkward")
            .key(*key)
            .body(key.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutObject {key:?}: {e:?}"));
    }
    let got = s3
        .get_object()
        .bucket("awkward")
        .key("big.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_length(), Some(body.len() as i64));
    assert_eq!(
        got.e_tag(),
        Some(format!("\"{}\"", md5_hex(&body)).as_str())
    );
    assert!(got.body.collect().await.unwrap().into_bytes() == body);

    let listed = s3.list_objects_v2().bucket("awkward").send().await.unwrap();
    let mut listed_keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    let mut expected = keys.to_vec();
    expected.sort();
    listed_keys.sort();
    assert_eq!(listed_keys, expected);
    for key in &keys[1..] {
        let got = s3
            .get_object()
            .bucket("awkward")
            .key(*key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            &got.body.collect().await.unwrap().into_bytes()[..],
            key.as_bytes()
        );
    }

    // encoding-type=url percent-encodes keys in the listing.
    let encoded = s3
        .list_objects_v2()
        .bucket("awkward")
        .prefix("plus")
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .unwrap();
    assert_eq!(encoded.contents()[0].key(), Some("plus%2Band%25percent"));
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let local = trawl_s3_local::LocalS3::new();
    let (url, handle) = local.serve_local().await.unwrap();
    assert_eq!(handle.url(), url);
    let addr = handle.local_addr();
    tokio::net::TcpStream::connect(addr)
        .await
        .expect("the server accepts connections");
    handle.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());

    // Dropping the handle stops it too.
    let (_, handle) = local.serve_local().await.unwrap();
    let addr = handle.local_addr();
    drop(handle);
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the listener closes after the handle is dropped");
}
