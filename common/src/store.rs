//! The Redis data model: job state, counters, the idempotency ledger and the result stream.
//!
//! # Keys
//! Every key of a job carries the job ID as a hash tag (`trawl:{<job>}:…`), so a job's keys live
//! on one Redis Cluster slot and the Lua scripts below may touch them together.
//! - `trawl:jobs` — sorted set of job IDs by creation time.
//! - `trawl:pending:<queue>` — list of submitted job IDs a coordinator of that task queue has
//!   not claimed yet; `trawl:coordinator:<queue>` is the lease of the active coordinator. Both
//!   are per task queue, so separate deployments (or tests) can share one Redis.
//! - `trawl:{J}:job` — hash: `name`, `spec`, `plan`, `status`, `error`, `created_ms`,
//!   `started_ms`, `finished_ms`, `next_seq`, `dispatched`, `results`, `listing_done`.
//! - `trawl:{J}:stats` — hash of counters, each in three scopes: the job (`objects_classified`),
//!   an account (`acct:<id>:objects_classified`) and a bucket (`bucket:<name>:objects_classified`).
//! - `trawl:{J}:ledger` — bitmap, one bit per task sequence number: set once its result is
//!   recorded. One bit per object keeps a billion-object job at 125 MB.
//! - `trawl:{J}:results` — stream of result records (protobuf `ObjectResult` in field `r`).
//! - `trawl:{J}:cursor` — listing checkpoints per (bucket, prefix), so a restarted
//!   coordinator resumes where it stopped without dispatching an object twice into the counts.
//! - `trawl:{J}:lasterr` — last transient error per task still being retried, for the FAILED
//!   record of a task that ends dead-lettered.
//!
//! # Exactly-once counting
//! Delivery is at-least-once. [`Store::record_result`] runs one Lua script that tests and sets
//! the task's ledger bit, adds every counter, appends the result record and, when the last
//! result of a finished listing arrives, marks the job COMPLETE — all or nothing, and a second
//! recording of the same task changes nothing.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};

/// Errors talking to Redis.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis could not be reached within the connect timeout.
    #[error("cannot reach Redis at {url} after {waited_secs} s: {message}")]
    Unreachable {
        /// URL, password redacted.
        url: String,
        /// How long we tried.
        waited_secs: u64,
        /// Last error.
        message: String,
    },
    /// A command failed.
    #[error("redis {operation} failed: {source}")]
    Command {
        /// What we were doing.
        operation: &'static str,
        /// The error.
        source: redis::RedisError,
    },
    /// A stored value is not what it should be.
    #[error("corrupt value in redis at {key}: {message}")]
    Corrupt {
        /// Key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// No such job.
    #[error("no job with ID {0:?}")]
    NoSuchJob(String),
}

impl StoreError {
    /// Returns whether trying again may succeed (connection-level failures).
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Command { source, .. } => {
                source.is_io_error()
                    || source.is_connection_dropped()
                    || source.is_timeout()
                    || source.is_connection_refusal()
            }
            StoreError::Unreachable { .. } => true,
            _ => false,
        }
    }
}

fn command(operation: &'static str) -> impl FnOnce(redis::RedisError) -> StoreError {
    move |source| StoreError::Command { operation, source }
}

/// Status of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    /// Submitted, not yet claimed by a coordinator.
    Created,
    /// Dispatching and/or classifying.
    Running,
    /// Paused by a user.
    UserPaused,
    /// Paused because an account's monthly byte quota was reached.
    Paused,
    /// Cancelled by a user: remaining tasks are dropped uncounted.
    Cancelled,
    /// Every dispatched task has a result.
    Complete,
    /// The job could not run (a bad bucket, an unreachable account, …); `error` says why.
    Failed,
}

impl JobStatus {
    /// Returns the status as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Created => "CREATED",
            JobStatus::Running => "RUNNING",
            JobStatus::UserPaused => "USER_PAUSED",
            JobStatus::Paused => "PAUSED",
            JobStatus::Cancelled => "CANCELLED",
            JobStatus::Complete => "COMPLETE",
            JobStatus::Failed => "FAILED",
        }
    }

    /// Parses a stored status.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "CREATED" => JobStatus::Created,
            "RUNNING" => JobStatus::Running,
            "USER_PAUSED" => JobStatus::UserPaused,
            "PAUSED" => JobStatus::Paused,
            "CANCELLED" => JobStatus::Cancelled,
            "COMPLETE" => JobStatus::Complete,
            "FAILED" => JobStatus::Failed,
            _ => return None,
        })
    }

    /// Returns whether the job will not change any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Cancelled | JobStatus::Complete | JobStatus::Failed
        )
    }
}

