//! Reading JSON values leniently, as RunComfy's auxiliary fields are
//! sent: a number that may come as a numeric string, any value as text.
//! A leaf: the wire, the catalogue and pricing all read values so.

use serde_json::Value;

/// A JSON value as text: a string as itself, anything else as JSON.
pub(crate) fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A finite number, or a string holding one (as some RunComfy fields are
/// sent).
pub(crate) fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n: &f64| n.is_finite())
}
