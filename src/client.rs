//! The client: configuration, submit, run, resume, download.

use crate::catalogue::{ModelInfo, ModelQuery};
use crate::download::{DownloadError, DownloadPolicy, Downloader, Target};
use crate::error::{ConfigError, Error, ErrorAnswer, MAX_REQUEST_ID_LEN, excerpt};
use crate::generated::api;
use crate::job::{Job, JobResult, JobTicket};
use crate::polling::{BackoffPolling, PollPolicy, WaitOptions};
use crate::retry::RetryPolicy;
use crate::transport::ApiContext;
use crate::{DynamicModel, Model, ModelDescriptor};
use futures::Stream;
use secrecy::SecretString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The environment variable holding the API token (the name RunComfy's
/// official CLI reads).
pub const TOKEN_ENV: &str = "RUNCOMFY_TOKEN";
/// The environment variable that overrides the API base URL (for the
/// emulator or a proxy).
pub const BASE_URL_ENV: &str = "RUNCOMFY_BASE_URL";
/// RunComfy's Model API.
pub const DEFAULT_BASE_URL: &str = "https://model-api.runcomfy.net";

/// A RunComfy Model API client. Cheap to clone (shared inside).
///
/// Build one with [`Client::from_env`] or [`Client::builder`]. Its `Debug`
/// never shows the token.
///
/// ```no_run
/// # async fn demo() -> Result<(), runcomfy::Error> {
/// use runcomfy::Client;
/// use runcomfy::models::kling::kling_3_0::standard::text_to_video::{Input, TextToVideo};
///
/// let client = Client::from_env()?;
/// let result = client.run::<TextToVideo>(&Input::new("a red fox in the snow")).await?;
/// let files = client.download_result(&result, std::path::Path::new(".")).await?;
/// println!("saved {}", files[0].display());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    api: api::Client,
    downloader: Downloader,
    poll: Arc<dyn PollPolicy>,
    wait: WaitOptions,
    include_cost: bool,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use progenitor_client::ClientInfo;
        f.debug_struct("Client")
            .field("base_url", &self.inner.api.baseurl())
            .field("context", self.inner.api.inner())
            .field("poll", &self.inner.poll)
            .field("wait", &self.inner.wait)
            .field("downloads", self.inner.downloader.policy())
            .finish()
    }
}

impl Client {
    /// A builder with RunComfy's defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured from the environment: the token from
    /// `RUNCOMFY_TOKEN` (required) and the base URL from
    /// `RUNCOMFY_BASE_URL` (optional).
    pub fn from_env() -> Result<Self, Error> {
        Self::builder().from_env()?.build()
    }

    /// The API base URL.
    pub fn base_url(&self) -> &str {
        use progenitor_client::ClientInfo;
        self.inner.api.baseurl()
    }

    pub(crate) fn api(&self) -> &api::Client {
        &self.inner.api
    }

    pub(crate) fn default_poll_policy(&self) -> Arc<dyn PollPolicy> {
        self.inner.poll.clone()
    }

    pub(crate) fn default_wait(&self) -> WaitOptions {
        self.inner.wait.clone()
    }

    pub(crate) fn includes_cost(&self) -> bool {
        self.inner.include_cost
    }

    /// A model's metadata from RunComfy: its name, categories, listed
    /// price and published input schema (`GET /v1/models/{model_id}`, the
    /// model id's slashes literal in the path).
    ///
    /// Every field but the id is optional: RunComfy documents this call
    /// only through its own clients.
    pub async fn model_info(&self, model_id: &str) -> Result<ModelInfo, Error> {
        let model_id = validate_model_id(model_id)?;
        match self.inner.api.get_model(model_id).await {
            Ok(answer) => Ok(ModelInfo::from_wire(answer.into_inner(), Some(model_id))),
            Err(error) => Err(api_error(error, None).await),
        }
    }

