//! One task: HEAD, decide, streamed GET, classify.

use std::io::Read;

use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use bytes::Bytes;
use tokio::sync::mpsc;
use trawl_classifier::FileResult;
use trawl_common::retry::retry;
use trawl_common::s3_error::{self, S3Failure};
use trawl_common::store::JobStatus;
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

/// Processes one task.
pub async fn process(ctx: &Context, task: &ClassifyTask) -> Outcome {
    match ctx.job_status(&task.job_id).await {
        Ok(Some(JobStatus::Running | JobStatus::UserPaused | JobStatus::Paused)) => {}
        Ok(Some(JobStatus::Cancelled | JobStatus::Failed | JobStatus::Complete)) => {
            return Outcome::Drop("job is closed");
        }
        Ok(Some(JobStatus::Created)) => {}
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

    let head = retry(&ctx.retry, S3Failure::is_retryable, |_| async {
        client
            .head_object()
            .bucket(&task.bucket)
            .key(&task.key)
            .send()
            .await
            .map_err(|e| s3_error::classify("HeadObject", &task.bucket, &task.key, &e))
    })
    .await;
    let head = match head {
        Ok(head) => head,
        Err(failure) if failure.is_retryable() => return Outcome::Retry(failure.to_string()),
        Err(failure) => {
            return Outcome::Result(Box::new(report::skipped(
                ctx,
                task,
                None,
                failure.reason(),
                &failure.to_string(),
            )));
        }
    };
    if let Some((reason, detail)) = unreadable(&head) {
        return Outcome::Result(Box::new(report::skipped(
            ctx,
            task,
            Some(&head),
            reason,
            &detail,
        )));
    }

    let classified = retry(&ctx.retry, S3Failure::is_retryable, |_| {
        fetch_and_classify(ctx, &client, task, &head)
    })
    .await;
    match classified {
        Ok(file) => Outcome::Result(Box::new(report::classified(ctx, task, &head, &file))),
        Err(failure) if failure.is_retryable() => Outcome::Retry(failure.to_string()),
        Err(failure) => Outcome::Result(Box::new(report::skipped(
            ctx,
            task,
            Some(&head),
            failure.reason(),
            &failure.to_string(),
        ))),
    }
}

/// Returns why an object cannot be read, from its HEAD alone, or `None` if it can be.
fn unreadable(head: &HeadObjectOutput) -> Option<(&'static str, String)> {
    let storage_class = head
        .storage_class()
        .map(|c| c.as_str())
        .unwrap_or("STANDARD");
    if matches!(storage_class, "GLACIER" | "DEEP_ARCHIVE") {
        let restored = head
            .restore()
            .is_some_and(|r| r.contains("ongoing-request=\"false\""));
        if !restored {
            return Some((
                "INVALID_OBJECT_STATE",
                format!("object is in {storage_class} and not restored"),
            ));
        }
    }
    if let Some(algorithm) = head.sse_customer_algorithm() {
        return Some((
            "INVALID_ENCRYPTION",
            format!("object is encrypted with a customer-provided key (SSE-C, {algorithm})"),
        ));
    }
    if let Some(scheme) = report::client_side_scheme(head) {
        return Some((
            "INVALID_ENCRYPTION",
            format!("object is client-side encrypted ({scheme})"),
        ));
    }
    None
}

/// GETs the object (pinned to the HEAD's ETag) and streams it through the classifier on the
/// blocking pool. A broken stream is a transient failure; the partial result is discarded.
async fn fetch_and_classify(
    ctx: &Context,
    client: &aws_sdk_s3::Client,
    task: &ClassifyTask,
    head: &HeadObjectOutput,
) -> Result<FileResult, S3Failure> {
    let mut request = client.get_object().bucket(&task.bucket).key(&task.key);
    if let Some(etag) = head.e_tag() {
        request = request.if_match(etag);
    }
    let output = request.send().await.map_err(|e| {
        let mut failure = s3_error::classify("GetObject", &task.bucket, &task.key, &e);
        // The object changed between HEAD and GET: try again from the HEAD.
        if failure.status == Some(412) {
            failure.retryable = true;
        }
        failure
    })?;
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
    Ok(file)
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
}
