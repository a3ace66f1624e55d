//! Accounts and S3 resources: what a user has integrated and selected, persisted in Redis
//! (distributed) or in a JSON file (embedded), behind [`StateStore`].

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use crate::store::{RedisStore, StoreError};

/// How far an account's AssumeRole handshake has been checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountStatus {
    /// Added, never verified.
    Unverified,
    /// AssumeRole (with the external ID) and ListBuckets succeeded.
    Verified,
    /// Verification failed; `error` says why.
    Failed,
}

/// A member account integrated by the administrator (master) account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// 12-digit account ID.
    pub id: String,
    /// Role assumed in the account.
    pub role_name: String,
    /// External ID presented with AssumeRole.
    pub external_id: Option<String>,
    /// Verification status.
    pub status: AccountStatus,
    /// The AWS error of a failed verification.
    pub error: Option<String>,
    /// Buckets the role could list at the last verification.
    pub num_buckets: Option<u64>,
    /// When it was added and last verified (unix ms).
    pub added_ms: i64,
    /// Last verification (unix ms), 0 if never.
    pub verified_ms: i64,
}

/// How existing objects of a selection are classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Classification {
    /// Every existing object, once (the default).
    #[default]
    Full,
    /// No existing object (only scheduled runs classify new ones).
    None,
}

/// How often a scheduled run classifies objects created or changed since the previous run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Schedule {
    /// Every day.
    Daily,
    /// Every week.
    Weekly,
    /// Every 30 days.
    Monthly,
}

impl Schedule {
    /// Returns the period in milliseconds.
    pub fn period_ms(self) -> i64 {
        const DAY: i64 = 24 * 3600 * 1000;
        match self {
            Schedule::Daily => DAY,
            Schedule::Weekly => 7 * DAY,
            Schedule::Monthly => 30 * DAY,
        }
    }
}

/// A bucket (and optionally prefixes) selected for classification in one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// 12-digit account ID (the master or a member).
    pub account: String,
    /// Bucket name.
    pub bucket: String,
    /// Prefixes; empty means the whole bucket.
    pub prefixes: Vec<String>,
    /// Classification of existing objects.
    pub classification: Classification,
    /// Continuous classification, if any.
    pub schedule: Option<Schedule>,
    /// Start of the last scheduled run (unix ms); the next run classifies objects modified since.
    pub last_run_ms: Option<i64>,
    /// When it was added (unix ms).
    pub added_ms: i64,
}

impl Resource {
    /// Returns the key of the resource: `<account>/<bucket>`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.account, self.bucket)
    }
}

/// Accounts and resources.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Member accounts by ID.
    pub accounts: BTreeMap<String, Account>,
    /// Resources by `<account>/<bucket>`.
    pub resources: BTreeMap<String, Resource>,
}

