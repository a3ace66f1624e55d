//! The HTTP side: the accept loop and [`ServerHandle`], per-request context, routing to S3,
//! STS or KMS, caller identification from the SigV4 credential scope, and AWS error rendering.
//!
//! Routing follows what the SDKs send when one endpoint URL serves every service:
//! `POST /` with `X-Amz-Target: TrentService.*` is KMS (JSON 1.1), `POST /` with a form body
//! carrying `Action=` is STS (query protocol), and everything else is path-style S3
//! (`/bucket` and `/bucket/key`).

use std::borrow::Cow;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::LocalS3;
use crate::state::{Principal, PrincipalKind, State};
use crate::xml::{STS_NS, XmlWriter};

/// Largest request body accepted (PutObject in one part); larger is `EntityTooLarge`.
const MAX_BODY_BYTES: usize = 512 * 1024 * 1024;

/// The response type of every handler.
pub(crate) type HttpResponse = Response<Full<Bytes>>;

/// A running server. Dropping it stops accepting and closes open connections shortly after;
/// [`ServerHandle::shutdown`] does the same and waits until the server has stopped.
#[derive(Debug)]
pub struct ServerHandle {
    url: String,
    local_addr: SocketAddr,
    shutdown: CancellationToken,
    task_opt: Option<JoinHandle<()>>,
}

impl ServerHandle {
    pub(crate) fn new(
        url: String,
        local_addr: SocketAddr,
        shutdown: CancellationToken,
        task: JoinHandle<()>,
    ) -> Self {
        Self {
            url,
            local_addr,
            shutdown,
            task_opt: Some(task),
        }
    }

    /// Returns the endpoint URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Returns the address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the server and waits until the listener and every connection are closed.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task_opt.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Accepts connections until `shutdown` is cancelled; each connection is served on its own
/// task, and all of them are aborted when the loop ends.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    local: LocalS3,
    shutdown: CancellationToken,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let local = local.clone();
                    connections.spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            handle(local.clone(), request)
                        });
                        if let Err(error) = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                        {
                            tracing::debug!(%error, "s3-local connection ended with an error");
                        }
                    });
                }
                Err(error) => {
                    // e.g. out of file descriptors: back off rather than spin.
                    tracing::warn!(%error, "s3-local accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// One request, with its body read and decoded.
#[derive(Debug)]
pub(crate) struct RequestContext {
    pub(crate) request_id: String,
    pub(crate) method: Method,
    pub(crate) headers: HeaderMap,
    /// Decoded query parameters in order.
    pub(crate) query: Vec<(String, String)>,
    /// The payload, with any `aws-chunked` framing removed.
    pub(crate) body: Bytes,
}

impl RequestContext {
    /// Returns the first value of a query parameter.
    pub(crate) fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Returns whether a query parameter is present (with or without a value).
    pub(crate) fn has_query(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    /// Returns a header as text (`None` when absent or not visible ASCII).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Returns the access key ID of the SigV4 credential scope: from the `Authorization`
    /// header (`Credential=AKID/date/region/service/aws4_request`) or a presigned URL's
    /// `X-Amz-Credential`. Signatures themselves are not checked.
    pub(crate) fn access_key_id(&self) -> Option<&str> {
        if let Some(authorization) = self.header("authorization") {
            let (_, rest) = authorization.split_once("Credential=")?;
            return rest.split('/').next().filter(|akid| !akid.is_empty());
        }
        self.query("X-Amz-Credential")
            .and_then(|scope| scope.split('/').next())
            .filter(|akid| !akid.is_empty())
    }
}

/// Why a request's credentials were not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    /// No SigV4 credential scope at all.
    Anonymous,
    /// The access key ID is not known.
    UnknownAccessKey,
    /// Session credentials without their session token, or with another one.
    InvalidToken,
    /// Session credentials past their expiration.
    ExpiredToken,
}

/// Resolves the caller of a request.
pub(crate) fn authenticate(
    state: &State,
    request: &RequestContext,
) -> Result<Principal, AuthFailure> {
    let access_key_id = request.access_key_id().ok_or(AuthFailure::Anonymous)?;
    let credential = state
        .credentials
        .get(access_key_id)
        .ok_or(AuthFailure::UnknownAccessKey)?;
    if let PrincipalKind::Session {
        session_token,
        expires_at,
        ..
    } = &credential.principal.kind
    {
        let presented = request
            .header("x-amz-security-token")
            .or_else(|| request.query("X-Amz-Security-Token"));
        if presented != Some(session_token.as_str()) {
            return Err(AuthFailure::InvalidToken);
        }
        if SystemTime::now() >= *expires_at {
            return Err(AuthFailure::ExpiredToken);
        }
    }
    Ok(credential.principal.clone())
}

/// An AWS error: HTTP status, error code, message, and extra elements S3 adds (`Key`,
/// `BucketName`, …). Rendered per protocol by [`AwsError::into_s3`], [`AwsError::into_sts`]
/// and [`AwsError::into_json`].
#[derive(Debug, Clone)]
pub(crate) struct AwsError {
    pub(crate) status: StatusCode,
    pub(crate) code: Cow<'static, str>,
    pub(crate) message: String,
    pub(crate) extra: Vec<(&'static str, String)>,
}

impl AwsError {
    pub(crate) fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            extra: Vec::new(),
        }
    }

    /// Adds an element after `Message` (S3 errors name the resource this way).
    pub(crate) fn with(mut self, element: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((element, value.into()));
        self
    }

    /// Renders as S3 does: `<Error><Code/><Message/>…<RequestId/><HostId/></Error>`, with no
    /// body for HEAD requests.
    pub(crate) fn into_s3(self, request: &RequestContext) -> HttpResponse {
        if request.method == Method::HEAD {
            return empty(self.status);
        }
        let mut xml = XmlWriter::new("Error", None);
        xml.text("Code", &self.code).text("Message", &self.message);
        for (element, value) in &self.extra {
            xml.text(element, value);
        }
        xml.text("RequestId", &request.request_id)
            .text("HostId", host_id(&request.request_id));
        xml_response(self.status, xml.finish("Error"))
    }

    /// Renders as STS (query protocol) does: `<ErrorResponse><Error><Type/><Code/><Message/>
    /// </Error><RequestId/></ErrorResponse>`.
    pub(crate) fn into_sts(self, request: &RequestContext) -> HttpResponse {
        let kind = if self.status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        let mut xml = XmlWriter::new("ErrorResponse", Some(STS_NS));
        xml.open("Error")
            .text("Type", kind)
            .text("Code", &self.code)
            .text("Message", &self.message)
            .close("Error")
            .text("RequestId", &request.request_id);
        xml_response(self.status, xml.finish("ErrorResponse"))
    }

    /// Renders as AWS JSON 1.1 services (KMS) do: `{"__type": code, "message": …}`.
    pub(crate) fn into_json(self) -> HttpResponse {
        let body = serde_json::json!({ "__type": self.code, "message": self.message });
        let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
        *response.status_mut() = self.status;
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        response
    }
}

/// Returns an XML response.
pub(crate) fn xml_response(status: StatusCode, body: String) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    response
}

