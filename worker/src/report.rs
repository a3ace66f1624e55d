//! Result records and their counters.
//!
//! Counter names (each also kept per account `acct:<id>:` and per bucket `bucket:<name>:`):
//! `objects_classified` (COMPLETE or PARTIAL), `objects_partial`, `objects_skipped`,
//! `objects_failed`, `bytes_classified`, `bytes_skipped`, `bytes_failed`, `billable_bytes`
//! (bytes classified with the per-object rounding of the default price profile: at least 1 KiB,
//! at most 20 MiB an object), `objects_with_findings`, `detections:<TYPE>` (occurrences),
//! `findings:<SEVERITY>` (objects whose highest severity it is), `reason:<REASON>` and
//! `encryption:<TYPE>` (objects by encryption type).

use trawl_classifier::{FileResult, Status};
use trawl_common::store::Counters;
use trawl_proto::v1::{ClassifyTask, Detection, Encryption, ObjectResult};

use crate::Context;
use crate::process::ObjectMeta;

/// Smallest size an object is billed at.
pub const BILLABLE_MIN_BYTES: u64 = 1024;
/// Largest size an object is billed at.
pub const BILLABLE_MAX_BYTES: u64 = 20 * 1024 * 1024;

/// A result record and the counters it adds.
#[derive(Debug)]
pub struct Report {
    /// The record appended to the job's result stream.
    pub record: ObjectResult,
    /// Counter increments.
    pub counters: Counters,
}

fn base_record<S>(
    ctx: &Context<S>,
    task: &ClassifyTask,
    meta: Option<&ObjectMeta>,
) -> ObjectResult {
    ObjectResult {
        job_id: task.job_id.clone(),
        seq: task.seq,
        account_id: task.account_id.clone(),
        bucket: task.bucket.clone(),
        key: task.key.clone(),
        size: meta.and_then(|m| m.size).unwrap_or(task.size),
        etag: meta
            .and_then(|m| m.etag.clone())
            .unwrap_or_else(|| task.etag.clone()),
        storage_class: meta
            .and_then(|m| m.storage_class.clone())
            .unwrap_or_else(|| task.storage_class.clone()),
        last_modified_ms: meta
            .and_then(|m| m.last_modified_ms)
            .unwrap_or(task.last_modified_ms),
        encryption: Some(encryption(meta)),
        worker_id: ctx.worker_id.clone(),
        finished_at_ms: trawl_common::now_ms(),
        ..Default::default()
    }
}

/// Returns the encryption of an object from its response headers (and what the worker
/// learned beside them: the KMS key's ARN and state, a client-side envelope).
pub fn encryption(meta: Option<&ObjectMeta>) -> Encryption {
    let Some(meta) = meta else {
        return Encryption {
            r#type: "UNKNOWN".into(),
            ..Default::default()
        };
    };
    let (kms_key_arn, kms_key_state) = match &meta.kms_key {
        Some(key) => (key.arn.clone(), key.state.clone()),
        None => (meta.kms_key_id.clone().unwrap_or_default(), String::new()),
    };
    if let Some(algorithm) = &meta.sse_customer_algorithm {
        return Encryption {
            r#type: "SSE-C".into(),
            sse_customer_algorithm: algorithm.to_string(),
            ..Default::default()
        };
    }
    if let Some(envelope) = &meta.client_side {
        let material_key = envelope.kms_key_id.clone().unwrap_or_default();
        // A server-side KMS key under the envelope is still worth knowing.
        let server_kms = meta
            .server_side_encryption
            .as_deref()
            .is_some_and(|s| s.starts_with("aws:kms"));
        let (kms_key_arn, kms_key_state) = if server_kms {
            (kms_key_arn, kms_key_state)
        } else {
            Default::default()
        };
        return Encryption {
            r#type: "CLIENT_SIDE".into(),
            kms_key_arn,
            kms_key_state,
            client_side_scheme: envelope.scheme.clone(),
            wrapping_algorithm: envelope.wrapping_algorithm.clone().unwrap_or_default(),
            material_description: envelope.material_description.clone().unwrap_or_default(),
            material_description_kms_key_arn: material_key,
            content_encryption_algorithm: envelope.content_algorithm.clone().unwrap_or_default(),
            ..Default::default()
        };
    }
    match meta.server_side_encryption.as_deref() {
        Some(sse @ ("aws:kms" | "aws:kms:dsse")) => Encryption {
            r#type: sse.to_string(),
            kms_key_arn,
            kms_key_state,
            ..Default::default()
        },
        Some("AES256") => Encryption {
            r#type: "AES256".into(),
            ..Default::default()
        },
        Some(other) => Encryption {
            r#type: other.to_string(),
            ..Default::default()
        },
        None => Encryption {
            r#type: "NONE".into(),
            ..Default::default()
        },
    }
}

