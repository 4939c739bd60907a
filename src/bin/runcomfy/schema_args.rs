//! A model's flags, derived from its (normalised) input schema, and the
//! request body they make.
//!
//! Every property becomes a `--kebab-case` flag typed by the schema:
//!
//! | schema | flag |
//! |---|---|
//! | string, number, integer | `--name VALUE`, parsed as that type |
//! | `enum` | `--name CHOICE`, the choices in `--help` |
//! | boolean | `--name` and `--no-name` |
//! | array of strings (or numbers) | `--name VALUE`, repeated |
//! | array of objects with one integer and one string field (Kling's `multi_prompt`) | `--name SECONDS:TEXT`, repeated (alias `--shot` for `duration`/`prompt` items) |
//! | anything else | `--name JSON` (repeated for arrays) |
//!
//! A property whose flag would clash with one of the command's own flags
//! is `--param-<name>`. Defaults and ranges are shown in `--help` but never
//! sent: a request carries only what is set, and the server applies its
//! defaults. Required properties are required unless `--input` gives a
//! body. The total `duration` follows the shots unless given, and shots
//! make `shot_type` `customize` where the schema has it.

use clap::{Arg, ArgAction, ArgMatches, Command};
use runcomfy::ModelDescriptor;
use serde_json::{Map, Number, Value};

/// Flags the commands take themselves; a property named so is renamed.
const RESERVED: &[&str] = &[
    "input",
    "no-wait",
    "no-download",
    "output",
    "output-dir",
    "max-cost",
    "timeout",
    "json",
    "verbose",
    "emulator",
    "emulator-time-scale",
    "help",
    "version",
];

/// How a command takes the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// `generate "a red fox"`.
    Positional,
    /// `run MODEL --prompt "a red fox"`.
    Flag,
}

/// What a property's flag takes.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Text,
    Integer,
    Number,
    Boolean,
    Choice(Vec<Value>),
    List(Box<Kind>),
    /// `COUNT:TEXT` items of an array of objects.
    Pairs {
        count: String,
        text: String,
    },
    Json {
        repeated: bool,
    },
}

/// One property and its flag.
#[derive(Debug, Clone)]
struct Field {
    property: String,
    flag: String,
    kind: Kind,
    required: bool,
}

fn schema_of(model: &ModelDescriptor) -> Value {
    serde_json::from_str(model.input_schema).unwrap_or(Value::Null)
}

fn fields(schema: &Value) -> Vec<Field> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, property)| {
            let kebab = name.replace('_', "-");
            let flag = if RESERVED.contains(&kebab.as_str()) || kebab.starts_with("no-") {
                format!("param-{kebab}")
            } else {
                kebab
            };
            Field {
                property: name.clone(),
                flag,
                kind: kind_of(property),
                required: required.contains(&name.as_str()),
            }
        })
        .collect()
}

fn kind_of(property: &Value) -> Kind {
    if let Some(values) = property["enum"].as_array() {
        return Kind::Choice(values.clone());
    }
    match property["type"].as_str() {
        Some("string") => Kind::Text,
        Some("integer") => Kind::Integer,
        Some("number") => Kind::Number,
        Some("boolean") => Kind::Boolean,
        Some("array") => {
            let items = &property["items"];
            match items["type"].as_str() {
                Some("object") => pairs_of(items).unwrap_or(Kind::Json { repeated: true }),
                Some("string" | "integer" | "number") if items.get("enum").is_none() => {
                    Kind::List(Box::new(kind_of(items)))
                }
                Some(_) if items.get("enum").is_some() => Kind::List(Box::new(kind_of(items))),
                _ => Kind::Json { repeated: true },
            }
        }
        _ => Kind::Json { repeated: false },
    }
}