/// Returns a response without a body.
pub(crate) fn empty(status: StatusCode) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

fn host_id(request_id: &str) -> String {
    format!("s3-local/{request_id}")
}

/// Handles one request: reads the body, routes it, and stamps the request ID headers.
async fn handle(local: LocalS3, request: Request<Incoming>) -> Result<HttpResponse, Infallible> {
    let request_id = crate::state::random_string(b"0123456789ABCDEF", 16);
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let mut context = RequestContext {
        request_id,
        method: parts.method,
        headers: parts.headers,
        query,
        body: Bytes::new(),
    };
    let response = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => match decode_payload(&context.headers, collected.to_bytes()) {
            Ok(payload) => {
                context.body = payload;
                route(&local, &context, &path)
            }
            Err(message) => {
                AwsError::new(StatusCode::BAD_REQUEST, "IncompleteBody", message).into_s3(&context)
            }
        },
        Err(error) => {
            let too_large = error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            if too_large {
                AwsError::new(
                    StatusCode::BAD_REQUEST,
                    "EntityTooLarge",
                    "Your proposed upload exceeds the maximum allowed object size.",
                )
                .into_s3(&context)
            } else {
                AwsError::new(
                    StatusCode::BAD_REQUEST,
                    "IncompleteBody",
                    "You did not provide the number of bytes specified by the Content-Length HTTP header.",
                )
                .into_s3(&context)
            }
        }
    };
    let mut response = response;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&context.request_id) {
        headers.insert("x-amz-request-id", value.clone());
        headers.insert("x-amzn-requestid", value);
    }
    if let Ok(value) = HeaderValue::from_str(&host_id(&context.request_id)) {
        headers.insert("x-amz-id-2", value);
    }
    headers.insert("server", HeaderValue::from_static("AmazonS3"));
    tracing::debug!(
        method = %context.method,
        path,
        status = response.status().as_u16(),
        "s3-local request"
    );
    Ok(response)
}

/// Sends a request to S3, STS or KMS.
fn route(local: &LocalS3, request: &RequestContext, path: &str) -> HttpResponse {
    if request.method == Method::POST && path == "/" {
        if let Some(target) = request.header("x-amz-target") {
            if let Some(operation) = target.strip_prefix("TrentService.") {
                return crate::kms::handle(local, request, operation);
            }
        } else if let Some(action) = form_value(&request.body, "Action") {
            return crate::sts::handle(local, request, &action);
        }
    }
    crate::s3::handle(local, request, path)
}

