//! Polling on a virtual clock: how soon each policy notices a finished job
//! and how many status requests it spends, through the public
//! [`PollPolicy`] API.
//!
//! The simulation plays the waiter's part: it polls at the delays the
//! policy asks for, tells it what a real wait would (status, polls, how
//! long the job has surely and at most run, the work asked for), and on
//! completion reports the job's estimated queue and run times to
//! [`PollPolicy::job_finished`]. Time is a number, not a clock: thousands
//! of jobs of up to five minutes take milliseconds.

use runcomfy::Status;
use runcomfy::polling::{
    BackoffPolling, FinishedJob, FixedPolling, LearningPolling, PollContext, PollPolicy,
};
use std::time::Duration;

/// A kind of job: how long it runs for the work asked.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    pub model_id: &'static str,
    /// Run time in seconds for a job asking for `work` units (median).
    pub run_time: fn(f64) -> f64,
    /// The work units a job asks for, picked at random.
    pub works: &'static [f64],
}

pub const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "30 s jobs",
        model_id: "sim/30s",
        run_time: |_| 30.0,
        works: &[5.0],
    },
    Scenario {
        name: "120 s jobs",
        model_id: "sim/120s",
        run_time: |_| 120.0,
        works: &[10.0],
    },
    Scenario {
        name: "300 s jobs",
        model_id: "sim/300s",
        run_time: |_| 300.0,
        works: &[10.0],
    },
    Scenario {
        name: "run time by duration (5/10/15 s video: 70/120/170 s)",
        model_id: "sim/by-duration",
        run_time: |work| 20.0 + 10.0 * work,
        works: &[5.0, 10.0, 15.0],
    },
];

/// One simulated job.
#[derive(Debug, Clone, Copy)]
struct Job {
    /// Seconds in the queue, and the seconds each place in it takes.
    queued: f64,
    per_place: f64,
    ran: f64,
    work: f64,
}

/// Run-time noise: log-normal with a 10 % sigma, and one job in fifty a
/// straggler taking 1.5x (a cold start, a busy node).
fn draw(rng: &mut fastrand::Rng, scenario: &Scenario) -> Job {
    let work = scenario.works[rng.usize(..scenario.works.len())];
    let normal = {
        // Box-Muller.
        let (u1, u2) = (rng.f64().max(1e-12), rng.f64());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    };
    let straggler = if rng.f64() < 0.02 { 1.5 } else { 1.0 };
    let ran = (scenario.run_time)(work) * (0.10 * normal).exp() * straggler;
    let per_place = 2.0 + rng.f64() * 2.0;
    let places = rng.u32(0..4);
    Job {
        queued: f64::from(places) * per_place + rng.f64(),
        per_place,
        ran,
        work,
    }
}

/// What one wait cost: seconds from the job's finish to the poll that saw
/// it, and status requests made.
#[derive(Debug, Clone, Copy)]
struct Waited {
    detection: f64,
    requests: u32,
}

