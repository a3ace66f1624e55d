//! `trawl demo` on embedded defaults: no broker, no Redis, no AWS account — an S3/STS/KMS
//! endpoint inside the process. Its output is checked.

use std::time::Duration;

use crate::support::*;

#[tokio::test]
async fn the_demo_runs_the_whole_flow_with_nothing_installed() {
    let data_dir = std::env::temp_dir().join(unique("trawl-demo-data"));
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(trawl_bin())
            .arg("demo")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &data_dir)
            .env("TRAWL_DATA_DIR", &data_dir)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the demo should finish within 2 minutes")
    .expect("trawl demo should start");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "trawl demo failed:\n{stdout}\n{stderr}"
    );
    for expected in [
        "member 444455556666 VERIFIED",
        "Total number of objects: 15",
        "northwind-hr-records  1 prefix",
        "status COMPLETE",
        "Objects: 14 dispatched, 9 classified (0 partial), 5 skipped, 0 failed",
        "Not classified, by reason: INVALID_ENCRYPTION 3, INVALID_KMS_KEY 1, INVALID_OBJECT_STATE 1",
        "AWS_CREDENTIALS",
        "s3://fabrikam-engineering/config/prod.env",
        "client-side encrypted (S3 Encryption Client v2)",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(
        rows.contains(&vec!["USA_SOCIAL_SECURITY_NUMBER", "4"]),
        "{stdout}"
    );
    assert!(rows.contains(&vec!["EMAIL_ADDRESS", "6"]), "{stdout}");
    // Findings never carry the sensitive values themselves.
    for secret in [
        "536-22-8147",
        "q8Vd2LrT6mWn0YbH4sKc9PzXe1GfJu7Ai3NoR5tE",
        "4532 0151 1283 0366",
    ] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} leaked"
        );
    }
    // The job persisted in the embedded store.
    assert!(data_dir.join("jobs.json").exists());
    let _ = std::fs::remove_dir_all(&data_dir);
}
