//! The coordinator's HTTP API (issue 3) on RabbitMQ, Redis and moto: the whole flow a user
//! goes through in the console — integrate accounts, verify them, select buckets, review,
//! start exactly what was reviewed, follow the job, read its results — over real HTTP, with
//! the token check, clear errors naming the input, and nothing changed by a refused request.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

const MEMBER: &str = "444455556666";
const TOKEN: &str = "api-test-token-1f3a";

/// A response: HTTP status, content type and body.
struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("the API should answer JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request on its own connection (`Connection: close`), read to the end.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(addr).await?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8(raw).expect("the API should answer UTF-8");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("a response should have a head and a body: {text}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a response should start with a status line: {head}"));
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    Ok(Reply {
        status,
        content_type,
        body: body.to_string(),
    })
}

/// An authorised API call that must answer `status`; returns the JSON body.
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<Value>,
    status: u16,
) -> Value {
    let reply = request(addr, method, path, Some(TOKEN), body)
        .await
        .unwrap_or_else(|e| panic!("{method} {path} should connect: {e}"));
    assert_eq!(
        reply.status, status,
        "{method} {path} answered {}: {}",
        reply.status, reply.body
    );
    reply.json()
}

/// Returns a loopback port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a loopback port should not fail")
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_flow_runs_over_the_http_api() {
    let env = isolated("api", 12).await;
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let listen = addr.to_string();
    let _coordinator = env.spawn(&["coordinator", "--api-listen", &listen, "--api-token", TOKEN]);
    let _worker = env.spawn(&["worker", "--concurrency", "4"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match request(addr, "GET", "/healthz", None, None).await {
            Ok(reply) if reply.status == 200 => break,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
            other => panic!("the API did not come up on {addr}: {:?}", other.err()),
        }
    }

    // The console is one page that drives the same API.
    let page = request(addr, "GET", "/", None, None).await.unwrap();
    assert_eq!(page.status, 200);
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
    for call in ["fetch(\"/api/v1\"", "\"/reviews\"", "\"/jobs\""] {
        assert!(page.body.contains(call), "the console should call {call}");
    }

    // Without the token, or with a wrong one, nothing is served.
    for token in [None, Some("wrong")] {
        let reply = request(addr, "GET", "/api/v1/accounts", token, None)
            .await
            .unwrap();
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert_eq!(reply.json()["error"]["code"], "UNAUTHENTICATED");
    }

    // Accounts: a bad ID refuses the whole list, naming it, and adds nothing.
    let refused = call(
        addr,
        "POST",
        "/api/v1/accounts",
        Some(json!({"ids": format!("{MEMBER}, 12345, 99999999999a")})),
        400,
    )
    .await;
    assert_eq!(refused["error"]["code"], "INVALID_ARGUMENT");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("\"12345\"")
            && message.contains("\"99999999999a\"")
            && message.contains("12 digits"),
        "{message}"
    );
    let accounts = call(addr, "GET", "/api/v1/accounts", None, 200).await;
    assert_eq!(accounts["members"], json!([]), "{accounts}");
    assert_eq!(accounts["master"], MASTER);
    let malformed = request(
        addr,
        "POST",
        "/api/v1/accounts",
        Some(TOKEN),
        Some(json!({"idz": 1})),
    )
    .await
    .unwrap();
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    call(
        addr,
        "POST",
        "/api/v1/accounts",
        Some(json!({"ids": MEMBER, "role_name": "TrawlApi", "external_id": "ext-api"})),
        201,
    )
    .await;

    // Buckets with known contents: a master bucket selected by two overlapping prefixes, and
    // a member's whole bucket.
    let master_s3 = s3_master();
    let alpha = unique("api-a");
    create_bucket(&master_s3, &alpha).await;
    let mut uploads = Vec::new();
    for i in 0..6 {
        uploads.push(Upload {
            key: format!("in/{i}.txt"),
            body: format!("contact: person{i}@mail-corp.com\n").into_bytes(),
            storage_class: None,
        });
    }
    uploads.push(Upload {
        key: "in/deep/x.txt".into(),
        body: b"owner: deep@mail-corp.com, backup: deep2@mail-corp.com\n".to_vec(),
        storage_class: None,
    });
    uploads.push(Upload {
        key: "out/skip.txt".into(),
        body: b"not selected: nobody@mail-corp.com\n".to_vec(),
        storage_class: None,
    });
    upload_all(&master_s3, &alpha, &uploads).await;
    let member_s3 = s3_member(MEMBER, "TrawlApi", "ext-api").await;
    let beta = unique("api-b");
    create_bucket(&member_s3, &beta).await;
    let member_uploads: Vec<Upload> = (0..3)
        .map(|i| Upload {
            key: format!("m/{i}.csv"),
            body: format!("name,email\nm{i},m{i}@mail-corp.com\n").into_bytes(),
            storage_class: None,
        })
        .collect();
    upload_all(&member_s3, &beta, &member_uploads).await;

    // A bad bucket name is refused naming it; the selections are made.
    let bad = call(
        addr,
        "POST",
        "/api/v1/resources",
        Some(json!({"account": MASTER, "bucket": "Bad_Bucket"})),
        400,
    )
    .await;
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Bad_Bucket"),
        "{bad}"
    );
    call(
        addr,
        "POST",
        "/api/v1/resources",
        Some(json!({"account": MASTER, "bucket": alpha, "prefixes": ["in/", "in/deep/"]})),
        201,
    )
    .await;
    call(
        addr,
        "POST",
        "/api/v1/resources",
        Some(json!({"account": MEMBER, "bucket": beta})),
        201,
    )
    .await;
    let resources = call(addr, "GET", "/api/v1/resources", None, 200).await;
    assert_eq!(
        resources["resources"].as_array().unwrap().len(),
        2,
        "{resources}"
    );
    // An edit changes only what it names, and a selection that does not exist is named.
    let path = format!("/api/v1/resources/{MEMBER}/{beta}");
    let edited = call(
        addr,
        "PATCH",
        &path,
        Some(json!({"schedule": "DAILY"})),
        200,
    )
    .await;
    assert_eq!(edited["schedule"], "DAILY", "{edited}");
    assert_eq!(edited["prefixes"], json!([]), "{edited}");
    let edited = call(addr, "PATCH", &path, Some(json!({"schedule": null})), 200).await;
    assert_eq!(edited["schedule"], Value::Null, "{edited}");
    let missing = format!("/api/v1/resources/{MEMBER}/no-such-selection");
    let missing = call(
        addr,
        "PATCH",
        &missing,
        Some(json!({"schedule": null})),
        404,
    )
    .await;
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no-such-selection"),
        "{missing}"
    );

    // The member is not verified yet: the review says so and a start is refused, naming it.
    let review = call(addr, "POST", "/api/v1/reviews", Some(json!({})), 201).await;
    assert_eq!(review["startable"], false, "{review}");
    let refused = call(
        addr,
        "POST",
        "/api/v1/jobs",
        Some(json!({"review_id": review["id"]})),
        422,
    )
    .await;
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains(MEMBER), "{message}");
    let verified = call(
        addr,
        "POST",
        "/api/v1/accounts/verify",
        Some(json!({})),
        200,
    )
    .await;
    let member = verified["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == MEMBER)
        .unwrap_or_else(|| panic!("verify should report {MEMBER}: {verified}"))
        .clone();
    assert_eq!(member["status"], "VERIFIED", "{verified}");

    // The review: per bucket and in total, objects, processed bytes and cost.
    let review = call(addr, "POST", "/api/v1/reviews", Some(json!({})), 201).await;
    assert_eq!(review["startable"], true, "{review}");
    let rows = review["review"]["buckets"].as_array().unwrap().clone();
    let row = |name: &str| {
        rows.iter()
            .find(|b| b["bucket"] == name)
            .unwrap_or_else(|| panic!("the review should list {name}: {rows:?}"))
            .clone()
    };
    let selected: Vec<&Upload> = uploads
        .iter()
        .filter(|u| u.key.starts_with("in/"))
        .collect();
    let selected_bytes: usize = selected.iter().map(|u| u.body.len()).sum();
    let a = row(&alpha);
    assert_eq!(a["bucket_total"]["num_objects"], uploads.len());
    assert_eq!(a["processed"]["num_objects"], selected.len());
    assert_eq!(a["processed"]["num_bytes"], selected_bytes);
    // The cost is the whole bucket's, each object billed at least 1 KiB.
    assert_eq!(a["billed"]["num_billable_bytes"], 1024 * uploads.len());
    let b = row(&beta);
    assert_eq!(b["processed"]["num_objects"], 3);
    let totals = &review["review"]["totals"];
    assert_eq!(totals["processed"]["num_objects"], selected.len() + 3);
    assert_eq!(
        totals["cost_estimate_cents"].as_u64().unwrap(),
        a["cost_estimate_cents"].as_u64().unwrap() + b["cost_estimate_cents"].as_u64().unwrap()
    );
    let again = call(
        addr,
        "GET",
        &format!("/api/v1/reviews/{}", review["id"].as_str().unwrap()),
        None,
        200,
    )
    .await;
    assert_eq!(again["review"], review["review"]);

    // Start exactly what was reviewed, then follow the job to its end.
    let started = call(
        addr,
        "POST",
        "/api/v1/jobs",
        Some(json!({"review_id": review["id"]})),
        201,
    )
    .await;
    let job_id = started["id"].as_str().unwrap().to_string();
    // A review starts one job.
    let reused = call(
        addr,
        "POST",
        "/api/v1/jobs",
        Some(json!({"review_id": review["id"]})),
        404,
    )
    .await;
    assert_eq!(reused["error"]["code"], "NOT_FOUND");
    let deadline = Instant::now() + Duration::from_secs(120);
    let job = loop {
        let job = call(addr, "GET", &format!("/api/v1/jobs/{job_id}"), None, 200).await;
        if job["status"] == "COMPLETE" {
            break job;
        }
        assert!(
            !["FAILED", "CANCELLED"].contains(&job["status"].as_str().unwrap()),
            "{job}"
        );
        assert!(Instant::now() < deadline, "the job did not complete: {job}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let num_objects = selected.len() + member_uploads.len();
    let figures = &job["figures"];
    assert_eq!(
        figures["counters"]["objects_dispatched"], num_objects,
        "{job}"
    );
    assert_eq!(
        figures["counters"]["objects_classified"], num_objects,
        "{job}"
    );
    // One address per selected master object, two in the deep one, one per member file.
    assert_eq!(figures["detections"]["EMAIL_ADDRESS"], 6 + 2 + 3, "{job}");
    assert_eq!(
        job["accounts"][MEMBER]["counters"]["objects_classified"], 3,
        "{job}"
    );
    assert_eq!(
        job["buckets"][&alpha]["counters"]["objects_classified"],
        selected.len(),
        "{job}"
    );
    assert_eq!(
        job["cost"]["estimate_cents"], totals["cost_estimate_cents"],
        "{job}"
    );

    // The job is listed, its review kept, and its results read one record per object.
    let jobs = call(addr, "GET", "/api/v1/jobs?limit=10", None, 200).await;
    assert!(
        jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["id"] == job_id.as_str()),
        "{jobs}"
    );
    let kept = call(
        addr,
        "GET",
        &format!("/api/v1/jobs/{job_id}/review"),
        None,
        200,
    )
    .await;
    assert_eq!(kept["totals"], review["review"]["totals"]);
    let results = call(
        addr,
        "GET",
        &format!("/api/v1/jobs/{job_id}/results?findings=true&limit=1000"),
        None,
        200,
    )
    .await;
    let records = results["records"].as_array().unwrap();
    let mut keys: Vec<String> = records
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["bucket"].as_str().unwrap(),
                r["key"].as_str().unwrap()
            )
        })
        .collect();
    keys.sort();
    let mut expected: Vec<String> = selected
        .iter()
        .map(|u| format!("{alpha}/{}", u.key))
        .chain(member_uploads.iter().map(|u| format!("{beta}/{}", u.key)))
        .collect();
    expected.sort();
    assert_eq!(keys, expected);
    for record in records {
        assert_eq!(record["status"], "COMPLETE", "{record}");
        assert_eq!(record["detections"][0]["type"], "EMAIL_ADDRESS", "{record}");
        // Findings carry locations, never the value itself.
        assert!(!record.to_string().contains("@mail-corp.com"), "{record}");
    }

    // A finished job cannot be paused; unknown paths and jobs are named.
    let conflict = call(
        addr,
        "POST",
        &format!("/api/v1/jobs/{job_id}/pause"),
        None,
        409,
    )
    .await;
    assert_eq!(conflict["error"]["code"], "CONFLICT");
    let missing = call(addr, "GET", "/api/v1/jobs/j-nope", None, 404).await;
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .contains("j-nope"),
        "{missing}"
    );
    call(addr, "GET", "/api/v1/nothing-here", None, 404).await;
    call(addr, "DELETE", "/api/v1/jobs", None, 405).await;
}
