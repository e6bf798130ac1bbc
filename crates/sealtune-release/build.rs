//! Embeds the SHA-256 of the workspace `Cargo.lock` the binary was built
//! from, for the provenance statement (`SEALTUNE_CARGO_LOCK_SHA256`).

use sha2::{Digest, Sha256};
use std::path::Path;

fn main() {
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    if let Ok(bytes) = std::fs::read(&lock) {
        println!(
            "cargo:rustc-env=SEALTUNE_CARGO_LOCK_SHA256={}",
            hex::encode(Sha256::digest(&bytes))
        );
    }
}
