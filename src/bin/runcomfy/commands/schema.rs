//! `schema pull` and `schema check`: the schema workflow.
//!
//! `pull` writes a model's published input schema, output schema and
//! metadata into `DIR/<model id>/` (`input.json`, `output.json`,
//! `model.json`), keeping this crate's own `x-` keys of an existing
//! `model.json`. `check` compares every model under `DIR` with what
//! RunComfy publishes now and exits 85 on drift, summarising it: fields
//! added or removed, changed types, enums, ranges, defaults, required
//! fields and prices.

use crate::cli::{Global, SchemaArgs, SchemaCommand};
use crate::context::Context;
use crate::exit::{Failure, Kind};
use runcomfy::ModelInfo;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

pub async fn run(global: &Global, args: SchemaArgs) -> Result<(), Failure> {
    let ctx = Context::new(global, &args.client).await?;
    let command = args.command;
    match command {
        SchemaCommand::Pull { model_id, dir } => pull(&ctx, &model_id, &schema_dir(dir)?).await,
        SchemaCommand::Check { dir } => check(&ctx, &schema_dir(dir)?).await,
    }
}

/// `--dir`, or the crate's own `schema/models/` when run from its checkout.
fn schema_dir(dir: Option<PathBuf>) -> Result<PathBuf, Failure> {
    if let Some(dir) = dir {
        return Ok(dir);
    }
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/models");
    if built_in.is_dir() {
        Ok(built_in)
    } else {
        Err(Failure::usage(
            "no schema folder here: pass --dir (the crate's schema/models/ is not on this machine)",
        ))
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}

/// The output schema a model is given when RunComfy publishes none: the
/// one every RunComfy model page shows (image, video, images, videos).
fn generic_output_schema() -> Value {
    json!({"output": {"type": "object", "properties": {
        "image": {"type": "string", "format": "uri"},
        "video": {"type": "string", "format": "uri"},
        "images": {"type": "array", "items": {"type": "string", "format": "uri"}},
        "videos": {"type": "array", "items": {"type": "string", "format": "uri"}}
    }}})
}

async fn pull(ctx: &Context, model_id: &str, dir: &Path) -> Result<(), Failure> {
    let info = ctx.client.model_info(model_id).await?;
    let Some(input) = info.input_schema.clone() else {
        return Err(Failure::new(
            Kind::NoSchema,
            format!("RunComfy sent no input_schema for {model_id}"),
        ));
    };
    // The id was checked for path use by model_info: segments of
    // [A-Za-z0-9._-], never `.` or `..`.
    let folder = dir.join(model_id);
    std::fs::create_dir_all(&folder).map_err(|e| Failure::io(&folder, e))?;
    let mut written = Vec::new();
    let mut write = |name: &str, contents: String| -> Result<(), Failure> {
        let path = folder.join(name);
        std::fs::write(&path, contents).map_err(|e| Failure::io(&path, e))?;
        written.push(path);
        Ok(())
    };
    write("input.json", pretty(&input))?;
    let output_path = folder.join("output.json");
    match &info.output_schema {
        Some(output) if output.get("output").is_some() => write("output.json", pretty(output))?,
        Some(output) => write("output.json", pretty(&json!({ "output": output })))?,
        None if output_path.exists() => {}
        None => write("output.json", pretty(&generic_output_schema()))?,
    }
    let info_path = folder.join("model.json");
    let kept = std::fs::read_to_string(&info_path)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok());
    write("model.json", pretty(&metadata(&info, kept.as_ref())))?;
    for path in &written {
        ctx.out.line(path.display().to_string());
    }
    ctx.out.note(
        "next: cargo build, then cargo test --features cli and review the snapshot diff (tests/snapshots/*.snap.new), then commit",
    );
    ctx.out.document(&json!({
        "model_id": model_id,
        "dir": folder,
        "files": written,
    }));
    Ok(())
}

