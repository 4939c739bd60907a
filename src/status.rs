//! Where a job is, and what a cancel did: the one status type users see.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a job is, with what RunComfy says about it.
///
/// Read from RunComfy's status string and `queue_position`. Documented
/// values are `in_queue`, `in_progress`, `completed` and `cancelled`;
/// RunComfy's own clients also see `failed`, `succeeded` (read as
/// [`Completed`](Self::Completed)), `canceled` (read as
/// [`Cancelled`](Self::Cancelled)), `pending` and `waiting` (read as
/// [`InQueue`](Self::InQueue)) and `starting` and `processing` (read as
/// [`InProgress`](Self::InProgress)). Any other string is kept in
/// [`Unknown`](Self::Unknown) and treated as "not finished": a new status
/// never breaks a client.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Status {
    /// Waiting for a worker; `position` jobs are ahead where RunComfy says.
    InQueue {
        /// The queue position, if reported.
        position: Option<u64>,
    },
    /// Running.
    InProgress,
    /// Finished; the result is ready.
    Completed,
    /// Cancelled.
    Cancelled,
    /// Finished with an error.
    Failed,
    /// A status string this client does not know, kept verbatim.
    Unknown {
        /// The string RunComfy sent.
        value: String,
    },
}

impl Status {
    /// The status a wire string and queue position mean.
    pub(crate) fn from_wire(value: &str, queue_position: Option<u64>) -> Self {
        match value {
            "in_queue" | "pending" | "waiting" => Self::InQueue {
                position: queue_position,
            },
            "in_progress" | "starting" | "processing" => Self::InProgress,
            "completed" | "succeeded" => Self::Completed,
            "cancelled" | "canceled" => Self::Cancelled,
            "failed" => Self::Failed,
            other => Self::Unknown {
                value: other.to_string(),
            },
        }
    }

    /// True once the job can no longer change: completed, cancelled or
    /// failed.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled | Self::Failed)
    }

    /// RunComfy's documented spelling (`in_queue`, `in_progress`,
    /// `completed`, `cancelled`, `failed`), or the unknown string as sent.
    pub fn as_wire(&self) -> &str {
        match self {
            Self::InQueue { .. } => "in_queue",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
            Self::Unknown { value } => value,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InQueue { position: Some(p) } => write!(f, "in queue (position {p})"),
            Self::InQueue { position: None } => f.write_str("in queue"),
            Self::InProgress => f.write_str("in progress"),
            Self::Completed => f.write_str("completed"),
            Self::Cancelled => f.write_str("cancelled"),
            Self::Failed => f.write_str("failed"),
            Self::Unknown { value } => write!(f, "unknown status {value:?}"),
        }
    }
}

/// What a cancel did.
///
/// Read from the cancel answer's `outcome`, then its `status`:
///
/// | `outcome` | `status` | outcome |
/// |---|---|---|
/// | `cancelled` (`canceled`) | any | [`Cancelled`](Self::Cancelled) |
/// | `not_cancellable` (`not_cancelable`) | any | [`NotCancellable`](Self::NotCancellable) |
/// | anything else, or none | `cancelled` (`canceled`) | [`Cancelled`](Self::Cancelled) |
/// | `cancellation_requested` | not `cancelled` | [`CancellationRequested`](Self::CancellationRequested) |
/// | another string | not `cancelled` | [`Other`](Self::Other) |
/// | none | running or finished | [`NotCancellable`](Self::NotCancellable) |
/// | none | queued, unknown or none | [`Unconfirmed`](Self::Unconfirmed) |
///
/// RunComfy's docs name `cancelled` and `not_cancellable`; its own clients
/// also see `cancellation_requested`, sometimes beside `status:
/// cancelled`, which counts as done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CancelOutcome {
    /// The job was queued and is now cancelled (nothing to pay).
    Cancelled,
    /// RunComfy took the request to cancel but has not confirmed it yet:
    /// ask the job's status to know whether it was cancelled in time.
    CancellationRequested,
    /// The job is already running or finished; RunComfy cannot cancel it.
    NotCancellable,
    /// RunComfy answered with an outcome this client does not know, kept
    /// verbatim.
    Other(String),
    /// RunComfy accepted the call but said neither an outcome nor a
    /// status: ask the job's status to know.
    Unconfirmed,
}

