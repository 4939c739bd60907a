//! What every generated model module provides: its id, its input and output
//! types and its schemas.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A RunComfy model this crate has types for.
///
/// Every module under [`crate::models`] defines one marker type that
/// implements this trait (for Kling 3.0 text-to-video,
/// [`TextToVideo`](crate::models::kling::kling_3_0::standard::text_to_video::TextToVideo)),
/// so that code such as the client's `submit` can be generic over models.
pub trait Model: 'static {
    /// The request body.
    type Input: ModelInput<Model = Self>
        + DeserializeOwned
        + Clone
        + std::fmt::Debug
        + Send
        + Sync
        + 'static;
    /// The result's `output`.
    type Output: Serialize + DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static;
    /// The model's id and schemas.
    const DESCRIPTOR: &'static ModelDescriptor;
}

/// A request body that names its model, so that
/// [`Client::submit`](crate::Client::submit) and
/// [`Client::run`](crate::Client::run) need no turbofish.
///
/// Every generated model's `Input` implements it.
pub trait ModelInput: Serialize + Send + Sync {
    /// The model this input is for.
    type Model: Model<Input = Self>;
}

/// What a [`Job`](crate::Job) handle needs of its model: the type of its
/// output and, where known, its id.
///
/// Every generated model marker implements it (through [`Model`]), and so
/// does [`DynamicModel`], for jobs of a model chosen at run time.
pub trait JobModel: 'static {
    /// The result's `output`.
    type Output: Serialize + DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static;
    /// The model's id; `None` for [`DynamicModel`].
    const MODEL_ID: Option<&'static str>;
}

impl<M: Model> JobModel for M {
    type Output = M::Output;
    const MODEL_ID: Option<&'static str> = Some(M::DESCRIPTOR.id);
}

/// A model chosen at run time (by id, say from a command line): its input
/// and output are JSON values.
///
/// Jobs submitted with [`Client::submit_json`](crate::Client::submit_json)
/// are `Job<DynamicModel>`; their results are `serde_json::Value`s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DynamicModel;

impl JobModel for DynamicModel {
    type Output = serde_json::Value;
    const MODEL_ID: Option<&'static str> = None;
}

/// A model's id and schemas, as generated from `schema/models/<id>/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelDescriptor {
    /// The model id, e.g. `kling/kling-3.0/standard/text-to-video`.
    pub id: &'static str,
    /// The input schema normalised to JSON Schema (what validation uses).
    pub input_schema: &'static str,
    /// The output schema normalised to JSON Schema.
    pub output_schema: &'static str,
    /// The input schema exactly as RunComfy publishes it.
    pub published_input_schema: &'static str,
    /// The output schema exactly as RunComfy publishes it.
    pub published_output_schema: &'static str,
    /// The model's metadata as RunComfy publishes it (its model info
    /// without the schemas: name, categories, price), from the optional
    /// `model.json` beside the schemas; `{}` where there is none.
    pub published_info: &'static str,
}

impl ModelDescriptor {
    /// Looks a model up by id among every model this crate was built with.
    pub fn find(id: &str) -> Option<&'static ModelDescriptor> {
        crate::models::ALL.iter().copied().find(|m| m.id == id)
    }

    /// Every model this crate was built with.
    pub fn all() -> &'static [&'static ModelDescriptor] {
        crate::models::ALL
    }

    /// The model's metadata (name, categories, listed price) as checked in
    /// beside its schemas, with its published input schema.
    pub fn info(&self) -> crate::ModelInfo {
        let wire = serde_json::from_str(self.published_info).unwrap_or_default();
        let mut info = crate::ModelInfo::from_wire(wire, Some(self.id));
        info.model_id = self.id.to_string();
        info.input_schema = serde_json::from_str(self.published_input_schema).ok();
        info
    }
}
