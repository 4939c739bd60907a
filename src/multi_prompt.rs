//! What the Kling schemas say about `multi_prompt` only in prose, and a
//! builder for multi-shot inputs whose total duration cannot disagree with
//! its shots.
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

use crate::Validate;
use crate::models::kling::kling_3_0::standard::text_to_video::{Input, MultiPromptItem, ShotType};
use crate::validation::{Rule, ValidationError, Violation};
use serde_json::Value;

/// The prose-rule violations of `input` under `schema` (a normalised input
/// schema).
pub(crate) fn violations(schema: &Value, input: &Value) -> Vec<Violation> {
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

/// Builds a multi-shot Kling 3.0 text-to-video input: the video's
/// `duration` is the sum of the shots and `shot_type` is `customize`, so the
/// two can never disagree.
///
/// [`build`](Self::build) validates the whole input, so a total over 15 s,
/// a shot under 3 s or no shot at all is refused there, before any request.
///
/// ```
/// use runcomfy::MultiShot;
/// use runcomfy::models::kling::kling_3_0::standard::text_to_video::AspectRatio;
///
/// let mut input = MultiShot::new("A father teaches his daughter to ride a bike")
///     .shot("Wide establishing shot of the leafy street", 4)
///     .shot("Low tracking shot following the wobbling bike", 3)
///     .shot("Slow-motion crane pull-back as she rides away", 5)
///     .build()?;
/// assert_eq!(input.duration, Some(12));
/// input.aspect_ratio = Some(AspectRatio::Ratio9x16);
/// # Ok::<(), runcomfy::ValidationError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MultiShot {
    prompt: String,
    shots: Vec<MultiPromptItem>,
}

impl MultiShot {
    /// Starts a multi-shot input with the overall prompt.
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            shots: Vec::new(),
        }
    }

    /// Adds a shot of `seconds` seconds (3 to 15).
    pub fn shot(mut self, prompt: impl Into<String>, seconds: u32) -> Self {
        self.shots.push(MultiPromptItem {
            prompt: Some(prompt.into()),
            duration: Some(i64::from(seconds)),
        });
        self
    }

    /// The sum of the shot durations so far, in seconds.
    pub fn total_seconds(&self) -> i64 {
        // Each shot is a u32, so no realistic number of shots overflows;
        // saturate rather than panic all the same.
        self.shots
            .iter()
            .filter_map(|s| s.duration)
            .fold(0i64, i64::saturating_add)
    }

    /// Builds and validates the input.
    pub fn build(self) -> Result<Input, ValidationError> {
        let input = Input {
            duration: Some(self.total_seconds()),
            shot_type: Some(ShotType::Customize),
            multi_prompt: self.shots,
            ..Input::new(self.prompt)
        };
        input.validate()?;
        Ok(input)
    }
}
