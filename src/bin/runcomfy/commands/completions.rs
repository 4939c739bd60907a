//! `runcomfy completions SHELL`: tab completion, from the binary itself.

use crate::cli::Shell;
use crate::exit::{Failure, Kind};

/// `runcomfy completions SHELL`: the script that has the shell ask
/// `runcomfy` itself for completions (`COMPLETE=SHELL runcomfy -- WORDS`),
/// so that model ids and every flag's choices are always this build's.
pub fn run(shell: Shell) -> Result<(), Failure> {
    use std::io::Write as _;
    let shells = clap_complete::env::Shells::builtins();
    let completer = shells
        .completer(shell.name())
        .expect("every shell offered is built in");
    // The program to call back: this one, as it was started (made absolute
    // when started by a relative path such as target/debug/runcomfy).
    let program = std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .map(|path| match std::env::current_dir() {
            Ok(dir) if path.components().count() > 1 => dir.join(path),
            _ => path,
        })
        .unwrap_or_else(|| "runcomfy".into());
    let mut script = Vec::new();
    completer
        .write_registration(
            "COMPLETE",
            "runcomfy",
            "runcomfy",
            &program.to_string_lossy(),
            &mut script,
        )
        .and_then(|()| std::io::stdout().write_all(&script))
        .map_err(|e| Failure::new(Kind::Io, format!("cannot write the script: {e}")))
}
