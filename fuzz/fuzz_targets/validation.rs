//! Validation (the client's and the emulator's) and cost estimates of any
//! JSON: never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(input) = serde_json::from_slice::<serde_json::Value>(data) {
        runcomfy::fuzzing::validate(&input);
    }
});
