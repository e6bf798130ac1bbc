//! The `--detect` record reader never panics on arbitrary lines.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sealtune_pii::{Detector, MaskConfig, detect_line};

fuzz_target!(|data: &[u8]| {
    static DET: OnceLock<Detector> = OnceLock::new();
    let det = DET.get_or_init(|| Detector::new(&MaskConfig::default()).expect("default config"));
    if let Ok(line) = std::str::from_utf8(data) {
        let _ = detect_line(det, line, 1);
    }
});
