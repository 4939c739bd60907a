#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod catalogue;
mod client;
pub mod download;
#[cfg(feature = "emulator")]
pub mod emulator;
mod error;
mod generated;
mod job;
mod model;
pub mod multi_prompt;
pub mod polling;
pub mod pricing;
pub mod retry;
mod state;
mod status;
mod transport;
pub mod validation;

pub use catalogue::{ModelInfo, ModelQuery};
pub use client::{BASE_URL_ENV, Client, ClientBuilder, DEFAULT_BASE_URL, TOKEN_ENV};
pub use download::{DownloadError, DownloadPolicy};
pub use error::{ConfigError, Error};
pub use generated::models;
pub use job::{CancelOutcome, Job, JobResult, JobTicket, ResultState};
pub use model::{DynamicModel, JobModel, Model, ModelDescriptor};
pub use multi_prompt::MultiShot;
pub use polling::{
    BackoffPolling, FixedPolling, PollPolicy, PollState, Progress, WaitEvent, WaitOptions,
};
pub use pricing::CostEstimate;
pub use retry::RetryPolicy;
pub use state::RequestState;
pub use status::Status;
pub use validation::{Rule, Validate, ValidationError, Violation};
