//! The errors of the client layer, and how RunComfy's answers map to them.
//!
//! Every error raised after a submit was accepted carries the request id
//! ([`Error::request_id`]), so a caller can always resume or cancel the
//! (paid) job. Messages quote at most a short excerpt of a response body and
//! never the API token.

use crate::download::DownloadError;
use crate::status::Status;
use crate::validation::ValidationError;
use serde_json::Value;
use std::time::Duration;

/// How many characters of a response body an error quotes.
const EXCERPT_CHARS: usize = 200;

/// The longest request id this client accepts.
pub(crate) const MAX_REQUEST_ID_LEN: usize = 256;

/// Everything that can go wrong talking to RunComfy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input breaks the model's rules; nothing was sent.
    #[error(transparent)]
    Validation(#[from] ValidationError),

    /// The token was refused (HTTP 401/403, codes 400004 and 403001).
    #[error("authentication failed (HTTP {status}{}): {message}{}", code_suffix(*code), id_suffix(request_id))]
    Auth {
        /// The HTTP status.
        status: u16,
        /// RunComfy's error code.
        code: Option<u64>,
        /// RunComfy's message (an excerpt).
        message: String,
        /// The request concerned, if any.
        request_id: Option<String>,
    },

    /// The account cannot pay for the job (HTTP 402, code 400002).
    #[error("insufficient balance: {message}")]
    InsufficientBalance {
        /// RunComfy's message (an excerpt).
        message: String,
    },

    /// The request id is unknown, deleted or expired (HTTP 404, code 404001).
    #[error("not found (HTTP {status}{}): {message}{}", code_suffix(*code), id_suffix(request_id))]
    NotFound {
        /// The HTTP status.
        status: u16,
        /// RunComfy's error code.
        code: Option<u64>,
        /// RunComfy's message (an excerpt).
        message: String,
        /// The request concerned, if any.
        request_id: Option<String>,
    },

    /// Too many requests (HTTP 429), after the retry budget ran out.
    #[error("rate limited{}{}: {message}", retry_suffix(*retry_after), id_suffix(request_id))]
    RateLimited {
        /// How long the server asked to wait (`Retry-After`).
        retry_after: Option<Duration>,
        /// The server's message (an excerpt).
        message: String,
        /// The request concerned, if any.
        request_id: Option<String>,
    },

    /// RunComfy failed (HTTP 5xx or code 500001), after the retry budget
    /// ran out.
    #[error("server error (HTTP {status}{}): {message}{}", code_suffix(*code), id_suffix(request_id))]
    Server {
        /// The HTTP status (200 for an error carried in a 200 body).
        status: u16,
        /// RunComfy's error code.
        code: Option<u64>,
        /// The server's message (an excerpt).
        message: String,
        /// The request concerned, if any.
        request_id: Option<String>,
    },

    /// RunComfy refused the request (any other 4xx, e.g. 400001 invalid
    /// model id, 422001 validation error).
    #[error("request refused (HTTP {status}{}): {message}{}", code_suffix(*code), id_suffix(request_id))]
    Refused {
        /// The HTTP status.
        status: u16,
        /// RunComfy's error code.
        code: Option<u64>,
        /// RunComfy's message (an excerpt), with its `detail` where given.
        message: String,
        /// The request concerned, if any.
        request_id: Option<String>,
    },

    /// The job ended `failed`; `message` is RunComfy's error message.
    #[error("job {request_id} failed{}: {message}", code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    JobFailed {
        /// The failed job.
        request_id: String,
        /// RunComfy's error code for the failure, where it gave one.
        code: Option<String>,
        /// RunComfy's error message (an excerpt).
        message: String,
        /// RunComfy's `error` value as sent.
        error: Value,
    },

    /// The job was cancelled.
    #[error("job {request_id} was cancelled")]
    JobCancelled {
        /// The cancelled job.
        request_id: String,
    },

    /// The job finished without the output the caller needs.
    #[error("job {request_id} finished without {missing}")]
    MissingOutput {
        /// The job.
        request_id: String,
        /// What is missing, e.g. `a video`.
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
    #[error("transport error{}: {source}", id_suffix(request_id))]
    Transport {
        /// The request concerned, if any.
        request_id: Option<String>,
        /// The underlying error (its text names the URL, never the token).
        #[source]
        source: reqwest::Error,
    },

    /// RunComfy answered something this client cannot read.
    #[error(
        "unreadable answer (HTTP {status}){}: {message}",
        id_suffix(request_id)
    )]
    InvalidResponse {
        /// The HTTP status.
        status: u16,
        /// What was wrong, with an excerpt of the body.
        message: String,
        /// The request concerned, if any.
        request_id: Option<String>,
    },

    /// A submit may have reached RunComfy, and so may be a paid job, but its
    /// answer was lost (timeout, reset, 5xx, unreadable body). It was not
    /// sent again. Check the RunComfy dashboard before submitting again.
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

    /// A request id that cannot be used in a URL path (quoted as an
    /// excerpt in the message).
    #[error(
        "invalid request id {:?}: use the id RunComfy returned (1 to {} letters, digits, '-', '_', '.', '~')",
        excerpt(.0),
        MAX_REQUEST_ID_LEN
    )]
    InvalidRequestId(String),

    /// A model id that cannot be used in a URL path (quoted as an excerpt
    /// in the message).
    #[error(
        "invalid model id {:?}: segments of letters, digits, '-', '_' and '.', separated by '/' (e.g. kling/kling-3.0/standard/text-to-video)",
        excerpt(.0)
    )]
    InvalidModelId(String),

    /// The client is misconfigured, or a call was made with arguments that
    /// cannot work; nothing was sent.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Why a client cannot be built, or a call cannot be made as configured.
