//! The commands, one file each (as cargo's own are): [`dispatch`] runs the
//! one asked for; each command builds its own [`Context`](crate::context::Context)
//! where it talks to RunComfy.

mod balance;
mod batch;
mod completions;
mod emulator;
mod job;
mod mcp;
mod models;
mod run;
mod schema;

use crate::cli::{Cli, Command};
use crate::exit::{self, Failure, Kind};
use crate::output::Output;
use crate::schema_args;
use clap::ArgMatches;
use runcomfy::ModelDescriptor;
use serde_json::Value;
use std::path::Path;

/// Runs the command; returns the exit code.
pub async fn dispatch(cli: Cli, matches: ArgMatches) -> u8 {
    let out = Output::for_flags(&cli.global);
    match run(cli, &matches).await {
        Ok(()) => exit::OK,
        Err(failure) => {
            if out.json {
                out.document(&failure.to_json());
            } else if failure.kind.is_requested_stop() {
                // Ctrl-C did what it was asked: not an error.
                eprintln!("{}", failure.message);
            } else {
                eprintln!("error: {}", failure.message);
            }
            failure.code
        }
    }
}

async fn run(cli: Cli, matches: &ArgMatches) -> Result<(), Failure> {
    let global = &cli.global;
    match cli.command {
        Command::Generate(args) => run::generate(global, &args, matches).await,
        Command::Run(args) => run::run(global, &args, matches).await,
        Command::Status(args) => job::status(global, &args).await,
        Command::Result(args) => job::result(global, &args).await,
        Command::Cancel(args) => job::cancel(global, &args).await,
        Command::Download(args) => job::download(global, &args).await,
        Command::Models(args) => models::run(global, args).await,
        Command::Balance(args) => balance::run(global, &args).await,
        Command::Batch(args) => batch::run(global, args).await,
        Command::Schema(args) => schema::run(global, args).await,
        Command::Emulator(args) => emulator::run(global, &args).await,
        Command::Mcp(args) => mcp::run(global, &args).await,
        Command::Completions(args) => completions::run(args.shell),
    }
}

/// The request body from `--input` and the model's flags.
async fn model_body(
    model: &'static ModelDescriptor,
    matches: &ArgMatches,
    input: Option<&Path>,
) -> Result<Value, Failure> {
    let base = match input {
        None => None,
        Some(path) => Some(read_json_input(path).await?),
    };
    let mut body = schema_args::body(model, matches, base)
        .map_err(|schema_args::BadFlag(message)| Failure::new(Kind::Usage, message))?;
    inline_local_media(model, &mut body)?;
    Ok(body)
}

/// Local files named in `body`'s media fields, read and put inline as
/// `data:` URIs; any problem refuses the request before anything is sent.
pub fn inline_local_media(model: &ModelDescriptor, body: &mut Value) -> Result<(), Failure> {
    model
        .inline_local_media(body, &runcomfy::media::MediaLimits::default())
        .map_err(|e| Failure::new(Kind::InvalidInput, format!("{e}; nothing was sent")))
}

/// A JSON document from a file, or from stdin for `-`.
async fn read_json_input(path: &Path) -> Result<Value, Failure> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut tokio::io::stdin(), &mut text)
            .await
            .map(|_| text)
    } else {
        tokio::fs::read_to_string(path).await
    }
    .map_err(|e| {
        Failure::new(
            Kind::InvalidInput,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::new(
            Kind::InvalidInput,
            format!("{} is not JSON: {e}", path.display()),
        )
    })
}
