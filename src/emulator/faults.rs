//! Faults the emulator can inject, scripted per endpoint: for the next N
//! calls, or for a fraction of calls drawn from the emulator's seeded RNG.

use axum::http::Method;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

/// One of the emulator's endpoints, for scripting faults and counting
/// requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `POST /v1/models/{model_id}`.
    Submit,
    /// `GET /v1/requests/{request_id}/status`.
    Status,
    /// `GET /v1/requests/{request_id}/result`.
    Result,
    /// `POST /v1/requests/{request_id}/cancel`.
    Cancel,
    /// `GET /v1/models/{model_id}`.
    Model,
    /// `GET /files/...` on the file server (the stand-in for RunComfy's CDN).
    File,
    /// `GET /v1/models` (the catalogue).
    ModelList,
    /// `GET /v1/models/categories` (the catalogue's categories).
    Categories,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 8] = [
        Self::Submit,
        Self::Status,
        Self::Result,
        Self::Cancel,
        Self::Model,
        Self::File,
        Self::ModelList,
        Self::Categories,
    ];
}

/// Where the catalogue's categories are listed (GET only).
pub(super) const CATEGORIES_PATH: &str = "/v1/models/categories";

/// The endpoint a request is for, if any.
pub(super) fn classify(method: &Method, path: &str) -> Option<Endpoint> {
    if path.starts_with("/files/") {
        return Some(Endpoint::File);
    }
    if let Some(rest) = path.strip_prefix("/v1/requests/") {
        return match (method, rest.rsplit('/').next()) {
            (&Method::GET, Some("status")) => Some(Endpoint::Status),
            (&Method::GET, Some("result")) => Some(Endpoint::Result),
            (&Method::POST, Some("cancel")) => Some(Endpoint::Cancel),
            _ => None,
        };
    }
    if path == CATEGORIES_PATH && method == Method::GET {
        return Some(Endpoint::Categories);
    }
    if path.starts_with("/v1/models/") {
        return match *method {
            Method::POST => Some(Endpoint::Submit),
            Method::GET => Some(Endpoint::Model),
            _ => None,
        };
    }
    if path == "/v1/models" && method == Method::GET {
        return Some(Endpoint::ModelList);
    }
    None
}

/// A misbehaviour the emulator can script.
///
/// Transport and HTTP faults apply to any endpoint. Job faults
/// ([`JobFails`](Self::JobFails), [`AlternateSpellings`](Self::AlternateSpellings),
/// [`UnknownStatus`](Self::UnknownStatus)) are scripted on
/// [`Endpoint::Submit`] and shape the job that submit creates (the submit
/// itself succeeds). Download faults ([`StopHalfway`](Self::StopHalfway),
/// [`IgnoreRange`](Self::IgnoreRange)) apply to [`Endpoint::File`] only.
///
/// In JSON (for the standalone emulator's `/_emulator/faults`), a fault is
/// tagged by `type`: `{"type": "http_error", "status": 503}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Fault {
    /// Process the request at once, but answer only after this long (real
    /// time, not scaled): a slow answer, not a slow server. A submit's job
    /// exists even if the client gives up before the answer.
    Latency {
        /// The delay in milliseconds.
        millis: u64,
    },
    /// Answer 429 with `Retry-After` (whole seconds), without processing.
    RateLimited {
        /// The `Retry-After` value in seconds.
        retry_after_secs: u64,
    },
    /// Answer this HTTP status (500, 502, 503, 504, ...) with RunComfy's
    /// error body, without processing.
    HttpError {
        /// The HTTP status code.
        status: u16,
    },
    /// Answer 200 with a body that is not valid JSON, without processing.
    MalformedJson,
    /// Process the request, then send half of the response body and close
    /// the connection.
    TruncatedBody,
    /// Close the connection without an answer. A submit is processed first
    /// (the job is accepted and paid for, but the answer is lost); other
    /// endpoints are not processed.
    ConnectionReset,
    /// Answer HTTP 200 with `{"error_code": .., "error_message": ..}`,
    /// without processing.
    ErrorIn200 {
        /// RunComfy's numeric error code, e.g. 500001.
        error_code: u64,
        /// The message.
        message: String,
    },
    /// (Submit) The job runs, then ends `failed` with this error message.
    JobFails {
        /// The `error` the result reports.
        message: String,
    },
    /// (Submit) The job reports the spellings RunComfy's clients also see:
    /// `pending` instead of `in_queue`, `processing` instead of
    /// `in_progress`, `succeeded` instead of `completed` and `canceled`
    /// instead of `cancelled`.
    AlternateSpellings,
    /// (Submit) While running, the job reports this status string instead
    /// of `in_progress`.
    UnknownStatus {
        /// The status string, e.g. `"warming_up"`.
        status: String,
    },
    /// (File) Send half of the requested bytes, then close the connection.
    StopHalfway,
    /// (File) Answer `200` with the whole file even when `Range` asks for
    /// part of it.
    IgnoreRange,
}

