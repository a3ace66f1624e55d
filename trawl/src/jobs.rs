//! `trawl jobs …` and the progress follower of `trawl run`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use trawl_common::config::ServiceConfig;
use trawl_common::store::{JobInfo, JobStatus, JobStore, RedisStore};

/// Connects to Redis for a CLI command (short timeout: a person is waiting).
pub(crate) async fn connect(service: &ServiceConfig) -> anyhow::Result<RedisStore> {
    let timeout = Duration::from_secs(service.connect_timeout_secs.min(10));
    Ok(RedisStore::connect(&service.redis_url, timeout)
        .await?
        .for_queue(&service.task_queue))
}

/// Figures of one scope (the job, an account or a bucket).
#[derive(Debug, Default, serde::Serialize)]
struct Figures {
    counters: BTreeMap<String, i64>,
    detections: BTreeMap<String, i64>,
    findings: BTreeMap<String, i64>,
    reasons: BTreeMap<String, i64>,
    encryption: BTreeMap<String, i64>,
}

impl Figures {
    fn add(&mut self, name: &str, value: i64) {
        let (map, key) = match name.split_once(':') {
            Some(("detections", t)) => (&mut self.detections, t),
            Some(("findings", s)) => (&mut self.findings, s),
            Some(("reason", r)) => (&mut self.reasons, r),
            Some(("encryption", e)) => (&mut self.encryption, e),
            _ => (&mut self.counters, name),
        };
        map.insert(key.to_string(), value);
    }

    fn get(&self, name: &str) -> i64 {
        self.counters.get(name).copied().unwrap_or(0)
    }
}

/// Splits flat counters into the job scope and per-account and per-bucket scopes.
fn split_stats(
    stats: &BTreeMap<String, i64>,
) -> (
    Figures,
    BTreeMap<String, Figures>,
    BTreeMap<String, Figures>,
) {
    let mut job = Figures::default();
    let mut accounts: BTreeMap<String, Figures> = BTreeMap::new();
    let mut buckets: BTreeMap<String, Figures> = BTreeMap::new();
    for (name, value) in stats {
        if let Some(rest) = name.strip_prefix("acct:") {
            if let Some((account, counter)) = rest.split_once(':') {
                accounts
                    .entry(account.to_string())
                    .or_default()
                    .add(counter, *value);
            }
        } else if let Some(rest) = name.strip_prefix("bucket:") {
            if let Some((bucket, counter)) = rest.split_once(':') {
                buckets
                    .entry(bucket.to_string())
                    .or_default()
                    .add(counter, *value);
            }
        } else {
            job.add(name, *value);
        }
    }
    (job, accounts, buckets)
}

fn job_json(job: &JobInfo, stats: &BTreeMap<String, i64>) -> Value {
    let (figures, accounts, buckets) = split_stats(stats);
    json!({
        "id": job.id,
        "name": job.name,
        "status": job.status,
        "error": job.error,
        "created_ms": job.created_ms,
        "started_ms": job.started_ms,
        "finished_ms": job.finished_ms,
        "dispatched": job.dispatched,
        "results": job.results,
        "listing_done": job.listing_done,
        "figures": figures,
        "accounts": accounts,
        "buckets": buckets,
    })
}

/// Formats a byte count in human units.
pub(crate) fn human_bytes(num_bytes: i64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = num_bytes as f64;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{num_bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

pub(crate) async fn list<S: JobStore>(
    store: &S,
    limit: usize,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let jobs = store.list_jobs(limit).await?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&jobs)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<24} {:<20} {:<12} {:>10} {:>10}",
        "ID", "NAME", "STATUS", "DISPATCHED", "RESULTS"
    );
    for job in jobs {
        println!(
            "{:<24} {:<20} {:<12} {:>10} {:>10}",
            job.id,
            truncate(&job.name, 20),
            job.status.as_str(),
            job.dispatched,
            job.results
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        text.chars().take(width - 1).chain(['…']).collect()
    }
}

pub(crate) async fn show<S: JobStore>(
    store: &S,
    id: &str,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let job = store.job(id).await?;
    let stats = store.stats(id).await?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&job_json(&job, &stats))?);
    } else {
        print_table(&job, &stats);
    }
    Ok(exit_code(job.status))
}

