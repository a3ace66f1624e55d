//! S3 operations on path-style URLs: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
//! GetBucketEncryption, GetBucketLocation, ListObjectsV2, PutObject, HeadObject, GetObject
//! and DeleteObject, with S3's status codes, headers and error codes.
//!
//! Every request is resolved to a caller first ([`crate::server::authenticate`]); a bucket of
//! another account is `AccessDenied`, one that does not exist `NoSuchBucket`.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, HeaderMap, HeaderName,
    HeaderValue, LAST_MODIFIED, LOCATION,
};
use hyper::{Method, Response, StatusCode};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::server::{
    AuthFailure, AwsError, HttpResponse, RequestContext, authenticate, empty, xml_response,
};
use crate::state::{Bucket, Principal, REGION, State, StoredObject, kms_key_arn};
use crate::xml::{S3_NS, XmlWriter, http_date, iso8601_millis};
use crate::{KmsKeyState, LocalObject, LocalS3, LocalS3Error, md5_hex};

/// Most keys one ListObjectsV2 page returns, whatever `max-keys` asks for.
const MAX_KEYS: usize = 1000;

/// Storage classes PutObject accepts.
const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "GLACIER_IR",
    "SNOW",
    "EXPRESS_ONEZONE",
];

const SSE_HEADER: &str = "x-amz-server-side-encryption";
const SSE_KMS_KEY_HEADER: &str = "x-amz-server-side-encryption-aws-kms-key-id";
const SSE_C_ALGORITHM_HEADER: &str = "x-amz-server-side-encryption-customer-algorithm";
const SSE_C_KEY_HEADER: &str = "x-amz-server-side-encryption-customer-key";
const SSE_C_KEY_MD5_HEADER: &str = "x-amz-server-side-encryption-customer-key-md5";

/// Handles an S3 request for `path` (`/`, `/bucket` or `/bucket/key`).
pub(crate) fn handle(local: &LocalS3, request: &RequestContext, path: &str) -> HttpResponse {
    match dispatch(local, request, path) {
        Ok(response) => response,
        Err(error) => error.into_s3(request),
    }
}

fn dispatch(
    local: &LocalS3,
    request: &RequestContext,
    path: &str,
) -> Result<HttpResponse, AwsError> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let (bucket_raw, key_raw) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let bucket = percent_decode_str(bucket_raw).decode_utf8_lossy();
    let key = percent_decode_str(key_raw).decode_utf8_lossy();
    let principal = {
        let state = local.read();
        authenticate(&state, request).map_err(auth_error)?
    };
    let method = &request.method;
    if bucket.is_empty() {
        return match *method {
            Method::GET => Ok(list_buckets(local, request, &principal)),
            _ => Err(method_not_allowed()),
        };
    }
    if key.is_empty() {
        return match *method {
            Method::PUT if request.query.is_empty() => create_bucket(local, &principal, &bucket),
            Method::HEAD => head_bucket(local, &principal, &bucket),
            Method::DELETE if request.query.is_empty() => delete_bucket(local, &principal, &bucket),
            Method::GET if request.has_query("encryption") => {
                get_bucket_encryption(local, &principal, &bucket)
            }
            Method::GET if request.has_query("location") => {
                get_bucket_location(local, &principal, &bucket)
            }
            Method::GET if request.query("list-type") == Some("2") => {
                list_objects_v2(local, request, &principal, &bucket)
            }
            _ => Err(not_implemented()),
        };
    }
    match *method {
        Method::PUT if request.header("x-amz-copy-source").is_some() => Err(not_implemented()),
        Method::PUT if request.has_query("uploadId") || request.has_query("tagging") => {
            Err(not_implemented())
        }
        Method::PUT => put_object(local, request, &principal, &bucket, &key),
        Method::GET | Method::HEAD => get_object(local, request, &principal, &bucket, &key),
        Method::DELETE => delete_object(local, &principal, &bucket, &key),
        _ => Err(method_not_allowed()),
    }
}

