//! The emulator's submit handler, on any model path, content type and
//! body: an answer, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let path = parts.next().unwrap_or_default();
    let content_type = parts.next().unwrap_or("application/json");
    let body = parts.next().unwrap_or_default();
    let status = runcomfy::fuzzing::emulator_submit(path, content_type, body.as_bytes());
    assert!(status == 0 || (200..500).contains(&status), "{status} for {path:?}");
});
