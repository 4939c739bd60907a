//! Waiting for a job: the polling schedule, deadlines, progress reports.
//!
//! A wait polls the job's status on a schedule set by a [`PollPolicy`]
//! (by default [`BackoffPolling`](crate::polling::BackoffPolling): 0.5 s
//! growing by 1.5x to a 5 s cap, with ±10 % jitter), sleeps at least as long as a `Retry-After` the server sent,
//! rides out transient errors (up to
//! [`max_consecutive_errors`](WaitOptions::max_consecutive_errors) in a row)
//! and stops at the caller's deadline with [`Error::TimedOut`] (a status
//! call still retrying at the deadline is abandoned there). Stopping,
//! timing out or dropping a wait never cancels the job unless the caller
//! asked for [`cancel_on_deadline`](WaitOptions::cancel_on_deadline).
//!
//! Progress (a new status, a new queue position) is reported as a `Stream`
//! of [`WaitEvent`]s ([`Job::watch`](crate::Job::watch)) and through an
//! optional callback ([`WaitOptions::on_progress`]).
//!
//! All timing goes through `tokio::time`, so tests can run a wait on a
//! paused clock.

use crate::error::Error;
use crate::polling::{FinishedJob, PollContext, PollPolicy};
use crate::status::{CancelOutcome, Status};
use futures::Stream;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A report on a waited-for job: its status now, how long the wait has
/// lasted and how many polls it took.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// The job.
    pub request_id: String,
    /// Its status now.
    pub status: Status,
    /// Time since the wait began.
    pub elapsed: Duration,
    /// Status polls made so far.
    pub polls: u32,
}

/// What a wait yields: progress, then one final outcome.
#[derive(Debug)]
pub enum WaitEvent<T> {
    /// The status changed (including the first status seen).
    Progress(Progress),
    /// The wait is over.
    Finished(Result<T, Error>),
}

/// A progress callback.
type ProgressCallback = Arc<dyn Fn(&Progress) + Send + Sync>;

/// How to wait for a job: deadline, polling schedule, progress callback,
/// cancel on deadline.
///
/// The defaults: a 30-minute deadline, the client's poll policy, no
/// callback, no cancel on deadline, 10 transient errors in a row ridden
/// out. A deadline is capped at [`MAX_DEADLINE`](Self::MAX_DEADLINE), so
/// `Duration::MAX` reads as "as long as possible" and never overflows.
///
/// ```
/// use runcomfy::WaitOptions;
/// use runcomfy::polling::FixedPolling;
/// use std::time::Duration;
///
/// let options = WaitOptions::new()
///     .deadline(Duration::from_secs(600))
///     .poll_policy(FixedPolling(Duration::from_secs(2)))
///     .on_progress(|p| eprintln!("{}: {}", p.request_id, p.status));
/// # drop(options);
/// ```
#[derive(Clone)]
#[must_use]
pub struct WaitOptions {
    pub(crate) deadline: Duration,
    pub(crate) cancel_on_deadline: bool,
    pub(crate) poll: Option<Arc<dyn PollPolicy>>,
    pub(crate) on_progress: Option<ProgressCallback>,
    pub(crate) max_consecutive_errors: u32,
}

impl fmt::Debug for WaitOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitOptions")
            .field("deadline", &self.deadline)
            .field("cancel_on_deadline", &self.cancel_on_deadline)
            .field("poll", &self.poll)
            .field("on_progress", &self.on_progress.is_some())
            .field("max_consecutive_errors", &self.max_consecutive_errors)
            .finish()
    }
}

impl Default for WaitOptions {
    /// A 30-minute deadline, the client's poll policy, no callback, no
    /// cancel on deadline, 10 transient errors in a row tolerated.
    fn default() -> Self {
        Self {
            deadline: Self::DEFAULT_DEADLINE,
            cancel_on_deadline: false,
            poll: None,
            on_progress: None,
            max_consecutive_errors: 10,
        }
    }
}

