//! The embedded [`JobStore`]: the same semantics as Redis (each method is one atomic step under
//! a lock), kept in memory and persisted as JSON to a file when one is given, so jobs, their
//! figures and their results survive the process.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use trawl_proto::Message as _;

use crate::store::{Counters, Cursor, JobInfo, JobStatus, JobStore, RecordOutcome, StoreError};

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct MemJob {
    id: String,
    name: String,
    spec: String,
    plan: String,
    status: Option<JobStatus>,
    error: Option<String>,
    created_ms: i64,
    started_ms: i64,
    finished_ms: i64,
    next_seq: u64,
    dispatched: u64,
    results: u64,
    listing_done: bool,
    stats: BTreeMap<String, i64>,
    ledger: HashSet<u64>,
    /// Result records (protobuf), in order; the stream ID of record `i` is `0-<i+1>`.
    records: Vec<Vec<u8>>,
    cursor: BTreeMap<String, String>,
    lasterr: BTreeMap<u64, String>,
    #[serde(default)]
    review: Option<String>,
    #[serde(default)]
    deferred: VecDeque<Vec<u8>>,
    /// Pending pages' checkpoints, by cursor field.
    #[serde(default)]
    pages: BTreeMap<String, Vec<u8>>,
}

impl MemJob {
    fn info(&self) -> JobInfo {
        JobInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            status: self.status.unwrap_or(JobStatus::Created),
            error: self.error.clone(),
            created_ms: self.created_ms,
            started_ms: self.started_ms,
            finished_ms: self.finished_ms,
            dispatched: self.dispatched,
            results: self.results,
            listing_done: self.listing_done,
            plan_json: self.plan.clone(),
        }
    }

    fn complete_if_done(&mut self) -> bool {
        if self.status == Some(JobStatus::Running)
            && self.listing_done
            && self.results >= self.dispatched
        {
            self.status = Some(JobStatus::Complete);
            self.finished_ms = crate::now_ms();
            true
        } else {
            false
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct MemState {
    jobs: BTreeMap<String, MemJob>,
    pending: VecDeque<String>,
    #[serde(default)]
    quotas: BTreeMap<String, u64>,
    #[serde(default)]
    usage: BTreeMap<String, u64>,
    #[serde(skip)]
    lease: Option<(String, Option<Instant>)>,
}

/// An in-process job store, optionally persisted to a JSON file. Cheap to clone.
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<MemState>>,
    path: Option<Arc<PathBuf>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// Creates an empty store that lives only in memory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens the store persisted at `path` (created on first save). Jobs left RUNNING by a
    /// process that stopped resume when a coordinator runs again.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let state = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                key: path.display().to_string(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => MemState::default(),
            Err(e) => {
                return Err(StoreError::Corrupt {
                    key: path.display().to_string(),
                    message: e.to_string(),
                });
            }
        };
        Ok(Self {
            state: Arc::new(Mutex::new(state)),
            path: Some(Arc::new(path.to_path_buf())),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemState> {
        self.state
            .lock()
            .expect("the memory store lock should not be poisoned")
    }

    /// Writes the state to its file (atomically: a temporary file renamed over it).
    pub fn flush(&self) -> Result<(), StoreError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let bytes = serde_json::to_vec(&*self.lock()).expect("the store state should serialise");
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, path.as_path())
        };
        write().map_err(|e| StoreError::Corrupt {
            key: path.display().to_string(),
            message: format!("cannot save: {e}"),
        })
    }

    fn with_job<T>(&self, id: &str, f: impl FnOnce(&mut MemJob) -> T) -> Result<T, StoreError> {
        let mut state = self.lock();
        let job = state
            .jobs
            .get_mut(id)
            .ok_or_else(|| StoreError::NoSuchJob(id.to_string()))?;
        Ok(f(job))
    }
}

impl JobStore for MemoryStore {
    async fn create_job(
        &self,
        id: &str,
        name: &str,
        spec_json: &str,
        plan_json: &str,
    ) -> Result<(), StoreError> {
        {
            let mut state = self.lock();
            state.jobs.insert(
                id.to_string(),
                MemJob {
                    id: id.to_string(),
                    name: name.to_string(),
                    spec: spec_json.to_string(),
                    plan: plan_json.to_string(),
                    status: Some(JobStatus::Created),
                    created_ms: crate::now_ms(),
                    ..Default::default()
                },
            );
            state.pending.push_front(id.to_string());
        }
        self.flush()
    }