/// An object with exactly one integer and one string field reads as
/// `COUNT:TEXT`.
fn pairs_of(items: &Value) -> Option<Kind> {
    let properties = items["properties"].as_object()?;
    if properties.len() != 2 {
        return None;
    }
    let named = |kind: &str| {
        properties
            .iter()
            .find(|(_, p)| p["type"] == kind)
            .map(|(n, _)| n.clone())
    };
    Some(Kind::Pairs {
        count: named("integer")?,
        text: named("string")?,
    })
}

/// The help line of a property: its description, then its rules.
fn help(property: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(description) = property["description"].as_str() {
        parts.push(description.trim().to_string());
    }
    let number = |key: &str| property.get(key).map(Value::to_string);
    match (number("minimum"), number("maximum")) {
        (Some(min), Some(max)) => parts.push(format!("[{min} to {max}]")),
        (Some(min), None) => parts.push(format!("[at least {min}]")),
        (None, Some(max)) => parts.push(format!("[at most {max}]")),
        (None, None) => {}
    }
    if let Some(items) = property.get("maxItems") {
        parts.push(format!("[at most {items}]"));
    }
    if property["x-runcomfy-format"]
        .as_str()
        .and_then(runcomfy::media::MediaKind::of_format)
        .is_some()
    {
        parts.push(
            "[an http(s):// or data: value is sent as is; anything else is a local file, \
             read and sent inline as a data: URI typed by its content]"
                .into(),
        );
    }
    if let Some(default) = property.get("default") {
        let shown = match default {
            Value::String(s) if s.chars().count() > 40 => {
                format!("{}...", s.chars().take(40).collect::<String>())
            }
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        parts.push(format!("[server default: {shown}]"));
    }
    parts.join(" ")
}

fn choice_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Adds `model`'s flags to `command`.
pub fn add_args(command: Command, model: &ModelDescriptor, prompt: Prompt) -> Command {
    let schema = schema_of(model);
    let mut command = command.next_help_heading(format!("Fields of {}", model.id));
    for field in fields(&schema) {
        let property = &schema["properties"][field.property.as_str()];
        let help = help(property);
        if prompt == Prompt::Positional && field.property == "prompt" {
            command = command.arg(
                Arg::new("prompt")
                    .value_name("PROMPT")
                    .help(help)
                    .required_unless_present("input"),
            );
            continue;
        }
        let mut arg = Arg::new(field.property.clone())
            .long(field.flag.clone())
            .help(help);
        arg = match &field.kind {
            Kind::Text | Kind::Integer | Kind::Number | Kind::Json { repeated: false } => arg
                .value_name(value_name(&field.kind))
                .action(ArgAction::Set),
            Kind::Choice(values) => arg
                .value_name("CHOICE")
                .value_parser(clap::builder::PossibleValuesParser::new(
                    values.iter().map(choice_text),
                ))
                .action(ArgAction::Set),
            Kind::Boolean => arg.action(ArgAction::SetTrue),
            Kind::List(item) => {
                let arg = arg.value_name(value_name(item)).action(ArgAction::Append);
                match &**item {
                    Kind::Choice(values) => arg.value_parser(
                        clap::builder::PossibleValuesParser::new(values.iter().map(choice_text)),
                    ),
                    _ => arg,
                }
            }
            Kind::Pairs { count, text } => {
                let arg = arg
                    .value_name(format!("{}:{}", count.to_uppercase(), text.to_uppercase()))
                    .action(ArgAction::Append);
                if count == "duration" && text == "prompt" {
                    arg.visible_alias("shot")
                } else {
                    arg
                }
            }
            Kind::Json { repeated: true } => arg.value_name("JSON").action(ArgAction::Append),
        };
        if field.required {
            arg = arg.required_unless_present("input");
        }
        if field.kind == Kind::Boolean {
            let negative = format!("no-{}", field.flag);
            arg = arg.overrides_with(negative.clone());
            command = command.arg(arg).arg(
                Arg::new(negative.clone())
                    .long(negative)
                    .action(ArgAction::SetTrue)
                    .help(format!("Set {} to false.", field.property))
                    .overrides_with(field.property.clone()),
            );
        } else {
            command = command.arg(arg);
        }
    }
    command
}

fn value_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Integer => "INTEGER",
        Kind::Number => "NUMBER",
        Kind::Json { .. } => "JSON",
        _ => "TEXT",
    }
}

