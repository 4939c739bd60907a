//! How a [`Client`] is configured.

use super::client::{Client, Inner};
use super::waiting::WaitOptions;
use crate::download::{DownloadPolicy, Downloader};
use crate::error::ConfigError;
use crate::generated::api;
use crate::polling::LearningPolling;
use crate::polling::PollPolicy;
use crate::wire::{ApiContext, RetryPolicy, bearer_header};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The environment variable holding the API token (the name RunComfy's
/// official CLI reads).
pub const TOKEN_ENV: &str = "RUNCOMFY_TOKEN";
/// The environment variable that overrides the API base URL (for the
/// emulator or a proxy).
pub const BASE_URL_ENV: &str = "RUNCOMFY_BASE_URL";
/// The Model API base as RunComfy's own CLI names it (with or without
/// `/v1`); read when [`BASE_URL_ENV`] is not set.
pub const MODEL_API_BASE_ENV: &str = "RUNCOMFY_MODEL_API_BASE";
/// RunComfy's Model API.
pub const DEFAULT_BASE_URL: &str = "https://model-api.runcomfy.net";
/// RunComfy's core API, where the account's balance is (the "serverless"
/// API base of RunComfy's CLI).
pub const DEFAULT_CORE_API_BASE: &str = "https://api.runcomfy.net/prod/v2";
/// The environment variable that overrides the core API base (the name
/// RunComfy's CLI reads).
pub const SERVERLESS_API_BASE_ENV: &str = "RUNCOMFY_SERVERLESS_API_BASE";

/// Configuration for a [`Client`]: token, base URL, timeouts, retries,
/// polling, downloads.
///
/// The token is held as a [`SecretString`] and shown as `[REDACTED]` by
/// `Debug`.
///
/// ```
/// use runcomfy::{Client, RetryPolicy};
/// use runcomfy::polling::FixedPolling;
/// use std::time::Duration;
///
/// let client = Client::builder()
///     .token("sk-...")
///     .base_url("http://127.0.0.1:8787")
///     .retry(RetryPolicy::default().max_retries(2))
///     .poll_policy(FixedPolling(Duration::from_secs(2)))
///     .build()?;
/// # Ok::<(), runcomfy::ConfigError>(())
/// ```
#[must_use]
pub struct ClientBuilder {
    token: Option<SecretString>,
    base_url: String,
    request_timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    poll: Arc<dyn PollPolicy>,
    wait: WaitOptions,
    user_agent: String,
    http: Option<reqwest::Client>,
    downloads: DownloadPolicy,
    download_read_timeout: Duration,
    include_cost: bool,
    max_concurrent_requests: usize,
    core_api_base: Option<String>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .field("base_url", &self.base_url)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .field("poll", &self.poll)
            .field("wait", &self.wait)
            .field("downloads", &self.downloads)
            .field("include_cost", &self.include_cost)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("core_api_base", &self.core_api_base)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            token: None,
            base_url: DEFAULT_BASE_URL.to_string(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            poll: Arc::new(LearningPolling::default()),
            wait: WaitOptions::default(),
            user_agent: concat!("runcomfy-rust/", env!("CARGO_PKG_VERSION")).to_string(),
            http: None,
            downloads: DownloadPolicy::default(),
            download_read_timeout: Duration::from_secs(60),
            include_cost: false,
            max_concurrent_requests: ClientBuilder::DEFAULT_MAX_CONCURRENT_REQUESTS,
            core_api_base: None,
        }
    }
}

impl ClientBuilder {
    /// API requests one client has in flight at once unless told
    /// otherwise.
    pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 32;

    /// The most API requests (submit, status, result, cancel, model info)
    /// this client has in flight at once; more wait their turn, first
    /// come first served. Default
    /// [`DEFAULT_MAX_CONCURRENT_REQUESTS`](Self::DEFAULT_MAX_CONCURRENT_REQUESTS)
    /// (32); at least 1.
    ///
    /// The cap is what lets a thousand concurrent jobs share a few dozen
    /// reused connections instead of opening one per request in a burst
    /// (and drawing 429s): the client keeps at most this many idle
    /// connections to the API. A try holds its place only while it is on
    /// the wire: retries wait for their turn again, and waiting between
    /// polls holds nothing. Downloads are not counted.
    pub fn max_concurrent_requests(mut self, requests: usize) -> Self {
        self.max_concurrent_requests = requests.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        self
    }
}

