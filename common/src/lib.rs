//! What Trawl's coordinator and workers share.
//!
//! # Layout
//! - [`config`]: endpoints and tuning from the environment (`TRAWL_AMQP_URL`, `TRAWL_REDIS_URL`,
//!   `AWS_ENDPOINT_URL`, …), validated before any connection opens.
//! - [`job`]: the job file (TOML or JSON), its validation (12-digit account IDs, S3 bucket naming
//!   rules) and the normalisation of overlapping prefixes.
//! - [`aws`]: S3 clients per account: the master through the default credentials chain, members
//!   through STS AssumeRole with an external ID, cached and refreshed.
//! - [`s3_error`]: the one place where S3 SDK errors are translated into retry decisions.
//! - [`queue`]: the task queue trait, with an in-process implementation; [`amqp`] is the
//!   RabbitMQ one (durable quorum task queue, delivery limit, dead-letter queue, confirms).
//! - [`store`]: the Redis data model: job state, counters, the idempotency ledger and the result
//!   stream, with the Lua scripts that keep them consistent.
//! - [`retry`]: jittered exponential backoff used for every transient failure.
#![warn(missing_docs)]

pub mod amqp;
pub mod aws;
pub mod config;
pub mod job;
pub mod memstore;
pub mod queue;
pub mod retry;
pub mod s3_error;
pub mod state;
pub mod store;

/// Current time in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Returns the UTC calendar date (year, month, day) of a unix-ms time.
pub fn civil_date(ms: i64) -> (i64, i64, i64) {
    let days = (ms / 1000).div_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Returns the calendar month (UTC) of a unix-ms time as `YYYY-MM`, the period of account quotas.
pub fn month_of(ms: i64) -> String {
    let (y, m, _) = civil_date(ms);
    format!("{y:04}-{m:02}")
}

/// Returns `url` with any password replaced by `***`, for error messages and logs.
pub fn redact_url(url: &str) -> String {
    // scheme://user:password@host…  →  scheme://user:***@host…
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            if let Some(colon) = userinfo.find(':') {
                return format!(
                    "{}://{}:***{}",
                    &url[..scheme_end],
                    &userinfo[..colon],
                    &rest[at..]
                );
            }
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn months_are_utc_calendar_months() {
        assert_eq!(super::month_of(0), "1970-01");
        assert_eq!(super::month_of(1_796_322_921_248), "2026-12");
        assert_eq!(super::month_of(951_782_400_000), "2000-02"); // 2000-02-29
        assert_eq!(super::month_of(951_868_800_000), "2000-03");
        assert_eq!(super::civil_date(951_782_400_000), (2000, 2, 29));
    }

    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(
            redact_url("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(redact_url("redis://:pw@h:1/0"), "redis://:***@h:1/0");
    }
}