///
/// Nothing reaches RunComfy when one of these is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No token was given and `RUNCOMFY_TOKEN` is not set.
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
    /// A saved [`JobTicket`](crate::JobTicket) was resumed as another model.
    #[error("job {request_id} runs {ticket_model}, not {requested_model}")]
    TicketForAnotherModel {
        /// The job.
        request_id: String,
        /// The model the ticket names.
        ticket_model: String,
        /// The model it was resumed as.
        requested_model: &'static str,
    },
    /// A model input serialised to something other than a JSON object.
    #[error("an input for {model_id} must serialise to a JSON object")]
    InputNotAnObject {
        /// The model.
        model_id: String,
    },
    /// The generated client could not build the request.
    #[error("the request cannot be built: {0}")]
    InvalidRequest(String),
}

fn code_suffix(code: Option<u64>) -> String {
    code.map(|c| format!(", code {c}")).unwrap_or_default()
}

fn id_suffix(request_id: &Option<String>) -> String {
    request_id
        .as_ref()
        .map(|id| format!(" (request {id})"))
        .unwrap_or_default()
}

fn retry_suffix(retry_after: Option<Duration>) -> String {
    retry_after
        .map(|d| format!(" (retry after {d:?})"))
        .unwrap_or_default()
}

impl Error {
    /// The request id of the job this error concerns, if any: every error
    /// after an accepted submit has one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Auth { request_id, .. }
            | Self::NotFound { request_id, .. }
            | Self::RateLimited { request_id, .. }
            | Self::Server { request_id, .. }
            | Self::Refused { request_id, .. }
            | Self::Transport { request_id, .. }
            | Self::InvalidResponse { request_id, .. } => request_id.as_deref(),
            Self::JobFailed { request_id, .. }
            | Self::JobCancelled { request_id }
            | Self::MissingOutput { request_id, .. }
            | Self::TimedOut { request_id, .. }
            | Self::Download { request_id, .. } => Some(request_id),
            Self::InvalidRequestId(id) => Some(id),
            Self::Validation(_)
            | Self::InsufficientBalance { .. }
            | Self::SubmitOutcomeUnknown { .. }
            | Self::InvalidModelId(_)
            | Self::Config(_) => None,
        }
    }

    /// True for failures worth trying again later (network, 429, 5xx,
    /// unreadable answers). Never true for a submit whose outcome is
    /// unknown: sending it again could pay for a second job.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Server { .. }
                | Self::Transport { .. }
                | Self::InvalidResponse { .. }
        )
    }

    /// The server's `Retry-After`, where it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The parts of an error answer this client reads.
#[derive(Debug, Default)]
pub(crate) struct ErrorAnswer {
    pub(crate) status: u16,
    pub(crate) code: Option<u64>,
    pub(crate) message: String,
    pub(crate) retry_after: Option<Duration>,
}

impl ErrorAnswer {
    /// Reads RunComfy's error body (the message may be under
    /// `error_message`, `message`, `error` or `detail`); anything else is
    /// quoted as an excerpt.
    pub(crate) fn parse(status: u16, body: &[u8], retry_after: Option<Duration>) -> Self {
        let parsed: Option<crate::generated::api::types::ErrorBody> =
            serde_json::from_slice(body).ok();
        let (code, message) = match parsed {
            Some(body) => {
                let code = body
                    .error_code
                    .as_ref()
                    .and_then(|c| c.as_u64().or_else(|| c.as_str()?.parse().ok()));
                let text = body
                    .error_message
                    .or(body.message)
                    .or_else(|| body.error.as_ref().map(value_text))
                    .unwrap_or_default();
                let detail = body.detail.as_ref().map(value_text);
                let message = match (text.is_empty(), detail) {
                    (true, Some(detail)) => detail,
                    (false, Some(detail)) => format!("{text}: {detail}"),
                    (_, None) => text,
                };
                (code, message)
            }
            None => (None, String::from_utf8_lossy(body).into_owned()),
        };
        Self {
            status,
            code,
            message: excerpt(&message),
            retry_after,
        }
    }

