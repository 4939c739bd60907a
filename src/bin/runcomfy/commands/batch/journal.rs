//! A batch's state: one SQLite row per line, written so that a crash at
//! any moment loses nothing and never causes a second submit.
//!
//! A line is marked `submitting` in a committed transaction before its
//! submit is sent, and its request id is committed as soon as the answer
//! arrives. A line found `submitting` without a request id after a crash
//! may have been accepted: it becomes `unknown` and is never sent again
//! unless the user asks (`--resubmit-unknown`).
//!
//! The database holds the request bodies, ids, errors, costs and file
//! paths; never the token.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The journal's file name inside the batch's folder.
pub const FILE_NAME: &str = "batch.sqlite";

/// Where a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LineState {
    /// Not submitted yet (or refused unprocessed: safe to send).
    Pending,
    /// Marked before its submit was sent; no answer recorded yet.
    Submitting,
    /// Accepted: has a request id.
    Submitted,
    /// Finished and its files downloaded.
    Done,
    /// The job ran and failed, or RunComfy refused the request.
    Failed,
    /// The job was cancelled.
    Cancelled,
    /// May have been accepted, but no request id was recorded.
    Unknown,
    /// Its body is not valid for its model; never sent.
    Invalid,
}

impl LineState {
    pub const ALL: [LineState; 8] = [
        Self::Pending,
        Self::Submitting,
        Self::Submitted,
        Self::Done,
        Self::Failed,
        Self::Cancelled,
        Self::Unknown,
        Self::Invalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Submitting => "submitting",
            Self::Submitted => "submitted",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Unknown => "unknown",
            Self::Invalid => "invalid",
        }
    }

    fn parse(text: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .unwrap_or(Self::Unknown)
    }
}

/// One line of the batch as the journal knows it.
#[derive(Debug, Clone)]
pub struct Line {
    pub number: u64,
    pub model_id: String,
    pub body: Value,
    pub state: LineState,
    pub request_id: Option<String>,
    pub error: Option<String>,
    pub cost: Option<f64>,
    pub files: Vec<PathBuf>,
}

/// The journal; every method commits before it returns.
pub struct Journal {
    db: Mutex<Connection>,
}

/// A journal that cannot be read or written.
#[derive(Debug)]
pub struct JournalError(pub String);

impl From<rusqlite::Error> for JournalError {
    fn from(error: rusqlite::Error) -> Self {
        Self(error.to_string())
    }
}

impl Journal {
    /// Opens (or creates) the journal in `dir`.
    pub fn open(dir: &Path) -> Result<Self, JournalError> {
        let db = Connection::open(dir.join(FILE_NAME))?;
        // Another process (`batch status`) may be reading or writing.
        db.busy_timeout(std::time::Duration::from_secs(10))?;
        // WAL with full sync: a commit is on disk before the submit that
        // follows it is sent.
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS lines (
                number INTEGER PRIMARY KEY,
                hash TEXT NOT NULL,
                model_id TEXT NOT NULL,
                body TEXT NOT NULL,
                state TEXT NOT NULL,
                request_id TEXT,
                error TEXT,
                cost REAL,
                files TEXT NOT NULL DEFAULT '[]',
                updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
            );
            CREATE TABLE IF NOT EXISTS batch (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS learned (id INTEGER PRIMARY KEY CHECK (id = 1), times TEXT NOT NULL);",
        )?;
        Ok(Self { db: Mutex::new(db) })
    }

