//! A model's schemas and metadata, parsed once: the normalised input
//! schema, the published metadata (`model.json`) and its typed estimate
//! rule. A leaf: every reader of a model's texts reads them here.

use serde::Deserialize;
use serde_json::Value;

/// What a model's embedded texts say, parsed.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// The normalised input schema (`Null` if it is not JSON).
    pub(crate) input_schema: Value,
    /// The published metadata (`model.json`; `{}` where there is none).
    pub(crate) info: Value,
    /// How the price follows the request (`x-runcomfy-estimate`), where
    /// the metadata says.
    pub(crate) estimate: Option<EstimateRule>,
}

/// How a model's listed price follows the request: the metadata's
/// `x-runcomfy-estimate` (see
/// [`ModelDescriptor::estimate_cost`](crate::ModelDescriptor::estimate_cost)).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub(crate) struct EstimateRule {
    /// The input field that counts the price units (a per-second price's
    /// `duration`); a job is one unit without it.
    #[serde(default)]
    pub(crate) units_from: Option<String>,
    /// Boolean input fields that raise the unit price while true.
    #[serde(default)]
    pub(crate) price_when_true: serde_json::Map<String, Value>,
}

/// The metadata key of the estimate rule.
const ESTIMATE_KEY: &str = "x-runcomfy-estimate";

impl Parsed {
    /// Parses a model's input schema and metadata texts.
    pub(crate) fn of(input_schema: &str, info: &str) -> Self {
        let info: Value = serde_json::from_str(info).unwrap_or(Value::Null);
        let estimate = info
            .get(ESTIMATE_KEY)
            .and_then(|rule| serde_json::from_value(rule.clone()).ok());
        Self {
            input_schema: serde_json::from_str(input_schema).unwrap_or(Value::Null),
            info,
            estimate,
        }
    }

    /// The value `input` gives `field`, else the schema's default for it:
    /// what the server applies to a request that omits the field.
    pub(crate) fn field_or_default(&self, input: &Value, field: &str) -> Option<Value> {
        input
            .get(field)
            .or_else(|| self.input_schema["properties"][field].get("default"))
            .cloned()
    }

    /// How much work `input` asks for, in the price's units: the field the
    /// estimate rule counts by (for Kling, `duration`: seconds of video),
    /// else its default; `None` where the rule names no such field.
    pub(crate) fn work_units(&self, input: &Value) -> Option<f64> {
        let field = self.estimate.as_ref()?.units_from.as_deref()?;
        self.field_or_default(input, field)
            .as_ref()
            .and_then(crate::lenient::number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_estimate_rule_is_typed_and_defaults_are_the_schemas() {
        let parsed = Parsed::of(
            r#"{"properties": {"duration": {"type": "integer", "default": 5}}}"#,
            r#"{"base_price_usd": 0.1, "x-runcomfy-estimate": {"units_from": "duration", "price_when_true": {"sound": 0.2}}}"#,
        );
        let rule = parsed.estimate.as_ref().expect("a rule");
        assert_eq!(rule.units_from.as_deref(), Some("duration"));
        assert_eq!(rule.price_when_true["sound"], 0.2);
        assert_eq!(parsed.work_units(&json!({})), Some(5.0));
        assert_eq!(parsed.work_units(&json!({"duration": "8"})), Some(8.0));
        let bare = Parsed::of("{}", "not json");
        assert!(bare.estimate.is_none() && bare.work_units(&json!({})).is_none());
    }
}
