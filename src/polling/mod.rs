//! Polling schedules: how long a wait sleeps before each status poll.
//!
//! A [`PollPolicy`] picks each delay from a [`PollContext`] (model, polls so
//! far, time waited, last status, how long the job has run, the work it
//! asked for). [`LearningPolling`] is the
//! default; [`BackoffPolling`] grows geometrically; [`FixedPolling`] polls
//! at a fixed rate; a policy of your own can learn from the jobs it sees
//! finish.

mod learning;

pub use learning::{LearnedTimes, LearningPolling};

use crate::status::Status;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What a poll policy knows when it picks the next delay.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PollContext<'a> {
    /// The model the job runs ("" when the handle does not know it).
    pub model_id: &'a str,
    /// Status polls made so far (at least 1).
    pub polls: u32,
    /// Time since the wait began.
    pub elapsed: Duration,
    /// Time since the status last changed.
    pub since_change: Duration,
    /// The last status seen.
    pub status: &'a Status,
    /// Once the job has been seen running: how long it has run at least
    /// (since the first poll that saw it running).
    pub running_at_least: Option<Duration>,
    /// Once the job has been seen running: how long it has run at most
    /// (since the last poll that saw it queued, or since the wait began).
    pub running_at_most: Option<Duration>,
    /// How much work the request asked for, in the model's price units
    /// (for Kling, seconds of video), where known.
    pub work: Option<f64>,
}

/// A job a wait saw complete, with what the polls tell of its timing.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FinishedJob<'a> {
    /// The model it ran ("" when the handle does not know it).
    pub model_id: &'a str,
    /// How much work it asked for, in the model's price units, where known.
    pub work: Option<f64>,
    /// How long the wait lasted.
    pub waited: Duration,
    /// How long it was queued, estimated from the polls around its start.
    pub queued: Option<Duration>,
    /// How long it ran, estimated from the polls around its start and its
    /// finish; `None` if no poll saw it running.
    pub ran: Option<Duration>,
}

impl<'a> PollContext<'a> {
    /// The context of a first poll of a job of `model_id` with `status`:
    /// no time elapsed, nothing known of its run. To drive a policy in a
    /// simulation or a test; a wait builds its own.
    pub fn new(model_id: &'a str, status: &'a Status) -> Self {
        Self {
            model_id,
            polls: 1,
            elapsed: Duration::ZERO,
            since_change: Duration::ZERO,
            status,
            running_at_least: None,
            running_at_most: None,
            work: None,
        }
    }

    /// Polls made so far.
    pub fn polls(mut self, polls: u32) -> Self {
        self.polls = polls;
        self
    }

    /// Time since the wait began (and, unless set after, since the status
    /// changed).
    pub fn elapsed(mut self, elapsed: Duration) -> Self {
        self.elapsed = elapsed;
        self.since_change = elapsed;
        self
    }

    /// Time since the status last changed.
    pub fn since_change(mut self, since_change: Duration) -> Self {
        self.since_change = since_change;
        self
    }

    /// How long the job has run at least and at most.
    pub fn running(mut self, at_least: Option<Duration>, at_most: Option<Duration>) -> Self {
        self.running_at_least = at_least;
        self.running_at_most = at_most;
        self
    }

    /// The work the request asked for.
    pub fn work(mut self, work: Option<f64>) -> Self {
        self.work = work;
        self
    }
}

impl<'a> FinishedJob<'a> {
    /// A finished job of `model_id`, nothing else known: to drive a policy
    /// in a simulation or a test; a wait reports its own.
    pub fn new(model_id: &'a str) -> Self {
        Self {
            model_id,
            work: None,
            waited: Duration::ZERO,
            queued: None,
            ran: None,
        }
    }

    /// The work it asked for.
    pub fn work(mut self, work: Option<f64>) -> Self {
        self.work = work;
        self
    }

    /// How long the wait lasted.
    pub fn waited(mut self, waited: Duration) -> Self {
        self.waited = waited;
        self
    }

    /// How long it was queued.
    pub fn queued(mut self, queued: Option<Duration>) -> Self {
        self.queued = queued;
        self
    }

    /// How long it ran.
    pub fn ran(mut self, ran: Option<Duration>) -> Self {
        self.ran = ran;
        self
    }
}

/// Decides how long to wait before the next status poll.
///
/// Implement it to plug in another schedule, for instance one that learns
/// typical run times from earlier jobs through
/// [`job_finished`](Self::job_finished) (as [`LearningPolling`]
/// does). A policy is given to a builder by value; give it an `Arc` of
/// your policy to keep a handle on it (for instance to save what it
/// learned): `Arc<P>` is a policy too.
pub trait PollPolicy: Send + Sync + fmt::Debug {
    /// The delay before the next poll.
    fn next_delay(&self, context: &PollContext<'_>) -> Duration;

    /// Called once a waited-for job completes.
    fn job_finished(&self, _job: &FinishedJob<'_>) {}
}

/// A short first delay growing geometrically to a cap, with jitter. Quick
/// jobs are noticed quickly; long ones cost few requests. (The default
/// before [`LearningPolling`].)
///
/// Its settings are checked where they are set, so no schedule can make a
/// wait panic: a factor below 1 (or not a number) is 1, a jitter outside 0
/// to 1 (or not a number) is clamped (NaN to 0), and every delay is
/// computed in floating point and capped at [`max`](Self::max) before it
/// becomes a `Duration`.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct BackoffPolling {
    initial: Duration,
    factor: f64,
    max: Duration,
    jitter: f64,
}

impl Default for BackoffPolling {
    /// 0.5 s, then x1.5 per poll up to 5 s, ±10 %.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            factor: 1.5,
            max: Duration::from_secs(5),
            jitter: 0.1,
        }
    }
}

