//! RunComfy's schema dialect, normalised into real JSON Schema.
//!
//! RunComfy publishes its model schemas in a JSON-Schema-like dialect that
//! neither JSON Schema validators nor code generators accept as is. This
//! module rewrites one published schema into draft 2020-12 JSON Schema and
//! changes nothing else:
//!
//! | quirk (as published)                                   | normalised to                                          |
//! |--------------------------------------------------------|--------------------------------------------------------|
//! | `{"output": {...}}` wrapper around an output schema    | the inner schema                                       |
//! | `"type": "float"` / `"double"`                         | `"type": "number"`                                     |
//! | `"type": "bool"`, `"int"`, `"str"`                     | `"boolean"`, `"integer"`, `"string"`                   |
//! | UI formats (`str`, `int_slider_with_range`, ...)       | removed; kept as `x-runcomfy-format`                   |
//! | `image_uri` on a string                                | `"format": "uri"`                                      |
//! | `image_uris`/`video_uris`/`audio_uris` arrays          | `items` of `{"type": "string", "format": "uri"}`       |
//! | `items` that lists the item's properties directly      | `items: {"type": "object", "properties": {...}}`       |
//! | `"default": null`                                      | removed                                                |
//! | empty `description` or `title`                         | removed                                                |
//! | `title` (page language or placeholder keys)            | moved to `x-runcomfy-title`, so no tool names types by it |
//!
//! `multipleOf`, `minimum`/`maximum`, `enum`, `required`, `minItems`/`maxItems`
//! are valid JSON Schema already and are kept. A schema this module cannot map
//! (an unknown `type`, a non-object where a schema must be) is refused with a
//! [`DialectError`] naming the JSON pointer and what to do.
//!
//! It runs in `build.rs` (to generate code) and in the crate's tests, never
//! at run time: the library embeds the normalised output `build.rs` wrote.

use serde_json::{Map, Value};
use std::fmt;

/// Widget hints RunComfy's UI reads from `format`; none of them constrains
/// the value beyond its type.
const UI_FORMATS: &[&str] = &[
    "str",
    "int_slider_with_range",
    "float_slider_with_range",
    "int_with_arrows_and_random",
    "str_with_choice",
];

/// Formats that mean "one URL" on a string.
const URI_FORMATS: &[&str] = &["uri", "image_uri", "video_uri", "audio_uri"];

/// Formats that mean "a list of URLs" on an array.
const URI_LIST_FORMATS: &[&str] = &["image_uris", "video_uris", "audio_uris"];

/// The extension keyword that keeps a dialect `format` after normalisation.
pub const FORMAT_EXTENSION: &str = "x-runcomfy-format";
/// The extension keyword that keeps a published `title` after normalisation.
pub const TITLE_EXTENSION: &str = "x-runcomfy-title";

/// Keywords whose value is one schema.
const SCHEMA_KEYWORDS: &[&str] = &[
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
];
/// Keywords whose value is a list of schemas.
const SCHEMA_LIST_KEYWORDS: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems"];
/// Keywords whose value maps names to schemas.
const SCHEMA_MAP_KEYWORDS: &[&str] = &["properties", "patternProperties", "$defs", "definitions"];

/// A published schema that cannot be mapped to JSON Schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialectError {
    /// JSON pointer (RFC 6901) into the published schema.
    pub pointer: String,
    /// What is wrong there.
    pub problem: String,
    /// What to do about it.
    pub hint: String,
}

impl fmt::Display for DialectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "at {pointer}: {}; {}", self.problem, self.hint)
    }
}

impl std::error::Error for DialectError {}

/// Which of a model's two published schemas a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaRole {
    /// The request body schema.
    Input,
    /// The result's `output` schema, published wrapped as `{"output": {...}}`.
    Output,
}

/// Normalises one published schema document into JSON Schema.
pub fn normalise(published: &Value, role: SchemaRole) -> Result<Value, DialectError> {
    let (schema, pointer) = match role {
        SchemaRole::Input => (published, String::new()),
        SchemaRole::Output => unwrap_output(published)?,
    };
    normalise_schema(schema, &pointer)
}

/// Takes the schema out of RunComfy's `{"output": {...}}` wrapper; a schema
/// published without the wrapper is accepted as it is.
fn unwrap_output(published: &Value) -> Result<(&Value, String), DialectError> {
    let object = published.as_object().ok_or_else(|| DialectError {
        pointer: String::new(),
        problem: format!(
            "an output schema must be a JSON object, found {}",
            kind(published)
        ),
        hint: "publish it as {\"output\": {\"type\": \"object\", ...}}".into(),
    })?;
    match object.get("output") {
        Some(inner) if object.len() == 1 && inner.is_object() => Ok((inner, "/output".into())),
        _ => Ok((published, String::new())),
    }
}

