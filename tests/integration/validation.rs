//! Input validation: the schema's own rules and the multi_prompt prose rules.

use proptest::prelude::*;
use runcomfy::models::kling::kling_3_0::standard::text_to_video::{
    AspectRatio, DESCRIPTOR, Input, MultiPromptItem, ShotType, TextToVideo,
};
use runcomfy::{Model, MultiShot, Rule, Validate, ValidationError};
use serde_json::{Value, json};

fn check(input: Value) -> Result<(), ValidationError> {
    TextToVideo::DESCRIPTOR.validate_input(&input)
}

fn rules(input: Value) -> Vec<(String, String)> {
    match check(input) {
        Ok(()) => Vec::new(),
        Err(e) => e
            .violations
            .iter()
            .map(|v| (v.path.clone(), v.rule.code().to_string()))
            .collect(),
    }
}

fn pair(path: &str, rule: &str) -> (String, String) {
    (path.to_string(), rule.to_string())
}

#[test]
fn the_seed_example_body_serialises_to_exactly_the_seed_json() {
    let seed_text = include_str!("../fixtures/kling-3.0-seed-example.json");
    let seed: Value = serde_json::from_str(seed_text).expect("seed example is JSON");
    let input: Input = serde_json::from_value(seed.clone()).expect("seed example is an Input");
    input.validate().expect("the seed example is valid");
    let body = serde_json::to_value(&input).expect("serialises");
    assert_eq!(body, seed);
    // Built in code, the same request has the same body: unset fields are
    // left out, not sent as defaults.
    let built = Input::new(seed["prompt"].as_str().expect("prompt is a string"));
    assert_eq!(
        serde_json::to_string(&built).expect("serialises"),
        serde_json::to_string(&seed).expect("serialises")
    );
    insta::assert_json_snapshot!("seed_example_body", body);
}

#[test]
fn the_normalised_schema_is_valid_json_schema() {
    let schema: Value = serde_json::from_str(DESCRIPTOR.input_schema).expect("JSON");
    // boon checks a schema against its metaschema as it compiles it.
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource("urn:test:input", schema)
        .expect("a resource");
    compiler
        .compile("urn:test:input", &mut boon::Schemas::new())
        .expect("valid JSON Schema");
    let published: Value = serde_json::from_str(DESCRIPTOR.published_input_schema).expect("JSON");
    assert_eq!(
        published["properties"]["cfg_scale"]["type"], "float",
        "published schema kept verbatim"
    );
}

#[test]
fn valid_inputs_pass() {
    for input in [
        json!({"prompt": "a fox"}),
        json!({"prompt": "a fox", "duration": 3, "aspect_ratio": "1:1", "cfg_scale": 0, "sound": false}),
        json!({"prompt": "a fox", "duration": 15, "cfg_scale": 1, "negative_prompt": "blur"}),
        json!({"prompt": "a fox", "shot_type": "intelligent"}),
        json!({"prompt": "a fox", "shot_type": "customize", "duration": 10,
               "multi_prompt": [{"prompt": "a", "duration": 4}, {"prompt": "b", "duration": 6}]}),
        // Omitted duration means 5.
        json!({"prompt": "a fox", "shot_type": "customize", "multi_prompt": [{"prompt": "a", "duration": 5}]}),
        // An omitted segment duration means its default, 5, too.
        json!({"prompt": "a fox", "duration": 8, "multi_prompt": [{"prompt": "a"}, {"prompt": "b", "duration": 3}]}),
        json!({"prompt": "a fox", "multi_prompt": []}),
    ] {
        assert_eq!(check(input.clone()), Ok(()), "{input}");
    }
}