/// A job's state as stored.
#[derive(Debug, Clone, Serialize)]
pub struct JobInfo {
    /// Job ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Status.
    pub status: JobStatus,
    /// Why the job failed, when it did.
    pub error: Option<String>,
    /// Creation time (unix ms).
    pub created_ms: i64,
    /// When a coordinator started it (unix ms), 0 if not yet.
    pub started_ms: i64,
    /// When it reached a terminal status (unix ms), 0 if not yet.
    pub finished_ms: i64,
    /// Tasks dispatched so far.
    pub dispatched: u64,
    /// Results recorded so far.
    pub results: u64,
    /// Whether every selected bucket has been listed completely.
    pub listing_done: bool,
    /// The validated plan (JSON of `JobPlan`).
    #[serde(skip)]
    pub plan_json: String,
}

/// A listing checkpoint for one (bucket, prefix).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// Last key whose task is confirmed on the queue; listing resumes after it.
    pub after: Option<String>,
    /// A page whose sequence numbers were allocated but not all confirmed: its first key's
    /// predecessor, first sequence number and length. On resume it is published again with the
    /// same numbers, so the ledger absorbs any duplicate.
    pub pending: Option<(String, u64, u64)>,
    /// Whether this prefix is fully listed.
    pub done: bool,
}

const RECORD_LUA: &str = r#"
-- KEYS: job, stats, ledger, results, lasterr
-- ARGV: seq, payload, now_ms, then counter name/delta pairs
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return -2 end
if status == 'CANCELLED' or status == 'FAILED' then return -1 end
if redis.call('SETBIT', KEYS[3], ARGV[1], 1) == 1 then return 0 end
for i = 4, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call('XADD', KEYS[4], '*', 'r', ARGV[2])
redis.call('HDEL', KEYS[5], ARGV[1])
local results = redis.call('HINCRBY', KEYS[1], 'results', 1)
if status == 'RUNNING' and redis.call('HGET', KEYS[1], 'listing_done') == '1'
   and results >= tonumber(redis.call('HGET', KEYS[1], 'dispatched') or '0') then
  redis.call('HSET', KEYS[1], 'status', 'COMPLETE', 'finished_ms', ARGV[3])
end
return 1
"#;

const ALLOCATE_LUA: &str = r#"
-- KEYS: job, stats, cursor
-- ARGV: cursor field, page start (key after which the page starts), n, page checkpoint,
--       then counter pairs
local f = ARGV[1]
local pending_after = redis.call('HGET', KEYS[3], f .. ':p_after')
if pending_after and pending_after == ARGV[2]
   and redis.call('HGET', KEYS[3], f .. ':p_len') == ARGV[3] then
  return tonumber(redis.call('HGET', KEYS[3], f .. ':p_base'))
end
local n = tonumber(ARGV[3])
local base = redis.call('HINCRBY', KEYS[1], 'next_seq', n) - n
redis.call('HINCRBY', KEYS[1], 'dispatched', n)
for i = 5, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[3], f .. ':p_after', ARGV[2], f .. ':p_base', base, f .. ':p_len', n,
  f .. ':p_page', ARGV[4])
return base
"#;

const COMPLETE_IF_DONE_LUA: &str = r#"
-- KEYS: job; ARGV: now_ms. Marks the listing finished and completes the job if every result is in.
redis.call('HSET', KEYS[1], 'listing_done', '1')
local status = redis.call('HGET', KEYS[1], 'status')
local results = tonumber(redis.call('HGET', KEYS[1], 'results') or '0')
local dispatched = tonumber(redis.call('HGET', KEYS[1], 'dispatched') or '0')
if status == 'RUNNING' and results >= dispatched then
  redis.call('HSET', KEYS[1], 'status', 'COMPLETE', 'finished_ms', ARGV[1])
  return 1
end
return 0
"#;

