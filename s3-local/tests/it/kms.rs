//! KMS DescribeKey over raw HTTP (the workspace has no KMS SDK client).

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use trawl_s3_local::KmsKeyState;

use crate::support::{Fixture, MASTER_KEY};

async fn describe_key(url: &str, key_id: &str) -> (u16, serde_json::Value) {
    let addr = url.strip_prefix("http://").unwrap();
    let body = serde_json::json!({ "KeyId": key_id }).to_string();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: TrentService.DescribeKey\r\n\
         Content-Type: application/x-amz-json-1.1\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential={MASTER_KEY}/20250101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status: u16 = response[9..12].parse().unwrap();
    let (_, json) = response.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(json).unwrap())
}

#[tokio::test]
async fn describe_key_reports_key_state() {
    let fixture = Fixture::start().await;
    fixture
        .local
        .set_kms_key("k-disabled", KmsKeyState::Disabled);
    fixture
        .local
        .set_kms_key("k-pending", KmsKeyState::PendingDeletion);
    fixture.local.set_kms_key("k-gone", KmsKeyState::Missing);

    let (status, enabled) = describe_key(&fixture.url, "k-fresh").await;
    assert_eq!(status, 200);
    assert_eq!(enabled["KeyMetadata"]["KeyState"], "Enabled");
    assert_eq!(enabled["KeyMetadata"]["Enabled"], true);
    assert_eq!(
        enabled["KeyMetadata"]["Arn"],
        "arn:aws:kms:us-east-1:111111111111:key/k-fresh"
    );
    let (_, disabled) = describe_key(
        &fixture.url,
        "arn:aws:kms:us-east-1:111111111111:key/k-disabled",
    )
    .await;
    assert_eq!(disabled["KeyMetadata"]["KeyState"], "Disabled");
    let (_, pending) = describe_key(&fixture.url, "k-pending").await;
    assert_eq!(pending["KeyMetadata"]["KeyState"], "PendingDeletion");
    let (status, gone) = describe_key(&fixture.url, "k-gone").await;
    assert_eq!(status, 400);
    assert_eq!(gone["__type"], "NotFoundException");
}
