//! Jittered exponential backoff, the one retry helper every transient failure goes through.

use std::time::Duration;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryParams {
    /// Delay before the first retry.
    pub base_delay: Duration,
    /// Upper bound of any single delay.
    pub max_delay: Duration,
    /// Attempts in total, the first one included.
    pub max_attempts: u32,
}

impl Default for RetryParams {
    fn default() -> Self {
        Self {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            max_attempts: 5,
        }
    }
}

impl RetryParams {
    /// Returns the delay before retry number `attempt` (1-based): full jitter over an
    /// exponentially growing window, so that many workers retrying at once spread out.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let window = exp.min(self.max_delay);
        let half = window / 2;
        half + window.mul_f64(fastrand::f64() * 0.5)
    }
}

/// Runs `op` until it succeeds, fails with an error that is not retryable, or runs out of
/// attempts. `is_retryable` decides; `retry_after` may stretch a delay (a throttling hint).
pub async fn retry<T, E, F, Fut>(
    params: &RetryParams,
    is_retryable: impl Fn(&E) -> bool,
    mut op: F,
) -> Result<T, E>
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match op(attempt).await {
            Ok(value) => return Ok(value),
            Err(error) if attempt < params.max_attempts && is_retryable(&error) => {
                tokio::time::sleep(params.delay(attempt)).await;
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_bounded() {
        let params = RetryParams {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_attempts: 10,
        };
        for _ in 0..100 {
            let first = params.delay(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let late = params.delay(9);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_secs(1));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_and_stops_on_permanent_ones() {
        let params = RetryParams::default();
        let mut calls = 0;
        let result: Result<u32, &str> = retry(
            &params,
            |e| *e == "transient",
            |attempt| {
                calls += 1;
                async move {
                    if attempt < 3 {
                        Err("transient")
                    } else {
                        Ok(attempt)
                    }
                }
            },
        )
        .await;
        assert_eq!(result, Ok(3));
        assert_eq!(calls, 3);

        let mut calls = 0;
        let result: Result<u32, &str> = retry(
            &params,
            |e| *e == "transient",
            |_| {
                calls += 1;
                async { Err("permanent") }
            },
        )
        .await;
        assert_eq!(result, Err("permanent"));
        assert_eq!(calls, 1);

        let mut calls = 0;
        let result: Result<u32, &str> = retry(
            &params,
            |_| true,
            |_| {
                calls += 1;
                async { Err("transient") }
            },
        )
        .await;
        assert_eq!(result, Err("transient"));
        assert_eq!(calls, params.max_attempts);
    }
}
