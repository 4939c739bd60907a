//! What `build.rs` generates, snapshotted per model, and how it fails.
//!
//! They run the same generator as `build.rs` (the `codegen` crate), so a
//! schema change shows up here as a snapshot diff to review (`cargo insta
//! review`).

use std::path::{Path, PathBuf};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load_all(models_dir: &Path) -> Vec<codegen::LoadedModel> {
    codegen::discover_models(models_dir)
        .expect("models are found")
        .iter()
        .map(|files| codegen::load_model(files).expect("model loads"))
        .collect()
}

#[test]
fn generated_source_of_every_model_is_snapshotted() {
    let models = load_all(&manifest_dir().join("schema/models"));
    for model in &models {
        let source = codegen::generate_models(std::slice::from_ref(model)).expect("generates");
        let name = model.files.id.replace('/', "__");
        insta::assert_snapshot!(format!("model__{name}"), source);
    }
}

#[test]
fn build_script_output_is_what_the_snapshots_show() {
    let models = load_all(&manifest_dir().join("schema/models"));
    let expected = codegen::generate_models(&models).expect("generates");
    let built = include_str!(concat!(env!("OUT_DIR"), "/models.rs"));
    for (path, contents) in codegen::normalised_schema_files(&models) {
        let written = std::fs::read_to_string(Path::new(env!("OUT_DIR")).join(&path))
            .expect("build.rs wrote the normalised schema");
        assert_eq!(written, contents, "{path}");
    }
    assert!(
        built == expected,
        "build.rs output differs from codegen/src/lib.rs run here"
    );
}

#[test]
fn queue_api_client_is_snapshotted() {
    let source = codegen::generate_queue_api(&manifest_dir().join("schema/queue-api.openapi.json"))
        .expect("generates");
    assert_eq!(
        source,
        include_str!(concat!(env!("OUT_DIR"), "/queue_api.rs"))
    );
    insta::assert_snapshot!("queue_api", source);
}

#[test]
fn type_and_variant_names_come_from_ids_and_properties_not_titles() {
    let models = load_all(&manifest_dir().join("schema/models"));
    let source = codegen::generate_models(&models).expect("generates");
    for expected in [
        "pub mod kling",
        "pub mod kling_3_0",
        "pub mod text_to_video",
        "pub struct Input",
        "pub struct Output",
        "pub enum AspectRatio",
        "Ratio16x9",
        "Ratio9x16",
        "Ratio1x1",
        "pub enum ShotType",
        "pub struct MultiPromptItem",
        "pub struct TextToVideo",
    ] {
        assert!(source.contains(expected), "missing {expected}");
    }
    assert!(
        !source.contains("X169"),
        "typify's mangled ratio name leaked"
    );
    // No identifier made of CJK characters (titles are not names).
    fn assert_ascii_idents(tokens: proc_macro2::TokenStream) {
        for tree in tokens {
            match tree {
                proc_macro2::TokenTree::Ident(ident) => {
                    assert!(ident.to_string().is_ascii(), "non-ASCII identifier {ident}")
                }
                proc_macro2::TokenTree::Group(group) => assert_ascii_idents(group.stream()),
                _ => {}
            }
        }
    }
    assert_ascii_idents(source.parse().expect("generated source tokenizes"));
    // One input type per model, and none in the queue client: progenitor's
    // body type is a free-form map.
    assert_eq!(source.matches("pub struct Input {").count(), 1);
    let api = include_str!(concat!(env!("OUT_DIR"), "/queue_api.rs"));
    assert!(!api.contains("multi_prompt") && !api.contains("aspect_ratio"));
}

#[test]
fn readable_variant_names() {
    assert_eq!(
        codegen::readable_variant_name("16:9").as_deref(),
        Some("Ratio16x9")
    );
    assert_eq!(
        codegen::readable_variant_name("21:9").as_deref(),
        Some("Ratio21x9")
    );
    assert_eq!(codegen::readable_variant_name("png"), None);
    assert_eq!(codegen::readable_variant_name("a:b"), None);
    assert_eq!(codegen::module_name("kling-3.0"), "kling_3_0");
    assert_eq!(codegen::module_name("3d-model"), "v3d_model");
    assert_eq!(codegen::module_name("type"), "type_");
    assert_eq!(codegen::type_name("aspect_ratio"), "AspectRatio");
}

