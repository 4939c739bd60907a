//! What a broken rule looks like: the error, each violation, each rule.

use crate::quote::excerpt;
use serde_json::Value;
use std::fmt;

/// How many characters of an offending value a message quotes.
const VALUE_EXCERPT_CHARS: usize = 60;

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
            (Some(value), _) => write!(
                f,
                " (got {})",
                excerpt(&value.to_string(), VALUE_EXCERPT_CHARS)
            ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_in_messages() {
        let violation = Violation {
            path: "prompt".into(),
            rule: Rule::MaxLength { limit: 10 },
            value: Some(Value::String("x".repeat(500))),
        };
        assert!(violation.to_string().len() < 120, "{violation}");
    }
}
