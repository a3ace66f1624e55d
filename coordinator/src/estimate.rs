//! The review ("estimate") a person sees before a job spends money: per selected bucket and in
//! total, how much there is, how much will be classified, and what it will cost.
//!
//! # Layout
//! - [`BucketEstimator`]: one per selected bucket, fed every object of the *whole* bucket, one
//!   [`ObjectListing`] at a time, straight from a streaming listing; it keeps counters only,
//!   never the keys. [`merge_selections`] groups a job's selections into one estimator per
//!   bucket.
//! - [`BucketEstimate`]: the finished figures of one bucket.
//! - [`Review`]: every bucket plus [`Totals`], with [`Review::render_table`] for people and
//!   serde JSON for scripts and the API.
//!
//! Pure: no I/O and no AWS types. The caller lists, converts each listed object into an
//! [`ObjectListing`], and shows the result. Pricing comes from [`crate::pricing`].
//!
//! # The rules
//! - **Cost estimates are per bucket.** As in classic Macie, selecting a prefix bills the
//!   *whole* bucket: [`BucketEstimate::cost_estimate_cents`] prices every classifiable object of
//!   the bucket, and several prefixes of one bucket count it once. That is why the whole bucket
//!   is listed. Beside it, [`BucketEstimate::selected_cost_estimate_cents`] prices only the
//!   objects the selection will classify, so a person sees both.
//! - **The processed estimate** is the bytes that will be classified: selected objects with
//!   classification FULL, less GLACIER and DEEP_ARCHIVE objects that are not restored. What is
//!   left out is counted by reason ([`BucketEstimate::archived`],
//!   [`BucketEstimate::none_selection`]).
//! - **Money** is whole cents per row, rounded half-up from an exact value; every total is the
//!   sum of its rows' cents, never a separately rounded figure, so the totals equal the sum of
//!   the rows a person reads.
//! - **Trawl's own AWS cost** for the job: one LIST request per page of each selected prefix
//!   (at least one per prefix, even when empty), one GET per object to classify (the worker
//!   decides from the GET's headers, with no HEAD), and one KMS Decrypt per SSE-KMS object to
//!   classify.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trawl_common::job::disjoint_prefixes;

use crate::pricing::{Pricing, PricingProfile, format_usd_cents, group_thousands};

/// Keys per ListObjectsV2 page, S3's maximum and the coordinator's default page size.
pub const LIST_PAGE_KEYS: u64 = 1000;

/// Keys in the first ListObjectsV2 page of each selected prefix, at most: a short first page
/// puts the workers to work at once (S3 takes a few hundred milliseconds to list a full page,
/// and an emulator much longer); the pages after it are full.
pub const FIRST_LIST_PAGE_KEYS: u64 = 100;

/// ListObjectsV2 requests that list `num_keys` keys in pages of `page_keys`, the first of at
/// most [`FIRST_LIST_PAGE_KEYS`]. S3 marks the page holding the last key as not truncated, so
/// an empty listing and one that fills its last page exactly both end with that page.
pub fn list_requests(num_keys: u64, page_keys: u64) -> u64 {
    let page_keys = page_keys.max(1);
    let first = FIRST_LIST_PAGE_KEYS.min(page_keys);
    if num_keys <= first {
        1
    } else {
        1 + (num_keys - first).div_ceil(page_keys)
    }
}

/// Errors while assembling a review.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EstimateError {
    /// Two estimators cover the same bucket, which would count its cost twice.
    #[error(
        "bucket {bucket} (account {account}) has more than one estimator: merge its selections first"
    )]
    DuplicateBucket {
        /// Account of the bucket.
        account: String,
        /// The bucket.
        bucket: String,
    },
    /// An estimator was built with another pricing profile than the review's.
    #[error(
        "bucket {bucket} was estimated with pricing profile {found:?}, the review uses {expected:?}"
    )]
    PricingMismatch {
        /// The bucket.
        bucket: String,
        /// The review's profile.
        expected: String,
        /// The estimator's profile.
        found: String,
    },
}

/// What a selection asks for its existing objects (classic Macie's one-time classification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Classification {
    /// Classify every selected object.
    Full,
    /// Classify nothing: the objects are counted and shown, never read.
    None,
}

/// One listed object, as the estimator needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectListing<'a> {
    /// The object's key.
    pub key: &'a str,
    /// Size in bytes (ListObjectsV2 `Size`, negative values taken as 0 by the caller).
    pub size: u64,
    /// Storage class as S3 names it; `None` is STANDARD.
    pub storage_class: Option<&'a str>,
    /// Whether an archived object has a finished, unexpired restore. ListObjectsV2 reports it
    /// with `OptionalObjectAttributes=RestoreStatus`; pass `false` when not asked for.
    pub restored: bool,
    /// Whether reading the object takes a KMS Decrypt (SSE-KMS or DSSE-KMS). ListObjectsV2
    /// does not report encryption: a caller may pass the bucket's default encryption, which
    /// overestimates for objects written before it was set and ignores S3 Bucket Keys.
    pub kms_encrypted: bool,
}

impl ObjectListing<'_> {
    /// Returns a STANDARD, unencrypted object of `size` bytes.
    pub fn new(key: &str, size: u64) -> ObjectListing<'_> {
        ObjectListing {
            key,
            size,
            storage_class: None,
            restored: false,
            kms_encrypted: false,
        }
    }

    /// Returns whether the object sits in GLACIER or DEEP_ARCHIVE without a restored copy, so
    /// it cannot be read. GLACIER_IR objects are readable; INTELLIGENT_TIERING archive tiers are
    /// not visible in a listing and count as readable.
    pub fn is_archived(&self) -> bool {
        matches!(self.storage_class, Some("GLACIER" | "DEEP_ARCHIVE")) && !self.restored
    }
}

/// A number of objects and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Number of objects.
    pub num_objects: u64,
    /// Their raw size in bytes.
    pub num_bytes: u64,
}

impl Tally {
    fn add(&mut self, num_bytes: u64) {
        self.num_objects += 1;
        self.num_bytes = self.num_bytes.saturating_add(num_bytes);
    }

    fn merge(&mut self, other: &Tally) {
        self.num_objects += other.num_objects;
        self.num_bytes = self.num_bytes.saturating_add(other.num_bytes);
    }
}

