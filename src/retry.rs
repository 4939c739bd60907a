//! Which calls are retried, when, and how long the client waits between
//! tries.
//!
//! | call                    | retried on                                                      |
//! |-------------------------|-----------------------------------------------------------------|
//! | status, result, cancel, model info | any network error, 408, 429, 500, 502, 503, 504, an unreadable or truncated body, an error carried in a 200 body with code 500001 |
//! | submit (a paid job)     | only a connection that never opened (refused, DNS, TLS) and 429 |
//!
//! A submit that may have reached RunComfy is never sent again: the client
//! returns [`Error::SubmitOutcomeUnknown`](crate::Error::SubmitOutcomeUnknown)
//! instead.
//!
//! Delays grow exponentially with jitter (from [`backon`]) and are at least
//! the server's `Retry-After`; retrying stops after
//! [`max_retries`](RetryPolicy::max_retries) or once the next wait would pass
//! the [`budget`](RetryPolicy::budget). All waiting goes through
//! `tokio::time`.

use backon::BackoffBuilder;
use std::time::Duration;

/// How transient failures are retried. See the [module docs](self).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first try (0: never retry).
    pub max_retries: usize,
    /// The first delay.
    pub initial_delay: Duration,
    /// The longest delay between two tries.
    pub max_delay: Duration,
    /// The most time spent waiting between tries for one call.
    pub budget: Duration,
    /// Randomise delays so that many clients do not retry in step.
    pub jitter: bool,
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
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The delays before each retry.
    pub(crate) fn delays(&self) -> impl Iterator<Item = Duration> + use<> {
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
pub(crate) enum Verdict {
    /// Hand the outcome to the caller.
    Done,
    /// Try again, waiting at least this long if the server said so.
    Retry(Option<Duration>),
}

/// What one try produced, as far as retrying is concerned.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Attempt<'a> {
    /// No answer; `connect` when the connection never opened.
    Failed { connect: bool },
    /// An answer (its body fully read).
    Answered {
        status: u16,
        retry_after: Option<Duration>,
        body: &'a [u8],
    },
}

/// The retry rule of the [module docs](self).
pub(crate) fn verdict(attempt: Attempt<'_>, is_submit: bool) -> Verdict {
    match attempt {
        Attempt::Failed { connect } => {
            if connect || !is_submit {
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
        Attempt::Answered { .. } if is_submit => Verdict::Done,
        Attempt::Answered {
            status: 408 | 500 | 502 | 503 | 504,
            retry_after,
            ..
        } => Verdict::Retry(retry_after),
        Attempt::Answered {
            status: 200..=299,
            body,
            ..
        } => match serde_json::from_slice::<serde_json::Value>(body) {
            Err(_) => Verdict::Retry(None),
            Ok(value) if is_transient_error_body(&value) => Verdict::Retry(None),
            Ok(_) => Verdict::Done,
        },
        Attempt::Answered { .. } => Verdict::Done,
    }
}

/// An error in a 200 body that says "try again": code 500001.
fn is_transient_error_body(value: &serde_json::Value) -> bool {
    let code = &value["error_code"];
    value.get("request_id").is_none() && (code == 500001 || code == "500001")
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
        let policy = RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        };
        let delays: Vec<Duration> = policy.delays().collect();
        assert_eq!(delays.len(), 4);
        assert_eq!(delays[0], Duration::from_millis(250));
        assert_eq!(delays[1], Duration::from_millis(500));
        assert!(delays.iter().all(|d| *d <= policy.max_delay));
        assert_eq!(RetryPolicy::none().delays().count(), 0);
    }
}