fn auth_error(failure: AuthFailure) -> AwsError {
    match failure {
        AuthFailure::Anonymous => access_denied(),
        AuthFailure::UnknownAccessKey => AwsError::new(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        ),
        AuthFailure::InvalidToken => AwsError::new(
            StatusCode::BAD_REQUEST,
            "InvalidToken",
            "The provided token is malformed or otherwise invalid.",
        ),
        AuthFailure::ExpiredToken => AwsError::new(
            StatusCode::BAD_REQUEST,
            "ExpiredToken",
            "The provided token has expired.",
        ),
    }
}

fn access_denied() -> AwsError {
    AwsError::new(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied")
}

fn not_implemented() -> AwsError {
    AwsError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NotImplemented",
        "A header or query you provided implies functionality that is not implemented.",
    )
}

fn method_not_allowed() -> AwsError {
    AwsError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
    )
}

fn no_such_bucket(bucket: &str) -> AwsError {
    AwsError::new(
        StatusCode::NOT_FOUND,
        "NoSuchBucket",
        "The specified bucket does not exist",
    )
    .with("BucketName", bucket)
}

fn invalid_argument(message: &str, name: &str, value: &str) -> AwsError {
    AwsError::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
        .with("ArgumentName", name)
        .with("ArgumentValue", value)
}

impl From<LocalS3Error> for AwsError {
    fn from(error: LocalS3Error) -> Self {
        match error {
            LocalS3Error::InvalidBucketName { bucket } => AwsError::new(
                StatusCode::BAD_REQUEST,
                "InvalidBucketName",
                "The specified bucket is not valid.",
            )
            .with("BucketName", bucket),
            LocalS3Error::BucketAlreadyExists { bucket, .. } => AwsError::new(
                StatusCode::CONFLICT,
                "BucketAlreadyExists",
                "The requested bucket name is not available. The bucket namespace is shared by \
                 all users of the system. Please select a different name and try again.",
            )
            .with("BucketName", bucket),
            LocalS3Error::BucketAlreadyOwnedByYou { bucket } => AwsError::new(
                StatusCode::CONFLICT,
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already own it.",
            )
            .with("BucketName", bucket),
            LocalS3Error::NoSuchBucket { bucket } => no_such_bucket(&bucket),
            LocalS3Error::InvalidKey { key } => AwsError::new(
                StatusCode::BAD_REQUEST,
                "KeyTooLongError",
                "Your key is too long",
            )
            .with("Key", key),
        }
    }
}

/// Returns the bucket if it exists and the caller's account owns it.
fn owned_bucket<'a>(
    state: &'a State,
    principal: &Principal,
    bucket: &str,
) -> Result<&'a Bucket, AwsError> {
    let entry = state
        .buckets
        .get(bucket)
        .ok_or_else(|| no_such_bucket(bucket))?;
    if entry.owner != principal.account_id {
        return Err(access_denied());
    }
    Ok(entry)
}

fn owned_bucket_mut<'a>(
    state: &'a mut State,
    principal: &Principal,
    bucket: &str,
) -> Result<&'a mut Bucket, AwsError> {
    let entry = state
        .buckets
        .get_mut(bucket)
        .ok_or_else(|| no_such_bucket(bucket))?;
    if entry.owner != principal.account_id {
        return Err(access_denied());
    }
    Ok(entry)
}

/// A fake canonical user ID per account (64 hex digits, as S3's are).
fn canonical_id(account_id: &str) -> String {
    let half = md5_hex(account_id.as_bytes());
    format!("{half}{}", md5_hex(half.as_bytes()))
}

