//! Adding a model takes schema files only, no Rust edits.
//!
//! The test copies this crate (under another package name, so that its
//! build never lands where this one's does) and builds it the way a user
//! brings their own models: with `RUNCOMFY_SCHEMA_DIR` naming a folder that
//! holds a second, test-only model. It then runs an example that uses the
//! new typed module, its validation and its descriptor, and the copy's
//! `runcomfy` command line, whose `run` takes the new model's flags from
//! its schema.

use std::path::{Path, PathBuf};
use std::process::Command;

#[cfg(feature = "cli")]
use crate::common::standalone::Standalone;

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
fn a_user_schema_folder_yields_a_typed_module_and_a_command() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().expect("temp dir");
    let copy = work.path().join("runcomfy");
    for file in ["Cargo.toml", "Cargo.lock", "build.rs", "README.md"] {
        std::fs::create_dir_all(&copy).expect("mkdir");
        std::fs::copy(root.join(file), copy.join(file)).expect("copy file");
    }
    for dir in ["codegen", "src", "schema", "examples"] {
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
    // Its command line under another name too: the same target dir holds
    // this crate's `runcomfy`.
    let renamed = renamed.replacen(
        "[[bin]]\nname = \"runcomfy\"",
        "[[bin]]\nname = \"runcomfy-extra-model-check\"",
        1,
    );
    assert!(
        renamed.contains("runcomfy-extra-model-check\"\npath"),
        "the manifest names the bin"
    );
    let renamed = renamed.replacen(
        "default-run = \"runcomfy\"",
        "default-run = \"runcomfy-extra-model-check\"",
        1,
    );
    let renamed = format!("{renamed}\n[lib]\nname = \"runcomfy\"\npath = \"src/lib.rs\"\n");
    std::fs::write(copy.join("Cargo.toml"), renamed).expect("write manifest");

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
    let features = if cfg!(feature = "cli") {
        "cli"
    } else if cfg!(feature = "emulator") {
        "emulator"
    } else {
        ""
    };
    let user_models = root.join("tests/fixtures/extra-models");
    let output = Command::new(env!("CARGO"))
        .args(["run", "--offline", "--quiet", "--example", "uses_new_model"])
        .args(["--features", features])
        .current_dir(&copy)
        .env("CARGO_TARGET_DIR", target)
        .env("RUNCOMFY_SCHEMA_DIR", &user_models)
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

    #[cfg(feature = "cli")]
    the_command_line_runs_the_new_model(&copy, target, &user_models);
}

/// `run acme/flux-edit/v1` with flags from its schema, against the copy's
/// in-process emulator; no Rust was written for the model.
#[cfg(feature = "cli")]
fn the_command_line_runs_the_new_model(copy: &Path, target: &Path, user_models: &Path) {
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO"))
            .args(["run", "--offline", "--quiet", "--features", "cli"])
            .args(["--bin", "runcomfy-extra-model-check", "--"])
            .args(args)
            .current_dir(copy)
            .env("CARGO_TARGET_DIR", target)
            .env("RUNCOMFY_SCHEMA_DIR", user_models)
            .env_remove("RUSTFLAGS")
            .env_remove("RUNCOMFY_TOKEN")
            .output()
            .expect("cargo runs")
    };
    let help = cli(&["run", "acme/flux-edit/v1", "--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.status.success(),
        "{}",
        String::from_utf8_lossy(&help.stderr)
    );
    for flag in [
        "--image-uri <TEXT>",
        "--reference-images <TEXT>",
        "--guidance <NUMBER>",
        "--no-safety-checker",
        "[possible values: png, jpeg, webp]",
        "[1 to 10]",
    ] {
        assert!(text.contains(flag), "{flag} in:\n{text}");
    }
    let missing = cli(&["run", "acme/flux-edit/v1", "--prompt", "x", "--emulator"]);
    assert_eq!(missing.status.code(), Some(64), "--image-uri is required");
    let off_step = cli(&[
        "run",
        "acme/flux-edit/v1",
        "--prompt",
        "x",
        "--image-uri",
        "https://example.com/a.png",
        "--guidance",
        "4.2",
        "--emulator",
    ]);
    assert_eq!(off_step.status.code(), Some(65));
    assert!(
        String::from_utf8_lossy(&off_step.stderr).contains("guidance: must be a multiple of 0.5")
    );
    let run = cli(&[
        "--json",
        "run",
        "acme/flux-edit/v1",
        "--prompt",
        "make it blue",
        "--image-uri",
        "https://example.com/a.png",
        "--reference-images",
        "https://example.com/b.png",
        "--guidance",
        "4.5",
        "--output-format",
        "webp",
        "--no-safety-checker",
        "--emulator",
        "--no-download",
    ]);
    let doc: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        )
    });
    assert_eq!(doc["status"], "completed", "{doc}");
    assert_eq!(doc["model_id"], "acme/flux-edit/v1");
    assert!(
        (doc["cost_usd"].as_f64().expect("a cost") - 0.03).abs() < 1e-9,
        "{doc}"
    );
    local_files_go_inline(&target.join("debug/runcomfy-extra-model-check"));
}

