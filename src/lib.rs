#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

// The layers, from the wire up. Each folder's `mod.rs` says what it holds.
mod download; // files: policy, transfer, naming
#[cfg(feature = "emulator")]
pub mod emulator; // the local stand-in for RunComfy's API
mod error; // one error enum per layer a caller meets
mod generated; // what build.rs generated: models and the queue client
mod lenient; // JSON values read leniently
pub mod media; // local files as inline media inputs
mod model; // what a model is: traits and descriptors
mod multi_shot; // Kling's multi-shot input, built shot by shot
pub mod polling; // when a wait polls: fixed, backoff, learning
mod pricing; // a request's estimated cost
mod quote; // excerpts of bodies for messages
mod status; // where a job is, what a cancel did
mod tls; // the TLS backend: ring, aws-lc or native
mod validation; // inputs checked before anything is sent
mod wire; // hooks, retries and decoding around every request
mod workflow; // the client, jobs, waiting, the catalogue, the balance

// The client, and how to build one.
pub use tls::{http_client_builder, install_tls_provider};
pub use wire::RetryPolicy;
pub use workflow::builder::{
    BASE_URL_ENV, ClientBuilder, DEFAULT_BASE_URL, DEFAULT_CORE_API_BASE, MODEL_API_BASE_ENV,
    SERVERLESS_API_BASE_ENV, TOKEN_ENV,
};
pub use workflow::client::Client;

// Models: the generated ones, and any chosen at run time.
pub use generated::models;
pub use model::{DynamicModel, JobModel, Model, ModelDescriptor, ModelInfo, ModelInput};
pub use multi_shot::MultiShot;
pub use validation::{Rule, Validate, ValidationError, Violation};

// Jobs: handles, results, waiting.
pub use status::{CancelOutcome, Status};
pub use workflow::job::{Job, JobResult, JobTicket};
pub use workflow::waiting::{Progress, WaitEvent, WaitOptions};

// Money and the catalogue.
pub use pricing::CostEstimate;
pub use workflow::balance::Balance;
pub use workflow::catalogue::ModelQuery;

// Downloads.
pub use download::{DownloadError, DownloadPolicy, ExistingFiles};

// Errors.
pub use error::{ApiError, ConfigError, Error, HandleError, InvalidModelId};

#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
