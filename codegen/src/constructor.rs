//! `Input::new(required fields...)`: a constructor for each model's input.

use super::CodegenError;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use std::path::Path;

/// `Name::new(required fields...)`: every `Option` field `None`, every list
/// or map empty, each remaining (required) field a parameter taking
/// `impl Into<T>`. With it, `Input { duration: Some(10), ..Input::new("a fox") }`
/// reads well for any model.
pub(super) fn constructor(
    types: &syn::File,
    name: &str,
    file: &Path,
) -> Result<TokenStream, CodegenError> {
    let fields = types
        .items
        .iter()
        .find_map(|item| match item {
            syn::Item::Struct(s) if s.ident == name => Some(&s.fields),
            _ => None,
        })
        .ok_or_else(|| {
            CodegenError::new(
                file,
                "",
                format!("typify generated no `{name}` struct"),
                "give the schema \"type\": \"object\"",
            )
        })?;
    let mut params = Vec::new();
    let mut inits = Vec::new();
    let mut required_names = Vec::new();
    for field in fields {
        let Some(ident) = field.ident.as_ref() else {
            return Err(CodegenError::new(
                file,
                "/properties",
                format!("typify made `{name}` a wrapper, not a struct of fields"),
                "list the model's fields under \"properties\"",
            ));
        };
        let ty = &field.ty;
        let last = match ty {
            syn::Type::Path(p) => p
                .path
                .segments
                .last()
                .map(|s| s.ident.to_string())
                .unwrap_or_default(),
            _ => String::new(),
        };
        if last == "Option" {
            inits.push(quote! { #ident: ::std::option::Option::None });
        } else if last == "Vec" || last == "Map" || last == "HashMap" || last == "BTreeMap" {
            inits.push(quote! { #ident: ::std::default::Default::default() });
        } else {
            params.push(quote! { #ident: impl ::std::convert::Into<#ty> });
            inits.push(quote! { #ident: #ident.into() });
            required_names.push(format!("`{ident}`"));
        }
    }
    let type_ident = format_ident!("{}", name);
    let doc = if required_names.is_empty() {
        "An input with every field unset: the server's defaults apply.".to_string()
    } else {
        format!(
            "An input with its required {} set and every optional field unset \
             (the server's defaults apply). Set more fields with struct update syntax: \
             `{name} {{ field: Some(value), ..{name}::new(...) }}`.",
            required_names.join(", ")
        )
    };
    Ok(quote! {
        impl #type_ident {
            #[doc = #doc]
            pub fn new(#(#params),*) -> Self {
                Self { #(#inits),* }
            }
        }
    })
}