/// A 2×1 PNG.
#[cfg(feature = "cli")]
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x7B, 0x40, 0xE8,
    0xDD, 0x00, 0x00, 0x00, 0x0E, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0,
    0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// `run acme/flux-edit/v1 --image-uri ./cat.png` against the copy's own
/// standalone emulator: the file goes inline as a `data:` URI of its
/// content's type; a file too large or not an image is refused before
/// anything is sent; the emulator refuses a bare path.
#[cfg(feature = "cli")]
fn local_files_go_inline(binary: &Path) {
    // Killed on drop, so that a failed assertion leaves no process behind.
    let emulator = Standalone::start_binary(binary, &["--time-scale", "10000", "--quiet"]);
    let base = emulator.base.clone();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("cat.png"), PNG).expect("write");
    let mut huge = PNG.to_vec();
    huge.resize(7 * 1024 * 1024, 0);
    std::fs::write(dir.path().join("huge.png"), huge).expect("write");
    std::fs::write(dir.path().join("notes.png"), "not an image at all").expect("write");
    let run = |image: &str| {
        Command::new(binary)
            .args([
                "--json",
                "run",
                "acme/flux-edit/v1",
                "--prompt",
                "make it blue",
            ])
            .args(["--image-uri", image, "--no-download"])
            .current_dir(dir.path())
            .env("RUNCOMFY_BASE_URL", &base)
            .env("RUNCOMFY_TOKEN", "emulator-token")
            .output()
            .expect("runs")
    };
    let get = |path: &str| -> serde_json::Value {
        let output = Command::new("curl")
            .args(["-sS", &format!("{base}{path}")])
            .output()
            .expect("curl runs");
        serde_json::from_slice(&output.stdout).expect("JSON")
    };

    let sent = run("./cat.png");
    assert_eq!(
        sent.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let jobs = get("/_emulator/jobs");
    let job = &jobs[0];
    let uri = job["input"]["image_uri"].as_str().expect("the value sent");
    assert!(uri.starts_with("data:image/png;base64,"), "{uri}");
    assert_eq!(job["media"][0]["field"], "image_uri");
    assert_eq!(job["media"][0]["content_type"], "image/png");
    assert_eq!(job["media"][0]["size"], PNG.len());
    use sha2::Digest;
    let sha: String = sha2::Sha256::digest(PNG)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(job["media"][0]["sha256"], sha.as_str());

    let submits = get("/_emulator/counters")["requests"]["submit"].clone();
    for (file, says) in [
        ("huge.png", "over the 6291456-byte limit"),
        ("notes.png", "not an image"),
        ("missing.png", "cannot read the file"),
    ] {
        let refused = run(file);
        assert_eq!(refused.status.code(), Some(65), "{file}");
        let doc: serde_json::Value = serde_json::from_slice(&refused.stdout).expect("JSON");
        let message = doc["error"]["message"].as_str().expect("a message");
        assert!(
            message.contains(says) && message.contains("nothing was sent"),
            "{message}"
        );
    }
    assert_eq!(
        get("/_emulator/counters")["requests"]["submit"],
        submits,
        "nothing sent"
    );

    // The emulator itself refuses what RunComfy could never fetch.
    let refused = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .args([
            "-H",
            "Authorization: Bearer emulator-token",
            "-H",
            "Content-Type: application/json",
        ])
        .args(["--data", r#"{"prompt": "x", "image_uri": "./cat.png"}"#])
        .arg(format!("{base}/v1/models/acme/flux-edit/v1"))
        .output()
        .expect("curl runs");
    assert_eq!(String::from_utf8_lossy(&refused.stdout), "422");

    an_agent_reads_media_only_from_the_media_dir(binary, &base, &get);
}

/// `runcomfy mcp` over stdio, spoken to line by line as an MCP client does.
#[cfg(feature = "cli")]
struct McpSession {
    child: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
    next_id: u64,
}

#[cfg(feature = "cli")]
impl McpSession {
    fn start(binary: &Path, base: &str, args: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = Command::new(binary)
            .arg("mcp")
            .args(args)
            .env("RUNCOMFY_BASE_URL", base)
            .env("RUNCOMFY_TOKEN", "emulator-token")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the MCP server starts");
        let lines = std::io::BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut session = Self {
            child,
            lines,
            next_id: 1,
        };
        session.request(
            "initialize",
            serde_json::json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "extra-model-test", "version": "0"},
            }),
        );
        session.send(&serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        session
    }

    fn send(&mut self, message: &serde_json::Value) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().expect("piped");
        writeln!(stdin, "{message}").expect("the server reads");
        stdin.flush().expect("flush");
    }

    /// Sends a request and returns its answer's `result`.
    fn request(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(
            &serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        );
        loop {
            let line = self
                .lines
                .next()
                .expect("the server answers before it exits")
                .expect("a line");
            let message: serde_json::Value = serde_json::from_str(&line).expect("JSON-RPC");
            if message["id"] == id {
                return message["result"].clone();
            }
        }
    }

    /// Calls the new model's tool with `image_uri` and returns the
    /// tool's structured answer, with `isError` beside it.
    fn edit(&mut self, image_uri: &str) -> serde_json::Value {
        let result = self.request(
            "tools/call",
            serde_json::json!({
                "name": "acme_flux-edit_v1",
                "arguments": {"prompt": "make it blue", "image_uri": image_uri},
            }),
        );
        let mut answer = result["structuredContent"].clone();
        answer["isError"] = result["isError"].clone();
        answer
    }
}

