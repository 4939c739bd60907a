//! A local, stateful stand-in for RunComfy's Model API, for tests and demos.
//!
//! The emulator speaks the queue protocol (submit, status, result, cancel,
//! model info) for every model this crate was generated for, with
//! RunComfy's shapes and error codes: bearer auth (401 / 400004), input
//! validation against the model's schema and prose rules (422 / 422001 with
//! a `detail` entry per violation), unknown model ids (400 / 400001) and
//! unknown request ids (404 / 404001). Jobs wait in a queue
//! (`queue_position`), run on a fixed number of workers and finish with a
//! real, playable MP4 served by a second loopback server that stands in for
//! RunComfy's CDN; its aspect ratio follows the request's `aspect_ratio`.
//!
//! Time is scaled ([`EmulatorConfig::time_scale`]) so that a two-minute
//! job can take milliseconds, and request ids and rate-based faults come
//! from a seeded RNG. Faults are scripted per endpoint, for the next N calls
//! or at a rate; see [`Fault`]. [`Counters`] say what happened.
//!
//! Dropping the [`Emulator`] shuts it down.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use runcomfy::emulator::{Emulator, EmulatorConfig, Endpoint, Fault};
//!
//! let emulator = Emulator::start(EmulatorConfig::default().time_scale(1000.0)).await?;
//! emulator
//!     .fail_next(Endpoint::Status, 2, Fault::HttpError { status: 503 })
//!     .expect("status calls can fail with 503");
//! println!("point the client at {}", emulator.base_url());
//! assert_eq!(emulator.counters().submits_accepted, 0);
//! # Ok(())
//! # }
//! ```

mod admin;
mod clock;
mod config;
mod contract;
mod faults;
mod files;
mod front;
mod handlers;
mod hashing;
mod inject;
mod jobs;
mod routes;
mod serve;
mod video;

pub use config::{EmulatorConfig, Flavour, RunTime, UnknownModel};
pub use faults::{Endpoint, Fault, FaultRefused, FaultScript};
pub use front::drift::Drift;
pub use jobs::JobCounts;

use faults::FaultPlan;
use jobs::Store;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// The handlers' view of the emulator's state.
type SharedState = axum::extract::State<Arc<Shared>>;

/// A poisoned lock (a panicked handler) still guards consistent data here:
/// every critical section leaves the state whole before it could panic.
trait LockOrRecover<T> {
    fn lock_or_recover(&self) -> std::sync::MutexGuard<'_, T>;
}

impl<T> LockOrRecover<T> for Mutex<T> {
    fn lock_or_recover(&self) -> std::sync::MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running emulator: an API server and a file server on loopback,
/// speaking RunComfy's queue protocol for every model this crate knows.
///
/// Start one per test on the current tokio runtime; it picks free ports,
/// so tests run in parallel. Jobs move through the queue on the scaled
/// clock; faults are scripted per endpoint; [`counters`](Self::counters)
/// say what happened. Shut down when dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use runcomfy::Client;
/// use runcomfy::polling::FixedPolling;
/// use runcomfy::emulator::{Emulator, EmulatorConfig, Endpoint, Fault};
/// use runcomfy::models::kling::kling_3_0::standard::text_to_video::Input;
/// use std::time::Duration;
///
/// let emulator = Emulator::start(EmulatorConfig::default().time_scale(10_000.0)).await?;
/// let client = Client::builder()
///     .token(emulator.token())
///     .base_url(emulator.base_url())
///     // Its clock runs 10,000 times fast: poll fast too.
///     .poll_policy(FixedPolling(Duration::from_millis(5)))
///     .build()?;
/// emulator.fail_next(Endpoint::Status, 1, Fault::HttpError { status: 503 })?;
/// let result = client.run(&Input::new("a red fox")).await?; // the 503 is retried
/// assert!(result.output.video.is_some());
/// assert_eq!(emulator.counters().submits_accepted, 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Emulator {
    shared: Arc<Shared>,
    api_addr: SocketAddr,
    files_addr: SocketAddr,
}

