//! A task that keeps failing (here: S3 answers 503 SlowDown to every request the workers send)
//! is retried, redelivered up to the quorum queue's delivery limit, dead-lettered, and still
//! ends as a FAILED result record with its last error, so the job completes.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use trawl_common::store::{JobStatus, JobStore};

use crate::support::*;

/// An S3 endpoint that is always overloaded: every request gets 503 SlowDown.
async fn always_slow_down() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let is_head = request.starts_with(b"HEAD ");
                let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
                            <Message>Please reduce your request rate.</Message></Error>";
                let response = format!(
                    "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                    body.len(),
                    if is_head { "" } else { body }
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (url, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_keeps_failing_ends_as_a_failed_result() {
    let env = TestEnv::new("dead-letter");
    let s3 = s3_master();
    let bucket = unique("deadletter");
    create_bucket(&s3, &bucket).await;
    let objects: Vec<Upload> = (0..3)
        .map(|i| Upload {
            key: format!("f{i}.txt"),
            body: vec![b'a'; 10 + i],
            storage_class: None,
        })
        .collect();
    upload_all(&s3, &bucket, &objects).await;

    let (endpoint, server) = always_slow_down().await;
    let _coordinator = env.spawn(&["coordinator"]);
    let mut worker_env = env.clone();
    worker_env.extra.push(("AWS_ENDPOINT_URL".into(), endpoint));
    let _worker = worker_env.spawn(&["worker", "--concurrency", "8"]);

    let job_file = temp_file(
        "job.toml",
        &format!("[[selections]]\naccount = \"{MASTER}\"\nbucket = \"{bucket}\"\n"),
    );
    let store = env.store().await;
    let job_id = submit(&env, &job_file).await;
    assert_eq!(
        wait_terminal(&store, &job_id, Duration::from_secs(120)).await,
        JobStatus::Complete
    );

    let stats = store.stats(&job_id).await.unwrap();
    assert_eq!(stats["objects_dispatched"], 3);
    assert_eq!(stats["objects_failed"], 3);
    assert_eq!(stats["bytes_failed"], 10 + 11 + 12);
    assert_eq!(stats["reason:DELIVERY_LIMIT_REACHED"], 3);
    assert!(!stats.contains_key("objects_classified"));
    let records = store.results(&job_id, "0", 10).await.unwrap();
    assert_eq!(records.len(), 3);
    for (_, record) in &records {
        assert_eq!(record.status, "FAILED");
        // HEAD responses carry no error body: the status is what S3 tells.
        assert!(
            record.detail.contains("HTTP 503"),
            "the last error is kept: {}",
            record.detail
        );
    }
    server.abort();
}