/// Returns a field of an `application/x-www-form-urlencoded` body.
pub(crate) fn form_value(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Removes `aws-chunked` framing (the SDK's streaming uploads with trailing checksums) from a
/// payload; other payloads pass through.
fn decode_payload(headers: &HeaderMap, body: Bytes) -> Result<Bytes, String> {
    let chunked = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim() == "aws-chunked"))
        || headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("STREAMING-"));
    if !chunked {
        return Ok(body);
    }
    decode_aws_chunked(&body)
}

/// Decodes `hex-size[;chunk-signature=…]\r\n data \r\n … 0\r\n [trailers] \r\n`.
fn decode_aws_chunked(mut input: &[u8]) -> Result<Bytes, String> {
    let mut out = BytesMut::with_capacity(input.len());
    loop {
        let line_end = find_crlf(input).ok_or("aws-chunked: missing chunk header")?;
        let header = std::str::from_utf8(&input[..line_end])
            .map_err(|_| "aws-chunked: chunk header is not text")?;
        let size_hex = header.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("aws-chunked: bad chunk size {size_hex:?}"))?;
        input = &input[line_end + 2..];
        if size == 0 {
            // Trailers (checksums) follow; they are not verified.
            return Ok(out.freeze());
        }
        if input.len() < size + 2 || &input[size..size + 2] != b"\r\n" {
            return Err("aws-chunked: truncated chunk".to_string());
        }
        out.extend_from_slice(&input[..size]);
        input = &input[size + 2..];
    }
}

fn find_crlf(input: &[u8]) -> Option<usize> {
    input.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(headers: &[(&'static str, &str)], query: &[(&str, &str)]) -> RequestContext {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        RequestContext {
            request_id: "R".into(),
            method: Method::GET,
            headers: map,
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: Bytes::new(),
        }
    }

    #[test]
    fn access_key_comes_from_the_credential_scope() {
        let signed = context(
            &[(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/s3/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=abc",
            )],
            &[],
        );
        assert_eq!(signed.access_key_id(), Some("AKIDEXAMPLE"));
        let presigned = context(
            &[],
            &[(
                "X-Amz-Credential",
                "ASIAXYZ/20250101/us-east-1/s3/aws4_request",
            )],
        );
        assert_eq!(presigned.access_key_id(), Some("ASIAXYZ"));
        assert_eq!(context(&[], &[]).access_key_id(), None);
    }

    #[test]
    fn sessions_need_their_token_and_expire() {
        use crate::state::Credential;

        let mut state = State::default();
        let session = |expires_at| Credential {
            secret_access_key: "s".into(),
            principal: Principal {
                account_id: "222222222222".into(),
                kind: PrincipalKind::Session {
                    role_name: "Role".into(),
                    session_name: "trawl".into(),
                    session_token: "token-1".into(),
                    expires_at,
                    role_id: "AROAEXAMPLE".into(),
                },
            },
        };
        let now = SystemTime::now();
        let hour = std::time::Duration::from_secs(3600);
        state
            .credentials
            .insert("ASIALIVE".into(), session(now + hour));
        state
            .credentials
            .insert("ASIAOLD".into(), session(now - hour));
        let signed = |akid: &str, token_opt: Option<&str>| {
            let authorization =
                format!("AWS4-HMAC-SHA256 Credential={akid}/20250101/us-east-1/s3/aws4_request");
            let mut headers = vec![("authorization", authorization.as_str())];
            if let Some(token) = token_opt {
                headers.push(("x-amz-security-token", token));
            }
            context(&headers, &[])
        };
        let principal = authenticate(&state, &signed("ASIALIVE", Some("token-1"))).unwrap();
        assert_eq!(principal.account_id, "222222222222");
        assert_eq!(
            principal.arn(),
            "arn:aws:sts::222222222222:assumed-role/Role/trawl"
        );
        assert_eq!(
            authenticate(&state, &signed("ASIALIVE", None)).unwrap_err(),
            AuthFailure::InvalidToken
        );
        assert_eq!(
            authenticate(&state, &signed("ASIALIVE", Some("token-2"))).unwrap_err(),
            AuthFailure::InvalidToken
        );
        assert_eq!(
            authenticate(&state, &signed("ASIAOLD", Some("token-1"))).unwrap_err(),
            AuthFailure::ExpiredToken
        );
        assert_eq!(
            authenticate(&state, &signed("AKIANOBODY", None)).unwrap_err(),
            AuthFailure::UnknownAccessKey
        );
        assert_eq!(
            authenticate(&state, &context(&[], &[])).unwrap_err(),
            AuthFailure::Anonymous
        );
    }

    #[test]
    fn aws_chunked_payloads_are_unframed() {
        let framed = b"5;chunk-signature=abc\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n";
        assert_eq!(decode_aws_chunked(framed).unwrap(), "hello world");
        assert!(decode_aws_chunked(b"5\r\nhel").is_err());
        assert!(decode_aws_chunked(b"zz\r\n").is_err());
    }
}