impl WaitOptions {
    /// The deadline used unless set: long enough for a queued 15 s video.
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30 * 60);

    /// Options with the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The longest deadline a wait takes; a longer one (such as
    /// `Duration::MAX`, for "no deadline") is read as this.
    pub const MAX_DEADLINE: Duration = Duration::from_secs(365 * 24 * 60 * 60);

    /// Give up waiting after this long (at most [`MAX_DEADLINE`](Self::MAX_DEADLINE)).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline.min(Self::MAX_DEADLINE);
        self
    }

    /// Cancel the job when the deadline passes (it only works while the
    /// job is queued; RunComfy cannot cancel a running job).
    pub fn cancel_on_deadline(mut self, cancel: bool) -> Self {
        self.cancel_on_deadline = cancel;
        self
    }

    /// Poll on this schedule instead of the client's.
    pub fn poll_policy(mut self, policy: impl PollPolicy + 'static) -> Self {
        self.poll = Some(Arc::new(policy));
        self
    }

    /// Call this on every status change.
    pub fn on_progress(mut self, callback: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.on_progress = Some(Arc::new(callback));
        self
    }

    /// How many transient errors in a row a wait rides out before giving
    /// up with the last one.
    pub fn max_consecutive_errors(mut self, errors: u32) -> Self {
        self.max_consecutive_errors = errors;
        self
    }
}

/// What a wait needs from a job: status, the final result, cancel.
pub(crate) trait Pollable: Send + Sync {
    /// The final result's type.
    type Output: Send;
    /// The job's request id.
    fn request_id(&self) -> &str;
    /// The job's model.
    fn model_id(&self) -> &str;
    /// How much work the job asked for, in the model's price units.
    fn work(&self) -> Option<f64>;
    /// One status call.
    fn poll_status(&self) -> impl Future<Output = Result<Status, Error>> + Send;
    /// The result of a completed job (or the error of a failed one).
    fn finish(&self, status: Status) -> impl Future<Output = Result<Self::Output, Error>> + Send;
    /// One cancel call (for cancel on deadline).
    fn cancel_now(&self) -> impl Future<Output = Result<CancelOutcome, Error>> + Send;
}

/// The state of one wait, advanced one event at a time.
struct Waiter<P: Pollable> {
    job: P,
    options: WaitOptions,
    policy: Arc<dyn PollPolicy>,
    started: Instant,
    changed_at: Instant,
    polls: u32,
    errors: u32,
    last: Option<Status>,
    last_retry_after: Option<Duration>,
    done: bool,
    timeline: Timeline,
}

/// When polls saw the job queued and running: the bounds of its start and
/// finish.
#[derive(Debug, Clone, Copy)]
struct Timeline {
    /// The last poll that saw it queued (else the wait's start).
    last_queued: Instant,
    first_running: Option<Instant>,
    last_running: Option<Instant>,
}

impl Timeline {
    fn new(started: Instant) -> Self {
        Self {
            last_queued: started,
            first_running: None,
            last_running: None,
        }
    }

    fn saw(&mut self, status: &Status, at: Instant) {
        match status {
            Status::InQueue { .. } => self.last_queued = at,
            Status::InProgress | Status::Unknown { .. } => {
                self.first_running.get_or_insert(at);
                self.last_running = Some(at);
            }
            _ => {}
        }
    }

    /// (at least, at most) how long the job has run, once seen running.
    fn running(&self, now: Instant) -> (Option<Duration>, Option<Duration>) {
        match self.first_running {
            Some(first) => (
                Some(now.saturating_duration_since(first)),
                Some(now.saturating_duration_since(self.last_queued)),
            ),
            None => (None, None),
        }
    }

    /// (queued, ran), estimated at the midpoints of the bounds of its start
    /// and finish, the finish seen at `completed`.
    fn estimate(
        &self,
        started: Instant,
        completed: Instant,
    ) -> (Option<Duration>, Option<Duration>) {
        let Some(first_running) = self.first_running else {
            return (None, None);
        };
        let midpoint = |a: Instant, b: Instant| a + b.saturating_duration_since(a) / 2;
        let start = midpoint(self.last_queued, first_running);
        let finish = midpoint(self.last_running.unwrap_or(first_running), completed);
        (
            Some(start.saturating_duration_since(started)),
            Some(finish.saturating_duration_since(start)),
        )
    }
}

