//! The README's first command: a prompt in, a playable MP4 out, against
//! the emulator the CLI starts in-process. Runs the `runcomfy` binary that
//! `cargo test` builds, with the README's arguments.
#![cfg(feature = "cli")]

use crate::common;

use assert_cmd::Command;

/// The README's first command line, after `cargo run --features cli --`.
fn readme_arguments() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let line = readme
        .lines()
        .find(|l| l.starts_with("cargo run --features cli -- generate"))
        .expect("the README opens with the generate command");
    let rest = line
        .strip_prefix("cargo run --features cli -- ")
        .expect("prefix");
    // A quoted prompt, then plain words.
    let (before, quoted) = rest.split_once('"').expect("a quoted prompt");
    let (prompt, after) = quoted.split_once('"').expect("a closing quote");
    let mut args: Vec<String> = before.split_whitespace().map(String::from).collect();
    args.push(prompt.to_string());
    args.extend(after.split_whitespace().map(String::from));
    args
}

#[test]
fn the_readme_command_turns_a_prompt_into_a_playable_mp4() {
    let work = tempfile::tempdir().expect("temp dir");
    let args = readme_arguments();
    assert!(args.contains(&"--emulator".to_string()), "{args:?}");
    let output = Command::cargo_bin("runcomfy")
        .expect("the binary is built")
        .args(&args)
        .current_dir(work.path())
        .env_remove("RUNCOMFY_TOKEN")
        .env_remove("RUNCOMFY_BASE_URL")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = stdout.lines().last().expect("it prints where the video is");
    let path = work.path().join(printed);
    let bytes = std::fs::read(&path).expect("the printed path is the video");
    assert_eq!(
        common::assert_playable_mp4(&bytes),
        (256, 144),
        "16:9 by default"
    );
}

#[test]
fn bad_input_is_refused_before_anything_is_sent() {
    let output = Command::cargo_bin("runcomfy")
        .expect("built")
        .args(["generate", "a fox", "--duration", "99", "--emulator"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(65));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "error: invalid input for kling/kling-3.0/standard/text-to-video: duration: must be at most 15 (got 99)"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("submitting"), "nothing was sent: {stderr}");
}
