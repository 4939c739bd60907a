//! Finding each model's schema folder under `schema/models/` (or another
//! root) and loading its files: published, normalised and metadata.

use super::dialect::{self, SchemaRole};
use super::{CodegenError, INFO_FILE, INPUT_FILE, OUTPUT_FILE};
use serde_json::Value;
use std::path::{Path, PathBuf};

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
    let input = read_text(&files.input)?;
    let output = read_text(&files.output)?;
    let info = match &files.info {
        Some(path) => Some(read_text(path)?),
        None => None,
    };
    model_from_texts(files, input, output, info)
}

/// A model from its files' texts (what [`load_model`] read, or what a
/// fuzz target made up).
pub fn model_from_texts(
    files: &ModelFiles,
    published_input_text: String,
    published_output_text: String,
    info_text: Option<String>,
) -> Result<LoadedModel, CodegenError> {
    let published_input = parse_json(&files.input, &published_input_text)?;
    let published_output = parse_json(&files.output, &published_output_text)?;
    let info_text = match (&files.info, info_text) {
        (Some(path), Some(text)) => {
            check_info(&parse_json(path, &text)?, &files.id, path)?;
            text
        }
        _ => "{}\n".to_string(),
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
    // An input lists its fields (an input without any is a misspelt
    // "properties", and a request body no one could build).
    if !input.get("properties").is_some_and(Value::is_object) {
        return Err(CodegenError::new(
            &files.input,
            "/properties",
            "the input schema lists no fields",
            "list the model's fields under \"properties\": {\"prompt\": {\"type\": \"string\"}, ...}",
        ));
    }
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

fn read_text(path: &Path) -> Result<String, CodegenError> {
    std::fs::read_to_string(path).map_err(|e| {
        CodegenError::new(
            path,
            "",
            format!("cannot read the file: {e}"),
            "check that it exists and is UTF-8",
        )
    })
}

fn parse_json(path: &Path, text: &str) -> Result<Value, CodegenError> {
    serde_json::from_str(text).map_err(|e| {
        CodegenError::new(
            path,
            "",
            format!("not valid JSON: {e}"),
            "copy the schema again from the model's API page",
        )
    })
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
