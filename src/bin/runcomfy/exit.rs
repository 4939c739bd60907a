//! Exit codes, and the failures that lead to them.
//!
//! As RunComfy's own CLI: 64 usage, 65 invalid input or another 4xx, 69
//! server or network error, 75 timeout or rate limited, 77 authentication,
//! 1 anything else. Beyond it, each outcome a script must tell apart has a
//! code of its own: 80 insufficient balance, 81 job failed, 82 job
//! cancelled, 83 a submit that may have been accepted (check RunComfy
//! before sending it again), 84 over `--max-cost` (nothing was sent), 85
//! schema drift, 86 a batch that ended with lines not done, 130
//! interrupted with the job going on.

use runcomfy::Error;
use serde_json::{Value, json};

pub const OK: u8 = 0;
pub const OTHER: u8 = 1;
pub const USAGE: u8 = 64;
pub const INVALID_INPUT: u8 = 65;
pub const UNAVAILABLE: u8 = 69;
pub const TEMPORARY: u8 = 75;
pub const AUTH: u8 = 77;
pub const INSUFFICIENT_BALANCE: u8 = 80;
pub const JOB_FAILED: u8 = 81;
pub const JOB_CANCELLED: u8 = 82;
pub const MAY_HAVE_BEEN_ACCEPTED: u8 = 83;
pub const OVER_MAX_COST: u8 = 84;
pub const SCHEMA_DRIFT: u8 = 85;
pub const BATCH_INCOMPLETE: u8 = 86;
pub const INTERRUPTED: u8 = 130;

/// What kind of failure a command ended in: its name in `--json` and its
/// exit code.
///
/// | kind | code |
/// |---|---|
/// | `usage`, `config` | 64 |
/// | `invalid_input`, `not_found`, `refused` | 65 |
/// | `server`, `unavailable`, `no_schema` | 69 |
/// | `rate_limited`, `not_finished`, `timed_out` | 75 |
/// | `auth`, `missing_token` | 77 |
/// | `insufficient_balance` | 80 |
/// | `job_failed` | 81 |
/// | `job_cancelled`, `cancelled` | 82 |
/// | `may_have_been_accepted` | 83 |
/// | `over_max_cost`, `no_price` | 84 |
/// | `schema_drift` | 85 |
/// | `batch_incomplete` | 86 |
/// | `interrupted`, `detached` | 130 |
/// | `io`, `journal`, `emulator`, `mcp`, `other` | 1 |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Usage,
    Config,
    InvalidInput,
    NotFound,
    Refused,
    Server,
    Unavailable,
    RateLimited,
    NotFinished,
    TimedOut,
    Auth,
    MissingToken,
    InsufficientBalance,
    JobFailed,
    JobCancelled,
    /// Ctrl-C cancelled a queued job, as asked.
    Cancelled,
    MayHaveBeenAccepted,
    OverMaxCost,
    NoPrice,
    SchemaDrift,
    BatchIncomplete,
    Interrupted,
    /// Ctrl-C detached from a running job, as asked.
    Detached,
    Io,
    Journal,
    Emulator,
    Mcp,
    NoSchema,
    Other,
}

impl Kind {
    /// The exit code (the table above).
    pub fn code(self) -> u8 {
        use Kind::*;
        match self {
            Usage | Config => USAGE,
            InvalidInput | NotFound | Refused => INVALID_INPUT,
            Server | Unavailable | NoSchema => UNAVAILABLE,
            RateLimited | NotFinished | TimedOut => TEMPORARY,
            Auth | MissingToken => AUTH,
            InsufficientBalance => INSUFFICIENT_BALANCE,
            JobFailed => JOB_FAILED,
            JobCancelled | Cancelled => JOB_CANCELLED,
            MayHaveBeenAccepted => MAY_HAVE_BEEN_ACCEPTED,
            OverMaxCost | NoPrice => OVER_MAX_COST,
            SchemaDrift => SCHEMA_DRIFT,
            BatchIncomplete => BATCH_INCOMPLETE,
            Interrupted | Detached => INTERRUPTED,
            Io | Journal | Emulator | Mcp | Other => OTHER,
        }
    }