/// What one status poll came to.
enum Polled {
    /// A status.
    Status(Status),
    /// A failed call.
    Failed(Error),
    /// The deadline passed while the call was on its way (or retrying).
    PastDeadline,
}

impl<P: Pollable> Waiter<P> {
    /// The next event of the wait: pause, poll, and act on what the poll
    /// said, until something is worth reporting.
    async fn next_event(&mut self) -> Option<WaitEvent<P::Output>> {
        if self.done {
            return None;
        }
        loop {
            if self.polls > 0
                && let Some(timed_out) = self.pause().await
            {
                return Some(timed_out);
            }
            let event = match self.poll().await {
                Polled::Status(status) => self.on_status(status).await,
                Polled::Failed(error) => self.on_error(error),
                Polled::PastDeadline => Some(self.finish_with(self.timed_out().await)),
            };
            if event.is_some() {
                return event;
            }
        }
    }

    /// How long to wait before the next poll: the policy's delay, at least
    /// what the server last asked for.
    fn next_delay(&mut self) -> Duration {
        let retry_after = self.last_retry_after.take();
        let (running_at_least, running_at_most) = self.timeline.running(Instant::now());
        let context = PollContext {
            model_id: self.job.model_id(),
            polls: self.polls,
            elapsed: self.started.elapsed(),
            since_change: self.changed_at.elapsed(),
            status: self
                .last
                .as_ref()
                .unwrap_or(&Status::InQueue { position: None }),
            running_at_least,
            running_at_most,
            work: self.job.work(),
        };
        let delay = self.policy.next_delay(&context);
        retry_after.map_or(delay, |asked| delay.max(asked))
    }

    /// Sleeps until the next poll; the outcome of the wait instead if the
    /// deadline comes first (whatever the policy or the server asked for:
    /// checked sums, since either may be huge).
    async fn pause(&mut self) -> Option<WaitEvent<P::Output>> {
        let delay = self.next_delay();
        let deadline = self.deadline();
        if Instant::now()
            .checked_add(delay)
            .is_none_or(|next| next > deadline)
        {
            tokio::time::sleep_until(deadline).await;
            return Some(self.finish_with(self.timed_out().await));
        }
        tokio::time::sleep(delay).await;
        None
    }

    /// One status call, within the deadline (a call still retrying on its
    /// own, see `crate::wire::retry`, is abandoned there).
    async fn poll(&mut self) -> Polled {
        self.polls = self.polls.saturating_add(1);
        match tokio::time::timeout_at(self.deadline(), self.job.poll_status()).await {
            Ok(Ok(status)) => Polled::Status(status),
            Ok(Err(error)) => Polled::Failed(error),
            Err(_) => Polled::PastDeadline,
        }
    }

    /// A status: reported if it changed; the end of the wait if terminal.
    async fn on_status(&mut self, status: Status) -> Option<WaitEvent<P::Output>> {
        // A terminal status is not yet a success: the result fetch that
        // follows may fail, and those failures count in a row.
        if !status.is_terminal() {
            self.errors = 0;
        }
        self.timeline.saw(&status, Instant::now());
        if self.last.as_ref() != Some(&status) {
            let progress = self.report(&status);
            if !status.is_terminal() {
                return Some(WaitEvent::Progress(progress));
            }
        }
        if status.is_terminal() {
            return self.on_terminal(status).await;
        }
        None
    }

    /// Records a new status and tells the callback; the progress to yield.
    fn report(&mut self, status: &Status) -> Progress {
        self.changed_at = Instant::now();
        self.last = Some(status.clone());
        let progress = Progress {
            request_id: self.job.request_id().to_string(),
            status: status.clone(),
            elapsed: self.started.elapsed(),
            polls: self.polls,
        };
        if let Some(callback) = &self.options.on_progress {
            callback(&progress);
        }
        progress
    }

