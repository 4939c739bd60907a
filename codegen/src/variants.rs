//! Readable enum variant names where typify can only spell them badly.

use super::CodegenError;
use proc_macro2::TokenStream;
use std::collections::BTreeMap;
use std::path::Path;

/// Gives enum variants that typify can only spell badly a readable name:
/// `"16:9"` becomes `Ratio16x9` instead of `X169`.
pub(super) fn rename_variants(tokens: TokenStream, file: &Path) -> Result<syn::File, CodegenError> {
    use syn::visit_mut::VisitMut;
    let mut parsed: syn::File = syn::parse2(tokens).map_err(|e| {
        CodegenError::new(
            file,
            "",
            format!("typify produced unparsable code: {e}"),
            "report this",
        )
    })?;
    let mut renames: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for item in &mut parsed.items {
        if let syn::Item::Enum(item) = item {
            for variant in &mut item.variants {
                if let Some(wire) = serde_rename(&variant.attrs)
                    && let Some(better) = readable_variant_name(&wire)
                {
                    renames
                        .entry(item.ident.to_string())
                        .or_default()
                        .insert(variant.ident.to_string(), better.clone());
                    variant.ident = syn::Ident::new(&better, variant.ident.span());
                }
            }
        }
    }
    struct RenamePaths<'a> {
        enum_name: &'a str,
        renames: &'a BTreeMap<String, String>,
    }
    impl VisitMut for RenamePaths<'_> {
        fn visit_path_mut(&mut self, path: &mut syn::Path) {
            let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
            if let [owner, variant] = segments.as_slice()
                && (owner == "Self" || owner == self.enum_name)
                && let Some(new) = self.renames.get(variant)
            {
                let last = path.segments.last_mut().expect("two segments");
                last.ident = syn::Ident::new(new, last.ident.span());
            }
            syn::visit_mut::visit_path_mut(self, path);
        }
    }
    for item in &mut parsed.items {
        if let syn::Item::Impl(item) = item
            && let syn::Type::Path(self_ty) = &*item.self_ty
            && let Some(last) = self_ty.path.segments.last()
            && let Some(map) = renames.get(&last.ident.to_string())
        {
            let enum_name = last.ident.to_string();
            RenamePaths {
                enum_name: &enum_name,
                renames: map,
            }
            .visit_item_impl_mut(item);
        }
    }
    Ok(parsed)
}

fn serde_rename(attrs: &[syn::Attribute]) -> Option<String> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                let value: syn::LitStr = meta.value()?.parse()?;
                found = Some(value.value());
            }
            Ok(())
        });
    }
    found
}

/// A better variant name for wire values typify mangles, or `None` to keep
/// typify's. Aspect ratios (`W:H`) read as `Ratio{W}x{H}`.
pub fn readable_variant_name(wire: &str) -> Option<String> {
    let (w, h) = wire.split_once(':')?;
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    (digits(w) && digits(h)).then(|| format!("Ratio{w}x{h}"))
}
