//! How RunComfy's answers become this crate's values and errors: error
//! bodies, `Retry-After`, the checks every answer passes, and the mapping
//! of a failed call to [`Error`].

use super::http_status;
pub(crate) use super::retry_after::retry_after;
use crate::error::{ApiError, ConfigError, Error};
use crate::generated::api::types::ErrorBody;
pub(crate) use crate::lenient::{number, value_text};
use crate::quote::{EXCERPT_CHARS, excerpt};
use progenitor_client::ResponseValue;
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

/// RunComfy's code for "internal error, retry with backoff".
const INTERNAL_ERROR: u64 = 500_001;

/// Reads RunComfy's error body: the code under `error_code` (a number or a
/// numeric string), the message under `error_message`, `message`, `error`
/// or `detail` (with `detail` appended where both are given); anything
/// that is not such a body is quoted as an excerpt.
pub(crate) fn api_error_from(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    request_id: Option<&str>,
) -> ApiError {
    let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(body) => {
            let code = body.error_code.as_ref().and_then(error_code);
            let text = body
                .error_message
                .or(body.message)
                .or_else(|| body.error.as_ref().map(value_text))
                .unwrap_or_default();
            let message = match (text.is_empty(), body.detail.as_ref().map(value_text)) {
                (true, Some(detail)) => detail,
                (false, Some(detail)) => format!("{text}: {detail}"),
                (_, None) => text,
            };
            (code, message)
        }
        Err(_) => (None, String::from_utf8_lossy(body).into_owned()),
    };
    ApiError {
        status,
        code,
        message: excerpt(&message, EXCERPT_CHARS),
        request_id: request_id.map(String::from),
        retry_after,
    }
}

fn error_code(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

/// The error a 200 body carries in disguise: an object with an
/// `error_code` and no `request_id`.
pub(crate) fn error_in_200(body: &[u8]) -> Option<u64> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) if !map.contains_key("request_id") => {
            map.get("error_code").map(|c| error_code(c).unwrap_or(0))
        }
        _ => None,
    }
}

/// True for a 200 body that carries RunComfy's "internal error, retry"
/// (code 500001).
pub(crate) fn is_retryable_error_in_200(body: &[u8]) -> bool {
    error_in_200(body) == Some(INTERNAL_ERROR)
}

/// The kind of failure an error answer means.
pub(crate) fn classify(answer: ApiError) -> Error {
    match (answer.status, answer.code) {
        (_, Some(400_004 | 403_001)) | (401 | 403, _) => Error::Auth(answer),
        (_, Some(400_002)) | (402, _) => Error::InsufficientBalance(answer),
        (_, Some(404_001)) | (404, _) => Error::NotFound(answer),
        (429, _) => Error::RateLimited(answer),
        (_, Some(INTERNAL_ERROR)) | (500..=599, _) => Error::Server(answer),
        _ => Error::Refused(answer),
    }
}

/// Reads a non-2xx answer (its body is already in memory: the transport
/// reads every answer in full).
async fn answer_error(response: reqwest::Response, request_id: Option<&str>) -> ApiError {
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let body = response.bytes().await.unwrap_or_default();
    api_error_from(status, &body, retry_after, request_id)
}

/// An answer the generated client read: its value and the HTTP status it
/// came with.
#[derive(Debug)]
pub(crate) struct Answer<T> {
    pub(crate) value: T,
    pub(crate) status: u16,
}

/// The outcome of one idempotent call (status, result, cancel, model
/// info, listing): its answer, or its failure as an [`Error`] naming the
/// HTTP status RunComfy really sent.
pub(crate) async fn answer<T>(
    call: impl Future<Output = Result<ResponseValue<T>, progenitor_client::Error<()>>>,
    request_id: Option<&str>,
) -> Result<Answer<T>, Error> {
    match http_status::observing(call).await {
        // A 2xx whose body is an error code: a refusal, whatever parsed.
        (
            Ok(_),
            http_status::Observed {
                disguised_error: Some(mut error),
                ..
            },
        ) => {
            error.request_id = request_id.map(String::from);
            Err(classify(error))
        }
        (Ok(value), _) => Ok(Answer {
            status: value.status().as_u16(),
            value: value.into_inner(),
        }),
        (Err(error), observed) => Err(api_error(error, request_id, observed.status).await),
    }
}

/// The outcome of a submit to `model_id`: its answer, or its failure (see
/// [`submit_error`]).
pub(crate) async fn submit_answer<T>(
    call: impl Future<Output = Result<ResponseValue<T>, progenitor_client::Error<()>>>,
    model_id: &str,
) -> Result<Answer<T>, Error> {
    match http_status::observing(call).await {
        (Ok(value), _) => Ok(Answer {
            status: value.status().as_u16(),
            value: value.into_inner(),
        }),
        (Err(error), observed) => Err(submit_error(error, model_id, observed.status).await),
    }
}

