//! What a model is: the traits every generated model module implements,
//! and [`ModelDescriptor`], a model's id and schemas with everything this
//! crate does with them (validation, cost, media, metadata), all here.
//!
//! The descriptor's texts are parsed once per process
//! ([`ModelDescriptor::parsed`]); the work itself lives in the layers
//! (`validation`, `pricing`, `media`), which take parsed values, not the
//! descriptor, so that none of them imports this module back.

mod info;
pub(crate) mod parsed;

pub use info::ModelInfo;
pub(crate) use parsed::Parsed;

use crate::media::{MediaError, MediaField, MediaLimits};
use crate::pricing::CostEstimate;
use crate::validation::ValidationError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::Path;

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

    /// The descriptor's texts, parsed once per process (per input schema
    /// text: a descriptor built at run time may share an id with a
    /// built-in one).
    pub(crate) fn parsed(&self) -> &'static Parsed {
        use std::collections::HashMap;
        use std::sync::{Mutex, OnceLock};
        type Cache = Mutex<HashMap<(&'static str, &'static str), &'static Parsed>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let mut cache = CACHE
            .get_or_init(Cache::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        cache
            .entry((self.input_schema, self.published_info))
            // Leaked once per model text: the process's models live as
            // long as it does.
            .or_insert_with(|| {
                Box::leak(Box::new(Parsed::of(self.input_schema, self.published_info)))
            })
    }

    /// The model's metadata (name, categories, listed price) as checked in
    /// beside its schemas, with its published input schema.
    pub fn info(&self) -> ModelInfo {
        let wire = serde_json::from_value(self.parsed().info.clone()).unwrap_or_default();
        let mut info = ModelInfo::from_wire(wire, Some(self.id));
        info.model_id = self.id.to_string();
        info.input_schema = serde_json::from_str(self.published_input_schema).ok();
        info
    }

    /// Validates a JSON input against this model's schema and prose rules,
    /// reporting every violation at once (see
    /// [`Validate`](crate::Validate) for the rules).
    ///
    /// ```
    /// use runcomfy::ModelDescriptor;
    /// use serde_json::json;
    ///
    /// let kling = ModelDescriptor::find("kling/kling-3.0/standard/text-to-video").unwrap();
    /// let error = kling.validate_input(&json!({"prompt": "a fox", "duration": 99})).unwrap_err();
    /// assert_eq!(error.violations[0].path, "duration");
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] listing every
    /// [`Violation`](crate::Violation).
    pub fn validate_input(&self, input: &Value) -> Result<(), ValidationError> {
        crate::validation::check(self.id, self.input_schema, input)
    }

    /// Serialises a typed input, validates it and returns the JSON body.
    pub(crate) fn validate_serialised<T: Serialize>(
        &self,
        input: &T,
    ) -> Result<Value, ValidationError> {
        let value = crate::validation::serialised(self.id, input)?;
        self.validate_input(&value)?;
        Ok(value)
    }

    /// Fills in what a multi-shot body implies and omits: the video's
    /// integer `duration` as the sum of its `multi_prompt` shots, and
    /// `shot_type: customize` where the schema offers it (the schema's
    /// prose rules ask for both). Fields the body gives are kept.
    pub fn complete_from_shots(&self, body: &mut Value) {
        if let Value::Object(body) = body {
            crate::validation::complete_from_shots(&self.parsed().input_schema, body);
        }
    }

    /// Estimates what submitting `input` (a JSON request body) would cost;
    /// `None` when the model lists no price.
    ///
    /// RunComfy lists one price per model (`base_price_usd` per `price_unit`)
    /// and says the rest in prose (`pricing_note`). The checked-in metadata
    /// beside a model's schemas (`schema/models/<id>/model.json`) may add an
    /// `x-runcomfy-estimate` object saying how the price follows the request;
    /// RunComfy does not publish it, and `runcomfy schema pull` keeps it:
    ///
    /// ```json
    /// "x-runcomfy-estimate": {
    ///   "units_from": "duration",
    ///   "price_when_true": { "sound": 0.126 }
    /// }
    /// ```
    ///
    /// - `units_from`: the input field that counts the price units (for a
    ///   per-second price, the video's `duration`); when the input omits it,
    ///   the schema's default counts. Without it, a job is one unit.
    /// - `price_when_true`: boolean input fields that change the unit price
    ///   while true (their schema defaults apply when omitted); the highest
    ///   price that applies wins.
    ///
    /// The estimate is the unit price times the units. It is an estimate: the
    /// job's actual `cost` is what RunComfy reports with the result.
    ///
    /// ```
    /// use runcomfy::ModelDescriptor;
    /// use serde_json::json;
    ///
    /// let kling = ModelDescriptor::find("kling/kling-3.0/standard/text-to-video").unwrap();
    /// let estimate = kling.estimate_cost(&json!({"prompt": "a fox", "duration": 10})).unwrap();
    /// assert!((estimate.usd - 1.26).abs() < 1e-9); // 10 s with sound at $0.126/s
    /// ```
    pub fn estimate_cost(&self, input: &Value) -> Option<CostEstimate> {
        crate::pricing::estimate(self.parsed(), input, None)
    }

    /// As [`estimate_cost`](Self::estimate_cost), at the base price
    /// `base_price_usd` (RunComfy's price now, from
    /// [`Client::model_info`](crate::Client::model_info)) instead of the
    /// checked-in one; the other prices scale with it.
    pub fn estimate_cost_at(&self, input: &Value, base_price_usd: f64) -> Option<CostEstimate> {
        crate::pricing::estimate(self.parsed(), input, Some(base_price_usd))
    }

    /// How much work `input` asks for, in the model's price units (for
    /// Kling, its `duration` in seconds, the schema's default when
    /// omitted): the field `x-runcomfy-estimate.units_from` names. `None`
    /// for a model whose metadata names no such field.
    pub fn work_units(&self, input: &Value) -> Option<f64> {
        self.parsed().work_units(input)
    }

    /// The model's media fields: those whose published `format` says
    /// image, video or audio (see [`crate::media`]).
    pub fn media_fields(&self) -> Vec<MediaField> {
        crate::media::fields_of(&self.parsed().input_schema)
    }

    /// The media values of `body` that are local paths (neither an
    /// `http(s)` URL nor a `data:` URI), named as `image_uri`, or
    /// `image_uris[1]` for a list's item: what
    /// [`inline_local_media`](Self::inline_local_media) would read, and
    /// what RunComfy itself could never fetch.
    pub fn local_media_paths(&self, body: &Value) -> Vec<String> {
        crate::media::local_paths(&self.media_fields(), body)
    }

    /// Replaces every local path in `body`'s media fields with the file as
    /// a `data:` URI (URLs and `data:` URIs stay as they are), then checks
    /// the whole request against `limits` (see [`crate::media`]).
    /// Relative paths are read from the current folder.
    ///
    /// # Errors
    ///
    /// The first [`MediaError`] met; `body` is then partly changed and
    /// must not be sent.
    pub fn inline_local_media(
        &self,
        body: &mut Value,
        limits: &MediaLimits,
    ) -> Result<(), MediaError> {
        crate::media::inline(&self.media_fields(), body, limits, None)
    }

    /// As [`inline_local_media`](Self::inline_local_media), but reads files
    /// only from inside `folder`: for paths a program did not choose, such
    /// as those an agent names.
    ///
    /// Relative paths are taken from `folder`, absolute ones must lie in
    /// it, and a path that leads out of it, by `..` or by a symbolic link,
    /// is refused with [`MediaProblem::OutsideFolder`](crate::media::MediaProblem::OutsideFolder).
    /// A path that leaves by its `..` alone is refused before the file
    /// system is asked, so the refusal tells nothing about files outside.
    ///
    /// # Errors
    ///
    /// The first [`MediaError`] met, as for `inline_local_media`; `body`
    /// is then partly changed and must not be sent.
    pub fn inline_local_media_from(
        &self,
        body: &mut Value,
        folder: &Path,
        limits: &MediaLimits,
    ) -> Result<(), MediaError> {
        crate::media::inline(&self.media_fields(), body, limits, Some(folder))
    }
}