fn list_buckets(local: &LocalS3, request: &RequestContext, principal: &Principal) -> HttpResponse {
    let state = local.read();
    let prefix = request.query("prefix").unwrap_or_default();
    let mut xml = XmlWriter::new("ListAllMyBucketsResult", Some(S3_NS));
    xml.open("Owner")
        .text("ID", canonical_id(&principal.account_id))
        .text("DisplayName", &principal.account_id)
        .close("Owner")
        .open("Buckets");
    for (name, bucket) in &state.buckets {
        if bucket.owner == principal.account_id && name.starts_with(prefix) {
            xml.open("Bucket")
                .text("Name", name)
                .text("CreationDate", iso8601_millis(bucket.created))
                .text("BucketRegion", REGION)
                .close("Bucket");
        }
    }
    xml.close("Buckets");
    xml_response(StatusCode::OK, xml.finish("ListAllMyBucketsResult"))
}

fn create_bucket(
    local: &LocalS3,
    principal: &Principal,
    bucket: &str,
) -> Result<HttpResponse, AwsError> {
    local.write().create_bucket(&principal.account_id, bucket)?;
    let mut response = empty(StatusCode::OK);
    if let Ok(location) = HeaderValue::from_str(&format!("/{bucket}")) {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

fn head_bucket(
    local: &LocalS3,
    principal: &Principal,
    bucket: &str,
) -> Result<HttpResponse, AwsError> {
    owned_bucket(&local.read(), principal, bucket)?;
    let mut response = empty(StatusCode::OK);
    response
        .headers_mut()
        .insert("x-amz-bucket-region", HeaderValue::from_static(REGION));
    Ok(response)
}

fn delete_bucket(
    local: &LocalS3,
    principal: &Principal,
    bucket: &str,
) -> Result<HttpResponse, AwsError> {
    let mut state = local.write();
    if !owned_bucket(&state, principal, bucket)?.objects.is_empty() {
        return Err(AwsError::new(
            StatusCode::CONFLICT,
            "BucketNotEmpty",
            "The bucket you tried to delete is not empty",
        )
        .with("BucketName", bucket));
    }
    state.buckets.remove(bucket);
    Ok(empty(StatusCode::NO_CONTENT))
}

fn get_bucket_encryption(
    local: &LocalS3,
    principal: &Principal,
    bucket: &str,
) -> Result<HttpResponse, AwsError> {
    let state = local.read();
    let entry = owned_bucket(&state, principal, bucket)?;
    let Some(encryption) = &entry.encryption else {
        return Err(AwsError::new(
            StatusCode::NOT_FOUND,
            "ServerSideEncryptionConfigurationNotFoundError",
            "The server side encryption configuration was not found",
        )
        .with("BucketName", bucket));
    };
    let mut xml = XmlWriter::new("ServerSideEncryptionConfiguration", Some(S3_NS));
    xml.open("Rule")
        .open("ApplyServerSideEncryptionByDefault")
        .text("SSEAlgorithm", &encryption.sse_algorithm);
    if encryption.sse_algorithm.starts_with("aws:kms")
        && let Some(key) = &encryption.kms_key_id
    {
        xml.text("KMSMasterKeyID", key);
    }
    xml.close("ApplyServerSideEncryptionByDefault")
        .text("BucketKeyEnabled", "false")
        .close("Rule");
    Ok(xml_response(
        StatusCode::OK,
        xml.finish("ServerSideEncryptionConfiguration"),
    ))
}

fn get_bucket_location(
    local: &LocalS3,
    principal: &Principal,
    bucket: &str,
) -> Result<HttpResponse, AwsError> {
    owned_bucket(&local.read(), principal, bucket)?;
    // us-east-1 is reported as an empty LocationConstraint.
    Ok(xml_response(
        StatusCode::OK,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{S3_NS}\"/>"
        ),
    ))
}

/// Where a ListObjectsV2 page ended: after a key, or after a whole common prefix (whose keys
/// must all be skipped on the next page).
#[derive(Debug, Clone, PartialEq, Eq)]
enum ListMarker {
    Key(String),
    CommonPrefix(String),
}

impl ListMarker {
    /// Encodes as an opaque continuation token (`k`/`p` + hex of the key).
    fn to_token(&self) -> String {
        let (kind, text) = match self {
            ListMarker::Key(key) => ('k', key),
            ListMarker::CommonPrefix(prefix) => ('p', prefix),
        };
        let mut token = String::with_capacity(1 + text.len() * 2);
        token.push(kind);
        for byte in text.bytes() {
            token.push_str(&format!("{byte:02x}"));
        }
        token
    }

    fn from_token(token: &str) -> Option<Self> {
        let (kind, hex) = token.split_at_checked(1)?;
        if hex.len() % 2 != 0 {
            return None;
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        let text = String::from_utf8(bytes).ok()?;
        match kind {
            "k" => Some(ListMarker::Key(text)),
            "p" => Some(ListMarker::CommonPrefix(text)),
            _ => None,
        }
    }
}

/// Characters `encoding-type=url` escapes in listed keys (everything but unreserved
/// characters and `/`).
const URL_ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

fn list_objects_v2(
    local: &LocalS3,
    request: &RequestContext,
    principal: &Principal,
    bucket: &str,
) -> Result<HttpResponse, AwsError> {
    let prefix = request.query("prefix").unwrap_or_default();
    let delimiter = request.query("delimiter").unwrap_or_default();
    let start_after_opt = request.query("start-after");
    let token_opt = request.query("continuation-token");
    let url_encoded = match request.query("encoding-type") {
        None => false,
        Some("url") => true,
        Some(other) => {
            return Err(invalid_argument(
                "Invalid Encoding Method specified in Request",
                "encoding-type",
                other,
            ));
        }
    };
    let max_keys = match request.query("max-keys") {
        None => MAX_KEYS,
        Some(text) => text.parse::<usize>().map_err(|_| {
            invalid_argument(
                "Provided max-keys not an integer or within integer range",
                "max-keys",
                text,
            )
        })?,
    }
    .min(MAX_KEYS);
    let marker_opt = match token_opt {
        Some(token) => Some(ListMarker::from_token(token).ok_or_else(|| {
            invalid_argument(
                "The continuation token provided is incorrect",
                "continuation-token",
                token,
            )
        })?),
        // A continuation token supersedes start-after.
        None => start_after_opt.map(|key| ListMarker::Key(key.to_string())),
    };

    let state = local.read();
    let entry = owned_bucket(&state, principal, bucket)?;

    // Start at the later of the prefix and the marker.
    let lower: Bound<&str> = match &marker_opt {
        Some(ListMarker::Key(key) | ListMarker::CommonPrefix(key)) if key.as_str() >= prefix => {
            Bound::Excluded(key.as_str())
        }
        _ => Bound::Included(prefix),
    };
    let mut skip_prefix_opt: Option<&str> = match &marker_opt {
        Some(ListMarker::CommonPrefix(common)) => Some(common.as_str()),
        _ => None,
    };
    let mut contents: Vec<&StoredObject> = Vec::new();
    let mut common_prefixes: Vec<&str> = Vec::new();
    let mut last_opt: Option<ListMarker> = None;
    let mut is_truncated = false;
    for (key, stored) in entry.objects.range::<str, _>((lower, Bound::Unbounded)) {
        if !key.starts_with(prefix) {
            // Keys are ordered: past the prefix's range, nothing more can match.
            break;
        }
        if let Some(skip) = skip_prefix_opt
            && key.starts_with(skip)
        {
            continue;
        }
        let common_opt = (!delimiter.is_empty())
            .then(|| {
                key[prefix.len()..]
                    .find(delimiter)
                    .map(|at| &key[..prefix.len() + at + delimiter.len()])
            })
            .flatten();
        if max_keys == 0 || contents.len() + common_prefixes.len() == max_keys {
            is_truncated = max_keys != 0;
            break;
        }
        match common_opt {
            Some(common) => {
                common_prefixes.push(common);
                skip_prefix_opt = Some(common);
                last_opt = Some(ListMarker::CommonPrefix(common.to_string()));
            }
            None => {
                contents.push(stored);
                last_opt = Some(ListMarker::Key(key.clone()));
            }
        }
    }

    let encode = |text: &str| -> String {
        if url_encoded {
            utf8_percent_encode(text, URL_ENCODE_SET).to_string()
        } else {
            text.to_string()
        }
    };
    let mut xml = XmlWriter::new("ListBucketResult", Some(S3_NS));
    xml.text("Name", bucket).text("Prefix", encode(prefix));
    if !delimiter.is_empty() {
        xml.text("Delimiter", encode(delimiter));
    }
    xml.text("MaxKeys", max_keys.to_string())
        .text(
            "KeyCount",
            (contents.len() + common_prefixes.len()).to_string(),
        )
        .text("IsTruncated", is_truncated.to_string());
    if url_encoded {
        xml.text("EncodingType", "url");
    }
    if let Some(token) = token_opt {
        xml.text("ContinuationToken", token);
    }
    if let Some(start_after) = start_after_opt {
        xml.text("StartAfter", encode(start_after));
    }
    if is_truncated && let Some(last) = &last_opt {
        xml.text("NextContinuationToken", last.to_token());
    }
    for stored in contents {
        let object = &stored.object;
        xml.open("Contents")
            .text("Key", encode(&object.key))
            .text(
                "LastModified",
                iso8601_millis(object.last_modified.unwrap_or(SystemTime::UNIX_EPOCH)),
            )
            .text("ETag", format!("\"{}\"", stored.etag))
            .text("Size", object.body.len().to_string())
            .text(
                "StorageClass",
                object.storage_class.as_deref().unwrap_or("STANDARD"),
            );
        if object.is_archived() && object.restored {
            xml.open("RestoreStatus")
                .text("IsRestoreInProgress", "false")
                .text("RestoreExpiryDate", iso8601_millis(restore_expiry()))
                .close("RestoreStatus");
        }
        xml.close("Contents");
    }
    for common in common_prefixes {
        xml.open("CommonPrefixes")
            .text("Prefix", encode(common))
            .close("CommonPrefixes");
    }
    Ok(xml_response(StatusCode::OK, xml.finish("ListBucketResult")))
}

/// Builds the object PutObject stores from the request headers, validating them as S3 does.
fn object_from_request(request: &RequestContext, key: &str) -> Result<LocalObject, AwsError> {
    let mut object = LocalObject::new(key, request.body.clone());
    if let Some(class) = request.header("x-amz-storage-class") {
        if !STORAGE_CLASSES.contains(&class) {
            return Err(AwsError::new(
                StatusCode::BAD_REQUEST,
                "InvalidStorageClass",
                "The storage class you specified is not valid",
            )
            .with("StorageClassRequested", class));
        }
        object.storage_class = Some(class.to_string());
    }
    let sse_opt = request.header(SSE_HEADER);
    if let Some(sse) = sse_opt
        && !matches!(sse, "AES256" | "aws:kms" | "aws:kms:dsse")
    {
        return Err(invalid_argument(
            "The encryption method specified is not supported",
            SSE_HEADER,
            sse,
        ));
    }
    let kms_key_opt = request.header(SSE_KMS_KEY_HEADER);
    if let Some(kms_key) = kms_key_opt
        && !sse_opt.is_some_and(|sse| sse.starts_with("aws:kms"))
    {
        return Err(invalid_argument(
            "Server Side Encryption with KMS managed key requires HTTP header \
             x-amz-server-side-encryption : aws:kms",
            SSE_KMS_KEY_HEADER,
            kms_key,
        ));
    }
    object.server_side_encryption = sse_opt.map(str::to_string);
    object.kms_key_id = kms_key_opt.map(str::to_string);
    if let Some(algorithm) = request.header(SSE_C_ALGORITHM_HEADER) {
        if algorithm != "AES256" {
            return Err(AwsError::new(
                StatusCode::BAD_REQUEST,
                "InvalidEncryptionAlgorithmError",
                "The Encryption request you specified is not valid. Supported value: AES256.",
            )
            .with("ArgumentName", SSE_C_ALGORITHM_HEADER)
            .with("ArgumentValue", algorithm));
        }
        if sse_opt.is_some() {
            return Err(invalid_argument(
                "Server Side Encryption with Customer provided key is incompatible with the \
                 encryption method specified",
                SSE_HEADER,
                sse_opt.unwrap_or_default(),
            ));
        }
        if request.header(SSE_C_KEY_HEADER).is_none() {
            return Err(invalid_argument(
                "Requests specifying Server Side Encryption with Customer provided keys must \
                 provide an appropriate secret key.",
                SSE_C_ALGORITHM_HEADER,
                algorithm,
            ));
        }
        object.sse_customer_algorithm = Some(algorithm.to_string());
        object.sse_customer_key_md5 = request.header(SSE_C_KEY_MD5_HEADER).map(str::to_string);
    }
    object.content_type = request.header("content-type").map(str::to_string);
    object.metadata = user_metadata(&request.headers);
    Ok(object)
}

/// Returns the `x-amz-meta-*` headers as metadata (names without the prefix, lower-cased).
fn user_metadata(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            let name = name.as_str().strip_prefix("x-amz-meta-")?;
            Some((name.to_string(), value.to_str().ok()?.to_string()))
        })
        .collect()
}