/// Maps a failed idempotent call to [`Error`]; `answered` is the HTTP
/// status of the answer it ended with, where one came.
async fn api_error(
    error: progenitor_client::Error<()>,
    request_id: Option<&str>,
    answered: Option<u16>,
) -> Error {
    use progenitor_client::Error as E;
    let owned = || request_id.map(String::from);
    match error {
        E::CommunicationError(source)
        | E::ResponseBodyError(source)
        | E::InvalidUpgrade(source) => Error::Transport {
            request_id: owned(),
            source,
        },
        E::InvalidResponsePayload(body, parse_error) => {
            let status = answered.unwrap_or(200);
            match error_in_200(&body) {
                Some(_) => classify(api_error_from(status, &body, None, request_id)),
                None => Error::InvalidResponse {
                    status,
                    message: format!(
                        "{parse_error}; body: {}",
                        excerpt(&String::from_utf8_lossy(&body), EXCERPT_CHARS)
                    ),
                    request_id: owned(),
                },
            }
        }
        E::UnexpectedResponse(response) => classify(answer_error(response, request_id).await),
        E::ErrorResponse(response) => classify(ApiError {
            status: response.status().as_u16(),
            code: None,
            message: String::new(),
            request_id: owned(),
            retry_after: None,
        }),
        E::InvalidRequest(reason) | E::Custom(reason) => {
            ConfigError::RequestNotBuilt { reason }.into()
        }
    }
}

/// Maps a failed submit to [`Error`]: anything that may have reached
/// RunComfy becomes [`Error::SubmitOutcomeUnknown`].
async fn submit_error(
    error: progenitor_client::Error<()>,
    model_id: &str,
    answered: Option<u16>,
) -> Error {
    use progenitor_client::Error as E;
    let unknown = |reason: String, source| Error::SubmitOutcomeUnknown {
        model_id: model_id.to_string(),
        reason,
        source,
    };
    match error {
        // The connection never opened: nothing was sent, nothing was paid.
        E::CommunicationError(source) if source.is_connect() => Error::Transport {
            request_id: None,
            source,
        },
        E::CommunicationError(source)
        | E::ResponseBodyError(source)
        | E::InvalidUpgrade(source) => {
            unknown(format!("no complete answer ({source})"), Some(source))
        }
        E::InvalidResponsePayload(body, parse_error) => {
            let status = answered.unwrap_or(200);
            match error_in_200(&body) {
                // An internal error in a 2xx may have come after the job
                // was created; any other error code is a refusal.
                Some(INTERNAL_ERROR) => {
                    let answer = api_error_from(status, &body, None, None);
                    unknown(
                        format!("error in an HTTP {status} answer: {}", answer.message),
                        None,
                    )
                }
                Some(_) => classify(api_error_from(status, &body, None, None)),
                None => unknown(
                    format!(
                        "unreadable HTTP {status} answer ({parse_error}): {}",
                        excerpt(&String::from_utf8_lossy(&body), EXCERPT_CHARS)
                    ),
                    None,
                ),
            }
        }
        E::UnexpectedResponse(response) => {
            let answer = answer_error(response, None).await;
            if answer.status >= 500 {
                unknown(format!("HTTP {}: {}", answer.status, answer.message), None)
            } else {
                classify(answer)
            }
        }
        E::ErrorResponse(response) => unknown(format!("HTTP {}", response.status()), None),
        E::InvalidRequest(reason) | E::Custom(reason) => {
            ConfigError::RequestNotBuilt { reason }.into()
        }
    }
}

/// Refuses an answer about another job: its output is not ours. `status`
/// is the answer's HTTP status.
pub(crate) fn same_job(asked: &str, answered: Option<&str>, status: u16) -> Result<(), Error> {
    match answered {
        Some(answered) if answered != asked => Err(Error::InvalidResponse {
            status,
            message: format!(
                "the answer is about request {:?}, not {asked:?}",
                excerpt(answered, EXCERPT_CHARS)
            ),
            request_id: Some(asked.to_string()),
        }),
        _ => Ok(()),
    }
}

/// Refuses a result that names another model than the one the handle is
/// for (as RunComfy's own nodes do): its output is not the one asked for.
/// A `model_id` that is not a string, or a handle that knows no model,
/// passes.
pub(crate) fn same_model(
    request_id: &str,
    expected: Option<&str>,
    answered: Option<&Value>,
    status: u16,
) -> Result<(), Error> {
    match (expected, answered.and_then(Value::as_str)) {
        (Some(expected), Some(answered)) if answered != expected => Err(Error::InvalidResponse {
            status,
            message: format!(
                "the result is for model {:?}, not {expected:?}",
                excerpt(answered, EXCERPT_CHARS)
            ),
            request_id: Some(request_id.to_string()),
        }),
        _ => Ok(()),
    }
}

/// A queue position as RunComfy may send it: a whole number, a numeric
/// string or a float (rounded down); negative, non-finite, null or any
/// other shape means "not known". Never a reason to fail a status call.
pub(crate) fn queue_position(value: Option<&Value>) -> Option<u64> {
    fn whole(n: f64) -> Option<u64> {
        // The range check keeps only what a u64 holds exactly.
        (n.is_finite() && n >= 0.0 && n < u64::MAX as f64).then(|| n.floor() as u64)
    }
    let value = value?;
    let exact = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    exact.or_else(|| number(value).and_then(whole))
}

