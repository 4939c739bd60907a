//! How the emulator behaves: token, workers, timings, time scale, seed,
//! addresses.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

/// Where the emulator stands in front of a real API, and how.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FrontConfig {
    pub(crate) upstream: Option<String>,
    pub(crate) record: Option<PathBuf>,
    pub(crate) replay: Option<PathBuf>,
    pub(crate) spy: bool,
    pub(crate) strict: bool,
}

impl FrontConfig {
    /// Whether the emulator stands in front of an API (or a cassette)
    /// instead of simulating one.
    pub(crate) fn is_front(&self) -> bool {
        self.upstream.is_some() || self.replay.is_some()
    }

    /// Refuses settings that do not make a mode.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.record.is_some() && self.upstream.is_none() {
            return Err("recording needs an upstream to record from".into());
        }
        if self.spy && (self.replay.is_none() || self.upstream.is_none()) {
            return Err("spy needs both a cassette to replay and an upstream".into());
        }
        if self.replay.is_some() && self.upstream.is_some() && !self.spy {
            return Err(
                "a cassette and an upstream together need spy (replay what is recorded, forward the rest)"
                    .into(),
            );
        }
        if self.strict && self.upstream.is_none() {
            return Err(
                "strict refuses invalid submits before forwarding: it needs an upstream".into(),
            );
        }
        Ok(())
    }
}

/// How long a job runs once a worker picks it up, in emulated time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RunTime {
    /// The same for every job.
    Fixed(Duration),
    /// This much per second of requested video: the input's `duration`
    /// field, or its schema default, or 5 s for a model without one.
    PerVideoSecond(Duration),
}

impl RunTime {
    /// The run time of a job of `seconds` of video. The seconds come from
    /// a request, so any number must work: the product saturates at a day
    /// of emulated time instead of overflowing.
    pub(crate) fn for_video_seconds(self, seconds: f64) -> Duration {
        const LONGEST: Duration = Duration::from_secs(24 * 60 * 60);
        match self {
            Self::Fixed(d) => d,
            Self::PerVideoSecond(per) => {
                let product = per.as_secs_f64() * seconds;
                if product.is_nan() || product <= 0.0 {
                    Duration::ZERO
                } else {
                    Duration::try_from_secs_f64(product)
                        .unwrap_or(LONGEST)
                        .min(LONGEST)
                }
            }
        }
    }
}

/// Which of RunComfy's two accounts of its answers the emulator follows
/// where they differ.
///
/// | | [`Recorded`](Self::Recorded) (default) | [`Docs`](Self::Docs) |
/// |---|---|---|
/// | result of a job not finished | `{request_id, status, created_at}` | the status answer (URLs, `queue_position`) |
/// | completed result | `status: completed`, `completed_at`, no `error` key | `status: succeeded`, `finished_at`, `error: null` |
/// | status spelling in the result | as the status call | `succeeded` for `completed` |
///
/// Everything else (timestamps with microseconds and `+00:00`, UUIDv4
/// request ids, cancel answered `202`) is the same in both: the recordings
/// where there are some, the docs elsewhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Flavour {
    /// As the live API was recorded answering (Dec 2025).
    #[default]
    Recorded,
    /// As RunComfy's documentation's examples answer.
    Docs,
}

impl std::str::FromStr for Flavour {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "recorded" => Ok(Self::Recorded),
            "docs" => Ok(Self::Docs),
            other => Err(format!("no flavour {other:?}: recorded or docs")),
        }
    }
}

/// A model id this crate was not built with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no model {model_id} in this build")]
pub struct UnknownModel {
    /// The id asked for.
    pub model_id: String,
}

/// Settings for [`Emulator::start`](super::Emulator::start).
///
/// The defaults model a small, realistic service: 4 workers, 2 s in the
/// queue, 6 s of work per second of video (a 5 s Kling video takes 30 s),
/// at real speed. Tests usually raise [`time_scale`](Self::time_scale).
#[derive(Debug, Clone)]
#[must_use]
pub struct EmulatorConfig {
    pub(crate) token: String,
    pub(crate) workers: usize,
    pub(crate) queue_delay: Duration,
    pub(crate) run_time: RunTime,
    pub(crate) model_run_time: HashMap<String, RunTime>,
    pub(crate) time_scale: f64,
    pub(crate) seed: u64,
    pub(crate) bind: IpAddr,
    pub(crate) port: u16,
    pub(crate) files_port: u16,
    pub(crate) max_retained_jobs: usize,
    pub(crate) log_requests: bool,
    pub(crate) served_input_schemas: HashMap<String, serde_json::Value>,
    pub(crate) max_connections: usize,
    pub(crate) header_read_timeout: Duration,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) flavour: Flavour,
    pub(crate) advertised_files_base: Option<String>,
    pub(crate) front: FrontConfig,
    pub(crate) balance: Option<f64>,
}

