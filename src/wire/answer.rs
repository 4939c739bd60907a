//! Reading an answer: in full, bounded, with the token scrubbed from it.
//!
//! Every API answer is read into memory before anyone looks at it, so that
//! a body cut off in transit is a failed try (retried where that is safe),
//! not a later surprise, and so that the token can be scrubbed from it: a
//! server that echoes the request's `Authorization` header must not put the
//! token into an error message.

use secrecy::{ExposeSecret, SecretString};

/// The most of an API answer the client reads into memory: far beyond any
/// RunComfy answer. What is read is kept and the JSON reader refuses it.
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// What replaces the token wherever an answer quotes it.
const REDACTED: &[u8] = b"[REDACTED]";

/// An answer read in full.
pub(crate) struct BufferedResponse(http::Response<bytes::Bytes>);

impl BufferedResponse {
    pub(crate) fn status(&self) -> u16 {
        self.0.status().as_u16()
    }

    pub(crate) fn headers(&self) -> &reqwest::header::HeaderMap {
        self.0.headers()
    }

    pub(crate) fn body(&self) -> &[u8] {
        self.0.body()
    }

    pub(crate) fn into_response(self) -> reqwest::Response {
        reqwest::Response::from(self.0)
    }
}

/// Sends one try and reads its answer in full (up to
/// [`MAX_ANSWER_BYTES`]), the token scrubbed from the body.
pub(crate) async fn send_and_read(
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

/// `body` with every occurrence of `secret` replaced by `[REDACTED]`, in
/// the forms a server may echo it in: as sent, JSON-escaped (also with
/// `\/`) and percent-encoded.
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
        assert_eq!(scrub("nothing to hide", "sk-1"), "nothing to hide");
        assert_eq!(scrub("x", ""), "x");
    }
}