/// A failed job's code and message: RunComfy sends `{code, message}`
/// (sometimes `error_code`/`error_message`), or a plain string.
pub(crate) fn failure(error: &Value) -> (Option<String>, String) {
    let field = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| error.get(*n))
            .filter(|v| !v.is_null())
    };
    match error {
        Value::Null => (None, "RunComfy gave no reason".to_string()),
        Value::Object(_) => {
            let code = field(&["code", "error_code"]).map(value_text);
            let message = field(&["message", "error_message", "detail"])
                .map(value_text)
                .unwrap_or_else(|| error.to_string());
            (
                code.map(|c| excerpt(&c, EXCERPT_CHARS)),
                excerpt(&message, EXCERPT_CHARS),
            )
        }
        other => (None, excerpt(&value_text(other), EXCERPT_CHARS)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(status: u16, body: &str) -> Error {
        classify(api_error_from(status, body.as_bytes(), None, Some("r1")))
    }

    #[test]
    fn error_bodies_map_to_kinds() {
        assert!(matches!(
            map(
                401,
                r#"{"error_code": 400004, "error_message": "bad token"}"#
            ),
            Error::Auth(_)
        ));
        assert!(matches!(
            map(400, r#"{"error_code": 400002, "message": "top up"}"#),
            Error::InsufficientBalance(_)
        ));
        assert!(matches!(map(402, "{}"), Error::InsufficientBalance(_)));
        assert!(matches!(
            map(404, r#"{"error_code": 404001}"#),
            Error::NotFound(_)
        ));
        assert!(matches!(map(429, "slow down"), Error::RateLimited(_)));
        assert!(matches!(
            map(200, r#"{"error_code": "500001", "error": "boom"}"#),
            Error::Server(ApiError {
                code: Some(500001),
                ..
            })
        ));
        assert!(matches!(
            map(502, "<html>bad gateway</html>"),
            Error::Server(ApiError { status: 502, .. })
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
        let answer = api_error_from(500, "x".repeat(10_000).as_bytes(), None, None);
        assert!(answer.message.len() <= EXCERPT_CHARS + 3);
    }

    #[test]
    fn errors_in_200_bodies_are_recognised() {
        assert_eq!(
            error_in_200(br#"{"error_code": 500001, "error_message": "x"}"#),
            Some(500001)
        );
        assert!(is_retryable_error_in_200(br#"{"error_code": "500001"}"#));
        assert!(!is_retryable_error_in_200(br#"{"error_code": 400004}"#));
        assert_eq!(
            error_in_200(br#"{"request_id": "a", "status": "failed", "error_code": 1}"#),
            None
        );
        assert_eq!(error_in_200(b"not json"), None);
    }

    #[test]
    fn odd_queue_positions_are_read_or_dropped_never_fatal() {
        use serde_json::json;
        let read = |v: Value| queue_position(Some(&v));
        assert_eq!(read(json!(3)), Some(3));
        assert_eq!(read(json!("3")), Some(3));
        assert_eq!(read(json!(" 4 ")), Some(4));
        assert_eq!(read(json!(2.9)), Some(2));
        assert_eq!(read(json!("2.5")), Some(2));
        assert_eq!(read(json!(-1)), None);
        assert_eq!(read(json!(-0.5)), None);
        assert_eq!(read(json!("-2")), None);
        assert_eq!(read(json!(1e300)), None);
        assert_eq!(read(json!("NaN")), None);
        assert_eq!(read(json!("soon")), None);
        assert_eq!(read(Value::Null), None);
        assert_eq!(read(json!([3])), None);
        assert_eq!(queue_position(None), None);
    }

    #[test]
    fn a_result_for_another_model_is_refused() {
        use serde_json::json;
        let other = json!("google/nano-banana-2-lite/text-to-image");
        let error = same_model("r", Some("kling/x"), Some(&other), 200).expect_err("refused");
        assert!(
            matches!(&error, Error::InvalidResponse { status: 200, request_id: Some(r), .. } if r == "r"),
            "{error:?}"
        );
        assert!(error.to_string().contains("nano-banana"), "{error}");
        assert!(same_model("r", Some("kling/x"), Some(&json!("kling/x")), 200).is_ok());
        assert!(same_model("r", None, Some(&other), 200).is_ok());
        assert!(same_model("r", Some("kling/x"), Some(&json!(7)), 200).is_ok());
        assert!(same_model("r", Some("kling/x"), None, 200).is_ok());
    }

    #[test]
    fn failures_read_runcomfys_code_and_message() {
        let (code, message) =
            failure(&serde_json::json!({"code": "nsfw", "message": "content policy"}));
        assert_eq!(
            (code.as_deref(), message.as_str()),
            (Some("nsfw"), "content policy")
        );
        let (code, message) = failure(&serde_json::json!("out of memory"));
        assert_eq!((code, message.as_str()), (None, "out of memory"));
        let (_, message) = failure(&Value::Null);
        assert_eq!(message, "RunComfy gave no reason");
    }
}
