//! The client: submit, run, rebuild job handles, the catalogue, downloads.

use super::job::{Job, JobResult, JobTicket};
use super::waiting::WaitOptions;
use crate::download::{DownloadError, Downloader, ExistingFiles, Target};
use crate::error::{Error, HandleError};
use crate::generated::api;
use crate::polling::PollPolicy;
use crate::quote::{EXCERPT_CHARS, excerpt};
use crate::validation::{Rule, ValidationError, Violation};
use crate::wire::decode::submit_answer;
use crate::wire::ids::{validate_model_id, validate_request_id};
use crate::{DynamicModel, JobModel, Model, ModelDescriptor, ModelInput};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A RunComfy Model API client: submit jobs, wait for them, download what
/// they made. Cheap to clone (shared inside).
///
/// Build one with [`Client::from_env`] (the token from `RUNCOMFY_TOKEN`) or
/// [`Client::builder`]. Inputs are validated against the model's schema
/// before anything is sent; a submit is never sent twice once it may have
/// reached RunComfy; every error after a submit carries the request id. Its
/// `Debug` never shows the token.
///
/// ```no_run
/// # async fn demo() -> Result<(), runcomfy::Error> {
/// use runcomfy::Client;
/// use runcomfy::models::kling::kling_3_0::standard::text_to_video::Input;
///
/// let client = Client::from_env()?;
/// let result = client.run(&Input::new("a red fox in the snow")).await?;
/// let files = client.download_result(&result, "videos").await?;
/// println!("saved {}", files[0].display());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) api: api::Client,
    pub(super) downloader: Downloader,
    pub(super) poll: Arc<dyn PollPolicy>,
    pub(super) wait: WaitOptions,
    pub(super) include_cost: bool,
    /// RunComfy's core API (balance), without a trailing `/`.
    pub(super) core_api_base: String,
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
            .field("include_cost", &self.inner.include_cost)
            .finish()
    }
}

impl Client {
    pub(super) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
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

    /// RunComfy's core API base (where the balance is), without a
    /// trailing `/`.
    pub fn core_api_base(&self) -> &str {
        &self.inner.core_api_base
    }

    pub(crate) fn includes_cost(&self) -> bool {
        self.inner.include_cost
    }

