//! The real API behind the emulator: requests forwarded as they came (the
//! caller's token to the API origin only), and result files fetched from
//! wherever the result said (never with a token).

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, header};
use std::time::Duration;

/// The most of an API answer the emulator takes from upstream.
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;
/// The most of a result file it takes (RunComfy's CLI's cap).
pub(crate) const MAX_FILE_BYTES: usize = 2 * 1024 * 1024 * 1024;

/// An answer from upstream, read in full.
#[derive(Debug)]
pub(crate) struct Forwarded {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// Why upstream gave no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    #[error("upstream unreachable or failed mid-answer: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("the upstream answer is over {limit} bytes")]
    TooLarge { limit: usize },
}

/// The upstream API and the HTTP clients that reach it and its files.
#[derive(Debug)]
pub(crate) struct Upstream {
    /// The API root (`https://model-api.runcomfy.net`; a trailing `/v1`
    /// dropped, as the client does).
    pub(crate) base: String,
    api: reqwest::Client,
    files: reqwest::Client,
}

impl Upstream {
    /// Clients for `base`: API calls never follow redirects (the token
    /// stays on the API origin); file fetches follow at most 5 and carry
    /// no token.
    pub(crate) fn new(base: &str) -> std::io::Result<Self> {
        let invalid = |why: String| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("upstream {base:?}: {why}"),
            )
        };
        let url = reqwest::Url::parse(base.trim()).map_err(|e| invalid(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https".into()));
        }
        let build = |builder: reqwest::ClientBuilder| {
            builder
                .connect_timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| invalid(e.to_string()))
        };
        let tls = || crate::tls::http_client_builder().map_err(|e| invalid(e.to_string()));
        Ok(Self {
            base: crate::wire::api_root(&url),
            api: build(
                tls()?
                    .timeout(Duration::from_secs(120))
                    .redirect(reqwest::redirect::Policy::none()),
            )?,
            files: build(
                tls()?
                    .read_timeout(Duration::from_secs(120))
                    .redirect(reqwest::redirect::Policy::limited(5)),
            )?,
        })
    }

    /// Sends one API request upstream, once (a submit is never re-sent):
    /// the same method, path, query and body, with the caller's
    /// `Authorization`, `Content-Type` and `Accept`.
    pub(crate) async fn forward(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Forwarded, UpstreamError> {
        let url = format!("{}{path_and_query}", self.base);
        let mut request = self.api.request(method.clone(), url);
        for name in [header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT] {
            if let Some(value) = headers.get(&name) {
                request = request.header(name, value);
            }
        }
        if !body.is_empty() {
            request = request.body(body);
        }
        read(request.send().await?, MAX_ANSWER_BYTES).await
    }

    /// Fetches a result file from where the result said it is.
    pub(crate) async fn fetch_file(&self, url: &str) -> Result<Forwarded, UpstreamError> {
        read(self.files.get(url).send().await?, MAX_FILE_BYTES).await
    }
}

async fn read(mut response: reqwest::Response, limit: usize) -> Result<Forwarded, UpstreamError> {
    let status = response.status().as_u16();
    let headers = std::mem::take(response.headers_mut());
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(UpstreamError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Forwarded {
        status,
        headers,
        body: Bytes::from(body),
    })
}