#[cfg(feature = "cli")]
impl Drop for McpSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An agent's local paths: refused unless the server was started with
/// `--media-dir`, then read from that folder only (a path leading out of
/// it, by `..` or a symbolic link, is refused), with nothing sent for a
/// refusal.
#[cfg(feature = "cli")]
fn an_agent_reads_media_only_from_the_media_dir(
    binary: &Path,
    base: &str,
    get: &dyn Fn(&str) -> serde_json::Value,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let media = dir.path().join("media");
    std::fs::create_dir(&media).expect("mkdir");
    std::fs::write(media.join("cat.png"), PNG).expect("write");
    std::fs::write(dir.path().join("secret.png"), PNG).expect("write");
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.path().join("secret.png"), media.join("link.png"))
        .expect("symlink");
    let submits = || get("/_emulator/counters")["requests"]["submit"].clone();

    let mut closed = McpSession::start(binary, base, &[]);
    let before = submits();
    let refused = closed.edit("cat.png");
    assert_eq!(refused["isError"], true, "{refused}");
    assert_eq!(refused["error"], "local_path_refused", "{refused}");
    assert_eq!(submits(), before, "nothing sent");
    drop(closed);

    let media_dir = media.display().to_string();
    let mut open = McpSession::start(binary, base, &["--media-dir", &media_dir, "--wait", "1m"]);
    let mut outside = vec!["../secret.png"];
    if cfg!(unix) {
        outside.push("link.png");
    }
    for path in outside {
        let refused = open.edit(path);
        assert_eq!(refused["error"], "media_refused", "{path}: {refused}");
        let message = refused["message"].as_str().expect("a message");
        assert!(
            message.contains("the only folder files are read from")
                && message.contains("nothing was sent"),
            "{message}"
        );
    }
    assert_eq!(submits(), before, "nothing sent");

    let done = open.edit("cat.png");
    assert_eq!(done["isError"], false, "{done}");
    assert!(done["request_id"].is_string(), "{done}");
    let jobs = get("/_emulator/jobs");
    let job = jobs
        .as_array()
        .expect("jobs")
        .iter()
        .find(|j| j["request_id"] == done["request_id"])
        .expect("the tool's job");
    let sent = job["input"]["image_uri"].as_str().expect("the value sent");
    assert!(sent.starts_with("data:image/png;base64,"), "{sent}");
}
