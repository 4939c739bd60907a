//! Which calls are retried, when, and how long the client waits between
//! tries: the policy and the loop that runs every API request.

use super::ApiContext;
use super::answer::{BufferedResponse, send_and_read};
use super::decode::{api_error_from, error_in_200, is_retryable_error_in_200, retry_after};
use super::http_status;
use backon::BackoffBuilder;
use std::time::Duration;

/// How transient failures of API calls are retried.
///
/// | call | retried on |
/// |---|---|
/// | status, result, cancel, model info, listing | any network error, 408, 429, 500, 502, 503, 504, an unreadable or truncated body, an error carried in a 200 body with code 500001 |
/// | submit (a paid job) | only a connection that never opened (refused, DNS, TLS) and 429 |
///
/// A submit that may have reached RunComfy is never sent again: the client
/// returns [`Error::SubmitOutcomeUnknown`](crate::Error::SubmitOutcomeUnknown)
/// instead.
///
/// Delays grow exponentially with jitter (from [`backon`]) and are at least
/// the server's `Retry-After` (a longer one than a day counts as a day).
/// Retrying stops after [`max_retries`](Self::max_retries) or once the next
/// wait would pass the [`budget`](Self::budget), whatever the server asked
/// for. All waiting goes through `tokio::time`.
///
/// ```
/// use runcomfy::RetryPolicy;
/// use std::time::Duration;
///
/// let patient = RetryPolicy::default()
///     .max_retries(8)
///     .budget(Duration::from_secs(300));
/// assert_eq!(patient.retry_limit(), 8);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct RetryPolicy {
    max_retries: usize,
    initial_delay: Duration,
    max_delay: Duration,
    budget: Duration,
    jitter: bool,
}

impl Default for RetryPolicy {
    /// 4 retries, from 250 ms doubling to at most 8 s, 60 s in all, with
    /// jitter.
    fn default() -> Self {
        Self {
            max_retries: 4,
            initial_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            budget: Duration::from_secs(60),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self::default().max_retries(0)
    }

    /// Retries after the first try (0: never retry).
    pub fn max_retries(mut self, retries: usize) -> Self {
        self.max_retries = retries;
        self
    }

    /// The first delay.
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// The longest delay between two tries.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The most time one call spends waiting between tries.
    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// Randomise delays so that many clients do not retry in step.
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// How many retries may follow the first try (set with
    /// [`max_retries`](Self::max_retries)).
    pub fn retry_limit(&self) -> usize {
        self.max_retries
    }

    /// The delays before each retry.
    fn delays(&self) -> impl Iterator<Item = Duration> + use<> {
        let mut builder = backon::ExponentialBuilder::default()
            .with_min_delay(self.initial_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_max_times(self.max_retries);
        if self.jitter {
            builder = builder.with_jitter();
        }
        builder.build()
    }
}

/// What to do after one try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Hand the outcome to the caller.
    Done,
    /// Try again, waiting at least this long if the server said so.
    Retry(Option<Duration>),
}

/// What one try produced, as far as retrying is concerned.
#[derive(Debug, Clone, Copy)]
enum Attempt<'a> {
    /// No answer; `connect` when the connection never opened.
    Failed { connect: bool },
    /// An answer (its body fully read).
    Answered {
        status: u16,
        retry_after: Option<Duration>,
        body: &'a [u8],
    },
}

/// Finds the key of an error carried in a 200 body.
static ERROR_CODE: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"error_code"));

/// The retry rule of [`RetryPolicy`]'s table.
fn verdict(attempt: Attempt<'_>, paid: bool) -> Verdict {
    match attempt {
        Attempt::Failed { connect } => {
            if connect || !paid {
                Verdict::Retry(None)
            } else {
                Verdict::Done
            }
        }
        Attempt::Answered {
            status: 429,
            retry_after,
            ..
        } => Verdict::Retry(retry_after),
        Attempt::Answered { .. } if paid => Verdict::Done,
        Attempt::Answered {
            status: 408 | 500 | 502 | 503 | 504,
            retry_after,
            ..
        } => Verdict::Retry(retry_after),
        Attempt::Answered {
            status: 200..=299,
            body,
            ..
        } => {
            // Reading the whole document without keeping it is cheap; only
            // a body that names an error code is looked into further.
            if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err()
                || (ERROR_CODE.find(body).is_some() && is_retryable_error_in_200(body))
            {
                Verdict::Retry(None)
            } else {
                Verdict::Done
            }
        }
        Attempt::Answered { .. } => Verdict::Done,
    }
}

/// The error a 2xx answer carries in disguise (`{"error_code": ...}` and
/// no `request_id`), looked for only in bodies that name an error code.
fn disguised_error(answer: &BufferedResponse) -> Option<crate::error::ApiError> {
    let status = answer.status();
    let body = answer.body();
    let suspicious = (200..300).contains(&status) && ERROR_CODE.find(body).is_some();
    (suspicious && error_in_200(body).is_some())
        .then(|| api_error_from(status, body, retry_after(answer.headers()), None))
}

