//! Code generation from `schema/`: typed model modules (typify) and the
//! queue-protocol client (progenitor).
//!
//! Compiled by `build.rs` and by `tests/codegen.rs`; it is not part of the
//! library. Every failure is a [`CodegenError`] naming the file, the JSON
//! pointer and what to do; a panic inside typify or progenitor is caught and
//! reported the same way.

use crate::dialect::{self, SchemaRole};
use crate::wire_form;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
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
const PUBLISHED_DIR: &str = "published";

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
    fn new(
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

/// One model's schema files as found under `schema/models/`.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// The model id: the folder's path below `schema/models/`, `/`-separated.
    pub id: String,
    /// `input.json`.
    pub input: PathBuf,
    /// `output.json`.
    pub output: PathBuf,
    /// `model.json`, where there is one.
    pub info: Option<PathBuf>,
}

/// Finds every model under `models_dir`: each folder holding an
/// `input.json` is one model, its id the folder's relative path.
pub fn discover_models(models_dir: &Path) -> Result<Vec<ModelFiles>, CodegenError> {
    let mut models = Vec::new();
    visit(models_dir, models_dir, &mut models)?;
    models.sort_by(|a, b| a.id.cmp(&b.id));
    if models.is_empty() {
        return Err(CodegenError::new(
            models_dir,
            "",
            "no model schemas found",
            format!(
                "put each model's {INPUT_FILE} and {OUTPUT_FILE} in a folder named by its model id"
            ),
        ));
    }
    Ok(models)
}

fn visit(root: &Path, dir: &Path, out: &mut Vec<ModelFiles>) -> Result<(), CodegenError> {
    let io_error = |e: std::io::Error| {
        CodegenError::new(
            dir,
            "",
            format!("cannot read the folder: {e}"),
            "check its permissions",
        )
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(io_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_error)?;
    entries.sort_by_key(|e| e.file_name());
    let input = dir.join(INPUT_FILE);
    if input.is_file() {
        let output = dir.join(OUTPUT_FILE);
        if !output.is_file() {
            return Err(CodegenError::new(
                &output,
                "",
                "the model has an input schema but no output schema",
                "copy the output schema from the model's API page (RunComfy publishes it as {\"output\": {...}})",
            ));
        }
        let id = dir
            .strip_prefix(root)
            .expect("visited folders lie below the root")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let info = Some(dir.join(INFO_FILE)).filter(|p| p.is_file());
        out.push(ModelFiles {
            id,
            input,
            output,
            info,
        });
    }
    for entry in entries {
        if entry.path().is_dir() {
            visit(root, &entry.path(), out)?;
        }
    }
    Ok(())
}

/// One model's schemas: as published and normalised to JSON Schema.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    /// Where it came from.
    pub files: ModelFiles,
    /// `input.json` as published (its text).
    pub published_input_text: String,
    /// `output.json` as published (its text).
    pub published_output_text: String,
    /// `model.json` (its text; `{}` where there is none).
    pub info_text: String,
    /// `output.json` as published.
    pub published_output: Value,
    /// The input schema in JSON Schema.
    pub input: Value,
    /// The output schema in JSON Schema (unwrapped from `{"output": ...}`).
    pub output: Value,
}

/// Reads and normalises one model's schema files.
pub fn load_model(files: &ModelFiles) -> Result<LoadedModel, CodegenError> {
    let (published_input_text, published_input) = read_json(&files.input)?;
    let (published_output_text, published_output) = read_json(&files.output)?;
    let info_text = match &files.info {
        Some(path) => {
            let (text, info) = read_json(path)?;
            check_info(&info, &files.id, path)?;
            text
        }
        None => "{}\n".to_string(),
    };
    let normalise = |value: &Value, role, file: &Path| {
        dialect::normalise(value, role).map_err(|e| CodegenError {
            file: file.to_path_buf(),
            pointer: e.pointer,
            problem: e.problem,
            hint: e.hint,
        })
    };
    let input = normalise(&published_input, SchemaRole::Input, &files.input)?;
    let output = normalise(&published_output, SchemaRole::Output, &files.output)?;
    for (schema, file) in [(&input, &files.input), (&output, &files.output)] {
        if schema.get("type").and_then(Value::as_str) != Some("object") {
            return Err(CodegenError::new(
                file,
                "/type",
                "a model's input and output must be objects",
                "give the schema \"type\": \"object\" and its fields under \"properties\"",
            ));
        }
    }
    Ok(LoadedModel {
        files: files.clone(),
        published_input_text,
        published_output_text,
        info_text,
        published_output,
        input,
        output,
    })
}