fn exit_code(status: JobStatus) -> ExitCode {
    match status {
        JobStatus::Failed | JobStatus::Cancelled => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    }
}

fn print_table(job: &JobInfo, stats: &BTreeMap<String, i64>) {
    let (figures, accounts, buckets) = split_stats(stats);
    println!(
        "Job {} ({})  status {}",
        job.id,
        job.name,
        job.status.as_str()
    );
    if let Some(error) = &job.error {
        println!("Error: {error}");
    }
    println!(
        "Objects: {} dispatched, {} classified ({} partial), {} skipped, {} failed, {} with findings",
        figures.get("objects_dispatched"),
        figures.get("objects_classified"),
        figures.get("objects_partial"),
        figures.get("objects_skipped"),
        figures.get("objects_failed"),
        figures.get("objects_with_findings"),
    );
    println!(
        "Bytes:   {} dispatched, {} classified, {} skipped, {} failed",
        human_bytes(figures.get("bytes_dispatched")),
        human_bytes(figures.get("bytes_classified")),
        human_bytes(figures.get("bytes_skipped")),
        human_bytes(figures.get("bytes_failed")),
    );
    let row = |name: &str, f: &Figures| {
        println!(
            "  {:<40} {:>9} {:>10} {:>8} {:>7} {:>12} {:>9}",
            truncate(name, 40),
            f.get("objects_dispatched"),
            f.get("objects_classified"),
            f.get("objects_skipped"),
            f.get("objects_failed"),
            human_bytes(f.get("bytes_classified")),
            f.findings.values().sum::<i64>(),
        )
    };
    let header = |title: &str| {
        println!(
            "\n  {:<40} {:>9} {:>10} {:>8} {:>7} {:>12} {:>9}",
            title, "OBJECTS", "CLASSIFIED", "SKIPPED", "FAILED", "BYTES", "FINDINGS"
        )
    };
    header("ACCOUNT");
    for (account, f) in &accounts {
        row(account, f);
    }
    header("BUCKET");
    for (bucket, f) in &buckets {
        row(bucket, f);
    }
    // Objects per encryption type (Macie's names), per bucket: what a KMS or SSE-C problem
    // left unread shows up here and under "Not classified, by reason".
    if buckets.values().any(|f| !f.encryption.is_empty()) {
        println!("\n  {:<40} ENCRYPTION (objects)", "BUCKET");
        for (bucket, f) in &buckets {
            if f.encryption.is_empty() {
                continue;
            }
            let types: Vec<String> = f
                .encryption
                .iter()
                .map(|(kind, n)| format!("{kind} {n}"))
                .collect();
            println!("  {:<40} {}", truncate(bucket, 40), types.join(", "));
        }
    }
    if !figures.detections.is_empty() {
        println!("\n  {:<48} {:>10}", "DETECTION TYPE", "COUNT");
        for (kind, count) in &figures.detections {
            println!("  {kind:<48} {count:>10}");
        }
    }
    if !figures.findings.is_empty() {
        let by_severity: Vec<String> = figures
            .findings
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        println!(
            "\nObjects with findings by severity: {}",
            by_severity.join(", ")
        );
    }
    if !figures.reasons.is_empty() {
        let reasons: Vec<String> = figures
            .reasons
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        println!("Not classified, by reason: {}", reasons.join(", "));
    }
}