impl Fault {
    /// Whether this fault can be scripted on `endpoint`.
    pub fn applies_to(&self, endpoint: Endpoint) -> bool {
        match self {
            Self::JobFails { .. } | Self::AlternateSpellings | Self::UnknownStatus { .. } => {
                endpoint == Endpoint::Submit
            }
            Self::StopHalfway | Self::IgnoreRange => endpoint == Endpoint::File,
            _ => true,
        }
    }
}

/// A fault script the emulator refuses (with 400 over HTTP).
///
/// Scripts are bounded so that no script can exhaust the emulator: a
/// standalone emulator takes them from anyone who can reach its admin
/// routes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FaultRefused {
    /// The fault cannot happen on that endpoint (a file fault on status,
    /// say).
    #[error("fault {fault:?} does not apply to the {endpoint:?} endpoint")]
    NotApplicable {
        /// The endpoint asked for.
        endpoint: Endpoint,
        /// The fault asked for.
        fault: Fault,
    },
    /// A count above [`FaultScript::MAX_COUNT`].
    #[error("count {count} is above the most a script may ask for ({max})")]
    CountTooLarge {
        /// The count asked for.
        count: u64,
        /// The most allowed.
        max: u64,
    },
    /// A rate outside 0 to 1 (or not a number).
    #[error("rate {rate} is not between 0 and 1")]
    RateOutOfRange {
        /// The rate asked for.
        rate: f64,
    },
    /// More scripts than [`FaultScript::MAX_SCRIPTS`] at once.
    #[error("more than {max} fault scripts at once; clear them first")]
    TooManyScripts {
        /// The most allowed.
        max: usize,
    },
    /// A fault whose own settings are out of bounds.
    #[error("{0}")]
    OutOfBounds(String),
}
/// A scripted fault: for the next `count` calls, or at `rate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultScript {
    /// Where.
    pub endpoint: Endpoint,
    /// What.
    pub fault: Fault,
    /// For the next this many calls (after any earlier script's), at most
    /// [`MAX_COUNT`](Self::MAX_COUNT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Or for this fraction (0 to 1) of calls, until cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
}

impl FaultScript {
    /// The most calls one script may cover.
    pub const MAX_COUNT: u64 = 1_000_000;
    /// The most scripts held at once.
    pub const MAX_SCRIPTS: usize = 1_000;
    /// The longest latency a fault may add, in milliseconds (10 minutes).
    pub const MAX_LATENCY_MS: u64 = 600_000;
    /// The longest message a fault may carry, in bytes.
    pub const MAX_MESSAGE: usize = 4_096;

    fn check(&self) -> Result<(), FaultRefused> {
        if !self.fault.applies_to(self.endpoint) {
            return Err(FaultRefused::NotApplicable {
                endpoint: self.endpoint,
                fault: self.fault.clone(),
            });
        }
        if let Some(count) = self.count.filter(|c| *c > Self::MAX_COUNT) {
            return Err(FaultRefused::CountTooLarge {
                count,
                max: Self::MAX_COUNT,
            });
        }
        if let Some(rate) = self.rate.filter(|r| !(0.0..=1.0).contains(r)) {
            return Err(FaultRefused::RateOutOfRange { rate });
        }
        let out_of_bounds = |what: String| Err(FaultRefused::OutOfBounds(what));
        match &self.fault {
            Fault::Latency { millis } if *millis > Self::MAX_LATENCY_MS => out_of_bounds(format!(
                "latency {millis} ms is above {} ms",
                Self::MAX_LATENCY_MS
            )),
            Fault::HttpError { status } if !(100..=599).contains(status) => {
                out_of_bounds(format!("{status} is not an HTTP status"))
            }
            Fault::ErrorIn200 { message, .. } | Fault::JobFails { message }
                if message.len() > Self::MAX_MESSAGE =>
            {
                out_of_bounds(format!("a message of at most {} bytes", Self::MAX_MESSAGE))
            }
            Fault::UnknownStatus { status } if status.len() > Self::MAX_MESSAGE => {
                out_of_bounds(format!("a status of at most {} bytes", Self::MAX_MESSAGE))
            }
            _ => Ok(()),
        }
    }
}

/// What is scripted, per endpoint: faults for the next calls (each with
/// how many calls it still covers, so a large count costs no memory) and
/// faults at a rate.
#[derive(Debug, Default)]
pub(crate) struct FaultPlan {
    next: HashMap<Endpoint, VecDeque<(Fault, u64)>>,
    rates: HashMap<Endpoint, Vec<(f64, Fault)>>,
}

