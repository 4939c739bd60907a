//! Checks a model input against the model's schema before anything is sent.
//!
//! Two sources of rules, both applied and all violations reported at once:
//!
//! 1. **The schema.** Every JSON Schema keyword of the model's normalised
//!    input schema (`required`, `type`, `enum`, `minimum`/`maximum`,
//!    `minItems`/`maxItems`, item constraints, ...), checked by the
//!    [`jsonschema`] crate against the schema that `build.rs` embedded. A
//!    schema change therefore changes validation with no code edit.
//!    Objects that list their `properties` are closed: a field the schema
//!    does not name is refused ([`Rule::UnknownField`]), since RunComfy
//!    would ignore a misspelt field and still charge for the job.
//! 2. **What the schema says only in prose**, recognised by shape so that any
//!    model with the same fields gets them (see [`crate::multi_prompt`]):
//!    `multi_prompt` segment durations must add up to `duration` (an omitted
//!    `duration` means its default), and `shot_type: customize` needs a
//!    non-empty `multi_prompt`.
//!
//! ```
//! use runcomfy::models::kling::kling_3_0::standard::text_to_video::Input;
//! use runcomfy::Validate;
//!
//! let input = Input { duration: Some(99), ..Input::new("a red fox") };
//! let error = input.validate().unwrap_err();
//! assert_eq!(error.to_string(), "invalid input for kling/kling-3.0/standard/text-to-video: \
//!     duration: must be at most 15 (got 99)");
//! ```

use crate::ModelDescriptor;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

/// Validation for a generated model input type.
pub trait Validate {
    /// Checks this input against its model's schema and prose rules.
    fn validate(&self) -> Result<(), ValidationError>;
}

/// An input that breaks one or more of its model's rules.
///
/// Its `Display` lists every violation, one per line after the first:
/// `invalid input for <model>: <path>: <rule> (got <value>)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationError {
    /// The model whose rules were broken.
    pub model_id: String,
    /// Every violation found, in schema order then prose-rule order.
    pub violations: Vec<Violation>,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid input for {}: ", self.model_id)?;
        for (i, violation) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{violation}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationError {}

/// One broken rule: where, which rule, and the offending value.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The field path, e.g. `multi_prompt[1].duration`; empty for the input
    /// itself.
    pub path: String,
    /// The rule that was broken.
    pub rule: Rule,
    /// The offending value, where there is one (absent for a missing field).
    pub value: Option<Value>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "input"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.rule)?;
        match (&self.value, &self.rule) {
            // These rules already quote the numbers that matter.
            (_, Rule::MultiPromptDurationMismatch { .. } | Rule::CustomizeNeedsMultiPrompt) => {
                Ok(())
            }
            (Some(value), _) => write!(f, " (got {})", excerpt(value)),
            (None, _) => Ok(()),
        }
    }
}

/// A rule an input can break.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Rule {
    /// A required field is missing.
    Required,
    /// The value has the wrong JSON type.
    Type {
        /// The type(s) the schema allows.
        expected: String,
    },
    /// The value is not one of the allowed values.
    Enum {
        /// The allowed values.
        allowed: Vec<Value>,
    },
    /// Below `minimum`.
    Minimum {
        /// The smallest allowed value.
        limit: Value,
    },
    /// Above `maximum`.
    Maximum {
        /// The largest allowed value.
        limit: Value,
    },
    /// At or below `exclusiveMinimum`.
    ExclusiveMinimum {
        /// The value must be greater than this.
        limit: Value,
    },
    /// At or above `exclusiveMaximum`.
    ExclusiveMaximum {
        /// The value must be less than this.
        limit: Value,
    },
    /// Not a multiple of `multipleOf`.
    MultipleOf {
        /// The required step.
        step: f64,
    },
    /// Fewer items than `minItems`.
    MinItems {
        /// The fewest items allowed.
        limit: u64,
    },
    /// More items than `maxItems`.
    MaxItems {
        /// The most items allowed.
        limit: u64,
    },
    /// Shorter than `minLength`.
    MinLength {
        /// The shortest length allowed, in characters.
        limit: u64,
    },
    /// Longer than `maxLength`.
    MaxLength {
        /// The longest length allowed, in characters.
        limit: u64,
    },
    /// Does not match `pattern`.
    Pattern {
        /// The regular expression.
        pattern: String,
    },
    /// A field the schema does not allow.
    UnknownField,
    /// `multi_prompt` segment durations do not add up to the video's
    /// `duration` (prose rule of the Kling schemas).
    MultiPromptDurationMismatch {
        /// The sum of the segment durations, in seconds (wide enough that
        /// no sum of JSON integers overflows it).
        segments_total: i128,
        /// The video's duration (its default when omitted), in seconds.
        duration: i128,
    },
    /// `shot_type` is `customize` but `multi_prompt` is empty or missing.
    CustomizeNeedsMultiPrompt,
    /// Any other JSON Schema keyword.
    Schema {
        /// The keyword, e.g. `uniqueItems`.
        keyword: String,
        /// The validator's description of the failure.
        message: String,
    },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Required => f.write_str("is required"),
            Self::Type { expected } => write!(f, "must be of type {expected}"),
            Self::Enum { allowed } => {
                let allowed: Vec<String> = allowed.iter().map(Value::to_string).collect();
                write!(f, "must be one of {}", allowed.join(", "))
            }
            Self::Minimum { limit } => write!(f, "must be at least {limit}"),
            Self::Maximum { limit } => write!(f, "must be at most {limit}"),
            Self::ExclusiveMinimum { limit } => write!(f, "must be greater than {limit}"),
            Self::ExclusiveMaximum { limit } => write!(f, "must be less than {limit}"),
            Self::MultipleOf { step } => write!(f, "must be a multiple of {step}"),
            Self::MinItems { limit } => write!(f, "must have at least {limit} items"),
            Self::MaxItems { limit } => write!(f, "must have at most {limit} items"),
            Self::MinLength { limit } => write!(f, "must be at least {limit} characters long"),
            Self::MaxLength { limit } => write!(f, "must be at most {limit} characters long"),
            Self::Pattern { pattern } => write!(f, "must match the pattern {pattern}"),
            Self::UnknownField => f.write_str("is not a field of this model"),
            Self::MultiPromptDurationMismatch {
                segments_total,
                duration,
            } => write!(
                f,
                "segment durations add up to {segments_total} s but duration is {duration} s"
            ),
            Self::CustomizeNeedsMultiPrompt => {
                f.write_str("shot_type customize needs at least one multi_prompt segment")
            }
            Self::Schema { keyword, message } => write!(f, "breaks `{keyword}`: {message}"),
        }
    }
}

