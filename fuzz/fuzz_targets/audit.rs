//! The audit log verifier never panics on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sealtune_pipeline::audit::verify_reader(std::path::Path::new("audit.jsonl"), data);
});