fn read_json(path: &Path) -> Result<(String, Value), CodegenError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CodegenError::new(
            path,
            "",
            format!("cannot read the file: {e}"),
            "check that it exists and is UTF-8",
        )
    })?;
    let value = serde_json::from_str(&text).map_err(|e| {
        CodegenError::new(
            path,
            "",
            format!("not valid JSON: {e}"),
            "copy the schema again from the model's API page",
        )
    })?;
    Ok((text, value))
}

/// A model's `model.json` must be an object, and name the model its folder
/// names (if it names one).
fn check_info(info: &Value, id: &str, path: &Path) -> Result<(), CodegenError> {
    let Some(object) = info.as_object() else {
        return Err(CodegenError::new(
            path,
            "",
            "the model's metadata must be a JSON object",
            "write it as RunComfy's model info: {\"model_id\": ..., \"display_name\": ..., \"base_price_usd\": ...}",
        ));
    };
    match object.get("model_id") {
        None => Ok(()),
        Some(Value::String(named)) if named == id => Ok(()),
        Some(other) => Err(CodegenError::new(
            path,
            "/model_id",
            format!("the metadata names model {other}, but its folder is {id:?}"),
            "move the folder, or correct model_id",
        )),
    }
}

/// Generates the `models` module tree for every model, formatted.
pub fn generate_models(models: &[LoadedModel]) -> Result<String, CodegenError> {
    let mut tree = ModuleTree::default();
    let mut all = Vec::new();
    for model in models {
        let path = module_path(&model.files)?;
        let body = generate_model(model)?;
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

/// Generates the queue-protocol client from the OpenAPI file, formatted.
pub fn generate_queue_api(openapi_path: &Path) -> Result<String, CodegenError> {
    let text = std::fs::read_to_string(openapi_path).map_err(|e| {
        CodegenError::new(
            openapi_path,
            "",
            format!("cannot read the file: {e}"),
            "check that it exists",
        )
    })?;
    let raw: Value = serde_json::from_str(&text).map_err(|e| {
        CodegenError::new(
            openapi_path,
            "",
            format!("not valid JSON: {e}"),
            "check the file",
        )
    })?;
    let spec: openapiv3::OpenAPI = serde_json::from_value(raw.clone()).map_err(|e| {
        CodegenError::new(
            openapi_path,
            "",
            format!("not an OpenAPI 3.0 document: {e}"),
            "progenitor reads OpenAPI 3.0.x only; keep \"openapi\": \"3.0.3\"",
        )
    })?;
    let mut settings = progenitor::GenerationSettings::default();
    settings
        .with_interface(progenitor::InterfaceStyle::Positional)
        .with_inner_type(quote! { crate::transport::ApiContext })
        .with_hooks(progenitor::HooksMode::Expected)
        .with_derive("PartialEq")
        .with_replacement(
            "RequestState",
            "crate::RequestState",
            [progenitor::TypeImpl::Display, progenitor::TypeImpl::FromStr].into_iter(),
        );
    let tokens = catch_panic(openapi_path, "progenitor", || {
        progenitor::Generator::new(&settings).generate_tokens(&spec)
    })?
    .map_err(|e| {
        CodegenError::new(
            openapi_path,
            "",
            format!("progenitor cannot generate a client: {e}"),
            "simplify the operation or schema it names (progenitor supports OpenAPI 3.0.x)",
        )
    })?;
    let mut parsed: syn::File = syn::parse2(tokens).map_err(|e| {
        CodegenError::new(
            openapi_path,
            "",
            format!("progenitor produced unparsable code: {e}"),
            "report this with the OpenAPI file",
        )
    })?;
    let missing = wire_form::apply(&mut parsed, &wire_form::literal_slash_parameters(&raw));
    if let Some(name) = missing.first() {
        return Err(CodegenError::new(
            openapi_path,
            "",
            format!(
                "path parameter {name:?} is marked {} but no request path uses it",
                wire_form::LITERAL_SLASHES
            ),
            "check the parameter's name, or update build/wire_form.rs for this progenitor version",
        ));
    }
    Ok(prettyplease::unparse(&parsed))
}

/// The Rust module path of a model: its id's segments, snake-cased.
pub fn module_path(files: &ModelFiles) -> Result<Vec<String>, CodegenError> {
    let path: Vec<String> = files.id.split('/').map(module_name).collect();
    if path.iter().any(|s| s.is_empty()) {
        return Err(CodegenError::new(
            &files.input,
            "",
            format!(
                "model id {:?} has a segment with no letters or digits",
                files.id
            ),
            "rename the model's folder under schema/models/",
        ));
    }
    Ok(path)
}

/// `kling-3.0` -> `kling_3_0`; a leading digit gets a `v` (`3d` -> `v3d`);
/// a keyword gets a trailing underscore.
pub fn module_name(segment: &str) -> String {
    let mut out = String::new();
    for c in segment.chars() {
        if c.is_ascii_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let mut out = out.trim_end_matches('_').to_string();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'v');
    }
    if syn::parse_str::<syn::Ident>(&out).is_err() && !out.is_empty() {
        out.push('_');
    }
    out
}

/// `aspect_ratio` -> `AspectRatio`.
pub fn type_name(property: &str) -> String {
    module_name(property)
        .split('_')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut chars = s.chars();
            let first = chars.next().expect("split parts are not empty");
            first.to_ascii_uppercase().to_string() + chars.as_str()
        })
        .collect()
}

