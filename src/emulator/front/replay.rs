//! Which recorded answer a request gets when a session is replayed.
//!
//! | request | recorded answers it may get | which one |
//! |---|---|---|
//! | submit | same model path and canonical body | in recorded order, the last repeating |
//! | status, result, cancel of a request id | same call and id (and query) | the last one recorded by the time the replay has reached, on the job's clock scaled by the time scale |
//! | model info, listing, categories, files | same method, path and query | in recorded order, the last repeating |
//!
//! A job's clock starts when its submit is replayed (or when it is first
//! asked about), and runs `time_scale` times fast; a recorded answer is
//! due once as much time has passed since the job's first recorded
//! exchange. A request without the emulator's token gets only answers
//! that refused a token (401, 403).

use super::super::LockOrRecover;
use super::cassette::{Cassette, Exchange};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// A request, as replay matches it.
#[derive(Debug, Clone)]
pub(crate) struct Asked<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) body_sha256: Option<&'a str>,
    /// Whether it carries the emulator's token.
    pub(crate) token_accepted: bool,
}

impl Asked<'_> {
    /// `POST /v1/models/kling/... (body sha256 0a1b2c3d…)`.
    pub(crate) fn describe(&self) -> String {
        let mut text = format!("{} {}", self.method, self.path);
        if let Some(query) = self.query {
            text.push('?');
            text.push_str(query);
        }
        if let Some(hash) = self.body_sha256 {
            text.push_str(&format!(" (body sha256 {}…)", &hash[..hash.len().min(12)]));
        }
        text
    }
}

/// A cassette being replayed.
#[derive(Debug)]
pub(crate) struct Replay {
    pub(crate) cassette: Cassette,
    time_scale: f64,
    /// When each job's clock started in this replay.
    clocks: Mutex<HashMap<String, Instant>>,
    /// How many times each order-matched request was answered.
    served: Mutex<HashMap<String, usize>>,
    /// Each job's first recorded exchange, in ms of the session.
    origins: HashMap<String, u64>,
}

/// The request id a `/v1/requests/{id}/...` path names.
pub(crate) fn request_id_in(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/requests/")?.split('/').next()
}

/// The request id an exchange is about: its path's, or a submit answer's.
fn job_of(exchange: &Exchange) -> Option<&str> {
    request_id_in(&exchange.path).or_else(|| {
        (exchange.method == "POST" && exchange.path.starts_with("/v1/models/"))
            .then(|| exchange.body.as_ref()?.get("request_id")?.as_str())
            .flatten()
    })
}

impl Replay {
    pub(crate) fn new(cassette: Cassette, time_scale: f64) -> Self {
        let mut origins = HashMap::new();
        for exchange in &cassette.exchanges {
            if let Some(id) = job_of(exchange) {
                origins.entry(id.to_string()).or_insert(exchange.at_ms);
            }
        }
        Self {
            cassette,
            time_scale,
            clocks: Mutex::default(),
            served: Mutex::default(),
            origins,
        }
    }

    /// The recorded answer for `asked`, if the cassette holds one.
    pub(crate) fn answer(&self, asked: &Asked<'_>) -> Option<&Exchange> {
        let candidates: Vec<&Exchange> = self
            .cassette
            .exchanges
            .iter()
            .filter(|e| matches(e, asked))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let chosen = match request_id_in(asked.path) {
            Some(id) => self.due(id, &candidates),
            None => self.next_in_order(asked, &candidates),
        };
        if let Some(id) = job_of(chosen) {
            // A replayed submit starts its job's clock.
            self.clocks
                .lock_or_recover()
                .entry(id.to_string())
                .or_insert_with(Instant::now);
        }
        Some(chosen)
    }

    /// The last candidate due on the job's clock (the first if none is).
    fn due<'e>(&self, id: &str, candidates: &[&'e Exchange]) -> &'e Exchange {
        let started = *self
            .clocks
            .lock_or_recover()
            .entry(id.to_string())
            .or_insert_with(Instant::now);
        let origin = self.origins.get(id).copied().unwrap_or_default();
        let reached = started.elapsed().as_secs_f64() * 1000.0 * self.time_scale;
        candidates
            .iter()
            .rev()
            .find(|e| (e.at_ms.saturating_sub(origin) as f64) <= reached)
            .unwrap_or(&candidates[0])
    }

    /// The next candidate in recorded order, the last repeating.
    fn next_in_order<'e>(&self, asked: &Asked<'_>, candidates: &[&'e Exchange]) -> &'e Exchange {
        let mut served = self.served.lock_or_recover();
        let count = served.entry(asked.describe()).or_default();
        let chosen = candidates[(*count).min(candidates.len() - 1)];
        *count += 1;
        chosen
    }

    /// What the cassette holds, for an error about a request it does not:
    /// each distinct call with how many answers, the first dozen.
    pub(crate) fn holdings(&self) -> String {
        let mut calls: Vec<(String, usize)> = Vec::new();
        for exchange in &self.cassette.exchanges {
            let mut call = format!("{} {}", exchange.method, exchange.path);
            if let Some(hash) = &exchange.request_body_sha256 {
                call.push_str(&format!(" (body sha256 {}…)", &hash[..hash.len().min(12)]));
            }
            match calls.iter_mut().find(|(c, _)| *c == call) {
                Some((_, n)) => *n += 1,
                None => calls.push((call, 1)),
            }
        }
        if calls.is_empty() {
            return "nothing (an empty cassette)".into();
        }
        let shown: Vec<String> = calls
            .iter()
            .take(12)
            .map(|(call, n)| format!("{call} ×{n}"))
            .collect();
        let more = calls.len().saturating_sub(12);
        let mut text = shown.join("; ");
        if more > 0 {
            text.push_str(&format!("; and {more} more"));
        }
        text
    }
}