/// Follows a job to its end with a progress bar on stderr, then prints its figures.
pub(crate) async fn follow<S: JobStore>(
    store: &S,
    id: &str,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let tty = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last_line = Instant::now() - Duration::from_secs(10);
    let mut warned_no_coordinator = false;
    let mut rate_window: Option<(Instant, u64)> = None;
    let cost = store
        .review(id)
        .await?
        .as_deref()
        .and_then(CostView::from_review);
    loop {
        let job = store.job(id).await?;
        if job.status.is_terminal() {
            if tty {
                eprintln!();
            }
            break;
        }
        if job.status == JobStatus::Created
            && started.elapsed() > Duration::from_secs(5)
            && !warned_no_coordinator
            && !store.coordinator_alive().await.unwrap_or(true)
        {
            eprintln!("warning: no coordinator is running; start one with `trawl coordinator`");
            warned_no_coordinator = true;
        }
        let stats = store.stats(id).await?;
        let classified_bytes = stats.get("bytes_classified").copied().unwrap_or(0);
        let now = Instant::now();
        let (since, base) = *rate_window.get_or_insert((now, job.results));
        let elapsed = now.duration_since(since).as_secs_f64();
        let rate = if elapsed > 0.5 {
            (job.results - base) as f64 / elapsed
        } else {
            0.0
        };
        let billable = stats.get("billable_bytes").copied().unwrap_or(0).max(0) as u64;
        let mut line = progress_line(&job, classified_bytes, rate);
        if let Some(cost) = &cost {
            line.push_str(&format!("  {}", cost.describe(billable)));
        }
        if tty {
            eprint!("\r\x1b[2K{line}");
            let _ = std::io::stderr().flush();
        } else if last_line.elapsed() >= Duration::from_secs(2) {
            eprintln!("{line}");
            last_line = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(if tty { 250 } else { 500 })).await;
    }
    show(store, id, as_json).await
}

/// The running actual cost beside the estimate, from the review stored with the job.
struct CostView {
    price_per_gb_usd: f64,
    gb_bytes: f64,
    estimate_cents: u64,
}

impl CostView {
    fn from_review(review_json: &str) -> Option<Self> {
        let review: Value = serde_json::from_str(review_json).ok()?;
        Some(Self {
            price_per_gb_usd: review["pricing"]["price_per_gb_usd"].as_f64()?,
            gb_bytes: review["pricing"]["gb_bytes"]
                .as_f64()
                .unwrap_or(1_073_741_824.0),
            estimate_cents: review["totals"]["cost_estimate_cents"].as_u64()?,
        })
    }

    /// Returns "cost $a of est. $b" for `billable_bytes` classified so far.
    fn describe(&self, billable_bytes: u64) -> String {
        let cents =
            (billable_bytes as f64 / self.gb_bytes * self.price_per_gb_usd * 100.0).round() as u64;
        format!(
            "cost {} of est. {}",
            trawl_coordinator::pricing::format_usd_cents(cents),
            trawl_coordinator::pricing::format_usd_cents(self.estimate_cents)
        )
    }
}

fn progress_line(job: &JobInfo, classified_bytes: i64, rate: f64) -> String {
    let total = job.dispatched.max(1);
    let done = job.results.min(total);
    let width = 30;
    let filled = if job.dispatched == 0 {
        0
    } else {
        (done as usize * width) / total as usize
    };
    let bar: String = "#".repeat(filled) + &"-".repeat(width - filled);
    let eta = if rate > 0.0 && job.listing_done {
        format!("ETA {:.0}s", (job.dispatched - done) as f64 / rate)
    } else {
        "ETA -".to_string()
    };
    format!(
        "[{bar}] {}/{}{} objects  {} classified  {:.0} obj/s  {eta}  {}",
        job.results,
        job.dispatched,
        if job.listing_done { "" } else { "+" },
        human_bytes(classified_bytes),
        rate,
        job.status.as_str()
    )
}

