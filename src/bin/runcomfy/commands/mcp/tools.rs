//! The tools `runcomfy mcp` offers: one per model of this build, and the
//! job, catalogue, cost and balance tools.

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use runcomfy::ModelDescriptor;
use serde_json::{Value, json};
use std::sync::Arc;

/// The tools that are not a model.
pub const JOB_STATUS: &str = "job_status";
pub const JOB_RESULT: &str = "job_result";
pub const CANCEL_JOB: &str = "cancel_job";
pub const LIST_MODELS: &str = "list_models";
pub const ESTIMATE_COST: &str = "estimate_cost";
pub const BALANCE: &str = "balance";

/// A model's tool name: its id with every character a tool name cannot
/// hold (`/`, `.`) made `_`, e.g. `kling_kling-3_0_standard_text-to-video`.
pub fn tool_name(model_id: &str) -> String {
    let name: String = model_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    name.chars().take(64).collect()
}

/// The model a tool name stands for.
pub fn model_for(name: &str) -> Option<&'static ModelDescriptor> {
    ModelDescriptor::all()
        .iter()
        .copied()
        .find(|model| tool_name(model.id) == name)
}

/// Every tool, models first.
pub fn all() -> Vec<Tool> {
    let mut tools: Vec<Tool> = ModelDescriptor::all()
        .iter()
        .map(|model| model_tool(model))
        .collect();
    let request_id = || {
        object(
            json!({"request_id": {"type": "string", "description": "The request id a model's tool answered with."}}),
            &["request_id"],
        )
    };
    tools.push(Tool::new(
        JOB_STATUS,
        "A job's status: in_queue (with its queue position), in_progress, completed, failed or cancelled. Free.",
        request_id(),
    ).annotate(read_only()));
    tools.push(Tool::new(
        JOB_RESULT,
        "A finished job's output URLs, cost and metadata; for a job not finished yet, its status. Free. Use it to resume a job whose wait ran out.",
        request_id(),
    ).annotate(read_only()));
    tools.push(Tool::new(
        CANCEL_JOB,
        "Cancels a queued job (nothing is paid for it); a job already running cannot be cancelled. Safe to repeat.",
        request_id(),
    ).annotate(ToolAnnotations::new().destructive(true).idempotent(true)));
    tools.push(Tool::new(
        LIST_MODELS,
        "RunComfy's model catalogue, with listed prices. Free.",
        object(
            json!({
                "search": {"type": "string", "description": "Text to look for in ids, names and descriptions."},
                "category": {"type": "string", "description": "Only this category, e.g. video."},
                "kind": {"type": "string", "description": "Only entries of this kind: model, workflow or inference."}
            }),
            &[],
        ),
    ).annotate(read_only()));
    tools.push(Tool::new(
        ESTIMATE_COST,
        "What a model's input would cost, from its listed price, without sending anything. Free.",
        object(
            json!({
                "model_id": {"type": "string", "enum": ModelDescriptor::all().iter().map(|m| m.id).collect::<Vec<_>>()},
                "input": {"type": "object", "description": "The model's input, as its tool takes it."}
            }),
            &["model_id", "input"],
        ),
    ).annotate(read_only()));
    tools.push(
        Tool::new(
            BALANCE,
            "What is left on the RunComfy account, and what this server has committed against its budget. Free.",
            object(json!({}), &[]),
        )
        .annotate(read_only()),
    );
    tools
}

fn read_only() -> ToolAnnotations {
    ToolAnnotations::new().read_only(true)
}

fn object(properties: Value, required: &[&str]) -> Arc<JsonObject> {
    let schema = json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false
    });
    match schema {
        Value::Object(map) => Arc::new(map),
        _ => unreachable!("built as an object"),
    }
}

/// A model's tool: its input schema as plain JSON Schema (the dialect
/// normalised, references inlined, this crate's `x-` keys dropped, closed
/// to unknown fields as validation is), its description from its English
/// texts and listed price.
fn model_tool(model: &ModelDescriptor) -> Tool {
    let info = model.info();
    let mut description = format!(
        "Runs RunComfy's {} ({}): validates the input, submits it (a paid job), waits for it and answers with the output URLs, the cost and the request id.",
        info.display_name.as_deref().unwrap_or(model.id),
        model.id
    );
    if let Some(text) = &info.description {
        description.push(' ');
        description.push_str(text);
    }
    match (info.base_price_usd, &info.price_unit) {
        (Some(price), Some(unit)) => {
            description.push_str(&format!(" Listed at ${price} per {unit}."));
        }
        (Some(price), None) => description.push_str(&format!(" Listed at ${price}.")),
        _ => {}
    }
    description.push_str(
        " If the wait runs out, the job goes on: resume it with job_result and the request id; never call this tool again for the same job.",
    );
    let schema: Value = serde_json::from_str(model.input_schema).unwrap_or(json!({}));
    let plain = plain_schema(&schema, &schema);
    let schema = match plain {
        Value::Object(mut map) => {
            map.remove("$defs");
            map.remove("$schema");
            map.entry("additionalProperties").or_insert(json!(false));
            map
        }
        _ => JsonObject::new(),
    };
    Tool::new(tool_name(model.id), description, Arc::new(schema))
        .with_title(info.display_name.unwrap_or_else(|| model.id.to_string()))
        .annotate(ToolAnnotations::new().read_only(false).open_world(true))
}

/// `schema` with local `$ref`s replaced by what they name and `x-` keys
/// dropped.
fn plain_schema(schema: &Value, root: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            if let Some(target) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix('#'))
                .and_then(|pointer| root.pointer(pointer))
            {
                let mut resolved = plain_schema(target, root);
                // Keywords beside the reference (a description) win.
                if let Value::Object(out) = &mut resolved {
                    for (key, value) in map {
                        if key != "$ref" && !key.starts_with("x-") {
                            out.insert(key.clone(), plain_schema(value, root));
                        }
                    }
                }
                return resolved;
            }
            Value::Object(
                map.iter()
                    .filter(|(key, _)| !key.starts_with("x-"))
                    .map(|(key, value)| (key.clone(), plain_schema(value, root)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| plain_schema(v, root)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_are_model_ids_a_tool_name_can_hold() {
        assert_eq!(
            tool_name("kling/kling-3.0/standard/text-to-video"),
            "kling_kling-3_0_standard_text-to-video"
        );
        let kling = model_for("kling_kling-3_0_standard_text-to-video").expect("found");
        assert_eq!(kling.id, "kling/kling-3.0/standard/text-to-video");
        assert!(model_for("job_status").is_none());
    }

    #[test]
    fn a_models_schema_is_plain_json_schema() {
        let tools = all();
        let kling = &tools[0];
        let schema = Value::Object((*kling.input_schema).clone());
        let text = schema.to_string();
        assert!(
            !text.contains("$ref") && !text.contains("x-runcomfy"),
            "{text}"
        );
        assert_eq!(schema["properties"]["duration"]["maximum"], 15);
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(
            schema["properties"]["multi_prompt"]["items"]["properties"]["duration"]["type"],
            "integer"
        );
        let description = kling.description.as_deref().unwrap_or_default();
        assert!(description.contains("$0.084 per second"), "{description}");
    }
}
