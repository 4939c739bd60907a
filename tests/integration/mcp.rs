//! `runcomfy mcp` driven by an MCP client nobody here wrote: the official
//! Python SDK (`mcp` from PyPI; `.ci/run` installs it, and this test
//! installs it into the target folder if it is missing). The script,
//! `tests/mcp_client.py`, holds the checks; this test starts the two
//! emulators it runs against and reports what it printed.
#![cfg(feature = "cli")]

use crate::common;

use common::standalone::Standalone;
use std::path::{Path, PathBuf};
use std::process::Command;

const TOKEN: &str = "sk-mcp-never-shown-5a1e9c2b";

/// A `PYTHONPATH` under which `import mcp` works: none needed if it
/// already does, else a folder under the target dir that pip fills once.
fn python_with_mcp() -> Option<PathBuf> {
    let imports = |path: Option<&Path>| {
        let mut command = Command::new("python3");
        command.args(["-c", "import mcp.client.stdio"]);
        if let Some(path) = path {
            command.env("PYTHONPATH", path);
        }
        command.status().is_ok_and(|s| s.success())
    };
    if imports(None) {
        return None;
    }
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-mcp");
    if !imports(Some(&target)) {
        let status = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--target", target.to_str().expect("UTF-8"), "mcp"])
            .status()
            .expect("python3 -m pip runs");
        assert!(status.success(), "pip could not install the mcp package");
    }
    Some(target)
}

#[test]
fn an_mcp_client_runs_models_within_the_money_rules_and_never_sees_the_token() {
    let python_path = python_with_mcp();
    let fast = Standalone::start(&["--time-scale", "10000", "--quiet", "--token", TOKEN]);
    let slow = Standalone::with_one_busy_worker(&["--quiet", "--token", TOKEN]);
    let mut command = Command::new("python3");
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_client.py"))
        .env("RUNCOMFY_BIN", env!("CARGO_BIN_EXE_runcomfy"))
        .env("FAST_EMULATOR", &fast.base)
        .env("SLOW_EMULATOR", &slow.base)
        .env("TOKEN", TOKEN);
    if let Some(path) = python_path {
        command.env("PYTHONPATH", path);
    }
    let output = command.output().expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the MCP client's checks failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("ok: "), "{stdout}");
}

#[test]
fn a_media_dir_that_is_not_a_folder_stops_the_server_before_it_starts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("a-file.png");
    std::fs::write(&file, b"x").expect("write");
    for (media_dir, says) in [
        (dir.path().join("missing"), "No such file"),
        (file, "not a folder"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_runcomfy"))
            .args(["mcp", "--emulator", "--media-dir"])
            .arg(&media_dir)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{stderr}");
        assert!(
            stderr.contains("--media-dir") && stderr.contains(says),
            "{stderr}"
        );
        assert!(output.stdout.is_empty(), "nothing on the protocol's stream");
    }
}
