//! A served `LocalS3` with a master and a member account, and SDK clients for it.

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::ProvideErrorMetadata as _;
use trawl_s3_local::{LocalS3, ServerHandle};

/// The account whose long-term keys the tests use.
pub(crate) const MASTER: &str = "111111111111";
pub(crate) const MASTER_KEY: &str = "AKIAMASTER0000000001";
pub(crate) const MASTER_SECRET: &str = "master-secret";
/// A member account, reached through AssumeRole only.
pub(crate) const MEMBER: &str = "222222222222";
pub(crate) const MEMBER_ROLE: &str = "arn:aws:iam::222222222222:role/TrawlClassificationRole";
pub(crate) const EXTERNAL_ID: &str = "trawl-external-id";

/// A running server and its model.
pub(crate) struct Fixture {
    pub(crate) local: LocalS3,
    pub(crate) url: String,
    _handle: ServerHandle,
}

impl Fixture {
    /// Serves a model with the master's keys and the member account (one bucket each way
    /// is left to the test).
    pub(crate) async fn start() -> Self {
        let local = LocalS3::new();
        local.add_account(MASTER, MASTER_KEY, MASTER_SECRET);
        local
            .create_bucket(MEMBER, "member-logs")
            .expect("a new bucket");
        local.require_external_id(MEMBER_ROLE, EXTERNAL_ID);
        let (url, handle) = local
            .serve_local()
            .await
            .expect("binding 127.0.0.1:0 should work");
        Self {
            local,
            url,
            _handle: handle,
        }
    }

    /// An S3 client with the master's keys.
    pub(crate) fn s3_master(&self) -> aws_sdk_s3::Client {
        self.s3_with(Credentials::new(
            MASTER_KEY,
            MASTER_SECRET,
            None,
            None,
            "tests",
        ))
    }

    pub(crate) fn s3_with(&self, credentials: Credentials) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .force_path_style(true)
            .retry_config(RetryConfig::disabled())
            .credentials_provider(credentials)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    pub(crate) fn sts_with(&self, credentials: Credentials) -> aws_sdk_sts::Client {
        let config = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .retry_config(RetryConfig::disabled())
            .credentials_provider(credentials)
            .build();
        aws_sdk_sts::Client::from_conf(config)
    }

    pub(crate) fn sts_master(&self) -> aws_sdk_sts::Client {
        self.sts_with(Credentials::new(
            MASTER_KEY,
            MASTER_SECRET,
            None,
            None,
            "tests",
        ))
    }
}

/// Returns the error code of a failed SDK call.
pub(crate) fn code<E, R>(
    result: Result<impl std::fmt::Debug, aws_sdk_s3::error::SdkError<E, R>>,
) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let error = result.expect_err("the call should fail");
    error
        .code()
        .unwrap_or_else(|| panic!("the error should carry a code: {error:?}"))
        .to_string()
}

/// Returns the error message of a failed SDK call.
pub(crate) fn message<E, R>(
    result: Result<impl std::fmt::Debug, aws_sdk_s3::error::SdkError<E, R>>,
) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let error = result.expect_err("the call should fail");
    error.message().unwrap_or_default().to_string()
}
