//! The command line's schema-derived flags and shot syntax
//! (`--shot 4:"close-up"`), on any arguments: a usage error or a body,
//! never a panic.
#![no_main]

#[path = "../../src/bin/runcomfy/schema_args.rs"]
#[allow(dead_code)]
mod schema_args;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let args: Vec<&str> = text.split('\0').take(24).collect();
    for model in runcomfy::ModelDescriptor::all() {
        let command = schema_args::add_args(
            clap::Command::new("run").arg(clap::Arg::new("input").long("input")),
            model,
            schema_args::Prompt::Flag,
        );
        if let Ok(matches) = command.try_get_matches_from(std::iter::once("run").chain(args.iter().copied())) {
            let _ = schema_args::body(model, &matches, None);
        }
    }
});