impl FaultPlan {
    pub(crate) fn add(&mut self, script: FaultScript) -> Result<(), FaultRefused> {
        script.check()?;
        let held: usize = self.next.values().map(VecDeque::len).sum::<usize>()
            + self.rates.values().map(Vec::len).sum::<usize>();
        if held >= FaultScript::MAX_SCRIPTS {
            return Err(FaultRefused::TooManyScripts {
                max: FaultScript::MAX_SCRIPTS,
            });
        }
        if let Some(rate) = script.rate {
            self.rates
                .entry(script.endpoint)
                .or_default()
                .push((rate, script.fault.clone()));
        }
        let count = script.count.unwrap_or(u64::from(script.rate.is_none()));
        if count > 0 {
            self.next
                .entry(script.endpoint)
                .or_default()
                .push_back((script.fault, count));
        }
        Ok(())
    }

    pub(crate) fn clear(&mut self) {
        self.next.clear();
        self.rates.clear();
    }

    /// The fault for one call: a scripted one first, else one drawn by rate.
    pub(crate) fn take(&mut self, endpoint: Endpoint, rng: &mut fastrand::Rng) -> Option<Fault> {
        if let Some(queue) = self.next.get_mut(&endpoint)
            && let Some((fault, remaining)) = queue.front_mut()
        {
            let fault = fault.clone();
            *remaining -= 1;
            if *remaining == 0 {
                queue.pop_front();
            }
            return Some(fault);
        }
        self.rates
            .get(&endpoint)?
            .iter()
            .find(|(rate, _)| rng.f64() < *rate)
            .map(|(_, fault)| fault.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_faults_come_first_and_run_out() {
        let mut plan = FaultPlan::default();
        let mut rng = fastrand::Rng::with_seed(1);
        let fault = Fault::HttpError { status: 503 };
        plan.add(FaultScript {
            endpoint: Endpoint::Status,
            fault: fault.clone(),
            count: Some(2),
            rate: None,
        })
        .expect("applies");
        assert_eq!(plan.take(Endpoint::Status, &mut rng), Some(fault.clone()));
        assert_eq!(plan.take(Endpoint::Result, &mut rng), None);
        assert_eq!(plan.take(Endpoint::Status, &mut rng), Some(fault));
        assert_eq!(plan.take(Endpoint::Status, &mut rng), None);
    }

    #[test]
    fn rates_are_drawn_from_the_seeded_rng() {
        let draw = |seed| {
            let mut plan = FaultPlan::default();
            let mut rng = fastrand::Rng::with_seed(seed);
            plan.add(FaultScript {
                endpoint: Endpoint::Status,
                fault: Fault::MalformedJson,
                count: None,
                rate: Some(0.3),
            })
            .expect("applies");
            (0..1000)
                .filter(|_| plan.take(Endpoint::Status, &mut rng).is_some())
                .count()
        };
        assert_eq!(draw(7), draw(7), "same seed, same faults");
        assert!((200..400).contains(&draw(7)), "about 30%: {}", draw(7));
    }

    #[test]
    fn misplaced_faults_are_refused() {
        let mut plan = FaultPlan::default();
        let error = plan
            .add(FaultScript {
                endpoint: Endpoint::Status,
                fault: Fault::IgnoreRange,
                count: Some(1),
                rate: None,
            })
            .expect_err("IgnoreRange is for files");
        assert!(matches!(
            error,
            FaultRefused::NotApplicable {
                endpoint: Endpoint::Status,
                ..
            }
        ));
    }

    #[test]
    fn scripts_are_bounded_and_cost_no_memory_per_call() {
        let mut plan = FaultPlan::default();
        let script = |count, rate, fault| FaultScript {
            endpoint: Endpoint::Status,
            fault,
            count,
            rate,
        };
        for refused in [
            script(Some(1_000_000_000_000), None, Fault::MalformedJson),
            script(Some(u64::MAX), None, Fault::MalformedJson),
            script(None, Some(f64::NAN), Fault::MalformedJson),
            script(None, Some(1.5), Fault::MalformedJson),
            script(Some(1), None, Fault::Latency { millis: u64::MAX }),
            script(Some(1), None, Fault::HttpError { status: 1000 }),
        ] {
            assert!(plan.add(refused.clone()).is_err(), "{refused:?}");
        }
        plan.add(script(
            Some(FaultScript::MAX_COUNT),
            None,
            Fault::MalformedJson,
        ))
        .expect("the most allowed");
        let mut rng = fastrand::Rng::with_seed(1);
        for _ in 0..1000 {
            assert_eq!(
                plan.take(Endpoint::Status, &mut rng),
                Some(Fault::MalformedJson)
            );
        }
        for _ in 1..FaultScript::MAX_SCRIPTS {
            plan.add(script(Some(1), None, Fault::TruncatedBody))
                .expect("room");
        }
        assert!(matches!(
            plan.add(script(Some(1), None, Fault::TruncatedBody)),
            Err(FaultRefused::TooManyScripts { .. })
        ));
    }
}
