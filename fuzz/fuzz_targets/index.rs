//! The ingest index parser never panics, and what it parses re-serializes to
//! the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealtune_data::index::Index;

fuzz_target!(|data: &[u8]| {
    if let Ok(idx) = Index::parse(data) {
        let mut out = Vec::new();
        idx.write_to(&mut out).unwrap();
        // Padding bytes in entries are ignored by the parser, so compare parses.
        assert_eq!(Index::parse(&out).unwrap(), idx);
    }
});
