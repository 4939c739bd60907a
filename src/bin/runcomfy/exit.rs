//! Exit codes, and the failures that lead to them.
//!
//! As RunComfy's own CLI: 64 usage, 65 invalid input or another 4xx, 69
//! server or network error, 75 timeout or rate limited, 77 authentication,
//! 1 anything else. Beyond it, each outcome a script must tell apart has a
//! code of its own: 80 insufficient balance, 81 job failed, 82 job
//! cancelled, 83 a submit that may have been accepted (check RunComfy
//! before sending it again), 84 over `--max-cost` (nothing was sent), 85
//! schema drift, 86 a batch that ended with lines not done, 130
//! interrupted with the job going on.

use runcomfy::Error;
use serde_json::{Value, json};

pub const OK: u8 = 0;
pub const OTHER: u8 = 1;
pub const USAGE: u8 = 64;
pub const INVALID_INPUT: u8 = 65;
pub const UNAVAILABLE: u8 = 69;
pub const TEMPORARY: u8 = 75;
pub const AUTH: u8 = 77;
pub const INSUFFICIENT_BALANCE: u8 = 80;
pub const JOB_FAILED: u8 = 81;
pub const JOB_CANCELLED: u8 = 82;
pub const MAY_HAVE_BEEN_ACCEPTED: u8 = 83;
pub const OVER_MAX_COST: u8 = 84;
pub const SCHEMA_DRIFT: u8 = 85;
pub const BATCH_INCOMPLETE: u8 = 86;
pub const INTERRUPTED: u8 = 130;

/// Why a command did not succeed: an exit code, a message for people and
/// what `--json` prints.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub kind: &'static str,
    pub message: String,
    pub request_id: Option<String>,
    /// More for `--json` (e.g. the violations, the estimate); boxed, as it
    /// is seldom set and large.
    pub detail: Option<Box<Value>>,
}

impl Failure {
    pub fn new(code: u8, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            kind,
            message: message.into(),
            request_id: None,
            detail: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(USAGE, "usage", message)
    }

    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = Some(Box::new(detail));
        self
    }

    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// The `--json` document.
    pub fn to_json(&self) -> Value {
        json!({
            "error": {
                "kind": self.kind,
                "message": self.message,
                "request_id": self.request_id,
                "exit_code": self.code,
                "detail": self.detail,
            }
        })
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let (code, kind) = classify(&error);
        let mut failure = Failure::new(code, kind, error.to_string());
        failure.request_id = error.request_id().map(String::from);
        if let Error::Validation(validation) = &error {
            failure = failure.with_detail(json!(
                validation
                    .violations
                    .iter()
                    .map(|v| json!({"field": v.path, "rule": v.rule.code(), "message": v.to_string(), "value": v.value}))
                    .collect::<Vec<_>>()
            ));
        }
        failure
    }
}

impl From<runcomfy::ConfigError> for Failure {
    fn from(error: runcomfy::ConfigError) -> Self {
        Error::from(error).into()
    }
}

impl From<runcomfy::HandleError> for Failure {
    fn from(error: runcomfy::HandleError) -> Self {
        Error::from(error).into()
    }
}

/// The exit code and kind name of an error.
pub fn classify(error: &Error) -> (u8, &'static str) {
    match error {
        Error::Validation(_) => (INVALID_INPUT, "invalid_input"),
        Error::Auth(_) => (AUTH, "auth"),
        Error::InsufficientBalance(_) => (INSUFFICIENT_BALANCE, "insufficient_balance"),
        Error::NotFound(_) => (INVALID_INPUT, "not_found"),
        Error::RateLimited(_) => (TEMPORARY, "rate_limited"),
        Error::Server(_) => (UNAVAILABLE, "server"),
        Error::Refused(_) => (INVALID_INPUT, "refused"),
        Error::JobFailed { .. } => (JOB_FAILED, "job_failed"),
        Error::JobCancelled { .. } => (JOB_CANCELLED, "job_cancelled"),
        Error::NotFinished { .. } => (TEMPORARY, "not_finished"),
        Error::TimedOut { .. } => (TEMPORARY, "timed_out"),
        Error::Transport { .. } | Error::InvalidResponse { .. } => (UNAVAILABLE, "unavailable"),
        Error::SubmitOutcomeUnknown { .. } => (MAY_HAVE_BEEN_ACCEPTED, "may_have_been_accepted"),
        Error::Handle(_) | Error::InvalidModelId(_) => (USAGE, "usage"),
        Error::Config(runcomfy::ConfigError::MissingToken) => (AUTH, "missing_token"),
        Error::Config(_) => (USAGE, "config"),
        _ => (OTHER, "other"),
    }
}