/// Returns the counter name of an encryption type (Macie's `encryptionType` names).
fn encryption_counter(encryption: &Encryption) -> &'static str {
    match encryption.r#type.as_str() {
        "AES256" => "s3Managed",
        "aws:kms" | "aws:kms:dsse" => "kmsManaged",
        "SSE-C" => "customerManaged",
        "CLIENT_SIDE" => "clientSide",
        "NONE" => "unencrypted",
        _ => "unknown",
    }
}

fn common_counters(record: &ObjectResult, counters: &mut Counters) {
    let (account, bucket) = (record.account_id.as_str(), record.bucket.as_str());
    if let Some(encryption) = &record.encryption {
        counters.add(
            account,
            bucket,
            &format!("encryption:{}", encryption_counter(encryption)),
            1,
        );
    }
    if !record.reason.is_empty() {
        counters.add(account, bucket, &format!("reason:{}", record.reason), 1);
    }
}

/// Builds the report of a classified (COMPLETE or PARTIAL) object.
pub fn classified<S>(
    ctx: &Context<S>,
    task: &ClassifyTask,
    meta: &ObjectMeta,
    file: &FileResult,
) -> Report {
    let mut record = base_record(ctx, task, Some(meta));
    record.status = match file.status {
        Status::Complete => "COMPLETE",
        Status::Partial => "PARTIAL",
        Status::Skipped => "SKIPPED",
    }
    .into();
    record.reason = file.reason.clone().unwrap_or_default();
    record.size_classified = file.size_classified;
    record.severity = file
        .severity
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    record.detections = file
        .detections
        .iter()
        .map(|d| Detection {
            r#type: d.kind.clone(),
            category: d.category.clone(),
            severity: d.severity.as_str().into(),
            count: d.count,
            occurrences_json: serde_json::to_string(&d.occurrences).unwrap_or_default(),
        })
        .collect();

    let mut counters = Counters::default();
    let (account, bucket) = (task.account_id.as_str(), task.bucket.as_str());
    match file.status {
        Status::Complete | Status::Partial => {
            counters.add(account, bucket, "objects_classified", 1);
            if file.status == Status::Partial {
                counters.add(account, bucket, "objects_partial", 1);
            }
            counters.add(
                account,
                bucket,
                "bytes_classified",
                file.size_classified as i64,
            );
            let billable = if file.size_classified == 0 {
                0
            } else {
                file.size_classified
                    .clamp(BILLABLE_MIN_BYTES, BILLABLE_MAX_BYTES)
            };
            counters.add(account, bucket, "billable_bytes", billable as i64);
        }
        Status::Skipped => {
            counters.add(account, bucket, "objects_skipped", 1);
            counters.add(account, bucket, "bytes_skipped", record.size as i64);
        }
    }
    for detection in &file.detections {
        counters.add(
            account,
            bucket,
            &format!("detections:{}", detection.kind),
            detection.count as i64,
        );
    }
    if let Some(severity) = file.severity {
        counters.add(account, bucket, "objects_with_findings", 1);
        counters.add(
            account,
            bucket,
            &format!("findings:{}", severity.as_str()),
            1,
        );
    }
    common_counters(&record, &mut counters);
    Report { record, counters }
}

/// Builds the report of an object that was not classified, with its reason.
pub fn skipped<S>(
    ctx: &Context<S>,
    task: &ClassifyTask,
    meta: Option<&ObjectMeta>,
    reason: &str,
    detail: &str,
) -> Report {
    let mut record = base_record(ctx, task, meta);
    record.status = "SKIPPED".into();
    record.reason = reason.into();
    record.detail = detail.into();
    let mut counters = Counters::default();
    counters.add(&task.account_id, &task.bucket, "objects_skipped", 1);
    counters.add(
        &task.account_id,
        &task.bucket,
        "bytes_skipped",
        record.size as i64,
    );
    common_counters(&record, &mut counters);
    Report { record, counters }
}

/// Builds the report of a task that kept failing and was dead-lettered.
pub fn failed<S>(ctx: &Context<S>, task: &ClassifyTask, last_error: &str) -> Report {
    let mut record = base_record(ctx, task, None);
    record.status = "FAILED".into();
    record.reason = "DELIVERY_LIMIT_REACHED".into();
    record.detail = last_error.into();
    let mut counters = Counters::default();
    counters.add(&task.account_id, &task.bucket, "objects_failed", 1);
    counters.add(
        &task.account_id,
        &task.bucket,
        "bytes_failed",
        record.size as i64,
    );
    common_counters(&record, &mut counters);
    Report { record, counters }
}