    /// Its name in `--json`.
    pub fn as_str(self) -> &'static str {
        use Kind::*;
        match self {
            Usage => "usage",
            Config => "config",
            InvalidInput => "invalid_input",
            NotFound => "not_found",
            Refused => "refused",
            Server => "server",
            Unavailable => "unavailable",
            RateLimited => "rate_limited",
            NotFinished => "not_finished",
            TimedOut => "timed_out",
            Auth => "auth",
            MissingToken => "missing_token",
            InsufficientBalance => "insufficient_balance",
            JobFailed => "job_failed",
            JobCancelled => "job_cancelled",
            Cancelled => "cancelled",
            MayHaveBeenAccepted => "may_have_been_accepted",
            OverMaxCost => "over_max_cost",
            NoPrice => "no_price",
            SchemaDrift => "schema_drift",
            BatchIncomplete => "batch_incomplete",
            Interrupted => "interrupted",
            Detached => "detached",
            Io => "io",
            Journal => "journal",
            Emulator => "emulator",
            Mcp => "mcp",
            NoSchema => "no_schema",
            Other => "other",
        }
    }

    /// Whether Ctrl-C did what it was asked (not an error for people).
    pub fn is_requested_stop(self) -> bool {
        matches!(self, Kind::Detached | Kind::Cancelled | Kind::Interrupted)
    }
}

/// Why a command did not succeed: an exit code, a message for people and
/// what `--json` prints.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub kind: Kind,
    pub message: String,
    pub request_id: Option<String>,
    /// More for `--json` (e.g. the violations, the estimate); boxed, as it
    /// is seldom set and large.
    pub detail: Option<Box<Value>>,
}

impl Failure {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            code: kind.code(),
            kind,
            message: message.into(),
            request_id: None,
            detail: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    /// A file or folder that could not be read or written.
    pub fn io(path: &std::path::Path, error: impl std::fmt::Display) -> Self {
        Self::new(Kind::Io, format!("{}: {error}", path.display()))
    }

    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = Some(Box::new(detail));
        self
    }

    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// The `--json` document.
    pub fn to_json(&self) -> Value {
        json!({
            "error": {
                "kind": self.kind.as_str(),
                "message": self.message,
                "request_id": self.request_id,
                "exit_code": self.code,
                "detail": self.detail,
            }
        })
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let mut failure = Failure::new(classify(&error), error.to_string());
        failure.request_id = error.request_id().map(String::from);
        if let Error::Validation(validation) = &error {
            failure = failure.with_detail(json!(
                validation
                    .violations
                    .iter()
                    .map(|v| json!({"field": v.path, "rule": v.rule.code(), "message": v.to_string(), "value": v.value}))
                    .collect::<Vec<_>>()
            ));
        }
        failure
    }
}

impl From<runcomfy::ConfigError> for Failure {
    fn from(error: runcomfy::ConfigError) -> Self {
        Error::from(error).into()
    }
}

impl From<runcomfy::HandleError> for Failure {
    fn from(error: runcomfy::HandleError) -> Self {
        Error::from(error).into()
    }
}

/// The kind of failure an error is.
pub fn classify(error: &Error) -> Kind {
    match error {
        Error::Validation(_) => Kind::InvalidInput,
        Error::Auth(_) => Kind::Auth,
        Error::InsufficientBalance(_) => Kind::InsufficientBalance,
        Error::NotFound(_) => Kind::NotFound,
        Error::RateLimited(_) => Kind::RateLimited,
        Error::Server(_) => Kind::Server,
        Error::Refused(_) => Kind::Refused,
        Error::JobFailed { .. } => Kind::JobFailed,
        Error::JobCancelled { .. } => Kind::JobCancelled,
        Error::NotFinished { .. } => Kind::NotFinished,
        Error::TimedOut { .. } => Kind::TimedOut,
        Error::Transport { .. } | Error::InvalidResponse { .. } => Kind::Unavailable,
        Error::SubmitOutcomeUnknown { .. } => Kind::MayHaveBeenAccepted,
        Error::Handle(_) | Error::InvalidModelId(_) => Kind::Usage,
        Error::Config(runcomfy::ConfigError::MissingToken) => Kind::MissingToken,
        Error::Config(_) => Kind::Config,
        _ => Kind::Other,
    }
}
