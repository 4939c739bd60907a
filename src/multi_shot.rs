//! A builder for multi-shot Kling 3.0 text-to-video inputs whose total
//! duration cannot disagree with its shots.

use crate::Validate;
use crate::models::kling::kling_3_0::standard::text_to_video::{Input, MultiPromptItem, ShotType};
use crate::validation::ValidationError;

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
#[must_use]
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
    ///
    /// # Errors
    ///
    /// A [`ValidationError`] for a total over 15 s, a shot under 3 s or
    /// over 15 s, or no shot at all; nothing is sent.
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
