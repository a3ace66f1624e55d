//! How jobs and result records read outside the store: the JSON that `trawl jobs show --json`
//! prints and the HTTP API serves, from one place so both always agree.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};
use trawl_common::store::JobInfo;
use trawl_proto::v1::ObjectResult;

use crate::pricing::format_usd_cents;

/// Figures of one scope (the job, an account or a bucket).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Figures {
    /// Objects and bytes: dispatched, classified, partial, skipped, failed, billable…
    pub counters: BTreeMap<String, i64>,
    /// Detections per identifier type.
    pub detections: BTreeMap<String, i64>,
    /// Objects with findings, per severity.
    pub findings: BTreeMap<String, i64>,
    /// Objects not classified, per reason code.
    pub reasons: BTreeMap<String, i64>,
    /// Objects per encryption type.
    pub encryption: BTreeMap<String, i64>,
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

    /// Returns counter `name`, 0 if absent.
    pub fn get(&self, name: &str) -> i64 {
        self.counters.get(name).copied().unwrap_or(0)
    }
}

/// A job's figures split into scopes.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ScopedFigures {
    /// The whole job.
    pub job: Figures,
    /// Per account ID.
    pub accounts: BTreeMap<String, Figures>,
    /// Per bucket.
    pub buckets: BTreeMap<String, Figures>,
}

/// Splits the store's flat counters (`acct:<id>:…`, `bucket:<name>:…`, the rest job-wide) into
/// scopes.
pub fn split_stats(stats: &BTreeMap<String, i64>) -> ScopedFigures {
    let mut scoped = ScopedFigures::default();
    for (name, value) in stats {
        if let Some(rest) = name.strip_prefix("acct:") {
            if let Some((account, counter)) = rest.split_once(':') {
                scoped
                    .accounts
                    .entry(account.to_string())
                    .or_default()
                    .add(counter, *value);
            }
        } else if let Some(rest) = name.strip_prefix("bucket:") {
            if let Some((bucket, counter)) = rest.split_once(':') {
                scoped
                    .buckets
                    .entry(bucket.to_string())
                    .or_default()
                    .add(counter, *value);
            }
        } else {
            scoped.job.add(name, *value);
        }
    }
    scoped
}

/// The running actual cost beside the estimate, from the review stored with the job.
#[derive(Debug, Clone, PartialEq)]
pub struct CostView {
    price_per_gb_usd: f64,
    gb_bytes: f64,
    estimate_cents: u64,
}

impl CostView {
    /// Reads the pricing and the estimate from a stored review; `None` if it has neither.
    pub fn from_review(review_json: &str) -> Option<Self> {
        let review: Value = serde_json::from_str(review_json).ok()?;
        Some(Self {
            price_per_gb_usd: review["pricing"]["price_per_gb_usd"].as_f64()?,
            gb_bytes: review["pricing"]["gb_bytes"]
                .as_f64()
                .unwrap_or(1_073_741_824.0),
            estimate_cents: review["totals"]["cost_estimate_cents"].as_u64()?,
        })
    }

    /// Returns the actual cost in cents of `billable_bytes` classified so far.
    pub fn actual_cents(&self, billable_bytes: u64) -> u64 {
        (billable_bytes as f64 / self.gb_bytes * self.price_per_gb_usd * 100.0).round() as u64
    }

    /// Returns the estimate in cents.
    pub fn estimate_cents(&self) -> u64 {
        self.estimate_cents
    }

    /// Returns "cost $a of est. $b" for `billable_bytes` classified so far.
    pub fn describe(&self, billable_bytes: u64) -> String {
        format!(
            "cost {} of est. {}",
            format_usd_cents(self.actual_cents(billable_bytes)),
            format_usd_cents(self.estimate_cents)
        )
    }
}

/// A job, its figures per scope, and — when it was started from a review — its running cost
/// beside the estimate.
pub fn job_json(job: &JobInfo, stats: &BTreeMap<String, i64>, review_json: Option<&str>) -> Value {
    let scoped = split_stats(stats);
    let cost = review_json.and_then(CostView::from_review).map(|view| {
        let billable = scoped.job.get("billable_bytes").max(0) as u64;
        json!({
            "actual_cents": view.actual_cents(billable),
            "actual": format_usd_cents(view.actual_cents(billable)),
            "estimate_cents": view.estimate_cents(),
            "estimate": format_usd_cents(view.estimate_cents()),
        })
    });
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
        "figures": scoped.job,
        "accounts": scoped.accounts,
        "buckets": scoped.buckets,
        "cost": cost,
    })
}

/// One result record as JSON (the shape `trawl jobs results` prints, one per line).
pub fn result_json(record: &ObjectResult) -> Value {
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
    json!({
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
        "encryption": {
            "type": encryption.r#type,
            "kms_key_arn": (!encryption.kms_key_arn.is_empty()).then_some(&encryption.kms_key_arn),
        },
        "detections": detections,
        "worker_id": record.worker_id,
    })
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
        let scoped = split_stats(&stats);
        assert_eq!(scoped.job.get("objects_classified"), 3);
        assert_eq!(scoped.job.detections["EMAIL_ADDRESS"], 7);
        assert_eq!(scoped.job.reasons["OBJECT_NOT_FOUND"], 1);
        assert_eq!(scoped.accounts["111122223333"].get("objects_classified"), 2);
        assert_eq!(scoped.buckets["alpha"].get("objects_classified"), 1);
        assert_eq!(scoped.buckets["alpha"].findings["HIGH"], 1);
    }

    #[test]
    fn the_running_cost_is_shown_beside_the_estimate() {
        let view = CostView::from_review(
            r#"{"pricing": {"price_per_gb_usd": 5.0, "gb_bytes": 1073741824}, "totals": {"cost_estimate_cents": 250}}"#,
        )
        .unwrap();
        assert_eq!(view.describe(1 << 29), "cost $2.50 of est. $2.50");
        assert_eq!(view.describe(0), "cost $0.00 of est. $2.50");
        assert_eq!(view.actual_cents(1 << 28), 125);
        assert!(CostView::from_review("{}").is_none());
    }

    #[test]
    fn a_job_reads_with_its_cost_when_it_was_reviewed() {
        let job = JobInfo {
            id: "j1".into(),
            name: "n".into(),
            status: trawl_common::store::JobStatus::Running,
            error: None,
            created_ms: 1,
            started_ms: 2,
            finished_ms: 0,
            dispatched: 10,
            results: 4,
            listing_done: true,
            plan_json: String::new(),
        };
        let stats: BTreeMap<String, i64> = [("billable_bytes".to_string(), 1i64 << 29)]
            .into_iter()
            .collect();
        let review =
            r#"{"pricing": {"price_per_gb_usd": 5.0}, "totals": {"cost_estimate_cents": 400}}"#;
        let value = job_json(&job, &stats, Some(review));
        assert_eq!(value["cost"]["actual_cents"], 250);
        assert_eq!(value["cost"]["estimate"], "$4.00");
        assert_eq!(value["status"], "RUNNING");
        assert!(job_json(&job, &stats, None)["cost"].is_null());
    }
}
