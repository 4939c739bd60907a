//! The status string RunComfy reports for a job.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A job's status as RunComfy spells it on the wire.
///
/// Documented values are `in_queue`, `in_progress`, `completed` and
/// `cancelled`; RunComfy's own clients also see `failed`, `succeeded` (read
/// as [`Completed`](Self::Completed)), `canceled` (read as
/// [`Cancelled`](Self::Cancelled)), `pending` and `waiting` (read as
/// [`InQueue`](Self::InQueue)) and `starting` and `processing` (read as
/// [`InProgress`](Self::InProgress)). Any other string is kept in
/// [`Unknown`](Self::Unknown): a new status never fails deserialisation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RequestState {
    /// `in_queue`: waiting for a worker.
    InQueue,
    /// `in_progress`: running.
    InProgress,
    /// `completed` (or `succeeded`): the result is ready.
    Completed,
    /// `cancelled` (or `canceled`).
    Cancelled,
    /// `failed`: the result's `error` says why.
    Failed,
    /// Any other value, kept verbatim.
    Unknown(String),
}

impl RequestState {
    /// The canonical wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InQueue => "in_queue",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
            Self::Unknown(other) => other,
        }
    }

    /// True once the job can no longer change: completed, cancelled or failed.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled | Self::Failed)
    }
}

impl FromStr for RequestState {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            // RunComfy's own clients keep polling on these as well.
            "in_queue" | "pending" | "waiting" => Self::InQueue,
            "in_progress" | "starting" | "processing" => Self::InProgress,
            "completed" | "succeeded" => Self::Completed,
            "cancelled" | "canceled" => Self::Cancelled,
            "failed" => Self::Failed,
            other => Self::Unknown(other.to_string()),
        })
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RequestState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RequestState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Ok(raw
            .parse()
            .unwrap_or_else(|never: std::convert::Infallible| match never {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_unknown_values_parse() {
        let parse =
            |s: &str| serde_json::from_value::<RequestState>(s.into()).expect("any string parses");
        assert_eq!(parse("succeeded"), RequestState::Completed);
        assert_eq!(parse("canceled"), RequestState::Cancelled);
        assert_eq!(parse("failed"), RequestState::Failed);
        assert_eq!(parse("paused"), RequestState::Unknown("paused".into()));
        for queued in ["pending", "waiting"] {
            assert_eq!(parse(queued), RequestState::InQueue);
        }
        for running in ["starting", "processing"] {
            assert_eq!(parse(running), RequestState::InProgress);
        }
        assert_eq!(
            serde_json::to_value(RequestState::InQueue).expect("serialises"),
            "in_queue"
        );
        assert!(!parse("paused").is_terminal());
    }
}
