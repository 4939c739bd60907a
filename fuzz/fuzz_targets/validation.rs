//! Validation (the client's and the emulator's) and cost estimates of any
//! JSON, and any schema compiled by the validator when the JSON is a pair
//! `[schema, input]`: never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(input) = serde_json::from_slice::<serde_json::Value>(data) {
        runcomfy::fuzzing::validate(&input);
        if let Some([schema, input]) = input.as_array().map(Vec::as_slice) {
            runcomfy::fuzzing::validate_against(schema, input);
        }
    }
});
