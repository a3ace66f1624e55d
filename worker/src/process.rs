//! One task: a streamed GET, decide from its headers, classify.
//!
//! One request per object. The GET's response headers carry everything a HEAD would (size,
//! ETag, storage class, server-side encryption and KMS key, SSE-C algorithm, user metadata with
//! client-side encryption envelopes), and every case that cannot be read is refused by S3 on the
//! GET itself (archived objects: 403 InvalidObjectState; SSE-C: 400; a KMS key the role may not
//! use: 403), before any body is sent. So a HEAD first would only double the request cost (S3
//! bills per request) and halve the objects per second an endpoint can serve. When the headers
//! say the body is unreadable (client-side encrypted), the body is dropped unread.

use std::collections::HashMap;
use std::io::Read;

use aws_sdk_s3::operation::get_object::GetObjectOutput;
use bytes::Bytes;
use tokio::sync::mpsc;
use trawl_classifier::FileResult;
use trawl_common::retry::retry;
use trawl_common::s3_error::{self, S3Failure};
use trawl_common::store::{JobStatus, JobStore};
use trawl_proto::v1::ClassifyTask;

use crate::Context;
use crate::report::{self, Report};

/// What became of a task.
#[derive(Debug)]
pub enum Outcome {
    /// A result to record (classified, partial or skipped).
    Result(Box<Report>),
    /// Nothing to record: the job is closed or the result is already in. Ack and move on.
    Drop(&'static str),
    /// A transient failure outlived the retries: give the task back to the queue.
    Retry(String),
}

/// Chunks of an object in flight between the S3 stream and the classifier, at most. With the
/// SDK's chunks of up to a few hundred KiB, this bounds a task's memory whatever the object's size.
const BODY_CHANNEL_CHUNKS: usize = 8;

/// An object's metadata, as its GET (or HEAD) response headers tell it.
#[derive(Debug, Clone, Default)]
pub struct ObjectMeta {
    /// Size in bytes.
    pub size: Option<u64>,
    /// ETag.
    pub etag: Option<String>,
    /// Storage class (absent for STANDARD).
    pub storage_class: Option<String>,
    /// Last modified (unix ms).
    pub last_modified_ms: Option<i64>,
    /// `x-amz-server-side-encryption`.
    pub server_side_encryption: Option<String>,
    /// `x-amz-server-side-encryption-aws-kms-key-id`.
    pub kms_key_id: Option<String>,
    /// `x-amz-server-side-encryption-customer-algorithm`.
    pub sse_customer_algorithm: Option<String>,
    /// `x-amz-restore`.
    pub restore: Option<String>,
    /// User metadata (`x-amz-meta-*`, prefix stripped).
    pub metadata: HashMap<String, String>,
}

impl ObjectMeta {
    fn from_get(output: &GetObjectOutput) -> Self {
        Self {
            size: output.content_length().map(|n| n.max(0) as u64),
            etag: output.e_tag().map(str::to_string),
            storage_class: output.storage_class().map(|c| c.as_str().to_string()),
            last_modified_ms: output.last_modified().and_then(|t| t.to_millis().ok()),
            server_side_encryption: output
                .server_side_encryption()
                .map(|s| s.as_str().to_string()),
            kms_key_id: output.ssekms_key_id().map(str::to_string),
            sse_customer_algorithm: output.sse_customer_algorithm().map(str::to_string),
            restore: output.restore().map(str::to_string),
            metadata: output.metadata().cloned().unwrap_or_default(),
        }
    }
}

/// Processes one task.
pub async fn process<S: JobStore>(ctx: &Context<S>, task: &ClassifyTask) -> Outcome {
    match ctx.job_status(&task.job_id).await {
        Ok(Some(JobStatus::Cancelled | JobStatus::Failed | JobStatus::Complete)) => {
            return Outcome::Drop("job is closed");
        }
        Ok(Some(_)) => {}
        Ok(None) => return Outcome::Drop("job does not exist"),
        Err(error) => return Outcome::Retry(error.to_string()),
    }
    match ctx.store.is_recorded(&task.job_id, task.seq).await {
        Ok(true) => return Outcome::Drop("result already recorded"),
        Ok(false) => {}
        Err(error) => return Outcome::Retry(error.to_string()),
    }
    let role_arn = (!task.role_arn.is_empty()).then_some(task.role_arn.as_str());
    let external_id = (!task.external_id.is_empty()).then_some(task.external_id.as_str());
    let client = ctx.clients.client_for(role_arn, external_id).await;

    let fetched = retry(&ctx.retry, S3Failure::is_retryable, |_| {
        fetch_and_classify(ctx, &client, task)
    })
    .await;
    match fetched {
        Ok(Fetched::Classified(meta, file)) => {
            Outcome::Result(Box::new(report::classified(ctx, task, &meta, &file)))
        }
        Ok(Fetched::Unreadable(meta, reason, detail)) => Outcome::Result(Box::new(
            report::skipped(ctx, task, Some(&meta), reason, &detail),
        )),
        Err(failure) if failure.is_retryable() => Outcome::Retry(failure.to_string()),
        Err(failure) => Outcome::Result(Box::new(report::skipped(
            ctx,
            task,
            None,
            failure.reason(),
            &failure.to_string(),
        ))),
    }
}

/// Returns why an object cannot be read from its headers alone, or `None` if it can be.
pub fn unreadable(meta: &ObjectMeta) -> Option<(&'static str, String)> {
    let storage_class = meta.storage_class.as_deref().unwrap_or("STANDARD");
    if matches!(storage_class, "GLACIER" | "DEEP_ARCHIVE") {
        let restored = meta
            .restore
            .as_deref()
            .is_some_and(|r| r.contains("ongoing-request=\"false\""));
        if !restored {
            return Some((
                "INVALID_OBJECT_STATE",
                format!("object is in {storage_class} and not restored"),
            ));
        }
    }
    if let Some(algorithm) = &meta.sse_customer_algorithm {
        return Some((
            "INVALID_ENCRYPTION",
            format!("object is encrypted with a customer-provided key (SSE-C, {algorithm})"),
        ));
    }
    if let Some(scheme) = report::client_side_scheme(&meta.metadata) {
        return Some((
            "INVALID_ENCRYPTION",
            format!("object is client-side encrypted ({scheme})"),
        ));
    }
    None
}

enum Fetched {
    Classified(ObjectMeta, FileResult),
    Unreadable(ObjectMeta, &'static str, String),
}

/// GETs the object and streams it through the classifier on the blocking pool. A broken stream
/// is a transient failure; the partial result is discarded.
async fn fetch_and_classify<S: JobStore>(
    ctx: &Context<S>,
    client: &aws_sdk_s3::Client,
    task: &ClassifyTask,
) -> Result<Fetched, S3Failure> {
    let output = client
        .get_object()
        .bucket(&task.bucket)
        .key(&task.key)
        .send()
        .await
        .map_err(|e| s3_error::classify("GetObject", &task.bucket, &task.key, &e))?;
    let meta = ObjectMeta::from_get(&output);
    if let Some((reason, detail)) = unreadable(&meta) {
        // Dropping the body closes the connection without reading it.
        return Ok(Fetched::Unreadable(meta, reason, detail));
    }
    let mut body = output.body;
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(BODY_CHANNEL_CHUNKS);
    let engine = ctx.engine.clone();
    let file_name = task.key.clone();
    let classify = tokio::task::spawn_blocking(move || {
        let mut reader = ChannelReader {
            rx,
            current: Bytes::new(),
        };
        engine.classify_reader(&file_name, &mut reader)
    });
    let mut stream_error = None;
    loop {
        match body.try_next().await {
            Ok(Some(chunk)) => {
                if tx.send(Ok(chunk)).await.is_err() {
                    // The classifier stopped reading (a limit reached); it has its result.
                    break;
                }
            }
            Ok(None) => break,
            Err(error) => {
                let message = s3_error::display_chain(&error);
                let _ = tx.send(Err(std::io::Error::other(message.clone()))).await;
                stream_error = Some(message);
                break;
            }
        }
    }
    drop(tx);
    let file = classify.await.map_err(|e| {
        S3Failure::stream(
            &task.bucket,
            &task.key,
            format!("classifier task failed: {e}"),
        )
    })?;
    if let Some(message) = stream_error {
        return Err(S3Failure::stream(&task.bucket, &task.key, message));
    }
    Ok(Fetched::Classified(meta, file))
}

/// A blocking `Read` over chunks sent from the async side.
struct ChannelReader {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(error)) => return Err(error),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_reader_yields_chunks_in_order_then_eof() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Ok(Bytes::from_static(b"hello "))).unwrap();
        tx.try_send(Ok(Bytes::from_static(b"world"))).unwrap();
        drop(tx);
        let mut reader = ChannelReader {
            rx,
            current: Bytes::new(),
        };
        let mut out = String::new();
        reader.read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello world");
    }

    #[test]
    fn channel_reader_surfaces_stream_errors() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Ok(Bytes::from_static(b"abc"))).unwrap();
        tx.try_send(Err(std::io::Error::other("connection reset")))
            .unwrap();
        let mut reader = ChannelReader {
            rx,
            current: Bytes::new(),
        };
        let mut out = Vec::new();
        let err = reader.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.to_string(), "connection reset");
        assert_eq!(out, b"abc");
    }

    #[test]
    fn archived_sse_c_and_client_side_objects_are_unreadable() {
        let glacier = ObjectMeta {
            storage_class: Some("GLACIER".into()),
            ..Default::default()
        };
        assert_eq!(unreadable(&glacier).unwrap().0, "INVALID_OBJECT_STATE");
        let restored = ObjectMeta {
            storage_class: Some("DEEP_ARCHIVE".into()),
            restore: Some(
                "ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\"".into(),
            ),
            ..Default::default()
        };
        assert!(unreadable(&restored).is_none());
        let sse_c = ObjectMeta {
            sse_customer_algorithm: Some("AES256".into()),
            ..Default::default()
        };
        assert_eq!(unreadable(&sse_c).unwrap().0, "INVALID_ENCRYPTION");
        let mut client_side = ObjectMeta::default();
        client_side
            .metadata
            .insert("x-amz-key-v2".into(), "AQID".into());
        let (reason, detail) = unreadable(&client_side).unwrap();
        assert_eq!(reason, "INVALID_ENCRYPTION");
        assert!(detail.contains("v2"), "{detail}");
        assert!(unreadable(&ObjectMeta::default()).is_none());
    }
}
