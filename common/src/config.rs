//! Endpoints and tuning, from the environment (then defaults), validated before anything connects.
//!
//! The environment is passed in as a map so tests can cover every source without touching the
//! process environment.

use std::collections::HashMap;

/// Errors in configuration values.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable holds a value that cannot be used.
    #[error("invalid value for {name}: {message}")]
    Invalid {
        /// Variable or option name.
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

/// Where the services are, and how to reach S3.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// RabbitMQ URL (`TRAWL_AMQP_URL`).
    pub amqp_url: String,
    /// Redis URL (`TRAWL_REDIS_URL`).
    pub redis_url: String,
    /// Queue that carries classification tasks (`TRAWL_TASK_QUEUE`).
    pub task_queue: String,
    /// S3/STS endpoint override for S3-compatible stores and tests (`AWS_ENDPOINT_URL`).
    pub aws_endpoint_url: Option<String>,
    /// Region (`AWS_REGION` or `AWS_DEFAULT_REGION`); `None` asks the AWS chain (profile,
    /// IMDS) and falls back to us-east-1.
    pub aws_region: Option<String>,
    /// Path-style S3 addressing (`TRAWL_S3_FORCE_PATH_STYLE`); on by default with an endpoint override.
    pub s3_force_path_style: bool,
    /// How long to keep trying to reach RabbitMQ or Redis at start-up (`TRAWL_CONNECT_TIMEOUT_SECS`).
    pub connect_timeout_secs: u64,
    /// Delete the task queues after this long unused (`TRAWL_QUEUE_EXPIRES_MS`, RabbitMQ's
    /// `x-expires`): for short-lived deployments such as tests and benchmarks.
    pub queue_expires_ms: Option<u64>,
    /// Whether a broker or Redis is configured (`TRAWL_AMQP_URL` or `TRAWL_REDIS_URL` set): the
    /// CLI then talks to the distributed deployment; otherwise it runs Trawl embedded.
    pub distributed: bool,
    /// Fixed credentials for a local S3-compatible endpoint (the demo); `None` uses the AWS
    /// default credentials chain. Never read from the environment.
    pub static_credentials: Option<(String, String)>,
}

/// Default RabbitMQ URL.
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// Default Redis URL.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/";
/// Default task queue name.
pub const DEFAULT_TASK_QUEUE: &str = "trawl.tasks";

impl ServiceConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_map(&std::env::vars().collect())
    }

    /// Reads the configuration from `env`, falling back to defaults.
    pub fn from_env_map(env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            env.get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let distributed = get("TRAWL_AMQP_URL").is_some() || get("TRAWL_REDIS_URL").is_some();
        let amqp_url = get("TRAWL_AMQP_URL").unwrap_or_else(|| DEFAULT_AMQP_URL.into());
        if !(amqp_url.starts_with("amqp://") || amqp_url.starts_with("amqps://")) {
            return Err(ConfigError::Invalid {
                name: "TRAWL_AMQP_URL",
                message: format!(
                    "{} is not an amqp:// or amqps:// URL",
                    crate::redact_url(&amqp_url)
                ),
            });
        }
        let redis_url = get("TRAWL_REDIS_URL").unwrap_or_else(|| DEFAULT_REDIS_URL.into());
        if !(redis_url.starts_with("redis://") || redis_url.starts_with("rediss://")) {
            return Err(ConfigError::Invalid {
                name: "TRAWL_REDIS_URL",
                message: format!(
                    "{} is not a redis:// or rediss:// URL",
                    crate::redact_url(&redis_url)
                ),
            });
        }
        let aws_endpoint_url = get("AWS_ENDPOINT_URL_S3").or_else(|| get("AWS_ENDPOINT_URL"));
        let s3_force_path_style = match get("TRAWL_S3_FORCE_PATH_STYLE") {
            None => aws_endpoint_url.is_some(),
            Some(v) => parse_bool("TRAWL_S3_FORCE_PATH_STYLE", &v)?,
        };
        let connect_timeout_secs = match get("TRAWL_CONNECT_TIMEOUT_SECS") {
            None => 30,
            Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                name: "TRAWL_CONNECT_TIMEOUT_SECS",
                message: format!("{v:?} is not a whole number of seconds"),
            })?,
        };
        let queue_expires_ms = match get("TRAWL_QUEUE_EXPIRES_MS") {
            None => None,
            Some(v) => Some(v.parse().ok().filter(|n: &u64| *n > 0).ok_or_else(|| {
                ConfigError::Invalid {
                    name: "TRAWL_QUEUE_EXPIRES_MS",
                    message: format!("{v:?} is not a positive number of milliseconds"),
                }
            })?),
        };
        Ok(Self {
            amqp_url,
            queue_expires_ms,
            redis_url,
            task_queue: get("TRAWL_TASK_QUEUE").unwrap_or_else(|| DEFAULT_TASK_QUEUE.into()),
            aws_endpoint_url,
            aws_region: get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")),
            s3_force_path_style,
            connect_timeout_secs,
            distributed,
            static_credentials: None,
        })
    }
}

fn parse_bool(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Invalid {
            name,
            message: format!("{value:?} is not true or false"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_point_at_local_services() {
        let config = ServiceConfig::from_env_map(&env(&[])).unwrap();
        assert_eq!(config.amqp_url, DEFAULT_AMQP_URL);
        assert_eq!(config.redis_url, DEFAULT_REDIS_URL);
        assert!(!config.s3_force_path_style);
        assert!(!config.distributed);
        assert!(
            ServiceConfig::from_env_map(&env(&[("TRAWL_REDIS_URL", "redis://h:1/")]))
                .unwrap()
                .distributed
        );
        assert_eq!(config.aws_region, None);
        let config =
            ServiceConfig::from_env_map(&env(&[("AWS_DEFAULT_REGION", "eu-west-1")])).unwrap();
        assert_eq!(config.aws_region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn endpoint_override_turns_on_path_style() {
        let config =
            ServiceConfig::from_env_map(&env(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")]))
                .unwrap();
        assert!(config.s3_force_path_style);
        assert_eq!(
            config.aws_endpoint_url.as_deref(),
            Some("http://127.0.0.1:5000")
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = ServiceConfig::from_env_map(&env(&[("TRAWL_AMQP_URL", "http://x")])).unwrap_err();
        assert!(err.to_string().contains("TRAWL_AMQP_URL"), "{err}");
        let err = ServiceConfig::from_env_map(&env(&[("TRAWL_S3_FORCE_PATH_STYLE", "maybe")]))
            .unwrap_err();
        assert!(
            err.to_string().contains("TRAWL_S3_FORCE_PATH_STYLE"),
            "{err}"
        );
    }
}