    /// Opens an existing journal without creating one.
    pub fn open_existing(dir: &Path) -> Result<Self, JournalError> {
        if !dir.join(FILE_NAME).is_file() {
            return Err(JournalError(format!(
                "no batch in {} (no {FILE_NAME})",
                dir.display()
            )));
        }
        Self::open(dir)
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the batch's input file, or checks it is the same one.
    pub fn claim(&self, input: &str) -> Result<(), JournalError> {
        let db = self.db();
        let known: Option<String> = db
            .query_row("SELECT value FROM batch WHERE key = 'input'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match known {
            Some(known) if known != input => Err(JournalError(format!(
                "this folder holds the batch of {known}, not {input}: use another --out-dir"
            ))),
            Some(_) => Ok(()),
            None => {
                db.execute(
                    "INSERT INTO batch (key, value) VALUES ('input', ?1)",
                    [input],
                )?;
                Ok(())
            }
        }
    }

    /// Adds a line not seen before, or checks a known one is unchanged.
    pub fn add_or_check(
        &self,
        number: u64,
        hash: &str,
        model_id: &str,
        body: &Value,
        state: LineState,
        error: Option<&str>,
    ) -> Result<(), JournalError> {
        let db = self.db();
        let known: Option<String> = db
            .query_row("SELECT hash FROM lines WHERE number = ?1", [number], |r| {
                r.get(0)
            })
            .optional()?;
        match known {
            Some(known) if known != hash => Err(JournalError(format!(
                "line {number} changed since this batch started (its body's hash differs): restore it, or use another --out-dir"
            ))),
            Some(_) => Ok(()),
            None => {
                db.execute(
                    "INSERT INTO lines (number, hash, model_id, body, state, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![number, hash, model_id, body.to_string(), state.as_str(), error],
                )?;
                Ok(())
            }
        }
    }

    /// Every line, in file order.
    pub fn lines(&self) -> Result<Vec<Line>, JournalError> {
        let db = self.db();
        let mut statement = db.prepare(
            "SELECT number, model_id, body, state, request_id, error, cost, files FROM lines ORDER BY number",
        )?;
        let rows = statement.query_map([], |r| {
            let body: String = r.get(2)?;
            let state: String = r.get(3)?;
            let files: String = r.get(7)?;
            Ok(Line {
                number: r.get(0)?,
                model_id: r.get(1)?,
                body: serde_json::from_str(&body).unwrap_or(Value::Null),
                state: LineState::parse(&state),
                request_id: r.get(4)?,
                error: r.get(5)?,
                cost: r.get(6)?,
                files: serde_json::from_str(&files).unwrap_or_default(),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn set(
        &self,
        number: u64,
        sql: &str,
        values: &[&dyn rusqlite::ToSql],
    ) -> Result<(), JournalError> {
        let db = self.db();
        let sql = format!(
            "UPDATE lines SET {sql}, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE number = ?1"
        );
        let mut all: Vec<&dyn rusqlite::ToSql> = vec![&number];
        all.extend_from_slice(values);
        db.execute(&sql, all.as_slice())?;
        Ok(())
    }

    /// Marks a line as being submitted; committed before the submit is sent.
    pub fn mark_submitting(&self, number: u64) -> Result<(), JournalError> {
        self.set(number, "state = 'submitting', error = NULL", &[])
    }

    /// Records the request id of an accepted submit.
    pub fn mark_submitted(&self, number: u64, request_id: &str) -> Result<(), JournalError> {
        self.set(
            number,
            "state = 'submitted', request_id = ?2, error = NULL",
            &[&request_id],
        )
    }

    /// Sets a line's state and error.
    pub fn mark(
        &self,
        number: u64,
        state: LineState,
        error: Option<&str>,
    ) -> Result<(), JournalError> {
        self.set(number, "state = ?2, error = ?3", &[&state.as_str(), &error])
    }

    /// A finished line: its cost and files.
    pub fn mark_done(
        &self,
        number: u64,
        cost: Option<f64>,
        files: &[PathBuf],
    ) -> Result<(), JournalError> {
        let files = serde_json::to_string(files).unwrap_or_else(|_| "[]".into());
        self.set(
            number,
            "state = 'done', error = NULL, cost = ?2, files = ?3",
            &[&cost, &files],
        )
    }

    /// What the polling schedule learned in earlier runs (run times per
    /// model), so that this run starts warm.
    pub fn learned(&self) -> runcomfy::polling::LearnedTimes {
        let db = self.db();
        db.query_row("SELECT times FROM learned WHERE id = 1", [], |r| {
            r.get::<_, String>(0)
        })
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
    }

    /// Keeps what the polling schedule learned for the next run.
    pub fn save_learned(
        &self,
        learned: &runcomfy::polling::LearnedTimes,
    ) -> Result<(), JournalError> {
        let text = serde_json::to_string(learned).map_err(|e| JournalError(e.to_string()))?;
        self.db().execute(
            "INSERT INTO learned (id, times) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET times = excluded.times",
            [text],
        )?;
        Ok(())
    }

    /// Lines left `submitting` by a run that stopped: they may have been
    /// accepted, so they become `unknown` (or `pending` when the user asks
    /// to send them again). Returns their numbers.
    pub fn settle_interrupted_submits(&self, resubmit: bool) -> Result<Vec<u64>, JournalError> {
        let db = self.db();
        let mut numbers = Vec::new();
        {
            let mut statement = db.prepare(
                "SELECT number FROM lines WHERE state = 'submitting' AND request_id IS NULL",
            )?;
            for number in statement.query_map([], |r| r.get::<_, u64>(0))? {
                numbers.push(number?);
            }
        }
        let to = if resubmit { "pending" } else { "unknown" };
        db.execute(
            &format!("UPDATE lines SET state = '{to}', error = 'may have been accepted: its submit was sent but no answer was recorded' WHERE state = 'submitting' AND request_id IS NULL"),
            [],
        )?;
        // A line with an id recorded was accepted: it only needs waiting.
        db.execute(
            "UPDATE lines SET state = 'submitted' WHERE state = 'submitting' AND request_id IS NOT NULL",
            [],
        )?;
        if resubmit {
            db.execute(
                "UPDATE lines SET state = 'pending', error = NULL WHERE state = 'unknown'",
                [],
            )?;
        }
        Ok(numbers)
    }
}