/// What the emulator has seen and done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    /// Requests received per endpoint (faulted ones included).
    pub requests: RequestCounts,
    /// Submits that created a job (each one a paid job on RunComfy).
    pub submits_accepted: u64,
    /// Jobs per state, expired ones not counted.
    pub jobs: JobCounts,
    /// Bytes of video sent by the file server.
    pub bytes_served: u64,
    /// File requests that carried an `Authorization` header (a leaked
    /// token: should stay 0).
    pub file_requests_with_authorization: u64,
    /// API requests refused for a missing or wrong token.
    pub unauthorized: u64,
    /// Accepted submits whose model and body had been accepted before: a
    /// submit sent twice (should stay 0 for distinct requests).
    pub duplicate_submits: u64,
    /// Faults injected per endpoint.
    pub faults_injected: RequestCounts,
    /// API requests answered 429 by the configured
    /// [`rate_limit`](EmulatorConfig::rate_limit) (scripted 429s not
    /// included).
    pub rate_limited: u64,
    /// Submits refused because the wallet could not pay for them (402,
    /// code 400002; see [`EmulatorConfig::balance`]).
    pub insufficient_balance: u64,
    /// What passed through an emulator in front of a real API or a
    /// recorded session (all zero when it simulates).
    pub front: FrontCounts,
}

/// What passed through an emulator in front of a real API
/// ([`EmulatorConfig::upstream`]) or a recorded session
/// ([`EmulatorConfig::replay`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FrontCounts {
    /// Requests (and file downloads) forwarded upstream.
    pub forwarded: u64,
    /// Exchanges written to the cassette.
    pub recorded: u64,
    /// Requests (and file downloads) answered from the cassette.
    pub replayed: u64,
    /// Requests the cassette holds no answer for (answered 404).
    pub unmatched: u64,
    /// Mismatches with the OpenAPI file or a model's schemas.
    pub drift: u64,
    /// Submits refused before forwarding because they broke their
    /// model's schema ([`EmulatorConfig::strict`]).
    pub strict_refusals: u64,
    /// Forwarded requests upstream gave no answer to (answered 502).
    pub upstream_failures: u64,
}

/// A job the emulator holds, as [`Emulator::jobs`] reports it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct JobRecord {
    /// Its request id.
    pub request_id: String,
    /// Its model.
    pub model_id: String,
    /// The request body it was accepted with.
    pub input: serde_json::Value,
    /// Its status, as RunComfy's documented spelling.
    pub status: String,
    /// The size of the video it serves once completed, in bytes.
    pub file_size: Option<u64>,
    /// The SHA-256 of that video, in hex.
    pub file_sha256: Option<String>,
    /// What the request carried inline (`data:` URIs) in its media fields.
    pub media: Vec<ReceivedMedia>,
}

/// A file a submit carried inline in a media field, as the emulator
/// decoded it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ReceivedMedia {
    /// The field, e.g. `image_uri`.
    pub field: String,
    /// Its place in a list field.
    pub index: Option<usize>,
    /// The type the `data:` URI declared.
    pub declared_type: String,
    /// The type of its content.
    pub content_type: String,
    /// Its size in bytes, decoded.
    pub size: u64,
    /// Its SHA-256, in hex.
    pub sha256: String,
}

/// Requests received per endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequestCounts {
    /// `POST /v1/models/{model_id}`.
    pub submit: u64,
    /// `GET /v1/requests/{id}/status`.
    pub status: u64,
    /// `GET /v1/requests/{id}/result`.
    pub result: u64,
    /// `POST /v1/requests/{id}/cancel`.
    pub cancel: u64,
    /// `GET /v1/models/{model_id}`.
    pub model: u64,
    /// `GET /files/...`.
    pub file: u64,
    /// `GET /v1/models`.
    pub model_list: u64,
    /// `GET /v1/models/categories`.
    pub categories: u64,
}

#[derive(Debug, Default)]
struct CounterCells {
    requests: [AtomicU64; Endpoint::ALL.len()],
    submits_accepted: AtomicU64,
    bytes_served: AtomicU64,
    file_requests_with_authorization: AtomicU64,
    unauthorized: AtomicU64,
    duplicate_submits: AtomicU64,
    faults_injected: [AtomicU64; Endpoint::ALL.len()],
    rate_limited: AtomicU64,
    insufficient_balance: AtomicU64,
}

