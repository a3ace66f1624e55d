//! `trawl demo`: the whole flow on sample data, on a fresh machine with nothing installed and
//! no AWS account.
//!
//! An S3-compatible endpoint with STS and KMS runs inside this process (`trawl-s3-local`),
//! serving sample buckets in two accounts: the master, and a member reached through STS
//! AssumeRole with an external ID. Text, CSV and JSON files with sensitive values sit beside
//! GLACIER objects and SSE-S3, SSE-KMS (usable, denied and disabled keys), SSE-C and
//! client-side-encrypted objects. The real AWS S3 client drives everything: Trawl integrates the
//! member, verifies it, selects buckets and overlapping prefixes, prints the review table, runs
//! the job embedded (coordinator and workers in this process) with a progress bar, and prints
//! the figures and the findings.

use std::process::ExitCode;

use anyhow::Context as _;
use trawl_common::aws::S3Clients;
use trawl_common::config::ServiceConfig;
use trawl_common::job::{AccountAccess, JobSpec, MemberAccount, Selection, role_arn};
use trawl_common::store::JobStore;
use trawl_coordinator::estimate::{BucketSelection, Classification};
use trawl_coordinator::pricing::Pricing;
use trawl_coordinator::review::ReviewSelection;
use trawl_s3_local::{KmsKeyState, LocalObject, LocalS3};

const MASTER: &str = "111122223333";
const MEMBER: &str = "444455556666";
const MEMBER_ROLE: &str = "TrawlClassificationRole";
const EXTERNAL_ID: &str = "trawl-demo-external-id";
const DEMO_KEY_ID: &str = "demo-access-key";
const DEMO_SECRET: &str = "demo-secret-key";
const USABLE_KEY: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
const DENIED_KEY: &str = "0987dcba-09fe-87dc-65ba-ab0987654321";
const DISABLED_KEY: &str = "5555eeee-55ee-55ee-55ee-5555eeee5555";

fn text(key: &str, body: &str) -> LocalObject {
    LocalObject::new(key, body.as_bytes().to_vec())
}

fn kms(key: &str, body: &str, key_id: &str) -> LocalObject {
    let mut object = text(key, body);
    object.server_side_encryption = Some("aws:kms".into());
    object.kms_key_id = Some(key_id.into());
    object
}

fn seed(local: &LocalS3) -> anyhow::Result<(String, String, String)> {
    local.add_account(MASTER, DEMO_KEY_ID, DEMO_SECRET);
    local.require_external_id(&role_arn(MEMBER, MEMBER_ROLE), EXTERNAL_ID);
    local.set_kms_key(USABLE_KEY, KmsKeyState::Enabled);
    local.set_kms_key(DENIED_KEY, KmsKeyState::Denied);
    local.set_kms_key(DISABLED_KEY, KmsKeyState::Disabled);
    let hr = "northwind-hr-records".to_string();
    let finance = "northwind-finance".to_string();
    let engineering = "fabrikam-engineering".to_string();
    local.create_bucket(MASTER, &hr)?;
    local.create_bucket(MASTER, &finance)?;
    local.create_bucket(MEMBER, &engineering)?;

    let put = |bucket: &str, object: LocalObject| local.put_object(bucket, object);
    put(
        &hr,
        text(
            "employees/2025/staff.csv",
            "name,email,ssn,date_of_birth\n\
             Maria Lopez,maria.lopez@northwind-corp.com,536-22-8147,1984-03-12\n\
             Daniel Kim,daniel.kim@northwind-corp.com,621-48-3390,1990-11-02\n\
             Aisha Patel,aisha.patel@northwind-corp.com,409-71-2256,1979-07-25\n",
        ),
    )?;
    let mut onboarding = text(
        "employees/2025/onboarding.json",
        r#"{"employee": {"name": "Tom Becker", "email": "tom.becker@northwind-corp.com",
 "ssn": "318-56-9021", "bank": {"iban": "DE89370400440532013000"}}}"#,
    );
    onboarding.server_side_encryption = Some("AES256".into());
    put(&hr, onboarding)?;
    put(
        &hr,
        kms(
            "employees/2025/salaries.csv",
            "name,salary\nMaria Lopez,98000\n",
            USABLE_KEY,
        ),
    )?;
    put(
        &hr,
        kms(
            "employees/2024/reviews.txt",
            "Performance review for daniel.kim@northwind-corp.com\n",
            DENIED_KEY,
        ),
    )?;
    put(
        &hr,
        text(
            "employees/handbook.txt",
            "Welcome to Northwind. This handbook covers holidays and travel.\n",
        ),
    )?;
    put(
        &hr,
        text(
            "public/careers.html",
            "<html><body>We are hiring engineers.</body></html>\n",
        ),
    )?;

    put(
        &finance,
        text(
            "invoices/2025/inv-10492.txt",
            "Invoice 10492\nPaid by credit card number 4532 0151 1283 0366, expiry 09/27\n\
             Billing contact: accounts@fabrikam-mail.com\n",
        ),
    )?;
    put(
        &finance,
        text(
            "invoices/2025/inv-10493.txt",
            "Invoice 10493\nWire transfer to IBAN GB82 WEST 1234 5698 7654 32\n",
        ),
    )?;
    let mut ledger = text(
        "archive/2019-ledger.csv",
        "date,amount\n2019-01-02,100.00\n",
    );
    ledger.storage_class = Some("GLACIER".into());
    put(&finance, ledger)?;
    put(
        &finance,
        kms(
            "archive/2020-audit.txt",
            "Audit notes, card 4532 0151 1283 0366\n",
            DISABLED_KEY,
        ),
    )?;
    let mut vault = text("backups/vault.bin", "\u{1}\u{2}encrypted-bytes");
    for (key, value) in [
        ("x-amz-key-v2", "AQIDAHhVbXktZGF0YS1rZXk="),
        ("x-amz-iv", "MTIzNDU2Nzg5MDEy"),
        ("x-amz-cek-alg", "AES/GCM/NoPadding"),
        ("x-amz-wrap-alg", "kms+context"),
    ] {
        vault.metadata.insert(key.into(), value.into());
    }
    put(&finance, vault)?;
    let mut customer_key = text(
        "backups/payroll-sse-c.csv",
        "name,iban\nTom,DE89370400440532013000\n",
    );
    customer_key.sse_customer_algorithm = Some("AES256".into());
    put(&finance, customer_key)?;

    put(
        &engineering,
        text(
            "config/prod.env",
            "AWS_ACCESS_KEY_ID=AKIA4KQ7ZPRM2XJ6T3WB\n\
             AWS_SECRET_ACCESS_KEY=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\n\
             STRIPE_KEY=sk_live_51HkT9qLmZr4Xb2Yw8Vn6Jp3Ds\n",
        ),
    )?;
    put(
        &engineering,
        text(
            "logs/app-2025-12-01.log",
            "2025-12-01T10:00:01Z INFO login ok user=ops@contoso-mail.com\n\
             2025-12-01T10:00:02Z INFO request served in 12 ms\n",
        ),
    )?;
    put(
        &engineering,
        text(
            "docs/README.md",
            "# Deploy\nRun `make deploy` from the repository root.\n",
        ),
    )?;
    Ok((hr, finance, engineering))
}

