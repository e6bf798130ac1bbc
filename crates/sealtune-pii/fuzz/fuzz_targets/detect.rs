//! The detector and the code point conversion never panic and return
//! ordered, non-overlapping spans on character boundaries.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sealtune_pii::{Detector, MaskConfig, to_code_points};

fuzz_target!(|data: &[u8]| {
    static DET: OnceLock<Detector> = OnceLock::new();
    let det = DET.get_or_init(|| Detector::new(&MaskConfig::default()).expect("default config"));
    let text = String::from_utf8_lossy(data);
    let spans = det.detect(&text);
    let mut last = 0;
    for s in &spans {
        assert!(s.start >= last && s.start < s.end && s.end <= text.len());
        assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
        last = s.end;
    }
    let cps = to_code_points(&text, &spans);
    assert_eq!(cps.len(), spans.len());
});
