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
    scrubber: &Scrubber,
) -> reqwest::Result<BufferedResponse> {
    let mut response = http.execute(request).await?;
    // The headers are moved, not copied: the body is read through
    // `chunk`, which does not need them.
    let headers = std::mem::take(response.headers_mut());
    let (status, version) = (response.status(), response.version());
    // A small answer comes in one chunk, kept as it is; longer ones are
    // gathered (up to the cap).
    let mut body = bytes::Bytes::new();
    let mut gathered: Option<Vec<u8>> = None;
    while let Some(chunk) = response.chunk().await? {
        let all = match gathered.as_mut() {
            None if body.is_empty() => {
                body = chunk;
                continue;
            }
            None => gathered.insert(body.to_vec()),
            Some(all) => all,
        };
        all.extend_from_slice(&chunk);
        if all.len() > MAX_ANSWER_BYTES {
            break;
        }
    }
    let body = match gathered {
        Some(all) => bytes::Bytes::from(scrubber.scrub(all)),
        None if scrubber.finds_any(&body) => bytes::Bytes::from(scrubber.scrub(body.to_vec())),
        None => body,
    };
    // The URL goes along: without it, turning the answer back into a
    // `reqwest::Response` would parse a placeholder URL every time.
    use reqwest::ResponseBuilderExt as _;
    let mut answer = http::Response::builder()
        .status(status)
        .version(version)
        .url(response.url().clone())
        .body(body)
        .expect("status and version come from a valid response");
    *answer.headers_mut() = headers;
    Ok(BufferedResponse(answer))
}

/// Finds and replaces the token in answers, in the forms a server may
/// echo it in: as sent, JSON-escaped (also with `\/`) and
/// percent-encoded. Built once per client; its `Debug` shows nothing of
/// the token.
#[derive(Clone)]
pub(crate) struct Scrubber {
    /// One searcher per form, longest form first (so that a form
    /// containing another is replaced whole).
    forms: std::sync::Arc<[memchr::memmem::Finder<'static>]>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scrubber([REDACTED])")
    }
}

impl Scrubber {
    pub(crate) fn new(secret: &SecretString) -> Self {
        Self::for_text(secret.expose_secret())
    }

    fn for_text(secret: &str) -> Self {
        let json_escaped = serde_json::to_string(secret)
            .map(|quoted| quoted[1..quoted.len() - 1].to_string())
            .unwrap_or_default();
        let slash_escaped = json_escaped.replace('/', "\\/");
        let percent_encoded =
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let mut forms: Vec<&str> = vec![secret, &json_escaped, &slash_escaped, &percent_encoded];
        forms.retain(|form| !form.is_empty());
        forms.sort_unstable();
        forms.dedup();
        forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
        Self {
            forms: forms
                .into_iter()
                .map(|form| memchr::memmem::Finder::new(form.as_bytes()).into_owned())
                .collect(),
        }
    }

    /// True if `body` holds any form of the token.
    pub(crate) fn finds_any(&self, body: &[u8]) -> bool {
        self.forms.iter().any(|form| form.find(body).is_some())
    }

    /// `body` with every form of the token replaced by `[REDACTED]`;
    /// `body` itself, uncopied, when it holds none.
    pub(crate) fn scrub(&self, body: Vec<u8>) -> Vec<u8> {
        self.forms.iter().fold(body, |body, form| {
            if form.find(&body).is_some() {
                replace_all(&body, form, REDACTED)
            } else {
                body
            }
        })
    }
}

/// `body` with every occurrence of `secret` replaced by `[REDACTED]` (see
/// [`Scrubber`]).
#[cfg(test)]
fn scrub_secret(body: Vec<u8>, secret: &str) -> Vec<u8> {
    Scrubber::for_text(secret).scrub(body)
}

fn replace_all(haystack: &[u8], finder: &memchr::memmem::Finder<'_>, with: &[u8]) -> Vec<u8> {
    let needle_len = finder.needle().len();
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = finder.find(rest) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(with);
        rest = &rest[at + needle_len..];
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
