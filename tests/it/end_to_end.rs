//! The whole pipeline: two accounts, three buckets, overlapping prefixes, a coordinator and
//! three worker processes. Every Redis figure must equal what the uploaded data implies.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use trawl_classifier::{Engine, Status};
use trawl_common::store::{JobStatus, JobStore};

use crate::support::*;

const MEMBER: &str = "222222222222";
const ROLE: &str = "TrawlE2E";
const EXTERNAL_ID: &str = "trawl-e2e-external-id";

/// Deterministic content: a mix of clean text, CSV and JSON Lines with planted values.
fn content(i: usize, kind: &str) -> Vec<u8> {
    let ssn = format!("{:03}-{:02}-{:04}", 100 + i % 600, 10 + i % 89, 1000 + i);
    let email = format!("person{i}@mail-corp{}.com", i % 7);
    let card = [
        "4111 1111 1111 1111",
        "5500-0000-0000-0004",
        "3782 822463 10005",
    ][i % 3];
    match (kind, i % 3) {
        (_, 0) => format!("Quarterly notes {i}\nNothing sensitive in this file, only prose about shipping.\n").into_bytes(),
        ("csv", _) => format!("name,email,ssn\nAlex {i},{email},{ssn}\nSam,sam{i}@example-corp.org,\n").into_bytes(),
        ("jsonl", _) => format!(
            "{{\"id\": {i}, \"contact\": {{\"email\": \"{email}\"}}}}\n{{\"id\": {}, \"payment\": {{\"credit_card\": \"{card}\"}}}}\n",
            i + 1
        )
        .into_bytes(),
        _ => format!("Customer record {i}\nEmail: {email}\nSSN: {ssn}\ncredit card number {card}\n").into_bytes(),
    }
}

struct Bucket {
    account: &'static str,
    name: String,
    objects: Vec<Upload>,
    /// Keys the job selects.
    selected: BTreeSet<String>,
}