impl Rule {
    /// A short machine-readable name, e.g. `maximum` or
    /// `multi_prompt_duration_mismatch`.
    pub fn code(&self) -> &str {
        match self {
            Self::Required => "required",
            Self::Type { .. } => "type",
            Self::Enum { .. } => "enum",
            Self::Minimum { .. } => "minimum",
            Self::Maximum { .. } => "maximum",
            Self::ExclusiveMinimum { .. } => "exclusive_minimum",
            Self::ExclusiveMaximum { .. } => "exclusive_maximum",
            Self::MultipleOf { .. } => "multiple_of",
            Self::MinItems { .. } => "min_items",
            Self::MaxItems { .. } => "max_items",
            Self::MinLength { .. } => "min_length",
            Self::MaxLength { .. } => "max_length",
            Self::Pattern { .. } => "pattern",
            Self::UnknownField => "unknown_field",
            Self::MultiPromptDurationMismatch { .. } => "multi_prompt_duration_mismatch",
            Self::CustomizeNeedsMultiPrompt => "customize_needs_multi_prompt",
            Self::Schema { keyword, .. } => keyword,
        }
    }
}

impl ModelDescriptor {
    /// Validates a JSON input against this model's schema and prose rules.
    pub fn validate_input(&self, input: &Value) -> Result<(), ValidationError> {
        let compiled = compiled(self);
        let mut violations: Vec<Violation> = match &compiled.validator {
            Ok(validator) => validator
                .iter_errors(input)
                .map(|e| violation_from(&e))
                .collect(),
            Err(problem) => vec![Violation {
                path: String::new(),
                rule: Rule::Schema {
                    keyword: "schema".into(),
                    message: format!("the model's input schema cannot be used: {problem}"),
                },
                value: None,
            }],
        };
        violations.extend(crate::multi_prompt::violations(&compiled.schema, input));
        if violations.is_empty() {
            Ok(())
        } else {
            Err(ValidationError {
                model_id: self.id.to_string(),
                violations,
            })
        }
    }

    /// Serialises a typed input, validates it and returns the JSON body.
    pub fn validate_serialised<T: Serialize>(&self, input: &T) -> Result<Value, ValidationError> {
        let value = serde_json::to_value(input).map_err(|e| ValidationError {
            model_id: self.id.to_string(),
            violations: vec![Violation {
                path: String::new(),
                rule: Rule::Schema {
                    keyword: "serialize".into(),
                    message: e.to_string(),
                },
                value: None,
            }],
        })?;
        self.validate_input(&value)?;
        Ok(value)
    }
}

/// A model's normalised input schema, parsed and compiled (or why it
/// could not be).
struct Compiled {
    schema: Value,
    validator: Result<jsonschema::Validator, String>,
}

/// Schemas are parsed and compiled once per schema text (a descriptor
/// built at run time may share an id with a built-in one) and kept for the
/// process. A schema that is not valid JSON Schema validates nothing: every
/// input is refused with a violation saying so.
fn compiled(model: &ModelDescriptor) -> Arc<Compiled> {
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

fn violation_from(error: &jsonschema::ValidationError<'_>) -> Violation {
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

/// At most 60 characters of a value's JSON, so a long prompt does not
/// flood an error message.
fn excerpt(value: &Value) -> String {
    const LIMIT: usize = 60;
    let text = value.to_string();
    if text.chars().count() <= LIMIT {
        text
    } else {
        let cut: String = text.chars().take(LIMIT).collect();
        format!("{cut}...")
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

    #[test]
    fn long_values_are_cut_in_messages() {
        let value = Value::String("x".repeat(500));
        assert!(excerpt(&value).len() < 70);
    }
}
