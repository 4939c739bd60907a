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
        execute_with_retries(
            self.client(),
            &self.inner().retry,
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
            Some(copy) => send_and_read(http, copy).await,
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
            Verdict::Retry(retry_after) => delays
                .next()
                .map(|delay| retry_after.map_or(delay, |asked| asked.max(delay)))
                .filter(|wait| started.elapsed() + *wait <= policy.budget),
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

async fn send_and_read(
    http: &reqwest::Client,
    request: reqwest::Request,
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
    Ok(BufferedResponse(
        builder
            .body(bytes::Bytes::from(body))
            .expect("status, version and headers come from a valid response"),
    ))
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
    fn the_context_debug_hides_the_token() {
        let context = ApiContext {
            token: SecretString::from("sk-very-secret"),
            origin: reqwest::Url::parse("https://model-api.runcomfy.net").expect("URL"),
            retry: RetryPolicy::default(),
        };
        assert!(!format!("{context:?}").contains("sk-very-secret"));
    }
}
