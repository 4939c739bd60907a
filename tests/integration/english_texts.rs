//! Kling 3.0's schemas in English: the same structure as the seed's zh-TW
//! schemas (kept beside them), every English text's source recorded in
//! `model.json`, and `--help` in English.

use serde_json::Value;
use std::path::{Path, PathBuf};

fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schema/models/kling/kling-3.0/standard/text-to-video")
}

fn read(name: &str) -> Value {
    let text = std::fs::read_to_string(model_dir().join(name)).expect("checked in");
    serde_json::from_str(&text).expect("JSON")
}

/// `value` without any `title` or `description`, at every depth.
fn structure(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| !matches!(key.as_str(), "title" | "description"))
                .map(|(key, value)| (key.clone(), structure(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(structure).collect()),
        other => other.clone(),
    }
}

/// Every `title` and `description` string, by JSON pointer.
fn texts(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let here = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                match (key.as_str(), value) {
                    ("title" | "description", Value::String(text)) => {
                        out.push((here, text.clone()));
                    }
                    _ => texts(value, &here, out),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                texts(item, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3000}'..='\u{9fff}' | '\u{ff00}'..='\u{ffef}')
}

#[test]
fn the_english_and_zh_tw_schemas_agree_on_everything_but_their_texts() {
    for (english, seed) in [
        ("input.json", "input.zh-TW.json"),
        ("output.json", "output.zh-TW.json"),
    ] {
        let (english, seed) = (read(english), read(seed));
        assert_eq!(structure(&english), structure(&seed));
        let (mut en, mut zh) = (Vec::new(), Vec::new());
        texts(&english, "", &mut en);
        texts(&seed, "", &mut zh);
        let pointers =
            |t: &[(String, String)]| t.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
        assert_eq!(pointers(&en), pointers(&zh), "the same texts, translated");
        for (pointer, text) in &en {
            assert!(!text.chars().any(is_cjk), "{pointer}: {text}");
        }
        assert!(
            zh.iter().any(|(_, t)| t.chars().any(is_cjk)),
            "the seed is zh-TW"
        );
    }
}

#[test]
fn every_english_text_names_its_source_in_model_json() {
    let sources = &read("model.json")["x-runcomfy-texts"];
    let mut listed: Vec<String> = Vec::new();
    for (group, source) in sources.as_object().expect("an object") {
        let Some(pointers) = source["texts"].as_array() else {
            continue;
        };
        assert!(
            source["source"].is_string(),
            "{group} says where its texts come from"
        );
        listed.extend(
            pointers
                .iter()
                .map(|p| p.as_str().expect("a pointer").to_string()),
        );
    }
    let mut found = Vec::new();
    for file in ["input.json", "output.json"] {
        let mut texts_of = Vec::new();
        texts(&read(file), "", &mut texts_of);
        found.extend(
            texts_of
                .into_iter()
                .map(|(pointer, _)| format!("{file}#{pointer}")),
        );
    }
    listed.sort();
    found.sort();
    assert_eq!(listed, found, "each text listed once, with its source");
}

#[cfg(feature = "cli")]
#[test]
fn run_help_describes_kling_in_english() {
    let output = assert_cmd::Command::cargo_bin("runcomfy")
        .expect("built")
        .args(["run", "kling/kling-3.0/standard/text-to-video", "--help"])
        .output()
        .expect("runs");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("Video length in seconds."), "{help}");
    assert!(
        help.contains("Generate synchronized sound alongside the video."),
        "{help}"
    );
    assert!(!help.chars().any(is_cjk), "{help}");
}

#[test]
fn the_generated_rust_docs_are_english() {
    let published = runcomfy::ModelDescriptor::find("kling/kling-3.0/standard/text-to-video")
        .expect("built in");
    for schema in [published.input_schema, published.output_schema] {
        assert!(!schema.chars().any(is_cjk), "{schema}");
    }
}
