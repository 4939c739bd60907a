//! A model as RunComfy's catalogue describes it. A leaf: the catalogue
//! calls and the models of this build both describe models so.

use crate::generated::api::types as wire;
use crate::lenient::number;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A model as RunComfy describes it: name, categories, listed price and
/// (from [`Client::model_info`](crate::Client::model_info)) its published input schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelInfo {
    /// The model id, e.g. `kling/kling-3.0/standard/text-to-video`.
    pub model_id: String,
    /// The model's name for people.
    pub display_name: Option<String>,
    /// What the model does, in prose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its categories, e.g. `video`.
    pub categories: Vec<String>,
    /// What the catalogue entry is: `model`, `workflow` or `inference`
    /// (as RunComfy's CLI names them), where RunComfy says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The listed price in US dollars per [`price_unit`](Self::price_unit).
    pub base_price_usd: Option<f64>,
    /// What the price is per, e.g. `second` or `request`.
    pub price_unit: Option<String>,
    /// Pricing details in prose.
    pub pricing_note: Option<String>,
    /// The published (RunComfy dialect) input schema, where sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    /// The published output schema, where sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
}

impl ModelInfo {
    /// Reads the wire type; `asked` is the model id the call named, used
    /// when the answer names none.
    pub(crate) fn from_wire(info: wire::ModelInfo, asked: Option<&str>) -> Self {
        let categories = match info.categories {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|c| c.as_str().map(String::from))
                .collect(),
            Some(Value::String(one)) => vec![one],
            _ => Vec::new(),
        };
        Self {
            model_id: info
                .model_id
                .or_else(|| asked.map(String::from))
                .unwrap_or_default(),
            display_name: info.display_name,
            description: info.description,
            categories,
            kind: info.kind,
            base_price_usd: info.base_price_usd.as_ref().and_then(number),
            price_unit: info.price_unit,
            pricing_note: info.pricing_note,
            input_schema: info.input_schema.map(Value::Object),
            output_schema: info.output_schema.map(Value::Object),
        }
    }
}