/// Where accounts and resources persist.
pub trait StateStore: Clone + Send + Sync + 'static {
    /// Loads the whole state.
    fn load_state(&self) -> impl Future<Output = Result<State, StoreError>> + Send;
    /// Stores or replaces an account.
    fn put_account(&self, account: &Account)
    -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Removes an account; returns whether it existed.
    fn remove_account(&self, id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Stores or replaces a resource.
    fn put_resource(
        &self,
        resource: &Resource,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Removes a resource; returns whether it existed.
    fn remove_resource(
        &self,
        account: &str,
        bucket: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Changes a stored resource in one atomic step: `change` gets the resource as stored and
    /// returns whether to write it back changed. Nothing written meanwhile (a scheduled run's
    /// claim by another coordinator, another edit) is overwritten: on such a race `change`
    /// runs again on the newer resource. Returns the resource before and after the change, or
    /// `None` if it does not exist or `change` declined.
    fn update_resource<F>(
        &self,
        account: &str,
        bucket: &str,
        change: F,
    ) -> impl Future<Output = Result<Option<(Resource, Resource)>, StoreError>> + Send
    where
        F: FnMut(&mut Resource) -> bool + Send;
    /// Sets the resource's `last_run_ms` to `to` if it is still `from`, changing nothing else
    /// (an edit made meanwhile stays), as one atomic step: of several coordinators (or a
    /// coordinator and `trawl schedules run`) that saw the same due run, exactly one claims
    /// it. Returns the resource as stored before the change, or `None` if its last run is no
    /// longer `from` or the resource is gone.
    fn swap_last_run(
        &self,
        account: &str,
        bucket: &str,
        from: Option<i64>,
        to: Option<i64>,
    ) -> impl Future<Output = Result<Option<Resource>, StoreError>> + Send {
        async move {
            let swapped = self
                .update_resource(account, bucket, |r| {
                    if r.last_run_ms != from {
                        return false;
                    }
                    r.last_run_ms = to;
                    true
                })
                .await?;
            Ok(swapped.map(|(before, _)| before))
        }
    }
}

const ACCOUNTS_KEY: &str = "trawl:accounts";
const RESOURCES_KEY: &str = "trawl:resources";

fn corrupt(key: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        key: key.to_string(),
        message: e.to_string(),
    }
}

fn command(operation: &'static str) -> impl FnOnce(redis::RedisError) -> StoreError {
    move |source| StoreError::Command { operation, source }
}

impl StateStore for RedisStore {
    async fn load_state(&self) -> Result<State, StoreError> {
        let mut conn = self.connection();
        let accounts: BTreeMap<String, String> = conn
            .hgetall(ACCOUNTS_KEY)
            .await
            .map_err(command("read accounts"))?;
        let resources: BTreeMap<String, String> = conn
            .hgetall(RESOURCES_KEY)
            .await
            .map_err(command("read resources"))?;
        let mut state = State::default();
        for (id, json) in accounts {
            state.accounts.insert(
                id,
                serde_json::from_str(&json).map_err(|e| corrupt(ACCOUNTS_KEY, e))?,
            );
        }
        for (key, json) in resources {
            state.resources.insert(
                key,
                serde_json::from_str(&json).map_err(|e| corrupt(RESOURCES_KEY, e))?,
            );
        }
        Ok(state)
    }

    async fn put_account(&self, account: &Account) -> Result<(), StoreError> {
        let json = serde_json::to_string(account).expect("an account should serialise");
        self.connection()
            .hset::<_, _, _, ()>(ACCOUNTS_KEY, &account.id, json)
            .await
            .map_err(command("write account"))
    }

    async fn remove_account(&self, id: &str) -> Result<bool, StoreError> {
        let removed: i64 = self
            .connection()
            .hdel(ACCOUNTS_KEY, id)
            .await
            .map_err(command("remove account"))?;
        Ok(removed > 0)
    }

    async fn put_resource(&self, resource: &Resource) -> Result<(), StoreError> {
        let json = serde_json::to_string(resource).expect("a resource should serialise");
        self.connection()
            .hset::<_, _, _, ()>(RESOURCES_KEY, resource.key(), json)
            .await
            .map_err(command("write resource"))
    }

    async fn remove_resource(&self, account: &str, bucket: &str) -> Result<bool, StoreError> {
        let removed: i64 = self
            .connection()
            .hdel(RESOURCES_KEY, format!("{account}/{bucket}"))
            .await
            .map_err(command("remove resource"))?;
        Ok(removed > 0)
    }

    async fn update_resource<F>(
        &self,
        account: &str,
        bucket: &str,
        mut change: F,
    ) -> Result<Option<(Resource, Resource)>, StoreError>
    where
        F: FnMut(&mut Resource) -> bool + Send,
    {
        // Read, change, and write back only if the stored JSON is still the one read (a
        // compare-and-set on the whole value); on a lost race, read again.
        let key = format!("{account}/{bucket}");
        let cas = redis::Script::new(
            r#"if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
                 redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) return 1 end
               return 0"#,
        );
        let mut conn = self.connection();
        loop {
            let Some(json): Option<String> = conn
                .hget(RESOURCES_KEY, &key)
                .await
                .map_err(command("read resource"))?
            else {
                return Ok(None);
            };
            let before: Resource =
                serde_json::from_str(&json).map_err(|e| corrupt(RESOURCES_KEY, e))?;
            let mut after = before.clone();
            if !change(&mut after) {
                return Ok(None);
            }
            let swapped: i64 = cas
                .key(RESOURCES_KEY)
                .arg(&key)
                .arg(&json)
                .arg(serde_json::to_string(&after).expect("a resource should serialise"))
                .invoke_async(&mut conn)
                .await
                .map_err(command("update resource"))?;
            if swapped == 1 {
                return Ok(Some((before, after)));
            }
        }
    }
}

