//! What the generated client does around every request (progenitor's
//! `ClientHooks`): add the bearer token for the API origin only, retry
//! transient failures (see [`crate::retry`]), and trace each call.

use crate::error::{ConfigError, parse_retry_after};
use crate::retry::{Attempt, RetryPolicy, Verdict, verdict};
use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use secrecy::{ExposeSecret, SecretString};
use tracing::Instrument;

/// The operation id of submit in `schema/queue-api.openapi.json`.
pub(crate) const SUBMIT_OPERATION: &str = "submit_request";

/// The most of an API answer the client reads into memory.
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// The state the generated client carries.
///
/// Its `Debug` shows the token as `[REDACTED]` (it is a [`SecretString`]).
#[derive(Debug, Clone)]
pub struct ApiContext {
    pub(crate) token: SecretString,
    pub(crate) origin: reqwest::Url,
    pub(crate) retry: RetryPolicy,
}

impl ClientHooks<ApiContext> for crate::generated::api::Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        _info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        let context = self.inner();
        // The token goes to the API origin and nowhere else.
        if request.url().origin() != context.origin.origin() {
            return Ok(());
        }
        // The builder refused tokens a header cannot carry.
        let value = bearer_header(&context.token).ok_or_else(|| {
            progenitor_client::Error::InvalidRequest(ConfigError::TokenNotHeaderSafe.to_string())
        })?;
        request
            .headers_mut()
            .insert(reqwest::header::AUTHORIZATION, value);
        Ok(())
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        let span = tracing::info_span!(
            "runcomfy.http",
            operation = info.operation_id,
            request_id = request_id_in(request.url()),
            attempts = tracing::field::Empty,
            http.status = tracing::field::Empty,
        );
        let context = self.inner();
        execute_with_retries(
            self.client(),
            &context.retry,
            &context.token,
            request,
            info.operation_id,
        )
        .instrument(span)
        .await
    }
}

/// The `Authorization` value for `token`, marked sensitive (so that `http`
/// never prints it); `None` if the token cannot go in a header.
pub(crate) fn bearer_header(token: &SecretString) -> Option<reqwest::header::HeaderValue> {
    let mut value =
        reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// A path parameter whose slashes stay literal (a model id): each segment
/// is percent-encoded on its own and the segments are joined with `/`, as
/// RunComfy's documented requests send them
/// (`/v1/models/kling/kling-3.0/standard/text-to-video`). The generated
/// client calls this for every parameter marked
/// `x-runcomfy-literal-slashes` in `schema/queue-api.openapi.json`.
pub(crate) fn encode_path_keeping_slashes(value: &str) -> String {
    value
        .split('/')
        .map(progenitor_client::encode_path)
        .collect::<Vec<_>>()
        .join("/")
}

/// The request id in a `/v1/requests/{id}/...` URL, for tracing.
fn request_id_in(url: &reqwest::Url) -> Option<String> {
    let mut segments = url.path_segments()?;
    (segments.next()? == "v1" && segments.next()? == "requests")
        .then(|| segments.next().map(String::from))
        .flatten()
}

async fn execute_with_retries(
    http: &reqwest::Client,
    policy: &RetryPolicy,
    token: &SecretString,
    request: reqwest::Request,
    operation: &str,
) -> reqwest::Result<reqwest::Response> {
    let is_submit = operation == SUBMIT_OPERATION;
    let started = tokio::time::Instant::now();
    let mut delays = policy.delays();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        // Bodies here are JSON in memory, so a copy is always possible.
        let this_try = request.try_clone();
        let outcome = match this_try {
            Some(copy) => send_and_read(http, copy, token).await,
            None => return http.execute(request).await,
        };
        let attempt = match &outcome {
            Err(error) => Attempt::Failed {
                connect: error.is_connect(),
            },
            Ok(response) => Attempt::Answered {
                status: response.status().as_u16(),
                retry_after: response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after),
                body: response_body(response),
            },
        };
        let wait = match verdict(attempt, is_submit) {
            Verdict::Done => None,
            // However long the server asks for, a retry happens only within
            // the budget; checked sums, since `Retry-After` is the server's.
            Verdict::Retry(retry_after) => delays
                .next()
                .map(|delay| retry_after.map_or(delay, |asked| asked.max(delay)))
                .filter(|wait| {
                    started
                        .elapsed()
                        .checked_add(*wait)
                        .is_some_and(|total| total <= policy.budget)
                }),
        };
        let span = tracing::Span::current();
        span.record("attempts", attempts);
        if let Ok(response) = &outcome {
            span.record("http.status", response.status().as_u16());
        }
        let Some(wait) = wait else {
            return outcome.map(BufferedResponse::into_response);
        };
        tracing::debug!(
            attempt = attempts,
            wait_ms = wait.as_millis() as u64,
            error = outcome.as_ref().err().map(|e| e.to_string()),
            status = outcome.as_ref().ok().map(|r| r.status().as_u16()),
            "retrying"
        );
        tokio::time::sleep(wait).await;
    }
}