pub(crate) async fn results<S: JobStore>(
    store: &S,
    id: &str,
    findings_only: bool,
) -> anyhow::Result<ExitCode> {
    store.job(id).await?;
    let mut after = "0".to_string();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    loop {
        let batch = store.results(id, &after, 1000).await?;
        let Some((last, _)) = batch.last() else { break };
        after = last.clone();
        for (_, record) in &batch {
            if findings_only && record.detections.is_empty() {
                continue;
            }
            let detections: Vec<Value> = record
                .detections
                .iter()
                .map(|d| {
                    json!({
                        "type": d.r#type,
                        "category": d.category,
                        "severity": d.severity,
                        "count": d.count,
                        "occurrences": serde_json::from_str::<Value>(&d.occurrences_json).unwrap_or(Value::Null),
                    })
                })
                .collect();
            let encryption = record.encryption.clone().unwrap_or_default();
            let line = json!({
                "job_id": record.job_id,
                "account_id": record.account_id,
                "bucket": record.bucket,
                "key": record.key,
                "status": record.status,
                "reason": (!record.reason.is_empty()).then_some(&record.reason),
                "detail": (!record.detail.is_empty()).then_some(&record.detail),
                "size": record.size,
                "size_classified": record.size_classified,
                "etag": record.etag,
                "storage_class": record.storage_class,
                "last_modified_ms": record.last_modified_ms,
                "severity": (!record.severity.is_empty()).then_some(&record.severity),
                "encryption": {"type": encryption.r#type, "kms_key_arn": (!encryption.kms_key_arn.is_empty()).then_some(&encryption.kms_key_arn)},
                "detections": detections,
                "worker_id": record.worker_id,
            });
            writeln!(out, "{line}")?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Prints every object with findings: location, severity and identifier counts.
pub(crate) async fn print_findings<S: JobStore>(store: &S, id: &str) -> anyhow::Result<()> {
    let mut after = "0".to_string();
    let mut rows = Vec::new();
    let mut not_classified = Vec::new();
    loop {
        let batch = store.results(id, &after, 1000).await?;
        let Some((last, _)) = batch.last() else { break };
        after = last.clone();
        for (_, record) in batch {
            let location = format!("s3://{}/{}", record.bucket, record.key);
            if !record.detections.is_empty() {
                let types: Vec<String> = record
                    .detections
                    .iter()
                    .map(|d| format!("{} x{}", d.r#type, d.count))
                    .collect();
                rows.push((record.severity.clone(), location, types.join(", ")));
            } else if record.status == "SKIPPED" || record.status == "FAILED" {
                not_classified.push((location, record.reason.clone(), record.detail.clone()));
            }
        }
    }
    rows.sort_by(|a, b| {
        severity_rank(&b.0)
            .cmp(&severity_rank(&a.0))
            .then(a.1.cmp(&b.1))
    });
    println!("Findings ({} objects):", rows.len());
    for (severity, location, types) in &rows {
        println!("  {severity:<6} {location}\n         {types}");
    }
    if !not_classified.is_empty() {
        println!("\nNot classified ({} objects):", not_classified.len());
        for (location, reason, detail) in &not_classified {
            println!("  {reason:<22} {location}\n         {detail}");
        }
    }
    Ok(())
}

fn severity_rank(severity: &str) -> u8 {
    match severity {
        "HIGH" => 3,
        "MEDIUM" => 2,
        "LOW" => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_split_into_scopes() {
        let stats: BTreeMap<String, i64> = [
            ("objects_classified", 3),
            ("acct:111122223333:objects_classified", 2),
            ("bucket:alpha:objects_classified", 1),
            ("detections:EMAIL_ADDRESS", 7),
            ("bucket:alpha:findings:HIGH", 1),
            ("reason:OBJECT_NOT_FOUND", 1),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let (job, accounts, buckets) = split_stats(&stats);
        assert_eq!(job.get("objects_classified"), 3);
        assert_eq!(job.detections["EMAIL_ADDRESS"], 7);
        assert_eq!(job.reasons["OBJECT_NOT_FOUND"], 1);
        assert_eq!(accounts["111122223333"].get("objects_classified"), 2);
        assert_eq!(buckets["alpha"].get("objects_classified"), 1);
        assert_eq!(buckets["alpha"].findings["HIGH"], 1);
    }

    #[test]
    fn the_running_cost_is_shown_beside_the_estimate() {
        let view = CostView::from_review(
            r#"{"pricing": {"price_per_gb_usd": 5.0, "gb_bytes": 1073741824}, "totals": {"cost_estimate_cents": 250}}"#,
        )
        .unwrap();
        assert_eq!(view.describe(1 << 29), "cost $2.50 of est. $2.50");
        assert_eq!(view.describe(0), "cost $0.00 of est. $2.50");
        assert!(CostView::from_review("{}").is_none());
    }

    #[test]
    fn bytes_read_as_people_read_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
