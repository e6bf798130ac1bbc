//! Verifies a directory against an OMS v1.0 signature.
//!
//! `cargo run -p sealtune-seal --example oms-verify -- DIR PUBLIC_KEY.pem [SIGNATURE]`

use sealtune_contract::ExitStatus as _;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let (Some(dir), Some(key)) = (args.first(), args.get(1)) else {
        eprintln!("usage: oms-verify DIR PUBLIC_KEY.pem [SIGNATURE]");
        return ExitCode::from(64);
    };
    let sig = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| dir.join("model.sig"));
    let result = sealtune_seal::keys::load_public_key(key)
        .and_then(|k| sealtune_seal::oms::verify_dir(dir, &sig, &k, key));
    match result {
        Ok(m) => {
            eprintln!(
                "verified {} files, root sha256 {}",
                m.files.len(),
                m.root_digest
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit().code())
        }
    }
}
