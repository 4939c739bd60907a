//! A polling schedule that learns how long each model's jobs run.

use super::{FinishedJob, PollContext, PollPolicy};
use crate::status::Status;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// The default schedule: it learns, per model, how long jobs run (and how
/// that grows with the work asked for, such as seconds of video), then
/// polls around each job's expected finish.
///
/// - **Queued**: no sooner than the job could start and finish (1 s per
///   unit of work, at least 1.95 s; a second per job ahead), or, once the
///   model is learned, about once per spread of its run time (its start
///   is what the schedule is timed from); at most every 10 s.
/// - **Running, model not yet learned** (fewer than 3 finished jobs seen):
///   every 1.95 s, like a 2 s poller, but not before the job can have
///   finished: at least 1 s per unit of work (a 10 s video takes longer
///   than 10 s to make).
/// - **Running, model learned**: one sparse poll (or a few, at most a
///   minute apart) while the job is surely still running, polls every
///   0.9 s from 2.5 spreads before the expected run time to 2.5 spreads
///   after it, then backing off gently (+0.1 s per second of overrun, to
///   at most 5 s). The expected run time is a least-squares line in the
///   work asked for where the jobs differ in it, else the median; the
///   spread is the median absolute deviation (at least 3 % of the
///   expectation).
///
/// It keeps the last 64 run times per model, learned from the jobs the
/// client waited for. Keep a handle on it (an `Arc`) to save what it
/// learned ([`learned`](Self::learned), serde-serialisable) and start the
/// next process warm ([`with_learned`](Self::with_learned)).
///
/// ```
/// use runcomfy::Client;
/// use runcomfy::polling::{LearnedTimes, LearningPolling};
/// use std::sync::Arc;
///
/// let saved: LearnedTimes = serde_json::from_str("{}").unwrap(); // e.g. from a file
/// let policy = Arc::new(LearningPolling::with_learned(saved));
/// let client = Client::builder().token("sk-...").poll_policy(policy.clone()).build()?;
/// // ... jobs run ...
/// let to_save = serde_json::to_string(&policy.learned()).unwrap();
/// # Ok::<(), runcomfy::ConfigError>(())
/// ```
#[derive(Debug, Default)]
pub struct LearningPolling {
    learned: Mutex<LearnedTimes>,
}

/// What a [`LearningPolling`] learned: recent run times per model.
/// Serialisable, to start another process warm.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LearnedTimes {
    #[serde(default)]
    models: BTreeMap<String, Vec<Sample>>,
}

/// One finished job: the work it asked for and how long it ran.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Sample {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    work: Option<f64>,
    ran_secs: f64,
}

/// Run times kept per model.
const KEEP: usize = 64;
/// Jobs seen before a model counts as learned.
const MIN_SAMPLES: usize = 3;
/// The interval around the expected finish: p95 detection under 1 s.
const DENSE: f64 = 0.9;
/// The interval while a model is not learned: the 2 s poller's detection.
const UNLEARNED: f64 = 1.95;
/// The dense window, in spreads either side of the expectation.
const WINDOW: f64 = 2.5;
/// The longest sparse wait.
const SPARSE_MAX: f64 = 60.0;
/// The longest wait while a job is queued.
const QUEUE_MAX: f64 = 10.0;
/// The longest wait once a job overruns.
const OVERRUN_MAX: f64 = 5.0;
/// A job runs at least this long per unit of work (seconds of video).
const PRIOR_SECONDS_PER_UNIT: f64 = 1.0;

impl LearnedTimes {
    /// How many finished jobs are known for `model_id`.
    pub fn jobs_of(&self, model_id: &str) -> usize {
        self.models.get(model_id).map_or(0, Vec::len)
    }

    /// The run time expected for a job of `model_id` asking for `work`,
    /// with its spread, once the model is learned.
    pub fn expected_run_time(
        &self,
        model_id: &str,
        work: Option<f64>,
    ) -> Option<(Duration, Duration)> {
        let (expected, spread) = predict(self.models.get(model_id)?, work)?;
        Some((seconds(expected), seconds(spread)))
    }

    fn record(&mut self, model_id: &str, sample: Sample) {
        let samples = self.models.entry(model_id.to_string()).or_default();
        samples.push(sample);
        if samples.len() > KEEP {
            samples.remove(0);
        }
    }
}

impl LearningPolling {
    /// A policy that knows nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A policy that starts from what another one learned.
    pub fn with_learned(learned: LearnedTimes) -> Self {
        Self {
            learned: Mutex::new(learned),
        }
    }

