//! KMS (AWS JSON 1.1, `X-Amz-Target: TrentService.<Operation>`): DescribeKey, reporting the
//! [`KmsKeyState`] configured with [`crate::LocalS3::set_kms_key`].
//!
//! A key never configured is an enabled customer key of the caller's account; a
//! [`KmsKeyState::Missing`] key is `NotFoundException`, a [`KmsKeyState::Denied`] one
//! `AccessDeniedException`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

use crate::server::{AuthFailure, AwsError, HttpResponse, RequestContext, authenticate};
use crate::state::{kms_key_arn, kms_key_short_id};
use crate::{KmsKeyState, LocalS3};

/// Handles a KMS operation.
pub(crate) fn handle(local: &LocalS3, request: &RequestContext, operation: &str) -> HttpResponse {
    let result = match operation {
        "DescribeKey" => describe_key(local, request),
        other => Err(AwsError::new(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            format!("operation {other} is not supported by s3-local"),
        )),
    };
    result.unwrap_or_else(AwsError::into_json)
}

fn describe_key(local: &LocalS3, request: &RequestContext) -> Result<HttpResponse, AwsError> {
    let state = local.read();
    let caller = authenticate(&state, request).map_err(|failure| match failure {
        AuthFailure::ExpiredToken => AwsError::new(
            StatusCode::BAD_REQUEST,
            "ExpiredTokenException",
            "The security token included in the request is expired",
        ),
        _ => AwsError::new(
            StatusCode::BAD_REQUEST,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
    })?;
    let input: serde_json::Value = serde_json::from_slice(&request.body).map_err(|_| {
        AwsError::new(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "the request body is not valid JSON",
        )
    })?;
    let Some(key) = input.get("KeyId").and_then(|v| v.as_str()) else {
        return Err(AwsError::new(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: \
             Member must not be null",
        ));
    };
    let arn = kms_key_arn(Some(key), &caller.account_id);
    let key_state = state.kms_key_state(&arn);
    let key_id = kms_key_short_id(&arn);
    let (state_name, enabled) = match key_state {
        KmsKeyState::Enabled => ("Enabled", true),
        KmsKeyState::Disabled => ("Disabled", false),
        KmsKeyState::PendingDeletion => ("PendingDeletion", false),
        KmsKeyState::Missing => {
            return Err(AwsError::new(
                StatusCode::BAD_REQUEST,
                "NotFoundException",
                format!("Key '{arn}' does not exist"),
            ));
        }
        KmsKeyState::Denied => {
            return Err(AwsError::new(
                StatusCode::BAD_REQUEST,
                "AccessDeniedException",
                format!(
                    "User: {} is not authorized to perform: kms:DescribeKey on resource: {arn} \
                     because no identity-based policy allows the kms:DescribeKey action",
                    caller.arn()
                ),
            ));
        }
    };
    let account = arn.split(':').nth(4).unwrap_or(&caller.account_id);
    let body = serde_json::json!({
        "KeyMetadata": {
            "AWSAccountId": account,
            "KeyId": key_id,
            "Arn": arn,
            "CreationDate": 1_700_000_000.0,
            "Enabled": enabled,
            "Description": "",
            "KeyUsage": "ENCRYPT_DECRYPT",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
            "KeyState": state_name,
            "Origin": "AWS_KMS",
            "KeyManager": "CUSTOMER",
            "MultiRegion": false,
        }
    });
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    Ok(response)
}
