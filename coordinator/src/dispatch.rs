//! Pre-flight checks, listing and publishing of one job's tasks.
//!
//! Every (bucket, prefix) is listed with ListObjectsV2 page by page, using `StartAfter` so a
//! checkpoint is just the last confirmed key. Each page is given a block of dense sequence
//! numbers in one Redis script *before* it is published; the block is remembered until every
//! task of the page is confirmed by the broker, so a coordinator restarted mid-page publishes
//! the same page with the same numbers and the workers' ledger absorbs the duplicates.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};

use tokio_util::sync::CancellationToken;
use trawl_common::aws::S3Clients;
use trawl_common::job::{AccountAccess, BucketPlan, JobPlan};
use trawl_common::queue::{QueueError, TaskQueue};
use trawl_common::retry::{RetryParams, retry};
use trawl_common::s3_error::{self, S3Failure};
use trawl_common::store::{Counters, JobStatus, JobStore, StoreError};
use trawl_proto::Message as _;
use trawl_proto::v1::{ClassifyTask, PageCheckpoint};

use crate::CoordinatorConfig;

/// Errors while dispatching a job.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// Redis failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The task queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// Listing a bucket failed for good.
    #[error("cannot list bucket {bucket} (account {account}): {failure}")]
    List {
        /// Account.
        account: String,
        /// Bucket.
        bucket: String,
        /// The S3 failure.
        failure: S3Failure,
    },
    /// The stored plan cannot be read.
    #[error("job {job_id} has a corrupt plan: {message}")]
    CorruptPlan {
        /// Job.
        job_id: String,
        /// Parser message.
        message: String,
    },
}

/// Publishes tasks for jobs; shared by every job the coordinator runs.
pub struct Dispatcher<S, Q> {
    store: S,
    queue: Q,
    clients: S3Clients,
    config: CoordinatorConfig,
    shutdown: CancellationToken,
}

