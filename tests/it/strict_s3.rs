//! A strict S3 front: an HTTP/1.1 proxy in front of moto that refuses the reads S3 refuses and
//! moto serves.
//!
//! moto stores an object's SSE-KMS key but serves the object whatever becomes of the key, and
//! forgets SSE-C altogether (a GET without the customer key returns the data). This front
//! forwards every request to moto unchanged, except object GETs and HEADs that S3 would refuse:
//!
//! - an object the test marked SSE-C ([`StrictS3::mark_sse_c`]), read without the
//!   `x-amz-server-side-encryption-customer-algorithm` header: a GET gets 400 `InvalidRequest`
//!   ("The object was stored using a form of Server Side Encryption. …"), a HEAD a bare 400, as
//!   S3 answers;
//! - a GET of an SSE-KMS or DSSE-KMS object whose key moto's own DescribeKey (asked with the
//!   caller's own access key, so in the caller's account) reports `Disabled` (400
//!   `KMS.DisabledException`), `PendingDeletion` (400 `KMS.KMSInvalidStateException`), missing
//!   (400 `KMS.NotFoundException`) or refuses under a deny key policy (403 `AccessDenied` naming
//!   `kms:Decrypt` and the key ARN). A HEAD of such an object is answered by moto, as S3 answers
//!   it: HEAD does not need the key.
//!
//! Archived objects need nothing from the front: moto refuses them itself (403
//! `InvalidObjectState`). Every response carries `Connection: close`, one request per
//! connection, so the SDK never reuses a connection the front has closed.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// moto's address.
const MOTO: &str = "127.0.0.1:5000";

/// The front, serving until dropped.
pub(crate) struct StrictS3 {
    url: String,
    sse_c: Arc<Mutex<HashSet<(String, String)>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for StrictS3 {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl StrictS3 {
    /// Starts the front on a free local port.
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let sse_c: Arc<Mutex<HashSet<(String, String)>>> = Arc::default();
        let marks = sse_c.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let marks = marks.clone();
                tokio::spawn(async move {
                    let _ = serve(socket, marks).await;
                });
            }
        });
        Self { url, sse_c, server }
    }

    /// Returns the endpoint URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Marks an object as stored with SSE-C (moto forgets it on PUT).
    pub(crate) fn mark_sse_c(&self, bucket: &str, key: &str) {
        self.sse_c
            .lock()
            .unwrap()
            .insert((bucket.to_string(), key.to_string()));
    }
}

/// A parsed request head.
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Returns (bucket, key) of a path-style object request.
    fn object(&self) -> Option<(String, String)> {
        let path = self.target.split('?').next().unwrap_or_default();
        let (bucket, key) = path.strip_prefix('/')?.split_once('/')?;
        (!key.is_empty()).then(|| (percent_decode(bucket), percent_decode(key)))
    }

    /// Serialises the request with `method` and `target`, one request per connection.
    fn to_bytes(&self, method: &str, target: &str, with_body: bool) -> Vec<u8> {
        let mut out = format!("{method} {target} HTTP/1.1\r\n");
        for (name, value) in &self.headers {
            if name.eq_ignore_ascii_case("connection")
                || (!with_body && name.eq_ignore_ascii_case("content-length"))
            {
                continue;
            }
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("Connection: close\r\n\r\n");
        let mut bytes = out.into_bytes();
        if with_body {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn read_request(socket: &mut TcpStream) -> Option<Request> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_string();
    let target = request_line.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

/// Sends `request` to moto and returns its whole response (moto closes the connection).
async fn exchange(request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut moto = TcpStream::connect(MOTO).await?;
    moto.write_all(request).await?;
    let mut response = Vec::new();
    moto.read_to_end(&mut response).await?;
    Ok(response)
}

/// Splits a raw response into status, headers and body.
fn parse_response(raw: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = raw.get(end + 4..).unwrap_or_default().to_vec();
    (status, headers, body)
}

fn s3_error(status: u16, reason: &str, code: &str, message: &str, with_body: bool) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>\
         <RequestId>STRICTFRONT</RequestId><HostId>strict-front</HostId></Error>"
    );
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\nx-amz-request-id: STRICTFRONT\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        if with_body { body.len() } else { 0 }
    )
    .into_bytes();
    if with_body {
        response.extend_from_slice(body.as_bytes());
    }
    response
}

