//! The errors of the client, one enum per layer a caller meets.
//!
//! [`Error`] is what a call to RunComfy can end in. Calls that cannot reach
//! RunComfy return narrower errors: building a client ([`ConfigError`]) and
//! rebuilding a job handle ([`HandleError`]); both convert into [`Error`]
//! with `?`.
//!
//! Every error raised after a submit was accepted carries the request id
//! ([`Error::request_id`]), so a caller can always resume or cancel the
//! (paid) job. Messages quote at most a short excerpt of a response body and
//! never the API token.

use crate::download::DownloadError;
use crate::quote::{EXCERPT_CHARS, excerpt};
use crate::status::Status;
use crate::validation::ValidationError;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// Everything that can go wrong talking to RunComfy.
///
/// Matching on the kind of failure is one pattern per kind:
/// `Error::Auth(_)`, `Error::RateLimited(e)`, `Error::JobFailed { .. }`. The
/// answers RunComfy refused or failed with ([`Auth`](Self::Auth) to
/// [`Refused`](Self::Refused)) share one payload, [`ApiError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input breaks the model's rules; nothing was sent.
    #[error(transparent)]
    Validation(#[from] ValidationError),

    /// The token was refused (HTTP 401/403, codes 400004 and 403001).
    #[error("authentication failed: {0}")]
    Auth(ApiError),

    /// The account cannot pay for the job (HTTP 402, code 400002).
    #[error("insufficient balance: {0}")]
    InsufficientBalance(ApiError),

    /// The request id is unknown, deleted or expired (HTTP 404, code
    /// 404001).
    #[error("not found: {0}")]
    NotFound(ApiError),

    /// Too many requests (HTTP 429), after the retry budget ran out; the
    /// server's `Retry-After` is in [`ApiError::retry_after`].
    #[error("rate limited: {0}")]
    RateLimited(ApiError),

    /// RunComfy failed (HTTP 5xx or code 500001), after the retry budget
    /// ran out.
    #[error("server error: {0}")]
    Server(ApiError),

    /// RunComfy refused the request (any other 4xx, e.g. 400001 invalid
    /// model id, 422001 validation error).
    #[error("request refused: {0}")]
    Refused(ApiError),

    /// The job ended `failed`; `message` is RunComfy's error message.
    #[error("job {request_id} failed{}: {message}", code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    JobFailed {
        /// The failed job.
        request_id: String,
        /// RunComfy's error code for the failure, where it gave one.
        code: Option<String>,
        /// RunComfy's error message (an excerpt).
        message: String,
        /// RunComfy's `error` value as sent (boxed: it can be large).
        error: Box<Value>,
    },

    /// The job was cancelled.
    #[error("job {request_id} was cancelled")]
    JobCancelled {
        /// The cancelled job.
        request_id: String,
    },

    /// The job has not finished, so it has no result yet.
    #[error("job {request_id} has not finished yet (it is {status}); wait for it first")]
    NotFinished {
        /// The job.
        request_id: String,
        /// Its status now.
        status: Status,
    },

    /// The job finished without the output the caller needs.
    #[error("job {request_id} finished without {missing}")]
    MissingOutput {
        /// The job.
        request_id: String,
        /// What is missing, e.g. `a file URL`.
        missing: String,
    },

    /// Waiting passed its deadline. The job goes on unless `cancelled`
    /// says otherwise; resume it with its request id.
    #[error("gave up waiting for job {request_id} after {waited:?} (last status: {last_status}){}", if *cancelled { "; the job was cancelled" } else { "; the job goes on" })]
    TimedOut {
        /// The job.
        request_id: String,
        /// How long the wait lasted.
        waited: Duration,
        /// The last status seen.
        last_status: Status,
        /// Whether the job is now cancelled: cancel on deadline was asked
        /// for and RunComfy cancelled it. False when it was not asked for,
        /// when the job was already running (not cancellable) and when the
        /// cancel call failed.
        cancelled: bool,
    },

    /// The network failed (connect, timeout, reset, unreadable body).
    #[error("transport error{}: {source}", request_suffix(request_id.as_deref()))]
    Transport {
        /// The request concerned, if any.
        request_id: Option<String>,
        /// The underlying error (its text names the URL, never the token).
        #[source]
        source: reqwest::Error,
    },

    /// RunComfy answered something this client cannot use.
    #[error("unusable answer (HTTP {status}){}: {message}", request_suffix(request_id.as_deref()))]
    InvalidResponse {
        /// The HTTP status.
        status: u16,
        /// What was wrong, with an excerpt of the body.
        message: String,
        /// The request concerned, if any.
        request_id: Option<String>,
    },

    /// A submit may have reached RunComfy, and so may be a paid job, but its
    /// answer was lost or unusable (timeout, reset, 5xx, unreadable body, a
    /// request id this client cannot use). It was not sent again. Check the
    /// RunComfy dashboard before submitting again.
    #[error(
        "submit to {model_id} may have been accepted (a paid job) but its answer was lost: {reason}; it was not re-sent, check your RunComfy requests before submitting again"
    )]
    SubmitOutcomeUnknown {
        /// The model submitted to.
        model_id: String,
        /// What happened.
        reason: String,
        /// The underlying network error, if any.
        #[source]
        source: Option<reqwest::Error>,
    },

    /// Downloading a result failed.
    #[error("download for job {request_id} failed: {source}")]
    Download {
        /// The job whose output was being downloaded.
        request_id: String,
        /// What went wrong.
        #[source]
        source: DownloadError,
    },

    /// A job handle could not be rebuilt from a request id or ticket.
    #[error(transparent)]
    Handle(#[from] HandleError),

    /// A model id that cannot go into a URL path; nothing was sent.
    #[error(transparent)]
    InvalidModelId(#[from] InvalidModelId),

    /// The client is misconfigured; nothing was sent.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// An answer in which RunComfy refused or failed a request: its HTTP
/// status, RunComfy's error code and message, and the server's
/// `Retry-After`.
///
/// Its `Display` reads `HTTP 422, code 422001: validation error (request
/// …)`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// The HTTP status (200 for an error carried in a 200 body).
    pub status: u16,
    /// RunComfy's numeric error code, where it sent one.
    pub code: Option<u64>,
    /// RunComfy's message (an excerpt), with its `detail` where given.
    pub message: String,
    /// The request concerned, if any.
    pub request_id: Option<String>,
    /// How long the server asked to wait (`Retry-After`), at most a day.
    pub retry_after: Option<Duration>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(code) = self.code {
            write!(f, ", code {code}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(wait) = self.retry_after {
            write!(f, " (retry after {wait:?})")?;
        }
        f.write_str(&request_suffix(self.request_id.as_deref()))
    }
}

/// Why a client cannot be built; nothing reaches RunComfy when one of these
/// is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No token was given and `RUNCOMFY_TOKEN` is not set (or is empty).
    #[error("no API token: call .token(..) or set RUNCOMFY_TOKEN")]
    MissingToken,
    /// The token holds characters an HTTP header cannot carry (a newline,
    /// say); the token itself is not quoted.
    #[error("the API token has characters an HTTP header cannot carry")]
    TokenNotHeaderSafe,
    /// The base URL is not an absolute `http`/`https` URL.
    #[error("invalid base URL {url:?}: {reason}")]
    InvalidBaseUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An HTTP client could not be built (for instance, no TLS backend).
    #[error("cannot build the {purpose} HTTP client")]
    HttpClient {
        /// `API` or `download`.
        purpose: &'static str,
        /// What reqwest said.
        #[source]
        source: reqwest::Error,
    },
    /// TLS could not be set up (the platform's certificate verifier).
    #[error("cannot set up TLS")]
    Tls {
        /// What rustls or the platform verifier said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The generated client could not build a request from the arguments
    /// given (its message is kept).
    #[error("the request cannot be built: {reason}")]
    RequestNotBuilt {
        /// What the generated client said.
        reason: String,
    },
}

/// Why a job handle cannot be rebuilt ([`Client::job`](crate::Client::job),
/// [`Client::resume`](crate::Client::resume)); nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandleError {
    /// The request id cannot go into a URL path (it is quoted as an
    /// excerpt).
    #[error(
        "invalid request id {:?}: use the id RunComfy returned (1 to {} letters, digits, '-', '_', '.', '~')",
        excerpt(id, EXCERPT_CHARS),
        MAX_REQUEST_ID_LEN
    )]
    InvalidRequestId {
        /// The id as given.
        id: String,
    },
    /// A saved [`JobTicket`](crate::JobTicket) was resumed as another model.
    #[error("job {request_id} runs {ticket_model}, not {requested_model}")]
    AnotherModel {
        /// The job.
        request_id: String,
        /// The model the ticket names.
        ticket_model: String,
        /// The model it was resumed as.
        requested_model: &'static str,
    },
}

