//! Embedded mode: with no broker or Redis configured, the coordinator and workers run in this
//! process on an in-process queue and store (the same traits and semantics as RabbitMQ and
//! Redis), and state persists in a file under the user's data directory.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use trawl_common::aws::S3Clients;
use trawl_common::config::ServiceConfig;
use trawl_common::queue::MemoryQueue;
use trawl_common::store::MemoryStore;

/// Returns the data directory: `TRAWL_DATA_DIR`, else `$XDG_DATA_HOME/trawl`, else
/// `~/.local/share/trawl`.
pub(crate) fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TRAWL_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("trawl");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".local/share/trawl")
}

/// Opens the embedded job store (`jobs.json` in the data directory).
pub(crate) fn open_store() -> anyhow::Result<MemoryStore> {
    let path = data_dir().join("jobs.json");
    MemoryStore::open(&path)
        .with_context(|| format!("opening the embedded job store {}", path.display()))
}

/// A coordinator and workers running in this process.
pub(crate) struct Embedded {
    shutdown: CancellationToken,
    services: JoinSet<anyhow::Result<()>>,
}

impl Embedded {
    /// Starts a coordinator and one worker per core on `store`, classifying with `engine`.
    pub(crate) async fn start_per_core(
        service: &ServiceConfig,
        store: &MemoryStore,
        engine: trawl_classifier::Engine,
    ) -> Self {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::start(service, store.clone(), workers, Arc::new(engine)).await
    }

    /// Starts a coordinator and `num_workers` workers on `store` and an in-process queue.
    pub(crate) async fn start(
        service: &ServiceConfig,
        store: MemoryStore,
        num_workers: usize,
        engine: Arc<trawl_classifier::Engine>,
    ) -> Self {
        let shutdown = CancellationToken::new();
        let queue = MemoryQueue::new();
        let clients = S3Clients::from_config(service).await;
        let mut services = JoinSet::new();
        {
            let config = trawl_coordinator::CoordinatorConfig::new(service.clone());
            let (store, queue, clients, shutdown) = (
                store.clone(),
                queue.clone(),
                clients.clone(),
                shutdown.clone(),
            );
            services.spawn(async move {
                Ok(trawl_coordinator::run(config, store, queue, clients, shutdown).await?)
            });
        }
        for i in 0..num_workers.max(1) {
            let mut config = trawl_worker::WorkerConfig::new(service.clone());
            config.worker_id = format!("embedded-worker-{i}");
            config.concurrency = 8;
            let (store, queue, clients, engine, shutdown) = (
                store.clone(),
                queue.clone(),
                clients.clone(),
                engine.clone(),
                shutdown.clone(),
            );
            services.spawn(async move {
                Ok(trawl_worker::run(config, store, queue, clients, engine, shutdown).await?)
            });
        }
        Self { shutdown, services }
    }

    /// Stops the coordinator and workers and waits for them.
    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        while let Some(joined) = self.services.join_next().await {
            joined.context("an embedded service panicked")??;
        }
        Ok(())
    }
}
