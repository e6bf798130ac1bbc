//! Test vectors: each `tests/vectors/*.vec` file is a text header (lines
//! `key: value`, then an empty line) followed by the raw sealed bytes.
//!
//! Header keys: `expect:` (`success`, `header failure`, `key failure`,
//! `payload failure`), `error:` (the `FormatError` variant expected),
//! `kek:` (hex KEK to try, repeatable), `passphrase:` (repeatable),
//! `payload:` (SHA-256 of the plaintext on success), `comment:`.
//!
//! Regenerate with `cargo run -p sealtune-seal --example regenerate-vectors` (an example,
//! not an ignored test: it rewrites the files the tests read).

use sealtune_seal::format;
use sealtune_seal::{Argon2Settings, FailureCategory, Kek, KeySource, Passphrase};
use sha2::{Digest, Sha256};

include!(concat!(env!("OUT_DIR"), "/vector_tests.rs"));

fn variant_name(e: &sealtune_seal::FormatError) -> String {
    format!("{e:?}")
        .split([' ', '{', '('])
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn run_vector(path: &str) {
    let bytes = std::fs::read(path).unwrap();
    let split = bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .expect("header end");
    let head = std::str::from_utf8(&bytes[..split]).unwrap();
    let body = &bytes[split + 2..];
    let mut expect = None;
    let mut error = None;
    let mut payload = None;
    let mut ids = Vec::new();
    for line in head.lines() {
        let (k, v) = line.split_once(": ").expect("key: value");
        match k {
            "expect" => expect = Some(v.to_owned()),
            "error" => error = Some(v.to_owned()),
            "payload" => payload = Some(v.to_owned()),
            "kek" => {
                let mut k = [0u8; 32];
                hex::decode_to_slice(v, &mut k).unwrap();
                ids.push(KeySource::Kek(Kek::from_bytes(k)));
            }
            "passphrase" => ids.push(KeySource::Passphrase {
                passphrase: Passphrase::new(v),
                settings: Argon2Settings::default(),
            }),
            "comment" => {}
            other => panic!("unknown vector header key {other}"),
        }
    }
    let result = format::decrypt_to_vec(body, &ids, Some(body.len() as u64));
    match (expect.as_deref().expect("expect line"), result) {
        ("success", Ok((pt, _))) => {
            assert_eq!(
                hex::encode(Sha256::digest(&pt[..])),
                payload.expect("payload line")
            );
        }
        ("success", Err(e)) => panic!("{path}: expected success, got {e}"),
        (want, Ok(_)) => panic!("{path}: expected {want}, but it decrypted"),
        (want, Err(e)) => {
            let cat = match e.category() {
                FailureCategory::Header => "header failure",
                FailureCategory::Key => "key failure",
                FailureCategory::Payload => "payload failure",
                FailureCategory::Other => "other failure",
            };
            assert_eq!(cat, want, "{path}: {e}");
            if let Some(v) = error {
                assert_eq!(variant_name(&e), v, "{path}: {e}");
            }
        }
    }
}