/// The access key ID (and session token) the caller signed with.
fn caller(request: &Request) -> (String, Option<String>) {
    let akid = request
        .header("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').next())
        .unwrap_or("testing")
        .to_string();
    (
        akid,
        request.header("x-amz-security-token").map(str::to_string),
    )
}

/// What moto's DescribeKey says of `key_id` to the caller: Ok(state, ARN) or Err(error type).
async fn describe_key(request: &Request, key_id: &str) -> Result<(String, String), String> {
    let (akid, token) = caller(request);
    let body = serde_json::json!({ "KeyId": key_id }).to_string();
    // moto picks the service from the credential scope; the signature is not checked.
    let mut head = format!(
        "POST / HTTP/1.1\r\nHost: {MOTO}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: TrentService.DescribeKey\r\nX-Amz-Date: 20260101T000000Z\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential={akid}/20260101/us-east-1/kms/aws4_request, \
         SignedHeaders=host, Signature=00\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(token) = token {
        head.push_str(&format!("X-Amz-Security-Token: {token}\r\n"));
    }
    head.push_str("\r\n");
    let raw = exchange(format!("{head}{body}").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let (status, _, body) = parse_response(&raw);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if status == 200 {
        let metadata = &json["KeyMetadata"];
        Ok((
            metadata["KeyState"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            metadata["Arn"].as_str().unwrap_or_default().to_string(),
        ))
    } else {
        Err(json["__type"]
            .as_str()
            .unwrap_or("UnknownError")
            .to_string())
    }
}

/// Returns S3's refusal of a GET or HEAD, if S3 would refuse it.
async fn refusal(request: &Request, marks: &Mutex<HashSet<(String, String)>>) -> Option<Vec<u8>> {
    let is_get = request.method == "GET";
    if !is_get && request.method != "HEAD" {
        return None;
    }
    let (bucket, key) = request.object()?;
    let has_customer_key = request
        .header("x-amz-server-side-encryption-customer-algorithm")
        .is_some();
    if !has_customer_key
        && marks
            .lock()
            .unwrap()
            .contains(&(bucket.clone(), key.clone()))
    {
        return Some(s3_error(
            400,
            "Bad Request",
            "InvalidRequest",
            "The object was stored using a form of Server Side Encryption. The correct \
             parameters must be provided to retrieve the object.",
            is_get,
        ));
    }
    if !is_get {
        return None;
    }
    let path = request.target.split('?').next().unwrap_or_default();
    let head = exchange(&request.to_bytes("HEAD", path, false))
        .await
        .ok()?;
    let (status, headers, _) = parse_response(&head);
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if status != 200
        || !header("x-amz-server-side-encryption").is_some_and(|s| s.starts_with("aws:kms"))
    {
        return None;
    }
    let key_id = header("x-amz-server-side-encryption-aws-kms-key-id")?;
    let fallback_arn = if key_id.starts_with("arn:") {
        key_id.clone()
    } else {
        format!("arn:aws:kms:us-east-1:123456789012:key/{key_id}")
    };
    let (code, status, reason, message) = match describe_key(request, &key_id).await {
        Ok((state, _)) if state == "Enabled" => return None,
        Ok((state, arn)) if state == "Disabled" => (
            "KMS.DisabledException",
            400,
            "Bad Request",
            format!("{arn} is disabled."),
        ),
        Ok((state, arn)) if state == "PendingDeletion" => (
            "KMS.KMSInvalidStateException",
            400,
            "Bad Request",
            format!("{arn} is pending deletion."),
        ),
        Ok((state, arn)) => (
            "KMS.KMSInvalidStateException",
            400,
            "Bad Request",
            format!("{arn} is {state}."),
        ),
        Err(kind) if kind == "NotFoundException" => (
            "KMS.NotFoundException",
            400,
            "Bad Request",
            format!("Key '{fallback_arn}' does not exist"),
        ),
        Err(kind) if kind == "AccessDeniedException" => (
            "AccessDenied",
            403,
            "Forbidden",
            format!(
                "User: arn:aws:iam::123456789012:user/trawl-worker is not authorized to perform: \
                 kms:Decrypt on resource: {fallback_arn} because no identity-based policy allows \
                 the kms:Decrypt action"
            ),
        ),
        Err(_) => return None,
    };
    Some(s3_error(status, reason, code, &message, true))
}

/// Makes sure a forwarded response tells the client that the connection ends with it.
fn with_connection_close(raw: Vec<u8>) -> Vec<u8> {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return raw;
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut out: String = head
        .split("\r\n")
        .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
        .map(|line| format!("{line}\r\n"))
        .collect();
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&raw[end + 4..]);
    bytes
}

async fn serve(
    mut socket: TcpStream,
    marks: Arc<Mutex<HashSet<(String, String)>>>,
) -> std::io::Result<()> {
    let Some(request) = read_request(&mut socket).await else {
        return Ok(());
    };
    let response = match refusal(&request, &marks).await {
        Some(response) => response,
        None => with_connection_close(
            exchange(&request.to_bytes(&request.method, &request.target, true)).await?,
        ),
    };
    socket.write_all(&response).await?;
    socket.shutdown().await
}
