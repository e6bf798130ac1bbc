//! Signs a directory into `DIR/model.sig` (OMS v1.0).
//!
//! `cargo run -p sealtune-seal --example oms-sign -- DIR PRIVATE_KEY.pem [--files | --shard-size N]`

use sealtune_contract::ExitStatus as _;
use std::path::PathBuf;
use std::process::ExitCode;

use sealtune_seal::oms::{self, Serialization, SignOptions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), Some(key)) = (args.first(), args.get(1)) else {
        eprintln!("usage: oms-sign DIR PRIVATE_KEY.pem [--files | --shard-size N]");
        return ExitCode::from(64);
    };
    let serialization = match args.get(2).map(String::as_str) {
        None => Serialization::default(),
        Some("--files") => Serialization::Files,
        Some("--shard-size") => match args.get(3).and_then(|n| n.parse().ok()) {
            Some(shard_size) => Serialization::Shards { shard_size },
            None => {
                eprintln!("--shard-size needs a positive integer");
                return ExitCode::from(64);
            }
        },
        Some(other) => {
            eprintln!("unknown option {other}");
            return ExitCode::from(64);
        }
    };
    let result = sealtune_seal::keys::load_signing_key(&PathBuf::from(key)).and_then(|k| {
        oms::sign_dir(
            &PathBuf::from(dir),
            &k,
            &SignOptions {
                serialization,
                ..SignOptions::default()
            },
        )
    });
    match result {
        Ok(m) => {
            eprintln!(
                "signed {} resources, root sha256 {}",
                m.resources.len(),
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
