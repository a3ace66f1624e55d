//! A worker killed with SIGKILL while it holds unacknowledged tasks: the broker redelivers them
//! to the other workers, the job completes, and nothing is counted twice. The survivors then
//! drain and exit 0 on SIGTERM.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use trawl_common::store::{JobStatus, JobStore};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_worker_loses_nothing_and_counts_nothing_twice() {
    let env = TestEnv::new("redelivery");
    let s3 = s3_master();
    let bucket = unique("redeliver");
    create_bucket(&s3, &bucket).await;
    let objects: Vec<Upload> = (0..240)
        .map(|i| {
            let mut body = format!("row {i}: contact person{i}@mail-corp.com\n").into_bytes();
            body.resize(96 * 1024, b'.');
            Upload {
                key: format!("obj/{i:04}.txt"),
                body,
                storage_class: None,
            }
        })
        .collect();
    upload_all(&s3, &bucket, &objects).await;
    let total_bytes: i64 = objects.iter().map(|o| o.body.len() as i64).sum();

    let job_file = temp_file(
        "job.toml",
        &format!("[[selections]]\naccount = \"{MASTER}\"\nbucket = \"{bucket}\"\n"),
    );
    // The victim holds many deliveries (prefetch 60) but works through them slowly.
    let mut victim = env.spawn(&["worker", "--concurrency", "1", "--prefetch", "60"]);
    let _coordinator = env.spawn(&["coordinator"]);
    let store = env.store().await;
    let job_id = submit(&env, &job_file).await;

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = store.job(&job_id).await.unwrap();
        if job.results >= 5 && job.listing_done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the victim did not start working: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(&victim, true);
    let status = victim.wait().await.unwrap();
    assert!(
        !status.success(),
        "SIGKILL should end the worker abnormally"
    );
    let at_kill = store.job(&job_id).await.unwrap();
    assert!(
        at_kill.results < at_kill.dispatched,
        "the victim should have been killed with tasks outstanding: {at_kill:?}"
    );

    let mut survivors: Vec<_> = (0..2)
        .map(|_| env.spawn(&["worker", "--concurrency", "8"]))
        .collect();
    assert_eq!(
        wait_terminal(&store, &job_id, Duration::from_secs(180)).await,
        JobStatus::Complete
    );

    let job = store.job(&job_id).await.unwrap();
    assert_eq!((job.dispatched, job.results), (240, 240));
    let stats = store.stats(&job_id).await.unwrap();
    assert_eq!(stats["objects_dispatched"], 240);
    assert_eq!(stats["objects_classified"], 240);
    assert_eq!(stats["bytes_classified"], total_bytes);
    assert_eq!(
        stats[&format!("bucket:{bucket}:bytes_classified")],
        total_bytes
    );
    assert_eq!(stats["detections:EMAIL_ADDRESS"], 240);
    assert!(!stats.contains_key("objects_failed"));

    let records = store.results(&job_id, "0", 1000).await.unwrap();
    assert_eq!(records.len(), 240);
    let keys: BTreeSet<_> = records.iter().map(|(_, r)| r.key.clone()).collect();
    assert_eq!(keys.len(), 240);

    // The survivors drain and exit 0 on SIGTERM.
    for worker in &survivors {
        signal(worker, false);
    }
    for worker in &mut survivors {
        let status = tokio::time::timeout(Duration::from_secs(30), worker.wait())
            .await
            .expect("a worker should exit within its shutdown deadline")
            .unwrap();
        assert!(
            status.success(),
            "SIGTERM should end a worker with exit 0, got {status}"
        );
    }
}
