//! Running typify over a model's definitions, and, when it refuses them,
//! finding the definition and property at fault.

use super::hoist::Definition;
use super::{CodegenError, catch_panic};
use proc_macro2::TokenStream;
use serde_json::{Value, json};

pub(super) fn typify_definitions(defs: &[Definition]) -> Result<TokenStream, CodegenError> {
    let to_schema = |d: &Definition| -> Result<schemars::schema::Schema, CodegenError> {
        serde_json::from_value(without_patterns(&d.schema)).map_err(|e| {
            CodegenError::new(
                &d.file,
                &d.pointer,
                format!("not a JSON Schema typify can read: {e}"),
                "correct the schema",
            )
        })
    };
    let schemas = defs
        .iter()
        .map(|d| Ok((d.name.clone(), to_schema(d)?)))
        .collect::<Result<Vec<_>, CodegenError>>()?;
    let first = &defs[0];
    let attempt = |schemas: Vec<(String, schemars::schema::Schema)>| {
        catch_panic(&first.file, "typify", move || {
            let mut settings = typify::TypeSpaceSettings::default();
            settings
                .with_struct_builder(false)
                .with_derive("PartialEq".into());
            let mut space = typify::TypeSpace::new(&settings);
            space.add_ref_types(schemas).map(|()| space.to_stream())
        })
    };
    match attempt(schemas.clone()) {
        Ok(Ok(tokens)) => Ok(tokens),
        Ok(Err(_)) | Err(_) => {
            // Find the definition at fault: convert each alone, its
            // neighbours replaced by "anything".
            for (index, def) in defs.iter().enumerate() {
                let isolated = schemas
                    .iter()
                    .enumerate()
                    .map(|(i, (name, schema))| {
                        let schema = if i == index {
                            schema.clone()
                        } else {
                            schemars::schema::Schema::Bool(true)
                        };
                        (name.clone(), schema)
                    })
                    .collect();
                let problem = match attempt(isolated) {
                    Ok(Ok(_)) => continue,
                    Ok(Err(e)) => format!("typify cannot map this schema: {e}"),
                    Err(e) => e.problem,
                };
                let pointer = failing_property(def, |one| attempt(vec![(def.name.clone(), one)]))
                    .map(|name| format!("{}/properties/{name}", def.pointer))
                    .unwrap_or_else(|| def.pointer.clone());
                return Err(CodegenError::new(
                    &def.file,
                    &pointer,
                    problem,
                    "simplify this part of the schema (or teach codegen/src/dialect.rs the quirk), then rebuild",
                ));
            }
            Err(CodegenError::new(
                &first.file,
                "",
                "typify cannot map the model's schemas together",
                "check that every $ref names a definition",
            ))
        }
    }
}

/// The first property of an object definition that typify refuses on its
/// own (its siblings removed), to point the error at it.
fn failing_property<T, E>(
    def: &Definition,
    attempt: impl Fn(schemars::schema::Schema) -> Result<Result<T, E>, CodegenError>,
) -> Option<String> {
    let properties = def.schema.get("properties")?.as_object()?;
    properties
        .keys()
        .find(|name| {
            let mut alone = def.schema.clone();
            alone["properties"] = json!({ name.as_str(): properties[name.as_str()].clone() });
            if let Some(required) = alone.get_mut("required").and_then(Value::as_array_mut) {
                required.retain(|r| r == name.as_str());
            }
            let Ok(schema) = serde_json::from_value(alone) else {
                return false;
            };
            !matches!(attempt(schema), Ok(Ok(_)))
        })
        .cloned()
}

/// `schema` without its string `pattern`s, for typify. The validation
/// layer checks patterns against the schema as published, so a pattern
/// typed as a regex-checked newtype would only check it twice and make
/// the crate depend on a second regex engine (`regress`).
fn without_patterns(schema: &Value) -> Value {
    let Some(object) = schema.as_object() else {
        return schema.clone();
    };
    let strip_all = |value: &Value| match value {
        Value::Array(items) => Value::Array(items.iter().map(without_patterns).collect()),
        other => without_patterns(other),
    };
    let strip_map = |value: &Value| match value.as_object() {
        Some(map) => Value::Object(
            map.iter()
                .map(|(name, child)| (name.clone(), without_patterns(child)))
                .collect(),
        ),
        None => value.clone(),
    };
    object
        .iter()
        .filter(|(key, value)| !(key.as_str() == "pattern" && value.is_string()))
        .map(|(key, value)| {
            let value = match key.as_str() {
                "properties" | "patternProperties" | "definitions" | "$defs" => strip_map(value),
                "items"
                | "additionalProperties"
                | "additionalItems"
                | "not"
                | "contains"
                | "propertyNames"
                | "if"
                | "then"
                | "else"
                | "allOf"
                | "anyOf"
                | "oneOf"
                | "prefixItems" => strip_all(value),
                _ => value.clone(),
            };
            (key.clone(), value)
        })
        .collect::<serde_json::Map<String, Value>>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::without_patterns;
    use serde_json::json;

    #[test]
    fn patterns_are_left_to_validation_but_a_property_named_pattern_stays() {
        let schema = json!({
            "type": "object",
            "properties": {
                "pattern": {"type": "string", "pattern": "^a+$"},
                "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}}
            }
        });
        assert_eq!(
            without_patterns(&schema),
            json!({
                "type": "object",
                "properties": {
                    "pattern": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "string"}}
                }
            })
        );
    }
}
