//! A submitted job's handle: its status, result, cancel, wait and download.

use super::client::Client;
use super::waiting::{self, Pollable, WaitEvent, WaitOptions};
use crate::JobModel;
use crate::error::{Error, HandleError};
use crate::status::{CancelOutcome, Status};
use crate::wire::decode::{
    answer, failure, number, queue_position, same_job, same_model, value_text,
};
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobTicket {
    /// RunComfy's request id.
    pub request_id: String,
    /// The model the job runs, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// The status URL RunComfy returned, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_url: Option<String>,
    /// The result URL RunComfy returned, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_url: Option<String>,
    /// The cancel URL RunComfy returned, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_url: Option<String>,
    /// How much work the request asked for, in the model's price units
    /// (for Kling, seconds of video), where known: a learning poll policy
    /// uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work: Option<f64>,
}

/// A handle on a submitted job of model `M`.
///
/// Every call on it is one or more API calls, retried where that is safe;
/// none of them submits again. It serialises (serde) as its [`JobTicket`];
/// rebuild it with [`Client::resume`] or [`Client::job`]. Dropping it, or a
/// wait on it, does nothing to the job.
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

/// What one result call said.
enum ResultAnswer<O> {
    /// The job completed.
    Finished(JobResult<O>),
    /// The job is not finished: its status, and the answer's HTTP status.
    NotFinished { status: Status, http_status: u16 },
}

/// A timestamp as RunComfy wrote it (text; a number is kept as its text).
fn timestamp(value: &Value) -> Option<String> {
    (!value.is_null()).then(|| value_text(value))
}

/// A finished job's typed output, with RunComfy's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobResult<O> {
    /// The job.
    pub request_id: String,
    /// The model's output.
    pub output: O,
    /// When the job was created, as RunComfy wrote it (the live API was
    /// recorded writing `2025-12-14T08:38:35.556806+00:00`).
    pub created_at: Option<String>,
    /// When the job finished, as RunComfy wrote it: the answer's
    /// `completed_at` (as the live API names it) or `finished_at` (as the
    /// docs do).
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

impl<M: JobModel> Job<M> {
    pub(crate) fn new(client: Client, ticket: JobTicket) -> Self {
        Self {
            client,
            ticket,
            model: PhantomData,
        }
    }

    /// A handle on the job `ticket` names, for model `M`.
    pub(crate) fn from_ticket(client: Client, ticket: JobTicket) -> Result<Self, HandleError> {
        crate::wire::ids::validate_request_id(&ticket.request_id)?;
        if let (Some(wanted), Some(named)) = (M::MODEL_ID, ticket.model_id.as_deref())
            && wanted != named
        {
            return Err(HandleError::AnotherModel {
                request_id: ticket.request_id,
                ticket_model: named.to_string(),
                requested_model: wanted,
            });
        }
        Ok(Self::new(client, ticket))
    }

    /// RunComfy's request id.
    pub fn request_id(&self) -> &str {
        &self.ticket.request_id
    }

    /// The model id, where known (a job rebuilt from its request id alone
    /// as a [`DynamicModel`](crate::DynamicModel) does not know it).
    pub fn model_id(&self) -> Option<&str> {
        self.ticket.model_id.as_deref()
    }

    /// What to save to find this job again.
    pub fn ticket(&self) -> &JobTicket {
        &self.ticket
    }

    /// The job's current status (retried on transient failures).
    ///
    /// # Errors
    ///
    /// Any API error ([`Error::NotFound`] for a request id RunComfy does not
    /// know), or [`Error::InvalidResponse`] for an answer about another
    /// request id.
    // No span of its own: the call's `runcomfy.http` span names the
    // operation and the request id, and this is the call made most often.
    pub async fn status(&self) -> Result<Status, Error> {
        let id = self.request_id();
        let answer = answer(self.client.api().get_request_status(id), Some(id)).await?;
        let (http_status, answer) = (answer.status, answer.value);
        same_job(id, answer.request_id.as_deref(), http_status)?;
        let position = queue_position(answer.queue_position.as_ref());
        let status = Status::from_wire(&answer.status, position);
        tracing::debug!(request_id = id, %status, "status");
        Ok(status)
    }