impl CancelOutcome {
    /// The outcome a cancel answer's `outcome` and `status` mean (the
    /// table above).
    pub(crate) fn from_wire(outcome: Option<&str>, status: Option<&str>) -> Self {
        let status = status.map(|s| Status::from_wire(s, None));
        match (outcome, status) {
            (Some("cancelled" | "canceled"), _) => Self::Cancelled,
            (Some("not_cancellable" | "not_cancelable"), _) => Self::NotCancellable,
            (_, Some(Status::Cancelled)) => Self::Cancelled,
            (Some("cancellation_requested"), _) => Self::CancellationRequested,
            (Some(other), _) => Self::Other(other.to_string()),
            (None, Some(status)) if status.is_terminal() || status == Status::InProgress => {
                Self::NotCancellable
            }
            (None, _) => Self::Unconfirmed,
        }
    }
}

impl fmt::Display for CancelOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cancelled => f.write_str("cancelled"),
            Self::CancellationRequested => {
                f.write_str("cancellation requested (not confirmed yet; ask the job's status)")
            }
            Self::NotCancellable => f.write_str("not cancellable (already running or finished)"),
            Self::Other(outcome) => write!(f, "outcome {outcome:?}"),
            Self::Unconfirmed => f.write_str("unconfirmed (ask the job's status)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_unknown_values_are_read() {
        let read = |s: &str| Status::from_wire(s, Some(3));
        assert_eq!(read("succeeded"), Status::Completed);
        assert_eq!(read("canceled"), Status::Cancelled);
        assert_eq!(read("failed"), Status::Failed);
        assert_eq!(
            read("paused"),
            Status::Unknown {
                value: "paused".into()
            }
        );
        for queued in ["in_queue", "pending", "waiting"] {
            assert_eq!(read(queued), Status::InQueue { position: Some(3) });
        }
        for running in ["in_progress", "starting", "processing"] {
            assert_eq!(read(running), Status::InProgress);
        }
        assert!(!read("paused").is_terminal());
        assert_eq!(
            Status::from_wire("in_queue", None),
            Status::InQueue { position: None }
        );
    }

    #[test]
    fn cancel_answers_are_read() {
        assert_eq!(
            CancelOutcome::from_wire(Some("canceled"), None),
            CancelOutcome::Cancelled
        );
        assert_eq!(
            CancelOutcome::from_wire(None, Some("cancelled")),
            CancelOutcome::Cancelled
        );
        assert_eq!(
            CancelOutcome::from_wire(None, Some("completed")),
            CancelOutcome::NotCancellable
        );
        assert_eq!(
            CancelOutcome::from_wire(Some("queued_for_cancel"), None),
            CancelOutcome::Other("queued_for_cancel".into())
        );
        assert_eq!(
            CancelOutcome::from_wire(None, None),
            CancelOutcome::Unconfirmed
        );
    }

    #[test]
    fn a_requested_cancel_is_its_own_outcome_until_the_status_confirms_it() {
        assert_eq!(
            CancelOutcome::from_wire(Some("cancellation_requested"), None),
            CancelOutcome::CancellationRequested
        );
        assert_eq!(
            CancelOutcome::from_wire(Some("cancellation_requested"), Some("in_queue")),
            CancelOutcome::CancellationRequested
        );
        // RunComfy's own tests mock this pair: the status counts.
        assert_eq!(
            CancelOutcome::from_wire(Some("cancellation_requested"), Some("cancelled")),
            CancelOutcome::Cancelled
        );
        assert_eq!(
            CancelOutcome::from_wire(Some("queued_for_cancel"), Some("canceled")),
            CancelOutcome::Cancelled
        );
        // The docs' example: the outcome says cancelled.
        assert_eq!(
            CancelOutcome::from_wire(Some("cancelled"), Some("completed")),
            CancelOutcome::Cancelled
        );
        assert_eq!(
            serde_json::to_value(CancelOutcome::CancellationRequested).expect("serialises"),
            serde_json::json!("cancellation_requested")
        );
    }
}