fn put_object(
    local: &LocalS3,
    request: &RequestContext,
    principal: &Principal,
    bucket: &str,
    key: &str,
) -> Result<HttpResponse, AwsError> {
    let object = object_from_request(request, key)?;
    let mut state = local.write();
    let entry = owned_bucket(&state, principal, bucket)?;
    // The encryption the object will get: its own headers, else the bucket default.
    let (sse_opt, kms_key_opt) = match (&object.server_side_encryption, &entry.encryption) {
        (None, Some(default)) if object.sse_customer_algorithm.is_none() => (
            Some(default.sse_algorithm.as_str()),
            object
                .kms_key_id
                .as_deref()
                .or(default.kms_key_id.as_deref()),
        ),
        _ => (
            object.server_side_encryption.as_deref(),
            object.kms_key_id.as_deref(),
        ),
    };
    if sse_opt.is_some_and(|sse| sse.starts_with("aws:kms")) {
        let arn = kms_key_arn(kms_key_opt, &entry.owner);
        check_kms_key(&state, principal, &arn, "kms:GenerateDataKey")?;
    }
    state.put_object(bucket, object)?;
    let stored = owned_bucket(&state, principal, bucket)?
        .objects
        .get(key)
        .expect("the object just stored should be there");
    let mut response = empty(StatusCode::OK);
    let headers = response.headers_mut();
    insert(headers, ETAG, &format!("\"{}\"", stored.etag));
    insert_encryption_headers(headers, &stored.object);
    Ok(response)
}

