//! `trawl demo`: the whole flow on sample data.
//!
//! Seeds sample buckets in two accounts (the master, and a member reached through STS
//! AssumeRole) on a local S3-compatible endpoint (`AWS_ENDPOINT_URL`, default moto on
//! 127.0.0.1:5000), runs a coordinator and two workers in this process (embedded mode: an
//! in-process queue and store), submits a job that selects buckets and overlapping prefixes, follows it with a
//! progress bar, and prints the figures and the findings.

use anyhow::Context as _;
use std::process::ExitCode;
use trawl_common::aws::S3Clients;
use trawl_common::config::ServiceConfig;
use trawl_common::job::{JobSpec, MemberAccount, Selection};

/// moto's default account: the master account of the demo.
const MASTER: &str = "123456789012";
const MEMBER: &str = "222222222222";
const MEMBER_ROLE: &str = "TrawlClassificationRole";
const EXTERNAL_ID: &str = "trawl-demo";

struct SampleObject {
    key: &'static str,
    body: String,
    storage_class: Option<&'static str>,
    sse: Option<&'static str>,
    client_side: bool,
}

fn object(key: &'static str, body: impl Into<String>) -> SampleObject {
    SampleObject {
        key,
        body: body.into(),
        storage_class: None,
        sse: None,
        client_side: false,
    }
}

fn hr_objects() -> Vec<SampleObject> {
    vec![
        object(
            "employees/2025/staff.csv",
            "name,email,ssn,date_of_birth,phone\n\
             Maria Lopez,maria.lopez@northwind-corp.com,536-22-8147,1984-03-12,+1 415 555 0142\n\
             Daniel Kim,daniel.kim@northwind-corp.com,621-48-3390,1990-11-02,+1 212 555 0198\n\
             Aisha Patel,aisha.patel@northwind-corp.com,409-71-2256,1979-07-25,+1 646 555 0117\n",
        ),
        SampleObject {
            sse: Some("AES256"),
            ..object(
                "employees/2025/onboarding.json",
                r#"{"employee": {"name": "Tom Becker", "email": "tom.becker@northwind-corp.com",
 "ssn": "318-56-9021", "bank": {"iban": "DE89370400440532013000"}}}"#,
            )
        },
        object(
            "employees/handbook.txt",
            "Welcome to Northwind. This handbook covers holidays, travel and the code of conduct.\n",
        ),
    ]
}

fn finance_objects() -> Vec<SampleObject> {
    vec![
        object(
            "invoices/2025/inv-10492.txt",
            "Invoice 10492\nPaid by credit card number 4532 0151 1283 0366, expiry 09/27\n\
             Billing contact: accounts@fabrikam-mail.com\n",
        ),
        object(
            "invoices/2025/inv-10493.txt",
            "Invoice 10493\nWire transfer to IBAN GB82 WEST 1234 5698 7654 32\n",
        ),
        SampleObject {
            storage_class: Some("GLACIER"),
            ..object(
                "archive/2019-ledger.csv",
                "date,amount\n2019-01-02,100.00\n",
            )
        },
        SampleObject {
            client_side: true,
            ..object("backups/vault.bin", "\u{1}\u{2}encrypted-bytes")
        },
    ]
}

fn engineering_objects() -> Vec<SampleObject> {
    vec![
        object(
            "config/prod.env",
            "AWS_ACCESS_KEY_ID=AKIA4KQ7ZPRM2XJ6T3WB\n\
             AWS_SECRET_ACCESS_KEY=q8Vd2LrT6mWn0YbH4sKc9PzXe1GfJu7Ai3NoR5tE\n\
             STRIPE_KEY=sk_live_51HkT9qLmZr4Xb2Yw8Vn6Jp3Ds\n",
        ),
        object(
            "logs/app-2025-12-01.log",
            "2025-12-01T10:00:01Z INFO login ok user=ops@contoso-mail.com\n\
             2025-12-01T10:00:02Z INFO request served in 12 ms\n",
        ),
        object(
            "docs/README.md",
            "# Deploy\nRun `make deploy` from the repository root.\n",
        ),
    ]
}