/// Objects to classify (or billed): raw bytes and billable bytes after per-object rounding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Processed {
    /// Number of objects.
    pub num_objects: u64,
    /// Their raw size in bytes: what Trawl will read.
    pub num_bytes: u64,
    /// Their sizes rounded per object by the pricing profile: what is priced.
    pub num_billable_bytes: u64,
}

impl Processed {
    fn add(&mut self, num_bytes: u64, num_billable_bytes: u64) {
        self.num_objects += 1;
        self.num_bytes = self.num_bytes.saturating_add(num_bytes);
        self.num_billable_bytes = self.num_billable_bytes.saturating_add(num_billable_bytes);
    }

    fn merge(&mut self, other: &Processed) {
        self.num_objects += other.num_objects;
        self.num_bytes = self.num_bytes.saturating_add(other.num_bytes);
        self.num_billable_bytes = self
            .num_billable_bytes
            .saturating_add(other.num_billable_bytes);
    }
}

/// Requests Trawl itself will make for a job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requests {
    /// S3 ListObjectsV2 requests (pages).
    pub num_list: u64,
    /// S3 GetObject requests.
    pub num_get: u64,
    /// KMS Decrypt requests S3 makes when Trawl reads SSE-KMS objects.
    pub num_kms_decrypt: u64,
}

impl Requests {
    fn merge(&mut self, other: &Requests) {
        self.num_list += other.num_list;
        self.num_get += other.num_get;
        self.num_kms_decrypt += other.num_kms_decrypt;
    }
}

/// One selection of a job, as [`merge_selections`] takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSelection {
    /// 12-digit account ID owning the bucket.
    pub account: String,
    /// Bucket name.
    pub bucket: String,
    /// Key prefixes; empty (or `""`) selects the whole bucket.
    pub prefixes: Vec<String>,
    /// What to do with the selected objects.
    pub classification: Classification,
}

/// Returns one estimator per (account, bucket), sorted, each holding every selection of that
/// bucket, so a bucket selected several times (by several prefixes, or by a prefix and as a
/// whole) is listed and billed once.
pub fn merge_selections(pricing: &Pricing, selections: &[BucketSelection]) -> Vec<BucketEstimator> {
    let mut merged: BTreeMap<(&str, &str), BucketEstimator> = BTreeMap::new();
    for selection in selections {
        let key = (selection.account.as_str(), selection.bucket.as_str());
        match merged.get_mut(&key) {
            Some(estimator) => estimator.select(&selection.prefixes, selection.classification),
            None => {
                merged.insert(
                    key,
                    BucketEstimator::new(
                        pricing,
                        &selection.account,
                        &selection.bucket,
                        &selection.prefixes,
                        selection.classification,
                    ),
                );
            }
        }
    }
    merged.into_values().collect()
}

/// Accumulates the review figures of one bucket from its listing.
///
/// Build it with every selection of the bucket ([`BucketEstimator::new`], then
/// [`BucketEstimator::select`] for each further one, or [`merge_selections`]), then call
/// [`BucketEstimator::add`] for **every object of the bucket**, not only the selected ones: the
/// cost estimate is per bucket. Memory stays constant whatever the bucket's size.
#[derive(Debug, Clone)]
pub struct BucketEstimator {
    account: String,
    bucket: String,
    pricing: Pricing,
    list_page_keys: u64,
    /// FULL prefixes, disjoint and sorted; `[""]` is the whole bucket.
    classified_prefixes: Vec<String>,
    /// Objects listed under each of `classified_prefixes`, index for index.
    num_listed_per_prefix: Vec<u64>,
    /// NONE prefixes, disjoint and sorted.
    unclassified_prefixes: Vec<String>,
    bucket_total: Tally,
    selected: Tally,
    processed: Processed,
    archived: Tally,
    none_selection: Tally,
    /// Every readable object of the bucket, selected or not: what the cost estimate bills.
    bucket_classifiable: Processed,
    num_kms_decrypt: u64,
}

impl BucketEstimator {
    /// Creates the estimator of `bucket` with its first selection: `prefixes` (empty or `""`
    /// for the whole bucket; overlaps are fine) and their `classification`.
    pub fn new(
        pricing: &Pricing,
        account: &str,
        bucket: &str,
        prefixes: &[String],
        classification: Classification,
    ) -> Self {
        let mut estimator = Self {
            account: account.to_string(),
            bucket: bucket.to_string(),
            pricing: pricing.clone(),
            list_page_keys: LIST_PAGE_KEYS,
            classified_prefixes: Vec::new(),
            num_listed_per_prefix: Vec::new(),
            unclassified_prefixes: Vec::new(),
            bucket_total: Tally::default(),
            selected: Tally::default(),
            processed: Processed::default(),
            archived: Tally::default(),
            none_selection: Tally::default(),
            bucket_classifiable: Processed::default(),
            num_kms_decrypt: 0,
        };
        estimator.select(prefixes, classification);
        estimator
    }

    /// Adds another selection of the same bucket. An object under both a FULL and a NONE
    /// prefix is classified.
    ///
    /// # Panics
    /// When objects were already added: selections are merged before the listing starts.
    pub fn select(&mut self, prefixes: &[String], classification: Classification) {
        assert!(
            self.bucket_total.num_objects == 0,
            "selections of bucket {} should be merged before its objects are added",
            self.bucket
        );
        let target = match classification {
            Classification::Full => &mut self.classified_prefixes,
            Classification::None => &mut self.unclassified_prefixes,
        };
        if prefixes.is_empty() {
            target.push(String::new());
        } else {
            target.extend(prefixes.iter().cloned());
        }
        *target = disjoint_prefixes(std::mem::take(target));
        self.num_listed_per_prefix = vec![0; self.classified_prefixes.len()];
    }

    /// Sets the keys per LIST page the job will use (the coordinator's `page_size`), for the
    /// count of Trawl's LIST requests. Values below 1 are taken as 1.
    pub fn with_list_page_keys(mut self, list_page_keys: u64) -> Self {
        self.list_page_keys = list_page_keys.max(1);
        self
    }