impl<S: JobStore, Q: TaskQueue> Dispatcher<S, Q> {
    /// Creates a dispatcher publishing to `queue`.
    pub fn new(
        store: S,
        queue: Q,
        clients: S3Clients,
        config: CoordinatorConfig,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            store,
            queue,
            clients,
            config,
            shutdown,
        }
    }

    /// Runs one job: pre-flight when new, then listing and publishing until every selected
    /// prefix is listed, the job is paused or cancelled, or the coordinator shuts down.
    pub async fn run_job(&self, job_id: &str) -> Result<(), DispatchError> {
        let job = self.store.job(job_id).await?;
        let plan: JobPlan =
            serde_json::from_str(&job.plan_json).map_err(|e| DispatchError::CorruptPlan {
                job_id: job_id.to_string(),
                message: e.to_string(),
            })?;
        match job.status {
            JobStatus::Created => {
                tracing::info!(job_id, buckets = plan.buckets.len(), "pre-flight");
                if let Err(problems) = self.preflight(&plan).await {
                    let message = problems.join("; ");
                    tracing::warn!(job_id, error = %message, "job refused at pre-flight");
                    self.store
                        .transition(
                            job_id,
                            JobStatus::Failed,
                            &[JobStatus::Created],
                            Some(&message),
                        )
                        .await?;
                    return Ok(());
                }
                if !self
                    .store
                    .transition(job_id, JobStatus::Running, &[JobStatus::Created], None)
                    .await?
                {
                    return Ok(());
                }
            }
            JobStatus::Running => {
                self.republish_deferred(job_id).await?;
                if job.listing_done {
                    return Ok(());
                }
                tracing::info!(job_id, "resuming dispatch from checkpoints");
            }
            _ => return Ok(()),
        }

        // Buckets are listed concurrently, at most `list_concurrency` at once.
        let mut results = Vec::with_capacity(plan.buckets.len());
        let mut buckets = plan.buckets.iter();
        let mut in_flight: FuturesUnordered<BoxFuture<'_, Result<bool, DispatchError>>> =
            FuturesUnordered::new();
        loop {
            while in_flight.len() < self.config.list_concurrency.max(1) {
                let Some(bucket) = buckets.next() else { break };
                in_flight.push(Box::pin(self.dispatch_bucket(
                    job_id,
                    bucket,
                    plan.modified_since_ms,
                )));
            }
            match in_flight.next().await {
                Some(result) => results.push(result),
                None => break,
            }
        }
        let mut finished = true;
        for result in results {
            match result {
                Ok(done) => finished &= done,
                Err(error) => {
                    let message = error.to_string();
                    tracing::error!(job_id, error = %message, "dispatch failed");
                    self.store
                        .transition(
                            job_id,
                            JobStatus::Failed,
                            &[JobStatus::Running],
                            Some(&message),
                        )
                        .await?;
                    return Err(error);
                }
            }
        }
        if finished {
            let completed = self.store.finish_listing(job_id).await?;
            let job = self.store.job(job_id).await?;
            tracing::info!(
                job_id,
                dispatched = job.dispatched,
                completed,
                "listing finished"
            );
        }
        Ok(())
    }

    /// Publishes again the tasks workers set aside while the job was paused.
    async fn republish_deferred(&self, job_id: &str) -> Result<(), DispatchError> {
        loop {
            let batch = self.store.take_deferred(job_id, 1000).await?;
            if batch.is_empty() {
                return Ok(());
            }
            let tasks: Vec<ClassifyTask> = batch
                .iter()
                .filter_map(|bytes| {
                    <ClassifyTask as trawl_proto::Message>::decode(bytes.as_slice()).ok()
                })
                .collect();
            tracing::info!(
                job_id,
                num_tasks = tasks.len(),
                "republishing tasks set aside while paused"
            );
            if let Err(error) = self.queue.publish(job_id, &tasks).await {
                // Keep them: set aside again for the next attempt.
                for bytes in &batch {
                    self.store.defer_task(job_id, bytes).await?;
                }
                return Err(error.into());
            }
        }
    }

    /// Checks every account's credentials and every bucket before anything is dispatched.
    /// Returns one message per problem, each naming the account and bucket.
    async fn preflight(&self, plan: &JobPlan) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let mut accounts: BTreeMap<&str, &AccountAccess> = BTreeMap::new();
        for bucket in &plan.buckets {
            accounts.insert(bucket.access.account.as_str(), &bucket.access);
        }
        let mut master_opt: Option<Result<String, String>> = None;
        let mut usable: BTreeMap<&str, bool> = BTreeMap::new();
        for (account, access) in &accounts {
            let ok = if access.role_arn.is_some() {
                match self.clients.verify_credentials(access).await {
                    Ok(()) => true,
                    Err(error) => {
                        problems.push(error.to_string());
                        false
                    }
                }
            } else {
                if master_opt.is_none() {
                    master_opt = Some(
                        trawl_common::aws::caller_account(self.clients.sdk_config())
                            .await
                            .map_err(|e| e.to_string()),
                    );
                }
                match master_opt
                    .as_ref()
                    .expect("the master account was just looked up")
                {
                    Ok(master) if master == account => true,
                    Ok(master) => {
                        problems.push(format!(
                            "account {account} is not a configured member account (add it under [[accounts]]) \
                             and the default credentials belong to account {master}"
                        ));
                        false
                    }
                    Err(error) => {
                        problems.push(error.clone());
                        false
                    }
                }
            };
            usable.insert(account, ok);
        }
        for bucket in &plan.buckets {
            if !usable
                .get(bucket.access.account.as_str())
                .copied()
                .unwrap_or(false)
            {
                continue;
            }
            let client = self.clients.client(&bucket.access).await;
            let head = retry(
                &RetryParams::default(),
                S3Failure::is_retryable,
                |_| async {
                    client
                        .head_bucket()
                        .bucket(&bucket.bucket)
                        .send()
                        .await
                        .map_err(|e| s3_error::classify("HeadBucket", &bucket.bucket, "", &e))
                },
            )
            .await;
            if let Err(failure) = head {
                problems.push(failure.bucket_problem(&bucket.access.account));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Lists and publishes every prefix of one bucket; returns false when it stopped early
    /// (shutdown, pause or cancel) with checkpoints saved.
    async fn dispatch_bucket(
        &self,
        job_id: &str,
        bucket: &BucketPlan,
        modified_since_ms: Option<i64>,
    ) -> Result<bool, DispatchError> {
        for prefix in &bucket.prefixes {
            if !self
                .dispatch_prefix(job_id, bucket, prefix, modified_since_ms)
                .await?
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn dispatch_prefix(
        &self,
        job_id: &str,
        bucket: &BucketPlan,
        prefix: &str,
        modified_since_ms: Option<i64>,
    ) -> Result<bool, DispatchError> {
        // S3 reports LastModified to the second: compare at that precision, so an object
        // written in the same second as the previous run started is classified again rather
        // than missed.
        let since_ms = modified_since_ms.map(|ms| ms.div_euclid(1000) * 1000);
        // Bucket names hold no '/', so "bucket/prefix" names a (bucket, prefix) unambiguously.
        let field = format!("{}/{}", bucket.bucket, prefix);
        let cursor = self.store.cursor(job_id, &field).await?;
        if cursor.done {
            return Ok(true);
        }
        let client = self.clients.client(&bucket.access).await;
        let mut after = cursor.after.unwrap_or_default();
        // A fresh listing starts with a short page, so the workers start at once (the review
        // counts the LIST requests the same way: `estimate::list_requests`).
        let mut max_keys = if after.is_empty() && cursor.pending.is_none() {
            (crate::estimate::FIRST_LIST_PAGE_KEYS as i32).min(self.config.page_size)
        } else {
            self.config.page_size
        };
        if let Some((pending_after, base, pending_len)) = &cursor.pending {
            // Publish the interrupted page again, exactly as it was listed and numbered: an
            // object deleted or added since then changes nothing in the numbering (a deleted
            // one ends as a SKIPPED NoSuchKey result, so the job still completes).
            let checkpoint = self
                .store
                .pending_page(job_id, &field)
                .await?
                .and_then(|blob| match PageCheckpoint::decode(&blob[..]) {
                    Ok(page) => Some(page),
                    Err(error) => {
                        tracing::warn!(job_id, field = %field, %error, "unreadable page checkpoint; listing the page again");
                        None
                    }
                });
            match checkpoint {
                Some(page) => match self.publish_page(job_id, &field, page, *base, true).await? {
                    Some(last_key) => after = last_key,
                    None => return Ok(true),
                },
                None => {
                    // A checkpoint without its page (written by an older version): list the
                    // page again. (With a modified-since filter the pending length counts the
                    // filtered objects, so the page is listed at full size again.)
                    after = pending_after.clone();
                    if since_ms.is_none() {
                        max_keys = (*pending_len as i32).clamp(1, self.config.page_size);
                    }
                }
            }
        }
        loop {
            if self.shutdown.is_cancelled() {
                return Ok(false);
            }
            match self.store.job_status(job_id).await? {
                Some(JobStatus::Running) => {}
                _ => return Ok(false),
            }
            let page = retry(&RetryParams::default(), S3Failure::is_retryable, |_| {
                let client = client.clone();
                let after = after.clone();
                async move {
                    let mut request = client
                        .list_objects_v2()
                        .bucket(&bucket.bucket)
                        .max_keys(max_keys);
                    if !prefix.is_empty() {
                        request = request.prefix(prefix);
                    }
                    if !after.is_empty() {
                        request = request.start_after(after);
                    }
                    request.send().await.map_err(|e| {
                        s3_error::classify("ListObjectsV2", &bucket.bucket, prefix, &e)
                    })
                }
            })
            .await
            .map_err(|failure| DispatchError::List {
                account: bucket.access.account.clone(),
                bucket: bucket.bucket.clone(),
                failure,
            })?;
            max_keys = self.config.page_size;
            let listed = page.contents();
            let truncated = page.is_truncated().unwrap_or(false);
            let Some(last_key) = listed.last().and_then(|o| o.key()) else {
                self.store
                    .confirm_page(job_id, &field, &after, true)
                    .await?;
                return Ok(true);
            };
            let last_key = last_key.to_string();
            let objects: Vec<&aws_sdk_s3::types::Object> = listed
                .iter()
                .filter(|o| {
                    since_ms.is_none_or(|since| {
                        o.last_modified()
                            .and_then(|t| t.to_millis().ok())
                            .is_none_or(|ms| ms >= since)
                    })
                })
                .collect();
            if objects.is_empty() {
                self.store
                    .confirm_page(job_id, &field, &last_key, !truncated)
                    .await?;
                if !truncated {
                    return Ok(true);
                }
                after = last_key;
                continue;
            }
            let num_objects = objects.len() as u64;
            let num_bytes: i64 = objects.iter().map(|o| o.size().unwrap_or(0).max(0)).sum();
            let mut counters = Counters::default();
            counters.add(
                &bucket.access.account,
                &bucket.bucket,
                "objects_dispatched",
                num_objects as i64,
            );
            counters.add(
                &bucket.access.account,
                &bucket.bucket,
                "bytes_dispatched",
                num_bytes,
            );
            let started = std::time::Instant::now();
            let tasks: Vec<ClassifyTask> = objects
                .iter()
                .enumerate()
                .map(|(i, object)| ClassifyTask {
                    job_id: job_id.to_string(),
                    seq: i as u64,
                    account_id: bucket.access.account.clone(),
                    role_arn: bucket.access.role_arn.clone().unwrap_or_default(),
                    external_id: bucket.access.external_id.clone().unwrap_or_default(),
                    bucket: bucket.bucket.clone(),
                    key: object.key().unwrap_or_default().to_string(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                    etag: object.e_tag().unwrap_or_default().to_string(),
                    storage_class: object
                        .storage_class()
                        .map(|c| c.as_str().to_string())
                        .unwrap_or_else(|| "STANDARD".into()),
                    last_modified_ms: object
                        .last_modified()
                        .and_then(|t| t.to_millis().ok())
                        .unwrap_or(0),
                    region: String::new(),
                    replayed: false,
                })
                .collect();
            // The checkpoint holds the tasks numbered from 0; a replay adds the page's base.
            let checkpoint = PageCheckpoint {
                tasks,
                last_key,
                truncated,
            };
            let base = self
                .store
                .allocate_page(
                    job_id,
                    &field,
                    &after,
                    num_objects,
                    &counters,
                    &checkpoint.encode_to_vec(),
                )
                .await?;
            let allocated = started.elapsed();
            let next = self
                .publish_page(job_id, &field, checkpoint, base, false)
                .await?;
            tracing::debug!(
                job_id,
                bucket = %bucket.bucket,
                num_objects,
                base,
                allocate_ms = allocated.as_millis() as u64,
                publish_ms = (started.elapsed() - allocated).as_millis() as u64,
                "page dispatched"
            );
            match next {
                Some(last_key) => after = last_key,
                None => return Ok(true),
            }
        }
    }

    /// Publishes a numbered page (its tasks numbered from 0, on the queue from `base`), then
    /// confirms it. Returns the key the listing goes on after, or `None` when the prefix is
    /// fully listed. `replayed`: the page is published again after a restart.
    async fn publish_page(
        &self,
        job_id: &str,
        field: &str,
        page: PageCheckpoint,
        base: u64,
        replayed: bool,
    ) -> Result<Option<String>, DispatchError> {
        let tasks: Vec<ClassifyTask> = page
            .tasks
            .into_iter()
            .map(|mut task| {
                task.seq += base;
                task.replayed = replayed;
                task
            })
            .collect();
        self.queue.publish(job_id, &tasks).await?;
        self.store
            .confirm_page(job_id, field, &page.last_key, !page.truncated)
            .await?;
        Ok(page.truncated.then_some(page.last_key))
    }
}
