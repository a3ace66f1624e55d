//! End-to-end load harness. In one run it reports:
//! 1. **dispatch rate**: the coordinator's dispatch path (sequence allocation in Redis, publish
//!    to the quorum queue with publisher confirms and a bounded window, checkpoint) on synthetic
//!    pages of 1,000 tasks;
//! 2. **raw GET rate** of the S3 endpoint at the workers' total concurrency (bodies read);
//! 3. **end-to-end objects/s**: a coordinator and N `trawl worker` processes classifying the same
//!    objects, from submission to COMPLETE.
//!
//! Run against local services (RabbitMQ, Redis, moto) after `scripts/services`:
//! `cargo run --release -p trawl-benches --bin load-harness -- --workers 3`

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use clap::Parser;
use futures::StreamExt;
use trawl_common::amqp::RabbitQueue;
use trawl_common::amqp::Topology;
use trawl_common::queue::TaskQueue;
use trawl_common::store::{Counters, JobStatus, JobStore, RedisStore};
use trawl_proto::v1::ClassifyTask;

#[derive(Parser)]
struct Args {
    /// Tasks to publish in the dispatch phase.
    #[arg(long, default_value_t = 100_000)]
    tasks: u64,
    /// Objects to upload and classify.
    #[arg(long, default_value_t = 3_000)]
    objects: usize,
    /// Size of each object in bytes.
    #[arg(long, default_value_t = 4096)]
    object_size: usize,
    /// Worker processes.
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Objects each worker processes at once.
    #[arg(long, default_value_t = 16)]
    worker_concurrency: usize,
    /// Confirm window of the dispatch phase.
    #[arg(long, default_value_t = 4096)]
    confirm_window: usize,
    /// S3 endpoint.
    #[arg(long, default_value = "http://127.0.0.1:5000")]
    endpoint: String,
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    #[arg(long, default_value = "redis://127.0.0.1:6379/")]
    redis_url: String,
}

fn suffix() -> String {
    (0..8).map(|_| fastrand_lower()).collect()
}

fn fastrand_lower() -> char {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(7919, std::sync::atomic::Ordering::Relaxed);
    (b'a' + ((nanos ^ n.wrapping_mul(2_654_435_761)) % 26) as u8) as char
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dispatch_rate = dispatch_phase(&args).await.context("dispatch phase")?;
    println!(
        "dispatch: {dispatch_rate:.0} tasks/s ({} tasks, confirms on, window {})",
        args.tasks, args.confirm_window
    );

    let s3 = s3_client(&args.endpoint);
    let bucket = format!("load-{}", suffix());
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .context("create bucket")?;
    upload(&s3, &bucket, &args).await?;
    let concurrency = args.workers * args.worker_concurrency;
    let raw_rate = raw_get_phase(&s3, &bucket, args.objects, concurrency).await?;
    println!(
        "raw GET:  {raw_rate:.0} objects/s at concurrency {concurrency} ({} B objects)",
        args.object_size
    );

    let e2e_rate = end_to_end_phase(&args, &bucket)
        .await
        .context("end-to-end phase")?;
    println!(
        "end to end: {e2e_rate:.0} objects/s with {} workers x {} = {:.0}% of the raw GET rate",
        args.workers,
        args.worker_concurrency,
        100.0 * e2e_rate / raw_rate
    );
    println!(
        "{}",
        serde_json::json!({
            "dispatch_tasks_per_sec": dispatch_rate.round(),
            "raw_get_objects_per_sec": raw_rate.round(),
            "end_to_end_objects_per_sec": e2e_rate.round(),
            "end_to_end_share_of_raw_get": (e2e_rate / raw_rate * 100.0).round() / 100.0,
            "workers": args.workers,
            "worker_concurrency": args.worker_concurrency,
            "objects": args.objects,
            "object_size": args.object_size,
        })
    );
    Ok(())
}