/// Sends `request` under the context's retry policy; `paid` marks a call
/// that may create a paid job (submit).
pub(crate) async fn execute(
    http: &reqwest::Client,
    context: &ApiContext,
    request: reqwest::Request,
    paid: bool,
) -> reqwest::Result<reqwest::Response> {
    let policy = &context.retry;
    let started = tokio::time::Instant::now();
    let mut delays = policy.delays();
    let mut attempts = 0u32;
    loop {
        attempts = attempts.saturating_add(1);
        // The client's cap on requests in flight: held for one try, not
        // across the wait before a retry. The semaphore is never closed.
        let permit = context.in_flight.acquire().await.ok();
        // Bodies here are JSON in memory, so a copy is always possible.
        let outcome = match request.try_clone() {
            Some(copy) => send_and_read(http, copy, &context.scrubber).await,
            None => return http.execute(request).await,
        };
        drop(permit);
        let attempt = match &outcome {
            Err(error) => Attempt::Failed {
                connect: error.is_connect(),
            },
            Ok(response) => Attempt::Answered {
                status: response.status(),
                retry_after: retry_after(response.headers()),
                body: response.body(),
            },
        };
        let wait = match verdict(attempt, paid) {
            Verdict::Done => None,
            // However long the server asks for, a retry happens only within
            // the budget; checked sums, since `Retry-After` is the server's.
            Verdict::Retry(asked) => delays
                .next()
                .map(|delay| asked.map_or(delay, |asked| asked.max(delay)))
                .filter(|wait| {
                    started
                        .elapsed()
                        .checked_add(*wait)
                        .is_some_and(|total| total <= policy.budget)
                }),
        };
        let span = tracing::Span::current();
        if !span.is_disabled() {
            span.record("attempts", attempts);
            if let Ok(response) = &outcome {
                span.record("http.status", response.status());
            }
        }
        let Some(wait) = wait else {
            if let Ok(answer) = &outcome {
                http_status::note(answer.status(), disguised_error(answer));
            }
            return outcome.map(BufferedResponse::into_response);
        };
        tracing::debug!(
            attempt = attempts,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            error = outcome.as_ref().err().map(|e| e.to_string()),
            status = outcome.as_ref().ok().map(BufferedResponse::status),
            "retrying"
        );
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16, body: &[u8]) -> Attempt<'_> {
        Attempt::Answered {
            status,
            retry_after: None,
            body,
        }
    }

    #[test]
    fn submits_are_retried_only_when_they_cannot_have_arrived() {
        assert_eq!(
            verdict(Attempt::Failed { connect: true }, true),
            Verdict::Retry(None)
        );
        assert_eq!(
            verdict(Attempt::Failed { connect: false }, true),
            Verdict::Done
        );
        let rate_limited = Attempt::Answered {
            status: 429,
            retry_after: Some(Duration::from_secs(3)),
            body: b"",
        };
        assert_eq!(
            verdict(rate_limited, true),
            Verdict::Retry(Some(Duration::from_secs(3)))
        );
        for status in [500, 502, 503, 504, 408] {
            assert_eq!(
                verdict(answered(status, b""), true),
                Verdict::Done,
                "{status}"
            );
        }
        assert_eq!(verdict(answered(200, b"{not json"), true), Verdict::Done);
    }

    #[test]
    fn idempotent_calls_are_retried_on_transient_failures() {
        assert_eq!(
            verdict(Attempt::Failed { connect: false }, false),
            Verdict::Retry(None)
        );
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(verdict(answered(status, b""), false), Verdict::Retry(_)),
                "{status}"
            );
        }
        for status in [400, 401, 403, 404, 422] {
            assert_eq!(
                verdict(answered(status, b"{}"), false),
                Verdict::Done,
                "{status}"
            );
        }
        assert_eq!(
            verdict(answered(200, b"{\"request_id\": \"x\"}"), false),
            Verdict::Done
        );
        assert_eq!(
            verdict(answered(200, b"{\"request_id\": "), false),
            Verdict::Retry(None)
        );
        assert_eq!(
            verdict(answered(200, b"{\"error_code\": 500001}"), false),
            Verdict::Retry(None)
        );
        assert_eq!(
            verdict(answered(200, b"{\"error_code\": 400004}"), false),
            Verdict::Done
        );
    }

    #[test]
    fn delays_grow_to_the_cap_and_stop() {
        let policy = RetryPolicy::default().jitter(false);
        let delays: Vec<Duration> = policy.delays().collect();
        assert_eq!(delays.len(), 4);
        assert_eq!(delays[0], Duration::from_millis(250));
        assert_eq!(delays[1], Duration::from_millis(500));
        assert!(delays.iter().all(|d| *d <= policy.max_delay));
        assert_eq!(RetryPolicy::none().delays().count(), 0);
    }

    #[test]
    fn extreme_settings_do_not_panic() {
        let policy = RetryPolicy::default()
            .initial_delay(Duration::MAX)
            .max_delay(Duration::MAX)
            .budget(Duration::MAX)
            .max_retries(usize::MAX);
        assert!(policy.delays().take(100).all(|d| d == Duration::MAX));
    }
}
