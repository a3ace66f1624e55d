//! The coordinator's HTTP API and web console: the same operations and figures as the CLI
//! (both call [`crate::admin::Admin`]), as JSON under `/api/v1`, and a one-page console at `/`.
//!
//! | Method | Path | What |
//! |---|---|---|
//! | GET | `/healthz` | liveness |
//! | GET, POST | `/api/v1/accounts` | master and members; integrate `{"ids": "111122223333,444455556666", "role_name", "external_id"}` |
//! | POST | `/api/v1/accounts/verify` | verify `{"ids": …}` (all when absent) |
//! | DELETE | `/api/v1/accounts/{id}` | remove a member |
//! | GET, PUT | `/api/v1/accounts/{id}/quota` | monthly byte quota `{"bytes": n or null}` |
//! | GET, POST | `/api/v1/resources` | selections; select `{"account", "bucket", "prefixes", "classification", "schedule"}` |
//! | PATCH, DELETE | `/api/v1/resources/{account}/{bucket}` | edit or remove a selection |
//! | GET | `/api/v1/pricing` | pricing profiles |
//! | POST | `/api/v1/reviews` | review the selections `{"profile"}`: per-bucket and total objects, bytes, cost |
//! | GET | `/api/v1/reviews/{id}` | a review made earlier |
//! | GET, POST | `/api/v1/jobs` | recent jobs; start `{"review_id"}` (exactly what was reviewed) or submit `{"spec": …}` |
//! | GET | `/api/v1/jobs/{id}` | progress, figures per account and bucket, running cost beside the estimate |
//! | GET | `/api/v1/jobs/{id}/review` | the review a job was started from |
//! | POST | `/api/v1/jobs/{id}/{pause,resume,cancel}` | control |
//! | GET | `/api/v1/jobs/{id}/results?after=&limit=&findings=true` | result records, paged |
//!
//! Errors are `{"error": {"code": "INVALID_ARGUMENT" | "NOT_FOUND" | "CONFLICT" | "REFUSED" |
//! "INTERNAL" | "UNAUTHENTICATED" | "METHOD_NOT_ALLOWED", "message": …}}` with the matching HTTP
//! status. With a token configured, every `/api/` request needs `Authorization: Bearer <token>`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use trawl_common::job::JobSpec;
use trawl_common::state::StateStore;
use trawl_common::store::JobStore;

use crate::admin::{
    Admin, AdminError, Control, ErrorKind, Plan, ResourceEdit, ResourceInput, ReviewReport,
};

/// Largest request body accepted.
const MAX_BODY_BYTES: usize = 1 << 20;
/// Reviews kept for starting a job, at most, and for how long.
const MAX_REVIEWS: usize = 64;
const REVIEW_TTL: Duration = Duration::from_secs(3600);

const CONSOLE_HTML: &str = include_str!("console.html");

/// Where the API listens and who may call it.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Bearer token every `/api/` request must present; required on non-loopback addresses.
    pub token: Option<String>,
}

impl ApiConfig {
    /// Checks that an API reachable from other hosts is not open to anyone.
    pub fn validate(&self) -> Result<(), String> {
        if !self.listen.ip().is_loopback() && self.token.as_deref().is_none_or(str::is_empty) {
            return Err(format!(
                "refusing to serve the API on {} without a token: set TRAWL_API_TOKEN, or listen on 127.0.0.1",
                self.listen
            ));
        }
        Ok(())
    }
}

struct StoredReview {
    id: String,
    made: Instant,
    plan: Plan,
    report: ReviewReport,
}

struct Api<S, St> {
    admin: Admin<S, St>,
    token: Option<String>,
    reviews: Mutex<VecDeque<StoredReview>>,
}

