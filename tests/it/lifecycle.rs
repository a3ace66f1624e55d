//! The flow a user goes through (issue 3) on RabbitMQ, Redis and moto: accounts, resources,
//! the review with its cost figures, start, pause/resume/cancel, a coordinator restarted
//! mid-job, and a scheduled run that picks up only new objects.

use std::time::{Duration, Instant};

use trawl_common::store::{JobStatus, JobStore};

use crate::support::*;

const MEMBER: &str = "222222222222";

async fn trawl_ok(env: &TestEnv, args: &[&str]) -> String {
    let output = env.trawl(args).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "trawl {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

async fn trawl_err(env: &TestEnv, args: &[&str]) -> String {
    let output = env.trawl(args).output().await.unwrap();
    assert!(!output.status.success(), "trawl {args:?} should fail");
    String::from_utf8_lossy(&output.stderr).to_string()
}

fn objects(prefix: &str, count: usize, size: usize) -> Vec<Upload> {
    (0..count)
        .map(|i| {
            let mut body = format!("line {i} contact person{i}@mail-corp.com\n").into_bytes();
            body.resize(size.max(body.len()), b'.');
            Upload {
                key: format!("{prefix}{i:05}.txt"),
                body,
                storage_class: None,
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_resources_review_and_start() {
    let env = isolated("review", 13).await;
    // Accounts: a bad ID fails the whole command and adds nothing.
    let stderr = trawl_err(&env, &["accounts", "add", &format!("{MEMBER}, 12345")]).await;
    assert!(
        stderr.contains("\"12345\"") && stderr.contains("12 digits"),
        "{stderr}"
    );
    let listed: serde_json::Value =
        serde_json::from_str(&trawl_ok(&env, &["accounts", "list", "--json"]).await).unwrap();
    assert_eq!(listed["members"], serde_json::json!([]));
    assert_eq!(listed["master"], MASTER);
    let added = trawl_ok(
        &env,
        &[
            "accounts",
            "add",
            MEMBER,
            "--role-name",
            "TrawlReview",
            "--external-id",
            "ext-1",
        ],
    )
    .await;
    assert!(added.contains("added"), "{added}");
    let again = trawl_ok(&env, &["accounts", "add", MEMBER]).await;
    assert!(again.contains("already integrated"), "{again}");

    // Buckets with known sizes: a prefix pair of one bucket, and a member's whole bucket.
    let s3 = s3_master();
    let alpha = unique("est-a");
    create_bucket(&s3, &alpha).await;
    let mut fixture = vec![
        Upload {
            key: "a/small.txt".into(),
            body: vec![b'x'; 100],
            storage_class: None,
        },
        Upload {
            key: "a/two-k.txt".into(),
            body: vec![b'x'; 2048],
            storage_class: None,
        },
        Upload {
            key: "a/b/five-k.txt".into(),
            body: vec![b'x'; 5000],
            storage_class: None,
        },
        Upload {
            key: "a/cold.txt".into(),
            body: vec![b'x'; 4096],
            storage_class: Some("GLACIER"),
        },
        Upload {
            key: "c/big.bin.txt".into(),
            body: vec![b'x'; 21 << 20],
            storage_class: None,
        },
    ];
    upload_all(&s3, &alpha, &fixture).await;
    let member = s3_member(MEMBER, "TrawlReview", "ext-1").await;
    let beta = unique("est-b");
    create_bucket(&member, &beta).await;
    upload_all(&member, &beta, &objects("k/", 3, 1000)).await;
    trawl_ok(
        &env,
        &[
            "resources",
            "add",
            "--account",
            MASTER,
            "--bucket",
            &alpha,
            "--prefix",
            "a/",
            "--prefix",
            "a/b/",
        ],
    )
    .await;
    trawl_ok(
        &env,
        &["resources", "add", "--account", MEMBER, "--bucket", &beta],
    )
    .await;

    // Not verified yet: the job is refused, naming the account.
    let stderr = trawl_err(&env, &["start", "--yes"]).await;
    assert!(
        stderr.contains(MEMBER) && stderr.contains("not verified"),
        "{stderr}"
    );
    let verified = trawl_ok(&env, &["accounts", "verify"]).await;
    assert!(
        verified.contains(&format!("{MEMBER}: VERIFIED")),
        "{verified}"
    );

    let review: serde_json::Value =
        serde_json::from_str(&trawl_ok(&env, &["estimate", "--json"]).await).unwrap();
    let buckets = review["review"]["buckets"].as_array().unwrap();
    let row = |name: &str| {
        buckets
            .iter()
            .find(|b| b["bucket"] == name)
            .unwrap()
            .clone()
    };
    let a = row(&alpha);
    assert_eq!(a["bucket_total"]["num_objects"], 5);
    assert_eq!(
        a["bucket_total"]["num_bytes"],
        100 + 2048 + 5000 + 4096 + (21 << 20)
    );
    // Processed: the selected prefix a/ (once, though selected twice), without the GLACIER object.
    assert_eq!(a["processed"]["num_objects"], 3);
    assert_eq!(a["processed"]["num_bytes"], 100 + 2048 + 5000);
    // Cost: the whole bucket's classifiable objects, each billed 1 KiB to 20 MiB:
    // (1024 + 2048 + 5000 + 20 MiB) / 2^30 × $5 = $0.0977 → $0.10.
    assert_eq!(
        a["billed"]["num_billable_bytes"],
        1024 + 2048 + 5000 + (20 << 20)
    );
    assert_eq!(a["cost_estimate_cents"], 10);
    let b = row(&beta);
    assert_eq!(b["processed"]["num_bytes"], 3000);
    assert_eq!(b["billed"]["num_billable_bytes"], 3072);
    assert_eq!(review["review"]["totals"]["cost_estimate_cents"], 10);
    assert_eq!(review["review"]["totals"]["bucket_total"]["num_objects"], 8);

    let _coordinator = env.spawn(&["coordinator"]);
    let _worker = env.spawn(&["worker", "--concurrency", "4"]);
    let started = trawl_ok(&env, &["start", "--yes", "--detach", "--json"]).await;
    let job_id = started.lines().last().unwrap().trim().to_string();
    let store = env.store().await;
    assert_eq!(
        wait_terminal(&store, &job_id, Duration::from_secs(120)).await,
        JobStatus::Complete
    );
    let stats = store.stats(&job_id).await.unwrap();
    assert_eq!(stats["objects_dispatched"], 7);
    assert_eq!(stats["objects_classified"], 6);
    assert_eq!(stats["objects_skipped"], 1);
    assert_eq!(stats["reason:INVALID_OBJECT_STATE"], 1);
    assert_eq!(stats[&format!("bucket:{beta}:objects_classified")], 3);
    assert_eq!(stats["bytes_classified"], 100 + 2048 + 5000 + 3000);
    let stored: serde_json::Value =
        serde_json::from_str(&store.review(&job_id).await.unwrap().unwrap()).unwrap();
    assert_eq!(
        stored["totals"]["cost_estimate_cents"], 10,
        "the review is stored with the job"
    );
    fixture.clear();
}

async fn wait_until(
    store: &trawl_common::store::RedisStore,
    job_id: &str,
    what: &str,
    f: impl Fn(&trawl_common::store::JobInfo) -> bool,
) -> trawl_common::store::JobInfo {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = store.job(job_id).await.unwrap();
        if f(&job) {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_cancel() {
    let mut env = TestEnv::new("control");
    env.extra.push(("TRAWL_LIST_PAGE_SIZE".into(), "4".into()));
    let s3 = s3_master();
    let bucket = unique("control");
    create_bucket(&s3, &bucket).await;
    upload_all(&s3, &bucket, &objects("o/", 600, 64)).await;
    let job_file = temp_file(
        "job.toml",
        &format!("[[selections]]\naccount = \"{MASTER}\"\nbucket = \"{bucket}\"\n"),
    );
    let _coordinator = env.spawn(&["coordinator"]);
    let _worker = env.spawn(&["worker", "--concurrency", "4"]);
    let store = env.store().await;

    let job_id = submit(&env, &job_file).await;
    wait_until(&store, &job_id, "some tasks are dispatched", |j| {
        j.dispatched >= 8
    })
    .await;
    trawl_ok(&env, &["jobs", "pause", &job_id]).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let paused = store.job(&job_id).await.unwrap();
    assert_eq!(paused.status, JobStatus::UserPaused);
    assert!(
        paused.dispatched < 600 && !paused.listing_done,
        "the pause came too late: {paused:?}"
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        store.job(&job_id).await.unwrap().dispatched,
        paused.dispatched,
        "a paused job dispatches nothing"
    );
    trawl_ok(&env, &["jobs", "resume", &job_id]).await;
    assert_eq!(
        wait_terminal(&store, &job_id, Duration::from_secs(120)).await,
        JobStatus::Complete
    );
    let stats = store.stats(&job_id).await.unwrap();
    assert_eq!(
        (stats["objects_dispatched"], stats["objects_classified"]),
        (600, 600)
    );
    let stderr = trawl_err(&env, &["jobs", "cancel", &job_id]).await;
    assert!(stderr.contains("COMPLETE"), "{stderr}");

    // Cancel: dispatching stops and the remaining tasks are dropped uncounted.
    let job_id = submit(&env, &job_file).await;
    wait_until(&store, &job_id, "some tasks are dispatched", |j| {
        j.dispatched >= 8
    })
    .await;
    trawl_ok(&env, &["jobs", "cancel", &job_id]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cancelled = store.job(&job_id).await.unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert!(cancelled.dispatched < 600, "{cancelled:?}");
    let stats = store.stats(&job_id).await.unwrap();
    let classified = stats.get("objects_classified").copied().unwrap_or(0);
    assert_eq!(classified as u64, cancelled.results);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        store.job(&job_id).await.unwrap().results,
        cancelled.results,
        "nothing is counted after a cancel"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_restarted_mid_job_dispatches_nothing_twice() {
    let mut env = TestEnv::new("restart");
    env.extra.push(("TRAWL_LIST_PAGE_SIZE".into(), "7".into()));
    let s3 = s3_master();
    let bucket = unique("restart");
    create_bucket(&s3, &bucket).await;
    let uploads = objects("r/", 1200, 32);
    upload_all(&s3, &bucket, &uploads).await;
    let total_bytes: i64 = uploads.iter().map(|u| u.body.len() as i64).sum();
    let job_file = temp_file(
        "job.toml",
        &format!("[[selections]]\naccount = \"{MASTER}\"\nbucket = \"{bucket}\"\n"),
    );
    let mut first = env.spawn(&["coordinator"]);
    let _workers: Vec<_> = (0..2)
        .map(|_| env.spawn(&["worker", "--concurrency", "8"]))
        .collect();
    let store = env.store().await;
    let job_id = submit(&env, &job_file).await;
    let at_kill = wait_until(&store, &job_id, "dispatch is under way", |j| {
        j.dispatched >= 100
    })
    .await;
    signal(&first, true);
    first.wait().await.unwrap();
    assert!(
        !at_kill.listing_done,
        "the coordinator should die mid-listing: {at_kill:?}"
    );
    let _second = env.spawn(&["coordinator"]);
    assert_eq!(
        wait_terminal(&store, &job_id, Duration::from_secs(180)).await,
        JobStatus::Complete
    );
    let job = store.job(&job_id).await.unwrap();
    assert_eq!((job.dispatched, job.results), (1200, 1200));
    let stats = store.stats(&job_id).await.unwrap();
    assert_eq!(stats["objects_dispatched"], 1200);
    assert_eq!(stats["objects_classified"], 1200);
    assert_eq!(stats["bytes_classified"], total_bytes);
    let records = store.results(&job_id, "0", 5000).await.unwrap();
    let keys: std::collections::BTreeSet<_> = records.iter().map(|(_, r)| r.key.clone()).collect();
    assert_eq!((records.len(), keys.len()), (1200, 1200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_run_classifies_only_new_objects() {
    let env = isolated("schedule", 14).await;
    let s3 = s3_master();
    let bucket = unique("sched");
    create_bucket(&s3, &bucket).await;
    upload_all(&s3, &bucket, &objects("before/", 4, 64)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    trawl_ok(
        &env,
        &[
            "resources",
            "add",
            "--account",
            MASTER,
            "--bucket",
            &bucket,
            "--classification",
            "none",
            "--schedule",
            "daily",
        ],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    upload_all(&s3, &bucket, &objects("first/", 5, 64)).await;
    // S3 times are to the second, and a run includes its own start second: step past it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The first run is submitted before the coordinator starts: a coordinator starts the runs
    // that are due as it comes up, and a run forced after that one would cover only what is
    // new since it (the race that made this test fail now and then).
    let first = trawl_ok(&env, &["schedules", "run", "--now"])
        .await
        .trim()
        .to_string();
    let _coordinator = env.spawn(&["coordinator"]);
    let _worker = env.spawn(&["worker", "--concurrency", "4"]);
    let store = env.store().await;
    assert_eq!(
        wait_terminal(&store, &first, Duration::from_secs(60)).await,
        JobStatus::Complete
    );
    assert_eq!(
        store.stats(&first).await.unwrap()["objects_dispatched"],
        5,
        "objects before the resource was added are not in the first run"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    upload_all(&s3, &bucket, &objects("second/", 3, 64)).await;
    let second = trawl_ok(&env, &["schedules", "run", "--now"])
        .await
        .trim()
        .to_string();
    assert_eq!(
        wait_terminal(&store, &second, Duration::from_secs(60)).await,
        JobStatus::Complete
    );
    let stats = store.stats(&second).await.unwrap();
    assert_eq!(
        stats["objects_dispatched"], 3,
        "only objects new since the previous run"
    );
    let records = store.results(&second, "0", 10).await.unwrap();
    assert!(records.iter().all(|(_, r)| r.key.starts_with("second/")));
    // Not due again within the day.
    let output = env.trawl(&["schedules", "run"]).output().await.unwrap();
    assert!(output.status.success() && String::from_utf8_lossy(&output.stdout).trim().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monthly_quota_pauses_the_job_until_it_is_raised() {
    // Quotas and usage are per account across jobs: this test has its own Redis database.
    let env = isolated("quota", 15).await;
    let s3 = s3_master();
    let bucket = unique("quota");
    create_bucket(&s3, &bucket).await;
    upload_all(&s3, &bucket, &objects("q/", 30, 200)).await;
    trawl_ok(&env, &["accounts", "quota", MASTER, "1000"]).await;
    let job_file = temp_file(
        "job.toml",
        &format!("[[selections]]\naccount = \"{MASTER}\"\nbucket = \"{bucket}\"\n"),
    );
    let _coordinator = env.spawn(&["coordinator"]);
    let _worker = env.spawn(&["worker", "--concurrency", "1"]);
    let store = env.store().await;
    let job_id = submit(&env, &job_file).await;

    let paused = wait_until(&store, &job_id, "the quota pauses the job", |j| {
        j.status == JobStatus::Paused
    })
    .await;
    let error = paused.error.clone().unwrap_or_default();
    assert!(
        error.contains(MASTER) && error.contains("monthly quota of 1000"),
        "{error}"
    );
    // Let in-flight tasks settle: the rest are set aside, not classified.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stats = store.stats(&job_id).await.unwrap();
    let classified = stats.get("objects_classified").copied().unwrap_or(0);
    assert!(
        (5..30).contains(&classified),
        "about 1000 bytes' worth classified, got {classified}"
    );
    assert_eq!(store.job(&job_id).await.unwrap().status, JobStatus::Paused);

    trawl_ok(&env, &["accounts", "quota", MASTER, "off"]).await;
    trawl_ok(&env, &["jobs", "resume", &job_id]).await;
    assert_eq!(
        wait_terminal(&store, &job_id, Duration::from_secs(60)).await,
        JobStatus::Complete
    );
    let stats = store.stats(&job_id).await.unwrap();
    assert_eq!(
        (stats["objects_dispatched"], stats["objects_classified"]),
        (30, 30)
    );
    assert_eq!(stats["bytes_classified"], 30 * 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_page_is_published_again_as_listed_even_after_a_deletion() {
    use trawl_common::store::Counters;
    use trawl_proto::Message as _;
    use trawl_proto::v1::{ClassifyTask, PageCheckpoint};

    let mut env = TestEnv::new("replay");
    env.extra.push(("TRAWL_LIST_PAGE_SIZE".into(), "3".into()));
    let s3 = s3_master();
    let bucket = unique("replay");
    create_bucket(&s3, &bucket).await;
    let uploads = objects("k/", 6, 64);
    upload_all(&s3, &bucket, &uploads).await;
    let job_file = temp_file(
        "job.toml",
        &format!("[[selections]]\naccount = \"{MASTER}\"\nbucket = \"{bucket}\"\n"),
    );
    let store = env.store().await;
    let job_id = submit(&env, &job_file).await;
    // A coordinator that died right after numbering the first page, before publishing it.
    let first_page = &uploads[..3];
    let mut counters = Counters::default();
    counters.add(MASTER, &bucket, "objects_dispatched", 3);
    let page_bytes: i64 = first_page.iter().map(|u| u.body.len() as i64).sum();
    counters.add(MASTER, &bucket, "bytes_dispatched", page_bytes);
    let checkpoint = PageCheckpoint {
        tasks: first_page
            .iter()
            .enumerate()
            .map(|(i, u)| ClassifyTask {
                job_id: job_id.clone(),
                seq: i as u64,
                account_id: MASTER.into(),
                bucket: bucket.clone(),
                key: u.key.clone(),
                size: u.body.len() as u64,
                storage_class: "STANDARD".into(),
                ..Default::default()
            })
            .collect(),
        last_key: first_page[2].key.clone(),
        truncated: true,
    };
    let field = format!("{bucket}/");
    let base = store
        .allocate_page(
            &job_id,
            &field,
            "",
            3,
            &counters,
            &checkpoint.encode_to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(base, 0);
    // Meanwhile an object of that page is deleted: listing the page again would shift every
    // later object onto another object's number.
    s3.delete_object()
        .bucket(&bucket)
        .key(&uploads[1].key)
        .send()
        .await
        .unwrap();
    let _coordinator = env.spawn(&["coordinator"]);
    let _worker = env.spawn(&["worker", "--concurrency", "4"]);
    assert_eq!(
        wait_terminal(&store, &job_id, Duration::from_secs(120)).await,
        JobStatus::Complete
    );
    let job = store.job(&job_id).await.unwrap();
    assert_eq!((job.dispatched, job.results), (6, 6));
    let stats = store.stats(&job_id).await.unwrap();
    assert_eq!(stats["objects_dispatched"], 6);
    assert_eq!(stats["objects_classified"], 5);
    assert_eq!(stats["objects_skipped"], 1);
    let records = store.results(&job_id, "0", 100).await.unwrap();
    let by_key: std::collections::BTreeMap<_, _> = records
        .iter()
        .map(|(_, r)| (r.key.clone(), r.status.clone()))
        .collect();
    assert_eq!(by_key.len(), 6, "{by_key:?}");
    assert_eq!(by_key[&uploads[1].key], "SKIPPED", "{by_key:?}");
}