/// State shared by the servers, the handlers and the job tasks.
#[derive(Debug)]
struct Shared {
    config: EmulatorConfig,
    store: Mutex<Store>,
    workers: Arc<Semaphore>,
    faults: Mutex<FaultPlan>,
    rng: Mutex<fastrand::Rng>,
    bucket: Mutex<inject::Bucket>,
    counters: CounterCells,
    /// In front of a real API or a cassette, if so.
    front: Option<front::Front>,
    /// What the account holds in US dollars (`None`: unlimited).
    wallet: Mutex<Option<f64>>,
    /// Where answers point: the API's own address and the file base
    /// results advertise.
    bases: jobs::Bases,
    shutdown: CancellationToken,
}

impl Emulator {
    /// Starts an emulator on the configured address (loopback, free ports
    /// by default) on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// The I/O error of binding a listener (a port in use, say).
    pub async fn start(config: EmulatorConfig) -> std::io::Result<Self> {
        let front = config
            .front
            .is_front()
            .then(|| front::Front::open(&config.front, config.time_scale))
            .transpose()?;
        let api = TcpListener::bind((config.bind, config.port)).await?;
        let files = TcpListener::bind((config.bind, config.files_port)).await?;
        let (api_addr, files_addr) = (reachable(api.local_addr()?), reachable(files.local_addr()?));
        let shared = Shared::new(
            config,
            front,
            format!("http://{api_addr}"),
            format!("http://{files_addr}"),
        );
        let token = shared.shutdown.clone();
        let limits = serve::Limits {
            max_connections: shared.config.max_connections,
            header_read_timeout: shared.config.header_read_timeout,
        };
        tokio::spawn(serve::serve(
            api,
            routes::api_router(shared.clone()),
            limits,
            token.clone(),
        ));
        tokio::spawn(serve::serve(
            files,
            routes::files_router(shared.clone()),
            limits,
            token,
        ));
        Ok(Self {
            shared,
            api_addr,
            files_addr,
        })
    }

    /// The API's base URL, e.g. `http://127.0.0.1:41234`: use it where the
    /// real API is `https://model-api.runcomfy.net`.
    pub fn base_url(&self) -> String {
        self.shared.bases.api.clone()
    }

    /// The base of the file URLs results carry (the stand-in for
    /// RunComfy's CDN): the file server's own address, or the base set
    /// with [`EmulatorConfig::advertise_files_base`].
    pub fn files_base_url(&self) -> String {
        self.shared.bases.files.clone()
    }

    /// The API's address.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// The file server's address.
    pub fn files_addr(&self) -> SocketAddr {
        self.files_addr
    }

    /// The token the emulator accepts.
    pub fn token(&self) -> &str {
        &self.shared.config.token
    }

    /// What the emulator has seen and done so far.
    pub fn counters(&self) -> Counters {
        self.shared.counters()
    }

    /// Every job the emulator holds (expired ones not), oldest first: what
    /// was accepted, its status and the video it serves.
    pub fn jobs(&self) -> Vec<JobRecord> {
        self.shared.jobs()
    }

    /// Scripts a fault.
    ///
    /// # Errors
    ///
    /// [`FaultRefused`] for a fault that cannot happen on the endpoint (a
    /// file fault on status, say) or a script out of bounds (see
    /// [`FaultScript`]).
    pub fn inject(&self, script: FaultScript) -> Result<(), FaultRefused> {
        self.shared.faults.lock_or_recover().add(script)
    }

    /// Makes the next `count` calls to `endpoint` (after any already
    /// scripted) misbehave with `fault`.
    ///
    /// # Errors
    ///
    /// As [`inject`](Self::inject).
    pub fn fail_next(
        &self,
        endpoint: Endpoint,
        count: u64,
        fault: Fault,
    ) -> Result<(), FaultRefused> {
        self.inject(FaultScript {
            endpoint,
            fault,
            count: Some(count),
            rate: None,
        })
    }

