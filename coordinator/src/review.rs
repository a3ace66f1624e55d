//! The review before a job starts: every selected bucket is listed whole (the cost estimate
//! is per bucket) and fed to the [`crate::estimate`] figures; buckets that do not exist or cannot
//! be read are reported with their account instead of failing the whole review.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use trawl_common::aws::S3Clients;
use trawl_common::job::AccountAccess;
use trawl_common::retry::{RetryParams, retry};
use trawl_common::s3_error::{self, S3Failure};

use crate::estimate::{
    BucketEstimator, BucketSelection, EstimateError, ObjectListing, Review, merge_selections,
};
use crate::pricing::Pricing;

/// A selection to review, with how its account is reached.
#[derive(Debug, Clone)]
pub struct ReviewSelection {
    /// How the owning account is reached.
    pub access: AccountAccess,
    /// The selection (account, bucket, prefixes, classification).
    pub selection: BucketSelection,
}

/// The review and the problems found while listing.
#[derive(Debug)]
pub struct ReviewOutcome {
    /// Figures of every bucket that could be listed.
    pub review: Review,
    /// One message per bucket that could not be listed, naming it and its account.
    pub problems: Vec<String>,
}

/// Lists every selected bucket (up to `concurrency` at once) and computes the review.
pub async fn review(
    clients: &S3Clients,
    pricing: &Pricing,
    selections: &[ReviewSelection],
    concurrency: usize,
) -> Result<ReviewOutcome, EstimateError> {
    let access: BTreeMap<&str, &AccountAccess> = selections
        .iter()
        .map(|s| (s.selection.account.as_str(), &s.access))
        .collect();
    let plain: Vec<BucketSelection> = selections.iter().map(|s| s.selection.clone()).collect();
    let estimators = merge_selections(pricing, &plain);
    let mut pending = estimators.into_iter();
    let mut in_flight: FuturesUnordered<BoxFuture<'_, Result<BucketEstimator, String>>> =
        FuturesUnordered::new();
    let mut listed = Vec::new();
    let mut problems = Vec::new();
    loop {
        while in_flight.len() < concurrency.max(1) {
            let Some(estimator) = pending.next() else {
                break;
            };
            let access = access[estimator.account()];
            in_flight.push(Box::pin(list_bucket(clients, access, estimator)));
        }
        match in_flight.next().await {
            Some(Ok(estimator)) => listed.push(estimator),
            Some(Err(problem)) => problems.push(problem),
            None => break,
        }
    }
    problems.sort();
    Ok(ReviewOutcome {
        review: Review::new(pricing, listed)?,
        problems,
    })
}

async fn list_bucket(
    clients: &S3Clients,
    access: &AccountAccess,
    mut estimator: BucketEstimator,
) -> Result<BucketEstimator, String> {
    let client = clients.client(access).await;
    let bucket = estimator.bucket().to_string();
    let mut continuation: Option<String> = None;
    loop {
        let page = retry(&RetryParams::default(), S3Failure::is_retryable, |_| {
            let mut request = client.list_objects_v2().bucket(&bucket).max_keys(1000);
            if let Some(token) = &continuation {
                request = request.continuation_token(token);
            }
            let bucket = bucket.clone();
            async move {
                request
                    .send()
                    .await
                    .map_err(|e| s3_error::classify("ListObjectsV2", &bucket, "", &e))
            }
        })
        .await
        .map_err(|failure| failure.bucket_problem(&access.account))?;
        for object in page.contents() {
            let mut listing = ObjectListing::new(
                object.key().unwrap_or_default(),
                object.size().unwrap_or(0).max(0) as u64,
            );
            listing.storage_class = object.storage_class().map(|c| c.as_str());
            listing.restored = object.restore_status().is_some_and(|r| {
                r.is_restore_in_progress() == Some(false) && r.restore_expiry_date().is_some()
            });
            estimator.add(&listing);
        }
        match page.next_continuation_token() {
            Some(token) if page.is_truncated() == Some(true) => {
                continuation = Some(token.to_string())
            }
            _ => return Ok(estimator),
        }
    }
}
