#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

#[cfg(feature = "emulator")]
pub mod emulator;
mod generated;
mod model;
pub mod multi_prompt;
mod state;
mod transport;
pub mod validation;

pub use generated::models;
pub use model::{Model, ModelDescriptor};
pub use multi_prompt::MultiShot;
pub use state::RequestState;
pub use validation::{Rule, Validate, ValidationError, Violation};
