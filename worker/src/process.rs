//! One task: a streamed GET, decide from its headers, classify (a small body read whole and
//! classified in one step, a larger one streamed through the classifier).
//!
//! One request per object. The GET's response headers carry everything a HEAD would (size,
//! ETag, storage class, server-side encryption and KMS key, SSE-C algorithm, user metadata with
//! client-side encryption envelopes), and every case that cannot be read is refused by S3 on the
//! GET itself (archived objects: 403 InvalidObjectState; SSE-C: 400 InvalidRequest; a KMS key
//! the role may not use: 403 AccessDenied naming `kms:Decrypt`; a key disabled, pending
//! deletion or gone: `KMS.DisabledException`, `KMS.KMSInvalidStateException`,
//! `KMS.NotFoundException`), before any body is sent. So "HEAD first, then GET" reaches the
//! same decisions as GET first, at twice the request cost (S3 bills per request) and half the
//! objects per second an endpoint can serve.
//!
//! A HEAD is sent only when it adds something: after a GET refused for a KMS or SSE-C reason,
//! to record the object's metadata (S3 answers a HEAD of a KMS-unusable object with its size,
//! ETag and key ID; a HEAD of an SSE-C object is refused too, and then the listing's figures
//! stand). When the headers say the body is unreadable (client-side envelope in the metadata),
//! the body is dropped unread; otherwise its first bytes are checked for encrypted-file headers
//! (AWS Encryption SDK, OpenPGP, age) and `.instruction` files for an envelope before the rest
//! is classified. A KMS key is described (DescribeKey, cached per job) to record its ARN and
//! state.

use std::collections::HashMap;
use std::io::Read;

use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use bytes::Bytes;
use tokio::sync::mpsc;
use trawl_classifier::FileResult;
use trawl_common::retry::retry;
use trawl_common::s3_error::{self, S3Failure};
use trawl_common::store::{JobStatus, JobStore};
use trawl_proto::v1::ClassifyTask;

use crate::Context;
use crate::encryption::{self, ClientSide, KmsKeyInfo};
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
    /// The job is paused (by a user, or an account's monthly quota): set the task aside until
    /// the job resumes.
    Defer(&'static str),
}

/// Chunks of an object in flight between the S3 stream and the classifier, at most. With the
/// SDK's chunks of up to a few hundred KiB, this bounds a task's memory whatever the object's size.
const BODY_CHANNEL_CHUNKS: usize = 8;

/// An object whose body ends within this many bytes is read whole and classified in one step
/// on the blocking pool; a larger one is streamed through the channel. Most objects are small
/// (logs, records, configuration), and for them the channel's hand-offs between the runtime
/// and the classifier's thread cost more than the classification.
const SMALL_OBJECT_BYTES: usize = 256 * 1024;

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
    /// The KMS key (ARN and state), once described.
    pub kms_key: Option<KmsKeyInfo>,
    /// A client-side envelope, from the metadata or the body's first bytes.
    pub client_side: Option<ClientSide>,
}

/// Reads an [`ObjectMeta`] from a GET or HEAD response: the SDK gives both the same header
/// accessors but no shared trait.
macro_rules! object_meta {
    ($output:expr) => {{
        let output = $output;
        ObjectMeta {
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
            ..Default::default()
        }
        .with_envelope()
    }};
}

impl ObjectMeta {
    fn from_get(output: &GetObjectOutput) -> Self {
        object_meta!(output)
    }

    fn from_head(output: &HeadObjectOutput) -> Self {
        object_meta!(output)
    }

    fn with_envelope(mut self) -> Self {
        self.client_side = encryption::client_side_envelope(&self.metadata);
        self
    }

    fn is_kms(&self) -> bool {
        self.server_side_encryption
            .as_deref()
            .is_some_and(|sse| sse.starts_with("aws:kms"))
    }
}

/// Returns whether the task's account has used its monthly quota of classified bytes; if so,
/// pauses the job (PAUSED, naming the account) so no more of it is spent this month.
async fn quota_reached<S: JobStore>(
    ctx: &Context<S>,
    task: &ClassifyTask,
) -> Result<bool, trawl_common::store::StoreError> {
    let Some(quota) = ctx.quota(&task.account_id).await? else {
        return Ok(false);
    };
    let month = trawl_common::month_of(trawl_common::now_ms());
    let used = ctx.store.usage(&task.account_id, &month).await?;
    if used < quota {
        return Ok(false);
    }
    // Before pausing a job, make sure the quota was not raised or removed since it was cached.
    ctx.forget_quota(&task.account_id);
    let Some(quota) = ctx.quota(&task.account_id).await? else {
        return Ok(false);
    };
    if used < quota {
        return Ok(false);
    }
    let reason = format!(
        "account {} reached its monthly quota of {quota} classified bytes ({used} used in {month})",
        task.account_id
    );
    if ctx
        .store
        .transition(
            &task.job_id,
            JobStatus::Paused,
            &[JobStatus::Running],
            Some(&reason),
        )
        .await?
    {
        tracing::warn!(job_id = %task.job_id, account = %task.account_id, quota, used, "monthly quota reached; job paused");
    }
    ctx.forget_status(&task.job_id);
    Ok(true)
}