pub(crate) async fn run() -> anyhow::Result<ExitCode> {
    let local = LocalS3::new();
    let (hr, finance, engineering) = seed(&local).context("seeding the demo buckets")?;
    let (endpoint, server) = local
        .serve_local()
        .await
        .context("starting the in-process S3 endpoint")?;

    let mut service = ServiceConfig::from_env()?;
    // The demo talks to its own endpoint only: fixed credentials, never the user's AWS ones.
    service.aws_endpoint_url = Some(endpoint.clone());
    service.s3_force_path_style = true;
    service.static_credentials = Some((DEMO_KEY_ID.into(), DEMO_SECRET.into()));
    service.aws_region = Some("us-east-1".into());
    service.distributed = false;

    println!("Sample buckets served by an S3-compatible endpoint in this process ({endpoint}):");
    println!("  account {MASTER} (master): s3://{hr}, s3://{finance}");
    println!("  account {MEMBER} (member, role {MEMBER_ROLE}, external ID): s3://{engineering}\n");

    let clients = S3Clients::from_config(&service).await;
    let master = trawl_common::aws::caller_account(clients.sdk_config()).await?;
    let member = AccountAccess {
        account: MEMBER.into(),
        role_arn: Some(role_arn(MEMBER, MEMBER_ROLE)),
        external_id: Some(EXTERNAL_ID.into()),
    };
    clients.verify_credentials(&member).await?;
    println!(
        "Accounts: master {master} (default credentials); member {MEMBER} VERIFIED (AssumeRole with external ID)\n"
    );

    let master_access = AccountAccess {
        account: MASTER.into(),
        role_arn: None,
        external_id: None,
    };
    // Two overlapping prefixes of one bucket: it is billed, listed and classified once.
    let selections = [
        (
            &master_access,
            hr.as_str(),
            vec!["employees/".to_string(), "employees/2025/".to_string()],
        ),
        (&master_access, finance.as_str(), Vec::new()),
        (&member, engineering.as_str(), Vec::new()),
    ];
    let review_selections: Vec<ReviewSelection> = selections
        .iter()
        .map(|(access, bucket, prefixes)| ReviewSelection {
            access: (*access).clone(),
            selection: BucketSelection {
                account: access.account.clone(),
                bucket: bucket.to_string(),
                prefixes: prefixes.clone(),
                classification: Classification::Full,
            },
        })
        .collect();
    let outcome = trawl_coordinator::review::review(
        &clients,
        &Pricing::classic_macie(),
        &review_selections,
        4,
    )
    .await?;
    println!("Review\n{}", outcome.review.render_table());

    let spec = JobSpec {
        name: Some("demo".into()),
        accounts: vec![MemberAccount {
            id: MEMBER.into(),
            role_name: MEMBER_ROLE.into(),
            external_id: Some(EXTERNAL_ID.into()),
        }],
        selections: selections
            .iter()
            .map(|(access, bucket, prefixes)| Selection {
                account: access.account.clone(),
                bucket: bucket.to_string(),
                prefixes: prefixes.clone(),
            })
            .collect(),
        modified_since_ms: None,
    };
    let store = crate::embedded::open_store()?;
    let services = crate::embedded::Embedded::start(
        &service,
        store.clone(),
        2,
        std::sync::Arc::new(trawl_classifier::Engine::default()),
    )
    .await;
    let job_id = trawl_coordinator::submit(&store, &spec).await?;
    store
        .save_review(&job_id, &serde_json::to_string(&outcome.review)?)
        .await?;
    println!("Started job {job_id}");
    let code = crate::jobs::follow(&store, &job_id, false).await?;
    println!();
    crate::jobs::print_findings(&store, &job_id).await?;
    services.stop().await?;
    store.flush()?;
    server.shutdown().await;
    Ok(code)
}
