//! Emits one `#[test]` per file in `tests/vectors/` (included by `tests/vectors.rs`).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".vec"))
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    let mut code = String::new();
    for n in &names {
        let ident: String = n
            .trim_end_matches(".vec")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        writeln!(
            code,
            "#[test]\nfn vector_{ident}() {{ run_vector(\"{}\"); }}",
            dir.join(n).display()
        )
        .expect("write to String");
    }
    let out = std::env::var("OUT_DIR").expect("OUT_DIR set by cargo");
    std::fs::write(Path::new(&out).join("vector_tests.rs"), code).expect("write generated tests");
}
