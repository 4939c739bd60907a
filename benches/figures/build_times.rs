//! Clean builds of the library (dev and release) in a target folder of
//! their own, the build script's share of them, rebuilds after a schema
//! edit, and how the build grows with the number of models.

use crate::report::Report;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const KLING: &str = "schema/models/kling/kling-3.0/standard/text-to-video";

/// One `cargo build` of the library with default features: wall time
/// and, with `--timings`, each unit's time.
struct Build {
    seconds: f64,
    units: Vec<Unit>,
}

struct Unit {
    name: String,
    target: String,
    seconds: f64,
}

fn cargo_build(target_dir: &Path, release: bool, schema_dir: Option<&Path>) -> Build {
    let mut command = Command::new(env!("CARGO"));
    command
        .args(["build", "--offline", "--lib", "--timings", "--quiet"])
        // What a project that depends on this crate builds with: cargo's
        // default dev profile (full debug info), not this repository's own
        // leaner `[profile.dev]`.
        .args(["--config", "profile.dev.debug=true"])
        .args(["--config", r#"profile.dev.package."*".debug=true"#])
        .current_dir(ROOT)
        .env("CARGO_TARGET_DIR", target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    if release {
        command.arg("--release");
    }
    match schema_dir {
        Some(dir) => command.env("RUNCOMFY_SCHEMA_DIR", dir),
        None => command.env_remove("RUNCOMFY_SCHEMA_DIR"),
    };
    let started = Instant::now();
    let status = command.status().expect("cargo runs");
    let seconds = started.elapsed().as_secs_f64();
    assert!(status.success(), "the build failed");
    Build {
        seconds,
        units: timings(&target_dir.join("cargo-timings/cargo-timing.html")),
    }
}

/// The units of a `--timings` report (its `UNIT_DATA`).
fn timings(report: &Path) -> Vec<Unit> {
    let html = std::fs::read_to_string(report).unwrap_or_default();
    let Some(start) = html.find("UNIT_DATA = ") else {
        return Vec::new();
    };
    let json = &html[start + "UNIT_DATA = ".len()..];
    let end = json.find("];").map_or(json.len(), |e| e + 1);
    let data: Vec<serde_json::Value> = serde_json::from_str(&json[..end]).unwrap_or_default();
    data.iter()
        .map(|u| Unit {
            name: u["name"].as_str().unwrap_or("?").to_string(),
            target: u["target"].as_str().unwrap_or("").trim().to_string(),
            seconds: u["duration"].as_f64().unwrap_or(0.0),
        })
        .collect()
}

/// A folder of `count` copies of the Kling schema under other model ids.
fn model_copies(count: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for i in 0..count {
        let model = dir.path().join(format!("bench/copy-{i}/v1"));
        std::fs::create_dir_all(&model).expect("mkdir");
        for file in ["input.json", "output.json"] {
            std::fs::copy(Path::new(ROOT).join(KLING).join(file), model.join(file))
                .expect("copy schema");
        }
        let mut meta: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(Path::new(ROOT).join(KLING).join("model.json"))
                .expect("model.json"),
        )
        .expect("JSON");
        meta["model_id"] = format!("bench/copy-{i}/v1").into();
        std::fs::write(model.join("model.json"), meta.to_string()).expect("write");
    }
    dir
}

fn dependency_count() -> usize {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "--prefix",
            "none",
            "-e",
            "normal,build",
        ])
        .current_dir(ROOT)
        .output()
        .expect("cargo tree runs");
    let mut packages: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some(format!("{} {}", words.next()?, words.next()?))
        })
        .filter(|p| !p.starts_with("runcomfy "))
        .collect();
    packages.sort();
    packages.dedup();
    packages.len()
}

fn share(build: &Build, pick: impl Fn(&Unit) -> bool) -> f64 {
    build
        .units
        .iter()
        .filter(|u| pick(u))
        .map(|u| u.seconds)
        .sum()
}

