//! Brings progenitor's client to RunComfy's documented wire form.
//!
//! progenitor writes requests its own way in two places where RunComfy's
//! documented requests (the seed page's curl commands) differ:
//!
//! - it percent-encodes every path parameter whole, so the model id
//!   `kling/kling-3.0/standard/text-to-video` would travel as
//!   `kling%2Fkling-3.0%2Fstandard%2Ftext-to-video`. A path parameter marked
//!   `"x-runcomfy-literal-slashes": true` in the OpenAPI file keeps its
//!   slashes: each segment is encoded on its own (by
//!   `crate::wire::encode_path_keeping_slashes`).
//! - it adds an `api-version` header (the OpenAPI file's `info.version`)
//!   to every request; RunComfy documents no such header, so it is removed.
//!
//! Both rewrites work on the parsed code, not on text, and a marked
//! parameter that no longer shows up in the generated code fails the build
//! instead of silently travelling encoded.
//!
//! Before progenitor sees the OpenAPI file, its error responses (4XX,
//! 5XX, default) are set aside ([`for_generator`]): they are
//! declared for documentation and conformance testing, but the client reads
//! an error's status, `Retry-After` and raw body itself, whatever its
//! content type (a gateway's HTML page included), so the generated code
//! must hand it the raw answer.
//!
//! It also adds what the transport needs to know from the spec: the
//! operations marked `"x-runcomfy-paid": true` (they may create a paid job,
//! so they are never re-sent once they may have reached the server), as
//! `PAID_OPERATIONS`.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use syn::punctuated::Punctuated;
use syn::visit_mut::VisitMut;

/// The extension keyword that marks a path parameter whose slashes stay
/// literal.
pub const LITERAL_SLASHES: &str = "x-runcomfy-literal-slashes";

/// The extension keyword that marks an operation that may create a paid
/// job.
pub const PAID: &str = "x-runcomfy-paid";

/// The function the rewritten code calls instead of `encode_path`.
const KEEP_SLASHES: &str = "crate::wire::encode_path_keeping_slashes";