/// The coordinator's dispatch path on synthetic pages: allocate, publish with confirms, checkpoint.
async fn dispatch_phase(args: &Args) -> anyhow::Result<f64> {
    let queue = format!("bench.dispatch.{}", suffix());
    let queue_handle = RabbitQueue::connect(
        &args.amqp_url,
        "load-harness",
        Duration::from_secs(10),
        Topology {
            expires_ms: Some(60_000),
            ..Topology::new(&queue)
        },
        args.confirm_window,
    )
    .await?;
    let topology = queue_handle.topology().clone();
    let channel = queue_handle.channel().clone();
    let store = RedisStore::connect(&args.redis_url, Duration::from_secs(10))
        .await?
        .for_queue(&queue);
    let job_id = trawl_common::store::new_job_id();
    store
        .create_job(&job_id, "load-harness", "{}", "{}")
        .await?;
    store.claim_pending(Duration::from_millis(1)).await?;
    store
        .transition(&job_id, JobStatus::Running, &[JobStatus::Created], None)
        .await?;

    let started = Instant::now();
    let mut dispatched = 0u64;
    let mut page_index = 0u64;
    while dispatched < args.tasks {
        let n = (args.tasks - dispatched).min(1000);
        let after = format!("key-{:012}", page_index * 1000);
        let mut counters = Counters::default();
        counters.add(
            "123456789012",
            "bench-bucket",
            "objects_dispatched",
            n as i64,
        );
        // As the coordinator does: the page's checkpoint (tasks numbered from 0) is stored
        // with the allocation, then the tasks get the page's base.
        let tasks: Vec<ClassifyTask> = (0..n)
            .map(|i| ClassifyTask {
                job_id: job_id.clone(),
                seq: i,
                account_id: "123456789012".into(),
                bucket: "bench-bucket".into(),
                key: format!("key-{:012}", page_index * 1000 + i + 1),
                size: 4096,
                storage_class: "STANDARD".into(),
                ..Default::default()
            })
            .collect();
        let checkpoint = trawl_proto::v1::PageCheckpoint {
            last_key: tasks.last().map(|t| t.key.clone()).unwrap_or_default(),
            tasks,
            truncated: true,
        };
        let base = store
            .allocate_page(
                &job_id,
                "bench-bucket/",
                &after,
                n,
                &counters,
                &trawl_proto::Message::encode_to_vec(&checkpoint),
            )
            .await?;
        let mut tasks = checkpoint.tasks;
        for task in &mut tasks {
            task.seq += base;
        }
        queue_handle.publish(&job_id, &tasks).await?;
        store
            .confirm_page(&job_id, "bench-bucket/", &tasks.last().unwrap().key, false)
            .await?;
        dispatched += n;
        page_index += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    for queue in [&topology.tasks, &topology.dead, &topology.parked] {
        let _ = channel
            .queue_delete(
                queue.as_str().into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await;
    }
    store
        .transition(&job_id, JobStatus::Cancelled, &[JobStatus::Running], None)
        .await?;
    Ok(dispatched as f64 / elapsed)
}

fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "load-harness",
        ))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

async fn upload(s3: &aws_sdk_s3::Client, bucket: &str, args: &Args) -> anyhow::Result<()> {
    let results = futures::stream::iter(0..args.objects)
        .map(|i| {
            let mut body = format!(
                "record {i}: contact person{i}@mail-corp.com, ssn 123-45-{:04}\n",
                1000 + i % 9000
            )
            .into_bytes();
            body.resize(args.object_size.max(body.len()), b' ');
            s3.put_object()
                .bucket(bucket)
                .key(format!("obj/{i:07}.txt"))
                .body(body.into())
                .send()
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    for result in results {
        result.context("upload")?;
    }
    Ok(())
}

async fn raw_get_phase(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    objects: usize,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let results = futures::stream::iter(0..objects)
        .map(|i| async move {
            let output = s3
                .get_object()
                .bucket(bucket)
                .key(format!("obj/{i:07}.txt"))
                .send()
                .await?;
            let bytes = output.body.collect().await?.into_bytes();
            anyhow::Ok(bytes.len())
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    for result in results {
        result?;
    }
    Ok(objects as f64 / started.elapsed().as_secs_f64())
}

async fn end_to_end_phase(args: &Args, bucket: &str) -> anyhow::Result<f64> {
    let exe = std::env::current_exe()?;
    let trawl = exe.parent().context("harness directory")?.join("trawl");
    if !trawl.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release -p trawl`",
            trawl.display()
        );
    }
    let queue = format!("bench.e2e.{}", suffix());
    let spawn = |args_: &[&str]| {
        tokio::process::Command::new(&trawl)
            .args(args_)
            .env("AWS_ENDPOINT_URL", &args.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("TRAWL_AMQP_URL", &args.amqp_url)
            .env("TRAWL_REDIS_URL", &args.redis_url)
            .env("TRAWL_TASK_QUEUE", &queue)
            .env("TRAWL_QUEUE_EXPIRES_MS", "60000")
            .env("TRAWL_API_LISTEN", "off")
            .env("TRAWL_LOG", "warn")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
    };
    let concurrency = args.worker_concurrency.to_string();
    let mut children = vec![spawn(&["coordinator"])?];
    for _ in 0..args.workers {
        children.push(spawn(&["worker", "--concurrency", &concurrency])?);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let store = RedisStore::connect(&args.redis_url, Duration::from_secs(10))
        .await?
        .for_queue(&queue);
    let spec = trawl_common::job::JobSpec {
        name: Some("load-harness".into()),
        accounts: Vec::new(),
        selections: vec![trawl_common::job::Selection {
            account: "123456789012".into(),
            bucket: bucket.to_string(),
            prefixes: Vec::new(),
        }],
        modified_since_ms: None,
    };
    let started = Instant::now();
    let job_id = trawl_coordinator::submit(&store, &spec).await?;
    loop {
        let job = store.job(&job_id).await?;
        if job.status.is_terminal() {
            if job.status != JobStatus::Complete {
                bail!("job ended {:?}: {:?}", job.status, job.error);
            }
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("job did not complete in 10 minutes: {job:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats = store.stats(&job_id).await?;
    let classified = stats.get("objects_classified").copied().unwrap_or(0);
    if classified != args.objects as i64 {
        bail!("classified {classified} of {} objects", args.objects);
    }
    drop(children);
    Ok(args.objects as f64 / elapsed)
}
