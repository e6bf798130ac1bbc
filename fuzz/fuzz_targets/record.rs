//! A JSONL line never panics the fast or the validating path, and the fast
//! path accepts only what validation accepts, with the same content hash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealtune_data::record::{JsonKind, fast_digest, validate_json};

fuzz_target!(|data: &[u8]| {
    for kind in [JsonKind::Chat, JsonKind::Instruction, JsonKind::Text] {
        let slow = serde_json::from_slice::<serde_json::Value>(data)
            .map_err(|e| e.to_string())
            .and_then(|v| validate_json(v, kind));
        if let Some((hash, chars)) = fast_digest(data, kind) {
            let rec = slow.expect("fast path accepted what validation refused");
            assert_eq!(rec.content_hash(), hash);
            assert_eq!(rec.char_len(), chars);
        }
    }
});
