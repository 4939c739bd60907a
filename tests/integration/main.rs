//! The integration tests, one module per subject, built as one test binary.
//!
//! One binary instead of one per file: each of them linked the whole crate
//! and its dependencies again, which made a CI run's target folder several
//! gigabytes larger and its link steps minutes longer. Run one subject with
//! `cargo test --features cli --test integration cli::`.
//!
//! Three tests stay binaries of their own, beside this folder, because they
//! own something process-wide: `emulator_load` measures the process's
//! resident memory, `secrets` and `soak` install the global tracing
//! subscriber.
#![cfg(feature = "emulator")]

#[path = "../common/mod.rs"]
mod common;

mod agreement;
mod batch;
mod catalogue;
mod cli;
mod cli_everyday;
mod cli_live_shapes;
mod cli_secrets;
mod client;
mod codegen;
mod dialect;
mod emulator;
mod emulator_abuse;
mod emulator_curl;
mod emulator_shapes;
mod english_texts;
mod extra_model;
mod hostile;
mod live_answers;
mod main_command;
mod mcp;
mod money;
mod polling_targets;
mod record_replay;
mod recorded;
mod tls_dependent;
mod validation;
mod wire;