/// Binds `config.listen`; returns the listener and the address it got (port 0 picks one).
pub async fn bind(config: &ApiConfig) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(config.listen).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Serves the API and the console on `listener` until `shutdown`.
pub async fn serve<S: JobStore, St: StateStore>(
    admin: Admin<S, St>,
    listener: TcpListener,
    token: Option<String>,
    shutdown: CancellationToken,
) {
    let api = Arc::new(Api {
        admin,
        token: token.filter(|t| !t.is_empty()),
        reviews: Mutex::new(VecDeque::new()),
    });
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let api = api.clone();
                    connections.spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            let api = api.clone();
                            async move { Ok::<_, std::convert::Infallible>(api.handle(request).await) }
                        });
                        if let Err(error) = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                        {
                            tracing::debug!(%error, "API connection ended with an error");
                        }
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "API accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// A failure as the API reports it.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }
}

impl From<AdminError> for ApiError {
    fn from(error: AdminError) -> Self {
        let (status, code) = match error.kind {
            ErrorKind::InvalidArgument => (StatusCode::BAD_REQUEST, "INVALID_ARGUMENT"),
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            ErrorKind::Conflict => (StatusCode::CONFLICT, "CONFLICT"),
            ErrorKind::Refused => (StatusCode::UNPROCESSABLE_ENTITY, "REFUSED"),
            ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
        };
        Self::new(status, code, error.message)
    }
}

type Reply = Result<(StatusCode, Value), ApiError>;

fn ok(value: impl serde::Serialize) -> Reply {
    Ok((StatusCode::OK, to_value(value)?))
}

fn created(value: impl serde::Serialize) -> Reply {
    Ok((StatusCode::CREATED, to_value(value)?))
}

fn to_value(value: impl serde::Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(value)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string()))
}

fn json_response(status: StatusCode, value: &Value) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
    body.push(b'\n');
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn error_response(error: &ApiError) -> Response<Full<Bytes>> {
    json_response(
        error.status,
        &json!({"error": {"code": error.code, "message": error.message}}),
    )
}

/// Compares without leaking the position of the first difference through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Decodes `%XX` escapes of a path segment or query value (`+` is a space in queries).
fn percent_decode(text: &str, plus_is_space: bool) -> Result<String, ApiError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        ApiError::invalid(format!("invalid percent-escape in {text:?}"))
                    })?;
                out.push(hex);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::invalid(format!("{text:?} is not UTF-8")))
}

fn query_pairs(query: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let mut pairs = Vec::new();
    for part in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        pairs.push((percent_decode(k, true)?, percent_decode(v, true)?));
    }
    Ok(pairs)
}

fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn parse_body<T: for<'de> Deserialize<'de>>(body: &[u8], what: &str) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("invalid {what} in the request body: {e}")))
}

