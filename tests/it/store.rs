//! The Redis store's contract: idempotent recording, completion, cancelled jobs, checkpoints.

use std::time::Duration;

use trawl_common::store::{Counters, JobStatus, JobStore, RecordOutcome, RedisStore};

use crate::support::{REDIS_URL, unique};

async fn store() -> RedisStore {
    RedisStore::connect(REDIS_URL, Duration::from_secs(10))
        .await
        .expect("redis should be reachable")
        .for_queue(&unique("it.store"))
}

fn counters(bytes: i64) -> Counters {
    let mut c = Counters::default();
    c.add("111122223333", "bucket-a", "objects_classified", 1);
    c.add("111122223333", "bucket-a", "bytes_classified", bytes);
    c
}

#[tokio::test]
async fn a_result_is_counted_once_however_often_it_is_recorded() {
    let store = store().await;
    let id = trawl_common::store::new_job_id();
    store.create_job(&id, "t", "{}", "{}").await.unwrap();
    assert!(
        store
            .transition(&id, JobStatus::Running, &[JobStatus::Created], None)
            .await
            .unwrap()
    );
    let mut dispatch = Counters::default();
    dispatch.add("111122223333", "bucket-a", "objects_dispatched", 2);
    let base = store
        .allocate_page(&id, "bucket-a/", "", 2, &dispatch, b"checkpoint")
        .await
        .unwrap();
    assert_eq!(base, 0);

    assert_eq!(
        store
            .record_result(&id, 0, b"r0", &counters(10))
            .await
            .unwrap(),
        RecordOutcome::Recorded
    );
    assert_eq!(
        store
            .record_result(&id, 0, b"r0", &counters(10))
            .await
            .unwrap(),
        RecordOutcome::Duplicate
    );
    assert!(store.is_recorded(&id, 0).await.unwrap());
    assert!(!store.is_recorded(&id, 1).await.unwrap());
    let stats = store.stats(&id).await.unwrap();
    assert_eq!(stats["objects_classified"], 1);
    assert_eq!(stats["bytes_classified"], 10);
    assert_eq!(stats["acct:111122223333:bytes_classified"], 10);
    assert_eq!(stats["bucket:bucket-a:objects_dispatched"], 2);

    // Listing finished with one result missing: still running; the last result completes it.
    assert!(!store.finish_listing(&id).await.unwrap());
    assert_eq!(store.job(&id).await.unwrap().status, JobStatus::Running);
    assert_eq!(
        store
            .record_result(&id, 1, b"r1", &counters(5))
            .await
            .unwrap(),
        RecordOutcome::Recorded
    );
    let job = store.job(&id).await.unwrap();
    assert_eq!(job.status, JobStatus::Complete);
    assert_eq!((job.dispatched, job.results), (2, 2));
}

#[tokio::test]
async fn an_interrupted_page_keeps_its_sequence_numbers() {
    let store = store().await;
    let id = trawl_common::store::new_job_id();
    store.create_job(&id, "t", "{}", "{}").await.unwrap();
    let none = Counters::default();
    let first = store
        .allocate_page(&id, "b/p/", "", 1000, &none, b"page one")
        .await
        .unwrap();
    // The coordinator died before confirming: the same page gets the same numbers again, and
    // its checkpoint is there to publish it again exactly.
    let again = store
        .allocate_page(&id, "b/p/", "", 1000, &none, b"page one")
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(store.job(&id).await.unwrap().dispatched, 1000);
    let cursor = store.cursor(&id, "b/p/").await.unwrap();
    assert_eq!(cursor.pending, Some((String::new(), 0, 1000)));
    assert_eq!(
        store.pending_page(&id, "b/p/").await.unwrap().as_deref(),
        Some(&b"page one"[..])
    );
    store
        .confirm_page(&id, "b/p/", "key-999", false)
        .await
        .unwrap();
    assert_eq!(store.pending_page(&id, "b/p/").await.unwrap(), None);
    let next = store
        .allocate_page(&id, "b/p/", "key-999", 10, &none, b"page two")
        .await
        .unwrap();
    assert_eq!(next, 1000);
    let cursor = store.cursor(&id, "b/p/").await.unwrap();
    assert_eq!(cursor.after.as_deref(), Some("key-999"));
    assert_eq!(store.job(&id).await.unwrap().dispatched, 1010);
}

#[tokio::test]
async fn results_of_a_cancelled_job_are_dropped_uncounted() {
    let store = store().await;
    let id = trawl_common::store::new_job_id();
    store.create_job(&id, "t", "{}", "{}").await.unwrap();
    store
        .transition(&id, JobStatus::Running, &[JobStatus::Created], None)
        .await
        .unwrap();
    assert!(
        store
            .transition(&id, JobStatus::Cancelled, &[JobStatus::Running], None)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .record_result(&id, 0, b"r", &counters(1))
            .await
            .unwrap(),
        RecordOutcome::JobClosed
    );
    assert!(store.stats(&id).await.unwrap().is_empty());
    assert_eq!(
        store
            .record_result("j-does-not-exist", 0, b"r", &counters(1))
            .await
            .unwrap(),
        RecordOutcome::UnknownJob
    );
}