    /// RunComfy's model catalogue, page by page, as a stream of models
    /// (`GET /v1/models`).
    ///
    /// Pages are fetched as the stream is read, each retried like any
    /// status call; the stream ends after the last page (by the answer's
    /// `total`, or an empty or short page when RunComfy sends no total).
    /// A server that sends the same page again ends it with an error
    /// instead of looping.
    pub fn models(
        &self,
        query: ModelQuery,
    ) -> impl Stream<Item = Result<ModelInfo, Error>> + Send + 'static {
        crate::catalogue::pages(self.clone(), query)
    }

    /// Validates `input` and submits it: a paid job once accepted.
    ///
    /// Invalid input is refused before any request. The submit is retried
    /// only when it cannot have reached RunComfy (see [`crate::retry`]);
    /// otherwise a lost answer is [`Error::SubmitOutcomeUnknown`].
    pub async fn submit<M: Model>(&self, input: &M::Input) -> Result<Job<M>, Error> {
        let body = M::DESCRIPTOR.validate_serialised(input)?;
        let ticket = self.submit_body(M::DESCRIPTOR, body).await?;
        Ok(Job::new(self.clone(), ticket))
    }

    /// Validates a JSON `input` against `model`'s schema and submits it:
    /// for a model chosen at run time (by id, with
    /// [`ModelDescriptor::find`]). The same checks and retry rules as
    /// [`submit`](Self::submit) apply.
    pub async fn submit_json(
        &self,
        model: &ModelDescriptor,
        input: &serde_json::Value,
    ) -> Result<Job<DynamicModel>, Error> {
        model.validate_input(input)?;
        let ticket = self.submit_body(model, input.clone()).await?;
        Ok(Job::new(self.clone(), ticket))
    }

    /// Sends a validated body to `model`'s submit endpoint.
    #[tracing::instrument(name = "runcomfy.submit", skip_all, fields(model = model.id, request_id = tracing::field::Empty))]
    async fn submit_body(
        &self,
        model: &ModelDescriptor,
        body: serde_json::Value,
    ) -> Result<JobTicket, Error> {
        let model_id = validate_model_id(model.id)?;
        let body = match body {
            serde_json::Value::Object(map) => api::types::ModelInput(map),
            _ => {
                return Err(ConfigError::InputNotAnObject {
                    model_id: model_id.to_string(),
                }
                .into());
            }
        };
        let answer = match self.inner.api.submit_request(model_id, &body).await {
            Ok(answer) => answer.into_inner(),
            Err(error) => return Err(submit_error(error, model_id).await),
        };
        // A 2xx means a job may exist: an id we cannot use does not undo it.
        let request_id =
            validate_request_id(&answer.request_id).map_err(|_| Error::SubmitOutcomeUnknown {
                model_id: model_id.to_string(),
                reason: format!(
                    "RunComfy answered with a request id this client cannot use: {:?}",
                    excerpt(&answer.request_id)
                ),
                source: None,
            })?;
        tracing::Span::current().record("request_id", request_id.as_str());
        tracing::info!(request_id, "submitted");
        Ok(JobTicket {
            request_id,
            model_id: model_id.to_string(),
            status_url: answer.status_url,
            result_url: answer.result_url,
            cancel_url: answer.cancel_url,
        })
    }

    /// Validate, submit, wait (with the client's wait options), and fetch
    /// the typed result.
    pub async fn run<M: Model>(&self, input: &M::Input) -> Result<JobResult<M::Output>, Error> {
        self.submit::<M>(input).await?.wait().await
    }

    /// A handle on an earlier job, from its request id alone (for instance
    /// after a restart).
    pub fn job<M: Model>(&self, request_id: &str) -> Result<Job<M>, Error> {
        let request_id = validate_request_id(request_id)?;
        Ok(Job::new(
            self.clone(),
            JobTicket {
                request_id,
                model_id: M::DESCRIPTOR.id.to_string(),
                status_url: None,
                result_url: None,
                cancel_url: None,
            },
        ))
    }

    /// A handle on an earlier job from its saved [`JobTicket`].
    pub fn resume<M: Model>(&self, ticket: JobTicket) -> Result<Job<M>, Error> {
        validate_request_id(&ticket.request_id)?;
        if ticket.model_id != M::DESCRIPTOR.id {
            return Err(ConfigError::TicketForAnotherModel {
                request_id: ticket.request_id,
                ticket_model: ticket.model_id,
                requested_model: M::DESCRIPTOR.id,
            }
            .into());
        }
        Ok(Job::new(self.clone(), ticket))
    }

    /// Downloads one file (see [`crate::download`]) to `destination`, a
    /// folder or a file path; returns the path written.
    pub async fn download(
        &self,
        url: &str,
        destination: &Path,
        request_id: &str,
    ) -> Result<PathBuf, Error> {
        // An existing folder (a symlink to one included: the caller named
        // it) takes the file under its URL's name; anything else is the
        // file's own path.
        let target = if destination.is_dir() {
            Target::Folder(destination)
        } else {
            Target::File(destination)
        };
        self.download_to(url, target, request_id).await
    }

    async fn download_to(
        &self,
        url: &str,
        target: Target<'_>,
        request_id: &str,
    ) -> Result<PathBuf, Error> {
        self.inner
            .downloader
            .download(url, target)
            .await
            .map_err(|source| Error::Download {
                request_id: request_id.to_string(),
                source,
            })
    }

    /// Downloads every file a result names (its output's URLs, each once)
    /// into the folder `destination`, creating the folder if needed.
    ///
    /// Files are named after their URLs; where two URLs end in the same name,
    /// the later ones get `-2`, `-3`, ... before the extension.
    pub async fn download_result<O: serde::Serialize>(
        &self,
        result: &JobResult<O>,
        destination: &Path,
    ) -> Result<Vec<PathBuf>, Error> {
        let request_id = &result.request_id;
        let urls = result.urls();
        if urls.is_empty() {
            return Err(Error::MissingOutput {
                request_id: request_id.clone(),
                missing: "a file URL".into(),
            });
        }
        tokio::fs::create_dir_all(destination)
            .await
            .map_err(|source| Error::Download {
                request_id: request_id.clone(),
                source: DownloadError::Io {
                    path: destination.to_path_buf(),
                    source,
                },
            })?;
        let names = crate::download::distinct_file_names(&urls);
        let mut paths = Vec::with_capacity(urls.len());
        for (url, name) in urls.iter().zip(names) {
            // Exactly this path: an entry of that name that is a folder or
            // a symlink is refused, never written into or through.
            let file = destination.join(name);
            paths.push(
                self.download_to(url, Target::File(&file), request_id)
                    .await?,
            );
        }
        Ok(paths)
    }
}