/// The names of the path parameters marked with [`LITERAL_SLASHES`],
/// wherever the OpenAPI document declares them.
pub fn literal_slash_parameters(spec: &Value) -> BTreeSet<String> {
    fn visit(value: &Value, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                if map.get("in").and_then(Value::as_str) == Some("path")
                    && map.get(LITERAL_SLASHES) == Some(&Value::Bool(true))
                    && let Some(name) = map.get("name").and_then(Value::as_str)
                {
                    out.insert(name.to_string());
                }
                map.values().for_each(|v| visit(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| visit(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    visit(spec, &mut out);
    out
}

/// The spec as the generator is given it: every operation's non-2XX
/// responses removed, and path parameters plain strings (their patterns
/// are the ones `src/wire/ids.rs` checks before any request; as newtypes
/// they would be checked twice).
pub fn for_generator(spec: &Value) -> Value {
    let mut spec = spec.clone();
    if let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for operation in item.values_mut() {
                if let Some(responses) = operation
                    .get_mut("responses")
                    .and_then(Value::as_object_mut)
                {
                    responses.retain(|code, _| code.starts_with('2'));
                }
            }
        }
    }
    if let Some(parameters) = spec
        .pointer_mut("/components/parameters")
        .and_then(Value::as_object_mut)
    {
        for parameter in parameters.values_mut() {
            if parameter["in"] == "path"
                && let Some(schema) = parameter.get_mut("schema").and_then(Value::as_object_mut)
            {
                schema.retain(|key, _| key == "type");
            }
        }
    }
    spec
}

/// The `operationId`s of the operations marked [`PAID`].
pub fn paid_operations(spec: &Value) -> Vec<String> {
    let mut out: Vec<String> = spec["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|item| item.values())
        .filter(|operation| operation.get(PAID) == Some(&Value::Bool(true)))
        .filter_map(|operation| operation["operationId"].as_str().map(String::from))
        .collect();
    out.sort();
    out
}

/// The `PAID_OPERATIONS` item listing `operations`.
pub fn paid_operations_item(operations: &[String]) -> syn::Item {
    syn::parse_quote! {
        /// The operations that may create a paid job (marked
        /// `x-runcomfy-paid` in the OpenAPI file): never re-sent once they
        /// may have reached the server.
        pub const PAID_OPERATIONS: &[&str] = &[#(#operations),*];
    }
}

/// Rewrites the generated client in place. Returns the marked parameters
/// that were never found in a request path (an empty list is success).
pub fn apply(file: &mut syn::File, literal_slashes: &BTreeSet<String>) -> Vec<String> {
    let mut rewriter = Rewriter {
        literal_slashes,
        rewritten: literal_slashes.iter().map(|p| (p.clone(), 0)).collect(),
    };
    rewriter.visit_file_mut(file);
    rewriter
        .rewritten
        .into_iter()
        .filter(|(_, count)| *count == 0)
        .map(|(name, _)| name)
        .collect()
}

struct Rewriter<'a> {
    literal_slashes: &'a BTreeSet<String>,
    rewritten: BTreeMap<String, usize>,
}

impl VisitMut for Rewriter<'_> {
    fn visit_macro_mut(&mut self, mac: &mut syn::Macro) {
        // progenitor builds each URL with `format!(.., encode_path(&p.to_string()))`.
        if mac.path.is_ident("format") {
            let parser = Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated;
            if let Ok(mut args) = mac.parse_body_with(parser) {
                let before = self.total();
                for arg in args.iter_mut() {
                    self.rewrite_encode_path(arg);
                }
                if self.total() != before {
                    mac.tokens = quote::quote! { #args };
                }
            }
        }
        syn::visit_mut::visit_macro_mut(self, mac);
    }

    fn visit_block_mut(&mut self, block: &mut syn::Block) {
        block.stmts.retain(|stmt| !is_api_version_header(stmt));
        syn::visit_mut::visit_block_mut(self, block);
    }
}

impl Rewriter<'_> {
    fn total(&self) -> usize {
        self.rewritten.values().sum()
    }

    /// `encode_path(&name.to_string())` for a marked `name` becomes
    /// `encode_path_keeping_slashes(&name.to_string())`.
    fn rewrite_encode_path(&mut self, expr: &mut syn::Expr) {
        let syn::Expr::Call(call) = expr else {
            return;
        };
        let syn::Expr::Path(function) = &*call.func else {
            return;
        };
        if !function.path.is_ident("encode_path") || call.args.len() != 1 {
            return;
        }
        let Some(name) = parameter_name(&call.args[0]) else {
            return;
        };
        if let Some(count) = self.rewritten.get_mut(&name)
            && self.literal_slashes.contains(&name)
        {
            *count += 1;
            *call.func = syn::parse_str(KEEP_SLASHES).expect("a valid path");
        }
    }
}

/// `name` in `&name.to_string()`.
fn parameter_name(arg: &syn::Expr) -> Option<String> {
    let syn::Expr::Reference(reference) = arg else {
        return None;
    };
    let syn::Expr::MethodCall(call) = &*reference.expr else {
        return None;
    };
    let syn::Expr::Path(receiver) = &*call.receiver else {
        return None;
    };
    (call.method == "to_string")
        .then(|| receiver.path.get_ident().map(ToString::to_string))
        .flatten()
}

/// `header_map.append(HeaderName::from_static("api-version"), ..);`
fn is_api_version_header(stmt: &syn::Stmt) -> bool {
    let syn::Stmt::Expr(syn::Expr::MethodCall(call), _) = stmt else {
        return false;
    };
    call.method == "append"
        && call.args.first().is_some_and(|name| {
            quote::quote! { #name }
                .to_string()
                .contains("\"api-version\"")
        })
}
