//! The configuration file reaches every process that classifies: workers run the custom
//! identifiers, allow lists and limits of `TRAWL_CONFIG` (issues 4 and 5), `trawl classify`
//! takes the same file, and a broken file stops a worker before it takes any task, naming the
//! file and the identifier at fault.

use std::time::Duration;

use trawl_common::store::{JobStatus, JobStore};

use crate::support::*;

const CONFIG: &str = r#"
[classifier]
managed = { selection = "INCLUDE", identifiers = ["EMAIL_ADDRESS"] }

[[classifier.custom_identifiers]]
name = "EMPLOYEE_ID"
regex = "EMP-[0-9]{6}"
keywords = ["badge"]
ignore_words = ["EMP-000000"]

[[classifier.allow_lists]]
name = "support addresses"
texts = ["help@mail-corp.com"]

[limits]
max_nesting_depth = 1
"#;

/// Compresses `data` with the system's gzip.
fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = std::process::Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip should be installed");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    output.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_classify_with_the_config_file() {
    let config = temp_file("trawl.toml", CONFIG);
    let mut env = TestEnv::new("config");
    env.extra
        .push(("TRAWL_CONFIG".into(), config.display().to_string()));

    let s3 = s3_master();
    let bucket = unique("config");
    create_bucket(&s3, &bucket).await;
    let objects = vec![
        Upload {
            // Two employee IDs near their keyword, one ignored; one address, one allowed.
            key: "staff.txt".into(),
            body: b"badge EMP-123456 and badge EMP-654321; placeholder badge EMP-000000\n\
                    write to jane@mail-corp.com or help@mail-corp.com\n"
                .to_vec(),
            storage_class: None,
        },
        Upload {
            // Without the keyword the custom identifier does not match; SSNs are not selected.
            key: "other.txt".into(),
            body: b"ref EMP-111111, SSN 078-05-1120\n".to_vec(),
            storage_class: None,
        },
        Upload {
            // Two compression layers: deeper than [limits] allows.
            key: "nested.txt.gz.gz".into(),
            body: gzip(&gzip(b"mail nested@mail-corp.com\n")),
            storage_class: None,
        },
    ];
    upload_all(&s3, &bucket, &objects).await;

    let _coordinator = env.spawn(&["coordinator"]);
    let _worker = env.spawn(&["worker", "--concurrency", "4"]);
    let job_file = temp_file(
        "job.toml",
        &format!("[[selections]]\naccount = \"{MASTER}\"\nbucket = \"{bucket}\"\n"),
    );
    let store = env.store().await;
    let job_id = submit(&env, &job_file).await;
    assert_eq!(
        wait_terminal(&store, &job_id, Duration::from_secs(120)).await,
        JobStatus::Complete
    );
    let stats = store.stats(&job_id).await.unwrap();
    assert_eq!(stats["objects_classified"], 2, "{stats:?}");
    assert_eq!(
        stats.get("reason:ARCHIVE_NESTING_LEVEL_OVER_LIMIT"),
        Some(&1),
        "{stats:?}"
    );
    assert_eq!(stats.get("detections:EMPLOYEE_ID"), Some(&2), "{stats:?}");
    assert_eq!(stats.get("detections:EMAIL_ADDRESS"), Some(&1), "{stats:?}");
    let others: Vec<_> = stats
        .keys()
        .filter(|k| k.starts_with("detections:"))
        .filter(|k| !k.ends_with(":EMPLOYEE_ID") && !k.ends_with(":EMAIL_ADDRESS"))
        .collect();
    assert!(
        others.is_empty(),
        "only the configured identifiers run: {others:?}"
    );

    // `trawl classify` reads the same file.
    let file = temp_file("staff.txt", std::str::from_utf8(&objects[0].body).unwrap());
    let dir = file.parent().unwrap();
    let output = env
        .trawl(&["classify", dir.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let line: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let counts: Vec<(String, u64)> = line["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["type"].as_str().unwrap().to_string(),
                d["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("EMAIL_ADDRESS".to_string(), 1),
            ("EMPLOYEE_ID".to_string(), 2)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_config_stops_the_worker_naming_the_file_and_identifier() {
    let config = temp_file(
        "broken.toml",
        "[[classifier.custom_identifiers]]\nname = \"ORDER_REF\"\nregex = \"ORD-[0-9\"\n",
    );
    let mut env = TestEnv::new("config-broken");
    env.extra
        .push(("TRAWL_CONFIG".into(), config.display().to_string()));
    let output = tokio::time::timeout(Duration::from_secs(30), env.trawl(&["worker"]).output())
        .await
        .expect("a worker with a broken config should exit at once")
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&config.display().to_string()) && stderr.contains("ORDER_REF"),
        "{stderr}"
    );
    let typo = temp_file("typo.toml", "[limit]\nmax_nesting_depth = 2\n");
    let stderr = failure(
        &env,
        &["classify", "--config", typo.to_str().unwrap(), "/dev/null"],
    )
    .await;
    assert!(stderr.contains("unknown field `limit`"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifiers_lists_what_the_configured_selection_runs() {
    let env = TestEnv::new("identifiers");
    let list = |config: Option<std::path::PathBuf>| {
        let env = env.clone();
        async move {
            let mut args = vec!["identifiers".to_string(), "--json".to_string()];
            if let Some(config) = config {
                args.extend(["--config".to_string(), config.display().to_string()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = env.trawl(&args).output().await.unwrap();
            assert!(output.status.success(), "{output:?}");
            let list: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
            list.into_iter()
                .map(|i| (i["name"].as_str().unwrap().to_string(), i))
                .collect::<std::collections::BTreeMap<_, _>>()
        }
    };
    let default = list(None).await;
    assert_eq!(default["AWS_CREDENTIALS"]["category"], "CREDENTIALS");
    assert_eq!(default["AWS_CREDENTIALS"]["enabled"], true);
    assert_eq!(default["LATITUDE_LONGITUDE"]["enabled"], false);
    assert_eq!(default["UK_NHS_NUMBER"]["keywords"], "REQUIRED");

    let include = temp_file(
        "include.toml",
        "[classifier]\nmanaged = { selection = \"INCLUDE\", identifiers = [\"LATITUDE_LONGITUDE\"] }\n",
    );
    assert_eq!(
        list(Some(include)).await["LATITUDE_LONGITUDE"]["enabled"],
        true
    );
    let none = temp_file(
        "none.toml",
        "[classifier]\nmanaged = { selection = \"NONE\" }\n",
    );
    let none = list(Some(none)).await;
    assert!(none.values().all(|i| i["enabled"] == false), "{none:?}");
    assert_eq!(none.len(), default.len());

    let unknown = temp_file(
        "unknown.toml",
        "[classifier]\nmanaged = { selection = \"EXCLUDE\", identifiers = [\"NO_SUCH_ID\"] }\n",
    );
    let stderr = failure(
        &env,
        &["identifiers", "--config", unknown.to_str().unwrap()],
    )
    .await;
    assert!(stderr.contains("NO_SUCH_ID"), "{stderr}");
}

/// Runs `trawl args`, which must fail, and returns what it wrote to stderr.
async fn failure(env: &TestEnv, args: &[&str]) -> String {
    let output = env.trawl(args).output().await.unwrap();
    assert!(!output.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&output.stderr).into_owned()
}