    /// The finished job's typed result.
    ///
    /// # Errors
    ///
    /// [`Error::NotFinished`] with its status while the job runs,
    /// [`Error::JobFailed`] with RunComfy's code and message if it failed,
    /// [`Error::JobCancelled`] if cancelled, [`Error::InvalidResponse`] if
    /// the output does not match the model's output schema or the answer is
    /// about another request id, and any API error.
    #[tracing::instrument(name = "runcomfy.result", skip_all, fields(request_id = %self.ticket.request_id))]
    pub async fn result(&self) -> Result<JobResult<M::Output>, Error> {
        match self.read_result().await? {
            ResultAnswer::Finished(result) => Ok(result),
            ResultAnswer::NotFinished { status, .. } => Err(Error::NotFinished {
                request_id: self.request_id().to_string(),
                status,
            }),
        }
    }

    /// One result call, read: the finished job's result, or the status it
    /// is in while not finished.
    ///
    /// RunComfy answers a result call in two forms, both read here: the
    /// live API was recorded answering `{request_id, status, created_at}`
    /// while the job runs and adding `output` and `completed_at` once it
    /// completed; the docs add `finished_at` and `error`, and may say
    /// `succeeded`.
    async fn read_result(&self) -> Result<ResultAnswer<M::Output>, Error> {
        let id = self.request_id().to_string();
        let include_cost = self.client.includes_cost().then_some(true);
        let answer = answer(
            self.client.api().get_request_result(&id, include_cost),
            Some(&id),
        )
        .await?;
        let (http_status, answer) = (answer.status, answer.value);
        let unusable = |message: String| Error::InvalidResponse {
            status: http_status,
            message,
            request_id: Some(id.clone()),
        };
        same_job(&id, answer.request_id.as_deref(), http_status)?;
        same_model(&id, self.model_id(), answer.model_id.as_ref(), http_status)?;
        let status = match (&answer.status, &answer.output) {
            (Some(state), _) => Status::from_wire(state, None),
            (None, Some(_)) => Status::Completed,
            (None, None) => {
                return Err(unusable(
                    "the result answer has neither a status nor an output".into(),
                ));
            }
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
                    unusable(format!(
                        "the output does not match {}'s output schema: {e}",
                        self.model_id().unwrap_or("the model")
                    ))
                })?;
                let finished_at = answer.completed_at.or(answer.finished_at);
                Ok(ResultAnswer::Finished(JobResult {
                    request_id: id,
                    output,
                    created_at: answer.created_at.as_ref().and_then(timestamp),
                    finished_at: finished_at.as_ref().and_then(timestamp),
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
                    error: Box::new(error),
                })
            }
            Status::Cancelled => Err(Error::JobCancelled { request_id: id }),
            status => Ok(ResultAnswer::NotFinished {
                status,
                http_status,
            }),
        }
    }

    /// Asks RunComfy to cancel the job; only a queued job can be cancelled
    /// ([`CancelOutcome::NotCancellable`] otherwise). Safe to repeat.
    ///
    /// # Errors
    ///
    /// Any API error, or [`Error::InvalidResponse`] for an answer about
    /// another request id.
    #[tracing::instrument(name = "runcomfy.cancel", skip_all, fields(request_id = %self.ticket.request_id))]
    pub async fn cancel(&self) -> Result<CancelOutcome, Error> {
        let id = self.request_id();
        let answer = answer(self.client.api().cancel_request(id), Some(id)).await?;
        let (http_status, answer) = (answer.status, answer.value);
        same_job(id, answer.request_id.as_deref(), http_status)?;
        let outcome = CancelOutcome::from_wire(answer.outcome.as_deref(), answer.status.as_deref());
        tracing::info!(%outcome, "cancel");
        Ok(outcome)
    }

    /// Waits for the job with the client's wait options (30 min deadline by
    /// default) and returns its typed result.
    ///
    /// # Errors
    ///
    /// As [`wait_with`](Self::wait_with).
    pub async fn wait(&self) -> Result<JobResult<M::Output>, Error> {
        self.wait_with(self.client.default_wait()).await
    }

    /// Waits for the job with these options and returns its typed result.
    ///
    /// Polls the status on the options' (or the client's) schedule, rides
    /// out transient errors, honours `Retry-After`, and fetches the result
    /// once the job completes. Timing out or dropping the wait never
    /// cancels the job unless the options ask for
    /// [`cancel_on_deadline`](WaitOptions::cancel_on_deadline).
    ///
    /// ```no_run
    /// # async fn demo(client: runcomfy::Client) -> Result<(), runcomfy::Error> {
    /// use runcomfy::WaitOptions;
    /// use runcomfy::models::kling::kling_3_0::standard::text_to_video::Input;
    /// use std::time::Duration;
    ///
    /// let job = client.submit(&Input::new("a lighthouse in a storm")).await?;
    /// let options = WaitOptions::new()
    ///     .deadline(Duration::from_secs(600))
    ///     .on_progress(|p| eprintln!("{}: {}", p.request_id, p.status));
    /// let result = job.wait_with(options).await?;
    /// println!("{:?}", result.output.video);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`] at the deadline, [`Error::JobFailed`] or
    /// [`Error::JobCancelled`] for a job that ended so, and the last error
    /// when more transient errors came in a row than the options allow (or
    /// a permanent one came).
    pub async fn wait_with(&self, options: WaitOptions) -> Result<JobResult<M::Output>, Error> {
        waiting::wait(self.clone(), options, self.client.default_poll_policy()).await
    }

    /// Waits for the job, yielding each status change, then the outcome.
    ///
    /// The stream's last item is [`WaitEvent::Finished`] with what
    /// [`wait_with`](Self::wait_with) would return. Dropping the stream
    /// stops polling; the job goes on.
    ///
    /// ```no_run
    /// # async fn demo(job: runcomfy::Job<runcomfy::models::kling::kling_3_0::standard::text_to_video::TextToVideo>) {
    /// use futures::StreamExt;
    /// use runcomfy::{WaitEvent, WaitOptions};
    ///
    /// let mut events = Box::pin(job.watch(WaitOptions::new()));
    /// while let Some(event) = events.next().await {
    ///     match event {
    ///         WaitEvent::Progress(p) => eprintln!("{}", p.status),
    ///         WaitEvent::Finished(outcome) => println!("{:?}", outcome.map(|r| r.output.video)),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn watch(
        &self,
        options: WaitOptions,
    ) -> impl Stream<Item = WaitEvent<JobResult<M::Output>>> + Send + 'static {
        waiting::watch(self.clone(), options, self.client.default_poll_policy())
    }

    /// Downloads every file of the finished job's output into the folder
    /// `destination` (see [`Client::download_result`]).
    ///
    /// # Errors
    ///
    /// As [`result`](Self::result) ([`Error::NotFinished`] while the job
    /// runs) and [`Client::download_result`].
    pub async fn download(&self, destination: impl AsRef<Path>) -> Result<Vec<PathBuf>, Error> {
        let result = self.result().await?;
        self.client.download_result(&result, destination).await
    }
}

impl<M: JobModel> Pollable for Job<M> {
    type Output = JobResult<M::Output>;

    fn request_id(&self) -> &str {
        Job::request_id(self)
    }

    fn model_id(&self) -> &str {
        Job::model_id(self).unwrap_or_default()
    }

    fn work(&self) -> Option<f64> {
        self.ticket.work
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
        match self.read_result().await? {
            ResultAnswer::Finished(result) => Ok(result),
            ResultAnswer::NotFinished {
                status: now,
                http_status,
            } => Err(Error::InvalidResponse {
                status: http_status,
                message: format!("status said {status} but the result says {now}"),
                request_id: Some(self.request_id().to_string()),
            }),
        }
    }

    async fn cancel_now(&self) -> Result<CancelOutcome, Error> {
        self.cancel().await
    }
}