const SET_STATUS_LUA: &str = r#"
-- KEYS: job; ARGV: new status, now_ms, error, allowed-from statuses...
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return -2 end
for i = 4, #ARGV do
  if status == ARGV[i] then
    redis.call('HSET', KEYS[1], 'status', ARGV[1])
    if ARGV[1] == 'RUNNING' and not redis.call('HGET', KEYS[1], 'started_ms') then
      redis.call('HSET', KEYS[1], 'started_ms', ARGV[2])
    end
    if ARGV[1] == 'COMPLETE' or ARGV[1] == 'FAILED' or ARGV[1] == 'CANCELLED' then
      redis.call('HSET', KEYS[1], 'finished_ms', ARGV[2])
    end
    if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[3]) end
    return 1
  end
end
return 0
"#;

/// Keys of one job.
#[derive(Debug, Clone)]
pub struct JobKeys {
    /// Job hash.
    pub job: String,
    /// Counters.
    pub stats: String,
    /// Idempotency ledger.
    pub ledger: String,
    /// Result stream.
    pub results: String,
    /// Listing checkpoints.
    pub cursor: String,
    /// Last errors of tasks being retried.
    pub lasterr: String,
}

impl JobKeys {
    /// Returns the keys of job `id`.
    pub fn new(id: &str) -> Self {
        Self {
            job: format!("trawl:{{{id}}}:job"),
            stats: format!("trawl:{{{id}}}:stats"),
            ledger: format!("trawl:{{{id}}}:ledger"),
            results: format!("trawl:{{{id}}}:results"),
            cursor: format!("trawl:{{{id}}}:cursor"),
            lasterr: format!("trawl:{{{id}}}:lasterr"),
        }
    }
}

const JOBS_KEY: &str = "trawl:jobs";

/// Outcome of recording a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Recorded and counted.
    Recorded,
    /// This task's result was already recorded: nothing changed.
    Duplicate,
    /// The job is cancelled or failed: dropped uncounted.
    JobClosed,
    /// The job does not exist.
    UnknownJob,
}

/// Counter increments for one result, expanded into the job, account and bucket scopes.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    deltas: BTreeMap<String, i64>,
}

impl Counters {
    /// Adds `delta` to `name` in every scope.
    pub fn add(&mut self, account: &str, bucket: &str, name: &str, delta: i64) {
        if delta == 0 {
            return;
        }
        for scoped in [
            name.to_string(),
            format!("acct:{account}:{name}"),
            format!("bucket:{bucket}:{name}"),
        ] {
            *self.deltas.entry(scoped).or_default() += delta;
        }
    }

    /// Returns the increments, one per scoped counter.
    pub fn deltas(&self) -> &BTreeMap<String, i64> {
        &self.deltas
    }
}