    /// What it has learned so far.
    pub fn learned(&self) -> LearnedTimes {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LearnedTimes> {
        self.learned.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl PollPolicy for LearningPolling {
    fn next_delay(&self, context: &PollContext<'_>) -> Duration {
        let prediction = self
            .lock()
            .models
            .get(context.model_id)
            .and_then(|samples| predict(samples, context.work));
        // Nothing finishes sooner than this after it starts.
        let surely = context.work.unwrap_or(0.0).max(0.0) * PRIOR_SECONDS_PER_UNIT;
        let delay = match context.status {
            Status::InQueue { position } => {
                // A queued job cannot finish before it has run, so the
                // next poll can wait that long without noticing its finish
                // any later; but the moment it starts is what a learned
                // model's schedule is timed from, so not beyond its
                // spread.
                let ahead = 1.0 + position.unwrap_or(0) as f64;
                let wait = match prediction {
                    Some((_, spread)) => spread.max(ahead),
                    None => surely.max(ahead).max(UNLEARNED),
                };
                wait.min(QUEUE_MAX)
            }
            _ => {
                // How long the job has run: at least since the first poll
                // that saw it running, at most since the last that saw it
                // queued (the wait's start if none did).
                let ran_at_most = context
                    .running_at_most
                    .unwrap_or(context.elapsed)
                    .as_secs_f64();
                let ran_at_least = context
                    .running_at_least
                    .unwrap_or(Duration::ZERO)
                    .as_secs_f64();
                match prediction {
                    Some((expected, spread)) => {
                        let (from, to) = (expected - WINDOW * spread, expected + WINDOW * spread);
                        if ran_at_most + DENSE < from {
                            (from - ran_at_most).min(SPARSE_MAX)
                        } else if ran_at_least <= to {
                            DENSE
                        } else {
                            (DENSE + 0.1 * (ran_at_least - to)).min(OVERRUN_MAX)
                        }
                    }
                    None if ran_at_most + UNLEARNED < surely => surely - ran_at_most,
                    None => UNLEARNED,
                }
            }
        };
        seconds(delay)
    }

    fn job_finished(&self, job: &FinishedJob<'_>) {
        let Some(ran) = job.ran else {
            return;
        };
        if job.model_id.is_empty() {
            return;
        }
        self.lock().record(
            job.model_id,
            Sample {
                work: job.work.filter(|w| w.is_finite()),
                ran_secs: ran.as_secs_f64(),
            },
        );
    }
}

fn seconds(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// (expected run time, spread) in seconds for a job asking for `work`.
fn predict(samples: &[Sample], work: Option<f64>) -> Option<(f64, f64)> {
    if samples.len() < MIN_SAMPLES {
        return None;
    }
    let line = work.and_then(|_| fit_line(samples));
    let estimate = |s: &Sample| match (line, s.work) {
        (Some((a, b)), Some(w)) => a + b * w,
        _ => f64::NAN,
    };
    let (expected, mut residuals): (f64, Vec<f64>) = match (line, work) {
        (Some((a, b)), Some(w)) => (
            a + b * w,
            samples
                .iter()
                .filter(|s| s.work.is_some())
                .map(|s| s.ran_secs - estimate(s))
                .collect(),
        ),
        _ => {
            let mut runs: Vec<f64> = samples.iter().map(|s| s.ran_secs).collect();
            let middle = median(&mut runs);
            (middle, runs.iter().map(|r| r - middle).collect())
        }
    };
    for r in &mut residuals {
        *r = r.abs();
    }
    let spread = (1.4826 * median(&mut residuals))
        .max(0.03 * expected)
        .max(0.25);
    (expected.is_finite() && spread.is_finite()).then_some((expected.max(0.0), spread))
}

/// A least-squares line `ran = a + b * work` (b at least 0) over the
/// samples that know their work, when their work varies.
fn fit_line(samples: &[Sample]) -> Option<(f64, f64)> {
    let points: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|s| s.work.map(|w| (w, s.ran_secs)))
        .collect();
    if points.len() < MIN_SAMPLES {
        return None;
    }
    let n = points.len() as f64;
    let mean_w = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_r = points.iter().map(|p| p.1).sum::<f64>() / n;
    let var_w = points.iter().map(|p| (p.0 - mean_w).powi(2)).sum::<f64>();
    if var_w < 1e-9 {
        return None;
    }
    let cov = points
        .iter()
        .map(|p| (p.0 - mean_w) * (p.1 - mean_r))
        .sum::<f64>();
    let b = (cov / var_w).max(0.0);
    Some((mean_r - b * mean_w, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(policy: &LearningPolling, work: f64, ran: f64) {
        policy.job_finished(
            &FinishedJob::new("m")
                .work(Some(work))
                .ran(Some(Duration::from_secs_f64(ran))),
        );
    }

    fn delay(policy: &LearningPolling, status: &Status, ran: f64, work: Option<f64>) -> f64 {
        let ran = Duration::from_secs_f64(ran);
        let context = PollContext::new("m", status)
            .elapsed(ran)
            .running(Some(ran), Some(ran))
            .work(work);
        policy.next_delay(&context).as_secs_f64()
    }

    #[test]
    fn an_unlearned_model_is_polled_like_a_two_second_poller_after_its_prior() {
        let policy = LearningPolling::new();
        let running = Status::InProgress;
        // A 10 s video cannot be done within 10 s: one poll waits for that.
        assert!((delay(&policy, &running, 0.0, Some(10.0)) - 10.0).abs() < 1e-9);
        assert!((delay(&policy, &running, 10.0, Some(10.0)) - 1.95).abs() < 1e-9);
        assert!((delay(&policy, &running, 3.0, None) - 1.95).abs() < 1e-9);
        // Queued: a second per job ahead, at least 1.95 s, and no sooner
        // than the job could have run (at most 10 s).
        let queued = Status::InQueue { position: Some(3) };
        assert!((delay(&policy, &queued, 0.0, None) - 4.0).abs() < 1e-9);
        let head = Status::InQueue { position: Some(0) };
        assert!((delay(&policy, &head, 0.0, None) - 1.95).abs() < 1e-9);
        assert!((delay(&policy, &head, 0.0, Some(5.0)) - 5.0).abs() < 1e-9);
        assert!((delay(&policy, &head, 0.0, Some(15.0)) - 10.0).abs() < 1e-9);
    }

    #[test]
    fn a_learned_model_is_polled_around_its_expected_finish() {
        let policy = LearningPolling::new();
        // Run time = 10 s + 6 s per second of video, with a little noise.
        for (work, ran) in [
            (5.0, 40.0),
            (10.0, 70.5),
            (15.0, 99.0),
            (5.0, 39.0),
            (10.0, 69.0),
        ] {
            finished(&policy, work, ran);
        }
        let (expected, spread) = policy
            .learned()
            .expected_run_time("m", Some(10.0))
            .expect("learned");
        assert!((expected.as_secs_f64() - 69.75).abs() < 1.5, "{expected:?}");
        assert!(spread.as_secs_f64() < 3.0, "{spread:?}");
        let running = Status::InProgress;
        // Surely running: one sparse wait up to the dense window.
        let first = delay(&policy, &running, 0.0, Some(10.0));
        assert!(first > 55.0 && first <= 60.0, "{first}");
        // Around the expected finish: dense.
        assert!((delay(&policy, &running, 69.0, Some(10.0)) - 0.9).abs() < 1e-9);
        // Started somewhere between 60 s and 75 s ago: dense, since it may
        // finish any moment.
        let uncertain = PollContext::new("m", &running)
            .running(Some(Duration::from_secs(60)), Some(Duration::from_secs(75)))
            .work(Some(10.0));
        assert!((policy.next_delay(&uncertain).as_secs_f64() - 0.9).abs() < 1e-9);
        // Queued: about once per spread.
        let queued = delay(
            &policy,
            &Status::InQueue { position: Some(0) },
            0.0,
            Some(10.0),
        );
        assert!((1.0..3.0).contains(&queued), "{queued}");
        // Overrun: backing off gently, to at most 5 s.
        let late = delay(&policy, &running, 90.0, Some(10.0));
        assert!(late > 0.9 && late < 5.0, "{late}");
        assert!((delay(&policy, &running, 1000.0, Some(10.0)) - 5.0).abs() < 1e-9);
    }

    #[test]
    fn what_it_learned_is_saved_and_restored() {
        let policy = LearningPolling::new();
        for ran in [30.0, 31.0, 29.0] {
            finished(&policy, 5.0, ran);
        }
        let saved = serde_json::to_string(&policy.learned()).expect("serialises");
        let restored: LearnedTimes = serde_json::from_str(&saved).expect("deserialises");
        assert_eq!(restored, policy.learned());
        let warm = LearningPolling::with_learned(restored);
        assert_eq!(warm.learned().jobs_of("m"), 3);
        assert!(warm.learned().expected_run_time("m", Some(5.0)).is_some());
        assert_eq!(LearningPolling::new().learned().jobs_of("m"), 0);
    }

    #[test]
    fn only_the_last_jobs_are_kept() {
        let policy = LearningPolling::new();
        for i in 0..(KEEP + 10) {
            finished(&policy, 5.0, 30.0 + i as f64);
        }
        assert_eq!(policy.learned().jobs_of("m"), KEEP);
    }

    #[test]
    fn hostile_samples_do_not_break_it() {
        let policy = LearningPolling::new();
        for (work, ran) in [
            (f64::NAN, 1e300_f64),
            (f64::INFINITY, 0.0),
            (-5.0, 1e-300),
            (1e308, 5.0),
        ] {
            finished(&policy, work, ran.clamp(0.0, 1e15));
        }
        for ran in [0.0, 1.0, 1e9] {
            let d = delay(&policy, &Status::InProgress, ran, Some(5.0));
            assert!(d <= SPARSE_MAX, "{d}");
        }
    }
}
