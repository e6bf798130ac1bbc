//! `[mask]` config parsing and detector construction never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealtune_pii::{Detector, MaskConfig};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(cfg) = toml::from_str::<MaskConfig>(text)
    {
        let _ = Detector::new(&cfg);
    }
});