/// Account IDs as a comma-separated string or a JSON array of strings.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum Ids {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl Ids {
    fn joined(&self) -> String {
        match self {
            Ids::None => String::new(),
            Ids::One(text) => text.clone(),
            Ids::Many(list) => list.join(","),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddAccounts {
    #[serde(default)]
    ids: Ids,
    #[serde(default)]
    role_name: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VerifyAccounts {
    #[serde(default)]
    ids: Ids,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetQuota {
    bytes: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MakeReview {
    #[serde(default)]
    profile: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartJob {
    #[serde(default)]
    review_id: Option<String>,
    #[serde(default)]
    spec: Option<JobSpec>,
}

impl<S: JobStore, St: StateStore> Api<S, St> {
    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let started = Instant::now();
        let response = match self.route(request).await {
            Ok(response) => response,
            Err(error) => error_response(&error),
        };
        tracing::debug!(%method, %path, status = response.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "API request");
        response
    }

    fn authorised(&self, request: &Request<Incoming>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| constant_time_eq(given.trim().as_bytes(), token.as_bytes()))
    }

    async fn route(&self, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, ApiError> {
        let path = request.uri().path().to_string();
        if path == "/" || path == "/index.html" {
            if request.method() != Method::GET {
                return Err(method_not_allowed());
            }
            let mut response =
                Response::new(Full::new(Bytes::from_static(CONSOLE_HTML.as_bytes())));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            return Ok(response);
        }
        if path == "/healthz" {
            return Ok(json_response(StatusCode::OK, &json!({"ok": true})));
        }
        let Some(rest) = path.strip_prefix("/api/v1") else {
            return Err(ApiError::not_found(format!("no such page: {path}")));
        };
        if !self.authorised(&request) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "missing or wrong API token: send Authorization: Bearer <TRAWL_API_TOKEN>",
            ));
        }
        let segments: Vec<String> = rest
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode(s, false))
            .collect::<Result<_, _>>()?;
        let query = query_pairs(request.uri().query())?;
        let method = request.method().clone();
        let body = read_body(request).await?;
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let (status, value) = self.dispatch(&method, &segments, &query, &body).await?;
        Ok(json_response(status, &value))
    }

    async fn dispatch(
        &self,
        method: &Method,
        segments: &[&str],
        query: &[(String, String)],
        body: &[u8],
    ) -> Reply {
        let admin = &self.admin;
        match (method.clone(), segments) {
            (Method::GET, ["accounts"]) => ok(admin.accounts().await?),
            (Method::POST, ["accounts"]) => {
                let input: AddAccounts = parse_body(body, "accounts")?;
                let role = input
                    .role_name
                    .as_deref()
                    .unwrap_or(trawl_common::job::DEFAULT_ROLE_NAME);
                let changes = admin
                    .add_accounts(&input.ids.joined(), role, input.external_id.as_deref())
                    .await?;
                created(json!({ "accounts": changes }))
            }
            (Method::POST, ["accounts", "verify"]) => {
                let input: VerifyAccounts = parse_body(body, "account IDs")?;
                ok(json!({ "accounts": admin.verify_accounts(&input.ids.joined()).await? }))
            }
            (Method::DELETE, ["accounts", id]) => {
                let changes = admin.remove_accounts(id).await?;
                if changes.iter().all(|c| c.outcome == "NOT_INTEGRATED") {
                    return Err(ApiError::not_found(format!(
                        "account {id} is not integrated"
                    )));
                }
                ok(json!({ "accounts": changes }))
            }
            (Method::GET, ["accounts", id, "quota"]) => ok(admin.quota(id).await?),
            (Method::PUT, ["accounts", id, "quota"]) => {
                let input: SetQuota = parse_body(body, "quota")?;
                ok(admin.set_quota(id, input.bytes).await?)
            }
            (Method::GET, ["resources"]) => ok(json!({ "resources": admin.resources().await? })),
            (Method::POST, ["resources"]) => {
                let input: ResourceInput = parse_body(body, "resource")?;
                created(admin.add_resource(input).await?)
            }
            (Method::PATCH, ["resources", account, bucket]) => {
                let edit: ResourceEdit = parse_body(body, "resource changes")?;
                ok(admin.edit_resource(account, bucket, edit).await?)
            }
            (Method::DELETE, ["resources", account, bucket]) => {
                admin.remove_resource(account, bucket).await?;
                ok(json!({ "removed": {"account": account, "bucket": bucket} }))
            }
            (Method::GET, ["pricing"]) => ok(json!({
                "profiles": admin.pricing_profiles(),
                "default": admin.pricing(None)?.name(),
            })),
            (Method::POST, ["reviews"]) => {
                let input: MakeReview = parse_body(body, "review options")?;
                let (plan, report) = admin.review(input.profile.as_deref()).await?;
                let id = trawl_common::store::new_job_id();
                let value = review_value(&id, &report)?;
                self.keep_review(StoredReview {
                    id,
                    made: Instant::now(),
                    plan,
                    report,
                });
                Ok((StatusCode::CREATED, value))
            }
            (Method::GET, ["reviews", id]) => {
                let reviews = self.reviews.lock().expect("review cache lock");
                let stored = find_review(&reviews, id)?;
                ok(review_value(&stored.id, &stored.report)?)
            }
            (Method::GET, ["jobs"]) => {
                let limit = match query_value(query, "limit") {
                    Some(text) => text
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| {
                            ApiError::invalid(format!(
                                "invalid limit {text:?}: a number from 1 to 1000"
                            ))
                        })?,
                    None => 50,
                };
                let jobs = admin.jobs(limit).await?;
                let mut out = Vec::new();
                for job in jobs {
                    let stats = admin
                        .store()
                        .stats(&job.id)
                        .await
                        .map_err(AdminError::from)?;
                    out.push(crate::views::job_json(&job, &stats, None));
                }
                ok(json!({ "jobs": out }))
            }
            (Method::POST, ["jobs"]) => {
                let input: StartJob = parse_body(body, "job")?;
                match (input.review_id, input.spec) {
                    (Some(review_id), None) => self.start_reviewed(&review_id).await,
                    (None, Some(spec)) => {
                        let id = admin.submit(&spec).await?;
                        created(admin.job(&id).await?.2)
                    }
                    _ => Err(ApiError::invalid(
                        "give either review_id (start exactly what a review showed) or spec (a job's selections)",
                    )),
                }
            }
            (Method::GET, ["jobs", id]) => ok(admin.job(id).await?.2),
            (Method::GET, ["jobs", id, "review"]) => {
                admin.store().job(id).await.map_err(AdminError::from)?;
                match admin.store().review(id).await.map_err(AdminError::from)? {
                    Some(json) => ok(serde_json::from_str::<Value>(&json).map_err(|e| {
                        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", e.to_string())
                    })?),
                    None => Err(ApiError::not_found(format!(
                        "job {id} was not started from a review"
                    ))),
                }
            }
            (Method::GET, ["jobs", id, "results"]) => {
                let after = query_value(query, "after").unwrap_or("0");
                let limit = match query_value(query, "limit") {
                    Some(text) => text
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=10_000).contains(n))
                        .ok_or_else(|| {
                            ApiError::invalid(format!(
                                "invalid limit {text:?}: a number from 1 to 10000"
                            ))
                        })?,
                    None => 1000,
                };
                let findings = match query_value(query, "findings") {
                    None | Some("false") | Some("0") => false,
                    Some("true") | Some("1") | Some("") => true,
                    Some(other) => {
                        return Err(ApiError::invalid(format!(
                            "invalid findings {other:?}: true or false"
                        )));
                    }
                };
                ok(admin.results(id, after, limit, findings).await?)
            }
            (Method::POST, ["jobs", id, action]) => {
                let Some(control) = Control::parse(action) else {
                    return Err(ApiError::not_found(format!(
                        "no such job action {action:?}: pause, resume or cancel"
                    )));
                };
                let status = admin.control(id, control).await?;
                ok(json!({"id": id, "status": status}))
            }
            (_, segments) if is_known_path(segments) => Err(method_not_allowed()),
            _ => Err(ApiError::not_found(format!(
                "no such API path: /api/v1/{}",
                segments.join("/")
            ))),
        }
    }

    fn keep_review(&self, review: StoredReview) {
        let mut reviews = self.reviews.lock().expect("review cache lock");
        reviews.retain(|r| r.made.elapsed() < REVIEW_TTL);
        while reviews.len() >= MAX_REVIEWS {
            reviews.pop_front();
        }
        reviews.push_back(review);
    }

    /// Starts the job a review showed, if the selections have not changed since.
    async fn start_reviewed(&self, review_id: &str) -> Reply {
        let (plan, report) = {
            let reviews = self.reviews.lock().expect("review cache lock");
            let stored = find_review(&reviews, review_id)?;
            (stored.plan.clone(), stored.report.clone())
        };
        let current = self.admin.plan().await?;
        let same = |a: &JobSpec, b: &JobSpec| {
            a.accounts == b.accounts
                && a.selections == b.selections
                && a.modified_since_ms == b.modified_since_ms
        };
        if !same(&current.spec, &plan.spec) || current.unusable != plan.unusable {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "CONFLICT",
                format!(
                    "the accounts or selections changed since review {review_id}: review them again before starting"
                ),
            ));
        }
        let id = self.admin.start(&plan, &report).await?;
        // A review starts one job.
        self.reviews
            .lock()
            .expect("review cache lock")
            .retain(|r| r.id != review_id);
        created(self.admin.job(&id).await?.2)
    }
}