    /// Returns the account owning the bucket.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Returns the bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Counts one object of the bucket. Call it for every object, selected or not.
    pub fn add(&mut self, object: &ObjectListing<'_>) {
        let size = object.size;
        let archived = object.is_archived();
        let billable = self.pricing.billable_bytes(size);
        self.bucket_total.add(size);
        if !archived {
            self.bucket_classifiable.add(size, billable);
        }
        if let Some(index) = covering_prefix(&self.classified_prefixes, object.key) {
            self.num_listed_per_prefix[index] += 1;
            self.selected.add(size);
            if archived {
                self.archived.add(size);
            } else {
                self.processed.add(size, billable);
                if object.kms_encrypted {
                    self.num_kms_decrypt += 1;
                }
            }
        } else if covering_prefix(&self.unclassified_prefixes, object.key).is_some() {
            self.selected.add(size);
            self.none_selection.add(size);
        }
    }

    /// Returns the bucket's figures, priced.
    pub fn finish(self) -> BucketEstimate {
        let classifies = !self.classified_prefixes.is_empty();
        let billed = if classifies {
            self.bucket_classifiable
        } else {
            Processed::default()
        };
        let num_list = self
            .num_listed_per_prefix
            .iter()
            .map(|&n| list_requests(n, self.list_page_keys))
            .sum();
        let trawl_requests = Requests {
            num_list,
            num_get: self.processed.num_objects,
            num_kms_decrypt: self.num_kms_decrypt,
        };
        BucketEstimate {
            cost_estimate_cents: self
                .pricing
                .classification_cost_cents(billed.num_billable_bytes),
            selected_cost_estimate_cents: self
                .pricing
                .classification_cost_cents(self.processed.num_billable_bytes),
            trawl_aws_cost_cents: self.pricing.requests_cost_cents(
                trawl_requests.num_list,
                trawl_requests.num_get,
                trawl_requests.num_kms_decrypt,
            ),
            account: self.account,
            bucket: self.bucket,
            classified_prefixes: self.classified_prefixes,
            unclassified_prefixes: self.unclassified_prefixes,
            bucket_total: self.bucket_total,
            selected: self.selected,
            processed: self.processed,
            archived: self.archived,
            none_selection: self.none_selection,
            billed,
            trawl_requests,
        }
    }
}

/// Returns the index of the prefix in `prefixes` (sorted, disjoint) that `key` starts with.
fn covering_prefix(prefixes: &[String], key: &str) -> Option<usize> {
    // Of disjoint sorted prefixes, only the greatest one ≤ key can be a prefix of key: any
    // prefix between that one and key would start with it, and so not be disjoint from it.
    let index = prefixes
        .partition_point(|prefix| prefix.as_str() <= key)
        .checked_sub(1)?;
    key.starts_with(prefixes[index].as_str()).then_some(index)
}

/// The review figures of one bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketEstimate {
    /// Account owning the bucket.
    pub account: String,
    /// Bucket name.
    pub bucket: String,
    /// Prefixes classified (FULL), disjoint and sorted; `[""]` is the whole bucket.
    pub classified_prefixes: Vec<String>,
    /// Prefixes selected with classification NONE, disjoint and sorted.
    pub unclassified_prefixes: Vec<String>,
    /// The whole bucket: "Total objects" and its size.
    pub bucket_total: Tally,
    /// Objects under any selected prefix, FULL or NONE.
    pub selected: Tally,
    /// The processed estimate: selected objects that will be classified.
    pub processed: Processed,
    /// Selected (FULL) objects not classified because they are archived (GLACIER or
    /// DEEP_ARCHIVE, not restored).
    pub archived: Tally,
    /// Selected objects not classified because their selection says NONE.
    pub none_selection: Tally,
    /// What the cost estimate bills: every readable object of the bucket when anything in it is
    /// classified, nothing otherwise.
    pub billed: Processed,
    /// The cost estimate, in cents: the whole bucket's readable objects, as classic Macie
    /// bills a bucket whatever prefixes are selected.
    pub cost_estimate_cents: u64,
    /// What classifying only the processed estimate would cost, in cents.
    pub selected_cost_estimate_cents: u64,
    /// Requests Trawl will make for the job in this bucket.
    pub trawl_requests: Requests,
    /// What those requests cost, in cents.
    pub trawl_aws_cost_cents: u64,
}

impl BucketEstimate {
    /// Returns whether the whole bucket is selected for classification.
    pub fn is_whole_bucket(&self) -> bool {
        self.classified_prefixes.iter().any(String::is_empty)
    }
}

/// Figures across every selected bucket; each is the sum of the rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Number of selected buckets.
    pub num_buckets: u64,
    /// "Total size" and "Total number of objects" of the selected buckets.
    pub bucket_total: Tally,
    /// Objects under any selected prefix.
    pub selected: Tally,
    /// The processed estimate.
    pub processed: Processed,
    /// Not classified: archived.
    pub archived: Tally,
    /// Not classified: NONE selections.
    pub none_selection: Tally,
    /// What the cost estimates bill.
    pub billed: Processed,
    /// The total cost estimate, in cents: the sum of the buckets' cents.
    pub cost_estimate_cents: u64,
    /// The sum of the buckets' selected-only cost estimates, in cents.
    pub selected_cost_estimate_cents: u64,
    /// Requests Trawl will make.
    pub trawl_requests: Requests,
    /// What they cost, in cents: the sum of the buckets' cents.
    pub trawl_aws_cost_cents: u64,
}

impl Totals {
    fn add(&mut self, row: &BucketEstimate) {
        self.num_buckets += 1;
        self.bucket_total.merge(&row.bucket_total);
        self.selected.merge(&row.selected);
        self.processed.merge(&row.processed);
        self.archived.merge(&row.archived);
        self.none_selection.merge(&row.none_selection);
        self.billed.merge(&row.billed);
        self.cost_estimate_cents += row.cost_estimate_cents;
        self.selected_cost_estimate_cents += row.selected_cost_estimate_cents;
        self.trawl_requests.merge(&row.trawl_requests);
        self.trawl_aws_cost_cents += row.trawl_aws_cost_cents;
    }
}

/// The review of a job: every selected bucket, the totals, and the pricing behind them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// One row per bucket, sorted by account then bucket.
    pub buckets: Vec<BucketEstimate>,
    /// Sums of the rows.
    pub totals: Totals,
    /// The pricing profile used.
    pub pricing: PricingProfile,
}