impl BackoffPolling {
    /// A schedule starting at `initial`, multiplied by `factor` after each
    /// poll, capped at `max`, with the default ±10 % jitter.
    pub fn new(initial: Duration, factor: f64, max: Duration) -> Self {
        Self::default().initial(initial).factor(factor).max(max)
    }

    /// The first delay.
    pub fn initial(mut self, initial: Duration) -> Self {
        self.initial = initial;
        self
    }

    /// Each delay is the previous one times this (1 or more; anything
    /// else, NaN included, is 1: a fixed delay).
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = if factor.is_nan() {
            1.0
        } else {
            factor.max(1.0)
        };
        self
    }

    /// The longest delay.
    pub fn max(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// Each delay varies randomly by up to this fraction either way
    /// (clamped to 0 to 1; NaN is 0).
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        self
    }

    /// The delay before poll number `polls + 1`, without jitter.
    fn base_delay(&self, polls: u32) -> Duration {
        let exponent = polls.saturating_sub(1).min(1024) as i32;
        let max = self.max.as_secs_f64();
        let seconds = self.initial.as_secs_f64() * self.factor.powi(exponent);
        // An overflow gives infinity, which the cap brings back down.
        seconds_to_duration(seconds.min(max))
    }
}

/// A non-negative, finite number of seconds as a `Duration`; anything a
/// `Duration` cannot hold saturates.
fn seconds_to_duration(seconds: f64) -> Duration {
    if seconds.is_nan() || seconds <= 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
    }
}

impl PollPolicy for BackoffPolling {
    fn next_delay(&self, context: &PollContext<'_>) -> Duration {
        let base = self.base_delay(context.polls);
        let spread = 1.0 + self.jitter * (fastrand::f64() * 2.0 - 1.0);
        seconds_to_duration(base.as_secs_f64() * spread)
    }
}

impl<P: PollPolicy + ?Sized> PollPolicy for Arc<P> {
    fn next_delay(&self, context: &PollContext<'_>) -> Duration {
        (**self).next_delay(context)
    }

    fn job_finished(&self, job: &FinishedJob<'_>) {
        (**self).job_finished(job);
    }
}

/// The same delay every time (as RunComfy's CLI does with 2 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedPolling(pub Duration);

impl PollPolicy for FixedPolling {
    fn next_delay(&self, _context: &PollContext<'_>) -> Duration {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(polls: u32, status: &Status) -> PollContext<'_> {
        PollContext::new("m", status).polls(polls)
    }

    #[test]
    fn the_default_schedule_grows_from_half_a_second_to_five() {
        let policy = BackoffPolling::default().jitter(0.0);
        let status = Status::InProgress;
        let delays: Vec<f64> = (1..=10)
            .map(|polls| policy.next_delay(&context(polls, &status)).as_secs_f64() * 1000.0)
            .collect();
        let expected = [
            500.0, 750.0, 1125.0, 1687.5, 2531.25, 3796.875, 5000.0, 5000.0, 5000.0, 5000.0,
        ];
        for (delay, want) in delays.iter().zip(expected) {
            assert!((delay - want).abs() < 1e-6, "{delay} vs {want} ms");
        }
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let policy = BackoffPolling::default();
        let status = Status::InProgress;
        for polls in 1..50 {
            let delay = policy.next_delay(&context(polls, &status));
            let base = policy
                .clone()
                .jitter(0.0)
                .next_delay(&context(polls, &status));
            assert!(
                delay >= base.mul_f64(0.9) && delay <= base.mul_f64(1.1),
                "{delay:?} vs {base:?}"
            );
        }
    }

    #[test]
    fn extreme_settings_are_clamped_not_panicked_on() {
        let status = Status::InProgress;
        let policies = [
            BackoffPolling::default().factor(10.0),
            BackoffPolling::default().factor(f64::NAN).jitter(f64::NAN),
            BackoffPolling::default().jitter(f64::INFINITY),
            BackoffPolling::new(Duration::MAX, f64::INFINITY, Duration::MAX),
        ];
        for policy in policies {
            // Far more polls than any exponent a float can hold.
            for polls in [1, 2, 64, 1_000, u32::MAX] {
                let delay = policy.next_delay(&context(polls, &status));
                assert!(
                    delay.as_secs_f64() <= policy.max.as_secs_f64() * (1.0 + policy.jitter) + 1e-9,
                    "{policy:?}"
                );
            }
        }
        let capped = BackoffPolling::default().factor(10.0).jitter(0.0);
        assert_eq!(
            capped.next_delay(&context(u32::MAX, &status)),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn an_arc_of_a_policy_is_a_policy() {
        let shared = Arc::new(FixedPolling(Duration::from_secs(2)));
        let status = Status::InProgress;
        assert_eq!(
            shared.next_delay(&context(1, &status)),
            Duration::from_secs(2)
        );
    }
}
