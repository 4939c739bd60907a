//! The emulator's queue: accepted jobs, their states and the workers that
//! move them along.

use super::clock::timestamp;
use super::config::Flavour;
use super::video::Fixture;
use crate::status::{CancelOutcome, Status};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::SystemTime;

/// The code a failed job reports with its message.
const JOB_FAILED_CODE: &str = "generation_failed";

/// How a job misbehaves (scripted with job faults at submit).
#[derive(Debug, Clone, Default)]
pub(crate) struct JobBehaviour {
    pub(crate) fails_with: Option<String>,
    pub(crate) alternate_spellings: bool,
    pub(crate) unknown_status: Option<String>,
    /// What the job costs once it completes (the model's price estimate).
    pub(crate) cost_usd: Option<f64>,
}

#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) id: String,
    pub(crate) model_id: &'static str,
    /// The request body as accepted.
    pub(crate) input: Value,
    /// What it carried inline in its media fields.
    pub(crate) media: Vec<super::ReceivedMedia>,
    seq: u64,
    /// Where the job is (never [`Status::Unknown`]; the position of a
    /// queued job is computed when asked).
    pub(crate) state: Status,
    pub(crate) behaviour: JobBehaviour,
    pub(crate) fixture: Fixture,
    created_at: SystemTime,
    finished_at: Option<SystemTime>,
}

impl Job {
    /// The status string this job reports.
    pub(crate) fn wire_status(&self) -> &str {
        let alt = self.behaviour.alternate_spellings;
        match &self.state {
            Status::InQueue { .. } if alt => "pending",
            Status::InProgress => match &self.behaviour.unknown_status {
                Some(status) => status,
                None if alt => "processing",
                None => "in_progress",
            },
            Status::Completed if alt => "succeeded",
            Status::Cancelled if alt => "canceled",
            other => other.as_wire(),
        }
    }

    /// What the job cost: its price once completed, nothing otherwise.
    pub(crate) fn cost_usd(&self) -> f64 {
        match self.state {
            Status::Completed => self.behaviour.cost_usd.unwrap_or(0.0),
            _ => 0.0,
        }
    }
}

/// Every job the emulator knows, with the queue order.
#[derive(Debug, Default)]
pub(crate) struct Store {
    jobs: HashMap<String, Job>,
    /// Sequence numbers of queued jobs, for `queue_position`.
    queued: BTreeSet<u64>,
    /// Finished jobs, oldest first, for expiry.
    finished: VecDeque<String>,
    next_seq: u64,
    /// Fingerprints of every body accepted, to count submits sent twice.
    bodies_seen: HashSet<u64>,
}

/// A body's fingerprint: its model and JSON text, hashed.
fn body_fingerprint(model_id: &str, input: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    model_id.hash(&mut hasher);
    input.to_string().hash(&mut hasher);
    hasher.finish()
}

/// How many jobs are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct JobCounts {
    /// Waiting for a worker.
    pub in_queue: u64,
    /// Running.
    pub in_progress: u64,
    /// Finished with a result.
    pub completed: u64,
    /// Finished with an error.
    pub failed: u64,
    /// Cancelled while queued.
    pub cancelled: u64,
}

/// A job about to be accepted.
pub(crate) struct NewJob {
    pub id: String,
    pub model_id: &'static str,
    pub input: Value,
    pub media: Vec<super::ReceivedMedia>,
    pub behaviour: JobBehaviour,
    pub fixture: Fixture,
}

impl Store {
    /// Queues an accepted job; true if the same model already accepted
    /// this exact body (a submit sent twice).
    pub(crate) fn insert(&mut self, new: NewJob) -> bool {
        let duplicate = !self
            .bodies_seen
            .insert(body_fingerprint(new.model_id, &new.input));
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queued.insert(seq);
        let job = Job {
            id: new.id.clone(),
            model_id: new.model_id,
            input: new.input,
            media: new.media,
            seq,
            state: Status::InQueue { position: None },
            behaviour: new.behaviour,
            fixture: new.fixture,
            created_at: SystemTime::now(),
            finished_at: None,
        };
        self.jobs.insert(new.id, job);
        duplicate
    }

