//! Download file names: safe, never hidden, never colliding.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let urls: Vec<String> = text
        .split('\n')
        .take(16)
        .map(|path| format!("https://cdn.runcomfy.net/{path}"))
        .collect();
    runcomfy::fuzzing::file_names(&urls);
});
