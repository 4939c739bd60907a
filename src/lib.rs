#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod generated;
mod model;
mod state;
mod transport;

pub use generated::models;
pub use model::{Model, ModelDescriptor};
pub use state::RequestState;
