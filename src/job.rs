//! A submitted job: its handle, status, result, cancel, wait and download.

use crate::JobModel;
use crate::client::{Client, api_error};
use crate::error::{Error, excerpt};
use crate::polling::{self, Pollable, WaitEvent, WaitOptions};
use crate::status::Status;
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// What identifies a job: enough to find it again after a restart.
///
/// Save it (it is serde-serialisable), then rebuild the handle with
/// [`Client::resume`]. [`Client::job`] rebuilds one from the request id
/// alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobTicket {
    /// RunComfy's request id.
    pub request_id: String,
    /// The model the job runs.
    pub model_id: String,
    /// The status URL RunComfy returned, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_url: Option<String>,
    /// The result URL RunComfy returned, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_url: Option<String>,
    /// The cancel URL RunComfy returned, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_url: Option<String>,
}

/// A handle on a submitted job of model `M`.
///
/// It serialises (serde) as its [`JobTicket`]; rebuild it with
/// [`Client::resume`] or [`Client::job`]. Dropping it does nothing to the
/// job.
pub struct Job<M: JobModel> {
    client: Client,
    ticket: JobTicket,
    model: PhantomData<fn() -> M>,
}

impl<M: JobModel> Clone for Job<M> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            ticket: self.ticket.clone(),
            model: PhantomData,
        }
    }
}

impl<M: JobModel> fmt::Debug for Job<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("ticket", &self.ticket)
            .finish_non_exhaustive()
    }
}

impl<M: JobModel> Serialize for Job<M> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.ticket.serialize(serializer)
    }
}

/// A finished job's typed output, with RunComfy's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult<O> {
    /// The job.
    pub request_id: String,
    /// The model's output.
    pub output: O,
    /// When the job was created, as RunComfy wrote it.
    pub created_at: Option<String>,
    /// When the job finished, as RunComfy wrote it.
    pub finished_at: Option<String>,
    /// What the job cost in US dollars, where RunComfy said (only when the
    /// client asks for it: [`ClientBuilder::include_cost`](crate::ClientBuilder::include_cost)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
}

impl<O: Serialize> JobResult<O> {
    /// Every `http(s)` URL in the output, in order, each once (for Kling
    /// 3.0: the video; a URL given both as `video` and in `videos` counts
    /// once).
    pub fn urls(&self) -> Vec<String> {
        fn collect(value: &Value, out: &mut Vec<String>) {
            match value {
                Value::String(s)
                    if (s.starts_with("https://") || s.starts_with("http://"))
                        && !out.contains(s) =>
                {
                    out.push(s.clone())
                }
                Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
                Value::Object(map) => map.values().for_each(|v| collect(v, out)),
                _ => {}
            }
        }
        let mut urls = Vec::new();
        if let Ok(value) = serde_json::to_value(&self.output) {
            collect(&value, &mut urls);
        }
        urls
    }
}

/// What the result endpoint says.
#[derive(Debug, Clone, PartialEq)]
pub enum ResultState<O> {
    /// Not finished yet; its current status.
    Pending(Status),
    /// Finished with output.
    Finished(JobResult<O>),
}

/// What a cancel did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The job was queued and is now cancelled (nothing to pay).
    Cancelled,
    /// The job is already running or finished; RunComfy cannot cancel it.
    NotCancellable,
    /// An outcome this client does not know, kept verbatim.
    Other(String),
}

impl<M: JobModel> Job<M> {
    pub(crate) fn new(client: Client, ticket: JobTicket) -> Self {
        Self {
            client,
            ticket,
            model: PhantomData,
        }
    }

    /// RunComfy's request id.
    pub fn request_id(&self) -> &str {
        &self.ticket.request_id
    }

    /// The model id.
    pub fn model_id(&self) -> &str {
        &self.ticket.model_id
    }

    /// What to save to find this job again.
    pub fn ticket(&self) -> &JobTicket {
        &self.ticket
    }

    /// The job's current status (retried on transient failures).
    #[tracing::instrument(name = "runcomfy.status", skip_all, fields(request_id = %self.ticket.request_id, status = tracing::field::Empty))]
    pub async fn status(&self) -> Result<Status, Error> {
        let id = self.request_id();
        let answer = self
            .client
            .api()
            .get_request_status(id)
            .await
            .map_err(|e| (e, id));
        let answer = match answer {
            Ok(answer) => answer.into_inner(),
            Err((e, id)) => return Err(api_error(e, Some(id)).await),
        };
        same_job(id, answer.request_id.as_deref())?;
        let status = Status::from_wire(&answer.status, answer.queue_position);
        tracing::Span::current().record("status", tracing::field::display(&status));
        Ok(status)
    }

    /// The job's result: [`ResultState::Pending`] while it runs,
    /// [`Error::JobFailed`] with RunComfy's error text if it failed,
    /// [`Error::JobCancelled`] if cancelled.
    #[tracing::instrument(name = "runcomfy.result", skip_all, fields(request_id = %self.ticket.request_id))]
    pub async fn result(&self) -> Result<ResultState<M::Output>, Error> {
        let id = self.request_id().to_string();
        let include_cost = self.client.includes_cost().then_some(true);
        let answer = match self
            .client
            .api()
            .get_request_result(&id, include_cost)
            .await
        {
            Ok(answer) => answer.into_inner(),
            Err(e) => return Err(api_error(e, Some(&id)).await),
        };
        same_job(&id, answer.request_id.as_deref())?;
        let status = match (&answer.status, &answer.output) {
            (Some(state), _) => Status::from_wire(state, None),
            (None, Some(_)) => Status::Completed,
            (None, None) => Status::Unknown {
                value: String::new(),
            },
        };
        match status {
            Status::Completed => {
                let Some(output) = answer.output else {
                    return Err(Error::MissingOutput {
                        request_id: id,
                        missing: "an output".into(),
                    });
                };
                let output = serde_json::from_value(Value::Object(output)).map_err(|e| {
                    Error::InvalidResponse {
                        status: 200,
                        message: format!(
                            "the output does not match {}'s output schema: {e}",
                            self.model_id()
                        ),
                        request_id: Some(id.clone()),
                    }
                })?;
                Ok(ResultState::Finished(JobResult {
                    request_id: id,
                    output,
                    created_at: answer.created_at.as_ref().map(text),
                    finished_at: answer.finished_at.as_ref().map(text),
                    cost: answer.cost.as_ref().and_then(number),
                }))
            }
            Status::Failed => {
                let error = answer.error.unwrap_or(Value::Null);
                let (code, message) = failure(&error);
                Err(Error::JobFailed {
                    request_id: id,
                    code,
                    message,
                    error,
                })
            }
            Status::Cancelled => Err(Error::JobCancelled { request_id: id }),
            pending => Ok(ResultState::Pending(pending)),
        }
    }

