//! Hoisting: every enum and object property becomes a named definition
//! (named after the property, never after a title), and each property's
//! rules are spelt out in its docs.

use super::names::type_name;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A named type hoisted out of a property, so that typify names it after
/// the property rather than after a title or a long parent path.
pub(super) struct Definition {
    pub(super) name: String,
    pub(super) schema: Value,
    pub(super) file: PathBuf,
    pub(super) pointer: String,
}

/// Rewrites a normalised object schema for typify: enum, object and
/// object-array properties become named definitions; an optional property's
/// `default` moves into its docs (an omitted field means "the server's
/// default", so the request carries only what the caller set); range rules
/// are spelled out in the docs; `x-` extensions are dropped.
pub(super) fn prepare(
    schema: &Value,
    owner: &str,
    file: &Path,
    pointer: &str,
    taken: &mut BTreeSet<String>,
    defs: &mut Vec<Definition>,
) -> Value {
    let mut schema = strip_extensions(schema);
    let required: BTreeSet<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return schema;
    };
    for (name, property) in properties.iter_mut() {
        let here = format!("{pointer}/properties/{name}");
        let Some(object) = property.as_object_mut() else {
            continue;
        };
        document_rules(object, !required.contains(name));
        let description = object.get("description").cloned();
        // Moves `schema` into a definition named after the property (with
        // the owner's name in front if that name is taken) and returns the
        // definition's name.
        let mut hoist = |schema: &Map<String, Value>, suffix: &str, pointer: String| {
            let base = format!("{}{suffix}", type_name(name));
            let def_name = if taken.contains(&base) {
                format!("{owner}{base}")
            } else {
                base
            };
            taken.insert(def_name.clone());
            let def_schema = prepare(
                &Value::Object(schema.clone()),
                &def_name,
                file,
                &pointer,
                taken,
                defs,
            );
            defs.push(Definition {
                name: def_name.clone(),
                schema: def_schema,
                file: file.to_path_buf(),
                pointer,
            });
            def_name
        };
        if object.contains_key("enum") || is_object_schema(object) {
            let def_name = hoist(object, "", here);
            *property = reference(&def_name, description);
        } else if let Some(items) = object.get("items").and_then(Value::as_object)
            && (items.contains_key("enum") || is_object_schema(items))
        {
            let def_name = hoist(items, "Item", format!("{here}/items"));
            object.insert("items".into(), reference(&def_name, None));
        }
    }
    schema
}

fn is_object_schema(object: &Map<String, Value>) -> bool {
    object.get("type").and_then(Value::as_str) == Some("object")
        && object.contains_key("properties")
}

fn reference(name: &str, description: Option<Value>) -> Value {
    let mut out = json!({"$ref": format!("#/definitions/{name}")});
    if let Some(description) = description {
        out["description"] = description;
    }
    out
}

/// Moves an optional property's `default` into its description and spells
/// out numeric and length bounds there, so that the generated docs say
/// what the validator enforces.
fn document_rules(object: &mut Map<String, Value>, optional: bool) {
    let mut notes = Vec::new();
    let bound = |key: &str| object.get(key).map(|v| v.to_string());
    match (bound("minimum"), bound("maximum")) {
        (Some(min), Some(max)) => notes.push(format!("Allowed range: {min} to {max}.")),
        (Some(min), None) => notes.push(format!("At least {min}.")),
        (None, Some(max)) => notes.push(format!("At most {max}.")),
        (None, None) => {}
    }
    match (bound("minItems"), bound("maxItems")) {
        (Some(min), Some(max)) => notes.push(format!("Between {min} and {max} items.")),
        (Some(min), None) => notes.push(format!("At least {min} items.")),
        (None, Some(max)) => notes.push(format!("At most {max} items.")),
        (None, None) => {}
    }
    if optional && let Some(default) = object.remove("default") {
        notes.push(format!(
            "When omitted (`None`), the server uses `{default}`."
        ));
    }
    if notes.is_empty() {
        return;
    }
    let description = object
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let joined = notes.join(" ");
    let text = if description.is_empty() {
        joined
    } else {
        format!("{description}\n\n{joined}")
    };
    object.insert("description".into(), text.into());
}

fn strip_extensions(schema: &Value) -> Value {
    match schema {
        Value::Object(object) => Value::Object(
            object
                .iter()
                .filter(|(k, _)| !k.starts_with("x-"))
                .map(|(k, v)| (k.clone(), strip_extensions(v)))
                .collect(),
        ),
        Value::Array(list) => Value::Array(list.iter().map(strip_extensions).collect()),
        other => other.clone(),
    }
}
