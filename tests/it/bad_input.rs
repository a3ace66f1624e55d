//! Bad input ends in a clear error that names the input, and nothing is left half-counted.

use std::time::Duration;

use redis::AsyncCommands;
use trawl_common::store::{JobStatus, JobStore};

use crate::support::*;

/// An environment whose Redis database no other test uses, so "nothing was stored" is checkable.
fn isolated_env(name: &str, db: u8) -> TestEnv {
    let mut env = TestEnv::new(name);
    env.redis_url = format!("redis://127.0.0.1:6379/{db}");
    env
}

async fn num_jobs(env: &TestEnv) -> usize {
    let mut conn = env.store().await.connection();
    conn.zcard("trawl:jobs").await.unwrap()
}

#[tokio::test]
async fn a_malformed_job_file_is_refused_naming_the_file() {
    let env = isolated_env("malformed", 11);
    let before = num_jobs(&env).await;
    let path = temp_file(
        "broken.toml",
        "[[selections]]\naccount = \"123456789012\"\nbucket = [unclosed\n",
    );
    let output = env
        .trawl(&["run", path.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("malformed job file") && stderr.contains("broken.toml"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 3"),
        "the error should say where: {stderr}"
    );

    let path = temp_file(
        "typo.json",
        r#"{"selections": [{"account": "123456789012", "buckets": "b"}]}"#,
    );
    let output = env
        .trawl(&["run", path.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("typo.json") && stderr.contains("buckets"),
        "{stderr}"
    );
    assert_eq!(num_jobs(&env).await, before, "nothing should be stored");
}

#[tokio::test]
async fn an_account_id_that_is_not_twelve_digits_is_named() {
    let env = isolated_env("account-id", 10);
    let before = num_jobs(&env).await;
    let path = temp_file(
        "job.toml",
        "[[accounts]]\nid = \"22222222222x\"\n[[selections]]\naccount = \"12345\"\nbucket = \"some-bucket\"\n",
    );
    let output = env
        .trawl(&["run", path.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("\"22222222222x\"")
            && stderr.contains("\"12345\"")
            && stderr.contains("12 digits"),
        "{stderr}"
    );
    let output = env
        .trawl(&["run", "--select", "1234567890123:bucket-x"])
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("\"1234567890123\""));
    assert_eq!(num_jobs(&env).await, before, "nothing should be stored");
}

#[tokio::test]
async fn a_missing_bucket_fails_the_job_before_anything_is_dispatched() {
    let env = TestEnv::new("missing-bucket");
    let s3 = s3_master();
    let present = unique("present");
    create_bucket(&s3, &present).await;
    upload_all(
        &s3,
        &present,
        &[Upload {
            key: "a.txt".into(),
            body: b"hello".to_vec(),
            storage_class: None,
        }],
    )
    .await;
    let missing = unique("missing");
    let path = temp_file(
        "job.toml",
        &format!(
            "[[selections]]\naccount = \"{MASTER}\"\nbucket = \"{present}\"\n[[selections]]\naccount = \"{MASTER}\"\nbucket = \"{missing}\"\n"
        ),
    );
    let _coordinator = env.spawn(&["coordinator"]);
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        env.trawl(&["run", "--json", path.to_str().unwrap()])
            .output(),
    )
    .await
    .expect("the job should be refused quickly")
    .unwrap();
    assert!(
        !output.status.success(),
        "a failed job should exit non-zero"
    );
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON output");
    assert_eq!(shown["status"], "FAILED");
    let error = shown["error"].as_str().unwrap();
    assert!(
        error.contains(&missing) && error.contains(MASTER) && error.contains("does not exist"),
        "{error}"
    );
    assert!(
        !error.contains(&present),
        "only the bad bucket is named: {error}"
    );

    let job_id = shown["id"].as_str().unwrap();
    let store = env.store().await;
    let job = store.job(job_id).await.unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.dispatched, 0);
    assert!(
        store.stats(job_id).await.unwrap().is_empty(),
        "nothing should be counted"
    );
    assert!(store.results(job_id, "0", 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unreachable_broker_is_named_without_its_password() {
    let mut env = TestEnv::new("no-broker");
    env.extra
        .push(("TRAWL_CONNECT_TIMEOUT_SECS".into(), "2".into()));
    env.extra.push((
        "TRAWL_AMQP_URL".into(),
        "amqp://guest:s3cret-pw@127.0.0.1:1/%2f".into(),
    ));
    for role in ["worker", "coordinator"] {
        let output = tokio::time::timeout(Duration::from_secs(30), env.trawl(&[role]).output())
            .await
            .unwrap_or_else(|_| panic!("trawl {role} should give up within its connect timeout"))
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "trawl {role} should fail");
        assert!(
            stderr.contains("cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:1/%2f"),
            "trawl {role}: {stderr}"
        );
        assert!(
            !stderr.contains("s3cret-pw"),
            "the password must not be printed: {stderr}"
        );
    }
}