impl Review {
    /// Finishes every estimator and totals them. Fails when two estimators share a bucket
    /// (merge selections first, see [`merge_selections`]) or one used another pricing profile.
    pub fn new(
        pricing: &Pricing,
        estimators: impl IntoIterator<Item = BucketEstimator>,
    ) -> Result<Self, EstimateError> {
        let mut buckets = Vec::new();
        for estimator in estimators {
            if estimator.pricing != *pricing {
                return Err(EstimateError::PricingMismatch {
                    bucket: estimator.bucket,
                    expected: pricing.name().to_string(),
                    found: estimator.pricing.name().to_string(),
                });
            }
            buckets.push(estimator.finish());
        }
        buckets.sort_by(|a, b| (&a.account, &a.bucket).cmp(&(&b.account, &b.bucket)));
        if let Some(pair) = buckets
            .windows(2)
            .find(|pair| (&pair[0].account, &pair[0].bucket) == (&pair[1].account, &pair[1].bucket))
        {
            return Err(EstimateError::DuplicateBucket {
                account: pair[0].account.clone(),
                bucket: pair[0].bucket.clone(),
            });
        }
        let mut totals = Totals::default();
        for row in &buckets {
            totals.add(row);
        }
        Ok(Self {
            buckets,
            totals,
            pricing: pricing.profile().clone(),
        })
    }

    /// Renders the review for people: the pricing, a row per bucket, notes on what is billed
    /// or left out, then the totals.
    pub fn render_table(&self) -> String {
        let mut out = String::new();
        out.push_str(&describe_pricing(&self.pricing));
        out.push_str("\n\n");

        let header = [
            "ACCOUNT",
            "BUCKET",
            "SELECTION",
            "TOTAL OBJECTS",
            "TOTAL SIZE",
            "PROCESSED ESTIMATE",
            "COST ESTIMATE",
            "TRAWL AWS COST",
        ];
        let rows: Vec<Vec<String>> = self
            .buckets
            .iter()
            .map(|row| {
                vec![
                    row.account.clone(),
                    row.bucket.clone(),
                    describe_selection(row),
                    group_thousands(row.bucket_total.num_objects),
                    format_bytes(row.bucket_total.num_bytes),
                    format_bytes(row.processed.num_bytes),
                    format_usd_cents(row.cost_estimate_cents),
                    format_usd_cents(row.trawl_aws_cost_cents),
                ]
            })
            .collect();
        // Text columns align left, figures right.
        let right_aligned = [false, false, false, true, true, true, true, true];
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut push_row = |cells: &[String]| {
            let line: Vec<String> = cells
                .iter()
                .zip(&widths)
                .zip(right_aligned)
                .map(|((cell, &width), right)| {
                    if right {
                        format!("{cell:>width$}")
                    } else {
                        format!("{cell:<width$}")
                    }
                })
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        };
        push_row(&header.map(String::from));
        for row in &rows {
            push_row(row);
        }
        if self.buckets.is_empty() {
            out.push_str("(no bucket selected)\n");
        }

        let notes: Vec<String> = self.buckets.iter().flat_map(bucket_notes).collect();
        if !notes.is_empty() {
            out.push('\n');
            for note in notes {
                out.push_str("- ");
                out.push_str(&note);
                out.push('\n');
            }
        }

        let totals = &self.totals;
        let requests = &totals.trawl_requests;
        let lines = [
            ("Total size", format_bytes(totals.bucket_total.num_bytes)),
            (
                "Total number of objects",
                group_thousands(totals.bucket_total.num_objects),
            ),
            (
                "Processed estimate",
                format!(
                    "{} in {}",
                    format_bytes(totals.processed.num_bytes),
                    count_objects(totals.processed.num_objects)
                ),
            ),
            (
                "Total cost estimate",
                format_usd_cents(totals.cost_estimate_cents),
            ),
            (
                "Trawl AWS cost",
                format!(
                    "{} ({} LIST, {} GET, {} KMS Decrypt requests)",
                    format_usd_cents(totals.trawl_aws_cost_cents),
                    group_thousands(requests.num_list),
                    group_thousands(requests.num_get),
                    group_thousands(requests.num_kms_decrypt)
                ),
            ),
        ];
        out.push('\n');
        let label_width = lines
            .iter()
            .map(|(label, _)| label.len())
            .max()
            .unwrap_or(0)
            + 1;
        for (label, value) in lines {
            out.push_str(&format!("{:<label_width$} {value}\n", format!("{label}:")));
        }
        out
    }
}

fn describe_pricing(profile: &PricingProfile) -> String {
    let gb = if profile.gb_bytes == crate::pricing::GIB {
        "GB (2^30 bytes)".to_string()
    } else {
        format!("GB ({} bytes)", group_thousands(profile.gb_bytes))
    };
    let cap = match profile.max_object_bytes {
        Some(max) => format!(" and at most {}", format_bytes(max)),
        None => String::new(),
    };
    format!(
        "Pricing profile {:?}: {} per {gb}; each object billed at least {}{cap}.",
        profile.name,
        format_price_usd(profile.price_per_gb_usd),
        format_bytes(profile.min_object_bytes),
    )
}

fn describe_selection(row: &BucketEstimate) -> String {
    let prefixes = |n: usize| {
        if n == 1 {
            "1 prefix".to_string()
        } else {
            format!("{n} prefixes")
        }
    };
    match (
        row.classified_prefixes.len(),
        row.unclassified_prefixes.len(),
    ) {
        (0, _) => "NONE".to_string(),
        _ if row.is_whole_bucket() => "whole bucket".to_string(),
        (n, 0) => prefixes(n),
        (n, m) => format!("{}, {m} NONE", prefixes(n)),
    }
}