    async fn claim_pending(&self, timeout: Duration) -> Result<Option<String>, StoreError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(id) = self.lock().pending.pop_back() {
                return Ok(Some(id));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(50).min(deadline - Instant::now())).await;
        }
    }

    async fn requeue_pending(&self, id: &str) -> Result<(), StoreError> {
        self.lock().pending.push_back(id.to_string());
        Ok(())
    }

    async fn hold_coordinator_lease(
        &self,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let now = Instant::now();
        let held = !matches!(&state.lease, Some((current, Some(expires))) if current != holder && *expires > now);
        if held {
            state.lease = Some((holder.to_string(), Some(now + ttl)));
        }
        Ok(held)
    }

    async fn release_coordinator_lease(&self, holder: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state
            .lease
            .as_ref()
            .is_some_and(|(current, _)| current == holder)
        {
            state.lease = None;
        }
        Ok(())
    }

    async fn coordinator_alive(&self) -> Result<bool, StoreError> {
        let state = self.lock();
        Ok(matches!(&state.lease, Some((_, Some(expires))) if *expires > Instant::now()))
    }

    async fn transition(
        &self,
        id: &str,
        status: JobStatus,
        from: &[JobStatus],
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let moved = self.with_job(id, |job| {
            let current = job.status.unwrap_or(JobStatus::Created);
            if !from.contains(&current) {
                return false;
            }
            job.status = Some(status);
            let now = crate::now_ms();
            if status == JobStatus::Running && job.started_ms == 0 {
                job.started_ms = now;
            }
            if status.is_terminal() {
                job.finished_ms = now;
            }
            if let Some(error) = error.filter(|e| !e.is_empty()) {
                job.error = Some(error.to_string());
            }
            true
        })?;
        if moved {
            self.flush()?;
        }
        Ok(moved)
    }

    async fn job(&self, id: &str) -> Result<JobInfo, StoreError> {
        self.with_job(id, |job| job.info())
    }

    async fn job_status(&self, id: &str) -> Result<Option<JobStatus>, StoreError> {
        Ok(self.lock().jobs.get(id).and_then(|job| job.status))
    }

    async fn list_jobs(&self, limit: usize) -> Result<Vec<JobInfo>, StoreError> {
        let state = self.lock();
        let mut jobs: Vec<JobInfo> = state.jobs.values().map(MemJob::info).collect();
        jobs.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then(b.id.cmp(&a.id)));
        jobs.truncate(limit);
        Ok(jobs)
    }

    async fn stats(&self, id: &str) -> Result<BTreeMap<String, i64>, StoreError> {
        Ok(self
            .lock()
            .jobs
            .get(id)
            .map(|job| job.stats.clone())
            .unwrap_or_default())
    }

    async fn allocate_page(
        &self,
        id: &str,
        cursor_field: &str,
        page_after: &str,
        n: u64,
        counters: &Counters,
        page: &[u8],
    ) -> Result<u64, StoreError> {
        self.with_job(id, |job| {
            let field = |suffix: &str| format!("{cursor_field}:{suffix}");
            if job.cursor.get(&field("p_after")).map(String::as_str) == Some(page_after)
                && job.cursor.get(&field("p_len")) == Some(&n.to_string())
            {
                return job.cursor[&field("p_base")].parse().unwrap_or(0);
            }
            let base = job.next_seq;
            job.next_seq += n;
            job.dispatched += n;
            for (name, delta) in counters.deltas() {
                *job.stats.entry(name.clone()).or_default() += delta;
            }
            job.cursor.insert(field("p_after"), page_after.to_string());
            job.cursor.insert(field("p_base"), base.to_string());
            job.cursor.insert(field("p_len"), n.to_string());
            job.pages.insert(cursor_field.to_string(), page.to_vec());
            base
        })
    }

    async fn confirm_page(
        &self,
        id: &str,
        cursor_field: &str,
        last_key: &str,
        done: bool,
    ) -> Result<(), StoreError> {
        self.with_job(id, |job| {
            job.cursor
                .insert(format!("{cursor_field}:after"), last_key.to_string());
            job.pages.remove(cursor_field);
            for suffix in ["p_after", "p_base", "p_len"] {
                job.cursor.remove(&format!("{cursor_field}:{suffix}"));
            }
            if done {
                job.cursor
                    .insert(format!("{cursor_field}:done"), "1".into());
            }
        })
    }

    async fn pending_page(
        &self,
        id: &str,
        cursor_field: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_job(id, |job| job.pages.get(cursor_field).cloned())
    }

    async fn cursor(&self, id: &str, cursor_field: &str) -> Result<Cursor, StoreError> {
        self.with_job(id, |job| {
            let get = |suffix: &str| job.cursor.get(&format!("{cursor_field}:{suffix}")).cloned();
            let pending = match (get("p_after"), get("p_base"), get("p_len")) {
                (Some(after), Some(base), Some(len)) => {
                    Some((after, base.parse().unwrap_or(0), len.parse().unwrap_or(0)))
                }
                _ => None,
            };
            Cursor {
                after: get("after"),
                pending,
                done: get("done").as_deref() == Some("1"),
            }
        })
    }

    async fn finish_listing(&self, id: &str) -> Result<bool, StoreError> {
        let completed = self.with_job(id, |job| {
            job.listing_done = true;
            job.complete_if_done()
        })?;
        self.flush()?;
        Ok(completed)
    }

    async fn is_recorded(&self, id: &str, seq: u64) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .jobs
            .get(id)
            .is_some_and(|job| job.ledger.contains(&seq)))
    }

    async fn set_last_error(&self, id: &str, seq: u64, error: &str) -> Result<(), StoreError> {
        self.with_job(id, |job| {
            job.lasterr.insert(seq, error.to_string());
        })
    }

    async fn last_error(&self, id: &str, seq: u64) -> Result<Option<String>, StoreError> {
        Ok(self
            .lock()
            .jobs
            .get(id)
            .and_then(|job| job.lasterr.get(&seq).cloned()))
    }

    async fn record_result(
        &self,
        id: &str,
        seq: u64,
        payload: &[u8],
        counters: &Counters,
    ) -> Result<RecordOutcome, StoreError> {
        let (outcome, completed) = {
            let mut state = self.lock();
            let Some(job) = state.jobs.get_mut(id) else {
                return Ok(RecordOutcome::UnknownJob);
            };
            match job.status {
                Some(JobStatus::Cancelled | JobStatus::Failed) => {
                    return Ok(RecordOutcome::JobClosed);
                }
                _ if !job.ledger.insert(seq) => return Ok(RecordOutcome::Duplicate),
                _ => {}
            }
            for (name, delta) in counters.deltas() {
                *job.stats.entry(name.clone()).or_default() += delta;
            }
            job.records.push(payload.to_vec());
            job.lasterr.remove(&seq);
            job.results += 1;
            (RecordOutcome::Recorded, job.complete_if_done())
        };
        if completed {
            self.flush()?;
        }
        Ok(outcome)
    }

    async fn results(
        &self,
        id: &str,
        after: &str,
        count: usize,
    ) -> Result<Vec<(String, trawl_proto::v1::ObjectResult)>, StoreError> {
        let state = self.lock();
        let Some(job) = state.jobs.get(id) else {
            return Ok(Vec::new());
        };
        let start: usize = after
            .rsplit('-')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        job.records
            .iter()
            .enumerate()
            .skip(start)
            .take(count)
            .map(|(i, bytes)| {
                let record =
                    trawl_proto::v1::ObjectResult::decode(bytes.as_slice()).map_err(|e| {
                        StoreError::Corrupt {
                            key: format!("{id} result {i}"),
                            message: e.to_string(),
                        }
                    })?;
                Ok((format!("0-{}", i + 1), record))
            })
            .collect()
    }

    async fn save_review(&self, id: &str, review_json: &str) -> Result<(), StoreError> {
        self.with_job(id, |job| job.review = Some(review_json.to_string()))?;
        self.flush()
    }

    async fn review(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.lock().jobs.get(id).and_then(|job| job.review.clone()))
    }

    async fn defer_task(&self, id: &str, payload: &[u8]) -> Result<(), StoreError> {
        self.with_job(id, |job| job.deferred.push_back(payload.to_vec()))
    }

    async fn take_deferred(&self, id: &str, max: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        self.with_job(id, |job| {
            let n = max.min(job.deferred.len());
            job.deferred.drain(..n).collect()
        })
    }

    async fn set_quota(&self, account: &str, num_bytes: Option<u64>) -> Result<(), StoreError> {
        {
            let mut state = self.lock();
            match num_bytes {
                Some(n) => state.quotas.insert(account.to_string(), n),
                None => state.quotas.remove(account),
            };
        }
        self.flush()
    }

    async fn quota(&self, account: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.lock().quotas.get(account).copied())
    }

    async fn add_usage(
        &self,
        account: &str,
        month: &str,
        num_bytes: u64,
    ) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let used = state.usage.entry(format!("{month}/{account}")).or_default();
        *used += num_bytes;
        Ok(*used)
    }

    async fn usage(&self, account: &str, month: &str) -> Result<u64, StoreError> {
        Ok(self
            .lock()
            .usage
            .get(&format!("{month}/{account}"))
            .copied()
            .unwrap_or(0))
    }

    async fn jobs_in_status(&self, status: JobStatus) -> Result<Vec<String>, StoreError> {
        let state = self.lock();
        let mut jobs: Vec<&MemJob> = state
            .jobs
            .values()
            .filter(|job| job.status == Some(status))
            .collect();
        jobs.sort_by_key(|job| job.created_ms);
        Ok(jobs.into_iter().map(|job| job.id.clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(bytes: i64) -> Counters {
        let mut c = Counters::default();
        c.add("111122223333", "bucket-a", "bytes_classified", bytes);
        c
    }

    #[tokio::test]
    async fn counts_once_completes_and_persists() {
        let dir = std::env::temp_dir().join(format!("trawl-memstore-{}", std::process::id()));
        let path = dir.join("state.json");
        let _ = std::fs::remove_file(&path);
        let store = MemoryStore::open(&path).unwrap();
        store.create_job("j1", "t", "{}", "{}").await.unwrap();
        assert_eq!(
            store
                .claim_pending(Duration::from_millis(1))
                .await
                .unwrap()
                .as_deref(),
            Some("j1")
        );
        assert!(
            store
                .transition("j1", JobStatus::Running, &[JobStatus::Created], None)
                .await
                .unwrap()
        );
        let base = store
            .allocate_page("j1", "b/", "", 2, &Counters::default(), b"page")
            .await
            .unwrap();
        assert_eq!(
            store
                .allocate_page("j1", "b/", "", 2, &Counters::default(), b"page")
                .await
                .unwrap(),
            base
        );
        store.confirm_page("j1", "b/", "k2", true).await.unwrap();
        let record = trawl_proto::v1::ObjectResult {
            key: "k1".into(),
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(
            store
                .record_result("j1", 0, &record, &counters(5))
                .await
                .unwrap(),
            RecordOutcome::Recorded
        );
        assert_eq!(
            store
                .record_result("j1", 0, &record, &counters(5))
                .await
                .unwrap(),
            RecordOutcome::Duplicate
        );
        assert!(!store.finish_listing("j1").await.unwrap());
        assert_eq!(
            store
                .record_result("j1", 1, &record, &counters(7))
                .await
                .unwrap(),
            RecordOutcome::Recorded
        );
        assert_eq!(store.job("j1").await.unwrap().status, JobStatus::Complete);
        assert_eq!(store.stats("j1").await.unwrap()["bytes_classified"], 12);
        let page = store.results("j1", "0", 1).await.unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!(store.results("j1", &page[0].0, 10).await.unwrap().len(), 1);

        let reopened = MemoryStore::open(&path).unwrap();
        let job = reopened.job("j1").await.unwrap();
        assert_eq!(
            (job.status, job.dispatched, job.results),
            (JobStatus::Complete, 2, 2)
        );
        assert_eq!(
            reopened.stats("j1").await.unwrap()["acct:111122223333:bytes_classified"],
            12
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_corrupt_file_is_a_clear_error() {
        let path = std::env::temp_dir().join(format!(
            "trawl-memstore-corrupt-{}.json",
            std::process::id()
        ));
        std::fs::write(&path, b"{not json").unwrap();
        let err = MemoryStore::open(&path).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        let _ = std::fs::remove_file(&path);
    }
}
