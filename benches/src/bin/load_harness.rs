//! End-to-end load harness. In one run it reports:
//! 1. **dispatch rate**: the coordinator's dispatch path (sequence allocation in Redis, publish
//!    to the quorum queue with publisher confirms and a bounded window, checkpoint) on synthetic
//!    pages of 1,000 tasks;
//! 2. **raw GET rate** of the S3 endpoint at the workers' total concurrency (bodies read),
//!    before and again after the end-to-end phase (the higher is the bar);
//! 3. **end-to-end objects/s**: a coordinator and N `trawl worker` processes classifying the same
//!    objects, from submission to COMPLETE.
//!
//! Run against local services (RabbitMQ, Redis, moto) after `scripts/services`:
//! `cargo run --release -p trawl-benches --bin load-harness -- --workers 3`
//!
//! On a small machine the endpoint and Trawl compete for the same cores, and not equally in the
//! two phases: during the raw GETs the endpoint has the machine to itself, end to end it shares
//! it with the workers, RabbitMQ and Redis, so the ratio measures CPU sharing as much as Trawl.
//! `--endpoint-cpus 1` removes that: the harness starts its own moto server pinned to those
//! CPUs and moves itself, the processes it starts, RabbitMQ and Redis to the others (their
//! affinity is restored at the end), so the endpoint has the same CPU in both phases, as S3
//! has its own machines.

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
    /// CPUs (a `taskset` list, e.g. `1`) to run a moto server of the harness's own on, with
    /// everything else on the other CPUs; `--endpoint` is then ignored.
    #[arg(long)]
    endpoint_cpus: Option<String>,
    /// The moto server program started for `--endpoint-cpus` (default: `moto_server` on the
    /// PATH, else the one `scripts/services` installs in `~/.cache/trawl/venv`).
    #[arg(long)]
    moto: Option<String>,
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
    let mut args = Args::parse();
    // Kept until the end: the pinned endpoint (killed on drop) and the affinities to restore.
    let pinned = match args.endpoint_cpus.clone() {
        Some(cpus) => {
            let moto = args.moto.clone().unwrap_or_else(default_moto);
            let pinned = Pinned::start(&cpus, &moto).await?;
            args.endpoint = pinned.endpoint.clone();
            println!(
                "pinned: endpoint {} on CPUs {cpus}, harness, Trawl, RabbitMQ and Redis on CPUs {}",
                pinned.endpoint, pinned.others
            );
            Some(pinned)
        }
        None => None,
    };
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
    // The pinned endpoint's CPU time per object in each phase tells whether the endpoint worked
    // harder per object end to end, or was not kept busy.
    let cpu = || pinned.as_ref().and_then(Pinned::endpoint_cpu_secs);
    let endpoint_ms = |before: Option<f64>, after: Option<f64>| {
        Some(ms_per_object(after? - before?, args.objects))
    };
    let per_object = |before: Option<f64>, after: Option<f64>| {
        endpoint_ms(before, after)
            .map(|ms| format!(", endpoint CPU {ms:.2} ms per object"))
            .unwrap_or_default()
    };
    let cpu0 = cpu();
    let raw_rate = raw_get_phase(&s3, &bucket, args.objects, concurrency).await?;
    let cpu1 = cpu();
    println!(
        "raw GET:  {raw_rate:.0} objects/s at concurrency {concurrency} ({} B objects{})",
        args.object_size,
        per_object(cpu0, cpu1),
    );

    let e2e = end_to_end_phase(&args, &bucket)
        .await
        .context("end-to-end phase")?;
    let cpu2 = cpu();
    // The endpoint's rate drifts between runs; it is measured again after the end-to-end phase
    // and the ratio is taken to the higher of the two (the harder bar).
    let raw_after = raw_get_phase(&s3, &bucket, args.objects, concurrency).await?;
    let cpu3 = cpu();
    println!(
        "raw GET:  {raw_after:.0} objects/s again after the end-to-end phase{}",
        per_object(cpu2, cpu3)
    );
    let raw_rate = raw_rate.max(raw_after);
    let e2e_rate = e2e.objects_per_sec;
    println!(
        "end to end: {e2e_rate:.0} objects/s with {} workers x {} = {:.0}% of the raw GET rate \
         (first result {:.2} s after submission; from then on {:.0} objects/s = {:.0}%{})",
        args.workers,
        args.worker_concurrency,
        100.0 * e2e_rate / raw_rate,
        e2e.first_result_secs,
        e2e.steady_objects_per_sec,
        100.0 * e2e.steady_objects_per_sec / raw_rate,
        per_object(cpu1, cpu2),
    );
    if let (Some(c), Some(w)) = (e2e.coordinator_cpu_ms, e2e.workers_cpu_ms) {
        println!("Trawl CPU per object: workers {w:.3} ms, coordinator {c:.3} ms");
    }
    println!(
        "{}",
        serde_json::json!({
            "dispatch_tasks_per_sec": dispatch_rate.round(),
            "raw_get_objects_per_sec": raw_rate.round(),
            "end_to_end_objects_per_sec": e2e_rate.round(),
            "end_to_end_share_of_raw_get": (e2e_rate / raw_rate * 100.0).round() / 100.0,
            "first_result_secs": (e2e.first_result_secs * 1000.0).round() / 1000.0,
            "steady_objects_per_sec": e2e.steady_objects_per_sec.round(),
            "workers_cpu_ms_per_object": e2e.workers_cpu_ms,
            "coordinator_cpu_ms_per_object": e2e.coordinator_cpu_ms,
            "workers": args.workers,
            "worker_concurrency": args.worker_concurrency,
            "objects": args.objects,
            "object_size": args.object_size,
            "endpoint_cpus": args.endpoint_cpus,
            "endpoint_cpu_ms_per_object": {
                "raw_get": endpoint_ms(cpu0, cpu1),
                "end_to_end": endpoint_ms(cpu1, cpu2),
                "raw_get_after": endpoint_ms(cpu2, cpu3),
            },
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

async fn end_to_end_phase(args: &Args, bucket: &str) -> anyhow::Result<EndToEnd> {
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
    let mut first_result: Option<Duration> = None;
    loop {
        let job = store.job(&job_id).await?;
        if first_result.is_none()
            && store
                .stats(&job_id)
                .await?
                .get("objects_classified")
                .is_some_and(|&n| n > 0)
        {
            first_result = Some(started.elapsed());
        }
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
    // Trawl's own CPU per object (the processes are still running, their counters readable).
    let coordinator_cpu_ms = children[0]
        .id()
        .and_then(cpu_secs)
        .map(|s| ms_per_object(s, args.objects));
    let workers_cpu_ms = children[1..]
        .iter()
        .map(|c| c.id().and_then(cpu_secs))
        .sum::<Option<f64>>()
        .map(|s| ms_per_object(s, args.objects));
    let stats = store.stats(&job_id).await?;
    let classified = stats.get("objects_classified").copied().unwrap_or(0);
    if classified != args.objects as i64 {
        bail!("classified {classified} of {} objects", args.objects);
    }
    drop(children);
    let first = first_result.map_or(elapsed, |d| d.as_secs_f64());
    Ok(EndToEnd {
        objects_per_sec: args.objects as f64 / elapsed,
        first_result_secs: first,
        steady_objects_per_sec: (args.objects as f64 - 1.0) / (elapsed - first).max(1e-3),
        coordinator_cpu_ms,
        workers_cpu_ms,
    })
}

/// The end-to-end phase's figures.
struct EndToEnd {
    /// From submission (pre-flight and listing included) to COMPLETE.
    objects_per_sec: f64,
    /// From submission to the first result recorded.
    first_result_secs: f64,
    /// From the first result to COMPLETE.
    steady_objects_per_sec: f64,
    /// CPU milliseconds per object of the coordinator and of all workers together (start-up
    /// and the 1 s wait before submission included).
    coordinator_cpu_ms: Option<f64>,
    workers_cpu_ms: Option<f64>,
}

/// A moto server pinned to its own CPUs, and the processes moved off them.
struct Pinned {
    endpoint: String,
    /// The other CPUs, as a `taskset` list.
    others: String,
    server: tokio::process::Child,
    /// (pid, affinity list before) of the services moved, restored on drop.
    moved: Vec<(u32, String)>,
}

impl Pinned {
    async fn start(cpus: &str, moto: &str) -> anyhow::Result<Self> {
        let endpoint_cpus = parse_cpu_list(cpus)?;
        let all = std::thread::available_parallelism()?.get();
        let others: Vec<usize> = (0..all).filter(|c| !endpoint_cpus.contains(c)).collect();
        if others.is_empty() || endpoint_cpus.iter().any(|&c| c >= all) {
            bail!(
                "--endpoint-cpus {cpus}: this machine has CPUs 0-{}, and the endpoint must leave at least one",
                all - 1
            );
        }
        let others = others
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let server = tokio::process::Command::new("taskset")
            .args(["-c", cpus, moto, "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {moto} under taskset"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                bail!("{moto} did not answer on 127.0.0.1:{port} within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // This process (all its threads, and so every child it starts) and the services; a
        // service moved before a failure is moved back when `pinned` drops.
        let mut pinned = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            others,
            server,
            moved: Vec::new(),
        };
        set_affinity(std::process::id(), &pinned.others)?;
        for name in ["beam.smp", "redis-server"] {
            for pid in pids_named(name)? {
                let before = affinity(pid)?;
                set_affinity(pid, &pinned.others)?;
                pinned.moved.push((pid, before));
            }
        }
        Ok(pinned)
    }
}

impl Pinned {
    /// CPU seconds the endpoint has used so far.
    fn endpoint_cpu_secs(&self) -> Option<f64> {
        cpu_secs(self.server.id()?)
    }
}

/// `cpu_secs` spread over `objects`, in milliseconds per object to the microsecond.
fn ms_per_object(cpu_secs: f64, objects: usize) -> f64 {
    (cpu_secs * 1e6 / objects as f64).round() / 1000.0
}

/// CPU seconds (user and system) process `pid` has used so far, from `/proc` (Linux; 100
/// ticks a second, as on every Linux kernel's user-space ABI).
fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): utime and stime are 12 and 13.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

impl Drop for Pinned {
    fn drop(&mut self) {
        for (pid, before) in &self.moved {
            if let Err(e) = set_affinity(*pid, before) {
                eprintln!("could not restore the CPU affinity of process {pid} to {before}: {e:#}");
            }
        }
    }
}

fn default_moto() -> String {
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| dir.join("moto_server").is_file())
    });
    let venv = std::env::var_os("HOME")
        .map(|home| std::path::PathBuf::from(home).join(".cache/trawl/venv/bin/moto_server"));
    match venv {
        Some(venv) if !on_path && venv.is_file() => venv.display().to_string(),
        _ => "moto_server".into(),
    }
}

/// CPUs of a `taskset` list such as `1` or `0,2-3`.
fn parse_cpu_list(list: &str) -> anyhow::Result<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.split(',') {
        let bad =
            || anyhow::anyhow!("--endpoint-cpus {list}: {part:?} is not a CPU number or range");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().map_err(|_| bad())?),
        }
    }
    Ok(cpus)
}

fn set_affinity(pid: u32, cpus: &str) -> anyhow::Result<()> {
    let out = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .output()
        .context("running taskset")?;
    if !out.status.success() {
        bail!(
            "taskset -a -p -c {cpus} {pid}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The affinity list of `pid`, as `taskset -p -c` prints it.
fn affinity(pid: u32) -> anyhow::Result<String> {
    let out = std::process::Command::new("taskset")
        .args(["-p", "-c", &pid.to_string()])
        .output()
        .context("running taskset")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.rsplit(':')
        .next()
        .map(|s| s.trim().to_string())
        .filter(|s| out.status.success() && !s.is_empty())
        .with_context(|| format!("reading the CPU affinity of process {pid}"))
}

fn pids_named(name: &str) -> anyhow::Result<Vec<u32>> {
    let out = std::process::Command::new("pgrep")
        .args(["-x", name])
        .output()
        .context("running pgrep")?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect())
}
