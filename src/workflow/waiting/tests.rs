//! The waiting loop on a paused clock: schedules, deadlines, errors ridden
//! out, cancel on deadline, what a policy learns.

use super::*;
use crate::error::ApiError;
use crate::polling::{BackoffPolling, FixedPolling};
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
        let lagging = self
            .lagging_results
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
