//! The schema's own rules: the model's normalised input schema, closed to
//! unknown fields, compiled once by the [`boon`] crate, and its
//! failures read as [`Violation`]s.

use super::violation::{Rule, Violation};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// A model's normalised input schema, parsed and compiled (or why it
/// could not be).
pub(super) struct Compiled {
    pub(super) schema: Value,
    pub(super) validator: Result<Validator, String>,
}

/// A closed input schema compiled by `boon`.
pub(super) struct Validator {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

impl Validator {
    /// Compiles `schema`, closed first as every model's is (JSON Schema
    /// 2020-12 unless it names its `$schema`; formats are annotations, as
    /// 2020-12 says), or says why it cannot be compiled.
    fn new(schema: &Value) -> Result<Self, String> {
        const LOCATION: &str = "urn:runcomfy:input-schema";
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler.set_default_draft(boon::Draft::V2020_12);
        let reason = |e: boon::CompileError| format!("{e:#}");
        compiler
            .add_resource(LOCATION, closed(schema))
            .map_err(reason)?;
        let index = compiler.compile(LOCATION, &mut schemas).map_err(reason)?;
        Ok(Self { schemas, index })
    }

    /// Every way `input` breaks the schema; empty if it breaks none.
    pub(super) fn violations(&self, input: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        if let Err(error) = self.schemas.validate(input, self.index) {
            collect(&error, input, &mut out);
        }
        out
    }
}

/// Schemas are parsed and compiled once per schema text (a descriptor
/// built at run time may share an id with a built-in one) and kept for the
/// process. A schema that is not valid JSON Schema validates nothing: every
/// input is refused with a violation saying so.
pub(super) fn compiled(input_schema: &'static str) -> Arc<Compiled> {
    static CACHE: OnceLock<Mutex<HashMap<&'static str, Arc<Compiled>>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    cache
        .entry(input_schema)
        .or_insert_with(|| {
            let compiled = serde_json::from_str::<Value>(input_schema)
                .map_err(|e| e.to_string())
                .and_then(|schema| Validator::new(&schema).map(|validator| (schema, validator)));
            Arc::new(match compiled {
                Ok((schema, validator)) => Compiled {
                    schema,
                    validator: Ok(validator),
                },
                Err(problem) => Compiled {
                    schema: Value::Null,
                    validator: Err(problem),
                },
            })
        })
        .clone()
}

/// `input`'s violations of `schema` (closed first, as every model's is),
/// or why `schema` cannot be compiled.
#[cfg(any(fuzzing, test))]
pub(super) fn check_with(schema: &Value, input: &Value) -> Result<Vec<Violation>, String> {
    Validator::new(schema).map(|validator| validator.violations(input))
}

/// `schema` with every object that lists its `properties` closed to other
/// fields (`additionalProperties: false`) unless it says otherwise: a
/// misspelt field (`aspectRatio`) is refused instead of being silently
/// ignored by the server while the job is paid for.
fn closed(schema: &Value) -> Value {
    let mut schema = schema.clone();
    close(&mut schema);
    schema
}

fn close(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if object.contains_key("properties") && !object.contains_key("additionalProperties") {
        object.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        properties.values_mut().for_each(close);
    }
    if let Some(items) = object.get_mut("items") {
        close(items);
    }
}

/// Every violation in `error`'s tree, leaves first found first: the
/// groups the validator nests its failures in (the root, `$ref`,
/// `allOf`) are looked through; a keyword whose failure is about its
/// alternatives (`anyOf`, `oneOf`, `not`, ...) is one violation.
fn collect(error: &boon::ValidationError<'_, '_>, input: &Value, out: &mut Vec<Violation>) {
    use boon::ErrorKind as Kind;
    let is_group = matches!(
        error.kind,
        Kind::Group | Kind::Schema { .. } | Kind::Reference { .. } | Kind::AllOf
    );
    if is_group && !error.causes.is_empty() {
        for cause in &error.causes {
            collect(cause, input, out);
        }
        return;
    }
    let tokens = &error.instance_location.tokens;
    let path = field_path(&error.instance_location.to_string());
    let at = value_at(input, tokens);
    let number = |n: &serde_json::Number| Value::Number(n.clone());
    let rule = match &error.kind {
        Kind::Required { want } => {
            out.extend(want.iter().map(|name| Violation {
                path: join(&path, name),
                rule: Rule::Required,
                value: None,
            }));
            return;
        }
        Kind::AdditionalProperties { got } => {
            out.extend(got.iter().map(|name| Violation {
                path: join(&path, name),
                rule: Rule::UnknownField,
                value: at.and_then(|v| v.get(name.as_ref())).cloned(),
            }));
            return;
        }
        Kind::Type { want, .. } => Rule::Type {
            expected: want
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(" or "),
        },
        Kind::Enum { want } => Rule::Enum {
            allowed: want.to_vec(),
        },
        Kind::Const { want } => Rule::Enum {
            allowed: vec![(*want).clone()],
        },
        Kind::Minimum { want, .. } => Rule::Minimum {
            limit: number(want),
        },
        Kind::Maximum { want, .. } => Rule::Maximum {
            limit: number(want),
        },
        Kind::ExclusiveMinimum { want, .. } => Rule::ExclusiveMinimum {
            limit: number(want),
        },
        Kind::ExclusiveMaximum { want, .. } => Rule::ExclusiveMaximum {
            limit: number(want),
        },
        Kind::MultipleOf { want, .. } => Rule::MultipleOf {
            step: want.as_f64().unwrap_or(f64::NAN),
        },
        Kind::MinItems { want, .. } => Rule::MinItems {
            limit: *want as u64,
        },
        Kind::MaxItems { want, .. } => Rule::MaxItems {
            limit: *want as u64,
        },
        Kind::MinLength { want, .. } => Rule::MinLength {
            limit: *want as u64,
        },
        Kind::MaxLength { want, .. } => Rule::MaxLength {
            limit: *want as u64,
        },
        Kind::Pattern { want, .. } => Rule::Pattern {
            pattern: (*want).to_string(),
        },
        other => Rule::Schema {
            keyword: keyword(other).to_string(),
            message: other.to_string(),
        },
    };
    out.push(Violation {
        path,
        rule,
        value: at.cloned(),
    });
}

/// The JSON Schema keyword a failure of `kind` broke.
fn keyword(kind: &boon::ErrorKind<'_, '_>) -> &'static str {
    use boon::ErrorKind as Kind;
    match kind {
        Kind::Group | Kind::Schema { .. } => "schema",
        Kind::ContentSchema => "contentSchema",
        Kind::PropertyName { .. } => "propertyNames",
        Kind::Reference { kw, .. } => kw,
        Kind::RefCycle { .. } => "$ref",
        Kind::FalseSchema => "false",
        Kind::Type { .. } => "type",
        Kind::Enum { .. } => "enum",
        Kind::Const { .. } => "const",
        Kind::Format { .. } => "format",
        Kind::MinProperties { .. } => "minProperties",
        Kind::MaxProperties { .. } => "maxProperties",
        Kind::AdditionalProperties { .. } => "additionalProperties",
        Kind::Required { .. } => "required",
        Kind::Dependency { .. } => "dependencies",
        Kind::DependentRequired { .. } => "dependentRequired",
        Kind::MinItems { .. } => "minItems",
        Kind::MaxItems { .. } => "maxItems",
        Kind::Contains => "contains",
        Kind::MinContains { .. } => "minContains",
        Kind::MaxContains { .. } => "maxContains",
        Kind::UniqueItems { .. } => "uniqueItems",
        Kind::AdditionalItems { .. } => "additionalItems",
        Kind::MinLength { .. } => "minLength",
        Kind::MaxLength { .. } => "maxLength",
        Kind::Pattern { .. } => "pattern",
        Kind::ContentEncoding { .. } => "contentEncoding",
        Kind::ContentMediaType { .. } => "contentMediaType",
        Kind::Minimum { .. } => "minimum",
        Kind::Maximum { .. } => "maximum",
        Kind::ExclusiveMinimum { .. } => "exclusiveMinimum",
        Kind::ExclusiveMaximum { .. } => "exclusiveMaximum",
        Kind::MultipleOf { .. } => "multipleOf",
        Kind::Not => "not",
        Kind::AllOf => "allOf",
        Kind::AnyOf => "anyOf",
        Kind::OneOf(_) => "oneOf",
    }
}

