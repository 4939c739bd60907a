//! The README's first command: a prompt in, a playable MP4 out, against
//! the embedded emulator. Runs the `generate` example that `cargo test`
//! builds.
#![cfg(feature = "emulator")]

mod common;

use std::process::Command;

#[test]
fn the_generate_example_turns_a_prompt_into_a_playable_mp4() {
    let test_binary = std::env::current_exe().expect("test binary path");
    let examples = test_binary
        .ancestors()
        .nth(2) // <target>/<profile>/deps/main_command-<hash>
        .expect("test binaries live in <target>/<profile>/deps")
        .join("examples");
    let example = examples.join(format!("generate{}", std::env::consts::EXE_SUFFIX));
    assert!(
        example.exists(),
        "cargo test builds examples: {}",
        example.display()
    );
    let out = tempfile::tempdir().expect("temp dir");
    let output = Command::new(&example)
        .args([
            "a red fox running through fresh snow",
            "--aspect-ratio",
            "1:1",
            "--out",
        ])
        .arg(out.path())
        .env_remove("RUNCOMFY_TOKEN")
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let files: Vec<_> = std::fs::read_dir(out.path())
        .expect("list")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        stdout.contains(&files[0].display().to_string()),
        "it prints the path: {stdout}"
    );
    let bytes = std::fs::read(&files[0]).expect("read");
    assert_eq!(common::assert_playable_mp4(&bytes), (192, 192));
}

#[test]
fn the_generate_example_refuses_bad_input_before_sending() {
    let test_binary = std::env::current_exe().expect("test binary path");
    let example = test_binary
        .ancestors()
        .nth(2)
        .expect("deps")
        .join("examples")
        .join("generate");
    let output = Command::new(example)
        .args(["x", "--duration", "99"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("error: invalid input for kling/kling-3.0/standard/text-to-video: duration: must be at most 15 (got 99)"), "{stderr}");
}