#[test]
fn each_schema_rule_is_reported_with_field_and_rule() {
    assert_eq!(rules(json!({})), [pair("prompt", "required")]);
    assert_eq!(rules(json!({"prompt": 5})), [pair("prompt", "type")]);
    assert_eq!(
        rules(json!({"prompt": "x", "duration": 2})),
        [pair("duration", "minimum")]
    );
    assert_eq!(
        rules(json!({"prompt": "x", "duration": 16})),
        [pair("duration", "maximum")]
    );
    assert_eq!(
        rules(json!({"prompt": "x", "duration": 5.5})),
        [pair("duration", "type")]
    );
    assert_eq!(
        rules(json!({"prompt": "x", "cfg_scale": -0.1})),
        [pair("cfg_scale", "minimum")]
    );
    assert_eq!(
        rules(json!({"prompt": "x", "cfg_scale": 1.5})),
        [pair("cfg_scale", "maximum")]
    );
    assert_eq!(
        rules(json!({"prompt": "x", "aspect_ratio": "4:3"})),
        [pair("aspect_ratio", "enum")]
    );
    assert_eq!(
        rules(json!({"prompt": "x", "shot_type": "auto"})),
        [pair("shot_type", "enum")]
    );
    assert_eq!(
        rules(json!({"prompt": "x", "sound": "yes"})),
        [pair("sound", "type")]
    );
    let segments: Vec<Value> = (0..21)
        .map(|_| json!({"prompt": "s", "duration": 3}))
        .collect();
    assert!(
        rules(json!({"prompt": "x", "multi_prompt": segments}))
            .contains(&pair("multi_prompt", "max_items"))
    );
    assert_eq!(
        rules(
            json!({"prompt": "x", "duration": 5, "multi_prompt": [{"prompt": "a", "duration": 2}, {"prompt": "b", "duration": 3}]})
        ),
        [pair("multi_prompt[0].duration", "minimum")]
    );
    assert_eq!(
        rules(
            json!({"prompt": "x", "duration": 10, "multi_prompt": [{"prompt": 1, "duration": 10}]})
        ),
        [pair("multi_prompt[0].prompt", "type")]
    );
}

#[test]
fn multi_prompt_durations_must_add_up_to_duration() {
    let error = check(json!({"prompt": "x", "duration": 10,
        "multi_prompt": [{"prompt": "a", "duration": 4}, {"prompt": "b", "duration": 5}]}))
    .expect_err("9 != 10");
    assert_eq!(error.violations.len(), 1);
    assert_eq!(
        error.violations[0].rule,
        Rule::MultiPromptDurationMismatch {
            segments_total: 9,
            duration: 10
        }
    );
    assert_eq!(
        error.to_string(),
        "invalid input for kling/kling-3.0/standard/text-to-video: \
         multi_prompt: segment durations add up to 9 s but duration is 10 s"
    );
    // Omitted duration counts as 5.
    assert_eq!(
        check(json!({"prompt": "x", "multi_prompt": [{"prompt": "a", "duration": 6}]}))
            .expect_err("6 != 5")
            .violations[0]
            .rule,
        Rule::MultiPromptDurationMismatch {
            segments_total: 6,
            duration: 5
        }
    );
}

#[test]
fn huge_multi_prompt_durations_are_a_violation_not_an_overflow() {
    let input = json!({"prompt": "x", "duration": 10, "multi_prompt": [
        {"prompt": "a", "duration": i64::MAX},
        {"prompt": "b", "duration": i64::MAX},
        {"prompt": "c", "duration": 7}
    ]});
    let error = check(input).expect_err("far too long");
    assert!(
        error.violations.iter().any(|v| v.rule
            == Rule::MultiPromptDurationMismatch {
                segments_total: 2 * i128::from(i64::MAX) + 7,
                duration: 10
            }),
        "{error}"
    );
    assert!(
        error
            .violations
            .iter()
            .any(|v| v.path == "multi_prompt[0].duration" && v.rule.code() == "maximum"),
        "{error}"
    );
    // Typed, through MultiShot: the total saturates instead of overflowing.
    let shots = (0..10).fold(MultiShot::new("x"), |b, _| b.shot("s", u32::MAX));
    assert!(shots.total_seconds() > 0);
    assert!(shots.build().is_err());
}

#[test]
fn fields_the_schema_does_not_name_are_refused() {
    assert_eq!(
        rules(json!({"prompt": "x", "aspectRatio": "9:16"})),
        [pair("aspectRatio", "unknown_field")]
    );
    assert_eq!(
        rules(
            json!({"prompt": "x", "duration": 5, "multi_prompt": [{"prompt": "a", "duration": 5, "camera": "pan"}]})
        ),
        [pair("multi_prompt[0].camera", "unknown_field")]
    );
}

#[test]
fn customize_needs_a_multi_prompt() {
    for input in [
        json!({"prompt": "x", "shot_type": "customize"}),
        json!({"prompt": "x", "shot_type": "customize", "multi_prompt": []}),
    ] {
        let error = check(input).expect_err("customize without shots");
        assert_eq!(error.violations[0].rule, Rule::CustomizeNeedsMultiPrompt);
        assert_eq!(error.violations[0].path, "multi_prompt");
        assert!(
            error.to_string().contains(
                "multi_prompt: shot_type customize needs at least one multi_prompt segment"
            )
        );
    }
}