async fn seed(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    objects: &[SampleObject],
) -> anyhow::Result<()> {
    client
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .with_context(|| format!("creating demo bucket {bucket}"))?;
    for object in objects {
        let mut put = client
            .put_object()
            .bucket(bucket)
            .key(object.key)
            .body(object.body.clone().into_bytes().into());
        if let Some(class) = object.storage_class {
            put = put.storage_class(class.into());
        }
        if let Some(sse) = object.sse {
            put = put.server_side_encryption(sse.into());
        }
        if object.client_side {
            put = put
                .metadata("x-amz-key-v2", "AQIDAHhVbXktZGF0YS1rZXk=")
                .metadata("x-amz-iv", "MTIzNDU2Nzg5MDEy")
                .metadata("x-amz-cek-alg", "AES/GCM/NoPadding")
                .metadata("x-amz-wrap-alg", "kms+context");
        }
        put.send()
            .await
            .with_context(|| format!("uploading s3://{bucket}/{}", object.key))?;
    }
    Ok(())
}

pub(crate) async fn run() -> anyhow::Result<ExitCode> {
    let mut service = ServiceConfig::from_env()?;
    if service.aws_endpoint_url.is_none() {
        service.aws_endpoint_url = Some("http://127.0.0.1:5000".into());
        service.s3_force_path_style = true;
    }
    // The demo talks to a local endpoint only: fixed credentials, never the user's AWS ones.
    service.static_credentials = Some(("testing".into(), "testing".into()));
    service.aws_region.get_or_insert_with(|| "us-east-1".into());
    let run_id: String = (0..6).map(|_| fastrand::lowercase()).collect();
    service.task_queue = format!("trawl.demo.{run_id}");
    let endpoint = service.aws_endpoint_url.clone().unwrap_or_default();

    let clients = S3Clients::from_config(&service).await;
    let master = clients.client_for(None, None).await;
    let member_role = trawl_common::job::role_arn(MEMBER, MEMBER_ROLE);
    let member = clients
        .client_for(Some(&member_role), Some(EXTERNAL_ID))
        .await;
    let hr = format!("demo-{run_id}-hr");
    let finance = format!("demo-{run_id}-finance");
    let engineering = format!("demo-{run_id}-engineering");
    eprintln!("seeding sample buckets on {endpoint}:");
    seed(&master, &hr, &hr_objects()).await.with_context(|| {
        format!("is an S3-compatible endpoint running at {endpoint}? (scripts/services starts one)")
    })?;
    seed(&master, &finance, &finance_objects()).await?;
    seed(&member, &engineering, &engineering_objects()).await?;
    eprintln!("  account {MASTER} (master): s3://{hr}, s3://{finance}");
    eprintln!("  account {MEMBER} (member, role {MEMBER_ROLE}): s3://{engineering}");

    let store = crate::embedded::open_store()?;
    let services = crate::embedded::Embedded::start(&service, store.clone(), 2).await;

    let spec = JobSpec {
        name: Some("demo".into()),
        accounts: vec![MemberAccount {
            id: MEMBER.into(),
            role_name: MEMBER_ROLE.into(),
            external_id: Some(EXTERNAL_ID.into()),
        }],
        selections: vec![
            // Two overlapping prefixes: each object is classified once.
            Selection {
                account: MASTER.into(),
                bucket: hr.clone(),
                prefixes: vec!["employees/".into(), "employees/2025/".into()],
            },
            Selection {
                account: MASTER.into(),
                bucket: finance.clone(),
                prefixes: Vec::new(),
            },
            Selection {
                account: MEMBER.into(),
                bucket: engineering.clone(),
                prefixes: Vec::new(),
            },
        ],
    };
    let job_id = trawl_coordinator::submit(&store, &spec).await?;
    eprintln!("\nsubmitted job {job_id}");
    let code = crate::jobs::follow(&store, &job_id, false).await?;
    println!();
    crate::jobs::print_findings(&store, &job_id).await?;
    services.stop().await?;
    store.flush()?;
    Ok(code)
}
