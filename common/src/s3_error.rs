//! The one place where S3 SDK errors become retry decisions.
//!
//! Permanent errors (the object or bucket is gone, access is denied, the object is archived)
//! end a task at once with a SKIPPED result and a Macie-style reason; transient ones
//! (throttling, 5xx, timeouts, lost connections) are retried with backoff.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// An S3 failure, classified.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} s3://{bucket}/{key}: {code}{}{}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default(), if message.is_empty() { String::new() } else { format!(": {message}") })]
pub struct S3Failure {
    /// Operation that failed (HeadObject, GetObject, ListObjectsV2, HeadBucket).
    pub operation: &'static str,
    /// Bucket.
    pub bucket: String,
    /// Key (empty for bucket operations).
    pub key: String,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// AWS error code (`NoSuchKey`, `AccessDenied`, …) or a description of the transport failure.
    pub code: String,
    /// AWS error message or transport detail.
    pub message: String,
    /// Whether trying again may succeed.
    pub retryable: bool,
}

impl S3Failure {
    /// Returns whether trying again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// Returns the Macie-style reason recorded on a SKIPPED result for a permanent failure.
    pub fn reason(&self) -> &'static str {
        match (self.code.as_str(), self.status) {
            ("NoSuchKey" | "NotFound", _) | (_, Some(404)) if self.code != "NoSuchBucket" => {
                "OBJECT_NOT_FOUND"
            }
            ("NoSuchBucket", _) => "BUCKET_NOT_FOUND",
            ("InvalidObjectState", _) => "INVALID_OBJECT_STATE",
            // The object's KMS key is disabled, pending deletion or gone: no one can read it
            // until the key is fixed.
            (
                "KMS.DisabledException"
                | "KMS.KMSInvalidStateException"
                | "KMS.NotFoundException"
                | "KMS.KeyUnavailableException",
                _,
            ) => "INVALID_KMS_KEY",
            // SSE-C: S3 wants the customer's key with the request.
            ("InvalidRequest", Some(400)) => "INVALID_ENCRYPTION",
            // The role may read the object but not use its KMS key.
            _ if self.is_kms_access_denied() => "INVALID_ENCRYPTION",
            ("AccessDenied" | "Forbidden", _) | (_, Some(403)) => "PERMISSION_DENIED",
            _ => "OBJECT_UNAVAILABLE",
        }
    }

    /// Returns whether S3 refused the request because of the object's KMS key (its key is
    /// disabled, pending deletion or missing, or the caller may not use it) rather than the
    /// object itself.
    pub fn is_kms_failure(&self) -> bool {
        self.code.starts_with("KMS.") || self.is_kms_access_denied()
    }

    /// Returns whether this is an AccessDenied whose message names KMS (`kms:Decrypt` on a key
    /// ARN): the object is readable, but not its key.
    pub fn is_kms_access_denied(&self) -> bool {
        matches!(self.code.as_str(), "AccessDenied" | "AccessDeniedException")
            && (self.message.contains("kms:") || self.message.contains("arn:aws:kms:"))
    }

    /// Returns whether this is S3's refusal of an SSE-C object read without its customer key
    /// (400 InvalidRequest on a GET; a bare 400 on a HEAD, which has no body).
    pub fn is_sse_c_refusal(&self) -> bool {
        self.status == Some(400) && matches!(self.code.as_str(), "InvalidRequest" | "BadRequest")
    }

    /// Describes a failure of a bucket-level call (HeadBucket, ListObjectsV2) for a person:
    /// `bucket B (account A) does not exist`, `… cannot be read: access denied`, or the error.
    pub fn bucket_problem(&self, account: &str) -> String {
        let what = match (self.status, self.code.as_str()) {
            (Some(404), _) | (_, "NoSuchBucket" | "NotFound") => "does not exist".to_string(),
            (Some(403), _) | (_, "AccessDenied") => "cannot be read: access denied".to_string(),
            _ => format!("cannot be reached: {self}"),
        };
        format!("bucket {} (account {account}) {what}", self.bucket)
    }

    /// Builds a failure for a body stream that broke mid-transfer (always retryable).
    pub fn stream(bucket: &str, key: &str, message: String) -> Self {
        Self {
            operation: "GetObject",
            bucket: bucket.into(),
            key: key.into(),
            status: None,
            code: "StreamError".into(),
            message,
            retryable: true,
        }
    }
}

