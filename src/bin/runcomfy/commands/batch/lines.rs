//! Reading the batch's file: each line a request body (or `{"model": ID,
//! "input": BODY}`), checked before anything is sent, and identified by a
//! hash of its model and body; and clearing what a killed run left.

use super::journal::LineState;
use runcomfy::ModelDescriptor;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Temporary files a killed run left behind (a finished download is
/// renamed into place, so these are never whole files).
pub fn remove_stale_parts(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".runcomfy-") && name.ends_with(".part") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A line of the file, read and checked.
/// One line of the batch's file, read.
pub struct ReadLine {
    pub hash: String,
    pub model_id: String,
    pub body: Value,
    pub state: LineState,
    pub error: Option<String>,
}

pub fn read_line(raw: &str, default_model: &'static ModelDescriptor) -> ReadLine {
    let invalid = |model_id: &str, body: Value, error: String| ReadLine {
        hash: hash(model_id, raw),
        model_id: model_id.to_string(),
        body,
        state: LineState::Invalid,
        error: Some(error),
    };
    let value: Value = match serde_json::from_str(raw) {
        Ok(value) => value,
        Err(e) => {
            return invalid(
                default_model.id,
                Value::String(raw.into()),
                format!("not JSON: {e}"),
            );
        }
    };
    let (model, body) = match (&value["model"], value.get("input")) {
        (Value::String(id), Some(input)) if value.as_object().is_some_and(|o| o.len() == 2) => {
            match ModelDescriptor::find(id) {
                Some(model) => (model, input.clone()),
                None => return invalid(id, value.clone(), format!("no model {id} in this build")),
            }
        }
        _ => (default_model, value),
    };
    let text = body.to_string();
    match model.validate_input(&body) {
        Ok(()) => ReadLine {
            hash: hash(model.id, &text),
            model_id: model.id.to_string(),
            body,
            state: LineState::Pending,
            error: None,
        },
        Err(error) => invalid(model.id, body, error.to_string()),
    }
}

/// The identity of a line: its model and body, hashed.
fn hash(model_id: &str, body: &str) -> String {
    let digest = Sha256::new()
        .chain_update(model_id.as_bytes())
        .chain_update(b"\n")
        .chain_update(body.as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::GENERATE_MODEL;
    use serde_json::json;

    #[test]
    fn lines_are_read_bare_or_with_their_model() {
        let kling = ModelDescriptor::find(GENERATE_MODEL).expect("built in");
        let bare = read_line(r#"{"prompt": "a fox"}"#, kling);
        assert_eq!(
            (bare.state, bare.model_id.as_str()),
            (LineState::Pending, kling.id)
        );
        let wrapped = read_line(
            &format!(
                r#"{{"model": "{}", "input": {{"prompt": "a fox"}}}}"#,
                kling.id
            ),
            kling,
        );
        assert_eq!(wrapped.body, json!({"prompt": "a fox"}));
        assert_eq!(
            wrapped.hash, bare.hash,
            "the same request, the same identity"
        );
        let invalid = read_line(r#"{"prompt": "a fox", "duration": 99}"#, kling);
        assert_eq!(invalid.state, LineState::Invalid);
        assert!(invalid.error.expect("why").contains("duration"));
        assert_eq!(read_line("{not json", kling).state, LineState::Invalid);
        assert_eq!(
            read_line(r#"{"model": "acme/nothing", "input": {}}"#, kling).state,
            LineState::Invalid
        );
    }
}
