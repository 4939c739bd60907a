//! The RunComfy dialect normaliser (`codegen/src/dialect.rs`), quirk by
//! quirk.

use codegen::dialect::{SchemaRole, normalise};
use serde_json::{Value, json};

fn input(schema: Value) -> Value {
    normalise(&schema, SchemaRole::Input).expect("normalises")
}

#[test]
fn float_becomes_number() {
    assert_eq!(input(json!({"type": "float"})), json!({"type": "number"}));
    assert_eq!(input(json!({"type": "double"})), json!({"type": "number"}));
}

#[test]
fn bool_int_and_str_become_json_schema_types() {
    assert_eq!(input(json!({"type": "bool"})), json!({"type": "boolean"}));
    assert_eq!(
        input(json!({"type": "boolean"})),
        json!({"type": "boolean"})
    );
    assert_eq!(input(json!({"type": "int"})), json!({"type": "integer"}));
    assert_eq!(input(json!({"type": "str"})), json!({"type": "string"}));
    assert_eq!(
        input(json!({"type": ["float", "null"]})),
        json!({"type": ["number", "null"]})
    );
}

#[test]
fn ui_formats_move_to_an_extension() {
    for format in [
        "str",
        "int_slider_with_range",
        "float_slider_with_range",
        "int_with_arrows_and_random",
        "str_with_choice",
    ] {
        assert_eq!(
            input(json!({"type": "string", "format": format})),
            json!({"type": "string", "x-runcomfy-format": format}),
            "{format}"
        );
    }
}

#[test]
fn standard_formats_stay() {
    assert_eq!(
        input(json!({"type": "string", "format": "uri"})),
        json!({"type": "string", "format": "uri"})
    );
    assert_eq!(
        input(json!({"type": "string", "format": "date-time"})),
        json!({"type": "string", "format": "date-time"})
    );
}

#[test]
fn image_uri_becomes_uri() {
    assert_eq!(
        input(json!({"type": "string", "format": "image_uri"})),
        json!({"type": "string", "format": "uri", "x-runcomfy-format": "image_uri"})
    );
}

#[test]
fn uri_lists_without_items_get_uri_items() {
    for format in ["image_uris", "video_uris", "audio_uris"] {
        assert_eq!(
            input(json!({"type": "array", "format": format})),
            json!({
                "type": "array",
                "x-runcomfy-format": format,
                "items": {"type": "string", "format": "uri"}
            }),
            "{format}"
        );
    }
    // Items given explicitly are kept.
    assert_eq!(
        input(json!({"type": "array", "format": "image_uris", "items": {"type": "string"}})),
        json!({"type": "array", "x-runcomfy-format": "image_uris", "items": {"type": "string"}})
    );
}

#[test]
fn bare_item_properties_are_wrapped_in_an_object_schema() {
    let published = json!({
        "type": "array",
        "items": {
            "prompt": {"type": "string", "format": "str"},
            "duration": {"type": "integer", "minimum": 3}
        }
    });
    assert_eq!(
        input(published),
        json!({
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "prompt": {"type": "string", "x-runcomfy-format": "str"},
                    "duration": {"type": "integer", "minimum": 3}
                }
            }
        })
    );
    // A real items schema is left alone.
    assert_eq!(
        input(json!({"type": "array", "items": {"type": "string"}})),
        json!({"type": "array", "items": {"type": "string"}})
    );
}

#[test]
fn null_defaults_and_empty_texts_are_dropped() {
    assert_eq!(
        input(json!({"type": "integer", "default": null, "description": "", "title": "  "})),
        json!({"type": "integer"})
    );
    // A real default stays.
    assert_eq!(
        input(json!({"type": "integer", "default": 5})),
        json!({"type": "integer", "default": 5})
    );
}

#[test]
fn multiple_of_is_kept() {
    assert_eq!(
        input(json!({"type": "float", "multipleOf": 0.5})),
        json!({"type": "number", "multipleOf": 0.5})
    );
}

#[test]
fn titles_move_out_of_the_way_of_type_naming() {
    assert_eq!(
        input(json!({"type": "string", "title": "提示詞", "description": "場景"})),
        json!({"type": "string", "x-runcomfy-title": "提示詞", "description": "場景"})
    );
    assert_eq!(
        input(json!({"type": "object", "title": "modelApiDoc_navInputSchema"})),
        json!({"type": "object", "x-runcomfy-title": "modelApiDoc_navInputSchema"})
    );
}

#[test]
fn output_wrapper_is_removed() {
    let published = json!({"output": {"type": "object", "properties": {"video": {"type": "string", "format": "uri"}}}});
    assert_eq!(
        normalise(&published, SchemaRole::Output).expect("normalises"),
        json!({"type": "object", "properties": {"video": {"type": "string", "format": "uri"}}})
    );
    // An output schema published without the wrapper is taken as is.
    let bare = json!({"type": "object", "properties": {}});
    assert_eq!(
        normalise(&bare, SchemaRole::Output).expect("normalises"),
        bare
    );
}

#[test]
fn quirks_are_fixed_at_every_depth() {
    let published = json!({
        "type": "object",
        "properties": {
            "shots": {"type": "array", "items": {"inner": {"type": "float", "default": null}}},
            "choice": {"anyOf": [{"type": "bool"}, {"type": "int"}]}
        }
    });
    let normalised = input(published);
    assert_eq!(
        normalised["properties"]["shots"]["items"]["properties"]["inner"],
        json!({"type": "number"})
    );
    assert_eq!(
        normalised["properties"]["choice"]["anyOf"],
        json!([{"type": "boolean"}, {"type": "integer"}])
    );
}

#[test]
fn the_seed_schema_becomes_valid_json_schema() {
    let published: Value = serde_json::from_str(include_str!(
        "../../schema/models/kling/kling-3.0/standard/text-to-video/input.json"
    ))
    .expect("seed schema is JSON");
    let normalised = input(published);
    insta::assert_json_snapshot!("kling_3_0_t2v_input_normalised", normalised);
    assert_eq!(normalised["properties"]["cfg_scale"]["type"], "number");
    assert_eq!(
        normalised["properties"]["multi_prompt"]["items"]["type"],
        "object"
    );
    assert!(
        !serde_json::to_string(&normalised)
            .expect("serialises")
            .contains("\"title\"")
    );
}

#[test]
fn unmappable_schemas_name_the_pointer_and_the_fix() {
    let error = normalise(
        &json!({"properties": {"a/b": {"type": "tensor"}}}),
        SchemaRole::Input,
    )
    .expect_err("unknown type");
    assert_eq!(error.pointer, "/properties/a~1b/type");
    assert!(
        error.to_string().contains("unknown type \"tensor\""),
        "{error}"
    );
    assert!(!error.hint.is_empty());

    let error =
        normalise(&json!({"properties": {"a": 5}}), SchemaRole::Input).expect_err("not a schema");
    assert_eq!(error.pointer, "/properties/a");
    assert!(error.problem.contains("expected a schema"), "{error}");

    let error = normalise(&json!([1]), SchemaRole::Output).expect_err("not an object");
    assert_eq!(error.pointer, "");
}