/// Request ids go into URL paths: refuse anything that could change the
/// path (`.`, `..`, `/`, `%`, `?`, `#`, spaces) and anything longer than
/// [`MAX_REQUEST_ID_LEN`] characters.
pub(crate) fn validate_request_id(id: &str) -> Result<String, Error> {
    let ok = !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'));
    if ok {
        Ok(id.to_string())
    } else {
        Err(Error::InvalidRequestId(id.to_string()))
    }
}

/// The longest model id this client sends.
const MAX_MODEL_ID_LEN: usize = 256;

/// Model ids go into URL paths with their slashes literal: each segment
/// must be non-empty, not `.` or `..`, and made of letters, digits, `-`,
/// `_` and `.`.
pub(crate) fn validate_model_id(id: &str) -> Result<&str, Error> {
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if id.len() <= MAX_MODEL_ID_LEN && id.split('/').all(segment_ok) {
        Ok(id)
    } else {
        Err(Error::InvalidModelId(id.to_string()))
    }
}

/// Maps a failed idempotent call (status, result, cancel, model info) to
/// [`Error`].
pub(crate) async fn api_error(
    error: progenitor_client::Error<()>,
    request_id: Option<&str>,
) -> Error {
    use progenitor_client::Error as E;
    let request_id_owned = request_id.map(String::from);
    match error {
        E::CommunicationError(source)
        | E::ResponseBodyError(source)
        | E::InvalidUpgrade(source) => Error::Transport {
            request_id: request_id_owned,
            source,
        },
        E::InvalidResponsePayload(body, parse_error) => {
            if ErrorAnswer::is_error_body(&body) {
                ErrorAnswer::parse(200, &body, None).into_error(request_id)
            } else {
                Error::InvalidResponse {
                    status: 200,
                    message: format!(
                        "{parse_error}; body: {}",
                        excerpt(&String::from_utf8_lossy(&body))
                    ),
                    request_id: request_id_owned,
                }
            }
        }
        E::UnexpectedResponse(response) => answer_error(response).await.into_error(request_id),
        E::ErrorResponse(response) => ErrorAnswer {
            status: response.status().as_u16(),
            ..ErrorAnswer::default()
        }
        .into_error(request_id),
        E::InvalidRequest(message) | E::Custom(message) => {
            ConfigError::InvalidRequest(message).into()
        }
    }
}

async fn answer_error(response: reqwest::Response) -> ErrorAnswer {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::error::parse_retry_after);
    // The transport layer already read the body into memory.
    let body = response.bytes().await.unwrap_or_default();
    ErrorAnswer::parse(status, &body, retry_after)
}

/// Maps a failed submit to [`Error`]: anything that may have reached
/// RunComfy becomes [`Error::SubmitOutcomeUnknown`].
async fn submit_error(error: progenitor_client::Error<()>, model_id: &str) -> Error {
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
            if ErrorAnswer::is_error_body(&body) {
                let answer = ErrorAnswer::parse(200, &body, None);
                if answer.code.is_some_and(|c| c >= 500_000) {
                    unknown(format!("error in a 200 answer: {}", answer.message), None)
                } else {
                    answer.into_error(None)
                }
            } else {
                unknown(
                    format!(
                        "unreadable answer ({parse_error}): {}",
                        excerpt(&String::from_utf8_lossy(&body))
                    ),
                    None,
                )
            }
        }
        E::UnexpectedResponse(response) => {
            let answer = answer_error(response).await;
            if answer.status >= 500 {
                unknown(format!("HTTP {}: {}", answer.status, answer.message), None)
            } else {
                answer.into_error(None)
            }
        }
        E::ErrorResponse(response) => unknown(format!("HTTP {}", response.status()), None),
        E::InvalidRequest(message) | E::Custom(message) => {
            ConfigError::InvalidRequest(message).into()
        }
    }
}

