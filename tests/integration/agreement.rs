//! Client and emulator agree on validation: any input the client's
//! validation accepts, the emulator accepts; any it rejects, the emulator
//! rejects, naming the same fields. Inputs are generated (proptest), sent
//! raw to the emulator, bypassing the client's own check.
#![cfg(feature = "emulator")]

use crate::common;

use common::{Api, fast};
use proptest::prelude::*;
use runcomfy::emulator::Emulator;
use runcomfy::{Model, models::kling::kling_3_0::standard::text_to_video::TextToVideo};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// A value for a field: usually plausible, sometimes of the wrong kind.
fn value(valid: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        10 => Just(None),
        18 => valid.prop_map(Some),
        1 => prop_oneof![
            Just(json!(null)),
            Just(json!("text")),
            Just(json!(-1)),
            Just(json!(99)),
            Just(json!(1.5)),
            Just(json!(true)),
            Just(json!([])),
            Just(json!({})),
        ]
        .prop_map(Some),
    ]
    .boxed()
}

fn shots() -> BoxedStrategy<Value> {
    prop::collection::vec(
        (prop_oneof![9 => 3i64..6, 1 => 0i64..20], "[a-z ]{0,12}"),
        0..4,
    )
    .prop_map(|shots| {
        Value::Array(
            shots
                .into_iter()
                .map(|(duration, prompt)| json!({"duration": duration, "prompt": prompt}))
                .collect(),
        )
    })
    .boxed()
}

fn input() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            19 => "[a-z ]{0,20}".prop_map(|p| Some(Value::from(p))),
            1 => value(Just(json!("x")).boxed()),
        ],
        value(
            prop_oneof![9 => 3i64..16, 1 => 0i64..20]
                .prop_map(Value::from)
                .boxed(),
        ),
        value(
            prop_oneof![3 => Just("16:9"), 3 => Just("9:16"), 3 => Just("1:1"), 1 => Just("4:3")]
                .prop_map(Value::from)
                .boxed(),
        ),
        value(
            prop_oneof![9 => 0.0f64..1.0, 1 => -0.5f64..1.5]
                .prop_map(Value::from)
                .boxed(),
        ),
        value(any::<bool>().prop_map(Value::from).boxed()),
        value(
            prop_oneof![5 => Just("intelligent"), 4 => Just("customize"), 1 => Just("auto")]
                .prop_map(Value::from)
                .boxed(),
        ),
        prop_oneof![3 => Just(None), 1 => value(shots())],
        prop::option::weighted(0.05, "[a-z]{3,8}"),
    )
        .prop_map(
            |(prompt, duration, ratio, cfg, sound, shot_type, multi, extra)| {
                let mut body = Map::new();
                for (name, value) in [
                    ("prompt", prompt),
                    ("duration", duration),
                    ("aspect_ratio", ratio),
                    ("cfg_scale", cfg),
                    ("sound", sound),
                    ("shot_type", shot_type),
                    ("multi_prompt", multi),
                ] {
                    if let Some(value) = value {
                        body.insert(name.into(), value);
                    }
                }
                if let Some(extra) = extra {
                    body.insert(format!("x_{extra}"), json!(1));
                }
                Value::Object(body)
            },
        )
}

/// `["body", "multi_prompt", 0, "duration"]` -> `multi_prompt[0].duration`.
fn path_of(loc: &Value) -> String {
    let mut out = String::new();
    for part in loc.as_array().into_iter().flatten().skip(1) {
        match part {
            Value::Number(n) => out.push_str(&format!("[{n}]")),
            Value::String(s) if out.is_empty() => out.push_str(s),
            Value::String(s) => out.push_str(&format!(".{s}")),
            _ => {}
        }
    }
    out
}

#[test]
fn client_and_emulator_agree_on_every_input() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let emulator = runtime.block_on(Emulator::start(fast())).expect("starts");
    let api = Api::new(&emulator);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 160,
        ..ProptestConfig::default()
    });
    let (accepted, rejected) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    runner
        .run(&input(), |input| {
            let client = TextToVideo::DESCRIPTOR.validate_input(&input);
            let response = runtime.block_on(api.submit_raw(&input)).expect("answers");
            let status = response.status().as_u16();
            let body: Value = runtime.block_on(response.json()).expect("JSON");
            match client {
                Ok(()) => {
                    accepted.set(accepted.get() + 1);
                    prop_assert_eq!(
                        status,
                        200,
                        "client accepted {}, emulator said {}",
                        input,
                        body
                    );
                }
                Err(error) => {
                    rejected.set(rejected.get() + 1);
                    prop_assert_eq!(
                        status,
                        422,
                        "client rejected {}, emulator said {}",
                        input,
                        body
                    );
                    let client_fields: BTreeSet<String> =
                        error.violations.iter().map(|v| v.path.clone()).collect();
                    let emulator_fields: BTreeSet<String> = body["detail"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|d| path_of(&d["loc"]))
                        .collect();
                    prop_assert_eq!(client_fields, emulator_fields, "{}", input);
                }
            }
            Ok(())
        })
        .expect("they agree");
    let (accepted, rejected) = (accepted.get(), rejected.get());
    println!("accepted {accepted}, rejected {rejected}");
    assert!(
        accepted > 10 && rejected > 10,
        "both kinds were tried: {accepted} / {rejected}"
    );
}