fn status_at(job: &Job, t: f64) -> Status {
    if t < job.queued {
        let ahead = ((job.queued - t) / job.per_place).floor() as u64;
        Status::InQueue {
            position: Some(ahead),
        }
    } else if t < job.queued + job.ran {
        Status::InProgress
    } else {
        Status::Completed
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn wait(policy: &dyn PollPolicy, model_id: &str, job: &Job) -> Waited {
    let mut t = 0.0;
    let mut polls = 0u32;
    let mut last: Option<Status> = None;
    let mut changed_at = 0.0;
    let (mut last_queued, mut first_running, mut last_running) = (0.0, None::<f64>, None::<f64>);
    loop {
        polls += 1;
        let status = status_at(job, t);
        match status {
            Status::InQueue { .. } => last_queued = t,
            Status::InProgress => {
                first_running.get_or_insert(t);
                last_running = Some(t);
            }
            _ => {}
        }
        if last.as_ref() != Some(&status) {
            changed_at = t;
            last = Some(status.clone());
        }
        if status == Status::Completed {
            // The waiter's estimate: midpoints of the bounds of start and
            // finish.
            let (queued, ran) = match first_running {
                Some(first) => {
                    let start = (last_queued + first) / 2.0;
                    let finish = (last_running.unwrap_or(first) + t) / 2.0;
                    (
                        Some(Duration::from_secs_f64(start)),
                        Some(Duration::from_secs_f64(finish - start)),
                    )
                }
                None => (None, None),
            };
            policy.job_finished(
                &FinishedJob::new(model_id)
                    .work(Some(job.work))
                    .waited(Duration::from_secs_f64(t))
                    .queued(queued)
                    .ran(ran),
            );
            return Waited {
                detection: t - (job.queued + job.ran),
                requests: polls,
            };
        }
        let running = first_running.map(|first| {
            (
                Duration::from_secs_f64(t - first),
                Duration::from_secs_f64(t - last_queued),
            )
        });
        let context = PollContext::new(model_id, &status)
            .polls(polls)
            .elapsed(Duration::from_secs_f64(t))
            .since_change(Duration::from_secs_f64(t - changed_at))
            .running(running.map(|r| r.0), running.map(|r| r.1))
            .work(Some(job.work));
        // A policy asking for no wait at all still costs a round trip.
        t += secs(policy.next_delay(&context)).max(0.001);
    }
}

/// Detection delays and requests of one policy over many jobs.
#[derive(Debug, Clone)]
pub struct Figures {
    pub p50: f64,
    pub p95: f64,
    pub requests_per_job: f64,
}

fn figures(mut waits: Vec<Waited>) -> Figures {
    let requests = waits.iter().map(|w| f64::from(w.requests)).sum::<f64>() / waits.len() as f64;
    waits.sort_by(|a, b| a.detection.total_cmp(&b.detection));
    let at = |q: f64| waits[((waits.len() as f64 - 1.0) * q).round() as usize].detection;
    Figures {
        p50: at(0.50),
        p95: at(0.95),
        requests_per_job: requests,
    }
}

/// The policies compared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Poller {
    Fixed05,
    Fixed2,
    PreviousDefault,
    /// The learning default on a model's first job (nothing learned).
    LearningFirstJob,
    /// The learning default after a few jobs of the model.
    LearningWarm,
}

impl Poller {
    pub const ALL: [Poller; 5] = [
        Poller::Fixed05,
        Poller::Fixed2,
        Poller::PreviousDefault,
        Poller::LearningFirstJob,
        Poller::LearningWarm,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Poller::Fixed05 => "fixed 0.5 s",
            Poller::Fixed2 => "fixed 2 s (RunComfy CLI)",
            Poller::PreviousDefault => "BackoffPolling (previous default)",
            Poller::LearningFirstJob => "LearningPolling, first job of a model",
            Poller::LearningWarm => "LearningPolling, after 5 jobs of the model",
        }
    }
}

/// Jobs measured per policy and scenario, and the warm-up before
/// `LearningWarm`.
const WARM_UP: usize = 5;

pub fn simulate(scenario: &Scenario, poller: Poller, jobs: usize, seed: u64) -> Figures {
    // Every policy sees the same jobs.
    let mut rng = fastrand::Rng::with_seed(seed);
    let jobs: Vec<Job> = (0..jobs).map(|_| draw(&mut rng, scenario)).collect();
    let id = scenario.model_id;
    let waits = match poller {
        Poller::Fixed05 => {
            let p = FixedPolling(Duration::from_millis(500));
            jobs.iter().map(|j| wait(&p, id, j)).collect()
        }
        Poller::Fixed2 => {
            let p = FixedPolling(Duration::from_secs(2));
            jobs.iter().map(|j| wait(&p, id, j)).collect()
        }
        Poller::PreviousDefault => {
            let p = BackoffPolling::default();
            jobs.iter().map(|j| wait(&p, id, j)).collect()
        }
        Poller::LearningFirstJob => jobs
            .iter()
            .map(|j| wait(&LearningPolling::new(), id, j))
            .collect(),
        Poller::LearningWarm => {
            let p = LearningPolling::new();
            let mut warm_rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
            for _ in 0..WARM_UP {
                wait(&p, id, &draw(&mut warm_rng, scenario));
            }
            jobs.iter().map(|j| wait(&p, id, j)).collect()
        }
    };
    figures(waits)
}