    /// A terminal status: fetch the outcome, tell the policy what a
    /// completed job took. A result that lags its status (or a flaky
    /// result call) is ridden out like a status call's error: the job is
    /// done and paid for.
    async fn on_terminal(&mut self, status: Status) -> Option<WaitEvent<P::Output>> {
        let completed = Instant::now();
        let outcome = self.job.finish(status.clone()).await;
        if let Err(error) = &outcome
            && self.rides_out(error)
        {
            return None;
        }
        if status == Status::Completed && outcome.is_ok() {
            let (queued, ran) = self.timeline.estimate(self.started, completed);
            self.policy.job_finished(&FinishedJob {
                model_id: self.job.model_id(),
                work: self.job.work(),
                waited: completed.saturating_duration_since(self.started),
                queued,
                ran,
            });
        }
        Some(self.finish_with(outcome))
    }

    /// A failed status call: ridden out if transient and not one too many
    /// in a row, else the end of the wait.
    fn on_error(&mut self, error: Error) -> Option<WaitEvent<P::Output>> {
        if self.rides_out(&error) {
            None
        } else {
            Some(self.finish_with(Err(error)))
        }
    }

    /// Whether the wait goes on after `error` (counted, its `Retry-After`
    /// kept for the next pause).
    fn rides_out(&mut self, error: &Error) -> bool {
        if !error.is_transient() || self.errors >= self.options.max_consecutive_errors {
            return false;
        }
        self.errors = self.errors.saturating_add(1);
        self.last_retry_after = error.retry_after();
        tracing::debug!(request_id = self.job.request_id(), %error, "transient error while waiting");
        true
    }

    /// When the wait gives up. The deadline is at most
    /// [`WaitOptions::MAX_DEADLINE`], which any clock can add.
    fn deadline(&self) -> Instant {
        self.started
            .checked_add(self.options.deadline)
            .unwrap_or(self.started)
    }

    fn finish_with(&mut self, outcome: Result<P::Output, Error>) -> WaitEvent<P::Output> {
        self.done = true;
        WaitEvent::Finished(outcome)
    }

    async fn timed_out(&self) -> Result<P::Output, Error> {
        let cancelled = self.options.cancel_on_deadline
            && matches!(self.job.cancel_now().await, Ok(CancelOutcome::Cancelled));
        Err(Error::TimedOut {
            request_id: self.job.request_id().to_string(),
            waited: self.started.elapsed(),
            last_status: self
                .last
                .clone()
                .unwrap_or(Status::InQueue { position: None }),
            cancelled,
        })
    }
}

/// The events of a wait on `job`: progress, then the outcome.
pub(crate) fn watch<P: Pollable + 'static>(
    job: P,
    options: WaitOptions,
    default_policy: Arc<dyn PollPolicy>,
) -> impl Stream<Item = WaitEvent<P::Output>> + Send
where
    P::Output: 'static,
{
    let now = Instant::now();
    let waiter = Waiter {
        policy: options.poll.clone().unwrap_or(default_policy),
        job,
        options,
        started: now,
        changed_at: now,
        polls: 0,
        errors: 0,
        last: None,
        last_retry_after: None,
        done: false,
        timeline: Timeline::new(now),
    };
    futures::stream::unfold(waiter, |mut waiter| async move {
        let event = waiter.next_event().await?;
        Some((event, waiter))
    })
}

/// Waits for `job` to finish, reporting progress through the callback only.
pub(crate) async fn wait<P: Pollable + 'static>(
    job: P,
    options: WaitOptions,
    default_policy: Arc<dyn PollPolicy>,
) -> Result<P::Output, Error>
where
    P::Output: 'static,
{
    use futures::StreamExt;
    let events = watch(job, options, default_policy);
    futures::pin_mut!(events);
    while let Some(event) = events.next().await {
        if let WaitEvent::Finished(outcome) = event {
            return outcome;
        }
    }
    unreachable!("a wait always ends with a Finished event")
}

#[cfg(test)]
mod tests;