/// Job state, counters, the idempotency ledger and the result stream, with the semantics the
/// module docs describe. [`RedisStore`] is the distributed implementation; [`MemoryStore`] the
/// embedded one (in-process, persisted to a file). Each method is one atomic step.
pub trait JobStore: Clone + Send + Sync + 'static {
    /// Creates a job in CREATED state and queues it for a coordinator.
    fn create_job(
        &self,
        id: &str,
        name: &str,
        spec_json: &str,
        plan_json: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Waits up to `timeout` for a submitted job and claims it.
    fn claim_pending(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// Puts a claimed job back at the head of the pending list.
    fn requeue_pending(&self, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Takes or renews the coordinator lease for `holder`; returns whether it holds it.
    fn hold_coordinator_lease(
        &self,
        holder: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Gives up the coordinator lease if `holder` holds it.
    fn release_coordinator_lease(
        &self,
        holder: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Returns whether some coordinator currently holds the lease.
    fn coordinator_alive(&self) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Moves a job to `status` if it is in one of `from`; returns whether it moved.
    fn transition(
        &self,
        id: &str,
        status: JobStatus,
        from: &[JobStatus],
        error: Option<&str>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Returns the job's state.
    fn job(&self, id: &str) -> impl Future<Output = Result<JobInfo, StoreError>> + Send;
    /// Returns a job's status alone (`None` if there is no such job).
    fn job_status(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<JobStatus>, StoreError>> + Send;
    /// Returns the most recent jobs, newest first.
    fn list_jobs(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<JobInfo>, StoreError>> + Send;
    /// Returns every counter of a job.
    fn stats(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<BTreeMap<String, i64>, StoreError>> + Send;
    /// Allocates sequence numbers for a listed page of `n` objects starting after `page_after`
    /// (or returns those allocated before a restart) and counts them as dispatched. `page` is
    /// the page's checkpoint (an encoded `PageCheckpoint`), kept until the page is confirmed.
    #[allow(clippy::too_many_arguments)]
    fn allocate_page(
        &self,
        id: &str,
        cursor_field: &str,
        page_after: &str,
        n: u64,
        counters: &Counters,
        page: &[u8],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Returns the checkpoint of the pending page of one (bucket, prefix), if any.
    fn pending_page(
        &self,
        id: &str,
        cursor_field: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;
    /// Records that every task of the pending page is confirmed on the queue.
    fn confirm_page(
        &self,
        id: &str,
        cursor_field: &str,
        last_key: &str,
        done: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Returns the listing checkpoint of one (bucket, prefix).
    fn cursor(
        &self,
        id: &str,
        cursor_field: &str,
    ) -> impl Future<Output = Result<Cursor, StoreError>> + Send;
    /// Marks the job's listing finished; completes the job when every result is already in.
    fn finish_listing(&self, id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Returns whether the result of task `seq` is already recorded.
    fn is_recorded(
        &self,
        id: &str,
        seq: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Remembers the last transient error of a task still being retried.
    fn set_last_error(
        &self,
        id: &str,
        seq: u64,
        error: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Returns the last transient error of a task.
    fn last_error(
        &self,
        id: &str,
        seq: u64,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// Records one task's result and counters atomically and idempotently.
    fn record_result(
        &self,
        id: &str,
        seq: u64,
        payload: &[u8],
        counters: &Counters,
    ) -> impl Future<Output = Result<RecordOutcome, StoreError>> + Send;
    /// Reads up to `count` result records after stream ID `after` ("0" for the start).
    fn results(
        &self,
        id: &str,
        after: &str,
        count: usize,
    ) -> impl Future<Output = Result<Vec<(String, trawl_proto::v1::ObjectResult)>, StoreError>> + Send;
    /// Stores the review (estimate figures, JSON) the job was started from.
    fn save_review(
        &self,
        id: &str,
        review_json: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Returns the stored review of a job, if it was started from one.
    fn review(&self, id: &str) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// Sets a task of a paused job aside (the worker acks it); resuming publishes it again.
    fn defer_task(
        &self,
        id: &str,
        payload: &[u8],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Takes up to `max` deferred tasks of a job.
    fn take_deferred(
        &self,
        id: &str,
        max: usize,
    ) -> impl Future<Output = Result<Vec<Vec<u8>>, StoreError>> + Send;
    /// Sets (or with `None` removes) an account's monthly quota of classified bytes.
    fn set_quota(
        &self,
        account: &str,
        num_bytes: Option<u64>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Returns an account's monthly quota of classified bytes, if any.
    fn quota(&self, account: &str) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;
    /// Adds classified bytes to an account's usage in `month` (`YYYY-MM`); returns the total.
    fn add_usage(
        &self,
        account: &str,
        month: &str,
        num_bytes: u64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Returns an account's classified bytes in `month`.
    fn usage(
        &self,
        account: &str,
        month: &str,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Returns IDs of this queue's jobs in `status`, oldest first.
    fn jobs_in_status(
        &self,
        status: JobStatus,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
}

pub use crate::memstore::MemoryStore;

/// The Redis implementation of [`JobStore`]. Cheap to clone; reconnects on its own.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    /// Task queue this handle submits to and coordinates: jobs are scoped to one queue, so
    /// several deployments (or tests) can share a Redis without resuming each other's jobs.
    queue: String,
    pending_key: String,
    lease_key: String,
    record: Script,
    allocate: Script,
    complete_if_done: Script,
    set_status: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to Redis, retrying until `timeout`; the error names the URL (password redacted).
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        let unreachable = |started: Instant, message: String| StoreError::Unreachable {
            url: crate::redact_url(url),
            waited_secs: started.elapsed().as_secs(),
            message,
        };
        let started = Instant::now();
        let client = redis::Client::open(url).map_err(|e| unreachable(started, e.to_string()))?;
        let params = crate::retry::RetryParams {
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(3),
            max_attempts: u32::MAX,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(5)))
                .set_response_timeout(Some(Duration::from_secs(30)))
                .set_number_of_retries(6)
                .set_max_delay(Duration::from_secs(2));
            match ConnectionManager::new_with_config(client.clone(), config).await {
                Ok(conn) => {
                    return Ok(Self {
                        conn,
                        queue: crate::config::DEFAULT_TASK_QUEUE.to_string(),
                        pending_key: format!("trawl:pending:{}", crate::config::DEFAULT_TASK_QUEUE),
                        lease_key: format!(
                            "trawl:coordinator:{}",
                            crate::config::DEFAULT_TASK_QUEUE
                        ),
                        record: Script::new(RECORD_LUA),
                        allocate: Script::new(ALLOCATE_LUA),
                        complete_if_done: Script::new(COMPLETE_IF_DONE_LUA),
                        set_status: Script::new(SET_STATUS_LUA),
                    });
                }
                Err(error) => {
                    let delay = params.delay(attempt);
                    if started.elapsed() + delay >= timeout {
                        return Err(unreachable(started, error.to_string()));
                    }
                    tracing::warn!(url = %crate::redact_url(url), attempt, error = %error, "redis not reachable yet, retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Scopes job submission and the coordinator lease to the task queue `queue`.
    pub fn for_queue(mut self, queue: &str) -> Self {
        self.queue = queue.to_string();
        self.pending_key = format!("trawl:pending:{queue}");
        self.lease_key = format!("trawl:coordinator:{queue}");
        self
    }

    /// Returns a connection for ad-hoc commands (tests, tools).
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }
}

impl JobStore for RedisStore {
    /// Creates a job in CREATED state and queues it for a coordinator.
    async fn create_job(
        &self,
        id: &str,
        name: &str,
        spec_json: &str,
        plan_json: &str,
    ) -> Result<(), StoreError> {
        let keys = JobKeys::new(id);
        let now = crate::now_ms();
        let mut conn = self.conn.clone();
        redis::pipe()
            .atomic()
            .hset_multiple(
                &keys.job,
                &[
                    ("id", id),
                    ("name", name),
                    ("spec", spec_json),
                    ("plan", plan_json),
                    ("status", JobStatus::Created.as_str()),
                    ("created_ms", &now.to_string()),
                    ("next_seq", "0"),
                    ("dispatched", "0"),
                    ("results", "0"),
                    ("listing_done", "0"),
                    ("queue", self.queue.as_str()),
                ],
            )
            .ignore()
            .zadd(JOBS_KEY, id, now)
            .ignore()
            .lpush(&self.pending_key, id)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(command("create job"))
    }

    /// Waits up to `timeout` for a submitted job and claims it.
    ///
    /// Polls with RPOP rather than BRPOP: a blocking command would stall every other command
    /// multiplexed on this connection for its whole timeout.
    async fn claim_pending(&self, timeout: Duration) -> Result<Option<String>, StoreError> {
        let deadline = Instant::now() + timeout;
        let mut conn = self.conn.clone();
        loop {
            let popped: Option<String> = conn
                .rpop(&self.pending_key, None)
                .await
                .map_err(command("claim pending job"))?;
            if popped.is_some() || Instant::now() >= deadline {
                return Ok(popped);
            }
            tokio::time::sleep(Duration::from_millis(100).min(deadline - Instant::now())).await;
        }
    }

    /// Puts a claimed job back at the head of the pending list (a coordinator shutting down).
    async fn requeue_pending(&self, id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        conn.rpush::<_, _, ()>(&self.pending_key, id)
            .await
            .map_err(command("requeue job"))
    }

    /// Takes or renews the coordinator lease for `holder`; returns whether it holds it.
    async fn hold_coordinator_lease(
        &self,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let ttl_ms = ttl.as_millis() as u64;
        let script = Script::new(
            r#"local cur = redis.call('GET', KEYS[1])
               if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
               if not cur then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
               return 0"#,
        );
        let held: i64 = script
            .key(&self.lease_key)
            .arg(holder)
            .arg(ttl_ms)
            .invoke_async(&mut conn)
            .await
            .map_err(command("coordinator lease"))?;
        Ok(held == 1)
    }

    /// Gives up the coordinator lease if `holder` holds it, so a standby takes over at once.
    async fn release_coordinator_lease(&self, holder: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end return 0",
        )
        .key(&self.lease_key)
        .arg(holder)
        .invoke_async::<i64>(&mut conn)
        .await
        .map_err(command("release coordinator lease"))?;
        Ok(())
    }

    /// Returns whether some coordinator currently holds the lease.
    async fn coordinator_alive(&self) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        conn.exists(&self.lease_key)
            .await
            .map_err(command("coordinator lease"))
    }

    /// Moves a job to `status` if it is in one of `from`; returns whether it moved.
    async fn transition(
        &self,
        id: &str,
        status: JobStatus,
        from: &[JobStatus],
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let keys = JobKeys::new(id);
        let mut conn = self.conn.clone();
        let mut invocation = self.set_status.key(&keys.job);
        invocation
            .arg(status.as_str())
            .arg(crate::now_ms())
            .arg(error.unwrap_or(""));
        for s in from {
            invocation.arg(s.as_str());
        }
        let moved: i64 = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(command("set job status"))?;
        match moved {
            -2 => Err(StoreError::NoSuchJob(id.to_string())),
            n => Ok(n == 1),
        }
    }

    /// Returns the job's state.
    async fn job(&self, id: &str) -> Result<JobInfo, StoreError> {
        let keys = JobKeys::new(id);
        let mut conn = self.conn.clone();
        let fields: BTreeMap<String, String> =
            conn.hgetall(&keys.job).await.map_err(command("read job"))?;
        if fields.is_empty() {
            return Err(StoreError::NoSuchJob(id.to_string()));
        }
        let num = |name: &str| {
            fields
                .get(name)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let status_text = fields.get("status").map(String::as_str).unwrap_or("");
        let status = JobStatus::parse(status_text).ok_or_else(|| StoreError::Corrupt {
            key: keys.job.clone(),
            message: format!("unknown status {status_text:?}"),
        })?;
        Ok(JobInfo {
            id: id.to_string(),
            name: fields.get("name").cloned().unwrap_or_default(),
            status,
            error: fields.get("error").cloned().filter(|e| !e.is_empty()),
            created_ms: num("created_ms"),
            started_ms: num("started_ms"),
            finished_ms: num("finished_ms"),
            dispatched: num("dispatched") as u64,
            results: num("results") as u64,
            listing_done: fields.get("listing_done").is_some_and(|v| v == "1"),
            plan_json: fields.get("plan").cloned().unwrap_or_default(),
        })
    }

    /// Returns a job's status alone (cheap; workers poll it to drop cancelled jobs' tasks).
    async fn job_status(&self, id: &str) -> Result<Option<JobStatus>, StoreError> {
        let keys = JobKeys::new(id);
        let mut conn = self.conn.clone();
        let status: Option<String> = conn
            .hget(&keys.job, "status")
            .await
            .map_err(command("read job status"))?;
        Ok(status.as_deref().and_then(JobStatus::parse))
    }

    /// Returns the most recent jobs, newest first.
    async fn list_jobs(&self, limit: usize) -> Result<Vec<JobInfo>, StoreError> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = conn
            .zrevrange(JOBS_KEY, 0, limit.saturating_sub(1) as isize)
            .await
            .map_err(command("list jobs"))?;
        let mut jobs = Vec::with_capacity(ids.len());
        for id in ids {
            match self.job(&id).await {
                Ok(job) => jobs.push(job),
                Err(StoreError::NoSuchJob(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(jobs)
    }

    /// Returns every counter of a job.
    async fn stats(&self, id: &str) -> Result<BTreeMap<String, i64>, StoreError> {
        let keys = JobKeys::new(id);
        let mut conn = self.conn.clone();
        conn.hgetall(&keys.stats)
            .await
            .map_err(command("read stats"))
    }

    /// Allocates sequence numbers for a listed page of `n` objects starting after `page_after`
    /// (or returns the ones allocated before a restart) and counts them as dispatched.
    async fn allocate_page(
        &self,
        id: &str,
        cursor_field: &str,
        page_after: &str,
        n: u64,
        counters: &Counters,
        page: &[u8],
    ) -> Result<u64, StoreError> {
        let keys = JobKeys::new(id);
        let mut conn = self.conn.clone();
        let mut invocation = self.allocate.key(&keys.job);
        invocation
            .key(&keys.stats)
            .key(&keys.cursor)
            .arg(cursor_field)
            .arg(page_after)
            .arg(n)
            .arg(page);
        for (name, delta) in counters.deltas() {
            invocation.arg(name).arg(*delta);
        }
        invocation
            .invoke_async(&mut conn)
            .await
            .map_err(command("allocate page"))
    }

    /// Records that every task of the pending page is confirmed on the queue.
    async fn confirm_page(
        &self,
        id: &str,
        cursor_field: &str,
        last_key: &str,
        done: bool,
    ) -> Result<(), StoreError> {
        let keys = JobKeys::new(id);
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset(&keys.cursor, format!("{cursor_field}:after"), last_key)
            .ignore()
            .hdel(
                &keys.cursor,
                &[
                    format!("{cursor_field}:p_after"),
                    format!("{cursor_field}:p_base"),
                    format!("{cursor_field}:p_len"),
                    format!("{cursor_field}:p_page"),
                ],
            )
            .ignore();
        if done {
            pipe.hset(&keys.cursor, format!("{cursor_field}:done"), "1")
                .ignore();
        }
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(command("confirm page"))
    }

    async fn pending_page(
        &self,
        id: &str,
        cursor_field: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let keys = JobKeys::new(id);
        let mut conn = self.conn.clone();
        conn.hget(&keys.cursor, format!("{cursor_field}:p_page"))
            .await
            .map_err(command("read pending page"))
    }

    /// Returns the listing checkpoint of one (bucket, prefix).
    async fn cursor(&self, id: &str, cursor_field: &str) -> Result<Cursor, StoreError> {
        let keys = JobKeys::new(id);
        let mut conn = self.conn.clone();
        let values: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&keys.cursor)
            .arg(format!("{cursor_field}:after"))
            .arg(format!("{cursor_field}:p_after"))
            .arg(format!("{cursor_field}:p_base"))
            .arg(format!("{cursor_field}:p_len"))
            .arg(format!("{cursor_field}:done"))
            .query_async(&mut conn)
            .await
            .map_err(command("read cursor"))?;
        let pending = match (&values[1], &values[2], &values[3]) {
            (Some(after), Some(base), Some(len)) => Some((
                after.clone(),
                base.parse().unwrap_or(0),
                len.parse().unwrap_or(0),
            )),
            _ => None,
        };
        Ok(Cursor {
            after: values[0].clone(),
            pending,
            done: values[4].as_deref() == Some("1"),
        })
    }

    /// Marks the job's listing finished; completes the job when every result is already in.
    async fn finish_listing(&self, id: &str) -> Result<bool, StoreError> {
        let keys = JobKeys::new(id);
        let mut conn = self.conn.clone();
        let completed: i64 = self
            .complete_if_done
            .key(&keys.job)
            .arg(crate::now_ms())
            .invoke_async(&mut conn)
            .await
            .map_err(command("finish listing"))?;
        Ok(completed == 1)
    }

    /// Returns whether the result of task `seq` is already recorded.
    async fn is_recorded(&self, id: &str, seq: u64) -> Result<bool, StoreError> {
        let keys = JobKeys::new(id);
        let mut conn = self.conn.clone();
        conn.getbit(&keys.ledger, seq as usize)
            .await
            .map_err(command("read ledger"))
    }

    /// Remembers the last transient error of a task still being retried.
    async fn set_last_error(&self, id: &str, seq: u64, error: &str) -> Result<(), StoreError> {
        let keys = JobKeys::new(id);
        let mut conn = self.conn.clone();
        conn.hset::<_, _, _, ()>(&keys.lasterr, seq, error)
            .await
            .map_err(command("write last error"))
    }

    /// Returns the last transient error of a task.
    async fn last_error(&self, id: &str, seq: u64) -> Result<Option<String>, StoreError> {
        let keys = JobKeys::new(id);
        let mut conn = self.conn.clone();
        conn.hget(&keys.lasterr, seq)
            .await
            .map_err(command("read last error"))
    }

    /// Records one task's result and counters atomically and idempotently.
    async fn record_result(
        &self,
        id: &str,
        seq: u64,
        payload: &[u8],
        counters: &Counters,
    ) -> Result<RecordOutcome, StoreError> {
        let keys = JobKeys::new(id);
        let mut conn = self.conn.clone();
        let mut invocation = self.record.key(&keys.job);
        invocation
            .key(&keys.stats)
            .key(&keys.ledger)
            .key(&keys.results)
            .key(&keys.lasterr)
            .arg(seq)
            .arg(payload)
            .arg(crate::now_ms());
        for (name, delta) in counters.deltas() {
            invocation.arg(name).arg(*delta);
        }
        let outcome: i64 = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(command("record result"))?;
        Ok(match outcome {
            1 => RecordOutcome::Recorded,
            0 => RecordOutcome::Duplicate,
            -1 => RecordOutcome::JobClosed,
            _ => RecordOutcome::UnknownJob,
        })
    }

    /// Reads up to `count` result records after stream ID `after` ("0" for the start).
    /// Returns the records with their stream IDs.
    async fn results(
        &self,
        id: &str,
        after: &str,
        count: usize,
    ) -> Result<Vec<(String, trawl_proto::v1::ObjectResult)>, StoreError> {
        use trawl_proto::Message;
        let keys = JobKeys::new(id);
        let mut conn = self.conn.clone();
        let start = if after == "0" {
            "-".to_string()
        } else {
            format!("({after}")
        };
        let reply: redis::streams::StreamRangeReply = conn
            .xrange_count(&keys.results, start, "+", count)
            .await
            .map_err(command("read results"))?;
        let mut out = Vec::with_capacity(reply.ids.len());
        for entry in reply.ids {
            let bytes: Vec<u8> = entry.get("r").unwrap_or_default();
            let record = trawl_proto::v1::ObjectResult::decode(bytes.as_slice()).map_err(|e| {
                StoreError::Corrupt {
                    key: format!("{} {}", keys.results, entry.id),
                    message: e.to_string(),
                }
            })?;
            out.push((entry.id, record));
        }
        Ok(out)
    }

    /// Returns IDs of jobs in `status`, oldest first.
    async fn save_review(&self, id: &str, review_json: &str) -> Result<(), StoreError> {
        let keys = JobKeys::new(id);
        let mut conn = self.conn.clone();
        conn.hset::<_, _, _, ()>(&keys.job, "review", review_json)
            .await
            .map_err(command("save review"))
    }

    async fn review(&self, id: &str) -> Result<Option<String>, StoreError> {
        let keys = JobKeys::new(id);
        let mut conn = self.conn.clone();
        conn.hget(&keys.job, "review")
            .await
            .map_err(command("read review"))
    }

    async fn defer_task(&self, id: &str, payload: &[u8]) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        conn.rpush::<_, _, ()>(format!("trawl:{{{id}}}:deferred"), payload)
            .await
            .map_err(command("defer task"))
    }

    async fn take_deferred(&self, id: &str, max: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut conn = self.conn.clone();
        let Some(count) = std::num::NonZeroUsize::new(max) else {
            return Ok(Vec::new());
        };
        let taken: Option<Vec<Vec<u8>>> = conn
            .lpop(format!("trawl:{{{id}}}:deferred"), Some(count))
            .await
            .map_err(command("take deferred tasks"))?;
        Ok(taken.unwrap_or_default())
    }

    async fn set_quota(&self, account: &str, num_bytes: Option<u64>) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        match num_bytes {
            Some(n) => conn.hset::<_, _, _, ()>("trawl:quotas", account, n).await,
            None => conn.hdel::<_, _, ()>("trawl:quotas", account).await,
        }
        .map_err(command("set quota"))
    }

    async fn quota(&self, account: &str) -> Result<Option<u64>, StoreError> {
        let mut conn = self.conn.clone();
        conn.hget("trawl:quotas", account)
            .await
            .map_err(command("read quota"))
    }

    async fn add_usage(
        &self,
        account: &str,
        month: &str,
        num_bytes: u64,
    ) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        conn.hincr(format!("trawl:usage:{month}"), account, num_bytes)
            .await
            .map_err(command("add usage"))
    }

    async fn usage(&self, account: &str, month: &str) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        let used: Option<u64> = conn
            .hget(format!("trawl:usage:{month}"), account)
            .await
            .map_err(command("read usage"))?;
        Ok(used.unwrap_or(0))
    }

    async fn jobs_in_status(&self, status: JobStatus) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = conn
            .zrange(JOBS_KEY, 0, -1)
            .await
            .map_err(command("list jobs"))?;
        let mut out = Vec::new();
        for id in ids {
            let keys = JobKeys::new(&id);
            let (status_text, queue): (Option<String>, Option<String>) = redis::cmd("HMGET")
                .arg(&keys.job)
                .arg("status")
                .arg("queue")
                .query_async(&mut conn)
                .await
                .map_err(command("read job status"))?;
            if status_text.as_deref() == Some(status.as_str())
                && queue.as_deref() == Some(self.queue.as_str())
            {
                out.push(id);
            }
        }
        Ok(out)
    }
}

/// Returns a new job ID: time-ordered and unique (`j-<base36 ms>-<random>`).
pub fn new_job_id() -> String {
    let mut ms = crate::now_ms() as u64;
    let mut digits = Vec::new();
    while ms > 0 {
        digits.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(ms % 36) as usize]);
        ms /= 36;
    }
    digits.reverse();
    let suffix: String = (0..6)
        .map(|_| fastrand::alphanumeric().to_ascii_lowercase())
        .collect();
    format!("j-{}-{suffix}", String::from_utf8_lossy(&digits))
}