    /// Makes a fraction `rate` (0 to 1) of calls to `endpoint` misbehave
    /// with `fault`, drawn from the seeded RNG, until cleared.
    ///
    /// # Errors
    ///
    /// As [`inject`](Self::inject).
    pub fn fail_at_rate(
        &self,
        endpoint: Endpoint,
        rate: f64,
        fault: Fault,
    ) -> Result<(), FaultRefused> {
        self.inject(FaultScript {
            endpoint,
            fault,
            count: None,
            rate: Some(rate),
        })
    }

    /// Every mismatch seen so far between what passed through (in front
    /// of an [`upstream`](EmulatorConfig::upstream)) and the contract this
    /// crate was built from: the OpenAPI file and the models' schemas.
    /// Each is also logged (target `runcomfy_emulator`) and counted in
    /// [`FrontCounts::drift`]; the list keeps the first 10,000.
    pub fn drift(&self) -> Vec<Drift> {
        self.shared
            .front
            .as_ref()
            .map(front::Front::drift)
            .unwrap_or_default()
    }

    /// What the wallet holds in US dollars (`None`: unlimited; see
    /// [`EmulatorConfig::balance`]).
    pub fn balance(&self) -> Option<f64> {
        *self.shared.wallet.lock_or_recover()
    }

    /// Sets the wallet (a top-up in a test, say); `None` makes it
    /// unlimited.
    pub fn set_balance(&self, usd: Option<f64>) {
        *self.shared.wallet.lock_or_recover() = usd.filter(|u| u.is_finite()).map(|u| u.max(0.0));
    }

    /// Removes every scripted fault.
    pub fn clear_faults(&self) {
        self.shared.faults.lock_or_recover().clear();
    }