/// Classifies an SDK error from `operation` on `bucket`/`key`.
pub fn classify<E, R>(
    operation: &'static str,
    bucket: &str,
    key: &str,
    error: &SdkError<E, R>,
) -> S3Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HttpStatus + 'static,
{
    let (status, code, message, retryable) = match error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status_code();
            let code = service
                .err()
                .code()
                .map(str::to_string)
                .unwrap_or_else(|| status_code_name(status).to_string());
            let message = service.err().message().unwrap_or_default().to_string();
            let retryable = is_retryable_status(status, &code);
            (Some(status), code, message, retryable)
        }
        SdkError::ResponseError(response) => {
            let status = response.raw().status_code();
            (
                Some(status),
                status_code_name(status).to_string(),
                display_chain(error),
                is_retryable_status(status, ""),
            )
        }
        SdkError::TimeoutError(_) => (None, "Timeout".to_string(), display_chain(error), true),
        SdkError::DispatchFailure(_) => (
            None,
            "DispatchFailure".to_string(),
            display_chain(error),
            true,
        ),
        // Request construction failed: retrying will build the same request.
        SdkError::ConstructionFailure(_) => (
            None,
            "ConstructionFailure".to_string(),
            display_chain(error),
            false,
        ),
        _ => (None, "Unknown".to_string(), display_chain(error), true),
    };
    S3Failure {
        operation,
        bucket: bucket.into(),
        key: key.into(),
        status,
        code,
        message,
        retryable,
    }
}

/// HTTP status of a raw response, implemented for the SDK's response type.
pub trait HttpStatus {
    /// Returns the status code.
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

fn is_retryable_status(status: u16, code: &str) -> bool {
    matches!(
        code,
        "SlowDown"
            | "Throttling"
            | "ThrottlingException"
            | "RequestTimeout"
            | "InternalError"
            | "ServiceUnavailable"
            | "RequestTimeTooSkewed"
    ) || status == 429
        || status >= 500
}

fn status_code_name(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        412 => "PreconditionFailed",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        s if s >= 500 => "ServerError",
        _ => "HttpError",
    }
}

/// Joins an error with its sources (`a: b: c`), for messages that must say what really failed.
pub fn display_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: &str, status: u16) -> S3Failure {
        S3Failure {
            operation: "GetObject",
            bucket: "b".into(),
            key: "k".into(),
            status: Some(status),
            code: code.into(),
            message: String::new(),
            retryable: is_retryable_status(status, code),
        }
    }

    #[test]
    fn permanent_and_transient_errors_are_told_apart() {
        assert!(!failure("NoSuchKey", 404).is_retryable());
        assert!(!failure("AccessDenied", 403).is_retryable());
        assert!(!failure("NoSuchBucket", 404).is_retryable());
        assert!(failure("SlowDown", 503).is_retryable());
        assert!(failure("InternalError", 500).is_retryable());
        assert!(failure("TooManyRequests", 429).is_retryable());
    }

    #[test]
    fn bucket_problems_name_the_bucket_and_account() {
        let mut missing = failure("NoSuchBucket", 404);
        missing.bucket = "payroll".into();
        assert_eq!(
            missing.bucket_problem("111122223333"),
            "bucket payroll (account 111122223333) does not exist"
        );
        let mut denied = failure("AccessDenied", 403);
        denied.bucket = "payroll".into();
        assert_eq!(
            denied.bucket_problem("111122223333"),
            "bucket payroll (account 111122223333) cannot be read: access denied"
        );
    }

    #[test]
    fn reasons_follow_macie() {
        assert_eq!(failure("NoSuchKey", 404).reason(), "OBJECT_NOT_FOUND");
        assert_eq!(failure("NotFound", 404).reason(), "OBJECT_NOT_FOUND");
        assert_eq!(failure("NoSuchBucket", 404).reason(), "BUCKET_NOT_FOUND");
        assert_eq!(failure("AccessDenied", 403).reason(), "PERMISSION_DENIED");
        assert_eq!(
            failure("InvalidObjectState", 403).reason(),
            "INVALID_OBJECT_STATE"
        );
        assert_eq!(
            failure("InvalidRequest", 400).reason(),
            "INVALID_ENCRYPTION"
        );
    }

    #[test]
    fn kms_failures_have_their_own_reasons() {
        for code in [
            "KMS.DisabledException",
            "KMS.KMSInvalidStateException",
            "KMS.NotFoundException",
        ] {
            let f = failure(code, 400);
            assert_eq!(f.reason(), "INVALID_KMS_KEY", "{code}");
            assert!(f.is_kms_failure() && !f.is_retryable(), "{code}");
        }
        let mut denied = failure("AccessDenied", 403);
        denied.message = "User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: \
                          kms:Decrypt on resource: arn:aws:kms:us-east-1:1:key/k"
            .into();
        assert_eq!(denied.reason(), "INVALID_ENCRYPTION");
        assert!(denied.is_kms_failure());
        let mut plain = failure("AccessDenied", 403);
        plain.message = "Access Denied".into();
        assert_eq!(plain.reason(), "PERMISSION_DENIED");
        assert!(!plain.is_kms_failure());
        assert!(failure("InvalidRequest", 400).is_sse_c_refusal());
        assert!(failure("BadRequest", 400).is_sse_c_refusal());
    }
}