impl Client {
    /// A builder with RunComfy's defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured from the environment: the token from
    /// `RUNCOMFY_TOKEN` (required) and the base URL from
    /// `RUNCOMFY_BASE_URL` (optional; `RUNCOMFY_MODEL_API_BASE`, the name
    /// RunComfy's CLI reads, is accepted too).
    ///
    /// # Errors
    ///
    /// [`ConfigError::MissingToken`] when `RUNCOMFY_TOKEN` is unset or
    /// empty, and what [`ClientBuilder::build`] refuses.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::builder().from_env()?.build()
    }
}

impl ClientBuilder {
    /// The API token (required).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(SecretString::from(token.into()));
        self
    }

    /// Reads `RUNCOMFY_TOKEN` (required) and the base URL from
    /// `RUNCOMFY_BASE_URL`, else `RUNCOMFY_MODEL_API_BASE` (if either is
    /// set).
    ///
    /// # Errors
    ///
    /// [`ConfigError::MissingToken`] when `RUNCOMFY_TOKEN` is unset or
    /// empty.
    pub fn from_env(mut self) -> Result<Self, ConfigError> {
        let token = std::env::var(TOKEN_ENV)
            .ok()
            .filter(|token| !token.trim().is_empty())
            .ok_or(ConfigError::MissingToken)?;
        self.token = Some(SecretString::from(token));
        let base_url = [BASE_URL_ENV, MODEL_API_BASE_ENV]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()));
        if let Some(base_url) = base_url {
            self.base_url = base_url;
        }
        if let Some(core) = std::env::var(SERVERLESS_API_BASE_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty())
        {
            self.core_api_base = Some(core);
        }
        Ok(self)
    }

    /// The API base URL (default `https://model-api.runcomfy.net`), with or
    /// without a trailing `/v1` (RunComfy's CLI documents
    /// `https://model-api.runcomfy.net/v1`) and trailing `/`: the client
    /// adds `/v1/...` itself.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// RunComfy's core API base, where the account's balance is
    /// ([`Client::balance`]); the token is sent there too. Default:
    /// `https://api.runcomfy.net/prod/v2` when the Model API base is
    /// RunComfy's own, else `{the Model API's origin}/prod/v2` (the
    /// emulator serves it there), so that a client pointed at an emulator
    /// or a proxy never sends its token to RunComfy by surprise.
    pub fn core_api_base(mut self, url: impl Into<String>) -> Self {
        self.core_api_base = Some(url.into());
        self
    }

    /// The time limit of one API request (default 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The time limit for opening a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How transient failures are retried (see [`RetryPolicy`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The polling schedule for waits (default [`LearningPolling`]). Pass
    /// an `Arc` of your policy to keep a handle on it (to save what a
    /// `LearningPolling` learned, say).
    pub fn poll_policy(mut self, policy: impl PollPolicy + 'static) -> Self {
        self.poll = Arc::new(policy);
        self
    }

    /// The wait options [`Client::run`] and [`Job::wait`](crate::Job::wait)
    /// use.
    pub fn wait_options(mut self, options: WaitOptions) -> Self {
        self.wait = options;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Use this HTTP client for API calls (its own timeouts and proxy
    /// apply; the token is still added per request, for the API origin
    /// only). Downloads always use a separate client that has no token.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// How downloads behave (hosts, size cap, overwrite, speed limits).
    pub fn download_policy(mut self, policy: DownloadPolicy) -> Self {
        self.downloads = policy;
        self
    }

    /// Ask RunComfy for each job's cost with its result
    /// (`include_cost=true`, which RunComfy's own clients send), filling
    /// [`JobResult::cost`](crate::JobResult::cost). Off by default, so that
    /// requests are exactly the documented ones.
    pub fn include_cost(mut self, include: bool) -> Self {
        self.include_cost = include;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// [`ConfigError::MissingToken`] without a (non-blank) token,
    /// [`ConfigError::TokenNotHeaderSafe`] for a token a header cannot
    /// carry, [`ConfigError::InvalidBaseUrl`] for a base URL that is not
    /// absolute `http`/`https`, [`ConfigError::HttpClient`] if an HTTP
    /// client cannot be built.
    pub fn build(self) -> Result<Client, ConfigError> {
        let token = self
            .token
            .filter(|token| !token.expose_secret().trim().is_empty())
            .ok_or(ConfigError::MissingToken)?;
        let authorization = bearer_header(&token).ok_or(ConfigError::TokenNotHeaderSafe)?;
        let origin = http_url(&self.base_url)?;
        let base_url = crate::wire::api_root(&origin);
        let core_api_base = match &self.core_api_base {
            Some(core) => {
                http_url(core)?;
                core.trim().trim_end_matches('/').to_string()
            }
            None if base_url == DEFAULT_BASE_URL => DEFAULT_CORE_API_BASE.to_string(),
            None => format!("{}/prod/v2", origin.origin().ascii_serialization()),
        };
        let http = match self.http {
            Some(http) => http,
            None => crate::tls::http_client_builder()?
                .user_agent(&self.user_agent)
                .timeout(self.request_timeout)
                .connect_timeout(self.connect_timeout)
                // The API does not redirect; never carry the token elsewhere.
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(self.max_concurrent_requests)
                .build()
                .map_err(|source| ConfigError::HttpClient {
                    purpose: "API",
                    source,
                })?,
        };
        let downloader = Downloader::new(
            self.downloads,
            self.connect_timeout,
            self.download_read_timeout,
            &self.user_agent,
            crate::tls::http_client_builder()?,
        )
        .map_err(|source| ConfigError::HttpClient {
            purpose: "download",
            source,
        })?;
        let context = ApiContext {
            scrubber: crate::wire::answer::Scrubber::new(&token),
            authorization,
            origin,
            retry: self.retry,
            in_flight: Arc::new(tokio::sync::Semaphore::new(self.max_concurrent_requests)),
        };
        Ok(Client::from_inner(Inner {
            api: api::Client::new_with_client(&base_url, http, context),
            downloader,
            poll: self.poll,
            wait: self.wait,
            include_cost: self.include_cost,
            core_api_base,
        }))
    }
}

/// `url` parsed, if it is an `http(s)` URL; the reason it is not, naming
/// it, otherwise.
fn http_url(url: &str) -> Result<reqwest::Url, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidBaseUrl {
        url: url.to_string(),
        reason,
    };
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| invalid(e.to_string()))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(invalid("the scheme must be http or https".into()));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_api_follows_the_model_api_unless_told() {
        let core = |builder: ClientBuilder| {
            builder
                .token("t")
                .build()
                .expect("builds")
                .core_api_base()
                .to_string()
        };
        assert_eq!(core(Client::builder()), DEFAULT_CORE_API_BASE);
        assert_eq!(
            core(Client::builder().base_url("https://model-api.runcomfy.net/v1")),
            DEFAULT_CORE_API_BASE
        );
        assert_eq!(
            core(Client::builder().base_url("http://127.0.0.1:8787/v1")),
            "http://127.0.0.1:8787/prod/v2",
            "never RunComfy's hosts with an emulator's token"
        );
        assert_eq!(
            core(Client::builder().core_api_base("https://api.example.com/v2/")),
            "https://api.example.com/v2"
        );
        assert!(matches!(
            Client::builder()
                .token("t")
                .core_api_base("ftp://x")
                .build(),
            Err(ConfigError::InvalidBaseUrl { .. })
        ));
    }

    #[test]
    fn a_base_with_or_without_v1_and_slashes_means_the_same_api() {
        let root = |base: &str| {
            Client::builder()
                .token("t")
                .base_url(base)
                .build()
                .expect("a valid base")
                .base_url()
                .to_string()
        };
        for base in [
            "https://model-api.runcomfy.net",
            "https://model-api.runcomfy.net/",
            "https://model-api.runcomfy.net/v1",
            "https://model-api.runcomfy.net/v1/",
            " https://model-api.runcomfy.net/v1// ",
        ] {
            assert_eq!(root(base), "https://model-api.runcomfy.net", "{base:?}");
        }
        assert_eq!(root("http://127.0.0.1:8787/v1"), "http://127.0.0.1:8787");
        // A proxy's own prefix stays; only a last `v1` segment goes.
        assert_eq!(root("http://proxy/runcomfy/v1/"), "http://proxy/runcomfy");
        assert_eq!(root("http://proxy/v1x"), "http://proxy/v1x");
        assert_eq!(root("http://v1"), "http://v1");
    }

    #[test]
    fn bad_configurations_are_refused_with_their_reason() {
        let error = Client::builder().build().expect_err("no token");
        assert!(error.to_string().contains("RUNCOMFY_TOKEN"));
        assert!(matches!(
            Client::builder().token("  ").build(),
            Err(ConfigError::MissingToken)
        ));
        let error = Client::builder()
            .token("t")
            .base_url("ftp://x")
            .build()
            .expect_err("bad scheme");
        assert!(matches!(error, ConfigError::InvalidBaseUrl { .. }));
        let error = Client::builder()
            .token("sk-line\nbreak")
            .build()
            .expect_err("a newline cannot go in a header");
        assert!(matches!(error, ConfigError::TokenNotHeaderSafe));
        assert!(!error.to_string().contains("sk-line"), "{error}");
    }
}
