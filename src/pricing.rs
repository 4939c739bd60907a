//! What a job will cost, estimated before it is submitted (see
//! [`ModelDescriptor::estimate_cost`](crate::ModelDescriptor::estimate_cost)
//! for the rule).

use crate::lenient::number;
use crate::model::parsed::Parsed;
use serde_json::Value;

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

/// The estimate of `input` under a model's parsed metadata, at its listed
/// base price or at `live_base` (the prices the rule names scale with it);
/// `None` without a price, or for a request whose units cannot be read.
pub(crate) fn estimate(
    parsed: &Parsed,
    input: &Value,
    live_base: Option<f64>,
) -> Option<CostEstimate> {
    let listed = parsed.info.get("base_price_usd").and_then(number);
    let base = live_base.or(listed)?;
    // Prices that follow the request scale with the base price.
    let scale = match (live_base, listed) {
        (Some(live), Some(listed)) if listed > 0.0 => live / listed,
        _ => 1.0,
    };
    let rule = parsed.estimate.clone().unwrap_or_default();
    let unit_price = rule
        .price_when_true
        .iter()
        .filter(|(name, _)| parsed.field_or_default(input, name) == Some(Value::Bool(true)))
        .filter_map(|(_, price)| number(price))
        .map(|price| price * scale)
        .fold(base, f64::max);
    let units = match &rule.units_from {
        Some(name) => parsed
            .field_or_default(input, name)
            .as_ref()
            .and_then(number)?,
        None => 1.0,
    };
    let usd = unit_price * units;
    (usd.is_finite() && usd >= 0.0).then(|| CostEstimate {
        usd,
        unit_price_usd: unit_price,
        units,
        unit: parsed
            .info
            .get("price_unit")
            .and_then(Value::as_str)
            .map(String::from),
    })
}
