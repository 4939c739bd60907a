//! Rust names from model ids and property names, and the module tree the
//! models' modules go in.

use super::{CodegenError, ModelFiles};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use std::collections::BTreeMap;

/// The Rust module path of a model: its id's segments, snake-cased.
pub fn module_path(files: &ModelFiles) -> Result<Vec<String>, CodegenError> {
    let path: Vec<String> = files.id.split('/').map(module_name).collect();
    if path.iter().any(|s| s.is_empty()) {
        return Err(CodegenError::new(
            &files.input,
            "",
            format!(
                "model id {:?} has a segment with no letters or digits",
                files.id
            ),
            "rename the model's folder under schema/models/",
        ));
    }
    Ok(path)
}

/// `kling-3.0` -> `kling_3_0`; a leading digit gets a `v` (`3d` -> `v3d`);
/// a keyword gets a trailing underscore.
pub fn module_name(segment: &str) -> String {
    let mut out = String::new();
    for c in segment.chars() {
        if c.is_ascii_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    let mut out = out.trim_end_matches('_').to_string();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'v');
    }
    if syn::parse_str::<syn::Ident>(&out).is_err() && !out.is_empty() {
        out.push('_');
    }
    out
}

/// `aspect_ratio` -> `AspectRatio`.
pub fn type_name(property: &str) -> String {
    module_name(property)
        .split('_')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut chars = s.chars();
            let first = chars.next().expect("split parts are not empty");
            first.to_ascii_uppercase().to_string() + chars.as_str()
        })
        .collect()
}

#[derive(Default)]
pub(super) struct ModuleTree {
    body: Option<TokenStream>,
    children: BTreeMap<String, ModuleTree>,
}

impl ModuleTree {
    pub(super) fn insert(
        &mut self,
        path: &[String],
        body: TokenStream,
        files: &ModelFiles,
    ) -> Result<(), CodegenError> {
        let mut node = self;
        for segment in path {
            node = node.children.entry(segment.clone()).or_default();
        }
        if node.body.is_some() {
            return Err(CodegenError::new(
                &files.input,
                "",
                format!(
                    "model id {:?} maps to a Rust module another model already uses",
                    files.id
                ),
                "two model ids differ only in punctuation; rename one folder",
            ));
        }
        node.body = Some(body);
        Ok(())
    }

    pub(super) fn to_tokens(&self) -> TokenStream {
        let children = self.children.iter().map(|(name, child)| {
            let ident = format_ident!("{}", name);
            let inner = child.to_tokens();
            let doc = if child.body.is_some() {
                quote! {}
            } else {
                let text = format!("Models under `{name}`.");
                quote! { #[doc = #text] }
            };
            quote! { #doc pub mod #ident { #inner } }
        });
        let body = self.body.clone().unwrap_or_default();
        quote! { #body #(#children)* }
    }
}
