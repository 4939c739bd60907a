//! The wire: what the generated client does around every request
//! (progenitor's `ClientHooks`), how answers are read and retried, and how
//! they become this crate's values and errors.
//!
//! - [`ApiContext`] is the state the generated client carries: the token,
//!   the API origin and the retry policy.
//! - The `pre` hook adds the bearer token, for the API origin only.
//! - The `exec` hook sends the request with retries ([`retry`]), reads the
//!   answer in full with the token scrubbed from it ([`answer`]), and
//!   traces the call.
//! - [`decode`] maps answers and failures to values and [`Error`](crate::Error)s.

pub(crate) mod answer;
pub(crate) mod decode;
pub(crate) mod http_status;
pub(crate) mod ids;
pub(crate) mod retry;
pub(crate) mod retry_after;

use crate::generated::api;
use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use secrecy::{ExposeSecret, SecretString};
use tracing::Instrument;

pub use retry::RetryPolicy;

/// The state the generated client carries.
///
/// Its `Debug` never shows the token: the `Authorization` value is marked
/// sensitive, and the scrubber shows nothing.
#[derive(Debug, Clone)]
pub struct ApiContext {
    /// `Bearer <token>`, marked sensitive (its `Debug` shows nothing).
    pub(crate) authorization: reqwest::header::HeaderValue,
    pub(crate) origin: reqwest::Url,
    pub(crate) retry: RetryPolicy,
    /// One permit per API request on the wire
    /// ([`max_concurrent_requests`](crate::ClientBuilder::max_concurrent_requests)).
    pub(crate) in_flight: std::sync::Arc<tokio::sync::Semaphore>,
    /// Scrubs the token from answers.
    pub(crate) scrubber: answer::Scrubber,
}

impl ClientHooks<ApiContext> for api::Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        _info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        let context = self.inner();
        // The token goes to the API origin and nowhere else.
        if !same_origin(request.url(), &context.origin) {
            return Ok(());
        }
        request.headers_mut().insert(
            reqwest::header::AUTHORIZATION,
            context.authorization.clone(),
        );
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
        let paid = api::PAID_OPERATIONS.contains(&info.operation_id);
        let call = retry::execute(self.client(), context, request, paid);
        // Without a subscriber that wants the span, no wrapper at all.
        if span.is_disabled() {
            call.await
        } else {
            call.instrument(span).await
        }
    }
}

/// Scheme, host and port equal (an `http`/`https` URL's origin), compared
/// without building either origin.
fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    matches!(a.scheme(), "http" | "https")
        && a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
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
/// `x-runcomfy-literal-slashes` in `schema/queue-api.openapi.json` (see
/// `codegen/src/wire_form.rs`).
pub(crate) fn encode_path_keeping_slashes(value: &str) -> String {
    value
        .split('/')
        .map(progenitor_client::encode_path)
        .collect::<Vec<_>>()
        .join("/")
}

/// The base the generated client appends `/v1/...` to: `url` without a
/// trailing `/v1` segment or `/`. RunComfy's CLI documents its base
/// (`RUNCOMFY_MODEL_API_BASE`) with `/v1`, the seed's requests without.
pub(crate) fn api_root(url: &reqwest::Url) -> String {
    let mut url = url.clone();
    let path = url.path().trim_end_matches('/');
    let path = path.strip_suffix("/v1").unwrap_or(path).to_string();
    url.set_path(path.trim_end_matches('/'));
    url.as_str().trim_end_matches('/').to_string()
}

/// The request id in a `/v1/requests/{id}/...` URL, for tracing.
fn request_id_in(url: &reqwest::Url) -> Option<String> {
    let mut segments = url.path_segments()?;
    (segments.next()? == "v1" && segments.next()? == "requests")
        .then(|| segments.next().map(String::from))
        .flatten()
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
    fn only_submit_is_a_paid_operation() {
        assert_eq!(api::PAID_OPERATIONS, ["submit_request"]);
    }

    #[test]
    fn the_context_debug_hides_the_token() {
        let context = ApiContext {
            authorization: bearer_header(&SecretString::from("sk-very-secret")).expect("a header"),
            origin: reqwest::Url::parse("https://model-api.runcomfy.net").expect("URL"),
            retry: RetryPolicy::default(),
            in_flight: std::sync::Arc::new(tokio::sync::Semaphore::new(1)),
            scrubber: answer::Scrubber::new(&SecretString::from("sk-very-secret")),
        };
        assert!(!format!("{context:?}").contains("sk-very-secret"));
    }
}