#[test]
fn every_violation_is_reported_at_once_with_its_value() {
    let error = check(json!({
        "duration": 99,
        "aspect_ratio": "4:3",
        "cfg_scale": 2,
        "shot_type": "customize",
        "multi_prompt": [{"prompt": "a", "duration": 1}]
    }))
    .expect_err("many problems");
    let message = error.to_string();
    for part in [
        "prompt: is required",
        "duration: must be at most 15 (got 99)",
        "aspect_ratio: must be one of \"16:9\", \"9:16\", \"1:1\" (got \"4:3\")",
        "cfg_scale: must be at most 1 (got 2)",
        "multi_prompt[0].duration: must be at least 3 (got 1)",
        "multi_prompt: segment durations add up to 1 s but duration is 99 s",
    ] {
        assert!(message.contains(part), "{part:?} missing from {message}");
    }
    assert_eq!(error.violations.len(), 6, "{message}");
    let duration = error
        .violations
        .iter()
        .find(|v| v.path == "duration")
        .expect("duration reported");
    assert_eq!(duration.value, Some(json!(99)));
}

#[test]
fn typed_inputs_validate_too() {
    let input = Input {
        duration: Some(99),
        cfg_scale: Some(f64::NAN),
        ..Input::new("a fox")
    };
    let error = input.validate().expect_err("out of range");
    let paths: Vec<&str> = error.violations.iter().map(|v| v.path.as_str()).collect();
    // NaN serialises as null, which is not a number.
    assert_eq!(paths, ["cfg_scale", "duration"]);
}

#[test]
fn multi_shot_derives_the_duration_from_its_shots() {
    let input = MultiShot::new("a bike lesson")
        .shot("wide", 4)
        .shot("close-up", 3)
        .shot("crane", 5)
        .build()
        .expect("valid");
    assert_eq!(input.duration, Some(12));
    assert_eq!(input.shot_type, Some(ShotType::Customize));
    assert_eq!(input.multi_prompt.len(), 3);
    assert_eq!(
        input.multi_prompt[0],
        MultiPromptItem {
            prompt: Some("wide".into()),
            duration: Some(4)
        }
    );
    input.validate().expect("valid");

    let too_long = MultiShot::new("x")
        .shot("a", 10)
        .shot("b", 10)
        .build()
        .expect_err("20 s > 15 s");
    assert_eq!(
        too_long.to_string(),
        "invalid input for kling/kling-3.0/standard/text-to-video: duration: must be at most 15 (got 20)"
    );
    let too_short = MultiShot::new("x")
        .shot("a", 2)
        .shot("b", 4)
        .build()
        .expect_err("a 2 s shot");
    assert_eq!(too_short.violations[0].path, "multi_prompt[0].duration");
    let none = MultiShot::new("x").build().expect_err("no shots");
    assert!(
        none.violations
            .iter()
            .any(|v| v.rule == Rule::CustomizeNeedsMultiPrompt)
    );
}

#[test]
fn enum_variants_read_well_and_keep_their_wire_values() {
    let input = Input {
        aspect_ratio: Some(AspectRatio::Ratio9x16),
        ..Input::new("x")
    };
    assert_eq!(
        serde_json::to_value(&input).expect("serialises")["aspect_ratio"],
        "9:16"
    );
    assert_eq!(AspectRatio::Ratio16x9.to_string(), "16:9");
    assert_eq!(
        "1:1".parse::<AspectRatio>().expect("parses"),
        AspectRatio::Ratio1x1
    );
}

/// The schema's own numbers, read from the published schema so that the
/// oracle below follows it.
struct Bounds {
    duration: (i64, i64),
    duration_default: i64,
    cfg: (f64, f64),
    segment: (i64, i64),
    max_segments: usize,
    ratios: Vec<String>,
}