/// Accounts and resources in a JSON file (embedded mode). Each change rewrites the file
/// atomically (a temporary file renamed over it).
#[derive(Debug, Clone)]
pub struct FileStateStore {
    path: PathBuf,
}

impl FileStateStore {
    /// Uses the file at `path` (created on first change).
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
        }
    }

    fn read(&self) -> Result<State, StoreError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| corrupt(&self.path.display().to_string(), e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(corrupt(&self.path.display().to_string(), e)),
        }
    }

    fn write(&self, state: &State) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(state).expect("the state should serialise");
        let write = || -> std::io::Result<()> {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = self.path.with_extension("tmp");
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| {
            corrupt(
                &self.path.display().to_string(),
                format!("cannot save: {e}"),
            )
        })
    }

    fn update<T>(&self, f: impl FnOnce(&mut State) -> T) -> Result<T, StoreError> {
        let mut state = self.read()?;
        let out = f(&mut state);
        self.write(&state)?;
        Ok(out)
    }
}

impl StateStore for FileStateStore {
    async fn load_state(&self) -> Result<State, StoreError> {
        self.read()
    }

    async fn put_account(&self, account: &Account) -> Result<(), StoreError> {
        self.update(|state| {
            state.accounts.insert(account.id.clone(), account.clone());
        })
    }

    async fn remove_account(&self, id: &str) -> Result<bool, StoreError> {
        self.update(|state| state.accounts.remove(id).is_some())
    }

    async fn put_resource(&self, resource: &Resource) -> Result<(), StoreError> {
        self.update(|state| {
            state.resources.insert(resource.key(), resource.clone());
        })
    }

    async fn remove_resource(&self, account: &str, bucket: &str) -> Result<bool, StoreError> {
        self.update(|state| {
            state
                .resources
                .remove(&format!("{account}/{bucket}"))
                .is_some()
        })
    }

    /// A read and a write with no await between them; not atomic across processes (the file
    /// store serves the embedded mode, one process).
    async fn update_resource<F>(
        &self,
        account: &str,
        bucket: &str,
        mut change: F,
    ) -> Result<Option<(Resource, Resource)>, StoreError>
    where
        F: FnMut(&mut Resource) -> bool + Send,
    {
        let mut state = self.read()?;
        let Some(resource) = state.resources.get_mut(&format!("{account}/{bucket}")) else {
            return Ok(None);
        };
        let before = resource.clone();
        if !change(resource) {
            return Ok(None);
        }
        let after = resource.clone();
        self.write(&state)?;
        Ok(Some((before, after)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_state_round_trips() {
        let path = std::env::temp_dir().join(format!("trawl-state-{}.json", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let store = FileStateStore::new(&path);
        assert_eq!(store.load_state().await.unwrap(), State::default());
        let account = Account {
            id: "222222222222".into(),
            role_name: "R".into(),
            external_id: Some("x".into()),
            status: AccountStatus::Unverified,
            error: None,
            num_buckets: None,
            added_ms: 1,
            verified_ms: 0,
        };
        store.put_account(&account).await.unwrap();
        let resource = Resource {
            account: "222222222222".into(),
            bucket: "b-1".into(),
            prefixes: vec!["a/".into()],
            classification: Classification::Full,
            schedule: Some(Schedule::Daily),
            last_run_ms: None,
            added_ms: 2,
        };
        store.put_resource(&resource).await.unwrap();
        let state = FileStateStore::new(&path).load_state().await.unwrap();
        assert_eq!(state.accounts["222222222222"], account);
        assert_eq!(state.resources["222222222222/b-1"], resource);
        // A scheduled run is claimed once: from the last run read, to the new one.
        let claimed = store
            .swap_last_run("222222222222", "b-1", None, Some(5))
            .await;
        assert_eq!(claimed.unwrap(), Some(resource.clone()));
        let again = store
            .swap_last_run("222222222222", "b-1", None, Some(6))
            .await;
        assert_eq!(again.unwrap(), None);
        let stored = store.load_state().await.unwrap().resources["222222222222/b-1"].clone();
        assert_eq!(stored.last_run_ms, Some(5));
        assert!(store.remove_resource("222222222222", "b-1").await.unwrap());
        assert!(!store.remove_resource("222222222222", "b-1").await.unwrap());
        assert!(store.remove_account("222222222222").await.unwrap());
        let _ = std::fs::remove_file(&path);
    }
}
