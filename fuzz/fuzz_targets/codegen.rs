//! The schema dialect normaliser and the code generator's front end, on
//! any input schema: a `CodegenError` or code, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The input schema is the fuzzed part; the output schema is the seed's.
    let output = r#"{"output": {"type": "object", "properties": {"video": {"type": "string", "format": "uri"}}}}"#;
    let files = codegen::ModelFiles {
        id: "fuzz/model".into(),
        input: "input.json".into(),
        output: "output.json".into(),
        info: None,
    };
    if let Ok(model) = codegen::model_from_texts(&files, text.into(), output.into(), None) {
        let _ = codegen::generate_models(&[model]);
    }
});