/// Processes one task. `maybe_recorded`: the task was delivered or published before, so its
/// result may already be recorded; only then is the ledger asked first (the recording script
/// is idempotent anyway, so this saves a GET, not a double count).
pub async fn process<S: JobStore>(
    ctx: &Context<S>,
    task: &ClassifyTask,
    maybe_recorded: bool,
) -> Outcome {
    match ctx.job_status(&task.job_id).await {
        Ok(Some(JobStatus::Cancelled | JobStatus::Failed | JobStatus::Complete)) => {
            return Outcome::Drop("job is closed");
        }
        Ok(Some(JobStatus::UserPaused | JobStatus::Paused)) => {
            return Outcome::Defer("job is paused");
        }
        Ok(Some(_)) => {}
        Ok(None) => return Outcome::Drop("job does not exist"),
        Err(error) => return Outcome::Retry(error.to_string()),
    }
    if maybe_recorded {
        match ctx.store.is_recorded(&task.job_id, task.seq).await {
            Ok(true) => return Outcome::Drop("result already recorded"),
            Ok(false) => {}
            Err(error) => return Outcome::Retry(error.to_string()),
        }
    }
    match quota_reached(ctx, task).await {
        Ok(false) => {}
        Ok(true) => return Outcome::Defer("the account's monthly quota is reached"),
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
    if let Some(envelope) = &meta.client_side {
        return Some((
            "INVALID_ENCRYPTION",
            format!("object is client-side encrypted ({})", envelope.scheme),
        ));
    }
    None
}

/// SSE-C's only algorithm: S3 accepts nothing else, so an object refused for want of a
/// customer key is AES256 even when the refused HEAD could not say so.
const SSE_C_ALGORITHM: &str = "AES256";

/// Records what can be known of an object whose GET S3 refused for its encryption (a KMS key
/// that cannot be used, or SSE-C) or its storage class (archived, not restored): its metadata
/// from a HEAD (so it is counted under its real encryption type), and its KMS key's ARN and
/// state. A permanent refusal whose HEAD fails too ends as that refusal, with the listing's
/// figures; a transient HEAD failure retries the task.
async fn refused<S: JobStore>(
    ctx: &Context<S>,
    client: &aws_sdk_s3::Client,
    task: &ClassifyTask,
    failure: S3Failure,
) -> Result<Fetched, S3Failure> {
    let head = client
        .head_object()
        .bucket(&task.bucket)
        .key(&task.key)
        .send()
        .await
        .map_err(|e| s3_error::classify("HeadObject", &task.bucket, &task.key, &e));
    let mut meta = match head {
        Ok(output) => ObjectMeta::from_head(&output),
        // Try the whole task again rather than lose the key ID to a blip.
        Err(head_failure) if head_failure.is_retryable() => return Err(head_failure),
        // SSE-C: S3 refuses the HEAD as well (a bare 400); the listing's figures stand.
        Err(_) if failure.is_sse_c_refusal() => ObjectMeta::default(),
        // Archived, and no HEAD either: nothing more is known than the listing says.
        Err(_) if !failure.is_kms_failure() => return Err(failure),
        Err(_) => ObjectMeta::default(),
    };
    if failure.code == "InvalidObjectState" {
        // The HEAD told its encryption; the KMS key is not used by an archived object's read.
    } else if failure.is_sse_c_refusal() && !failure.is_kms_failure() {
        meta.sse_customer_algorithm
            .get_or_insert_with(|| SSE_C_ALGORITHM.to_string());
    } else {
        if !meta.is_kms() {
            meta.server_side_encryption = Some("aws:kms".into());
        }
        if meta.kms_key_id.is_none() {
            meta.kms_key_id = encryption::key_arn_in_message(&failure.message);
        }
        describe_key(ctx, task, &mut meta).await;
        if let Some(key) = &mut meta.kms_key
            && matches!(key.state.as_str(), "" | "Enabled")
        {
            // DescribeKey could not tell (or raced a change): S3's refusal says it.
            let from_code = match failure.code.as_str() {
                "KMS.DisabledException" => "Disabled",
                "KMS.KMSInvalidStateException" => "PendingDeletion",
                "KMS.NotFoundException" => "NotFound",
                _ => "",
            };
            if !from_code.is_empty() {
                key.state = from_code.into();
            }
        }
    }
    Ok(Fetched::Unreadable(
        meta,
        failure.reason(),
        failure.to_string(),
    ))
}

/// Describes the object's KMS key (cached per job) and records its ARN and state.
async fn describe_key<S: JobStore>(ctx: &Context<S>, task: &ClassifyTask, meta: &mut ObjectMeta) {
    let Some(key_id) = meta.kms_key_id.clone() else {
        return;
    };
    let role_arn = (!task.role_arn.is_empty()).then_some(task.role_arn.as_str());
    let external_id = (!task.external_id.is_empty()).then_some(task.external_id.as_str());
    let kms = ctx.clients.kms_client_for(role_arn, external_id).await;
    meta.kms_key = Some(
        ctx.kms_keys
            .describe(
                &kms,
                &task.job_id,
                &task.role_arn,
                &key_id,
                &task.account_id,
            )
            .await,
    );
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
    let output = match client
        .get_object()
        .bucket(&task.bucket)
        .key(&task.key)
        .send()
        .await
    {
        Ok(output) => output,
        Err(error) => {
            let failure = s3_error::classify("GetObject", &task.bucket, &task.key, &error);
            if failure.is_kms_failure()
                || failure.is_sse_c_refusal()
                || failure.code == "InvalidObjectState"
            {
                return refused(ctx, client, task, failure).await;
            }
            return Err(failure);
        }
    };
    let mut meta = ObjectMeta::from_get(&output);
    if meta.is_kms() {
        describe_key(ctx, task, &mut meta).await;
    }
    if let Some((reason, detail)) = unreadable(&meta) {
        // Dropping the body closes the connection without reading it.
        return Ok(Fetched::Unreadable(meta, reason, detail));
    }
    let mut body = output.body;
    // The first bytes: an encrypted-file header, or a whole `.instruction` file.
    let wanted = if task.key.ends_with(".instruction") {
        encryption::INSTRUCTION_FILE_MAX_BYTES
    } else {
        encryption::SNIFF_BYTES
    };
    let mut head = Vec::new();
    let ended = read_into(&mut body, &mut head, wanted, task).await?;
    let envelope = if task.key.ends_with(".instruction") && ended {
        encryption::instruction_file(&head)
    } else {
        None
    }
    .or_else(|| {
        encryption::sniff(&head).map(|scheme| ClientSide {
            scheme: scheme.into(),
            ..Default::default()
        })
    });
    if let Some(envelope) = envelope {
        meta.client_side = Some(envelope);
        let (reason, detail) =
            unreadable(&meta).expect("an object with a client-side envelope is unreadable");
        return Ok(Fetched::Unreadable(meta, reason, detail));
    }
    // A small object: the rest of its body, then one classification.
    let ended = ended || read_into(&mut body, &mut head, SMALL_OBJECT_BYTES, task).await?;
    let engine = ctx.engine.clone();
    let file_name = task.key.clone();
    let joined = |e: tokio::task::JoinError| {
        S3Failure::stream(
            &task.bucket,
            &task.key,
            format!("classifier task failed: {e}"),
        )
    };
    if ended {
        let file = tokio::task::spawn_blocking(move || {
            engine.classify_reader(&file_name, &mut head.as_slice())
        })
        .await
        .map_err(joined)?;
        return Ok(Fetched::Classified(meta, file));
    }
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(BODY_CHANNEL_CHUNKS);
    let classify = tokio::task::spawn_blocking(move || {
        let mut reader = ChannelReader {
            rx,
            current: Bytes::new(),
        };
        engine.classify_reader(&file_name, &mut reader)
    });
    let mut stream_error = None;
    // The classifier may stop reading after the first bytes (a limit reached); it has its result.
    let classifier_stopped = !head.is_empty() && tx.send(Ok(Bytes::from(head))).await.is_err();
    if !classifier_stopped {
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
    }
    drop(tx);
    let file = classify.await.map_err(joined)?;
    if let Some(message) = stream_error {
        return Err(S3Failure::stream(&task.bucket, &task.key, message));
    }
    Ok(Fetched::Classified(meta, file))
}

/// Appends the body's chunks to `buf` until it holds at least `limit` bytes or the body ends;
/// returns whether it ended. A broken stream is a transient failure.
async fn read_into(
    body: &mut aws_sdk_s3::primitives::ByteStream,
    buf: &mut Vec<u8>,
    limit: usize,
    task: &ClassifyTask,
) -> Result<bool, S3Failure> {
    while buf.len() < limit {
        match body.try_next().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            Ok(None) => return Ok(true),
            Err(error) => {
                return Err(S3Failure::stream(
                    &task.bucket,
                    &task.key,
                    s3_error::display_chain(&error),
                ));
            }
        }
    }
    Ok(false)
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
        let client_side = client_side.with_envelope();
        let (reason, detail) = unreadable(&client_side).unwrap();
        assert_eq!(reason, "INVALID_ENCRYPTION");
        assert!(detail.contains("v2"), "{detail}");
        assert!(unreadable(&ObjectMeta::default()).is_none());
    }
}
