//! Adding a model takes schema files only, no Rust edits.
//!
//! The test copies this crate, drops a second (test-only) model's schema
//! folder into the copy's `schema/models/`, builds it and runs an example
//! that uses the new typed module, its validation and its descriptor.

use std::path::{Path, PathBuf};
use std::process::Command;

const EXAMPLE: &str = r#"
use runcomfy::models::acme::flux_edit::v1::{Input, OutputFormat, Size, V1};
use runcomfy::{Model, ModelDescriptor, Validate};

fn main() {
    let input = Input {
        guidance: Some(4.5),
        output_format: Some(OutputFormat::Webp),
        size: Some(Size::Ratio21x9),
        reference_images: vec!["https://example.com/b.png".into()],
        ..Input::new("make it blue", "https://example.com/a.png")
    };
    input.validate().expect("valid input");
    let body = serde_json::to_value(&input).expect("serialises");
    assert_eq!(body["size"], "21:9");

    let off_step = Input { guidance: Some(4.2), ..input.clone() };
    let error = off_step.validate().expect_err("4.2 is not a multiple of 0.5");
    println!("{error}");

    assert_eq!(<V1 as Model>::DESCRIPTOR.id, "acme/flux-edit/v1");
    assert!(ModelDescriptor::find("acme/flux-edit/v1").is_some());
    assert!(ModelDescriptor::find("kling/kling-3.0/standard/text-to-video").is_some());
    println!("models: {}", ModelDescriptor::all().len());
}
"#;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn a_new_schema_folder_yields_a_new_typed_module() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().expect("temp dir");
    let copy = work.path().join("runcomfy");
    for file in ["Cargo.toml", "Cargo.lock", "build.rs", "README.md"] {
        std::fs::create_dir_all(&copy).expect("mkdir");
        std::fs::copy(root.join(file), copy.join(file)).expect("copy file");
    }
    for dir in ["build", "src", "schema", "examples"] {
        if root.join(dir).is_dir() {
            copy_dir(&root.join(dir), &copy.join(dir));
        }
    }
    // Its own package name (the library keeps its name `runcomfy`), so the
    // copy's build-script output never lands where this crate's does.
    let manifest = std::fs::read_to_string(copy.join("Cargo.toml")).expect("read manifest");
    let renamed = manifest.replacen(
        "name = \"runcomfy\"",
        "name = \"runcomfy-extra-model-check\"",
        1,
    );
    assert_ne!(manifest, renamed, "the manifest names the package");
    let renamed = format!("{renamed}\n[lib]\nname = \"runcomfy\"\npath = \"src/lib.rs\"\n");
    std::fs::write(copy.join("Cargo.toml"), renamed).expect("write manifest");

    // The only other change: the new model's schema folder.
    copy_dir(
        &root.join("tests/fixtures/extra-models"),
        &copy.join("schema/models"),
    );
    std::fs::create_dir_all(copy.join("examples")).expect("mkdir");
    std::fs::write(copy.join("examples/uses_new_model.rs"), EXAMPLE).expect("write example");

    // The same target dir: cargo has released its lock by the time tests
    // run, and the copy's dependencies are this crate's, already built, so
    // only the copy itself compiles.
    let test_binary = std::env::current_exe().expect("test binary path");
    let target = test_binary
        .ancestors()
        .nth(3) // <target>/debug/deps/extra_model-<hash>
        .expect("test binaries live in <target>/<profile>/deps");
    // The same features as this build, so that no dependency is rebuilt.
    let features = if cfg!(feature = "emulator") {
        "emulator"
    } else {
        ""
    };
    let output = Command::new(env!("CARGO"))
        .args(["run", "--offline", "--quiet", "--example", "uses_new_model"])
        .args(["--features", features])
        .current_dir(&copy)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "build or run failed:\n{stderr}\n{stdout}"
    );
    assert!(
        stdout.contains(
            "invalid input for acme/flux-edit/v1: guidance: must be a multiple of 0.5 (got 4.2)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("models: 2"), "{stdout}");
}