/// A flag's value that cannot become the property's JSON.
#[derive(Debug)]
pub struct BadFlag(pub String);

/// The request body: `base` (from `--input`) with every given flag
/// written over it, then the total duration and shot type completed from
/// shots.
pub fn body(
    model: &ModelDescriptor,
    matches: &ArgMatches,
    base: Option<Value>,
) -> Result<Value, BadFlag> {
    let schema = schema_of(model);
    let mut body = match base {
        None => Map::new(),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(BadFlag(format!(
                "--input must hold a JSON object, not {}",
                kind_name(&other)
            )));
        }
    };
    let mut shots_given = false;
    for field in fields(&schema) {
        let id = field.property.as_str();
        if field.kind == Kind::Boolean {
            let negative = format!("no-{}", field.flag);
            if matches.get_flag(id) {
                body.insert(field.property.clone(), Value::Bool(true));
            } else if matches.get_flag(&negative) {
                body.insert(field.property.clone(), Value::Bool(false));
            }
            continue;
        }
        let Some(values) = matches.get_many::<String>(id) else {
            continue;
        };
        let values: Vec<&String> = values.collect();
        let value = match &field.kind {
            Kind::List(item) => Value::Array(
                values
                    .iter()
                    .map(|v| scalar(item, v, &field))
                    .collect::<Result<_, _>>()?,
            ),
            Kind::Pairs { count, text } => {
                shots_given = true;
                Value::Array(
                    values
                        .iter()
                        .map(|v| pair(count, text, v, &field))
                        .collect::<Result<_, _>>()?,
                )
            }
            Kind::Json { repeated: true } => Value::Array(
                values
                    .iter()
                    .map(|v| json(v, &field))
                    .collect::<Result<_, _>>()?,
            ),
            kind => scalar(kind, values[0], &field)?,
        };
        body.insert(field.property.clone(), value);
    }
    let mut body = Value::Object(body);
    if shots_given {
        model.complete_from_shots(&mut body);
    }
    Ok(body)
}

fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn scalar(kind: &Kind, text: &str, field: &Field) -> Result<Value, BadFlag> {
    let bad = |what: &str| BadFlag(format!("--{}: {text:?} is not {what}", field.flag));
    Ok(match kind {
        Kind::Integer => Value::Number(
            text.trim()
                .parse::<i64>()
                .map_err(|_| bad("an integer"))?
                .into(),
        ),
        Kind::Number => {
            let n: f64 = text.trim().parse().map_err(|_| bad("a number"))?;
            Value::Number(Number::from_f64(n).ok_or_else(|| bad("a finite number"))?)
        }
        Kind::Choice(values) => values
            .iter()
            .find(|v| choice_text(v) == text)
            .cloned()
            .ok_or_else(|| bad("one of the choices"))?,
        Kind::Json { .. } => json(text, field)?,
        _ => Value::String(text.to_string()),
    })
}

fn json(text: &str, field: &Field) -> Result<Value, BadFlag> {
    serde_json::from_str(text).map_err(|e| BadFlag(format!("--{}: not JSON ({e})", field.flag)))
}