/// A limit on API requests per second, as a token bucket: `burst`
/// requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RateLimit {
    pub(crate) per_second: f64,
    pub(crate) burst: f64,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            token: Self::DEFAULT_TOKEN.to_string(),
            workers: 4,
            queue_delay: Duration::from_secs(2),
            run_time: RunTime::PerVideoSecond(Duration::from_secs(6)),
            model_run_time: HashMap::new(),
            time_scale: 1.0,
            seed: 0,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            files_port: 0,
            max_retained_jobs: 100_000,
            log_requests: false,
            served_input_schemas: HashMap::new(),
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            rate_limit: None,
            flavour: Flavour::default(),
            advertised_files_base: None,
            front: FrontConfig::default(),
            balance: None,
        }
    }
}

impl EmulatorConfig {
    /// The token the emulator accepts unless told otherwise.
    pub const DEFAULT_TOKEN: &'static str = "emulator-token";

    /// The bearer token every API call must carry.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }

    /// How many jobs run at once (at least 1).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// How long every job waits in the queue before it may start (emulated
    /// time).
    pub fn queue_delay(mut self, delay: Duration) -> Self {
        self.queue_delay = delay;
        self
    }

    /// How long jobs run (emulated time), for models without their own.
    pub fn run_time(mut self, run_time: RunTime) -> Self {
        self.run_time = run_time;
        self
    }

    /// How long jobs of one model run (emulated time).
    pub fn model_run_time(mut self, model_id: impl Into<String>, run_time: RunTime) -> Self {
        self.model_run_time.insert(model_id.into(), run_time);
        self
    }

    /// How many times faster than real time emulated time passes: at 1000,
    /// a two-minute job takes 120 ms. Values at or below zero mean 1.
    pub fn time_scale(mut self, scale: f64) -> Self {
        self.time_scale = if scale > 0.0 && scale.is_finite() {
            scale
        } else {
            1.0
        };
        self
    }

    /// The seed for request ids and rate-based faults.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The address to listen on: loopback by default.
    pub fn bind(mut self, address: IpAddr) -> Self {
        self.bind = address;
        self
    }

    /// The API port; 0 (the default) picks a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The file server's port (the stand-in for RunComfy's CDN, a host of
    /// its own so that tests can see what reaches it); 0 picks a free one.
    pub fn files_port(mut self, port: u16) -> Self {
        self.files_port = port;
        self
    }

    /// How many finished jobs are kept before the oldest expire (and answer
    /// 404, as expired RunComfy requests do).
    pub fn max_retained_jobs(mut self, jobs: usize) -> Self {
        self.max_retained_jobs = jobs.max(1);
        self
    }

    /// Log every request (method, path, status, time) through `tracing`.
    pub fn log_requests(mut self, log: bool) -> Self {
        self.log_requests = log;
        self
    }