/// A model id that cannot go into a URL path: it must be segments of
/// letters, digits, `-`, `_` and `.`, separated by `/`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid model id {:?}: segments of letters, digits, '-', '_' and '.', separated by '/' (e.g. kling/kling-3.0/standard/text-to-video)",
    excerpt(.id, EXCERPT_CHARS)
)]
#[non_exhaustive]
pub struct InvalidModelId {
    /// The id as given.
    pub id: String,
}

/// The longest request id this client accepts.
pub(crate) const MAX_REQUEST_ID_LEN: usize = 256;

fn request_suffix(request_id: Option<&str>) -> String {
    request_id
        .map(|id| format!(" (request {id})"))
        .unwrap_or_default()
}

impl Error {
    /// The request id of the job this error concerns, if any: every error
    /// after an accepted submit has one.
    pub fn request_id(&self) -> Option<&str> {
        if let Some(answer) = self.api_error() {
            return answer.request_id.as_deref();
        }
        match self {
            Self::Transport { request_id, .. } | Self::InvalidResponse { request_id, .. } => {
                request_id.as_deref()
            }
            Self::JobFailed { request_id, .. }
            | Self::JobCancelled { request_id }
            | Self::NotFinished { request_id, .. }
            | Self::MissingOutput { request_id, .. }
            | Self::TimedOut { request_id, .. }
            | Self::Download { request_id, .. }
            | Self::Handle(HandleError::AnotherModel { request_id, .. }) => Some(request_id),
            _ => None,
        }
    }

