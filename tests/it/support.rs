//! Shared helpers: service endpoints, unique names, S3 clients for moto, and `trawl` processes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use tokio::process::{Child, Command};
use trawl_common::store::{JobStatus, JobStore, RedisStore};

/// moto server (S3, STS, KMS).
pub(crate) const AWS_ENDPOINT: &str = "http://127.0.0.1:5000";
/// Redis.
pub(crate) const REDIS_URL: &str = "redis://127.0.0.1:6379/";
/// RabbitMQ.
pub(crate) const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// The account moto's default credentials belong to.
pub(crate) const MASTER: &str = "123456789012";

/// Returns a lowercase name with a random suffix, valid as a bucket or queue name.
pub(crate) fn unique(prefix: &str) -> String {
    let suffix: String = (0..10).map(|_| fastrand::lowercase()).collect();
    format!("{prefix}-{suffix}")
}

/// Path of the `trawl` binary built beside this test binary (`cargo build --bins`).
pub(crate) fn trawl_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary should know its path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary should live in target/<profile>/deps");
    let bin = dir.join("trawl");
    assert!(
        bin.exists(),
        "{} is missing: build it first (`cargo build --bins`, which scripts/test does)",
        bin.display()
    );
    bin
}

/// One test's environment: its own task queue and Redis database.
#[derive(Clone)]
pub(crate) struct TestEnv {
    pub(crate) queue: String,
    pub(crate) redis_url: String,
    pub(crate) extra: Vec<(String, String)>,
}

impl TestEnv {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            queue: unique(&format!("it.{name}")),
            redis_url: REDIS_URL.to_string(),
            extra: Vec::new(),
        }
    }

    /// Returns a `trawl` command with this environment (moto credentials, endpoints, queue).
    pub(crate) fn trawl(&self, args: &[&str]) -> Command {
        let mut command = Command::new(trawl_bin());
        command
            .args(args)
            .env("AWS_ENDPOINT_URL", AWS_ENDPOINT)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .env("TRAWL_AMQP_URL", AMQP_URL)
            .env("TRAWL_REDIS_URL", &self.redis_url)
            .env("TRAWL_TASK_QUEUE", &self.queue)
            // Each test declares its own quorum queues: let the broker delete them once unused.
            .env("TRAWL_QUEUE_EXPIRES_MS", "60000")
            // Tests run coordinators side by side: each API gets a port of its own.
            .env("TRAWL_API_LISTEN", "127.0.0.1:0")
            .env("TRAWL_LOG", "warn")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        for (key, value) in &self.extra {
            command.env(key, value);
        }
        command
    }

    /// Starts a long-running `trawl` process (coordinator or worker), output discarded.
    pub(crate) fn spawn(&self, args: &[&str]) -> Child {
        self.trawl(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning trawl should not fail")
    }

    pub(crate) async fn store(&self) -> RedisStore {
        RedisStore::connect(&self.redis_url, Duration::from_secs(10))
            .await
            .expect("redis should be reachable")
            .for_queue(&self.queue)
    }
}

/// An environment with its own Redis database, flushed: accounts and resources are global to
/// a deployment, so tests that change them must not share one. Each such test takes its own
/// `db` (lifecycle: 13–15, api: 12, schedule: 9; bad_input counts jobs in 10 and 11, so no
/// other test may store one there).
pub(crate) async fn isolated(name: &str, db: u8) -> TestEnv {
    let mut env = TestEnv::new(name);
    env.redis_url = format!("redis://127.0.0.1:6379/{db}");
    let mut conn = env.store().await.connection();
    let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap();
    env
}

/// An S3 client on moto with the master account's (default) credentials.
pub(crate) fn s3_master() -> aws_sdk_s3::Client {
    s3_with(Credentials::new("testing", "testing", None, None, "tests"))
}

fn s3_with(credentials: Credentials) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(AWS_ENDPOINT)
        .force_path_style(true)
        .credentials_provider(credentials)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// An S3 client acting in a member account, through moto's STS AssumeRole.
pub(crate) async fn s3_member(
    account: &str,
    role_name: &str,
    external_id: &str,
) -> aws_sdk_s3::Client {
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .endpoint_url(AWS_ENDPOINT)
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .build();
    let sts = aws_sdk_sts::Client::from_conf(config);
    let assumed = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/{role_name}"))
        .role_session_name("trawl-tests")
        .external_id(external_id)
        .send()
        .await
        .expect("moto's AssumeRole should succeed");
    let c = assumed
        .credentials()
        .expect("AssumeRole should return credentials");
    s3_with(Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "tests-assumed",
    ))
}

pub(crate) async fn create_bucket(client: &aws_sdk_s3::Client, bucket: &str) {
    client
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating bucket {bucket} should succeed: {e:?}"));
}

/// An object to upload.
#[derive(Clone)]
pub(crate) struct Upload {
    pub(crate) key: String,
    pub(crate) body: Vec<u8>,
    pub(crate) storage_class: Option<&'static str>,
}

/// Uploads objects, 32 at a time.
pub(crate) async fn upload_all(client: &aws_sdk_s3::Client, bucket: &str, objects: &[Upload]) {
    let mut set = tokio::task::JoinSet::new();
    for chunk in objects.chunks((objects.len() / 32).max(1)) {
        let client = client.clone();
        let bucket = bucket.to_string();
        let chunk = chunk.to_vec();
        set.spawn(async move {
            for object in chunk {
                let mut put = client
                    .put_object()
                    .bucket(&bucket)
                    .key(&object.key)
                    .body(object.body.clone().into());
                if let Some(class) = object.storage_class {
                    put = put.storage_class(class.into());
                }
                put.send()
                    .await
                    .unwrap_or_else(|e| panic!("uploading {} should succeed: {e:?}", object.key));
            }
        });
    }
    while let Some(result) = set.join_next().await {
        result.expect("upload task should not panic");
    }
}

/// Waits until the job reaches a terminal status; panics after `timeout`.
pub(crate) async fn wait_terminal(
    store: &RedisStore,
    job_id: &str,
    timeout: Duration,
) -> JobStatus {
    let deadline = Instant::now() + timeout;
    loop {
        let job = store.job(job_id).await.expect("the job should exist");
        if job.status.is_terminal() {
            return job.status;
        }
        assert!(
            Instant::now() < deadline,
            "job {job_id} did not finish within {timeout:?}: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Submits a job file with `trawl run --detach` and returns the job ID.
pub(crate) async fn submit(env: &TestEnv, job_file: &std::path::Path) -> String {
    let output = env
        .trawl(&["run", "--detach", job_file.to_str().unwrap()])
        .output()
        .await
        .expect("trawl run should start");
    assert!(
        output.status.success(),
        "trawl run --detach failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// Writes `text` to a fresh temporary file named `name` and returns its path.
pub(crate) fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique("trawl-it"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Keeps only the counters whose family the tests compute exactly.
pub(crate) fn exact_families(stats: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    stats
        .iter()
        .filter(|(name, _)| {
            let counter = name
                .strip_prefix("acct:")
                .or_else(|| name.strip_prefix("bucket:"))
                .and_then(|rest| rest.split_once(':').map(|(_, c)| c))
                .unwrap_or(name);
            !counter.starts_with("encryption:")
        })
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// Sends SIGTERM (or SIGKILL) to a child process.
pub(crate) fn signal(child: &Child, kill: bool) {
    let pid = child.id().expect("the child should still be running");
    let status = std::process::Command::new("kill")
        .arg(if kill { "-KILL" } else { "-TERM" })
        .arg(pid.to_string())
        .status()
        .expect("kill should run");
    assert!(status.success());
}