    /// Validates `input` and submits it to its model: a paid job once
    /// accepted. The model follows from the input's type.
    ///
    /// Invalid input is refused before any request. The submit is retried
    /// only when it cannot have reached RunComfy (a connection that never
    /// opened, or 429; see [`RetryPolicy`](crate::RetryPolicy)).
    ///
    /// ```no_run
    /// # async fn demo(client: runcomfy::Client) -> Result<(), runcomfy::Error> {
    /// use runcomfy::models::kling::kling_3_0::standard::text_to_video::Input;
    ///
    /// let job = client.submit(&Input::new("a lighthouse in a storm")).await?;
    /// let saved = serde_json::to_string(&job).unwrap(); // resume it after a restart
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] for invalid input (nothing sent);
    /// [`Error::SubmitOutcomeUnknown`] when the submit may have reached
    /// RunComfy but its answer was lost or unusable (it is not re-sent: the
    /// job may exist); any API error RunComfy refused it with.
    pub async fn submit<I: ModelInput>(&self, input: &I) -> Result<Job<I::Model>, Error> {
        let model = <I::Model as Model>::DESCRIPTOR;
        let body = model.validate_serialised(input)?;
        let ticket = self.submit_body(model, body).await?;
        Ok(Job::new(self.clone(), ticket))
    }

    /// Validates, submits and waits for `input` (with the client's wait
    /// options), and returns the typed result: [`submit`](Self::submit)
    /// then [`Job::wait`].
    ///
    /// ```no_run
    /// # async fn demo(client: runcomfy::Client) -> Result<(), runcomfy::Error> {
    /// use runcomfy::models::kling::kling_3_0::standard::text_to_video::{AspectRatio, Input};
    ///
    /// let input = Input {
    ///     aspect_ratio: Some(AspectRatio::Ratio9x16),
    ///     ..Input::new("a red fox trots through fresh snow at dawn")
    /// };
    /// let result = client.run(&input).await?;
    /// println!("{:?}", result.output.video);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit) and [`Job::wait_with`]; every error after
    /// the submit carries the request id ([`Error::request_id`]).
    pub async fn run<I: ModelInput>(
        &self,
        input: &I,
    ) -> Result<JobResult<<I::Model as Model>::Output>, Error> {
        self.submit(input).await?.wait().await
    }

    /// Validates a JSON `input` against `model`'s schema and submits it:
    /// for a model chosen at run time (by id, with
    /// [`ModelDescriptor::find`]). The same checks and retry rules as
    /// [`submit`](Self::submit) apply.
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit), and [`Error::InvalidModelId`] for a
    /// descriptor whose id cannot go into a URL path.
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
        let work = model.work_units(&body);
        let body = match body {
            serde_json::Value::Object(map) => api::types::ModelInput(map),
            other => {
                return Err(ValidationError {
                    model_id: model_id.to_string(),
                    violations: vec![Violation {
                        path: String::new(),
                        rule: Rule::Type {
                            expected: "object".into(),
                        },
                        value: Some(other),
                    }],
                }
                .into());
            }
        };
        let answer = submit_answer(self.inner.api.submit_request(model_id, &body), model_id)
            .await?
            .value;
        // A 2xx means a job may exist: an id we cannot use does not undo it.
        let request_id =
            validate_request_id(&answer.request_id).map_err(|_| Error::SubmitOutcomeUnknown {
                model_id: model_id.to_string(),
                reason: format!(
                    "RunComfy answered with a request id this client cannot use: {:?}",
                    excerpt(&answer.request_id, EXCERPT_CHARS)
                ),
                source: None,
            })?;
        tracing::Span::current().record("request_id", request_id.as_str());
        tracing::info!(request_id, "submitted");
        Ok(JobTicket {
            request_id,
            model_id: Some(model_id.to_string()),
            status_url: url_text(answer.status_url),
            result_url: url_text(answer.result_url),
            cancel_url: url_text(answer.cancel_url),
            work,
        })
    }

    /// A handle on an earlier job of model `M`, from its request id alone
    /// (for instance after a restart). `M` may be
    /// [`DynamicModel`](crate::DynamicModel) when the model is not known.
    ///
    /// ```no_run
    /// # fn demo(client: runcomfy::Client) -> Result<(), runcomfy::HandleError> {
    /// use runcomfy::models::kling::kling_3_0::standard::text_to_video::TextToVideo;
    ///
    /// let job = client.job::<TextToVideo>("81926f29-71b2-916c-25d4-1200fb337e94")?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`HandleError::InvalidRequestId`] for an id that cannot go into a
    /// URL path; nothing is sent.
    pub fn job<M: JobModel>(&self, request_id: &str) -> Result<Job<M>, HandleError> {
        Job::from_ticket(
            self.clone(),
            JobTicket {
                request_id: request_id.to_string(),
                model_id: M::MODEL_ID.map(String::from),
                status_url: None,
                result_url: None,
                cancel_url: None,
                work: None,
            },
        )
    }

    /// A handle on an earlier job from its saved [`JobTicket`].
    ///
    /// # Errors
    ///
    /// [`HandleError::InvalidRequestId`] for an id that cannot go into a
    /// URL path, [`HandleError::AnotherModel`] for a ticket of another model
    /// than `M`; nothing is sent.
    pub fn resume<M: JobModel>(&self, ticket: JobTicket) -> Result<Job<M>, HandleError> {
        Job::from_ticket(self.clone(), ticket)
    }

    /// Downloads one of job `request_id`'s output files, from `url`, to
    /// `destination`: into it if it is an existing folder (named after the
    /// URL), else to exactly that path. Returns the path written. See
    /// [`DownloadPolicy`](crate::DownloadPolicy) for what a download does
    /// and refuses.
    ///
    /// # Errors
    ///
    /// [`Error::Download`] (carrying `request_id`) with the
    /// [`DownloadError`] that stopped it.
    pub async fn download_output(
        &self,
        request_id: &str,
        url: &str,
        destination: impl AsRef<Path>,
    ) -> Result<PathBuf, Error> {
        let destination = destination.as_ref();
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

    /// Saves every file of `result` (its output's URLs, each once) at
    /// `path`, as a command line and a batch name them:
    ///
    /// | `path` | first file | later files |
    /// |---|---|---|
    /// | with an extension (`fox.mp4`) | exactly `path` (into it, named after the URL, if it is a folder) | `fox-2.mp4`, `fox-3.mp4`, ... |
    /// | without one (`videos/0001`) | `videos/0001` + the URL's extension (`.mp4`) | `videos/0001-2.mp4`, ... |
    ///
    /// Parent folders are created. With [`ExistingFiles::Keep`], a file
    /// already at a path counts as saved (a rerun: files are renamed into
    /// place only once whole); with [`ExistingFiles::Refuse`], it is
    /// refused as any download refuses it.
    ///
    /// # Errors
    ///
    /// [`Error::MissingOutput`] for a result without a file URL, and
    /// [`Error::Download`] (carrying the request id) for the first file that
    /// fails; the files already written stay.
    pub async fn save_result_files<O: serde::Serialize>(
        &self,
        result: &JobResult<O>,
        path: impl AsRef<Path>,
        existing: ExistingFiles,
    ) -> Result<Vec<PathBuf>, Error> {
        let path = path.as_ref();
        let request_id = &result.request_id;
        let urls = file_urls(result)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_folder(request_id, parent).await?;
        }
        let mut files = Vec::with_capacity(urls.len());
        for (index, url) in urls.iter().enumerate() {
            // An existing folder takes the first file under its URL's name.
            let file = if index == 0 && path.is_dir() {
                path.to_path_buf()
            } else {
                crate::download::numbered_path(path, index, url)
            };
            if existing == ExistingFiles::Keep && file.is_file() {
                files.push(file);
                continue;
            }
            files.push(self.download_output(request_id, url, &file).await?);
        }
        Ok(files)
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
    /// into the folder `destination`, creating the folder if needed;
    /// returns the paths written, in the output's order.
    ///
    /// Files are named after their URLs; where two URLs end in the same
    /// name, the later ones get `-2`, `-3`, ... before the extension. An
    /// entry of that name already in the folder is never replaced (unless
    /// the policy allows overwriting a regular file), written into or
    /// written through.
    ///
    /// ```no_run
    /// # async fn demo(client: runcomfy::Client) -> Result<(), runcomfy::Error> {
    /// use runcomfy::models::kling::kling_3_0::standard::text_to_video::Input;
    ///
    /// let result = client.run(&Input::new("a red fox")).await?;
    /// for path in client.download_result(&result, "videos").await? {
    ///     println!("saved {}", path.display());
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::MissingOutput`] for a result without a file URL, and
    /// [`Error::Download`] (carrying the request id) for the first file that
    /// fails; the files already written stay.
    pub async fn download_result<O: serde::Serialize>(
        &self,
        result: &JobResult<O>,
        destination: impl AsRef<Path>,
    ) -> Result<Vec<PathBuf>, Error> {
        let destination = destination.as_ref();
        let request_id = &result.request_id;
        let urls = file_urls(result)?;
        create_folder(request_id, destination).await?;
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

/// An auxiliary URL of a submit answer: kept where it is a string, dropped
/// (never a failed submit) where it is anything else.
fn url_text(value: Option<serde_json::Value>) -> Option<String> {
    match value? {
        serde_json::Value::String(url) => Some(url),
        _ => None,
    }
}

/// Creates `folder` (and its parents) for job `request_id`'s files.
async fn create_folder(request_id: &str, folder: &Path) -> Result<(), Error> {
    tokio::fs::create_dir_all(folder)
        .await
        .map_err(|source| Error::Download {
            request_id: request_id.to_string(),
            source: DownloadError::Io {
                path: folder.to_path_buf(),
                source,
            },
        })
}

/// The result's file URLs; [`Error::MissingOutput`] if it has none.
fn file_urls<O: serde::Serialize>(result: &JobResult<O>) -> Result<Vec<String>, Error> {
    let urls = result.urls();
    if urls.is_empty() {
        return Err(Error::MissingOutput {
            request_id: result.request_id.clone(),
            missing: "a file URL".into(),
        });
    }
    Ok(urls)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