fn bounds() -> Bounds {
    let s: Value = serde_json::from_str(DESCRIPTOR.published_input_schema).expect("JSON");
    let p = &s["properties"];
    let int = |v: &Value| v.as_i64().expect("integer bound");
    Bounds {
        duration: (
            int(&p["duration"]["minimum"]),
            int(&p["duration"]["maximum"]),
        ),
        duration_default: int(&p["duration"]["default"]),
        cfg: (
            p["cfg_scale"]["minimum"].as_f64().expect("f64"),
            p["cfg_scale"]["maximum"].as_f64().expect("f64"),
        ),
        segment: (
            int(&p["multi_prompt"]["items"]["duration"]["minimum"]),
            int(&p["multi_prompt"]["items"]["duration"]["maximum"]),
        ),
        max_segments: int(&p["multi_prompt"]["maxItems"]) as usize,
        ratios: p["aspect_ratio"]["enum"]
            .as_array()
            .expect("enum")
            .iter()
            .map(|v| v.as_str().expect("str").to_string())
            .collect(),
    }
}

/// An independent reading of the published schema: which fields an input
/// breaks.
fn expected_violations(input: &Value, b: &Bounds) -> Vec<String> {
    let mut out = Vec::new();
    let duration = input.get("duration").and_then(Value::as_i64);
    if let Some(d) = duration
        && !(b.duration.0..=b.duration.1).contains(&d)
    {
        out.push("duration".to_string());
    }
    if let Some(c) = input.get("cfg_scale").and_then(Value::as_f64)
        && !(c >= b.cfg.0 && c <= b.cfg.1)
    {
        out.push("cfg_scale".to_string());
    }
    if let Some(r) = input.get("aspect_ratio").and_then(Value::as_str)
        && !b.ratios.iter().any(|x| x == r)
    {
        out.push("aspect_ratio".to_string());
    }
    let segments = input
        .get("multi_prompt")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if segments.len() > b.max_segments {
        out.push("multi_prompt".to_string());
    }
    for (i, s) in segments.iter().enumerate() {
        let d = s["duration"]
            .as_i64()
            .expect("generated segments have durations");
        if !(b.segment.0..=b.segment.1).contains(&d) {
            out.push(format!("multi_prompt[{i}].duration"));
        }
    }
    if !segments.is_empty() {
        let total: i64 = segments
            .iter()
            .map(|s| s["duration"].as_i64().expect("int"))
            .sum();
        if total != duration.unwrap_or(b.duration_default) {
            out.push("multi_prompt".to_string());
        }
    }
    if input.get("shot_type").and_then(Value::as_str) == Some("customize") && segments.is_empty() {
        out.push("multi_prompt".to_string());
    }
    out.sort();
    out
}

fn arbitrary_input() -> impl Strategy<Value = Value> {
    let ratio = prop_oneof![
        Just("16:9"),
        Just("9:16"),
        Just("1:1"),
        Just("4:3"),
        Just("")
    ];
    let segment = (0i64..20).prop_map(|d| json!({"prompt": "shot", "duration": d}));
    (
        proptest::option::of(-2i64..20),
        proptest::option::of(-0.5f64..1.5),
        proptest::option::of(ratio),
        proptest::option::of(prop_oneof![Just("intelligent"), Just("customize")]),
        proptest::option::of(proptest::collection::vec(segment, 0..24)),
    )
        .prop_map(|(duration, cfg, ratio, shot_type, segments)| {
            let mut input = json!({"prompt": "a fox"});
            if let Some(d) = duration {
                input["duration"] = json!(d);
            }
            if let Some(c) = cfg {
                input["cfg_scale"] = json!(c);
            }
            if let Some(r) = ratio {
                input["aspect_ratio"] = json!(r);
            }
            if let Some(s) = shot_type {
                input["shot_type"] = json!(s);
            }
            if let Some(s) = segments {
                input["multi_prompt"] = json!(s);
            }
            input
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn validation_agrees_with_the_schema(input in arbitrary_input()) {
        let b = bounds();
        let mut got: Vec<String> = match check(input.clone()) {
            Ok(()) => Vec::new(),
            Err(e) => e.violations.into_iter().map(|v| v.path).collect(),
        };
        got.sort();
        prop_assert_eq!(got, expected_violations(&input, &b), "input: {}", input);
    }

    #[test]
    fn every_multi_shot_within_bounds_is_valid(durations in proptest::collection::vec(3u32..=15, 1..6)) {
        let total: u32 = durations.iter().sum();
        let built = durations.iter().fold(MultiShot::new("x"), |m, d| m.shot("s", *d)).build();
        prop_assert_eq!(built.is_ok(), total <= 15, "{:?}", durations);
    }
}