/// An answer read in full, so that a body cut off in transit is a failed
/// try (retried where that is safe), not a later surprise.
struct BufferedResponse(http::Response<bytes::Bytes>);

impl BufferedResponse {
    fn status(&self) -> reqwest::StatusCode {
        self.0.status()
    }

    fn headers(&self) -> &reqwest::header::HeaderMap {
        self.0.headers()
    }

    fn into_response(self) -> reqwest::Response {
        reqwest::Response::from(self.0)
    }
}

fn response_body(response: &BufferedResponse) -> &[u8] {
    response.0.body()
}

/// Sends one try and reads its answer in full (up to
/// [`MAX_ANSWER_BYTES`]), with the token scrubbed from the body: a server
/// that echoes the request's `Authorization` header must not put the token
/// into an error message.
async fn send_and_read(
    http: &reqwest::Client,
    request: reqwest::Request,
    token: &SecretString,
) -> reqwest::Result<BufferedResponse> {
    use futures::StreamExt;
    let response = http.execute(request).await?;
    let mut builder = http::Response::builder()
        .status(response.status())
        .version(response.version());
    if let Some(headers) = builder.headers_mut() {
        *headers = response.headers().clone();
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk?);
        if body.len() > MAX_ANSWER_BYTES {
            // Far beyond any RunComfy answer: keep what was read and let
            // the JSON reader refuse it.
            break;
        }
    }
    let body = scrub_secret(body, token.expose_secret());
    Ok(BufferedResponse(
        builder
            .body(bytes::Bytes::from(body))
            .expect("status, version and headers come from a valid response"),
    ))
}

/// What replaces the token wherever an answer quotes it.
const REDACTED: &[u8] = b"[REDACTED]";

/// `body` with every occurrence of `secret` replaced by `[REDACTED]`, in
/// the forms a server may echo it in: as sent, JSON-escaped and
/// percent-encoded.
pub(crate) fn scrub_secret(body: Vec<u8>, secret: &str) -> Vec<u8> {
    if secret.is_empty() {
        return body;
    }
    let json_escaped = serde_json::to_string(secret)
        .map(|quoted| quoted[1..quoted.len() - 1].to_string())
        .unwrap_or_default();
    let slash_escaped = json_escaped.replace('/', "\\/");
    let percent_encoded =
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let mut forms: Vec<&str> = vec![secret, &json_escaped, &slash_escaped, &percent_encoded];
    forms.sort_unstable();
    forms.dedup();
    // Longest first, so that a form containing another is replaced whole.
    forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
    forms
        .into_iter()
        .filter(|form| !form.is_empty())
        .fold(body, |body, form| {
            replace_all(&body, form.as_bytes(), REDACTED)
        })
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let finder = memchr::memmem::Finder::new(needle);
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = finder.find(rest) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(with);
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_read_from_queue_urls() {
        let url = |s: &str| reqwest::Url::parse(s).expect("URL");
        assert_eq!(
            request_id_in(&url("https://x/v1/requests/abc/status")).as_deref(),
            Some("abc")
        );
        assert_eq!(request_id_in(&url("https://x/v1/models/a/b")), None);
    }

    #[test]
    fn model_ids_keep_their_slashes_and_nothing_else_changes() {
        assert_eq!(
            encode_path_keeping_slashes("kling/kling-3.0/standard/text-to-video"),
            "kling/kling-3.0/standard/text-to-video"
        );
        assert_eq!(encode_path_keeping_slashes("a b/c?d"), "a%20b/c%3Fd");
    }

    #[test]
    fn the_token_is_scrubbed_from_answers_in_every_form() {
        let scrub = |body: &str, secret: &str| {
            String::from_utf8(scrub_secret(body.as_bytes().to_vec(), secret)).expect("UTF-8")
        };
        assert_eq!(
            scrub(r#"{"echo": "Bearer sk-1", "again": "sk-1sk-1"}"#, "sk-1"),
            r#"{"echo": "Bearer [REDACTED]", "again": "[REDACTED][REDACTED]"}"#
        );
        assert_eq!(scrub(r#"{"t": "a\"b"}"#, "a\"b"), r#"{"t": "[REDACTED]"}"#);
        assert_eq!(scrub(r#"{"t": "a\/b"}"#, "a/b"), r#"{"t": "[REDACTED]"}"#);
        assert_eq!(scrub("?token=a%2Fb", "a/b"), "?token=[REDACTED]");
        assert_eq!(scrub("nothing here", "sk-1"), "nothing here");
        assert_eq!(scrub("x", ""), "x");
    }

    #[test]
    fn the_context_debug_hides_the_token() {
        let context = ApiContext {
            token: SecretString::from("sk-very-secret"),
            origin: reqwest::Url::parse("https://model-api.runcomfy.net").expect("URL"),
            retry: RetryPolicy::default(),
        };
        assert!(!format!("{context:?}").contains("sk-very-secret"));
    }
}
