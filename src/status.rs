//! A job's status as this client reports it.

use crate::RequestState;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a job is, with what RunComfy says about it.
///
/// Built from the wire status ([`RequestState`]) and `queue_position`;
/// `succeeded` reads as [`Completed`](Self::Completed) and `canceled` as
/// [`Cancelled`](Self::Cancelled). A status string this client does not know
/// is kept in [`Unknown`](Self::Unknown) and treated as "not finished".
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
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
    /// The status a wire state and queue position mean.
    pub fn from_wire(state: &RequestState, queue_position: Option<i64>) -> Self {
        match state {
            RequestState::InQueue => Self::InQueue {
                position: queue_position.and_then(|p| u64::try_from(p).ok()),
            },
            RequestState::InProgress => Self::InProgress,
            RequestState::Completed => Self::Completed,
            RequestState::Cancelled => Self::Cancelled,
            RequestState::Failed => Self::Failed,
            RequestState::Unknown(value) => Self::Unknown {
                value: value.clone(),
            },
        }
    }

    /// True once the job can no longer change.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled | Self::Failed)
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