/// Whether `exchange` answers `asked`.
fn matches(exchange: &Exchange, asked: &Asked<'_>) -> bool {
    let is_file = asked.path.starts_with("/files/");
    exchange.method == asked.method
        && exchange.path == asked.path
        && (is_file || exchange.query.as_deref() == asked.query)
        && exchange.request_body_sha256.as_deref() == asked.body_sha256
        && exchange.refused_token() != asked.token_accepted
}

#[cfg(test)]
mod tests {
    use super::super::cassette::Source;
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::time::Duration;

    const ID: &str = "323b27e1-2de2-41b1-bf6e-a4b4602e1a75";

    fn exchange(
        method: &str,
        path: &str,
        at_ms: u64,
        status: u16,
        body: serde_json::Value,
    ) -> Exchange {
        Exchange {
            source: Source::default(),
            kind: String::new(),
            method: method.into(),
            path: path.into(),
            query: None,
            request_body_sha256: (method == "POST" && path.starts_with("/v1/models/"))
                .then(|| "ab".repeat(32)),
            authorization: "bearer".into(),
            at_ms,
            http_status: status,
            headers: BTreeMap::new(),
            body: Some(body),
            body_text: None,
            body_file: None,
            url: None,
        }
    }

    fn session() -> Replay {
        let status = format!("/v1/requests/{ID}/status");
        let exchanges = vec![
            exchange("POST", "/v1/models/m", 1000, 200, json!({"request_id": ID})),
            exchange("GET", &status, 1100, 200, json!({"status": "in_queue"})),
            exchange("GET", &status, 3000, 200, json!({"status": "in_progress"})),
            exchange("GET", &status, 9000, 200, json!({"status": "completed"})),
            exchange("GET", &status, 9500, 401, json!({"error_code": 400004})),
        ];
        Replay::new(
            Cassette {
                dir: std::path::PathBuf::new(),
                exchanges,
            },
            1000.0,
        )
    }

    fn asked(path: &str, token_accepted: bool) -> Asked<'_> {
        Asked {
            method: "GET",
            path,
            query: None,
            body_sha256: None,
            token_accepted,
        }
    }

    #[test]
    fn statuses_follow_the_jobs_clock_scaled() {
        let replay = session();
        let status = format!("/v1/requests/{ID}/status");
        let at = |replay: &Replay| {
            replay
                .answer(&asked(&status, true))
                .expect("recorded")
                .body
                .clone()
        };
        // The clock starts at the first question: the first answer is due.
        assert_eq!(at(&replay).expect("body")["status"], "in_queue");
        // 10 ms at 1000x is 10 s of the recording: the last answer is due.
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(at(&replay).expect("body")["status"], "completed");
    }

    #[test]
    fn a_submit_starts_its_jobs_clock_and_repeats_its_last_answer() {
        let replay = session();
        let submit = Asked {
            method: "POST",
            path: "/v1/models/m",
            query: None,
            body_sha256: Some(&"ab".repeat(32)),
            token_accepted: true,
        };
        for _ in 0..2 {
            let answer = replay.answer(&submit).expect("recorded");
            assert_eq!(answer.body.as_ref().expect("body")["request_id"], ID);
        }
        let other_body = "cd".repeat(32);
        let other = Asked {
            body_sha256: Some(&other_body),
            ..submit
        };
        assert!(replay.answer(&other).is_none());
        assert!(
            replay
                .holdings()
                .contains("POST /v1/models/m (body sha256 abababababab…) ×1")
        );
    }

    #[test]
    fn a_request_without_the_token_gets_only_recorded_refusals() {
        let replay = session();
        let status = format!("/v1/requests/{ID}/status");
        let refused = replay
            .answer(&asked(&status, false))
            .expect("a recorded 401");
        assert_eq!(refused.http_status, 401);
        assert!(
            replay
                .answer(&asked("/v1/requests/other/status", false))
                .is_none()
        );
    }
}