fn delete_object(
    local: &LocalS3,
    principal: &Principal,
    bucket: &str,
    key: &str,
) -> Result<HttpResponse, AwsError> {
    let mut state = local.write();
    owned_bucket_mut(&mut state, principal, bucket)?
        .objects
        .remove(key);
    // S3 answers 204 whether or not the key existed.
    Ok(empty(StatusCode::NO_CONTENT))
}

fn get_object(
    local: &LocalS3,
    request: &RequestContext,
    principal: &Principal,
    bucket: &str,
    key: &str,
) -> Result<HttpResponse, AwsError> {
    let is_get = request.method == Method::GET;
    let state = local.read();
    let entry = owned_bucket(&state, principal, bucket)?;
    let stored = entry.objects.get(key).ok_or_else(|| {
        AwsError::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
        .with("Key", key)
    })?;
    let object = &stored.object;
    check_customer_key(request, object)?;
    // HeadObject reads neither the archive nor the key: it succeeds where GetObject fails.
    if is_get && object.is_archived() && !object.restored {
        return Err(AwsError::new(
            StatusCode::FORBIDDEN,
            "InvalidObjectState",
            "The operation is not valid for the object's storage class",
        )
        .with(
            "StorageClass",
            object.storage_class.as_deref().unwrap_or_default(),
        ));
    }
    if is_get
        && object
            .server_side_encryption
            .as_deref()
            .is_some_and(|sse| sse.starts_with("aws:kms"))
    {
        let arn = kms_key_arn(object.kms_key_id.as_deref(), &entry.owner);
        check_kms_key(&state, principal, &arn, "kms:Decrypt")?;
    }

    let total = object.body.len();
    let range_opt = match request.header("range") {
        Some(range) if is_get => parse_range(range, total).map_err(|()| {
            AwsError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The requested range is not satisfiable",
            )
            .with("RangeRequested", range)
            .with("ActualObjectSize", total.to_string())
        })?,
        _ => None,
    };
    let (status, body) = match range_opt {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, object.body.slice(start..=end)),
        None => (StatusCode::OK, object.body.clone()),
    };
    let length = body.len();
    let mut response = Response::new(Full::new(if is_get { body } else { Bytes::new() }));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    insert(headers, CONTENT_LENGTH, &length.to_string());
    if let Some((start, end)) = range_opt {
        insert(
            headers,
            CONTENT_RANGE,
            &format!("bytes {start}-{end}/{total}"),
        );
    }
    insert(headers, ETAG, &format!("\"{}\"", stored.etag));
    insert(
        headers,
        LAST_MODIFIED,
        &http_date(object.last_modified.unwrap_or(SystemTime::UNIX_EPOCH)),
    );
    insert(
        headers,
        CONTENT_TYPE,
        object
            .content_type
            .as_deref()
            .unwrap_or("binary/octet-stream"),
    );
    insert(headers, ACCEPT_RANGES, "bytes");
    if let Some(class) = &object.storage_class {
        insert(
            headers,
            HeaderName::from_static("x-amz-storage-class"),
            class,
        );
    }
    if object.is_archived() && object.restored {
        insert(
            headers,
            HeaderName::from_static("x-amz-restore"),
            &format!(
                "ongoing-request=\"false\", expiry-date=\"{}\"",
                http_date(restore_expiry())
            ),
        );
    }
    insert_encryption_headers(headers, object);
    for (name, value) in &object.metadata {
        if let Ok(name) = HeaderName::from_bytes(format!("x-amz-meta-{name}").as_bytes())
            && let Ok(value) = HeaderValue::from_str(value)
        {
            headers.insert(name, value);
        }
    }
    Ok(response)
}

