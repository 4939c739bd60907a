//! What a job will cost, estimated before it is submitted (see
//! [`ModelDescriptor::estimate_cost`]).

use crate::ModelDescriptor;
use serde_json::Value;

/// The extension key in a model's metadata.
const ESTIMATE_KEY: &str = "x-runcomfy-estimate";

/// A job's estimated price, with how it was reached.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CostEstimate {
    /// The estimate in US dollars.
    pub usd: f64,
    /// The unit price used, in US dollars.
    pub unit_price_usd: f64,
    /// How many units the job is (e.g. seconds of video).
    pub units: f64,
    /// What a unit is, as RunComfy lists it (e.g. `second`).
    pub unit: Option<String>,
}

impl std::fmt::Display for CostEstimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "${:.4}", self.usd)?;
        match &self.unit {
            Some(unit) if self.units != 1.0 => write!(
                f,
                " ({} {unit}s at ${:.4} per {unit})",
                self.units, self.unit_price_usd
            ),
            _ => Ok(()),
        }
    }
}

impl ModelDescriptor {
    /// Estimates what submitting `input` (a JSON request body) would cost;
    /// `None` when the model lists no price.
    ///
    /// RunComfy lists one price per model (`base_price_usd` per `price_unit`)
    /// and says the rest in prose (`pricing_note`). The checked-in metadata
    /// beside a model's schemas (`schema/models/<id>/model.json`) may add an
    /// `x-runcomfy-estimate` object saying how the price follows the request;
    /// RunComfy does not publish it, and `runcomfy schema pull` keeps it:
    ///
    /// ```json
    /// "x-runcomfy-estimate": {
    ///   "units_from": "duration",
    ///   "price_when_true": { "sound": 0.126 }
    /// }
    /// ```
    ///
    /// - `units_from`: the input field that counts the price units (for a
    ///   per-second price, the video's `duration`); when the input omits it,
    ///   the schema's default counts. Without it, a job is one unit.
    /// - `price_when_true`: boolean input fields that change the unit price
    ///   while true (their schema defaults apply when omitted); the highest
    ///   price that applies wins.
    ///
    /// The estimate is the unit price times the units. It is an estimate: the
    /// job's actual `cost` is what RunComfy reports with the result.
    ///
    /// ```
    /// use runcomfy::ModelDescriptor;
    /// use serde_json::json;
    ///
    /// let kling = ModelDescriptor::find("kling/kling-3.0/standard/text-to-video").unwrap();
    /// let estimate = kling.estimate_cost(&json!({"prompt": "a fox", "duration": 10})).unwrap();
    /// assert!((estimate.usd - 1.26).abs() < 1e-9); // 10 s with sound at $0.126/s
    /// ```
    pub fn estimate_cost(&self, input: &Value) -> Option<CostEstimate> {
        self.estimate(input, None)
    }

    /// As [`estimate_cost`](Self::estimate_cost), at the base price
    /// `base_price_usd` (RunComfy's price now, from
    /// [`Client::model_info`](crate::Client::model_info)) instead of the
    /// checked-in one; the other prices scale with it.
    pub fn estimate_cost_at(&self, input: &Value, base_price_usd: f64) -> Option<CostEstimate> {
        self.estimate(input, Some(base_price_usd))
    }

    /// How much work `input` asks for, in the model's price units (for
    /// Kling, its `duration` in seconds, the schema's default when
    /// omitted): the field `x-runcomfy-estimate.units_from` names. `None`
    /// for a model whose metadata names no such field.
    pub fn work_units(&self, input: &Value) -> Option<f64> {
        let info: Value = serde_json::from_str(self.published_info).ok()?;
        let field = info.get(ESTIMATE_KEY)?.get("units_from")?.as_str()?;
        let schema: Value = serde_json::from_str(self.input_schema).ok()?;
        input
            .get(field)
            .or_else(|| schema["properties"][field].get("default"))
            .and_then(crate::lenient::number)
    }

    fn estimate(&self, input: &Value, live_base: Option<f64>) -> Option<CostEstimate> {
        let info: Value = serde_json::from_str(self.published_info).unwrap_or(Value::Null);
        let listed = info.get("base_price_usd").and_then(crate::lenient::number);
        let base = live_base.or(listed)?;
        // Prices that follow the request scale with the base price.
        let scale = match (live_base, listed) {
            (Some(live), Some(listed)) if listed > 0.0 => live / listed,
            _ => 1.0,
        };
        let rules = info.get(ESTIMATE_KEY).cloned().unwrap_or(Value::Null);
        let schema: Value = serde_json::from_str(self.input_schema).unwrap_or(Value::Null);
        let field = |name: &str| {
            input
                .get(name)
                .or_else(|| schema["properties"][name].get("default"))
                .cloned()
        };
        let unit_price = rules["price_when_true"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(name, _)| field(name) == Some(Value::Bool(true)))
            .filter_map(|(_, price)| crate::lenient::number(price))
            .map(|price| price * scale)
            .fold(base, f64::max);
        let units = match rules["units_from"].as_str() {
            Some(name) => field(name).as_ref().and_then(crate::lenient::number)?,
            None => 1.0,
        };
        let usd = unit_price * units;
        (usd.is_finite() && usd >= 0.0).then(|| CostEstimate {
            usd,
            unit_price_usd: unit_price,
            units,
            unit: info
                .get("price_unit")
                .and_then(Value::as_str)
                .map(String::from),
        })
    }
}