    /// True for failures worth trying again later (network, 429, 5xx,
    /// unusable answers). Never true for a submit whose outcome is unknown:
    /// sending it again could pay for a second job.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited(_)
                | Self::Server(_)
                | Self::Transport { .. }
                | Self::InvalidResponse { .. }
        )
    }

    /// The server's `Retry-After`, where it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited(e) | Self::Server(e) => e.retry_after,
            _ => None,
        }
    }

    /// The answer RunComfy refused or failed with, for the kinds that carry
    /// one ([`Auth`](Self::Auth) to [`Refused`](Self::Refused)).
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Self::Auth(e)
            | Self::InsufficientBalance(e)
            | Self::NotFound(e)
            | Self::RateLimited(e)
            | Self::Server(e)
            | Self::Refused(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_read_as_one_line() {
        let error = Error::RateLimited(ApiError {
            status: 429,
            code: None,
            message: "slow down".into(),
            request_id: Some("r1".into()),
            retry_after: Some(Duration::from_secs(3)),
        });
        assert_eq!(
            error.to_string(),
            "rate limited: HTTP 429: slow down (retry after 3s) (request r1)"
        );
        assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(error.request_id(), Some("r1"));
        assert!(error.is_transient());
    }

    #[test]
    fn long_ids_are_quoted_as_excerpts() {
        let error = HandleError::InvalidRequestId {
            id: "a".repeat(100_000),
        };
        assert!(error.to_string().len() < 400, "{error}");
    }
}
