//! `trawl jobs …` and the progress follower of `trawl run`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use trawl_common::config::ServiceConfig;
use trawl_common::store::{JobInfo, JobStatus, JobStore, RedisStore};
use trawl_coordinator::views::{CostView, Figures, job_json, result_json, split_stats};

/// Connects to Redis for a CLI command (short timeout: a person is waiting).
pub(crate) async fn connect(service: &ServiceConfig) -> anyhow::Result<RedisStore> {
    let timeout = Duration::from_secs(service.connect_timeout_secs.min(10));
    Ok(RedisStore::connect(&service.redis_url, timeout)
        .await?
        .for_queue(&service.task_queue))
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
        let review = store.review(id).await?;
        let value = job_json(&job, &stats, review.as_deref());
        println!("{}", serde_json::to_string_pretty(&value)?);
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
    let scoped = split_stats(stats);
    let (figures, accounts, buckets) = (scoped.job, scoped.accounts, scoped.buckets);
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
            let line = result_json(record);
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
    fn bytes_read_as_people_read_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