/// When a restored copy of an archived object expires (reported, never enforced).
fn restore_expiry() -> SystemTime {
    crate::now_secs() + Duration::from_secs(7 * 24 * 3600)
}

/// Checks the SSE-C headers of a read against the object.
fn check_customer_key(request: &RequestContext, object: &LocalObject) -> Result<(), AwsError> {
    let algorithm_opt = request.header(SSE_C_ALGORITHM_HEADER);
    match (&object.sse_customer_algorithm, algorithm_opt) {
        (Some(_), None) => Err(AwsError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "The object was stored using a form of Server Side Encryption. The correct \
             parameters must be provided to retrieve the object.",
        )),
        (Some(_), Some(_)) => {
            let presented_opt = request.header(SSE_C_KEY_MD5_HEADER);
            match (&object.sse_customer_key_md5, presented_opt) {
                (Some(stored), Some(presented)) if stored != presented => Err(access_denied()),
                _ => Ok(()),
            }
        }
        (None, Some(_)) => Err(AwsError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "The encryption parameters are not applicable to this object.",
        )),
        (None, None) => Ok(()),
    }
}

/// Fails as S3 does when the KMS key an operation needs is not usable by the caller.
fn check_kms_key(
    state: &State,
    principal: &Principal,
    key_arn: &str,
    action: &str,
) -> Result<(), AwsError> {
    match state.kms_key_state(key_arn) {
        KmsKeyState::Enabled => Ok(()),
        KmsKeyState::Disabled => Err(AwsError::new(
            StatusCode::BAD_REQUEST,
            "KMS.DisabledException",
            format!("{key_arn} is disabled."),
        )),
        KmsKeyState::PendingDeletion => Err(AwsError::new(
            StatusCode::BAD_REQUEST,
            "KMS.KMSInvalidStateException",
            format!("{key_arn} is pending deletion."),
        )),
        KmsKeyState::Missing => Err(AwsError::new(
            StatusCode::BAD_REQUEST,
            "KMS.NotFoundException",
            format!("Key '{key_arn}' does not exist"),
        )),
        KmsKeyState::Denied => Err(AwsError::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            format!(
                "User: {} is not authorized to perform: {action} on resource: {key_arn} \
                 because no identity-based policy allows the {action} action",
                principal.arn()
            ),
        )),
    }
}

