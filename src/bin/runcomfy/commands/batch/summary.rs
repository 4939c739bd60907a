//! The batch's summary: a table for people, the report `--json` prints.

use super::journal::{Line, LineState};
use crate::output::Output;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Prints the batch's table for people; returns whether every line is
/// done, and the report `--json` prints.
pub fn summarise(out: &Output, lines: &[Line], interrupted: bool) -> (bool, Value) {
    let mut counts: BTreeMap<LineState, usize> = BTreeMap::new();
    for line in lines {
        *counts.entry(line.state).or_default() += 1;
    }
    let cost: f64 = lines.iter().filter_map(|l| l.cost).sum();
    let unknown: Vec<u64> = lines
        .iter()
        .filter(|l| l.state == LineState::Unknown)
        .map(|l| l.number)
        .collect();
    if !out.json {
        eprintln!("{:<12}{:>7}", "state", "lines");
        for state in LineState::ALL {
            if let Some(n) = counts.get(&state) {
                eprintln!("{:<12}{n:>7}", state.as_str());
            }
        }
        eprintln!("{:<12}{:>7}", "total", lines.len());
        eprintln!("{:<12}{:>7}", "spent", format!("${cost:.4}"));
        for line in lines
            .iter()
            .filter(|l| matches!(l.state, LineState::Failed | LineState::Invalid))
        {
            eprintln!(
                "line {} {}: {}",
                line.number,
                line.state.as_str(),
                line.error.as_deref().unwrap_or("")
            );
        }
        if !unknown.is_empty() {
            eprintln!(
                "may have been accepted: lines {}: check RunComfy before --resubmit-unknown",
                unknown
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let report = json!({
        "lines": lines.len(),
        "states": counts.iter().map(|(s, n)| (s.as_str(), n)).collect::<BTreeMap<_, _>>(),
        "cost_usd": cost,
        "may_have_been_accepted": unknown,
        "interrupted": interrupted,
        "details": lines.iter().map(|l| json!({
            "line": l.number,
            "model_id": l.model_id,
            "state": l.state.as_str(),
            "request_id": l.request_id,
            "error": l.error,
            "cost_usd": l.cost,
            "files": l.files,
        })).collect::<Vec<_>>(),
    });
    (lines.iter().all(|l| l.state == LineState::Done), report)
}
