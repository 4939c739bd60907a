//! A program that depends on this crate (default features: rustls with
//! *ring*) and on reqwest itself with `default-features = false` builds a
//! plain `reqwest::Client` and makes a request: it panics without a
//! provider installed ("No rustls crypto provider is configured", the
//! reason the README gives), and works after the README's step,
//! `runcomfy::install_tls_provider()`.
//!
//! The program is built in a temporary folder, offline, into this build's
//! target folder (its dependencies are already built there).

use crate::common;

use common::raw_server::{RawServer, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const MAIN: &str = r#"
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args[1] == "with-the-step" {
        assert!(runcomfy::install_tls_provider(), "nothing was installed before");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let answer = client.get(&args[2]).send().await.expect("an answer");
        println!("status {}", answer.status().as_u16());
        // This crate's own client still builds beside it.
        runcomfy::Client::builder().token("sk-...").build().expect("runcomfy's client");
    });
}
"#;

fn manifest(root: &Path) -> String {
    format!(
        r#"[package]
name = "runcomfy-tls-dependent-check"
version = "0.0.0"
edition = "2024"
publish = false

[workspace]

[dependencies]
runcomfy = {{ path = "{}" }}
reqwest = {{ version = "0.13", default-features = false }}
tokio = {{ version = "1", features = ["rt", "net", "time"] }}
"#,
        root.display()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_program_with_its_own_reqwest_works_after_the_documented_step() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().expect("temp dir");
    let program = work.path().join("dependent");
    std::fs::create_dir_all(program.join("src")).expect("mkdir");
    std::fs::write(program.join("Cargo.toml"), manifest(&root)).expect("manifest");
    std::fs::write(program.join("src/main.rs"), MAIN).expect("main");
    std::fs::copy(root.join("Cargo.lock"), program.join("Cargo.lock")).expect("lock");
    let test_binary = std::env::current_exe().expect("test binary path");
    let target = test_binary
        .ancestors()
        .nth(3)
        .expect("test binaries live in <target>/<profile>/deps");
    let built = Command::new(env!("CARGO"))
        .args(["build", "--offline", "--quiet"])
        .current_dir(&program)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    assert!(
        built.status.success(),
        "the dependent program builds:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let binary = target.join("debug/runcomfy-tls-dependent-check");
    let server = RawServer::start(|_| json(200, &[], "{}")).await;
    let url = format!("{}/", server.base_url());
    let run = |step: &str| {
        Command::new(&binary)
            .args([step, url.as_str()])
            .output()
            .expect("the program runs")
    };

    let with = run("with-the-step");
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&with.stdout).trim(), "status 200");

    let without = run("without-it");
    assert!(!without.status.success(), "reqwest needs a provider");
    assert!(
        String::from_utf8_lossy(&without.stderr).contains("No rustls crypto provider"),
        "{}",
        String::from_utf8_lossy(&without.stderr)
    );
}