    /// How many connections each server (API, files) serves at once
    /// (default 1024, at least 1); more wait in the listen backlog.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// How long a connection may take to send a request's headers before
    /// it is closed (default 10 s).
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Answer API requests beyond `per_second` (with bursts of up to
    /// `burst` at once) with 429 and a `Retry-After`, like a rate-limited
    /// account; none by default. File downloads are not limited. A rate
    /// that is not positive and finite means no limit.
    pub fn rate_limit(mut self, per_second: f64, burst: u32) -> Self {
        self.rate_limit = (per_second.is_finite() && per_second > 0.0).then_some(RateLimit {
            per_second,
            burst: f64::from(burst.max(1)),
        });
        self
    }

    /// Serve `schema` as the model's published input schema in model info
    /// (`GET /v1/models/{model_id}`), as if RunComfy had changed it: to try
    /// `runcomfy schema check` against drift. Validation still follows the
    /// schema this crate was built with.
    ///
    /// # Errors
    ///
    /// [`UnknownModel`] for a model this crate was not built with.
    pub fn serve_input_schema(
        mut self,
        model_id: &str,
        schema: serde_json::Value,
    ) -> Result<Self, UnknownModel> {
        if crate::ModelDescriptor::find(model_id).is_none() {
            return Err(UnknownModel {
                model_id: model_id.to_string(),
            });
        }
        self.served_input_schemas
            .insert(model_id.to_string(), schema);
        Ok(self)
    }

    /// Answer as the recordings of the live API do (the default) or as the
    /// docs' examples do (see [`Flavour`]), so that a client can be tried
    /// against both.
    pub fn flavour(mut self, flavour: Flavour) -> Self {
        self.flavour = flavour;
        self
    }

    /// The base of the file URLs results advertise, instead of the file
    /// server's own `http://127.0.0.1:PORT`: for clients that download
    /// only from RunComfy's hosts (RunComfy's CLI trusts `*.runcomfy.net`
    /// and `*.runcomfy.com`). Map the name to loopback yourself (an
    /// `/etc/hosts` line) and give the file server a fixed
    /// [`files_port`](Self::files_port), e.g.
    /// `http://files.emulator.runcomfy.net:8788`. A trailing `/` is
    /// dropped.
    pub fn advertise_files_base(mut self, base: impl Into<String>) -> Self {
        let base: String = base.into();
        self.advertised_files_base = Some(base.trim_end_matches('/').to_string());
        self
    }

    /// A wallet holding `usd` (unlimited when unset): each accepted submit
    /// costs the model's listed price for the request (the estimate rule
    /// of its `model.json`, the same figure results report as `cost`), a
    /// job cancelled while queued is refunded, and a submit the wallet
    /// cannot pay is answered 402 with code 400002 and creates no job. The
    /// balance is served at `GET /prod/v2/balance`, and set with
    /// [`Emulator::set_balance`](super::Emulator::set_balance) or `POST
    /// /_emulator/balance`.
    pub fn balance(mut self, usd: f64) -> Self {
        self.balance = usd.is_finite().then_some(usd.max(0.0));
        self
    }

    /// Stand in front of this API (e.g. `https://model-api.runcomfy.net`)
    /// instead of simulating one: every API call is forwarded with the
    /// caller's token (a submit once, never again), its answer checked
    /// against the OpenAPI file and the model's schemas (see
    /// [`Emulator::drift`](super::Emulator::drift)) and handed back;
    /// results' files are fetched through the emulator's file server.
    /// With [`record`](Self::record), the session is written down; with
    /// [`replay`](Self::replay), only with [`spy`](Self::spy).
    pub fn upstream(mut self, base_url: impl Into<String>) -> Self {
        self.front.upstream = Some(base_url.into());
        self
    }

    /// Write every exchange with the [`upstream`](Self::upstream) to
    /// `dir`, one JSON file each in the conformance corpus's format, and
    /// every result file once by its SHA-256 under `dir/files/`. No
    /// token is ever written: not the `Authorization` header, and no
    /// form of any token seen in a request anywhere in a body, header,
    /// path or query.
    pub fn record(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.front.record = Some(dir.into());
        self
    }

    /// Answer from a session recorded in `dir` instead of simulating: a
    /// submit matches on model id and canonical body; a job's status,
    /// result and cancel answers come back in their recorded order, on a
    /// clock compressed by [`time_scale`](Self::time_scale), the last one
    /// repeating; files come from the cassette. A request it holds no
    /// answer for gets a 404 naming what was asked and what it holds.
    /// Callers must send this emulator's [`token`](Self::token); others
    /// get the session's recorded refusals.
    pub fn replay(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.front.replay = Some(dir.into());
        self
    }

    /// With [`replay`](Self::replay) and [`upstream`](Self::upstream):
    /// replay what the cassette holds, forward (and, with
    /// [`record`](Self::record), record) what it does not.
    pub fn spy(mut self, spy: bool) -> Self {
        self.front.spy = spy;
        self
    }

    /// With an [`upstream`](Self::upstream): refuse a submit that breaks
    /// its model's schema (422, as the emulator's own validation) instead
    /// of forwarding it, saving a paid request.
    pub fn strict(mut self, strict: bool) -> Self {
        self.front.strict = strict;
        self
    }

    pub(crate) fn scaled(&self, emulated: Duration) -> Duration {
        emulated.div_f64(self.time_scale)
    }

    pub(crate) fn run_time_for(&self, model_id: &str) -> RunTime {
        self.model_run_time
            .get(model_id)
            .copied()
            .unwrap_or(self.run_time)
    }
}