/// `4:close-up of the girl` -> `{"duration": 4, "prompt": "close-up of the girl"}`.
fn pair(count: &str, text: &str, value: &str, field: &Field) -> Result<Value, BadFlag> {
    let (number, rest) = value.split_once(':').ok_or_else(|| {
        BadFlag(format!(
            "--{}: {value:?} is not {}:{} (e.g. 4:\"close-up of the girl\")",
            field.flag,
            count.to_uppercase(),
            text.to_uppercase()
        ))
    })?;
    let number: i64 = number.trim().parse().map_err(|_| {
        BadFlag(format!(
            "--{}: {number:?} before the colon is not a whole number of {count}",
            field.flag
        ))
    })?;
    let mut item = Map::new();
    item.insert(count.to_string(), Value::Number(number.into()));
    item.insert(text.to_string(), Value::String(rest.trim().to_string()));
    Ok(Value::Object(item))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kling() -> &'static ModelDescriptor {
        ModelDescriptor::find(crate::cli::GENERATE_MODEL).expect("built in")
    }

    fn parse(args: &[&str]) -> Value {
        let command = add_args(
            Command::new("run").arg(Arg::new("input").long("input")),
            kling(),
            Prompt::Flag,
        );
        let matches = command
            .try_get_matches_from(std::iter::once("run").chain(args.iter().copied()))
            .expect("parses");
        body(kling(), &matches, None).expect("a body")
    }

    #[test]
    fn flags_become_a_typed_body_with_only_what_was_set() {
        assert_eq!(
            parse(&[
                "--prompt",
                "a fox",
                "--duration",
                "10",
                "--aspect-ratio",
                "9:16",
                "--no-sound",
                "--cfg-scale",
                "0.7"
            ]),
            serde_json::json!({"prompt": "a fox", "duration": 10, "aspect_ratio": "9:16", "sound": false, "cfg_scale": 0.7})
        );
        assert_eq!(
            parse(&["--prompt", "x"]),
            serde_json::json!({"prompt": "x"})
        );
    }

    #[test]
    fn shots_set_the_duration_and_the_shot_type() {
        assert_eq!(
            parse(&[
                "--prompt",
                "x",
                "--shot",
                "4:wide shot",
                "--shot",
                "3: close-up: the girl"
            ]),
            serde_json::json!({
                "prompt": "x",
                "duration": 7,
                "shot_type": "customize",
                "multi_prompt": [
                    {"duration": 4, "prompt": "wide shot"},
                    {"duration": 3, "prompt": "close-up: the girl"}
                ]
            })
        );
        assert_eq!(
            parse(&["--prompt", "x", "--duration", "9", "--multi-prompt", "4:a"])["duration"],
            9,
            "a given duration stays"
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_flag() {
        let command = add_args(
            Command::new("run").arg(Arg::new("input").long("input")),
            kling(),
            Prompt::Flag,
        );
        let error = command
            .clone()
            .try_get_matches_from(["run", "--prompt", "x", "--aspect-ratio", "4:3"])
            .expect_err("not a choice");
        assert!(error.to_string().contains("4:3"));
        let matches = command
            .try_get_matches_from(["run", "--prompt", "x", "--shot", "four:a"])
            .expect("clap takes any text");
        let BadFlag(message) = body(kling(), &matches, None).expect_err("not a number");
        assert!(
            message.contains("--multi-prompt") && message.contains("four"),
            "{message}"
        );
    }

    #[test]
    fn the_prompt_is_required_unless_an_input_file_gives_it() {
        let command = add_args(
            Command::new("run").arg(Arg::new("input").long("input")),
            kling(),
            Prompt::Flag,
        );
        assert!(command.clone().try_get_matches_from(["run"]).is_err());
        assert!(
            command
                .try_get_matches_from(["run", "--input", "body.json"])
                .is_ok()
        );
    }

    #[test]
    fn input_files_are_overridden_by_flags() {
        let command = add_args(
            Command::new("run").arg(Arg::new("input").long("input")),
            kling(),
            Prompt::Flag,
        );
        let matches = command
            .try_get_matches_from(["run", "--input", "-", "--duration", "8"])
            .expect("parses");
        let base = serde_json::json!({"prompt": "from the file", "duration": 5});
        assert_eq!(
            body(kling(), &matches, Some(base)).expect("a body"),
            serde_json::json!({"prompt": "from the file", "duration": 8})
        );
    }
}