    /// Every job still held, oldest first.
    pub(crate) fn all(&self) -> Vec<&Job> {
        let mut jobs: Vec<&Job> = self.jobs.values().collect();
        jobs.sort_by_key(|job| job.seq);
        jobs
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Job> {
        self.jobs.get(id)
    }

    /// How many queued jobs are ahead of this one (0: next to start).
    pub(crate) fn queue_position(&self, job: &Job) -> u64 {
        self.queued.range(..job.seq).count() as u64
    }

    /// Moves a queued job to a worker; false if it was cancelled meanwhile
    /// (or expired).
    pub(crate) fn start(&mut self, id: &str) -> bool {
        let Some(job) = self.jobs.get_mut(id) else {
            return false;
        };
        if !matches!(job.state, Status::InQueue { .. }) {
            return false;
        }
        job.state = Status::InProgress;
        self.queued.remove(&job.seq);
        true
    }

    pub(crate) fn finish(&mut self, id: &str, max_retained: usize) {
        if let Some(job) = self.jobs.get_mut(id) {
            job.state = if job.behaviour.fails_with.is_some() {
                Status::Failed
            } else {
                Status::Completed
            };
            job.finished_at = Some(SystemTime::now());
            self.finished.push_back(id.to_string());
        }
        self.expire(max_retained);
    }

    pub(crate) fn cancel(&mut self, id: &str, max_retained: usize) -> Option<CancelOutcome> {
        let job = self.jobs.get_mut(id)?;
        let outcome = match job.state {
            Status::InQueue { .. } => {
                job.state = Status::Cancelled;
                job.finished_at = Some(SystemTime::now());
                self.queued.remove(&job.seq);
                self.finished.push_back(id.to_string());
                CancelOutcome::Cancelled
            }
            Status::Cancelled => CancelOutcome::Cancelled,
            _ => CancelOutcome::NotCancellable,
        };
        self.expire(max_retained);
        Some(outcome)
    }

    fn expire(&mut self, max_retained: usize) {
        while self.finished.len() > max_retained {
            if let Some(old) = self.finished.pop_front() {
                self.jobs.remove(&old);
            }
        }
    }

    pub(crate) fn counts(&self) -> JobCounts {
        let mut counts = JobCounts::default();
        for job in self.jobs.values() {
            match job.state {
                Status::InQueue { .. } => counts.in_queue += 1,
                Status::InProgress => counts.in_progress += 1,
                Status::Completed => counts.completed += 1,
                Status::Failed => counts.failed += 1,
                Status::Cancelled => counts.cancelled += 1,
                Status::Unknown { .. } => {}
            }
        }
        counts
    }
}

/// The JSON RunComfy answers for status, keys in the docs' order:
/// `queue_position` (while queued) and `instance_id` (while running, as
/// RunComfy's clients see) after the status.
pub(crate) fn status_body(store: &Store, job: &Job, api_base: &str) -> Value {
    let mut body = serde_json::Map::new();
    body.insert("request_id".into(), json!(job.id));
    body.insert("status".into(), json!(job.wire_status()));
    match job.state {
        Status::InQueue { .. } => {
            body.insert("queue_position".into(), json!(store.queue_position(job)));
        }
        Status::InProgress => {
            body.insert("instance_id".into(), json!(format!("emulator-{}", job.seq)));
        }
        _ => {}
    }
    body.insert(
        "status_url".into(),
        json!(format!("{api_base}/v1/requests/{}/status", job.id)),
    );
    body.insert(
        "result_url".into(),
        json!(format!("{api_base}/v1/requests/{}/result", job.id)),
    );
    Value::Object(body)
}

/// The JSON RunComfy answers for result, in the configured [`Flavour`].
pub(crate) fn result_body(store: &Store, job: &Job, flavour: Flavour, bases: &Bases) -> Value {
    match flavour {
        Flavour::Recorded => recorded_result(job, &bases.files),
        Flavour::Docs if job.state.is_terminal() => documented_result(job, &bases.files),
        Flavour::Docs => status_body(store, job, &bases.api),
    }
}

/// Where the emulator's answers point: its API and its files.
#[derive(Debug, Clone)]
pub(crate) struct Bases {
    pub(crate) api: String,
    pub(crate) files: String,
}

/// A result as the live API was recorded answering it: `{request_id,
/// status, created_at}` while the job is not finished; then `output` (or a
/// failed job's `error`) and `completed_at`, and no key that would be
/// null.
fn recorded_result(job: &Job, files_base: &str) -> Value {
    let mut body = json!({
        "request_id": job.id,
        "status": job.wire_status(),
        "created_at": timestamp(job.created_at),
    });
    match job.state {
        Status::Completed => body["output"] = output(job, files_base),
        Status::Failed => body["error"] = failure(job),
        _ => {}
    }
    if let (true, Some(at)) = (job.state.is_terminal(), job.finished_at) {
        body["completed_at"] = json!(timestamp(at));
    }
    body
}

/// A finished job's result as the docs' example answers it: `succeeded`,
/// `finished_at`, and every documented key (null where there is nothing).
fn documented_result(job: &Job, files_base: &str) -> Value {
    let (status, output, error) = match job.state {
        Status::Completed => ("succeeded", output(job, files_base), Value::Null),
        Status::Failed => (job.wire_status(), Value::Null, failure(job)),
        _ => (job.wire_status(), Value::Null, Value::Null),
    };
    json!({
        "request_id": job.id,
        "status": status,
        "output": output,
        "created_at": timestamp(job.created_at),
        "finished_at": job.finished_at.map(timestamp),
        "error": error,
    })
}

fn output(job: &Job, files_base: &str) -> Value {
    json!({"video": format!("{files_base}/files/{}.mp4", job.id)})
}

fn failure(job: &Job) -> Value {
    json!({"code": JOB_FAILED_CODE, "message": job.behaviour.fails_with})
}
