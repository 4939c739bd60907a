//! What the schemas say only in prose, as rules.
//!
//! The rules are recognised by the schema's shape, not by model id, so any
//! model with the same fields gets them:
//!
//! - with a non-empty `multi_prompt` whose items have a `duration`, and a
//!   top-level integer `duration`: the segment durations must add up to the
//!   video's `duration`; an omitted duration (video or segment) counts as
//!   the schema's default (5 for Kling 3.0);
//! - with a `shot_type` whose values include `customize`: `customize` needs
//!   at least one `multi_prompt` segment.

use super::violation::{Rule, Violation};
use serde_json::{Map, Value};

/// The prose-rule violations of `input` under `schema` (a normalised input
/// schema).
pub(super) fn violations(schema: &Value, input: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    let properties = &schema["properties"];
    let segments = input.get("multi_prompt").and_then(Value::as_array);

    let item_duration = &properties["multi_prompt"]["items"]["properties"]["duration"];
    let video_duration = &properties["duration"];
    if item_duration.is_object()
        && video_duration["type"] == "integer"
        && let Some(segments) = segments.filter(|s| !s.is_empty())
    {
        // Summed in i128: any number of i64 durations fits, so hostile
        // values are a mismatch to report, never an overflow.
        let total: Option<i128> = segments
            .iter()
            .map(|segment| {
                segment
                    .get("duration")
                    .or(item_duration.get("default"))
                    .and_then(Value::as_i64)
                    .map(i128::from)
            })
            .sum();
        let duration = input
            .get("duration")
            .or(video_duration.get("default"))
            .and_then(Value::as_i64)
            .map(i128::from);
        // A non-integer is a type violation the schema check reports.
        if let (Some(segments_total), Some(duration)) = (total, duration)
            && segments_total != duration
        {
            out.push(Violation {
                path: "multi_prompt".into(),
                rule: Rule::MultiPromptDurationMismatch {
                    segments_total,
                    duration,
                },
                value: input.get("multi_prompt").cloned(),
            });
        }
    }

    let customizable = properties["shot_type"]["enum"]
        .as_array()
        .is_some_and(|values| values.iter().any(|v| v == "customize"));
    if customizable
        && properties["multi_prompt"].is_object()
        && input.get("shot_type").and_then(Value::as_str) == Some("customize")
        && segments.is_none_or(Vec::is_empty)
    {
        out.push(Violation {
            path: "multi_prompt".into(),
            rule: Rule::CustomizeNeedsMultiPrompt,
            value: input.get("multi_prompt").cloned(),
        });
    }
    out
}

/// With shots given (a `multi_prompt`), what the rules above ask for and
/// the body omits: the video's integer `duration` as the sum of the shots'
/// durations, and `shot_type: customize` where the schema offers it.
pub(crate) fn complete_from_shots(schema: &Value, body: &mut Map<String, Value>) {
    let Some(shots) = body.get("multi_prompt").and_then(Value::as_array) else {
        return;
    };
    let properties = &schema["properties"];
    if properties["duration"]["type"] == "integer" && !body.contains_key("duration") {
        let total = shots
            .iter()
            .filter_map(|s| s["duration"].as_i64())
            .fold(0i64, i64::saturating_add);
        body.insert("duration".into(), total.into());
    }
    let customizable = properties["shot_type"]["enum"]
        .as_array()
        .is_some_and(|values| values.iter().any(|v| v == "customize"));
    if customizable && !body.contains_key("shot_type") {
        body.insert("shot_type".into(), "customize".into());
    }
}