    /// Stops the servers and every job.
    pub fn shutdown(&self) {
        self.shared.shutdown.cancel();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn front_counts(front: &front::Front) -> FrontCounts {
    let c = &front.counters;
    let load = |cell: &AtomicU64| cell.load(Ordering::Relaxed);
    FrontCounts {
        forwarded: load(&c.forwarded),
        recorded: load(&c.recorded),
        replayed: load(&c.replayed),
        unmatched: load(&c.unmatched),
        drift: load(&c.drift),
        strict_refusals: load(&c.strict_refusals),
        upstream_failures: load(&c.upstream_failures),
    }
}

/// A wildcard bind address is reachable on loopback.
fn reachable(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

impl Shared {
    fn new(
        config: EmulatorConfig,
        front: Option<front::Front>,
        api_base: String,
        files_base: String,
    ) -> Arc<Self> {
        let files_base = config.advertised_files_base.clone().unwrap_or(files_base);
        Arc::new(Shared {
            workers: Arc::new(Semaphore::new(config.workers)),
            rng: Mutex::new(fastrand::Rng::with_seed(config.seed)),
            bucket: Mutex::new(inject::Bucket::new(config.rate_limit)),
            wallet: Mutex::new(config.balance),
            config,
            store: Mutex::default(),
            faults: Mutex::default(),
            counters: CounterCells::default(),
            front,
            bases: jobs::Bases {
                api: api_base,
                files: files_base,
            },
            shutdown: CancellationToken::new(),
        })
    }

    fn counters(&self) -> Counters {
        let per_endpoint = |cells: &[AtomicU64; Endpoint::ALL.len()]| {
            let count = |e: Endpoint| cells[e as usize].load(Ordering::Relaxed);
            RequestCounts {
                submit: count(Endpoint::Submit),
                status: count(Endpoint::Status),
                result: count(Endpoint::Result),
                cancel: count(Endpoint::Cancel),
                model: count(Endpoint::Model),
                file: count(Endpoint::File),
                model_list: count(Endpoint::ModelList),
                categories: count(Endpoint::Categories),
            }
        };
        Counters {
            requests: per_endpoint(&self.counters.requests),
            faults_injected: per_endpoint(&self.counters.faults_injected),
            duplicate_submits: self.counters.duplicate_submits.load(Ordering::Relaxed),
            submits_accepted: self.counters.submits_accepted.load(Ordering::Relaxed),
            jobs: self.store.lock_or_recover().counts(),
            bytes_served: self.counters.bytes_served.load(Ordering::Relaxed),
            file_requests_with_authorization: self
                .counters
                .file_requests_with_authorization
                .load(Ordering::Relaxed),
            unauthorized: self.counters.unauthorized.load(Ordering::Relaxed),
            rate_limited: self.counters.rate_limited.load(Ordering::Relaxed),
            insufficient_balance: self.counters.insufficient_balance.load(Ordering::Relaxed),
            front: self.front.as_ref().map(front_counts).unwrap_or_default(),
        }
    }

    fn jobs(&self) -> Vec<JobRecord> {
        let store = self.store.lock_or_recover();
        store
            .all()
            .into_iter()
            .map(|job| {
                let file =
                    (job.state == crate::status::Status::Completed).then(|| job.fixture.bytes());
                JobRecord {
                    request_id: job.id.clone(),
                    model_id: job.model_id.to_string(),
                    input: job.input.clone(),
                    status: job.state.as_wire().to_string(),
                    file_size: file.map(|f| f.len() as u64),
                    media: job.media.clone(),
                    file_sha256: file.map(hashing::sha256_hex),
                }
            })
            .collect()
    }

    /// A UUIDv4 from the seeded RNG, as the live API's request ids are
    /// (`323b27e1-2de2-41b1-bf6e-a4b4602e1a75`): version nibble 4, variant
    /// bits `10`.
    fn new_request_id(&self) -> String {
        let mut rng = self.rng.lock_or_recover();
        let hex: String = (0..32)
            .map(|i| {
                let nibble = match i {
                    12 => 4,
                    16 => 8 | rng.u32(0..4),
                    _ => rng.u32(0..16),
                };
                char::from_digit(nibble, 16).expect("< 16")
            })
            .collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    }

    /// Moves a job through the queue: wait, take a worker, run, finish.
    fn spawn_job(self: &Arc<Self>, id: String, run_time: Duration) {
        let shared = self.clone();
        tokio::spawn(async move {
            let lifecycle = async {
                tokio::time::sleep(shared.config.scaled(shared.config.queue_delay)).await;
                let Ok(_worker) = shared.workers.clone().acquire_owned().await else {
                    return;
                };
                if !shared.store.lock_or_recover().start(&id) {
                    return; // cancelled while queued
                }
                tokio::time::sleep(shared.config.scaled(run_time)).await;
                shared
                    .store
                    .lock_or_recover()
                    .finish(&id, shared.config.max_retained_jobs);
            };
            tokio::select! {
                () = lifecycle => {}
                () = shared.shutdown.cancelled() => {}
            }
        });
    }
}

/// One submit through the emulator's API router, without sockets, for the
/// fuzz target: one emulator (jobs finish at once and expire) on one
/// runtime for the whole run.
#[cfg(fuzzing)]
pub(crate) fn fuzz_submit(path: &str, content_type: &str, body: &[u8]) -> u16 {
    use tower::ServiceExt;
    static EMULATOR: std::sync::OnceLock<(tokio::runtime::Runtime, axum::Router)> =
        std::sync::OnceLock::new();
    let (runtime, router) = EMULATOR.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let config = EmulatorConfig::default()
            .time_scale(1e9)
            .queue_delay(Duration::ZERO)
            .max_retained_jobs(64);
        let router = runtime.block_on(async {
            routes::api_router(Shared::new(
                config,
                None,
                "http://api".into(),
                "http://files".into(),
            ))
        });
        (runtime, router)
    });
    let Ok(request) = axum::http::Request::builder()
        .method("POST")
        .uri(format!("/v1/models/{path}"))
        .header(
            "authorization",
            format!("Bearer {}", EmulatorConfig::DEFAULT_TOKEN),
        )
        .header("content-type", content_type)
        .body(axum::body::Body::from(body.to_vec()))
    else {
        return 0;
    };
    runtime.block_on(async {
        router
            .clone()
            .oneshot(request)
            .await
            .map(|response| response.status().as_u16())
            .unwrap_or_else(|never| match never {})
    })
}