fn bucket_notes(row: &BucketEstimate) -> Vec<String> {
    let name = format!("{} ({})", row.bucket, row.account);
    let mut notes = Vec::new();
    if !row.classified_prefixes.is_empty() && !row.is_whole_bucket() {
        notes.push(format!(
            "{name}: prefixes {} selected; the cost estimate covers the whole bucket \
             ({} billable), the selected objects alone would cost {}",
            row.classified_prefixes.join(", "),
            format_bytes(row.billed.num_billable_bytes),
            format_usd_cents(row.selected_cost_estimate_cents)
        ));
    }
    if row.archived.num_objects > 0 {
        notes.push(format!(
            "{name}: {} ({}) in GLACIER or DEEP_ARCHIVE and not restored will not be \
             classified",
            count_objects(row.archived.num_objects),
            format_bytes(row.archived.num_bytes)
        ));
    }
    if row.none_selection.num_objects > 0 {
        notes.push(format!(
            "{name}: {} ({}) selected with classification NONE will not be classified",
            count_objects(row.none_selection.num_objects),
            format_bytes(row.none_selection.num_bytes)
        ));
    }
    notes
}

fn count_objects(n: u64) -> String {
    match n {
        1 => "1 object".to_string(),
        n => format!("{} objects", group_thousands(n)),
    }
}

fn format_price_usd(usd: f64) -> String {
    if (usd * 100.0).fract() == 0.0 {
        format!("${usd:.2}")
    } else {
        format!("${usd}")
    }
}

