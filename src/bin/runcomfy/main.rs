//! `runcomfy`: RunComfy's Model API from the command line.
//!
//! One prompt to a video (`generate`), any model with flags from its schema
//! (`run`), a batch that never pays twice (`batch`), the request-id
//! commands (`status`, `result`, `cancel`, `download`), the catalogue
//! (`models`), the schema workflow (`schema pull`, `schema check`) and the
//! local emulator (`emulator`, or `--emulator` on any command).
//!
//! Exit codes (see [`exit`]): 0 success, 64 usage, 65 invalid input or
//! another 4xx, 69 server or network error, 75 timeout or rate limited, 77
//! authentication, 80 insufficient balance, 81 job failed, 82 job
//! cancelled, 83 a submit that may have been accepted, 84 over
//! `--max-cost`, 85 schema drift, 86 a batch with lines not done, 130
//! interrupted (the job goes on), 1 anything else.

mod cli;
mod commands;
mod context;
mod cost;
mod display;
mod exit;
mod output;
mod schema_args;

use clap::FromArgMatches;
use std::process::ExitCode;

fn main() -> ExitCode {
    // `COMPLETE=<shell> runcomfy -- <words>`: a shell asking for
    // completions (see `runcomfy completions`); answers and exits.
    clap_complete::CompleteEnv::with_factory(cli::command)
        .bin("runcomfy")
        .complete();
    let command = cli::command();
    let matches = match command.try_get_matches() {
        Ok(matches) => matches,
        Err(error) => {
            let code = if error.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    let args = match cli::Cli::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(exit::USAGE);
        }
    };
    output::init_tracing(args.global.verbose, args.global.json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(exit::OTHER);
        }
    };
    let code = runtime.block_on(commands::dispatch(args, matches));
    // Waits that were detached (Ctrl-C) must not hold the process.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    ExitCode::from(code)
}