/// Configuration for a [`Client`].
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
            poll: Arc::new(BackoffPolling::default()),
            wait: WaitOptions::default(),
            user_agent: concat!("runcomfy-rust/", env!("CARGO_PKG_VERSION")).to_string(),
            http: None,
            downloads: DownloadPolicy::default(),
            download_read_timeout: Duration::from_secs(60),
            include_cost: false,
        }
    }
}

impl ClientBuilder {
    /// The API token (required).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(SecretString::from(token.into()));
        self
    }

    /// Reads `RUNCOMFY_TOKEN` (required) and `RUNCOMFY_BASE_URL` (if set).
    pub fn from_env(mut self) -> Result<Self, Error> {
        let token = std::env::var(TOKEN_ENV)
            .ok()
            .filter(|token| !token.trim().is_empty())
            .ok_or(ConfigError::MissingToken)?;
        self.token = Some(SecretString::from(token));
        if let Ok(base_url) = std::env::var(BASE_URL_ENV) {
            self.base_url = base_url;
        }
        Ok(self)
    }

    /// The API base URL (default `https://model-api.runcomfy.net`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
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

    /// How transient failures are retried (see [`crate::retry`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The polling schedule for waits (default [`BackoffPolling`]).
    pub fn poll_policy(mut self, policy: Arc<dyn PollPolicy>) -> Self {
        self.poll = policy;
        self
    }

    /// The wait options [`Client::run`] and [`Job::wait`] use.
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

    /// How downloads behave (hosts, size cap, overwrite).
    pub fn download_policy(mut self, policy: DownloadPolicy) -> Self {
        self.downloads = policy;
        self
    }

    /// Ask RunComfy for each job's cost with its result
    /// (`include_cost=true`, which RunComfy's own clients send), filling
    /// [`JobResult::cost`]. Off by default, so that requests are exactly
    /// the documented ones.
    pub fn include_cost(mut self, include: bool) -> Self {
        self.include_cost = include;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client, Error> {
        use secrecy::ExposeSecret;
        let token = self
            .token
            .filter(|token| !token.expose_secret().trim().is_empty())
            .ok_or(ConfigError::MissingToken)?;
        if crate::transport::bearer_header(&token).is_none() {
            return Err(ConfigError::TokenNotHeaderSafe.into());
        }
        let base_url = self.base_url.trim_end_matches('/').to_string();
        let invalid_base_url = |reason: String| ConfigError::InvalidBaseUrl {
            url: base_url.clone(),
            reason,
        };
        let origin = reqwest::Url::parse(&base_url).map_err(|e| invalid_base_url(e.to_string()))?;
        if !matches!(origin.scheme(), "https" | "http") {
            return Err(invalid_base_url("the scheme must be http or https".into()).into());
        }
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .user_agent(&self.user_agent)
                .timeout(self.request_timeout)
                .connect_timeout(self.connect_timeout)
                // The API does not redirect; never carry the token elsewhere.
                .redirect(reqwest::redirect::Policy::none())
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
        )
        .map_err(|source| ConfigError::HttpClient {
            purpose: "download",
            source,
        })?;
        let context = ApiContext {
            token,
            origin,
            retry: self.retry,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                api: api::Client::new_with_client(&base_url, http, context),
                downloader,
                poll: self.poll,
                wait: self.wait,
                include_cost: self.include_cost,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_that_would_change_the_path_are_refused() {
        for bad in ["", ".", "..", "a/b", "a%2Fb", "a?b", "a#b", "a b", "ä"] {
            assert!(validate_request_id(bad).is_err(), "{bad:?}");
        }
        for good in ["81926f29-71b2-916c-25d4-1200fb337e94", "abc.def", "x_y~z"] {
            assert_eq!(validate_request_id(good).expect("valid"), good);
        }
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let client = Client::builder()
            .token("sk-top-secret")
            .build()
            .expect("builds");
        assert!(!format!("{client:?}").contains("sk-top-secret"));
        let builder = Client::builder().token("sk-top-secret");
        assert!(!format!("{builder:?}").contains("sk-top-secret"));
    }

    #[test]
    fn a_missing_token_is_a_configuration_error() {
        let error = Client::builder().build().expect_err("no token");
        assert!(error.to_string().contains("RUNCOMFY_TOKEN"));
        let error = Client::builder()
            .token("t")
            .base_url("ftp://x")
            .build()
            .expect_err("bad scheme");
        assert!(matches!(
            error,
            Error::Config(ConfigError::InvalidBaseUrl { .. })
        ));
        let error = Client::builder()
            .token("sk-line\nbreak")
            .build()
            .expect_err("a newline cannot go in a header");
        assert!(matches!(
            error,
            Error::Config(ConfigError::TokenNotHeaderSafe)
        ));
        assert!(!error.to_string().contains("sk-line"), "{error}");
    }
}