fn normalise_schema(schema: &Value, pointer: &str) -> Result<Value, DialectError> {
    let object = match schema {
        Value::Bool(_) => return Ok(schema.clone()),
        Value::Object(object) => object,
        other => {
            return Err(DialectError {
                pointer: pointer.to_string(),
                problem: format!("expected a schema (an object), found {}", kind(other)),
                hint: "replace it with a schema object such as {\"type\": \"string\"}".into(),
            });
        }
    };

    let mut out = Map::new();
    for (key, value) in object {
        let here = child(pointer, key);
        match key.as_str() {
            "type" => {
                out.insert(key.clone(), normalise_type(value, &here)?);
            }
            "format" => {
                if let Some(format) = value.as_str() {
                    normalise_format(format, &mut out);
                } else {
                    out.insert(key.clone(), value.clone());
                }
            }
            "default" if value.is_null() => {}
            "description" | "title" if value.as_str().is_some_and(|s| s.trim().is_empty()) => {}
            "title" => {
                out.insert(TITLE_EXTENSION.into(), value.clone());
            }
            "items" => {
                out.insert(key.clone(), normalise_items(value, &here)?);
            }
            k if SCHEMA_KEYWORDS.contains(&k) => {
                out.insert(key.clone(), normalise_schema(value, &here)?);
            }
            k if SCHEMA_LIST_KEYWORDS.contains(&k) => {
                let list = expect_array(value, &here)?;
                let normalised = list
                    .iter()
                    .enumerate()
                    .map(|(i, s)| normalise_schema(s, &child(&here, &i.to_string())))
                    .collect::<Result<Vec<_>, _>>()?;
                out.insert(key.clone(), Value::Array(normalised));
            }
            k if SCHEMA_MAP_KEYWORDS.contains(&k) => {
                out.insert(key.clone(), normalise_schema_map(value, &here)?);
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }

    // A list of URLs published without `items` gets string-URI items.
    let uri_list = out
        .get(FORMAT_EXTENSION)
        .and_then(Value::as_str)
        .is_some_and(|f| URI_LIST_FORMATS.contains(&f));
    if uri_list && !out.contains_key("items") {
        out.insert(
            "items".into(),
            serde_json::json!({"type": "string", "format": "uri"}),
        );
    }
    Ok(Value::Object(out))
}

fn normalise_schema_map(value: &Value, pointer: &str) -> Result<Value, DialectError> {
    let map = value.as_object().ok_or_else(|| DialectError {
        pointer: pointer.to_string(),
        problem: format!("expected an object of named schemas, found {}", kind(value)),
        hint: "write it as {\"name\": {\"type\": ...}, ...}".into(),
    })?;
    let mut out = Map::new();
    for (name, schema) in map {
        out.insert(
            name.clone(),
            normalise_schema(schema, &child(pointer, name))?,
        );
    }
    Ok(Value::Object(out))
}

/// `items` is either a schema, a (pre-2020) list of schemas, or RunComfy's
/// shorthand that lists the item's properties directly.
fn normalise_items(value: &Value, pointer: &str) -> Result<Value, DialectError> {
    if let Value::Array(list) = value {
        // Draft-04 tuple form; 2020-12 spells it `prefixItems`.
        let normalised = list
            .iter()
            .enumerate()
            .map(|(i, s)| normalise_schema(s, &child(pointer, &i.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Value::Array(normalised));
    }
    if is_bare_property_list(value) {
        let properties = normalise_schema_map(value, pointer)?;
        return Ok(serde_json::json!({"type": "object", "properties": properties}));
    }
    normalise_schema(value, pointer)
}

/// True for an `items` object that is not a schema but a map of property
/// names to schemas: it has no schema keyword of its own and every value is
/// an object.
fn is_bare_property_list(value: &Value) -> bool {
    const SCHEMA_MARKERS: &[&str] = &[
        "type",
        "$ref",
        "properties",
        "items",
        "enum",
        "const",
        "anyOf",
        "oneOf",
        "allOf",
        "format",
        "not",
        "required",
    ];
    let Some(object) = value.as_object() else {
        return false;
    };
    !object.is_empty()
        && !object.keys().any(|k| SCHEMA_MARKERS.contains(&k.as_str()))
        && object.values().all(Value::is_object)
}

fn normalise_type(value: &Value, pointer: &str) -> Result<Value, DialectError> {
    match value {
        Value::String(name) => Ok(Value::String(normalise_type_name(name, pointer)?.into())),
        Value::Array(names) => names
            .iter()
            .enumerate()
            .map(|(i, name)| normalise_type(name, &child(pointer, &i.to_string())))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Err(DialectError {
            pointer: pointer.to_string(),
            problem: format!(
                "`type` must be a string or a list of strings, found {}",
                kind(other)
            ),
            hint: "use one of string, integer, number, boolean, array, object, null".into(),
        }),
    }
}

fn normalise_type_name(name: &str, pointer: &str) -> Result<&'static str, DialectError> {
    Ok(match name {
        "string" | "str" => "string",
        "integer" | "int" => "integer",
        "number" | "float" | "double" => "number",
        "boolean" | "bool" => "boolean",
        "array" => "array",
        "object" => "object",
        "null" => "null",
        unknown => {
            return Err(DialectError {
                pointer: pointer.to_string(),
                problem: format!("unknown type {unknown:?}"),
                hint:
                    "map it to a JSON Schema type in codegen/src/dialect.rs (normalise_type_name) \
                       or correct the schema file"
                        .into(),
            });
        }
    })
}

/// Keeps standard formats, turns URL formats into `uri` and moves widget
/// hints out of the way (typify and validators would otherwise reject or
/// misread them).
fn normalise_format(format: &str, out: &mut Map<String, Value>) {
    if URI_FORMATS.contains(&format) {
        out.insert("format".into(), "uri".into());
        if format != "uri" {
            out.insert(FORMAT_EXTENSION.into(), format.into());
        }
    } else if UI_FORMATS.contains(&format) || URI_LIST_FORMATS.contains(&format) {
        out.insert(FORMAT_EXTENSION.into(), format.into());
    } else {
        out.insert("format".into(), format.into());
    }
}

fn expect_array<'a>(value: &'a Value, pointer: &str) -> Result<&'a Vec<Value>, DialectError> {
    value.as_array().ok_or_else(|| DialectError {
        pointer: pointer.to_string(),
        problem: format!("expected a list of schemas, found {}", kind(value)),
        hint: "write it as [{...}, {...}]".into(),
    })
}

/// Appends one reference token to a JSON pointer, escaping `~` and `/`.
fn child(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", token.replace('~', "~0").replace('/', "~1"))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
