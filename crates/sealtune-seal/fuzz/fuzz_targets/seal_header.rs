//! Arbitrary bytes through the sealed-file reader: header parsing, recipient
//! unwrapping, commitment check and chunk decryption must never panic, and
//! must never return plaintext for input this key did not seal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealtune_seal::format;
use sealtune_seal::{Kek, KeySource};

fuzz_target!(|data: &[u8]| {
    let _ = format::parse_header(data);
    let ids = [KeySource::Kek(Kek::from_bytes([0x11; 32]))];
    let _ = format::decrypt_to_vec(data, &ids, Some(data.len() as u64));
});