/// Parses a single `bytes=` range into inclusive offsets. `Ok(None)` means serve the whole
/// object (no range, or one S3 ignores: malformed or multiple); `Err` means unsatisfiable.
fn parse_range(header: &str, total: usize) -> Result<Option<(usize, usize)>, ()> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (first, last) = (first.trim(), last.trim());
    let range = match (first.parse::<usize>(), last.parse::<usize>()) {
        (Ok(start), Ok(end)) if start <= end => (start, end.min(total.saturating_sub(1))),
        (Ok(_), Ok(_)) => return Ok(None),
        (Ok(start), Err(_)) if last.is_empty() => (start, total.saturating_sub(1)),
        (Err(_), Ok(suffix)) if first.is_empty() => {
            if suffix == 0 {
                return Err(());
            }
            (total.saturating_sub(suffix), total.saturating_sub(1))
        }
        _ => return Ok(None),
    };
    if range.0 >= total {
        return Err(());
    }
    Ok(Some(range))
}

fn insert_encryption_headers(headers: &mut HeaderMap, object: &LocalObject) {
    if let Some(sse) = &object.server_side_encryption {
        insert(headers, HeaderName::from_static(SSE_HEADER), sse);
    }
    if let Some(key) = &object.kms_key_id {
        insert(headers, HeaderName::from_static(SSE_KMS_KEY_HEADER), key);
    }
    if let Some(algorithm) = &object.sse_customer_algorithm {
        insert(
            headers,
            HeaderName::from_static(SSE_C_ALGORITHM_HEADER),
            algorithm,
        );
        if let Some(md5) = &object.sse_customer_key_md5 {
            insert(headers, HeaderName::from_static(SSE_C_KEY_MD5_HEADER), md5);
        }
    }
}

/// Inserts a header, skipping values that are not valid header text.
fn insert(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_tokens_round_trip() {
        for marker in [
            ListMarker::Key("a/b c/ü.txt".into()),
            ListMarker::CommonPrefix("logs/".into()),
        ] {
            assert_eq!(ListMarker::from_token(&marker.to_token()), Some(marker));
        }
        assert_eq!(ListMarker::from_token("x00"), None);
        assert_eq!(ListMarker::from_token("k0"), None);
        assert_eq!(ListMarker::from_token(""), None);
    }

    #[test]
    fn ranges_parse_as_s3_does() {
        assert_eq!(parse_range("bytes=0-4", 10), Ok(Some((0, 4))));
        assert_eq!(parse_range("bytes=5-", 10), Ok(Some((5, 9))));
        assert_eq!(parse_range("bytes=-3", 10), Ok(Some((7, 9))));
        assert_eq!(parse_range("bytes=8-100", 10), Ok(Some((8, 9))));
        assert_eq!(parse_range("bytes=10-", 10), Err(()));
        assert_eq!(parse_range("bytes=0-1,3-4", 10), Ok(None));
        assert_eq!(parse_range("items=0-1", 10), Ok(None));
    }
}