#[derive(Default)]
struct ModuleTree {
    body: Option<TokenStream>,
    children: BTreeMap<String, ModuleTree>,
}

impl ModuleTree {
    fn insert(
        &mut self,
        path: &[String],
        body: TokenStream,
        files: &ModelFiles,
    ) -> Result<(), CodegenError> {
        let mut node = self;
        for segment in path {
            node = node.children.entry(segment.clone()).or_default();
        }
        if node.body.is_some() {
            return Err(CodegenError::new(
                &files.input,
                "",
                format!(
                    "model id {:?} maps to a Rust module another model already uses",
                    files.id
                ),
                "two model ids differ only in punctuation; rename one folder",
            ));
        }
        node.body = Some(body);
        Ok(())
    }

    fn to_tokens(&self) -> TokenStream {
        let children = self.children.iter().map(|(name, child)| {
            let ident = format_ident!("{}", name);
            let inner = child.to_tokens();
            let doc = if child.body.is_some() {
                quote! {}
            } else {
                let text = format!("Models under `{name}`.");
                quote! { #[doc = #text] }
            };
            quote! { #doc pub mod #ident { #inner } }
        });
        let body = self.body.clone().unwrap_or_default();
        quote! { #body #(#children)* }
    }
}

/// A named type hoisted out of a property, so that typify names it after
/// the property rather than after a title or a long parent path.
struct Definition {
    name: String,
    schema: Value,
    file: PathBuf,
    pointer: String,
}

fn generate_model(model: &LoadedModel) -> Result<TokenStream, CodegenError> {
    let mut taken: BTreeSet<String> = ["Input", "Output"].map(String::from).into();
    let mut defs = Vec::new();
    let input = prepare(
        &model.input,
        "Input",
        &model.files.input,
        "",
        &mut taken,
        &mut defs,
    );
    let output_pointer = if model.published_output.get("output").is_some() {
        "/output"
    } else {
        ""
    };
    let output = prepare(
        &model.output,
        "Output",
        &model.files.output,
        output_pointer,
        &mut taken,
        &mut defs,
    );
    let id = &model.files.id;
    let (mut input, mut output) = (input, output);
    input["description"] = format!("The request body of the `{id}` model.").into();
    output["description"] = format!("The `output` of a finished `{id}` job.").into();
    defs.insert(
        0,
        Definition {
            name: "Input".into(),
            schema: input,
            file: model.files.input.clone(),
            pointer: String::new(),
        },
    );
    defs.insert(
        1,
        Definition {
            name: "Output".into(),
            schema: output,
            file: model.files.output.clone(),
            pointer: output_pointer.into(),
        },
    );

    let types = typify_definitions(&defs)?;
    let types = rename_variants(types, &model.files.input)?;
    let constructor = constructor(&types, "Input", &model.files.input)?;

    let marker_name = {
        let base = type_name(
            model
                .files
                .id
                .rsplit('/')
                .next()
                .expect("split yields one part"),
        );
        if taken.contains(&base) {
            format!("{base}Model")
        } else {
            base
        }
    };
    let marker = format_ident!("{}", marker_name);
    let published = |file: &str| format!("/{}", published_path(id, file));
    let normalised = |file: &str| format!("/{}", normalised_path(id, file));
    let (published_input, published_output) = (published(INPUT_FILE), published(OUTPUT_FILE));
    let published_info = published(INFO_FILE);
    let (input_schema, output_schema) = (normalised(INPUT_FILE), normalised(OUTPUT_FILE));
    let module_doc = format!(
        "Types for the `{id}` model, generated from `schema/models/{id}/`.\n\n\
         [`Input`] is the request body, [`Output`] the result's `output`; \
         [`{marker_name}`] names the model for [`crate::Model`]-generic code."
    );
    let marker_doc = format!("The `{id}` model.");
    Ok(quote! {
        #![doc = #module_doc]

        #types

        #constructor

        impl crate::Validate for Input {
            /// Checks this input against the model's schema and prose rules
            /// (see [`crate::validation`]).
            fn validate(&self) -> ::std::result::Result<(), crate::ValidationError> {
                DESCRIPTOR.validate_serialised(self).map(|_| ())
            }
        }

        #[doc = #marker_doc]
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub struct #marker;

        impl crate::Model for #marker {
            type Input = Input;
            type Output = Output;
            const DESCRIPTOR: &'static crate::ModelDescriptor = &DESCRIPTOR;
        }

        /// This model's id and schemas.
        pub static DESCRIPTOR: crate::ModelDescriptor = crate::ModelDescriptor {
            id: #id,
            input_schema: include_str!(concat!(env!("OUT_DIR"), #input_schema)),
            output_schema: include_str!(concat!(env!("OUT_DIR"), #output_schema)),
            published_input_schema: include_str!(concat!(env!("OUT_DIR"), #published_input)),
            published_output_schema: include_str!(concat!(env!("OUT_DIR"), #published_output)),
            published_info: include_str!(concat!(env!("OUT_DIR"), #published_info)),
        };
    })
}

/// Rewrites a normalised object schema for typify: enum, object and
/// object-array properties become named definitions; an optional property's
/// `default` moves into its docs (an omitted field means "the server's
/// default", so the request carries only what the caller set); range rules
/// are spelled out in the docs; `x-` extensions are dropped.
fn prepare(
    schema: &Value,
    owner: &str,
    file: &Path,
    pointer: &str,
    taken: &mut BTreeSet<String>,
    defs: &mut Vec<Definition>,
) -> Value {
    let mut schema = strip_extensions(schema);
    let required: BTreeSet<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return schema;
    };
    for (name, property) in properties.iter_mut() {
        let here = format!("{pointer}/properties/{name}");
        let Some(object) = property.as_object_mut() else {
            continue;
        };
        document_rules(object, !required.contains(name));
        let description = object.get("description").cloned();
        // Moves `schema` into a definition named after the property (with
        // the owner's name in front if that name is taken) and returns the
        // definition's name.
        let mut hoist = |schema: &Map<String, Value>, suffix: &str, pointer: String| {
            let base = format!("{}{suffix}", type_name(name));
            let def_name = if taken.contains(&base) {
                format!("{owner}{base}")
            } else {
                base
            };
            taken.insert(def_name.clone());
            let def_schema = prepare(
                &Value::Object(schema.clone()),
                &def_name,
                file,
                &pointer,
                taken,
                defs,
            );
            defs.push(Definition {
                name: def_name.clone(),
                schema: def_schema,
                file: file.to_path_buf(),
                pointer,
            });
            def_name
        };
        if object.contains_key("enum") || is_object_schema(object) {
            let def_name = hoist(object, "", here);
            *property = reference(&def_name, description);
        } else if let Some(items) = object.get("items").and_then(Value::as_object)
            && (items.contains_key("enum") || is_object_schema(items))
        {
            let def_name = hoist(items, "Item", format!("{here}/items"));
            object.insert("items".into(), reference(&def_name, None));
        }
    }
    schema
}

fn is_object_schema(object: &Map<String, Value>) -> bool {
    object.get("type").and_then(Value::as_str) == Some("object")
        && object.contains_key("properties")
}

fn reference(name: &str, description: Option<Value>) -> Value {
    let mut out = json!({"$ref": format!("#/definitions/{name}")});
    if let Some(description) = description {
        out["description"] = description;
    }
    out
}

/// Moves an optional property's `default` into its description and spells
/// out numeric and length bounds there, so that the generated docs say
/// what the validator enforces.
fn document_rules(object: &mut Map<String, Value>, optional: bool) {
    let mut notes = Vec::new();
    let bound = |key: &str| object.get(key).map(|v| v.to_string());
    match (bound("minimum"), bound("maximum")) {
        (Some(min), Some(max)) => notes.push(format!("Allowed range: {min} to {max}.")),
        (Some(min), None) => notes.push(format!("At least {min}.")),
        (None, Some(max)) => notes.push(format!("At most {max}.")),
        (None, None) => {}
    }
    match (bound("minItems"), bound("maxItems")) {
        (Some(min), Some(max)) => notes.push(format!("Between {min} and {max} items.")),
        (Some(min), None) => notes.push(format!("At least {min} items.")),
        (None, Some(max)) => notes.push(format!("At most {max} items.")),
        (None, None) => {}
    }
    if optional && let Some(default) = object.remove("default") {
        notes.push(format!(
            "When omitted (`None`), the server uses `{default}`."
        ));
    }
    if notes.is_empty() {
        return;
    }
    let description = object
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let joined = notes.join(" ");
    let text = if description.is_empty() {
        joined
    } else {
        format!("{description}\n\n{joined}")
    };
    object.insert("description".into(), text.into());
}

fn strip_extensions(schema: &Value) -> Value {
    match schema {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .filter(|(k, _)| !k.starts_with("x-"))
                .map(|(k, v)| (k.clone(), strip_extensions(v)))
                .collect(),
        ),
        Value::Array(list) => Value::Array(list.iter().map(strip_extensions).collect()),
        other => other.clone(),
    }
}

fn typify_definitions(defs: &[Definition]) -> Result<TokenStream, CodegenError> {
    let to_schema = |d: &Definition| -> Result<schemars::schema::Schema, CodegenError> {
        serde_json::from_value(d.schema.clone()).map_err(|e| {
            CodegenError::new(
                &d.file,
                &d.pointer,
                format!("not a JSON Schema typify can read: {e}"),
                "correct the schema",
            )
        })
    };
    let schemas = defs
        .iter()
        .map(|d| Ok((d.name.clone(), to_schema(d)?)))
        .collect::<Result<Vec<_>, CodegenError>>()?;
    let first = &defs[0];
    let attempt = |schemas: Vec<(String, schemars::schema::Schema)>| {
        catch_panic(&first.file, "typify", move || {
            let mut settings = typify::TypeSpaceSettings::default();
            settings
                .with_struct_builder(false)
                .with_derive("PartialEq".into());
            let mut space = typify::TypeSpace::new(&settings);
            space.add_ref_types(schemas).map(|()| space.to_stream())
        })
    };
    match attempt(schemas.clone()) {
        Ok(Ok(tokens)) => Ok(tokens),
        Ok(Err(_)) | Err(_) => {
            // Find the definition at fault: convert each alone, its
            // neighbours replaced by "anything".
            for (index, def) in defs.iter().enumerate() {
                let isolated = schemas
                    .iter()
                    .enumerate()
                    .map(|(i, (name, schema))| {
                        let schema = if i == index {
                            schema.clone()
                        } else {
                            schemars::schema::Schema::Bool(true)
                        };
                        (name.clone(), schema)
                    })
                    .collect();
                let problem = match attempt(isolated) {
                    Ok(Ok(_)) => continue,
                    Ok(Err(e)) => format!("typify cannot map this schema: {e}"),
                    Err(e) => e.problem,
                };
                let pointer = failing_property(def, |one| attempt(vec![(def.name.clone(), one)]))
                    .map(|name| format!("{}/properties/{name}", def.pointer))
                    .unwrap_or_else(|| def.pointer.clone());
                return Err(CodegenError::new(
                    &def.file,
                    &pointer,
                    problem,
                    "simplify this part of the schema (or teach build/dialect.rs the quirk), then rebuild",
                ));
            }
            Err(CodegenError::new(
                &first.file,
                "",
                "typify cannot map the model's schemas together",
                "check that every $ref names a definition",
            ))
        }
    }
}

/// The first property of an object definition that typify refuses on its
/// own (its siblings removed), to point the error at it.
fn failing_property<T, E>(
    def: &Definition,
    attempt: impl Fn(schemars::schema::Schema) -> Result<Result<T, E>, CodegenError>,
) -> Option<String> {
    let properties = def.schema.get("properties")?.as_object()?;
    properties
        .keys()
        .find(|name| {
            let mut alone = def.schema.clone();
            alone["properties"] = json!({ name.as_str(): properties[name.as_str()].clone() });
            if let Some(required) = alone.get_mut("required").and_then(Value::as_array_mut) {
                required.retain(|r| r == name.as_str());
            }
            let Ok(schema) = serde_json::from_value(alone) else {
                return false;
            };
            !matches!(attempt(schema), Ok(Ok(_)))
        })
        .cloned()
}

/// Runs a generator, turning its panic into an error.
fn catch_panic<T>(file: &Path, tool: &str, f: impl FnOnce() -> T) -> Result<T, CodegenError> {
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

/// Gives enum variants that typify can only spell badly a readable name:
/// `"16:9"` becomes `Ratio16x9` instead of `X169`.
fn rename_variants(tokens: TokenStream, file: &Path) -> Result<syn::File, CodegenError> {
    use syn::visit_mut::VisitMut;
    let mut parsed: syn::File = syn::parse2(tokens).map_err(|e| {
        CodegenError::new(
            file,
            "",
            format!("typify produced unparsable code: {e}"),
            "report this",
        )
    })?;
    let mut renames: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for item in &mut parsed.items {
        if let syn::Item::Enum(item) = item {
            for variant in &mut item.variants {
                if let Some(wire) = serde_rename(&variant.attrs)
                    && let Some(better) = readable_variant_name(&wire)
                {
                    renames
                        .entry(item.ident.to_string())
                        .or_default()
                        .insert(variant.ident.to_string(), better.clone());
                    variant.ident = syn::Ident::new(&better, variant.ident.span());
                }
            }
        }
    }
    struct RenamePaths<'a> {
        enum_name: &'a str,
        renames: &'a BTreeMap<String, String>,
    }
    impl VisitMut for RenamePaths<'_> {
        fn visit_path_mut(&mut self, path: &mut syn::Path) {
            let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
            if let [owner, variant] = segments.as_slice()
                && (owner == "Self" || owner == self.enum_name)
                && let Some(new) = self.renames.get(variant)
            {
                let last = path.segments.last_mut().expect("two segments");
                last.ident = syn::Ident::new(new, last.ident.span());
            }
            syn::visit_mut::visit_path_mut(self, path);
        }
    }
    for item in &mut parsed.items {
        if let syn::Item::Impl(item) = item
            && let syn::Type::Path(self_ty) = &*item.self_ty
            && let Some(last) = self_ty.path.segments.last()
            && let Some(map) = renames.get(&last.ident.to_string())
        {
            let enum_name = last.ident.to_string();
            RenamePaths {
                enum_name: &enum_name,
                renames: map,
            }
            .visit_item_impl_mut(item);
        }
    }
    Ok(parsed)
}

/// `Name::new(required fields...)`: every `Option` field `None`, every list
/// or map empty, each remaining (required) field a parameter taking
/// `impl Into<T>`. With it, `Input { duration: Some(10), ..Input::new("a fox") }`
/// reads well for any model.
fn constructor(types: &syn::File, name: &str, file: &Path) -> Result<TokenStream, CodegenError> {
    let fields = types
        .items
        .iter()
        .find_map(|item| match item {
            syn::Item::Struct(s) if s.ident == name => Some(&s.fields),
            _ => None,
        })
        .ok_or_else(|| {
            CodegenError::new(
                file,
                "",
                format!("typify generated no `{name}` struct"),
                "give the schema \"type\": \"object\"",
            )
        })?;
    let mut params = Vec::new();
    let mut inits = Vec::new();
    let mut required_names = Vec::new();
    for field in fields {
        let ident = field
            .ident
            .as_ref()
            .expect("typify structs have named fields");
        let ty = &field.ty;
        let last = match ty {
            syn::Type::Path(p) => p
                .path
                .segments
                .last()
                .map(|s| s.ident.to_string())
                .unwrap_or_default(),
            _ => String::new(),
        };
        if last == "Option" {
            inits.push(quote! { #ident: ::std::option::Option::None });
        } else if last == "Vec" || last == "Map" || last == "HashMap" || last == "BTreeMap" {
            inits.push(quote! { #ident: ::std::default::Default::default() });
        } else {
            params.push(quote! { #ident: impl ::std::convert::Into<#ty> });
            inits.push(quote! { #ident: #ident.into() });
            required_names.push(format!("`{ident}`"));
        }
    }
    let type_ident = format_ident!("{}", name);
    let doc = if required_names.is_empty() {
        "An input with every field unset: the server's defaults apply.".to_string()
    } else {
        format!(
            "An input with its required {} set and every optional field unset \
             (the server's defaults apply). Set more fields with struct update syntax: \
             `{name} {{ field: Some(value), ..{name}::new(...) }}`.",
            required_names.join(", ")
        )
    };
    Ok(quote! {
        impl #type_ident {
            #[doc = #doc]
            pub fn new(#(#params),*) -> Self {
                Self { #(#inits),* }
            }
        }
    })
}

fn serde_rename(attrs: &[syn::Attribute]) -> Option<String> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                let value: syn::LitStr = meta.value()?.parse()?;
                found = Some(value.value());
            }
            Ok(())
        });
    }
    found
}

/// A better variant name for wire values typify mangles, or `None` to keep
/// typify's. Aspect ratios (`W:H`) read as `Ratio{W}x{H}`.
pub fn readable_variant_name(wire: &str) -> Option<String> {
    let (w, h) = wire.split_once(':')?;
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    (digits(w) && digits(h)).then(|| format!("Ratio{w}x{h}"))
}

fn format_tokens(tokens: TokenStream, file: &Path) -> Result<String, CodegenError> {
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
