//! S3 clients per account.
//!
//! The master account is reached with the default credentials chain (environment, profile, SSO,
//! web identity, IMDS); a member account through STS AssumeRole into its role with the external
//! ID. [`S3Clients`] builds one client per (role, external ID), caches it, and lets the AWS
//! credentials provider refresh the assumed-role session before it expires.
//!
//! SDK retries are turned off: every caller retries through [`crate::retry`] with the error
//! classification of [`crate::s3_error`], so retries never stack.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use tokio::sync::Mutex;

use crate::config::ServiceConfig;
use crate::job::AccountAccess;

/// Errors reaching an account.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// AssumeRole (or the default chain) did not yield credentials.
    #[error("cannot obtain credentials for account {account}{}: {message}", role_arn.as_ref().map(|r| format!(" (role {r})")).unwrap_or_default())]
    Credentials {
        /// Account ID.
        account: String,
        /// Role that was assumed, if a member.
        role_arn: Option<String>,
        /// What STS or the chain said.
        message: String,
    },
}

/// (role ARN or "" for the master, external ID or "").
type ClientKey = (String, String);
/// A client and the credentials provider it signs with.
type ClientEntry = (aws_sdk_s3::Client, Option<SharedCredentialsProvider>);

/// Builds and caches S3 clients per account.
#[derive(Clone)]
pub struct S3Clients {
    base: SdkConfig,
    force_path_style: bool,
    /// Clients by (role ARN or "" for the master, external ID). Shared by every task of a
    /// process; the lock is held only while a client is built.
    cache: Arc<Mutex<HashMap<ClientKey, ClientEntry>>>,
}

impl std::fmt::Debug for S3Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Clients").finish_non_exhaustive()
    }
}

/// Loads the base AWS configuration (default chain, endpoint override, no SDK retries).
pub async fn load_sdk_config(config: &ServiceConfig) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    loader = match &config.aws_region {
        // An explicit region: no look-up at all (and no IMDS probe off a cloud host).
        Some(region) => loader.region(Region::new(region.clone())),
        None => loader.region(
            aws_config::meta::region::RegionProviderChain::default_provider()
                .or_else(Region::new("us-east-1")),
        ),
    };
    let mut loader = loader.retry_config(RetryConfig::disabled()).timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(60))
            .build(),
    );
    if let Some(endpoint) = &config.aws_endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some((access_key_id, secret_access_key)) = &config.static_credentials {
        loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            "trawl-static",
        ));
    }
    loader.load().await
}

impl S3Clients {
    /// Creates the factory from the base configuration.
    pub fn new(base: SdkConfig, force_path_style: bool) -> Self {
        Self {
            base,
            force_path_style,
            cache: Arc::default(),
        }
    }

    /// Loads the AWS configuration for `config` and creates the factory.
    pub async fn from_config(config: &ServiceConfig) -> Self {
        Self::new(load_sdk_config(config).await, config.s3_force_path_style)
    }

    /// Returns the base configuration (default chain).
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.base
    }

    /// Returns the S3 client for an account, assuming its role if it is a member.
    pub async fn client(&self, access: &AccountAccess) -> aws_sdk_s3::Client {
        self.client_for(access.role_arn.as_deref(), access.external_id.as_deref())
            .await
    }

    /// Returns the S3 client for a role (`None` for the master account).
    pub async fn client_for(
        &self,
        role_arn: Option<&str>,
        external_id: Option<&str>,
    ) -> aws_sdk_s3::Client {
        self.entry(role_arn, external_id).await.0
    }

    async fn entry(
        &self,
        role_arn: Option<&str>,
        external_id: Option<&str>,
    ) -> (aws_sdk_s3::Client, Option<SharedCredentialsProvider>) {
        let cache_key = (
            role_arn.unwrap_or_default().to_string(),
            external_id.unwrap_or_default().to_string(),
        );
        let mut cache = self.cache.lock().await;
        if let Some(entry) = cache.get(&cache_key) {
            return entry.clone();
        }
        let mut provider_opt = self.base.credentials_provider();
        let mut builder =
            aws_sdk_s3::config::Builder::from(&self.base).force_path_style(self.force_path_style);
        if let Some(role_arn) = role_arn {
            let mut provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
                .session_name("trawl")
                .configure(&self.base);
            if let Some(external_id) = external_id {
                provider = provider.external_id(external_id);
            }
            let shared = SharedCredentialsProvider::new(provider.build().await);
            builder = builder.credentials_provider(shared.clone());
            provider_opt = Some(shared);
        }
        let entry = (aws_sdk_s3::Client::from_conf(builder.build()), provider_opt);
        cache.insert(cache_key, entry.clone());
        entry
    }

    /// Returns a KMS client for a role (`None` for the master account), signing with the same
    /// credentials as that account's S3 client (the assumed-role session is shared), so a
    /// DescribeKey answers what the workers' role may do with a key.
    pub async fn kms_client_for(
        &self,
        role_arn: Option<&str>,
        external_id: Option<&str>,
    ) -> aws_sdk_kms::Client {
        let (_, provider_opt) = self.entry(role_arn, external_id).await;
        let mut builder = aws_sdk_kms::config::Builder::from(&self.base);
        if let Some(provider) = provider_opt {
            builder = builder.credentials_provider(provider);
        }
        aws_sdk_kms::Client::from_conf(builder.build())
    }

    /// Checks that credentials for `access` can be obtained (for a member: that AssumeRole with
    /// its external ID succeeds), before any job uses them.
    pub async fn verify_credentials(&self, access: &AccountAccess) -> Result<(), AccessError> {
        let (_, provider_opt) = self
            .entry(access.role_arn.as_deref(), access.external_id.as_deref())
            .await;
        let provider = provider_opt.ok_or_else(|| AccessError::Credentials {
            account: access.account.clone(),
            role_arn: access.role_arn.clone(),
            message: "no credentials provider is configured".into(),
        })?;
        provider
            .provide_credentials()
            .await
            .map(|_| ())
            .map_err(|e| AccessError::Credentials {
                account: access.account.clone(),
                role_arn: access.role_arn.clone(),
                message: crate::s3_error::display_chain(&e),
            })
    }
}

