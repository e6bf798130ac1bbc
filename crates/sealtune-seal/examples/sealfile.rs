//! A minimal driver for profiling (`strace -c -f`, `perf`, `/usr/bin/time`):
//! `sealfile seal|unseal|verify INPUT [OUTPUT]` with a fixed test KEK.
//! Threads: `RAYON_NUM_THREADS`.
//!
//! `cargo build --release -p sealtune-seal --example sealfile`

#![allow(clippy::print_stdout)]

use sealtune_seal::{Kek, KeySource};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ids = [KeySource::Kek(Kek::from_bytes([42; 32]))];
    let usage = "usage: sealfile seal|unseal|verify INPUT [OUTPUT]";
    let (op, input) = (args.get(1).expect(usage), args.get(2).expect(usage));
    let input = std::path::Path::new(input);
    let output = args.get(3).map(std::path::PathBuf::from);
    let info = match op.as_str() {
        "seal" => sealtune_seal::seal_file(input, &output.expect(usage), &ids, None),
        "unseal" => sealtune_seal::unseal_file(input, &output.expect(usage), &ids),
        "verify" => sealtune_seal::verify_sealed(input, &ids),
        _ => panic!("{usage}"),
    }
    .unwrap();
    println!("{} chunks", info.chunks);
}
