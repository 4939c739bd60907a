//! One model's module: its types (typify), readable variants, `Input::new`,
//! the marker type, its links to the crate's traits and its descriptor.

use super::constructor::constructor;
use super::hoist::{Definition, prepare};
use super::names::type_name;
use super::typify_run::typify_definitions;
use super::variants::rename_variants;
use super::{
    CodegenError, INFO_FILE, INPUT_FILE, LoadedModel, OUTPUT_FILE, normalised_path, published_path,
};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use std::collections::BTreeSet;

pub(super) fn generate_model(model: &LoadedModel) -> Result<TokenStream, CodegenError> {
    let mut taken: BTreeSet<String> = ["Input", "Output"].map(String::from).into();
    let mut defs = Vec::new();
    let input = prepare(
        &model.input,
        "Input",
        &model.files.input,
        "",
        &mut taken,
        &mut defs,
    );
    let output_pointer = if model.published_output.get("output").is_some() {
        "/output"
    } else {
        ""
    };
    let output = prepare(
        &model.output,
        "Output",
        &model.files.output,
        output_pointer,
        &mut taken,
        &mut defs,
    );
    let id = &model.files.id;
    let (mut input, mut output) = (input, output);
    input["description"] = format!("The request body of the `{id}` model.").into();
    output["description"] = format!("The `output` of a finished `{id}` job.").into();
    defs.insert(
        0,
        Definition {
            name: "Input".into(),
            schema: input,
            file: model.files.input.clone(),
            pointer: String::new(),
        },
    );
    defs.insert(
        1,
        Definition {
            name: "Output".into(),
            schema: output,
            file: model.files.output.clone(),
            pointer: output_pointer.into(),
        },
    );

    let types = typify_definitions(&defs)?;
    let types = rename_variants(types, &model.files.input)?;
    let constructor = constructor(&types, "Input", &model.files.input)?;

    let marker_name = {
        let base = type_name(
            model
                .files
                .id
                .rsplit('/')
                .next()
                .expect("split yields one part"),
        );
        if taken.contains(&base) {
            format!("{base}Model")
        } else {
            base
        }
    };
    let marker = format_ident!("{}", marker_name);
    let published = |file: &str| format!("/{}", published_path(id, file));
    let normalised = |file: &str| format!("/{}", normalised_path(id, file));
    let (published_input, published_output) = (published(INPUT_FILE), published(OUTPUT_FILE));
    let published_info = published(INFO_FILE);
    let (input_schema, output_schema) = (normalised(INPUT_FILE), normalised(OUTPUT_FILE));
    let module_doc = format!(
        "Types for the `{id}` model, generated from its published schemas \
         (`{id}/input.json` and `output.json` in the schema folder).\n\n\
         [`Input`] is the request body, [`Output`] the result's `output`; \
         [`{marker_name}`] names the model for [`crate::Model`]-generic code."
    );
    let marker_doc = format!("The `{id}` model.");
    Ok(quote! {
        #![doc = #module_doc]

        #types

        #constructor

        impl crate::ModelInput for Input {
            type Model = #marker;
        }

        impl crate::Validate for Input {
            /// Checks this input against the model's schema and prose rules
            /// (see [`crate::validation`]).
            fn validate(&self) -> ::std::result::Result<(), crate::ValidationError> {
                DESCRIPTOR.validate_serialised(self).map(|_| ())
            }
        }

        #[doc = #marker_doc]
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub struct #marker;

        impl crate::Model for #marker {
            type Input = Input;
            type Output = Output;
            const DESCRIPTOR: &'static crate::ModelDescriptor = &DESCRIPTOR;
        }

        /// This model's id and schemas.
        pub static DESCRIPTOR: crate::ModelDescriptor = crate::ModelDescriptor {
            id: #id,
            input_schema: include_str!(concat!(env!("OUT_DIR"), #input_schema)),
            output_schema: include_str!(concat!(env!("OUT_DIR"), #output_schema)),
            published_input_schema: include_str!(concat!(env!("OUT_DIR"), #published_input)),
            published_output_schema: include_str!(concat!(env!("OUT_DIR"), #published_output)),
            published_info: include_str!(concat!(env!("OUT_DIR"), #published_info)),
        };
    })
}
