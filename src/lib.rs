#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod download;
#[cfg(feature = "emulator")]
pub mod emulator;
mod error;
mod generated;
mod model;
mod multi_shot;
mod pricing;
mod quote;
mod status;
mod validation;
mod wire;
mod workflow;

pub use download::{DownloadError, DownloadPolicy};
pub use error::{ApiError, ConfigError, Error, HandleError, InvalidModelId};
pub use generated::models;
pub use model::{DynamicModel, JobModel, Model, ModelDescriptor, ModelInput};
pub use multi_shot::MultiShot;
pub use pricing::CostEstimate;
pub use status::{CancelOutcome, Status};
pub use validation::{Rule, Validate, ValidationError, Violation};
pub use wire::RetryPolicy;
pub use workflow::builder::{
    BASE_URL_ENV, CLI_BASE_URL_ENV, ClientBuilder, DEFAULT_BASE_URL, TOKEN_ENV,
};
pub use workflow::catalogue::{ModelInfo, ModelQuery};
pub use workflow::client::Client;
pub use workflow::job::{Job, JobResult, JobTicket};
pub use workflow::polling::{BackoffPolling, FixedPolling, PollContext, PollPolicy};
pub use workflow::waiting::{Progress, WaitEvent, WaitOptions};
