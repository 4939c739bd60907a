//! Request ids and model ids: what is accepted stays in its path
//! segments.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(id) = std::str::from_utf8(data) {
        runcomfy::fuzzing::ids(id);
    }
});
