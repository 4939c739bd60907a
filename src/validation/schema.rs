//! The schema's own rules: the model's normalised input schema, closed to
//! unknown fields, compiled once by the [`jsonschema`] crate, and its
//! failures read as [`Violation`]s.

use super::violation::{Rule, Violation};
use crate::ModelDescriptor;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// A model's normalised input schema, parsed and compiled (or why it
/// could not be).
pub(super) struct Compiled {
    pub(super) schema: Value,
    pub(super) validator: Result<jsonschema::Validator, String>,
}

/// Schemas are parsed and compiled once per schema text (a descriptor
/// built at run time may share an id with a built-in one) and kept for the
/// process. A schema that is not valid JSON Schema validates nothing: every
/// input is refused with a violation saying so.
pub(super) fn compiled(model: &ModelDescriptor) -> Arc<Compiled> {
    static CACHE: OnceLock<Mutex<HashMap<&'static str, Arc<Compiled>>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    cache
        .entry(model.input_schema)
        .or_insert_with(|| {
            let compiled = serde_json::from_str::<Value>(model.input_schema)
                .map_err(|e| e.to_string())
                .and_then(|schema| {
                    jsonschema::validator_for(&closed(&schema))
                        .map(|validator| (schema, validator))
                        .map_err(|e| e.to_string())
                });
            Arc::new(match compiled {
                Ok((schema, validator)) => Compiled {
                    schema,
                    validator: Ok(validator),
                },
                Err(problem) => Compiled {
                    schema: Value::Null,
                    validator: Err(problem),
                },
            })
        })
        .clone()
}

/// `schema` with every object that lists its `properties` closed to other
/// fields (`additionalProperties: false`) unless it says otherwise: a
/// misspelt field (`aspectRatio`) is refused instead of being silently
/// ignored by the server while the job is paid for.
fn closed(schema: &Value) -> Value {
    let mut schema = schema.clone();
    close(&mut schema);
    schema
}

fn close(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if object.contains_key("properties") && !object.contains_key("additionalProperties") {
        object.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        properties.values_mut().for_each(close);
    }
    if let Some(items) = object.get_mut("items") {
        close(items);
    }
}

pub(super) fn violation_from(error: &jsonschema::ValidationError<'_>) -> Violation {
    use jsonschema::error::ValidationErrorKind as Kind;
    let mut path = field_path(error.instance_path().as_str());
    let value = Some(error.instance().clone().into_owned());
    let rule = match error.kind() {
        Kind::Required { property } => {
            let name = property
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| property.to_string());
            path = join(&path, &name);
            return Violation {
                path,
                rule: Rule::Required,
                value: None,
            };
        }
        Kind::AdditionalProperties { unexpected } | Kind::UnevaluatedProperties { unexpected } => {
            let name = unexpected.join(", ");
            let value = error
                .instance()
                .get(unexpected.first().map(String::as_str).unwrap_or(""))
                .cloned();
            return Violation {
                path: join(&path, &name),
                rule: Rule::UnknownField,
                value,
            };
        }
        Kind::Type { kind } => Rule::Type {
            expected: type_names(kind),
        },
        Kind::Enum { options } => Rule::Enum {
            allowed: options.as_array().cloned().unwrap_or_default(),
        },
        Kind::Constant { expected_value } => Rule::Enum {
            allowed: vec![(**expected_value).clone()],
        },
        Kind::Minimum { limit } => Rule::Minimum {
            limit: limit.clone(),
        },
        Kind::Maximum { limit } => Rule::Maximum {
            limit: limit.clone(),
        },
        Kind::ExclusiveMinimum { limit } => Rule::ExclusiveMinimum {
            limit: limit.clone(),
        },
        Kind::ExclusiveMaximum { limit } => Rule::ExclusiveMaximum {
            limit: limit.clone(),
        },
        Kind::MultipleOf { multiple_of } => Rule::MultipleOf { step: *multiple_of },
        Kind::MinItems { limit } => Rule::MinItems { limit: *limit },
        Kind::MaxItems { limit } => Rule::MaxItems { limit: *limit },
        Kind::MinLength { limit } => Rule::MinLength { limit: *limit },
        Kind::MaxLength { limit } => Rule::MaxLength { limit: *limit },
        Kind::Pattern { pattern } => Rule::Pattern {
            pattern: pattern.clone(),
        },
        other => Rule::Schema {
            keyword: other.keyword().to_string(),
            message: error.to_string(),
        },
    };
    Violation { path, rule, value }
}

fn type_names(kind: &jsonschema::error::TypeKind) -> String {
    match kind {
        jsonschema::error::TypeKind::Single(t) => t.to_string(),
        jsonschema::error::TypeKind::Multiple(set) => set
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

/// `/multi_prompt/1/duration` -> `multi_prompt[1].duration`.
pub(crate) fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if token.parse::<usize>().is_ok() && !out.is_empty() {
            out.push_str(&format!("[{token}]"));
        } else {
            out = join(&out, &token);
        }
    }
    out
}

fn join(parent: &str, field: &str) -> String {
    if parent.is_empty() {
        field.to_string()
    } else {
        format!("{parent}.{field}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_readable_paths() {
        assert_eq!(field_path(""), "");
        assert_eq!(field_path("/duration"), "duration");
        assert_eq!(
            field_path("/multi_prompt/1/duration"),
            "multi_prompt[1].duration"
        );
        assert_eq!(field_path("/a~1b/c~0d"), "a/b.c~d");
    }
}