    /// True for a 200 body that is an error in disguise.
    pub(crate) fn is_error_body(body: &[u8]) -> bool {
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
            return false;
        };
        map.contains_key("error_code") && !map.contains_key("request_id")
    }

    /// The error this answer means.
    pub(crate) fn into_error(self, request_id: Option<&str>) -> Error {
        let request_id = request_id.map(String::from);
        let Self {
            status,
            code,
            message,
            retry_after,
        } = self;
        match (status, code) {
            (_, Some(400004 | 403001)) | (401 | 403, _) => Error::Auth {
                status,
                code,
                message,
                request_id,
            },
            (_, Some(400002)) | (402, _) => Error::InsufficientBalance { message },
            (_, Some(404001)) | (404, _) => Error::NotFound {
                status,
                code,
                message,
                request_id,
            },
            (429, _) => Error::RateLimited {
                retry_after,
                message,
                request_id,
            },
            (_, Some(500001)) | (500..=599, _) => Error::Server {
                status,
                code,
                message,
                request_id,
            },
            _ => Error::Refused {
                status,
                code,
                message,
                request_id,
            },
        }
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// At most [`EXCERPT_CHARS`] characters of `text`.
pub(crate) fn excerpt(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= EXCERPT_CHARS {
        text.to_string()
    } else {
        let cut: String = text.chars().take(EXCERPT_CHARS).collect();
        format!("{cut}...")
    }
}

/// The longest `Retry-After` this client takes from a server: a day. A
/// longer wait is read as a day; retries and waits cap it further by their
/// own budget and deadline.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Parses `Retry-After`: whole seconds or an HTTP date, at most
/// [`MAX_RETRY_AFTER`].
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let asked = if value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty() {
        // More digits than a u64 holds is still "a very long time".
        Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO)
    };
    Some(asked.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_map_to_variants() {
        let map = |status, body: &str| {
            ErrorAnswer::parse(status, body.as_bytes(), None).into_error(Some("r1"))
        };
        assert!(matches!(
            map(
                401,
                r#"{"error_code": 400004, "error_message": "bad token"}"#
            ),
            Error::Auth { .. }
        ));
        assert!(matches!(
            map(400, r#"{"error_code": 400002, "message": "top up"}"#),
            Error::InsufficientBalance { .. }
        ));
        assert!(matches!(map(402, "{}"), Error::InsufficientBalance { .. }));
        assert!(matches!(
            map(404, r#"{"error_code": 404001}"#),
            Error::NotFound { .. }
        ));
        assert!(matches!(map(429, "slow down"), Error::RateLimited { .. }));
        assert!(matches!(
            map(200, r#"{"error_code": "500001", "error": "boom"}"#),
            Error::Server {
                code: Some(500001),
                ..
            }
        ));
        assert!(matches!(
            map(502, "<html>bad gateway</html>"),
            Error::Server { status: 502, .. }
        ));
        let refused = map(
            422,
            r#"{"error_code": 422001, "error_message": "validation error", "detail": [{"loc": ["body", "duration"]}]}"#,
        );
        assert!(
            refused
                .to_string()
                .contains("validation error: [{\"loc\":[\"body\",\"duration\"]}]"),
            "{refused}"
        );
        assert_eq!(refused.request_id(), Some("r1"));
    }

    #[test]
    fn long_bodies_are_quoted_as_excerpts() {
        let answer = ErrorAnswer::parse(500, "x".repeat(10_000).as_bytes(), None);
        assert!(answer.message.len() <= EXCERPT_CHARS + 3);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(
            parse_retry_after("18446744073709551615"),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999999"),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("-5"), None);
    }

    #[test]
    fn errors_in_200_bodies_are_recognised() {
        assert!(ErrorAnswer::is_error_body(
            br#"{"error_code": 500001, "error_message": "x"}"#
        ));
        assert!(!ErrorAnswer::is_error_body(
            br#"{"request_id": "a", "status": "failed", "error_code": 1}"#
        ));
        assert!(!ErrorAnswer::is_error_body(b"not json"));
    }
}
