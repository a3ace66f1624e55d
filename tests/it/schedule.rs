//! Scheduled runs against real Redis: claimed once however many coordinators find them due,
//! edits made meanwhile kept, and a run that cannot be submitted given back.

use std::time::Duration;

use trawl_common::state::{Classification, Resource, Schedule, StateStore};
use trawl_common::store::{JobStore, RedisStore};
use trawl_coordinator::schedule::run_due;

/// Redis database 9, flushed: accounts and resources are global to a deployment (see
/// `support::isolated` for the other tests' databases).
async fn store(name: &str) -> RedisStore {
    let store = RedisStore::connect("redis://127.0.0.1:6379/9", Duration::from_secs(10))
        .await
        .expect("redis should be reachable")
        .for_queue(&crate::support::unique(name));
    let mut conn = store.connection();
    let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap();
    store
}

fn resource(bucket: &str, last_run_ms: Option<i64>) -> Resource {
    Resource {
        account: "111122223333".into(),
        bucket: bucket.into(),
        prefixes: vec!["2025/".into()],
        classification: Classification::Full,
        schedule: Some(Schedule::Daily),
        last_run_ms,
        added_ms: 1_000,
    }
}

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Everything runs against database 9, so the three cases run one after another in one test.
#[tokio::test]
async fn scheduled_runs_are_claimed_once_keep_edits_and_give_back_failures() {
    let store = store("it.schedule").await;
    let now = 10 * DAY_MS;

    // Four coordinators find the same two runs due at once: each run is started exactly once.
    store
        .put_resource(&resource("sched-a", Some(now - DAY_MS)))
        .await
        .unwrap();
    store
        .put_resource(&resource("sched-b", None))
        .await
        .unwrap();
    store
        .put_resource(&resource("sched-not-due", Some(now - DAY_MS / 2)))
        .await
        .unwrap();
    let (r1, r2, r3, r4) = tokio::join!(
        run_due(&store, &store, now, false),
        run_due(&store, &store, now, false),
        run_due(&store, &store, now, false),
        run_due(&store, &store, now, false),
    );
    let mut started = Vec::new();
    for runs in [r1, r2, r3, r4] {
        let runs = runs.unwrap();
        assert!(runs.failed.is_empty(), "{:?}", runs.failed);
        started.extend(runs.started);
    }
    assert_eq!(started.len(), 2, "one run per due resource: {started:?}");
    let mut names = Vec::new();
    for id in &started {
        names.push(store.job(id).await.unwrap().name);
    }
    names.sort();
    assert_eq!(
        names,
        ["scheduled daily sched-a", "scheduled daily sched-b"]
    );
    let state = store.load_state().await.unwrap();
    assert_eq!(
        state.resources["111122223333/sched-a"].last_run_ms,
        Some(now)
    );
    assert_eq!(
        state.resources["111122223333/sched-b"].last_run_ms,
        Some(now)
    );
    assert_eq!(
        state.resources["111122223333/sched-not-due"].last_run_ms,
        Some(now - DAY_MS / 2)
    );
    // Nothing is due just before the not-due resource's day is up (the others ran at `now`).
    let again = run_due(&store, &store, now + DAY_MS / 2 - 1, false)
        .await
        .unwrap();
    assert!(again.started.is_empty(), "{:?}", again.started);

    // A user edits the resource after a coordinator read it: the claim keeps the edit, and a
    // second claim of the same run finds it taken.
    let seen = store.load_state().await.unwrap().resources["111122223333/sched-a"].clone();
    let mut edited = seen.clone();
    edited.prefixes = vec!["2026/".into(), "exports/".into()];
    store.put_resource(&edited).await.unwrap();
    let claimed = store
        .swap_last_run(
            "111122223333",
            "sched-a",
            seen.last_run_ms,
            Some(now + DAY_MS),
        )
        .await
        .unwrap()
        .expect("the run is still unclaimed");
    assert_eq!(claimed.prefixes, edited.prefixes);
    assert_eq!(claimed.last_run_ms, Some(now));
    let stored = store.load_state().await.unwrap().resources["111122223333/sched-a"].clone();
    assert_eq!(
        stored,
        Resource {
            last_run_ms: Some(now + DAY_MS),
            ..edited
        }
    );
    assert_eq!(
        store
            .swap_last_run(
                "111122223333",
                "sched-a",
                seen.last_run_ms,
                Some(now + DAY_MS)
            )
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .swap_last_run("111122223333", "no-such-bucket", None, Some(now))
            .await
            .unwrap(),
        None
    );

    // Concurrent changes to one resource (edits, claims) are all kept: each is applied to the
    // resource as stored, again if another landed first.
    let edits = (0..10).map(|k| {
        let store = store.clone();
        async move {
            store
                .update_resource("111122223333", "sched-b", |r| {
                    r.prefixes.push(format!("p{k}/"));
                    true
                })
                .await
                .unwrap()
                .expect("the resource exists")
        }
    });
    let claim = store.swap_last_run("111122223333", "sched-b", Some(now), Some(now + DAY_MS));
    let (_, claimed) = tokio::join!(futures::future::join_all(edits), claim);
    assert!(
        claimed.unwrap().is_some(),
        "the claim is not lost to the edits"
    );
    let stored = store.load_state().await.unwrap().resources["111122223333/sched-b"].clone();
    let mut prefixes = stored.prefixes.clone();
    prefixes.sort();
    let mut expected: Vec<String> = (0..10).map(|k| format!("p{k}/")).collect();
    expected.push("2025/".into());
    expected.sort();
    assert_eq!(prefixes, expected);
    assert_eq!(stored.last_run_ms, Some(now + DAY_MS));

    // A run that cannot be submitted (a bucket name S3 would refuse, stored before validation
    // existed) is reported, its claim is given back, and the other due run still starts.
    store
        .put_resource(&resource("Bad_Bucket!", Some(now - 2 * DAY_MS)))
        .await
        .unwrap();
    store
        .put_resource(&resource("sched-c", Some(now - 2 * DAY_MS)))
        .await
        .unwrap();
    let runs = run_due(&store, &store, now, false).await.unwrap();
    assert_eq!(runs.started.len(), 1, "{:?}", runs.started);
    assert_eq!(
        store.job(&runs.started[0]).await.unwrap().name,
        "scheduled daily sched-c"
    );
    assert_eq!(runs.failed.len(), 1);
    assert_eq!(runs.failed[0].0, "111122223333/Bad_Bucket!");
    assert!(
        runs.failed[0].1.to_string().contains("Bad_Bucket!"),
        "{}",
        runs.failed[0].1
    );
    let state = store.load_state().await.unwrap();
    assert_eq!(
        state.resources["111122223333/Bad_Bucket!"].last_run_ms,
        Some(now - 2 * DAY_MS),
        "the failed run stays due"
    );
    assert_eq!(
        state.resources["111122223333/sched-c"].last_run_ms,
        Some(now)
    );
}