/// Returns the account whose credentials the default chain yields (STS GetCallerIdentity):
/// the master account.
pub async fn caller_account(sdk_config: &SdkConfig) -> Result<String, AccessError> {
    let sts = aws_sdk_sts::Client::new(sdk_config);
    let identity =
        sts.get_caller_identity()
            .send()
            .await
            .map_err(|e| AccessError::Credentials {
                account: "(default credentials)".into(),
                role_arn: None,
                message: crate::s3_error::display_chain(&e),
            })?;
    identity.account.ok_or_else(|| AccessError::Credentials {
        account: "(default credentials)".into(),
        role_arn: None,
        message: "GetCallerIdentity returned no account".into(),
    })
}

/// What KMS DescribeKey said of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsKeyDescription {
    /// The key's ARN; built from the ID, the client's region and `account` when KMS did not
    /// answer with one.
    pub arn: String,
    /// The key state (`Enabled`, `Disabled`, `PendingDeletion`, …), `NotFound` or
    /// `AccessDenied` when KMS refused, empty when the call failed otherwise.
    pub state: String,
    /// The error, when the call failed for another reason than those two.
    pub error: Option<String>,
}

/// Describes `key_id` (an ID, alias or ARN, as S3 reports it) of `account` with `kms`.
pub async fn describe_kms_key(
    kms: &aws_sdk_kms::Client,
    key_id: &str,
    account: &str,
) -> KmsKeyDescription {
    let region = kms
        .config()
        .region()
        .map(|r| r.as_ref().to_string())
        .unwrap_or_else(|| "us-east-1".into());
    let fallback_arn = kms_key_arn(key_id, &region, account);
    match kms.describe_key().key_id(key_id).send().await {
        Ok(output) => {
            let metadata = output.key_metadata();
            KmsKeyDescription {
                arn: metadata
                    .and_then(|m| m.arn())
                    .map_or(fallback_arn, str::to_string),
                state: metadata
                    .and_then(|m| m.key_state())
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                error: None,
            }
        }
        Err(error) => {
            use aws_sdk_kms::error::ProvideErrorMetadata;
            let state = match error.code() {
                Some("NotFoundException") => "NotFound",
                Some("AccessDeniedException" | "AccessDenied") => "AccessDenied",
                _ => "",
            };
            KmsKeyDescription {
                arn: fallback_arn,
                state: state.into(),
                error: state
                    .is_empty()
                    .then(|| crate::s3_error::display_chain(&error)),
            }
        }
    }
}

/// The ARN of KMS key `key_id` (an ID, `alias/…` or already an ARN) in `region` of `account`.
pub fn kms_key_arn(key_id: &str, region: &str, account: &str) -> String {
    if key_id.starts_with("arn:") {
        key_id.to_string()
    } else if key_id.starts_with("alias/") {
        format!("arn:aws:kms:{region}:{account}:{key_id}")
    } else {
        format!("arn:aws:kms:{region}:{account}:key/{key_id}")
    }
}