/// A model folder in a temp dir, with the given input and a trivial output.
fn temp_model(id: &str, input: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join(id);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("input.json"), input).expect("write input");
    std::fs::write(
        dir.join("output.json"),
        r#"{"output": {"type": "object", "properties": {}}}"#,
    )
    .expect("write output");
    root
}

fn generate_in(root: &Path) -> Result<String, codegen::CodegenError> {
    let models = codegen::discover_models(root)?
        .iter()
        .map(codegen::load_model)
        .collect::<Result<Vec<_>, _>>()?;
    codegen::generate_models(&models)
}

#[test]
fn an_unknown_type_fails_naming_file_pointer_and_fix() {
    let root = temp_model(
        "acme/broken",
        r#"{"type": "object", "properties": {"strength": {"type": "floaty"}}}"#,
    );
    let error = generate_in(root.path()).expect_err("an unknown type is refused");
    assert!(error.file.ends_with("acme/broken/input.json"), "{error}");
    assert_eq!(error.pointer, "/properties/strength/type");
    let message = error.to_string();
    assert!(message.contains("unknown type \"floaty\""), "{message}");
    assert!(
        message.contains("help: map it to a JSON Schema type"),
        "{message}"
    );
}

#[test]
fn a_schema_typify_cannot_map_fails_naming_the_property() {
    // A default outside the field's own enum is something typify refuses.
    let root = temp_model(
        "acme/broken",
        r#"{"type": "object", "required": ["mode"], "properties": {
            "mode": {"type": "integer", "minimum": 3, "maximum": 5, "default": 9}}}"#,
    );
    let error = generate_in(root.path()).expect_err("refused");
    assert!(error.file.ends_with("acme/broken/input.json"), "{error}");
    assert_eq!(error.pointer, "/properties/mode", "{error}");
    assert!(error.to_string().contains("typify cannot map"), "{error}");
}

#[test]
fn an_input_without_fields_is_refused_not_a_panic() {
    // Found by the `codegen` fuzz target: a misspelt "properties" made the
    // generator panic.
    for (schema, problem) in [
        (
            r#"{"type": "object", "propgrties": {"prompt": {"type": "string"}}}"#,
            "lists no fields",
        ),
        (r#"{"type": "object"}"#, "lists no fields"),
        (
            r#"{"type": "object", "properties": []}"#,
            "expected an object of named schemas",
        ),
    ] {
        let root = temp_model("acme/no-fields", schema);
        let error = generate_in(root.path()).expect_err("refused");
        assert_eq!(error.pointer, "/properties", "{error}");
        assert!(error.problem.contains(problem), "{error}");
    }
}

#[test]
fn missing_output_and_invalid_json_are_named() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("acme/no-output");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("input.json"), "{}").expect("write");
    let error = generate_in(root.path()).expect_err("refused");
    assert!(
        error.file.ends_with("acme/no-output/output.json"),
        "{error}"
    );
    assert!(error.problem.contains("no output schema"), "{error}");

    let root = temp_model("acme/bad-json", "{\"type\": ");
    let error = generate_in(root.path()).expect_err("refused");
    assert!(error.problem.starts_with("not valid JSON"), "{error}");
}

#[test]
fn a_second_model_needs_no_rust_edits() {
    let source =
        generate_in(&manifest_dir().join("tests/fixtures/extra-models")).expect("generates");
    insta::assert_snapshot!("model__acme__flux-edit__v1", source);
    for expected in [
        "pub mod acme",
        "pub mod flux_edit",
        "pub mod v1",
        "pub struct Input",
        "pub image_uri: ::std::string::String",
        "pub reference_images: ::std::vec::Vec<::std::string::String>",
        "pub guidance: ::std::option::Option<f64>",
        "pub safety_checker: ::std::option::Option<bool>",
        "pub enum OutputFormat",
        "Ratio21x9",
        "pub struct V1",
        "pub fn new(\n",
    ] {
        assert!(
            source.contains(expected),
            "missing {expected:?} in\n{source}"
        );
    }
}
