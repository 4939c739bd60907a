//! `Retry-After` values: never a panic, never more than a day.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(value) = std::str::from_utf8(data) {
        runcomfy::fuzzing::retry_after(value);
    }
});