fn find_review<'a>(
    reviews: &'a VecDeque<StoredReview>,
    id: &str,
) -> Result<&'a StoredReview, ApiError> {
    reviews
        .iter()
        .find(|r| r.id == id && r.made.elapsed() < REVIEW_TTL)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no review {id:?}: it expired, was used to start a job, or was made by another coordinator; review again"
            ))
        })
}

fn review_value(id: &str, report: &ReviewReport) -> Result<Value, ApiError> {
    let mut value = to_value(report)?;
    value["id"] = json!(id);
    Ok(value)
}

fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "method not allowed on this path",
    )
}

fn is_known_path(segments: &[&str]) -> bool {
    matches!(
        segments,
        ["accounts"]
            | ["accounts", "verify"]
            | ["accounts", _]
            | ["accounts", _, "quota"]
            | ["resources"]
            | ["resources", _, _]
            | ["pricing"]
            | ["reviews"]
            | ["reviews", _]
            | ["jobs"]
            | ["jobs", _]
            | ["jobs", _, _]
    )
}

async fn read_body(request: Request<Incoming>) -> Result<Bytes, ApiError> {
    match Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) => {
            if error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "INVALID_ARGUMENT",
                    format!("request body over {MAX_BODY_BYTES} bytes"),
                ))
            } else {
                Err(ApiError::invalid(format!(
                    "reading the request body: {error}"
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_exactly() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }

    #[test]
    fn paths_and_queries_decode() {
        assert_eq!(percent_decode("logs%2F2026", false).unwrap(), "logs/2026");
        assert_eq!(percent_decode("a+b", true).unwrap(), "a b");
        assert_eq!(percent_decode("a+b", false).unwrap(), "a+b");
        assert!(percent_decode("%zz", false).is_err());
        let pairs = query_pairs(Some("after=1-0&findings=true&limit=5")).unwrap();
        assert_eq!(query_value(&pairs, "after"), Some("1-0"));
        assert_eq!(query_value(&pairs, "limit"), Some("5"));
        assert_eq!(query_value(&pairs, "nope"), None);
    }

    #[test]
    fn ids_come_as_text_or_a_list() {
        let input: AddAccounts =
            serde_json::from_str(r#"{"ids": ["111122223333", "444455556666"]}"#).unwrap();
        assert_eq!(input.ids.joined(), "111122223333,444455556666");
        let input: AddAccounts = serde_json::from_str(r#"{"ids": "111122223333, 4"}"#).unwrap();
        assert_eq!(input.ids.joined(), "111122223333, 4");
        assert!(parse_body::<AddAccounts>(b"{\"idz\": 1}", "accounts").is_err());
        let error = parse_body::<AddAccounts>(b"{not json", "accounts")
            .err()
            .unwrap();
        assert!(
            error.message.contains("invalid accounts"),
            "{}",
            error.message
        );
    }

    #[test]
    fn an_open_api_on_the_network_is_refused() {
        let open = ApiConfig {
            listen: "0.0.0.0:8480".parse().unwrap(),
            token: None,
        };
        assert!(open.validate().unwrap_err().contains("TRAWL_API_TOKEN"));
        let local = ApiConfig {
            listen: "127.0.0.1:8480".parse().unwrap(),
            token: None,
        };
        assert!(local.validate().is_ok());
        let guarded = ApiConfig {
            listen: "0.0.0.0:8480".parse().unwrap(),
            token: Some("t".into()),
        };
        assert!(guarded.validate().is_ok());
    }
}