/// RunComfy's metadata without the schemas, with the `x-` keys of the
/// file it replaces.
fn metadata(info: &ModelInfo, kept: Option<&Value>) -> Value {
    let mut out = match serde_json::to_value(info) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    out.remove("input_schema");
    out.remove("output_schema");
    out.retain(|_, v| !v.is_null() && v != &json!([]));
    if let Some(Value::Object(kept)) = kept {
        for (key, value) in kept.iter().filter(|(k, _)| k.starts_with("x-")) {
            out.insert(key.clone(), value.clone());
        }
    }
    Value::Object(out)
}

/// Every model folder (one holding `input.json`) below `dir`, by id.
fn local_models(dir: &Path) -> Result<Vec<(String, PathBuf)>, Failure> {
    fn visit(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
        if dir.join("input.json").is_file() {
            let id = dir
                .strip_prefix(root)
                .unwrap_or(dir)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((id, dir.to_path_buf()));
        }
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            if entry.file_type()?.is_dir() {
                visit(root, &entry.path(), out)?;
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    visit(dir, dir, &mut out).map_err(|e| Failure::io(dir, e))?;
    Ok(out)
}

async fn check(ctx: &Context, dir: &Path) -> Result<(), Failure> {
    let models = local_models(dir)?;
    if models.is_empty() {
        return Err(Failure::usage(format!(
            "no model folders under {}",
            dir.display()
        )));
    }
    let mut report = Vec::new();
    let mut drifted = 0;
    for (id, folder) in models {
        let read = |name: &str| -> Option<Value> {
            serde_json::from_str(&std::fs::read_to_string(folder.join(name)).ok()?).ok()
        };
        let local_input = read("input.json").unwrap_or(Value::Null);
        let local_info = read("model.json").unwrap_or(Value::Null);
        let drift = match ctx.client.model_info(&id).await {
            Ok(remote) => {
                let mut drift = schema_drift(
                    &local_input,
                    remote.input_schema.as_ref().unwrap_or(&Value::Null),
                    "",
                );
                drift.extend(metadata_drift(&local_info, &remote));
                drift
            }
            Err(error @ (runcomfy::Error::Refused(_) | runcomfy::Error::NotFound(_))) => {
                vec![format!("RunComfy does not know this model: {error}")]
            }
            Err(error) => return Err(error.into()),
        };
        if drift.is_empty() {
            ctx.out.line(format!("{id}: up to date"));
        } else {
            drifted += 1;
            ctx.out.line(format!("{id}: drifted"));
            for line in &drift {
                ctx.out.line(format!("  {line}"));
            }
        }
        report.push(json!({"model_id": id, "drift": drift}));
    }
    let report = json!({"models": report, "drifted": drifted});
    if drifted > 0 {
        ctx.out.note("pull the new schemas with `runcomfy schema pull MODEL_ID`, rebuild, review the snapshot diff");
        return Err(Failure::new(
            Kind::SchemaDrift,
            format!("{drifted} model(s) differ from what RunComfy publishes"),
        )
        .with_detail(report));
    }
    ctx.out.document(&report);
    Ok(())
}

/// The keys whose change matters to a request.
const COMPARED: &[&str] = &[
    "type",
    "enum",
    "minimum",
    "maximum",
    "default",
    "minItems",
    "maxItems",
    "multipleOf",
    "minLength",
    "maxLength",
    "format",
];

/// The differences between two published schemas, one line each.
pub fn schema_drift(local: &Value, remote: &Value, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let at = |p: &str| {
        if p.is_empty() {
            "the input".to_string()
        } else {
            p.to_string()
        }
    };
    for key in COMPARED {
        match (local.get(*key), remote.get(*key)) {
            (Some(a), Some(b)) if a != b => {
                out.push(format!("{}: {key} changed from {a} to {b}", at(path)))
            }
            (Some(a), None) => out.push(format!("{}: {key} {a} removed", at(path))),
            (None, Some(b)) => out.push(format!("{}: {key} {b} added", at(path))),
            _ => {}
        }
    }
    let required = |v: &Value| -> Vec<String> {
        v["required"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (was, is) = (required(local), required(remote));
    for name in is.iter().filter(|n| !was.contains(n)) {
        out.push(format!("{}: {name} is now required", at(path)));
    }
    for name in was.iter().filter(|n| !is.contains(n)) {
        out.push(format!("{}: {name} is no longer required", at(path)));
    }
    let (a, b) = (properties(local), properties(remote));
    for (name, schema) in &b {
        let child = join(path, name);
        match a.get(name) {
            None => out.push(format!("{child}: field added ({})", schema["type"])),
            Some(old) => out.extend(schema_drift(old, schema, &child)),
        }
    }
    for name in a.keys().filter(|n| !b.contains_key(*n)) {
        out.push(format!("{}: field removed", join(path, name)));
    }
    if let (Some(old), Some(new)) = (items(local), items(remote)) {
        out.extend(schema_drift(&old, &new, &format!("{}[]", at(path))));
    }
    out
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn properties(schema: &Value) -> Map<String, Value> {
    schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

/// An array's item schema; RunComfy sometimes lists the item's properties
/// directly under `items`.
fn items(schema: &Value) -> Option<Value> {
    let items = schema.get("items")?.as_object()?;
    let is_schema = items.contains_key("type") || items.contains_key("properties");
    Some(if is_schema {
        Value::Object(items.clone())
    } else {
        json!({"type": "object", "properties": items})
    })
}

fn metadata_drift(local: &Value, remote: &ModelInfo) -> Vec<String> {
    let mut out = Vec::new();
    let local_price = local.get("base_price_usd").and_then(Value::as_f64);
    if remote.base_price_usd.is_some() && local_price != remote.base_price_usd {
        out.push(format!(
            "price: base_price_usd changed from {} to {}",
            local_price.map_or("none".into(), |p| p.to_string()),
            remote
                .base_price_usd
                .map_or("none".into(), |p| p.to_string())
        ));
    }
    let local_unit = local.get("price_unit").and_then(Value::as_str);
    if remote.price_unit.is_some() && local_unit != remote.price_unit.as_deref() {
        out.push(format!(
            "price: price_unit changed from {} to {}",
            local_unit.unwrap_or("none"),
            remote.price_unit.as_deref().unwrap_or("none")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_names_fields_enums_ranges_and_defaults() {
        let local = json!({"required": ["prompt"], "properties": {
            "prompt": {"type": "string"},
            "duration": {"type": "integer", "minimum": 3, "maximum": 15, "default": 5},
            "aspect_ratio": {"type": "string", "enum": ["16:9", "9:16"]},
            "multi_prompt": {"type": "array", "items": {"duration": {"type": "integer", "maximum": 15}}},
            "gone": {"type": "boolean"}
        }});
        let remote = json!({"required": ["prompt", "duration"], "properties": {
            "prompt": {"type": "string"},
            "duration": {"type": "integer", "minimum": 3, "maximum": 20, "default": 6},
            "aspect_ratio": {"type": "string", "enum": ["16:9", "9:16", "4:3"]},
            "multi_prompt": {"type": "array", "items": {"type": "object", "properties": {"duration": {"type": "integer", "maximum": 20}}}},
            "seed": {"type": "integer"}
        }});
        let drift = schema_drift(&local, &remote, "");
        let has = |s: &str| drift.iter().any(|d| d.contains(s));
        assert!(has("duration is now required"), "{drift:?}");
        assert!(has("duration: maximum changed from 15 to 20"), "{drift:?}");
        assert!(has("duration: default changed from 5 to 6"), "{drift:?}");
        assert!(has("aspect_ratio: enum changed"), "{drift:?}");
        assert!(
            has("multi_prompt[].duration: maximum changed from 15 to 20"),
            "{drift:?}"
        );
        assert!(has("seed: field added"), "{drift:?}");
        assert!(has("gone: field removed"), "{drift:?}");
        assert!(schema_drift(&local, &local, "").is_empty());
    }
}