/// The value at `tokens` inside `input`.
fn value_at<'v>(input: &'v Value, tokens: &[boon::InstanceToken<'_>]) -> Option<&'v Value> {
    tokens.iter().try_fold(input, |value, token| match token {
        boon::InstanceToken::Prop(name) => value.get(name.as_ref()),
        boon::InstanceToken::Item(index) => value.get(*index),
    })
}

/// `/multi_prompt/1/duration` -> `multi_prompt[1].duration`.
pub(crate) fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if token.parse::<usize>().is_ok() && !out.is_empty() {
            out.push_str(&format!("[{token}]"));
        } else {
            out = join(&out, &token);
        }
    }
    out
}

fn join(parent: &str, field: &str) -> String {
    if parent.is_empty() {
        field.to_string()
    } else {
        format!("{parent}.{field}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    fn violations(schema: Value, input: Value) -> Vec<(String, String)> {
        check_with(&schema, &input)
            .expect("a valid schema")
            .into_iter()
            .map(|v| (v.path.clone(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_failure_in_the_tree_becomes_one_violation_naming_its_field() {
        let schema = json!({
            "type": "object",
            "required": ["a", "b", "c"],
            "properties": {
                "a": {"type": "string", "pattern": "^[a-z]+$"},
                "b": {"type": ["integer", "null"]},
                "c": {"type": "number", "multipleOf": 0.5, "exclusiveMinimum": 0},
                "list": {"type": "array", "maxItems": 2, "items": {
                    "type": "object", "properties": {"n": {"$ref": "#/$defs/small"}}
                }},
                "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]}
            },
            "$defs": {"small": {"type": "integer", "maximum": 3}}
        });
        let mut found = violations(
            schema,
            json!({
                "a": "ABC",
                "c": -1.25,
                "list": [{"n": 9}, {"n": 1, "m": true, "k": 2}],
                "either": [],
                "extra": "x"
            }),
        );
        found.sort();
        let expected: Vec<(String, String)> = [
            ("a", "a: must match the pattern ^[a-z]+$ (got \"ABC\")"),
            ("b", "b: is required"),
            ("c", "c: must be a multiple of 0.5 (got -1.25)"),
            ("c", "c: must be greater than 0 (got -1.25)"),
            ("either", "either: breaks `anyOf`: anyOf failed (got [])"),
            ("extra", "extra: is not a field of this model (got \"x\")"),
            ("list[0].n", "list[0].n: must be at most 3 (got 9)"),
            (
                "list[1].k",
                "list[1].k: is not a field of this model (got 2)",
            ),
            (
                "list[1].m",
                "list[1].m: is not a field of this model (got true)",
            ),
        ]
        .into_iter()
        .map(|(path, text)| (path.to_string(), text.to_string()))
        .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn a_schema_that_is_not_json_schema_is_refused_with_the_reason() {
        let Err(problem) = check_with(&json!({"type": "float"}), &json!(1.5)) else {
            panic!("float is not a JSON type");
        };
        assert!(problem.contains("type"), "{problem}");
        assert!(violations(json!({"type": "integer"}), json!(4)).is_empty());
    }

    #[test]
    fn pointers_become_readable_paths() {
        assert_eq!(field_path(""), "");
        assert_eq!(field_path("/duration"), "duration");
        assert_eq!(
            field_path("/multi_prompt/1/duration"),
            "multi_prompt[1].duration"
        );
        assert_eq!(field_path("/a~1b/c~0d"), "a/b.c~d");
    }
}
