//! The code generator behind `runcomfy`: RunComfy's schemas to Rust
//! types, its OpenAPI file to a client. Two pipelines:
//!
//! ```text
//! schema/models/<id>/{input,output,model}.json
//!     -> discover_models, load_model        (discovery: files, model.json checks)
//!     -> dialect::normalise                 (RunComfy's dialect -> JSON Schema)
//!     -> hoist, names, variants             (named, documented definitions)
//!     -> typify, constructor, model         (types, Input::new, descriptor)
//!     -> generate_models                    => models.rs (+ normalised schemas)
//!
//! schema/queue-api.openapi.json
//!     -> wire_form::for_generator           (2XX only, plain path parameters)
//!     -> progenitor                          (the client, with hooks)
//!     -> wire_form::apply                    (literal slashes, no api-version)
//!     -> generate_queue_api                 => queue_api.rs (+ PAID_OPERATIONS)
//! ```
//!
//! Used by the crate's `build.rs` (into `OUT_DIR`), its snapshot tests and
//! the `codegen` fuzz target; it is not part of the library. One file per
//! job:
//!
//! | file | job |
//! |---|---|
//! | `dialect.rs` | RunComfy's schema dialect, normalised to JSON Schema |
//! | `discovery.rs` | finding and loading each model's schema folder |
//! | `names.rs` | Rust names from model ids and properties; the module tree |
//! | `hoist.rs` | named definitions for enums and objects, documented rules |
//! | `typify_run.rs` | running typify, and pointing at the schema it refuses |
//! | `variants.rs` | readable enum variant names |
//! | `constructor.rs` | `Input::new(required fields...)` |
//! | `model.rs` | one model's module: types, marker, descriptor |
//! | `queue_api.rs` | the queue-protocol client (progenitor) |
//! | `wire_form.rs` | bringing progenitor's client to RunComfy's wire form |
//!
//! Every failure is a [`CodegenError`] naming the file, the JSON pointer
//! and what to do; a panic inside typify or progenitor is caught and
//! reported the same way.

mod constructor;
pub mod dialect;
mod discovery;
mod hoist;
mod model;
mod names;
mod queue_api;
mod typify_run;
mod variants;
pub mod wire_form;

pub use discovery::{LoadedModel, ModelFiles, discover_models, load_model, model_from_texts};
pub use names::{module_name, module_path, type_name};
pub use queue_api::generate_queue_api;
pub use variants::readable_variant_name;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};

/// The file name of a model's published input schema.
pub const INPUT_FILE: &str = "input.json";
/// The file name of a model's published output schema.
pub const OUTPUT_FILE: &str = "output.json";
/// The file name of a model's published metadata (RunComfy's model info
/// without its schemas: name, categories, price); optional.
pub const INFO_FILE: &str = "model.json";
/// Where the published files are copied below `OUT_DIR`, beside the
/// normalised ones.
pub(crate) const PUBLISHED_DIR: &str = "published";

/// A schema that could not be turned into Rust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodegenError {
    /// The schema file (or folder) at fault.
    pub file: PathBuf,
    /// JSON pointer into that file; empty for the whole file.
    pub pointer: String,
    /// What is wrong.
    pub problem: String,
    /// What to do about it.
    pub hint: String,
}

impl fmt::Display for CodegenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(
            f,
            "{}: at {pointer}: {}\n  help: {}",
            self.file.display(),
            self.problem,
            self.hint
        )
    }
}

impl std::error::Error for CodegenError {}

impl CodegenError {
    pub(crate) fn new(
        file: &Path,
        pointer: &str,
        problem: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_path_buf(),
            pointer: pointer.to_string(),
            problem: problem.into(),
            hint: hint.into(),
        }
    }
}

/// Generates the `models` module tree for every model, formatted.
pub fn generate_models(models: &[LoadedModel]) -> Result<String, CodegenError> {
    let mut tree = names::ModuleTree::default();
    let mut all = Vec::new();
    for model in models {
        let path = module_path(&model.files)?;
        let body = model::generate_model(model)?;
        let idents: Vec<_> = path.iter().map(|s| format_ident!("{}", s)).collect();
        all.push(quote! { &#(#idents)::*::DESCRIPTOR });
        tree.insert(&path, body, &model.files)?;
    }
    let modules = tree.to_tokens();
    let tokens = quote! {
        #modules

        /// Every model this crate was generated for, in model-id order.
        pub static ALL: &[&crate::ModelDescriptor] = &[#(#all),*];
    };
    format_tokens(tokens, &models[0].files.input)
}

/// Where a model's normalised schema goes below `OUT_DIR`.
pub fn normalised_path(id: &str, file: &str) -> String {
    format!("schemas/{id}/{file}")
}

/// Where a model's published file is copied below `OUT_DIR`.
pub fn published_path(id: &str, file: &str) -> String {
    format!("{PUBLISHED_DIR}/{id}/{file}")
}

/// The files the generated code embeds: (path below `OUT_DIR`, contents)
/// for every model's normalised input and output schemas, and copies of its
/// published schemas and metadata (so that a model from outside the crate
/// embeds the same way as a built-in one).
pub fn normalised_schema_files(models: &[LoadedModel]) -> Vec<(String, String)> {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).expect("JSON values serialise") + "\n";
    models
        .iter()
        .flat_map(|m| {
            let id = &m.files.id;
            [
                (normalised_path(id, INPUT_FILE), pretty(&m.input)),
                (normalised_path(id, OUTPUT_FILE), pretty(&m.output)),
                (
                    published_path(id, INPUT_FILE),
                    m.published_input_text.clone(),
                ),
                (
                    published_path(id, OUTPUT_FILE),
                    m.published_output_text.clone(),
                ),
                (published_path(id, INFO_FILE), m.info_text.clone()),
            ]
        })
        .collect()
}

pub(crate) fn format_tokens(tokens: TokenStream, file: &Path) -> Result<String, CodegenError> {
    let parsed: syn::File = syn::parse2(tokens).map_err(|e| {
        CodegenError::new(
            file,
            "",
            format!("generated code does not parse: {e}"),
            "report this with the schema file",
        )
    })?;
    Ok(prettyplease::unparse(&parsed))
}

/// Runs a generator, turning its panic into an error.
pub(crate) fn catch_panic<T>(
    file: &Path,
    tool: &str,
    f: impl FnOnce() -> T,
) -> Result<T, CodegenError> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    result.map_err(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "no message".into());
        CodegenError::new(
            file,
            "",
            format!("{tool} panicked: {message}"),
            "the schema uses a construct the generator does not support; simplify it",
        )
    })
}