fn objects(prefix: &str, kind: &str, count: usize, offset: usize) -> Vec<Upload> {
    (0..count)
        .map(|i| Upload {
            key: format!("{prefix}{:05}.{kind}", i + offset),
            body: content(i + offset, kind),
            storage_class: None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_across_two_accounts_completes_with_exact_figures() {
    let env = TestEnv::new("e2e");
    let master = s3_master();
    let member = s3_member(MEMBER, ROLE, EXTERNAL_ID).await;

    // alpha (master): data/a/ and data/b/ selected through overlapping prefixes; other/ not.
    let mut alpha = Bucket {
        account: MASTER,
        name: unique("alpha"),
        objects: Vec::new(),
        selected: BTreeSet::new(),
    };
    alpha.objects.extend(objects("data/a/", "txt", 200, 0));
    alpha.objects.extend(objects("data/b/", "csv", 150, 200));
    alpha.objects.extend(objects("other/", "txt", 100, 350));
    alpha.selected = alpha
        .objects
        .iter()
        .filter(|o| o.key.starts_with("data/"))
        .map(|o| o.key.clone())
        .collect();
    // beta (master): the whole bucket plus a prefix inside it; two archived objects.
    let mut beta = Bucket {
        account: MASTER,
        name: unique("beta"),
        objects: Vec::new(),
        selected: BTreeSet::new(),
    };
    beta.objects.extend(objects("x/", "txt", 150, 450));
    beta.objects.extend(objects("y/", "jsonl", 250, 600));
    for i in 0..2 {
        beta.objects.push(Upload {
            key: format!("y/archived-{i}.txt"),
            body: content(1, "txt"),
            storage_class: Some("GLACIER"),
        });
    }
    beta.selected = beta.objects.iter().map(|o| o.key.clone()).collect();
    // gamma (member, through AssumeRole): p/q/ and p/ selected; z/ not.
    let mut gamma = Bucket {
        account: MEMBER,
        name: unique("gamma"),
        objects: Vec::new(),
        selected: BTreeSet::new(),
    };
    gamma.objects.extend(objects("p/", "jsonl", 300, 900));
    gamma.objects.extend(objects("p/q/", "txt", 50, 1200));
    gamma.objects.extend(objects("z/", "txt", 20, 1250));
    gamma.selected = gamma
        .objects
        .iter()
        .filter(|o| o.key.starts_with("p/"))
        .map(|o| o.key.clone())
        .collect();

    for (client, bucket) in [(&master, &alpha), (&master, &beta), (&member, &gamma)] {
        create_bucket(client, &bucket.name).await;
        upload_all(client, &bucket.name, &bucket.objects).await;
    }
    let total_selected: usize = [&alpha, &beta, &gamma]
        .iter()
        .map(|b| b.selected.len())
        .sum();
    assert!(
        total_selected >= 1000,
        "the test should classify at least 1,000 objects"
    );

    // Ground truth: what the engine finds in each selected object, aggregated like the workers.
    let engine = Engine::default();
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    let mut add = |account: &str, bucket: &str, name: &str, delta: i64| {
        if delta == 0 {
            return;
        }
        for scoped in [
            name.to_string(),
            format!("acct:{account}:{name}"),
            format!("bucket:{bucket}:{name}"),
        ] {
            *expected.entry(scoped).or_default() += delta;
        }
    };
    let mut num_detections = 0;
    for bucket in [&alpha, &beta, &gamma] {
        for object in bucket
            .objects
            .iter()
            .filter(|o| bucket.selected.contains(&o.key))
        {
            let size = object.body.len() as i64;
            add(bucket.account, &bucket.name, "objects_dispatched", 1);
            add(bucket.account, &bucket.name, "bytes_dispatched", size);
            if object.storage_class.is_some() {
                add(bucket.account, &bucket.name, "objects_skipped", 1);
                add(bucket.account, &bucket.name, "bytes_skipped", size);
                add(
                    bucket.account,
                    &bucket.name,
                    "reason:INVALID_OBJECT_STATE",
                    1,
                );
                continue;
            }
            let file = engine.classify_bytes(&object.key, &object.body);
            assert_eq!(file.status, Status::Complete);
            add(bucket.account, &bucket.name, "objects_classified", 1);
            add(
                bucket.account,
                &bucket.name,
                "bytes_classified",
                file.size_classified as i64,
            );
            add(
                bucket.account,
                &bucket.name,
                "billable_bytes",
                (file.size_classified as i64).clamp(1024, 20 << 20),
            );
            for detection in &file.detections {
                num_detections += detection.count;
                add(
                    bucket.account,
                    &bucket.name,
                    &format!("detections:{}", detection.kind),
                    detection.count as i64,
                );
            }
            if let Some(severity) = file.severity {
                add(bucket.account, &bucket.name, "objects_with_findings", 1);
                add(
                    bucket.account,
                    &bucket.name,
                    &format!("findings:{}", severity.as_str()),
                    1,
                );
            }
        }
    }
    assert!(
        num_detections > 500,
        "planted values should be detected ({num_detections})"
    );

    let job_file = temp_file(
        "job.toml",
        &format!(
            r#"
name = "e2e"
[[accounts]]
id = "{MEMBER}"
role_name = "{ROLE}"
external_id = "{EXTERNAL_ID}"
[[selections]]
account = "{MASTER}"
bucket = "{alpha}"
prefixes = ["data/", "data/a/"]
[[selections]]
account = "{MASTER}"
bucket = "{beta}"
[[selections]]
account = "{MASTER}"
bucket = "{beta}"
prefixes = ["x/"]
[[selections]]
account = "{MEMBER}"
bucket = "{gamma}"
prefixes = ["p/q/", "p/"]
"#,
            alpha = alpha.name,
            beta = beta.name,
            gamma = gamma.name
        ),
    );

    let _coordinator = env.spawn(&["coordinator"]);
    let _workers: Vec<_> = (0..3)
        .map(|_| env.spawn(&["worker", "--concurrency", "8"]))
        .collect();
    let run = tokio::time::timeout(
        Duration::from_secs(240),
        env.trawl(&["run", "--json", job_file.to_str().unwrap()])
            .output(),
    )
    .await
    .expect("the job should finish within 4 minutes")
    .expect("trawl run should start");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "trawl run failed: {}\n{stdout}",
        String::from_utf8_lossy(&run.stderr)
    );
    let shown: serde_json::Value =
        serde_json::from_str(&stdout).expect("trawl run --json prints JSON");
    assert_eq!(shown["status"], "COMPLETE");
    let job_id = shown["id"].as_str().unwrap().to_string();

    let store = env.store().await;
    let job = store.job(&job_id).await.unwrap();
    assert_eq!(job.status, JobStatus::Complete);
    assert_eq!(job.dispatched, total_selected as u64);
    assert_eq!(job.results, total_selected as u64);

    let stats = store.stats(&job_id).await.unwrap();
    let actual = exact_families(&stats);
    for (name, value) in &expected {
        assert_eq!(actual.get(name), Some(value), "counter {name}");
    }
    let extra: Vec<_> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    assert!(extra.is_empty(), "unexpected counters: {extra:?}");
    // Every object has an encryption type, in every scope.
    let by_encryption: i64 = stats
        .iter()
        .filter(|(k, _)| k.starts_with("encryption:"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(by_encryption, total_selected as i64);

    // One result record per selected object, none for unselected ones.
    let mut seen = BTreeSet::new();
    let mut after = "0".to_string();
    loop {
        let batch = store.results(&job_id, &after, 500).await.unwrap();
        let Some((last, _)) = batch.last() else { break };
        after = last.clone();
        for (_, record) in batch {
            assert!(
                seen.insert((record.bucket.clone(), record.key.clone())),
                "two records for {}",
                record.key
            );
        }
    }
    let expected_keys: BTreeSet<_> = [&alpha, &beta, &gamma]
        .iter()
        .flat_map(|b| b.selected.iter().map(|k| (b.name.clone(), k.clone())))
        .collect();
    assert_eq!(seen, expected_keys);

    // The table view renders the same job.
    let show = env
        .trawl(&["jobs", "show", &job_id])
        .output()
        .await
        .unwrap();
    let table = String::from_utf8_lossy(&show.stdout);
    assert!(show.status.success());
    assert!(
        table.contains("status COMPLETE") && table.contains(&gamma.name),
        "{table}"
    );
    let list = env
        .trawl(&["jobs", "list", "--json", "--limit", "200"])
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains(&job_id));
}
