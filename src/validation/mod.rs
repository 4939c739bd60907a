//! Checks a model input against the model's schema and prose rules before
//! anything is sent (see [`Validate`]).

mod prose;
mod schema;
mod violation;

pub(crate) use prose::complete_from_shots;
pub use violation::{Rule, ValidationError, Violation};

use serde::Serialize;
use serde_json::Value;

/// Checks a model input against the model's rules before anything is
/// sent; every generated `Input` implements it.
///
/// Two sources of rules, both applied and all violations reported at once:
///
/// 1. **The schema.** Every JSON Schema keyword of the model's normalised
///    input schema (`required`, `type`, `enum`, `minimum`/`maximum`,
///    `minItems`/`maxItems`, item constraints, ...), checked by the
///    [`boon`] crate against the schema that `build.rs` embedded. A
///    schema change therefore changes validation with no code edit.
///    Objects that list their `properties` are closed: a field the schema
///    does not name is refused ([`Rule::UnknownField`]), since RunComfy
///    would ignore a misspelt field and still charge for the job.
/// 2. **What the schema says only in prose**, recognised by shape so that any
///    model with the same fields gets them:
///    `multi_prompt` segment durations must add up to `duration` (an omitted
///    `duration` means its default), and `shot_type: customize` needs a
///    non-empty `multi_prompt`.
///
/// ```
/// use runcomfy::models::kling::kling_3_0::standard::text_to_video::Input;
/// use runcomfy::Validate;
///
/// let input = Input { duration: Some(99), ..Input::new("a red fox") };
/// let error = input.validate().unwrap_err();
/// assert_eq!(error.to_string(), "invalid input for kling/kling-3.0/standard/text-to-video: \
///     duration: must be at most 15 (got 99)");
/// ```
pub trait Validate {
    /// Checks this input against its model's schema and prose rules.
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] listing every [`Violation`] at once.
    fn validate(&self) -> Result<(), ValidationError>;
}

/// `input` checked against model `model_id`'s normalised input schema
/// (the text `input_schema`) and its prose rules, every violation at once.
pub(crate) fn check(
    model_id: &str,
    input_schema: &'static str,
    input: &Value,
) -> Result<(), ValidationError> {
    let compiled = schema::compiled(input_schema);
    let mut violations: Vec<Violation> = match &compiled.validator {
        Ok(validator) => validator.violations(input),
        Err(problem) => vec![Violation {
            path: String::new(),
            rule: Rule::Schema {
                keyword: "schema".into(),
                message: format!("the model's input schema cannot be used: {problem}"),
            },
            value: None,
        }],
    };
    violations.extend(prose::violations(&compiled.schema, input));
    if violations.is_empty() {
        Ok(())
    } else {
        Err(ValidationError {
            model_id: model_id.to_string(),
            violations,
        })
    }
}

/// A typed input as JSON, or why it cannot be one.
pub(crate) fn serialised<T: Serialize>(
    model_id: &str,
    input: &T,
) -> Result<Value, ValidationError> {
    serde_json::to_value(input).map_err(|e| ValidationError {
        model_id: model_id.to_string(),
        violations: vec![Violation {
            path: String::new(),
            rule: Rule::Schema {
                keyword: "serialize".into(),
                message: e.to_string(),
            },
            value: None,
        }],
    })
}

/// Any schema compiled and `input` checked against it (for the fuzz
/// targets: a refused schema or violations, never a panic).
#[cfg(fuzzing)]
pub(crate) fn fuzz_schema(schema: &Value, input: &Value) {
    if let Ok(violations) = schema::check_with(schema, input) {
        violations.iter().for_each(|v| drop(v.to_string()));
    }
}
