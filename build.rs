//! Generates the typed model modules and the queue-protocol client from the
//! schemas under `schema/` (with the `codegen` crate, `codegen/`), into
//! `OUT_DIR`.
//!
//! Models come from `schema/models/`, plus those in the folder named by
//! `RUNCOMFY_SCHEMA_DIR` (an absolute path) when it is set: a user's own
//! models, generated beside the built-in ones; one with a built-in model's
//! id replaces it.

use std::path::{Path, PathBuf};

/// The environment variable naming a folder of extra model schemas.
const SCHEMA_DIR_ENV: &str = "RUNCOMFY_SCHEMA_DIR";

fn main() {
    let out_dir = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    let out_dir = Path::new(&out_dir);
    // A directory is scanned recursively, so a new schema file reruns this.
    println!("cargo::rerun-if-changed=schema");
    // The generator is a dependency: cargo rebuilds this script when it
    // changes.
    println!("cargo::rerun-if-env-changed={SCHEMA_DIR_ENV}");

    if let Err(error) = extra_schema_dir().and_then(|extra| generate(out_dir, extra.as_deref())) {
        eprintln!("error: cannot generate code from the schemas\n{error}");
        std::process::exit(1);
    }
}

/// The folder `RUNCOMFY_SCHEMA_DIR` names, if set.
fn extra_schema_dir() -> Result<Option<PathBuf>, codegen::CodegenError> {
    let Some(dir) = std::env::var_os(SCHEMA_DIR_ENV).filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    let dir = PathBuf::from(dir);
    if !dir.is_absolute() {
        return Err(codegen::CodegenError {
            file: dir,
            pointer: String::new(),
            problem: format!("{SCHEMA_DIR_ENV} must be an absolute path"),
            hint: "a relative path would be read from this crate's folder, not yours; \
                   give an absolute one, or set it in .cargo/config.toml under [env] with relative = true"
                .into(),
        });
    }
    println!("cargo::rerun-if-changed={}", dir.display());
    Ok(Some(dir))
}

fn generate(out_dir: &Path, extra: Option<&Path>) -> Result<(), codegen::CodegenError> {
    let mut files = codegen::discover_models(Path::new("schema/models"))?;
    if let Some(extra) = extra {
        for model in codegen::discover_models(extra)? {
            files.retain(|built_in| built_in.id != model.id);
            files.push(model);
        }
        files.sort_by(|a, b| a.id.cmp(&b.id));
    }
    let models = files
        .iter()
        .map(codegen::load_model)
        .collect::<Result<Vec<_>, _>>()?;
    write(out_dir, "models.rs", &codegen::generate_models(&models)?);
    for (path, contents) in codegen::normalised_schema_files(&models) {
        write(out_dir, &path, &contents);
    }
    write(
        out_dir,
        "queue_api.rs",
        &codegen::generate_queue_api(Path::new("schema/queue-api.openapi.json"))?,
    );
    Ok(())
}

fn write(out_dir: &Path, name: &str, contents: &str) {
    let path = out_dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
    }
    std::fs::write(&path, contents)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