pub fn run(report: &mut Report) {
    let target: PathBuf = Path::new(ROOT).join("target/bench-build");
    let _ = std::fs::remove_dir_all(&target);
    let dev = cargo_build(&target, false, None);
    let release = cargo_build(&target, true, None);
    // Rebuilds: a user's extra model, then an edit of its schema.
    let extra = model_copies(1);
    let _ = cargo_build(&target, false, Some(extra.path()));
    let input = extra.path().join("bench/copy-0/v1/input.json");
    let edited = std::fs::read_to_string(&input)
        .expect("input.json")
        .replacen(
            "\"properties\"",
            "\"description\": \"edited\", \"properties\"",
            1,
        );
    std::fs::write(&input, edited).expect("edit");
    let rebuild = cargo_build(&target, false, Some(extra.path()));
    let mut growth = Vec::new();
    for count in [1usize, 10, 50] {
        let models = model_copies(count);
        let build = cargo_build(&target, false, Some(models.path()));
        growth.push((count, build));
    }
    let _ = std::fs::remove_dir_all(&target);

    let build_script = |b: &Build| {
        share(b, |u| {
            u.name == "runcomfy" && u.target.contains("build-script")
        })
    };
    let codegen_run = |b: &Build| share(b, |u| u.name == "runcomfy" && u.target.contains("(run)"));
    let crypto = |b: &Build| {
        share(b, |u| {
            ["ring", "aws-lc-sys", "aws-lc-rs", "rustls"].contains(&u.name.as_str())
        })
    };
    let mut slowest: Vec<&Unit> = dev.units.iter().collect();
    slowest.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    let deps = dependency_count();
    report.section(
        "Build",
        &format!(
            "`cargo build --lib` with default features, from clean, in a target folder of its \
             own (`--timings` for each unit's share), with cargo's default dev profile (full \
             debug info) as a project that depends on this crate builds it; {deps} dependencies (normal and build, \
             deduplicated). Unit times overlap on 2 cores, so shares do not add up to the wall \
             time."
        ),
    );
    report.table(
        &[
            "build",
            "wall time",
            "build script (compile + run)",
            "of which code generation (run)",
            "TLS and crypto units",
        ],
        &[
            vec![
                "clean, dev".into(),
                format!("{:.1} s", dev.seconds),
                format!("{:.1} s", build_script(&dev)),
                format!("{:.2} s", codegen_run(&dev)),
                format!("{:.1} s", crypto(&dev)),
            ],
            vec![
                "clean, release".into(),
                format!("{:.1} s", release.seconds),
                format!("{:.1} s", build_script(&release)),
                format!("{:.2} s", codegen_run(&release)),
                format!("{:.1} s", crypto(&release)),
            ],
            vec![
                "after a schema edit, dev".into(),
                format!("{:.1} s", rebuild.seconds),
                format!("{:.1} s", build_script(&rebuild)),
                format!("{:.2} s", codegen_run(&rebuild)),
                "-".into(),
            ],
        ],
    );
    report.text(&format!(
        "Slowest units of the clean dev build: {}.",
        slowest
            .iter()
            .take(8)
            .map(|u| format!("{} {} {:.1} s", u.name, u.target, u.seconds))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    report.text(
        "TLS candidates, measured by hand on this machine (2026-11-27): a crate holding only \
         reqwest 0.13 and a TLS stack, clean dev build, 2 cores. No TLS: 20.8 s; reqwest's \
         `rustls` feature (aws-lc-rs, the previous default): 41.6 s; rustls with *ring*: 25.9 s; \
         `native-tls` (the system's OpenSSL): 24.6 s; rustls with graviola: 23.8 s. Built with \
         `CC=/bin/false`, only graviola builds: aws-lc-sys, ring and openssl-sys all need a C \
         compiler. *ring* is the default here: 16 s less than aws-lc-rs, no system library \
         (unlike OpenSSL), and a long audit record (graviola, the one pure-Rust provider, is \
         young and x86_64/aarch64 only). Also trimmed: reqwest's HTTP/2 (h2, about 4 s of \
         CPU; the capped pool of HTTP/1.1 connections serves the queue API) and the second \
         regex engine, regress (typify no longer sees `pattern`s; validation checks them).",
    );
    report.text(
        "Validators, measured by hand on this machine (2026-11-27): a crate holding only \
         serde_json and url (both already in the build), clean dev build, 2 cores: 9.2 s; with \
         `jsonschema` 0.61 (no default features, the previous validator): 40.8 s; with `boon` \
         0.6: 17.9 s. Both say they pass the JSON Schema test suite (required tests); `boon` is the \
         validator now, and it took the clean dev build of this crate from 78.6 s to 57.5 s.",
    );
    report.text("The build with more models (copies of the Kling schema under other ids, on top of the built-in ones; dev, dependencies already built):");
    report.table(
        &[
            "extra models",
            "rebuild",
            "code generation (run)",
            "crate compile",
        ],
        &growth
            .iter()
            .map(|(count, b)| {
                vec![
                    count.to_string(),
                    format!("{:.1} s", b.seconds),
                    format!("{:.2} s", codegen_run(b)),
                    format!(
                        "{:.1} s",
                        share(b, |u| u.name == "runcomfy" && u.target.is_empty())
                    ),
                ]
            })
            .collect::<Vec<_>>(),
    );
    report.target(
        "clean build of the library, default features, dev",
        &format!("{:.1} s (release {:.1} s)", dev.seconds, release.seconds),
        &format!("TLS and crypto units {:.1} s of it", crypto(&dev)),
        "<= 60 s on 2 cores, TLS kept",
        dev.seconds <= 60.0,
    );
    report.target(
        "code generation after a schema edit, dev (build script run)",
        &format!(
            "{:.2} s (whole rebuild {:.1} s)",
            codegen_run(&rebuild),
            rebuild.seconds
        ),
        "before: 0.7-0.9 s",
        "keep",
        codegen_run(&rebuild) <= 0.9,
    );
}
