//! Waiting for a job: the polling schedule, deadlines, progress reports.
//!
//! A wait polls the job's status on a schedule set by a [`PollPolicy`]
//! (by default [`BackoffPolling`](super::polling::BackoffPolling): 0.5 s
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

use super::polling::{FinishedJob, PollContext, PollPolicy};
use crate::error::Error;
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
/// use runcomfy::{FixedPolling, WaitOptions};
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

impl<P: Pollable> Waiter<P> {
    async fn next_event(&mut self) -> Option<WaitEvent<P::Output>> {
        if self.done {
            return None;
        }
        loop {
            if self.polls > 0 {
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
                let mut delay = self.policy.next_delay(&context);
                if let Some(asked) = retry_after {
                    delay = delay.max(asked);
                }
                // Whatever the policy or the server asks for, the deadline
                // caps it (checked sums: either may be huge).
                let deadline = self.deadline();
                if Instant::now()
                    .checked_add(delay)
                    .is_none_or(|next| next > deadline)
                {
                    tokio::time::sleep_until(deadline).await;
                    return Some(self.finish_with(self.timed_out().await));
                }
                tokio::time::sleep(delay).await;
            }
            self.polls = self.polls.saturating_add(1);
            // A status call retries on its own (see `crate::retry`); the
            // deadline bounds those retries too.
            let deadline = self.deadline();
            let Ok(polled) = tokio::time::timeout_at(deadline, self.job.poll_status()).await else {
                return Some(self.finish_with(self.timed_out().await));
            };
            match polled {
                Ok(status) => {
                    // A terminal status is not yet a success: the result
                    // fetch that follows may fail, and those failures
                    // count in a row.
                    if !status.is_terminal() {
                        self.errors = 0;
                    }
                    self.timeline.saw(&status, Instant::now());
                    let changed = self.last.as_ref() != Some(&status);
                    if changed {
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
                        if !status.is_terminal() {
                            return Some(WaitEvent::Progress(progress));
                        }
                    }
                    if status.is_terminal() {
                        let completed = Instant::now();
                        let outcome = self.job.finish(status.clone()).await;
                        // A result that lags its status (or a flaky result
                        // call) is ridden out like a status call's error:
                        // the job is done and paid for.
                        if let Err(error) = &outcome
                            && error.is_transient()
                            && self.errors < self.options.max_consecutive_errors
                        {
                            self.errors = self.errors.saturating_add(1);
                            self.last_retry_after = error.retry_after();
                            tracing::debug!(request_id = self.job.request_id(), %error, "transient error fetching the result");
                            continue;
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
                        return Some(self.finish_with(outcome));
                    }
                }
                Err(error)
                    if error.is_transient()
                        && self.errors < self.options.max_consecutive_errors =>
                {
                    self.errors = self.errors.saturating_add(1);
                    self.last_retry_after = error.retry_after();
                    tracing::debug!(request_id = self.job.request_id(), %error, "transient error while waiting");
                }
                Err(error) => return Some(self.finish_with(Err(error))),
            }
        }
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
mod tests {
    use super::*;
    use crate::error::ApiError;
    use crate::workflow::polling::{BackoffPolling, FixedPolling};
    use futures::StreamExt;
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A job whose status calls answer from a script (the last answer
    /// repeats) and record when they were made.
    #[derive(Clone, Default)]
    struct Scripted {
        answers: Arc<Mutex<VecDeque<Result<Status, Error>>>>,
        polled_at: Arc<Mutex<Vec<Instant>>>,
        cancels: Arc<AtomicU32>,
        /// How long each status call takes (say, retrying inside).
        status_delay: Arc<Mutex<Duration>>,
        /// How many result fetches still say "not finished" after the
        /// status said completed (a result that lags its status).
        lagging_results: Arc<AtomicU32>,
    }

    impl Scripted {
        fn new(answers: Vec<Result<Status, Error>>) -> Self {
            Self {
                answers: Arc::new(Mutex::new(answers.into())),
                ..Self::default()
            }
        }

        /// Delays between consecutive polls.
        fn gaps(&self) -> Vec<Duration> {
            let at = self.polled_at.lock().expect("lock");
            at.windows(2).map(|w| w[1] - w[0]).collect()
        }
    }

    impl Pollable for Scripted {
        type Output = &'static str;

        fn request_id(&self) -> &str {
            "req-1"
        }

        fn model_id(&self) -> &str {
            "test/model"
        }

        fn work(&self) -> Option<f64> {
            Some(5.0)
        }

        async fn poll_status(&self) -> Result<Status, Error> {
            self.polled_at.lock().expect("lock").push(Instant::now());
            let delay = *self.status_delay.lock().expect("lock");
            tokio::time::sleep(delay).await;
            let mut answers = self.answers.lock().expect("lock");
            if answers.len() > 1 {
                answers.pop_front().expect("not empty")
            } else {
                match answers.front().expect("a last answer") {
                    Ok(status) => Ok(status.clone()),
                    Err(error) => panic!("a script must not end on an error: {error}"),
                }
            }
        }

        async fn finish(&self, status: Status) -> Result<&'static str, Error> {
            let lagging =
                self.lagging_results
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            if lagging.is_ok() {
                return Err(Error::InvalidResponse {
                    status: 200,
                    message: "status said completed but the result says in progress".into(),
                    request_id: Some("req-1".into()),
                });
            }
            match status {
                Status::Completed => Ok("the video"),
                _ => Err(Error::JobCancelled {
                    request_id: "req-1".into(),
                }),
            }
        }

        async fn cancel_now(&self) -> Result<CancelOutcome, Error> {
            self.cancels.fetch_add(1, Ordering::SeqCst);
            // Like RunComfy: only a queued job can be cancelled.
            let answers = self.answers.lock().expect("lock");
            Ok(match answers.front() {
                Some(Ok(Status::InQueue { .. })) => CancelOutcome::Cancelled,
                _ => CancelOutcome::NotCancellable,
            })
        }
    }

    fn api_error(status: u16, code: Option<u64>, retry_after: Option<Duration>) -> ApiError {
        ApiError {
            status,
            code,
            message: String::new(),
            request_id: Some("req-1".into()),
            retry_after,
        }
    }

    fn no_jitter() -> Arc<dyn PollPolicy> {
        Arc::new(BackoffPolling::default().jitter(0.0))
    }

    #[tokio::test(start_paused = true)]
    async fn the_default_schedule_spaces_the_polls() {
        let mut script = running(10);
        script.push(Ok(Status::Completed));
        let job = Scripted::new(script);
        let outcome = wait(job.clone(), WaitOptions::new(), no_jitter()).await;
        assert_eq!(outcome.expect("completes"), "the video");
        let expected = [
            500.0, 750.0, 1125.0, 1687.5, 2531.25, 3796.875, 5000.0, 5000.0, 5000.0, 5000.0,
        ];
        let gaps = job.gaps();
        assert_eq!(gaps.len(), expected.len());
        for (gap, want) in gaps.iter().zip(expected) {
            // The paused clock rounds timers to whole milliseconds.
            assert!(
                (gap.as_secs_f64() * 1000.0 - want).abs() <= 1.0,
                "{gap:?} vs {want} ms"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_result_that_lags_its_status_is_ridden_out_then_limited() {
        let job = Scripted::new(vec![Ok(Status::Completed)]);
        job.lagging_results.store(3, Ordering::SeqCst);
        let outcome = wait(job.clone(), WaitOptions::new(), no_jitter()).await;
        assert_eq!(
            outcome.expect("completes once the result catches up"),
            "the video"
        );
        assert_eq!(job.polled_at.lock().expect("lock").len(), 4);

        let job = Scripted::new(vec![Ok(Status::Completed)]);
        job.lagging_results.store(100, Ordering::SeqCst);
        let options = WaitOptions::new().max_consecutive_errors(2);
        let outcome = wait(job.clone(), options, no_jitter()).await;
        assert!(
            matches!(outcome, Err(Error::InvalidResponse { .. })),
            "{outcome:?}"
        );
        assert_eq!(job.polled_at.lock().expect("lock").len(), 3);
    }

    fn running(n: usize) -> Vec<Result<Status, Error>> {
        (0..n).map(|_| Ok(Status::InProgress)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_fixed_schedule_polls_at_a_fixed_rate() {
        let mut script = running(4);
        script.push(Ok(Status::Completed));
        let job = Scripted::new(script);
        let options = WaitOptions::new().poll_policy(FixedPolling(Duration::from_secs(2)));
        wait(job.clone(), options, no_jitter())
            .await
            .expect("completes");
        assert!(job.gaps().iter().all(|g| *g == Duration::from_secs(2)));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_between_polls() {
        let rate_limited = Error::RateLimited(api_error(429, None, Some(Duration::from_secs(7))));
        let job = Scripted::new(vec![
            Ok(Status::InProgress),
            Err(rate_limited),
            Ok(Status::Completed),
        ]);
        wait(job.clone(), WaitOptions::new(), no_jitter())
            .await
            .expect("completes");
        let gaps = job.gaps();
        assert_eq!(gaps[0], Duration::from_millis(500));
        assert_eq!(
            gaps[1],
            Duration::from_secs(7),
            "waited for Retry-After, not 750 ms"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_stops_the_wait_but_not_the_job() {
        let job = Scripted::new(running(1));
        let started = Instant::now();
        let outcome = wait(
            job.clone(),
            WaitOptions::new().deadline(Duration::from_secs(60)),
            no_jitter(),
        )
        .await;
        match outcome {
            Err(Error::TimedOut {
                request_id,
                waited,
                last_status,
                cancelled,
            }) => {
                assert_eq!(request_id, "req-1");
                assert_eq!(waited, Duration::from_secs(60));
                assert_eq!(last_status, Status::InProgress);
                assert!(!cancelled);
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert_eq!(started.elapsed(), Duration::from_secs(60));
        assert_eq!(
            job.cancels.load(Ordering::SeqCst),
            0,
            "timing out never cancels unless asked"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_status_call_does_not_outlast_the_deadline() {
        let job = Scripted::new(running(1));
        *job.status_delay.lock().expect("lock") = Duration::from_secs(100);
        let started = Instant::now();
        let outcome = wait(
            job.clone(),
            WaitOptions::new().deadline(Duration::from_secs(10)),
            no_jitter(),
        )
        .await;
        assert!(
            matches!(outcome, Err(Error::TimedOut { waited, .. }) if waited == Duration::from_secs(10)),
            "{outcome:?}"
        );
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_on_deadline_cancels() {
        let job = Scripted::new(vec![Ok(Status::InQueue { position: Some(4) })]);
        let options = WaitOptions::new()
            .deadline(Duration::from_secs(10))
            .cancel_on_deadline(true);
        let outcome = wait(job.clone(), options, no_jitter()).await;
        assert!(matches!(
            outcome,
            Err(Error::TimedOut {
                cancelled: true,
                ..
            })
        ));
        assert_eq!(job.cancels.load(Ordering::SeqCst), 1);

        // A running job cannot be cancelled: the error says it goes on.
        let job = Scripted::new(running(1));
        let options = WaitOptions::new()
            .deadline(Duration::from_secs(10))
            .cancel_on_deadline(true);
        let error = wait(job.clone(), options, no_jitter())
            .await
            .expect_err("times out");
        assert!(
            matches!(
                error,
                Error::TimedOut {
                    cancelled: false,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().ends_with("the job goes on"), "{error}");
        assert_eq!(job.cancels.load(Ordering::SeqCst), 1, "a cancel was tried");
    }

    #[tokio::test(start_paused = true)]
    async fn progress_is_a_stream_of_status_changes() {
        let job = Scripted::new(vec![
            Ok(Status::InQueue { position: Some(2) }),
            Ok(Status::InQueue { position: Some(2) }),
            Ok(Status::InQueue { position: Some(1) }),
            Ok(Status::InProgress),
            Ok(Status::Unknown {
                value: "warming_up".into(),
            }),
            Ok(Status::InProgress),
            Ok(Status::Completed),
        ]);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorder = seen.clone();
        let options = WaitOptions::new()
            .on_progress(move |p| recorder.lock().expect("lock").push(p.status.clone()));
        let events: Vec<_> = watch(job, options, no_jitter()).collect().await;
        let statuses: Vec<Status> = events
            .iter()
            .filter_map(|e| match e {
                WaitEvent::Progress(p) => Some(p.status.clone()),
                WaitEvent::Finished(_) => None,
            })
            .collect();
        assert_eq!(
            statuses,
            [
                Status::InQueue { position: Some(2) },
                Status::InQueue { position: Some(1) },
                Status::InProgress,
                Status::Unknown {
                    value: "warming_up".into()
                },
                Status::InProgress,
            ]
        );
        assert!(matches!(
            events.last(),
            Some(WaitEvent::Finished(Ok("the video")))
        ));
        let called = seen.lock().expect("lock").clone();
        assert_eq!(called.len(), 6, "the callback also sees the final status");
        assert_eq!(called[5], Status::Completed);
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_ridden_out_up_to_a_limit() {
        let transient = || Error::Server(api_error(503, None, None));
        let job = Scripted::new(vec![
            Err(transient()),
            Err(transient()),
            Ok(Status::Completed),
        ]);
        assert!(wait(job, WaitOptions::new(), no_jitter()).await.is_ok());

        let job = Scripted::new((0..5).map(|_| Err(transient())).collect());
        let outcome = wait(
            job.clone(),
            WaitOptions::new().max_consecutive_errors(2),
            no_jitter(),
        )
        .await;
        assert!(matches!(
            outcome,
            Err(Error::Server(ApiError { status: 503, .. }))
        ));
        assert_eq!(job.polled_at.lock().expect("lock").len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_permanent_error_ends_the_wait_at_once() {
        let not_found = Error::NotFound(api_error(404, Some(404001), None));
        let job = Scripted::new(vec![Err(not_found), Ok(Status::Completed)]);
        assert!(matches!(
            wait(job.clone(), WaitOptions::new(), no_jitter()).await,
            Err(Error::NotFound { .. })
        ));
        assert_eq!(job.polled_at.lock().expect("lock").len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_a_wait_does_not_cancel_the_job() {
        let job = Scripted::new(running(1));
        let mut events = Box::pin(watch(job.clone(), WaitOptions::new(), no_jitter()));
        assert!(matches!(events.next().await, Some(WaitEvent::Progress(_))));
        drop(events);
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(job.cancels.load(Ordering::SeqCst), 0);
        assert_eq!(
            job.polled_at.lock().expect("lock").len(),
            1,
            "no polling after drop"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn extreme_settings_never_panic() {
        let policies: Vec<Arc<dyn PollPolicy>> = vec![
            Arc::new(BackoffPolling::default().factor(10.0)),
            Arc::new(BackoffPolling::default().factor(f64::NAN).jitter(f64::NAN)),
            Arc::new(BackoffPolling::default().jitter(f64::INFINITY)),
            Arc::new(BackoffPolling::new(
                Duration::MAX,
                f64::INFINITY,
                Duration::MAX,
            )),
            Arc::new(FixedPolling(Duration::MAX)),
        ];
        for policy in policies {
            let job = Scripted::new(running(1));
            let options = WaitOptions::new()
                .deadline(Duration::from_secs(600))
                .poll_policy(policy.clone());
            let outcome = wait(job, options, no_jitter()).await;
            assert!(
                matches!(outcome, Err(Error::TimedOut { .. })),
                "{policy:?}: {outcome:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn no_deadline_and_endless_retry_after_are_waited_out_not_added_up() {
        // Duration::MAX means "the longest deadline": still waiting after
        // ten (paused) hours, no overflow.
        let job = Scripted::new(running(1));
        let options = WaitOptions::new()
            .deadline(Duration::MAX)
            .poll_policy(FixedPolling(Duration::from_secs(3600)));
        let waiting = wait(job.clone(), options, no_jitter());
        let outcome = tokio::time::timeout(Duration::from_secs(10 * 3600), waiting).await;
        assert!(outcome.is_err(), "still waiting");
        // A poll at the start and one an hour (the tenth hour's may land
        // just before the timeout or just after).
        let polls = job.polled_at.lock().expect("lock").len();
        assert!((10..=11).contains(&polls), "{polls} polls");

        // A server asking for an endless Retry-After: the wait ends at its
        // deadline.
        let endless = Error::RateLimited(api_error(429, None, Some(Duration::MAX)));
        let job = Scripted::new(vec![Err(endless), Ok(Status::InProgress)]);
        let started = Instant::now();
        let outcome = wait(
            job,
            WaitOptions::new().deadline(Duration::from_secs(60)),
            no_jitter(),
        )
        .await;
        assert!(
            matches!(outcome, Err(Error::TimedOut { .. })),
            "{outcome:?}"
        );
        assert_eq!(started.elapsed(), Duration::from_secs(60));
    }

    /// What a policy was told about one finished job: model id, work,
    /// waited, queued and ran.
    type Seen = (
        String,
        Option<f64>,
        Duration,
        Option<Duration>,
        Option<Duration>,
    );

    #[derive(Debug, Default)]
    struct Learning {
        finished: Mutex<Vec<Seen>>,
    }

    impl PollPolicy for Learning {
        fn next_delay(&self, _context: &PollContext<'_>) -> Duration {
            Duration::from_secs(1)
        }

        fn job_finished(&self, job: &FinishedJob<'_>) {
            self.finished.lock().expect("lock").push((
                job.model_id.to_string(),
                job.work,
                job.waited,
                job.queued,
                job.ran,
            ));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_policy_learns_queue_and_run_times_from_finished_jobs() {
        let learning = Arc::new(Learning::default());
        // Polled every second: queued at 0 and 1 s, running at 2, 3, 4 s,
        // completed at 5 s.
        let mut script = vec![
            Ok(Status::InQueue { position: Some(0) }),
            Ok(Status::InQueue { position: Some(0) }),
        ];
        script.extend(running(3));
        script.push(Ok(Status::Completed));
        wait(
            Scripted::new(script),
            WaitOptions::new().poll_policy(learning.clone()),
            no_jitter(),
        )
        .await
        .expect("completes");
        let finished = learning.finished.lock().expect("lock").clone();
        assert_eq!(
            finished,
            [(
                "test/model".to_string(),
                Some(5.0),
                Duration::from_secs(5),
                // Started between 1 s and 2 s, finished between 4 s and 5 s.
                Some(Duration::from_millis(1500)),
                Some(Duration::from_secs(3)),
            )]
        );
    }
}