/// Formats a size in bytes and, from 1 KiB up, in binary units to one decimal:
/// `1234567` → `1,234,567 B (1.2 MiB)`.
pub fn format_bytes(num_bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if num_bytes < 1024 {
        return format!("{} B", group_thousands(num_bytes));
    }
    let mut unit: u128 = 1024;
    for (i, name) in UNITS.iter().enumerate() {
        // Tenths of the unit, rounded half-up, in integers.
        let tenths = (u128::from(num_bytes) * 20 + unit) / (unit * 2);
        if tenths < 10_240 || i == UNITS.len() - 1 {
            return format!(
                "{} B ({}.{} {name})",
                group_thousands(num_bytes),
                tenths / 10,
                tenths % 10
            );
        }
        unit *= 1024;
    }
    unreachable!("the last unit always returns")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::{GIB, KIB, MIB};

    const ACCOUNT: &str = "111111111111";

    fn strings(prefixes: &[&str]) -> Vec<String> {
        prefixes.iter().map(|p| p.to_string()).collect()
    }

    fn estimator(prefixes: &[&str], classification: Classification) -> BucketEstimator {
        BucketEstimator::new(
            &Pricing::classic_macie(),
            ACCOUNT,
            "payroll",
            &strings(prefixes),
            classification,
        )
    }

    fn object(key: &str, size: u64) -> ObjectListing<'_> {
        ObjectListing::new(key, size)
    }

    /// A profile with round numbers: $5 per decimal GB, no per-object rounding.
    fn decimal_pricing() -> Pricing {
        PricingProfile {
            name: "decimal".into(),
            price_per_gb_usd: 5.0,
            min_object_bytes: 0,
            max_object_bytes: None,
            gb_bytes: 1_000_000_000,
            ..PricingProfile::classic_macie()
        }
        .validate()
        .unwrap()
    }

    /// Issue 3: one bucket with two prefixes is counted, and billed, once.
    #[test]
    fn two_prefixes_of_one_bucket_bill_the_bucket_once() {
        let selections = vec![
            BucketSelection {
                account: ACCOUNT.into(),
                bucket: "payroll".into(),
                prefixes: strings(&["2024/", "2024/feb"]),
                classification: Classification::Full,
            },
            BucketSelection {
                account: ACCOUNT.into(),
                bucket: "payroll".into(),
                prefixes: strings(&["2025/"]),
                classification: Classification::Full,
            },
        ];
        let pricing = Pricing::classic_macie();
        let mut estimators = merge_selections(&pricing, &selections);
        assert_eq!(estimators.len(), 1);
        let estimator = &mut estimators[0];
        estimator.add(&object("2024/feb.csv", 30 * MIB)); // billable 20 MiB
        estimator.add(&ObjectListing {
            kms_encrypted: true,
            ..object("2024/jan.csv", 512) // billable 1 KiB
        });
        estimator.add(&object("2025/mar.csv", MIB)); // billable 1 MiB
        estimator.add(&object("logs/x.log", 100 * MIB)); // not selected; billable 20 MiB
        let review = Review::new(&pricing, estimators).unwrap();
        assert_eq!(review.buckets.len(), 1);
        let row = &review.buckets[0];
        assert_eq!(row.classified_prefixes, vec!["2024/", "2025/"]);
        // 31,457,280 + 512 + 1,048,576 + 104,857,600
        assert_eq!(
            row.bucket_total,
            Tally {
                num_objects: 4,
                num_bytes: 137_363_968
            }
        );
        assert_eq!(
            row.selected,
            Tally {
                num_objects: 3,
                num_bytes: 32_506_368
            }
        );
        // Billable: 20,971,520 + 1,024 + 1,048,576.
        assert_eq!(
            row.processed,
            Processed {
                num_objects: 3,
                num_bytes: 32_506_368,
                num_billable_bytes: 22_021_120
            }
        );
        // The whole bucket: 22,021,120 + 20,971,520 = 42,992,640 B (41 MiB + 1 KiB).
        assert_eq!(row.billed.num_billable_bytes, 42_992_640);
        // 42,992,640 / 2^30 × $5 = $0.200199… → $0.20; selected alone: 22,021,120 / 2^30 × $5
        // = $0.102544… → $0.10.
        assert_eq!(row.cost_estimate_cents, 20);
        assert_eq!(row.selected_cost_estimate_cents, 10);
        // One LIST page per prefix, one GET per object to classify, one KMS Decrypt.
        assert_eq!(
            row.trawl_requests,
            Requests {
                num_list: 2,
                num_get: 3,
                num_kms_decrypt: 1
            }
        );
        // 2 × $0.000005 + 3 × $0.0000004 + $0.000003 = $0.0000142 → $0.00.
        assert_eq!(row.trawl_aws_cost_cents, 0);
        assert_eq!(review.totals.cost_estimate_cents, 20);
        assert_eq!(review.totals.num_buckets, 1);
    }

    /// Issue 3: a prefix plus the whole bucket is the whole bucket.
    #[test]
    fn a_prefix_plus_the_whole_bucket_is_the_whole_bucket() {
        let pricing = Pricing::classic_macie();
        let selections = vec![
            BucketSelection {
                account: ACCOUNT.into(),
                bucket: "payroll".into(),
                prefixes: strings(&["2024/"]),
                classification: Classification::Full,
            },
            BucketSelection {
                account: ACCOUNT.into(),
                bucket: "payroll".into(),
                prefixes: Vec::new(),
                classification: Classification::Full,
            },
        ];
        let mut estimators = merge_selections(&pricing, &selections);
        assert_eq!(estimators.len(), 1);
        estimators[0].add(&object("2024/a", 256 * MIB)); // billable 20 MiB
        estimators[0].add(&object("other/b", 4 * MIB));
        let review = Review::new(&pricing, estimators).unwrap();
        let row = &review.buckets[0];
        assert!(row.is_whole_bucket());
        assert_eq!(row.classified_prefixes, vec![""]);
        assert_eq!(row.processed.num_objects, 2);
        assert_eq!(row.processed.num_bytes, 260 * MIB);
        assert_eq!(row.processed.num_billable_bytes, 24 * MIB);
        // 24 MiB / 1,024 MiB × $5 = $0.1171875 → $0.12, the same either way.
        assert_eq!(row.cost_estimate_cents, 12);
        assert_eq!(row.selected_cost_estimate_cents, 12);
        assert_eq!(row.trawl_requests.num_list, 1);
        assert!(!review.render_table().contains("covers the whole bucket"));
    }

    /// Issue 3: an empty bucket costs nothing but its one LIST request.
    #[test]
    fn an_empty_bucket_costs_nothing() {
        let pricing = Pricing::classic_macie();
        let review = Review::new(&pricing, [estimator(&[], Classification::Full)]).unwrap();
        let row = &review.buckets[0];
        assert_eq!(row.bucket_total, Tally::default());
        assert_eq!(row.processed, Processed::default());
        assert_eq!(row.billed, Processed::default());
        assert_eq!(row.cost_estimate_cents, 0);
        assert_eq!(
            row.trawl_requests,
            Requests {
                num_list: 1,
                num_get: 0,
                num_kms_decrypt: 0
            }
        );
        assert_eq!(row.trawl_aws_cost_cents, 0); // $0.000005
        let table = review.render_table();
        assert!(table.contains("Total size:              0 B\n"), "{table}");
        assert!(
            table.contains("Total cost estimate:     $0.00\n"),
            "{table}"
        );
        // An empty selected prefix still costs its LIST request.
        let mut two_prefixes = estimator(&["a/", "b/"], Classification::Full);
        two_prefixes.add(&object("a/x", 1));
        assert_eq!(two_prefixes.finish().trawl_requests.num_list, 2);
    }

    /// Issue 3: GLACIER and DEEP_ARCHIVE objects not restored are left out.
    #[test]
    fn archived_objects_are_not_classified_nor_billed() {
        let mut estimator = estimator(&[], Classification::Full);
        let archived = |key, class| ObjectListing {
            storage_class: Some(class),
            ..object(key, MIB)
        };
        estimator.add(&object("a", MIB));
        estimator.add(&archived("b", "GLACIER"));
        estimator.add(&archived("c", "DEEP_ARCHIVE"));
        estimator.add(&ObjectListing {
            restored: true,
            ..archived("d", "GLACIER")
        });
        estimator.add(&archived("e", "GLACIER_IR"));
        estimator.add(&ObjectListing {
            kms_encrypted: true, // archived: no GET, so no Decrypt
            ..archived("f", "DEEP_ARCHIVE")
        });
        let row = estimator.finish();
        assert_eq!(
            row.bucket_total,
            Tally {
                num_objects: 6,
                num_bytes: 6 * MIB
            }
        );
        assert_eq!(
            row.archived,
            Tally {
                num_objects: 3,
                num_bytes: 3 * MIB
            }
        );
        assert_eq!(
            row.processed,
            Processed {
                num_objects: 3,
                num_bytes: 3 * MIB,
                num_billable_bytes: 3 * MIB
            }
        );
        assert_eq!(row.billed, row.processed);
        // 3 MiB / 1,024 MiB × $5 = $0.0146… → $0.01.
        assert_eq!(row.cost_estimate_cents, 1);
        assert_eq!(
            row.trawl_requests,
            Requests {
                num_list: 1,
                num_get: 3,
                num_kms_decrypt: 0
            }
        );
    }

    /// Issue 3: objects below 1 KB bill 1 KiB, above 20 MB bill 20 MiB.
    #[test]
    fn small_and_large_objects_are_rounded_per_object() {
        let mut estimator = estimator(&[], Classification::Full);
        for (i, size) in [
            0,
            1,
            1023,
            1024,
            1025,
            20 * MIB - 1,
            20 * MIB,
            20 * MIB + 1,
            GIB,
        ]
        .into_iter()
        .enumerate()
        {
            estimator.add(&object(&format!("k{i}"), size));
        }
        let row = estimator.finish();
        // Raw: 0 + 1 + 1,023 + 1,024 + 1,025 = 3,073; 20,971,519 + 20,971,520 + 20,971,521
        // = 62,914,560; plus 1,073,741,824.
        assert_eq!(row.processed.num_bytes, 1_136_659_457);
        // Billable: 4 × 1,024 + 1,025 = 5,121; 20,971,519 + 3 × 20,971,520 = 83,886,079.
        assert_eq!(row.processed.num_billable_bytes, 83_891_200);
        // 83,891,200 B = 80 MiB + 5,120 B: $0.390625 + $0.0000238… → $0.39.
        assert_eq!(row.cost_estimate_cents, 39);
        assert_eq!(row.processed.num_objects, 9);
    }

    /// Rows whose fractions round differently: the total is the sum of the rows shown.
    #[test]
    fn totals_are_the_sum_of_the_displayed_rows() {
        let pricing = decimal_pricing();
        // Three buckets of exactly $0.005 each: every row shows $0.01, so the total is $0.03,
        // not the $0.015 → $0.02 a separately rounded total would show.
        let mut estimators: Vec<BucketEstimator> = ["alpha", "beta", "gamma"]
            .iter()
            .map(|bucket| {
                let mut e =
                    BucketEstimator::new(&pricing, ACCOUNT, bucket, &[], Classification::Full);
                e.add(&ObjectListing::new("k", 1_000_000));
                e
            })
            .collect();
        // And one of $0.004999995 that shows $0.00.
        let mut low = BucketEstimator::new(&pricing, ACCOUNT, "delta", &[], Classification::Full);
        low.add(&ObjectListing::new("k", 999_999));
        estimators.push(low);
        let review = Review::new(&pricing, estimators).unwrap();
        let cents: Vec<u64> = review
            .buckets
            .iter()
            .map(|row| row.cost_estimate_cents)
            .collect();
        assert_eq!(cents, vec![1, 1, 0, 1]); // alpha, beta, delta, gamma
        assert_eq!(review.totals.cost_estimate_cents, 3);
        assert_eq!(review.totals.processed.num_bytes, 3_999_999);
        let table = review.render_table();
        assert!(
            table.contains("Total cost estimate:     $0.03\n"),
            "{table}"
        );
    }

    #[test]
    fn request_costs_per_row_and_in_total() {
        // Prices chosen so requests show in cents: LIST $10, GET $1 per 1,000; KMS $100 per
        // 10,000.
        let pricing = PricingProfile {
            name: "dear".into(),
            s3_list_per_1000_usd: 10.0,
            s3_get_per_1000_usd: 1.0,
            kms_per_10000_usd: 100.0,
            ..PricingProfile::classic_macie()
        }
        .validate()
        .unwrap();
        let mut e = BucketEstimator::new(
            &pricing,
            ACCOUNT,
            "payroll",
            &strings(&["a/", "b/"]),
            Classification::Full,
        )
        .with_list_page_keys(2);
        for key in ["a/1", "a/2", "a/3", "b/1", "c/1"] {
            e.add(&ObjectListing {
                kms_encrypted: key == "a/1",
                ..ObjectListing::new(key, 10)
            });
        }
        let row = e.finish();
        // a/: 3 objects in pages of 2 → 2 LIST; b/: 1 LIST. GET 4, KMS 1.
        assert_eq!(
            row.trawl_requests,
            Requests {
                num_list: 3,
                num_get: 4,
                num_kms_decrypt: 1
            }
        );
        // 3 × $0.01 + 4 × $0.001 + $0.01 = $0.044 → $0.04.
        assert_eq!(row.trawl_aws_cost_cents, 4);

        // LIST pages at the real page sizes: a first page of 100 keys, then pages of 1,000.
        for (keys, pages) in [(0, 1), (100, 1), (101, 2), (1100, 2), (1101, 3), (3000, 4)] {
            let mut e = estimator(&["p/"], Classification::Full);
            for i in 0..keys {
                e.add(&object(&format!("p/{i:04}"), 1));
            }
            assert_eq!(e.finish().trawl_requests.num_list, pages, "{keys} keys");
        }
    }

    #[test]
    fn none_selections_are_counted_but_neither_classified_nor_billed() {
        let pricing = Pricing::classic_macie();
        // A bucket selected only with NONE: shown, costs nothing, makes no requests.
        let mut none = estimator(&[], Classification::None);
        none.add(&object("a", 5 * MIB));
        none.add(&object("b", 3 * MIB));
        let row = none.finish();
        assert_eq!(row.bucket_total.num_objects, 2);
        assert_eq!(
            row.none_selection,
            Tally {
                num_objects: 2,
                num_bytes: 8 * MIB
            }
        );
        assert_eq!(row.processed, Processed::default());
        assert_eq!(row.billed, Processed::default());
        assert_eq!(row.cost_estimate_cents, 0);
        assert_eq!(row.trawl_requests, Requests::default());

        // FULL on a/ and NONE on b/: b/ is not classified, yet billed with the whole bucket.
        let selections = vec![
            BucketSelection {
                account: ACCOUNT.into(),
                bucket: "mixed".into(),
                prefixes: strings(&["a/"]),
                classification: Classification::Full,
            },
            BucketSelection {
                account: ACCOUNT.into(),
                bucket: "mixed".into(),
                prefixes: strings(&["b/", "a/x/"]),
                classification: Classification::None,
            },
        ];
        let mut estimators = merge_selections(&pricing, &selections);
        let mixed = &mut estimators[0];
        mixed.add(&object("a/1", 100 * MIB)); // classified, billable 20 MiB
        mixed.add(&object("a/x/2", 2 * MIB)); // FULL wins over NONE
        mixed.add(&object("b/3", 10 * MIB)); // NONE
        mixed.add(&object("c/4", 10 * MIB)); // not selected
        let review = Review::new(&pricing, estimators).unwrap();
        let row = &review.buckets[0];
        assert_eq!(row.unclassified_prefixes, vec!["a/x/", "b/"]);
        assert_eq!(
            row.selected,
            Tally {
                num_objects: 3,
                num_bytes: 112 * MIB
            }
        );
        assert_eq!(row.processed.num_objects, 2);
        assert_eq!(row.processed.num_billable_bytes, 22 * MIB);
        assert_eq!(
            row.none_selection,
            Tally {
                num_objects: 1,
                num_bytes: 10 * MIB
            }
        );
        // Whole bucket: 20 + 2 + 10 + 10 = 42 MiB → 42/1,024 × $5 = $0.205… → $0.21;
        // selected: 22 MiB → $0.107… → $0.11.
        assert_eq!(row.billed.num_billable_bytes, 42 * MIB);
        assert_eq!(row.cost_estimate_cents, 21);
        assert_eq!(row.selected_cost_estimate_cents, 11);
        assert_eq!(describe_selection(row), "1 prefix, 2 NONE");
        let table = review.render_table();
        assert!(
            table.contains("selected with classification NONE will not be classified"),
            "{table}"
        );
    }

    #[test]
    fn custom_profile_changes_rounding_and_price() {
        let pricing = crate::pricing::PricingConfig::from_toml(
            "[pricing]\nprofile = \"v2\"\n[pricing.profiles.v2]\nprice_per_gb_usd = 1.25\nmin_object_bytes = 0",
        )
        .unwrap()
        .validate()
        .unwrap();
        let mut e = BucketEstimator::new(&pricing, ACCOUNT, "payroll", &[], Classification::Full);
        e.add(&object("tiny", 10));
        e.add(&object("huge", 8 * GIB));
        let row = e.finish();
        // No rounding: 8 GiB + 10 B at $1.25 per GiB = $10.0000000116 → $10.00.
        assert_eq!(row.processed.num_billable_bytes, 8 * GIB + 10);
        assert_eq!(row.cost_estimate_cents, 1000);
        // The same objects under classic Macie: 1 KiB + 20 MiB → $0.0977 → $0.10.
        let mut classic = estimator(&[], Classification::Full);
        classic.add(&object("tiny", 10));
        classic.add(&object("huge", 8 * GIB));
        assert_eq!(
            classic.finish().processed.num_billable_bytes,
            KIB + 20 * MIB
        );
    }

    #[test]
    fn prefixes_match_as_plain_string_prefixes() {
        let prefixes = strings(&["a", "b/", "bc/", "logs/2024"]);
        assert_eq!(covering_prefix(&prefixes, "a"), Some(0));
        assert_eq!(covering_prefix(&prefixes, "ab/c"), Some(0));
        assert_eq!(covering_prefix(&prefixes, "b/x"), Some(1));
        assert_eq!(covering_prefix(&prefixes, "b"), None);
        assert_eq!(covering_prefix(&prefixes, "bc/x"), Some(2));
        assert_eq!(covering_prefix(&prefixes, "bd"), None);
        assert_eq!(covering_prefix(&prefixes, "logs/2024/01/x"), Some(3));
        assert_eq!(covering_prefix(&prefixes, "logs/2023/x"), None);
        assert_eq!(covering_prefix(&prefixes, ""), None);
        assert_eq!(covering_prefix(&strings(&[""]), "anything"), Some(0));
        assert_eq!(covering_prefix(&[], "anything"), None);
    }

    #[test]
    fn review_refuses_duplicate_buckets_and_mixed_pricing() {
        let pricing = Pricing::classic_macie();
        let err = Review::new(
            &pricing,
            [
                estimator(&["a/"], Classification::Full),
                estimator(&["b/"], Classification::Full),
            ],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "bucket payroll (account 111111111111) has more than one estimator: merge its selections first"
        );
        let other = BucketEstimator::new(
            &decimal_pricing(),
            ACCOUNT,
            "other",
            &[],
            Classification::Full,
        );
        assert!(matches!(
            Review::new(&pricing, [other]),
            Err(EstimateError::PricingMismatch { .. })
        ));
        // Two accounts may hold buckets with different names only, but the review still
        // keys by both.
        let a = BucketEstimator::new(&pricing, "222222222222", "b1", &[], Classification::Full);
        let b = BucketEstimator::new(&pricing, ACCOUNT, "b2", &[], Classification::Full);
        let review = Review::new(&pricing, [a, b]).unwrap();
        assert_eq!(review.buckets[0].account, ACCOUNT);
        assert_eq!(review.totals.num_buckets, 2);
        assert_eq!(review.totals.trawl_requests.num_list, 2);
    }

    #[test]
    #[should_panic(expected = "should be merged before its objects are added")]
    fn selections_cannot_be_added_after_objects() {
        let mut e = estimator(&["a/"], Classification::Full);
        e.add(&object("a/1", 1));
        e.select(&strings(&["b/"]), Classification::Full);
    }

    #[test]
    fn review_renders_for_people_and_round_trips_as_json() {
        let pricing = Pricing::classic_macie();
        let mut payroll = estimator(&["2024/"], Classification::Full);
        payroll.add(&object("2024/a.csv", 1_234_567));
        payroll.add(&object("2023/b.csv", 2 * MIB));
        payroll.add(&ObjectListing {
            storage_class: Some("GLACIER"),
            ..object("2024/old.csv", 5_000)
        });
        let mut logs =
            BucketEstimator::new(&pricing, "222222222222", "logs", &[], Classification::Full);
        logs.add(&object("x", 3 * GIB));
        let review = Review::new(&pricing, [payroll, logs]).unwrap();
        let table = review.render_table();
        let expected = "\
Pricing profile \"classic-macie\": $5.00 per GB (2^30 bytes); each object billed at least 1,024 B (1.0 KiB) and at most 20,971,520 B (20.0 MiB).

ACCOUNT       BUCKET   SELECTION     TOTAL OBJECTS                 TOTAL SIZE         PROCESSED ESTIMATE  COST ESTIMATE  TRAWL AWS COST
111111111111  payroll  1 prefix                  3      3,336,719 B (3.2 MiB)      1,234,567 B (1.2 MiB)          $0.02           $0.00
222222222222  logs     whole bucket              1  3,221,225,472 B (3.0 GiB)  3,221,225,472 B (3.0 GiB)          $0.10           $0.00

- payroll (111111111111): prefixes 2024/ selected; the cost estimate covers the whole bucket (3,331,719 B (3.2 MiB) billable), the selected objects alone would cost $0.01
- payroll (111111111111): 1 object (5,000 B (4.9 KiB)) in GLACIER or DEEP_ARCHIVE and not restored will not be classified

Total size:              3,224,562,191 B (3.0 GiB)
Total number of objects: 4
Processed estimate:      3,222,460,039 B (3.0 GiB) in 2 objects
Total cost estimate:     $0.12
Trawl AWS cost:          $0.00 (2 LIST, 2 GET, 0 KMS Decrypt requests)
";
        assert_eq!(table, expected, "\n{table}");

        let json = serde_json::to_string(&review).unwrap();
        assert!(json.contains("\"cost_estimate_cents\":12"), "{json}");
        assert!(json.contains("\"name\":\"classic-macie\""), "{json}");
        let back: Review = serde_json::from_str(&json).unwrap();
        assert_eq!(back, review);
    }

    #[test]
    fn sizes_format_in_bytes_and_binary_units() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1,023 B");
        assert_eq!(format_bytes(1024), "1,024 B (1.0 KiB)");
        assert_eq!(format_bytes(1_234_567), "1,234,567 B (1.2 MiB)");
        // 1,048,575 B is 1023.999 KiB: shown as 1.0 MiB rather than 1024.0 KiB.
        assert_eq!(format_bytes(1_048_575), "1,048,575 B (1.0 MiB)");
        assert_eq!(format_bytes(1_048_524), "1,048,524 B (1023.9 KiB)");
        assert_eq!(format_bytes(5 * GIB / 2), "2,684,354,560 B (2.5 GiB)");
        assert_eq!(
            format_bytes(u64::MAX),
            "18,446,744,073,709,551,615 B (16.0 EiB)"
        );
    }
}
