//! The fingerprint file parser rejects or accepts arbitrary bytes without
//! panicking, and what it accepts serialises back to the same bytes.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sealtune_pii::FingerprintSet;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut set) = FingerprintSet::from_bytes(data, Path::new("fuzz")) {
        assert_eq!(set.to_bytes(), data);
    }
});