    /// Asks RunComfy to cancel the job; only a queued job can be cancelled
    /// ([`CancelOutcome::NotCancellable`] otherwise).
    #[tracing::instrument(name = "runcomfy.cancel", skip_all, fields(request_id = %self.ticket.request_id))]
    pub async fn cancel(&self) -> Result<CancelOutcome, Error> {
        let id = self.request_id().to_string();
        let answer = match self.client.api().cancel_request(&id).await {
            Ok(answer) => answer.into_inner(),
            Err(e) => return Err(api_error(e, Some(&id)).await),
        };
        same_job(&id, answer.request_id.as_deref())?;
        let outcome = match answer.outcome.as_deref() {
            Some("cancelled" | "canceled") => CancelOutcome::Cancelled,
            Some("not_cancellable" | "not_cancelable") => CancelOutcome::NotCancellable,
            Some(other) => CancelOutcome::Other(other.to_string()),
            None => match answer.status {
                Some(crate::RequestState::Cancelled) => CancelOutcome::Cancelled,
                _ => CancelOutcome::Other(String::new()),
            },
        };
        tracing::info!(?outcome, "cancel");
        Ok(outcome)
    }

    /// Waits for the job with the client's wait options (30 min deadline by
    /// default) and returns its typed result.
    pub async fn wait(&self) -> Result<JobResult<M::Output>, Error> {
        self.wait_with(self.client.default_wait()).await
    }

    /// Waits for the job with these options (see [`crate::polling`]).
    pub async fn wait_with(&self, options: WaitOptions) -> Result<JobResult<M::Output>, Error> {
        polling::wait(self.clone(), options, self.client.default_poll_policy()).await
    }

    /// Waits for the job, yielding each status change, then the outcome.
    /// Dropping the stream stops polling; the job goes on.
    pub fn watch(
        &self,
        options: WaitOptions,
    ) -> impl Stream<Item = WaitEvent<JobResult<M::Output>>> + Send + 'static {
        polling::watch(self.clone(), options, self.client.default_poll_policy())
    }

    /// Downloads every file of the finished job's output into the folder
    /// `destination` (see [`crate::download`]).
    pub async fn download(&self, destination: &Path) -> Result<Vec<PathBuf>, Error> {
        match self.result().await? {
            ResultState::Finished(result) => {
                self.client.download_result(&result, destination).await
            }
            ResultState::Pending(status) => Err(Error::MissingOutput {
                request_id: self.request_id().to_string(),
                missing: format!("a result yet (it is {status})"),
            }),
        }
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Refuses an answer about another job: its output is not ours.
fn same_job(asked: &str, answered: Option<&str>) -> Result<(), Error> {
    match answered {
        Some(answered) if answered != asked => Err(Error::InvalidResponse {
            status: 200,
            message: format!(
                "the answer is about request {:?}, not {asked:?}",
                excerpt(answered)
            ),
            request_id: Some(asked.to_string()),
        }),
        _ => Ok(()),
    }
}

/// A number, or a string holding one (as some RunComfy fields are sent).
pub(crate) fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n: &f64| n.is_finite())
}

/// A failed job's code and message: RunComfy sends `{code, message}`
/// (sometimes with `error_code`/`error_message`), or a plain string.
fn failure(error: &Value) -> (Option<String>, String) {
    let field = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| error.get(*n))
            .filter(|v| !v.is_null())
    };
    match error {
        Value::Null => (None, "RunComfy gave no reason".to_string()),
        Value::Object(_) => {
            let code = field(&["code", "error_code"]).map(text);
            let message = field(&["message", "error_message", "detail"])
                .map(text)
                .unwrap_or_else(|| error.to_string());
            (code.map(|c| excerpt(&c)), excerpt(&message))
        }
        other => (None, excerpt(&text(other))),
    }
}

impl<M: JobModel> Pollable for Job<M> {
    type Output = JobResult<M::Output>;

    fn request_id(&self) -> &str {
        Job::request_id(self)
    }

    fn model_id(&self) -> &str {
        Job::model_id(self)
    }

    async fn poll_status(&self) -> Result<Status, Error> {
        self.status().await
    }

    async fn finish(&self, status: Status) -> Result<Self::Output, Error> {
        if status == Status::Cancelled {
            return Err(Error::JobCancelled {
                request_id: self.request_id().to_string(),
            });
        }
        match self.result().await? {
            ResultState::Finished(result) => Ok(result),
            ResultState::Pending(now) => Err(Error::InvalidResponse {
                status: 200,
                message: format!("status said {status} but the result says {now}"),
                request_id: Some(self.request_id().to_string()),
            }),
        }
    }

    async fn cancel_now(&self) -> Result<CancelOutcome, Error> {
        self.cancel().await
    }
}
