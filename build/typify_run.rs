//! Running typify over a model's definitions, and, when it refuses them,
//! finding the definition and property at fault.

use super::hoist::Definition;
use super::{CodegenError, catch_panic};
use proc_macro2::TokenStream;
use serde_json::{Value, json};
use std::path::Path;

pub(super) fn typify_definitions(defs: &[Definition]) -> Result<TokenStream, CodegenError> {
    let to_schema = |d: &Definition| -> Result<schemars::schema::Schema, CodegenError> {
        serde_json::from_value(d.schema.clone()).map_err(|e| {
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
                    "simplify this part of the schema (or teach build/dialect.rs the quirk), then rebuild",
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
