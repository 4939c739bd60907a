//! Generates the typed model modules and the queue-protocol client from the
//! schemas under `schema/` (see `build/mod.rs`), into `OUT_DIR`.

#[path = "build/mod.rs"]
mod codegen;

use std::path::Path;

fn main() {
    let out_dir = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    let out_dir = Path::new(&out_dir);
    // A directory is scanned recursively, so a new schema file reruns this.
    println!("cargo::rerun-if-changed=schema");
    println!("cargo::rerun-if-changed=build");

    if let Err(error) = generate(out_dir) {
        eprintln!("error: cannot generate code from schema/\n{error}");
        std::process::exit(1);
    }
}

fn generate(out_dir: &Path) -> Result<(), codegen::CodegenError> {
    let models = codegen::discover_models(Path::new("schema/models"))?
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
